"""The unmodified mlflow 3.x client (fluent API and MlflowClient) against a live server.

Only public mlflow API is used here.  Every test creates its own experiments
with unique names, so tests are independent of each other and of their order.
"""

from __future__ import annotations

import math
import sys
import time

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList

pytestmark = pytest.mark.e2e


def _error_code(exc_info) -> str:
    return exc_info.value.error_code


def _make_runs(client: MlflowClient, experiment_id: str, specs):
    """Create finished runs from ``[(run_name, metrics, params, tags), ...]``."""
    ids = {}
    for name, metrics, params, tags in specs:
        run = client.create_run(experiment_id, run_name=name)
        rid = run.info.run_id
        client.log_batch(
            rid,
            metrics=[Metric(k, v, 1_700_000_000_000, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        client.set_terminated(rid)
        ids[name] = rid
    return ids


# --------------------------------------------------------------------------
# experiments
# --------------------------------------------------------------------------


def test_set_experiment_creates_then_reuses(tracking, uniq):
    name = uniq("set-exp")
    exp = mlflow.set_experiment(name)  # get-by-name -> 404 -> create -> get
    assert exp.name == name
    assert exp.lifecycle_stage == "active"
    assert exp.experiment_id

    again = mlflow.set_experiment(name)  # get-by-name hit
    assert again.experiment_id == exp.experiment_id

    by_id = mlflow.set_experiment(experiment_id=exp.experiment_id)
    assert by_id.name == name

    # the active experiment is used for new runs
    with mlflow.start_run() as run:
        assert run.info.experiment_id == exp.experiment_id


def test_create_experiment_with_tags_and_get(client, uniq):
    name = uniq("create-exp")
    eid = client.create_experiment(name, tags={"team": "vision", "prio": "1"})
    assert isinstance(eid, str) and eid

    exp = client.get_experiment(eid)
    assert exp.experiment_id == eid
    assert exp.name == name
    assert exp.lifecycle_stage == "active"
    assert exp.tags["team"] == "vision"
    assert exp.tags["prio"] == "1"
    assert exp.artifact_location  # non-empty
    assert exp.creation_time and exp.creation_time > 0
    assert exp.last_update_time and exp.last_update_time >= exp.creation_time

    by_name = client.get_experiment_by_name(name)
    assert by_name is not None and by_name.experiment_id == eid
    assert by_name.tags == exp.tags

    assert client.get_experiment_by_name(uniq("missing")) is None
    assert mlflow.get_experiment_by_name(uniq("missing")) is None
    assert mlflow.get_experiment(eid).name == name


def test_search_experiments_filter_order_and_pages(client, uniq):
    prefix = uniq("srch")
    ids = {}
    for i in range(5):
        name = f"{prefix}-{i}"
        ids[name] = client.create_experiment(name, tags={"idx": str(i), "grp": "even" if i % 2 == 0 else "odd"})

    found = client.search_experiments(filter_string=f"name LIKE '{prefix}%'")
    assert {e.experiment_id for e in found} == set(ids.values())

    even = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.grp = 'even'")
    assert sorted(e.name for e in even) == [f"{prefix}-0", f"{prefix}-2", f"{prefix}-4"]

    liked = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.idx LIKE '3%'")
    assert [e.name for e in liked] == [f"{prefix}-3"]

    desc = client.search_experiments(filter_string=f"name LIKE '{prefix}%'", order_by=["name DESC"])
    assert [e.name for e in desc] == sorted(ids, reverse=True)

    asc = mlflow.search_experiments(filter_string=f"name LIKE '{prefix}%'", order_by=["name ASC"])
    assert [e.name for e in asc] == sorted(ids)

    # pagination: 2 + 2 + 1
    pages, token = [], None
    while True:
        page = client.search_experiments(
            max_results=2,
            filter_string=f"name LIKE '{prefix}%'",
            order_by=["name ASC"],
            page_token=token,
        )
        pages.append([e.name for e in page])
        token = page.token
        if not token:
            break
        assert len(pages) < 10, "pagination does not terminate"
    assert pages == [sorted(ids)[0:2], sorted(ids)[2:4], sorted(ids)[4:5]]


def test_rename_experiment(client, uniq):
    old, new = uniq("old"), uniq("new")
    eid = client.create_experiment(old)
    client.rename_experiment(eid, new)
    assert client.get_experiment(eid).name == new
    assert client.get_experiment_by_name(old) is None
    assert client.get_experiment_by_name(new).experiment_id == eid


def test_delete_and_restore_experiment_view_types(client, uniq):
    prefix = uniq("del-exp")
    keep = client.create_experiment(f"{prefix}-keep")
    gone = client.create_experiment(f"{prefix}-gone")
    flt = f"name LIKE '{prefix}%'"

    client.delete_experiment(gone)
    assert client.get_experiment(gone).lifecycle_stage == "deleted"

    def names(view_type):
        return sorted(e.name for e in client.search_experiments(view_type=view_type, filter_string=flt))

    assert names(ViewType.ACTIVE_ONLY) == [f"{prefix}-keep"]
    assert names(ViewType.DELETED_ONLY) == [f"{prefix}-gone"]
    assert names(ViewType.ALL) == [f"{prefix}-gone", f"{prefix}-keep"]

    client.restore_experiment(gone)
    assert client.get_experiment(gone).lifecycle_stage == "active"
    assert names(ViewType.DELETED_ONLY) == []
    assert names(ViewType.ACTIVE_ONLY) == [f"{prefix}-gone", f"{prefix}-keep"]
    assert client.get_experiment(keep).lifecycle_stage == "active"


def test_set_and_delete_experiment_tag(client, tracking, uniq):
    eid = client.create_experiment(uniq("exp-tags"))
    client.set_experiment_tag(eid, "a", "1")
    client.set_experiment_tag(eid, "b", "2")
    client.set_experiment_tag(eid, "a", "1b")  # overwrite is allowed for tags
    assert client.get_experiment(eid).tags == {"a": "1b", "b": "2"}

    mlflow.set_experiment(experiment_id=eid)
    mlflow.set_experiment_tags({"c": "3", "d": "4"})
    tags = client.get_experiment(eid).tags
    assert tags["c"] == "3" and tags["d"] == "4"

    client.delete_experiment_tag(eid, "b")
    tags = client.get_experiment(eid).tags
    assert "b" not in tags
    assert tags == {"a": "1b", "c": "3", "d": "4"}


# --------------------------------------------------------------------------
# runs: lifecycle, params, metrics, tags
# --------------------------------------------------------------------------


def test_start_run_with_name_and_end_run(tracking, client, uniq):
    exp = mlflow.set_experiment(uniq("runs"))
    before = int(time.time() * 1000) - 60_000
    with mlflow.start_run(run_name="r1") as run:
        rid = run.info.run_id
        assert run.info.run_name == "r1"
        assert run.info.status == "RUNNING"
        assert run.info.experiment_id == exp.experiment_id
        assert mlflow.active_run().info.run_id == rid

    fetched = client.get_run(rid)
    assert fetched.info.status == "FINISHED"
    assert fetched.info.run_name == "r1"
    assert fetched.data.tags["mlflow.runName"] == "r1"
    assert fetched.info.lifecycle_stage == "active"
    assert fetched.info.start_time >= before
    assert fetched.info.end_time is not None
    assert fetched.info.end_time >= fetched.info.start_time
    assert fetched.info.artifact_uri
    # tags the fluent API sets on its own
    assert "mlflow.user" in fetched.data.tags
    assert "mlflow.source.type" in fetched.data.tags


def test_nested_runs_have_parent_tag(tracking, client, uniq):
    exp = mlflow.set_experiment(uniq("nested"))
    with mlflow.start_run(run_name="parent") as parent:
        with mlflow.start_run(run_name="child-1", nested=True) as child1:
            pass
        with mlflow.start_run(run_name="child-2", nested=True) as child2:
            pass
    pid = parent.info.run_id
    for child in (child1, child2):
        got = client.get_run(child.info.run_id)
        assert got.data.tags["mlflow.parentRunId"] == pid
        assert got.info.status == "FINISHED"
    assert "mlflow.parentRunId" not in client.get_run(pid).data.tags

    kids = client.search_runs([exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{pid}'")
    assert {r.info.run_id for r in kids} == {child1.info.run_id, child2.info.run_id}


def test_params_metrics_tags_roundtrip(tracking, client, uniq):
    mlflow.set_experiment(uniq("data"))
    with mlflow.start_run() as run:
        rid = run.info.run_id
        mlflow.log_param("lr", 0.1)
        mlflow.log_params({"depth": 5, "optimizer": "adam", "empty": ""})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.75}, step=3)
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"owner": "alice", "x": "y"})
        mlflow.delete_tag("x")

    data = client.get_run(rid).data
    assert data.params == {"lr": "0.1", "depth": "5", "optimizer": "adam", "empty": ""}
    # latest value by step
    assert data.metrics["loss"] == pytest.approx(1.0 / 5)
    assert data.metrics["acc"] == pytest.approx(0.9)
    assert data.metrics["f1"] == pytest.approx(0.75)
    assert data.tags["stage"] == "dev"
    assert data.tags["owner"] == "alice"
    assert "x" not in data.tags

    history = client.get_metric_history(rid, "loss")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]
    assert [m.value for m in history] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    assert all(m.key == "loss" and m.timestamp > 0 for m in history)
    acc = client.get_metric_history(rid, "acc")
    assert len(acc) == 1 and acc[0].step == 3
    assert client.get_metric_history(rid, "never-logged") == []


