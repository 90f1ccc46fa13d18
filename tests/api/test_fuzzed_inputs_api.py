"""What schemathesis found (tests/e2e/test_schemathesis.py), each fixed and held here on every
reachable backend: numbers no database column holds (beyond int64, beyond int32 where MLflow's
proto says int32, infinite), a string holding NUL on PostgreSQL, and a byte range beyond a
file's end. None may answer a 5xx; every refusal is MLflow's error JSON."""

from __future__ import annotations

import base64
import json
import math

import pytest

from tests.api.wire import error, get, ok, post

FLOAT_MAX = 1.7976931348623157e308
BEYOND_INT64 = "99999999999999999999999"  # > 2**63


def _experiment(client, name="fuzz") -> str:
    return ok(post(client, "experiments/create", {"name": name}))["experiment_id"]


def _run(client, eid, **body) -> str:
    return ok(post(client, "runs/create", {"experiment_id": eid, **body}))["run"]["info"]["run_id"]


def _wire(value: float):
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


# --- a metric filter with an infinite literal (MariaDB refused the bound infinity: 500) ------

LOSSES = {"inf": math.inf, "neg-inf": -math.inf, "max": FLOAT_MAX, "neg-max": -FLOAT_MAX, "one": 1.0, "nan": math.nan}
# x <op> +/-inf as IEEE-754 compares, NaN apart: runs/search lets NaN satisfy "!=" only (MLflow)
INFINITE_FILTERS = [
    ("> 1e400", set()),
    (">= 1e400", {"inf"}),
    ("= 1e400", {"inf"}),
    ("!= 1e400", {"neg-inf", "max", "neg-max", "one", "nan"}),
    ("< 1e400", {"neg-inf", "max", "neg-max", "one"}),
    ("<= 1e400", {"inf", "neg-inf", "max", "neg-max", "one"}),
    ("< -1e400", set()),
    ("<= -1e400", {"neg-inf"}),
    ("= -1e400", {"neg-inf"}),
    ("!= -1e400", {"inf", "max", "neg-max", "one", "nan"}),
    ("> -1e400", {"inf", "max", "neg-max", "one"}),
    (">= -1e400", {"inf", "neg-inf", "max", "neg-max", "one"}),
]


def test_run_search_by_a_metric_against_an_infinite_literal(client):
    eid = _experiment(client)
    runs = {}
    for name, value in LOSSES.items():
        runs[_run(client, eid, run_name=name)] = name
        ok(
            post(
                client,
                "runs/log-metric",
                {"run_id": next(reversed(runs)), "key": "loss", "value": _wire(value), "timestamp": 1},
            )
        )
    for order_by in ([], ["metrics.loss DESC"]):  # the filter alone, and within the metric-order walk
        for clause, expected in INFINITE_FILTERS:
            found = ok(
                post(
                    client,
                    "runs/search",
                    {"experiment_ids": [eid], "filter": f"metrics.loss {clause}", "order_by": order_by},
                )
            )
            assert {runs[r["info"]["run_id"]] for r in found.get("runs", [])} == expected, (clause, order_by)


def test_logged_model_search_by_a_metric_against_an_infinite_literal(client):
    eid = _experiment(client)
    run_id = _run(client, eid)
    models = {}
    for name, value in LOSSES.items():
        mid = ok(post(client, "logged-models", {"experiment_id": eid, "name": name}))["model"]["info"]["model_id"]
        models[mid] = name
        ok(
            post(
                client,
                "runs/log-metric",
                {"run_id": run_id, "key": "loss", "value": _wire(value), "timestamp": 1, "model_id": mid},
            )
        )
    for clause, expected in INFINITE_FILTERS:
        found = ok(post(client, "logged-models/search", {"experiment_ids": [eid], "filter": f"metrics.loss {clause}"}))
        # a logged model's NaN metric satisfies no comparison, "!=" included
        assert {models[m["info"]["model_id"]] for m in found.get("models", [])} == expected - {"nan"}, clause


# --- numeric attributes against numbers no int64 reaches (SQLite: OverflowError, 500) --------


def test_run_attributes_against_numbers_beyond_int64(client):
    eid = _experiment(client)
    ended = _run(client, eid, start_time=5)
    ok(post(client, "runs/update", {"run_id": ended, "status": "FINISHED", "end_time": 10}))
    running = _run(client, eid, start_time=7)

    def found(flt):
        answer = ok(post(client, "runs/search", {"experiment_ids": [eid], "filter": flt}))
        return {r["info"]["run_id"] for r in answer.get("runs", [])}

    assert found(f"attributes.start_time < {BEYOND_INT64}") == {ended, running}
    assert found(f"attributes.start_time != {BEYOND_INT64}") == {ended, running}
    assert found(f"attributes.start_time >= {BEYOND_INT64}") == set()
    assert found(f"attributes.start_time = {BEYOND_INT64}") == set()
    assert found(f"attributes.start_time > -{BEYOND_INT64}") == {ended, running}
    assert found(f"attributes.start_time <= -{BEYOND_INT64}") == set()
    # a run without an end time matches no comparison of it (SQL's NULL, as in MLflow)
    assert found("attributes.end_time < 1e400") == {ended}
    assert found("attributes.end_time > 1e400") == set()
    assert found("attributes.end_time > -1e400") == {ended}


