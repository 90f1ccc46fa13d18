"""W1…W6: each times one thing a user does, and checks every answer (a fast wrong answer never
counts). The seeding a workload needs (W3's runs, W4's long history) is done once per server by
``seed_*`` and is not timed.

A workload returns ``{metric_key: value}``; a part the server lacks gives ``UNSUPPORTED`` and a
part that answered wrongly ``{"status": "failed", "error": ...}`` for each of its metrics, so one
failed part does not hide the others.
"""

from __future__ import annotations

import concurrent.futures as futures
import hashlib
import itertools
import math
import os
import random
import secrets
import threading
import time
from dataclasses import dataclass, field

import requests

from bench.client import AJAX, ARTIFACTS, CheckFailed, Client, HttpError, Unsupported, check, median, percentile

T0 = 1_700_000_000_000  # a fixed timestamp base (ms) so every server stores the same points
MIB = 1 << 20


@dataclass
class Sizes:
    runs: int = 10  # W1 runs, each 100 keys x 100 steps
    keys: int = 100
    steps: int = 100
    batch: int = 1000  # metrics per log-batch
    metric_calls: int = 1000  # W2 single log-metric calls per mode (1 thread, N threads)
    threads: int = 8  # W2 concurrent client threads
    search_runs: int = 10_000  # W3 experiment size
    search_repeats: int = 5  # W3 searches timed per repetition
    version_search_repeats: int = 25  # W6 searches timed per repetition (each a few ms: more samples)
    search_scale_runs: int = 0  # W3 second experiment for our server (0 = off)
    history_steps: int = 100_000  # W4
    history_page: int = 25_000
    bulk_max_results: int = 1000
    bulk_repeats: int = 10
    artifact_mb: int = 100  # W5, MiB
    artifact_repeats: int = 5  # W5 transfers (each up and down) per repetition, the median reported
    versions: int = 500  # W6
    alias_calls: int = 200
    time_cap: float = 60.0  # seconds: W1/W2/W6 loops stop early past it (rates stay valid)
    seed_threads: int = 8
    warm_up: bool = True  # W3/W4: one untimed pass over the seeded data before timing


@dataclass
class SearchSeed:
    experiment_id: str
    runs: dict = field(default_factory=dict)  # run_id -> (p1, m1, m2)

    def expected_top(self, limit: int = 100) -> list[str]:
        matching = [(m2, run_id) for run_id, (p1, m1, m2) in self.runs.items() if p1 == "a" and m1 > 0.5]
        matching.sort(reverse=True)
        return [run_id for _, run_id in matching[:limit]]


@dataclass
class ServerState:
    """What the untimed seeding left on one server."""

    search: SearchSeed | None = None
    search_large: SearchSeed | None = None
    history_run: str | None = None
    errors: dict = field(default_factory=dict)


UNSUPPORTED = "unsupported"


def failed(error: str) -> dict:
    return {"status": "failed", "error": error[:500]}


# What a measured part (or its warm-up) may raise for a server that answers wrongly or not at all.
_PART_ERRORS = (CheckFailed, requests.RequestException, OSError, KeyError, TypeError, ValueError)


def part(results: dict, keys: list[str], fn) -> None:
    """Run one measured part; on failure mark each of its metric keys."""
    try:
        results.update(fn())
    except Unsupported as exc:
        for key in keys:
            results[key] = {"status": UNSUPPORTED, "error": str(exc)[:300]}
    except _PART_ERRORS as exc:
        for key in keys:
            results[key] = failed(f"{type(exc).__name__}: {exc}")


def warm_up(sizes: Sizes, fn) -> None:
    """One untimed pass of ``fn`` over data seeded long before (W3, W4), for every server alike.
    This VM's DAMON rule pages out file pages idle for a minute: by the time a server's W3 or
    W4 comes, its database file was written 10-30 minutes earlier and is read back from the
    virtual disk, which then measures the disk, not the server (first scan of 10,000 runs: 10.1
    s, the next 0.85 s). A failure is left to the timed pass to report."""
    if not sizes.warm_up:
        return
    try:
        fn()
    except (Unsupported, *_PART_ERRORS):
        pass


def _tag() -> str:
    return secrets.token_hex(3)


def _close(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)


def _unsupported_if_missing(exc: HttpError, what: str):
    if exc.endpoint_missing:
        raise Unsupported(f"{what}: HTTP {exc.status}") from None
    raise exc


