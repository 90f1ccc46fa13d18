"""The model registry through the unmodified MLflow 3.x client (issue 4), on every backend the
e2e conftest runs (``server`` fixture: ``modelops server --default-artifact-root <dir>``).

* the promotion flow: two training runs log a scikit-learn model and an accuracy metric,
  ``search_runs`` picks the best, it is registered from ``runs:/`` and ``models:/<model_id>``,
  aliased ``champion``, loaded by alias, replaced by a better challenger; latest versions, stage
  transitions with archiving, ``copy_model_version``, rename, delete;
* ``log_model(..., registered_model_name=...)``;
* ``search_registered_models`` / ``search_model_versions``: filter forms, ordering, pages;
* prompts: ``mlflow.genai.register_prompt`` / ``load_prompt`` / ``set_prompt_alias`` /
  ``search_prompts``, and prompts stay out of ``search_registered_models()``;
* error paths over raw HTTP (``api``).

``MODELOPS_E2E_TARGET=mlflow`` runs the same tests against the stock ``mlflow server``.
"""

from __future__ import annotations

import warnings

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException

pytestmark = pytest.mark.e2e

PIP = ["scikit-learn"]  # no requirement inference: it spawns a subprocess per log_model


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(7)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 3] + 0.3 * rng.normal(size=200) > 0).astype(int)
    return X, y


def _train(X, y, *, C: float, shuffle_labels: bool = False, features=None):
    """Fit, log the model and its accuracy in a run; (run_id, model_info, model, accuracy)."""
    from sklearn.linear_model import LogisticRegression

    labels = np.random.RandomState(0).permutation(y) if shuffle_labels else y
    Xf = X.copy()
    if features is not None:  # a weaker model: only some features carry signal
        Xf[:, [i for i in range(X.shape[1]) if i not in features]] = 0.0
    model = LogisticRegression(C=C).fit(Xf, labels)
    accuracy = float((model.predict(X) == y).mean())
    with mlflow.start_run() as run:
        mlflow.log_param("C", C)
        mlflow.log_metric("accuracy", accuracy)
        info = mlflow.sklearn.log_model(model, name="model", pip_requirements=PIP)
    return run.info.run_id, info, model, accuracy


def _predict(uri: str, X):
    return np.asarray(mlflow.pyfunc.load_model(uri).predict(X))


def _error_code(excinfo) -> str:
    return excinfo.value.error_code


# --- the promotion flow ---------------------------------------------------------------------


