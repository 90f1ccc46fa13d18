"""Schema step 4: ``value_bits`` on every metric table. A version-3 database, whose infinities
are stored the old way (+/- the largest double, no bits), is upgraded to the schema a new
database gets, and its infinities still read as infinities through every read path; also when
an earlier upgrade stopped half-way (MySQL commits each DDL statement)."""

from __future__ import annotations

import math

import pytest

from registry_core import candidates, experiments, logged_models, metric_history, schema
from registry_core import db as core_db
from registry_core import validation as v
from registry_core.models import LatestMetric, LoggedModelMetric, Metric

ROOT = "mlflow-artifacts:/"
TABLES = ("metrics", "latest_metrics", "logged_model_metrics")
MODELS = (Metric, LatestMetric, LoggedModelMetric)
# logged before the upgrade -> read after it
BEFORE = {
    "pinf": (math.inf, math.inf),
    "ninf": (-math.inf, -math.inf),
    "one": (1.0, 1.0),
    "tiny": (5e-324, 5e-324),
    "nan": (math.nan, math.nan),
}


def _columns(database):
    return {t: [(c.name, c.data_type.lower(), c.null) for c in database.get_columns(t)] for t in TABLES}


def _indexes(database):
    return {t: sorted((i.name, tuple(i.columns), i.unique) for i in database.get_indexes(t)) for t in TABLES}


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _log(rid, model_id, key, value, step=0):
    candidates.log_metric(rid, {"key": key, "value": value, "timestamp": 5, "step": step, "model_id": model_id})


def _read_all(rid, model_id, key):
    """The value of ``key`` through every read path: latest, history, bulk interval, logged model."""
    latest = {m.key: m.value for m in candidates.get(rid).metrics}[key]
    history = [p.value for p in metric_history.history(rid, key, None, 0).items]
    bulk = [p.value for p in metric_history.bulk_interval([rid], key, 10, None, None)]
    model = [m["value"] for m in logged_models.get(model_id).metrics if m["key"] == key]
    return [latest, *history, *bulk, *model]


def _downgrade_to_v3(database, keep=()):
    """The version-3 schema: no value_bits (but on the tables in ``keep``: an interrupted upgrade)."""
    for table in TABLES:
        if table not in keep:
            database.execute_sql(f"ALTER TABLE {table} DROP COLUMN value_bits")
    database.execute_sql("UPDATE modelops_schema SET version = 3")


@pytest.mark.parametrize("interrupted", [False, True])
def test_upgrade_from_v3_reads_old_infinities_as_infinities(backend_uri, interrupted):
    database = core_db.open_database(backend_uri)
    try:
        schema.upgrade(database, ROOT)
        with database.connection_context():
            fresh_columns, fresh_indexes = _columns(database), _indexes(database)
            assert all(cols[-1] == ("value_bits", cols[-1][1], True) for cols in fresh_columns.values())
            eid = experiments.create("upgrade", None, [], ROOT)
            rid = candidates.create(eid, "u", 1, [], "r").run_id
            model_id = logged_models.create(eid, "m", rid, [], [], None).model_id
            for key, (logged, _) in BEFORE.items():
                _log(rid, model_id, key, logged)
            # (the rows' `value` is what the old server wrote: +/-FLOAT_MAX for the infinities)
            assert Metric.select().where((Metric.key == "pinf") & (Metric.value == v.FLOAT_MAX)).count() == 1
            if interrupted:
                # the column already added to the first table, and its rows converted, before
                # the upgrade stopped
                _downgrade_to_v3(database, keep=("metrics",))
            else:
                _downgrade_to_v3(database)
        with pytest.raises(core_db.SchemaError, match="modelops db upgrade"):
            schema.check(database, ROOT)
        assert schema.upgrade(database, ROOT) == core_db.SCHEMA_VERSION
        assert schema.check(database, ROOT) == core_db.SCHEMA_VERSION
        with database.connection_context():
            assert _columns(database) == fresh_columns
            assert _indexes(database) == fresh_indexes
            for key, (_, expected) in BEFORE.items():
                got = _read_all(rid, model_id, key)
                assert len(got) == 4 and all(_same(value, expected) for value in got), (key, got)
            for model in MODELS:  # only the infinities got bits
                with_bits = dict(
                    model.select(model.key, model.value_bits).where(model.value_bits.is_null(False)).tuples()
                )
                assert with_bits == {"pinf": v.INF_BITS, "ninf": v.NEG_INF_BITS}, model
            # the step again (interrupted after its last statement): nothing changes
            with database.atomic():
                schema._STEPS[4](database)
            assert _columns(database) == fresh_columns
            assert all(_same(value, math.inf) for value in _read_all(rid, model_id, "pinf"))
            # after the upgrade, the largest double and -0.0 are themselves, infinities too
            for key, value in (("max", v.FLOAT_MAX), ("negmax", -v.FLOAT_MAX), ("negzero", -0.0), ("inf", math.inf)):
                _log(rid, model_id, key, value)
                got = _read_all(rid, model_id, key)
                assert len(got) == 4 and all(_same(x, value) for x in got), (key, got)
            # a finite latest value replacing an old infinity drops its bits
            _log(rid, model_id, "pinf", 2.0, step=1)
            assert {m.key: m.value for m in candidates.get(rid).metrics}["pinf"] == 2.0
    finally:
        if hasattr(database, "close_all"):
            database.close_all()
        else:
            database.close()


def test_upgrade_from_v1_keeps_value_bits_through_the_sqlite_rebuild(tmp_path):
    """Step 2 rebuilds latest_metrics on SQLite; a table that already has value_bits (a test
    database downgraded from a later version) keeps them."""
    database = core_db.open_database(f"sqlite:///{tmp_path}/v1.db")
    try:
        schema.upgrade(database, ROOT)
        with database.connection_context():
            eid = experiments.create("v1", None, [], ROOT)
            rid = candidates.create(eid, "u", 1, [], "r").run_id
            candidates.log_metric(rid, {"key": "z", "value": -0.0, "timestamp": 1, "step": 0})
            database.execute_sql("DROP INDEX latest_metrics_experiment_id_key_is_nan_value")
            database.execute_sql("ALTER TABLE latest_metrics DROP COLUMN experiment_id")
            database.execute_sql("UPDATE modelops_schema SET version = 1")
        assert schema.upgrade(database, ROOT) == core_db.SCHEMA_VERSION
        with database.connection_context():
            assert _same(candidates.get(rid).metrics[0].value, -0.0)
    finally:
        database.close()
