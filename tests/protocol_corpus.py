"""A corpus of invalid requests, one per way each served message can be wrong, and MLflow
3.17.2's answers to them.

For every route this server serves, the request schema MLflow's handler validates with
(``mlflow/server/handlers.py``: the ``schema={field: [validators]}`` passed to
``_get_request_message``) yields requests that break it one field at a time: each required field
absent, null and empty; each field of the wrong JSON type; GET messages also as a JSON body with
an empty query string. Every other field holds a valid value, and ids name nothing (validation
answers before any lookup), so the answers depend on the server's validation alone.

``python -m tests.protocol_corpus record URL`` sends the corpus to a reference ``mlflow server``
3.17.2 and writes ``tests/api/golden/validation.json``; ``tests/api/test_validation_golden.py``
replays it against this server (Flask test client) and requires the same status, error code and
message. ``python -m tests.protocol_corpus diff URL_A URL_B`` prints where two servers differ.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import sys
import textwrap

GOLDEN = os.path.join(os.path.dirname(__file__), "api", "golden", "validation.json")

# Routes served here (MLflow paths under /api/2.0/mlflow), with the method.
ROUTES = [
    ("POST", "experiments/create"),
    ("GET", "experiments/get"),
    ("GET", "experiments/get-by-name"),
    ("POST", "experiments/search"),
    ("GET", "experiments/search"),
    ("POST", "experiments/update"),
    ("POST", "experiments/delete"),
    ("POST", "experiments/restore"),
    ("POST", "experiments/set-experiment-tag"),
    ("POST", "experiments/delete-experiment-tag"),
    ("POST", "runs/create"),
    ("GET", "runs/get"),
    ("POST", "runs/update"),
    ("POST", "runs/delete"),
    ("POST", "runs/restore"),
    ("POST", "runs/set-tag"),
    ("POST", "runs/delete-tag"),
    ("POST", "runs/log-metric"),
    ("POST", "runs/log-parameter"),
    ("POST", "runs/log-batch"),
    ("POST", "runs/log-inputs"),
    ("POST", "runs/outputs"),
    ("POST", "runs/search"),
    ("GET", "metrics/get-history"),
    ("GET", "metrics/get-history-bulk-interval"),
    ("GET", "artifacts/list"),
    ("POST", "logged-models"),
    ("POST", "logged-models/search"),
    ("POST", "registered-models/create"),
    ("GET", "registered-models/get"),
    ("POST", "registered-models/rename"),
    ("PATCH", "registered-models/update"),
    ("DELETE", "registered-models/delete"),
    ("GET", "registered-models/search"),
    ("POST", "registered-models/get-latest-versions"),
    ("GET", "registered-models/get-latest-versions"),
    ("POST", "registered-models/set-tag"),
    ("DELETE", "registered-models/delete-tag"),
    ("POST", "registered-models/alias"),
    ("DELETE", "registered-models/alias"),
    ("GET", "registered-models/alias"),
    ("POST", "model-versions/create"),
    ("GET", "model-versions/get"),
    ("PATCH", "model-versions/update"),
    ("POST", "model-versions/transition-stage"),
    ("DELETE", "model-versions/delete"),
    ("GET", "model-versions/search"),
    ("POST", "model-versions/set-tag"),
    ("DELETE", "model-versions/delete-tag"),
]

# A valid value per field type (the validator list decides the type); ids name nothing.
_VALID_BY_NAME = {
    "run_id": "0123456789abcdef0123456789abcdef",
    "experiment_id": "123456",
    "experiment_ids": ["123456"],
    "run_ids": ["0123456789abcdef0123456789abcdef"],
    "version": "1",
    "stage": "Staging",
    "value": "v",
    "view_type": "ACTIVE_ONLY",
    "max_results": 10,
    "timestamp": 1,
    "step": 0,
    "start_time": 1,
    "end_time": 2,
    "source": "runs:/0123456789abcdef0123456789abcdef/model",
    "status": "FINISHED",
    "name": "corpus-name",
    "new_name": "corpus-new-name",
    "alias": "champion",
    "key": "k",
    "metric_key": "m",
    "experiment_name": "corpus-experiment",
}


def handler_schemas() -> dict[tuple[str, str], list[tuple[str, list[str]]]]:
    """{(method, path): [(field, [validator names])]} from MLflow's handlers, in their order."""
    import mlflow.server.handlers as handlers

    found = {}
    for path, fn, methods in handlers.get_endpoints():
        if not path.startswith("/api/2.0/mlflow/"):
            continue
        route = path[len("/api/2.0/mlflow/") :]
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(fn))))
        except (OSError, TypeError, SyntaxError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_get_request_message":
                for kw in node.keywords:
                    if kw.arg == "schema" and isinstance(kw.value, ast.Dict):
                        schema = [
                            (ast.literal_eval(k), [_name(e) for e in v.elts])
                            for k, v in zip(kw.value.keys, kw.value.values)
                        ]
                        for method in methods:
                            found[(method, route)] = schema
    return found


def _name(node) -> str:
    return node.id if isinstance(node, ast.Name) else "lambda"


def _valid(field: str, validators: list[str]):
    named = _VALID_BY_NAME.get(field)
    if "_assert_array" in validators:
        return named if isinstance(named, list) else []
    if "_assert_intlike" in validators:
        return named if isinstance(named, (int, str)) and not isinstance(named, bool) else 1
    if "_assert_floatlike" in validators:
        return 1.5
    if "_assert_bool" in validators:
        return True
    return named if isinstance(named, str) else "x"


def _wrong_types(validators: list[str]) -> list:
    if "_assert_array" in validators:
        return ["not-a-list", {"a": 1}] + ([[1]] if "_assert_item_type_string" in validators else [])
    if "_assert_intlike" in validators:
        return ["foo", 1.5, [1]]
    if "_assert_floatlike" in validators:
        return ["foo", [1.0]]
    if "_assert_bool" in validators:
        return ["maybe", 3]
    if "_assert_string" in validators:
        return [31, [1], {"a": "b"}, True]
    return []


def cases() -> list[dict]:
    """The corpus: {"name", "method", "path", "query" | "body"}."""
    schemas = handler_schemas()
    out = []
    for method, route in ROUTES:
        schema = schemas.get((method, route))
        if schema is None:
            continue
        base = {field: _valid(field, validators) for field, validators in schema}

        def add(label, message):
            case = {"name": f"{method} {route}: {label}", "method": method, "path": f"/api/2.0/mlflow/{route}"}
            if method == "GET":
                case["query"] = [
                    [k, str(x)] for k, val in message.items() for x in (val if isinstance(val, list) else [val])
                ]
            else:
                case["body"] = message
            out.append(case)

        add("empty message", {})
        for field, validators in schema:
            if "_assert_required" in validators:
                add(f"{field} absent", {k: val for k, val in base.items() if k != field})
                if method != "GET":
                    add(f"{field} null", dict(base, **{field: None}))
                add(f"{field} empty", dict(base, **{field: ""}))
            for wrong in _wrong_types(validators):
                if method == "GET" and not isinstance(wrong, str):
                    continue  # a query string only carries strings
                add(f"{field} = {json.dumps(wrong)}", dict(base, **{field: wrong}))
        if method == "GET":  # the message as a JSON body with an empty query string
            first_required = next((f for f, vs in schema if "_assert_required" in vs), None)
            if first_required:
                body = {k: val for k, val in base.items() if k != first_required}
                out.append(
                    {
                        "name": f"{method} {route}: body without {first_required}",
                        "method": method,
                        "path": f"/api/2.0/mlflow/{route}",
                        "body": body,
                    }
                )
    return out


def send(session, url: str, case: dict) -> dict:
    kwargs = {}
    if "body" in case:
        kwargs["json"] = case["body"]
    if "query" in case:
        kwargs["params"] = case["query"]
    resp = session.request(case["method"], url.rstrip("/") + case["path"], **kwargs)
    try:
        body = resp.json()
    except ValueError:
        body = {"text": resp.text[:300]}
    return {"status": resp.status_code, "error_code": body.get("error_code"), "message": body.get("message")}


def record(url: str) -> None:
    import requests

    session = requests.Session()
    golden = [dict(case, answer=send(session, url, case)) for case in cases()]
    os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
    with open(GOLDEN, "w") as fh:
        json.dump(golden, fh, indent=1, sort_keys=True)
        fh.write("\n")
    print(f"{len(golden)} cases recorded from {url} into {GOLDEN}")


def diff(url_a: str, url_b: str) -> int:
    import requests

    session, differ = requests.Session(), 0
    for case in cases():
        a, b = send(session, url_a, case), send(session, url_b, case)
        if a != b:
            differ += 1
            print(f"== {case['name']}\n   A: {a}\n   B: {b}")
    print(f"{differ} differences")
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "record":
        record(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "diff":
        sys.exit(diff(sys.argv[2], sys.argv[3]))
    else:
        print(__doc__)
        sys.exit(2)
