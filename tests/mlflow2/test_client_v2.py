"""A subset of tests/e2e/test_tracking_client.py driven by the mlflow 2.x client.

Experiments, runs, params, metrics, tags, search, metric history and
delete/restore: what a team still on mlflow 2.x uses every day.
"""

from __future__ import annotations

import math
import sys
import time

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

pytestmark = pytest.mark.e2e


def test_client_is_2x():
    assert mlflow.__version__.startswith("2.")


def _make_runs(client: MlflowClient, experiment_id: str, specs):
    ids = {}
    for name, metrics, params, tags in specs:
        rid = client.create_run(experiment_id, run_name=name).info.run_id
        client.log_batch(
            rid,
            metrics=[Metric(k, v, 1_700_000_000_000, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        client.set_terminated(rid)
        ids[name] = rid
    return ids


def _ids(runs):
    return {r.info.run_id for r in runs}


# -- experiments ------------------------------------------------------------


def test_set_experiment_creates_then_reuses(tracking, uniq):
    name = uniq("set-exp")
    exp = mlflow.set_experiment(name)
    assert exp.name == name and exp.lifecycle_stage == "active"
    assert mlflow.set_experiment(name).experiment_id == exp.experiment_id
    with mlflow.start_run() as run:
        assert run.info.experiment_id == exp.experiment_id


def test_create_get_experiment(client, uniq):
    name = uniq("create")
    eid = client.create_experiment(name, tags={"team": "vision"})
    exp = client.get_experiment(eid)
    assert exp.name == name and exp.tags["team"] == "vision"
    assert client.get_experiment_by_name(name).experiment_id == eid
    assert client.get_experiment_by_name(uniq("missing")) is None


def test_search_experiments_filter_order_pages(client, uniq):
    prefix = uniq("srch")
    names = [f"{prefix}-{i}" for i in range(5)]
    for i, name in enumerate(names):
        client.create_experiment(name, tags={"grp": "even" if i % 2 == 0 else "odd"})
    flt = f"name LIKE '{prefix}%'"
    assert sorted(e.name for e in client.search_experiments(filter_string=flt)) == names
    even = client.search_experiments(filter_string=flt + " AND tags.grp = 'even'")
    assert sorted(e.name for e in even) == names[0::2]
    desc = client.search_experiments(filter_string=flt, order_by=["name DESC"])
    assert [e.name for e in desc] == names[::-1]

    pages, token = [], None
    while True:
        page = client.search_experiments(max_results=2, filter_string=flt, order_by=["name ASC"], page_token=token)
        pages.append([e.name for e in page])
        token = page.token
        if not token or len(pages) > 10:
            break
    assert pages == [names[0:2], names[2:4], names[4:5]]


def test_rename_delete_restore_experiment(client, uniq):
    prefix = uniq("lifecycle")
    eid = client.create_experiment(f"{prefix}-a")
    client.rename_experiment(eid, f"{prefix}-b")
    assert client.get_experiment(eid).name == f"{prefix}-b"
    flt = f"name LIKE '{prefix}%'"
    client.delete_experiment(eid)
    assert client.get_experiment(eid).lifecycle_stage == "deleted"
    assert client.search_experiments(filter_string=flt) == []
    assert [e.experiment_id for e in client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=flt)] == [
        eid
    ]
    client.restore_experiment(eid)
    assert client.get_experiment(eid).lifecycle_stage == "active"


def test_experiment_tags(client, tracking, uniq):
    eid = client.create_experiment(uniq("exp-tags"))
    client.set_experiment_tag(eid, "a", "1")
    mlflow.set_experiment(experiment_id=eid)
    mlflow.set_experiment_tags({"b": "2"})
    assert client.get_experiment(eid).tags == {"a": "1", "b": "2"}


# -- runs -------------------------------------------------------------------


def test_run_lifecycle_params_metrics_tags(tracking, client, uniq):
    mlflow.set_experiment(uniq("runs"))
    with mlflow.start_run(run_name="r1") as run:
        rid = run.info.run_id
        mlflow.log_param("lr", 0.1)
        mlflow.log_params({"depth": 5, "opt": "adam"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9})
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"owner": "alice", "x": "y"})
        mlflow.delete_tag("x")
        with mlflow.start_run(nested=True) as child:
            pass

    got = client.get_run(rid)
    assert got.info.status == "FINISHED"
    assert got.info.end_time >= got.info.start_time
    assert got.info.run_name == "r1"
    assert got.data.params == {"lr": "0.1", "depth": "5", "opt": "adam"}
    assert got.data.metrics["loss"] == pytest.approx(0.2)
    assert got.data.metrics["acc"] == pytest.approx(0.9)
    assert got.data.tags["stage"] == "dev" and got.data.tags["owner"] == "alice"
    assert "x" not in got.data.tags
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == rid
    hist = client.get_metric_history(rid, "loss")
    assert [m.step for m in hist] == [0, 1, 2, 3, 4]


def test_failed_run(tracking, client, uniq):
    mlflow.set_experiment(uniq("failed"))
    run = mlflow.start_run()
    mlflow.end_run(status="FAILED")
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_log_batch_and_param_immutability(client, uniq):
    eid = client.create_experiment(uniq("batch"))
    rid = client.create_run(eid).info.run_id
    client.log_batch(
        rid, metrics=[Metric("m", 1.5, 1, 0), Metric("m", 2.5, 2, 1)], params=[Param("p", "a")], tags=[RunTag("t", "x")]
    )
    data = client.get_run(rid).data
    assert data.metrics == {"m": 2.5} and data.params == {"p": "a"} and data.tags["t"] == "x"
    client.log_param(rid, "p", "a")
    with pytest.raises(MlflowException) as exc:
        client.log_param(rid, "p", "b")
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"


