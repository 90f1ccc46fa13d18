"""The worker's one-send response writes exactly the bytes gunicorn's own response writes, and a
small response (head and body) in a single send."""

import re

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from modelops_server.gunicorn_process import ONE_SEND_LIMIT, OneSendResponse


class RecordingSocket:
    def __init__(self):
        self.sends: list[bytes] = []

    def sendall(self, data):
        self.sends.append(bytes(data))


def _request(method="POST"):
    cfg = Config()
    raw = f"{method} /api/2.0/mlflow/runs/log-metric HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    return cfg, next(RequestParser(cfg, [raw], ("127.0.0.1", 40000)))


def _answer(response_class, method, headers, chunks):
    cfg, req = _request(method)
    sock = RecordingSocket()
    resp = response_class(req, sock, cfg)
    resp.start_response("200 OK", headers)
    for chunk in chunks:
        resp.write(chunk)
    resp.close()
    return sock.sends


def _undated(sends):
    """The bytes on the wire, without the Date header gunicorn stamps to the second."""
    return re.sub(rb"\r\nDate: [^\r]*", b"", b"".join(sends))


def _same_bytes(method, headers, chunks):
    ours = _answer(OneSendResponse, method, headers, chunks)
    theirs = _answer(wsgi.Response, method, headers, chunks)
    assert _undated(ours) == _undated(theirs)
    return ours, theirs


def test_small_json_answer_is_one_send_of_gunicorns_bytes():
    ours, theirs = _same_bytes("POST", [("Content-Type", "application/json"), ("Content-Length", "2")], [b"{}"])
    assert len(theirs) == 2  # gunicorn: head, then body
    assert len(ours) == 1
    assert ours[0].startswith(b"HTTP/1.1 200 OK\r\n") and ours[0].endswith(b"\r\n\r\n{}")


@pytest.mark.parametrize(
    "method, headers, chunks",
    [
        ("POST", [("Content-Length", str(ONE_SEND_LIMIT + 1))], [b"x" * (ONE_SEND_LIMIT + 1)]),  # large: as gunicorn
        ("GET", [("Content-Type", "text/plain")], [b"a", b"bc", b""]),  # chunked (no length)
        ("GET", [("Content-Length", "3")], [b"abcdef"]),  # trimmed to the declared length
        ("HEAD", [("Content-Length", "2")], [b"{}"]),  # no body on the wire
        ("POST", [("Content-Length", "0")], []),  # no body write at all
        ("POST", [("Content-Length", "5")], [b"ab", b"cde"]),  # later writes as gunicorn's
    ],
)
def test_every_response_shape_keeps_gunicorns_bytes(method, headers, chunks):
    ours, theirs = _same_bytes(method, headers, chunks)
    assert len(ours) <= len(theirs)
    if method == "HEAD":
        assert _undated(ours).endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    "head",
    [
        b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",  # Connection: close
        b"GET /x HTTP/1.0\r\n\r\n",  # closed after the answer
        b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ],
)
@pytest.mark.parametrize(
    "status, headers, body",
    [
        ("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")], b"{}"),
        (
            "404 NOT FOUND",
            [("Content-Type", "application/json"), ("Content-Length", "7"), ("Retry-After", "1")],
            b'{"a":1}',
        ),
        ("200 OK", [("Content-Length", "5")], b"ab"),  # shorter than declared: the rest may follow
        ("200 OK", [("Content-Length", "0")], b""),
    ],
)
def test_a_small_answer_written_whole_is_gunicorns_bytes_in_one_send(head, status, headers, body):
    """The first small write of a response of known length goes out with the head, built in one
    piece: gunicorn's bytes for each request version and keep-alive, status and header list."""
    cfg = Config()
    sends = {}
    for response_class in (OneSendResponse, wsgi.Response):
        req = next(RequestParser(cfg, [head], ("127.0.0.1", 40000)))
        sock = RecordingSocket()
        resp = response_class(req, sock, cfg)
        resp.start_response(status, list(headers))
        resp.write(body)
        sends[response_class] = (sock.sends, resp.sent, resp.should_close())
    ours, theirs = sends[OneSendResponse], sends[wsgi.Response]
    assert _undated(ours[0]) == _undated(theirs[0]) and ours[1:] == theirs[1:]
    assert len(ours[0]) == 1


