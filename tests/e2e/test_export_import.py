"""The MLflow export/import tool, unmodified from PyPI, copies an experiment and a registered model
from one of our servers into a fresh one, and what arrives is what left.

The tool runs from its own venv, ``.venv-exportimport`` (``make`` creates it: the pinned
``databricks-mlflow-export-import``, the maintained release of mlflow/mlflow-export-import, with
``mlflow-skinny`` 3.17.2), driven through its console scripts as subprocesses with
``MLFLOW_TRACKING_URI`` pointing at one server or the other. The data are made and compared here
with the main venv's mlflow 3.x client.

* an experiment (tags) with runs (params, a long param, metric histories, a metric logged twice
  at one step, tags, a nested run, artifacts: nested folders, binary, empty and non-ASCII named
  files) and a logged model: ``export-experiment`` from server A, ``import-experiment`` into a
  fresh server B; both with artifacts on local paths and proxied through the server
  (``mlflow-artifacts:/``);
* a registered model (tags, description, aliases) with two versions (tags, descriptions, a
  stage), one registered from a model folder logged as run artifacts, one from a logged model
  (``mlflow.sklearn.log_model``): ``export-model`` then ``import-model`` into a fresh server; the
  imported champion predicts what the original does.

What the tool changes by design is left out of the comparison: new run ids, start and end times
and user (``mlflow.user``), the run and model ids it rewrites in MLmodel files (and a logged
model's location there), and the tag that names the model versions of a logged model
(``mlflow.modelVersions``, which it drops and the registry sets again).

The tool's limits decide the setup: it finds a version's model path after the first
``artifacts`` in its source and tells logged models by ``models`` anywhere in it, and it checks
that a version's new source exists on the local disk. So the model test uses a local artifact
root whose path holds neither word (``<tmp>/store``).

``MODELOPS_E2E_TARGET=mlflow`` runs the same tests against the stock ``mlflow server``.
``EXPORTIMPORT_BIN`` names the tool's bin folder (default ``<repo>/.venv-exportimport/bin``).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
import warnings
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.entities import ViewType

from tests.e2e import server as harness
from tests.e2e.conftest import _backends, _MysqlDatabase, _PostgresDatabase

pytestmark = pytest.mark.e2e

TOOL_BIN = Path(os.environ.get("EXPORTIMPORT_BIN") or harness.REPO_ROOT / ".venv-exportimport" / "bin")
TOOL_TIMEOUT = 300
PIP = ["scikit-learn"]  # no requirement inference: it spawns a subprocess per log_model

#: MLmodel fields that name the run and the logged model, which the tool rewrites on import
#: (``mlmodel_fix``), and the logged model's location
_MLMODEL_VOLATILE = {"run_id", "model_id", "model_uuid", "artifact_path"}


@pytest.fixture(scope="module")
def tool():
    if not (TOOL_BIN / "export-experiment").exists():
        pytest.fail(
            f"the export/import tool is not installed at {TOOL_BIN}: run "
            "`make .venv-exportimport/.installed` (make test does)",
            pytrace=False,
        )
    return Tool(TOOL_BIN)


class Tool:
    def __init__(self, bin_dir: Path):
        self.bin = bin_dir

    def __call__(self, command: str, server, *args: str, cwd: Path) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DATABRICKS_"))}
        env.update(
            MLFLOW_TRACKING_URI=server.url,
            MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
            MLFLOW_HTTP_REQUEST_TIMEOUT="60",
            MLFLOW_DISABLE_TELEMETRY="true",
            DO_NOT_TRACK="true",
            PYTHONUNBUFFERED="1",
        )
        cmd = [str(self.bin / command), *args]
        proc = subprocess.run(
            cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=TOOL_TIMEOUT, stdin=subprocess.DEVNULL
        )
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, (
            f"{' '.join(cmd)} exited with {proc.returncode}\n{output[-8000:]}\n{server.logs_tail(3000)}"
        )
        return output


@pytest.fixture(params=_backends())
def servers(request, tmp_path_factory, _client_env):
    """``servers(kind)`` -> a fresh server (A, B, ...) on a fresh database of the backend, with
    its artifacts on ``<tmp>/store`` (``kind="local"``) or proxied to ``<tmp>/dest``
    (``kind="proxied"``)."""
    started, databases = [], []

    def start(kind: str = "local"):
        tmp = tmp_path_factory.mktemp("ei")
        # the tool cuts a version's source after the first "artifacts" and takes any source
        # with "models" in it for a logged model's
        assert "artifacts" not in str(tmp) and "models" not in str(tmp), (
            f"the export/import tool cannot work under {tmp}: pick another --basetemp"
        )
        database = None
        if request.param == "postgresql":
            database = _PostgresDatabase(os.environ["MODELOPS_TEST_POSTGRES_URI"])
        elif request.param == "mysql":
            database = _MysqlDatabase(os.environ["MODELOPS_TEST_MYSQL_URI"])
        backend_uri = database.create() if database else None
        if database:
            databases.append(database)
        if kind == "proxied":
            srv = harness.start_modelops(
                tmp,
                backend_uri,
                artifact_root="mlflow-artifacts:/",
                extra_args=["--artifacts-destination", str(tmp / "dest")],
            )
        else:
            srv = harness.start_modelops(tmp, backend_uri, artifact_root=tmp / "store")
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
    for database in databases:
        database.drop()


@pytest.fixture
def work(tmp_path_factory):
    """A scratch folder; the fluent API's tracking URI is restored and no run left active."""
    previous = mlflow.get_tracking_uri()
    yield tmp_path_factory.mktemp("ei-work")
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- snapshots ------------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _comparable(files: dict[str, bytes]) -> dict[str, object]:
    """File bytes, with MLmodel files parsed and the fields the tool rewrites left out."""
    out = {}
    for path, data in files.items():
        if path == "MLmodel" or path.endswith("/MLmodel"):
            doc = yaml.safe_load(data)
            out[path] = {k: v for k, v in doc.items() if k not in _MLMODEL_VOLATILE}
        else:
            out[path] = data
    return out


