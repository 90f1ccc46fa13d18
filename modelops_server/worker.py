"""The gunicorn worker: gthread's threads and request handling, without its hand-offs.

gunicorn's gthread worker hands every request of a keep-alive connection from its main thread
to a pool thread and back: the main thread polls the sockets, unregisters the readable one and
submits it to a ``ThreadPoolExecutor`` (a future, a queue, a wake-up of a pool thread); after the
answer the future's callback writes to a pipe so that the main thread, woken again, registers the
connection back. For one ``log-metric`` call that machinery cost more than the call itself
(py-spy on bench W2), and with several clients every request paid it, with the GIL passed
between the main thread and a pool thread twice per request.

Here the pool threads wait on one epoll set themselves (leader/followers): each connection and
listener is registered one-shot, so the kernel reports a ready one to exactly one waiting thread,
which serves it and re-arms it (one ``epoll_ctl``), then waits again. No thread hands a request
to another; the main thread only writes the heartbeat, closes connections idle past
``keepalive`` and stops the worker. What gthread's loop did is kept: at most
``worker_connections`` connections (the listener is re-armed only while there is room), at most
``worker_connections - threads`` kept alive, a new connection given time for its first request,
idle ones closed, ``max_requests``, SIGTERM finishing the requests in flight within
``graceful_timeout``; gthread's own ``handle`` still serves a connection's first request, TLS,
HTTP/2 and anything unusual. A request the client pipelined behind the one just answered is
served at once by the same thread (it was read from the socket with the first, so epoll would
never report it).

A lone client (a training script logging in a loop, a pipeline registering versions) is served by
one thread: while the connection just answered is the only one being served, its thread waits up
to ``LINGER`` on that socket alone for the next request instead of re-arming it in the epoll
set, where the kernel hands a ready connection to the thread that has waited longest, so
successive requests alternated between threads. Each thread has its own SQLite connection, and
SQLite drops a connection's whole page cache when another connection has written since its last
transaction: every request re-read its pages (12 ``pread`` calls for a model version's creation,
none with one thread). The other threads stay in the epoll set meanwhile, so no other connection
waits for the lingering one; with several connections being served, nothing lingers (threads
waiting on their own sockets then contend for the GIL). The heartbeat (an ``fchmod`` of the worker's temp file) is written at most
once per second; the arbiter only needs one within ``timeout`` (120 s).

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

import errno
import io
import logging
import os
import select
import threading
import time

from modelops_server.gunicorn_private import (
    DEFER,
    GThreadWorker,
    PostRequest,
    PreRequest,
    TConn,
    Worker,
    close_graceful,
    make_early_hints_callback,
)
from modelops_server.gunicorn_process import OneSendResponse, base_environ, settle_process
from modelops_server.http1 import PlainReader, plain_environ

HEARTBEAT_SECONDS = 1.0
# How long a new connection may take to send its first request (gthread: DEFAULT_WORKER_DATA_TIMEOUT).
FIRST_REQUEST_SECONDS = 5.0
# How long the thread that answered a lone client waits on its connection for the next request
# (the bench's Python client takes 0.7-1 ms between an answer and its next request).
LINGER_MS = 2


HAS_EPOLL = hasattr(select, "epoll")


class PortableThreadWorker(GThreadWorker):
    """Where there is no epoll (macOS, the BSDs): gunicorn's gthread worker as it is, with the
    one-send responses, settled config and JSON errors of this module."""

    def init_process(self):
        settle_process(self)
        super().init_process()

    def handle(self, conn):
        """gthread's, and then the requests the client pipelined behind (gthread leaves them in
        its parser's buffer, where its poller never sees them)."""
        keepalive = super().handle(conn)
        while keepalive is True and self.alive and _pipelined(conn):
            keepalive = super().handle(conn)
        return keepalive


