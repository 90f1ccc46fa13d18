"""Large proxied artifacts through the app under a WSGI server other than our gunicorn worker
(here werkzeug's test client): such a server may keep a body chunk after asking for the next, so
the app hands it chunks of their own (``views=False``), never views of a reused buffer."""

from __future__ import annotations

import hashlib

import pytest

from storage.directio import BLOCK, DEPTH

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def client(tmp_path):
    from mlflow_compat.app import create_app
    from mlflow_compat.config import ServerConfig

    config = ServerConfig.resolve(
        backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}", artifacts_destination=str(tmp_path / "store")
    )
    application = create_app(config)
    application.testing = True
    return application.test_client()


def test_a_large_artifact_comes_back_whole_and_by_range(client):
    # more blocks than a ring has buffers: a view kept past the next chunk would be overwritten
    payload = hashlib.shake_256(b"large").digest((DEPTH + 2) * BLOCK + 4321)
    answer = client.put(f"{ARTIFACTS}/1/run/artifacts/model.bin", data=payload, content_type="application/octet-stream")
    assert (answer.status_code, answer.get_json()) == (200, {})
    got = client.get(f"{ARTIFACTS}/1/run/artifacts/model.bin")
    assert got.status_code == 200 and got.headers["Content-Length"] == str(len(payload))
    assert got.data == payload
    start, end = BLOCK - 1, (DEPTH + 2) * BLOCK + 10
    ranged = client.get(f"{ARTIFACTS}/1/run/artifacts/model.bin", headers={"Range": f"bytes={start}-{end}"})
    assert ranged.status_code == 206 and ranged.data == payload[start : end + 1]
