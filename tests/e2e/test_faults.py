"""Faults on real server processes: what a client was told stays true.

1. ``kill -9`` of the gunicorn worker (the arbiter forks a new one), and of the whole server
   (arbiter and worker; restarted on the same database and artifact store), while four client
   threads stream ``runs/log-batch`` calls. Every batch answered 200 is there whole afterwards;
   a batch left without an answer is there whole or not at all; a batch refused (503, or a
   connection refused before anything was sent) is not there; nothing else is there.
2. Two servers on one PostgreSQL or MariaDB database and one artifact store, eight client threads
   each, creating runs, logging metrics and creating versions of the same three registered
   models. No 5xx (503 is retried, as the MLflow client retries it, and counted); every run and
   metric answered 200 is there; each model's versions are numbered 1..N, N being the number of
   versions answered 200 for it.

These tests are about modelops' own processes (its gunicorn worker and arbiter): they start
``modelops server`` whatever ``MODELOPS_E2E_TARGET`` says. PostgreSQL and MariaDB run when
``MODELOPS_TEST_POSTGRES_URI`` / ``MODELOPS_TEST_MYSQL_URI`` are set (as for the rest of the e2e
suite); unset, they are skipped, unless ``MODELOPS_REQUIRE_ALL_DATABASES=1`` (``.ci/run``),
which makes a missing database a failure, as in ``tests/databases.py``.
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import random
import signal
import socket
import threading
import time
import uuid

import pytest

from tests.e2e import server as harness
from tests.e2e.artifact_servers import process_tree
from tests.e2e.conftest import _MysqlDatabase, _PostgresDatabase

pytestmark = pytest.mark.e2e

API = "/api/2.0/mlflow"
_ENV = {"postgresql": "MODELOPS_TEST_POSTGRES_URI", "mysql": "MODELOPS_TEST_MYSQL_URI"}
_DATABASES = {"postgresql": _PostgresDatabase, "mysql": _MysqlDatabase}
#: how long any one wait of these tests may take (a server restarting, clients progressing)
_BUDGET = 60.0


# --- databases and servers -----------------------------------------------------------------------


def _require(kind: str) -> str:
    """The admin URI of ``kind``; skipped when not configured, failed when every database is
    required (MODELOPS_REQUIRE_ALL_DATABASES=1, as tests/databases.py does)."""
    admin = os.environ.get(_ENV[kind])
    if not admin:
        if os.environ.get("MODELOPS_REQUIRE_ALL_DATABASES") == "1":
            pytest.fail(f"{_ENV[kind]} is not set and MODELOPS_REQUIRE_ALL_DATABASES=1", pytrace=False)
        pytest.skip(f"{_ENV[kind]} is not set")
    return admin


@pytest.fixture
def database_uri(request, tmp_path):
    """A fresh, empty database of the kind named by the test's parameter; dropped afterwards."""
    kind = request.param
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    database = _DATABASES[kind](_require(kind))
    uri = database.create()
    try:
        yield uri
    finally:
        database.drop()


def _start(workdir, backend_uri: str, artifacts, *, name: str, port: int | None = None) -> harness.ServerProcess:
    """``modelops server`` (one worker of four threads, the defaults) on ``backend_uri`` with
    ``artifacts`` as its artifact destination; returns once ``/health`` answers."""
    port = port or harness.free_port()
    cmd = [
        harness.modelops_bin(),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        str(artifacts),
    ]
    return harness.ServerProcess(
        cmd, "127.0.0.1", port, workdir, name=name, env=harness.server_env(), timeout=harness.MODELOPS_START_TIMEOUT
    ).start()