def test_nan_inf_and_long_values(client, uniq):
    eid = client.create_experiment(uniq("values"))
    rid = client.create_run(eid).info.run_id
    client.log_metric(rid, "nan", float("nan"))
    client.log_metric(rid, "inf", float("inf"))
    client.log_param(rid, "long", "p" * 7000)
    client.set_tag(rid, "long", "t" * 9000)
    data = client.get_run(rid).data
    assert math.isnan(data.metrics["nan"])
    assert data.metrics["inf"] in (math.inf, sys.float_info.max)
    assert data.params["long"] == "p" * 6000
    assert data.tags["long"] == "t" * 8000


def test_errors(client, uniq):
    with pytest.raises(MlflowException) as exc:
        client.get_run("0123456789abcdef0123456789abcdef")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    name = uniq("dup")
    eid = client.create_experiment(name)
    with pytest.raises(MlflowException) as exc:
        client.create_experiment(name)
    assert exc.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as exc:
        client.search_runs([eid], filter_string="metrics.acc >> 1")
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"


# -- search, history, delete/restore -------------------------------------------


@pytest.fixture
def search_data(client, uniq):
    eid = client.create_experiment(uniq("search-runs"))
    ids = _make_runs(
        client,
        eid,
        [
            ("r1", {"acc": 0.9}, {"lr": "0.1", "p": "x"}, {"t": "xray"}),
            ("r2", {"acc": 0.7}, {"lr": "0.01"}, {"t": "yankee"}),
            ("r3", {"acc": 0.4}, {"lr": "0.1"}, {"t": "xylophone"}),
            ("r4", {}, {"lr": "0.5", "p": "y"}, {}),
        ],
    )
    return eid, ids


def test_search_runs_filters_and_order(client, search_data):
    eid, ids = search_data

    def search(flt):
        return _ids(client.search_runs([eid], filter_string=flt))

    assert search("metrics.acc > 0.5 and params.lr = '0.1'") == {ids["r1"]}
    assert search("tags.t LIKE 'x%'") == {ids["r1"], ids["r3"]}
    assert search("attributes.run_name = 'r2'") == {ids["r2"]}
    assert search("params.p IS NULL") == {ids["r2"], ids["r3"]}
    assert search(f"run_id IN ('{ids['r1']}', '{ids['r4']}')") == {ids["r1"], ids["r4"]}
    ordered = client.search_runs([eid], order_by=["metrics.acc DESC"])
    assert [r.info.run_name for r in ordered] == ["r1", "r2", "r3", "r4"]
    by_param = client.search_runs([eid], order_by=["params.lr DESC", "attributes.run_name ASC"])
    assert [r.info.run_name for r in by_param] == ["r4", "r1", "r3", "r2"]


def test_fluent_search_runs_dataframe(tracking, search_data):
    eid, ids = search_data
    df = mlflow.search_runs(experiment_ids=[eid], filter_string="metrics.acc > 0.5", order_by=["metrics.acc DESC"])
    assert list(df["run_id"]) == [ids["r1"], ids["r2"]]
    assert list(df["params.lr"]) == ["0.1", "0.01"]
    assert list(df["tags.t"]) == ["xray", "yankee"]


def test_search_runs_pagination_and_several_experiments(client, uniq):
    e1 = client.create_experiment(uniq("page-a"))
    e2 = client.create_experiment(uniq("page-b"))
    _make_runs(client, e1, [(f"a{i}", {"i": i}, {}, {}) for i in range(4)])
    _make_runs(client, e2, [(f"b{i}", {"i": 10 + i}, {}, {}) for i in range(3)])
    pages, token = [], None
    while True:
        page = client.search_runs([e1, e2], max_results=3, order_by=["metrics.i ASC"], page_token=token)
        pages.append([r.info.run_name for r in page])
        token = page.token
        if not token or len(pages) > 10:
            break
    assert pages == [["a0", "a1", "a2"], ["a3", "b0", "b1"], ["b2"]]


def test_metric_history_10000_points(client, uniq):
    eid = client.create_experiment(uniq("history"))
    rid = client.create_run(eid).info.run_id
    base = 1_700_000_000_000
    for start in range(0, 10_000, 1000):
        client.log_batch(rid, metrics=[Metric("loss", s * 0.5, base + s, s) for s in range(start, start + 1000)])
    hist = client.get_metric_history(rid, "loss")
    assert len(hist) == 10_000
    assert [m.step for m in hist] == list(range(10_000))
    assert all(m.value == m.step * 0.5 for m in hist)


def test_delete_restore_run_view_type(client, uniq):
    eid = client.create_experiment(uniq("del-run"))
    ids = _make_runs(client, eid, [("alive", {}, {}, {}), ("dead", {}, {}, {})])
    client.delete_run(ids["dead"])
    assert client.get_run(ids["dead"]).info.lifecycle_stage == "deleted"
    assert _ids(client.search_runs([eid])) == {ids["alive"]}
    assert _ids(client.search_runs([eid], run_view_type=ViewType.DELETED_ONLY)) == {ids["dead"]}
    assert _ids(client.search_runs([eid], run_view_type=ViewType.ALL)) == set(ids.values())
    client.restore_run(ids["dead"])
    assert _ids(client.search_runs([eid])) == set(ids.values())


def test_start_time_is_recent(tracking, client, uniq):
    mlflow.set_experiment(uniq("time"))
    before = int(time.time() * 1000) - 60_000
    with mlflow.start_run() as run:
        pass
    info = client.get_run(run.info.run_id).info
    assert info.start_time >= before
