"""The plain-request reader (modelops_server/http1.py) against gunicorn's own parser: for every
request it accepts, the WSGI environ gunicorn builds from it, its body and its keep-alive decision
are those of gunicorn's ``Request`` for the same bytes; every request it declines is left, byte
for byte, for gunicorn to read as if nothing had happened."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.errors import ParseException
from gunicorn.http.parser import RequestParser

from modelops_server import http1
from modelops_server.gunicorn_process import SettledConfig

CLIENT = ("127.0.0.1", 40000)
SERVER = ("127.0.0.1", "5000")
BODY = b'{"run_id": "0123456789abcdef0123456789abcdef", "key": "m", "value": 0.5, "step": 1}'


def _cfg(**settings) -> Config:
    cfg = Config()
    for name, value in settings.items():
        cfg.set(name, value)
    return cfg


class Conn:
    """What the reader sees of gthread's TConn: a socket and gunicorn's parser on it."""

    def __init__(self, cfg, sock):
        self.sock = sock
        self.client = CLIENT
        self.parser = RequestParser(cfg, sock, CLIENT)


@contextlib.contextmanager
def _socketpairs(count: int):
    pairs = [socket.socketpair() for _ in range(count)]
    try:
        yield pairs
    finally:
        for pair in pairs:
            for sock in pair:
                sock.close()


@pytest.fixture
def pair():
    with _socketpairs(1) as (made,):
        made[0].settimeout(5)
        yield made


def _environ(cfg, req, sock) -> tuple[dict, bytes]:
    _, environ = wsgi.create(req, sock, CLIENT, SERVER, cfg)
    body = environ["wsgi.input"].read()
    for key in ("wsgi.input", "wsgi.errors", "wsgi.early_hints", "gunicorn.socket"):
        assert key in environ
        del environ[key]
    return environ, body


def _gunicorns(cfg, raw: bytes, pair) -> tuple[dict, bytes, bool]:
    ours, theirs = pair
    theirs.sendall(raw)
    req = next(RequestParser(cfg, ours, CLIENT))
    environ, body = _environ(cfg, req, ours)
    return environ, body, req.should_close()


def _plain(cfg, raw: bytes, pair):
    ours, theirs = pair
    theirs.sendall(raw)
    conn = Conn(cfg, ours)
    return conn, http1.PlainReader(SettledConfig(cfg)).read(conn)


PLAIN = [
    b"POST /api/2.0/mlflow/runs/log-metric HTTP/1.1\r\nHost: 127.0.0.1:5000\r\nUser-Agent: python-requests/2.32\r\n"
    b"Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY),
    b"GET /api/2.0/mlflow/experiments/get?experiment_id=0&x=%C3%A9 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /get-artifact/a%20b/c%2Fd?path=x%20y HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /health HTTP/1.0\r\n\r\n",
    b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    b"GET /health HTTP/1.1\r\nHost: h\r\nconnection:   Close  \r\n\r\n",
    b"DELETE /api/2.0/mlflow-artifacts/artifacts/0/x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    b"POST /api/2.0/mlflow/runs/create HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n\r\n",
    b"PATCH /api/2.0/mlflow/registered-models/update HTTP/1.1\r\nhost: h\r\ncontent-length: 2\r\n\r\n{}",
    # repeated list headers are joined as gunicorn joins them; odd case and spacing as it names them
    b"GET /x HTTP/1.1\r\nHost: h\r\nAccept: a\r\naccept: b\r\nX-Custom-Header:\t v w \t\r\nX-Empty:\r\n\r\n",
    # a latin-1 byte in a header value
    b"GET /x HTTP/1.1\r\nHost: h\r\nX-Name: caf\xe9\r\n\r\n",
    b"GET /x?a=1?b=2 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /x? HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s" % (http1.BODY_LIMIT, b"b" * http1.BODY_LIMIT),
]


@pytest.mark.parametrize("raw", PLAIN, ids=range(len(PLAIN)))
def test_a_plain_request_reads_as_gunicorn_reads_it(raw):
    cfg = _cfg()
    with _socketpairs(2) as (with_gunicorn, with_reader):
        expected = _gunicorns(cfg, raw, with_gunicorn)
        conn, req = _plain(cfg, raw, with_reader)
        assert isinstance(req, http1.PlainRequest)
        environ, body = _environ(cfg, req, with_reader[0])
        assert (environ, body, req.should_close()) == expected
        assert conn.parser.unreader.buf.getvalue() == b""


@pytest.mark.parametrize("server", [SERVER, "127.0.0.1:5000", "/run/modelops.sock"], ids=["tcp", "host:port", "unix"])
@pytest.mark.parametrize("raw", PLAIN, ids=range(len(PLAIN)))
def test_a_plain_requests_environ_is_the_one_gunicorn_creates(raw, server):
    """The worker builds a plain request's environ itself (http1.plain_environ): gunicorn's
    ``wsgi.create`` makes the same one from the same request."""
    cfg = _cfg()
    with _socketpairs(1) as (pair,):
        _, req = _plain(cfg, raw, pair)
        _resp, expected = wsgi.create(req, pair[0], CLIENT, server, cfg)
        environ = http1.plain_environ(req, pair[0], CLIENT, server, wsgi.base_environ(cfg))
    assert callable(expected.pop("wsgi.early_hints"))
    assert "wsgi.early_hints" not in environ  # the worker adds it, with the response it sends on
    for built in (expected, environ):
        del built["wsgi.errors"]  # one stream object per call of base_environ
    assert environ == expected


def test_the_answer_to_a_plain_request_is_gunicorns(pair):
    """gunicorn's Response reads the request's version, method and keep-alive: the same bytes."""
    cfg = _cfg()
    raw = b"GET /x HTTP/1.0\r\n\r\n"
    _, req = _plain(cfg, raw, pair)
    theirs = next(RequestParser(cfg, [raw], CLIENT))
    sent = []
    for request in (req, theirs):
        resp = wsgi.Response(request, type("S", (), {"sendall": lambda self, d: sent.append(bytes(d))})(), cfg)
        resp.start_response("200 OK", [("Content-Type", "application/json")])
        resp.write(b"{}")
        resp.close()
        sent.append(b"|")
    ours, _, gunicorn = b"".join(sent).partition(b"|")
    strip = lambda b: b"\r\n".join(line for line in b.split(b"\r\n") if not line.startswith(b"Date:"))  # noqa: E731
    assert strip(ours) == strip(gunicorn.rstrip(b"|"))
    assert b"Connection: close" in ours


DECLINED = {
    "chunked": b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "expect": b"POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
    "upgrade": b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    b"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
    "forwarded proto": b"GET /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\n\r\n",
    "underscore": b"GET /x HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n",
    "two hosts": b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "two content types": b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Type: a/b\r\nContent-Type: c/d\r\nContent-Length: 0\r\n\r\n",
    "two lengths": b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
    "signed length": b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: +2\r\n\r\n{}",
    "hex length": b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0x2\r\n\r\n{}",
    "superscript length": b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: \xb2\r\n\r\n{}",
    "large body": b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s"
    % (http1.BODY_LIMIT + 1, b"b" * (http1.BODY_LIMIT + 1)),
    "absolute form": b"GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "double slash": b"GET //x/y HTTP/1.1\r\nHost: h\r\n\r\n",
    "fragment": b"GET /x#frag HTTP/1.1\r\nHost: h\r\n\r\n",
    "non-ascii target": b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
    "lower-case method": b"get /x HTTP/1.1\r\nHost: h\r\n\r\n",
    "http/2.0": b"GET /x HTTP/2.0\r\nHost: h\r\n\r\n",
    "bad request line": b"GET /x\r\nHost: h\r\n\r\n",
    "bad header name": b"GET /x HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n",
    "control char in value": b"GET /x HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n",
    "line too long": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: h\r\n\r\n",
    "not http": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",
}


def _gunicorn_outcome(cfg, parser):
    try:
        req = next(parser)
    except (ParseException, StopIteration) as exc:
        return type(exc).__name__, str(exc)
    environ, body = _environ(cfg, req, parser.unreader.sock)
    return environ, body


@pytest.mark.parametrize("name", list(DECLINED))
def test_a_declined_request_is_left_for_gunicorn_untouched(name):
    raw = DECLINED[name]
    cfg = _cfg()
    with _socketpairs(2) as (fresh, after):
        fresh[1].sendall(raw)
        expected = _gunicorn_outcome(cfg, RequestParser(cfg, fresh[0], CLIENT))

        sender = threading.Thread(target=after[1].sendall, args=(raw,))
        sender.start()
        conn = Conn(cfg, after[0])
        assert http1.PlainReader(SettledConfig(cfg)).read(conn) is None
        sender.join()
        assert _gunicorn_outcome(cfg, conn.parser) == expected


def test_pipelined_requests_are_read_one_at_a_time(pair):
    cfg = _cfg()
    first = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    second = b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}"
    chunked = DECLINED["chunked"]
    conn, req = _plain(cfg, first + second + chunked, pair)
    assert req.path == "/a" and req.body.read() == b""
    reader = http1.PlainReader(SettledConfig(cfg))
    req = reader.read(conn)
    assert (req.method, req.path, req.body.read()) == ("POST", "/b", b"{}")
    assert conn.parser.unreader.buf.getvalue() == chunked
    assert reader.read(conn) is None  # gunicorn reads the chunked one, from the same bytes
    assert next(conn.parser).body.read() == b"{}"


def test_a_body_that_arrives_later_is_waited_for(pair):
    ours, theirs = pair
    cfg = _cfg()
    theirs.sendall(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n{")
    timer = threading.Timer(0.05, theirs.sendall, args=(b'"a":1}',))
    timer.start()
    req = http1.PlainReader(SettledConfig(cfg)).read(Conn(cfg, ours))
    timer.join()
    assert req.body.read() == b'{"a":1}'


def test_a_head_that_arrives_in_pieces_goes_to_gunicorn(pair):
    """One recv that leaves the head incomplete: gunicorn's reader takes over with the bytes."""
    ours, theirs = pair
    cfg = _cfg()
    theirs.sendall(b"GET /x HTTP/1.1\r\nHo")
    conn = Conn(cfg, ours)
    assert http1.PlainReader(SettledConfig(cfg)).read(conn) is None
    theirs.sendall(b"st: h\r\n\r\n")
    assert next(conn.parser).path == "/x"