class ThreadWorker(GThreadWorker):
    """gthread's worker with its pool threads waiting on one epoll set themselves (see the module's
    docstring); gthread's connection (``TConn``), request handling, HTTP/2 and TLS paths are kept.
    Linux only (``HAS_EPOLL``); elsewhere the server runs ``PortableThreadWorker``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._last_heartbeat = 0.0
        self._plain: PlainReader | None = None  # set in the worker process (init_process)
        self._lean = False  # plain requests served by _handle_plain (init_process)
        self._epoll = None
        self._lock = threading.Lock()
        # connections waiting in the epoll set for their next request, by descriptor; gthread's
        # handle_request reads len(keepalived_conns) to decide whether a response may keep its
        # connection open (at most worker_connections - threads parked)
        self.keepalived_conns: dict[int, object] = {}
        self._listeners: dict[int, object] = {}
        self._listening = False
        self._threads: list[threading.Thread] = []
        self._serving = 0  # connections a pool thread is serving (or lingering on) right now
        self._stopping = threading.Event()
        self._done = False  # set at the end of a stop: the pool threads return
        self._drained = threading.Condition(self._lock)  # notified when the last connection closes

    def init_process(self):
        settle_process(self)
        self._plain = PlainReader(self.cfg)
        self._lean = self._plain.enabled and _unobserved(self)
        self._epoll = select.epoll()
        # gthread's init_process makes its thread pool, selector and wake-up pipe, none used
        # here; gunicorn's own then loads the app and calls run()
        Worker.init_process(self)

    # --- the main thread: heartbeat, idle connections, shutdown -------------------------------
    def run(self):
        epoll = self._epoll
        epoll.register(self.PIPE[0], select.EPOLLIN)  # level-triggered: wakes every thread to stop
        for listener in self.sockets:
            listener.setblocking(False)
            self._listeners[listener.fileno()] = listener
        self._arm_listeners(register=True)
        self._threads = [
            threading.Thread(target=self._serve_events, name=f"modelops-{n}", daemon=True)
            for n in range(self.cfg.threads)
        ]
        for thread in self._threads:
            thread.start()
        while self.alive:
            self.notify()
            if not self.is_parent_alive():
                self.alive = False
                break
            self._close_expired()
            self._stopping.wait(1.0)  # signal handlers run in this thread, interrupting the wait
        self._stop()

    def _drain_wake(self) -> None:
        """Read the wake-up bytes of signals (gunicorn sets PIPE as Python's signal wake-up fd:
        SIGUSR1, SIGWINCH, SIGCHLD ...), which would otherwise keep the pipe readable."""
        try:
            while os.read(self.PIPE[0], 4096):
                pass
        except OSError:
            pass  # empty (non-blocking): another thread drained it

    def handle_exit(self, sig, frame):
        """SIGTERM: stop taking requests, finish those in flight (within graceful_timeout)."""
        self.alive = False
        self._stopping.set()
        self._wake()

    def handle_quit(self, sig, frame):
        Worker.handle_quit(self, sig, frame)

    def _wake(self) -> None:
        try:
            os.write(self.PIPE[1], b"\0")
        except OSError:
            pass  # the pipe is full: a wake-up is already pending

    def _stop(self) -> None:
        """gthread's graceful stop: no new connections (those not yet accepted wait in the
        listener's backlog for the next worker); idle keep-alive connections closed; requests
        already sent, and new connections' first requests, still answered (with
        ``Connection: close``) until none is left or ``graceful_timeout`` has passed."""
        with self._lock:
            for fd in self._listeners:
                try:
                    self._epoll.unregister(fd)
                except OSError:
                    pass
            self._listening = False
        deadline = time.monotonic() + self.cfg.graceful_timeout
        self._close_idle()
        with self._lock:
            while self.nr_conns > 0 and time.monotonic() < deadline:
                self._drained.wait(max(min(deadline - time.monotonic(), 0.5), 0))
        self._done = True
        self._wake()  # left unread: every pool thread sees it and returns
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0.1))
        with self._lock:
            parked, self.keepalived_conns = list(self.keepalived_conns.values()), {}
        for conn in parked:
            conn.close()
        for listener in self.sockets:
            listener.close()

    def _close_idle(self, parked=None) -> None:
        """At shutdown: close the parked connections (all, or those of ``parked``: descriptor,
        connection) that have served a request and have no next one waiting (gthread closes
        them as their keep-alive expires)."""
        if parked is None:
            with self._lock:
                parked = list(self.keepalived_conns.items())
        idle = []
        for fd, conn in parked:
            if not conn.initialized:
                continue  # a new connection: its first request is on its way
            try:
                readable, _, _ = select.select([fd], [], [], 0)
            except (OSError, ValueError):
                readable = [fd]  # let a pool thread find out
            if not readable:
                idle.append((fd, conn))
        self._close_parked(idle)

    def _close_expired(self) -> None:
        """Close keep-alive connections idle for longer than ``keepalive`` seconds (gthread's
        murder_keepalived), and those that never sent a request (its murder_pending)."""
        now = time.monotonic()
        with self._lock:  # chosen and taken at once: one a thread serves and parks again meanwhile stays
            expired = [(fd, conn) for fd, conn in self.keepalived_conns.items() if conn.timeout <= now]
            for fd, _ in expired:
                del self.keepalived_conns[fd]
        for _, conn in expired:
            self._discard(conn, graceful=False)

    def _close_parked(self, candidates) -> None:
        """Close those of ``candidates`` (descriptor, connection) still parked; one a pool
        thread has taken meanwhile is being served and left alone."""
        with self._lock:
            taken = [(fd, conn) for fd, conn in candidates if self.keepalived_conns.get(fd) is conn]
            for fd, _ in taken:
                del self.keepalived_conns[fd]
        for _, conn in taken:
            self._discard(conn, graceful=False)

    # --- the pool threads: take one ready connection at a time, serve it, park it again -------
    def _serve_events(self) -> None:
        epoll, wake = self._epoll, self.PIPE[0]
        while not self._done:
            try:
                events = epoll.poll(1.0, 1)
            except InterruptedError:
                continue
            except OSError:
                return  # the epoll set is closed: the worker is stopping
            for fd, _ in events:
                if fd == wake:  # the end of a stop, or any signal (gunicorn makes PIPE the wake-up fd)
                    if self._done:
                        return
                    self._drain_wake()
                    continue
                listener = self._listeners.get(fd)
                if listener is not None:
                    self._accept(listener)
                    continue
                with self._lock:
                    conn = self.keepalived_conns.pop(fd, None)
                    if conn is not None:
                        self._serving += 1
                # None: closed as idle after its event fired. (If a new connection got the closed
                # one's descriptor meanwhile, this thread takes it: gthread's handle then waits
                # for its first request as it waits for any new connection's.)
                if conn is not None:
                    self._serve_conn(conn)

    def _serve_conn(self, conn) -> None:
        try:
            while True:
                try:
                    keepalive = self.handle(conn)
                except Exception:  # handle answers what it can; a failure here must not end the thread
                    self.log.exception("Error serving a connection")
                    keepalive = False
                if keepalive is DEFER:  # a new connection that sent nothing within gthread's data timeout
                    keepalive = True
                if not (keepalive and self.alive):
                    self._discard(conn, graceful=True)
                    return
                if not self._linger(conn):
                    self._park(conn)
                    return
        finally:
            with self._lock:
                self._serving -= 1

    def _linger(self, conn) -> bool:
        """Whether ``conn``'s next request came within ``LINGER_MS``, this thread waiting for it
        on that socket alone, the connection being the only one served (module docstring)."""
        if self._serving != 1 or self.cfg.threads < 2 or self.cfg.is_ssl or not conn.initialized or conn.is_http2:
            return False
        waiter = select.poll()
        try:
            waiter.register(conn.sock, select.POLLIN)
            return bool(waiter.poll(LINGER_MS)) and self.alive
        except (OSError, ValueError):  # closed meanwhile: parking it finds out
            return False

    def _accept(self, listener) -> None:
        try:
            sock, addr = listener.accept()
        except OSError as e:
            sock = None
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                self.log.exception("accept failed")
        with self._lock:
            if sock is not None:
                self.nr_conns += 1
            self._arm_listeners()
        if sock is not None:
            conn = TConn(self.cfg, sock, addr, listener.getsockname())
            self._park(conn, first=True)

    def _arm_listeners(self, register: bool = False) -> None:
        """Listen for one more connection while the worker has room for it (worker_connections);
        one-shot, so one thread takes each. Called with the lock held (or before the threads)."""
        self._listening = False
        if not (self.alive and self.nr_conns < self.worker_connections):
            return
        for fd in self._listeners:
            try:
                (self._epoll.register if register else self._epoll.modify)(fd, select.EPOLLIN | select.EPOLLONESHOT)
            except OSError:
                return  # the listener is closed: the worker is stopping
        self._listening = True

    def _park(self, conn, first: bool = False) -> None:
        """Back into the epoll set until its next request (one-shot: one thread takes it)."""
        fd = conn.sock.fileno()
        # gthread gives a new connection a thread for up to 5 s to send its first request, then
        # keepalive seconds in its poller; an idle keep-alive connection gets keepalive seconds
        conn.timeout = time.monotonic() + (
            max(self.cfg.keepalive, FIRST_REQUEST_SECONDS) if first else self.cfg.keepalive
        )
        with self._lock:
            self.keepalived_conns[fd] = conn
        try:
            (self._epoll.register if first else self._epoll.modify)(fd, select.EPOLLIN | select.EPOLLONESHOT)
        except OSError:  # closed meanwhile; discarded here unless whoever closed it did
            self._close_parked([(fd, conn)])
            return
        if not self.alive and not first:
            # parked after the stop's sweep of idle connections (this thread was between its
            # answer and here): nobody else would close it before graceful_timeout
            self._close_idle([(fd, conn)])

    def _discard(self, conn, graceful: bool) -> None:
        try:
            self._epoll.unregister(conn.sock)
        except (OSError, ValueError):
            pass  # never registered, or already closed
        conn.close(graceful=graceful)
        with self._lock:
            self.nr_conns -= 1
            if not self._listening:
                self._arm_listeners()
            if self.nr_conns <= 0:
                self._drained.notify_all()

    def notify(self):
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self._last_heartbeat = now
            super().notify()

    def handle(self, conn):
        """One connection's requests while the client has them ready: the one that made it
        readable, then any it pipelined behind it (read from the socket with the first, so the
        epoll set would never report them)."""
        keepalive = self._serve(conn)
        while keepalive is True and self.alive and _pipelined(conn):
            keepalive = self._serve(conn)
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
            conn.sock.setblocking(True)  # as gthread's handle: the socket may be non-blocking
            req = plain.read(conn)
            if req is None:
                return super().handle(conn)
            # The body is read whole: nothing of it is left on the socket to drain.
            if self._lean:
                return self._handle_plain(req, conn)
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

    def _handle_plain(self, req, conn):
        """gthread's ``handle_request`` for a plain request where nothing observes its steps (see
        ``_unobserved``): the same environ (``http1.plain_environ``), response, keep-alive and
        ``max_requests`` decisions and error handling, without the hooks, timestamps and access
        log call that would do nothing, nor ``wsgi.create``'s general cases."""
        sock = conn.sock
        resp = OneSendResponse(req, sock, self.cfg)
        try:
            environ = plain_environ(req, sock, conn.client, conn.server, base_environ(self.cfg))
            environ["wsgi.early_hints"] = make_early_hints_callback(req, sock, resp)
            environ["wsgi.multithread"] = True
            self.nr += 1
            if self.nr >= self.max_requests:
                if self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
                resp.force_close()
            if not self.alive or not self.cfg.keepalive or len(self.keepalived_conns) >= self.max_keepalived:
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                if hasattr(respiter, "close"):
                    respiter.close()
            return not resp.should_close()
        except OSError:
            raise
        except Exception:
            if resp.headers_sent:  # gthread's: the answer is cut short, the connection closed
                self.log.exception("Error handling request")
                close_graceful(sock)
                raise StopIteration() from None
            raise


def _unobserved(worker) -> bool:
    """Whether a request's steps are observed by nothing but the app: no access log, gunicorn's
    own ``pre_request`` (a debug line, so a log level above debug) and ``post_request`` (nothing),
    and no ``SCRIPT_NAME`` in the environment (a mount point gunicorn strips from each path)."""
    cfg = worker.cfg
    return (
        not worker.log.access_log_enabled
        and cfg.pre_request is PreRequest.default
        and cfg.post_request is PostRequest.default
        and not worker.log.error_log.isEnabledFor(logging.DEBUG)
        and not os.environ.get("SCRIPT_NAME")
    )


def _pipelined(conn) -> bool:
    """Whether the client's next request is already read: gunicorn's parser reads ahead of the
    request it parses, and a client that pipelines (sends its next request before the answer)
    leaves that request in the parser's buffer, where the poller, which watches the socket,
    never sees it (gthread then let the connection time out unanswered)."""
    buf = getattr(getattr(getattr(conn, "parser", None), "unreader", None), "buf", None)
    return buf is not None and buf.seek(0, io.SEEK_END) > 0
