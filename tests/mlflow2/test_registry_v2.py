"""The model registry through the mlflow 2.x client (mlflow-skinny 2.22): issue 4.

A 2.x model is just files in the run's artifact directory (``log_artifact`` / ``log_artifacts``
into ``model/``); 2.x registers it from ``runs:/<run_id>/model`` (``create_model_version`` sends
the URI as is; ``mlflow.register_model`` sends the run's underlying artifact location with the
run_id). Then download URIs, aliases, stages, latest versions, search, rename and delete.
"""

from __future__ import annotations

import os
import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

pytestmark = pytest.mark.e2e


class Doubler(mlflow.pyfunc.PythonModel):
    def __init__(self, factor):
        self.factor = factor

    def predict(self, context, model_input, params=None):
        return np.asarray(model_input["x"]) * self.factor


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Two pyfunc models saved to local directories (factor 2 and 3)."""
    out = {}
    for factor in (2, 3):
        path = tmp_path_factory.mktemp("models") / f"times{factor}"
        mlflow.pyfunc.save_model(str(path), python_model=Doubler(factor), pip_requirements=["numpy"])
        out[factor] = path
    return out


def _logged_run(experiment: str, model_dir, extra: bool = True) -> str:
    """A run holding ``model_dir`` under ``model/`` (log_artifacts) plus one log_artifact file."""
    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(model_dir), "model")
        if extra:
            note = os.path.join(str(model_dir), "..", f"note-{run.info.run_id}.txt")
            with open(note, "w") as f:
                f.write("trained on 2.x")
            mlflow.log_artifact(note, "model")
    return run.info.run_id


def _frame():
    return pd.DataFrame({"x": [1.0, 2.0, 5.0]})


def _reference() -> bool:
    from tests.e2e import server as harness

    return harness.is_reference()


def _code(excinfo) -> str:
    return excinfo.value.error_code


def test_register_alias_load_and_download(client, tracking, uniq, saved_models, tmp_path):
    name = uniq("v2-model")
    rm = client.create_registered_model(name, tags={"team": "risk"}, description="2.x model")
    assert rm.name == name and rm.tags == {"team": "risk"} and rm.description == "2.x model"
    with pytest.raises(MlflowException) as exc:
        client.create_registered_model(name)
    assert _code(exc) == "RESOURCE_ALREADY_EXISTS"

    rid2 = _logged_run(uniq("v2-exp"), saved_models[2])
    rid3 = _logged_run(uniq("v2-exp"), saved_models[3])

    # create_model_version from a runs:/ source
    mv1 = client.create_model_version(name, f"runs:/{rid2}/model", run_id=rid2, tags={"q": "ok"}, description="first")
    assert mv1.version == "1" and mv1.status == "READY" and mv1.run_id == rid2
    assert mv1.source == f"runs:/{rid2}/model" and mv1.tags == {"q": "ok"} and mv1.description == "first"
    # mlflow.register_model (2.x: the run's artifact location + run_id)
    mv2 = mlflow.register_model(f"runs:/{rid3}/model", name)
    assert mv2.version == "2" and mv2.run_id == rid3
    assert client.get_model_version(name, "2").status == "READY"

    # the download URI is a real location holding the model's files
    for version, factor, rid in (("1", 2, rid2), ("2", 3, rid3)):
        uri = client.get_model_version_download_uri(name, version)
        if not _reference():  # MLflow answers the runs:/ URI itself; we resolve it at creation
            assert uri and not uri.startswith(("runs:", "models:"))
        local = mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path / f"dl{version}"))
        files = set(os.listdir(local))
        assert "MLmodel" in files and f"note-{rid}.txt" in files
        with open(os.path.join(local, "MLmodel")) as f, open(saved_models[factor] / "MLmodel") as g:
            assert f.read() == g.read()

    # aliases
    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    np.testing.assert_array_equal(
        mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(_frame()), [2.0, 4.0, 10.0]
    )
    client.set_registered_model_alias(name, "champion", "2")  # the alias moves
    mv = client.get_model_version_by_alias(name, "champion")
    assert mv.version == "2" and mv.aliases == ["champion"]
    assert client.get_registered_model(name).aliases == {"champion": "2"}
    np.testing.assert_array_equal(
        mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(_frame()), [3.0, 6.0, 15.0]
    )
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(f"models:/{name}/1").predict(_frame()), [2.0, 4.0, 10.0])
    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException) as exc:
        client.get_model_version_by_alias(name, "champion")
    assert _code(exc) == "INVALID_PARAMETER_VALUE"
    for reserved in ("latest", "v3"):
        with pytest.raises(MlflowException) as exc:
            client.set_registered_model_alias(name, reserved, "1")
        assert _code(exc) == "INVALID_PARAMETER_VALUE"

    # hostile sources are refused and create nothing
    for source in ("file:///etc/passwd", "/etc/passwd", f"runs:/{rid2}/../../../x", "https://evil/x"):
        with pytest.raises(MlflowException) as exc:
            client.create_model_version(name, source, run_id=rid2)
        assert _code(exc) == "INVALID_PARAMETER_VALUE", source
    assert [m.version for m in client.search_model_versions(f"name = '{name}'")] == ["2", "1"]

    # a missing model or version
    with pytest.raises(MlflowException) as exc:
        client.get_model_version(name, "9")
    assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as exc:
        client.get_registered_model(uniq("missing"))
    assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"


def test_stages_latest_versions_metadata(client, tracking, uniq, saved_models):
    name = uniq("v2-stages")
    client.create_registered_model(name)
    rid = _logged_run(uniq("v2-exp"), saved_models[2], extra=False)
    for _ in range(3):
        client.create_model_version(name, f"runs:/{rid}/model", run_id=rid)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert client.transition_model_version_stage(name, "1", "Production").current_stage == "Production"
        assert client.transition_model_version_stage(name, "2", "Staging").current_stage == "Staging"
        mv3 = client.transition_model_version_stage(name, "3", "Production", archive_existing_versions=True)
        assert mv3.current_stage == "Production"
        assert client.get_model_version(name, "1").current_stage == "Archived"
        latest = {mv.current_stage: mv.version for mv in client.get_latest_versions(name)}
        assert latest == {"Archived": "1", "Staging": "2", "Production": "3"}
        assert [mv.version for mv in client.get_latest_versions(name, stages=["Staging"])] == ["2"]
        with pytest.raises(MlflowException) as exc:
            client.transition_model_version_stage(name, "1", "Prod")
        assert _code(exc) == "INVALID_PARAMETER_VALUE"
        np.testing.assert_array_equal(
            mlflow.pyfunc.load_model(f"models:/{name}/Production").predict(_frame()), [2.0, 4.0, 10.0]
        )

    client.update_registered_model(name, description="updated")
    assert client.get_registered_model(name).description == "updated"
    client.update_model_version(name, "2", description="v2 notes")
    assert client.get_model_version(name, "2").description == "v2 notes"
    client.set_registered_model_tag(name, "k", "v")
    client.set_model_version_tag(name, "2", "k2", "v2")
    assert client.get_registered_model(name).tags == {"k": "v"}
    assert client.get_model_version(name, "2").tags == {"k2": "v2"}
    client.delete_registered_model_tag(name, "k")
    client.delete_model_version_tag(name, "2", "k2")
    assert client.get_registered_model(name).tags == {}
    assert client.get_model_version(name, "2").tags == {}

    # rename: versions follow
    new_name = uniq("v2-renamed")
    client.rename_registered_model(name, new_name)
    assert {mv.version for mv in client.get_registered_model(new_name).latest_versions} == {"1", "2", "3"}
    assert client.get_model_version(new_name, "3").current_stage == "Production"
    with pytest.raises(MlflowException) as exc:
        client.get_registered_model(name)
    assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"

    # delete a version (its number is not reused), then the model
    client.delete_model_version(new_name, "3")
    assert client.create_model_version(new_name, f"runs:/{rid}/model", run_id=rid).version == "4"
    client.delete_registered_model(new_name)
    with pytest.raises(MlflowException) as exc:
        client.get_model_version(new_name, "1")
    assert _code(exc) == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_model_versions(f"name = '{new_name}'") == []


def test_search_and_pages(client, tracking, uniq, saved_models):
    prefix = uniq("v2-search")
    names = [f"{prefix}-{i}" for i in range(5)]
    for i, name in enumerate(names):
        client.create_registered_model(name, tags={"parity": "even" if i % 2 == 0 else "odd"})
    rid = _logged_run(uniq("v2-exp"), saved_models[2], extra=False)
    for name in names[:2]:
        for _ in range(2):
            client.create_model_version(name, f"runs:/{rid}/model", run_id=rid)

    like = f"name LIKE '{prefix}-%'"
    assert [m.name for m in client.search_registered_models(like)] == names
    assert [m.name for m in client.search_registered_models(f"{like} AND tags.parity = 'odd'")] == names[1::2]
    assert [m.name for m in client.search_registered_models(f"name IN ('{names[0]}', '{names[3]}')")] == [
        names[0],
        names[3],
    ]
    assert [m.name for m in client.search_registered_models(like, order_by=["name DESC"])] == names[::-1]

    seen, token, pages = [], None, 0
    while True:
        page = client.search_registered_models(like, max_results=2, page_token=token)
        seen += [m.name for m in page]
        pages += 1
        token = page.token
        if not token:
            break
    assert seen == names and pages == 3

    found = client.search_model_versions(f"run_id = '{rid}'")
    assert sorted((mv.name, mv.version) for mv in found) == [
        (names[0], "1"),
        (names[0], "2"),
        (names[1], "1"),
        (names[1], "2"),
    ]
    assert [mv.version for mv in client.search_model_versions(f"name = '{names[1]}'")] == ["2", "1"]
    assert [mv.version for mv in client.search_model_versions(f"name = '{names[1]}' AND version_number > 1")] == ["2"]
    # the fluent API pages through everything
    assert len(mlflow.search_registered_models(filter_string=like)) == 5
    with pytest.raises(MlflowException) as exc:
        client.search_registered_models(f"{like} OR name = 'x'")
    assert _code(exc) == "INVALID_PARAMETER_VALUE"


def test_prompts_stay_out_of_model_search(client, tracking, uniq):
    name = uniq("v2_prompt").replace("-", "_")
    prompt = mlflow.register_prompt(name, template="Hello {{name}}")
    assert str(prompt.version) == "1"
    assert mlflow.load_prompt(f"prompts:/{name}/1").template == "Hello {{name}}"
    assert client.search_registered_models(f"name = '{name}'") == []
