"""registered-models/* and model-versions/* through the Flask test client, on every backend
(issue 4).

Reference: /work/shared/reference/mlflow-api-surface.md ("Registered models and aliases",
"Model versions", flows B.2b, B.3, B.4, search grammar in D, errors in C) and MLflow 3.17.2's
server (mlflow/server/handlers.py ``_create_model_version``, ``_validate_source_run``;
store/model_registry/sqlalchemy_store.py). Expectations marked "(MLflow)" were checked against a
real ``mlflow server`` 3.17.2; the snapshot, immutability and lineage behaviour is the registry's
own (versions of record own their artifacts under ``registry/<uuid>`` in the store).
"""

from __future__ import annotations

import base64
import json
import re

import pytest

from registry_core import aliases, model_versions, promotion, registered_models
from tests.api.wire import AJAX, API, delete, error, get, ok, patch, post

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
PROMPT_FILTER = "tag.`mlflow.prompt.is_prompt` != 'true'"  # what the 3.x client always appends
SNAPSHOT_URI = re.compile(r"mlflow-artifacts:/registry/[0-9a-f]{32}")


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def app(registry_db, backend_uri, tmp_path):
    """The conftest app, with the artifact store in this test's own directory."""
    from mlflow_compat.app import create_app
    from mlflow_compat.config import ServerConfig

    config = ServerConfig.resolve(backend_store_uri=backend_uri, artifacts_destination=str(tmp_path / "store"))
    application = create_app(config, database=registry_db)
    application.testing = True
    return application


@pytest.fixture
def store(tmp_path):
    return tmp_path / "store"


def registry_clock(monkeypatch, now_ms):
    """The registry's writes (models, versions, aliases) read ``now_ms`` as their clock."""
    for module in (registered_models, model_versions, aliases):
        monkeypatch.setattr(module, "now_ms", now_ms)


@pytest.fixture
def clock(monkeypatch):
    """A registry clock that ticks one second per reading, so timestamps order strictly."""
    state = {"t": 1_800_000_000_000}

    def tick():
        state["t"] += 1000
        return state["t"]

    registry_clock(monkeypatch, tick)
    monkeypatch.setattr(promotion, "now_ms", tick)
    return state


# --- helpers --------------------------------------------------------------------------------


def create_model(client, name, **extra) -> dict:
    return ok(post(client, "registered-models/create", {"name": name, **extra}))["registered_model"]


def get_model(client, name) -> dict:
    return ok(get(client, "registered-models/get", name=name))["registered_model"]


def create_version(client, name, source, **extra) -> dict:
    return ok(post(client, "model-versions/create", {"name": name, "source": source, **extra}))["model_version"]


def get_version(client, name, version) -> dict:
    return ok(get(client, "model-versions/get", name=name, version=str(version)))["model_version"]


def download_uri(client, name, version) -> str:
    return ok(get(client, "model-versions/get-download-uri", name=name, version=str(version)))["artifact_uri"]


def create_experiment(client, name="reg-exp") -> str:
    return ok(post(client, "experiments/create", {"name": name}))["experiment_id"]


def create_run(client, eid, tags=None) -> dict:
    return ok(post(client, "runs/create", {"experiment_id": eid, "tags": tags or []}))["run"]["info"]


def store_path(uri: str) -> str:
    assert uri.startswith("mlflow-artifacts:/"), uri
    return uri[len("mlflow-artifacts:/") :].strip("/")


def put_file(client, path: str, data: bytes):
    resp = client.put(f"{ARTIFACTS}/{path}", data=data)
    assert resp.status_code == 200, resp.get_data(as_text=True)


def read_file(client, uri: str, rel: str) -> bytes:
    resp = client.get(f"{ARTIFACTS}/{store_path(uri)}/{rel}")
    assert resp.status_code == 200, (resp.status_code, resp.get_data(as_text=True)[:300])
    return resp.get_data()


def listing(client, uri: str, rel: str = "") -> dict:
    path = store_path(uri) + (f"/{rel}" if rel else "")
    files = ok(client.get(ARTIFACTS, query_string={"path": path})).get("files", [])
    return {f["path"]: f.get("file_size") for f in files}


def run_with_model(client, eid, files=None, tags=None) -> dict:
    """A run whose artifacts hold ``model/`` (MLmodel + a weights file)."""
    run = create_run(client, eid, tags)
    files = files or {"MLmodel": b"flavors:\n  python_function: {}\n", "weights.bin": b"\x00\x01v1"}
    for rel, data in files.items():
        put_file(client, f"{store_path(run['artifact_uri'])}/model/{rel}", data)
    return run


def versions_of(page) -> list[tuple[str, str]]:
    return [(mv["name"], mv["version"]) for mv in page.get("model_versions", [])]


def model_names(page) -> list[str]:
    return [m["name"] for m in page.get("registered_models", [])]


def search_models(client, filter=None, **params) -> dict:
    if filter is not None:
        params["filter"] = filter
    return ok(get(client, "registered-models/search", **params))


def search_versions(client, filter=None, **params) -> dict:
    if filter is not None:
        params["filter"] = filter
    return ok(get(client, "model-versions/search", **params))


def kv(items) -> dict:
    return {t["key"]: t["value"] for t in items or []}


# --- registered models ----------------------------------------------------------------------


def test_create_get_and_duplicate(client):
    model = create_model(
        client,
        "fraud",
        description="catches fraud",
        tags=[{"key": "team", "value": "risk"}, {"key": "empty", "value": ""}],
    )
    assert model["name"] == "fraud"
    assert model["description"] == "catches fraud"
    assert kv(model["tags"]) == {"team": "risk", "empty": ""}
    assert isinstance(model["creation_timestamp"], int)
    assert model["last_updated_timestamp"] == model["creation_timestamp"]
    assert "latest_versions" not in model and "aliases" not in model  # (MLflow) empty = absent

    assert get_model(client, "fraud") == model
    assert ok(get(client, "registered-models/get", root=AJAX, name="fraud"))["registered_model"] == model

    error(
        post(client, "registered-models/create", {"name": "fraud"}),
        400,
        "RESOURCE_ALREADY_EXISTS",
        "Registered Model (name=fraud) already exists.",
    )
    error(
        get(client, "registered-models/get", name="nope"),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Registered Model with name=nope not found",
    )
    for bad in ("a/b", "a:b", ""):
        error(post(client, "registered-models/create", {"name": bad}), 400, "INVALID_PARAMETER_VALUE")
    error(post(client, "registered-models/create", {}), 400, "INVALID_PARAMETER_VALUE")
    # a plain model named like a prompt clash is worded as MLflow words it
    create_model(client, "p1", tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])
    error(
        post(client, "registered-models/create", {"name": "p1"}),
        400,
        "RESOURCE_ALREADY_EXISTS",
        "already taken by a prompt",
    )


