"""MLflow 3 logged models through the unmodified client, against ``modelops server
--artifacts-destination`` on local disk and on S3 (moto): issue 3.

``mlflow.sklearn.log_model`` inside a run (with and without ``registered_model_name``), loading
back by ``models:/<model_id>`` and ``runs:/<run_id>/model`` (the B.4 fallback: the run directory
has no ``model`` and the client finds the logged model through ``logged-models/search``), and the
public ``MlflowClient`` / fluent logged-model API. Public mlflow API only, plus raw HTTP where the
wire answer itself is the point.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import LoggedModelStatus
from mlflow.exceptions import MlflowException

pytestmark = pytest.mark.e2e

ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture(scope="module")
def trained():
    """A small fitted LogisticRegression and the data to predict on."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(42)
    X = rng.normal(size=(80, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 3] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    return model, X


@pytest.fixture
def logged(art_tracking, trained, uniq):
    """``mlflow.sklearn.log_model(model, name="model")`` inside a finished run."""
    model, X = trained
    mlflow.set_experiment(uniq("logged-models"))
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        # explicit requirements: no pip inference subprocess (seconds per model)
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2], pip_requirements=["scikit-learn"])
    return run, info


def _assert_same_predictions(loaded, model, X):
    np.testing.assert_array_equal(np.asarray(loaded.predict(X)), model.predict(X))


def test_log_model_then_load_by_model_id_and_run_uri(logged, trained, art_client, artifact_server):
    model, X = trained
    run, info = logged
    rid, exp_id = run.info.run_id, run.info.experiment_id
    model_id = info.model_id
    assert model_id.startswith("m-")
    assert info.model_uri == f"models:/{model_id}"

    # the logged model, as the client reads it back
    lm = art_client.get_logged_model(model_id)
    assert lm.model_id == model_id
    assert lm.name == "model"
    assert lm.experiment_id == exp_id
    assert lm.source_run_id == rid
    assert lm.status == LoggedModelStatus.READY
    assert lm.artifact_location == f"mlflow-artifacts:/{exp_id}/models/{model_id}/artifacts"
    assert lm.params.get("C") == "1.0"  # run params are copied into the model

    # runs/outputs linked the run to the model
    outputs = art_client.get_run(rid).outputs
    assert [o.model_id for o in outputs.model_outputs] == [model_id]

    # the files live under the model's directory of the destination, none under the run's
    stored = artifact_server.stored_bytes(f"{exp_id}/models/{model_id}/artifacts/MLmodel")
    assert stored is not None and b"sklearn" in stored
    assert art_client.list_artifacts(rid) == []
    names = {f.path for f in art_client.list_logged_model_artifacts(model_id)}
    assert {"MLmodel", "requirements.txt", "python_env.yaml", "conda.yaml"} <= names

    # and the model loads back both ways with the same predictions as the original
    _assert_same_predictions(mlflow.pyfunc.load_model(f"models:/{model_id}"), model, X)
    _assert_same_predictions(mlflow.pyfunc.load_model(f"runs:/{rid}/model"), model, X)
    _assert_same_predictions(mlflow.pyfunc.load_model(info.model_uri), model, X)
    native = mlflow.sklearn.load_model(f"models:/{model_id}")
    np.testing.assert_array_equal(native.coef_, model.coef_)


def test_runs_uri_fallback_is_a_404_then_logged_model_search(logged, artifact_server, tmp_path):
    """B.4: the run directory has no ``model``; listing it is ``{}`` and fetching it is a 404
    (a 500 would send the client into minutes of retries), after which the client resolves the
    name through ``logged-models/search``."""
    run, info = logged
    rid, exp_id = run.info.run_id, run.info.experiment_id
    base = artifact_server.url + ARTIFACTS_API
    run_model = f"{exp_id}/{rid}/artifacts/model"

    listing = requests.get(base, params={"path": run_model}, timeout=30)
    assert listing.status_code == 200 and listing.json() == {}
    for path in (run_model, f"{run_model}/MLmodel"):
        resp = requests.get(f"{base}/{path}", timeout=30)
        assert resp.status_code == 404, (path, resp.status_code, resp.text[:300])
        assert resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"

    # what the client does with it
    found = requests.post(
        f"{artifact_server.url}/api/2.0/mlflow/logged-models/search",
        json={"experiment_ids": [exp_id], "filter": "name = 'model'"},
        timeout=30,
    )
    assert found.status_code == 200
    assert [m["info"]["model_id"] for m in found.json()["models"]] == [info.model_id]

    local = Path(mlflow.artifacts.download_artifacts(f"runs:/{rid}/model", dst_path=str(tmp_path / "dl")))
    assert (local / "MLmodel").is_file()
    listed = {f.path for f in MlflowClient().list_artifacts(rid, "model")}
    assert "model/MLmodel" in listed


