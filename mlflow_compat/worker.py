"""The gunicorn worker: gthread, with less hand-off per request for a lone keep-alive client.

gunicorn's gthread worker hands every request of a keep-alive connection from its main thread
to a pool thread and back: the main loop polls the socket, submits it to the pool, and after the
answer re-registers it through a wake-up pipe, then touches the heartbeat file. For one
``log-metric`` call that machinery cost more than the call itself (py-spy on bench W2). This
worker keeps gthread's design and changes three things:

* a request the client pipelined behind the one just answered is served at once by the same
  thread (gthread left it unanswered: the poller watches the socket, and the request was already
  read from it);
* while a connection is the only one the worker is serving (one training script logging in a
  loop, the common case; idle keep-alive connections do not count), the pool thread that
  answered it waits briefly for its next request and serves it directly; as soon as another
  connection is active, or the client pauses, the connection goes back to the main poller as in
  gthread. (Lingering with several clients was
  measured slower: pool threads waiting on their own sockets contend for the GIL.)
* the heartbeat (an ``fchmod`` of the worker's temp file) is written at most once per second
  instead of on every loop turn; the arbiter only needs one within ``timeout`` (120 s).

And each small response leaves in one ``send``: gunicorn sends the status line and headers,
then the body, as two. On loopback each send runs the receiving side's TCP processing and wakes
the client, which reads the headers and sleeps again until the body arrives: for a ``{}`` answer
the header send was 45% of the worker's busy time (py-spy, bench W2 at one client thread).
"""
from __future__ import annotations

import io
import select
import time

from gunicorn.http import wsgi
from gunicorn.workers.gthread import ThreadWorker as GThreadWorker

# How long a pool thread waits on its connection for the client's next request. A client
# logging in a loop sends it well within this; a longer pause returns the connection to the
# poller, where it waits without holding a thread.
LINGER_SECONDS = 0.002
# Requests served back to back on one connection before it goes through the poller again.
MAX_CONSECUTIVE = 1000
HEARTBEAT_SECONDS = 1.0
# A first body write up to this size goes out with the headers; a larger one (an artifact, a long
# history page) is sent as gunicorn sends it, without another copy of it.
ONE_SEND_LIMIT = 64 * 1024


class _Held:
    """Stands in for the socket while gunicorn writes a response's head and first body bytes:
    keeps what it is given, for one ``sendall`` after."""

    __slots__ = ("parts",)

    def __init__(self):
        self.parts: list[bytes] = []

    def sendall(self, data) -> None:
        self.parts.append(data)


class OneSendResponse(wsgi.Response):
    """gunicorn's response, whose head goes out with its first body write when that is small.
    gunicorn's own code still builds the head, frames a chunked body and trims to the declared
    length; only its socket writes are gathered."""

    def write(self, arg):
        if self.headers_sent or not isinstance(arg, bytes) or len(arg) > ONE_SEND_LIMIT:
            return super().write(arg)
        sock, held = self.sock, _Held()
        self.sock = held
        try:
            super().write(arg)
        finally:
            self.sock = sock
        if held.parts:
            sock.sendall(b"".join(held.parts))


class ThreadWorker(GThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._last_heartbeat = 0.0

    def init_process(self):
        # gthread builds each response with wsgi.create(), which makes a wsgi.Response; this
        # worker process serves only this app.
        wsgi.Response = OneSendResponse
        super().init_process()

    def notify(self):
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self._last_heartbeat = now
            super().notify()

    def handle(self, conn):
        keepalive = super().handle(conn)
        served = 1
        while keepalive is True and self.alive and (
            _pipelined(conn)
            or (served < MAX_CONSECUTIVE and self._alone() and _readable(conn.sock, LINGER_SECONDS))
        ):
            keepalive = super().handle(conn)
            served += 1
        return keepalive

    def _alone(self) -> bool:
        """No other connection is being served or waiting for a thread. Idle keep-alive
        connections parked in the poller do not count (a client's connection pool, a browser
        tab); the main thread counts connections at accept, before it queues them."""
        return self.nr_conns - len(self.keepalived_conns) - len(self.pending_conns) <= 1


def _pipelined(conn) -> bool:
    """Whether the client's next request is already read: gunicorn's parser reads ahead of the
    request it parses, and a client that pipelines (sends its next request before the answer)
    leaves that request in the parser's buffer, where the poller, which watches the socket,
    never sees it (gthread then let the connection time out unanswered)."""
    buf = getattr(getattr(getattr(conn, "parser", None), "unreader", None), "buf", None)
    return buf is not None and buf.seek(0, io.SEEK_END) > 0


def _readable(sock, timeout: float) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    try:
        return bool(poller.poll(timeout * 1000))
    except OSError:
        return False