# --- W1: log-batch ingest --------------------------------------------------------------------------
def w1_value(key: int, step: int) -> float:
    return key + step / 1000.0


def w1_log_batch(api: Client, sizes: Sizes, rep: int) -> dict:
    out: dict = {}

    def run():
        experiment_id = api.create_experiment(f"bench-w1-{rep}-{_tag()}")
        steps_per_batch = max(1, sizes.batch // sizes.keys)
        latencies, points, run_ids = [], 0, []
        deadline = time.perf_counter() + sizes.time_cap
        for r in range(sizes.runs):
            run_id = api.create_run(experiment_id, f"w1-{r}")["run_id"]
            run_ids.append(run_id)
            for first in range(0, sizes.steps, steps_per_batch):
                metrics = [
                    {"key": f"k{k}", "value": w1_value(k, s), "timestamp": T0 + s, "step": s}
                    for s in range(first, min(first + steps_per_batch, sizes.steps))
                    for k in range(sizes.keys)
                ]
                latencies.append(api.log_batch(run_id, metrics))
                points += len(metrics)
            if time.perf_counter() > deadline:
                break
        # untimed: the server kept what it acknowledged
        for run_id in (run_ids[0], run_ids[-1]):
            body, _ = api.get("/runs/get", {"run_id": run_id})
            latest = {m["key"]: m for m in body["run"]["data"].get("metrics", [])}
            check(len(latest) == sizes.keys, f"W1: run has {len(latest)} metrics, expected {sizes.keys}")
            last = sizes.steps - 1
            for k in range(sizes.keys):
                m = latest.get(f"k{k}")
                check(
                    m is not None and int(m.get("step", 0)) == last and _close(m["value"], w1_value(k, last)),
                    f"W1: latest k{k} is {m}, expected step {last} value {w1_value(k, last)}",
                )
            history = _history(api, run_id, "k7", page=sizes.steps)
            check(len(history) == sizes.steps, f"W1: history of k7 has {len(history)} points, expected {sizes.steps}")
        return {
            "w1.points_per_s": points / sum(latencies),
            "w1.batch_p50_ms": percentile(latencies, 50) * 1000,
            "w1.batch_p95_ms": percentile(latencies, 95) * 1000,
            "w1.points": points,
        }

    part(out, ["w1.points_per_s", "w1.batch_p50_ms", "w1.batch_p95_ms"], run)
    return out


# --- W2: single log-metric calls, 1 and N client threads -------------------------------------------------
def w2_log_metric(api: Client, sizes: Sizes, rep: int) -> dict:
    out: dict = {}
    experiment_id = None

    def mode(threads: int):
        nonlocal experiment_id
        if experiment_id is None:
            experiment_id = api.create_experiment(f"bench-w2-{rep}-{_tag()}")
        run_ids = [api.create_run(experiment_id, f"w2-t{threads}-{t}")["run_id"] for t in range(threads)]
        calls = max(sizes.metric_calls, threads)
        share = [calls // threads + (1 if t < calls % threads else 0) for t in range(threads)]
        done = [0] * threads
        latencies: list[list[float]] = [[] for _ in range(threads)]
        barrier = threading.Barrier(threads + 1)
        deadline_box = [0.0]

        def worker(t: int):
            run_id = run_ids[t]
            api.session  # open this thread's session before the clock starts
            barrier.wait()
            for i in range(share[t]):
                body, elapsed = api.post(
                    "/runs/log-metric",
                    {"run_id": run_id, "key": "lm", "value": i * 0.5, "timestamp": T0 + i, "step": i},
                )
                check(body == {}, f"W2: log-metric answered {str(body)[:200]}")
                latencies[t].append(elapsed)
                done[t] = i + 1
                if time.perf_counter() > deadline_box[0]:
                    break

        with futures.ThreadPoolExecutor(threads) as pool:
            jobs = [pool.submit(worker, t) for t in range(threads)]
            deadline_box[0] = time.perf_counter() + sizes.time_cap
            barrier.wait()
            started = time.perf_counter()
            for job in jobs:
                job.result()
            wall = time.perf_counter() - started
        for t, run_id in enumerate(run_ids):
            history = _history(api, run_id, "lm", page=max(done[t], 1))
            check(len(history) == done[t], f"W2: run {t} has {len(history)} points, {done[t]} acknowledged")
        flat = [x for per in latencies for x in per]
        prefix = f"w2.t{threads}" if threads != 1 else "w2.t1"
        return {
            f"{prefix}.req_per_s": len(flat) / wall,
            f"{prefix}.p50_ms": percentile(flat, 50) * 1000,
            f"{prefix}.p95_ms": percentile(flat, 95) * 1000,
            f"{prefix}.p99_ms": percentile(flat, 99) * 1000,
            f"{prefix}.calls": len(flat),
        }

    for threads in (1, sizes.threads):
        prefix = f"w2.t{threads}"
        part(
            out,
            [f"{prefix}.req_per_s", f"{prefix}.p50_ms", f"{prefix}.p95_ms", f"{prefix}.p99_ms"],
            lambda threads=threads: mode(threads),
        )
    return out


# --- W3: search --------------------------------------------------------------------------------------
SEARCH_FILTER = "metrics.m1 > 0.5 and params.p1 = 'a'"
SEARCH_ORDER = ["metrics.m2 DESC"]


def seed_search(api: Client, runs: int, threads: int, label: str, progress=None) -> SearchSeed:
    """An experiment of ``runs`` runs, each with 3 params, 3 metrics and 2 tags (one log-batch)."""
    seed = SearchSeed(api.create_experiment(f"bench-search-{runs}-{_tag()}"))
    lock = threading.Lock()
    counter = [0]

    def one(i: int):
        rng = random.Random(i * 7919 + runs)
        p1 = rng.choice("abc")
        m1, m2, m3 = rng.random(), rng.random(), rng.random()
        run_id = api.create_run(seed.experiment_id, f"s{i}", start_time=T0 + i)["run_id"]
        api.log_batch(
            run_id,
            metrics=[
                {"key": k, "value": v, "timestamp": T0 + i, "step": 0} for k, v in (("m1", m1), ("m2", m2), ("m3", m3))
            ],
            params=[
                {"key": "p1", "value": p1},
                {"key": "p2", "value": str(i)},
                {"key": "p3", "value": rng.choice(["x", "y"])},
            ],
            tags=[{"key": "team", "value": rng.choice(["red", "blue"])}, {"key": "seed", "value": str(i)}],
        )
        with lock:
            seed.runs[run_id] = (p1, m1, m2)
            counter[0] += 1
            if progress and counter[0] % max(1, runs // 10) == 0:
                progress(f"{label}: seeded {counter[0]:,}/{runs:,} runs")

    with futures.ThreadPoolExecutor(threads) as pool:
        for job in [pool.submit(one, i) for i in range(runs)]:
            job.result()
    check(len(seed.runs) == runs, f"seeding: {len(seed.runs)} distinct run ids for {runs} runs")
    return seed


def _search_once(api: Client, seed: SearchSeed) -> float:
    expected = seed.expected_top(100)
    body, elapsed = api.post(
        "/runs/search",
        {
            "experiment_ids": [seed.experiment_id],
            "filter": SEARCH_FILTER,
            "order_by": SEARCH_ORDER,
            "max_results": 100,
        },
    )
    runs = body.get("runs", [])
    got = [r["info"]["run_id"] for r in runs]
    if got != expected:
        wrong = [r for r in got if r not in seed.runs or seed.runs[r][0] != "a" or seed.runs[r][1] <= 0.5]
        raise CheckFailed(
            f"W3 search: {len(got)} runs, expected {len(expected)}; "
            f"{len(wrong)} not matching the filter; first differs at "
            f"{next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))}"
        )
    for r in runs:  # the answer carries the data it was filtered and ordered on
        metrics = {m["key"]: m["value"] for m in r.get("data", {}).get("metrics", [])}
        params = {p["key"]: p["value"] for p in r.get("data", {}).get("params", [])}
        p1, m1, m2 = seed.runs[r["info"]["run_id"]]
        check(
            params.get("p1") == p1 and _close(metrics.get("m1", -1), m1) and _close(metrics.get("m2", -1), m2),
            f"W3 search: run data differs from what was logged: {metrics} {params}",
        )
    return elapsed


def _scan(api: Client, seed: SearchSeed) -> float:
    seen: set = set()
    total, pages, token = 0, 0, None
    max_pages = len(seed.runs) // 1000 + 3
    started = time.perf_counter()
    while True:
        request = {"experiment_ids": [seed.experiment_id], "max_results": 1000}
        if token:
            request["page_token"] = token
        body, _ = api.post("/runs/search", request)
        ids = [r["info"]["run_id"] for r in body.get("runs", [])]
        total += len(ids)
        seen.update(ids)
        pages += 1
        token = body.get("next_page_token")
        if not token:
            break
        check(pages < max_pages, f"W3 scan: more than {max_pages} pages for {len(seed.runs)} runs")
    elapsed = time.perf_counter() - started
    check(total == len(seen), f"W3 scan: {total - len(seen)} runs seen more than once")
    check(
        seen == set(seed.runs),
        f"W3 scan: saw {len(seen)} runs, expected {len(seed.runs)} "
        f"({len(set(seed.runs) - seen)} missing, {len(seen - set(seed.runs))} unknown)",
    )
    return elapsed


def w3_search(api: Client, sizes: Sizes, state: ServerState) -> dict:
    out: dict = {}

    def search(seed: SearchSeed | None, key: str):
        if seed is None:
            raise CheckFailed(f"seeding failed: {state.errors.get('search', '?')}")
        return {key: median([_search_once(api, seed) for _ in range(sizes.search_repeats)]) * 1000}

    if state.search is not None:
        warm_up(sizes, lambda: (_search_once(api, state.search), _scan(api, state.search)))
    part(out, ["w3.search_ms"], lambda: search(state.search, "w3.search_ms"))

    def scan():
        if state.search is None:
            raise CheckFailed(f"seeding failed: {state.errors.get('search', '?')}")
        return {"w3.scan_s": _scan(api, state.search)}

    part(out, ["w3.scan_s"], scan)
    if state.search_large is not None:
        warm_up(sizes, lambda: _search_once(api, state.search_large))
        part(out, ["w3.search_large_ms"], lambda: search(state.search_large, "w3.search_large_ms"))
    return out


# --- W4: metric history ----------------------------------------------------------------------------
def h_value(step: int) -> float:
    return step * 0.5


def seed_history(api: Client, steps: int) -> str:
    """One run with metric "h" logged at steps 0..steps-1, in step order as a training loop does."""
    experiment_id = api.create_experiment(f"bench-history-{_tag()}")
    run_id = api.create_run(experiment_id, "history")["run_id"]
    for first in range(0, steps, 1000):
        api.log_batch(
            run_id,
            [
                {"key": "h", "value": h_value(s), "timestamp": T0 + s, "step": s}
                for s in range(first, min(first + 1000, steps))
            ],
        )
    return run_id


def _history(api: Client, run_id: str, key: str, page: int) -> list[dict]:
    points, token, pages = [], None, 0
    while True:
        params = {"run_id": run_id, "metric_key": key, "max_results": page}
        if token:
            params["page_token"] = token
        body, _ = api.get("/metrics/get-history", params)
        points.extend(body.get("metrics", []))
        token = body.get("next_page_token")
        pages += 1
        if not token:
            return points
        check(pages < 10_000, "get-history: endless pagination")


def w4_history(api: Client, sizes: Sizes, state: ServerState) -> dict:
    out: dict = {}
    steps = sizes.history_steps

    def history():
        check(state.history_run is not None, f"seeding failed: {state.errors.get('history', '?')}")
        started = time.perf_counter()
        points = _history(api, state.history_run, "h", sizes.history_page)
        elapsed = time.perf_counter() - started
        check(len(points) == steps, f"W4 get-history: {len(points)} points, expected {steps}")
        for i, p in enumerate(points):
            if int(p["step"]) != i or not _close(p["value"], h_value(i)):
                raise CheckFailed(f"W4 get-history: point {i} is {p}")
        return {"w4.history_s": elapsed, "w4.history_points_per_s": steps / elapsed}

    def bulk():
        check(state.history_run is not None, "seeding failed")
        times = []
        for _ in range(sizes.bulk_repeats):
            try:
                body, elapsed = api.get(
                    "/metrics/get-history-bulk-interval",
                    {
                        "run_ids": state.history_run,
                        "metric_key": "h",
                        "max_results": sizes.bulk_max_results,
                    },
                    prefix=AJAX,
                )
            except HttpError as exc:
                _unsupported_if_missing(exc, "get-history-bulk-interval")
            points = body.get("metrics", [])
            step_list = [int(p["step"]) for p in points]
            check(
                2 <= len(points) <= sizes.bulk_max_results,
                f"W4 bulk-interval: {len(points)} points for max_results {sizes.bulk_max_results}",
            )
            check(
                step_list[0] == 0 and step_list[-1] == steps - 1,
                f"W4 bulk-interval: first/last steps {step_list[0]}/{step_list[-1]}, expected 0/{steps - 1}",
            )
            check(all(a < b for a, b in itertools.pairwise(step_list)), "W4 bulk-interval: steps not ascending")
            check(
                all(
                    _close(p["value"], h_value(int(p["step"]))) and p.get("run_id") == state.history_run for p in points
                ),
                "W4 bulk-interval: a point has a wrong value or run_id",
            )
            times.append(elapsed)
        return {"w4.bulk_interval_ms": median(times) * 1000}

    if state.history_run is not None:
        warm_up(sizes, lambda: _history(api, state.history_run, "h", sizes.history_page))
    part(out, ["w4.history_s"], history)
    part(out, ["w4.bulk_interval_ms"], bulk)
    return out


# --- W5: proxied artifacts ---------------------------------------------------------------------------
_payload_cache: dict = {}


def payload(mib: int) -> tuple[bytes, str]:
    if mib not in _payload_cache:
        data = random.Random(mib).randbytes(mib * MIB)
        _payload_cache.clear()
        _payload_cache[mib] = (data, hashlib.sha256(data).hexdigest())
    return _payload_cache[mib]


def proxied_path(artifact_uri: str) -> str:
    """The path under /api/2.0/mlflow-artifacts/artifacts/ of a run's ``mlflow-artifacts:`` URI."""
    if not artifact_uri.startswith("mlflow-artifacts:"):
        raise Unsupported(f"no proxied artifacts (the run's artifact_uri is {artifact_uri})")
    rest = artifact_uri[len("mlflow-artifacts:") :]
    if rest.startswith("//"):  # mlflow-artifacts://host:port/path
        rest = rest[2:].split("/", 1)[1] if "/" in rest[2:] else ""
    return rest.strip("/")


def upload(api: Client, path: str, data: bytes) -> float:
    started = time.perf_counter()
    response = api.request(
        "PUT", f"{ARTIFACTS}/{path}", data=data, headers={"Content-Type": "application/octet-stream"}
    )
    elapsed = time.perf_counter() - started
    if response.status_code // 100 != 2:
        exc = HttpError("PUT", f"{ARTIFACTS}/{path}", response.status_code, response.text)
        _unsupported_if_missing(exc, "proxied artifact upload")
    return elapsed


def download(api: Client, path: str, expected: int) -> tuple[float, str, int]:
    """Time until the last byte has arrived; then the size of the answer and the sha256 of its
    first ``expected`` bytes (more bytes than that fail the size check anyway). Upload's payload
    is hashed before its timer, the download's bytes after it, in a buffer allocated beforehand:
    hashed inline, sha256 (~1.9 GB/s on one core of the bench machine) made the client, not the
    server, the limit of any download faster than ~1 GB/s."""
    buffer = bytearray(expected)  # zero-filled, so its pages are touched before the timer
    view = memoryview(buffer)
    size = 0
    started = time.perf_counter()
    response = api.session.get(f"{api.base}{ARTIFACTS}/{path}", stream=True, timeout=api.timeout)
    try:
        if response.status_code != 200:
            raise HttpError("GET", f"{ARTIFACTS}/{path}", response.status_code, response.text)
        for chunk in response.iter_content(chunk_size=MIB):
            fits = max(0, min(len(chunk), expected - size))
            view[size : size + fits] = memoryview(chunk)[:fits]
            size += len(chunk)
    finally:
        response.close()
    elapsed = time.perf_counter() - started
    return elapsed, hashlib.sha256(view[: min(size, expected)]).hexdigest(), size


def w5_artifacts(api: Client, sizes: Sizes, rep: int) -> dict:
    out: dict = {}

    def run():
        experiment_id = api.create_experiment(f"bench-w5-{rep}-{_tag()}")
        info = api.create_run(experiment_id, "w5")
        base = proxied_path(info.get("artifact_uri", ""))
        data, sha = payload(sizes.artifact_mb)
        ups, downs = [], []
        for n in range(max(1, sizes.artifact_repeats)):
            path = f"{base}/bench-{n}.bin"  # a new file each time, as a run logs its artifacts
            ups.append(upload(api, path, data))
            down, got_sha, size = download(api, path, len(data))
            check(
                size == len(data) and got_sha == sha,
                f"W5: downloaded {size} bytes with sha256 {got_sha[:12]}…, uploaded {len(data)} bytes {sha[:12]}…",
            )
            downs.append(down)
        mib = len(data) / MIB
        return {"w5.upload_mb_s": mib / median(ups), "w5.download_mb_s": mib / median(downs)}

    part(out, ["w5.upload_mb_s", "w5.download_mb_s"], run)
    return out


# --- W6: the model registry --------------------------------------------------------------------------
MLMODEL = """artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    python_version: 3.11.7
model_uuid: {uuid}
utc_time_created: '2024-01-01 00:00:00.000000'
"""


def w6_registry(api: Client, sizes: Sizes, rep: int) -> dict:
    out: dict = {}
    box: dict = {}

    def create():
        name = f"bench-model-{rep}-{_tag()}"
        try:
            api.post("/registered-models/create", {"name": name})
        except HttpError as exc:
            _unsupported_if_missing(exc, "registered-models/create")
        experiment_id = api.create_experiment(f"bench-w6-{rep}-{_tag()}")
        info = api.create_run(experiment_id, "w6")
        run_id = info["run_id"]
        base = proxied_path(info.get("artifact_uri", ""))
        upload(api, f"{base}/model/MLmodel", MLMODEL.format(uuid=secrets.token_hex(16)).encode())
        upload(api, f"{base}/model/model.pkl", os.urandom(1024))
        source = f"runs:/{run_id}/model"
        latencies = []
        deadline = time.perf_counter() + sizes.time_cap
        for i in range(sizes.versions):
            body, elapsed = api.post("/model-versions/create", {"name": name, "source": source, "run_id": run_id})
            mv = body.get("model_version", {})
            check(
                mv.get("name") == name and str(mv.get("version")) == str(i + 1) and mv.get("run_id") == run_id,
                f"W6: model-versions/create #{i + 1} answered {str(body)[:300]}",
            )
            latencies.append(elapsed)
            if time.perf_counter() > deadline:
                break
        box.update(name=name, created=len(latencies))
        return {
            "w6.create_ops_s": len(latencies) / sum(latencies),
            "w6.create_p50_ms": percentile(latencies, 50) * 1000,
            "w6.versions": len(latencies),
        }

    def search():
        check("name" in box, "no versions were created")
        name, created = box["name"], box["created"]
        times = []
        for _ in range(sizes.version_search_repeats):
            started = time.perf_counter()
            versions, token, pages = [], None, 0
            while True:
                params = {"filter": f"name='{name}'", "max_results": 1000}
                if token:
                    params["page_token"] = token
                body, _ = api.get("/model-versions/search", params)
                versions.extend(int(mv["version"]) for mv in body.get("model_versions", []))
                token, pages = body.get("next_page_token"), pages + 1
                if not token:
                    break
                check(pages <= created // 1000 + 3, "W6 search: endless pagination")
            times.append(time.perf_counter() - started)
            check(
                sorted(versions) == list(range(1, created + 1)),
                f"W6 search: {len(versions)} versions, expected 1..{created}",
            )
        return {"w6.search_ms": median(times) * 1000}

    def alias():
        check("name" in box, "no versions were created")
        name, target = box["name"], str(max(1, box["created"] // 2))
        body, _ = api.post("/registered-models/alias", {"name": name, "alias": "champion", "version": target})
        check(body == {}, f"W6 set alias answered {str(body)[:200]}")
        times = []
        started = time.perf_counter()
        for _ in range(sizes.alias_calls):
            body, elapsed = api.get("/registered-models/alias", {"name": name, "alias": "champion"})
            mv = body.get("model_version", {})
            check(
                str(mv.get("version")) == target and mv.get("name") == name,
                f"W6 get-by-alias answered {str(body)[:200]}",
            )
            times.append(elapsed)
        wall = time.perf_counter() - started
        return {"w6.alias_p50_ms": percentile(times, 50) * 1000, "w6.alias_ops_s": len(times) / wall}

    part(out, ["w6.create_ops_s", "w6.create_p50_ms"], create)
    part(out, ["w6.search_ms"], search)
    part(out, ["w6.alias_p50_ms", "w6.alias_ops_s"], alias)
    if all(isinstance(out.get(k), dict) and out[k].get("status") == UNSUPPORTED for k in ("w6.create_ops_s",)):
        for k in ("w6.search_ms", "w6.alias_p50_ms", "w6.alias_ops_s"):
            out[k] = out["w6.create_ops_s"]
    return out