def test_logged_model_lifecycle_through_the_client(art_tracking, art_client, tmp_path, uniq):
    exp_id = mlflow.set_experiment(uniq("lm-life")).experiment_id
    with mlflow.start_run() as run:
        pending = mlflow.initialize_logged_model(
            name="candidate", tags={"team": "vision"}, params={"lr": "0.01"}, model_type="classifier"
        )
    model_id = pending.model_id
    assert pending.status == LoggedModelStatus.PENDING
    assert pending.source_run_id == run.info.run_id
    assert pending.experiment_id == exp_id
    assert pending.model_type == "classifier"

    mlflow.log_model_params({"epochs": "3"}, model_id=model_id)
    art_client.set_logged_model_tags(model_id, {"stage": "dev", "team": "nlp"})
    art_client.delete_logged_model_tag(model_id, "stage")

    files = tmp_path / "weights"
    (files / "sub").mkdir(parents=True)
    (files / "w.bin").write_bytes(b"\x00\x01\x02")
    (files / "sub" / "notes é.txt").write_text("n", encoding="utf-8")
    art_client.log_model_artifacts(model_id, str(files))
    assert sorted((f.path, f.is_dir) for f in art_client.list_logged_model_artifacts(model_id)) == [
        ("sub", True),
        ("w.bin", False),
    ]
    assert [f.path for f in art_client.list_logged_model_artifacts(model_id, "sub")] == ["sub/notes é.txt"]

    ready = art_client.finalize_logged_model(model_id, LoggedModelStatus.READY)
    assert ready.status == LoggedModelStatus.READY
    got = art_client.get_logged_model(model_id)
    assert got.status == LoggedModelStatus.READY
    assert got.tags.get("team") == "nlp" and "stage" not in got.tags
    assert got.params == {"lr": "0.01", "epochs": "3"}

    failed = mlflow.initialize_logged_model(name="broken", experiment_id=exp_id)
    assert mlflow.finalize_logged_model(failed.model_id, "FAILED").status == LoggedModelStatus.FAILED

    downloaded = Path(mlflow.artifacts.download_artifacts(f"models:/{model_id}", dst_path=str(tmp_path / "dl")))
    assert (downloaded / "w.bin").read_bytes() == b"\x00\x01\x02"
    assert (downloaded / "sub" / "notes é.txt").read_text(encoding="utf-8") == "n"

    art_client.delete_logged_model(failed.model_id)
    with pytest.raises(MlflowException) as info:
        art_client.get_logged_model(failed.model_id)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST", str(info.value)
    remaining = art_client.search_logged_models(experiment_ids=[exp_id])
    assert [m.model_id for m in remaining] == [model_id]


def test_deletes_keep_the_connection_usable(art_tracking, art_client, uniq):
    """The client sends a JSON body on ``DELETE logged-models/<id>`` and ``.../tags/<key>``; the
    next request on the same keep-alive connection must not fail (with retries off, a dropped
    connection surfaces as INTERNAL_ERROR "Remote end closed connection without response")."""
    exp_id = art_client.create_experiment(uniq("lm-deletes"))
    for _ in range(60):
        lm = art_client.create_logged_model(exp_id, name="m", tags={"k": "v"})
        art_client.delete_logged_model_tag(lm.model_id, "k")
        assert art_client.get_logged_model(lm.model_id).tags == {}
        art_client.delete_logged_model(lm.model_id)
        with pytest.raises(MlflowException) as info:
            art_client.get_logged_model(lm.model_id)
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST", str(info.value)


