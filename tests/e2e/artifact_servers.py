"""Servers and helpers for the artifact end-to-end tests (issue 3).

* ``start_artifact_server``: ``modelops server --artifacts-destination <dest>`` (proxied artifacts,
  the default serve-artifacts mode; or ``--no-serve-artifacts``) on a SQLite backend, with the
  extra environment an S3 destination needs. ``MODELOPS_E2E_TARGET=mlflow`` starts the stock
  ``mlflow server`` with the same flags instead, to validate the tests.
* fixtures (imported into ``tests/e2e/conftest.py`` so their scopes are shared):
  ``s3_endpoint`` (one moto S3 server per session, bucket ``BUCKET``), ``artifact_server``
  (module scoped, parametrized ``local`` / ``s3``), ``art_tracking`` and ``art_client``.
* ``RssSampler``: samples the resident memory of a server's whole process tree via /proc.
* ``raw_request``: an HTTP request whose path is sent byte for byte (``requests`` / urllib3
  normalise ``..`` segments away, which would defeat the path-traversal tests).
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import moto_server
from tests.e2e import server as harness

BUCKET = "modelops-e2e"
STORES = ("local", "s3")


# --- servers ----------------------------------------------------------------------------------


def start_artifact_server(
    tmpdir,
    destination: str,
    *,
    serve_artifacts: bool = True,
    env: dict | None = None,
    name: str | None = None,
    extra_args=(),
) -> harness.ServerProcess:
    """Start a server whose artifacts go to ``destination`` (a local path or ``s3://...``).

    No ``--default-artifact-root``: with proxied artifacts, experiments get ``mlflow-artifacts:/``
    locations and the bytes land in ``destination``; with ``--no-serve-artifacts`` they carry the
    destination's own URIs.
    """
    tmpdir = Path(tmpdir)
    tmpdir.mkdir(parents=True, exist_ok=True)
    port = harness.free_port()
    backend_uri = f"sqlite:///{tmpdir / 'mlflow.db'}"
    reference = harness.is_reference()
    cmd = [
        harness.mlflow_bin() if reference else harness.modelops_bin(),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        destination,
    ]
    if not serve_artifacts:
        cmd.append("--no-serve-artifacts")
        if reference:  # mlflow only uses --artifacts-destination when it proxies
            cmd += ["--default-artifact-root", destination]
    if reference:
        cmd += ["--workers", "1"]
    cmd += list(extra_args)
    server_env = harness.server_env()
    for var in (
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "MLFLOW_S3_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        server_env.pop(var, None)
    server_env.update(env or {})
    srv = harness.ServerProcess(
        cmd,
        "127.0.0.1",
        port,
        tmpdir,
        name=name or ("mlflow" if reference else "modelops"),
        env=server_env,
        timeout=harness.MLFLOW_START_TIMEOUT if reference else harness.MODELOPS_START_TIMEOUT,
    )
    return srv.start()


@dataclass
class ArtifactServer:
    """A running server and where its artifacts land."""

    kind: str  # "local" or "s3"
    process: harness.ServerProcess
    destination: str  # as given to --artifacts-destination
    tmpdir: Path
    local_root: Path | None = None  # local store: the artifacts directory
    s3_endpoint: str | None = None  # s3 store: moto
    s3_prefix: str | None = None  # s3 store: the key prefix inside BUCKET

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def stop(self) -> None:
        self.process.stop()

    # what the store holds, independently of the server ---------------------------------------
    def stored_bytes(self, store_path: str) -> bytes | None:
        """The bytes stored at ``store_path`` (relative to the destination), or None."""
        if self.kind == "local":
            path = self.local_root / store_path
            return path.read_bytes() if path.is_file() else None
        from minio.error import S3Error

        client = moto_server.minio_client(self.s3_endpoint)
        try:
            response = client.get_object(BUCKET, f"{self.s3_prefix}/{store_path}")
        except S3Error:
            return None
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def pending_writes(self, prefix: str) -> list[str]:
        """Writes under ``prefix`` that are under way: the local store's temporary files, the S3
        store's multipart uploads not yet completed or aborted."""
        if self.kind == "local":
            root = self.local_root / prefix
            return sorted(str(p) for p in root.rglob(".modelops-tmp-*")) if root.is_dir() else []
        client = moto_server.minio_client(self.s3_endpoint)
        result = client._list_multipart_uploads(BUCKET, prefix=f"{self.s3_prefix}/{prefix}/")
        return sorted(upload.object_name for upload in result.uploads)

    def stored_keys(self) -> list[str]:
        """Every file in the store (S3: every key of the bucket, to catch escapes)."""
        if self.kind == "local":
            return sorted(str(p.relative_to(self.local_root)) for p in self.local_root.rglob("*") if p.is_file())
        client = moto_server.minio_client(self.s3_endpoint)
        return sorted(o.object_name for o in client.list_objects(BUCKET, recursive=True))


def launch(
    kind: str, tmpdir: Path, s3_endpoint: str | None = None, *, serve_artifacts: bool = True, extra_args=()
) -> ArtifactServer:
    """Start a ``local`` or ``s3`` artifact server under ``tmpdir``."""
    if kind == "local":
        root = tmpdir / "artifacts"
        srv = start_artifact_server(tmpdir, str(root), serve_artifacts=serve_artifacts, extra_args=extra_args)
        return ArtifactServer(kind, srv, str(root), tmpdir, local_root=root)
    prefix = f"srv-{uuid.uuid4().hex[:10]}/artifacts"
    destination = f"s3://{BUCKET}/{prefix}"
    srv = start_artifact_server(
        tmpdir, destination, serve_artifacts=serve_artifacts, env=moto_server.s3_env(s3_endpoint), extra_args=extra_args
    )
    return ArtifactServer(kind, srv, destination, tmpdir, s3_endpoint=s3_endpoint, s3_prefix=prefix)


def fail_start(kind: str, exc: Exception):
    pytest.fail(f"{harness.target()} artifact server ({kind}) did not start:\n{exc}", pytrace=False)


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on loopback with an empty bucket ``BUCKET``."""
    with moto_server.running_moto() as endpoint:
        moto_server.minio_client(endpoint).make_bucket(BUCKET)
        yield endpoint


@pytest.fixture(scope="module", params=STORES)
def artifact_server(request, tmp_path_factory, _client_env):
    """A server per test module and store kind (SQLite backend)."""
    kind = request.param
    endpoint = request.getfixturevalue("s3_endpoint") if kind == "s3" else None
    tmpdir = tmp_path_factory.mktemp(f"art-{kind}")
    srv = error = None
    try:
        srv = launch(kind, tmpdir, endpoint)
    except harness.ServerError as exc:
        error = exc
    if srv is None:
        fail_start(kind, error)
    try:
        yield srv
    finally:
        srv.stop()
        if srv.process.killed:
            warnings.warn(f"artifact server ({kind}) ignored SIGTERM and was killed", stacklevel=1)
        if os.environ.get("MODELOPS_E2E_SHOW_LOGS"):
            print(srv.process.logs_tail(20000))


@pytest.fixture
def art_tracking(artifact_server):
    """Point the mlflow client at the artifact server; leave no run active afterwards."""
    import mlflow

    mlflow.set_tracking_uri(artifact_server.url)
    yield artifact_server.url
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def art_client(art_tracking):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=art_tracking)


# --- memory of a server process tree ----------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(c) for c in fh.read().split()]
        except OSError:
            continue
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (gunicorn master and workers)."""
    seen, todo = [], [pid]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        todo += _children(current)
    return seen


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid: int) -> int:
    """Resident memory summed over the process tree (shared pages counted in every process,
    so this over-estimates: fine for an upper bound)."""
    return sum(rss_bytes(p) for p in process_tree(pid))


class RssSampler:
    """Samples ``tree_rss(pid)`` in a background thread until stopped; ``peak`` is the max."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.pid = pid
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self):
        while True:
            self.samples.append(tree_rss(self.pid))
            if self._stop.wait(self.interval):
                return

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(tree_rss(self.pid))


# --- raw HTTP ---------------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else {}

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def raw_request(
    base_url: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30
) -> RawResponse:
    """Send ``method path`` with the request target exactly as given (no normalisation)."""
    host_port = base_url.split("://", 1)[1].rstrip("/")
    host, _, port = host_port.partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        all_headers = dict(headers or {})
        if body is not None or method in ("PUT", "POST", "PATCH"):
            all_headers.setdefault("Content-Length", str(len(body or b"")))
        for key, value in all_headers.items():
            conn.putheader(key, value)
        conn.endheaders(body)
        resp = conn.getresponse()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()