def test_latest_metric_is_max_step_not_last_logged(client, uniq):
    eid = client.create_experiment(uniq("latest"))
    rid = client.create_run(eid).info.run_id
    client.log_metric(rid, "m", 5.0, timestamp=1000, step=10)
    client.log_metric(rid, "m", 7.0, timestamp=2000, step=2)
    assert client.get_run(rid).data.metrics["m"] == 5.0
    assert len(client.get_metric_history(rid, "m")) == 2


def test_failed_run_status(tracking, client, uniq):
    mlflow.set_experiment(uniq("failed"))
    run = mlflow.start_run()
    mlflow.end_run(status="FAILED")
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FAILED"
    assert got.info.end_time is not None

    # an exception inside the context manager marks the run FAILED too
    with pytest.raises(ZeroDivisionError), mlflow.start_run() as run2:
        1 / 0
    assert client.get_run(run2.info.run_id).info.status == "FAILED"

    # KILLED through the client
    rid = client.create_run(run.info.experiment_id).info.run_id
    client.set_terminated(rid, status="KILLED")
    assert client.get_run(rid).info.status == "KILLED"


def test_update_run_name(client, uniq):
    eid = client.create_experiment(uniq("rename-run"))
    rid = client.create_run(eid, run_name="before").info.run_id
    client.update_run(rid, name="after")
    got = client.get_run(rid)
    assert got.info.run_name == "after"
    assert got.data.tags["mlflow.runName"] == "after"
    assert got.info.status == "RUNNING"


