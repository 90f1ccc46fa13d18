"""logged-models/* through the Flask test client, on every backend."""

import base64
import json

from tests.api.wire import API


def _post(client, path, body):
    return client.post(f"{API}/{path}", json=body)


def _experiment(client, name="lm-exp"):
    return _post(client, "experiments/create", {"name": name}).get_json()["experiment_id"]


def _create(client, eid, **fields):
    r = _post(client, "logged-models", {"experiment_id": eid, **fields})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["model"]


def test_create_get_finalize_delete(client):
    eid = _experiment(client)
    run_id = _post(client, "runs/create", {"experiment_id": eid}).get_json()["run"]["info"]["run_id"]
    model = _create(
        client,
        eid,
        name="model",
        source_run_id=run_id,
        model_type="sklearn",
        tags=[{"key": "mlflow.source.name", "value": "train.py"}],
        params=[{"key": "alpha", "value": "0.5"}],
        unknown_field=1,
    )
    info = model["info"]
    model_id = info["model_id"]
    assert model_id.startswith("m-")
    assert info["experiment_id"] == eid
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{eid}/models/{model_id}/artifacts"
    assert info["source_run_id"] == run_id and info["model_type"] == "sklearn"
    assert info["tags"] == [{"key": "mlflow.source.name", "value": "train.py"}]
    assert model["data"]["params"] == [{"key": "alpha", "value": "0.5"}]
    assert isinstance(info["creation_timestamp_ms"], int)

    r = client.patch(f"{API}/logged-models/{model_id}", json={"model_id": model_id, "status": "LOGGED_MODEL_READY"})
    assert r.status_code == 200 and r.get_json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    assert client.get(f"{API}/logged-models/{model_id}").get_json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"

    r = client.patch(f"{API}/logged-models/{model_id}", json={"status": "NOT_A_STATUS"})
    assert r.status_code == 400 and r.get_json()["error_code"] == "INVALID_PARAMETER_VALUE"

    assert client.delete(f"{API}/logged-models/{model_id}").status_code == 200
    r = client.get(f"{API}/logged-models/{model_id}")
    assert r.status_code == 404 and r.get_json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = client.get(f"{API}/logged-models/{model_id}?allow_deleted=true")
    assert r.status_code == 200


def test_tags_params_and_errors(client):
    eid = _experiment(client)
    model_id = _create(client, eid, name="m1")["info"]["model_id"]
    r = client.patch(
        f"{API}/logged-models/{model_id}/tags",
        json={"tags": [{"key": "mlflow.modelVersions", "value": "[]"}, {"key": "a", "value": "1"}]},
    )
    assert r.status_code == 200
    r = client.delete(f"{API}/logged-models/{model_id}/tags/a")
    assert r.status_code == 200
    r = client.delete(f"{API}/logged-models/{model_id}/tags/a")
    assert r.status_code == 404 and r.get_json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert (
        _post(client, f"logged-models/{model_id}/params", {"params": [{"key": "p", "value": "1"}]}).status_code == 200
    )
    model = client.get(f"{API}/logged-models/{model_id}").get_json()["model"]
    assert model["info"]["tags"] == [{"key": "mlflow.modelVersions", "value": "[]"}]
    assert model["data"]["params"] == [{"key": "p", "value": "1"}]
    # names MLflow refuses, a missing experiment, a missing model
    assert _post(client, "logged-models", {"experiment_id": eid, "name": "a/b"}).status_code == 400
    r = _post(client, "logged-models", {"experiment_id": "999"})
    assert r.status_code == 404
    assert client.get(f"{API}/logged-models/m-missing").status_code == 404
    assert _post(client, "logged-models", {"name": "x"}).status_code == 400