def test_promotion_flow(client, tracking, uniq, data):
    X, y = data
    exp = mlflow.set_experiment(uniq("promote"))
    name, copy_name, new_name = uniq("fraud"), uniq("fraud-prod"), uniq("fraud-renamed")

    # two candidates; the metric decides
    weak_id, _, _, weak_acc = _train(X, y, C=1.0, shuffle_labels=True)
    good_id, good_info, good_model, good_acc = _train(X, y, C=1.0, features=[0, 1])
    assert good_acc > weak_acc
    runs = mlflow.search_runs(experiment_ids=[exp.experiment_id], order_by=["metrics.accuracy DESC"])
    best = runs.iloc[0]["run_id"]
    assert best == good_id and list(runs["run_id"]) == [good_id, weak_id]

    # register the best: from its runs:/ URI and from its models:/<model_id> URI
    v1 = mlflow.register_model(f"runs:/{best}/model", name)
    assert v1.name == name and v1.version == "1" and v1.status == "READY"
    assert v1.run_id == best
    assert v1.source == good_info.model_uri  # the 3.x client registers the logged model
    v2 = mlflow.register_model(good_info.model_uri, name)
    assert v2.version == "2" and v2.source == good_info.model_uri and v2.run_id == best
    # the logged model knows the versions promoted from it
    lm = client.get_logged_model(good_info.model_id)
    assert "mlflow.modelVersions" in lm.tags and name in lm.tags["mlflow.modelVersions"]

    client.set_registered_model_alias(name, "champion", v1.version)
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_registered_model(name).aliases == {"champion": "1"}
    np.testing.assert_array_equal(_predict(f"models:/{name}@champion", X), good_model.predict(X))
    np.testing.assert_array_equal(_predict(f"models:/{name}/2", X), good_model.predict(X))

    # a better challenger: registered, picked by the same search, and the alias moves
    chal_id, chal_info, chal_model, chal_acc = _train(X, y, C=10.0)
    assert chal_acc > good_acc
    best = mlflow.search_runs(
        experiment_ids=[exp.experiment_id], order_by=["metrics.accuracy DESC"], max_results=1
    ).iloc[0]["run_id"]
    assert best == chal_id
    v3 = mlflow.register_model(f"runs:/{best}/model", name, tags={"challenger": "yes"})
    assert v3.version == "3" and v3.tags == {"challenger": "yes"}
    client.set_registered_model_alias(name, "champion", v3.version)
    champion = client.get_model_version_by_alias(name, "champion")
    assert champion.version == "3" and champion.aliases == ["champion"]
    assert client.get_model_version(name, "1").aliases == []
    np.testing.assert_array_equal(_predict(f"models:/{name}@champion", X), chal_model.predict(X))
    assert not np.array_equal(chal_model.predict(X), good_model.predict(X))

    # stages (deprecated in 3.x, still used): latest versions per stage, archiving
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert [mv.version for mv in client.get_latest_versions(name)] == ["3"]
        assert client.transition_model_version_stage(name, "1", "Production").current_stage == "Production"
        assert client.transition_model_version_stage(name, "2", "Staging").current_stage == "Staging"
        promoted = client.transition_model_version_stage(name, "3", "Production", archive_existing_versions=True)
        assert promoted.current_stage == "Production"
        assert client.get_model_version(name, "1").current_stage == "Archived"
        assert client.get_model_version(name, "2").current_stage == "Staging"
        latest = {mv.current_stage: mv.version for mv in client.get_latest_versions(name)}
        assert latest == {"Archived": "1", "Staging": "2", "Production": "3"}
        assert [mv.version for mv in client.get_latest_versions(name, stages=["Production"])] == ["3"]
        np.testing.assert_array_equal(_predict(f"models:/{name}/Production", X), chal_model.predict(X))

    # copy the champion into the production model: no artifacts copied, same location
    copied = client.copy_model_version(f"models:/{name}@champion", copy_name)
    assert copied.name == copy_name and copied.version == "1"
    assert copied.run_id == chal_id
    assert client.get_model_version_download_uri(copy_name, "1") == client.get_model_version_download_uri(name, "3")
    np.testing.assert_array_equal(_predict(f"models:/{copy_name}/1", X), chal_model.predict(X))

    # rename: versions, aliases and loading follow
    client.rename_registered_model(name, new_name)
    renamed = client.get_registered_model(new_name)
    assert renamed.aliases == {"champion": "3"}
    assert {mv.version for mv in renamed.latest_versions} == {"1", "2", "3"}
    with pytest.raises(MlflowException) as exc:
        client.get_registered_model(name)
    assert _error_code(exc) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_model_version(new_name, "3").name == new_name
    np.testing.assert_array_equal(_predict(f"models:/{new_name}@champion", X), chal_model.predict(X))

    # delete a version (its number is not reused), then the models
    client.delete_model_version(new_name, "2")
    with pytest.raises(MlflowException) as exc:
        client.get_model_version(new_name, "2")
    assert _error_code(exc) == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow.register_model(chal_info.model_uri, new_name).version == "4"
    client.delete_registered_model(new_name)
    client.delete_registered_model(copy_name)
    assert client.search_registered_models(f"name IN ('{new_name}', '{copy_name}')") == []
    with pytest.raises(MlflowException) as exc:
        client.get_model_version(new_name, "3")
    assert _error_code(exc) == "RESOURCE_DOES_NOT_EXIST"


