"""Schema creation, upgrade and the start-up check.

The version lives in the ``modelops_schema`` table from the first day. An empty database gets the
current schema (the models) at once; an existing one is brought forward by the steps of
``_STEPS``, one per version after it. Each schema change adds a step and bumps ``SCHEMA_VERSION``;
steps check what is already there, so one interrupted half-way (MySQL commits each DDL
statement) can run again.
"""

from __future__ import annotations

import peewee as pw

from registry_core import db as dbmod
from registry_core import validation
from registry_core.clock import now_ms
from registry_core.db import SCHEMA_VERSION, SchemaError
from registry_core.lifecycle import ACTIVE
from registry_core.models import (
    TABLES,
    Experiment,
    LatestMetric,
    LoggedModelMetric,
    Metric,
    ModelVersion,
    SchemaVersion,
)

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"


def current_version(db: pw.Database) -> int | None:
    """The schema version recorded in ``db``, or None for an empty database."""
    if not db.table_exists(SchemaVersion._meta.table_name):
        if db.table_exists(Experiment._meta.table_name):
            raise SchemaError(
                "The database holds tables but no modelops schema version: it is not a modelops "
                "registry database (an MLflow database cannot be served directly)."
            )
        return None
    row = SchemaVersion.select(pw.fn.MAX(SchemaVersion.version)).scalar()
    return int(row) if row is not None else None


def _mysql_collation(db: pw.Database) -> str:
    """A binary collation without space padding: keys that differ only in case or trailing
    spaces ('lr', 'LR', 'lr ') are distinct, as on SQLite and PostgreSQL."""
    version = db.execute_sql("SELECT VERSION()").fetchone()[0]
    return "utf8mb4_nopad_bin" if "mariadb" in version.lower() else "utf8mb4_0900_bin"


def _create(db: pw.Database) -> None:
    """The current schema, on an empty database."""
    if dbmod.dialect(db) != "mysql":
        db.create_tables(TABLES, safe=True)
        return
    settings = ["DEFAULT CHARSET=utf8mb4", f"COLLATE={_mysql_collation(db)}"]
    for model in TABLES:
        saved = model._meta.table_settings
        model._meta.table_settings = settings
        try:
            model.create_table(safe=True)
        finally:
            model._meta.table_settings = saved


def _create_missing_indexes(db: pw.Database, model) -> None:
    existing = {index.name for index in db.get_indexes(model._meta.table_name)}
    for index in model._meta.fields_to_index():
        if index._name not in existing:
            db.execute(model._schema._create_index(index, safe=False))