def test_log_batch_metrics_params_tags(client, uniq):
    eid = client.create_experiment(uniq("batch"))
    rid = client.create_run(eid, tags={"created": "yes"}).info.run_id
    ts = int(time.time() * 1000)
    client.log_batch(
        rid,
        metrics=[Metric("m1", 1.5, ts, 0), Metric("m1", 2.5, ts + 1, 1), Metric("m2", -3, ts, 7)],
        params=[Param("p1", "a"), Param("p2", "b")],
        tags=[RunTag("t1", "x"), RunTag("t2", "y")],
    )
    data = client.get_run(rid).data
    assert data.metrics == {"m1": 2.5, "m2": -3.0}
    assert data.params == {"p1": "a", "p2": "b"}
    assert data.tags["t1"] == "x" and data.tags["t2"] == "y" and data.tags["created"] == "yes"
    assert [(m.step, m.value) for m in client.get_metric_history(rid, "m1")] == [(0, 1.5), (1, 2.5)]

    # an empty batch is fine
    client.log_batch(rid, metrics=[], params=[], tags=[])


def test_param_is_immutable(client, uniq):
    eid = client.create_experiment(uniq("immutable"))
    rid = client.create_run(eid).info.run_id
    client.log_param(rid, "p", "1")
    client.log_param(rid, "p", "1")  # same value: fine
    with pytest.raises(MlflowException) as exc:
        client.log_param(rid, "p", "2")
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"

    with pytest.raises(MlflowException) as exc:
        client.log_batch(rid, params=[Param("p", "3")])
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"
    assert client.get_run(rid).data.params["p"] == "1"


def test_nan_and_inf_metric_values(client, uniq):
    eid = client.create_experiment(uniq("nan"))
    rid = client.create_run(eid).info.run_id
    client.log_metric(rid, "nan", float("nan"), step=0)
    client.log_metric(rid, "pinf", float("inf"), step=0)
    client.log_metric(rid, "ninf", float("-inf"), step=0)
    client.log_batch(rid, metrics=[Metric("bnan", float("nan"), 1, 0)])

    metrics = client.get_run(rid).data.metrics
    assert math.isnan(metrics["nan"])
    assert math.isnan(metrics["bnan"])
    # MLflow's SQL store keeps +-inf as +-sys.float_info.max; inf itself is fine too
    assert metrics["pinf"] == math.inf or metrics["pinf"] == sys.float_info.max
    assert metrics["ninf"] == -math.inf or metrics["ninf"] == -sys.float_info.max
    hist = client.get_metric_history(rid, "nan")
    assert len(hist) == 1 and math.isnan(hist[0].value)


_EXTREME_METRICS = {
    "max": sys.float_info.max,
    "neg_max": -sys.float_info.max,
    "min_subnormal": 5e-324,
    "neg_min_subnormal": -5e-324,
    "min_normal": sys.float_info.min,
    "neg_min_normal": -sys.float_info.min,
    "neg_zero": -0.0,
    "zero": 0.0,
    "nan": math.nan,
    "inf": math.inf,
    "neg_inf": -math.inf,
}


