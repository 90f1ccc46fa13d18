"""Under contention the server answers 503 with Retry-After, and only when nothing was applied, so
the client's automatic retries are safe; never a 500 for load (issue 5, point 4). Real lock
conflicts and a real exhausted pool on every backend, no simulated errors."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from mlflow_compat.app import create_app
from mlflow_compat.config import ServerConfig
from registry_core import db as core_db
from registry_core.models import Metric
from tests import databases
from tests.api.wire import API, error, ok


def _kind(uri: str) -> str:
    return uri.split(":", 1)[0]


class _LockHolder:
    """Another client of the same database holding the lock that a log-metric of ``run_id``
    needs, until ``release``."""

    def __init__(self, uri: str, run_id: str):
        self.kind = _kind(uri)
        if self.kind == "sqlite":
            self.conn = sqlite3.connect(uri[len("sqlite:///") :], isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")  # SQLite's write lock
            return
        self.conn = databases._connect(self.kind, uri)
        with self.conn.cursor() as cur:
            cur.execute("BEGIN")
            # an uncommitted row on the key the upsert of latest_metrics writes
            cur.execute(
                "INSERT INTO latest_metrics (run_uuid, experiment_id, "
                + ("`key`" if self.kind == "mysql" else '"key"')
                + ", value, timestamp, step, is_nan) VALUES (%s, 0, 'm', 1, 1, 1, false)",
                (run_id,),
            )

    def release(self):
        if self.kind == "sqlite":
            self.conn.execute("ROLLBACK")
        else:
            with self.conn.cursor() as cur:
                cur.execute("ROLLBACK")
        self.conn.close()


def _short_lock_wait(database, kind: str) -> None:
    """The app's connection gives up on a held lock quickly (it is this thread's connection)."""
    database.connect(reuse_if_open=True)
    statement = {
        "sqlite": "PRAGMA busy_timeout = 50",
        "postgresql": "SET lock_timeout = '100ms'",
        "mysql": "SET SESSION innodb_lock_wait_timeout = 1",
    }[kind]
    database.execute_sql(statement)


def test_a_write_that_meets_a_held_lock_is_503_with_nothing_applied(client, registry_db, backend_uri):
    run_id = ok(client.post(f"{API}/runs/create", json={"experiment_id": "0", "start_time": 1}))["run"]["info"][
        "run_id"
    ]
    metric = {"run_id": run_id, "key": "m", "value": 2.5, "timestamp": 10, "step": 3}
    _short_lock_wait(registry_db, _kind(backend_uri))
    holder = _LockHolder(backend_uri, run_id)
    try:
        resp = client.post(f"{API}/runs/log-metric", json=metric)
        error(resp, 503, "TEMPORARILY_UNAVAILABLE")
        assert resp.headers["Retry-After"] == "1"
    finally:
        holder.release()
    # nothing of the refused request was stored (the metric row written before the blocked
    # upsert was rolled back with it) ...
    registry_db.connect(reuse_if_open=True)
    assert Metric.select().where(Metric.run == run_id).count() == 0
    # ... so the client's retry stores the point exactly once
    ok(client.post(f"{API}/runs/log-metric", json=metric))
    assert Metric.select().where(Metric.run == run_id).count() == 1
    got = ok(client.get(f"{API}/runs/get", query_string={"run_id": run_id}))["run"]["data"]["metrics"]
    assert [(m["key"], m["value"], m["step"]) for m in got] == [("m", 2.5, 3)]


@pytest.mark.parametrize("kind", [k for k in databases.backends() if k != "sqlite"])
def test_an_exhausted_connection_pool_is_503_not_500(kind, tmp_path):
    with databases.fresh_database(kind, tmp_path) as uri:
        from registry_core import schema

        setup = core_db.open_database(uri)
        schema.upgrade(setup, "mlflow-artifacts:/")
        setup.close_all()
        database = core_db.open_database(uri)
        database._max_connections, database._wait_timeout = 1, 0.05
        config = ServerConfig.resolve(backend_store_uri=uri, artifacts_destination=str(tmp_path / "artifacts"))
        app = create_app(config, database=database)
        taken, done = threading.Event(), threading.Event()

        def hold_the_only_connection():
            database.connect()
            taken.set()
            done.wait()
            database.close()

        holder = threading.Thread(target=hold_the_only_connection)
        holder.start()
        try:
            assert taken.wait(10)
            resp = app.test_client().get(f"{API}/experiments/get", query_string={"experiment_id": "0"})
            body = error(resp, 503, "TEMPORARILY_UNAVAILABLE")
            assert resp.headers["Retry-After"] == "1"
            assert "unavailable" in body["message"]
        finally:
            done.set()
            holder.join()
        ok(app.test_client().get(f"{API}/experiments/get", query_string={"experiment_id": "0"}))
        database.close_all()


def test_transient_is_only_a_refusal_for_load(registry_db):
    """A constraint violation or a bad statement is not load: no retry is offered for it."""
    import peewee

    with pytest.raises(peewee.DatabaseError) as raised:
        registry_db.execute_sql("SELECT no_such_column FROM runs")
    assert not core_db.is_transient(raised.value)
    with pytest.raises(peewee.IntegrityError) as raised, registry_db.atomic():
        registry_db.execute_sql(
            "INSERT INTO experiments (experiment_id, name, lifecycle_stage) VALUES (0, 'again', 'active')"
        )
    assert not core_db.is_transient(raised.value)


def test_a_refusal_after_a_committed_write_is_500_not_503(client, registry_db, backend_uri, monkeypatch):
    """A request that committed a write before meeting the refusal must not invite a retry: the
    retry would apply that write twice. (A handler that commits one write and then meets a held
    lock, as a create followed by a second transaction would.)"""
    from registry_core import candidates, experiments

    run_id = ok(client.post(f"{API}/runs/create", json={"experiment_id": "0", "start_time": 1}))["run"]["info"][
        "run_id"
    ]
    _short_lock_wait(registry_db, _kind(backend_uri))

    holders = []

    def create_then_write(*args, **kwargs):
        experiments.create("committed-first", None, [], "mlflow-artifacts:/")
        holders.append(_LockHolder(backend_uri, run_id))  # another client takes the lock now
        candidates.log_metric(run_id, {"key": "m", "value": 1.0, "timestamp": 1, "step": 0})

    monkeypatch.setattr(experiments, "get", create_then_write)
    try:
        resp = client.get(f"{API}/experiments/get", query_string={"experiment_id": "0"})
    finally:
        for holder in holders:
            holder.release()
    assert len(holders) == 1
    error(resp, 500, "INTERNAL_ERROR")
    assert "Retry-After" not in resp.headers
    monkeypatch.undo()
    assert experiments.get_by_name("committed-first").name == "committed-first"


def test_work_applied_follows_commits_and_autocommitted_writes(registry_db):
    """What counts as applied: a committed transaction or a write outside one; not reads, not a
    transaction rolled back."""
    from registry_core import experiments
    from registry_core.errors import AlreadyExists

    core_db.begin_work()
    experiments.get("0")
    registry_db.execute_sql("SELECT 1")
    assert not core_db.work_applied()
    with pytest.raises(AlreadyExists), registry_db.atomic():
        experiments.create("rolled-back", None, [], "mlflow-artifacts:/")
        experiments.create("rolled-back", None, [], "mlflow-artifacts:/")
    assert not core_db.work_applied()
    with registry_db.atomic():
        experiments.create("kept", None, [], "mlflow-artifacts:/")
    assert core_db.work_applied()
    core_db.begin_work()
    registry_db.execute_sql("UPDATE experiments SET last_update_time = 1 WHERE experiment_id = 0")
    assert core_db.work_applied()


@pytest.mark.parametrize("kind", [k for k in databases.backends() if k != "sqlite"])
def test_connect_failures_are_503_only_when_a_retry_can_help(kind, tmp_path):
    """A server that refuses connections (down, restarting) is a 503 with Retry-After; a database
    that does not exist is a configuration error, a 500 the client should not keep retrying."""
    from urllib.parse import urlsplit, urlunsplit

    admin = urlsplit(databases.admin_uri(kind))
    user = admin.username or "root"
    cases = [
        (urlunsplit((admin.scheme, f"{user}@127.0.0.1:1", "/nowhere", "", "")), 503, "TEMPORARILY_UNAVAILABLE"),
        (urlunsplit((admin.scheme, admin.netloc, "/mo_no_such_database", "", "")), 500, "INTERNAL_ERROR"),
    ]
    for uri, status, code in cases:
        config = ServerConfig.resolve(backend_store_uri=uri, artifacts_destination=str(tmp_path / "artifacts"))
        app = create_app(config, database=core_db.open_database(uri))
        resp = app.test_client().get(f"{API}/experiments/get", query_string={"experiment_id": "0"})
        error(resp, status, code)
        assert ("Retry-After" in resp.headers) == (status == 503), uri