def test_search_logged_models(art_tracking, art_client, trained, uniq):
    model, _X = trained
    exp_id = mlflow.set_experiment(uniq("lm-search")).experiment_id
    ids = {}
    with mlflow.start_run() as run:
        for name, acc in (("alpha", 0.7), ("beta", 0.9), ("gamma", 0.8)):
            lm = mlflow.initialize_logged_model(name=name, tags={"kind": "toy"}, params={"acc_target": str(acc)})
            mlflow.log_metric("acc", acc, model_id=lm.model_id)
            ids[name] = lm.model_id
    with mlflow.start_run():  # its own run: log_model copies the run's metrics into the model
        ids["sk"] = mlflow.sklearn.log_model(model, name="sk", pip_requirements=["scikit-learn"]).model_id
    for name in ("alpha", "beta", "gamma"):
        mlflow.finalize_logged_model(ids[name], "READY")

    def names(**kw):
        return [m.name for m in art_client.search_logged_models(experiment_ids=[exp_id], **kw)]

    # metrics logged with a model_id attach to the model
    beta = art_client.get_logged_model(ids["beta"])
    assert [(m.key, m.value) for m in beta.metrics] == [("acc", 0.9)]

    assert sorted(names()) == ["alpha", "beta", "gamma", "sk"]
    assert names(filter_string="name = 'beta'") == ["beta"]
    assert sorted(names(filter_string="metrics.acc > 0.75")) == ["beta", "gamma"]
    assert sorted(names(filter_string="name LIKE '%a%' AND tags.kind = 'toy'")) == ["alpha", "beta", "gamma"]
    assert names(filter_string="params.acc_target = '0.8'") == ["gamma"]
    assert sorted(names(filter_string=f"source_run_id = '{run.info.run_id}'")) == ["alpha", "beta", "gamma"]
    assert names(filter_string="name != 'alpha'", order_by=[{"field_name": "name", "ascending": False}]) == [
        "sk",
        "gamma",
        "beta",
    ]
    assert names(filter_string="metrics.acc > 0.5", order_by=[{"field_name": "metrics.acc", "ascending": False}]) == [
        "beta",
        "gamma",
        "alpha",
    ]
    assert names(order_by=[{"field_name": "name", "ascending": True}]) == ["alpha", "beta", "gamma", "sk"]

    # pagination with the client's page tokens
    seen, token = [], None
    while True:
        page = art_client.search_logged_models(
            experiment_ids=[exp_id],
            max_results=3,
            page_token=token,
            order_by=[{"field_name": "name", "ascending": True}],
        )
        seen += [m.name for m in page]
        token = page.token
        if not token:
            break
    assert seen == ["alpha", "beta", "gamma", "sk"]

    # the fluent API
    listed = mlflow.search_logged_models(experiment_ids=[exp_id], filter_string="name = 'sk'", output_format="list")
    assert [m.model_id for m in listed] == [ids["sk"]]
    frame = mlflow.search_logged_models(experiment_ids=[exp_id])
    assert len(frame) == 4


def test_log_model_with_registered_model_name(art_tracking, art_client, artifact_server, trained, uniq):
    """2b: log_model(registered_model_name=...) registers the logged model in one call."""
    model, X = trained
    name = uniq("cand")
    mlflow.set_experiment(uniq("lm-registered"))
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name)
    assert str(info.registered_model_version) == "1"
    version = art_client.get_model_version(name, "1")
    assert version.source == f"models:/{info.model_id}"
    assert version.run_id == run.info.run_id
    lm = art_client.get_logged_model(info.model_id)
    assert "mlflow.modelVersions" in lm.tags

    _assert_same_predictions(mlflow.pyfunc.load_model(f"models:/{name}/1"), model, X)
    _assert_same_predictions(mlflow.pyfunc.load_model(f"models:/{info.model_id}"), model, X)
    _assert_same_predictions(mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model"), model, X)


def test_stock_training_script(art_tracking, art_client, trained, uniq, tmp_path):
    """Issue 3's "done when": a training script logs a scikit-learn model, a plot and a folder of
    files, then loads the model back by models:/<model_id> and runs:/<run_id>/model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, X = trained
    folder = tmp_path / "reports"
    (folder / "per_class").mkdir(parents=True)
    (folder / "summary.md").write_text("# accuracy\n0.93\n")
    (folder / "per_class" / "class 0.csv").write_text("precision,recall\n0.9,0.95\n")

    mlflow.set_experiment(uniq("training-script"))
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        mlflow.log_metric("accuracy", float(model.score(X, model.predict(X))))
        fig, ax = plt.subplots()
        ax.plot([0, 1, 2], [0.5, 0.8, 0.93])
        mlflow.log_figure(fig, "plots/accuracy.png")
        plt.close(fig)
        mlflow.log_artifacts(str(folder), artifact_path="reports")
        info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])

    run_id = run.info.run_id
    names = {f.path for f in art_client.list_artifacts(run_id)}
    assert names == {"plots", "reports"}
    (png,) = art_client.list_artifacts(run_id, "plots")
    assert png.path == "plots/accuracy.png" and png.file_size > 1000
    downloaded = Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="reports", dst_path=str(tmp_path / "dl"))
    )
    assert (downloaded / "per_class" / "class 0.csv").read_text() == "precision,recall\n0.9,0.95\n"
    assert (downloaded / "summary.md").read_text() == "# accuracy\n0.93\n"
    for uri in (f"models:/{info.model_id}", f"runs:/{run_id}/model"):
        _assert_same_predictions(mlflow.pyfunc.load_model(uri), model, X)