def _same_double(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def test_extreme_metric_values_round_trip_exactly(client, uniq, is_reference):
    """The largest and smallest doubles, subnormals, -0.0, NaN and the infinities come back as
    logged, through log_metric and log_batch, get_run, search_runs, get_metric_history and a
    logged model's metrics (mlflow's own SQL store reads the largest double as itself but
    stores the infinities as it, and -0.0 as 0.0)."""
    if is_reference:
        pytest.skip("mlflow server keeps +-inf as +-max double and -0.0 as 0.0")
    eid = client.create_experiment(uniq("extremes"))
    rid = client.create_run(eid).info.run_id
    model_id = client.create_logged_model(eid, name="extremes", source_run_id=rid).model_id
    for key, value in _EXTREME_METRICS.items():
        client.log_metric(rid, f"single_{key}", value, timestamp=1, step=0)
        client.log_metric(rid, f"model_{key}", value, timestamp=1, step=0, model_id=model_id)
    client.log_batch(rid, metrics=[Metric(f"batch_{key}", value, 1, 0) for key, value in _EXTREME_METRICS.items()])
    # a history: each value at its own step, after a finite first point
    client.log_batch(
        rid,
        metrics=[Metric("series", 1.0, 1, 0)]
        + [Metric("series", value, 2, n) for n, value in enumerate(_EXTREME_METRICS.values(), 1)],
    )

    latest = client.get_run(rid).data.metrics
    searched = client.search_runs([eid])[0].data.metrics
    for key, value in _EXTREME_METRICS.items():
        for name in (f"single_{key}", f"batch_{key}", f"model_{key}"):
            assert _same_double(latest[name], value), (name, latest[name])
            assert _same_double(searched[name], value), (name, searched[name])
            history = client.get_metric_history(rid, name)
            assert len(history) == 1 and _same_double(history[0].value, value), (name, history)
    series = sorted(client.get_metric_history(rid, "series"), key=lambda m: m.step)
    assert [m.step for m in series] == list(range(len(_EXTREME_METRICS) + 1))
    for got, value in zip(series[1:], _EXTREME_METRICS.values()):
        assert _same_double(got.value, value), (got, value)
    assert _same_double(latest["series"], -math.inf)  # the latest: the last step's ("neg_inf")
    model_metrics = {m.key: m.value for m in client.get_logged_model(model_id).metrics}
    for key, value in _EXTREME_METRICS.items():
        assert _same_double(model_metrics[f"model_{key}"], value), (key, model_metrics[f"model_{key}"])


def test_long_values_are_truncated(client, uniq):
    """The 3.17.2 server silently truncates params to 6000 and tags to 8000 chars."""
    eid = client.create_experiment(uniq("long"))
    rid = client.create_run(eid).info.run_id
    client.log_param(rid, "long_param", "p" * 7000)
    client.set_tag(rid, "long_tag", "t" * 9000)
    client.log_batch(rid, params=[Param("batch_param", "q" * 6500)], tags=[RunTag("batch_tag", "u" * 8500)])
    data = client.get_run(rid).data
    assert data.params["long_param"] == "p" * 6000
    assert data.tags["long_tag"] == "t" * 8000
    assert data.params["batch_param"] == "q" * 6000
    assert data.tags["batch_tag"] == "u" * 8000
    # re-logging the original long value is "the same value"
    client.log_param(rid, "long_param", "p" * 7000)


def test_get_run(client, uniq):
    eid = client.create_experiment(uniq("get-run"))
    created = client.create_run(eid, run_name="gr", tags={"k": "v"})
    got = client.get_run(created.info.run_id)
    assert got.info.run_id == created.info.run_id
    assert got.info.experiment_id == eid
    assert got.info.run_name == "gr"
    assert got.info.status == "RUNNING"
    assert got.info.end_time is None
    assert got.info.start_time == created.info.start_time
    assert got.data.tags["k"] == "v"
    assert got.data.metrics == {} and got.data.params == {}
    assert got.inputs is not None and got.inputs.dataset_inputs == []


# --------------------------------------------------------------------------
# search_runs
# --------------------------------------------------------------------------


@pytest.fixture
def search_data(client, uniq):
    eid = client.create_experiment(uniq("search-runs"))
    ids = _make_runs(
        client,
        eid,
        [
            ("r1", {"acc": 0.9, "loss": 0.1}, {"lr": "0.1", "p": "x"}, {"t": "xray", "kind": "a"}),
            ("r2", {"acc": 0.7, "loss": 0.3}, {"lr": "0.01"}, {"t": "yankee", "kind": "a"}),
            ("r3", {"acc": 0.4, "loss": 0.6}, {"lr": "0.1"}, {"t": "xylophone", "kind": "b"}),
            ("r4", {"loss": 0.9}, {"lr": "0.5", "p": "y"}, {"kind": "b"}),
        ],
    )
    return eid, ids


def _ids(runs):
    return {r.info.run_id for r in runs}


def test_search_runs_filters(client, search_data):
    eid, ids = search_data

    def search(flt):
        return _ids(client.search_runs([eid], filter_string=flt))

    page = client.search_runs([eid])
    assert isinstance(page, PagedList)
    assert not page.token
    assert search("") == set(ids.values())
    assert search("metrics.acc > 0.5 and params.lr = '0.1'") == {ids["r1"]}
    assert search("metrics.acc >= 0.7") == {ids["r1"], ids["r2"]}
    assert search("metrics.loss < 0.5") == {ids["r1"], ids["r2"]}
    assert search("metrics.acc != 0.9") == {ids["r2"], ids["r3"]}
    assert search("params.lr != '0.1'") == {ids["r2"], ids["r4"]}
    assert search("tags.t LIKE 'x%'") == {ids["r1"], ids["r3"]}
    assert search("tags.t ILIKE 'X%'") == {ids["r1"], ids["r3"]}
    assert search("tags.t LIKE 'X%'") == set()  # LIKE is case-sensitive on every backend
    assert search("attributes.run_name LIKE 'R%'") == set()
    assert search("tags.kind = 'b' and metrics.loss > 0.7") == {ids["r4"]}
    assert search("attributes.run_name = 'r1'") == {ids["r1"]}
    assert search("run_name = 'r2'") == {ids["r2"]}
    assert search("attributes.status = 'FINISHED'") == set(ids.values())
    assert search("params.p IS NULL") == {ids["r2"], ids["r3"]}
    assert search("params.p IS NOT NULL") == {ids["r1"], ids["r4"]}
    assert search("tags.t IS NULL") == {ids["r4"]}
    assert search(f"attributes.run_id IN ('{ids['r1']}', '{ids['r3']}')") == {ids["r1"], ids["r3"]}
    assert search(f"run_id NOT IN ('{ids['r1']}')") == {ids["r2"], ids["r3"], ids["r4"]}
    assert search("tags.`kind` = 'a'") == {ids["r1"], ids["r2"]}
    assert search("attributes.start_time > 0") == set(ids.values())


def test_search_runs_order_by(client, search_data):
    eid, _ids = search_data
    by_acc = client.search_runs([eid], order_by=["metrics.acc DESC"])
    names = [r.info.run_name for r in by_acc]
    # runs without the metric sort last
    assert names == ["r1", "r2", "r3", "r4"]

    by_loss = client.search_runs([eid], order_by=["metrics.loss ASC"])
    assert [r.info.run_name for r in by_loss] == ["r1", "r2", "r3", "r4"]

    by_lr = client.search_runs([eid], order_by=["params.lr DESC", "attributes.run_name ASC"])
    assert [r.info.run_name for r in by_lr] == ["r4", "r1", "r3", "r2"]

    by_name = client.search_runs([eid], order_by=["attributes.run_name DESC"])
    assert [r.info.run_name for r in by_name] == ["r4", "r3", "r2", "r1"]

    by_start = client.search_runs([eid], order_by=["attributes.start_time ASC"])
    starts = [r.info.start_time for r in by_start]
    assert starts == sorted(starts)

    # default order: start_time DESC
    default = client.search_runs([eid])
    starts = [r.info.start_time for r in default]
    assert starts == sorted(starts, reverse=True)


def test_fluent_search_runs_returns_dataframe(tracking, search_data):
    eid, ids = search_data
    df = mlflow.search_runs(
        experiment_ids=[eid],
        filter_string="metrics.acc > 0.5",
        order_by=["metrics.acc DESC"],
    )
    assert list(df["run_id"]) == [ids["r1"], ids["r2"]]
    for col in (
        "experiment_id",
        "status",
        "start_time",
        "end_time",
        "artifact_uri",
        "metrics.acc",
        "metrics.loss",
        "params.lr",
        "tags.t",
        "tags.mlflow.runName",
    ):
        assert col in df.columns, col
    assert list(df["params.lr"]) == ["0.1", "0.01"]
    assert list(df["tags.mlflow.runName"]) == ["r1", "r2"]
    assert list(df["metrics.acc"]) == pytest.approx([0.9, 0.7])
    assert set(df["status"]) == {"FINISHED"}

    runs = mlflow.search_runs(experiment_ids=[eid], output_format="list", filter_string="params.lr = '0.5'")
    assert [r.info.run_id for r in runs] == [ids["r4"]]


def test_search_runs_several_experiments(client, uniq):
    e1 = client.create_experiment(uniq("multi-a"))
    e2 = client.create_experiment(uniq("multi-b"))
    e3 = client.create_experiment(uniq("multi-c"))
    a = _make_runs(client, e1, [("a1", {"m": 1}, {}, {}), ("a2", {"m": 2}, {}, {})])
    b = _make_runs(client, e2, [("b1", {"m": 3}, {}, {})])
    _make_runs(client, e3, [("c1", {"m": 4}, {}, {})])

    runs = client.search_runs([e1, e2], order_by=["metrics.m DESC"])
    assert [r.info.run_name for r in runs] == ["b1", "a2", "a1"]
    assert {r.info.experiment_id for r in runs} == {e1, e2}
    assert _ids(client.search_runs([e1, e2], "metrics.m >= 2")) == {a["a2"], b["b1"]}

    df = mlflow.search_runs(experiment_ids=[e1, e2, e3])
    assert len(df) == 4


def test_search_runs_view_type(client, uniq):
    eid = client.create_experiment(uniq("view-type"))
    ids = _make_runs(client, eid, [("alive", {}, {}, {}), ("dead", {}, {}, {})])
    client.delete_run(ids["dead"])
    assert _ids(client.search_runs([eid])) == {ids["alive"]}
    assert _ids(client.search_runs([eid], run_view_type=ViewType.ACTIVE_ONLY)) == {ids["alive"]}
    assert _ids(client.search_runs([eid], run_view_type=ViewType.DELETED_ONLY)) == {ids["dead"]}
    assert _ids(client.search_runs([eid], run_view_type=ViewType.ALL)) == set(ids.values())


def test_search_runs_pagination(client, uniq):
    eid = client.create_experiment(uniq("paging"))
    ids = _make_runs(client, eid, [(f"run-{i}", {"i": i}, {}, {}) for i in range(7)])

    pages, token = [], None
    while True:
        page = client.search_runs([eid], max_results=3, order_by=["metrics.i ASC"], page_token=token)
        pages.append([r.info.run_name for r in page])
        token = page.token
        if not token:
            break
        assert len(pages) < 10, "pagination does not terminate"
    assert pages == [["run-0", "run-1", "run-2"], ["run-3", "run-4", "run-5"], ["run-6"]]

    # exactly-full last page: a token may come back, and the next page is empty
    page = client.search_runs([eid], max_results=7)
    assert len(page) == 7
    if page.token:
        assert len(client.search_runs([eid], max_results=7, page_token=page.token)) == 0
    assert _ids(client.search_runs([eid], max_results=100)) == set(ids.values())


# --------------------------------------------------------------------------
# metric history, delete/restore, datasets
# --------------------------------------------------------------------------


def test_metric_history_10000_points(client, uniq):
    eid = client.create_experiment(uniq("history"))
    rid = client.create_run(eid).info.run_id
    n, chunk = 10_000, 1000
    base = 1_700_000_000_000
    # chunks sent in reverse order: the server must order by (timestamp, step)
    for start in reversed(range(0, n, chunk)):
        client.log_batch(
            rid, metrics=[Metric("loss", step * 0.25, base + step, step) for step in range(start, start + chunk)]
        )
    history = client.get_metric_history(rid, "loss")
    assert len(history) == n
    assert [m.step for m in history] == list(range(n))
    assert [m.timestamp for m in history] == [base + s for s in range(n)]
    assert all(m.value == m.step * 0.25 for m in history)
    latest = client.get_run(rid).data.metrics["loss"]
    assert latest == (n - 1) * 0.25


def test_delete_and_restore_run(client, uniq):
    eid = client.create_experiment(uniq("del-run"))
    rid = client.create_run(eid).info.run_id
    client.delete_run(rid)
    got = client.get_run(rid)  # still readable
    assert got.info.lifecycle_stage == "deleted"
    client.restore_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "active"
    assert _ids(client.search_runs([eid])) == {rid}


def test_log_input_dataset_and_search(tracking, client, uniq):
    import pandas as pd
    from mlflow.entities import Dataset, DatasetInput, InputTag

    mlflow.set_experiment(uniq("datasets"))
    ds_name = uniq("ds")
    df = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})
    dataset = mlflow.data.from_pandas(df, source="/tmp/e2e/train.csv", name=ds_name, targets="y")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
    rid = run.info.run_id

    inputs = client.get_run(rid).inputs.dataset_inputs
    assert len(inputs) == 1
    got = inputs[0].dataset
    assert got.name == ds_name
    assert got.digest == dataset.digest
    assert got.source_type == dataset.source._get_source_type()
    assert got.schema and got.profile
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"

    # the lower-level entities through MlflowClient.log_inputs
    other = client.create_run(run.info.experiment_id).info.run_id
    raw = Dataset(name=ds_name + "-raw", digest="abc123", source_type="local", source='{"uri": "/tmp/x"}')
    client.log_inputs(other, [DatasetInput(raw, tags=[InputTag("mlflow.data.context", "eval")])])
    got_raw = client.get_run(other).inputs.dataset_inputs
    assert [(d.dataset.name, d.dataset.digest) for d in got_raw] == [(ds_name + "-raw", "abc123")]

    eid = run.info.experiment_id
    assert _ids(client.search_runs([eid], f"datasets.name = '{ds_name}'")) == {rid}
    assert _ids(client.search_runs([eid], "datasets.context = 'eval'")) == {other}
    assert _ids(client.search_runs([eid], f"datasets.digest = '{dataset.digest}'")) == {rid}
    assert _ids(client.search_runs([eid], f"datasets.name LIKE '{ds_name}%'")) == {rid, other}


