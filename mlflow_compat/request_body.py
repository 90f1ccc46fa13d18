"""A request's JSON body: read once, within the route's size limit, and refused when hostile.

Every JSON route reads its body here, before its handler runs:
  - a body over the route's limit is refused from its ``Content-Length`` without being read (a
    chunked body is read to one byte past the limit at most);
  - invalid UTF-8, malformed JSON, and JSON nested deeper than ``MAX_DEPTH`` are refused;
  - strings holding a lone UTF-16 surrogate (``"\\ud800"``, which no store or encoder can hold)
    are refused; surrogate pairs (how ``ensure_ascii`` clients send an emoji) are kept.
Each refusal is MLflow's JSON 400 ``INVALID_PARAMETER_VALUE``. The checks cost nothing on a
body with no surrogate escape and at most ``MAX_DEPTH`` brackets, which is nearly every body.
"""

from __future__ import annotations

import io
import json
import re

from flask import request

from mlflow_compat.errors import invalid

JSON_MIMETYPE = "application/json"
MAX_DEPTH = 64
DEFAULT_MAX_BODY = 16 * 1024 * 1024  # a JSON message of any route but the few that say otherwise

_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_INNERMOST = re.compile(rb"\[\]|\{\}")
# a surrogate escaped (\ud800), or encoded as UTF-8 bytes, which json.loads decodes with
# 'surrogatepass'
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\xed[\xa0-\xbf]")


class BodyTooLarge(Exception):
    def __init__(self, size: int | None, limit: int):
        super().__init__(f"request body over {limit} bytes")
        self.size, self.limit = size, limit


def body_in_memory(environ) -> bool:
    """Whether the request's body was read whole before it was served (http1.PlainReader, a test
    client): nothing of it is left on the connection."""
    return type(environ.get("wsgi.input")) is io.BytesIO


def raw_body(limit: int) -> bytes:
    """The body's bytes, refused (``BodyTooLarge``) past ``limit`` before more than that is read."""
    environ = request.environ
    length = environ.get("CONTENT_LENGTH")
    if length and length.isascii() and length.isdigit():
        size = int(length)
        if size > limit:
            raise BodyTooLarge(size, limit)
        if body_in_memory(environ):  # what get_data would return, without werkzeug's stream wrappers
            return environ["wsgi.input"].read(size)
        return request.get_data(cache=False)
    if not request.headers.get("Transfer-Encoding"):
        return b""
    raw = request.stream.read(limit + 1)  # chunked: werkzeug decodes it, we bound it
    if len(raw) > limit:
        raise BodyTooLarge(None, limit)
    return raw


def check_content_type() -> None:
    """MLflow's _validate_content_type: a POST or PUT must say it is JSON (no cross-site forms)."""
    if request.method not in ("POST", "PUT"):
        return
    if not request.content_type:
        raise invalid("Bad Request. Content-Type header is missing.")
    if request.content_type.split(";")[0].strip().lower() != JSON_MIMETYPE:
        raise invalid(f"Bad Request. Content-Type must be one of ['{JSON_MIMETYPE}'].")


def parse_json(raw: bytes) -> dict:
    """The JSON object of a body (``{}`` when empty), under the rules above."""
    if not raw or not raw.strip():
        return {}
    double_encoded = False
    try:
        data = json.loads(raw)
        if isinstance(data, str):  # older clients (R) post their JSON double-encoded, as MLflow allows
            double_encoded, raw = True, data.encode("utf-8", "surrogatepass")
            data = json.loads(data)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeError) as exc:
        raise invalid(f"Malformed request body: it is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise invalid("Invalid request body: expected a JSON object")
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth_exceeds(raw):
        raise _too_deep()
    if (double_encoded or _SURROGATE.search(raw)) and _has_lone_surrogate(data):
        raise invalid(
            "Malformed request body: a string holds a lone UTF-16 surrogate, which is not a Unicode character"
        )
    return data


def _too_deep():
    return invalid(f"Malformed request body: JSON nested more than {MAX_DEPTH} levels deep")


def _depth_exceeds(raw: bytes) -> bool:
    """Whether valid JSON ``raw`` nests deeper than MAX_DEPTH: its brackets alone (first with the
    strings' brackets too, which can only overstate the depth), then without them."""
    for text in (raw, None):
        if text is None:
            text = _STRING.sub(b'""', raw)
        brackets = text.translate(None, _NOT_BRACKETS)
        for _ in range(MAX_DEPTH):  # each pass removes one level: the innermost pairs
            brackets = _INNERMOST.sub(b"", brackets)
            if not brackets:
                return False
    return True


def _has_lone_surrogate(value) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