def test_log_model_registers_in_one_call(client, tracking, uniq, data):
    from sklearn.linear_model import LogisticRegression

    X, y = data
    mlflow.set_experiment(uniq("one-call"))
    name = uniq("one-call")
    model = LogisticRegression().fit(X, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name, pip_requirements=PIP)
    assert str(info.registered_model_version) == "1"
    rm = client.get_registered_model(name)
    (mv,) = rm.latest_versions
    assert mv.version == "1" and mv.source == info.model_uri and mv.run_id == run.info.run_id
    assert mv.status == "READY" and mv.current_stage == "None"
    np.testing.assert_array_equal(_predict(f"models:/{name}/1", X), model.predict(X))
    np.testing.assert_array_equal(_predict(f"models:/{name}/latest", X), model.predict(X))
    # a second log_model into the same name adds version 2
    with mlflow.start_run():
        info2 = mlflow.sklearn.log_model(model, name="model", registered_model_name=name, pip_requirements=PIP)
    assert str(info2.registered_model_version) == "2"
    assert [mv.version for mv in client.search_model_versions(f"name = '{name}'")] == ["2", "1"]


# --- search ---------------------------------------------------------------------------------


@pytest.fixture
def catalogue(client, tracking, uniq):
    """Five registered models under one prefix, with tags and versions from two runs."""
    prefix = uniq("cat")
    mlflow.set_experiment(prefix)
    run_ids = []
    for _ in range(2):
        with mlflow.start_run() as run:
            mlflow.log_text("flavors: {}\n", "model/MLmodel")
        run_ids.append(run.info.run_id)
    names = [f"{prefix}-{c}" for c in "abcde"]
    for i, name in enumerate(names):
        client.create_registered_model(
            name, tags={"team": "risk" if i % 2 == 0 else "Growth", "idx": str(i)}, description=f"model {i}"
        )
    versions = {}
    for i, name in enumerate(names[:3]):
        for n in range(i + 1):  # a: 1 version, b: 2, c: 3
            rid = run_ids[n % 2]
            mv = client.create_model_version(
                name, f"runs:/{rid}/model", run_id=rid, tags={"quality": "gold" if n == 0 else "silver"}
            )
            versions[(name, mv.version)] = rid
    return prefix, names, run_ids, versions


def _all_pages(fetch, **kw):
    items, token, pages = [], None, 0
    while True:
        page = fetch(page_token=token, **kw)
        pages += 1
        items += list(page)
        token = page.token
        if not token:
            return items, pages


def test_search_registered_models(client, catalogue):
    prefix, names, _, _ = catalogue
    like = f"name LIKE '{prefix}-%'"

    def found(flt, **kw):
        return [m.name for m in client.search_registered_models(flt, **kw)]

    assert found(like) == names
    assert found(f"name = '{names[1]}'") == [names[1]]
    assert found(f"{like} AND name != '{names[1]}'") == [n for n in names if n != names[1]]
    assert found(f"name ILIKE '{prefix.upper()}-%'") == names
    assert found(f"name LIKE '{prefix.upper()}-%'") == []
    assert found(f"name IN ('{names[0]}', '{names[4]}', 'nope')") == [names[0], names[4]]
    assert found(f"{like} AND name NOT IN ('{names[0]}', '{names[4]}')") == names[1:4]
    assert found(f"{like} AND tags.team = 'risk'") == [names[0], names[2], names[4]]
    assert found(f"{like} AND tags.team ILIKE 'GROW%'") == [names[1], names[3]]
    assert found(f"{like} AND tags.team LIKE 'G%' AND tags.idx = '3'") == [names[3]]
    assert found(f"{like} AND tag.`idx` != '0'") == names[1:]
    assert found(like, order_by=["name DESC"]) == names[::-1]
    assert found(like, order_by=["timestamp DESC"])[0] == names[2]  # its last version came last

    rm = client.search_registered_models(f"name = '{names[2]}'")[0]
    assert rm.description == "model 2" and rm.tags == {"team": "risk", "idx": "2"}
    assert [mv.version for mv in rm.latest_versions] == ["3"]

    # pages of two: 5 models -> 3 pages
    items, pages = _all_pages(client.search_registered_models, filter_string=like, max_results=2, order_by=["name ASC"])
    assert [m.name for m in items] == names and pages == 3

    with pytest.raises(MlflowException) as exc:
        client.search_registered_models(f"{like} OR name = 'x'")
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as exc:
        client.search_registered_models(like, max_results=1001)
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"


