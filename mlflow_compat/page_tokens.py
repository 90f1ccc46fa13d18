"""Opaque page tokens, shaped as MLflow's SQL store shapes them: base64(JSON {"offset": N})."""

import base64
import binascii
import json

from mlflow_compat.errors import invalid


def encode(offset: int | None) -> str | None:
    if offset is None:
        return None
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode(token: str | None) -> int:
    if not token:
        return 0
    try:
        raw = base64.b64decode(token, validate=False)
    except (binascii.Error, ValueError, TypeError):
        raise invalid("Invalid page token, could not base64-decode") from None
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid(f"Invalid page token, decoded value={raw!r}") from None
    offset = parsed.get("offset") if isinstance(parsed, dict) else None
    if not offset:
        raise invalid(f"Invalid page token, parsed value={parsed}")
    try:
        offset = int(offset)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite offset (1e400)
        raise invalid(f"Invalid page token, offset value={offset}") from None
    if not 0 <= offset < 2**63:  # beyond int64, no database takes it as an OFFSET
        raise invalid(f"Invalid page token, offset value={offset}")
    return offset


def paged(key: str, schema, page) -> dict:
    """A search answer: the page's items dumped under ``key``, and the next page's token."""
    return {key: schema.dump(page.items, many=True), "next_page_token": encode(page.next_offset)}


def encode_bound(offset: int | None, context: dict) -> str | None:
    """A token that also carries the search it belongs to (as MLflow's logged-model search)."""
    if offset is None:
        return None
    return base64.b64encode(json.dumps(dict(context, offset=offset)).encode()).decode()


def decode_bound(token: str | None, context: dict) -> int:
    """The offset of ``token``, refused if it was issued for another search."""
    if not token:
        return 0
    offset = decode(token)
    parsed = json.loads(base64.b64decode(token))
    for key, value in context.items():
        if parsed.get(key) != value:
            raise invalid(
                f"The {key} of this request does not match the page token's; "
                "a page token only continues the search that issued it."
            )
    return offset