def test_experiment_version_and_logged_model_times_against_numbers_beyond_int64(client):
    eid = _experiment(client)
    for flt, count in ((f"creation_time < {BEYOND_INT64}", 1), (f"creation_time > {BEYOND_INT64}", 0)):
        answer = ok(get(client, "experiments/search", filter=f"name = 'fuzz' and {flt}", max_results=10))
        assert len(answer.get("experiments", [])) == count, flt
    ok(post(client, "registered-models/create", {"name": "fuzz-model"}))
    ok(post(client, "model-versions/create", {"name": "fuzz-model", "source": "s3://bucket/model"}))
    for flt, count in (
        (f"version_number < {BEYOND_INT64}", 1),
        (f"version_number = {BEYOND_INT64}", 0),
        (f"creation_timestamp > {BEYOND_INT64}", 0),
    ):
        answer = ok(get(client, "model-versions/search", filter=f"name = 'fuzz-model' and {flt}"))
        assert len(answer.get("model_versions", [])) == count, flt
    ok(post(client, "logged-models", {"experiment_id": eid, "name": "lm"}))
    for flt, count in ((f"creation_time < {BEYOND_INT64}", 1), (f"creation_timestamp > {BEYOND_INT64}", 0)):
        answer = ok(post(client, "logged-models/search", {"experiment_ids": [eid], "filter": flt}))
        assert len(answer.get("models", [])) == count, flt


# --- counts and offsets the database's LIMIT and OFFSET cannot take -------------------------


def test_logged_model_search_max_results_is_an_int32(client):
    """int32 in MLflow's proto; max_results + 1 went into LIMIT (SQLite: OverflowError, 500)."""
    eid = _experiment(client)
    ok(post(client, "logged-models", {"experiment_id": eid, "name": "lm"}))
    assert (
        len(
            ok(post(client, "logged-models/search", {"experiment_ids": [eid], "max_results": 2**31 - 1})).get(
                "models", []
            )
        )
        == 1
    )
    for value in (2**31, 2**63 - 1):
        error(
            post(client, "logged-models/search", {"experiment_ids": [eid], "max_results": value}),
            400,
            "INVALID_PARAMETER_VALUE",
            f"Invalid value {value} for parameter 'max_results' supplied",
        )


@pytest.mark.parametrize("offset", ["1e400", str(2**63), "-1"])
def test_page_token_offsets_beyond_int64_are_refused(client, offset):
    token = base64.b64encode(f'{{"offset": {offset}}}'.encode()).decode()
    eid = _experiment(client)
    for answer in (
        post(client, "runs/search", {"experiment_ids": [eid], "page_token": token}),
        get(client, "experiments/search", max_results=10, page_token=token),
        get(client, "registered-models/search", page_token=token),
    ):
        error(answer, 400, "INVALID_PARAMETER_VALUE", "Invalid page token, offset value=")


# --- a string holding NUL (PostgreSQL's text cannot hold one: psycopg2's ValueError, 500) ----


def test_a_string_holding_nul(client, backend_uri):
    name = "nul\x00name"
    created = post(client, "registered-models/create", {"name": name})
    looked_up = get(client, "registered-models/get", name=name)
    if backend_uri.startswith("postgresql"):
        error(created, 400, "INVALID_PARAMETER_VALUE", "NUL (0x00)")
        error(looked_up, 400, "INVALID_PARAMETER_VALUE", "NUL (0x00)")
    else:  # SQLite and MariaDB keep it, as MLflow's stores do
        assert ok(created)["registered_model"]["name"] == name
        assert ok(looked_up)["registered_model"]["name"] == name


# --- a byte range beyond the file's end (a 416 without a body) -------------------------------


@pytest.fixture
def artifacts_client(tmp_path):
    from mlflow_compat.app import create_app
    from mlflow_compat.config import ServerConfig

    config = ServerConfig.resolve(
        backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}", artifacts_destination=str(tmp_path / "store")
    )
    application = create_app(config)
    application.testing = True
    return application.test_client()


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=99999999999999999999999-"])
def test_a_range_beyond_the_end_is_a_416_with_mlflow_json(artifacts_client, header):
    url = "/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/ten.bin"
    assert artifacts_client.put(url, data=b"0123456789", content_type="application/octet-stream").status_code == 200
    answer = artifacts_client.get(url, headers={"Range": header})
    body = error(answer, 416, "BAD_REQUEST", header, "10 bytes")
    assert set(body) >= {"error_code", "message"}
    assert answer.headers["Content-Range"] == "bytes */10"
    assert json.loads(answer.data) == body