def _fixed_port() -> int:
    """A free port outside the kernel's ephemeral range, for a server restarted on the same port:
    while it is down its clients' connects are refused, and one to a port of that range could be
    given that very port as its source and connect to itself (TCP self-connect), holding the port
    the restarted server must bind."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            low = int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    candidates = list(range(max(1025, low - 12000), low))
    random.shuffle(candidates)
    for port in candidates[:200]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return harness.free_port()


def _workers(srv: harness.ServerProcess) -> list[int]:
    """The live worker processes of ``srv`` (the arbiter's children, from /proc)."""
    return [pid for pid in process_tree(srv.pid) if pid != srv.pid and _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _poll(condition, what: str, srv=None, budget: float = _BUDGET):
    """Wait for ``condition()`` to be true, polling; fail with ``what`` (and the logs) if not."""
    deadline = time.monotonic() + budget
    delay = 0.01
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} after {budget:.0f}s" + (f"\n{srv.logs_tail()}" if srv else ""), pytrace=False)
        time.sleep(delay)  # polling a condition, not waiting for a fixed time
        delay = min(delay * 1.5, 0.1)


# --- a plain HTTP client: every request sent once, no hidden retries -----------------------------


class Refused(Exception):
    """No connection could be made: nothing was sent."""


class Lost(Exception):
    """The request may have been sent, but no answer came."""


class Client:
    def __init__(self, url: str):
        self.url = url
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, method: str, path: str, body=None, *, raw: bytes | None = None) -> tuple[int, dict, dict]:
        """(status, headers, JSON answer) of one request, sent once. ``Refused`` when no connection
        was made (nothing sent), ``Lost`` when one was and no answer came."""
        host, port = self.url.split("//", 1)[1].rsplit(":", 1)
        if self.conn is None or self.conn.sock is None:
            self.close()
            self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                self.conn.connect()
            except OSError as exc:
                self.close()
                raise Refused(repr(exc)) from None
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": "application/octet-stream" if raw is not None else "application/json"}
        try:
            self.conn.request(method, path, data, headers)
            resp = self.conn.getresponse()
            payload = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise Lost(repr(exc)) from None
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            answer = json.loads(payload) if payload else {}
        except ValueError:
            answer = {"raw": payload[:500].decode(errors="replace")}
        return resp.status, dict(resp.getheaders()), answer


def _ok(client: Client, method: str, path: str, body=None) -> dict:
    status, _, answer = client.send(method, path, body)
    assert status == 200, (method, path, status, answer)
    return answer


# --- 1. kill -9 under a stream of log-batch calls ------------------------------------------------

THREADS = 4
KEYS, STEPS, PARAMS, TAGS = 5, 10, 3, 3  # 5 keys x 10 steps: 50 metric points per batch
WHOLE = (KEYS * STEPS, PARAMS, TAGS)
NONE = (0, 0, 0)
#: batches each phase waits for, answered 200, before the next kill and before stopping
PROGRESS = 40


def _batch(run_id: str, thread: int, seq: int) -> dict:
    """Batch ``seq`` of a thread: its number is in every metric step (``seq * 10 + j``), value
    and param/tag key, so what of it is stored can be counted back."""
    return {
        "run_id": run_id,
        "metrics": [
            {"key": f"k{k}", "value": float(seq), "timestamp": 1_000 + seq, "step": seq * STEPS + j}
            for k in range(KEYS)
            for j in range(STEPS)
        ],
        "params": [{"key": f"p{seq}_{i}", "value": f"{thread}:{seq}:{i}"} for i in range(PARAMS)],
        "tags": [{"key": f"t{seq}_{i}", "value": f"{thread}:{seq}:{i}"} for i in range(TAGS)],
    }


