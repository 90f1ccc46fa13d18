"""A request body read in large pieces, for artifact uploads.

Under gunicorn, ``wsgi.input`` is a ``gunicorn.http.body.Body``: ``read(n)`` gathers ``n`` bytes
1 KiB at a time from a ``LengthReader`` that takes them from 8 KiB ``recv()``s, each hop through
a fresh ``BytesIO`` (gunicorn/http/body.py, unreader.py). A 100 MiB upload spent ~70% of its time
there and ran at ~500 MiB/s (bench W5).

For a ``Content-Length`` body (``Body`` -> ``LengthReader`` -> ``SocketUnreader``, the same in
gunicorn 25.1 to 26.x), ``socket_body``'s stream reads the same bytes in the same order, but with
``recv_into`` straight into the caller's buffer: first what ``Body`` and the unreader already
hold, then the connection's socket. ``LengthReader.length`` is decremented by every byte taken,
so gunicorn's own bookkeeping stays true at every moment: a handler that stops half way leaves
the rest to the app's and gunicorn's drain and keep-alive logic exactly as before, and the next
request on the connection starts where gunicorn expects it. Anything else (chunked bodies,
HTTP/2, the Flask test client, another WSGI server, a gunicorn whose internals differ) is read
through ``request.stream`` as before.

The app reaches ``socket_body`` through the environ key ``BODY_READER``
(``mlflow_compat.server_environ``), which this server's base environ holds.
"""

from __future__ import annotations

import io
import socket

from modelops_server.gunicorn_private import Body as _GunicornBody
from modelops_server.gunicorn_private import LengthReader as _LengthReader
from modelops_server.gunicorn_private import SocketUnreader as _SocketUnreader


class SocketBody(io.RawIOBase):
    """The rest of a gunicorn ``Content-Length`` body; ``readinto`` does at most one ``recv``."""

    def __init__(self, body, reader, unreader, sock: socket.socket):
        self._body = body  # Body.buf: body bytes the LengthReader already handed over
        self._reader = reader  # .length: body bytes still to take from the unreader
        self._unreader = unreader  # .buf: bytes read ahead of the socket (body, then maybe more)
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view):
            return 0
        held = self._body.buf
        held.seek(0, io.SEEK_END)
        if held.tell():
            return self._take(held, view, len(view), count=False)
        want = min(len(view), self._reader.length)
        if want <= 0:
            return 0
        ahead = self._unreader.buf
        ahead.seek(0, io.SEEK_END)
        if ahead.tell():
            return self._take(ahead, view, want, count=True)
        got = self._sock.recv_into(view, want)
        self._reader.length -= got
        return got

    def _take(self, held: io.BytesIO, view: memoryview, want: int, count: bool) -> int:
        """Move up to ``want`` bytes from the front of a gunicorn read-ahead buffer into ``view``,
        leaving the rest there the way gunicorn's own ``unread`` does."""
        data = held.getvalue()
        n = min(want, len(data))
        view[:n] = data[:n]
        rest = io.BytesIO()
        rest.write(data[n:])
        if held is self._body.buf:
            self._body.buf = rest
        else:
            self._unreader.buf = rest
        if count:
            self._reader.length -= n
        return n


def socket_body(environ) -> SocketBody | None:
    """The rest of the request's body read from the connection's socket, or ``None`` when it is
    not a plain gunicorn ``Content-Length`` body."""
    body = environ.get("wsgi.input")
    if type(body) is not _GunicornBody:
        return None
    reader = getattr(body, "reader", None)
    unreader = getattr(reader, "unreader", None)
    sock = getattr(unreader, "sock", None)
    if (
        type(reader) is not _LengthReader
        or type(unreader) is not _SocketUnreader
        or not isinstance(getattr(reader, "length", None), int)
        or not isinstance(getattr(body, "buf", None), io.BytesIO)
        or not isinstance(getattr(unreader, "buf", None), io.BytesIO)
        or not isinstance(sock, socket.socket)
        or sock is not environ.get("gunicorn.socket")
    ):
        return None
    return SocketBody(body, reader, unreader, sock)