# --------------------------------------------------------------------------
# error paths
# --------------------------------------------------------------------------


def test_get_missing_run_raises_resource_does_not_exist(client):
    with pytest.raises(MlflowException) as exc:
        client.get_run("0123456789abcdef0123456789abcdef")
    assert _error_code(exc) == "RESOURCE_DOES_NOT_EXIST"


def test_get_missing_experiment_raises(client):
    with pytest.raises(MlflowException) as exc:
        client.get_experiment("987654321")
    assert _error_code(exc) == "RESOURCE_DOES_NOT_EXIST"


def test_duplicate_experiment_name(client, uniq):
    name = uniq("dup")
    client.create_experiment(name)
    with pytest.raises(MlflowException) as exc:
        client.create_experiment(name)
    assert _error_code(exc) == "RESOURCE_ALREADY_EXISTS"


@pytest.mark.parametrize(
    "bad_filter",
    [
        "metrics.acc >> 0.5",
        "params.lr = 0.1",  # params compare to strings
        "metrics.acc > 0.5 OR params.lr = '0.1'",
        "foo.bar = 'x'",
        "metrics.acc > 'abc'",
    ],
)
def test_bad_filter_is_invalid_parameter_value(client, uniq, bad_filter):
    eid = client.create_experiment(uniq("bad-filter"))
    with pytest.raises(MlflowException) as exc:
        client.search_runs([eid], filter_string=bad_filter)
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"