class Streamer:
    """THREADS client threads, each logging numbered batches to its own run without pause until
    stopped; each batch's outcome recorded: ``ok`` (200), ``busy`` (503: nothing applied),
    ``refused`` (no connection: nothing sent), ``lost`` (sent, no answer) or ``error`` (any other
    answer, with its status and body)."""

    def __init__(self, url: str, run_ids: list[str]):
        self.url = url
        self.run_ids = run_ids
        self.outcomes: list[dict[int, str]] = [{} for _ in run_ids]
        self.errors: list[tuple] = []
        self.ok = 0
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._stream, args=(t,), daemon=True) for t in range(len(run_ids))]

    def start(self) -> Streamer:
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=_BUDGET)
        assert not any(t.is_alive() for t in self.threads), "a client thread did not stop"

    def answered(self) -> int:
        with self.changed:
            return self.ok

    def wait_answered(self, count: int, what: str, srv) -> None:
        with self.changed:
            done = self.changed.wait_for(lambda: self.ok >= count, timeout=_BUDGET)
        if not done:
            pytest.fail(
                f"{what}: {self.ok} of {count} batches answered 200 after {_BUDGET:.0f}s; "
                f"errors {self.errors[:3]}\n{srv.logs_tail()}",
                pytrace=False,
            )

    def _stream(self, thread: int) -> None:
        client = Client(self.url)
        try:
            self._batches(thread, client)
        except Exception as exc:
            self.errors.append((thread, None, "raised", repr(exc)))
        finally:
            client.close()

    def _batches(self, thread: int, client: Client) -> None:
        outcomes = self.outcomes[thread]
        seq = 0
        while not self.stopping.is_set():
            try:
                status, _, answer = client.send(
                    "POST", f"{API}/runs/log-batch", _batch(self.run_ids[thread], thread, seq)
                )
                outcome = "ok" if status == 200 else "busy" if status == 503 else "error"
                if outcome == "error":
                    self.errors.append((thread, seq, status, answer))
            except Refused:
                outcome = "refused"
            except Lost:
                outcome = "lost"
            outcomes[seq] = outcome
            seq += 1
            if outcome == "ok":
                with self.changed:
                    self.ok += 1
                    self.changed.notify_all()
            elif outcome == "refused":
                # the server is down: pace the retries of a client that would otherwise spin
                self.stopping.wait(0.02)


def _history(client: Client, run_id: str, key: str) -> list[dict]:
    points, token = [], None
    while True:
        query = f"run_id={run_id}&metric_key={key}&max_results=25000" + (f"&page_token={token}" if token else "")
        page = _ok(client, "GET", f"{API}/metrics/get-history?{query}")
        points += page.get("metrics", [])
        token = page.get("next_page_token")
        if not token:
            return points