def _download(uri: str, tracking: str, dest: Path) -> dict[str, bytes]:
    dest.mkdir(parents=True)
    # a models:/ URI is resolved with the fluent API's tracking URI, whatever tracking_uri says
    mlflow.set_tracking_uri(tracking)
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest), tracking_uri=tracking)
    return _tree(Path(local))


def _run_artifacts(client: MlflowClient, run_id: str, dest: Path) -> dict[str, bytes]:
    if not client.list_artifacts(run_id):
        return {}
    dest.mkdir(parents=True)
    local = client.download_artifacts(run_id, "", str(dest))
    return _tree(Path(local))


def _history(client: MlflowClient, run_id: str, key: str) -> list:
    return sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key))


def _runs_by_name(client: MlflowClient, experiment_id: str) -> dict:
    runs = client.search_runs([experiment_id], run_view_type=ViewType.ALL, max_results=1000)
    by_name = {r.info.run_name: r for r in runs}
    assert len(by_name) == len(runs), "run names must be unique in these tests"
    return by_name


def _run_snapshot(client: MlflowClient, run, dest: Path, ids: dict[str, str]) -> dict:
    """What a copy must keep of a run; run ids in tags are replaced by run names (``ids``)."""
    tags = {
        k: ids.get(v, v) if k == "mlflow.parentRunId" else v for k, v in run.data.tags.items() if k != "mlflow.user"
    }
    return {
        "run_name": run.info.run_name,
        "status": run.info.status,
        "lifecycle_stage": run.info.lifecycle_stage,
        "params": dict(run.data.params),
        "tags": tags,
        "latest_metrics": dict(run.data.metrics),
        "metric_history": {k: _history(client, run.info.run_id, k) for k in run.data.metrics},
        "artifacts": _run_artifacts(client, run.info.run_id, dest),
    }


