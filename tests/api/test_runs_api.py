"""runs/* through the Flask test client, on every reachable backend.

Reference: /work/shared/reference/mlflow-api-surface.md sections 0, A (Runs and metrics), B.1, B.6,
C, D, and MLflow 3.17.2's server (mlflow/server/handlers.py, store/tracking/sqlalchemy_store.py).
"""

from __future__ import annotations

import base64
import json
import re

from registry_core.clock import now_ms
from tests.api.wire import AJAX, API, error, get, ok, post

# --- helpers --------------------------------------------------------------------------------


def create_experiment(client, name, **extra) -> str:
    return ok(post(client, "experiments/create", {"name": name, **extra}))["experiment_id"]


def create_run(client, experiment_id, **body) -> dict:
    return ok(post(client, "runs/create", {"experiment_id": experiment_id, **body}))["run"]


def get_run(client, run_id) -> dict:
    return ok(get(client, "runs/get", run_id=run_id))["run"]


def kv(items) -> dict:
    return {i["key"]: i["value"] for i in items or []}


def data(run) -> tuple[dict, dict, dict]:
    """(params, tags, latest metrics as {key: (value, timestamp, step)}) of a run."""
    d = run.get("data", {})
    metrics = {m["key"]: (m["value"], m["timestamp"], m["step"]) for m in d.get("metrics", [])}
    return kv(d.get("params")), kv(d.get("tags")), metrics


def history(client, run_id, key) -> list[tuple]:
    body = ok(get(client, "metrics/get-history", run_id=run_id, metric_key=key))
    return [(m["value"], m["timestamp"], m["step"]) for m in body.get("metrics", [])]


def raw_post(client, path, text: str):
    return client.post(f"{API}/{path}", data=text, content_type="application/json")


# --- create and get -------------------------------------------------------------------------


