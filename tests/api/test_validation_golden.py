"""Every served message's validation answers as MLflow 3.17.2 answers them.

The corpus (``tests/protocol_corpus.py``: each required field absent, null or empty, each field
of the wrong type, GET messages sent as a body) was sent to a reference ``mlflow server``; its
answers are in ``golden/validation.json``. Here each case goes to this server and must get the
same status, error code and message, but where MLflow itself fails (a 500, or a database error
leaked as a 400): there this server answers MLflow's invalid-value 400, never a 5xx.
"""

from __future__ import annotations

import json

import pytest

from tests import protocol_corpus

GOLDEN = json.load(open(protocol_corpus.GOLDEN))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """One SQLite-backed app for the whole corpus: validation answers before any lookup, so no
    case depends on the backend (the API tests cover each backend's own behaviour)."""
    from mlflow_compat.app import create_app
    from mlflow_compat.config import ServerConfig
    from registry_core import db as core_db
    from registry_core import schema

    folder = tmp_path_factory.mktemp("corpus")
    uri = f"sqlite:///{folder}/registry.db"
    database = core_db.open_database(uri)
    schema.upgrade(database, "mlflow-artifacts:/")
    config = ServerConfig.resolve(backend_store_uri=uri, artifacts_destination=str(folder / "artifacts"))
    application = create_app(config, database=database)
    application.testing = True
    yield application.test_client()
    database.close()


# Where MLflow's answer is a failure of its own, not a rule: what this server answers instead.
_MLFLOW_FAILS = {
    # experiment_id "" reaches MLflow's database and comes back as a leaked SQL error
    "POST runs/create: empty message": (200, None),
}


def _blames_valid_view_type(expected) -> bool:
    return (expected["message"] or "").startswith("Invalid value \"ACTIVE_ONLY\" for parameter 'view_type'")


def _non_integral_int64(case, field) -> bool:
    return case["name"].endswith(f"{field} = 1.5") and field in (
        "start_time",
        "end_time",
        "timestamp",
        "step",
        "max_results",
    )


def _send(client, case):
    kwargs = {}
    if "body" in case:
        kwargs["json"] = case["body"]
    if "query" in case:
        kwargs["query_string"] = [tuple(pair) for pair in case["query"]]
    resp = client.open(case["path"], method=case["method"], **kwargs)
    body = resp.get_json(silent=True) or {}
    return resp, {"status": resp.status_code, "error_code": body.get("error_code"), "message": body.get("message")}


@pytest.mark.parametrize("case", GOLDEN, ids=[c["name"] for c in GOLDEN])
def test_validation_answer_matches_mlflow(client, case):
    _resp, answer = _send(client, case)
    expected = case["answer"]
    assert answer["status"] < 500, answer
    if case["name"] in _MLFLOW_FAILS:
        status, code = _MLFLOW_FAILS[case["name"]]
        assert (answer["status"], answer["error_code"]) == (status, code), answer
        return
    if expected["status"] >= 500:  # MLflow crashes on this wrong type: the invalid-value answer
        assert answer["status"] == 400 and answer["error_code"] == "INVALID_PARAMETER_VALUE", answer
        assert answer["message"].startswith("Invalid value "), answer
        return
    field = case["name"].split(": ", 1)[1].split(" ", 1)[0]
    if _blames_valid_view_type(expected) and field != "view_type":
        # MLflow names view_type (holding a valid "ACTIVE_ONLY") whenever any field of a search
        # has the wrong type: this server names the field that has it
        assert answer["status"] == 400 and f"for parameter '{field}' supplied" in answer["message"], answer
        return
    if _non_integral_int64(case, field):
        # MLflow's _assert_intlike takes 1.5 for an int64 (int(1.5) is an int) and goes on with
        # the fields parsed before it: this server refuses it
        assert answer["status"] == 400 and answer["message"].startswith(f"Invalid value 1.5 for parameter '{field}'")
        return
    if expected["status"] >= 400:
        assert answer == expected
    else:
        assert answer["status"] == expected["status"], answer