def test_metrics_with_model_id_attach_to_the_model(client):
    eid = _experiment(client)
    run_id = _post(client, "runs/create", {"experiment_id": eid}).get_json()["run"]["info"]["run_id"]
    model_id = _create(client, eid, name="m", source_run_id=run_id)["info"]["model_id"]
    r = _post(
        client,
        "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [
                {
                    "key": "acc",
                    "value": 0.8,
                    "timestamp": 5,
                    "step": 1,
                    "model_id": model_id,
                    "dataset_name": "train",
                    "dataset_digest": "abc",
                    "run_id": run_id,
                },
            ],
        },
    )
    assert r.status_code == 200
    metrics = client.get(f"{API}/logged-models/{model_id}").get_json()["model"]["data"]["metrics"]
    assert metrics == [
        {
            "key": "acc",
            "value": 0.8,
            "timestamp": 5,
            "step": 1,
            "dataset_name": "train",
            "dataset_digest": "abc",
            "model_id": model_id,
            "run_id": run_id,
        }
    ]
    run = client.get(f"{API}/runs/get?run_id={run_id}").get_json()["run"]
    assert run["data"]["metrics"][0]["key"] == "acc"
    assert (
        _post(client, "runs/outputs", {"run_id": run_id, "models": [{"model_id": model_id, "step": 1}]}).status_code
        == 200
    )
    run = client.get(f"{API}/runs/get?run_id={run_id}").get_json()["run"]
    assert run["outputs"] == {"model_outputs": [{"model_id": model_id, "step": 1}]}


def test_search_filters_orders_and_pages(client):
    eid = _experiment(client)
    other = _experiment(client, "other")
    run_id = _post(client, "runs/create", {"experiment_id": eid}).get_json()["run"]["info"]["run_id"]
    ids = []
    for i in range(5):
        mid = _create(
            client, eid, name=f"model{i}", source_run_id=run_id, tags=[{"key": "team", "value": "a" if i % 2 else "b"}]
        )["info"]["model_id"]
        ids.append(mid)
        _post(
            client,
            "runs/log-metric",
            {
                "run_id": run_id,
                "key": "acc",
                "value": i / 10,
                "timestamp": 1,
                "step": 0,
                "model_id": mid,
                "dataset_name": "eval",
            },
        )
    _create(client, other, name="model0")

    def search(**body):
        r = _post(client, "logged-models/search", {"experiment_ids": [eid], **body})
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    assert [m["info"]["name"] for m in search(filter="name = 'model0'")["models"]] == ["model0"]
    found = search(filter=f"source_run_id = '{run_id}' AND tags.team = 'a'")["models"]
    assert sorted(m["info"]["name"] for m in found) == ["model1", "model3"]
    assert [m["info"]["name"] for m in search(filter="metrics.acc >= 0.3")["models"]] == ["model4", "model3"]
    ordered = search(order_by=[{"field_name": "metrics.acc", "ascending": False}])["models"]
    assert [m["info"]["name"] for m in ordered] == ["model4", "model3", "model2", "model1", "model0"]
    assert len(search(datasets=[{"dataset_name": "eval"}])["models"]) == 5
    assert search(datasets=[{"dataset_name": "nope"}]).get("models", []) == []

    first = search(max_results=2, order_by=[{"field_name": "name"}])
    token = first["next_page_token"]
    assert json.loads(base64.b64decode(token))["offset"] == 2
    second = search(max_results=2, order_by=[{"field_name": "name"}], page_token=token)
    assert [m["info"]["name"] for m in first["models"] + second["models"]] == ["model0", "model1", "model2", "model3"]
    r = _post(
        client,
        "logged-models/search",
        {"experiment_ids": [eid], "max_results": 2, "page_token": token, "filter": "name = 'model1'"},
    )
    assert r.status_code == 400
    r = _post(client, "logged-models/search", {"experiment_ids": [eid], "filter": "name = 'a' OR name = 'b'"})
    assert r.status_code == 400 and r.get_json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = _post(client, "logged-models/search", {"experiment_ids": [eid], "order_by": [{"field_name": "params.x"}]})
    assert r.status_code == 400