def _stored_batches(client: Client, run_id: str, thread: int) -> dict[int, tuple[int, int, int]]:
    """Per batch number, how many of its metric points, params and tags the run holds."""
    counts: dict[int, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    for k in range(KEYS):
        for point in _history(client, run_id, f"k{k}"):
            seq = point["step"] // STEPS
            assert point["value"] == float(seq) and point["timestamp"] == 1_000 + seq, point
            counts[seq][0] += 1
    data = _ok(client, "GET", f"{API}/runs/get?run_id={run_id}")["run"]["data"]
    for index, field in ((1, "params"), (2, "tags")):
        for item in data.get(field, []):
            if item["key"].startswith("mlflow."):
                continue  # the run's own system tags
            seq = int(item["key"][1:].split("_", 1)[0])
            assert item["value"] == f"{thread}:{seq}:{item['key'].rsplit('_', 1)[1]}", item
            counts[seq][index] += 1
    return {seq: tuple(c) for seq, c in counts.items()}


def _check_batches(client: Client, streamer: Streamer) -> collections.Counter:
    """Every batch answered 200 whole, every refused one absent, every lost one whole or absent,
    no other batch there; the outcomes counted."""
    assert not streamer.errors, f"answers other than 200 and 503: {streamer.errors[:5]}"
    tally = collections.Counter()
    wrong = []
    for thread, run_id in enumerate(streamer.run_ids):
        outcomes = streamer.outcomes[thread]
        stored = _stored_batches(client, run_id, thread)
        for seq in sorted(set(stored) | set(outcomes)):
            outcome = outcomes.get(seq, "never sent")
            found = stored.get(seq, NONE)
            allowed = {"ok": [WHOLE], "lost": [WHOLE, NONE]}.get(outcome, [NONE])
            tally[outcome] += 1
            if outcome == "lost":
                tally["lost, stored" if found == WHOLE else "lost, absent"] += 1
            if found not in allowed:
                wrong.append(
                    f"thread {thread} batch {seq} ({outcome}): {found} of {WHOLE} (metric points, params, tags) stored"
                )
    assert not wrong, "\n".join(wrong[:20]) + f"\n({len(wrong)} batches wrong; outcomes {dict(tally)})"
    assert tally["ok"] >= PROGRESS, tally
    return tally


def _setup_runs(url: str) -> list[str]:
    client = Client(url)
    experiment = _ok(client, "POST", f"{API}/experiments/create", {"name": f"faults-{uuid.uuid4().hex[:8]}"})
    runs = [
        _ok(client, "POST", f"{API}/runs/create", {"experiment_id": experiment["experiment_id"], "start_time": 1})[
            "run"
        ]["info"]["run_id"]
        for _ in range(THREADS)
    ]
    client.close()
    return runs


WORKER_KILLS = 3


@pytest.mark.parametrize("database_uri", ["sqlite", "postgresql", "mysql"], indirect=True)
def test_kill_9_of_the_worker_loses_no_answered_batch_and_leaves_none_in_part(database_uri, tmp_path, record_property):
    """The worker is killed three times while four threads stream batches; the arbiter forks a
    new one each time and the clients go on against it. Afterwards every batch is whole, absent
    or (unanswered) one of the two, as its answer said."""
    srv = _start(tmp_path, database_uri, tmp_path / "artifacts", name="modelops")
    try:
        streamer = Streamer(srv.url, _setup_runs(srv.url)).start()
        try:
            streamer.wait_answered(PROGRESS, "before the first kill", srv)
            for kill in range(WORKER_KILLS):
                (worker,) = _workers(srv)
                os.kill(worker, signal.SIGKILL)
                _poll(lambda: _workers(srv) not in ([], [worker]), f"no new worker after kill {kill + 1}", srv)
                # the new worker answers the clients (their next batches wait in the listen backlog)
                streamer.wait_answered(streamer.answered() + PROGRESS, f"after kill {kill + 1}", srv)
                assert srv.alive(), "the arbiter died with its worker"
        finally:
            streamer.stop()
        tally = _check_batches(Client(srv.url), streamer)
    finally:
        srv.stop()
    record_property("outcomes", dict(tally))
    print(f"\nworker kills x{WORKER_KILLS}: {dict(tally)}")


SERVER_KILLS = 3


@pytest.mark.parametrize("database_uri", ["sqlite", "postgresql", "mysql"], indirect=True)
def test_kill_9_of_the_whole_server_loses_no_answered_batch_and_leaves_none_in_part(
    database_uri, tmp_path, record_property
):
    """The arbiter and its worker are killed at once, three times, while four threads stream batches;
    the server is started again on the same database, artifact store and port each time, and the
    clients go on against it. Afterwards every batch is as its answer said."""
    artifacts = tmp_path / "artifacts"
    srv = _start(tmp_path / "server-0", database_uri, artifacts, name="modelops", port=_fixed_port())
    servers = [srv]
    try:
        streamer = Streamer(srv.url, _setup_runs(srv.url)).start()
        try:
            streamer.wait_answered(PROGRESS, "before the first kill", srv)
            for kill in range(SERVER_KILLS):
                tree = process_tree(srv.pid)
                assert len(tree) == 2, f"expected the arbiter and one worker: {tree}"
                os.killpg(srv.pid, signal.SIGKILL)
                srv.proc.wait(timeout=_BUDGET)
                _poll(lambda: not any(_alive(pid) for pid in tree), "the killed server's processes linger")
                srv.stop()  # closes its logs; the process group is gone
                srv = _start(tmp_path / f"server-{kill + 1}", database_uri, artifacts, name="modelops", port=srv.port)
                servers.append(srv)
                streamer.wait_answered(streamer.answered() + PROGRESS, f"after restart {kill + 1}", srv)
        finally:
            streamer.stop()
        tally = _check_batches(Client(srv.url), streamer)
    finally:
        for s in servers:
            s.stop()
    record_property("outcomes", dict(tally))
    print(f"\nserver kills x{SERVER_KILLS}: {dict(tally)}")


# --- 2. two servers on one database --------------------------------------------------------------

CLIENTS_PER_SERVER = 8
#: per client thread; MODELOPS_FAULTS_ITERATIONS raises it for a longer soak
ITERATIONS = int(os.environ.get("MODELOPS_FAULTS_ITERATIONS", "10"))
MODELS = 3
#: 503 retries of one request before it counts as a failure (the MLflow client makes 7)
RETRIES = 10


class Tally:
    """What the clients of the two-server test were answered, across threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.busy = collections.Counter()  # 503 answers, by endpoint, each retried
        self.failures: list[str] = []
        self.runs: list[tuple[int, str]] = []  # (server, run_id) answered 200
        self.metrics: dict[str, dict[str, dict[int, float]]] = collections.defaultdict(
            dict
        )  # run -> key -> step -> value
        self.versions: dict[str, list[tuple[int, str, int]]] = collections.defaultdict(
            list
        )  # model -> (version, run, server)

    def failed(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


def _call(client: Client, tally: Tally, method: str, path: str, body=None, *, raw: bytes | None = None):
    """The answer of a request that must succeed; a 503 is retried after its Retry-After (at most
    a second, as the MLflow client honours it) and counted. ``None`` after any other answer, a
    failure recorded."""
    endpoint = path.split("?", 1)[0].removeprefix(API + "/")
    for _ in range(RETRIES + 1):
        try:
            status, headers, answer = client.send(method, path, body, raw=raw)
        except (Refused, Lost) as exc:
            tally.failed(f"{method} {endpoint}: no answer ({exc})")
            return None
        if status == 200:
            return answer
        if status != 503:
            tally.failed(f"{method} {endpoint}: {status} {answer}")
            return None
        with tally.lock:
            tally.busy[endpoint] += 1
        if "Retry-After" not in headers:
            tally.failed(f"{method} {endpoint}: 503 without Retry-After {answer}")
        # pacing a retry as the server asked, bounded: not a wait for a server to start
        time.sleep(min(float(headers.get("Retry-After", 1)), 1.0))
    tally.failed(f"{method} {endpoint}: still 503 after {RETRIES} retries")
    return None


def _client_work(url: str, server: int, thread: int, experiment_id: str, models: list[str], tally: Tally) -> None:
    client = Client(url)
    try:
        for i in range(ITERATIONS):
            created = _call(
                client,
                tally,
                "POST",
                f"{API}/runs/create",
                {"experiment_id": experiment_id, "start_time": 1, "run_name": f"s{server}-t{thread}-{i}"},
            )
            if created is None:
                continue
            info = created["run"]["info"]
            run_id = info["run_id"]
            with tally.lock:
                tally.runs.append((server, run_id))
            logged: dict[str, dict[int, float]] = {"m": {}, "b": {}}
            for step in range(3):
                value = server * 1000 + thread * 10 + step + 0.5
                if (
                    _call(
                        client,
                        tally,
                        "POST",
                        f"{API}/runs/log-metric",
                        {"run_id": run_id, "key": "m", "value": value, "timestamp": 10 + step, "step": step},
                    )
                    is not None
                ):
                    logged["m"][step] = value
            batch = [
                {"key": "b", "value": float(i * 100 + step), "timestamp": 20 + step, "step": step} for step in range(10)
            ]
            if (
                _call(
                    client,
                    tally,
                    "POST",
                    f"{API}/runs/log-batch",
                    {
                        "run_id": run_id,
                        "metrics": batch,
                        "params": [{"key": "thread", "value": f"{server}:{thread}"}],
                        "tags": [{"key": "iteration", "value": str(i)}],
                    },
                )
                is not None
            ):
                logged["b"] = {m["step"]: m["value"] for m in batch}
            with tally.lock:
                tally.metrics[run_id] = logged
            # the candidate's model files, then its promotion: the version's files are a snapshot
            # of them in the artifact store both servers share
            artifacts = info["artifact_uri"].removeprefix("mlflow-artifacts:").lstrip("/")
            if (
                _call(
                    client,
                    tally,
                    "PUT",
                    f"/api/2.0/mlflow-artifacts/artifacts/{artifacts}/model/MLmodel",
                    raw=run_id.encode(),
                )
                is None
            ):
                continue
            model = models[(server * CLIENTS_PER_SERVER + thread + i) % len(models)]
            answer = _call(
                client,
                tally,
                "POST",
                f"{API}/model-versions/create",
                {"name": model, "source": f"runs:/{run_id}/model", "run_id": run_id},
            )
            if answer is not None:
                with tally.lock:
                    tally.versions[model].append((int(answer["model_version"]["version"]), run_id, server))
    except Exception as exc:
        tally.failed(f"client {server}/{thread} raised {exc!r}")
    finally:
        client.close()


def _download(client: Client, tally: Tally, uri: str) -> bytes | None:
    path = uri.removeprefix("mlflow-artifacts:").lstrip("/")
    host, port = client.url.split("//", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", f"/api/2.0/mlflow-artifacts/artifacts/{path}/MLmodel")
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        tally.failed(f"download of {uri}/MLmodel: {resp.status} {body[:200]!r}")
        return None
    return body


@pytest.mark.parametrize("database_uri", ["postgresql", "mysql"], indirect=True)
def test_two_servers_on_one_database_lose_nothing_and_number_versions_without_gaps(
    database_uri, tmp_path, record_property
):
    artifacts = tmp_path / "shared-artifacts"
    servers = [_start(tmp_path / f"server-{n}", database_uri, artifacts, name=f"modelops-{n}") for n in range(2)]
    try:
        setup = Client(servers[0].url)
        experiment_id = _ok(
            setup, "POST", f"{API}/experiments/create", {"name": f"two-servers-{uuid.uuid4().hex[:8]}"}
        )["experiment_id"]
        models = [f"shared-model-{m}-{uuid.uuid4().hex[:6]}" for m in range(MODELS)]
        for name in models:
            _ok(setup, "POST", f"{API}/registered-models/create", {"name": name})
        setup.close()

        tally = Tally()
        threads = [
            threading.Thread(target=_client_work, args=(srv.url, n, t, experiment_id, models, tally), daemon=True)
            for n, srv in enumerate(servers)
            for t in range(CLIENTS_PER_SERVER)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=_BUDGET * 2)
        assert not any(t.is_alive() for t in threads), "a client thread did not finish"
        assert not tally.failures, (
            f"{len(tally.failures)} requests failed:\n"
            + "\n".join(tally.failures[:20])
            + "".join(f"\n{s.logs_tail()}" for s in servers)
        )

        # read back through the other server than the one that wrote
        readers = [Client(srv.url) for srv in servers]
        assert len(tally.runs) == 2 * CLIENTS_PER_SERVER * ITERATIONS
        for server, run_id in tally.runs:
            reader = readers[1 - server]
            run = _ok(reader, "GET", f"{API}/runs/get?run_id={run_id}")["run"]
            assert run["info"]["experiment_id"] == experiment_id
            for key, points in tally.metrics[run_id].items():
                stored = {p["step"]: p["value"] for p in _history(reader, run_id, key)}
                assert stored == points, (run_id, key, stored, points)
        found = _ok(readers[0], "POST", f"{API}/runs/search", {"experiment_ids": [experiment_id], "max_results": 1000})[
            "runs"
        ]
        assert sorted(r["info"]["run_id"] for r in found) == sorted(run_id for _, run_id in tally.runs)

        numbers = {}
        for name in models:
            answered = tally.versions[name]
            numbers[name] = len(answered)
            assert sorted(v for v, _, _ in answered) == list(range(1, len(answered) + 1)), (name, sorted(answered))
            stored = _ok(readers[1], "GET", f"{API}/model-versions/search?filter=name%3D%27{name}%27&max_results=1000")
            by_number = {int(mv["version"]): mv for mv in stored["model_versions"]}
            assert sorted(by_number) == list(range(1, len(answered) + 1)), (name, sorted(by_number))
            for version, run_id, server in answered:
                assert by_number[version]["run_id"] == run_id, (name, version)
                reader = readers[1 - server]
                uri = _ok(reader, "GET", f"{API}/model-versions/get-download-uri?name={name}&version={version}")
                assert uri["artifact_uri"].startswith("mlflow-artifacts:/registry/"), uri
                assert _download(reader, tally, uri["artifact_uri"]) == run_id.encode(), (name, version, uri)
        assert not tally.failures, tally.failures[:20]
        assert sum(numbers.values()) == 2 * CLIENTS_PER_SERVER * ITERATIONS
    finally:
        for srv in servers:
            srv.stop()
    record_property("busy_503", dict(tally.busy))
    print(f"\nversions per model {numbers}; 503 answers retried: {dict(tally.busy) or 'none'}")
