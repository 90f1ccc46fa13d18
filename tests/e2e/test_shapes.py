"""Response bodies compared field by field with goldens recorded from MLflow 3.17.2.

The goldens in ``golden/`` were recorded by ``python -m tests.e2e.shapes record``
against the stock ``mlflow server``.  Here the same calls run against the
server under test; keys, nesting, JSON types, HTTP status and error codes must
match (see ``shapes.compare_shapes`` for what is compared by value).
"""

from __future__ import annotations

import pytest

from tests.e2e import shapes

pytestmark = pytest.mark.e2e

GOLDENS = shapes.load_goldens()


@pytest.fixture(scope="module")
def scenario(server):
    return shapes.run_scenario(server.url)


def test_goldens_exist():
    assert len(GOLDENS) >= 10, "run `python -m tests.e2e.shapes record` to create them"
    for required in (
        "experiments_get",
        "runs_get",
        "runs_search_page1",
        "metrics_get_history",
        "error_missing_run",
        "error_duplicate_experiment",
        "error_bad_filter",
        "error_param_overwrite",
        "error_log_batch_over_limit",
    ):
        assert required in GOLDENS, required


@pytest.mark.parametrize("case", sorted(GOLDENS))
def test_response_shape_matches_mlflow(scenario, case):
    golden = GOLDENS[case]
    assert case in scenario, f"scenario did not produce {case}"
    actual = scenario[case]
    assert actual["status"] == golden["status"], (
        f"{case}: HTTP {actual['status']} (reference {golden['status']}); body {actual['body']}"
    )
    diffs = shapes.compare_shapes(golden["body"], actual["body"])
    assert not diffs, f"{case} differs from MLflow 3.17.2:\n  " + "\n  ".join(diffs)


def test_page_token_round_trips(scenario):
    first = scenario["runs_search_page1"]["body"]
    second = scenario["runs_search_page2"]["body"]
    assert isinstance(first.get("next_page_token"), str) and first["next_page_token"]
    assert len(first["runs"]) == 2 and len(second["runs"]) == 1
    assert not second.get("next_page_token")
    names = [r["info"]["run_name"] for r in first["runs"] + second["runs"]]
    assert names == ["parent", "child", "third"]


def test_error_messages_match_mlflow_where_clients_parse_them(scenario):
    golden = GOLDENS["error_log_batch_over_limit"]["body"]["message"]
    assert scenario["error_log_batch_over_limit"]["body"]["message"] == golden
    assert "Changing param values is not allowed" in scenario["error_param_overwrite"]["body"]["message"]
    assert "not found" in scenario["error_missing_run"]["body"]["message"]
