"""Raw HTTP against the running server: wire conventions the mlflow client relies on.

See /work/shared/reference/mlflow-api-surface.md, sections 0, C and D.
Where modelops intentionally differs from MLflow (JSON bodies on unknown
routes and wrong methods instead of Flask's HTML pages), the assertion is
skipped when the target is the reference server.
"""

from __future__ import annotations

import base64
import math
import uuid

import pytest

pytestmark = pytest.mark.e2e


def _json_error(resp, status: int, codes) -> dict:
    if isinstance(codes, str):
        codes = (codes,)
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    assert resp.headers.get("Content-Type", "").startswith("application/json"), (
        resp.headers.get("Content-Type"),
        resp.text[:500],
    )
    body = resp.json()
    assert isinstance(body, dict)
    assert body.get("error_code") in codes, body
    assert isinstance(body.get("message"), str) and body["message"]
    return body


def _ok(resp) -> dict:
    assert resp.status_code == 200, (resp.status_code, resp.text[:500])
    body = resp.json() if resp.content else {}
    assert isinstance(body, dict)
    return body


@pytest.fixture
def experiment_id(api):
    name = f"http-{uuid.uuid4().hex[:12]}"
    return _ok(api.post("experiments/create", {"name": name}))["experiment_id"]


@pytest.fixture
def run_id(api, experiment_id):
    body = _ok(api.post("runs/create", {"experiment_id": experiment_id, "start_time": 1000, "run_name": "raw"}))
    return body["run"]["info"]["run_id"]


# --------------------------------------------------------------------------
# server endpoints outside the proto API
# --------------------------------------------------------------------------


def test_health(api):
    resp = api.get("/health")
    assert resp.status_code == 200
    assert resp.text.strip() == "OK"


def test_version(api):
    resp = api.get("/version")
    assert resp.status_code == 200
    assert resp.text.strip()


def test_server_info(api):
    body = _ok(api.get("server-info", version="3.0"))
    for key in ("multipart_uploads_enabled", "multipart_downloads_enabled"):
        assert isinstance(body.get(key), bool), body
    assert isinstance(body.get("store_type"), str), body


# --------------------------------------------------------------------------
# routing
# --------------------------------------------------------------------------


def test_unknown_route_is_404(api, is_reference):
    resp = api.get("/api/2.0/mlflow/does-not/exist")
    assert resp.status_code == 404
    if is_reference:
        pytest.skip("MLflow answers unknown routes with Flask's HTML 404")
    _json_error(resp, 404, "ENDPOINT_NOT_FOUND")


def test_unknown_route_outside_api_is_404(api):
    assert api.get("/api/2.0/nothing-here").status_code == 404


def test_wrong_method_is_405(api, is_reference):
    resp = api.request("PUT", "experiments/create", json={"name": "x"})
    assert resp.status_code == 405
    resp2 = api.request("DELETE", "experiments/get")
    assert resp2.status_code == 405
    if is_reference:
        pytest.skip("MLflow answers a wrong method with Flask's HTML 405")
    _json_error(
        resp,
        405,
        ("ENDPOINT_NOT_FOUND", "BAD_REQUEST", "INVALID_PARAMETER_VALUE", "METHOD_NOT_ALLOWED", "NOT_IMPLEMENTED"),
    )


def test_ajax_api_prefix_works_like_api(api, experiment_id, run_id):
    plain = _ok(api.get("runs/get", {"run_id": run_id}))
    ajax = _ok(api.get("runs/get", {"run_id": run_id}, prefix="ajax-api"))
    assert ajax["run"]["info"]["run_id"] == plain["run"]["info"]["run_id"] == run_id
    # writes too
    _ok(api.post("runs/set-tag", {"run_id": run_id, "key": "via", "value": "ajax"}, prefix="ajax-api"))
    tags = {t["key"]: t["value"] for t in _ok(api.get("runs/get", {"run_id": run_id}))["run"]["data"]["tags"]}
    assert tags["via"] == "ajax"
    exp = _ok(api.get("experiments/get", {"experiment_id": experiment_id}, prefix="ajax-api"))
    assert exp["experiment"]["experiment_id"] == experiment_id


# --------------------------------------------------------------------------
# request decoding
# --------------------------------------------------------------------------


def test_get_with_repeated_query_keys(api):
    prefix = f"rep-{uuid.uuid4().hex[:10]}"
    for suffix in ("b", "a", "c"):
        _ok(api.post("experiments/create", {"name": f"{prefix}-{suffix}"}))
    params = [
        ("max_results", "2"),
        ("filter", f"name LIKE '{prefix}%'"),
        ("order_by", "name DESC"),
        ("order_by", "experiment_id ASC"),
    ]
    body = _ok(api.get("experiments/search", params))
    assert [e["name"] for e in body["experiments"]] == [f"{prefix}-c", f"{prefix}-b"]
    assert body.get("next_page_token")
    body2 = _ok(api.get("experiments/search", params + [("page_token", body["next_page_token"])]))
    assert [e["name"] for e in body2["experiments"]] == [f"{prefix}-a"]
    assert not body2.get("next_page_token")
    # enum by name, boolean-free GET
    body3 = _ok(
        api.get(
            "experiments/search", [("max_results", "5"), ("view_type", "ALL"), ("filter", f"name LIKE '{prefix}%'")]
        )
    )
    assert len(body3["experiments"]) == 3


