"""Database connection from MLflow-style backend store URIs, and the schema version.

Supported URIs (spelled as MLflow users spell them):
    sqlite:///relative/file.db   sqlite:////absolute/file.db   sqlite:///:memory:
    postgresql://user:pw@host:port/db   (also postgres://, postgresql+psycopg2://)
    mysql://user:pw@host:port/db        (also mysql+pymysql://, mariadb://)
"""

from __future__ import annotations

import os
import threading
from urllib.parse import parse_qsl, unquote, urlsplit

import peewee
from playhouse.pool import MaxConnectionsExceeded, PooledMySQLDatabase, PooledPostgresqlDatabase

from registry_core.checkpointer import BACKSTOP, Checkpointer
from registry_core.errors import Busy, InvalidInput

database = peewee.DatabaseProxy()

# Bump when the schema changes; registry_core.schema.upgrade() knows every step.
SCHEMA_VERSION = 5

_POOL_SIZE = int(os.environ.get("MODELOPS_DB_POOL_SIZE", "16"))
# MySQL's GROUP_CONCAT stops at group_concat_max_len bytes (default 1,024; MariaDB clamps this to
# its own maximum); set for every connection.
GROUP_CONCAT_MAX_LEN = 4294967295


class SchemaError(RuntimeError):
    """The database schema is missing, outdated or newer than this server."""


_applied = threading.local()


class TracksWrites:
    """Remembers, per thread, whether the work under way has changed the database: a commit, or
    a write statement outside a transaction (autocommitted). A request refused for load may only
    say "retry" (503) while nothing of it was applied; ``begin_work``/``work_applied`` tell."""

    def commit(self):
        super().commit()
        _applied.value = True
        self.wrote()

    def execute_sql(self, sql, params=None):
        cursor = super().execute_sql(sql, params)
        if not self.in_transaction() and not sql.lstrip()[:6].upper().startswith(("SELECT", "PRAGMA", "SHOW", "SET")):
            _applied.value = True
            self.wrote()
        return cursor

    def wrote(self) -> None:
        """Called after each commit or autocommitted write."""


def begin_work() -> None:
    """Start counting this thread's changes afresh (at the start of a request)."""
    _applied.value = False


def work_applied() -> bool:
    """Whether this thread changed the database since ``begin_work``."""
    return getattr(_applied, "value", False)


class _PostgresDatabase(TracksWrites, PooledPostgresqlDatabase):
    def execute_sql(self, sql, params=None):
        try:
            return super().execute_sql(sql, params)
        except ValueError as exc:
            # psycopg2 refuses a string holding NUL before sending it (PostgreSQL's text cannot
            # hold one; SQLite and MySQL store it): a value the database cannot hold, as DataError
            if "NUL (0x00)" not in str(exc):
                raise
            raise peewee.DataError(str(exc)) from exc


class _MySQLDatabase(TracksWrites, PooledMySQLDatabase):
    pass


