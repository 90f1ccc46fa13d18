"""Every private or internal gunicorn name this server relies on: the list to re-check, against
the new release's source, before the gunicorn pin (``>=26.2,<26.3`` in pyproject.toml) moves.

The other modules of this package take these names from here, never from gunicorn directly.

Names imported (private, or internal to gunicorn's workers and parser):
  - ``gunicorn.workers.base``: ``Worker.init_process`` (called past gthread's own).
  - ``gunicorn.workers.gthread``: ``ThreadWorker`` (subclassed: ``handle``, ``handle_request``,
    ``handle_error``, ``keepalived_conns``, ``nr_conns``, ``max_keepalived``, ``PIPE``), ``TConn``
    (``init``, ``initialized``, ``parser``, ``timeout``, ``is_http``, ``close``), ``_DEFER``.
  - ``gunicorn.http.wsgi``: ``Response`` (subclassed: ``headers_sent``, ``sent``,
    ``response_length``, ``chunked``, ``upgrade``, ``_omits_body``, ``_emit_body``,
    ``send_headers``), ``base_environ``, ``WSGIErrorsWrapper``, ``_make_early_hints_callback``.
  - ``gunicorn.http.message``: ``_ip_in_allow_list``, ``_check_fast_parser``,
    ``Message.force_close`` and ``should_close``, ``MAX_REQUEST_LINE``, ``MAX_HEADERS``,
    ``DEFAULT_MAX_HEADERFIELD_SIZE``.
  - ``gunicorn.http.body``: ``Body`` (``buf``, ``reader``), ``LengthReader`` (``length``,
    ``unreader``); ``gunicorn.http.unreader``: ``SocketUnreader`` (``buf``, ``sock``).
  - ``gunicorn.config``: ``PreRequest.default``, ``PostRequest.default``.
  - ``gunicorn.util``: ``write_nonblock``, ``close_graceful``, ``unquote_to_wsgi_str``, and
    ``util`` itself (``util.http_date`` is looked up at each call: the replaced one).
  - ``gunicorn_h1c`` (``gunicorn[fast]``): ``parse_request`` and its keyword limits; ``None``
    without the C parser (every request then takes gunicorn's own path).

Read-ahead buffers edited in place: a connection's ``parser.unreader.buf`` (``http1``,
``worker``: bytes read ahead are put back there), ``Body.buf``, ``SocketUnreader.buf`` and
``LengthReader.length`` (``body``: kept true at every byte taken).

Module globals replaced in each worker process (``replace_globals``): ``wsgi.Response``,
``wsgi.base_environ``, ``message._ip_in_allow_list``, ``util.http_date``, ``util.write_error``.
"""

from __future__ import annotations

from gunicorn import util
from gunicorn.config import PostRequest, PreRequest
from gunicorn.http import message, wsgi
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.message import DEFAULT_MAX_HEADERFIELD_SIZE, MAX_HEADERS, MAX_REQUEST_LINE, Message
from gunicorn.http.unreader import SocketUnreader
from gunicorn.http.wsgi import WSGIErrorsWrapper
from gunicorn.workers.base import Worker
from gunicorn.workers.gthread import _DEFER, TConn
from gunicorn.workers.gthread import ThreadWorker as GThreadWorker

try:
    import gunicorn_h1c as h1c
except ImportError:
    h1c = None

# gunicorn's own, as imported (before replace_globals)
GunicornResponse = wsgi.Response
gunicorn_base_environ = wsgi.base_environ
ip_in_allow_list = message._ip_in_allow_list
check_fast_parser = message._check_fast_parser
make_early_hints_callback = wsgi._make_early_hints_callback
write_nonblock = util.write_nonblock
close_graceful = util.close_graceful
unquote_to_wsgi_str = util.unquote_to_wsgi_str

DEFER = _DEFER

__all__ = [
    "DEFAULT_MAX_HEADERFIELD_SIZE",
    "DEFER",
    "MAX_HEADERS",
    "MAX_REQUEST_LINE",
    "Body",
    "GThreadWorker",
    "GunicornResponse",
    "LengthReader",
    "Message",
    "PostRequest",
    "PreRequest",
    "SocketUnreader",
    "TConn",
    "WSGIErrorsWrapper",
    "Worker",
    "check_fast_parser",
    "close_graceful",
    "gunicorn_base_environ",
    "h1c",
    "ip_in_allow_list",
    "make_early_hints_callback",
    "replace_globals",
    "unquote_to_wsgi_str",
    "util",
    "write_nonblock",
]


def replace_globals(*, response, base_environ, ip_in_allow_list, http_date, write_error) -> None:
    """Put this server's versions in place of gunicorn's module globals, for the whole process."""
    wsgi.Response = response
    wsgi.base_environ = base_environ
    message._ip_in_allow_list = ip_in_allow_list
    util.http_date = http_date
    util.write_error = write_error
