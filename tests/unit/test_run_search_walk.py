"""Run search ordered by a metric reads the (experiment_id, key, is_nan, value) index of
latest_metrics; it must return exactly what the general query (a LEFT JOIN and a sort of every
match) returns, page by page, on every backend, and the denormalised experiment_id must stay
right through every write path and the schema upgrade."""

from __future__ import annotations

import math
import random

import pytest

from registry_core import candidates, experiments, run_search, schema, sqlutil
from registry_core import db as core_db
from registry_core.models import LatestMetric, Run
from registry_core.search_ast import Comparison, OrderKey

ROOT = "mlflow-artifacts:/"
M_VALUES = [0.1, 0.5, 0.5, 0.9, 2.0, -1.0, math.inf, -math.inf, math.nan, None]


def _seed():
    """Two experiments whose metric values lie in different ranges (so one experiment's page
    bound is not another's), with ties in value and start_time, NaN, infinities, missing
    metrics, deleted runs, params, tags and dataset inputs."""
    rng = random.Random(5)
    a = experiments.create("walk-a", None, [], ROOT)
    b = experiments.create("walk-b", None, [], ROOT)
    runs = {}
    for eid, count, shift in ((a, 45, 0.0), (b, 30, 5.0)):
        for i in range(count):
            rid = candidates.create(eid, "u", 1000 + i // 3, [], f"{eid}-{i}").run_id
            m = rng.choice(M_VALUES)
            metrics = []
            if m is not None:
                metrics.append({"key": "m", "value": m + shift if math.isfinite(m) else m, "timestamp": 1, "step": 0})
            if rng.random() < 0.8:
                metrics.append({"key": "n", "value": rng.choice([0.2, 0.4, 0.6]), "timestamp": 1, "step": 0})
            params = [("p", rng.choice("ab"))] if rng.random() < 0.8 else []
            candidates.log_batch(rid, metrics, params, [("t", rng.choice("xy"))])
            if i % 6 == 0:
                candidates.log_inputs(
                    rid,
                    [
                        {
                            "name": "ds",
                            "digest": "d1",
                            "source_type": "local",
                            "source": "s",
                            "tags": [("mlflow.data.context", "train")],
                        }
                    ],
                    [],
                )
            if i % 7 == 3:
                candidates.delete(rid)
            runs[rid] = eid
    return a, b, runs


FILTERS = [
    [],
    [Comparison("metric", "n", ">", 0.3)],
    [Comparison("param", "p", "=", "a")],
    [Comparison("param", "p", "IS NULL")],
    [Comparison("tag", "t", "!=", "x"), Comparison("metric", "n", "<=", 0.4)],
    [Comparison("metric", "m", "!=", 0.5)],
    [Comparison("metric", "m", ">=", 0.5)],
    [Comparison("dataset", "name", "=", "ds")],
    [Comparison("attribute", "start_time", ">=", 1005)],
    [Comparison("param", "p", "IS NOT NULL"), Comparison("attribute", "status", "=", "RUNNING")],
]
ORDERS = [
    [OrderKey("metric", "m", False)],
    [OrderKey("metric", "m", True)],
    [OrderKey("metric", "m", False), OrderKey("metric", "n", True)],
    [OrderKey("metric", "m", True), OrderKey("param", "p", False)],
    [OrderKey("metric", "m", False), OrderKey("attribute", "start_time", True)],
    [OrderKey("metric", "n", False), OrderKey("tag", "t", True)],
]
VIEWS = ["ACTIVE_ONLY", "ALL", "DELETED_ONLY"]


def _pages(ids, comparisons, view, order, size):
    seen, offset = [], 0
    while True:
        page = run_search.search(ids, comparisons, view, order, size, offset)
        assert len(page.items) <= size and len(seen) <= 1000
        seen.extend(r.run_id for r in page.items)
        if page.next_offset is None:
            return seen
        offset = page.next_offset


def _general(monkeypatch):
    """Search with the walk switched off: the general query, as the reference."""

    def run(*args):
        with monkeypatch.context() as m:
            m.setattr(run_search, "_walks", lambda comparisons, order: False)
            return _pages(*args)

    return run


@pytest.mark.parametrize("page_from", ["walks", "bound"])
def test_metric_order_walk_returns_what_the_general_query_returns(registry_db, monkeypatch, page_from):
    """Both ways of reading a page: sorted from each experiment's walk (falling back to the
    bound when a walk stops inside tied values, as the seed's ties make it), and by the bound."""
    a, b, _runs = _seed()
    general = _general(monkeypatch)
    taken = {"walks": 0, "ties": 0}
    sorted_walks = run_search._Values._sorted_walks

    def counting(self, end):
        page = sorted_walks(self, end)
        taken["walks" if page is not None else "ties"] += 1
        return page

    monkeypatch.setattr(run_search._Values, "_sorted_walks", counting)
    if page_from == "bound":
        monkeypatch.setattr(run_search._Values, "_CANDIDATES", 0)
    experiment_sets = [[a], [b], [a, b], [b, a, a]]
    sizes = [3, 8, 33, 1000]
    combo = 0
    for comparisons in FILTERS:
        for order in ORDERS:
            ids = experiment_sets[combo % 4]
            view = VIEWS[combo % 3]
            size = sizes[(combo // 4) % 4]
            combo += 1
            expected = general(ids, comparisons, view, order, 1000)
            assert len(set(expected)) == len(expected)
            assert _pages(ids, comparisons, view, order, 1000) == expected, (comparisons, order, ids, view)
            assert _pages(ids, comparisons, view, order, size) == expected, (comparisons, order, ids, view, size)
    # an offset past the values segment, into the NaN and missing ones
    order = [OrderKey("metric", "m", False)]
    everything = general([a, b], [], "ALL", order, 1000)
    for offset in (len(everything) - 12, len(everything) - 3, len(everything), len(everything) + 5):
        page = run_search.search([a, b], [], "ALL", order, 4, offset)
        assert [r.run_id for r in page.items] == everything[offset : offset + 4]
        assert page.next_offset == (offset + 4 if offset + 4 < len(everything) else None)
    if page_from == "bound":
        assert taken == {"walks": 0, "ties": 0}
    else:
        assert taken["walks"] > 50 and taken["ties"] > 5, taken


def test_metric_order_is_mlflows(registry_db):
    """Values in the key's direction (infinities at the ends), then NaN, then runs without the
    metric; ties by start_time DESC, then run id."""
    a, b, runs = _seed()
    rows = {r.run_id: r for r in run_search.search([a, b], [], "ALL", [], 1000, 0).items}
    assert set(rows) == set(runs)

    def expected(ascending):
        def key(rid):
            run = rows[rid]
            value = {m.key: m.value for m in run.metrics}.get("m")
            group = 2 if value is None else (1 if math.isnan(value) else 0)
            ordered = 0.0 if group else (value if ascending else -value)
            return (group, ordered, -run.start_time, rid)

        return sorted(rows, key=key)

    for ascending in (False, True):
        page = run_search.search([a, b], [], "ALL", [OrderKey("metric", "m", ascending)], 1000, 0)
        assert [r.run_id for r in page.items] == expected(ascending)


def test_latest_metrics_carry_the_runs_experiment(registry_db):
    _a, b, runs = _seed()
    rid = candidates.create(b, "u", 5, [], "late").run_id
    candidates.log_metric(rid, {"key": "solo", "value": 1.0, "timestamp": 1, "step": 0})
    candidates.log_metric(rid, {"key": "solo", "value": 2.0, "timestamp": 2, "step": 1})  # an update
    candidates.log_batch(
        rid,
        [
            {"key": "solo", "value": 3.0, "timestamp": 3, "step": 2},
            {"key": "other", "value": math.nan, "timestamp": 3, "step": 0},
        ],
        [],
        [],
    )
    runs[rid] = b
    stored = list(LatestMetric.select(LatestMetric.run, LatestMetric.experiment_id).tuples())
    assert stored and all(eid == runs[run] for run, eid in stored)
    mismatched = (
        LatestMetric.select()
        .join(Run, on=(Run.run_uuid == LatestMetric.run))
        .where(Run.experiment != LatestMetric.experiment_id)
        .count()
    )
    assert mismatched == 0


def _latest_rows():
    m = LatestMetric
    return sorted(
        m.select(m.run, m.key, m.value, m.timestamp, m.step, m.is_nan, m.experiment_id).tuples(),
        key=lambda row: (row[0], row[1]),
    )


def _latest_metrics_schema(database):
    columns = {(c.name, c.data_type.lower(), c.null) for c in database.get_columns("latest_metrics")}
    indexes = {
        (i.name, tuple(i.columns), i.unique)
        for i in database.get_indexes("latest_metrics")
        if not i.name.startswith("sqlite_autoindex_")
    }
    return columns, indexes


@pytest.mark.parametrize("interrupted", [False, True])
def test_upgrade_from_v1_backfills_latest_metrics_experiment(backend_uri, monkeypatch, interrupted):
    """A version-1 database (no latest_metrics.experiment_id, no walk index) is upgraded to the
    schema a new database gets, with every row's experiment copied from its run; also when an
    earlier upgrade stopped after adding the column (MySQL commits each DDL statement)."""
    database = core_db.open_database(backend_uri)
    try:
        schema.upgrade(database, ROOT)
        with database.connection_context():
            fresh = _latest_metrics_schema(database)
            a, b, runs = _seed()
            before = _latest_rows()
            walk_index = "latest_metrics_experiment_id_key_is_nan_value"
            assert walk_index in {name for name, _, _ in fresh[1]}
            database.execute_sql(
                f"DROP INDEX {walk_index}" + (" ON latest_metrics" if core_db.dialect(database) == "mysql" else "")
            )
            database.execute_sql("ALTER TABLE latest_metrics DROP COLUMN experiment_id")
            if interrupted:
                database.execute_sql("ALTER TABLE latest_metrics ADD COLUMN experiment_id INTEGER NULL")
            database.execute_sql("UPDATE modelops_schema SET version = 1")
        with pytest.raises(core_db.SchemaError, match="modelops db upgrade"):
            schema.check(database, ROOT)
        assert schema.upgrade(database, ROOT) == core_db.SCHEMA_VERSION
        assert schema.check(database, ROOT) == core_db.SCHEMA_VERSION
        with database.connection_context():
            assert _latest_metrics_schema(database) == fresh
            assert _latest_rows() == before
            stored = list(LatestMetric.select(LatestMetric.run, LatestMetric.experiment_id).tuples())
            assert len(stored) > 50 and all(eid == runs[run] for run, eid in stored)
            general = _general(monkeypatch)
            order = [OrderKey("metric", "m", False), OrderKey("metric", "n", True)]
            assert _pages([a, b], [], "ALL", order, 7) == general([a, b], [], "ALL", order, 1000)
            # new writes after the upgrade carry the experiment too
            rid = candidates.create(a, "u", 1, [], "after").run_id
            candidates.log_metric(rid, {"key": "m", "value": 99.0, "timestamp": 1, "step": 0})
            found = run_search.search(
                [a], [Comparison("metric", "m", "=", 99.0)], "ACTIVE_ONLY", [OrderKey("metric", "m", False)], 5, 0
            )
            assert [r.run_id for r in found.items] == [rid]
    finally:
        if hasattr(database, "close_all"):
            database.close_all()


def test_walk_reads_the_index_in_order(tmp_path):
    """On SQLite, a page ordered by a metric alone is the walk index read in order (no sort of
    the matches), in one statement."""
    database = core_db.open_database(f"sqlite:///{tmp_path}/plan.db")
    schema.upgrade(database, ROOT)
    plans = []
    original = database.execute_sql

    def spy(sql, params=None, *args, **kwargs):
        if sql.startswith("SELECT") and '"w"' in sql:
            plans.append(" | ".join(row[3] for row in original("EXPLAIN QUERY PLAN " + sql, params).fetchall()))
        return original(sql, params, *args, **kwargs)

    with database.connection_context():
        a, _b, _runs = _seed()
        database.execute_sql = spy
        try:
            page = run_search.search(
                [a], [Comparison("param", "p", "=", "a")], "ACTIVE_ONLY", [OrderKey("metric", "m", False)], 3, 0
            )
        finally:
            del database.execute_sql
    assert len(page.items) == 3 and page.next_offset == 3
    assert len(plans) == 1  # the page sorted from the walk's rows: one statement
    assert plans[0].startswith(
        "SEARCH w USING INDEX latest_metrics_experiment_id_key_is_nan_value (experiment_id=? AND key=? AND is_nan=?)"
    )
    assert "TEMP B-TREE" not in plans[0]


def test_runs_load_the_same_in_chunks(registry_db, monkeypatch):
    """A page larger than one IN list (up to 50,000 runs) loads in several statements, with each
    run's metrics, params, tags and inputs complete and in key order."""
    a, b, runs = _seed()
    whole = run_search.search([a, b], [], "ALL", [OrderKey("metric", "m", False)], 1000, 0).items
    monkeypatch.setattr(sqlutil, "_IN_CHUNK", 2)
    chunked = run_search.search([a, b], [], "ALL", [OrderKey("metric", "m", False)], 1000, 0).items
    assert len(whole) == len(runs)
    assert repr(chunked) == repr(whole)  # repr: NaN metric values compare unequal
    assert any(r.dataset_inputs for r in whole) and all(
        [m.key for m in r.metrics] == sorted(m.key for m in r.metrics) for r in whole
    )
