"""Version search's statement: one model's versions read off the (model, last_updated_time,
version) index, and the schema step that adds that index to an existing database."""

from __future__ import annotations

from registry_core import db as core_db
from registry_core import registry_search, schema
from registry_core.search_ast import Comparison

ROOT = "mlflow-artifacts:/"
ORDER_INDEX = "model_versions_registered_model_id_last_updated_time_version"


def _statement(comparisons, order=()):
    return registry_search.version_statement(comparisons, list(order), 1000, 0)


def test_one_model_in_the_default_order_is_the_index_read_without_a_sort(tmp_path):
    database = core_db.open_database(f"sqlite:///{tmp_path}/plan.db")
    try:
        schema.upgrade(database, ROOT)
        with database.connection_context():
            sql, params = _statement([Comparison("attribute", "name", "=", "m")])
            plan = " | ".join(row[3] for row in database.execute_sql("EXPLAIN QUERY PLAN " + sql, params))
            assert ORDER_INDEX in plan and "TEMP B-TREE" not in plan, plan
            # across models the name still orders (and a sort is the price)
            sql, _ = _statement([Comparison("attribute", "name", "LIKE", "m%")])
            assert sql.index('"t2"."name"', sql.index("ORDER BY")) > 0
    finally:
        database.close()


def _indexes(database):
    return {
        (i.name, tuple(i.columns), i.unique)
        for i in database.get_indexes("model_versions")
        if not i.name.startswith("sqlite_autoindex_")
    }


def test_upgrade_from_v2_adds_the_order_index(backend_uri):
    database = core_db.open_database(backend_uri)
    try:
        schema.upgrade(database, ROOT)
        with database.connection_context():
            fresh = _indexes(database)
            assert (ORDER_INDEX, ("registered_model_id", "last_updated_time", "version"), False) in fresh
            on = " ON model_versions" if core_db.dialect(database) == "mysql" else ""
            database.execute_sql(f"DROP INDEX {ORDER_INDEX}{on}")
            database.execute_sql("UPDATE modelops_schema SET version = 2")
        assert schema.upgrade(database, ROOT) == core_db.SCHEMA_VERSION
        assert schema.check(database, ROOT) == core_db.SCHEMA_VERSION
        with database.connection_context():
            assert _indexes(database) == fresh
    finally:
        if hasattr(database, "close_all"):
            database.close_all()
        else:
            database.close()
