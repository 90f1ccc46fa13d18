"""The gunicorn worker (mlflow_compat/worker.py) on a real server: keep-alive connections served
back to back by one pool thread stay correct, and never starve the connections waiting for one."""
from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from mlflow_compat import worker
from tests.e2e import server as harness

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_thread_server(tmp_path_factory):
    """modelops itself whatever the suite's target: the worker is ours."""
    tmp = tmp_path_factory.mktemp("worker")
    port = harness.free_port()
    cmd = [harness.modelops_bin(), "server", "--host", "127.0.0.1", "--port", str(port), "--threads", "2",
           "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}", "--artifacts-destination", str(tmp / "artifacts")]
    with harness.ServerProcess(cmd, "127.0.0.1", port, tmp, name="modelops", env=harness.server_env()).start() as srv:
        yield srv


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
    has pool threads; four more clients then log a few points each. A pool thread keeps serving
    its connection only while it is the worker's only one, so the four are served while the two
    are still logging, not after them: each of the two stops at a cap no correct server lets it
    reach, half of the run of requests after which a thread hands its connection back anyway."""
    setup = _connection(two_thread_server)
    run_id = _post(setup, "runs/create", {"experiment_id": "0", "start_time": 1})["run"]["info"]["run_id"]
    cap, calls = worker.MAX_CONSECUTIVE // 2, 5
    others_done = threading.Event()
    busy_counts: dict[int, int] = {}
    busy_started = threading.Barrier(3)

    def log(conn, key: str, step: int) -> None:
        assert _post(conn, "runs/log-metric", {
            "run_id": run_id, "key": key, "value": float(step), "timestamp": step + 1, "step": step,
        }) == {}

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
