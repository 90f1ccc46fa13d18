"""The registry core's services, called directly (no HTTP), on every database backend."""

from __future__ import annotations

import math

import pytest

from registry_core import candidates, experiments, metric_history, run_search, schema
from registry_core import db as core_db
from registry_core.errors import AlreadyExists, InvalidInput, NotFound
from registry_core.models import LatestMetric, Metric, Param, Tag
from registry_core.search_ast import Comparison, OrderKey

ROOT = "mlflow-artifacts:/"


def _experiment(name="exp"):
    return experiments.create(name, None, [], ROOT)


def _run(eid, name=None, start=1000):
    return candidates.create(eid, "alice", start, [], name).run_id


def test_default_experiment_and_locations(registry_db):
    default = experiments.get("0")
    assert (default.name, default.lifecycle_stage) == ("Default", "active")
    eid = _experiment()
    assert experiments.get(eid).artifact_location == f"mlflow-artifacts:/{eid}"
    explicit = experiments.create("explicit", "s3://bucket/path", [("a", "b")], ROOT)
    view = experiments.get(explicit)
    assert view.artifact_location == "s3://bucket/path"
    assert view.tags == [("a", "b")]
    run = candidates.get(_run(eid))
    assert run.artifact_uri == f"mlflow-artifacts:/{eid}/{run.run_id}/artifacts"


def test_experiment_names_are_unique_and_case_sensitive_lookup(registry_db):
    _experiment("Churn")
    with pytest.raises(AlreadyExists):
        _experiment("Churn")
    with pytest.raises(NotFound):
        experiments.get_by_name("churn")
    assert experiments.get_by_name("Churn").name == "Churn"


def test_delete_and_restore_experiment_carry_runs(registry_db):
    eid = _experiment()
    rid = _run(eid)
    experiments.delete(eid)
    assert candidates.get(rid).lifecycle_stage == "deleted"
    with pytest.raises(InvalidInput):
        candidates.create(eid, "u", None, [], None)
    with pytest.raises(NotFound):
        experiments.delete(eid)
    experiments.restore(eid)
    assert candidates.get(rid).lifecycle_stage == "active"


