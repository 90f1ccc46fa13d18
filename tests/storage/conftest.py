"""Fixtures for the artifact store tests: an S3 endpoint (moto) on loopback, and a fresh store of
each kind per test.

moto's ``ThreadedMotoServer`` runs in a child process rather than in a thread of the test
process: the streaming tests measure the test process's peak memory with ``tracemalloc``, which
would otherwise also count moto holding the uploaded objects and request bodies.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.moto_server import ACCESS_KEY, SECRET_KEY, running_moto

BUCKET = "modelops-test"


@pytest.fixture(scope="session")
def moto_endpoint():
    """``http://127.0.0.1:<port>`` of a moto S3 server holding an empty bucket ``BUCKET``."""
    from minio import Minio

    with running_moto() as endpoint:
        client = Minio(
            endpoint.split("://", 1)[1], access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False, region="us-east-1"
        )
        client.make_bucket(BUCKET)
        yield endpoint


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