class SerializedSqliteDatabase(TracksWrites, peewee.SqliteDatabase):
    """SQLite whose write transactions take a process-wide lock before ``BEGIN IMMEDIATE``.

    SQLite admits one writer at a time; threads of one worker that meet at BEGIN would otherwise
    wait in SQLite's busy handler, which sleeps in growing steps (up to 100 ms): the tail latency
    of concurrent single log-metric calls (bench W2, 8 threads: p99 88 ms). Threads queue on the
    lock instead and proceed as soon as the writer before them commits. Other processes still
    meet at SQLite's own lock."""

    LOCK_TIMEOUT = 10.0

    def __init__(self, *args, checkpoints: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._writer = threading.Lock()
        self._holder = threading.local()
        # WAL checkpoints off the requests (registry_core.checkpointer), for a database file
        self.checkpointer = Checkpointer(self.database, self._writer) if checkpoints else None

    def wrote(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.committed()

    def begin(self, lock_type=None):
        if not self._writer.acquire(timeout=self.LOCK_TIMEOUT):
            raise Busy("The database is busy with other writes; retry the request")
        self._holder.held = True
        try:
            super().begin(lock_type)
        except BaseException:
            self._release()
            raise

    def commit(self):
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self._release()

    def _release(self):
        if getattr(self._holder, "held", False):
            self._holder.held = False
            self._writer.release()


def _split(uri: str):
    parts = urlsplit(uri)
    options = dict(parse_qsl(parts.query))
    return parts, options


def open_database(uri: str, checkpoints: bool = True) -> peewee.Database:
    """A peewee database for ``uri`` (not yet bound to the models). ``checkpoints``: a SQLite
    file's WAL is checkpointed by a background thread (registry_core.checkpointer); a process
    that only prepares the schema and then forks (the server's arbiter) opens it without."""
    scheme = uri.split(":", 1)[0].lower()
    if scheme == "sqlite":
        path = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else ""
        if not path:
            raise InvalidInput(f"Invalid SQLite URI {uri!r}: use sqlite:///path/to/file.db")
        in_memory = path == ":memory:"
        if not in_memory:
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
        return SerializedSqliteDatabase(
            path,
            checkpoints=checkpoints and not in_memory,
            pragmas={
                "journal_mode": "wal",
                "synchronous": "normal",
                "busy_timeout": 5000,
                "foreign_keys": 1,
                "cache_size": -4000,  # 4 MB of page cache per connection (one per thread)
                # the checkpointer's thread checkpoints; a request only if it falls far behind
                "wal_autocheckpoint": BACKSTOP if not in_memory else 1000,
            },
            timeout=5,
            check_same_thread=False,
            # Write transactions take the write lock when they begin: a deferred transaction that
            # read first and then writes fails at once (SQLITE_BUSY_SNAPSHOT) under concurrent
            # writers instead of waiting out busy_timeout.
            lock_type="IMMEDIATE",
        )
    parts, options = _split(uri)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    name = parts.path.lstrip("/")
    if not name:
        raise InvalidInput(f"Backend store URI {uri!r} names no database")
    kwargs = {"host": parts.hostname or "localhost", "user": user}
    if password is not None:
        kwargs["password"] = password
    if parts.port:
        kwargs["port"] = parts.port
    if scheme in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        kwargs.update({k: v for k, v in options.items() if k in ("sslmode", "options", "application_name")})
        return _PostgresDatabase(name, max_connections=_POOL_SIZE, stale_timeout=300, timeout=10, **kwargs)
    if scheme in ("mysql", "mysql+pymysql", "mariadb", "mariadb+pymysql", "mysql+mysqldb"):
        if "unix_socket" in options:
            kwargs["unix_socket"] = options["unix_socket"]
        return _MySQLDatabase(
            name,
            max_connections=_POOL_SIZE,
            stale_timeout=300,
            timeout=10,
            charset="utf8mb4",
            # bulk-interval reads a run's steps as one GROUP_CONCAT (registry_core.metric_history)
            init_command=f"SET SESSION group_concat_max_len = {GROUP_CONCAT_MAX_LEN}",
            # TEXT holds 65,535 bytes: too little for MLflow's limits in utf8mb4 (a 100,000-char
            # registry tag, a 16 MB dataset profile). Text columns are LONGTEXT on MySQL.
            field_types={"TEXT": "LONGTEXT"},
            **kwargs,
        )
    raise InvalidInput(f"Unsupported backend store URI {uri!r}: expected sqlite:///, postgresql:// or mysql://")


def dialect(db: peewee.Database | None = None) -> str:
    db = db or database.obj
    if isinstance(db, peewee.PostgresqlDatabase):
        return "postgresql"
    if isinstance(db, peewee.MySQLDatabase):
        return "mysql"
    return "sqlite"


# Refusals for load, after which the database has rolled the statement's transaction back:
# a retry is safe. SQLite: SQLITE_BUSY, SQLITE_LOCKED. PostgreSQL (SQLSTATE): serialization
# failure, deadlock, lock not available, statement timeout or cancel, too many connections,
# out of resources, cannot connect now. MySQL/MariaDB (error numbers): lock wait timeout,
# deadlock, too many connections, too many connections for the user.
_SQLITE_TRANSIENT = {5, 6}
_POSTGRES_TRANSIENT = {"40001", "40P01", "55P03", "57014", "53300", "53000", "53200", "57P03"}
_MYSQL_TRANSIENT = {1205, 1213, 1040, 1203}


def _driver_error(exc: BaseException) -> BaseException:
    """The DB-API exception behind a peewee one (peewee re-raises it wrapped, as args[0])."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
    return inner or exc.__context__ or exc


def _mysql_errno(err: BaseException) -> int | None:
    """The error number of a PyMySQL error (its first argument), else None."""
    if type(err).__module__.startswith("pymysql") and err.args and isinstance(err.args[0], int):
        return err.args[0]
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is the database refusing work for load or contention, with nothing applied
    (the transaction was rolled back): the client may retry. A lost connection is not: whether a
    commit in flight was applied is unknown."""
    err = _driver_error(exc)
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_TRANSIENT
    pgcode = getattr(err, "pgcode", None)
    if pgcode is not None:
        return pgcode in _POSTGRES_TRANSIENT
    errno = _mysql_errno(err)
    return errno is not None and errno in _MYSQL_TRANSIENT


# A server that is down or refusing connections (rather than one that refuses these
# credentials or knows no such database, which retrying will not mend).
_REFUSED_WORDS = ("connection refused", "could not connect", "timeout expired", "can't connect")
_MYSQL_CANNOT_CONNECT = {2003}


def _unreachable(exc: BaseException) -> bool:
    if isinstance(exc, MaxConnectionsExceeded) or is_transient(exc):
        return True
    err = _driver_error(exc)
    errno = _mysql_errno(err)
    if errno is not None:
        return errno in _MYSQL_CANNOT_CONNECT
    return getattr(err, "pgcode", None) is None and any(w in str(err).lower() for w in _REFUSED_WORDS)


def connect(db: peewee.Database) -> None:
    """Open (or reuse) this thread's connection. ``Busy`` when none can be had for load or an
    unreachable server (pool exhausted, too many connections, connection refused): nothing was
    sent, so nothing was applied. A refused login or an unknown database is raised as it is."""
    try:
        db.connect(reuse_if_open=True)
    except (MaxConnectionsExceeded, peewee.OperationalError, peewee.InterfaceError) as exc:
        if not _unreachable(exc):
            raise
        raise Busy("The database is unavailable (no connection could be had); retry the request") from exc


_bind_lock = threading.Lock()


def bind(uri_or_db) -> peewee.Database:
    """Bind the models to the database named by ``uri_or_db`` and return it."""
    db = open_database(uri_or_db) if isinstance(uri_or_db, str) else uri_or_db
    with _bind_lock:
        database.initialize(db)
    return db
