"""Wire conventions shared by every endpoint (spec sections 0 and C), through the Flask test client.

Where modelops deliberately differs from MLflow's Flask server: unknown routes and wrong methods
answer JSON (ENDPOINT_NOT_FOUND / 405) instead of Flask's HTML pages.
"""

from __future__ import annotations

import json

import peewee
import pytest

from mlflow_compat.app import create_app
from mlflow_compat.config import ServerConfig
from registry_core import experiments as experiments_service
from tests.api.wire import AJAX, API, error, ok


def test_unknown_routes_wrong_methods_and_bodies(client):
    # unknown routes: JSON 404 ENDPOINT_NOT_FOUND
    for path in (
        f"{API}/no-such-endpoint",
        f"{API}/experiments/frobnicate",
        f"{AJAX}/runs/nope",
        "/api/9.9/mlflow/experiments/get",
        "/definitely/not/here",
    ):
        error(client.get(path), 404, "ENDPOINT_NOT_FOUND")
    error(client.post(f"{API}/experiments/frobnicate", json={}), 404, "ENDPOINT_NOT_FOUND")

    # wrong method: JSON 405 with an Allow header
    body = error(client.get(f"{API}/runs/create"), 405, "BAD_REQUEST", "GET")
    resp = client.get(f"{API}/experiments/create")
    assert resp.status_code == 405 and "POST" in resp.headers["Allow"]
    resp = client.post(f"{API}/experiments/get", json={"experiment_id": "0"})
    error(resp, 405, "BAD_REQUEST")
    assert "GET" in resp.headers["Allow"]
    error(client.delete(f"{API}/runs/get"), 405, "BAD_REQUEST")
    error(client.put(f"{API}/experiments/search", json={}), 405, "BAD_REQUEST")
    assert body["message"]

    # malformed JSON bodies: 400 JSON
    for raw in ("{not json", '{"name": ', "\x00\x01", '{"name": "x",}'):
        resp = client.post(f"{API}/experiments/create", data=raw, content_type="application/json")
        error(resp, 400, "INVALID_PARAMETER_VALUE", "Malformed request body")
    for raw in ("[1, 2]", '"a string"', "42", "null"):
        resp = client.post(f"{API}/experiments/create", data=raw, content_type="application/json")
        assert resp.status_code == 400 and resp.mimetype == "application/json"
        assert resp.get_json()["error_code"] in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")
    # invalid UTF-8
    resp = client.post(f"{API}/experiments/create", data=b'{"name": "\xff\xfe"}', content_type="application/json")
    error(resp, 400, "INVALID_PARAMETER_VALUE", "Malformed request body")
    # an empty body is an empty message
    error(
        client.post(f"{API}/experiments/create", data=b"", content_type="application/json"),
        400,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'name'",
    )
    # POST bodies must be declared JSON, as MLflow's _validate_content_type requires
    error(
        client.post(f"{API}/experiments/create", data='{"name": "no-content-type"}'),
        400,
        "INVALID_PARAMETER_VALUE",
        "Content-Type header is missing",
    )
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        error(
            client.post(f"{API}/experiments/create", data='{"name": "form"}', content_type=content_type),
            400,
            "INVALID_PARAMETER_VALUE",
            "Content-Type must be one of ['application/json']",
        )
    error(
        client.get(f"{API}/experiments/get-by-name", query_string={"experiment_name": "form"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    eid = ok(
        client.post(
            f"{API}/experiments/create", data='{"name": "charset"}', content_type="application/json; charset=utf-8"
        )
    )["experiment_id"]
    assert (
        ok(client.get(f"{API}/experiments/get", query_string={"experiment_id": eid}))["experiment"]["name"] == "charset"
    )
    # a double-encoded JSON body (older clients, e.g. R) is read as MLflow reads it
    ok(
        client.post(
            f"{API}/experiments/create",
            data=json.dumps(json.dumps({"name": "double-encoded"})),
            content_type="application/json",
        )
    )
    assert ok(client.get(f"{API}/experiments/get-by-name", query_string={"experiment_name": "double-encoded"}))

    # wrong field types: 400 INVALID_PARAMETER_VALUE naming the field
    error(client.post(f"{API}/experiments/create", json={"name": ["a"]}), 400, "INVALID_PARAMETER_VALUE", "name")
    error(
        client.post(f"{API}/experiments/create", json={"name": "t", "tags": "x"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "tags",
    )
    error(
        client.post(f"{API}/runs/search", json={"experiment_ids": [eid], "max_results": 1.5}),
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results",
    )
    error(
        client.post(f"{API}/runs/search", json={"experiment_ids": [eid], "max_results": True}),
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results",
    )
    error(
        client.post(f"{API}/runs/search", json={"experiment_ids": [eid], "order_by": "name"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "order_by",
    )

    # unknown fields are ignored, at the top level and nested
    eid2 = ok(
        client.post(
            f"{API}/experiments/create",
            json={
                "name": "unknown-fields",
                "brand_new_field": {"x": [1, 2]},
                "workspace": "w",
                "tags": [{"key": "k", "value": "v", "extra": True}],
            },
        )
    )["experiment_id"]
    run = ok(client.post(f"{API}/runs/create", json={"experiment_id": eid2, "future": 1, "run_name": "u"}))["run"]
    rid = run["info"]["run_id"]
    ok(
        client.post(
            f"{API}/runs/log-batch",
            json={
                "run_id": rid,
                "run_uuid": rid,
                "whatever": None,
                "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0, "run_id": rid, "model_id": None}],
                "params": [{"key": "p", "value": "v", "note": "x"}],
                "tags": [{"key": "t", "value": "v", "x": {}}],
            },
        )
    )
    ok(client.post(f"{API}/runs/log-inputs", json={"run_id": rid, "datasets": [], "models": []}))
    data = ok(client.get(f"{API}/runs/get", query_string={"run_id": rid, "unknown": "1"}))["run"]["data"]
    assert data["params"] == [{"key": "p", "value": "v"}]
    assert {"key": "t", "value": "v"} in data["tags"]

    # successes are HTTP 200 with a JSON object; empty responses are {}
    resp = client.post(f"{API}/runs/set-tag", json={"run_id": rid, "key": "a", "value": "b"})
    assert resp.status_code == 200 and resp.get_json() == {}


def test_encoding_int64_ids_and_no_nulls(client):
    eid = ok(client.post(f"{API}/experiments/create", json={"name": "enc"}))["experiment_id"]
    assert isinstance(eid, str)
    run = ok(client.post(f"{API}/runs/create", json={"experiment_id": eid, "start_time": 1795393628636}))["run"]
    rid = run["info"]["run_id"]
    ok(
        client.post(
            f"{API}/runs/log-metric",
            json={"run_id": rid, "key": "m", "value": 2.5, "timestamp": 1795393628637, "step": 9007199254740993},
        )
    )
    ok(
        client.post(
            f"{API}/runs/log-metric", json={"run_id": rid, "key": "n", "value": "NaN", "timestamp": 1, "step": 0}
        )
    )
    ok(
        client.post(
            f"{API}/runs/log-inputs",
            json={
                "run_id": rid,
                "datasets": [{"dataset": {"name": "d", "digest": "x", "source_type": "local", "source": "{}"}}],
            },
        )
    )

    raw = client.get(f"{API}/runs/get", query_string={"run_id": rid}).get_data(as_text=True)
    assert '"start_time":1795393628636' in raw.replace(" ", "")  # a JSON number, not a string
    assert "null" not in raw
    info = ok(client.get(f"{API}/runs/get", query_string={"run_id": rid}))["run"]["info"]
    assert info["experiment_id"] == eid and isinstance(info["run_id"], str) and isinstance(info["run_uuid"], str)
    assert info["start_time"] == 1795393628636 and isinstance(info["start_time"], int)
    assert "end_time" not in info  # unset: omitted, never null
    metrics = {
        m["key"]: m for m in ok(client.get(f"{API}/runs/get", query_string={"run_id": rid}))["run"]["data"]["metrics"]
    }
    assert metrics["m"]["timestamp"] == 1795393628637 and metrics["m"]["step"] == 9007199254740993
    assert metrics["n"]["value"] == "NaN"
    dataset = ok(client.get(f"{API}/runs/get", query_string={"run_id": rid}))["run"]["inputs"]["dataset_inputs"][0]
    assert "schema" not in dataset["dataset"] and "profile" not in dataset["dataset"]

    # the int64 range: its ends round-trip exactly, beyond it is a 400 (never a database overflow)
    ok(
        client.post(
            f"{API}/runs/log-metric",
            json={"run_id": rid, "key": "edge", "value": 1, "timestamp": 2**63 - 1, "step": -(2**63)},
        )
    )
    edge = ok(client.get(f"{API}/metrics/get-history", query_string={"run_id": rid, "metric_key": "edge"}))
    assert edge["metrics"] == [{"key": "edge", "value": 1.0, "timestamp": 2**63 - 1, "step": -(2**63)}]
    for field, value in (("timestamp", 2**63), ("step", 2**63), ("step", -(2**63) - 1), ("timestamp", 1e30)):
        body = {"run_id": rid, "key": "over", "value": 1, "timestamp": 1, field: value}
        error(client.post(f"{API}/runs/log-metric", json=body), 400, "INVALID_PARAMETER_VALUE", field)
    error(
        client.post(f"{API}/runs/create", json={"experiment_id": eid, "start_time": str(2**64)}),
        400,
        "INVALID_PARAMETER_VALUE",
        "start_time",
    )
    error(
        client.post(f"{API}/runs/search", json={"experiment_ids": [eid], "max_results": 2**63}),
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results",
    )
    error(
        client.get(
            f"{API}/metrics/get-history", query_string={"run_id": rid, "metric_key": "m", "max_results": str(2**70)}
        ),
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results",
    )
    assert (
        ok(client.get(f"{API}/metrics/get-history", query_string={"run_id": rid, "metric_key": "over"})).get(
            "metrics", []
        )
        == []
    )

    exp = ok(client.get(f"{API}/experiments/get", query_string={"experiment_id": eid}))["experiment"]
    assert isinstance(exp["creation_time"], int) and isinstance(exp["last_update_time"], int)
    assert "tags" not in exp or exp["tags"] == []

    # every response of these endpoints is free of nulls
    for resp in (
        client.post(f"{API}/runs/search", json={"experiment_ids": [eid]}),
        client.post(f"{API}/experiments/search", json={"max_results": 1}),
        client.get(f"{API}/experiments/search", query_string={"max_results": 10}),
        client.get(f"{API}/metrics/get-history", query_string={"run_id": rid, "metric_key": "m"}),
        client.post(f"{API}/runs/update", json={"run_id": rid, "status": "FINISHED"}),
        client.get(f"{AJAX}/metrics/get-history-bulk-interval", query_string={"run_ids": rid, "metric_key": "n"}),
    ):
        body = ok(resp)
        assert "null" not in resp.get_data(as_text=True)
    assert body["metrics"][0]["value"] == "NaN" and body["metrics"][0]["run_id"] == rid
    search = ok(client.post(f"{API}/experiments/search", json={"max_results": 1}))
    assert all(isinstance(e["experiment_id"], str) for e in search["experiments"])
    assert isinstance(search["next_page_token"], str)


def test_errors_from_unexpected_failures(client, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(experiments_service, "get", boom)
    body = error(client.get(f"{API}/experiments/get", query_string={"experiment_id": "0"}), 500, "INTERNAL_ERROR")
    assert "secret internals" not in body["message"]

    def broken(*args, **kwargs):
        raise peewee.OperationalError("disk I/O error at /secret/path")

    # a database failure that is not load (real lock conflicts: test_load_errors.py) is a 500
    # without a retry offer, and without the database's words
    monkeypatch.setattr(experiments_service, "get", broken)
    resp = client.get(f"{API}/experiments/get", query_string={"experiment_id": "0"})
    body = error(resp, 500, "INTERNAL_ERROR")
    assert "Retry-After" not in resp.headers and "/secret/path" not in body["message"]


def test_meta_endpoints(client):
    resp = client.get("/health")
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "OK"
    resp = client.get("/version")
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "3.17.2"
    for root in ("/api/3.0/mlflow", "/ajax-api/3.0/mlflow"):
        info = ok(client.get(f"{root}/server-info"))
        for key in (
            "store_type",
            "workspaces_enabled",
            "multipart_uploads_enabled",
            "multipart_downloads_enabled",
            "features_enabled",
        ):
            assert key in info
        assert isinstance(info["multipart_uploads_enabled"], bool)
        assert isinstance(info["features_enabled"], dict)
    error(client.post("/api/3.0/mlflow/server-info", json={}), 405, "BAD_REQUEST")


def test_static_prefix(registry_db, backend_uri, tmp_path):
    config = ServerConfig.resolve(
        backend_store_uri=backend_uri, static_prefix="/mlflow", artifacts_destination=str(tmp_path / "artifacts")
    )
    assert config.static_prefix == "/mlflow"
    app = create_app(config, database=registry_db)
    app.testing = True
    client = app.test_client()

    default = ok(client.get("/mlflow/api/2.0/mlflow/experiments/get", query_string={"experiment_id": "0"}))
    assert default["experiment"]["name"] == "Default"
    eid = ok(client.post("/mlflow/api/2.0/mlflow/experiments/create", json={"name": "prefixed"}))["experiment_id"]
    run = ok(client.post("/mlflow/api/2.0/mlflow/runs/create", json={"experiment_id": eid}))["run"]["info"]
    assert run["artifact_uri"] == f"mlflow-artifacts:/{eid}/{run['run_id']}/artifacts"
    ok(
        client.post(
            "/mlflow/ajax-api/2.0/mlflow/runs/log-metric",
            json={"run_id": run["run_id"], "key": "m", "value": 1, "timestamp": 1},
        )
    )
    hist = ok(
        client.get(
            "/mlflow/api/2.0/mlflow/metrics/get-history", query_string={"run_id": run["run_id"], "metric_key": "m"}
        )
    )
    assert [m["value"] for m in hist["metrics"]] == [1.0]
    assert ok(
        client.get(
            "/mlflow/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
            query_string={"run_ids": run["run_id"], "metric_key": "m"},
        )
    )["metrics"]
    assert ok(client.get("/mlflow/api/3.0/mlflow/server-info"))["store_type"]
    resp = client.get("/mlflow/health")
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "OK"
    assert client.get("/mlflow/version").get_data(as_text=True) == "3.17.2"

    # nothing answers without the prefix
    error(client.get("/api/2.0/mlflow/experiments/get", query_string={"experiment_id": "0"}), 404, "ENDPOINT_NOT_FOUND")
    error(client.post("/api/2.0/mlflow/experiments/create", json={"name": "unprefixed"}), 404, "ENDPOINT_NOT_FOUND")
    error(client.get("/ajax-api/2.0/mlflow/experiments/search"), 404, "ENDPOINT_NOT_FOUND")
    assert client.get("/health").status_code == 404
    assert client.get("/api/3.0/mlflow/server-info").status_code == 404
    error(client.get("/mlflow/api/2.0/mlflow/unknown"), 404, "ENDPOINT_NOT_FOUND")
    error(client.get("/mlflow/api/2.0/mlflow/runs/create"), 405, "BAD_REQUEST")
    assert "unprefixed" not in [
        e["name"]
        for e in ok(client.post("/mlflow/api/2.0/mlflow/experiments/search", json={"max_results": 10}))["experiments"]
    ]

    # a trailing slash is dropped; a prefix must start with "/"
    assert ServerConfig.resolve(backend_store_uri=backend_uri, static_prefix="/mlflow/").static_prefix == "/mlflow"
    assert ServerConfig.resolve(backend_store_uri=backend_uri).static_prefix == ""
    with pytest.raises(ValueError):
        ServerConfig.resolve(backend_store_uri=backend_uri, static_prefix="mlflow")
