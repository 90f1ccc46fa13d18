"""What each worker process of this server changes in gunicorn before it loads the app
(``settle_process``), and the pieces it puts in place: settings read once (``SettledConfig``), each
peer's forwarding-trust decision kept, the ``Date`` header formatted once a second, MLflow's JSON
error for a request gunicorn cannot read, a small response sent in one ``send``
(``OneSendResponse``) and the base environ built once (``base_environ``). Why each: the module
docstring of ``modelops_server/worker.py``, which serves the requests."""

from __future__ import annotations

import email.utils
import io
import json
import time

from mlflow_compat.server_environ import BODY_READER, WRITES_VIEWS
from modelops_server.body import socket_body
from modelops_server.gunicorn_private import (
    GunicornResponse,
    WSGIErrorsWrapper,
    gunicorn_base_environ,
    ip_in_allow_list,
    replace_globals,
    util,
    write_nonblock,
)

# A first body write up to this size goes out with the headers; a larger one (an artifact, a long
# history page) is sent as gunicorn sends it, without another copy of it.
ONE_SEND_LIMIT = 64 * 1024


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
_allow_list_check = ip_in_allow_list
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
    body = json.dumps(
        {"error_code": "BAD_REQUEST" if status_int < 500 else "INTERNAL_ERROR", "message": mesg or reason}
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    write_nonblock(sock, head.encode("latin-1") + body)


class _Held:
    """Stands in for the socket while gunicorn writes a response's head and first body bytes:
    keeps what it is given, for one ``sendall`` after."""

    __slots__ = ("parts",)

    def __init__(self):
        self.parts: list[bytes] = []

    def sendall(self, data) -> None:
        self.parts.append(data)


class OneSendResponse(GunicornResponse):
    """gunicorn's response, whose head goes out with its first body write when that is small.
    gunicorn's own code still builds the head, frames a chunked body and trims to the declared
    length; only its socket writes are gathered."""

    def write(self, arg):
        if type(arg) is memoryview:
            return self._write_view(arg)
        if self.headers_sent or not isinstance(arg, bytes) or len(arg) > ONE_SEND_LIMIT:
            return super().write(arg)
        if (
            type(arg) is bytes
            and not (self.upgrade or self.chunked or self._omits_body)
            and self.response_length is not None
            and len(arg) <= self.response_length
        ):
            # the common answer (a JSON body of known length, whole): gunicorn's head
            # (default_headers, send_headers) and body, written out here in one piece
            version = self.req.version
            head = "HTTP/{}.{} {}\r\nServer: {}\r\nDate: {}\r\nConnection: {}\r\n{}\r\n".format(
                version[0],
                version[1],
                self.status,
                self.version,
                util.http_date(),
                "close" if self.should_close() else "keep-alive",
                "".join(["{}: {}\r\n".format(*header) for header in self.headers]),
            )
            self.headers_sent = True
            self.sent = len(arg)
            self.sock.sendall(head.encode("latin-1") + arg)
            return
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


class _ErrorsStream(io.RawIOBase):
    """``wsgi.errors`` for every request of a worker: gunicorn's ``WSGIErrorsWrapper``, which
    gunicorn builds for each request by walking the error log's handlers, made only when
    something is written (rarely), so it also sees the streams of a log reopened since."""

    def __init__(self, cfg):
        self._cfg = cfg

    def writable(self) -> bool:
        return True

    def write(self, data):
        WSGIErrorsWrapper(self._cfg).write(data)
        return len(data)


_environ_template: list = [None, None]  # [the config it was built from, the environ]


def base_environ(cfg):
    """gunicorn's ``base_environ`` (the same keys and values, and the app's ``WRITES_VIEWS`` and
    ``BODY_READER``), built once per worker and copied for each request: its values cannot
    change within a worker."""
    built_for, template = _environ_template
    if built_for is not cfg:
        template = gunicorn_base_environ(cfg)
        template["wsgi.errors"] = _ErrorsStream(cfg)
        template[WRITES_VIEWS] = True
        template[BODY_READER] = socket_body
        _environ_template[:] = [cfg, template]
    return template.copy()


def settle_process(worker) -> None:
    """What every worker process of this server changes in gunicorn, before it loads the app."""
    # gthread builds each response with wsgi.create(), which makes a wsgi.Response; this
    # worker process serves only this app.
    replace_globals(
        response=OneSendResponse,
        base_environ=base_environ,
        ip_in_allow_list=_ip_in_allow_list,
        http_date=http_date,
        write_error=write_error,
    )
    worker.cfg = SettledConfig(worker.cfg)
    if getattr(worker.log, "cfg", None) is not None:  # the access log asks it on every request
        worker.log.cfg = SettledConfig(worker.log.cfg)
