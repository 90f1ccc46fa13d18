"""Quick ingest check against a running server: python scripts/load_smoke.py http://127.0.0.1:5000"""

import sys
import time

import requests


def main(base: str) -> None:
    api = base.rstrip("/") + "/api/2.0/mlflow"
    session = requests.Session()
    run = session.post(f"{api}/runs/create", json={"experiment_id": "0", "run_name": "load-smoke"})
    run.raise_for_status()
    run_id = run.json()["run"]["info"]["run_id"]

    started = time.perf_counter()
    batches = 20
    for b in range(batches):
        metrics = [
            {"key": f"k{i % 100}", "value": i * 0.1, "timestamp": 1000 + b, "step": b * 10 + i // 100}
            for i in range(1000)
        ]
        r = session.post(f"{api}/runs/log-batch", json={"run_id": run_id, "metrics": metrics})
        r.raise_for_status()
    elapsed = time.perf_counter() - started
    print(f"log-batch: {batches * 1000 / elapsed:,.0f} points/s, {elapsed / batches * 1000:.1f} ms per batch")

    started = time.perf_counter()
    for i in range(200):
        r = session.post(
            f"{api}/runs/log-metric",
            json={"run_id": run_id, "key": "single", "value": i, "timestamp": i, "step": i},
        )
        r.raise_for_status()
    print(f"log-metric: {200 / (time.perf_counter() - started):,.0f} req/s (1 client thread)")

    started = time.perf_counter()
    r = session.get(f"{api}/metrics/get-history", params={"run_id": run_id, "metric_key": "k1"})
    r.raise_for_status()
    points = r.json()["metrics"]
    assert len(points) == batches * 10, len(points)
    print(f"get-history: {len(points)} points in {(time.perf_counter() - started) * 1000:.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000")