def test_search_model_versions(client, catalogue, is_reference):
    prefix, names, run_ids, versions = catalogue
    a, b, c = names[:3]
    like = f"name LIKE '{prefix}-%'"

    def found(flt, **kw):
        return [(mv.name, mv.version) for mv in client.search_model_versions(flt, **kw)]

    everything = sorted(versions)
    assert sorted(found(like)) == everything
    assert found(f"name = '{c}'", order_by=["version_number ASC"]) == [(c, "1"), (c, "2"), (c, "3")]
    assert found(f"name IN ('{a}', '{b}')", order_by=["name ASC", "version_number DESC"]) == [
        (a, "1"),
        (b, "2"),
        (b, "1"),
    ]
    assert sorted(found(f"{like} AND run_id = '{run_ids[1]}'")) == [(b, "2"), (c, "2")]
    assert sorted(found(f"{like} AND run_id IN ('{run_ids[0]}')")) == [(a, "1"), (b, "1"), (c, "1"), (c, "3")]
    assert sorted(found(f"{like} AND source_path = 'runs:/{run_ids[1]}/model'")) == [(b, "2"), (c, "2")]
    assert sorted(found(f"{like} AND version_number >= 2")) == [(b, "2"), (c, "2"), (c, "3")]
    assert sorted(found(f"{like} AND tags.quality = 'gold'")) == [(a, "1"), (b, "1"), (c, "1")]
    assert sorted(found(f"{like} AND tags.quality LIKE 'sil%' AND name = '{c}'")) == [(c, "2"), (c, "3")]
    if not is_reference:  # timestamp filters are an extension of ours (MLflow: name, run_id, source_path, version)
        first = client.get_model_version(a, "1").creation_timestamp
        assert sorted(found(f"{like} AND creation_timestamp > {first - 1}")) == everything
        assert sorted(found(f"{like} AND last_updated_timestamp < {first}")) == []
    assert found(f"name = '{c}'", order_by=["creation_timestamp DESC"]) == [(c, "3"), (c, "2"), (c, "1")]

    items, pages = _all_pages(
        client.search_model_versions, filter_string=like, max_results=2, order_by=["name ASC", "version_number ASC"]
    )
    assert [(mv.name, mv.version) for mv in items] == everything and pages == 3

    mv = client.search_model_versions(f"name = '{c}' AND version_number = 3")[0]
    assert mv.tags == {"quality": "silver"} and mv.run_id == run_ids[0] and mv.status == "READY"
    with pytest.raises(MlflowException) as exc:
        client.search_model_versions(f"name = '{c}'", order_by=["source_path"])
    assert _error_code(exc) == "INVALID_PARAMETER_VALUE"


# --- prompts --------------------------------------------------------------------------------


