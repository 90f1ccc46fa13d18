"""``modelops server --worker gthread``: gunicorn's stock threaded worker, with none of this
server's gunicorn patches, serves the same app. The real mlflow client logs a run with metrics
and a proxied artifact, registers a model version from it and downloads both back."""

from __future__ import annotations

import os
import socket

import pytest

from tests.e2e import server as harness

pytestmark = pytest.mark.e2e


@pytest.fixture
def gthread_server(tmp_path, _client_env):
    if harness.is_reference():
        pytest.skip("--worker is modelops's own flag")
    srv = harness.start_modelops(
        tmp_path,
        extra_args=("--worker", "gthread", "--artifacts-destination", str(tmp_path / "destination")),
        artifact_root="mlflow-artifacts:/",
    )
    try:
        yield srv
    finally:
        srv.stop()


def test_stock_gthread_serves_the_client_flows(gthread_server, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    assert "Using worker: gthread" in gthread_server.logs()["stderr"], gthread_server.logs_tail()
    # gunicorn unpatched: a request it cannot read gets its own HTML page, not MLflow's JSON
    host, port = gthread_server.url.split("//", 1)[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header Name: v\r\n\r\n")
        answer = sock.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 400 ") and b"<html>" in answer.lower(), answer[:300]
    mlflow.set_tracking_uri(gthread_server.url)
    client = MlflowClient(tracking_uri=gthread_server.url)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    weights = os.urandom(3 * 1024 * 1024 + 17)  # several reads of the upload's body
    (model_dir / "weights.bin").write_bytes(weights)
    try:
        mlflow.set_experiment("stock-gthread")
        with mlflow.start_run() as run:
            mlflow.log_param("C", "0.5")
            for step in range(5):
                mlflow.log_metrics({"loss": 1.0 / (step + 1), "accuracy": step / 10}, step=step)
            mlflow.log_artifacts(str(model_dir), artifact_path="model")
        run_id = run.info.run_id

        history = client.get_metric_history(run_id, "loss")
        assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]
        got = client.get_run(run_id)
        assert got.data.params == {"C": "0.5"} and got.data.metrics["accuracy"] == 0.4

        client.create_registered_model("stock-gthread-model")
        version = client.create_model_version("stock-gthread-model", f"runs:/{run_id}/model", run_id=run_id)
        assert version.version == "1"
        assert client.get_model_version("stock-gthread-model", "1").status == "READY"

        from_run = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="model/weights.bin", dst_path=str(tmp_path / "from-run")
        )
        with open(from_run, "rb") as f:
            assert f.read() == weights
        from_registry = mlflow.artifacts.download_artifacts(
            "models:/stock-gthread-model/1", dst_path=str(tmp_path / "from-registry")
        )
        with open(os.path.join(from_registry, "weights.bin"), "rb") as f:
            assert f.read() == weights
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