def _logged_model_snapshot(client: MlflowClient, model, tracking: str, dest: Path, ids: dict[str, str]) -> dict:
    tags = {k: v for k, v in model.tags.items() if k != "mlflow.modelVersions"}
    return {
        "status": str(model.status),
        "model_type": model.model_type or None,
        "params": dict(model.params),
        "tags": tags,
        "source_run": ids.get(model.source_run_id),
        "artifacts": _comparable(_download(f"models:/{model.model_id}", tracking, dest)),
    }


def _experiment_snapshot(client: MlflowClient, tracking: str, experiment_id: str, dest: Path) -> dict:
    runs = _runs_by_name(client, experiment_id)
    ids = {r.info.run_id: name for name, r in runs.items()}
    models = client.search_logged_models(experiment_ids=[experiment_id])
    return {
        "tags": dict(client.get_experiment(experiment_id).tags),
        "runs": {name: _run_snapshot(client, r, dest / "runs" / r.info.run_id, ids) for name, r in runs.items()},
        "logged_models": {
            m.name: _logged_model_snapshot(client, m, tracking, dest / "models" / m.model_id, ids) for m in models
        },
    }


def _differences(copy, original, path: str = "") -> list[str]:
    """Where ``copy`` differs from ``original``, one line per leaf."""
    if isinstance(copy, dict) and isinstance(original, dict):
        out = []
        for key in sorted(set(copy) | set(original), key=str):
            where = f"{path}/{key}"
            if key not in copy:
                out.append(f"{where}: missing from the copy (source: {original[key]!r:.200})")
            elif key not in original:
                out.append(f"{where}: only in the copy ({copy[key]!r:.200})")
            else:
                out.extend(_differences(copy[key], original[key], where))
        return out
    if copy != original:
        return [f"{path}: copy {copy!r:.300} != source {original!r:.300}"]
    return []


def _assert_same(copy, original, what: str) -> None:
    diffs = _differences(copy, original)
    assert not diffs, f"{what}: the copy differs from the source:\n" + "\n".join(diffs)


def _artifact_source(root: Path) -> Path:
    files = {
        "notes.txt": b"hello, export/import\n",
        "data/blob.bin": bytes(range(256)) * 40,
        "data/empty.txt": b"",
        "data/deeper/values.json": json.dumps({"a": [1, 2, 3]}).encode(),
        "with space.txt": b"spaces in the name\n",
        "reports/r\u00e9sum\u00e9.txt": "caf\u00e9 \u2013 na\u00efve\n".encode(),
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _fit(X, y, C: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C).fit(X, y)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(11)
    X = rng.normal(size=(120, 3))
    y = (X[:, 0] - 0.7 * X[:, 2] + 0.2 * rng.normal(size=120) > 0).astype(int)
    return X, y


# --- the experiment -------------------------------------------------------------------------


def _populate_experiment(client: MlflowClient, name: str, files: Path, data) -> str:
    X, y = data
    experiment_id = client.create_experiment(name, tags={"team": "growth", "purpose": "export-import"})
    with mlflow.start_run(experiment_id=experiment_id, run_name="baseline") as run:
        mlflow.log_params({"lr": 0.1, "depth": 6, "notes": "x" * 1000})
        for step in range(50):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step * 1000)
        mlflow.log_metric("accuracy", 0.81)
        mlflow.set_tags({"team": "growth", "stage": "baseline", "emoji": "\u2713 d\u00e9j\u00e0"})
        mlflow.log_artifacts(str(files))
        baseline = run.info.run_id
    with mlflow.start_run(experiment_id=experiment_id, run_name="tuned") as run:
        mlflow.log_params({"lr": 0.01, "depth": 8})
        for step, value in enumerate([0.9, 0.5, 0.3]):
            mlflow.log_metric("loss", value, step=step)
        client.log_metric(run.info.run_id, "loss", 0.25, timestamp=1_700_000_999_000, step=2)
        mlflow.log_metric("accuracy", 0.93)
        mlflow.set_tag("stage", "tuned")
        mlflow.log_artifact(str(files / "notes.txt"), "docs")
        mlflow.sklearn.log_model(
            _fit(X, y, 1.0), name="clf", pip_requirements=PIP, params={"C": "1.0"}, tags={"kind": "linear"}
        )
        with mlflow.start_run(experiment_id=experiment_id, run_name="tuned-child", nested=True):
            mlflow.log_param("fold", 1)
            mlflow.log_metric("fold_accuracy", 0.9, step=1)
    # a run that failed keeps its status
    failed = client.create_run(experiment_id, run_name="crashed")
    client.log_param(failed.info.run_id, "lr", "10")
    client.set_terminated(failed.info.run_id, "FAILED")
    assert baseline
    return experiment_id