def test_bad_experiment_filter_and_order_by(client):
    with pytest.raises(MlflowException) as exc:
        client.search_experiments(filter_string="name ~ 'x'")
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as exc:
        client.search_experiments(order_by=["nonexistent_column DESC"])
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"


def test_bad_run_order_by(client, uniq):
    eid = client.create_experiment(uniq("bad-order"))
    with pytest.raises(MlflowException) as exc:
        client.search_runs([eid], order_by=["metrics.acc SIDEWAYS"])
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"


def test_logging_to_missing_run(client):
    with pytest.raises(MlflowException) as exc:
        client.log_param("0123456789abcdef0123456789abcdee", "p", "1")
    assert _error_code(exc) == "RESOURCE_DOES_NOT_EXIST"


def test_logging_to_finished_run_is_allowed_but_deleted_run_is_not(client, uniq):
    eid = client.create_experiment(uniq("deleted-run"))
    rid = client.create_run(eid).info.run_id
    client.set_terminated(rid)
    client.log_metric(rid, "after_end", 1.0)  # FINISHED runs accept data
    client.delete_run(rid)
    with pytest.raises(MlflowException) as exc:
        client.log_metric(rid, "after_delete", 1.0)
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"


def test_invalid_metric_key(client, uniq):
    eid = client.create_experiment(uniq("bad-key"))
    rid = client.create_run(eid).info.run_id
    with pytest.raises(MlflowException) as exc:
        client.log_batch(rid, params=[Param("../escape", "1")])
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"


