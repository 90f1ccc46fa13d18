"""WAL checkpoints of a SQLite database run in a thread of the process's own, not in the request
whose commit fills the WAL (registry_core/checkpointer.py), and the WAL still starts over."""

from __future__ import annotations

import os
import sqlite3
import struct
import threading
import time

import pytest

from registry_core import checkpointer as checkpointer_module
from registry_core import db as core_db
from registry_core.checkpointer import BACKSTOP

ROW = "x" * 3000  # about a page a row


def wait_for(condition, timeout: float = 10.0) -> None:
    """Poll until ``condition()`` holds (the checkpointer's thread works on its own time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture
def database(tmp_path):
    db = core_db.open_database(f"sqlite:///{tmp_path / 'wal.db'}")
    db.connect()
    db.execute_sql("CREATE TABLE t (n INTEGER, body TEXT)")
    yield db
    db.close()


def commit_rows(db, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        with db.atomic():
            db.execute_sql("INSERT INTO t VALUES (?, ?)", (n, ROW))


def test_requests_leave_checkpoints_to_the_thread(database):
    assert database.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP
    commit_rows(database, 50)
    wait_for(lambda: database.checkpointer.checkpoints >= 1)
    assert database.execute_sql("SELECT COUNT(*) FROM t").fetchone()[0] == 50


def wal_generation(path: str) -> int:
    """The WAL header's checkpoint sequence number: one more each time the WAL starts over."""
    with open(path, "rb") as wal:
        return struct.unpack(">I", wal.read(16)[12:16])[0]


def test_a_steady_stream_of_commits_still_starts_the_wal_over(database):
    """Commits land while the thread copies, so a copy seldom ends with the whole WAL copied back
    and a write seldom starts it over; once it holds restart_pages pages, one checkpoint runs
    with the write lock held, and the write after it starts the WAL over."""
    checkpointer = database.checkpointer
    checkpointer.restart_pages, checkpointer.gather = 64, 0.01
    wal = database.database + "-wal"
    first, rows = wal_generation(wal), 0
    # without the locked pass: only when a copy happens to end between two commits (6,600 rows here)
    while wal_generation(wal) < first + 2 and rows < 20_000:
        commit_rows(database, 100, start=rows)
        rows += 100
    assert wal_generation(wal) >= first + 2 and checkpointer.restarts >= 1, rows
    assert database.execute_sql("SELECT COUNT(*), SUM(n) FROM t").fetchone() == (rows, sum(range(rows)))


def test_an_in_memory_database_has_no_checkpointer():
    db = core_db.open_database("sqlite:///:memory:")
    assert db.checkpointer is None


def test_a_forked_child_checkpoints_with_a_thread_of_its_own(database):
    commit_rows(database, 5)
    wait_for(lambda: database.checkpointer.checkpoints >= 1)
    database.close()  # a connection is not shared with the child
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            before = database.checkpointer.checkpoints
            database.connect()
            commit_rows(database, 5, start=5)
            wait_for(lambda: database.checkpointer.checkpoints > before)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_thread_ends_when_idle_and_the_next_commit_starts_another(database, monkeypatch):
    monkeypatch.setattr("registry_core.checkpointer.IDLE", 0.05)
    checkpointer = database.checkpointer
    commit_rows(database, 3)
    wait_for(lambda: checkpointer.checkpoints >= 1)
    first = checkpointer.thread
    wait_for(lambda: not first.is_alive())
    done = checkpointer.checkpoints
    commit_rows(database, 3, start=3)
    wait_for(lambda: checkpointer.checkpoints > done)
    assert checkpointer.thread is not first and checkpointer.thread.is_alive()


def test_a_fork_waits_until_the_thread_is_out_of_sqlite(tmp_path, monkeypatch):
    """A process forked while the thread is inside SQLite would get SQLite's mutexes locked by a
    thread it does not have, and its first connection would wait forever (a worker forked by an
    arbiter whose checkpointer was opening its connection never answered). The fork waits until
    the thread is out (here it is held inside its connection's opening), and the child opens
    SQLite."""
    inside, leave = threading.Event(), threading.Event()

    class SlowToOpen:
        Error = sqlite3.Error

        @staticmethod
        def connect(*args, **kwargs):
            inside.set()
            assert leave.wait(10)
            return sqlite3.connect(*args, **kwargs)

    monkeypatch.setattr(checkpointer_module, "sqlite3", SlowToOpen)
    database = core_db.open_database(f"sqlite:///{tmp_path / 'fork.db'}")
    database.checkpointer.gather = 0.0
    database.connect()
    database.execute_sql("CREATE TABLE t (n INTEGER, body TEXT)")
    commit_rows(database, 1)  # the commits start the thread, which opens its connection
    assert inside.wait(10)
    seen = {}

    def fork():
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit status
            try:
                with sqlite3.connect(database.database, timeout=5) as child:
                    os._exit(0 if child.execute("SELECT COUNT(*) FROM t").fetchone() == (1,) else 1)
            except BaseException:
                os._exit(1)
        seen["out of sqlite first"], seen["pid"] = leave.is_set(), pid

    forking = threading.Thread(target=fork)
    forking.start()
    forking.join(0.3)
    assert forking.is_alive()  # held back by the thread inside SQLite
    leave.set()
    forking.join(10)
    assert seen["out of sqlite first"]
    _, status = os.waitpid(seen["pid"], 0)
    assert os.waitstatus_to_exitcode(status) == 0
    wait_for(lambda: database.checkpointer.checkpoints >= 1)  # the thread went on in the parent
    database.close()
