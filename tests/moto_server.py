"""An S3 endpoint for tests: moto's ``ThreadedMotoServer`` on loopback, in a child process.

No pytest dependency; used by the storage tests (``tests/storage/conftest.py``) and the
end-to-end artifact tests (``tests/e2e/artifact_servers.py``).

moto runs in a child process rather than in a thread of the test process: tests measure memory
(the storage streaming tests use ``tracemalloc`` on the test process), which would otherwise also
count moto holding the uploaded objects and request bodies. The child serves until the parent
closes its stdin, so it also goes away when the parent dies.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import tempfile
import time

import requests

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"

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
STARTUP_TIMEOUT = 60.0


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
            raise RuntimeError(f"moto server exited early ({proc.wait()}): {log.read().decode(errors='replace')}")
        line += byte
    return int(line)


@contextlib.contextmanager
def running_moto(timeout: float = STARTUP_TIMEOUT):
    """Start moto's S3 server; yields its endpoint ``http://127.0.0.1:<port>`` once it answers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # moto logs every request on stderr: a file, not a pipe nobody drains (it would fill up and
    # block the server mid-test).
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-c", _MOTO_CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
        bufsize=0,
    )  # unbuffered: select() must see what read() hasn't
    try:
        deadline = time.monotonic() + timeout
        port = _read_port(proc, log, deadline)
        endpoint = f"http://127.0.0.1:{port}"
        # The socket is bound before the port is printed; wait until moto answers requests.
        session = requests.Session()
        session.trust_env = False
        try:
            while True:
                try:
                    session.get(f"{endpoint}/moto-api/", timeout=max(0.1, deadline - time.monotonic()))
                    break
                except requests.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
        finally:
            session.close()
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


def minio_client(endpoint: str):
    """A ``minio.Minio`` client for the moto endpoint."""
    from minio import Minio

    host = endpoint.split("://", 1)[1].rstrip("/")
    return Minio(host, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False, region=REGION)


def s3_env(endpoint: str) -> dict[str, str]:
    """The variables a MinIO deployment would set for MLflow, pointing at ``endpoint``."""
    return {
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
    }