def test_run_status_enum_names(client, uniq):
    eid = client.create_experiment(uniq("status"))
    rid = client.create_run(eid).info.run_id
    client.set_terminated(rid, status=RunStatus.to_string(RunStatus.SCHEDULED))
    assert client.get_run(rid).info.status == "SCHEDULED"


# --------------------------------------------------------------------------
# more of the search grammar and edge cases (validated against MLflow 3.17.2)
# --------------------------------------------------------------------------


def test_search_runs_grammar_extras(client, search_data):
    eid, ids = search_data

    def search(flt):
        return _ids(client.search_runs([eid], filter_string=flt))

    assert search("metrics.acc = 0.9") == {ids["r1"]}
    assert search("metric.acc <= 0.7") == {ids["r2"], ids["r3"]}
    assert search("params.lr LIKE '0.0%'") == {ids["r2"]}
    assert search('param.lr = "0.5"') == {ids["r4"]}
    assert search("tag.t = 'yankee'") == {ids["r2"]}
    assert search("tags.t != 'yankee'") == {ids["r1"], ids["r3"]}
    assert search("attributes.run_name LIKE 'r%'") == set(ids.values())
    assert search("attributes.run_name ILIKE 'R1'") == {ids["r1"]}
    assert search(f"attributes.run_id = '{ids['r3']}'") == {ids["r3"]}
    assert search("attributes.status != 'FINISHED'") == set()
    assert search("attributes.end_time > 0") == set(ids.values())
    assert search("tags.`mlflow.runName` = 'r4'") == {ids["r4"]}
    assert search("tags.\"mlflow.runName\" = 'r2'") == {ids["r2"]}
    assert search("metrics.acc > 0.5 AND metrics.loss < 0.2 AND params.lr = '0.1'") == {ids["r1"]}

    by_tag = client.search_runs([eid], filter_string="tags.t IS NOT NULL", order_by=["tags.t ASC"])
    assert [r.info.run_name for r in by_tag] == ["r1", "r3", "r2"]


def test_search_experiments_more(client, uniq):
    prefix = uniq("exp-more")
    a = client.create_experiment(f"{prefix}-a", tags={"k": "v"})
    b = client.create_experiment(f"{prefix}-b")
    flt = f"name LIKE '{prefix}%'"
    assert {e.experiment_id for e in client.search_experiments(filter_string=f"{flt} AND tags.k IS NULL")} == {b}
    assert {e.experiment_id for e in client.search_experiments(filter_string=f"{flt} AND tags.k = 'v'")} == {a}
    assert {e.experiment_id for e in client.search_experiments(filter_string=f"name = '{prefix}-b'")} == {b}
    assert {e.experiment_id for e in client.search_experiments(filter_string=f"name ILIKE '{prefix.upper()}%'")} == {
        a,
        b,
    }
    assert {e.experiment_id for e in client.search_experiments(filter_string=f"{flt} AND creation_time > 0")} == {a, b}
    # default order: creation_time DESC, then experiment_id ASC
    got = [e.experiment_id for e in client.search_experiments(filter_string=flt)]
    exps = [client.get_experiment(x) for x in (a, b)]
    expected = [e.experiment_id for e in sorted(exps, key=lambda e: (-e.creation_time, int(e.experiment_id)))]
    assert got == expected


def test_search_runs_unknown_experiment_is_empty(client):
    assert list(client.search_runs(["987654321"])) == []


def test_deleted_experiment_keeps_its_name(client, uniq):
    name = uniq("deleted-name")
    eid = client.create_experiment(name)
    client.delete_experiment(eid)
    with pytest.raises(MlflowException) as exc:
        client.create_experiment(name)
    assert _error_code(exc) == "RESOURCE_ALREADY_EXISTS"
    assert client.get_experiment_by_name(name).lifecycle_stage == "deleted"


def test_create_run_in_deleted_experiment_fails(client, uniq):
    eid = client.create_experiment(uniq("deleted-exp"))
    client.delete_experiment(eid)
    with pytest.raises(MlflowException) as exc:
        client.create_run(eid)
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"