@pytest.mark.parametrize("artifacts", ["local", "proxied"])
def test_export_import_experiment(tool, servers, work, data, artifacts):
    source, target = servers(artifacts), servers(artifacts)
    src_client, dst_client = MlflowClient(source.url), MlflowClient(target.url)
    mlflow.set_tracking_uri(source.url)
    src_name, dst_name = _name("ei-src"), _name("ei-dst")
    src_id = _populate_experiment(src_client, src_name, _artifact_source(work / "files"), data)
    before = _experiment_snapshot(src_client, source.url, src_id, work / "a")

    out = work / "export"
    tool("export-experiment", source, "--experiment", src_name, "--output-dir", str(out), cwd=work)
    manifest = json.loads((out / "experiment.json").read_text())
    info = manifest["info"]
    assert info["num_total_runs"] == 4 and info["num_ok_runs"] == 4, info
    assert info["num_failed_runs"] == 0 and info.get("failed_logged_models", 0) == 0, info

    tool("import-experiment", target, "--experiment-name", dst_name, "--input-dir", str(out), cwd=work)
    imported = dst_client.get_experiment_by_name(dst_name)
    assert imported is not None, f"experiment {dst_name} not in the target"
    after = _experiment_snapshot(dst_client, target.url, imported.experiment_id, work / "b")

    assert sorted(before["runs"]) == ["baseline", "crashed", "tuned", "tuned-child"]
    _assert_same(after, before, f"experiment {src_name} -> {dst_name}")
    assert before["runs"]["tuned-child"]["tags"]["mlflow.parentRunId"] == "tuned"
    assert before["runs"]["baseline"]["metric_history"]["loss"][0] == (0, 1_700_000_000_000, 1.0)
    assert len(before["runs"]["tuned"]["metric_history"]["loss"]) == 4
    assert before["runs"]["baseline"]["artifacts"]["data/blob.bin"] == bytes(range(256)) * 40
    assert list(before["logged_models"]) == ["clf"]


# --- the registered model -------------------------------------------------------------------


