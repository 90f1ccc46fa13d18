"""Concurrent writers on one run: every write lands, none is refused as busy.

On SQLite a deferred transaction that reads and then writes fails at once when another writer
committed in between; write transactions therefore begin IMMEDIATE and wait for the lock.
"""

import threading

import requests


def test_eight_writers_on_one_run_all_succeed(server):
    api = f"{server.url}/api/2.0/mlflow"
    run_id = requests.post(f"{api}/runs/create", json={"experiment_id": "0"}).json()["run"]["info"]["run_id"]
    statuses: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        session = requests.Session()
        for b in range(30):
            r = session.post(
                f"{api}/runs/log-batch",
                json={
                    "run_id": run_id,
                    "metrics": [{"key": f"k{n}", "value": float(b), "timestamp": b, "step": b}],
                    "params": [{"key": f"p{n}_{b}", "value": "x"}],
                    "tags": [{"key": "shared", "value": str(b)}],
                },
            )
            with lock:
                statuses.append(r.status_code)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert statuses == [200] * 240
    run = requests.get(f"{api}/runs/get", params={"run_id": run_id}).json()["run"]
    assert len(run["data"]["params"]) == 240
    latest = {m["key"]: m["step"] for m in run["data"]["metrics"]}
    assert latest == {f"k{n}": 29 for n in range(8)}
    for n in range(8):
        history = requests.get(f"{api}/metrics/get-history", params={"run_id": run_id, "metric_key": f"k{n}"}).json()
        assert [m["step"] for m in history["metrics"]] == list(range(30))
