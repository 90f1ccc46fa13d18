"""The benchmark's REST client: one keep-alive ``requests.Session`` per thread, every call timed,
every answer checked by the caller. 429/503 with ``Retry-After`` are retried the way the MLflow
client retries them (the server promises nothing was applied); the retries are counted."""

from __future__ import annotations

import math
import threading
import time

import requests

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"

MAX_RETRIES = 10


class CheckFailed(Exception):
    """An answer was wrong (status, shape or content): the measurement does not count."""


class Unsupported(Exception):
    """The server does not offer what the workload needs (recorded as "unsupported")."""


class HttpError(CheckFailed):
    def __init__(self, method: str, path: str, status: int, body: str):
        self.status = status
        self.body = body
        super().__init__(f"{method} {path} -> HTTP {status}: {body[:300]}")

    @property
    def endpoint_missing(self) -> bool:
        # MLflow and FastTrackML answer an unknown route with 404 ENDPOINT_NOT_FOUND
        # (or 405 for a route that exists with other methods).
        return self.status in (404, 405) and (
            "ENDPOINT_NOT_FOUND" in self.body or self.status == 405 or "not found" in self.body.lower()
        )


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Client:
    """A thread-safe client: each thread gets its own ``requests.Session`` (keep-alive)."""

    def __init__(self, base_url: str, timeout: float = 600.0):
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[requests.Session] = []
        self.retries = 0

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # a big pool is harmless: one session is only ever used by one thread
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0)
            session.mount("http://", adapter)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
        self._local = threading.local()

    # --- raw request with retries -----------------------------------------------------------
    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        url = self.base + path
        for attempt in range(MAX_RETRIES + 1):
            response = self.session.request(method, url, **kwargs)
            if response.status_code in (429, 503) and attempt < MAX_RETRIES:
                retry_after = response.headers.get("Retry-After")
                if retry_after is None:
                    return response  # not a load answer the client may retry
                with self._lock:
                    self.retries += 1
                try:
                    delay = min(float(retry_after), 5.0)
                except ValueError:
                    delay = 1.0
                time.sleep(max(delay, 0.01))
                continue
            return response
        return response

    def call(self, method: str, path: str, *, params=None, json=None, expect_json=True):
        """One API call: returns (decoded JSON or the Response, seconds). Non-2xx raises HttpError."""
        started = time.perf_counter()
        response = self.request(method, path, params=params, json=json)
        if expect_json:
            if response.status_code // 100 != 2:
                raise HttpError(method, path, response.status_code, response.text)
            try:
                body = response.json()
            except ValueError:
                raise CheckFailed(f"{method} {path}: answer is not JSON: {response.text[:200]!r}") from None
            elapsed = time.perf_counter() - started
            if not isinstance(body, dict):
                raise CheckFailed(f"{method} {path}: answer is not a JSON object: {str(body)[:200]}")
            if "error_code" in body:
                raise CheckFailed(f"{method} {path}: error in a 2xx answer: {str(body)[:300]}")
            return body, elapsed
        elapsed = time.perf_counter() - started
        return response, elapsed

    def get(self, endpoint: str, params=None, prefix: str = API):
        return self.call("GET", prefix + endpoint, params=params)

    def post(self, endpoint: str, body: dict, prefix: str = API):
        return self.call("POST", prefix + endpoint, json=body)

    # --- small conveniences used by the seeding --------------------------------------------------
    def create_experiment(self, name: str) -> str:
        body, _ = self.post("/experiments/create", {"name": name})
        check("experiment_id" in body, f"experiments/create: no experiment_id in {body}")
        return str(body["experiment_id"])

    def create_run(self, experiment_id: str, name: str = "", tags=None, start_time: int | None = None) -> dict:
        request = {"experiment_id": experiment_id, "start_time": start_time or int(time.time() * 1000)}
        if name:
            request["run_name"] = name
        if tags:
            request["tags"] = tags
        body, _ = self.post("/runs/create", request)
        try:
            info = body["run"]["info"]
            check(bool(info["run_id"]), "runs/create: empty run_id")
        except (KeyError, TypeError):
            raise CheckFailed(f"runs/create: unexpected answer {str(body)[:200]}") from None
        return info

    def log_batch(self, run_id: str, metrics=(), params=(), tags=()) -> float:
        body, elapsed = self.post(
            "/runs/log-batch",
            {"run_id": run_id, "metrics": list(metrics), "params": list(params), "tags": list(tags)},
        )
        check(body == {}, f"runs/log-batch: expected {{}}, got {str(body)[:200]}")
        return elapsed


# --- statistics ---------------------------------------------------------------------------------
def percentile(values, p: float) -> float:
    """Nearest-rank-with-interpolation percentile of ``values`` (p in 0..100)."""
    data = sorted(values)
    if not data:
        return math.nan
    if len(data) == 1:
        return data[0]
    rank = (len(data) - 1) * p / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return data[low] + (data[high] - data[low]) * (rank - low)


def median(values) -> float:
    return percentile(values, 50)
