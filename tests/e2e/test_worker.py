"""The gunicorn worker (modelops_server/worker.py) on a real server: its pool threads take ready
connections from one epoll set; keep-alive connections stay correct, never starve the others, are
closed when idle too long; the connection limit, signals and shutdown behave as gunicorn's."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
import time

import pytest

from scripts.bench import servers as bench_servers
from tests.e2e import server as harness
from tests.e2e.artifact_servers import process_tree

pytestmark = pytest.mark.e2e


def _server(tmp, *extra: str) -> harness.ServerProcess:
    """modelops itself whatever the suite's target, on its own worker whatever MODELOPS_WORKER says."""
    port = harness.free_port()
    cmd = [
        harness.modelops_bin(),
        "server",
        "--worker",
        "modelops",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--threads",
        "2",
        "--backend-store-uri",
        f"sqlite:///{tmp / 'mlflow.db'}",
        "--artifacts-destination",
        str(tmp / "artifacts"),
        *extra,
    ]
    return harness.ServerProcess(cmd, "127.0.0.1", port, tmp, name="modelops", env=harness.server_env())


@pytest.fixture(scope="module")
def two_thread_server(tmp_path_factory):
    with _server(tmp_path_factory.mktemp("worker")).start() as srv:
        yield srv


def _worker_pid(srv) -> int:
    workers = [pid for pid in process_tree(srv.pid) if pid != srv.pid]
    assert len(workers) == 1, workers
    return workers[0]


def _connection(srv) -> http.client.HTTPConnection:
    host, port = srv.url.split("//", 1)[1].split(":")
    return http.client.HTTPConnection(host, int(port), timeout=30)