def test_create_and_get(client):
    eid = create_experiment(client, "runs-exp")

    run = create_run(
        client,
        eid,
        run_name="first",
        user_id="alice",
        start_time=1234,
        tags=[{"key": "team", "value": "ml"}, {"key": "empty"}],
    )
    info = run["info"]
    rid = info["run_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    assert info["run_uuid"] == rid
    assert info["experiment_id"] == eid
    assert info["run_name"] == "first"
    assert info["user_id"] == "alice"
    assert info["status"] == "RUNNING"
    assert info["start_time"] == 1234 and isinstance(info["start_time"], int)
    assert "end_time" not in info
    assert info["lifecycle_stage"] == "active"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{eid}/{rid}/artifacts"
    params, tags, metrics = data(run)
    assert params == {} and metrics == {}
    assert tags == {"team": "ml", "empty": "", "mlflow.runName": "first"}
    fetched = get_run(client, rid)
    assert fetched.pop("outputs") == {}  # runs/get carries outputs, runs/create does not (as MLflow)
    assert fetched == run

    # legacy run_uuid alone, run_id wins when both are sent, /ajax-api mount
    assert ok(get(client, "runs/get", run_uuid=rid))["run"] == dict(run, outputs={})
    assert ok(get(client, "runs/get", run_id=rid, run_uuid="ignored"))["run"] == dict(run, outputs={})
    assert ok(get(client, "runs/get", root=AJAX, run_id=rid))["run"] == dict(run, outputs={})

    # the run name may come from the mlflow.runName tag alone, or from both when they agree
    by_tag = create_run(client, eid, tags=[{"key": "mlflow.runName", "value": "from-tag"}])
    assert by_tag["info"]["run_name"] == "from-tag"
    assert data(by_tag)[1] == {"mlflow.runName": "from-tag"}
    both = create_run(client, eid, run_name="same", tags=[{"key": "mlflow.runName", "value": "same"}])
    assert both["info"]["run_name"] == "same" and data(both)[1] == {"mlflow.runName": "same"}
    error(
        post(
            client,
            "runs/create",
            {"experiment_id": eid, "run_name": "a", "tags": [{"key": "mlflow.runName", "value": "b"}]},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
        "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
        "(run_name='a', mlflow.runName='b')",
    )

    # no name at all: a random adjective-noun-number name, also written as the tag
    before = now_ms()
    anonymous = create_run(client, eid)
    name = anonymous["info"]["run_name"]
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d{1,3}", name), name
    assert data(anonymous)[1] == {"mlflow.runName": name}
    assert before <= anonymous["info"]["start_time"] <= now_ms()  # start_time defaults to now
    assert anonymous["info"].get("user_id", "") == ""  # MLflow answers "" (protobuf default)

    # no experiment_id: the Default experiment "0"
    default_run = ok(post(client, "runs/create", {"run_name": "in-default"}))["run"]["info"]
    assert default_run["experiment_id"] == "0"
    assert default_run["artifact_uri"] == f"mlflow-artifacts:/0/{default_run['run_id']}/artifacts"

    # an experiment with an explicit location puts its runs under it
    s3 = create_experiment(client, "s3-exp", artifact_location="s3://bucket/prefix")
    s3_run = create_run(client, s3)["info"]
    assert s3_run["artifact_uri"] == f"s3://bucket/prefix/{s3_run['run_id']}/artifacts"

    # int64 start_time as a numeric string (protobuf JSON) is accepted
    assert create_run(client, eid, start_time="5000")["info"]["start_time"] == 5000

    # errors
    error(
        post(client, "runs/create", {"experiment_id": "99999"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=99999 exists",
    )
    error(
        post(client, "runs/create", {"experiment_id": eid, "tags": [{"key": "bad key!", "value": "v"}]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Names may only contain",
    )
    error(
        post(client, "runs/create", {"experiment_id": eid, "start_time": "soon"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "start_time",
    )
    error(
        post(client, "runs/create", {"experiment_id": eid, "start_time": True}),
        400,
        "INVALID_PARAMETER_VALUE",
        "start_time",
    )
    error(get(client, "runs/get", run_id="deadbeef"), 404, "RESOURCE_DOES_NOT_EXIST", "Run with id=deadbeef not found")
    error(get(client, "runs/get"), 400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'")
    # a refused create wrote nothing
    runs = ok(post(client, "runs/search", {"experiment_ids": [eid], "max_results": 100}))["runs"]
    assert len(runs) == 5


# --- update, delete, restore ------------------------------------------------------------------


def test_update_delete_restore(client):
    eid = create_experiment(client, "lifecycle")
    rid = create_run(client, eid, run_name="orig", start_time=1000)["info"]["run_id"]

    info = ok(post(client, "runs/update", {"run_id": rid, "status": "FINISHED", "end_time": 5000}))["run_info"]
    assert info["run_id"] == rid and info["status"] == "FINISHED" and info["end_time"] == 5000
    assert info["run_name"] == "orig" and info["start_time"] == 1000
    run = get_run(client, rid)
    assert run["info"]["status"] == "FINISHED" and run["info"]["end_time"] == 5000

    # renaming through update moves the mlflow.runName tag along
    info = ok(post(client, "runs/update", {"run_uuid": rid, "run_name": "renamed"}))["run_info"]
    assert info["run_name"] == "renamed" and info["status"] == "FINISHED"
    run = get_run(client, rid)
    assert run["info"]["run_name"] == "renamed"
    assert data(run)[1]["mlflow.runName"] == "renamed"
    assert ok(post(client, "runs/search", {"experiment_ids": [eid], "filter": "run_name = 'renamed'"}))["runs"]

    # and set-tag mlflow.runName renames the run
    ok(post(client, "runs/set-tag", {"run_id": rid, "key": "mlflow.runName", "value": "tagged-name"}))
    assert get_run(client, rid)["info"]["run_name"] == "tagged-name"

    for status in ("RUNNING", "SCHEDULED", "FAILED", "KILLED", "FINISHED"):
        assert ok(post(client, "runs/update", {"run_id": rid, "status": status}))["run_info"]["status"] == status
    # a status the enum does not know is ignored, as MLflow's proto parsing ignores it
    assert ok(post(client, "runs/update", {"run_id": rid, "status": "DONE"}))["run_info"]["status"] == "FINISHED"
    error(
        post(client, "runs/update", {"run_id": rid, "status": 42}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 42 for parameter 'status' supplied",
    )
    error(post(client, "runs/update", {"run_id": rid, "end_time": "later"}), 400, "INVALID_PARAMETER_VALUE", "end_time")
    error(post(client, "runs/update", {"run_id": "0" * 32, "status": "FINISHED"}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(post(client, "runs/update", {"status": "FINISHED"}), 400, "INVALID_PARAMETER_VALUE", "run_id")
    assert get_run(client, rid)["info"]["status"] == "FINISHED"

    # delete: still readable, marked deleted, refuses every write
    ok(post(client, "runs/log-parameter", {"run_id": rid, "key": "p", "value": "1"}))
    ok(post(client, "runs/set-tag", {"run_id": rid, "key": "t", "value": "1"}))
    ok(post(client, "runs/delete", {"run_id": rid}))
    run = get_run(client, rid)
    assert run["info"]["lifecycle_stage"] == "deleted"
    ok(post(client, "runs/delete", {"run_id": rid}))  # deleting twice is harmless

    writes = [
        ("runs/update", {"status": "KILLED"}),
        ("runs/set-tag", {"key": "t", "value": "2"}),
        ("runs/delete-tag", {"key": "t"}),
        ("runs/log-metric", {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}),
        ("runs/log-parameter", {"key": "q", "value": "1"}),
        ("runs/log-batch", {"params": [{"key": "q", "value": "1"}]}),
        (
            "runs/log-inputs",
            {"datasets": [{"dataset": {"name": "d", "digest": "x", "source_type": "local", "source": "{}"}}]},
        ),
        ("runs/outputs", {"models": [{"model_id": "m-1", "step": 0}]}),
    ]
    for path, body in writes:
        error(
            post(client, path, {"run_id": rid, **body}),
            400,
            "INVALID_PARAMETER_VALUE",
            f"The run {rid} must be in the 'active' state. Current state is deleted.",
        )
    assert get_run(client, rid) == run  # nothing changed

    ok(post(client, "runs/restore", {"run_id": rid}))
    run = get_run(client, rid)
    assert run["info"]["lifecycle_stage"] == "active"
    params, tags, _ = data(run)
    assert params == {"p": "1"} and tags["t"] == "1"
    ok(post(client, "runs/set-tag", {"run_id": rid, "key": "t", "value": "3"}))
    assert data(get_run(client, rid))[1]["t"] == "3"
    ok(post(client, "runs/restore", {"run_id": rid}))  # restoring an active run is harmless

    error(post(client, "runs/delete", {"run_id": "f" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(post(client, "runs/restore", {"run_id": "f" * 32}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(post(client, "runs/delete", {}), 400, "INVALID_PARAMETER_VALUE", "run_id")

    # ajax mount
    ok(post(client, "runs/delete", {"run_id": rid}, root=AJAX))
    assert get_run(client, rid)["info"]["lifecycle_stage"] == "deleted"


# --- tags, params, metrics ----------------------------------------------------------------------


def test_tags_params_and_metrics(client):
    eid = create_experiment(client, "writes")
    rid = create_run(client, eid, run_name="w")["info"]["run_id"]

    # set-tag / delete-tag
    ok(post(client, "runs/set-tag", {"run_id": rid, "key": "color", "value": "red"}))
    ok(post(client, "runs/set-tag", {"run_uuid": rid, "run_id": rid, "key": "color", "value": "blue"}))
    ok(post(client, "runs/set-tag", {"run_id": rid, "key": "long", "value": "t" * 9000}))
    ok(post(client, "runs/set-tag", {"run_id": rid, "key": "novalue"}))
    tags = data(get_run(client, rid))[1]
    assert tags["color"] == "blue" and tags["long"] == "t" * 8000 and tags["novalue"] == ""
    ok(post(client, "runs/delete-tag", {"run_id": rid, "key": "color"}))
    assert "color" not in data(get_run(client, rid))[1]
    error(
        post(client, "runs/delete-tag", {"run_id": rid, "key": "color"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"No tag with name: color in run with id {rid}",
    )
    error(post(client, "runs/delete-tag", {"run_id": "a" * 32, "key": "color"}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(post(client, "runs/delete-tag", {"run_id": rid}), 400, "INVALID_PARAMETER_VALUE", "key")
    error(post(client, "runs/set-tag", {"run_id": rid, "value": "v"}), 400, "INVALID_PARAMETER_VALUE", "key")
    error(
        post(client, "runs/set-tag", {"run_id": rid, "key": "a/../b", "value": "v"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Names may be treated as files",
    )
    error(post(client, "runs/set-tag", {"run_id": "a" * 32, "key": "k", "value": "v"}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(post(client, "runs/set-tag", {"key": "k", "value": "v"}), 400, "INVALID_PARAMETER_VALUE", "run_id")

    # log-parameter: immutable once logged
    ok(post(client, "runs/log-parameter", {"run_id": rid, "run_uuid": rid, "key": "lr", "value": "0.1"}))
    ok(post(client, "runs/log-parameter", {"run_id": rid, "key": "lr", "value": "0.1"}))  # same value: fine
    error(
        post(client, "runs/log-parameter", {"run_id": rid, "key": "lr", "value": "0.2"}),
        400,
        "INVALID_PARAMETER_VALUE",
        f"Changing param values is not allowed. Param with key='lr' was already logged with value='0.1' "
        f"for run ID='{rid}'. Attempted logging new value '0.2'.",
    )
    ok(post(client, "runs/log-parameter", {"run_id": rid, "key": "big", "value": "p" * 7000}))
    ok(post(client, "runs/log-parameter", {"run_id": rid, "key": "big", "value": "p" * 7000}))  # same once truncated
    ok(post(client, "runs/log-parameter", {"run_id": rid, "key": "emptyval", "value": ""}))
    error(post(client, "runs/log-parameter", {"run_id": rid, "key": "lr"}), 400, "INVALID_PARAMETER_VALUE", "value")
    error(post(client, "runs/log-parameter", {"run_id": rid, "value": "1"}), 400, "INVALID_PARAMETER_VALUE", "key")
    error(
        post(client, "runs/log-parameter", {"run_id": rid, "key": "x" * 251, "value": "1"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "exceeds the maximum length of 250",
    )
    error(
        post(client, "runs/log-parameter", {"run_id": "b" * 32, "key": "k", "value": "1"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    params = data(get_run(client, rid))[0]
    assert params == {"lr": "0.1", "big": "p" * 6000, "emptyval": ""}

    # log-metric: numbers, numeric strings, NaN and infinities as strings and as JSON literals
    def log(value, timestamp, step=None, key="m"):
        body = {"run_id": rid, "key": key, "value": value, "timestamp": timestamp}
        if step is not None:
            body["step"] = step
        return post(client, "runs/log-metric", body)

    ok(log(1.5, 100, 0))
    ok(log(2, 100, 1))
    ok(log("2.5", "200", "2"))
    ok(log(-1e-3, 300, -1))
    assert history(client, rid, "m") == [(1.5, 100, 0), (2.0, 100, 1), (2.5, 200, 2), (-0.001, 300, -1)]
    # the latest value is the one of the greatest step
    assert data(get_run(client, rid))[2]["m"] == (2.5, 200, 2)
    ok(log(0.5, 50))  # no step: 0
    assert history(client, rid, "m")[0] == (0.5, 50, 0)

    ok(log("NaN", 1, 0, key="nan"))
    ok(log("Infinity", 2, 1, key="inf"))
    ok(log("-Infinity", 3, 2, key="ninf"))
    for text, key in (("NaN", "nan_lit"), ("Infinity", "inf_lit"), ("-Infinity", "ninf_lit")):
        ok(
            raw_post(
                client,
                "runs/log-metric",
                f'{{"run_id": "{rid}", "key": "{key}", "value": {text}, "timestamp": 7, "step": 0}}',
            )
        )
    ok(log(1.7976931348623157e308, 8, 0, key="max"))
    raw = get(client, "runs/get", run_id=rid).get_data(as_text=True)
    assert "NaN" in raw and "Infinity" in raw
    metrics = data(get_run(client, rid))[2]
    assert metrics["nan"][0] == "NaN" and metrics["nan_lit"][0] == "NaN"
    assert metrics["inf"][0] == "Infinity" and metrics["inf_lit"][0] == "Infinity"
    assert metrics["ninf"][0] == "-Infinity" and metrics["ninf_lit"][0] == "-Infinity"
    assert history(client, rid, "inf") == [("Infinity", 2, 1)]
    assert history(client, rid, "ninf") == [("-Infinity", 3, 2)]
    assert history(client, rid, "nan") == [("NaN", 1, 0)]

    error(
        post(client, "runs/log-metric", {"run_id": rid, "key": "m", "timestamp": 1}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'value'",
    )
    for bad in (True, False, "abc", None, [1], {"v": 1}):
        error(log(bad, 1, key="bad"), 400, "INVALID_PARAMETER_VALUE", "value")
    error(log(1.0, -5, key="bad"), 400, "INVALID_PARAMETER_VALUE", "timestamp")
    error(log(1.0, True, key="bad"), 400, "INVALID_PARAMETER_VALUE", "timestamp")
    error(log(1.0, 1.5, key="bad"), 400, "INVALID_PARAMETER_VALUE", "timestamp")
    error(log(1.0, 1, step="x", key="bad"), 400, "INVALID_PARAMETER_VALUE", "step")
    error(
        post(client, "runs/log-metric", {"run_id": rid, "value": 1, "timestamp": 1}),
        400,
        "INVALID_PARAMETER_VALUE",
        "key",
    )
    error(log(1.0, 1, key="../up"), 400, "INVALID_PARAMETER_VALUE", "Names may be treated as files")
    error(log(1.0, 1, key="we|rd"), 400, "INVALID_PARAMETER_VALUE", "Names may only contain")
    error(
        post(client, "runs/log-metric", {"run_id": "c" * 32, "key": "m", "value": 1, "timestamp": 1}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert history(client, rid, "bad") == []
    assert "bad" not in data(get_run(client, rid))[2]

    # log-metric with the 3.x client's extra fields and unknown ones (ignored)
    ok(
        post(
            client,
            "runs/log-metric",
            {
                "run_id": rid,
                "run_uuid": rid,
                "key": "x3",
                "value": 3,
                "timestamp": 9,
                "step": 1,
                "dataset_name": "d",
                "dataset_digest": "dd",
                "some_future_field": {"x": 1},
            },
        )
    )
    assert history(client, rid, "x3") == [(3.0, 9, 1)]


# --- log-batch ---------------------------------------------------------------------------------


def test_log_batch(client):
    eid = create_experiment(client, "batch")
    rid = create_run(client, eid, run_name="b")["info"]["run_id"]

    ok(
        post(
            client,
            "runs/log-batch",
            {
                "run_id": rid,
                "metrics": [
                    {"key": "loss", "value": 0.5, "timestamp": 10, "step": 0},
                    {"key": "loss", "value": 0.25, "timestamp": 20, "step": 1},
                    {"key": "acc", "value": "NaN", "timestamp": 10, "step": 0},
                ],
                "params": [{"key": "lr", "value": "0.1"}, {"key": "long", "value": "p" * 7000}],
                "tags": [{"key": "team", "value": "ml"}, {"key": "big", "value": "t" * 9000}],
            },
        )
    )
    params, tags, metrics = data(get_run(client, rid))
    assert params == {"lr": "0.1", "long": "p" * 6000}
    assert tags["team"] == "ml" and tags["big"] == "t" * 8000
    assert metrics == {"loss": (0.25, 20, 1), "acc": ("NaN", 10, 0)}
    assert history(client, rid, "loss") == [(0.5, 10, 0), (0.25, 20, 1)]
    baseline = get_run(client, rid)

    def unchanged():
        assert get_run(client, rid) == baseline
        assert history(client, rid, "loss") == [(0.5, 10, 0), (0.25, 20, 1)]
        assert history(client, rid, "fresh") == []

    good = {
        "metrics": [
            {"key": "fresh", "value": 1.0, "timestamp": 30, "step": 5},
            {"key": "loss", "value": 0.1, "timestamp": 40, "step": 9},
        ],
        "params": [{"key": "new_param", "value": "x"}],
        "tags": [{"key": "team", "value": "changed"}, {"key": "new_tag", "value": "y"}],
    }

    def batch(extra_metrics=(), extra_params=(), extra_tags=()):
        return post(
            client,
            "runs/log-batch",
            {
                "run_id": rid,
                "metrics": good["metrics"] + list(extra_metrics),
                "params": good["params"] + list(extra_params),
                "tags": good["tags"] + list(extra_tags),
            },
        )

    # atomic: one bad item anywhere and nothing of the batch is written
    bad_batches = [
        (batch(extra_metrics=[{"key": "bad!", "value": 1, "timestamp": 1}]), "Names may only contain"),
        (batch(extra_metrics=[{"key": "ok", "value": True, "timestamp": 1}]), "value"),
        (batch(extra_metrics=[{"key": "ok", "timestamp": 1}]), "value"),
        (batch(extra_metrics=[{"key": "ok", "value": 1, "timestamp": -1}]), "timestamp"),
        (batch(extra_params=[{"key": "lr", "value": "0.2"}]), "Changing param values is not allowed"),
        (batch(extra_params=[{"key": "../x", "value": "1"}]), "Names may be treated as files"),
        (batch(extra_params=[{"key": "/abs", "value": "1"}]), "Names may be treated as files"),
        (batch(extra_params=[{"key": "a/../b", "value": "1"}]), "Names may be treated as files"),
        (batch(extra_params=[{"key": "k" * 251, "value": "1"}]), "exceeds the maximum length of 250"),
        (
            batch(extra_params=[{"key": "dup", "value": "1"}, {"key": "dup", "value": "2"}]),
            "Duplicate parameter keys have been submitted: ['dup']",
        ),
        (batch(extra_tags=[{"key": "bad tag?", "value": "1"}]), "Names may only contain"),
        (batch(extra_tags=[{"key": "t" * 251, "value": "1"}]), "exceeds the maximum length of 250"),
        (batch(extra_tags=[{"value": "1"}]), "key"),
        (batch(extra_metrics=[{"key": "m" * 251, "value": 1, "timestamp": 1}]), "250"),
    ]
    for resp, fragment in bad_batches:
        error(resp, 400, "INVALID_PARAMETER_VALUE", fragment)
        unchanged()

    # keys at the limits are accepted: 250 characters, spaces, colons, slashes, dots, dashes
    ok(
        post(
            client,
            "runs/log-batch",
            {"run_id": rid, "params": [{"key": "k" * 250, "value": "1"}, {"key": "a b:c/d.e-f_g", "value": "2"}]},
        )
    )
    params = data(get_run(client, rid))[0]
    assert params["k" * 250] == "1" and params["a b:c/d.e-f_g"] == "2"

    # size limits, with MLflow's messages
    metric = {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}
    tag = {"key": "t", "value": "v"}
    error(
        post(client, "runs/log-batch", {"run_id": rid, "metrics": [dict(metric, step=n) for n in range(1001)]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please split up "
        "metrics across multiple requests and try again.",
    )
    error(
        post(client, "runs/log-batch", {"run_id": rid, "params": [{"key": f"p{n}", "value": "v"} for n in range(101)]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "A batch logging request can contain at most 100 params. Got 101 params. Please split up "
        "params across multiple requests and try again.",
    )
    error(
        post(client, "runs/log-batch", {"run_id": rid, "tags": [dict(tag, key=f"t{n}") for n in range(101)]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "A batch logging request can contain at most 100 tags. Got 101 tags. Please split up "
        "tags across multiple requests and try again.",
    )
    error(
        post(
            client,
            "runs/log-batch",
            {
                "run_id": rid,
                "metrics": [dict(metric, step=n) for n in range(1000)],
                "params": [{"key": "one_more", "value": "v"}],
            },
        ),
        400,
        "INVALID_PARAMETER_VALUE",
        "A batch logging request can contain at most 1000 metrics, params, and tags. Got 1001 metrics, "
        "params, and tags. Please split up metrics, params, and tags across multiple requests and try again.",
    )
    assert history(client, rid, "m") == []
    assert "one_more" not in data(get_run(client, rid))[0]

    # exactly at the limits: accepted and all written
    ok(
        post(
            client,
            "runs/log-batch",
            {
                "run_id": rid,
                "metrics": [dict(metric, step=n) for n in range(900)],
                "params": [{"key": f"p{n}", "value": "v"} for n in range(50)],
                "tags": [dict(tag, key=f"t{n}") for n in range(50)],
            },
        )
    )
    assert len(history(client, rid, "m")) == 900
    params, tags, metrics = data(get_run(client, rid))
    assert all(f"p{n}" in params and f"t{n}" in tags for n in range(50))
    assert metrics["m"] == (1.0, 1, 899)
    ok(
        post(
            client,
            "runs/log-batch",
            {"run_id": rid, "metrics": [dict(metric, key="k1000", step=n) for n in range(1000)]},
        )
    )
    assert len(history(client, rid, "k1000")) == 1000
    ok(
        post(
            client,
            "runs/log-batch",
            {
                "run_id": rid,
                "tags": [dict(tag, key=f"u{n}") for n in range(100)],
                "params": [{"key": f"q{n}", "value": "v"} for n in range(100)],
            },
        )
    )

    # a batch the client may legitimately build (100 params of 6000 chars and 100 tags of 5000,
    # 1.1 MB) is accepted, as by MLflow 3.17.2 (whose 1 MB check counts the body's keys) ...
    huge = {
        "run_id": rid,
        "params": [{"key": f"h{n}", "value": "v" * 6000} for n in range(100)],
        "tags": [{"key": f"h{n}", "value": "v" * 5000} for n in range(100)],
    }
    ok(post(client, "runs/log-batch", huge))
    params, tags, _ = data(get_run(client, rid))
    assert params["h99"] == "v" * 6000 and tags["h99"] == "v" * 5000
    # ... while a body over the 16 MB ceiling is refused and writes nothing
    bloated = {"run_id": rid, "params": [{"key": "g0", "value": "v"}], "padding": "x" * (16 * 1024 * 1024)}
    error(
        post(client, "runs/log-batch", bloated),
        400,
        "INVALID_PARAMETER_VALUE",
        f"Batched logging API requests must be at most {16 * 1024 * 1024} bytes",
    )
    params, _, _ = data(get_run(client, rid))
    assert "g0" not in params

    # an empty batch is a no-op; a batch for a missing run is 404; no run id is 400
    ok(post(client, "runs/log-batch", {"run_id": rid}))
    error(
        post(client, "runs/log-batch", {"run_id": "d" * 32, "params": [{"key": "a", "value": "b"}]}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(
        post(client, "runs/log-batch", {"params": [{"key": "a", "value": "b"}]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "run_id",
    )
    error(post(client, "runs/log-batch", {"run_id": rid, "metrics": "nope"}), 400, "INVALID_PARAMETER_VALUE", "metrics")

    # a good batch after all that is applied whole: params, tags (incl. the runName tag) and metrics
    ok(
        post(
            client,
            "runs/log-batch",
            {"run_id": rid, **good, "tags": good["tags"] + [{"key": "mlflow.runName", "value": "via-batch"}]},
        )
    )
    run = get_run(client, rid)
    params, tags, metrics = data(run)
    assert params["new_param"] == "x" and tags["team"] == "changed" and tags["new_tag"] == "y"
    assert run["info"]["run_name"] == "via-batch"
    assert metrics["fresh"] == (1.0, 30, 5) and metrics["loss"] == (0.1, 40, 9)


# --- inputs and outputs -------------------------------------------------------------------------


def test_log_inputs_and_outputs(client):
    eid = create_experiment(client, "io")
    rid = create_run(client, eid, run_name="io")["info"]["run_id"]
    other = create_run(client, eid, run_name="io2")["info"]["run_id"]

    train = {
        "name": "train",
        "digest": "abc123",
        "source_type": "local",
        "source": '{"uri": "/data/train"}',
        "schema": '{"mlflow_colspec": []}',
        "profile": '{"num_rows": 10}',
    }
    evalset = {"name": "eval", "digest": "def456", "source_type": "http", "source": '{"url": "http://x"}'}
    body = {
        "run_id": rid,
        "datasets": [
            {"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": train},
            {"dataset": evalset, "unknown_field": 1},
        ],
        "models": [{"model_id": "m-0123456789"}],
    }
    ok(post(client, "runs/log-inputs", body))
    ok(post(client, "runs/log-inputs", body))  # idempotent
    ok(
        post(
            client,
            "runs/log-inputs",
            {
                "run_id": rid,
                "datasets": [{"dataset": train, "tags": [{"key": "mlflow.data.context", "value": "training"}]}],
            },
        )
    )
    inputs = get_run(client, rid)["inputs"]
    by_name = {d["dataset"]["name"]: d for d in inputs["dataset_inputs"]}
    assert len(inputs["dataset_inputs"]) == 2
    assert by_name["train"]["dataset"] == train
    assert by_name["train"]["tags"] == [{"key": "mlflow.data.context", "value": "training"}]
    assert by_name["eval"]["dataset"] == evalset  # no schema/profile: omitted, not null
    assert by_name["eval"].get("tags", []) == []
    assert inputs["model_inputs"] == [{"model_id": "m-0123456789"}]

    # the same dataset logged by another run of the experiment
    ok(post(client, "runs/log-inputs", {"run_id": other, "datasets": [{"dataset": train}]}))
    assert [d["dataset"]["name"] for d in get_run(client, other)["inputs"]["dataset_inputs"]] == ["train"]
    # searchable
    found = ok(post(client, "runs/search", {"experiment_ids": [eid], "filter": "datasets.name = 'train'"}))
    assert sorted(r["info"]["run_id"] for r in found["runs"]) == sorted([rid, other])

    error(
        post(client, "runs/log-inputs", {"run_id": rid, "datasets": [{"dataset": dict(train, digest=None)}]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "digest",
    )
    error(
        post(client, "runs/log-inputs", {"run_id": rid, "datasets": [{"dataset": dict(train, digest="d" * 37)}]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "digest",
    )
    error(
        post(client, "runs/log-inputs", {"run_id": rid, "datasets": [{"dataset": dict(train, name="n" * 501)}]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "name",
    )
    error(
        post(
            client,
            "runs/log-inputs",
            {
                "run_id": rid,
                "datasets": [{"dataset": dict(train, name="t2"), "tags": [{"key": "k", "value": "v" * 501}]}],
            },
        ),
        400,
        "INVALID_PARAMETER_VALUE",
        "500",
    )
    error(
        post(client, "runs/log-inputs", {"run_id": rid, "datasets": [{"tags": []}]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "dataset",
    )
    error(
        post(client, "runs/log-inputs", {"run_id": "e" * 32, "datasets": [{"dataset": train}]}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert len(get_run(client, rid)["inputs"]["dataset_inputs"]) == 2

    # outputs: model links appear in runs/get outputs.model_outputs
    assert "model_outputs" not in get_run(client, rid).get("outputs", {})
    ok(post(client, "runs/outputs", {"run_id": rid, "models": [{"model_id": "m-out1", "step": 3}]}))
    ok(post(client, "runs/outputs", {"run_id": rid, "models": [{"model_id": "m-out2"}]}))
    outputs = get_run(client, rid)["outputs"]["model_outputs"]
    assert sorted(outputs, key=lambda m: m["model_id"]) == [
        {"model_id": "m-out1", "step": 3},
        {"model_id": "m-out2", "step": 0},
    ]
    error(
        post(client, "runs/outputs", {"run_id": rid, "models": [{"step": 1}]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "model_id",
    )
    error(
        post(client, "runs/outputs", {"run_id": "e" * 32, "models": [{"model_id": "m-1"}]}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert "outputs" not in get_run(client, other) or not get_run(client, other)["outputs"].get("model_outputs")


# --- search ----------------------------------------------------------------------------------------


def _search_fixture(client):
    exp = create_experiment(client, "search-exp")
    exp2 = create_experiment(client, "search-exp-2")

    def make(name, start, user="alice", exp_id=exp, status=None, end=None, metrics=(), params=(), tags=()):
        rid = create_run(client, exp_id, run_name=name, start_time=start, user_id=user)["info"]["run_id"]
        ok(
            post(
                client,
                "runs/log-batch",
                {
                    "run_id": rid,
                    "metrics": [{"key": k, "value": val, "timestamp": 1, "step": 0} for k, val in metrics],
                    "params": [{"key": k, "value": val} for k, val in params],
                    "tags": [{"key": k, "value": val} for k, val in tags],
                },
            )
        )
        if status or end:
            body = {"run_id": rid}
            if status:
                body["status"] = status
            if end:
                body["end_time"] = end
            ok(post(client, "runs/update", body))
        return rid

    r1 = make(
        "alpha-run",
        1000,
        status="FINISHED",
        end=2000,
        metrics=[("acc", 0.9), ("loss", 0.5)],
        params=[("lr", "0.1"), ("opt", "adam")],
        tags=[("team", "ml"), ("my tag", "x"), ("a.b", "1"), ("prio", "b")],
    )
    r2 = make(
        "beta-run",
        2000,
        user="bob",
        metrics=[("acc", 0.8)],
        params=[("lr", "0.01"), ("opt", "SGD")],
        tags=[("team", "ML"), ("prio", "c")],
    )
    r3 = make("gamma", 3000, status="FAILED", end=3500, metrics=[("loss", 0.3), ("acc", "NaN")], params=[("lr", "0.1")])
    r4 = make("delta-run", 3000, status="KILLED", tags=[("team", "ops"), ("prio", "a")])
    r5 = make("deleted-run", 500, metrics=[("acc", 1.0)])
    ok(post(client, "runs/delete", {"run_id": r5}))
    r6 = make("other-exp-run", 4000, exp_id=exp2, metrics=[("acc", 0.95)])

    ds = lambda name, digest, context: {  # noqa: E731
        "tags": [{"key": "mlflow.data.context", "value": context}],
        "dataset": {"name": name, "digest": digest, "source_type": "local", "source": "{}"},
    }
    ok(post(client, "runs/log-inputs", {"run_id": r1, "datasets": [ds("ds1", "d1", "training")]}))
    ok(post(client, "runs/log-inputs", {"run_id": r2, "datasets": [ds("ds2", "d2", "eval")]}))
    return exp, exp2, r1, r2, r3, r4, r5, r6


def test_search_filters(client):
    exp, exp2, r1, r2, r3, r4, r5, r6 = _search_fixture(client)
    names = {r1: "r1", r2: "r2", r3: "r3", r4: "r4", r5: "r5", r6: "r6"}

    def s(filter_string=None, experiment_ids=(exp,), **kw):
        body = {"experiment_ids": list(experiment_ids), **kw}
        if filter_string is not None:
            body["filter"] = filter_string
        page = ok(post(client, "runs/search", body))
        return {names[r["info"]["run_id"]] for r in page.get("runs", [])}

    assert s() == {"r1", "r2", "r3", "r4"}
    assert s("") == {"r1", "r2", "r3", "r4"}

    # metrics (NaN never matches a numeric comparison except != , as in MLflow)
    assert s("metrics.acc > 0.85") == {"r1"}
    assert s("metric.acc >= 0.8") == {"r1", "r2"}
    assert s("metrics.acc < 0.85") == {"r2"}
    assert s("metrics.acc <= 0.9") == {"r1", "r2"}
    assert s("metrics.acc = 0.9") == {"r1"}
    assert s("metrics.acc != 0.9") == {"r2", "r3"}
    assert s("metrics.acc = 0") == set()  # NaN is stored as 0 but never equals it
    assert s("metrics.acc != 0") == {"r1", "r2", "r3"}
    assert s("metrics.loss < 1e1") == {"r1", "r3"}
    assert s("metrics.`acc` > -1") == {"r1", "r2"}
    assert s('metrics."loss" >= 0.5') == {"r1"}

    # params
    assert s("params.lr = '0.1'") == {"r1", "r3"}
    assert s('param.lr = "0.01"') == {"r2"}
    assert s("parameter.opt != 'adam'") == {"r2"}
    assert s("parameters.opt LIKE 'ad%'") == {"r1"}
    assert s("params.opt LIKE 'sgd'") == set()
    assert s("params.opt ILIKE 'sgd'") == {"r2"}
    assert s("params.opt IS NULL") == {"r3", "r4"}
    assert s("params.opt IS NOT NULL") == {"r1", "r2"}

    # tags, with backtick and double-quoted keys
    assert s("tags.team = 'ml'") == {"r1"}
    assert s("tag.team != 'ml'") == {"r2", "r4"}
    assert s("tags.team LIKE 'M%'") == {"r2"}
    assert s("tags.team ILIKE 'm%'") == {"r1", "r2"}
    assert s("tags.`my tag` = 'x'") == {"r1"}
    assert s("tags.\"a.b\" = '1'") == {"r1"}
    assert s("tags.team IS NULL") == {"r3"}
    assert s("tags.team IS NOT NULL") == {"r1", "r2", "r4"}
    assert s("tags.`mlflow.runName` = 'gamma'") == {"r3"}
    assert s("tags.mlflow.runName = 'gamma'") == {"r3"}  # dotted keys without quotes, as MLflow
    assert s("tags.a.b = '1'") == {"r1"}

    # attributes, with the attributes./attribute./attr./run. prefixes and bare
    assert s("attributes.run_name = 'alpha-run'") == {"r1"}
    assert s('run_name = "alpha-run"') == {"r1"}
    assert s("run_name LIKE 'alpha_run'") == {"r1"}  # "_" is LIKE's single-character wildcard
    assert s("run_name LIKE 'alpha'") == set()
    assert s("run_name LIKE '%-run'") == {"r1", "r2", "r4"}
    assert s("attr.run_name ILIKE 'GAMMA'") == {"r3"}
    assert s("attributes.`run name` = 'gamma'") == {"r3"}
    assert s("run.status = 'FINISHED'") == {"r1"}
    assert s("status != 'RUNNING'") == {"r1", "r3", "r4"}
    assert s("attribute.user_id = 'bob'") == {"r2"}
    assert s("attributes.start_time >= 2000") == {"r2", "r3", "r4"}
    assert s("start_time < 2000") == {"r1"}
    assert s("created = 3000") == {"r3", "r4"}
    assert s("attributes.end_time > 2000") == {"r3"}
    assert s("end_time <= 2000") == {"r1"}
    assert s(f"attributes.run_id = '{r3}'") == {"r3"}
    assert s(f"attributes.run_id IN ('{r1}', '{r2}')") == {"r1", "r2"}
    assert s(f"run_id NOT IN ('{r1}')") == {"r2", "r3", "r4"}
    assert s(f"attributes.artifact_uri LIKE '%{r1}%'") == {"r1"}

    # datasets
    assert s("datasets.name = 'ds1'") == {"r1"}
    assert s("dataset.name != 'ds1'") == {"r2"}
    assert s("datasets.name LIKE 'ds%'") == {"r1", "r2"}
    assert s("datasets.name ILIKE 'DS2'") == {"r2"}
    assert s("datasets.digest IN ('d1', 'd2')") == {"r1", "r2"}
    assert s("datasets.name NOT IN ('ds1')") == {"r2"}
    assert s("datasets.context = 'eval'") == {"r2"}

    # conjunctions
    assert s("metrics.acc > 0.5 AND params.lr = '0.1' and tags.team = 'ml'") == {"r1"}
    assert s("metrics.acc > 0.5 AND params.lr = '0.01' AND tags.team = 'ml'") == set()

    # several experiments at once, and the view types
    assert s("metrics.acc > 0.85", experiment_ids=(exp, exp2)) == {"r1", "r6"}
    assert s(experiment_ids=(exp2,)) == {"r6"}
    assert s(experiment_ids=()) == set()
    assert s(run_view_type="DELETED_ONLY") == {"r5"}
    assert s(run_view_type="ALL") == {"r1", "r2", "r3", "r4", "r5"}
    assert s(run_view_type="ACTIVE_ONLY") == {"r1", "r2", "r3", "r4"}
    assert s("metrics.acc >= 1", run_view_type="ALL") == {"r5"}

    # the ajax mount
    ajax = ok(post(client, "runs/search", {"experiment_ids": [exp], "filter": "params.lr = '0.01'"}, root=AJAX))
    assert [r["info"]["run_id"] for r in ajax["runs"]] == [r2]

    # the full run comes back: info, data, inputs
    run = next(
        r for r in ok(post(client, "runs/search", {"experiment_ids": [exp], "filter": "tags.team = 'ml'"}))["runs"]
    )
    assert run == get_run(client, r1)
    assert run["inputs"]["dataset_inputs"][0]["dataset"]["name"] == "ds1"

    # errors
    def bad(filter_string, *fragments):
        error(
            post(client, "runs/search", {"experiment_ids": [exp], "filter": filter_string}),
            400,
            "INVALID_PARAMETER_VALUE",
            *fragments,
        )

    bad("metrics.acc > 0.5 OR params.lr = '0.1'", "Invalid clause(s) in filter string", "OR")
    bad("params.lr > '0.1'", "Invalid comparator")
    bad("metrics.acc LIKE 0.5", "Invalid comparator")
    bad("metrics.acc ~ 0.5")
    bad("metrics.acc > 'high'", "numeric")
    bad("params.lr = 0.1", "quoted")
    bad("colour.x = 'y'", "Invalid entity type 'colour'")
    bad("attributes.colour = 'y'", "Invalid attribute key 'colour'")
    bad("tags.team IN ('ml')")
    bad("metrics.acc IS NULL")
    bad("(metrics.acc > 1)")
    # a view type the enum does not know is ignored (ACTIVE_ONLY), as MLflow's proto parsing ignores it
    assert ok(post(client, "runs/search", {"experiment_ids": [exp], "run_view_type": "SOME"})) == ok(
        post(client, "runs/search", {"experiment_ids": [exp]})
    )
    error(get(client, "runs/search", experiment_ids=exp), 405, "BAD_REQUEST")


def test_search_ordering(client):
    exp, exp2, r1, r2, r3, r4, r5, r6 = _search_fixture(client)
    names = {r1: "r1", r2: "r2", r3: "r3", r4: "r4", r5: "r5", r6: "r6"}
    r3_r4 = ["r3", "r4"] if r3 < r4 else ["r4", "r3"]  # start_time tie: run_id ascending

    def o(*order_by, **kw):
        body = {"experiment_ids": [exp], "order_by": list(order_by), **kw}
        return [names[r["info"]["run_id"]] for r in ok(post(client, "runs/search", body)).get("runs", [])]

    # default: start_time DESC, then run_id
    assert o() == r3_r4 + ["r2", "r1"]
    assert o("attributes.start_time ASC") == ["r1", "r2"] + r3_r4
    assert o("start_time DESC") == r3_r4 + ["r2", "r1"]
    assert o("created") == ["r1", "r2"] + r3_r4

    # metric order: values, then NaN, then missing, in both directions
    assert o("metrics.acc DESC") == ["r1", "r2", "r3", "r4"]
    assert o("metrics.acc ASC") == ["r2", "r1", "r3", "r4"]
    assert o("metrics.acc") == ["r2", "r1", "r3", "r4"]
    assert o("metric.loss DESC") == ["r1", "r3"] + ["r4", "r2"]  # missing ones by start_time DESC

    # params, tags, multi-key
    assert o("params.lr ASC", "metrics.loss DESC") == ["r2", "r1", "r3", "r4"]
    assert o("params.lr DESC", "metrics.loss ASC") == ["r3", "r1", "r2", "r4"]
    assert o("tags.prio DESC") == ["r2", "r1", "r4", "r3"]
    assert o("tags.prio ASC") == ["r4", "r1", "r2", "r3"]
    assert o("tags.`prio` ASC", "start_time ASC") == ["r4", "r1", "r2", "r3"]

    # attributes; NULL end_time last in both directions
    assert o("attributes.run_name ASC") == ["r1", "r2", "r4", "r3"]
    assert o("run_name DESC") == ["r3", "r4", "r2", "r1"]
    assert o("attributes.end_time ASC") == ["r1", "r3"] + ["r4", "r2"]
    assert o("end_time DESC") == ["r3", "r1"] + ["r4", "r2"]
    assert o("status ASC") == ["r3", "r1", "r4", "r2"]  # FAILED FINISHED KILLED RUNNING

    # ordering across experiments and view types
    body = {"experiment_ids": [exp, exp2], "order_by": ["metrics.acc DESC"], "run_view_type": "ALL"}
    assert [names[r["info"]["run_id"]] for r in ok(post(client, "runs/search", body))["runs"]] == [
        "r5",
        "r6",
        "r1",
        "r2",
        "r3",
        "r4",
    ]

    # errors
    def bad(order_by, *fragments):
        error(
            post(client, "runs/search", {"experiment_ids": [exp], "order_by": order_by}),
            400,
            "INVALID_PARAMETER_VALUE",
            *fragments,
        )

    bad(["metrics.acc SIDEWAYS"])
    bad(["metrics.acc DESC", "metrics.acc ASC"], "duplicate")
    bad(["colour.x"], "Invalid entity type 'colour'")
    bad(["attributes.colour"], "Invalid attribute key 'colour'")
    bad(["datasets.name"])


def test_search_pagination(client):
    exp = create_experiment(client, "paging")
    ids = []
    for n in range(8):
        # pairs share a start_time: the run_id tie-break keeps pages stable
        rid = create_run(client, exp, run_name=f"p{n}", start_time=1000 + (n // 2))["info"]["run_id"]
        ok(post(client, "runs/log-metric", {"run_id": rid, "key": "m", "value": n % 3, "timestamp": 1}))
        ids.append(rid)

    def collect(page_size, **kw):
        seen, token, pages = [], None, 0
        while True:
            body = {"experiment_ids": [exp], "max_results": page_size, **kw}
            if token:
                body["page_token"] = token
            page = ok(post(client, "runs/search", body))
            pages += 1
            assert len(page.get("runs", [])) <= page_size
            seen.extend(r["info"]["run_id"] for r in page.get("runs", []))
            token = page.get("next_page_token")
            if not token:
                return seen, pages
            assert json.loads(base64.b64decode(token)) == {"offset": len(seen)}

    full = [r["info"]["run_id"] for r in ok(post(client, "runs/search", {"experiment_ids": [exp]}))["runs"]]
    expected = sorted(ids, key=lambda rid: (-(1000 + ids.index(rid) // 2), rid))
    assert full == expected
    assert collect(3) == (expected, 3)
    assert collect(1) == (expected, 8)
    assert collect(8) == (expected, 1)
    assert collect(50000) == (expected, 1)
    ordered, pages = collect(3, order_by=["metrics.m DESC"])
    assert pages == 3 and len(set(ordered)) == 8
    assert ordered == [
        r["info"]["run_id"]
        for r in ok(post(client, "runs/search", {"experiment_ids": [exp], "order_by": ["metrics.m DESC"]}))["runs"]
    ]
    # filtered pages
    filtered, pages = collect(2, filter="metrics.m >= 1")
    assert pages == 3 and filtered == [rid for rid in expected if ids.index(rid) % 3 >= 1]

    # max_results bounds and bad tokens
    error(
        post(client, "runs/search", {"experiment_ids": [exp], "max_results": 50001}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid value 50001 for parameter 'max_results' supplied",
    )
    error(
        post(client, "runs/search", {"experiment_ids": [exp], "max_results": 0}),
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results",
    )
    error(
        post(client, "runs/search", {"experiment_ids": [exp], "max_results": -4}),
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results",
    )
    error(
        post(client, "runs/search", {"experiment_ids": [exp], "page_token": "bogus"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid page token",
    )
    error(
        post(
            client, "runs/search", {"experiment_ids": [exp], "page_token": base64.b64encode(b'{"offset": 0}').decode()}
        ),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid page token",
    )
    error(post(client, "runs/search", {"experiment_ids": ["../1"]}), 400, "INVALID_PARAMETER_VALUE")
    # a token past the end is an empty last page
    far = base64.b64encode(b'{"offset": 100}').decode()
    page = ok(post(client, "runs/search", {"experiment_ids": [exp], "page_token": far}))
    assert page.get("runs", []) == [] and "next_page_token" not in page


def test_keys_are_case_and_space_sensitive(client):
    """Keys are exact strings on every backend: "lr", "LR" and "lr " are three params (MySQL
    tables use a binary no-pad collation for this)."""
    eid = create_experiment(client, "case")
    rid = create_run(client, eid, run_name="case")["info"]["run_id"]
    ok(post(client, "runs/log-parameter", {"run_id": rid, "key": "lr", "value": "1"}))
    ok(post(client, "runs/log-parameter", {"run_id": rid, "key": "LR", "value": "2"}))
    ok(post(client, "runs/log-parameter", {"run_id": rid, "key": "lr ", "value": "3"}))
    ok(post(client, "runs/set-tag", {"run_id": rid, "key": "team", "value": "x"}))
    ok(post(client, "runs/set-tag", {"run_id": rid, "key": "Team", "value": "y"}))
    ok(post(client, "runs/log-metric", {"run_id": rid, "key": "acc", "value": 1, "timestamp": 1}))
    ok(post(client, "runs/log-metric", {"run_id": rid, "key": "ACC", "value": 2, "timestamp": 1}))
    ok(post(client, "experiments/set-experiment-tag", {"experiment_id": eid, "key": "k", "value": "1"}))
    ok(post(client, "experiments/set-experiment-tag", {"experiment_id": eid, "key": "K", "value": "2"}))
    params, tags, metrics = data(get_run(client, rid))
    assert params == {"lr": "1", "LR": "2", "lr ": "3"}
    assert tags["team"] == "x" and tags["Team"] == "y"
    assert metrics["acc"][0] == 1.0 and metrics["ACC"][0] == 2.0
    assert history(client, rid, "acc") == [(1.0, 1, 0)]
    exp_tags = kv(ok(get(client, "experiments/get", experiment_id=eid))["experiment"]["tags"])
    assert exp_tags == {"k": "1", "K": "2"}
