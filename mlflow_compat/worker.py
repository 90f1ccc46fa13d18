"""The gunicorn worker: gthread, with less hand-off per request on keep-alive connections.

gunicorn's gthread worker hands every request of a keep-alive connection from its main thread
to a pool thread and back: the main loop polls the socket, submits it to the pool, and after the
answer re-registers it through a wake-up pipe, then touches the heartbeat file. For one
``log-metric`` call that machinery cost more than the call itself (py-spy on bench W2). This
worker keeps gthread's design and changes two things:

* a pool thread that has answered a request waits briefly on the same connection for the next
  one and serves it directly, as long as no other connection is queued for a thread; otherwise,
  or when the client pauses, the connection goes back to the main poller as before;
* the heartbeat (an ``fchmod`` of the worker's temp file) is written at most once per second
  instead of on every loop turn; the arbiter only needs one within ``timeout`` (120 s).
"""
from __future__ import annotations

import select
import threading
import time

from gunicorn.workers.gthread import ThreadWorker as GThreadWorker

# How long a pool thread waits on its connection for the client's next request. A client
# logging in a loop sends it well within this; a pause longer than this returns the
# connection to the poller, where it waits without holding a thread.
LINGER_SECONDS = 0.002
# Requests served back to back on one connection before it goes through the poller again.
MAX_CONSECUTIVE = 1000
HEARTBEAT_SECONDS = 1.0


class ThreadWorker(GThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._queued = 0
        self._queued_lock = threading.Lock()
        self._last_heartbeat = 0.0

    def notify(self):
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self._last_heartbeat = now
            super().notify()

    def enqueue_req(self, conn):
        with self._queued_lock:
            self._queued += 1
        super().enqueue_req(conn)

    def handle(self, conn):
        with self._queued_lock:
            self._queued -= 1
        keepalive = super().handle(conn)
        served = 1
        while (keepalive is True and served < MAX_CONSECUTIVE and self.alive and not self._queued
               and _readable(conn.sock, LINGER_SECONDS)):
            keepalive = super().handle(conn)
            served += 1
        return keepalive


def _readable(sock, timeout: float) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    try:
        return bool(poller.poll(timeout * 1000))
    except OSError:
        return False