def _post(conn, path: str, body: dict) -> dict:
    conn.request("POST", f"/api/2.0/mlflow/{path}", json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    payload = resp.read()
    assert resp.status == 200, payload
    return json.loads(payload)


def test_busy_keepalive_clients_do_not_starve_the_others(two_thread_server):
    """Two clients log without pause on their own keep-alive connections, as many as the server
    has pool threads; four more clients then log a few points each. Each request goes back through
    the epoll set, whose ready connections are taken in turn, so the four are served while the two
    are still logging, not after them: each of the two stops at a cap no fair server lets it reach
    (the four need 20 requests; the two, sending without pause, are at most a few ahead each)."""
    setup = _connection(two_thread_server)
    run_id = _post(setup, "runs/create", {"experiment_id": "0", "start_time": 1})["run"]["info"]["run_id"]
    cap, calls = 500, 5
    others_done = threading.Event()
    busy_counts: dict[int, int] = {}
    busy_started = threading.Barrier(3)

    def log(conn, key: str, step: int) -> None:
        assert (
            _post(
                conn,
                "runs/log-metric",
                {
                    "run_id": run_id,
                    "key": key,
                    "value": float(step),
                    "timestamp": step + 1,
                    "step": step,
                },
            )
            == {}
        )

    def busy(n: int) -> None:
        conn = _connection(two_thread_server)
        log(conn, f"busy{n}", 0)
        busy_started.wait()
        step = 1
        while not others_done.is_set() and step < cap:
            log(conn, f"busy{n}", step)
            step += 1
        busy_counts[n] = step
        conn.close()

    def other(n: int) -> None:
        conn = _connection(two_thread_server)
        for step in range(calls):
            log(conn, f"other{n}", step)
        conn.close()

    hogs = [threading.Thread(target=busy, args=(n,)) for n in range(2)]
    for t in hogs:
        t.start()
    busy_started.wait()  # both busy connections are being served
    others = [threading.Thread(target=other, args=(n,)) for n in range(4)]
    for t in others:
        t.start()
    for t in others:
        t.join()
    others_done.set()
    for t in hogs:
        t.join()

    assert all(count < cap for count in busy_counts.values()), busy_counts
    for n in range(4):
        setup.request("GET", f"/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=other{n}")
        points = json.loads(setup.getresponse().read())["metrics"]
        assert [p["step"] for p in points] == list(range(calls))


def _pool_thread_cpu(pid: int, threads: int = 2) -> dict[int, int]:
    """CPU ticks (user + system) of each of the worker's pool threads: the first threads it
    starts after its main one (the WAL checkpointer's and the direct-I/O threads come later)."""
    ticks = {}
    for tid in sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)[:threads]:
        with open(f"/proc/{pid}/task/{tid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        ticks[tid] = int(fields[11]) + int(fields[12])
    return ticks


def test_a_lone_clients_requests_are_served_by_one_thread(two_thread_server):
    """One client on one keep-alive connection: the thread that answers waits on that connection
    for its next request (each pool thread has its own SQLite connection, whose page cache another
    connection's writes would drop), so one thread does the work; through the epoll set, which
    hands a ready connection to the thread waiting longest, the two alternated. Measured in blocks
    of 50 calls: in a block the work is one thread's, unless the client paused longer than the
    thread waits (this VM stalls now and then) and the other thread took over from there."""
    conn = _connection(two_thread_server)
    run_id = _post(conn, "runs/create", {"experiment_id": "0", "start_time": 1})["run"]["info"]["run_id"]
    worker = _worker_pid(two_thread_server)
    blocks, step = [], 0
    before = _pool_thread_cpu(worker)
    while len(blocks) < 12 and step < 20_000:
        for _ in range(50):
            _post(conn, "runs/log-metric", {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1, "step": step})
            step += 1
        after = _pool_thread_cpu(worker)
        minor, major = sorted(after[tid] - before[tid] for tid in after)
        if minor + major >= 4:  # enough of /proc's 10 ms ticks to tell
            blocks.append((minor, major))
            before = after
    shared = [block for block in blocks if block[0] * 3 >= block[1]]  # the other thread did a quarter or more
    assert len(blocks) == 12 and len(shared) <= 3, blocks
    conn.close()


def test_a_connection_that_pauses_is_served_again(two_thread_server):
    """A client that thinks between requests (longer than a pool thread waits for it) finds its
    keep-alive connection working; so does one that sends its next request at once."""
    conn = _connection(two_thread_server)
    run_id = _post(conn, "runs/create", {"experiment_id": "0", "start_time": 1})["run"]["info"]["run_id"]
    for step in range(6):
        _post(conn, "runs/log-metric", {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1, "step": step})
        if step % 2:
            time.sleep(0.05)  # the client's own think time, not a wait for the server
    conn.request("GET", f"/api/2.0/mlflow/runs/get?run_id={run_id}")
    resp = conn.getresponse()
    metrics = json.loads(resp.read())["run"]["data"]["metrics"]
    assert [(m["key"], m["step"]) for m in metrics] == [("m", 5)]


def _pipelined_answers(srv, requests: int) -> list[tuple[int, dict]]:
    """Send ``requests`` GETs at once on one connection (HTTP/1.1 pipelining) and read the
    answers; the socket's timeout bounds a server that leaves one unanswered."""
    host, port = srv.url.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        one = b"GET /api/2.0/mlflow/experiments/get?experiment_id=%d HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(b"".join(one % (n % 2) for n in range(requests)))  # experiments 0, 1, 0, ...
        reader = sock.makefile("rb")
        answers = []
        for _ in range(requests):
            status_line = reader.readline()
            assert status_line, f"the server closed the connection after {len(answers)} of {requests} answers"
            status = int(status_line.split()[1])
            headers = {}
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            answers.append((status, json.loads(reader.read(int(headers["content-length"])))))
        return answers


def test_pipelined_requests_are_all_answered_in_order(two_thread_server):
    """A client may send its next requests before the answers come (RFC 9112 9.3.2): they were
    read from the socket with the first, and each is answered, in order, on the connection; also
    while other connections keep the worker's threads busy."""
    setup = _connection(two_thread_server)
    second = _post(setup, "experiments/create", {"name": "pipelined"})["experiment_id"]
    assert second == "1"

    def check(answers):
        assert [status for status, _ in answers] == [200] * len(answers)
        assert [body["experiment"]["experiment_id"] for _, body in answers] == [str(n % 2) for n in range(len(answers))]

    check(_pipelined_answers(two_thread_server, 3))
    stop = threading.Event()

    def busy():
        conn = _connection(two_thread_server)
        while not stop.is_set():
            conn.request("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0")
            conn.getresponse().read()
        conn.close()

    others = [threading.Thread(target=busy) for _ in range(3)]
    for t in others:
        t.start()
    try:
        check(_pipelined_answers(two_thread_server, 5))
    finally:
        stop.set()
        for t in others:
            t.join()


def test_each_worker_settles_its_heap_after_loading_the_app(two_thread_server):
    """The post_worker_init hook ran in the real worker: the app's objects frozen out of the
    cyclic collector, the young generation's threshold raised (modelops_server.serve)."""
    from modelops_server import serve

    conn = _connection(two_thread_server)
    conn.request("GET", "/api/2.0/mlflow/experiments/get?experiment_id=0")
    assert conn.getresponse().status == 200
    settled = [line for line in two_thread_server.logs()["stderr"].splitlines() if "Worker heap settled" in line]
    assert len(settled) == 1, two_thread_server.logs_tail()
    frozen = int(settled[0].split("settled: ")[1].split()[0])
    assert frozen > 10_000 and f"every {serve.GC_YOUNG_THRESHOLD} allocations" in settled[0]


def test_settle_heap_freezes_and_raises_the_young_threshold():
    import gc

    from modelops_server import serve

    threshold = gc.get_threshold()
    try:
        serve._settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (serve.GC_YOUNG_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def _answer(reader) -> tuple[int, dict, bytes]:
    status_line = reader.readline()
    assert status_line, "the server closed the connection"
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, reader.read(int(headers.get("content-length", 0)))


def test_one_connection_serves_plain_and_gunicorn_read_requests_in_turn(two_thread_server):
    """After a connection's first request, plain requests are read by modelops_server.http1 and
    the rest (chunked, Expect: 100-continue, large bodies, malformed) by gunicorn: on one
    keep-alive connection each is answered in order, and a malformed one gets gunicorn's 400."""
    host, port = two_thread_server.url.split("//", 1)[1].split(":")
    create = b'{"name": "mixed-%d"}'

    def post(body: bytes, *extra: bytes) -> bytes:
        head = [b"POST /api/2.0/mlflow/experiments/create HTTP/1.1", b"Host: x", b"Content-Type: application/json"]
        return b"\r\n".join(head + list(extra)) + b"\r\n\r\n" + body

    big = b'{"name": "mixed-big", "tags": [{"key": "k", "value": "%s"}]}' % (b"v" * 5000)
    bulky = b'{"experiment_ids": ["0"], "max_results": 1, "padding": "%s"}' % (b"p" * 70_000)  # ignored field
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        reader = sock.makefile("rb")
        names = []
        for _n, raw in enumerate(
            [
                post(create % 0, b"Content-Length: %d" % len(create % 0)),  # first request: gunicorn's
                post(create % 1, b"Content-Length: %d" % len(create % 1)),  # plain
                post(b"%x\r\n%s\r\n0\r\n\r\n" % (len(create % 2), create % 2), b"Transfer-Encoding: chunked"),
                post(create % 3, b"Content-Length: %d" % len(create % 3)),
                post(big, b"Content-Length: %d" % len(big)),
                b"POST /api/2.0/mlflow/runs/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(bulky), bulky),  # over the reader's body limit
            ]
        ):
            sock.sendall(raw)
            status, _, body = _answer(reader)
            assert status == 200, body
            names.append(json.loads(body).get("experiment_id"))
        assert all(names[:5]) and len(set(names[:5])) == 5
        sock.sendall(post(create % 5, b"Expect: 100-continue", b"Content-Length: %d" % len(create % 5)))
        assert _answer(reader)[0] == 100
        assert _answer(reader)[0] == 200
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header Name: v\r\n\r\n")
        status, headers, body = _answer(reader)
        assert status == 400 and headers.get("connection") == "close"
        assert headers["content-type"] == "application/json"  # MLflow's error, not gunicorn's page
        assert json.loads(body)["error_code"] == "BAD_REQUEST"
        assert reader.readline() == b""  # gunicorn closed it, as it does after a parse error


def test_request_lines_as_long_as_mlflow_takes_are_served(two_thread_server):
    """mlflow server (uvicorn) takes request heads up to 16 KiB; gunicorn's own cap is 8190 bytes
    of request line unless told none (modelops_server.serve). A 15,000-byte GET is answered, first
    on a connection (gunicorn's reader) and then behind another request (the plain reader)."""
    conn = _connection(two_thread_server)
    query = "experiment_id=0&" + "&".join(f"ignored{n}=" + "v" * 40 for n in range(300))
    assert len(query) > 15_000
    for _ in range(2):
        conn.request("GET", f"/api/2.0/mlflow/experiments/get?{query}")
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, body[:300]
        assert json.loads(body)["experiment"]["experiment_id"] == "0"


def test_an_idle_keepalive_connection_is_closed_and_a_new_one_served(tmp_path):
    """gunicorn's ``keepalive``: a connection that sends nothing for that long is closed by the
    server (the client sees the end of the stream), one that never sent a request too; the worker
    goes on serving new ones."""
    with _server(tmp_path, "--gunicorn-opts", "--keep-alive 1").start() as srv:
        conn = _connection(srv)
        assert _post(conn, "experiments/search", {"max_results": 1})["experiments"]
        host, port = srv.url.split("//", 1)[1].split(":")
        silent = socket.create_connection((host, int(port)), timeout=15)
        conn.sock.settimeout(15)
        assert conn.sock.recv(1) == b""  # closed by the server, not timed out (that raises)
        assert silent.recv(1) == b""
        silent.close()
        fresh = _connection(srv)
        assert _post(fresh, "experiments/search", {"max_results": 1})["experiments"]


def test_the_arbiter_forks_its_workers_with_no_other_thread(tmp_path):
    """The arbiter creates a new database's schema and then forks the workers: a thread of its
    own inside SQLite at the fork (the WAL checkpointer, started by the schema's commits) left
    SQLite's mutex locked in the worker, whose first request then waited forever. It runs
    none."""
    with _server(tmp_path).start() as srv:
        with open(f"/proc/{srv.pid}/status") as status:
            threads = next(line.split()[1] for line in status if line.startswith("Threads:"))
        assert threads == "1"
        assert _post(_connection(srv), "experiments/search", {"max_results": 1})["experiments"]


def test_a_connection_beyond_worker_connections_waits_for_room(tmp_path):
    """gunicorn's ``worker_connections``: with that many connections open the worker accepts no
    more; when one closes, the waiting one is accepted and answered."""
    with _server(tmp_path, "--gunicorn-opts", "--worker-connections 3").start() as srv:
        host, port = srv.url.split("//", 1)[1].split(":")
        idle = [socket.create_connection((host, int(port)), timeout=15) for _ in range(3)]
        waiting = socket.create_connection((host, int(port)), timeout=15)  # in the kernel's backlog
        waiting.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        waiting.settimeout(0.5)
        with pytest.raises(socket.timeout):
            waiting.recv(1)  # not accepted while the three are open
        idle.pop().close()
        waiting.settimeout(15)
        reader = waiting.makefile("rb")
        assert reader.readline().split()[1] == b"200"
        for sock in [waiting, *idle]:
            sock.close()


def test_signals_to_the_worker_leave_it_serving_and_idle(two_thread_server):
    """gunicorn makes the worker's pipe Python's signal wake-up fd, so every signal (SIGUSR1 reopens
    the logs, SIGWINCH is ignored) leaves a byte in it: the threads waiting on the pipe read it and
    go on, neither stopping nor spinning on a pipe that stays readable."""
    pid = _worker_pid(two_thread_server)
    conn = _connection(two_thread_server)
    assert _post(conn, "experiments/search", {"max_results": 1})["experiments"]
    threads = sorted(os.listdir(f"/proc/{pid}/task"))
    for sig in (signal.SIGUSR1, signal.SIGWINCH, signal.SIGUSR1) * 3:
        os.kill(pid, sig)
        assert _post(conn, "experiments/search", {"max_results": 1})["experiments"]
    assert sorted(os.listdir(f"/proc/{pid}/task")) == threads  # no pool thread ended
    _, quiet = bench_servers.wait_quiet(lambda: bench_servers.tree_cpu_seconds(pid), window=0.5, timeout=10)
    assert quiet, "the worker stays busy after the signals"
    assert _worker_pid(two_thread_server) == pid  # the same worker: it did not exit and get replaced


def test_sigterm_stops_the_server_with_keepalive_connections_open(tmp_path):
    """SIGTERM to gunicorn's arbiter: the worker stops taking requests, closes its idle keep-alive
    connections and exits within the graceful timeout, without being killed."""
    srv = _server(tmp_path).start()
    try:
        conns = [_connection(srv) for _ in range(3)]
        for conn in conns:
            assert _post(conn, "experiments/search", {"max_results": 1})["experiments"]
        code = srv.stop(timeout=20)
        assert not srv.killed and code == 0, srv.logs_tail()
        assert "Worker exiting" in srv.logs()["stderr"]
    finally:
        srv.stop()


def test_max_requests_replaces_the_worker_without_losing_a_request(tmp_path):
    """gunicorn's ``max_requests``: the worker that reached it stops and the arbiter starts
    another; connections made meanwhile wait in the listener's backlog and are all answered."""
    with _server(tmp_path, "--gunicorn-opts", "--max-requests 3").start() as srv:
        first = _worker_pid(srv)
        names = []
        for n in range(10):
            conn = _connection(srv)
            conn.request(
                "POST",
                "/api/2.0/mlflow/experiments/create",
                json.dumps({"name": f"mr-{n}"}),
                {"Content-Type": "application/json", "Connection": "close"},
            )
            resp = conn.getresponse()
            assert resp.status == 200, resp.read()
            names.append(json.loads(resp.read())["experiment_id"])
            conn.close()
        assert len(set(names)) == 10
        deadline = time.monotonic() + 30
        while True:  # the arbiter replaced the first worker at least once
            workers = [pid for pid in process_tree(srv.pid) if pid != srv.pid]
            if workers and first not in workers:
                break
            assert time.monotonic() < deadline, workers
            time.sleep(0.05)
        assert "Autorestarting worker" in srv.logs()["stderr"]


def test_the_portable_worker_serves_where_there_is_no_epoll(tmp_path):
    """Where ``select.epoll`` is missing (macOS, the BSDs) the server runs gthread itself with this
    module's responses (``PortableThreadWorker``); chosen here explicitly, it serves keep-alive and
    pipelined requests, and MLflow's JSON error for a request gunicorn cannot read."""
    with _server(
        tmp_path, "--gunicorn-opts", "--worker-class modelops_server.worker.PortableThreadWorker"
    ).start() as srv:
        conn = _connection(srv)
        for n in range(3):
            assert _post(conn, "experiments/create", {"name": f"portable-{n}"})["experiment_id"]
        assert [status for status, _ in _pipelined_answers(srv, 3)] == [200] * 3
        host, port = srv.url.split("//", 1)[1].split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header Name: v\r\n\r\n")
            status, _headers, body = _answer(sock.makefile("rb"))
        assert status == 400 and json.loads(body)["error_code"] == "BAD_REQUEST"
        assert "Using worker: modelops_server.worker.PortableThreadWorker" in srv.logs()["stderr"], srv.logs_tail()


def test_the_epoll_worker_is_the_default_on_linux(two_thread_server):
    from modelops_server import worker

    assert worker.HAS_EPOLL  # this suite runs on Linux
    assert "Using worker: modelops_server.worker.ThreadWorker" in two_thread_server.logs()["stderr"]


def test_with_an_access_log_every_request_is_logged(tmp_path):
    """A plain request is served by the worker's own lean path only while nothing observes its
    steps; with an access log each one takes gunicorn's ``handle_request`` and is logged, the
    keep-alive requests after a connection's first (plain ones) as well as the first."""
    with _server(tmp_path, "--gunicorn-opts", "--access-logfile -").start() as srv:
        conn = _connection(srv)
        for n in range(3):
            assert _post(conn, "experiments/create", {"name": f"logged-{n}"})["experiment_id"]
        conn.request("GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=logged-2")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["experiment"]["name"] == "logged-2"
        deadline = time.monotonic() + 30
        while True:  # the access log is written after each answer
            out = srv.logs()["stdout"]
            if "get-by-name" in out:
                break
            assert time.monotonic() < deadline, srv.logs_tail()
            time.sleep(0.05)
        assert out.count('"POST /api/2.0/mlflow/experiments/create HTTP/1.1" 200') == 3, out
        assert '"GET /api/2.0/mlflow/experiments/get-by-name?experiment_name=logged-2 HTTP/1.1" 200' in out
