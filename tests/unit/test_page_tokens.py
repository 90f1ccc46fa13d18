"""mlflow_compat.page_tokens: opaque offsets shaped as MLflow's SQL store shapes them."""

from __future__ import annotations

import base64
import json

import pytest

from mlflow_compat import page_tokens
from mlflow_compat.errors import MlflowError


def b64(raw: bytes | str) -> str:
    return base64.b64encode(raw if isinstance(raw, bytes) else raw.encode()).decode()


def test_encode_is_mlflows_format():
    from mlflow.utils.search_utils import SearchUtils

    assert page_tokens.encode(None) is None
    for offset in (1, 2, 10, 1000, 123456789):
        token = page_tokens.encode(offset)
        assert isinstance(token, str)
        assert json.loads(base64.b64decode(token)) == {"offset": offset}
        # byte for byte what MLflow's store returns, and MLflow reads ours
        assert token == SearchUtils.create_page_token(offset).decode()
        assert SearchUtils.parse_start_offset_from_page_token(token) == offset
    assert page_tokens.encode(2) == "eyJvZmZzZXQiOiAyfQ=="  # the spec's example


def test_round_trip_and_absent_tokens():
    for offset in (1, 3, 25000, 2**40):
        assert page_tokens.decode(page_tokens.encode(offset)) == offset
    assert page_tokens.decode(None) == 0
    assert page_tokens.decode("") == 0
    # MLflow's own tokens, and a numeric string offset as MLflow accepts it
    assert page_tokens.decode("eyJvZmZzZXQiOiAyfQ==") == 2
    assert page_tokens.decode(b64('{"offset": "7"}')) == 7
    assert page_tokens.decode(b64('{"offset": 5, "extra": "ignored"}')) == 5


@pytest.mark.parametrize(
    "token, fragment",
    [
        ("abc", "could not base64-decode"),  # bad padding
        ("%%%", "decoded value"),  # no base64 characters at all
        ("not-a-token", "Invalid page token"),
        (b64("not json"), "decoded value"),
        (b64(b"\xff\xfe\xfd"), "decoded value"),  # not UTF-8
        (b64("[1, 2]"), "parsed value"),  # JSON, but not an object
        (b64('"offset"'), "parsed value"),
        (b64("{}"), "parsed value"),
        (b64('{"nope": 3}'), "parsed value"),
        (b64('{"offset": 0}'), "parsed value"),  # MLflow refuses a zero offset too
        (b64('{"offset": null}'), "parsed value"),
        (b64('{"offset": "x"}'), "offset value"),
        (b64('{"offset": -4}'), "offset value"),
        (b64('{"offset": [1]}'), "offset value"),
    ],
)
def test_invalid_tokens_raise_invalid_parameter_value(token, fragment):
    with pytest.raises(MlflowError) as info:
        page_tokens.decode(token)
    err = info.value
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert err.status == 400
    assert err.message.startswith("Invalid page token")
    assert fragment in err.message
    assert err.to_json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": err.message,
        "sqlstate": "KAM00",
        "error_class": "INVALID_PARAMETER_VALUE",
    }
