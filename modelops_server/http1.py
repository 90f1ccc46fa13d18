"""The plain HTTP/1.1 request, read without gunicorn's per-request parser objects.

For each request gunicorn builds a ``Request`` (a ``Message``): it gathers the head through an
``Unreader`` of 8 KiB ``recv``s and ``BytesIO`` copies, parses it with its C parser
(``gunicorn_h1c``), then walks every header in Python through its header policy, and wraps the
body in ``Body(LengthReader(...))``. For a ``log-metric`` call that was 20% of the worker's busy
time, more than the call's own database work (py-spy, bench W2).

``PlainReader.read`` takes the bytes gunicorn's connection has already read ahead plus at most what
the socket holds, parses the head with the same C parser and the same limits, and accepts the
request only when it is *plain*: HTTP/1.0 or 1.1, origin-form target of printable ASCII, no
``Transfer-Encoding``, ``Expect``, ``Upgrade``, HTTP/2 settings, forwarding or secure-scheme
header, no header name with ``_``, at most one ``Host``, ``Content-Type`` and a numeric
``Content-Length`` of at most ``BODY_LIMIT`` bytes, read whole. Everything else (and any parse
error) is handed back untouched: the bytes go back into gunicorn's read-ahead buffer and gunicorn
serves the request as before, with its own errors and limits. What an accepted request looks like
to the rest of gunicorn (``PlainRequest``: method, target, headers as gunicorn's parser would
name them, body) is what gunicorn's ``Request`` would have been, so gunicorn's own ``create``,
``Response``, hooks and access log serve it; ``tests/unit/test_http1.py`` holds the two equal.
"""

from __future__ import annotations

import io

from modelops_server.gunicorn_private import (
    DEFAULT_MAX_HEADERFIELD_SIZE,
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    Message,
    check_fast_parser,
    unquote_to_wsgi_str,
)
from modelops_server.gunicorn_private import h1c as _h1c

BODY_LIMIT = 64 * 1024  # larger bodies (artifact uploads) stream through gunicorn's reader
HEAD_LIMIT = 64 * 1024
RECV_SIZE = 64 * 1024

# headers whose handling gunicorn's policy owns (framing, continuation, protocol switches)
_DEFERRED = frozenset(("TRANSFER-ENCODING", "EXPECT", "UPGRADE", "HTTP2-SETTINGS"))
_SINGLE = frozenset(("HOST", "CONTENT-TYPE", "CONTENT-LENGTH"))
_TARGET_CHARS = frozenset(range(0x21, 0x7F)) - {ord("#")}


class PlainRequest:
    """What gunicorn's ``wsgi.create``, ``Response``, hooks, access log and error pages read of
    a request, for one that ``PlainReader.read`` accepted. Its keep-alive decision is gunicorn's
    ``Message.should_close`` itself, over the same attributes."""

    __slots__ = (
        "_expected_100_continue",
        "body",
        "fragment",
        "headers",
        "method",
        "must_close",
        "path",
        "peer_addr",
        "proxy_protocol_info",
        "query",
        "remote_addr",
        "req_number",
        "scheme",
        "trailers",
        "uri",
        "version",
    )

    def __init__(self, method, uri, path, query, version, headers, peer_addr):
        self.method = method
        self.uri = uri
        self.path = path
        self.query = query
        self.fragment = ""
        self.version = version
        self.headers = headers
        self.body = None  # set by PlainReader.read once the body is read
        self.scheme = "http"
        self.peer_addr = self.remote_addr = peer_addr
        self.must_close = False
        self.trailers = []
        self.proxy_protocol_info = None
        self._expected_100_continue = False
        self.req_number = 0

    force_close = Message.force_close
    should_close = Message.should_close


