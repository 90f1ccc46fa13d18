"""The OpenAPI 3.1 document (mlflow_compat.openapi): valid, complete (every served route, or a
refusal naming the one left out), shaped from the request schemas, and served once built."""

from __future__ import annotations

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from mlflow_compat import openapi
from mlflow_compat.app import create_app
from mlflow_compat.config import ServerConfig

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _app(tmp_path, **config):
    settings = ServerConfig.resolve(
        backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}", artifacts_destination=str(tmp_path / "store"), **config
    )
    application = create_app(settings)
    application.testing = True
    return application


@pytest.fixture
def app(tmp_path):
    return _app(tmp_path)


@pytest.fixture
def document(app):
    return openapi.build(app)


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    OpenAPIV31SpecValidator(document).validate()


def test_every_served_route_is_in_the_document(app, document):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in openapi.EXCLUDED:
            continue
        path = openapi._ARGUMENT.sub(r"{\1}", rule.rule)
        assert path in document["paths"], rule.rule
        for method in rule.methods & METHODS:
            assert method.lower() in document["paths"][path], (method, rule.rule)
    # and nothing else: each operation of the document is a route
    served = {
        (openapi._ARGUMENT.sub(r"{\1}", r.rule), m.lower())
        for r in app.url_map.iter_rules()
        for m in r.methods & METHODS
    }
    assert {(p, m) for p, item in document["paths"].items() for m in item} <= served


def test_what_is_left_out_is_served_and_says_why(app, document):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    for endpoint, reason in openapi.EXCLUDED.items():
        assert endpoint in endpoints, f"{endpoint} is excluded but not served"
        assert reason
    assert document["x-excluded-endpoints"] == openapi.EXCLUDED


def test_a_route_neither_rpc_nor_described_is_refused(app):
    app.add_url_rule("/api/2.0/mlflow/runs/undescribed", "undescribed", lambda: "x", methods=["POST"])
    with pytest.raises(openapi.UndescribedRoute, match=r"POST /api/2.0/mlflow/runs/undescribed \(undescribed\)"):
        openapi.build(app)


def test_get_operations_take_the_schema_fields_as_query_parameters(document):
    op = document["paths"]["/api/2.0/mlflow/registered-models/get-latest-versions"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["name"]["in"] == "query" and params["name"]["required"] is True
    stages = params["stages"]  # a repeated field: ?stages=a&stages=b
    assert (stages["schema"]["type"], stages["style"], stages["explode"]) == ("array", "form", True)
    assert "requestBody" not in op
    search = {
        p["name"]: p["schema"] for p in document["paths"]["/api/2.0/mlflow/experiments/search"]["get"]["parameters"]
    }
    assert search["view_type"]["enum"] == ["ACTIVE_ONLY", "DELETED_ONLY", "ALL"]
    assert (search["max_results"]["type"], search["max_results"]["format"]) == ("integer", "int64")


def test_post_operations_take_a_json_body_of_the_request_schema(document):
    op = document["paths"]["/api/2.0/mlflow/runs/log-metric"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/LogMetric"}
    schema = document["components"]["schemas"]["LogMetric"]
    assert set(schema["required"]) >= {"run_id", "key", "value", "timestamp"}
    assert schema["properties"]["timestamp"] == {
        "type": "integer",
        "format": "int64",
        "minimum": -(2**63),
        "maximum": 2**63 - 1,
    }
    assert schema["properties"]["value"]["anyOf"] == [
        {"type": "number"},
        {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]},
    ]
    batch = document["components"]["schemas"]["LogBatch"]["properties"]
    assert batch["metrics"]["items"] == {"$ref": "#/components/schemas/MetricIn"}
    int32 = document["components"]["schemas"]["SearchLoggedModels"]["properties"]["max_results"]
    assert (int32["format"], int32["maximum"]) == ("int32", 2**31 - 1)


def test_answers_and_errors(document):
    get_run = document["paths"]["/api/2.0/mlflow/runs/get"]["get"]["responses"]
    assert get_run["200"]["content"]["application/json"]["schema"]["properties"]["run"] == {
        "$ref": "#/components/schemas/RunOut"
    }
    assert get_run["4XX"] == {"$ref": "#/components/responses/Error"}
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error_code", "message"]
    assert {k: v["type"] for k, v in error["properties"].items()}.items() >= {
        ("error_code", "string"),
        ("message", "string"),
    }
    for path, item in document["paths"].items():
        for method, op in item.items():
            assert op["responses"]["4XX"] == {"$ref": "#/components/responses/Error"}, (method, path)
            assert "200" in op["responses"], (method, path)


def test_hand_described_routes(document):
    download = document["paths"]["/api/2.0/mlflow-artifacts/artifacts/{artifact_path}"]
    assert {p["name"]: p["in"] for p in download["get"]["parameters"]} == {"artifact_path": "path", "Range": "header"}
    assert "application/octet-stream" in download["put"]["requestBody"]["content"]
    bulk = {
        p["name"]: p for p in document["paths"]["/ajax-api/2.0/mlflow/metrics/get-history-bulk"]["get"]["parameters"]
    }
    assert bulk["run_id"]["schema"]["type"] == "array" and bulk["run_id"]["required"]
    assert "501" in document["paths"]["/api/2.0/mlflow-artifacts/mpu/create/{artifact_path}"]["post"]["responses"]
    assert "text/plain" in document["paths"]["/health"]["get"]["responses"]["200"]["content"]


def test_operation_ids_are_unique(document):
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_served_at_api_openapi_json_built_once(app, monkeypatch):
    client = app.test_client()
    first = client.get("/api/openapi.json")
    assert first.status_code == 200 and first.mimetype == "application/json"
    assert first.get_json() == openapi.build(app)
    monkeypatch.setattr(openapi, "build", lambda app: pytest.fail("built again"))
    assert client.get("/api/openapi.json").data == first.data


def test_served_under_the_static_prefix(tmp_path):
    client = _app(tmp_path, static_prefix="/mlflow").test_client()
    assert client.get("/api/openapi.json").status_code == 404
    document = client.get("/mlflow/api/openapi.json").get_json()
    assert "/mlflow/api/2.0/mlflow/runs/get" in document["paths"]
    assert "/mlflow/api/openapi.json" in document["paths"]
    assert all(path.startswith("/mlflow/") for path in document["paths"])


def test_no_static_files_are_served_from_the_working_directory(tmp_path, monkeypatch):
    """Flask's default ``/static/<path>`` route would serve ``./static`` of the server's working
    directory; the app has none, so such a path is MLflow's JSON 404."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "secret.txt").write_text("not for the network")
    client = _app(tmp_path).test_client()
    resp = client.get("/static/secret.txt")
    assert resp.status_code == 404 and resp.get_json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert not any(rule.endpoint == "static" for rule in client.application.url_map.iter_rules())
