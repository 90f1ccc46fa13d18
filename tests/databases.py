"""The database backends every storage test runs on, each test in a fresh schema/database.

SQLite always; PostgreSQL and MariaDB/MySQL when reachable (URIs from MODELOPS_TEST_POSTGRES_URI
and MODELOPS_TEST_MYSQL_URI, defaulting to this machine's services). With
MODELOPS_REQUIRE_ALL_DATABASES=1 (set by .ci/run) an unreachable server fails the run instead of
being left out. MODELOPS_TEST_DATABASES=sqlite (``make test-fast``) keeps to the listed ones.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

DEFAULT_URIS = {
    "postgresql": "postgresql://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}
ENV = {"postgresql": "MODELOPS_TEST_POSTGRES_URI", "mysql": "MODELOPS_TEST_MYSQL_URI"}


def admin_uri(kind: str) -> str:
    return os.environ.get(ENV[kind]) or DEFAULT_URIS[kind]


def _connect(kind: str, uri: str, database: str | None = None):
    parts = urlsplit(uri)
    name = database or parts.path.lstrip("/")
    if kind == "postgresql":
        import psycopg2

        conn = psycopg2.connect(
            host=parts.hostname,
            port=parts.port or 5432,
            user=parts.username,
            password=parts.password,
            dbname=name,
            connect_timeout=3,
        )
        conn.autocommit = True
        return conn
    import pymysql

    return pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username,
        password=parts.password or "",
        database=name,
        connect_timeout=3,
        autocommit=True,
    )


def reachable(kind: str) -> bool:
    try:
        _connect(kind, admin_uri(kind)).close()
        return True
    except Exception:
        return False


def backends() -> list[str]:
    required = os.environ.get("MODELOPS_REQUIRE_ALL_DATABASES") == "1"
    only = os.environ.get("MODELOPS_TEST_DATABASES")
    wanted = [k for k in ("postgresql", "mysql") if not only or k in only.split(",")]
    if required and len(wanted) < 2:
        raise RuntimeError("MODELOPS_TEST_DATABASES leaves a database out and MODELOPS_REQUIRE_ALL_DATABASES=1")
    found = ["sqlite"]
    for kind in wanted:
        if reachable(kind):
            found.append(kind)
        elif required:
            raise RuntimeError(f"{kind} at {admin_uri(kind)} is unreachable and MODELOPS_REQUIRE_ALL_DATABASES=1")
    return found


def _with_path(uri: str, database: str, query: str = "") -> str:
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, query, ""))


@contextmanager
def fresh_database(kind: str, tmp_path) -> str:
    """Yield the URI of a new, empty database of ``kind``; drop it afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/registry.db"
        return
    name = "mo_" + uuid.uuid4().hex[:16]
    admin = _connect(kind, admin_uri(kind))
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}" + (" CHARACTER SET utf8mb4" if kind == "mysql" else ""))
        try:
            yield _with_path(admin_uri(kind), name)
        finally:
            with admin.cursor() as cur:
                if kind == "postgresql":
                    cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                else:
                    cur.execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        admin.close()