def _populate_model(client: MlflowClient, name: str, work: Path, data):
    X, y = data
    experiment_id = client.create_experiment(_name("ei-train"))
    client.create_registered_model(
        name,
        tags={"owner": "risk", "domain": "fraud"},
        description="Fraud classifier, **markdown** and \u00fcml\u00e4uts",
    )
    models = {}
    # version 1: a model folder logged as run artifacts, registered from runs:/<run_id>/model
    with mlflow.start_run(experiment_id=experiment_id, run_name="v1-run") as run:
        model = models["1"] = _fit(X, y, 0.05)
        mlflow.log_param("C", 0.05)
        mlflow.log_metric("accuracy", float(model.score(X, y)))
        folder = work / "v1-model"
        mlflow.sklearn.save_model(model, str(folder), pip_requirements=PIP)
        mlflow.log_artifacts(str(folder), "model")
        mlflow.log_artifact(str(_artifact_source(work / "v1-files") / "notes.txt"), "extra")
    v1 = mlflow.register_model(f"runs:/{run.info.run_id}/model", name, tags={"origin": "folder"})
    assert v1.source.endswith(f"{run.info.run_id}/artifacts/model"), v1.source
    # version 2: a logged model, registered from runs:/ (the 3.x client registers models:/<id>)
    with mlflow.start_run(experiment_id=experiment_id, run_name="v2-run") as run:
        model = models["2"] = _fit(X, y, 10.0)
        mlflow.log_param("C", 10.0)
        mlflow.log_metric("accuracy", float(model.score(X, y)))
        mlflow.sklearn.log_model(model, name="model", pip_requirements=PIP)
    v2 = mlflow.register_model(
        f"runs:/{run.info.run_id}/model", name, tags={"origin": "logged-model", "reviewed": "yes"}
    )
    assert v2.source.startswith("models:/m-"), v2.source
    client.update_model_version(name, "1", description="first cut")
    client.update_model_version(name, "2", description="tuned: C=10")
    client.set_registered_model_alias(name, "champion", "2")
    client.set_registered_model_alias(name, "previous", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage(name, "1", "Archived")
    return models


def _model_snapshot(client: MlflowClient, tracking: str, name: str, dest: Path) -> dict:
    model = client.get_registered_model(name)
    versions = {}
    for mv in sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version)):
        run = client.get_run(mv.run_id)
        versions[mv.version] = {
            "description": mv.description,
            "tags": dict(mv.tags),
            "stage": mv.current_stage,
            "status": mv.status,
            "aliases": sorted(client.get_model_version(name, mv.version).aliases),
            "run_name": run.info.run_name,
            "run_params": dict(run.data.params),
            "run_metrics": dict(run.data.metrics),
            "artifacts": _comparable(_download(f"models:/{name}/{mv.version}", tracking, dest / mv.version)),
        }
    return {
        "description": model.description,
        "tags": dict(model.tags),
        "aliases": dict(model.aliases),
        "versions": versions,
    }


def test_export_import_registered_model(tool, servers, work, data):
    source, target = servers("local"), servers("local")
    src_client, dst_client = MlflowClient(source.url), MlflowClient(target.url)
    mlflow.set_tracking_uri(source.url)
    name = _name("ei-fraud")
    models = _populate_model(src_client, name, work, data)
    before = _model_snapshot(src_client, source.url, name, work / "a")
    assert before["aliases"] == {"champion": "2", "previous": "1"}
    assert before["versions"]["1"]["stage"] == "Archived"

    out = work / "export"
    output = tool("export-model", source, "--model", name, "--output-dir", str(out), cwd=work)
    manifest_path = out / "model.json"  # the tool exits 0 when the export fails
    assert manifest_path.exists(), f"export-model wrote no model.json:\n{output[-6000:]}"
    info = json.loads(manifest_path.read_text())["info"]
    assert info["num_src_versions"] == 2 and not info["failed_versions"], info

    imported_experiment = _name("ei-imported")
    tool(
        "import-model",
        target,
        "--model",
        name,
        "--experiment-name",
        imported_experiment,
        "--input-dir",
        str(out),
        cwd=work,
    )
    after = _model_snapshot(dst_client, target.url, name, work / "b")
    _assert_same(after, before, f"registered model {name}")

    # the versions' runs were imported into the experiment named on the command line
    experiment = dst_client.get_experiment_by_name(imported_experiment)
    assert experiment is not None
    assert sorted(_runs_by_name(dst_client, experiment.experiment_id)) == ["v1-run", "v2-run"]

    # the copy serves: the champion (a logged model) and version 1 (a run's folder) predict
    X, _ = data
    mlflow.set_tracking_uri(target.url)
    for uri, version in ((f"models:/{name}@champion", "2"), (f"models:/{name}@previous", "1")):
        predicted = np.asarray(mlflow.pyfunc.load_model(uri).predict(X))
        np.testing.assert_array_equal(predicted, models[version].predict(X))
