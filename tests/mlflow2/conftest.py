"""The OLD client (mlflow-skinny 2.x) against our server.

Run it from the mlflow 2.x venv, with the server binary of the main venv:

    MODELOPS_BIN=/work/main/.venv/bin/modelops \\
        .venv-mlflow2/bin/python -m pytest tests/mlflow2

``MODELOPS_E2E_TARGET=mlflow`` runs it against the stock 3.17.2 server
(``.venv/bin/mlflow``) instead.  Under an mlflow 3.x client (the main venv's
plain ``pytest`` run) this directory is not collected at all.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _client_version() -> str:
    """The installed mlflow client version, without importing mlflow (slow)."""
    from importlib import metadata

    for dist in ("mlflow-skinny", "mlflow"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "none"


_MLFLOW_VERSION = _client_version()

# This suite is for the 2.x client only: nothing here is collected otherwise,
# and this conftest then changes nothing in the process.
collect_ignore_glob = [] if _MLFLOW_VERSION.startswith("2.") else ["*"]

if _MLFLOW_VERSION.startswith("2."):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    # no 4-minute retry loops when a server answers 5xx
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    os.environ.pop("MLFLOW_TRACKING_URI", None)

# the harness lives in tests/e2e/server.py; our package is not installed here
_REPO_ROOT = Path(__file__).resolve().parents[2]
if _MLFLOW_VERSION.startswith("2.") and str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

import uuid  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    from tests.e2e import server as harness

    tmpdir = tmp_path_factory.mktemp("e2e-mlflow2")
    srv, error = None, None
    try:
        srv = harness.start_server(tmpdir)
    except harness.ServerError as exc:
        error = str(exc)
    if srv is None:  # outside the except: no chained traceback in the report
        pytest.fail(f"{harness.target()} server did not start:\n{error}", pytrace=False)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def tracking(server):
    import mlflow

    assert mlflow.__version__ == _MLFLOW_VERSION
    mlflow.set_tracking_uri(server.url)
    yield server.url
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def client(tracking):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking)


@pytest.fixture
def uniq():
    def make(prefix: str = "v2") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make


def pytest_configure(config):
    # mlflow 2.x on a current protobuf warns on every request (FieldDescriptor.label)
    if not _MLFLOW_VERSION.startswith("2."):
        return
    config.addinivalue_line("filterwarnings", "ignore:label\\(\\) is deprecated:DeprecationWarning")