def test_prompts(client, tracking, uniq):
    name = uniq("greeting").replace("-", "_")
    v1 = mlflow.genai.register_prompt(name, template="Hello {{name}}!", commit_message="first", tags={"lang": "en"})
    assert v1.version == 1 and v1.template == "Hello {{name}}!"
    v2 = mlflow.genai.register_prompt(name, template="Hi {{name}}, welcome.", commit_message="second")
    assert v2.version == 2

    assert mlflow.genai.load_prompt(f"prompts:/{name}/1").template == "Hello {{name}}!"
    assert mlflow.genai.load_prompt(name, version=2).template == "Hi {{name}}, welcome."
    assert mlflow.genai.load_prompt(f"prompts:/{name}/1").format(name="Ada") == "Hello Ada!"

    mlflow.genai.set_prompt_alias(name, "production", 1)
    assert mlflow.genai.load_prompt(f"prompts:/{name}@production").version == 1
    mlflow.genai.set_prompt_alias(name, "production", 2)
    assert mlflow.genai.load_prompt(f"prompts:/{name}@production", cache_ttl_seconds=0).version == 2

    found = mlflow.genai.search_prompts(filter_string=f"name = '{name}'")
    assert [p.name for p in found] == [name]
    assert name in [p.name for p in mlflow.genai.search_prompts(filter_string=f"name LIKE '{name[:12]}%'")]

    # prompts are registered models with a tag, but stay out of the model search
    assert client.search_registered_models(f"name = '{name}'") == []
    assert name not in [m.name for m in client.search_registered_models(max_results=1000)]
    assert client.search_model_versions(f"name = '{name}'") == []

    # a model cannot take a prompt's name
    with pytest.raises(MlflowException) as exc:
        client.create_registered_model(name)
    assert _error_code(exc) == "RESOURCE_ALREADY_EXISTS"


# --- error paths over raw HTTP --------------------------------------------------------------


def _err(resp, status: int, code: str, fragment: str = ""):
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    body = resp.json()
    assert body["error_code"] == code, body
    assert fragment in body["message"], body["message"]