def _v2_latest_metrics_experiment(db: pw.Database) -> None:
    """latest_metrics.experiment_id, copied from each run, and the (experiment_id, key, is_nan,
    value) index that search walks to order by a metric. The table ends as a new database
    creates it (NOT NULL, no default: a write that forgets the column fails)."""
    kind = dbmod.dialect(db)
    table, column = _quote(db, "latest_metrics"), _quote(db, "experiment_id")
    current = next((c for c in db.get_columns("latest_metrics") if c.name == "experiment_id"), None)
    if current is not None and not current.null:
        pass  # done before this step was interrupted (MySQL commits each DDL statement)
    elif kind == "sqlite":
        _sqlite_rebuild_latest_metrics(db)
    else:
        if current is None:
            db.execute_sql(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NULL")
        db.execute_sql(
            f"UPDATE {table} SET {column} = (SELECT r.{column} FROM {_quote(db, 'runs')} r "
            f"WHERE r.{_quote(db, 'run_uuid')} = {table}.{_quote(db, 'run_uuid')})"
        )
        if kind == "postgresql":
            db.execute_sql(f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL")
        else:
            db.execute_sql(f"ALTER TABLE {table} MODIFY {column} INTEGER NOT NULL")
    _create_missing_indexes(db, LatestMetric)
    # Fresh statistics, or PostgreSQL plans the walk by guesses for the new column (a sort of
    # every match instead of reading the index in order).
    if kind == "postgresql":
        db.execute_sql(f"ANALYZE {table}")
    elif kind == "mysql":
        db.execute_sql(f"ANALYZE TABLE {table}")


def _sqlite_rebuild_latest_metrics(db: pw.Database) -> None:
    """SQLite adds a NOT NULL column only with a default: the table is made anew (in the
    upgrade's transaction) and the rows copied with their run's experiment."""
    for index in db.get_indexes("latest_metrics"):
        if not index.name.startswith("sqlite_autoindex_"):
            db.execute_sql(f"DROP INDEX {_quote(db, index.name)}")
    db.execute_sql('ALTER TABLE "latest_metrics" RENAME TO "latest_metrics_v1"')
    LatestMetric.create_table(safe=False)
    kept = ["run_uuid", "key", "value", "timestamp", "step", "is_nan"]
    if any(c.name == "value_bits" for c in db.get_columns("latest_metrics_v1")):
        kept.append("value_bits")  # (a later version's column: kept if it is there)
    names = ", ".join(f'"{n}"' for n in kept)
    copied = ", ".join(f'm."{n}"' for n in kept)
    db.execute_sql(
        f'INSERT INTO "latest_metrics" ({names}, "experiment_id") SELECT {copied}, r."experiment_id" '
        'FROM "latest_metrics_v1" m JOIN "runs" r ON r."run_uuid" = m."run_uuid"'
    )
    db.execute_sql('DROP TABLE "latest_metrics_v1"')


def _quote(db: pw.Database, name: str) -> str:
    return f"{db.quote[0]}{name}{db.quote[1]}"


def _v3_model_version_order_index(db: pw.Database) -> None:
    """The (registered_model_id, last_updated_time, version) index on model_versions: one
    model's versions in version search's default order without a sort."""
    _create_missing_indexes(db, ModelVersion)


def _v4_metric_value_bits(db: pw.Database) -> None:
    """``value_bits`` (BIGINT NULL, in no key or index) on every metric table: metrics,
    latest_metrics and logged_model_metrics. It holds the IEEE-754 bits of the logged value where
    the orderable ``value`` column cannot hold it (+/-Infinity, stored there as +/- the largest
    double; -0.0, stored as 0.0), so that reads return every double exactly.

    Rows written before this version whose ``value`` is +/- the largest double get the bits of
    +/-Infinity: the server before it wrote that value only for a logged infinity, and read it
    back as one, so an infinity stays an infinity. A largest double logged as itself before the
    upgrade (indistinguishable from an infinity in the old store) also reads as an infinity, as
    it did before; logged after it, it reads as itself. A -0.0 logged before reads as 0.0, as
    before. Runs again after an interruption (MySQL commits each DDL statement): the column is
    added where missing, and only rows without bits are set."""
    for model in (Metric, LatestMetric, LoggedModelMetric):
        _add_missing_column(db, model, model.value_bits)
        table, value, bits = _quote(db, model._meta.table_name), _quote(db, "value"), _quote(db, "value_bits")
        p = db.param
        db.execute_sql(
            f"UPDATE {table} SET {bits} = CASE WHEN {value} > 0 THEN {p} ELSE {p} END "
            f"WHERE {bits} IS NULL AND ({value} = {p} OR {value} = {p})",
            [validation.INF_BITS, validation.NEG_INF_BITS, validation.FLOAT_MAX, -validation.FLOAT_MAX],
        )


def _add_missing_column(db: pw.Database, model, field: pw.Field) -> None:
    """``field``'s column on ``model``'s table, declared as a new database declares it; nothing
    if it is there. Only for a nullable column without a default (added without a rewrite of the
    table on every backend)."""
    assert field.null and field.default is None, field
    table = model._meta.table_name
    if any(c.name == field.column_name for c in db.get_columns(table)):
        return
    ctx = db.get_sql_context()
    column, params = ctx.sql(field.ddl(ctx)).query()
    db.execute_sql(f"ALTER TABLE {_quote(db, table)} ADD COLUMN {column}", params)


def _v5_model_version_source_unverified(db: pw.Database) -> None:
    """``source_unverified`` (TEXT NULL) on model_versions: why a version's source could not be
    verified, or NULL. Every version before this schema was verified (the server refused any
    other source then), so existing rows keep NULL."""
    _add_missing_column(db, ModelVersion, ModelVersion.source_unverified)


# version reached -> function that brings the version before it there
_STEPS = {
    2: _v2_latest_metrics_experiment,
    3: _v3_model_version_order_index,
    4: _v4_metric_value_bits,
    5: _v5_model_version_source_unverified,
}


def upgrade(db: pw.Database, default_artifact_root: str) -> int:
    """Create or upgrade the schema of ``db`` to SCHEMA_VERSION; returns the version."""
    dbmod.bind(db)
    with db.connection_context():
        version = current_version(db) or 0
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"Database schema version {version} is newer than this server's ({SCHEMA_VERSION}); "
                "upgrade modelops-registry."
            )
        if version == 0:
            with db.atomic():
                _create(db)
                _record(SCHEMA_VERSION)
        else:
            for target in range(version + 1, SCHEMA_VERSION + 1):
                with db.atomic():
                    _STEPS[target](db)
                    _record(target)
        _ensure_default_experiment(db, default_artifact_root)
    return SCHEMA_VERSION


def _record(version: int) -> None:
    SchemaVersion.delete().execute()
    SchemaVersion.insert(version=version).execute()


def _ensure_default_experiment(db: pw.Database, default_artifact_root: str) -> None:
    if Experiment.select().where(Experiment.experiment_id == DEFAULT_EXPERIMENT_ID).exists():
        return
    now = now_ms()
    location = default_artifact_root.rstrip("/") + "/" + str(DEFAULT_EXPERIMENT_ID)
    if default_artifact_root.endswith(":/"):
        location = default_artifact_root + str(DEFAULT_EXPERIMENT_ID)
    with db.atomic():
        if dbmod.dialect(db) == "mysql":
            # An explicit 0 in an AUTO_INCREMENT column means "next value" unless told otherwise.
            db.execute_sql("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')")
        Experiment.insert(
            experiment_id=DEFAULT_EXPERIMENT_ID,
            name=DEFAULT_EXPERIMENT_NAME,
            artifact_location=location,
            lifecycle_stage=ACTIVE,
            creation_time=now,
            last_update_time=now,
        ).execute()


def check(db: pw.Database, default_artifact_root: str, create_if_empty: bool = True) -> int:
    """At server start: create an empty database's schema, refuse an outdated one."""
    dbmod.bind(db)
    with db.connection_context():
        version = current_version(db)
    if version is None and create_if_empty:
        return upgrade(db, default_artifact_root)
    if version is None or version < SCHEMA_VERSION:
        raise SchemaError(
            f"Database schema is at version {version or 0}, this server needs {SCHEMA_VERSION}. "
            "Back up the database, then run: modelops db upgrade <backend-store-uri>"
        )
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"Database schema version {version} is newer than this server's ({SCHEMA_VERSION}); "
            "upgrade modelops-registry."
        )
    return version
