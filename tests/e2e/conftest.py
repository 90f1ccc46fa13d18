"""Fixtures for the end-to-end suite: a real server process per backend.

One server per test session and backend.  SQLite always runs; PostgreSQL and
MySQL/MariaDB run as well when ``MODELOPS_TEST_POSTGRES_URI`` /
``MODELOPS_TEST_MYSQL_URI`` name an admin connection (for instance
``postgresql://postgres@127.0.0.1:5432/test`` and
``mysql+pymysql://root@127.0.0.1:3306/test``).  Each of those gets a fresh
database ``e2e_<random>`` that is dropped afterwards.

``MODELOPS_E2E_TARGET=mlflow`` runs the very same tests against the stock
``mlflow server`` to validate them.
"""

from __future__ import annotations

import os

# Before mlflow is imported anywhere: the client sends no telemetry.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import uuid
import warnings
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.e2e import server as harness

# fixtures of the artifact tests (issue 3), registered here so that the session-scoped S3
# endpoint is shared by every module
from tests.e2e.artifact_servers import (  # noqa: F401
    art_client,
    art_tracking,
    artifact_server,
    s3_endpoint,
)

_HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config, items):
    """Every test of this directory is an e2e test (``-m "not e2e"`` skips them)."""
    for item in items:
        if str(item.path).startswith(_HERE + os.sep):
            item.add_marker(pytest.mark.e2e)


def _backends() -> list[str]:
    """SQLite, and each server database whose admin URI is set; with
    ``MODELOPS_REQUIRE_ALL_DATABASES=1`` (``.ci/run``) a missing one fails the run."""
    backends = ["sqlite"]
    for kind, var in (("postgresql", "MODELOPS_TEST_POSTGRES_URI"), ("mysql", "MODELOPS_TEST_MYSQL_URI")):
        if os.environ.get(var):
            backends.append(kind)
        elif os.environ.get("MODELOPS_REQUIRE_ALL_DATABASES") == "1":
            raise RuntimeError(f"{var} is not set and MODELOPS_REQUIRE_ALL_DATABASES=1")
    return backends


def _with_database(uri: str, dbname: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


class _PostgresDatabase:
    def __init__(self, admin_uri: str):
        self.admin_uri = admin_uri
        self.name = f"e2e_{uuid.uuid4().hex[:12]}"

    def _connect(self):
        import psycopg2

        conn = psycopg2.connect(self.admin_uri)
        conn.autocommit = True
        return conn

    def create(self) -> str:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            conn.close()
        uri = _with_database(self.admin_uri, self.name)
        # the reference server goes through SQLAlchemy, whose default PostgreSQL
        # driver (psycopg 3) is not installed: name psycopg2 explicitly
        if harness.is_reference():
            for scheme in ("postgres://", "postgresql://"):
                if uri.startswith(scheme):
                    uri = "postgresql+psycopg2://" + uri[len(scheme) :]
        return uri

    def drop(self) -> None:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            conn.close()


class _MysqlDatabase:
    def __init__(self, admin_uri: str):
        self.admin_uri = admin_uri
        self.name = f"e2e_{uuid.uuid4().hex[:12]}"

    def _connect(self):
        import pymysql

        parts = urlsplit(self.admin_uri)
        return pymysql.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            autocommit=True,
        )

    def create(self) -> str:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                # the server's default collation (case-insensitive on MariaDB), as a
                # plain `CREATE DATABASE mlflow` gives; MODELOPS_TEST_MYSQL_COLLATION
                # picks another one (e.g. utf8mb4_bin)
                collation = os.environ.get("MODELOPS_TEST_MYSQL_COLLATION")
                suffix = f" COLLATE {collation}" if collation else ""
                cur.execute(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4{suffix}")
        finally:
            conn.close()
        uri = _with_database(self.admin_uri, self.name)
        if harness.is_reference() and uri.startswith("mysql://"):
            uri = "mysql+pymysql://" + uri[len("mysql://") :]
        return uri

    def drop(self) -> None:
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{self.name}`")
        finally:
            conn.close()


@pytest.fixture(scope="session")
def _client_env():
    """No 4-minute retry loops when a server answers 5xx (the client retries 7
    times with backoff by default), and no tracking URI from the environment."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0"))
        mp.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "60"))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield


@pytest.fixture(scope="session", params=_backends())
def server(request, tmp_path_factory, _client_env):
    """A running server (ours, or the reference with MODELOPS_E2E_TARGET=mlflow)."""
    backend = request.param
    tmpdir = tmp_path_factory.mktemp(f"e2e-{backend}")
    database = None
    backend_uri = None
    if backend == "postgresql":
        database = _PostgresDatabase(os.environ["MODELOPS_TEST_POSTGRES_URI"])
    elif backend == "mysql":
        database = _MysqlDatabase(os.environ["MODELOPS_TEST_MYSQL_URI"])
    if database is not None:
        backend_uri = database.create()
    try:
        srv, error = None, None
        try:
            srv = harness.start_server(tmpdir, backend_uri=backend_uri)
        except harness.ServerError as exc:
            error = str(exc)
        if srv is None:  # outside the except: no chained traceback in the report
            pytest.fail(f"{harness.target()} server ({backend}) did not start:\n{error}", pytrace=False)
        srv.backend = backend
        try:
            yield srv
        finally:
            srv.stop()
            if srv.killed:
                warnings.warn(
                    f"{harness.target()} server ({backend}) ignored SIGTERM for 5 s and was killed", stacklevel=1
                )
            if os.environ.get("MODELOPS_E2E_SHOW_LOGS"):
                print(srv.logs_tail(20000))
    finally:
        if database is not None:
            database.drop()


@pytest.fixture(scope="session")
def is_reference() -> bool:
    """True when the suite runs against the stock mlflow server."""
    return harness.is_reference()


@pytest.fixture
def tracking(server):
    """Point the mlflow client at the server; leave no run active afterwards."""
    import mlflow

    mlflow.set_tracking_uri(server.url)
    yield server.url
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def client(tracking):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking)


@pytest.fixture
def uniq():
    """``uniq("name")`` -> ``"name-<hex>"``: names unique across tests and backends."""

    def make(prefix: str = "e2e") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make


@pytest.fixture
def api(server):
    """Raw HTTP helper: ``api.get("experiments/get", experiment_id=...)``."""
    return RawApi(server.url)


class RawApi:
    def __init__(self, base_url: str):
        import requests

        self.base = base_url
        self.session = requests.Session()

    def url(self, path: str, version: str = "2.0", prefix: str = "api") -> str:
        if path.startswith("/"):
            return self.base + path
        return f"{self.base}/{prefix}/{version}/mlflow/{path}"

    def get(self, path: str, params=None, **kw):
        return self.session.get(self.url(path, **_split(kw)), params=params, timeout=30)

    def post(self, path: str, json=None, **kw):
        return self.session.post(self.url(path, **_split(kw)), json=json, timeout=30)

    def request(self, method: str, path: str, **kw):
        kw.setdefault("timeout", 30)
        return self.session.request(method, self.url(path), **kw)


def _split(kw: dict) -> dict:
    return {k: kw[k] for k in ("version", "prefix") if k in kw}
