"""modelops_server.body: an upload read straight from gunicorn's socket, against gunicorn's own
objects on a socket pair. The bytes come out in order wherever gunicorn held them (its Body's
read-ahead, its unreader's, the socket), gunicorn's count of what is left stays true at every
step, and what follows the body stays for gunicorn to parse as the next request."""

from __future__ import annotations

import io
import os
import socket
import threading

import pytest
from flask import Flask
from gunicorn.config import Config
from gunicorn.http import get_parser
from gunicorn.http.body import Body, ChunkedReader, LengthReader
from gunicorn.http.unreader import SocketUnreader
from gunicorn.http.wsgi import create

from mlflow_compat.server_environ import BODY_READER, body_stream
from modelops_server.body import SocketBody, socket_body

NEXT = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture
def pair():
    server, client = socket.socketpair()
    server.settimeout(10)  # a reader that waits for bytes that never come fails, not hangs
    yield server, client
    server.close()
    client.close()


def _gunicorn_body(server, client, data: bytes, ahead: int, through_body: int, tail=NEXT):
    """gunicorn's objects for a Content-Length body ``data`` as after the headers were parsed:
    ``ahead`` body bytes already in the unreader, ``through_body`` read by the app through
    ``Body.read`` (which takes 1 KiB pieces, so Body holds read-ahead of its own). The rest of
    the body, then ``tail``, is sent by a thread; join it before looking at the unreader."""
    unreader = SocketUnreader(server)
    unreader.unread(data[:ahead])
    body = Body(LengthReader(unreader, len(data)))
    sender = threading.Thread(target=client.sendall, args=(data[ahead:] + tail,), daemon=True)
    sender.start()
    first = body.read(through_body) if through_body else b""
    return unreader, body, first, sender


def _read_all(stream, size: int) -> bytes:
    buffer = bytearray(size)
    out = bytearray()
    while n := stream.readinto(buffer):
        out += buffer[:n]
    return bytes(out)


@pytest.mark.parametrize("ahead,through_body", [(0, 0), (5000, 0), (5000, 100), (300, 2049)])
@pytest.mark.parametrize("buffer_size", [1, 4096, 1 << 20])
def test_reads_the_body_in_order_and_leaves_the_next_request(pair, ahead, through_body, buffer_size):
    server, client = pair
    data = os.urandom(3 * 1024 * 1024 + 11)
    unreader, body, first, sender = _gunicorn_body(server, client, data, ahead, through_body)
    stream = socket_body({"wsgi.input": body, "gunicorn.socket": server})
    assert isinstance(stream, SocketBody)
    if buffer_size == 1:  # byte by byte through the first stretch, then the rest
        rest = b"".join(bytes(_one(stream)) for _ in range(3000)) + _read_all(stream, 1 << 20)
    else:
        rest = _read_all(stream, buffer_size)
    sender.join()
    assert first + rest == data
    assert body.reader.length == 0 and body.read(10) == b""
    assert unreader.read() == NEXT  # the next request, untouched, for gunicorn's parser


def _one(stream) -> bytearray:
    byte = bytearray(1)
    assert stream.readinto(byte) == 1
    return byte


def test_through_gunicorns_own_parser(pair):
    """The environ gunicorn builds for a request is read from the socket, and gunicorn's parser
    then finds the next request on the connection where it starts."""
    server, client = pair
    data = os.urandom(2 * 1024 * 1024 + 1)
    head = b"PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(data)
    sender = threading.Thread(target=client.sendall, args=(head + data + NEXT,), daemon=True)
    sender.start()
    cfg = Config()
    parser = get_parser(cfg, server, ("127.0.0.1", 1))
    request = next(parser)
    _, environ = create(request, server, ("127.0.0.1", 1), ("127.0.0.1", 2), cfg)
    stream = socket_body(environ)
    assert isinstance(stream, SocketBody), "gunicorn's request body is not what body.py expects"
    assert _read_all(stream, 1 << 20) == data
    after = next(parser)
    sender.join()
    assert (after.method, after.path) == ("GET", "/next")


def test_gunicorn_can_take_over_half_way(pair):
    """A handler that stops reading half way (an error) leaves gunicorn's count exact: gunicorn
    reads (or drains) precisely the rest of the body, and the next request after it."""
    server, client = pair
    data = os.urandom(1024 * 1024)
    unreader, body, _, sender = _gunicorn_body(server, client, data, 7000, 0)
    stream = socket_body({"wsgi.input": body, "gunicorn.socket": server})
    half = bytearray(400_000)
    got = 0
    while got < len(half):
        got += stream.readinto(memoryview(half)[got:])
    assert body.buf.tell() + body.reader.length == len(data) - got
    rest = body.read(len(data))
    sender.join()
    assert bytes(half) + rest == data
    assert unreader.read() == NEXT