class PlainReader:
    """Reads plain requests for one worker's settings (fixed for the worker's life)."""

    def __init__(self, cfg):
        self.enabled = (
            _h1c is not None
            and not cfg.is_ssl
            and cfg.proxy_protocol == "off"
            and check_fast_parser(cfg)  # gunicorn itself parses with h1c, same flags
        )
        if not self.enabled:
            return
        line = cfg.limit_request_line  # Request.__init__'s reading of the limits
        if line < 0 or line >= MAX_REQUEST_LINE:
            line = MAX_REQUEST_LINE
        elif line == 0:
            line = 1024 * 1024
        fields = cfg.limit_request_fields
        if fields <= 0 or fields > MAX_HEADERS:
            fields = MAX_HEADERS
        size = cfg.limit_request_field_size
        if size <= 0:
            size = DEFAULT_MAX_HEADERFIELD_SIZE
        self.limits = {
            "limit_request_line": line,
            "limit_request_fields": fields,
            "limit_request_field_size": size,
            "permit_unconventional_http_method": cfg.permit_unconventional_http_method,
            "permit_unconventional_http_version": cfg.permit_unconventional_http_version,
        }
        self.casefold = cfg.casefold_http_method
        self.deferred = _DEFERRED | {name.upper() for name in cfg.secure_scheme_headers}

    def read(self, conn) -> PlainRequest | None:
        """The connection's next request if it is plain, its body read; else ``None`` with every
        byte read so far back in gunicorn's read-ahead buffer, nothing else changed."""
        unreader = conn.parser.unreader
        data = unreader.buf.getvalue()
        unreader.buf = io.BytesIO()
        try:
            if b"\r\n\r\n" not in data[:HEAD_LIMIT]:
                chunk = conn.sock.recv(RECV_SIZE)
                if not chunk:  # closed: gunicorn reads the end again and says so
                    return self._decline(unreader, data)
                data += chunk
            req = self._parse(data, conn.client)
            if req is None:
                return self._decline(unreader, data)
            request, head_end, length = req
            end = head_end + length
            while len(data) < end:
                chunk = conn.sock.recv(max(RECV_SIZE, end - len(data)))
                if not chunk:
                    return self._decline(unreader, data)
                data += chunk
        except BaseException:
            unreader.buf.write(data)  # a read failed: gunicorn meets the socket's state itself
            raise
        request.body = io.BytesIO(data[head_end:end])
        if len(data) > end:  # the client's next request, pipelined
            unreader.buf.write(data[end:])
        return request

    @staticmethod
    def _decline(unreader, data: bytes) -> None:
        unreader.buf.write(data)
        return None

    def _parse(self, data: bytes, peer) -> tuple[PlainRequest, int, int] | None:
        try:
            parsed = _h1c.parse_request(data, last_len=0, **self.limits)
        except Exception:  # incomplete or invalid: gunicorn's path answers it
            return None
        head_end = parsed["consumed"]
        target = parsed["path"]
        if (
            head_end > HEAD_LIMIT
            or not target.startswith(b"/")
            or target.startswith(b"//")
            or not _TARGET_CHARS.issuperset(target)
        ):
            return None
        headers = []
        seen = set()
        length = 0
        deferred = self.deferred
        for raw_name, raw_value in parsed["headers"]:
            name = raw_name.decode("latin-1").upper()
            if name in deferred or "_" in name:
                return None
            value = raw_value.decode("latin-1")
            if name in _SINGLE:
                if name in seen:
                    return None
                seen.add(name)
                if name == "CONTENT-LENGTH":
                    if not value.isnumeric() or not value.isascii():
                        return None
                    length = int(value)
                    if length > BODY_LIMIT:
                        return None
            headers.append((name, value))
        method = parsed["method"].decode("latin-1")
        if self.casefold:
            method = method.upper()
        uri = target.decode("ascii")
        path, _, query = uri.partition("?")
        version = (1, parsed["minor_version"])
        return PlainRequest(method, uri, path, query, version, headers, peer), head_end, length


def plain_environ(req: PlainRequest, sock, client, server, base: dict) -> dict:
    """gunicorn's ``wsgi.create`` environ for ``req`` (with ``SCRIPT_NAME`` unset in the process
    environment: ``ThreadWorker`` checks), built into ``base`` (a fresh copy of the worker's base
    environ) without its general cases: a plain request has no ``Expect``, no proxy protocol, no
    ``SCRIPT_NAME`` header and a TCP or Unix-socket peer. ``wsgi.early_hints`` is added by the
    caller, which holds the response. ``tests/unit/test_http1.py`` holds the two equal."""
    base["wsgi.input"] = req.body
    base["gunicorn.socket"] = sock
    base["REQUEST_METHOD"] = req.method
    base["QUERY_STRING"] = req.query
    base["RAW_URI"] = req.uri
    base["SERVER_PROTOCOL"] = "HTTP/1.1" if req.version == (1, 1) else "HTTP/{}.{}".format(*req.version)
    host = None
    for name, value in req.headers:
        if name == "CONTENT-TYPE":
            base["CONTENT_TYPE"] = value
            continue
        if name == "CONTENT-LENGTH":
            base["CONTENT_LENGTH"] = value
            continue
        if name == "HOST":
            host = value
        key = "HTTP_" + name.replace("-", "_")
        if key in base:
            value = f"{base[key]},{value}"
        base[key] = value
    base["wsgi.url_scheme"] = req.scheme
    if isinstance(client, str):
        base["REMOTE_ADDR"] = client
    elif isinstance(client, bytes):
        base["REMOTE_ADDR"] = client.decode()
    else:
        base["REMOTE_ADDR"] = client[0]
        base["REMOTE_PORT"] = str(client[1])
    if isinstance(server, str):  # a Unix socket: SERVER_* from the Host header, as gunicorn does
        server = server.split(":")
        if len(server) == 1:
            if host:
                server = host.split(":")
                if len(server) == 1:
                    server.append(80 if req.scheme == "http" else 443 if req.scheme == "https" else "")
            else:
                server.append("")
    base["SERVER_NAME"] = server[0]
    base["SERVER_PORT"] = str(server[1])
    base["PATH_INFO"] = unquote_to_wsgi_str(req.path)
    base["SCRIPT_NAME"] = ""
    return base
