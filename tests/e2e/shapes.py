"""Response-shape scenario shared by the golden recorder and ``test_shapes.py``.

``run_scenario(base_url)`` performs a fixed sequence of raw REST calls and
returns ``{case_name: {"request": ..., "status": int, "body": json}}``.
Recorded once against the real ``mlflow server`` 3.17.2 into ``golden/``;
``test_shapes.py`` replays it against our server and compares field by field
with ``compare_shapes`` (keys, nesting, JSON types, status and error codes;
ids, timestamps and other naturally differing values are ignored).

Re-record the goldens (starts the reference server itself):

    .venv/bin/python -m tests.e2e.shapes record
"""

from __future__ import annotations

import json
import sys
import tempfile
import uuid
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"

#: values compared exactly (everything else: type only)
VALUE_FIELDS = {"error_code", "status", "lifecycle_stage", "step", "source_type", "digest", "user_id", "run_name"}
#: keys of lists of {"key": ..., "value": ...} entries compared as sets of keys
KEYED_LISTS = {"metrics", "params", "tags"}
#: keys MLflow sends that a compatible server may leave out (the client ignores them)
OPTIONAL_KEYS = {"sqlstate", "error_class"}


def run_scenario(base_url: str) -> dict:
    import requests

    session = requests.Session()
    api = f"{base_url}/api/2.0/mlflow/"
    suffix = uuid.uuid4().hex[:10]
    out: dict = {}

    def call(case, method, path, body=None, params=None, expect=200):
        kwargs = {"timeout": 30}
        if method == "GET":
            kwargs["params"] = params
        else:
            kwargs["json"] = body
        resp = session.request(method, api + path, **kwargs)
        try:
            payload = resp.json() if resp.content else {}
        except ValueError:
            payload = {"<non-json>": resp.text[:300]}
        if case:
            out[case] = {
                "request": {"method": method, "path": path, "body" if method != "GET" else "params": body or params},
                "status": resp.status_code,
                "body": payload,
            }
        if expect is not None and resp.status_code != expect:
            raise AssertionError(f"{method} {path}: HTTP {resp.status_code} (expected {expect}): {resp.text[:500]}")
        return payload

    # -- experiments ----------------------------------------------------------
    exp_name = f"shapes-{suffix}"
    created = call(
        "experiments_create", "POST", "experiments/create", {"name": exp_name, "tags": [{"key": "team", "value": "ml"}]}
    )
    eid = created["experiment_id"]
    call("experiments_get", "GET", "experiments/get", params={"experiment_id": eid})
    call("experiments_get_by_name", "GET", "experiments/get-by-name", params={"experiment_name": exp_name})
    call("experiments_search", "POST", "experiments/search", {"max_results": 10, "filter": f"name = '{exp_name}'"})

    # -- runs -------------------------------------------------------------------
    parent = call(
        "runs_create",
        "POST",
        "runs/create",
        {
            "experiment_id": eid,
            "run_name": "parent",
            "start_time": 1_700_000_000_000,
            "user_id": "shape-user",
            "tags": [{"key": "mlflow.user", "value": "shape-user"}],
        },
    )["run"]["info"]["run_id"]
    child = call(
        None,
        "POST",
        "runs/create",
        {
            "experiment_id": eid,
            "run_name": "child",
            "start_time": 1_700_000_000_100,
            "user_id": "shape-user",
            "tags": [{"key": "mlflow.parentRunId", "value": parent}, {"key": "mlflow.user", "value": "shape-user"}],
        },
    )["run"]["info"]["run_id"]
    call(
        "runs_log_parameter",
        "POST",
        "runs/log-parameter",
        {"run_id": child, "run_uuid": child, "key": "lr", "value": "0.1"},
    )
    call(
        "runs_log_metric",
        "POST",
        "runs/log-metric",
        {"run_id": child, "run_uuid": child, "key": "acc", "value": 0.5, "timestamp": 1_700_000_001_000, "step": 0},
    )
    call(
        "runs_log_batch",
        "POST",
        "runs/log-batch",
        {
            "run_id": child,
            "metrics": [
                {"key": "acc", "value": 0.75, "timestamp": 1_700_000_002_000, "step": 1},
                {"key": "loss", "value": 0.25, "timestamp": 1_700_000_002_000, "step": 1},
            ],
            "params": [{"key": "depth", "value": "3"}],
            "tags": [{"key": "stage", "value": "dev"}],
        },
    )
    call("runs_set_tag", "POST", "runs/set-tag", {"run_id": child, "run_uuid": child, "key": "note", "value": "hello"})
    call(
        "runs_log_inputs",
        "POST",
        "runs/log-inputs",
        {
            "run_id": child,
            "datasets": [
                {
                    "tags": [{"key": "mlflow.data.context", "value": "training"}],
                    "dataset": {
                        "name": "iris",
                        "digest": "d1g3st",
                        "source_type": "local",
                        "source": json.dumps({"uri": "/data/iris.csv"}),
                        "schema": json.dumps({"mlflow_colspec": [{"type": "double", "name": "x"}]}),
                        "profile": json.dumps({"num_rows": 3}),
                    },
                }
            ],
        },
    )
    call(
        "runs_update",
        "POST",
        "runs/update",
        {"run_id": child, "run_uuid": child, "status": "FINISHED", "end_time": 1_700_000_003_000},
    )
    call("runs_get", "GET", "runs/get", params={"run_id": child})

    # -- search with a next_page_token ---------------------------------------
    call(None, "POST", "runs/create", {"experiment_id": eid, "run_name": "third", "start_time": 1_700_000_000_200})
    call(
        "runs_search_page1",
        "POST",
        "runs/search",
        {
            "experiment_ids": [eid],
            "max_results": 2,
            "order_by": ["attributes.start_time ASC"],
            "run_view_type": "ACTIVE_ONLY",
        },
    )
    token = out["runs_search_page1"]["body"].get("next_page_token")
    call(
        "runs_search_page2",
        "POST",
        "runs/search",
        {
            "experiment_ids": [eid],
            "max_results": 2,
            "order_by": ["attributes.start_time ASC"],
            "page_token": token,
        },
    )

    call(
        "metrics_get_history",
        "GET",
        "metrics/get-history",
        params={"run_id": child, "run_uuid": child, "metric_key": "acc", "max_results": 25000},
    )

    # -- errors -------------------------------------------------------------------
    call("error_missing_run", "GET", "runs/get", params={"run_id": "0123456789abcdef0123456789abcdef"}, expect=404)
    call(
        "error_missing_experiment",
        "GET",
        "experiments/get-by-name",
        params={"experiment_name": f"missing-{suffix}"},
        expect=404,
    )
    call("error_duplicate_experiment", "POST", "experiments/create", {"name": exp_name}, expect=400)
    call("error_bad_filter", "POST", "runs/search", {"experiment_ids": [eid], "filter": "metrics.acc >> 1"}, expect=400)
    call(
        "error_param_overwrite",
        "POST",
        "runs/log-parameter",
        {"run_id": child, "key": "lr", "value": "0.2"},
        expect=400,
    )
    call(
        "error_log_batch_over_limit",
        "POST",
        "runs/log-batch",
        {
            "run_id": child,
            "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": i} for i in range(1001)],
        },
        expect=400,
    )
    call(
        "error_invalid_page_token",
        "POST",
        "runs/search",
        {"experiment_ids": [eid], "page_token": "not-a-token"},
        expect=400,
    )
    return out


