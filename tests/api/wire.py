"""Request helpers and response checks shared by the API tests (Flask test client)."""

from __future__ import annotations

import json

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"


def assert_no_nulls(value, path="$"):
    """Protobuf JSON omits unset fields: a null anywhere in a response is a bug."""
    assert value is not None, f"null at {path}"
    if isinstance(value, dict):
        for key, item in value.items():
            assert_no_nulls(item, f"{path}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            assert_no_nulls(item, f"{path}[{n}]")


def ok(resp) -> dict:
    """A 200 with a JSON object (strict JSON: no NaN/Infinity literals) and no nulls."""
    assert resp.status_code == 200, (resp.status_code, resp.get_data(as_text=True)[:800])
    assert resp.mimetype == "application/json"
    body = json.loads(resp.get_data(as_text=True), parse_constant=_refuse_constant)
    assert isinstance(body, dict)
    assert_no_nulls(body)
    return body


def _refuse_constant(name):
    raise AssertionError(f"non-standard JSON constant {name} in a response")


def error(resp, status: int, code: str, *fragments: str) -> dict:
    """MLflow's error JSON with ``status`` and ``code``; the message contains ``fragments``."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:800])
    assert resp.mimetype == "application/json", resp.mimetype
    body = resp.get_json()
    assert isinstance(body, dict)
    assert body["error_code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    for fragment in fragments:
        assert fragment in body["message"], (fragment, body["message"])
    return body


def post(client, path, body=None, root=API):
    return client.post(f"{root}/{path}", json=body if body is not None else {})


def get(client, path, root=API, **params):
    return client.get(f"{root}/{path}", query_string=params)


def patch(client, path, body, root=API):
    return client.patch(f"{root}/{path}", json=body)


def delete(client, path, body, root=API):
    return client.delete(f"{root}/{path}", json=body)
