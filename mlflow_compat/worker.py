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

Per request, gunicorn also re-derived what cannot change within a worker (py-spy of a trivial
WSGI app under bench W2's load, share of the worker's busy time): every setting is read through
``Config.__getattr__`` (a dict lookup and a validator's ``get``; 5-8% with the fast parser's
per-request flag check), the peer's address is parsed by ``ipaddress`` to decide whether it may
set forwarding headers (7%), and the ``Date`` header is formatted anew (4%). Here the settings are
read once (``SettledConfig``), the trust decision is kept per peer address, and the date is
formatted once a second; the values are the same.

A request gunicorn cannot read (a malformed request line or header, a head over its limits) is
answered with gunicorn's status as MLflow's JSON error (``error_code``, ``message``), not
gunicorn's HTML page.
"""
from __future__ import annotations

import email.utils
import errno
import io
import json
import select
import time

from gunicorn import util
from gunicorn.http import message, wsgi
from gunicorn.workers.gthread import ThreadWorker as GThreadWorker

from mlflow_compat.http1 import PlainReader

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
# In the WSGI environ of this worker's requests: a response may yield memoryviews, each sent
# before the next is asked for (an artifact read with direct I/O reuses its buffers).
WRITES_VIEWS = "modelops.writes_views"


class SettledConfig:
    """A worker's gunicorn ``Config``, each setting read from it once. A worker never changes
    its settings (a reload starts new workers), so the first value read is the value; setting
    one through this view is refused rather than silently diverging from the config."""

    def __init__(self, cfg):
        object.__setattr__(self, "_cfg", cfg)

    def __getattr__(self, name):
        value = getattr(self._cfg, name)
        object.__setattr__(self, name, value)
        return value

    def __setattr__(self, name, value):
        raise AttributeError(f"the worker's settings are fixed; cannot set {name}")


_TRUST_CACHE_LIMIT = 4096
_allow_list_check = message._ip_in_allow_list
_trusted: dict = {}


def _ip_in_allow_list(ip_str, allow_list, networks):
    """gunicorn's check of a peer against ``forwarded_allow_ips``, once per (peer address,
    allow list); the lists are the settled config's own objects, fixed for the worker's life."""
    key = (ip_str, id(allow_list), id(networks))
    found = _trusted.get(key)
    if found is None:
        if len(_trusted) >= _TRUST_CACHE_LIMIT:
            _trusted.clear()
        found = _trusted[key] = (_allow_list_check(ip_str, allow_list, networks), allow_list, networks)
    return found[0]


_date = [0, ""]


def http_date(timestamp=None) -> str:
    """gunicorn's ``util.http_date``, formatted once per second (its resolution)."""
    if timestamp is not None:
        return email.utils.formatdate(timestamp, localtime=False, usegmt=True)
    now = int(time.time())
    if _date[0] != now:
        _date[1] = email.utils.formatdate(now, localtime=False, usegmt=True)
        _date[0] = now
    return _date[1]


def write_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request it could not read (a malformed request line or header, a
    head over its limits), as MLflow's JSON error where gunicorn writes an HTML page; the same
    status, and the connection closed as gunicorn closes it."""
    body = json.dumps({"error_code": "BAD_REQUEST" if status_int < 500 else "INTERNAL_ERROR",
                       "message": mesg or reason}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


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
        if type(arg) is memoryview:
            return self._write_view(arg)
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

    def _write_view(self, view: memoryview) -> None:
        """gunicorn's ``write`` (26.x) for a memoryview, which its own refuses (``bytes`` only):
        the same bookkeeping, sent before this returns, so the app may reuse the view's buffer
        for its next chunk (``WRITES_VIEWS``)."""
        self.send_headers()
        if self._omits_body:  # werkzeug sends no body for HEAD, 1xx, 204 and 304 anyway
            return
        tosend = len(view)
        if self.response_length is not None:
            if self.sent >= self.response_length:
                return
            tosend = min(self.response_length - self.sent, tosend)
            view = view[:tosend]
        if self.chunked and tosend == 0:
            return
        self.sent += tosend
        self._emit_body(view)


_gunicorn_base_environ = wsgi.base_environ


def _base_environ(cfg):
    environ = _gunicorn_base_environ(cfg)
    environ[WRITES_VIEWS] = True
    return environ


class ThreadWorker(GThreadWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._last_heartbeat = 0.0
        self._plain: PlainReader | None = None  # set in the worker process (init_process)

    def init_process(self):
        # gthread builds each response with wsgi.create(), which makes a wsgi.Response; this
        # worker process serves only this app.
        wsgi.Response = OneSendResponse
        wsgi.base_environ = _base_environ
        message._ip_in_allow_list = _ip_in_allow_list
        util.http_date = http_date
        util.write_error = write_error
        self.cfg = SettledConfig(self.cfg)
        if getattr(self.log, "cfg", None) is not None:  # the access log asks it on every request
            self.log.cfg = SettledConfig(self.log.cfg)
        self._plain = PlainReader(self.cfg)
        super().init_process()

    def notify(self):
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self._last_heartbeat = now
            super().notify()

    def handle(self, conn):
        keepalive = self._serve(conn)
        served = 1
        while keepalive is True and self.alive and (
            _pipelined(conn)
            or (served < MAX_CONSECUTIVE and self._alone() and _readable(conn.sock, LINGER_SECONDS))
        ):
            keepalive = self._serve(conn)
            served += 1
        return keepalive

    def _serve(self, conn):
        """One request: a plain one on a connection gunicorn has set up is read by
        ``http1.PlainReader`` and answered by gunicorn's own ``handle_request``; any other (a
        connection's first request, TLS, HTTP/2, chunked or large bodies, anything gunicorn's
        header policy decides) by gunicorn's ``handle``, which also answers every malformed one."""
        plain = self._plain
        if plain is None or not plain.enabled or not conn.initialized or conn.is_http2 or conn.parser is None:
            return super().handle(conn)
        req = None
        try:
            conn.sock.setblocking(True)  # as gthread's handle: the poller left it non-blocking
            req = plain.read(conn)
            if req is None:
                return super().handle(conn)
            # The body is read whole: nothing of it is left on the socket to drain.
            return self.handle_request(req, conn)
        except StopIteration as e:  # the app failed after its headers went out: closed
            self.log.debug("Closing connection. %s", e)
        except OSError as e:  # gthread's handling of socket errors
            if e.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.exception("Socket error processing request.")
            else:
                self.log.debug("Ignoring socket error: %s", e)
        except Exception as e:
            self.handle_error(req, conn.sock, conn.client, e)
        return False

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
