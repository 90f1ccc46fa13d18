"""SQLite's WAL checkpoints, taken off the requests: a thread of the worker's own runs them.

In WAL mode a commit appends its pages to the ``-wal`` file; a checkpoint copies them back into
the database file and syncs it, and once every page of the WAL is back, the next commit starts
the WAL over from its beginning. SQLite runs a checkpoint automatically in the connection whose
commit takes the WAL past ``wal_autocheckpoint`` pages (1,000 by default), inside that request:
about 5 ms on the bench VM, once every ~150 ``log-metric`` calls, which made them the slowest 1%
of a lone client's calls (bench W2, server-side request times from gunicorn's access log).

Here each commit wakes a :class:`Checkpointer` thread, which gathers the commits of the next
``GATHER`` seconds and runs a ``PASSIVE`` checkpoint on its own connection: it copies what no
reader still needs, never waits for readers or writers and releases the GIL while it works, so
the requests go on meanwhile. Under a steady stream of commits, though, some land during nearly
every checkpoint, and the WAL, seldom wholly copied back, is seldom started over: it grew by
26 MB in 1,000 ``log-metric`` calls. So once it holds ``RESTART_PAGES`` pages, one checkpoint
runs with the process's write lock held (:class:`~registry_core.db.SerializedSqliteDatabase`):
it has only the pages of the last moment to copy, and the write after it starts the WAL over.
That is one short wait for a write now and then (every ~600 of those calls) instead of the whole
checkpoint inside a request every ~150. Request connections keep SQLite's own automatic
checkpoint at ``BACKSTOP`` pages, in case this thread falls behind or other processes keep the
WAL from restarting.

Each worker process has its own thread (started by a commit, ended after ``IDLE`` seconds
without one; a forked child starts its own); two processes' checkpoints do not run at once, the
second simply finds less or nothing to copy. The database file is synced by every checkpoint, as
before (``synchronous=NORMAL``): what a crash can lose does not change.

A process that forks while this thread is inside SQLite would hand the child SQLite's mutexes
locked by a thread the child does not have: the child's first ``sqlite3.connect`` then waits
forever (a gunicorn worker forked while its arbiter's checkpointer was opening its connection
never answered). So a fork waits until no checkpointer thread of the process is inside SQLite,
and the child starts with none (``os.register_at_fork``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref

__all__ = ["BACKSTOP", "GATHER", "IDLE", "RESTART_PAGES", "Checkpointer"]

log = logging.getLogger("modelops")

GATHER = 0.1  # seconds of commits one checkpoint takes together
RESTART_PAGES = 4_096  # 16 MiB of WAL: one checkpoint with the write lock held, so the WAL starts over
BACKSTOP = 10_000  # pages (40 MiB): a request connection's own automatic checkpoint
IDLE = 10.0  # seconds without a commit after which the thread ends


class Checkpointer:
    """Checkpoints the WAL of the SQLite file at ``path`` from a background thread, woken by
    :meth:`committed`; ``write_lock`` is what the process's writers hold while they write. The
    thread (and its connection) ends after ``IDLE`` seconds without a commit; the next commit
    starts another. Thread-safe; cheap to call on every commit."""

    def __init__(self, path: str, write_lock, gather: float = GATHER, restart_pages: int = RESTART_PAGES):
        self.path = path
        self.write_lock = write_lock
        self.gather = gather
        self.restart_pages = restart_pages
        # completed in this process, for tests and diagnostics: all of them, and those with the lock
        self.checkpoints = 0
        self.restarts = 0
        self._reset()
        _instances.add(self)

    def _reset(self) -> None:
        """No thread yet (a new instance, or the child of a fork: its parent's thread is not in it)."""
        self._wake = threading.Event()
        self._lock = threading.Lock()
        # held while the thread is inside SQLite (opening, checkpointing, closing): a fork waits
        # for it. Taken after the write lock, never held while waiting for it.
        self._in_sqlite = threading.Lock()
        self._running = False
        self.thread: threading.Thread | None = None  # the last one started

    def committed(self) -> None:
        """A commit appended to the WAL: checkpoint it soon."""
        self._wake.set()
        if not self._running:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._running = True
        self.thread = threading.Thread(target=self._run, name="modelops-checkpoint", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with self._in_sqlite:
                connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:  # the requests' own automatic checkpoint stays
            log.warning("WAL checkpoints stay in the requests: cannot open %s (%s)", self.path, exc)
            return  # still marked running: no thread is started again for it
        try:
            while self._next():
                try:
                    self.checkpoint(connection)
                except sqlite3.Error as exc:  # locked by a schema change, a full disk: the next one
                    log.debug("WAL checkpoint of %s skipped: %s", self.path, exc)
        finally:
            with self._in_sqlite:
                connection.close()

    def _next(self) -> bool:
        """Wait for commits and gather them; False when none came for IDLE seconds (the thread
        ends, unless a commit arrived as it did)."""
        wake = self._wake
        while not wake.wait(IDLE):
            with self._lock:
                self._running = False
            if not wake.is_set():
                return False  # the next commit starts another thread
            with self._lock:  # a commit came meanwhile: go on, unless it started a thread itself
                if self._running:
                    return False
                self._running = True
        time.sleep(self.gather)  # the commits of the next moment join this checkpoint
        wake.clear()
        return True

    def checkpoint(self, connection: sqlite3.Connection) -> None:
        # (busy, the WAL's pages when the checkpoint began, pages copied back): commits that
        # land while it runs are in neither count
        with self._in_sqlite:
            _, pages, _ = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints += 1
        if pages < self.restart_pages:
            return
        with self.write_lock, self._in_sqlite:  # no write of this process lands during this one
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.restarts += 1


_instances: weakref.WeakSet[Checkpointer] = weakref.WeakSet()


_held: list[Checkpointer] = []  # in the forking thread, from before the fork to after it


def _before_fork() -> None:
    """Wait until no checkpointer thread of this process is inside SQLite, and keep them out."""
    _held[:] = list(_instances)
    for checkpointer in _held:
        checkpointer._in_sqlite.acquire()


def _after_fork_in_parent() -> None:
    for checkpointer in _held:
        checkpointer._in_sqlite.release()
    _held.clear()


def _after_fork_in_child() -> None:
    _held.clear()
    for checkpointer in list(_instances):
        checkpointer._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