@pytest.mark.parametrize(
    "method, headers, chunks",
    [
        ("GET", [("Content-Length", "9")], [b"abc", b"def", b"ghi"]),
        ("GET", [("Content-Length", "4")], [b"abc", b"def", b"ghi"]),  # trimmed, later ones dropped
        ("GET", [("Content-Type", "text/plain")], [b"a", b"bc", b""]),  # chunked framing
        ("HEAD", [("Content-Length", "3")], [b"abc"]),  # no body on the wire
    ],
)
def test_memoryview_chunks_are_sent_as_gunicorn_sends_their_bytes(method, headers, chunks):
    """Direct-I/O downloads yield views of a reused buffer; gunicorn's own write takes only bytes."""
    buffer = bytearray(max(len(chunk) for chunk in chunks))

    def views():
        for chunk in chunks:  # one buffer for every chunk: each must be sent before the next
            buffer[: len(chunk)] = chunk
            yield memoryview(buffer)[: len(chunk)]

    ours = _answer(OneSendResponse, method, headers, views())
    theirs = _answer(wsgi.Response, method, headers, chunks)
    assert _undated(ours) == _undated(theirs)


def test_requests_are_parsed_by_gunicorns_c_parser():
    """pyproject asks for gunicorn[fast]; gunicorn falls back to its Python parser silently when
    gunicorn_h1c is missing or a setting excludes it (about 10% more CPU per small request)."""
    from gunicorn.http.message import _check_fast_parser

    cfg = Config()
    cfg.set("limit_request_line", 0)  # as modelops_server.serve sets it
    assert _check_fast_parser(cfg)


def test_a_request_gunicorn_cannot_read_is_answered_with_mlflows_json_error():
    import json

    from modelops_server.gunicorn_process import write_error

    sock = RecordingSocket()
    sock.gettimeout = lambda: 0.0  # what gunicorn's write_nonblock asks of the socket
    write_error(sock, 400, "Bad Request", "Invalid header name 'Bad Name'")
    head, _, body = b"".join(sock.sends).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 400 Bad Request"
    assert {"Connection: close", "Content-Type: application/json", f"Content-Length: {len(body)}"} <= set(lines[1:])
    assert json.loads(body) == {"error_code": "BAD_REQUEST", "message": "Invalid header name 'Bad Name'"}


def test_base_environ_is_gunicorns_copied_from_one_template(capsys):
    """Each request gets its own environ dict with gunicorn's base values (and the worker's
    memoryview flag); ``wsgi.errors`` writes where gunicorn's wrapper writes (stderr for '-')."""
    from mlflow_compat.server_environ import BODY_READER, WRITES_VIEWS
    from modelops_server import gunicorn_process
    from modelops_server.body import socket_body

    cfg = Config()
    cfg.set("errorlog", "-")
    first, second = gunicorn_process.base_environ(cfg), gunicorn_process.base_environ(cfg)
    assert first is not second
    first["REQUEST_METHOD"] = "GET"  # an app's change stays in its own request
    assert "REQUEST_METHOD" not in second
    theirs = wsgi.base_environ(cfg)
    for environ in (first, second):
        assert environ[WRITES_VIEWS] is True
        assert environ[BODY_READER] is socket_body
        assert {
            k: v for k, v in environ.items() if k not in ("wsgi.errors", WRITES_VIEWS, BODY_READER, "REQUEST_METHOD")
        } == {k: v for k, v in theirs.items() if k != "wsgi.errors"}
    second["wsgi.errors"].write("an app's error line\n")
    assert "an app's error line" in capsys.readouterr().err