def test_a_closed_connection_is_left_for_gunicorn_to_see_closed(pair):
    ours, theirs = pair
    cfg = _cfg()
    theirs.sendall(b"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab")
    theirs.shutdown(socket.SHUT_WR)
    conn = Conn(cfg, ours)
    assert http1.PlainReader(SettledConfig(cfg)).read(conn) is None
    assert conn.parser.unreader.buf.getvalue().endswith(b"\r\n\r\nab")
    assert next(conn.parser).body.read() == b"ab"  # gunicorn's own reading of a short body


@pytest.mark.parametrize(
    "settings",
    [
        {"http_parser": "python"},
        {"proxy_protocol": "v1"},
        {"strip_header_spaces": True},  # one of gunicorn's flags its C parser does not support
    ],
)
def test_settings_gunicorns_c_parser_cannot_honour_turn_the_reader_off(settings):
    assert not http1.PlainReader(SettledConfig(_cfg(**settings))).enabled
    assert http1.PlainReader(SettledConfig(_cfg())).enabled


def test_the_reader_uses_gunicorns_limits():
    """The same limits gunicorn's Request passes its C parser (the request line capped at 8190)."""
    cfg = _cfg(limit_request_line=16384, limit_request_fields=50, limit_request_field_size=4000)
    reader = http1.PlainReader(SettledConfig(cfg))
    req = next(RequestParser(cfg, [b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"], CLIENT))
    assert reader.limits["limit_request_line"] == req._fast_limit_request_line == 8190
    assert reader.limits["limit_request_fields"] == req.limit_request_fields == 50
    assert reader.limits["limit_request_field_size"] == req.limit_request_field_size == 4000
    unlimited = _cfg(limit_request_line=0)  # as modelops_server.serve sets it: gunicorn's 1 MiB
    req = next(RequestParser(unlimited, [b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"], CLIENT))
    assert http1.PlainReader(SettledConfig(unlimited)).limits["limit_request_line"] == req._fast_limit_request_line
    assert req._fast_limit_request_line == 1024 * 1024


def test_settled_config_reads_each_setting_once_and_refuses_changes():
    cfg = _cfg(keepalive=7)
    settled = SettledConfig(cfg)
    assert settled.keepalive == 7 and settled.is_ssl == cfg.is_ssl
    cfg.set("keepalive", 9)
    assert settled.keepalive == 7  # read once: a worker's settings never change
    with pytest.raises(AttributeError):
        settled.keepalive = 3


def test_the_access_log_reads_a_plain_request_as_gunicorns():
    import datetime

    from gunicorn.glogging import Logger

    cfg = _cfg(accesslog="-")
    raw = PLAIN[1].replace(b"Host: h\r\n", b"Host: h\r\nUser-Agent: probe/1\r\nReferer: http://r/\r\n")
    atoms = []
    for read in ("gunicorn", "plain"):
        with _socketpairs(1) as ((ours, theirs),):
            theirs.sendall(raw)
            if read == "gunicorn":
                req = next(RequestParser(cfg, ours, CLIENT))
            else:
                req = http1.PlainReader(SettledConfig(cfg)).read(Conn(cfg, ours))
            resp, environ = wsgi.create(req, ours, CLIENT, SERVER, cfg)
            resp.start_response("200 OK", [("Content-Length", "2")])
            found = Logger(cfg).atoms(resp, req, environ, datetime.timedelta(milliseconds=3))
            # not the time of logging, nor the environ's objects (socket, streams, callbacks)
            atoms.append({k: v for k, v in found.items() if k != "t" and isinstance(v, (str, int))})
    assert atoms[0] == atoms[1]
    assert atoms[1]["r"] == "GET /api/2.0/mlflow/experiments/get?experiment_id=0&x=%C3%A9 HTTP/1.1"
    assert (atoms[1]["a"], atoms[1]["f"]) == ("probe/1", "http://r/")
