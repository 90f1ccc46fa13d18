"""experiments/* through the Flask test client, on every reachable backend.

Reference: /work/shared/reference/mlflow-api-surface.md sections 0, A (Experiments), B.6, C, D,
and MLflow 3.17.2's server (mlflow/server/handlers.py, store/tracking/sqlalchemy_store.py).
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import pytest

from registry_core import experiments as experiments_service
from registry_core.clock import now_ms
from tests.api.wire import AJAX, API, error, get, ok, post

# --- helpers --------------------------------------------------------------------------------


def create_experiment(client, name, tags=None, **extra) -> str:
    body = {"name": name, **extra}
    if tags:
        body["tags"] = [{"key": k, "value": val} for k, val in tags.items()]
    eid = ok(post(client, "experiments/create", body))["experiment_id"]
    assert isinstance(eid, str) and eid.isdigit()
    return eid


def get_experiment(client, eid) -> dict:
    return ok(get(client, "experiments/get", experiment_id=eid))["experiment"]


def tags_of(entity) -> dict:
    return {t["key"]: t["value"] for t in entity.get("tags", [])}


def search(client, **body) -> dict:
    body.setdefault("max_results", 1000)  # as the clients send it (unset, MLflow reads 0 and refuses it)
    return ok(post(client, "experiments/search", body))


def names(page) -> list[str]:
    return [e["name"] for e in page.get("experiments", [])]


@pytest.fixture
def clock(monkeypatch):
    """Drive the experiments service's clock so creation/update times are known."""
    state = {"t": now_ms() + 100_000}
    monkeypatch.setattr(experiments_service, "now_ms", lambda: state["t"])
    return state


# --- default experiment, create, get, get-by-name ---------------------------------------------


