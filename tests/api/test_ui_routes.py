"""The routes MLflow serves under /ajax-api only, for its UI: metrics/get-history-bulk,
experiments/search-datasets, upload-artifact and runs/create-promptlab-run."""

from __future__ import annotations

import json

from tests.api.wire import AJAX, API, error, ok, post

BULK = f"{AJAX}/metrics/get-history-bulk"


def _run(client, eid="0") -> dict:
    return ok(post(client, "runs/create", {"experiment_id": eid}))["run"]["info"]


def test_get_history_bulk_orders_by_run_then_point_and_caps(client):
    runs = sorted([_run(client)["run_id"] for _ in range(3)])
    for n, rid in enumerate(runs):
        ok(
            post(
                client,
                "runs/log-batch",
                {
                    "run_id": rid,
                    "metrics": [{"key": "m", "value": float(v), "timestamp": 10 - v, "step": v} for v in range(n + 2)]
                    + [{"key": "other", "value": 1.0, "timestamp": 1, "step": 0}],
                },
            )
        )
    body = ok(client.get(BULK, query_string=[("run_id", runs[2]), ("run_id", runs[0]), ("metric_key", "m")]))
    got = [(m["run_id"], m["timestamp"], m["step"], m["value"]) for m in body["metrics"]]
    expected = sorted((rid, 10 - v, v, float(v)) for rid in (runs[0], runs[2]) for v in range(runs.index(rid) + 2))
    assert got == expected and all(m["key"] == "m" for m in body["metrics"])
    capped = ok(
        client.get(BULK, query_string=[("run_id", r) for r in runs] + [("metric_key", "m"), ("max_results", "4")])
    )
    assert [(m["run_id"], m["step"]) for m in capped["metrics"]] == [
        (runs[0], 1),
        (runs[0], 0),
        (runs[1], 2),
        (runs[1], 1),
    ]
    assert ok(client.get(BULK, query_string={"run_id": "f" * 32, "metric_key": "m"})) == {}
    # MLflow's refusals, word for word
    error(
        client.get(BULK, query_string={"metric_key": "m"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "GetMetricHistoryBulk request must specify at least one run_id.",
    )
    error(
        client.get(BULK, query_string=[("run_id", f"r{i}") for i in range(101)] + [("metric_key", "m")]),
        400,
        "INVALID_PARAMETER_VALUE",
        "GetMetricHistoryBulk request cannot specify more than 100 run_ids. Received 101",
    )
    error(
        client.get(BULK, query_string={"run_id": runs[0]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "GetMetricHistoryBulk request must specify a metric_key.",
    )
    # the UI's route only: not under /api
    error(
        client.get(f"{API}/metrics/get-history-bulk", query_string={"run_id": runs[0], "metric_key": "m"}),
        404,
        "ENDPOINT_NOT_FOUND",
    )


def test_search_datasets_summarises_the_inputs_of_experiments(client):
    eid = ok(post(client, "experiments/create", {"name": "ds"}))["experiment_id"]
    rid = _run(client, eid)["run_id"]
    ds = {"name": "train", "digest": "d1", "source_type": "local", "source": "/data"}
    ok(
        post(
            client,
            "runs/log-inputs",
            {
                "run_id": rid,
                "datasets": [
                    {"dataset": ds, "tags": [{"key": "mlflow.data.context", "value": "training"}]},
                    {"dataset": dict(ds, name="raw", digest="d2")},
                ],
            },
        )
    )
    body = ok(client.post(f"{AJAX}/experiments/search-datasets", json={"experiment_ids": [eid]}))
    assert body["dataset_summaries"] == [
        {"experiment_id": eid, "name": "raw", "digest": "d2"},
        {"experiment_id": eid, "name": "train", "digest": "d1", "context": "training"},
    ]
    for payload, text in (
        ({}, "SearchDatasets request must specify at least one experiment_id."),
        ({"experiment_ids": []}, "SearchDatasets request must specify at least one experiment_id."),
        ({"experiment_ids": [f"id_{i}" for i in range(21)]}, "cannot specify more than 20"),
    ):
        error(client.post(f"{AJAX}/experiments/search-datasets", json=payload), 400, "INVALID_PARAMETER_VALUE", text)


def test_upload_artifact_writes_into_the_runs_artifacts(client):
    run = _run(client)
    resp = client.post(
        f"{AJAX}/upload-artifact", query_string={"run_uuid": run["run_id"], "path": "dir/a.txt"}, data=b"hello world"
    )
    ok(resp)
    got = client.get("/get-artifact", query_string={"run_uuid": run["run_id"], "path": "dir/a.txt"})
    assert got.status_code == 200 and got.data == b"hello world" and got.headers["Content-Type"] == "text/plain"
    for query, data, text in (
        ({}, b"x", "Request must specify run_uuid."),
        ({"run_uuid": run["run_id"]}, b"x", "Request must specify path."),
        ({"run_uuid": run["run_id"], "path": ""}, b"x", "Request must specify path."),
        ({"run_uuid": run["run_id"], "path": "../x"}, b"x", "Invalid path"),
        ({"run_uuid": run["run_id"], "path": "a.txt"}, b"", "Request must specify data."),
        (
            {"run_uuid": run["run_id"], "path": "a.txt"},
            b"x" * (10 * 1024 * 1024 + 1),
            "Artifact size is too large. Max size is 10MB.",
        ),
    ):
        error(
            client.post(f"{AJAX}/upload-artifact", query_string=query, data=data), 400, "INVALID_PARAMETER_VALUE", text
        )


def test_create_promptlab_run(client):
    eid = ok(post(client, "experiments/create", {"name": "prompts"}))["experiment_id"]
    body = {
        "experiment_id": eid,
        "run_name": "my_run_name",
        "prompt_template": "Say {{ x }}",
        "prompt_parameters": [{"key": "x", "value": "hi"}],
        "model_route": "my_route",
        "model_parameters": [{"key": "temperature", "value": "0.1"}],
        "model_input": "Say hi",
        "model_output": "hi",
        "model_output_parameters": [{"key": "latency", "value": "100"}],
        "mlflow_version": "3.17.2",
        "user_id": "ana",
        "start_time": 456,
    }
    run = ok(client.post(f"{AJAX}/runs/create-promptlab-run", json=body))["run"]
    info, data = run["info"], run["data"]
    assert (info["run_name"], info["experiment_id"], info["user_id"], info["status"], info["start_time"]) == (
        "my_run_name",
        eid,
        "ana",
        "FINISHED",
        456,
    )
    params = {p["key"]: p["value"] for p in data["params"]}
    assert params == {"model_route": "my_route", "prompt_template": "Say {{ x }}", "temperature": "0.1"}
    tags = {t["key"]: t["value"] for t in data["tags"]}
    assert tags["mlflow.runSourceType"] == "PROMPT_ENGINEERING"
    assert tags["mlflow.loggedArtifacts"] == '[{"path": "eval_results_table.json", "type": "table"}]'
    table = client.get("/get-artifact", query_string={"run_id": info["run_id"], "path": "eval_results_table.json"})
    assert json.loads(table.data) == {
        "columns": ["x", "prompt", "output", "latency"],
        "data": [["hi", "Say hi", "hi", "100"]],
    }
    mlmodel = client.get("/get-artifact", query_string={"run_id": info["run_id"], "path": "model/MLmodel"})
    assert json.loads(mlmodel.data)["artifact_path"] == "model"
    for missing in (
        "experiment_id",
        "prompt_template",
        "prompt_parameters",
        "model_route",
        "model_input",
        "mlflow_version",
    ):
        error(
            client.post(f"{AJAX}/runs/create-promptlab-run", json={k: v for k, v in body.items() if k != missing}),
            400,
            "INVALID_PARAMETER_VALUE",
            f"CreatePromptlabRun request must specify {missing}.",
        )


def test_downloads_are_typed_and_named_as_mlflow_names_them(client):
    run = _run(client)
    for name, mime, disposition in (
        ("MLmodel", "text/plain", "attachment; filename=MLmodel"),
        ("mlproject", "text/plain", "attachment; filename=mlproject"),
        ("a.txt", "text/plain", "attachment; filename=a.txt"),
        ("b.pkl", "application/octet-stream", "attachment; filename=b.pkl"),
        ("c.png", "image/png", "attachment; filename=c.png"),
        ("d.pdf", "application/pdf", "attachment; filename=d.pdf"),
        ("with space.json", "text/plain", 'attachment; filename="with space.json"'),
        ("café.csv", "text/plain", "attachment; filename=cafe.csv; filename*=UTF-8''caf%C3%A9.csv"),
    ):
        ok(client.post(f"{AJAX}/upload-artifact", query_string={"run_uuid": run["run_id"], "path": name}, data=b"x"))
        got = client.get("/get-artifact", query_string={"run_id": run["run_id"], "path": name})
        assert (got.headers["Content-Type"], got.headers["Content-Disposition"]) == (mime, disposition), name
        assert got.headers["X-Content-Type-Options"] == "nosniff"


def test_a_relative_artifact_location_is_made_absolute_against_the_working_directory(client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for given, expected in (
        ("my_location", f"{tmp_path}/my_location"),
        ("./a/b", f"{tmp_path}/./a/b"),
        ("file:rel/x", f"file://{tmp_path}/rel/x"),
        ("/abs/x", "/abs/x"),
        ("s3://bucket/x", "s3://bucket/x"),
    ):
        eid = ok(post(client, "experiments/create", {"name": f"loc {given}", "artifact_location": given}))[
            "experiment_id"
        ]
        got = ok(client.get(f"{API}/experiments/get", query_string={"experiment_id": eid}))["experiment"]
        assert got["artifact_location"] == expected, given
    for bad, text in (
        ("http://evil/x", "'artifact_location' cannot use the 'http' scheme"),
        ("runs:/abc/x", "Artifact location cannot be a runs:/ URI"),
        ("s3://b/x#frag", "can't include fragments or params"),
        ("s3://b/x?a=../..", "Invalid query string"),
        ("/x" * 1100, "Invalid artifact path length"),
    ):
        error(
            post(client, "experiments/create", {"name": f"bad {bad[:20]}", "artifact_location": bad}),
            400,
            "INVALID_PARAMETER_VALUE",
            text,
        )