def test_a_body_cut_short_ends_early(pair):
    server, client = pair
    data = os.urandom(100_000)
    unreader = SocketUnreader(server)
    body = Body(LengthReader(unreader, 150_000))
    stream = socket_body({"wsgi.input": body, "gunicorn.socket": server})
    client.sendall(data)
    client.shutdown(socket.SHUT_WR)
    assert _read_all(stream, 65536) == data
    assert body.reader.length == 50_000  # gunicorn knows the body is incomplete


def test_anything_else_is_left_to_the_wsgi_stream(pair):
    server, client = pair
    unreader = SocketUnreader(server)
    length_body = Body(LengthReader(unreader, 10))
    assert socket_body({"wsgi.input": length_body, "gunicorn.socket": server}) is not None
    # another socket than the connection's, chunked, not gunicorn, no socket in the environ
    assert socket_body({"wsgi.input": length_body, "gunicorn.socket": client}) is None
    assert socket_body({"wsgi.input": length_body}) is None
    chunked = Body(ChunkedReader(None, unreader))
    assert socket_body({"wsgi.input": chunked, "gunicorn.socket": server}) is None
    assert socket_body({"wsgi.input": io.BytesIO(b"0123456789")}) is None


def test_body_stream_in_a_request(pair):
    """Under gunicorn (which terminates the input) the socket reader; where werkzeug wraps the
    stream (the test client, a size limit) the wrapped stream."""
    server, client = pair
    app = Flask("t")
    body = Body(LengthReader(SocketUnreader(server), 5))
    client.sendall(b"hello")
    gunicorn_like = {
        "wsgi.input": body,
        "gunicorn.socket": server,
        "wsgi.input_terminated": True,
        "CONTENT_LENGTH": "5",
        BODY_READER: socket_body,
    }
    with app.test_request_context("/", method="PUT", environ_overrides=gunicorn_like):
        stream = body_stream()
        assert isinstance(stream, SocketBody) and _read_all(stream, 64) == b"hello"
    with app.test_request_context("/", method="PUT", data=b"hello"):
        stream = body_stream()
        assert not isinstance(stream, SocketBody) and stream.read() == b"hello"


def test_body_stream_without_a_server_reader_is_the_wsgi_input(pair):
    """A server that offers no ``BODY_READER`` (any WSGI server but this one): plain WSGI."""
    server, client = pair
    app = Flask("t")
    body = Body(LengthReader(SocketUnreader(server), 5))
    client.sendall(b"hello")
    plain = {"wsgi.input": body, "gunicorn.socket": server, "wsgi.input_terminated": True, "CONTENT_LENGTH": "5"}
    with app.test_request_context("/", method="PUT", environ_overrides=plain):
        stream = body_stream()
        assert not isinstance(stream, SocketBody) and stream.read() == b"hello"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"  \n",
        b'{"name": "m"}',
        b'"{\\"name\\": \\"m\\"}"',
        b'{"name": "m"}trailing bytes past the length',
        b"[1, 2]",
        b"{not json",
        '{"name": "caf\u00e9"}'.encode(),
    ],
)
def test_a_body_read_whole_is_read_as_werkzeug_reads_a_stream(body):
    """wire._body_message reads a body held in memory (io.BytesIO: http1.PlainReader, a test
    client) directly; any other stream through werkzeug. Both give the same message or error."""
    from flask import Flask

    from mlflow_compat import wire
    from mlflow_compat.errors import MlflowError

    app = Flask("body")
    declared = body[:13] if body.endswith(b"length") else body  # bytes past Content-Length are not the body's

    def outcome(stream):
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/x",
            "SERVER_NAME": "h",
            "SERVER_PORT": "1",
            "wsgi.url_scheme": "http",
            "wsgi.input": stream,
            "CONTENT_LENGTH": str(len(declared)),
            "CONTENT_TYPE": "application/json",
        }
        with app.request_context(environ):
            try:
                return wire._body_message(1 << 20)
            except MlflowError as err:
                return (err.error_code, err.message)

    in_memory = outcome(io.BytesIO(body))
    assert in_memory == outcome(io.BufferedReader(io.BytesIO(body)))
    if declared.startswith(b'{"name": "m"}'):
        assert in_memory == {"name": "m"}