def test_default_experiment_and_create_get(client):
    default = get_experiment(client, "0")
    assert default["experiment_id"] == "0"
    assert default["name"] == "Default"
    assert default["artifact_location"] == "mlflow-artifacts:/0"
    assert default["lifecycle_stage"] == "active"
    assert isinstance(default["creation_time"], int) and isinstance(default["last_update_time"], int)
    by_name = ok(get(client, "experiments/get-by-name", experiment_name="Default"))["experiment"]
    assert by_name == default

    # create with tags; default location mlflow-artifacts:/<id>
    eid = create_experiment(client, "exp-one", {"team": "ml", "stage": "dev"})
    assert eid != "0"
    exp = get_experiment(client, eid)
    assert exp["experiment_id"] == eid
    assert exp["name"] == "exp-one"
    assert exp["artifact_location"] == f"mlflow-artifacts:/{eid}"
    assert exp["lifecycle_stage"] == "active"
    assert tags_of(exp) == {"team": "ml", "stage": "dev"}
    assert exp["creation_time"] == exp["last_update_time"]
    assert abs(exp["creation_time"] - now_ms()) < 120_000

    # an explicit artifact_location is kept as given
    eid2 = create_experiment(client, "exp-two", artifact_location="s3://bucket/some/path")
    assert int(eid2) > int(eid)
    assert get_experiment(client, eid2)["artifact_location"] == "s3://bucket/some/path"

    # an experiment id is a string on the wire: a JSON number is refused, as by MLflow
    error(
        post(client, "runs/create", {"experiment_id": int(eid)}),
        400,
        "INVALID_PARAMETER_VALUE",
        f"Invalid value {eid} for parameter 'experiment_id' supplied",
    )

    # get-by-name: exact and case-sensitive (MySQL compares names case-insensitively)
    found = ok(get(client, "experiments/get-by-name", experiment_name="exp-one"))["experiment"]
    assert found["experiment_id"] == eid and tags_of(found) == {"team": "ml", "stage": "dev"}
    error(
        get(client, "experiments/get-by-name", experiment_name="EXP-ONE"),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Could not find experiment with name 'EXP-ONE'",
    )
    error(
        get(client, "experiments/get-by-name", experiment_name="nope"),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "Could not find experiment with name 'nope'",
    )
    error(
        get(client, "experiments/get-by-name"),
        400,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'experiment_name'",
    )

    # get errors
    error(
        get(client, "experiments/get", experiment_id="987654"),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=987654 exists",
    )
    error(
        get(client, "experiments/get"),
        400,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'experiment_id'",
    )
    error(get(client, "experiments/get", experiment_id="../1"), 400, "INVALID_PARAMETER_VALUE")

    # create errors
    error(post(client, "experiments/create", {"name": "exp-one"}), 400, "RESOURCE_ALREADY_EXISTS", "exp-one")
    error(
        post(client, "experiments/create", {}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'name'",
    )
    error(
        post(client, "experiments/create", {"name": ""}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'name'",
    )
    error(post(client, "experiments/create", {"name": "x" * 501}), 400, "INVALID_PARAMETER_VALUE", "500")
    error(post(client, "experiments/create", {"name": 5}), 400, "INVALID_PARAMETER_VALUE", "name")
    error(
        post(client, "experiments/create", {"name": "bad-tags", "tags": [{"key": "../x", "value": "v"}]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Names may be treated as files",
    )
    error(
        post(client, "experiments/create", {"name": "long-tag", "tags": [{"key": "k", "value": "v" * 20001}]}),
        400,
        "INVALID_PARAMETER_VALUE",
        "20000",
    )
    # nothing of the failed creates was written
    error(get(client, "experiments/get-by-name", experiment_name="bad-tags"), 404, "RESOURCE_DOES_NOT_EXIST")
    error(get(client, "experiments/get-by-name", experiment_name="long-tag"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert len(names(search(client, view_type="ALL"))) == 3

    # a 500-character name is fine
    long_name = "n" * 500
    long_id = create_experiment(client, long_name)
    assert get_experiment(client, long_id)["name"] == long_name

    # the /ajax-api mount answers the same
    assert ok(get(client, "experiments/get", root=AJAX, experiment_id=eid))["experiment"]["name"] == "exp-one"
    ajax_id = ok(post(client, "experiments/create", {"name": "via-ajax"}, root=AJAX))["experiment_id"]
    assert get_experiment(client, ajax_id)["artifact_location"] == f"mlflow-artifacts:/{ajax_id}"


# --- search -----------------------------------------------------------------------------------


def _search_fixture(client, clock):
    base = clock["t"]
    clock["t"] = base + 1000
    a = create_experiment(client, "exp-a", {"env": "prod", "my tag": "x", "a.b": "1"})
    b = create_experiment(client, "exp-b", {"env": "dev"})  # same creation_time as exp-a
    clock["t"] = base + 2000
    c = create_experiment(client, "exp-c", {"env": "prod"})
    clock["t"] = base + 3000
    other = create_experiment(client, "other")
    clock["t"] = base + 4000
    ok(post(client, "experiments/delete", {"experiment_id": c}))
    return base, a, b, c, other


def test_search_filters_views_and_ordering(client, clock):
    base, a, b, _c, other = _search_fixture(client, clock)

    # default: ACTIVE_ONLY, creation_time DESC then experiment_id ASC
    page = search(client)
    assert names(page) == ["other", "exp-a", "exp-b", "Default"]
    assert "next_page_token" not in page
    exp_a = next(e for e in page["experiments"] if e["name"] == "exp-a")
    assert exp_a["experiment_id"] == a and tags_of(exp_a) == {"env": "prod", "my tag": "x", "a.b": "1"}
    assert exp_a["creation_time"] == base + 1000

    # view types
    assert names(search(client, view_type="DELETED_ONLY")) == ["exp-c"]
    assert names(search(client, view_type="ALL")) == ["other", "exp-c", "exp-a", "exp-b", "Default"]
    assert names(search(client, view_type="ACTIVE_ONLY")) == ["other", "exp-a", "exp-b", "Default"]
    # a view type the enum does not know is ignored (ACTIVE_ONLY), as MLflow's proto parsing ignores it
    assert names(search(client, view_type="SOME")) == names(search(client))

    # name filters
    def f(filter_string, **kw):
        return names(search(client, filter=filter_string, **kw))

    assert f("name = 'exp-a'") == ["exp-a"]
    assert f("attribute.name = 'exp-a'") == ["exp-a"]
    assert f("name = 'EXP-A'") == []
    assert f("name != 'exp-a'") == ["other", "exp-b", "Default"]
    assert f("name LIKE 'exp-%'") == ["exp-a", "exp-b"]
    assert f("name LIKE 'EXP-%'") == []
    assert f("name ILIKE 'EXP-%'") == ["exp-a", "exp-b"]
    assert f("name LIKE 'exp-%'", view_type="ALL") == ["exp-c", "exp-a", "exp-b"]
    assert f('name = "other"') == ["other"]

    # tag filters, with backtick and double-quoted keys
    assert f("tags.env = 'prod'") == ["exp-a"]
    assert f("tags.env = 'prod'", view_type="ALL") == ["exp-c", "exp-a"]
    assert f("tag.env != 'prod'") == ["exp-b"]
    assert f("tags.env LIKE 'pr%'") == ["exp-a"]
    assert f("tags.env ILIKE 'DE%'") == ["exp-b"]
    assert f("tags.`my tag` = 'x'") == ["exp-a"]
    assert f("tags.\"a.b\" = '1'") == ["exp-a"]
    assert f("tags.env IS NULL") == ["other", "Default"]
    assert f("tags.env IS NOT NULL") == ["exp-a", "exp-b"]
    assert f("tags.env = 'prod' AND name LIKE 'exp%'") == ["exp-a"]
    assert f("tags.env = 'prod' and name = 'exp-b'") == []

    # experiment_id
    assert f(f"experiment_id IN ('{a}', '{other}')") == ["other", "exp-a"]
    assert f(f"experiment_id NOT IN ('{a}', '{other}')") == ["exp-b", "Default"]
    assert f(f"experiment_id = '{b}'") == ["exp-b"]
    assert f("experiment_id = '0'") == ["Default"]

    # numeric attributes
    assert f(f"creation_time >= {base + 1000}") == ["other", "exp-a", "exp-b"]
    assert f(f"creation_time > {base + 1000}") == ["other"]
    assert f(f"creation_time < {base}") == ["Default"]
    assert f(f"last_update_time = {base + 4000}", view_type="ALL") == ["exp-c"]

    # ordering
    def o(*order_by, **kw):
        return names(search(client, order_by=list(order_by), **kw))

    assert o("name") == ["Default", "exp-a", "exp-b", "other"]
    assert o("name ASC") == ["Default", "exp-a", "exp-b", "other"]
    assert o("name DESC") == ["other", "exp-b", "exp-a", "Default"]
    assert o("creation_time ASC") == ["Default", "exp-a", "exp-b", "other"]
    assert o("creation_time ASC", "name DESC") == ["Default", "exp-b", "exp-a", "other"]
    assert o("experiment_id DESC") == ["other", "exp-b", "exp-a", "Default"]
    assert o("last_update_time DESC", view_type="ALL")[0] == "exp-c"

    # GET with a query string: repeated order_by keys, view_type by name
    query = urlencode(
        [
            ("filter", "name LIKE 'exp%'"),
            ("order_by", "creation_time ASC"),
            ("order_by", "name DESC"),
            ("view_type", "ALL"),
            ("max_results", "10"),
        ]
    )
    page = ok(client.get(f"{API}/experiments/search?{query}"))
    assert names(page) == ["exp-b", "exp-a", "exp-c"]
    query = urlencode([("order_by", "name DESC"), ("max_results", "2")])
    page = ok(client.get(f"{API}/experiments/search?{query}"))
    assert names(page) == ["other", "exp-b"]
    page = ok(client.get(f"{API}/experiments/search?{query}&page_token={page['next_page_token']}"))
    assert names(page) == ["exp-a", "Default"]
    assert "next_page_token" not in page

    # filter / order_by errors
    error(
        post(client, "experiments/search", {"filter": "name = 'a' OR name = 'b'", "max_results": 10}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid clause(s) in filter string",
    )
    error(
        post(client, "experiments/search", {"filter": "color = 'red'", "max_results": 10}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid attribute key 'color'",
    )
    error(
        post(client, "experiments/search", {"filter": "name > 'a'", "max_results": 10}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid comparator",
    )
    error(
        post(client, "experiments/search", {"filter": "metrics.x > 1", "max_results": 10}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid entity type 'metrics'",
    )
    error(
        post(client, "experiments/search", {"order_by": ["colour ASC"], "max_results": 10}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid attribute key 'colour'",
    )
    error(
        post(client, "experiments/search", {"order_by": ["name SIDEWAYS"], "max_results": 10}),
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_search_pagination_and_max_results(client, clock):
    for n in range(7):
        clock["t"] += 10
        create_experiment(client, f"page-{n}")
    expected = [f"page-{n}" for n in reversed(range(7))] + ["Default"]
    assert names(search(client)) == expected

    seen, token, pages = [], None, 0
    while True:
        body = {"max_results": 3}
        if token:
            body["page_token"] = token
        page = search(client, **body)
        pages += 1
        assert len(page["experiments"]) <= 3
        seen.extend(names(page))
        token = page.get("next_page_token")
        if not token:
            break
        assert isinstance(token, str)
        # opaque, but shaped as MLflow's: base64 JSON {"offset": N}
        assert json.loads(base64.b64decode(token)) == {"offset": len(seen)}
    assert pages == 3
    assert seen == expected

    # exactly a page's worth: no token on the last page
    page = search(client, max_results=8)
    assert names(page) == expected and "next_page_token" not in page
    page = search(client, max_results=4)
    assert len(page["experiments"]) == 4 and page["next_page_token"]
    assert names(search(client, max_results=4, page_token=page["next_page_token"])) == expected[4:]

    # invalid tokens
    for bad in (
        "not-a-token",
        "%%%",
        base64.b64encode(b"[1, 2]").decode(),
        base64.b64encode(b'{"offset": "x"}').decode(),
        base64.b64encode(b'{"offset": -3}').decode(),
        base64.b64encode(b'{"nope": 1}').decode(),
    ):
        error(
            post(client, "experiments/search", {"page_token": bad, "max_results": 10}),
            400,
            "INVALID_PARAMETER_VALUE",
            "Invalid page token",
        )
    error(
        get(client, "experiments/search", page_token="garbage!", max_results=10),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid page token",
    )

    # max_results bounds
    error(post(client, "experiments/search", {"max_results": 0}), 400, "INVALID_PARAMETER_VALUE", "max_results")
    error(post(client, "experiments/search", {"max_results": 50001}), 400, "INVALID_PARAMETER_VALUE", "max_results")
    error(post(client, "experiments/search", {"max_results": -1}), 400, "INVALID_PARAMETER_VALUE")
    error(post(client, "experiments/search", {"max_results": "many"}), 400, "INVALID_PARAMETER_VALUE")
    error(get(client, "experiments/search", max_results="0"), 400, "INVALID_PARAMETER_VALUE")
    assert names(search(client, max_results=50000)) == expected
    assert names(ok(get(client, "experiments/search", max_results="50000"))) == expected


# --- update, delete, restore ----------------------------------------------------------------


def test_update_delete_restore(client, clock):
    clock["t"] += 1000
    eid = create_experiment(client, "before")
    other = create_experiment(client, "taken")
    created = get_experiment(client, eid)["creation_time"]

    # rename
    clock["t"] += 1000
    ok(post(client, "experiments/update", {"experiment_id": eid, "new_name": "after"}))
    exp = get_experiment(client, eid)
    assert exp["name"] == "after"
    assert exp["creation_time"] == created and exp["last_update_time"] == clock["t"]
    assert ok(get(client, "experiments/get-by-name", experiment_name="after"))["experiment"]["experiment_id"] == eid
    error(get(client, "experiments/get-by-name", experiment_name="before"), 404, "RESOURCE_DOES_NOT_EXIST")
    # the old name is free again
    create_experiment(client, "before")

    error(
        post(client, "experiments/update", {"experiment_id": eid, "new_name": "taken"}),
        400,
        "RESOURCE_ALREADY_EXISTS",
        "taken",
    )
    assert get_experiment(client, eid)["name"] == "after"
    error(
        post(client, "experiments/update", {"experiment_id": "424242", "new_name": "x"}), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    error(post(client, "experiments/update", {"experiment_id": eid}), 400, "INVALID_PARAMETER_VALUE", "new_name")
    error(post(client, "experiments/update", {"new_name": "x"}), 400, "INVALID_PARAMETER_VALUE", "experiment_id")
    error(post(client, "experiments/update", {"experiment_id": eid, "new_name": ""}), 400, "INVALID_PARAMETER_VALUE")
    # renaming to its own name is fine
    ok(post(client, "experiments/update", {"experiment_id": eid, "new_name": "after"}))

    # runs follow their experiment through delete and restore
    runs = [
        ok(post(client, "runs/create", {"experiment_id": eid, "start_time": 100 + n}))["run"]["info"]["run_id"]
        for n in range(2)
    ]
    other_run = ok(post(client, "runs/create", {"experiment_id": other}))["run"]["info"]["run_id"]
    ok(post(client, "runs/delete", {"run_id": runs[0]}))

    clock["t"] += 1000
    ok(post(client, "experiments/delete", {"experiment_id": eid}))
    exp = get_experiment(client, eid)  # still readable
    assert exp["lifecycle_stage"] == "deleted" and exp["last_update_time"] == clock["t"]
    by_name = ok(get(client, "experiments/get-by-name", experiment_name="after"))["experiment"]
    assert by_name["lifecycle_stage"] == "deleted"
    for rid in runs:
        assert ok(get(client, "runs/get", run_id=rid))["run"]["info"]["lifecycle_stage"] == "deleted"
    assert ok(get(client, "runs/get", run_id=other_run))["run"]["info"]["lifecycle_stage"] == "active"
    assert ok(post(client, "runs/search", {"experiment_ids": [eid]})).get("runs", []) == []
    deleted = ok(post(client, "runs/search", {"experiment_ids": [eid], "run_view_type": "DELETED_ONLY"}))
    assert sorted(r["info"]["run_id"] for r in deleted["runs"]) == sorted(runs)
    assert "after" not in names(search(client))
    assert "after" in names(search(client, view_type="DELETED_ONLY"))

    # a deleted experiment refuses writes and a second delete; its name stays taken
    error(post(client, "experiments/delete", {"experiment_id": eid}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(post(client, "runs/create", {"experiment_id": eid}), 400, "INVALID_PARAMETER_VALUE", "active")
    error(
        post(client, "experiments/set-experiment-tag", {"experiment_id": eid, "key": "k", "value": "v"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "active",
    )
    error(
        post(client, "experiments/update", {"experiment_id": eid, "new_name": "renamed-while-deleted"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "non-active",
    )
    error(post(client, "experiments/create", {"name": "after"}), 400, "RESOURCE_ALREADY_EXISTS")
    error(
        post(client, "runs/set-tag", {"run_id": runs[1], "key": "k", "value": "v"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "active",
    )

    # restore: the experiment and all of its runs are active again (as in MLflow)
    clock["t"] += 1000
    ok(post(client, "experiments/restore", {"experiment_id": eid}))
    exp = get_experiment(client, eid)
    assert exp["lifecycle_stage"] == "active" and exp["last_update_time"] == clock["t"]
    for rid in runs:
        assert ok(get(client, "runs/get", run_id=rid))["run"]["info"]["lifecycle_stage"] == "active"
    found = ok(post(client, "runs/search", {"experiment_ids": [eid]}))["runs"]
    assert [r["info"]["run_id"] for r in found] == [runs[1], runs[0]]  # start_time DESC
    ok(post(client, "runs/set-tag", {"run_id": runs[1], "key": "k", "value": "v"}))

    error(post(client, "experiments/restore", {"experiment_id": eid}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(post(client, "experiments/restore", {"experiment_id": "31337"}), 404, "RESOURCE_DOES_NOT_EXIST")
    error(
        post(client, "experiments/delete", {"experiment_id": "31337"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=31337 exists",
    )
    error(post(client, "experiments/delete", {}), 400, "INVALID_PARAMETER_VALUE", "experiment_id")
    error(post(client, "experiments/restore", {}), 400, "INVALID_PARAMETER_VALUE", "experiment_id")

    # the ajax mount works for writes too
    ok(post(client, "experiments/delete", {"experiment_id": other}, root=AJAX))
    assert get_experiment(client, other)["lifecycle_stage"] == "deleted"
    ok(post(client, "experiments/restore", {"experiment_id": other}, root=AJAX))
    assert get_experiment(client, other)["lifecycle_stage"] == "active"


# --- experiment tags --------------------------------------------------------------------------


def test_experiment_tags(client):
    eid = create_experiment(client, "tagged", {"keep": "1"})

    ok(post(client, "experiments/set-experiment-tag", {"experiment_id": eid, "key": "color", "value": "red"}))
    assert tags_of(get_experiment(client, eid)) == {"keep": "1", "color": "red"}
    ok(post(client, "experiments/set-experiment-tag", {"experiment_id": eid, "key": "color", "value": "blue"}))
    ok(post(client, "experiments/set-experiment-tag", {"experiment_id": eid, "key": "big", "value": "v" * 20000}))
    ok(
        post(
            client,
            "experiments/set-experiment-tag",
            {"experiment_id": eid, "key": "mlflow.note.content", "value": "a note"},
            root=AJAX,
        )
    )
    tags = tags_of(get_experiment(client, eid))
    assert tags == {"keep": "1", "color": "blue", "big": "v" * 20000, "mlflow.note.content": "a note"}
    # the tag is searchable at once
    assert names(search(client, filter="tags.color = 'blue'")) == ["tagged"]

    ok(post(client, "experiments/delete-experiment-tag", {"experiment_id": eid, "key": "color"}))
    assert "color" not in tags_of(get_experiment(client, eid))
    error(
        post(client, "experiments/delete-experiment-tag", {"experiment_id": eid, "key": "color"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No tag with name: color",
    )
    error(
        post(client, "experiments/delete-experiment-tag", {"experiment_id": "777", "key": "keep"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    error(
        post(client, "experiments/delete-experiment-tag", {"experiment_id": eid}), 400, "INVALID_PARAMETER_VALUE", "key"
    )

    error(
        post(client, "experiments/set-experiment-tag", {"experiment_id": "777", "key": "k", "value": "v"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=777 exists",
    )
    error(
        post(client, "experiments/set-experiment-tag", {"experiment_id": eid, "value": "v"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Missing value for required parameter 'key'",
    )
    error(
        post(client, "experiments/set-experiment-tag", {"key": "k", "value": "v"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "experiment_id",
    )
    error(
        post(client, "experiments/set-experiment-tag", {"experiment_id": eid, "key": "bad!key", "value": "v"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Names may only contain",
    )
    error(
        post(client, "experiments/set-experiment-tag", {"experiment_id": eid, "key": "/abs", "value": "v"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "Names may be treated as files",
    )
    error(
        post(client, "experiments/set-experiment-tag", {"experiment_id": eid, "key": "k" * 251, "value": "v"}),
        400,
        "INVALID_PARAMETER_VALUE",
        "250",
    )
    error(
        post(client, "experiments/set-experiment-tag", {"experiment_id": eid, "key": "huge", "value": "v" * 20001}),
        400,
        "INVALID_PARAMETER_VALUE",
        "20000",
    )
    assert set(tags_of(get_experiment(client, eid))) == {"keep", "big", "mlflow.note.content"}

    # tags on the default experiment work too
    ok(post(client, "experiments/set-experiment-tag", {"experiment_id": "0", "key": "k", "value": "v"}))
    assert tags_of(get_experiment(client, "0")) == {"k": "v"}