def test_log_batch_is_all_or_nothing(registry_db):
    rid = _run(_experiment())
    candidates.log_param(rid, "lr", "0.1")
    good = {"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}
    with pytest.raises(InvalidInput, match="Changing param values is not allowed"):
        candidates.log_batch(rid, [good], [("depth", "3"), ("lr", "0.2")], [("t", "x")])
    assert Metric.select().where(Metric.run == rid).count() == 0
    assert Tag.select().where((Tag.run == rid) & (Tag.key == "t")).count() == 0
    assert Param.select().where(Param.run == rid).count() == 1
    with pytest.raises(InvalidInput, match="at most 1000 metrics"):
        candidates.log_batch(rid, [good] * 1001, [], [])
    candidates.log_batch(rid, [good], [("depth", "3"), ("lr", "0.1")], [("t", "x")])
    run = candidates.get(rid)
    assert dict(run.params) == {"depth": "3", "lr": "0.1"}
    assert ("t", "x") in run.tags


def test_latest_metric_replaced_only_by_a_greater_step_timestamp_value(registry_db):
    """The latest-metric upsert decides in SQL, one statement per write: a stored row is
    replaced only by a greater (step, timestamp, value), whichever of the three decides it
    (MySQL applies its guarded assignments one by one: each level is checked on its own)."""
    rid = _run(_experiment())

    def log(key, value, ts, step):
        candidates.log_metric(rid, {"key": key, "value": value, "timestamp": ts, "step": step})

    def latest(key):
        row = LatestMetric.get((LatestMetric.run == rid) & (LatestMetric.key == key))
        return (row.step, row.timestamp, row.value, row.is_nan)

    log("m", 1.0, 50, 2)
    for value, ts, step in [(0.5, 50, 2), (9.0, 49, 2), (9.0, 99, 1), (1.0, 50, 2)]:
        log("m", value, ts, step)
        assert latest("m") == (2, 50, 1.0, False)
    log("m", 2.0, 50, 2)  # same step and timestamp, greater value
    assert latest("m") == (2, 50, 2.0, False)
    log("m", -5.0, 51, 2)  # same step, later timestamp, smaller value
    assert latest("m") == (2, 51, -5.0, False)
    log("m", -7.0, 1, 3)  # greater step, everything else smaller
    assert latest("m") == (3, 1, -7.0, False)
    log("m", math.nan, 1, 3)  # NaN is stored as 0 (greater than -7) with is_nan
    assert latest("m") == (3, 1, 0.0, True)
    # several keys in one statement: some replaced, some kept, one new
    log("k", 5.0, 10, 5)
    candidates.log_batch(
        rid,
        [
            {"key": "m", "value": 1.0, "timestamp": 1, "step": 2},
            {"key": "k", "value": 6.0, "timestamp": 10, "step": 5},
            {"key": "k", "value": 7.0, "timestamp": 9, "step": 5},
            {"key": "new", "value": 1.5, "timestamp": 3, "step": 0},
        ],
        [],
        [],
    )
    assert latest("m") == (3, 1, 0.0, True)
    assert latest("k") == (5, 10, 6.0, False)
    assert latest("new") == (0, 3, 1.5, False)
    assert {m.key: m.value for m in candidates.get(rid).metrics}["k"] == 6.0


def test_latest_metric_is_max_step_then_timestamp(registry_db):
    rid = _run(_experiment())
    candidates.log_batch(
        rid,
        [
            {"key": "m", "value": 1.0, "timestamp": 50, "step": 2},
            {"key": "m", "value": 9.0, "timestamp": 99, "step": 1},
        ],
        [],
        [],
    )
    candidates.log_metric(rid, {"key": "m", "value": 3.0, "timestamp": 10, "step": 2})
    (latest,) = candidates.get(rid).metrics
    assert (latest.value, latest.step, latest.timestamp) == (1.0, 2, 50)
    candidates.log_metric(rid, {"key": "m", "value": 4.0, "timestamp": 51, "step": 2})
    assert candidates.get(rid).metrics[0].value == 4.0
    # exact duplicates (a retried request) are stored once
    candidates.log_metric(rid, {"key": "m", "value": 4.0, "timestamp": 51, "step": 2})
    assert Metric.select().where(Metric.run == rid).count() == 4
    assert LatestMetric.select().where(LatestMetric.run == rid).count() == 1


def test_special_metric_values_round_trip(registry_db):
    rid = _run(_experiment())
    candidates.log_batch(
        rid,
        [
            {"key": "nan", "value": math.nan, "timestamp": 1, "step": 0},
            {"key": "inf", "value": math.inf, "timestamp": 1, "step": 0},
            {"key": "ninf", "value": "-Infinity", "timestamp": 1, "step": 0},
        ],
        [],
        [],
    )
    values = {m.key: m.value for m in candidates.get(rid).metrics}
    assert math.isnan(values["nan"])
    assert values["inf"] == math.inf and values["ninf"] == -math.inf
    page = metric_history.history(rid, "inf", None, 0)
    assert [p.value for p in page.items] == [math.inf]


def test_search_filters_and_orders_in_sql(registry_db):
    eid = _experiment()
    ids = []
    for i, (acc, p) in enumerate([(0.9, "a"), (0.7, "b"), (math.nan, "a"), (None, "a")]):
        rid = _run(eid, name=f"r{i}", start=1000 + i)
        ids.append(rid)
        candidates.log_param(rid, "p", p)
        if acc is not None:
            candidates.log_metric(rid, {"key": "acc", "value": acc, "timestamp": 1, "step": 0})

    def names(comparisons, order=(), view="ACTIVE_ONLY"):
        page = run_search.search([eid], list(comparisons), view, list(order), 100, 0)
        return [r.run_name for r in page.items]

    assert names([]) == ["r3", "r2", "r1", "r0"]  # start_time DESC by default
    assert names([Comparison("metric", "acc", ">", 0.5), Comparison("param", "p", "=", "a")]) == ["r0"]
    assert names([], [OrderKey("metric", "acc", False)]) == ["r0", "r1", "r2", "r3"]  # NaN, then missing, last
    assert names([], [OrderKey("metric", "acc", True)]) == ["r1", "r0", "r2", "r3"]
    assert names([Comparison("param", "p", "IS NULL")]) == []
    assert names([Comparison("attribute", "run_id", "IN", (ids[0], ids[1]))]) == ["r1", "r0"]
    assert names([Comparison("attribute", "run_name", "LIKE", "R%")]) == []
    assert names([Comparison("attribute", "run_name", "ILIKE", "R%")]) == ["r3", "r2", "r1", "r0"]
    candidates.delete(ids[0])
    assert names([], view="DELETED_ONLY") == ["r0"]
    assert len(names([], view="ALL")) == 4
    first = run_search.search([eid], [], "ALL", [], 3, 0)
    assert first.next_offset == 3
    rest = run_search.search([eid], [], "ALL", [], 3, first.next_offset)
    assert rest.next_offset is None and len(rest.items) == 1


def test_history_pages_and_bulk_interval_sampling(registry_db):
    rid = _run(_experiment())
    points = [{"key": "loss", "value": float(i), "timestamp": i, "step": i} for i in range(1000)]
    candidates.log_batch(rid, points, [], [])
    first = metric_history.history(rid, "loss", 400, 0)
    assert len(first.items) == 400 and first.next_offset == 400
    last = metric_history.history(rid, "loss", 400, 800)
    assert last.next_offset is None and last.items[-1].step == 999
    sampled = metric_history.bulk_interval([rid], "loss", 10, None, None)
    steps = [p.step for p in sampled]
    assert len(steps) == 10 and steps[0] == 0 and steps[-1] == 999
    assert steps == sorted(steps)
    window = metric_history.bulk_interval([rid], "loss", 5, 100, 200)
    assert window[0].step == 100 and window[-1].step == 200 and len(window) == 5
    with pytest.raises(InvalidInput):
        metric_history.bulk_interval([rid], "loss", 5, 100, None)


def test_outdated_schema_is_refused(backend_uri):
    database = core_db.open_database(backend_uri)
    try:
        assert schema.check(database, ROOT) == core_db.SCHEMA_VERSION  # empty -> created
        with database.connection_context():
            database.execute_sql("UPDATE modelops_schema SET version = 0")
        with pytest.raises(core_db.SchemaError, match="modelops db upgrade"):
            schema.check(database, ROOT)
        assert schema.upgrade(database, ROOT) == core_db.SCHEMA_VERSION
        assert schema.check(database, ROOT) == core_db.SCHEMA_VERSION
    finally:
        if hasattr(database, "close_all"):
            database.close_all()


@pytest.mark.parametrize(
    "uri,kind",
    [
        ("sqlite:///relative/x.db", "sqlite"),
        ("postgresql://u:p%40ss@db.example:5433/reg", "postgresql"),
        ("postgresql+psycopg2://u@h/reg", "postgresql"),
        ("mysql://root@127.0.0.1:3306/test", "mysql"),
        ("mysql+pymysql://root:pw@127.0.0.1/test", "mysql"),
    ],
)
def test_backend_uris_as_mlflow_users_spell_them(uri, kind, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    database = core_db.open_database(uri)
    assert core_db.dialect(database) == kind
    if kind == "postgresql" and "p%40ss" in uri:
        assert database.connect_params["password"] == "p@ss"
        assert database.connect_params["port"] == 5433


def test_unsupported_backend_uri():
    with pytest.raises(InvalidInput):
        core_db.open_database("oracle://x/y")
