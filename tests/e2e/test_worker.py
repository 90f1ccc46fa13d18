"""The gunicorn worker (mlflow_compat/worker.py) on a real server: keep-alive connections served
back to back by one pool thread stay correct, and never starve the connections waiting for one."""
from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

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


def test_more_keepalive_clients_than_threads_are_all_served_in_turn(two_thread_server):
    """Six clients logging in tight loops on their own keep-alive connections, two pool threads:
    a thread keeps serving its connection only while nobody else waits, so every client gets
    its first answer before any client has all of its answers."""
    setup = _connection(two_thread_server)
    run_id = _post(setup, "runs/create", {"experiment_id": "0", "start_time": 1})["run"]["info"]["run_id"]
    clients, calls = 6, 40
    order: list[tuple[int, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def client(n: int) -> None:
        conn = _connection(two_thread_server)
        start.wait()
        for step in range(calls):
            assert _post(conn, "runs/log-metric", {
                "run_id": run_id, "key": f"c{n}", "value": float(step), "timestamp": step + 1, "step": step,
            }) == {}
            with lock:
                order.append((n, step))
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(order) == clients * calls
    first_answer = {n: order.index((n, 0)) for n in range(clients)}
    last_answer = {n: order.index((n, calls - 1)) for n in range(clients)}
    assert max(first_answer.values()) < min(last_answer.values()), order
    for n in range(clients):
        setup.request("GET", f"/api/2.0/mlflow/metrics/get-history?run_id={run_id}&metric_key=c{n}")
        resp = setup.getresponse()
        points = json.loads(resp.read())["metrics"]
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