def test_rename_versions_and_aliases_follow(client, store):
    eid = create_experiment(client)
    run = run_with_model(client, eid)
    create_model(client, "old")
    create_version(client, "old", f"runs:/{run['run_id']}/model", run_id=run["run_id"])
    create_version(client, "old", f"runs:/{run['run_id']}/model", run_id=run["run_id"])
    ok(post(client, "registered-models/alias", {"name": "old", "alias": "champion", "version": "2"}))
    ok(post(client, "registered-models/set-tag", {"name": "old", "key": "k", "value": "v"}))

    renamed = ok(post(client, "registered-models/rename", {"name": "old", "new_name": "new"}))["registered_model"]
    assert renamed["name"] == "new"
    assert [mv["name"] for mv in renamed["latest_versions"]] == ["new"]
    assert renamed["aliases"] == [{"alias": "champion", "version": "2"}]
    assert kv(renamed["tags"]) == {"k": "v"}

    error(get(client, "registered-models/get", name="old"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert get_version(client, "new", 1)["name"] == "new"
    assert ok(get(client, "registered-models/alias", name="new", alias="champion"))["model_version"]["version"] == "2"
    assert versions_of(search_versions(client, "name = 'new'")) == [("new", "2"), ("new", "1")]
    assert versions_of(search_versions(client, "name = 'old'")) == []
    # download URIs do not depend on the name
    assert SNAPSHOT_URI.fullmatch(download_uri(client, "new", 1))

    create_model(client, "other")
    error(
        post(client, "registered-models/rename", {"name": "new", "new_name": "other"}),
        400,
        "RESOURCE_ALREADY_EXISTS",
        "Registered Model (name=other) already exists.",
    )
    error(
        post(client, "registered-models/rename", {"name": "missing", "new_name": "x"}), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    error(post(client, "registered-models/rename", {"name": "new", "new_name": "a/b"}), 400, "INVALID_PARAMETER_VALUE")
    assert get_model(client, "new")["name"] == "new"  # failed renames changed nothing
    # renaming to itself is accepted (MLflow)
    assert (
        ok(post(client, "registered-models/rename", {"name": "new", "new_name": "new"}))["registered_model"]["name"]
        == "new"
    )


def test_update_and_delete_model(client):
    eid = create_experiment(client)
    run = run_with_model(client, eid)
    created = create_model(client, "m", description="first")
    updated = ok(patch(client, "registered-models/update", {"name": "m", "description": "second"}))["registered_model"]
    assert updated["description"] == "second"
    assert updated["last_updated_timestamp"] >= created["last_updated_timestamp"]
    # no description clears it (MLflow)
    assert "description" not in ok(patch(client, "registered-models/update", {"name": "m"}))["registered_model"]
    assert client.post(f"{API}/registered-models/update", json={"name": "m"}).status_code == 405
    error(
        patch(client, "registered-models/update", {"name": "nope", "description": "x"}), 404, "RESOURCE_DOES_NOT_EXIST"
    )

    for _ in range(2):
        create_version(client, "m", f"runs:/{run['run_id']}/model", run_id=run["run_id"])
    ok(post(client, "registered-models/alias", {"name": "m", "alias": "prod", "version": "1"}))

    # DELETE with a JSON body; versions, tags and aliases go with the model
    ok(delete(client, "registered-models/delete", {"name": "m"}))
    error(get(client, "registered-models/get", name="m"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(get(client, "model-versions/get", name="m", version="1"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert versions_of(search_versions(client, f"run_id = '{run['run_id']}'")) == []
    error(delete(client, "registered-models/delete", {"name": "m"}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert client.post(f"{API}/registered-models/delete", json={"name": "m"}).status_code == 405

    # the name is free again and numbering starts over
    create_model(client, "m")
    assert create_version(client, "m", f"runs:/{run['run_id']}/model", run_id=run["run_id"])["version"] == "1"
    assert "aliases" not in get_model(client, "m")


def test_registered_model_tags(client):
    create_model(client, "t", tags=[{"key": "a", "value": "1"}])
    ok(post(client, "registered-models/set-tag", {"name": "t", "key": "b", "value": "2"}))
    ok(post(client, "registered-models/set-tag", {"name": "t", "key": "a", "value": "overwritten"}))
    assert kv(get_model(client, "t")["tags"]) == {"a": "overwritten", "b": "2"}
    ok(delete(client, "registered-models/delete-tag", {"name": "t", "key": "a"}))
    ok(delete(client, "registered-models/delete-tag", {"name": "t", "key": "never-set"}))  # (MLflow) no error
    assert kv(get_model(client, "t")["tags"]) == {"b": "2"}

    error(
        post(client, "registered-models/set-tag", {"name": "nope", "key": "k", "value": "v"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(delete(client, "registered-models/delete-tag", {"name": "nope", "key": "k"}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(
        post(client, "registered-models/set-tag", {"name": "t", "key": "", "value": "v"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    error(
        post(client, "registered-models/set-tag", {"name": "t", "key": "x" * 251, "value": "v"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    error(
        post(client, "registered-models/set-tag", {"name": "t", "key": "big", "value": "x" * 100_001}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    ok(post(client, "registered-models/set-tag", {"name": "t", "key": "big", "value": "x" * 5000}))
    assert len(kv(get_model(client, "t")["tags"])["big"]) == 5000


def test_tag_values_up_to_the_limit(client):
    """Registry tag values may hold 100,000 characters (MLflow's MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH;
    prompt templates live in version tags), also in utf8mb4 on MySQL (LONGTEXT columns)."""
    eid = create_experiment(client)
    run = run_with_model(client, eid)
    create_model(client, "big")
    create_version(client, "big", f"runs:/{run['run_id']}/model", run_id=run["run_id"])
    value = "é" * 100_000
    ok(post(client, "registered-models/set-tag", {"name": "big", "key": "k", "value": value}))
    ok(post(client, "model-versions/set-tag", {"name": "big", "version": "1", "key": "k", "value": value}))
    assert kv(get_model(client, "big")["tags"])["k"] == value
    assert kv(get_version(client, "big", 1)["tags"])["k"] == value


# --- registered-model search ----------------------------------------------------------------


def test_search_registered_models_filters(client):
    create_model(client, "Alpha", tags=[{"key": "team", "value": "risk"}, {"key": "my tag", "value": "x1"}])
    create_model(client, "alpha-2", tags=[{"key": "team", "value": "Risk"}])
    create_model(client, "beta", tags=[{"key": "team", "value": "growth"}, {"key": "a.b", "value": "dots"}])
    create_model(client, "gamma")
    create_model(client, "my-prompt", tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])
    plain = ["Alpha", "alpha-2", "beta", "gamma"]

    def names(flt=None, **params):
        return model_names(search_models(client, flt, **params))

    # no filter and the 3.x client's automatic prompt filter: models only, name ASC by default
    assert names() == plain
    assert names(PROMPT_FILTER) == plain
    assert names(f"{PROMPT_FILTER} AND name = 'beta'") == ["beta"]
    assert names("tags.`mlflow.prompt.is_prompt` = 'true'") == ["my-prompt"]

    assert names("name = 'Alpha'") == ["Alpha"]
    assert names("name = 'alpha'") == []  # case-sensitive
    assert names("name != 'beta'") == ["Alpha", "alpha-2", "gamma"]
    assert names("name LIKE 'alpha%'") == ["alpha-2"]  # LIKE is case-sensitive
    assert names("name ILIKE 'alpha%'") == ["Alpha", "alpha-2"]
    assert names("name LIKE '%a'") == ["Alpha", "beta", "gamma"]
    assert names("name LIKE '_eta'") == ["beta"]
    assert names("name IN ('beta', 'gamma', 'nope')") == ["beta", "gamma"]
    assert names("name NOT IN ('beta', 'gamma')") == ["Alpha", "alpha-2"]
    assert names('attributes.name = "gamma"') == ["gamma"]
    assert names("tags.team = 'risk'") == ["Alpha"]
    assert names("tags.team != 'risk'") == ["alpha-2", "beta"]  # only models that carry the tag
    assert names("tags.team LIKE 'R%'") == ["alpha-2"]
    assert names("tags.team ILIKE 'r%'") == ["Alpha", "alpha-2"]
    assert names("tag.`my tag` = 'x1'") == ["Alpha"]
    assert names("tags.\"a.b\" = 'dots'") == ["beta"]
    assert names(f"tags.team ILIKE 'r%' AND name LIKE 'A%' AND {PROMPT_FILTER}") == ["Alpha"]
    assert names("tags.missing = 'x'") == []

    error(
        get(client, "registered-models/search", filter="name = 'a' OR name = 'b'"), 400, "INVALID_PARAMETER_VALUE", "OR"
    )
    error(
        get(client, "registered-models/search", filter="foo = 'a'"),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid attribute key 'foo'",
    )
    error(get(client, "registered-models/search", filter="name > 'a'"), 400, "INVALID_PARAMETER_VALUE")
    error(get(client, "registered-models/search", filter="name = "), 400, "INVALID_PARAMETER_VALUE")
    # the ajax mount answers the same
    assert model_names(ok(get(client, "registered-models/search", root=AJAX, filter="name = 'beta'"))) == ["beta"]
    # search rows carry the latest versions, tags and aliases like registered-models/get
    (beta,) = search_models(client, "name = 'beta'")["registered_models"]
    assert beta == get_model(client, "beta")


def test_search_registered_models_order_and_pages(client, clock):
    names = [f"m{i:02d}" for i in range(8)]
    for name in reversed(names):  # created m07 first ... m00 last
        create_model(client, name)
    # touch m03 last: it has the newest last_updated_timestamp
    ok(patch(client, "registered-models/update", {"name": "m03", "description": "touched"}))

    def order(*order_by, flt=None):
        return model_names(search_models(client, flt, order_by=list(order_by), max_results=100))

    assert order() == names
    assert order("name DESC") == names[::-1]
    assert order("name ASC") == names
    assert order("creation_timestamp ASC") == names[::-1]
    assert order("creation_timestamp DESC") == names
    assert order("last_updated_timestamp DESC")[0] == "m03"
    assert order("timestamp DESC")[0] == "m03"
    assert order("last_updated_timestamp ASC")[-1] == "m03"
    error(
        get(client, "registered-models/search", order_by=["foo"]),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid order by key 'foo'",
    )
    error(get(client, "registered-models/search", order_by=["name DESC", "name ASC"]), 400, "INVALID_PARAMETER_VALUE")

    # pagination: 8 models, 3 per page -> 3 pages; the token is MLflow's base64 {"offset": N}
    seen, token, pages = [], None, 0
    while True:
        params = {"max_results": 3, "order_by": ["name DESC"]}
        if token:
            params["page_token"] = token
        page = search_models(client, PROMPT_FILTER, **params)
        pages += 1
        seen += model_names(page)
        token = page.get("next_page_token")
        if not token:
            break
        assert json.loads(base64.b64decode(token)) == {"offset": len(seen)}
    assert pages == 3 and seen == names[::-1]
    # an exact multiple ends with no token on the last full page or an empty page, never a loop
    page = search_models(client, max_results=8)
    assert model_names(page) == names and not page.get("next_page_token")

    # max_results: default 100, cap 1000 (MLflow)
    assert model_names(search_models(client, max_results=1000)) == names
    error(get(client, "registered-models/search", max_results=1001), 400, "INVALID_PARAMETER_VALUE")
    error(get(client, "registered-models/search", max_results="x"), 400, "INVALID_PARAMETER_VALUE")
    error(get(client, "registered-models/search", page_token="not-a-token"), 400, "INVALID_PARAMETER_VALUE")


# --- versions: create from every source form ------------------------------------------------


def test_create_version_from_every_source(client, store):
    eid = create_experiment(client)
    run = run_with_model(client, eid)
    rid, run_root = run["run_id"], run["artifact_uri"]
    # a 3.x logged model of the same run, with its own files
    lm = ok(post(client, "logged-models", {"experiment_id": eid, "name": "lm", "source_run_id": rid}))["model"]["info"]
    model_id = lm["model_id"]
    put_file(client, f"{store_path(lm['artifact_uri'])}/MLmodel", b"flavors: {lm: 1}\n")
    create_model(client, "cand")

    v1 = create_version(
        client,
        "cand",
        f"runs:/{rid}/model",
        run_id=rid,
        description="from a run",
        tags=[{"key": "stage", "value": "dev"}],
        run_link="http://ui/run",
    )
    assert v1["version"] == "1" and isinstance(v1["version"], str)
    assert v1["status"] == "READY" and v1["current_stage"] == "None"
    assert v1["source"] == f"runs:/{rid}/model" and v1["run_id"] == rid
    assert v1["description"] == "from a run" and v1["run_link"] == "http://ui/run"
    assert kv(v1["tags"]) == {"stage": "dev"}
    assert isinstance(v1["creation_timestamp"], int)
    assert get_version(client, "cand", "1") == v1

    v2 = create_version(client, "cand", f"models:/{model_id}", model_id=model_id)
    v3 = create_version(client, "cand", f"{run_root}/model", run_id=rid)  # mlflow-artifacts:/ inside the run
    v4 = create_version(client, "cand", "models:/cand/1")
    ok(post(client, "registered-models/alias", {"name": "cand", "alias": "champion", "version": "2"}))
    v5 = create_version(client, "cand", "models:/cand@champion")
    v6 = create_version(client, "cand", f"{lm['artifact_uri']}", model_id=model_id)
    v7 = create_version(client, "cand", f"runs:/{rid}/model", run_id=rid)
    error(
        post(client, "model-versions/create", {"name": "cand", "source": f"runs:/{rid}/model"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "The run_id request parameter must identify",
    )  # as MLflow 3.17.2
    assert [v["version"] for v in (v2, v3, v4, v5, v6, v7)] == ["2", "3", "4", "5", "6", "7"]
    assert all(v["status"] == "READY" for v in (v2, v3, v4, v5, v6, v7))
    assert v2["run_id"] == rid  # the logged model's source run
    assert v4["run_id"] == rid and v5["run_id"] == rid  # registry sources inherit the run

    uris = {n: download_uri(client, "cand", n) for n in range(1, 8)}
    for n in (1, 2, 3, 6, 7):
        assert SNAPSHOT_URI.fullmatch(uris[n]), uris[n]
    assert len({uris[1], uris[2], uris[3], uris[6], uris[7]}) == 5  # one snapshot per promotion
    assert uris[4] == uris[1]  # models:/cand/1 shares version 1's immutable snapshot
    assert uris[5] == uris[2]  # models:/cand@champion -> version 2's
    for n in (1, 3, 4, 7):
        assert listing(client, uris[n]) == {"MLmodel": 31, "weights.bin": 4}
        assert read_file(client, uris[n], "weights.bin") == b"\x00\x01v1"
    for n in (2, 5, 6):
        assert read_file(client, uris[n], "MLmodel") == b"flavors: {lm: 1}\n"

    # the logged model lists the versions promoted from it (mlflow.modelVersions)
    tags = kv(ok(get(client, f"logged-models/{model_id}"))["model"]["info"]["tags"])
    assert {"name": "cand", "version": 2} in json.loads(tags["mlflow.modelVersions"])  # a number, as MLflow

    # stage and latest forms of models:/ resolve to that version's snapshot
    ok(post(client, "model-versions/transition-stage", {"name": "cand", "version": "3", "stage": "Production"}))
    v8 = create_version(client, "cand", "models:/cand/latest")
    v9 = create_version(client, "cand", "models:/cand/production")
    assert (v8["version"], v9["version"]) == ("8", "9")
    assert download_uri(client, "cand", 8) == uris[7]
    assert download_uri(client, "cand", 9) == uris[3]
    error(
        post(client, "model-versions/create", {"name": "cand", "source": "models:/cand/Staging"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(
        post(client, "model-versions/create", {"name": "cand", "source": "models:/cand@nope"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    error(
        post(client, "model-versions/create", {"name": "cand", "source": "models:/cand/42"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    # a copy outlives its source model: the snapshot belongs to the versions, not to the model
    create_model(client, "copy")
    create_version(client, "copy", "models:/cand@champion", run_id=rid)
    ok(delete(client, "registered-models/delete", {"name": "cand"}))
    assert download_uri(client, "copy", 1) == uris[2]
    assert read_file(client, uris[2], "MLmodel") == b"flavors: {lm: 1}\n"
    create_model(client, "cand")

    # the UI download route serves the snapshot
    create_version(client, "cand", f"runs:/{rid}/model", run_id=rid)
    resp = client.get(
        "/model-versions/get-artifact", query_string={"name": "cand", "version": "1", "path": "weights.bin"}
    )
    assert resp.status_code == 200 and resp.get_data() == b"\x00\x01v1"


def test_versions_created_at_once_get_every_number_once(app, client):
    """Writers promoting into one model at the same moment: each gets its own number, none is
    lost (the number is taken inside the write: PostgreSQL within the INSERT, elsewhere under the
    write lock; a collision on the unique number is retried)."""
    import threading

    eid = create_experiment(client, "concurrent-versions")
    rid = run_with_model(client, eid)["run_id"]
    create_model(client, "together")
    answers, failures = [], []

    def promote_some():
        mine = app.test_client()
        for _ in range(8):
            resp = post(
                mine, "model-versions/create", {"name": "together", "source": f"runs:/{rid}/model", "run_id": rid}
            )
            (answers if resp.status_code == 200 else failures).append(resp.get_json())

    threads = [threading.Thread(target=promote_some) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    numbers = sorted(int(answer["model_version"]["version"]) for answer in answers)
    assert numbers == list(range(1, 33))
    listed = ok(get(client, "model-versions/search", filter="name='together'", max_results="100"))["model_versions"]
    assert sorted(int(mv["version"]) for mv in listed) == numbers


def test_runs_source_falls_back_to_the_runs_logged_model(client):
    """runs:/<rid>/model where the run directory is empty but the run logged a 3.x model named
    "model" (flow B.3) resolves to that logged model's artifacts."""
    eid = create_experiment(client)
    run = create_run(client, eid)
    lm = ok(post(client, "logged-models", {"experiment_id": eid, "name": "model", "source_run_id": run["run_id"]}))[
        "model"
    ]["info"]
    put_file(client, f"{store_path(lm['artifact_uri'])}/MLmodel", b"logged")
    create_model(client, "fb")
    mv = create_version(client, "fb", f"runs:/{run['run_id']}/model", run_id=run["run_id"])
    uri = download_uri(client, "fb", mv["version"])
    assert SNAPSHOT_URI.fullmatch(uri) and read_file(client, uri, "MLmodel") == b"logged"


def test_download_uri_without_artifacts_is_the_candidate_location(client, store):
    eid = create_experiment(client)
    run = create_run(client, eid)  # nothing logged
    create_model(client, "empty")
    create_version(client, "empty", f"runs:/{run['run_id']}/model", run_id=run["run_id"])
    assert download_uri(client, "empty", 1) == f"runs:/{run['run_id']}/model"  # the source itself, as MLflow
    assert not (store / "registry").exists()


def test_version_numbers_and_lookup_errors(client):
    eid = create_experiment(client)
    run = run_with_model(client, eid)
    src = f"runs:/{run['run_id']}/model"
    create_model(client, "v")
    for _ in range(3):
        create_version(client, "v", src, run_id=run["run_id"])

    error(
        post(client, "model-versions/create", {"name": "missing", "source": src, "run_id": run["run_id"]}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(post(client, "model-versions/create", {"name": "v"}), 400, "INVALID_PARAMETER_VALUE")
    error(
        get(client, "model-versions/get", name="v", version="99"),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Model Version (name=v, version=99) not found",
    )
    error(
        get(client, "model-versions/get", name="v", version="x"),
        400,
        "INVALID_PARAMETER_VALUE",
        "Parameter 'version' must be an integer, got 'x'.",
    )
    error(get(client, "model-versions/get", name="nope", version="1"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(get(client, "model-versions/get-download-uri", name="v", version="99"), 404, "RESOURCE_DOES_NOT_EXIST")

    # update (PATCH)
    updated = ok(patch(client, "model-versions/update", {"name": "v", "version": "2", "description": "better"}))[
        "model_version"
    ]
    assert updated["description"] == "better" and updated["version"] == "2"
    assert get_version(client, "v", 2)["description"] == "better"
    assert (
        "description" not in ok(patch(client, "model-versions/update", {"name": "v", "version": "2"}))["model_version"]
    )
    error(
        patch(client, "model-versions/update", {"name": "v", "version": "9", "description": "x"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )

    # delete: the number is never reused, not even the highest one; aliases to it go
    ok(post(client, "registered-models/alias", {"name": "v", "alias": "gone", "version": "3"}))
    ok(delete(client, "model-versions/delete", {"name": "v", "version": "3"}))
    error(get(client, "model-versions/get", name="v", version="3"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(delete(client, "model-versions/delete", {"name": "v", "version": "3"}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(get(client, "registered-models/alias", name="v", alias="gone"), 400, "INVALID_PARAMETER_VALUE")
    ok(delete(client, "model-versions/delete", {"name": "v", "version": "1"}))
    assert create_version(client, "v", src, run_id=run["run_id"])["version"] == "4"
    assert versions_of(search_versions(client, "name = 'v'")) == [("v", "4"), ("v", "2")]
    assert [mv["version"] for mv in get_model(client, "v")["latest_versions"]] == ["4"]
    assert client.post(f"{API}/model-versions/delete", json={"name": "v", "version": "4"}).status_code == 405


def test_version_tags(client):
    eid = create_experiment(client)
    run = run_with_model(client, eid)
    create_model(client, "vt")
    create_version(
        client, "vt", f"runs:/{run['run_id']}/model", run_id=run["run_id"], tags=[{"key": "a", "value": "1"}]
    )
    ok(post(client, "model-versions/set-tag", {"name": "vt", "version": "1", "key": "b", "value": "2"}))
    ok(post(client, "model-versions/set-tag", {"name": "vt", "version": "1", "key": "a", "value": "x"}))
    assert kv(get_version(client, "vt", 1)["tags"]) == {"a": "x", "b": "2"}
    ok(delete(client, "model-versions/delete-tag", {"name": "vt", "version": "1", "key": "a"}))
    ok(delete(client, "model-versions/delete-tag", {"name": "vt", "version": "1", "key": "never"}))
    assert kv(get_version(client, "vt", 1)["tags"]) == {"b": "2"}
    error(
        post(client, "model-versions/set-tag", {"name": "vt", "version": "5", "key": "k", "value": "v"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(
        post(client, "model-versions/set-tag", {"name": "nope", "version": "1", "key": "k", "value": "v"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(
        delete(client, "model-versions/delete-tag", {"name": "vt", "version": "5", "key": "k"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(
        post(client, "model-versions/set-tag", {"name": "vt", "version": "1", "key": "", "value": "v"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )


# --- aliases --------------------------------------------------------------------------------


def test_aliases(client):
    eid = create_experiment(client)
    run = run_with_model(client, eid)
    create_model(client, "al")
    for _ in range(3):
        create_version(client, "al", f"runs:/{run['run_id']}/model", run_id=run["run_id"])

    ok(post(client, "registered-models/alias", {"name": "al", "alias": "champion", "version": "1"}))
    ok(post(client, "registered-models/alias", {"name": "al", "alias": "shadow-2_x", "version": "1"}))
    ok(post(client, "model-versions/set-tag", {"name": "al", "version": "1", "key": "k", "value": "v"}))
    mv = ok(get(client, "registered-models/alias", name="al", alias="champion"))["model_version"]
    assert mv["version"] == "1" and mv["aliases"] == ["champion", "shadow-2_x"]
    assert mv == get_version(client, "al", 1)  # the alias's one-join path answers as the plain get
    assert get_model(client, "al")["aliases"] == [
        {"alias": "champion", "version": "1"},
        {"alias": "shadow-2_x", "version": "1"},
    ]

    # the alias moves: one version per alias
    ok(post(client, "registered-models/alias", {"name": "al", "alias": "champion", "version": "3"}))
    assert ok(get(client, "registered-models/alias", name="al", alias="champion"))["model_version"]["version"] == "3"
    assert get_version(client, "al", 1)["aliases"] == ["shadow-2_x"]
    assert get_version(client, "al", 3)["aliases"] == ["champion"]
    assert "aliases" not in get_version(client, "al", 2)

    # `latest` reads the newest version (MLflow)
    assert ok(get(client, "registered-models/alias", name="al", alias="latest"))["model_version"]["version"] == "3"

    ok(delete(client, "registered-models/alias", {"name": "al", "alias": "shadow-2_x"}))
    ok(delete(client, "registered-models/alias", {"name": "al", "alias": "never-set"}))  # (MLflow) no error
    assert get_model(client, "al")["aliases"] == [{"alias": "champion", "version": "3"}]

    # a missing alias is 400 INVALID_PARAMETER_VALUE, not 404 (MLflow)
    error(
        get(client, "registered-models/alias", name="al", alias="shadow-2_x"),
        400,
        "INVALID_PARAMETER_VALUE",
        "Registered model alias shadow-2_x not found.",
    )
    # reserved and malformed names
    for alias, message in (
        ("latest", "'latest' alias name (case insensitive) is reserved."),
        ("LATEST", "'latest' alias name (case insensitive) is reserved."),
        ("v1", "Version alias name 'v1' is reserved."),
        ("V12", "Version alias name 'V12' is reserved."),
        ("a.b", "Invalid alias name: 'a.b'."),
        ("a b", "Invalid alias name"),
        ("", ""),
    ):
        error(
            post(client, "registered-models/alias", {"name": "al", "alias": alias, "version": "1"}),
            400,
            "INVALID_PARAMETER_VALUE",
            message,
        )
    error(
        post(client, "registered-models/alias", {"name": "al", "alias": "x" * 256, "version": "1"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    ok(post(client, "registered-models/alias", {"name": "al", "alias": "v1beta", "version": "1"}))  # not reserved
    error(
        post(client, "registered-models/alias", {"name": "al", "alias": "x", "version": "42"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Model Version (name=al, version=42) not found",
    )
    error(
        post(client, "registered-models/alias", {"name": "nope", "alias": "x", "version": "1"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(get(client, "registered-models/alias", name="nope", alias="x"), 404, "RESOURCE_DOES_NOT_EXIST")


# --- stages ---------------------------------------------------------------------------------


def test_stages_and_latest_versions(client):
    eid = create_experiment(client)
    run = run_with_model(client, eid)
    create_model(client, "st")
    for _ in range(4):
        create_version(client, "st", f"runs:/{run['run_id']}/model", run_id=run["run_id"])

    def transition(version, stage, archive=False):
        return ok(
            post(
                client,
                "model-versions/transition-stage",
                {
                    "name": "st",
                    "version": str(version),
                    "stage": stage,
                    "archive_existing_versions": archive,
                },
            )
        )["model_version"]

    assert transition(1, "Production")["current_stage"] == "Production"
    assert transition(2, "staging")["current_stage"] == "Staging"  # case-insensitive, canonical name back
    assert transition(3, "Production")["current_stage"] == "Production"
    assert get_version(client, "st", 1)["current_stage"] == "Production"  # no archiving asked
    # archive_existing_versions: the other Production versions are archived, others untouched
    assert transition(4, "Production", archive=True)["current_stage"] == "Production"
    stages = {n: get_version(client, "st", n)["current_stage"] for n in range(1, 5)}
    assert stages == {1: "Archived", 2: "Staging", 3: "Archived", 4: "Production"}

    def latest(method, stages=None):
        if method == "GET":
            params = {"name": "st"}
            if stages is not None:
                params["stages"] = stages
            body = ok(get(client, "registered-models/get-latest-versions", **params))
        else:
            body = ok(
                post(
                    client,
                    "registered-models/get-latest-versions",
                    {"name": "st", **({"stages": stages} if stages is not None else {})},
                )
            )
        return {(mv["version"], mv["current_stage"]) for mv in body.get("model_versions", [])}

    for method in ("GET", "POST"):
        assert latest(method) == {("2", "Staging"), ("3", "Archived"), ("4", "Production")}
        assert latest(method, ["Production"]) == {("4", "Production")}
        assert latest(method, ["staging", "Archived"]) == {("2", "Staging"), ("3", "Archived")}
        assert latest(method, ["None"]) == set()
    error(
        post(client, "registered-models/get-latest-versions", {"name": "st", "stages": ["bogus"]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid Model Version stage: bogus",
    )
    error(post(client, "registered-models/get-latest-versions", {"name": "nope"}), 404, "RESOURCE_DOES_NOT_EXIST")
    assert {mv["version"] for mv in get_model(client, "st")["latest_versions"]} == {"2", "3", "4"}

    error(
        post(client, "model-versions/transition-stage", {"name": "st", "version": "1", "stage": "Prod"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid Model Version stage: Prod. Value must be one of None, Staging, Production, Archived.",
    )
    # archiving only makes sense for active stages (MLflow refuses it, with a 500; we say 400)
    resp = post(
        client,
        "model-versions/transition-stage",
        {"name": "st", "version": "1", "stage": "Archived", "archive_existing_versions": True},
    )
    assert resp.status_code == 400 and "not an Active stage" in resp.get_json()["message"]
    error(
        post(client, "model-versions/transition-stage", {"name": "st", "version": "9", "stage": "Staging"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert transition(4, "None")["current_stage"] == "None"


# --- model-version search -------------------------------------------------------------------


def test_search_model_versions(client, clock):
    eid = create_experiment(client)
    r1, r2 = run_with_model(client, eid), run_with_model(client, eid)
    create_model(client, "a")
    create_model(client, "b")
    create_model(client, "prompt", tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])
    a1 = create_version(
        client, "a", f"runs:/{r1['run_id']}/model", run_id=r1["run_id"], tags=[{"key": "quality", "value": "gold"}]
    )
    a2 = create_version(client, "a", f"runs:/{r2['run_id']}/model", run_id=r2["run_id"])
    b1 = create_version(
        client, "b", f"runs:/{r1['run_id']}/model", run_id=r1["run_id"], tags=[{"key": "quality", "value": "Silver"}]
    )
    b2 = create_version(client, "b", f"{r2['artifact_uri']}/model", run_id=r2["run_id"])
    b3 = create_version(client, "b", f"runs:/{r2['run_id']}/model", run_id=r2["run_id"])
    create_version(client, "prompt", "dummy-source", tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])

    def found(flt=None, **params):
        return versions_of(search_versions(client, flt, **params))

    # default order: last_updated_timestamp DESC, then name ASC, version DESC (MLflow); no prompts
    assert found() == [("b", "3"), ("b", "2"), ("b", "1"), ("a", "2"), ("a", "1")]
    assert found("name = 'a'") == [("a", "2"), ("a", "1")]
    assert found("name != 'a'") == [("b", "3"), ("b", "2"), ("b", "1")]
    assert found("name IN ('a', 'zzz')") == [("a", "2"), ("a", "1")]
    assert found("name LIKE 'b%' AND version_number >= 2") == [("b", "3"), ("b", "2")]
    assert found("name ILIKE 'A'") == [("a", "2"), ("a", "1")]
    assert found(f"run_id = '{r1['run_id']}'") == [("b", "1"), ("a", "1")]
    assert found(f"run_id IN ('{r1['run_id']}', '{r2['run_id']}') AND name = 'b'") == [
        ("b", "3"),
        ("b", "2"),
        ("b", "1"),
    ]
    assert found(f"run_id NOT IN ('{r1['run_id']}')") == [("b", "3"), ("b", "2"), ("a", "2")]
    assert found(f"source_path = 'runs:/{r2['run_id']}/model'") == [("b", "3"), ("a", "2")]
    assert found(f"source_path = '{r2['artifact_uri']}/model'") == [("b", "2")]
    assert found("source_path LIKE 'mlflow-artifacts:%'") == [("b", "2")]
    assert found("version_number = 1") == [("b", "1"), ("a", "1")]
    assert found("version_number < 2 AND name = 'b'") == [("b", "1")]
    assert found(f"creation_timestamp > {b1['creation_timestamp']}") == [("b", "3"), ("b", "2")]
    assert found(f"creation_timestamp <= {a2['creation_timestamp']}") == [("a", "2"), ("a", "1")]
    assert found(f"last_updated_timestamp = {a1['last_updated_timestamp']}") == [("a", "1")]
    assert found("tags.quality = 'gold'") == [("a", "1")]
    assert found("tags.quality ILIKE '%l%'") == [("b", "1"), ("a", "1")]
    assert found("tags.quality LIKE 'S%'") == [("b", "1")]
    assert found("tags.quality != 'gold'") == [("b", "1")]
    assert found(f"{PROMPT_FILTER} AND name = 'a'") == [("a", "2"), ("a", "1")]
    assert found("name = 'prompt'") == []
    assert found("name = 'prompt' AND tags.`mlflow.prompt.is_prompt` = 'true'") == [("prompt", "1")]

    # ordering
    assert found(order_by=["name ASC", "version_number ASC"]) == [
        ("a", "1"),
        ("a", "2"),
        ("b", "1"),
        ("b", "2"),
        ("b", "3"),
    ]
    assert found(order_by=["version_number DESC"])[:2] == [("b", "3"), ("a", "2")]
    assert found(order_by=["creation_timestamp ASC"]) == [("a", "1"), ("a", "2"), ("b", "1"), ("b", "2"), ("b", "3")]
    assert found("name = 'b'", order_by=["creation_timestamp DESC"]) == [("b", "3"), ("b", "2"), ("b", "1")]
    # an update moves a version to the front of the default order
    ok(patch(client, "model-versions/update", {"name": "a", "version": "1", "description": "touched"}))
    assert found()[0] == ("a", "1")
    assert found(order_by=["last_updated_timestamp ASC"])[-1] == ("a", "1")

    # pagination: 5 versions, 2 per page -> 3 pages
    seen, token, pages = [], None, 0
    while True:
        params = {"max_results": 2, "order_by": ["name ASC", "version_number ASC"]}
        if token:
            params["page_token"] = token
        page = search_versions(client, **params)
        pages += 1
        seen += versions_of(page)
        token = page.get("next_page_token")
        if not token:
            break
    assert pages == 3 and seen == [("a", "1"), ("a", "2"), ("b", "1"), ("b", "2"), ("b", "3")]

    # the rows are the versions as model-versions/get shows them
    row = next(mv for mv in search_versions(client, "name = 'b' AND version_number = 3")["model_versions"])
    assert row == get_version(client, "b", 3) == b3
    assert b2["source"].startswith("mlflow-artifacts:/")

    error(get(client, "model-versions/search", max_results=200_001), 400, "INVALID_PARAMETER_VALUE")
    assert found(max_results=200_000) == found()
    error(get(client, "model-versions/search", filter="name = 'a' OR name = 'b'"), 400, "INVALID_PARAMETER_VALUE")
    error(get(client, "model-versions/search", filter="foo = 'a'"), 400, "INVALID_PARAMETER_VALUE")
    error(get(client, "model-versions/search", filter="version_number = 'x'"), 400, "INVALID_PARAMETER_VALUE")
    error(get(client, "model-versions/search", order_by=["source_path"]), 400, "INVALID_PARAMETER_VALUE")
    error(get(client, "model-versions/search", page_token="garbage!"), 400, "INVALID_PARAMETER_VALUE")


def test_one_model_search_under_timestamp_ties(client, monkeypatch):
    """``name = '...'`` reads one model's versions in the default order off its index (the name
    is left out of the ORDER BY): versions updated in the same millisecond come highest version
    first, an update moves a version to the front, and pages split the ties without a loss or a
    repeat. The statement is built once per distinct search, never the answer: a repeated search
    sees every write in between."""
    from registry_core import registry_search

    registry_clock(monkeypatch, lambda: 1_800_000_000_000)
    monkeypatch.setattr(promotion, "now_ms", lambda: 1_800_000_000_000)
    eid = create_experiment(client)
    run = run_with_model(client, eid)
    for name in ("m", "m2"):
        create_model(client, name)
        for _ in range(5):
            create_version(client, name, f"runs:/{run['run_id']}/model", run_id=run["run_id"])

    def one_model(**params):
        seen, token = [], None
        while True:
            page = search_versions(client, "name = 'm'", **params, **({"page_token": token} if token else {}))
            seen += [v for n, v in versions_of(page)]
            token = page.get("next_page_token")
            if not token:
                return seen

    assert one_model() == ["5", "4", "3", "2", "1"]
    assert one_model(max_results=2) == ["5", "4", "3", "2", "1"]
    assert one_model(order_by=["name DESC", "version_number ASC"]) == ["1", "2", "3", "4", "5"]
    registry_clock(monkeypatch, lambda: 1_800_000_000_001)
    ok(patch(client, "model-versions/update", {"name": "m", "version": "2", "description": "touched"}))
    hits = registry_search._version_statement.cache_info().hits
    assert one_model() == ["2", "5", "4", "3", "1"]
    assert registry_search._version_statement.cache_info().hits > hits
    ok(delete(client, "model-versions/delete", {"name": "m", "version": "4"}))
    ok(post(client, "model-versions/set-tag", {"name": "m", "version": "3", "key": "k", "value": "v"}))
    assert one_model() == ["2", "5", "3", "1"]
    assert search_versions(client, "name = 'm' AND version_number = 3")["model_versions"][0]["tags"] == [
        {"key": "k", "value": "v"}
    ]
    assert [v for n, v in versions_of(search_versions(client, "name = 'm2'"))] == ["5", "4", "3", "2", "1"]


def test_search_page_is_what_get_answers_byte_for_byte(client, clock):
    """The search page is written without the schema (encoders.model_versions_json): each entry must
    be exactly the model-versions/get answer, on every backend, whatever the version holds."""
    from mlflow_compat.wire import json_response

    eid = create_experiment(client)
    run = run_with_model(client, eid)
    src = f"runs:/{run['run_id']}/model"
    create_model(client, "ünï 模型")
    create_version(
        client,
        "ünï 模型",
        src,
        run_id=run["run_id"],
        description='a "quoted" \\ é\n🚀',
        run_link="http://host/#/x?a=1&b=<2>",
        tags=[{"key": "ключ", "value": "значение 🚀"}, {"key": "empty", "value": ""}, {"key": "a", "value": "1"}],
    )
    create_version(client, "ünï 模型", "s3://bucket/elsewhere")  # no run id, no tags, no description
    create_version(client, "ünï 模型", src, run_id=run["run_id"], description="")
    create_version(client, "ünï 模型", src, run_id=run["run_id"])
    ok(post(client, "registered-models/alias", {"name": "ünï 模型", "alias": "champion", "version": "1"}))
    ok(post(client, "registered-models/alias", {"name": "ünï 模型", "alias": "b-2", "version": "1"}))
    ok(post(client, "registered-models/alias", {"name": "ünï 模型", "alias": "shadow", "version": "3"}))
    ok(post(client, "model-versions/transition-stage", {"name": "ünï 模型", "version": "3", "stage": "Staging"}))
    ok(delete(client, "model-versions/delete", {"name": "ünï 模型", "version": "4"}))

    for params, expected, pages in (({}, ["3", "2", "1"], 1), ({"max_results": 2}, ["3", "2"], 2)):
        resp = get(client, "model-versions/search", filter="name = 'ünï 模型'", **params)
        body = ok(resp)
        assert [mv["version"] for mv in body["model_versions"]] == expected
        with client.application.app_context():
            same = json_response(
                {
                    "model_versions": [get_version(client, "ünï 模型", v) for v in expected],
                    "next_page_token": body.get("next_page_token"),
                }
            )
        assert resp.get_data() == same.get_data()
        assert ("next_page_token" in body) == (pages > 1)
    assert "model_versions" not in search_versions(client, "name = 'nothing'")


# --- immutability ---------------------------------------------------------------------------


def test_versions_own_their_artifacts(client, store):
    eid = create_experiment(client)
    run = run_with_model(client, eid, files={"MLmodel": b"original", "sub/w.bin": b"w1"})
    root = store_path(run["artifact_uri"])
    create_model(client, "imm")
    create_version(client, "imm", f"runs:/{run['run_id']}/model", run_id=run["run_id"])
    uri = download_uri(client, "imm", 1)
    assert SNAPSHOT_URI.fullmatch(uri)
    snapshot = store_path(uri)
    assert (store / snapshot / "MLmodel").read_bytes() == b"original"

    # the candidate's artifacts change afterwards ...
    put_file(client, f"{root}/model/MLmodel", b"overwritten")
    assert client.delete(f"{ARTIFACTS}/{root}/model/sub/w.bin").status_code == 200
    put_file(client, f"{root}/model/extra.txt", b"new file")
    # ... the version does not
    assert download_uri(client, "imm", 1) == uri
    assert read_file(client, uri, "MLmodel") == b"original"
    assert read_file(client, uri, "sub/w.bin") == b"w1"
    assert listing(client, uri) == {"MLmodel": 8, "sub": None}
    # while a new version takes the new state
    create_version(client, "imm", f"runs:/{run['run_id']}/model", run_id=run["run_id"])
    uri2 = download_uri(client, "imm", 2)
    assert uri2 != uri and read_file(client, uri2, "MLmodel") == b"overwritten"
    assert listing(client, uri2) == {"MLmodel": 11, "extra.txt": 8}

    # nobody writes or deletes under registry/ through the artifact API
    for path in (f"{snapshot}/MLmodel", f"{snapshot}/new.txt", "registry/x", "registry"):
        error(client.put(f"{ARTIFACTS}/{path}", data=b"evil"), 403, "PERMISSION_DENIED")
    for path in (f"{snapshot}/MLmodel", snapshot, "registry"):
        error(client.delete(f"{ARTIFACTS}/{path}"), 403, "PERMISSION_DENIED")
    assert read_file(client, uri, "MLmodel") == b"original"
    # deleting the version keeps other versions' snapshots intact
    ok(delete(client, "model-versions/delete", {"name": "imm", "version": "2"}))
    assert read_file(client, uri, "MLmodel") == b"original"


# --- lineage --------------------------------------------------------------------------------


def test_lineage(client):
    eid = create_experiment(client, "lineage-exp")
    run = run_with_model(
        client,
        eid,
        tags=[
            {"key": "mlflow.source.git.commit", "value": "0123456789abcdef0123456789abcdef01234567"},
            {"key": "mlflow.source.git.repoURL", "value": "https://git.example.com/team/fraud.git"},
        ],
    )
    rid = run["run_id"]
    ok(
        post(
            client,
            "runs/log-inputs",
            {
                "run_id": rid,
                "datasets": [
                    {
                        "dataset": {"name": "train", "digest": "d1", "source_type": "local", "source": "{}"},
                        "tags": [{"key": "mlflow.data.context", "value": "training"}],
                    },
                    {"dataset": {"name": "eval", "digest": "d2", "source_type": "local", "source": "{}"}},
                ],
            },
        )
    )
    create_model(client, "lin")
    create_version(client, "lin", f"runs:/{rid}/model", run_id=rid)

    body = ok(get(client, "lineage", root="/api/2.0/modelops/model-versions", name="lin", version="1"))
    assert body["name"] == "lin" and body["version"] == "1"
    assert body["run_id"] == rid
    assert body["experiment_id"] == eid
    assert body["source"] == f"runs:/{rid}/model"
    assert body["source_commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert body["source_repository"] == "https://git.example.com/team/fraud.git"
    assert SNAPSHOT_URI.fullmatch(body["storage_location"])
    datasets = sorted(body["datasets"], key=lambda d: d["name"])
    assert [(d["name"], d["digest"]) for d in datasets] == [("eval", "d2"), ("train", "d1")]
    assert datasets[1].get("context") == "training"

    # a run without git tags or inputs: lineage has the run and experiment only
    bare = run_with_model(client, eid)
    create_version(client, "lin", f"runs:/{bare['run_id']}/model", run_id=bare["run_id"])
    body = ok(get(client, "lineage", root="/api/2.0/modelops/model-versions", name="lin", version="2"))
    assert body["run_id"] == bare["run_id"] and body["experiment_id"] == eid
    assert not body.get("source_commit") and not body.get("source_repository") and not body.get("datasets")

    # lineage is recorded at promotion: later run changes do not rewrite it
    ok(post(client, "runs/set-tag", {"run_id": rid, "key": "mlflow.source.git.commit", "value": "f" * 40}))
    body = ok(get(client, "lineage", root="/api/2.0/modelops/model-versions", name="lin", version="1"))
    assert body["source_commit"] == "0123456789abcdef0123456789abcdef01234567"

    error(
        get(client, "lineage", root="/api/2.0/modelops/model-versions", name="lin", version="9"),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(
        get(client, "lineage", root="/api/2.0/modelops/model-versions", name="nope", version="1"),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


# --- hostile sources ------------------------------------------------------------------------


def test_hostile_sources_are_refused(client, store, tmp_path):
    eid = create_experiment(client)
    run = run_with_model(client, eid)
    other = run_with_model(client, eid, files={"MLmodel": b"other"})
    rid, root = run["run_id"], run["artifact_uri"]
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    create_model(client, "victim")
    hostile = [
        "file:///etc/passwd",
        f"file://{secret}",
        "/etc/passwd",
        str(secret),
        "../x",
        "../../../../etc/passwd",
        f"runs:/{rid}/../../x",
        f"runs:/{rid}/model/../../../../../etc",
        f"runs:/{rid}/..%2f..%2fx",
        f"runs:/{rid}/%2e%2e/%2e%2e/x",
        f"runs:/{rid}/%252e%252e/%252e%252e/x",
        f"runs:/{rid}/%25252e%25252e/x",
        f"runs:/{rid}/model\\..\\..\\x",
        "model\\..\\..\\x",
        "http://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/1/x",
        "http://localhost/api/2.0/mlflow-artifacts/artifacts/../../etc/passwd",
        "https://evil/x",
        "ftp://evil/x",
        f"{other['artifact_uri']}/model",  # another run's artifacts with this run_id
        f"{root}/../../{other['run_id']}/artifacts/model",
        f"{root}/%2e%2e/%2e%2e/{other['run_id']}/artifacts/model",
        f"mlflow-artifacts://evilhost/{store_path(root)}/model",
        "mlflow-artifacts:/registry",
        f"mlflow-artifacts:/{eid}",
        "models://host/x",
        "models://host/victim/1",
        "models:/",
        f"runs://host/{rid}/model",
        f"runs:/{other['run_id']}/model",  # a different run than run_id
        "runs:/0000000000000000000000000000dead/model",
        f"runs:/{rid}/model\x00",
        "x\x00y",
    ]
    for source in hostile:
        resp = post(client, "model-versions/create", {"name": "victim", "source": source, "run_id": rid})
        assert resp.status_code == 400, (source, resp.status_code, resp.get_data(as_text=True)[:300])
        assert resp.get_json()["error_code"] == "INVALID_PARAMETER_VALUE", (source, resp.get_json())
    # without run_id too
    for source in ("/etc/passwd", "file:///etc/passwd", f"{root}/model", "https://evil/x", "x\x00y"):
        error(
            post(client, "model-versions/create", {"name": "victim", "source": source}), 400, "INVALID_PARAMETER_VALUE"
        )
    # a models:/<model_id> source with a different model_id, and a prompt as a source
    lm = ok(post(client, "logged-models", {"experiment_id": eid, "name": "lm"}))["model"]["info"]["model_id"]
    error(
        post(client, "model-versions/create", {"name": "victim", "source": f"models:/{lm}", "model_id": "m-other"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    create_model(client, "pr", tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])
    create_version(client, "pr", "dummy-source", tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])
    error(
        post(client, "model-versions/create", {"name": "victim", "source": "models:/pr/1"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Prompt versions cannot be used",
    )
    # prompts only take MLflow's placeholders as sources
    error(
        post(
            client,
            "model-versions/create",
            {"name": "pr", "source": "/etc/passwd", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]},
        ),
        400,
        "INVALID_PARAMETER_VALUE",
    )

    # nothing was created, nothing was copied
    assert "latest_versions" not in get_model(client, "victim")
    assert versions_of(search_versions(client, "name = 'victim'")) == []
    assert not (store / "registry").exists()

    # a legitimate version, then attempts to read around it
    create_version(client, "victim", f"runs:/{rid}/model", run_id=rid)
    uri = download_uri(client, "victim", 1)
    assert store_path(uri).startswith("registry/")
    for path in (
        "../../../../etc/passwd",
        "..%2f..%2f..%2fetc%2fpasswd",
        "%2e%2e/%2e%2e/secret.txt",
        "/etc/passwd",
        str(secret),
        "..\\..\\secret.txt",
    ):
        resp = client.get("/model-versions/get-artifact", query_string={"name": "victim", "version": "1", "path": path})
        assert resp.status_code in (400, 404), (path, resp.status_code)
        assert b"TOP SECRET" not in resp.get_data() and b"root:" not in resp.get_data()
    for path in (
        f"{store_path(uri)}/../../../secret.txt",
        f"{store_path(uri)}/..%2f..%2f..%2fsecret.txt",
        "..%2fsecret.txt",
        "%2e%2e/secret.txt",
    ):
        resp = client.get(f"{ARTIFACTS}/{path}")
        assert resp.status_code in (400, 404), (path, resp.status_code)
        assert b"TOP SECRET" not in resp.get_data()
    # every file the store holds is inside it
    for path in store.rglob("*"):
        assert path.resolve().is_relative_to(store.resolve())


# --- a client-written artifact root outside the server's store -------------------------------


@pytest.fixture
def local_root(tmp_path):
    return tmp_path / "client-root"


@pytest.fixture
def root_client(registry_db, backend_uri, tmp_path, local_root):
    """``modelops server --default-artifact-root <dir>`` (as the e2e harness runs it): runs get
    local artifact locations the client writes itself; the server's store is elsewhere."""
    from mlflow_compat.app import create_app
    from mlflow_compat.config import ServerConfig

    config = ServerConfig.resolve(
        backend_store_uri=backend_uri,
        default_artifact_root=str(local_root),
        artifacts_destination=str(tmp_path / "store"),
    )
    application = create_app(config, database=registry_db)
    application.testing = True
    return application.test_client()


def test_client_written_root_is_read_and_snapshotted(root_client, local_root, store, tmp_path):
    """A default artifact root the client writes itself (``--default-artifact-root <dir>``): the
    server lists and serves each run's artifacts from there, and a version promoted from them is
    snapshotted into the server's own store, as from a proxied root. Sources follow MLflow's rule
    for local paths: inside the artifact directory of the run (or logged model) given with it."""
    client = root_client
    eid = create_experiment(client)
    run, other = create_run(client, eid), create_run(client, eid)
    root = run["artifact_uri"]
    assert root == f"{local_root}/{eid}/{run['run_id']}/artifacts"
    model_dir = local_root / eid / run["run_id"] / "artifacts" / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    (model_dir / "sub").mkdir()
    (model_dir / "sub" / "w.bin").write_bytes(b"w1")

    # the run's artifacts, listed and served from the client-written root
    listed = ok(client.get(f"{API}/artifacts/list", query_string={"run_id": run["run_id"], "path": "model"}))
    assert listed["root_uri"] == root
    assert {f["path"]: f.get("file_size") for f in listed["files"]} == {"model/MLmodel": 12, "model/sub": None}
    resp = client.get("/get-artifact", query_string={"run_id": run["run_id"], "path": "model/MLmodel"})
    assert resp.status_code == 200 and resp.data == b"flavors: {}\n" and resp.headers["Content-Type"] == "text/plain"
    assert "files" not in ok(get(client, "artifacts/list", run_id=other["run_id"]))  # nothing written there yet

    create_model(client, "ext")
    v1 = create_version(client, "ext", f"runs:/{run['run_id']}/model", run_id=run["run_id"])
    v2 = create_version(client, "ext", f"{root}/model", run_id=run["run_id"])
    v3 = create_version(client, "ext", f"file://{root}/model/sub/..", run_id=run["run_id"])
    assert (v1["version"], v2["version"], v3["version"]) == ("1", "2", "3")
    uris = [download_uri(client, "ext", n) for n in (1, 2, 3)]
    assert all(SNAPSHOT_URI.fullmatch(uri) for uri in uris) and len(set(uris)) == 3
    for uri in uris:
        assert read_file(client, uri, "sub/w.bin") == b"w1"
    # the snapshot is the version's: the client's files change, the version does not
    (model_dir / "MLmodel").write_text("changed")
    resp = client.get("/model-versions/get-artifact", query_string={"name": "ext", "version": "1", "path": "MLmodel"})
    assert resp.status_code == 200 and resp.data == b"flavors: {}\n"
    # registry sources share the referenced version's snapshot
    create_version(client, "ext", "models:/ext/1")
    assert download_uri(client, "ext", 4) == uris[0]
    # a logged model with a local location
    lm = ok(post(client, "logged-models", {"experiment_id": eid, "name": "lm", "source_run_id": run["run_id"]}))[
        "model"
    ]["info"]
    assert lm["artifact_uri"].startswith(str(local_root))
    lm_dir = local_root / lm["artifact_uri"][len(str(local_root)) + 1 :]
    (lm_dir / "sub").mkdir(parents=True)
    (lm_dir / "sub" / "x.txt").write_text("lm")
    create_version(client, "ext", f"models:/{lm['model_id']}", model_id=lm["model_id"])
    create_version(client, "ext", f"{lm['artifact_uri']}/sub", model_id=lm["model_id"])
    assert read_file(client, download_uri(client, "ext", 5), "sub/x.txt") == b"lm"
    assert read_file(client, download_uri(client, "ext", 6), "x.txt") == b"lm"

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    for source, run_id in (
        (f"{root}/model", None),  # a local path needs its run_id
        (f"{root}/model", other["run_id"]),  # ... and must lie inside that run's directory
        (f"{other['artifact_uri']}/model", run["run_id"]),
        (f"{root}/../../{other['run_id']}/artifacts", run["run_id"]),
        (str(secret), run["run_id"]),
        ("/etc/passwd", run["run_id"]),
        (f"{local_root}/{eid}", run["run_id"]),
        (f"runs:/{run['run_id']}/../x", run["run_id"]),
        (f"runs:/{run['run_id']}/%252e%252e/x", run["run_id"]),
    ):
        body = {"name": "ext", "source": source, **({"run_id": run_id} if run_id else {})}
        error(
            post(client, "model-versions/create", body), 400, "INVALID_PARAMETER_VALUE", "Invalid model version source"
        )
    assert len(search_versions(client, "name = 'ext'")["model_versions"]) == 6
    # a symlink inside the run's directory pointing out of it is not followed
    (model_dir / "leak").symlink_to(secret)
    resp = client.get("/get-artifact", query_string={"run_id": run["run_id"], "path": "model/leak"})
    assert resp.status_code in (400, 404) and b"TOP SECRET" not in resp.get_data()
    for path in ("../../../secret.txt", "..%2f..%2fsecret.txt", str(secret), "model/..\\..\\x"):
        resp = client.get("/get-artifact", query_string={"run_id": run["run_id"], "path": path})
        error(resp, 400, "INVALID_PARAMETER_VALUE", "Invalid path")


def test_a_source_this_server_cannot_verify_is_still_a_version(client, store):
    """MLflow 3.17.2 accepts a runs:/ source naming the run_id given without looking the run up,
    and an object-store URI as it is: each is a version, kept by reference, never read, and its
    lineage says it was not verified (MLflow's own tests register runs:/run_id/model)."""
    eid = create_experiment(client)
    run = run_with_model(client, eid)
    create_model(client, "refs")
    v1 = create_version(client, "refs", "runs:/run_id/model", run_id="run_id")
    assert (v1["source"], v1["run_id"]) == ("runs:/run_id/model", "run_id")
    assert download_uri(client, "refs", 1) == "runs:/run_id/model"
    create_version(client, "refs", "s3://elsewhere/model", run_id=run["run_id"])
    assert download_uri(client, "refs", 2) == "s3://elsewhere/model"
    create_version(client, "refs", f"runs:/{run['run_id']}/model", run_id=run["run_id"])
    assert not (store / "registry").exists() or len(list((store / "registry").iterdir())) == 1

    lineage = [
        ok(get(client, "model-versions/lineage", root="/api/2.0/modelops", name="refs", version=str(n)))
        for n in (1, 2, 3)
    ]
    assert not lineage[0]["source_verified"]
    assert "the run 'run_id' does not exist" in lineage[0]["source_unverified_reason"]
    assert not lineage[1]["source_verified"]
    assert f"the run '{run['run_id']}'" in lineage[1]["source_unverified_reason"]
    assert lineage[2]["source_verified"] and "source_unverified_reason" not in lineage[2]
    assert lineage[2]["experiment_id"] == eid
