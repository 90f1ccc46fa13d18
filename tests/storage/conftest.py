"""Fixtures for the artifact store tests: an S3 endpoint (moto) on loopback, and a fresh store of
each kind per test.

moto's ``ThreadedMotoServer`` runs in a child process rather than in a thread of the test
process: the streaming tests measure the test process's peak memory with ``tracemalloc``, which
would otherwise also count moto holding the uploaded objects and request bodies.
"""
from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests

BUCKET = "modelops-test"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"

# Runs in the child: start moto on an ephemeral loopback port, report the port, serve until the
# parent closes our stdin (also when the parent dies).
_MOTO_CHILD = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""
_STARTUP_TIMEOUT = 60.0


def _read_port(proc: subprocess.Popen, log, deadline: float) -> int:
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError("moto server did not report its port in time")
        ready, _, _ = select.select([proc.stdout], [], [], remaining)  # blocks; no sleeping
        if not ready:
            continue
        byte = proc.stdout.read(1)
        if not byte:
            log.seek(0)
            raise RuntimeError(f"moto server exited early ({proc.wait()}): "
                               f"{log.read().decode(errors='replace')}")
        line += byte
    return int(line)


@pytest.fixture(scope="session")
def moto_endpoint():
    """``http://127.0.0.1:<port>`` of a moto S3 server holding an empty bucket ``BUCKET``."""
    pytest.importorskip("moto.server", reason="install 'moto[server]>=5' for the S3 tests")
    from minio import Minio

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # moto logs every request on stderr: a file, not a pipe nobody drains (it would fill up and
    # block the server mid-test).
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-c", _MOTO_CHILD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=log, env=env,
                            bufsize=0)  # unbuffered: select() must see what read() hasn't
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        port = _read_port(proc, log, deadline)
        endpoint = f"http://127.0.0.1:{port}"
        # The socket is bound before the port is printed; wait until moto answers requests.
        session = requests.Session()
        session.trust_env = False
        while True:
            try:
                session.get(f"{endpoint}/moto-api/", timeout=max(0.1, deadline - time.monotonic()))
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
        client = Minio(f"127.0.0.1:{port}", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                       secure=False, region="us-east-1")
        client.make_bucket(BUCKET)
        yield endpoint
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        log.close()


@pytest.fixture
def s3_env(moto_endpoint, monkeypatch):
    """The environment a MinIO deployment would configure, pointing at moto."""
    for name in ("AWS_SESSION_TOKEN", "AWS_REGION", "AWS_PROFILE", "MLFLOW_S3_IGNORE_TLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return moto_endpoint


@pytest.fixture
def s3_store(s3_env):
    from storage import open_store

    store = open_store(f"s3://{BUCKET}/t-{uuid.uuid4().hex}")
    yield store
    store.close()


@pytest.fixture
def local_store(tmp_path):
    from storage import open_store

    return open_store(str(tmp_path / "artifacts"))


@pytest.fixture(params=["local", "s3"])
def store(request):
    """A fresh, empty store: a tmp_path directory, or a fresh prefix in the moto bucket."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture
def http():
    """A requests session that ignores proxy settings (everything here is loopback)."""
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()