def test_unusual_but_valid_keys_and_values(client, uniq):
    eid = client.create_experiment(uniq("unicode ünïcødé 'quoted'"))
    rid = client.create_run(eid, run_name="naïve run").info.run_id
    key = "a/b c-d.e:f_g"
    client.log_batch(
        rid, metrics=[Metric(key, 1.0, 1, 0)], params=[Param(key, "välue ✓")], tags=[RunTag(key, "日本語")]
    )
    data = client.get_run(rid).data
    assert data.metrics[key] == 1.0
    assert data.params[key] == "välue ✓"
    assert data.tags[key] == "日本語"
    assert client.get_run(rid).info.run_name == "naïve run"
    assert _ids(client.search_runs([eid], f"params.`{key}` = 'välue ✓'")) == {rid}


def test_key_too_long_and_duplicate_batch_params(client, uniq):
    eid = client.create_experiment(uniq("limits"))
    rid = client.create_run(eid).info.run_id
    with pytest.raises(MlflowException) as exc:
        client.log_batch(rid, params=[Param("k" * 251, "v")])
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"
    client.log_batch(rid, params=[Param("k" * 250, "v")])  # the limit itself is fine
    with pytest.raises(MlflowException) as exc:
        client.log_batch(rid, params=[Param("dup", "1"), Param("dup", "2")])
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"


def test_search_runs_max_results_over_cap(client, uniq):
    eid = client.create_experiment(uniq("cap"))
    with pytest.raises(MlflowException) as exc:
        client.search_runs([eid], max_results=50001)
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"


def test_set_deleted_experiment_is_refused(tracking, client, uniq):
    name = uniq("set-deleted")
    eid = client.create_experiment(name)
    client.delete_experiment(eid)
    with pytest.raises(MlflowException):
        mlflow.set_experiment(name)


def test_metric_history_by_step_overwrites_nothing(client, uniq):
    eid = client.create_experiment(uniq("dup-steps"))
    rid = client.create_run(eid).info.run_id
    client.log_metric(rid, "m", 1.0, timestamp=10, step=0)
    client.log_metric(rid, "m", 2.0, timestamp=20, step=0)
    client.log_metric(rid, "m", 2.0, timestamp=20, step=0)  # exact duplicate
    hist = client.get_metric_history(rid, "m")
    assert sorted((m.timestamp, m.value) for m in hist)[:2] == [(10, 1.0), (20, 2.0)]
    assert client.get_run(rid).data.metrics["m"] == 2.0


def test_concurrent_logging_from_threads(client, uniq, monkeypatch):
    """Several threads logging at once (as a multi-worker training job does).

    The client may retry a 429/503 (nothing applied) a few times, quickly; any
    5xx that persists, or a lost write, fails the test.
    """
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0.1")
    eid = client.create_experiment(uniq("concurrent"))
    shared = client.create_run(eid).info.run_id

    def work(worker: int) -> str:
        rid = client.create_run(eid, run_name=f"w{worker}").info.run_id
        for step in range(10):
            client.log_metric(rid, "loss", 1.0 / (step + 1), step=step)
            client.log_metric(shared, f"w{worker}", float(step), step=step)
        client.log_batch(
            rid,
            metrics=[Metric("b", float(i), 1, i) for i in range(200)],
            params=[Param(f"p{i}", str(i)) for i in range(20)],
        )
        client.set_tag(shared, f"tag{worker}", str(worker))
        client.set_terminated(rid)
        return rid

    with ThreadPoolExecutor(max_workers=8) as pool:
        rids = list(pool.map(work, range(8)))

    assert _ids(client.search_runs([eid], "attributes.status = 'FINISHED'")) == set(rids)
    for rid in rids:
        run = client.get_run(rid)
        assert len(run.data.params) == 20
        assert len(client.get_metric_history(rid, "loss")) == 10
        assert len(client.get_metric_history(rid, "b")) == 200
    data = client.get_run(shared).data
    assert set(data.metrics) == {f"w{i}" for i in range(8)}
    assert all(v == 9.0 for v in data.metrics.values())
    assert {f"tag{i}" for i in range(8)} <= set(data.tags)


def test_async_logging_reaches_the_server(tracking, client, uniq):
    mlflow.set_experiment(uniq("async"))
    with mlflow.start_run() as run:
        for step in range(50):
            mlflow.log_metric("m", float(step), step=step, synchronous=False)
        mlflow.log_param("p", "1", synchronous=False)
        mlflow.set_tag("t", "v", synchronous=False)
    mlflow.flush_async_logging()
    rid = run.info.run_id
    assert [m.step for m in client.get_metric_history(rid, "m")] == list(range(50))
    got = client.get_run(rid).data
    assert got.params["p"] == "1" and got.tags["t"] == "v"


def test_get_experiment_by_name_with_url_special_characters(client, uniq):
    name = uniq("a&b=c#d+e%f?g/h i")
    eid = client.create_experiment(name)
    got = client.get_experiment_by_name(name)
    assert got is not None and got.experiment_id == eid and got.name == name
    assert [e.experiment_id for e in client.search_experiments(filter_string=f"name = '{name}'")] == [eid]