def test_legacy_run_uuid_only(api, run_id):
    body = _ok(api.get("runs/get", {"run_uuid": run_id}))
    assert body["run"]["info"]["run_id"] == run_id
    assert body["run"]["info"]["run_uuid"] == run_id
    _ok(api.post("runs/log-parameter", {"run_uuid": run_id, "key": "legacy", "value": "1"}))
    _ok(api.post("runs/log-metric", {"run_uuid": run_id, "key": "lm", "value": 2.0, "timestamp": 5, "step": 1}))
    _ok(api.post("runs/set-tag", {"run_uuid": run_id, "key": "lt", "value": "v"}))
    hist = _ok(api.get("metrics/get-history", {"run_uuid": run_id, "metric_key": "lm"}))
    assert [(m["value"], m["step"]) for m in hist["metrics"]] == [(2.0, 1)]
    _ok(api.post("runs/update", {"run_uuid": run_id, "status": "FINISHED", "end_time": 2000}))
    info = _ok(api.get("runs/get", {"run_id": run_id}))["run"]["info"]
    assert info["status"] == "FINISHED" and info["end_time"] == 2000


def test_unknown_json_fields_are_ignored(api, experiment_id, run_id):
    _ok(
        api.post(
            "runs/log-metric",
            {
                "run_id": run_id,
                "run_uuid": run_id,
                "key": "m",
                "value": 1.0,
                "timestamp": 1,
                "step": 0,
                "some_future_field": {"nested": [1, 2]},
                "another": "x",
            },
        )
    )
    _ok(
        api.post(
            "runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [{"key": "b", "value": 1.0, "timestamp": 1, "step": 0, "run_id": run_id, "future": True}],
                "params": [{"key": "p", "value": "v", "extra": 1}],
                "tags": [],
                "future_list": [1],
            },
        )
    )
    body = _ok(api.post("experiments/search", {"max_results": 1, "unknown": 1}))
    assert "experiments" in body
    _ok(api.get("experiments/get", {"experiment_id": experiment_id, "bogus": "1"}))