def test_error_paths_over_http(api, uniq, tracking, is_reference):
    name = uniq("errs")
    api.post("registered-models/create", {"name": name}).raise_for_status()
    _err(
        api.post("registered-models/create", {"name": name}),
        400,
        "RESOURCE_ALREADY_EXISTS",
        f"Registered Model (name={name}) already exists.",
    )
    _err(api.get("registered-models/get", {"name": name + "-missing"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _err(api.get("model-versions/get", {"name": name, "version": "1"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _err(api.get("model-versions/get-download-uri", {"name": name, "version": "7"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _err(
        api.get("registered-models/alias", {"name": name, "alias": "champion"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Registered model alias champion not found.",
    )

    exp = api.post("experiments/create", {"name": uniq("errs-exp")}).json()["experiment_id"]
    run = api.post("runs/create", {"experiment_id": exp}).json()["run"]["info"]
    rid = run["run_id"]
    mv = api.post("model-versions/create", {"name": name, "source": f"runs:/{rid}/model", "run_id": rid})
    assert mv.status_code == 200 and mv.json()["model_version"]["version"] == "1"

    for alias in ("latest", "v1"):
        _err(
            api.post("registered-models/alias", {"name": name, "alias": alias, "version": "1"}),
            400,
            "INVALID_PARAMETER_VALUE",
            "reserved",
        )
    _err(
        api.post("registered-models/alias", {"name": name, "alias": "x", "version": "5"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    _err(
        api.post(
            "model-versions/transition-stage",
            {"name": name, "version": "1", "stage": "Prod", "archive_existing_versions": False},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid Model Version stage: Prod",
    )
    _err(api.get("registered-models/search", {"max_results": 1001}), 400, "INVALID_PARAMETER_VALUE")
    _err(api.get("registered-models/search", {"filter": "name = 'a' OR name = 'b'"}), 400, "INVALID_PARAMETER_VALUE")
    _err(api.get("model-versions/search", {"page_token": "bogus"}), 400, "INVALID_PARAMETER_VALUE")
    _err(
        api.request("DELETE", "registered-models/delete", json={"name": name + "-missing"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )

    other = api.post("runs/create", {"experiment_id": exp}).json()["run"]["info"]
    hostile = [
        "file:///etc/passwd",
        "/etc/passwd",
        "../x",
        f"runs:/{rid}/../../x",
        f"runs:/{rid}/..%2f..%2fx",
        "a\\b",
        "https://evil/x",
        f"{api.base}/api/2.0/mlflow-artifacts/artifacts/x",
        "models://host/x",
        f"runs:/{other['run_id']}/model",
        f"{other['artifact_uri']}/model",
    ]
    if not is_reference:  # MLflow 3.17.2 answers a NUL byte with an HTML 500
        hostile.append("x\x00y")
    for source in hostile:
        resp = api.post("model-versions/create", {"name": name, "source": source, "run_id": rid})
        assert resp.status_code == 400, (source, resp.status_code, resp.text[:300])
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE", (source, resp.json())
    versions = api.get("model-versions/search", {"filter": f"name = '{name}'"}).json().get("model_versions", [])
    assert [v["version"] for v in versions] == ["1"]
    # the UI mount answers the same
    assert api.get("registered-models/get", {"name": name}, prefix="ajax-api").status_code == 200
    resp = api.request("DELETE", "registered-models/delete", json={"name": name})
    assert resp.status_code == 200 and resp.json() == {}


# --- immutable versions over proxied artifacts (local disk and S3) ---------------------------


def test_versions_keep_their_artifacts(art_client, art_tracking, artifact_server, uniq, data, tmp_path, is_reference):
    """With ``--artifacts-destination`` the server snapshots a version's files under
    ``registry/<uuid>``: rewriting the run's artifacts afterwards changes nothing the version
    serves, and nobody can write under ``registry/``."""
    if is_reference:
        pytest.skip("MLflow keeps a reference to the run's artifacts; snapshots are the registry's own")
    import requests
    from sklearn.linear_model import LogisticRegression

    X, y = data
    model = LogisticRegression().fit(X, y)
    local = tmp_path / "model"
    mlflow.sklearn.save_model(model, str(local), pip_requirements=PIP)
    mlflow.set_experiment(uniq("immutable"))
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(local), "model")  # a 2.x-style model inside the run's directory
    name = uniq("immutable")
    mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    assert mv.version == "1" and mv.run_id == run.info.run_id
    uri = art_client.get_model_version_download_uri(name, "1")
    assert uri.startswith("mlflow-artifacts:/registry/")
    snapshot = uri[len("mlflow-artifacts:/") :]
    assert artifact_server.stored_bytes(f"{snapshot}/MLmodel") == (local / "MLmodel").read_bytes()

    # the run's copy is overwritten and partly deleted
    with mlflow.start_run(run_id=run.info.run_id):
        mlflow.log_text("not a model", "model/MLmodel")
    (weights,) = [p.name for p in local.iterdir() if p.name.startswith("model.")]  # model.skops / .pkl
    resp = requests.delete(
        f"{art_tracking}/api/2.0/mlflow-artifacts/artifacts/"
        f"{run.info.experiment_id}/{run.info.run_id}/artifacts/model/{weights}",
        timeout=30,
    )
    assert resp.status_code == 200
    assert weights not in [f.path.split("/")[-1] for f in art_client.list_artifacts(run.info.run_id, "model")]

    np.testing.assert_array_equal(_predict(f"models:/{name}/1", X), model.predict(X))
    downloaded = mlflow.artifacts.download_artifacts(f"models:/{name}/1", dst_path=str(tmp_path / "dl"))
    assert (tmp_path / "dl" / "MLmodel").read_bytes() == (local / "MLmodel").read_bytes(), downloaded

    base = f"{art_tracking}/api/2.0/mlflow-artifacts/artifacts/{snapshot}"
    for method, url in (
        ("PUT", f"{base}/MLmodel"),
        ("PUT", f"{base}/extra.txt"),
        ("DELETE", f"{base}/MLmodel"),
        ("DELETE", base),
    ):
        resp = requests.request(method, url, data=b"x" if method == "PUT" else None, timeout=30)
        assert resp.status_code == 403 and resp.json()["error_code"] == "PERMISSION_DENIED", (method, url)
    assert artifact_server.stored_bytes(f"{snapshot}/MLmodel") == (local / "MLmodel").read_bytes()
