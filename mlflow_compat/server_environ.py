"""What a WSGI server may offer the app in each request's environ, beyond plain WSGI.

The app reads these keys and falls back to plain WSGI when one is absent, so it runs under any
WSGI server (the Flask test client included); ``modelops_server`` sets them.
  - ``WRITES_VIEWS`` (``True``): a response may yield memoryviews, each sent before the next is
    asked for (an artifact read with direct I/O reuses its buffers).
  - ``BODY_READER`` (a callable ``environ -> stream | None``): the request's body as a raw binary
    stream with ``readinto`` that reads it faster than ``wsgi.input``, or ``None`` where it cannot
    for this request.
"""

from __future__ import annotations

from flask import request

WRITES_VIEWS = "modelops.writes_views"
BODY_READER = "modelops.body_reader"


def writes_views(environ) -> bool:
    """Whether the server sends each chunk of a response before it asks for the next."""
    return bool(environ.get(WRITES_VIEWS))


def body_stream():
    """The current request's body as a binary stream with ``readinto``: the server's own reader
    when it offers one, else ``request.stream``."""
    stream = request.stream
    environ = request.environ
    if stream is environ.get("wsgi.input"):  # werkzeug did not wrap it (no size limit)
        reader = environ.get(BODY_READER)
        if reader is not None:
            fast = reader(environ)
            if fast is not None:
                return fast
    return stream