def test_malformed_json_body_is_400_json(api, is_reference):
    resp = api.request("POST", "experiments/create", data="{not json", headers={"Content-Type": "application/json"})
    _json_error(resp, 400, ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"))
    if is_reference:
        pytest.skip("MLflow answers a malformed log-batch body with an HTML 500")
    resp = api.request("POST", "runs/log-batch", data="{not json", headers={"Content-Type": "application/json"})
    _json_error(resp, 400, ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"))


def test_missing_required_parameter(api):
    body = _json_error(api.get("runs/get"), 400, "INVALID_PARAMETER_VALUE")
    assert "run_id" in body["message"]
    _json_error(api.post("experiments/create", {}), 400, "INVALID_PARAMETER_VALUE")


# --------------------------------------------------------------------------
# pagination and limits
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", ["zzz", "not base64!", base64.b64encode(b"[1,2]").decode(), base64.b64encode(b'{"offset": "x"}').decode()]
)
def test_invalid_page_token(api, experiment_id, token, is_reference):
    if is_reference and token == base64.b64encode(b"[1,2]").decode():
        pytest.skip("MLflow 3.17.2 answers a page token that decodes to a JSON list with a 500")
    body = _json_error(
        api.post("runs/search", {"experiment_ids": [experiment_id], "page_token": token}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "page token" in body["message"].lower()
    _json_error(
        api.post("experiments/search", {"max_results": 10, "page_token": token}), 400, "INVALID_PARAMETER_VALUE"
    )


def test_runs_search_max_results_cap(api, experiment_id):
    _ok(api.post("runs/search", {"experiment_ids": [experiment_id], "max_results": 50000}))
    _json_error(
        api.post("runs/search", {"experiment_ids": [experiment_id], "max_results": 50001}),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_search_or_filter_rejected(api, experiment_id):
    body = _json_error(
        api.post(
            "runs/search",
            {
                "experiment_ids": [experiment_id],
                "filter": "metrics.m > 0 OR params.p = '1'",
            },
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "OR" in body["message"]


@pytest.mark.parametrize("kind,count,limit", [("metrics", 1001, 1000), ("params", 101, 100), ("tags", 101, 100)])
def test_log_batch_over_limits(api, run_id, kind, count, limit):
    if kind == "metrics":
        items = [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(count)]
    else:
        items = [{"key": f"k{i}", "value": "v"} for i in range(count)]
    body = _json_error(api.post("runs/log-batch", {"run_id": run_id, kind: items}), 400, "INVALID_PARAMETER_VALUE")
    assert f"A batch logging request can contain at most {limit} {kind}" in body["message"]
    assert f"Got {count} {kind}" in body["message"]
    # nothing was applied
    data = _ok(api.get("runs/get", {"run_id": run_id}))["run"]["data"]
    logged = {item["key"] for item in data.get(kind, [])}
    assert not logged & {item["key"] for item in items}, logged


def test_log_batch_over_total_limit(api, run_id):
    body = _json_error(
        api.post(
            "runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(900)],
                "params": [{"key": f"p{i}", "value": "1"} for i in range(100)],
                "tags": [{"key": "t", "value": "1"}],
            },
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "at most 1000 metrics, params, and tags" in body["message"]


def test_metric_value_nan_and_infinity_strings(api, run_id):
    _ok(api.post("runs/log-metric", {"run_id": run_id, "key": "n", "value": "NaN", "timestamp": 1, "step": 0}))
    _ok(api.post("runs/log-metric", {"run_id": run_id, "key": "i", "value": "Infinity", "timestamp": 1, "step": 0}))
    _ok(
        api.post(
            "runs/log-batch", {"run_id": run_id, "metrics": [{"key": "bn", "value": "NaN", "timestamp": 1, "step": 0}]}
        )
    )
    hist = _ok(api.get("metrics/get-history", {"run_id": run_id, "metric_key": "n"}))
    assert len(hist["metrics"]) == 1
    assert hist["metrics"][0]["value"] == "NaN"  # protobuf JSON spelling
    metrics = {m["key"]: m["value"] for m in _ok(api.get("runs/get", {"run_id": run_id}))["run"]["data"]["metrics"]}
    assert metrics["n"] == "NaN" and metrics["bn"] == "NaN"
    assert metrics["i"] in ("Infinity", 1.7976931348623157e308) or math.isinf(metrics["i"])


def test_metric_value_must_be_numeric(api, run_id):
    _json_error(
        api.post("runs/log-metric", {"run_id": run_id, "key": "x", "value": "abc", "timestamp": 1, "step": 0}),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_get_history_pagination(api, run_id):
    metrics = [{"key": "h", "value": float(i), "timestamp": 100 + i, "step": i} for i in range(25)]
    _ok(api.post("runs/log-batch", {"run_id": run_id, "metrics": metrics}))
    seen, token, pages = [], None, 0
    while True:
        params = {"run_id": run_id, "metric_key": "h", "max_results": 10}
        if token:
            params["page_token"] = token
        body = _ok(api.get("metrics/get-history", params))
        pages += 1
        seen += [m["step"] for m in body.get("metrics", [])]
        token = body.get("next_page_token")
        if not token or pages > 10:
            break
    assert seen == list(range(25))
    assert pages == 3


def test_success_responses_are_200_json_objects(api, experiment_id, run_id):
    for resp in (
        api.post("runs/log-parameter", {"run_id": run_id, "key": "a", "value": "1"}),
        api.post("runs/set-tag", {"run_id": run_id, "key": "a", "value": "1"}),
        api.post("runs/delete-tag", {"run_id": run_id, "key": "a"}),
        api.post("experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": "k", "value": "v"}),
        api.post("runs/delete", {"run_id": run_id}),
        api.post("runs/restore", {"run_id": run_id}),
    ):
        assert resp.status_code == 200, resp.text
        assert resp.headers.get("Content-Type", "").startswith("application/json")
        assert resp.json() == {}


def test_error_statuses(api, experiment_id, run_id):
    _json_error(api.get("runs/get", {"run_id": "0123456789abcdef0123456789abcdef"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _json_error(api.get("experiments/get", {"experiment_id": "987654321"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _json_error(
        api.get("experiments/get-by-name", {"experiment_name": f"missing-{uuid.uuid4().hex}"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    name = _ok(api.get("experiments/get", {"experiment_id": experiment_id}))["experiment"]["name"]
    _json_error(api.post("experiments/create", {"name": name}), 400, "RESOURCE_ALREADY_EXISTS")
    _ok(api.post("runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"}))
    body = _json_error(
        api.post("runs/log-parameter", {"run_id": run_id, "key": "p", "value": "2"}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "Changing param values is not allowed" in body["message"]


def test_int64_fields_are_json_numbers_and_enums_are_names(api, experiment_id, run_id):
    info = _ok(api.get("runs/get", {"run_id": run_id}))["run"]["info"]
    assert info["start_time"] == 1000 and isinstance(info["start_time"], int)
    assert info["status"] == "RUNNING"
    assert info["lifecycle_stage"] == "active"
    exp = _ok(api.get("experiments/get", {"experiment_id": experiment_id}))["experiment"]
    assert isinstance(exp["creation_time"], int)
    assert isinstance(exp["experiment_id"], str)
