"""Hostile and sloppy input is refused before any handler runs, with MLflow's JSON 400: bodies over
a route's limit (unread), JSON nested too deep, invalid UTF-8, lone surrogates. GET messages may
come as a JSON body when the query string is empty (mlflow-export-import sends them so)."""

from __future__ import annotations

import io
import json

import pytest

from mlflow_compat import request_body
from mlflow_compat.api.runs import MAX_BATCH_LOG_REQUEST_SIZE
from tests.api.wire import API, error, ok, post

DEEP = b"[" * 100_000 + b"]" * 100_000


def _json_routes(app, methods):
    """Every route whose view reads a message (``@rpc``), with one of ``methods``."""
    out = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "request_schema", None) is None or not rule.rule.startswith("/api/"):
            continue
        for method in sorted(rule.methods & set(methods)):
            path = rule.rule.replace("<model_id>", "m-1").replace("<path:tag_key>", "k")
            out.append((method, path))
    return out


def test_every_json_route_refuses_deep_nesting_and_lone_surrogates(app, client):
    routes = _json_routes(app, ("POST", "PATCH", "DELETE"))
    assert len(routes) > 30
    for method, path in routes:
        for body in (DEEP, b'{"name": ' + b"[" * 65 + b"]" * 65 + b"}", b'{"name": "\\ud800", "key": "x"}'):
            resp = client.open(path, method=method, data=body, content_type="application/json")
            assert resp.status_code == 400, (method, path, body[:20], resp.get_data(as_text=True)[:200])
            assert resp.get_json()["error_code"] == "INVALID_PARAMETER_VALUE"
            assert resp.get_json()["message"].startswith("Malformed request body"), (method, path)


def test_nesting_up_to_the_limit_and_surrogate_pairs_are_accepted(client):
    nested = {"a": 1}
    for _ in range(request_body.MAX_DEPTH - 2):
        nested = {"a": nested}
    body = json.dumps({"name": "deep-but-fine", "tags": [], "unknown": nested}).encode()
    ok(client.post(f"{API}/experiments/create", data=body, content_type="application/json"))
    # brackets inside strings are not nesting
    ok(post(client, "experiments/create", {"name": "[" * 200 + "{" * 200}))
    # an emoji as an ensure_ascii client sends it: a surrogate pair, kept
    eid = ok(
        client.post(
            f"{API}/experiments/create", data=b'{"name": "emoji \\ud83d\\ude00"}', content_type="application/json"
        )
    )["experiment_id"]
    got = ok(client.get(f"{API}/experiments/get", query_string={"experiment_id": eid}))
    assert got["experiment"]["name"] == "emoji \U0001f600"


def test_invalid_utf8_and_double_encoded_surrogates_are_refused(client):
    for body in (b'{"name": "\xff\xfe"}', b'{"name": "\xed\xa0\x80"}', json.dumps('{"name": "\\ud800"}').encode()):
        error(
            client.post(f"{API}/experiments/create", data=body, content_type="application/json"),
            400,
            "INVALID_PARAMETER_VALUE",
            "Malformed request body",
        )


class _Unreadable(io.RawIOBase):
    """A body that fails the test if the server reads any of it."""

    def readable(self):
        return True

    def readinto(self, buffer):
        raise AssertionError("the body was read")


def test_a_body_over_the_route_limit_is_refused_unread(app):
    def send(path, length):
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SERVER_NAME": "h",
            "SERVER_PORT": "1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BufferedReader(_Unreadable()),
            "CONTENT_LENGTH": str(length),
            "CONTENT_TYPE": "application/json",
        }
        status = []
        chunks = app.wsgi_app(environ, lambda s, h: status.append(s))
        return int(status[0].split()[0]), json.loads(b"".join(chunks))

    status, body = send(f"{API}/runs/log-batch", MAX_BATCH_LOG_REQUEST_SIZE + 1)
    assert status == 400 and body["message"] == (
        f"Batched logging API requests must be at most {MAX_BATCH_LOG_REQUEST_SIZE} bytes, "
        f"got a request of size {MAX_BATCH_LOG_REQUEST_SIZE + 1}."
    )
    status, body = send(f"{API}/experiments/create", request_body.DEFAULT_MAX_BODY + 1)
    assert status == 400 and "must be at most" in body["message"]


def test_a_chunked_body_is_bounded_too(client):
    big = b'{"name": "' + b"x" * (request_body.DEFAULT_MAX_BODY + 10) + b'"}'
    resp = client.post(
        f"{API}/experiments/create",
        input_stream=io.BytesIO(big),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
    )
    error(resp, 400, "INVALID_PARAMETER_VALUE", "must be at most")


@pytest.mark.parametrize(
    "path,query",
    [
        ("registered-models/get", {"name": "m"}),
        ("experiments/get", {"experiment_id": "0"}),
        ("runs/get", {"run_id": "0" * 32}),
    ],
)
def test_a_get_message_may_come_as_a_json_body(client, path, query):
    """As mlflow-export-import sends it: an empty query string and the message as a body (no
    Content-Type check on a GET, as in MLflow); the query string wins when there is one."""
    ok(post(client, "registered-models/create", {"name": "m"}))
    by_query = client.get(f"{API}/{path}", query_string=query)
    by_body = client.get(f"{API}/{path}", data=json.dumps(query))
    assert (by_body.status_code, by_body.get_json()) == (by_query.status_code, by_query.get_json())
    assert client.get(f"{API}/{path}", data=json.dumps(query), query_string={"x": "1"}).status_code == 400