# ---------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def compare_shapes(expected, actual, path: str = "$") -> list[str]:
    """Differences between a golden body and an actual one, as readable strings."""
    diffs: list[str] = []
    ek, ak = _kind(expected), _kind(actual)
    if ek == "float" and ak == "int":
        ak = "float"  # 1.0 may legitimately be written as 1
    if ek == "str" and ak in ("int", "float") and expected in ("NaN", "Infinity", "-Infinity"):
        ak = "str"  # tolerated, but see value comparison below
    if ek != ak:
        return [f"{path}: type {ak} ({_short(actual)}), reference has {ek} ({_short(expected)})"]
    if ek == "object":
        for key in sorted(set(expected) - set(actual)):
            if key not in OPTIONAL_KEYS:
                diffs.append(f"{path}.{key}: missing (reference: {_short(expected[key])})")
        for key in sorted(set(actual) - set(expected)):
            diffs.append(f"{path}.{key}: unexpected key (value {_short(actual[key])})")
        for key in sorted(set(expected) & set(actual)):
            sub = f"{path}.{key}"
            if key in VALUE_FIELDS and not isinstance(expected[key], (dict, list)) and expected[key] != actual[key]:
                diffs.append(f"{sub}: value {actual[key]!r}, reference {expected[key]!r}")
                continue
            if key in KEYED_LISTS and _is_keyed_list(expected[key]) and _is_keyed_list(actual[key]):
                diffs += _compare_keyed(expected[key], actual[key], sub)
            else:
                diffs += compare_shapes(expected[key], actual[key], sub)
    elif ek == "list":
        if bool(expected) != bool(actual):
            diffs.append(f"{path}: {len(actual)} items, reference has {len(expected)}")
        elif expected:
            if len(expected) != len(actual):
                diffs.append(f"{path}: {len(actual)} items, reference has {len(expected)}")
            for i, (e, a) in enumerate(zip(expected, actual)):
                diffs += compare_shapes(e, a, f"{path}[{i}]")
    elif ek == "str" and expected in ("NaN", "Infinity", "-Infinity") and actual != expected:
        diffs.append(f"{path}: value {actual!r}, reference {expected!r}")
    return diffs


def _is_keyed_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) and "key" in v for v in value)


def _compare_keyed(expected, actual, path) -> list[str]:
    diffs = []
    ekeys = sorted(e["key"] for e in expected)
    akeys = sorted(a["key"] for a in actual)
    if ekeys != akeys:
        diffs.append(f"{path}: keys {akeys}, reference has {ekeys}")
    if len(set(ekeys)) != len(ekeys) or len(set(akeys)) != len(akeys):
        # e.g. a metric history: several entries per key, order matters
        for i, (e, a) in enumerate(zip(expected, actual)):
            diffs += compare_shapes(e, a, f"{path}[{i}]")
        return diffs
    by_key = {a["key"]: a for a in actual}
    for e in expected:
        if e["key"] in by_key:
            diffs += compare_shapes(e, by_key[e["key"]], f"{path}[key={e['key']}]")
    return diffs


def _short(value, limit: int = 80) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_goldens() -> dict:
    return {p.stem: json.loads(p.read_text()) for p in sorted(GOLDEN_DIR.glob("*.json"))}


def record(base_url: str | None = None) -> None:
    """Record goldens from a reference server (started here unless a URL is given)."""
    from tests.e2e import server as harness

    def write(results):
        GOLDEN_DIR.mkdir(exist_ok=True)
        for name, case in results.items():
            (GOLDEN_DIR / f"{name}.json").write_text(json.dumps(case, indent=2, sort_keys=True) + "\n")
        print(f"wrote {len(results)} goldens to {GOLDEN_DIR}")

    if base_url:
        write(run_scenario(base_url))
        return
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp, harness.start_reference_mlflow(tmp) as srv:
        write(run_scenario(srv.url))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "record":
        record(sys.argv[2] if len(sys.argv) > 2 else None)
    else:
        print(__doc__)
