"""Every double a metric can hold comes back exactly, on every backend and through every read
path: runs/get and runs/search (the run's latest metrics, with and without the metric-order
walk), metrics/get-history, metrics/get-history-bulk-interval, and a logged model's metrics
(logged-models/get and logged-models/search), each logged with log-metric and with log-batch.

The extremes and subnormals are stored as themselves; +/-Infinity and -0.0 are stored as
+/-FLOAT_MAX and 0.0 in the orderable ``value`` column with their bits in ``value_bits``; NaN
as 0 with ``is_nan`` (registry_core.validation.metric_value).
"""

from __future__ import annotations

import json
import math
import struct

import pytest

from tests.api.wire import AJAX, get, ok, post

FLOAT_MAX = 1.7976931348623157e308
SPECIALS = [
    ("max", FLOAT_MAX),
    ("neg-max", -FLOAT_MAX),
    ("min-subnormal", 5e-324),
    ("neg-min-subnormal", -5e-324),
    ("min-normal", 2.2250738585072014e-308),
    ("neg-min-normal", -2.2250738585072014e-308),
    ("max-subnormal", 2.225073858507201e-308),
    ("neg-zero", -0.0),
    ("zero", 0.0),
    ("nan", math.nan),
    ("inf", math.inf),
    ("neg-inf", -math.inf),
    ("tenth-sum", 0.1 + 0.2),
]
NAMES = [name for name, _ in SPECIALS]
VALUE = dict(SPECIALS)
BULK = "metrics/get-history-bulk-interval"


def same(a: float, b: float) -> bool:
    """The same double: NaN is NaN, -0.0 is not 0.0, and otherwise ==."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def bits(value: float) -> int:
    return struct.unpack("<q", struct.pack("<d", value))[0]


def wire(value: float):
    """A double as MLflow's client sends it (protobuf JSON)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def unwire(value) -> float:
    """A double of a response: a JSON number, or one of MLflow's three strings (nothing else)."""
    if isinstance(value, str):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[value]
    assert isinstance(value, float), value  # a JSON number with a point or exponent
    return value


def check(got, name: str, where: str) -> None:
    expected = VALUE[name]
    value = unwire(got)
    assert same(value, expected), f"{where}: {name} logged {expected!r}, read {value!r}"


def stored_order(value: float) -> float:
    """What SQL orders by: infinities as the largest doubles, NaN apart (last)."""
    return max(-FLOAT_MAX, min(FLOAT_MAX, value))


@pytest.fixture
def logged(client):
    """One run per special value (start_time = its index), each with:
    ``v``: the value by log-metric; ``b``: the value by log-batch (with other keys around it);
    ``h``: a history 1.0, value, 2.0 (steps 0-2); ``l``: +inf then the value (the latest is the
    value: an infinity's bits are replaced); ``z``: -0.0 then the value; and ``mv``/``mb``: the
    value for the experiment's logged model by log-metric / log-batch."""
    eid = ok(post(client, "experiments/create", {"name": "doubles"}))["experiment_id"]
    model_id = ok(post(client, "logged-models", {"experiment_id": eid, "name": "model"}))["model"]["info"]["model_id"]
    runs = {}
    for n, (name, value) in enumerate(SPECIALS):
        rid = ok(post(client, "runs/create", {"experiment_id": eid, "run_name": name, "start_time": 1000 + n}))["run"][
            "info"
        ]["run_id"]
        runs[name] = rid
        ok(
            post(
                client, "runs/log-metric", {"run_id": rid, "key": "v", "value": wire(value), "timestamp": 10, "step": 0}
            )
        )
        ok(
            post(
                client,
                "runs/log-metric",
                {"run_id": rid, "key": "mv", "value": wire(value), "timestamp": 10, "step": 0, "model_id": model_id},
            )
        )
        ok(
            post(
                client,
                "runs/log-batch",
                {
                    "run_id": rid,
                    "metrics": [
                        {"key": "a", "value": 1.5, "timestamp": 10, "step": 0},
                        {"key": "b", "value": wire(value), "timestamp": 10, "step": 0},
                        {"key": "h", "value": 1.0, "timestamp": 10, "step": 0},
                        {"key": "h", "value": wire(value), "timestamp": 11, "step": 1},
                        {"key": "h", "value": 2.0, "timestamp": 12, "step": 2},
                        {"key": "l", "value": "Infinity", "timestamp": 10, "step": 0},
                        {"key": "mb", "value": wire(value), "timestamp": 10, "step": 0, "model_id": model_id},
                    ],
                },
            )
        )
        # the latest of "l" and "z" replaced in a later request, by log-batch and log-metric
        ok(
            post(
                client,
                "runs/log-batch",
                {"run_id": rid, "metrics": [{"key": "l", "value": wire(value), "timestamp": 10, "step": 1}]},
            )
        )
        ok(post(client, "runs/log-metric", {"run_id": rid, "key": "z", "value": -0.0, "timestamp": 10, "step": 0}))
        ok(
            post(
                client, "runs/log-metric", {"run_id": rid, "key": "z", "value": wire(value), "timestamp": 10, "step": 1}
            )
        )
    return eid, runs, model_id


LATEST_KEYS = ("v", "b", "l", "z")  # each one's latest value is the run's special value


def _check_run(run: dict, name: str, where: str) -> None:
    metrics = {m["key"]: m for m in run["data"]["metrics"]}
    assert sorted(metrics) == sorted(("a", "h") + LATEST_KEYS + ("mv", "mb"))
    for key in LATEST_KEYS + ("mv", "mb"):
        check(metrics[key]["value"], name, f"{where} {key}")
    assert metrics["a"]["value"] == 1.5 and metrics["h"]["value"] == 2.0 and metrics["h"]["step"] == 2


def test_runs_get_returns_every_double_exactly(client, logged):
    _, runs, _ = logged
    for name, rid in runs.items():
        for root in (None, AJAX):
            body = ok(
                get(client, "runs/get", run_id=rid) if root is None else get(client, "runs/get", root=root, run_id=rid)
            )
            _check_run(body["run"], name, "runs/get")


def test_runs_search_returns_every_double_exactly(client, logged):
    eid, runs, _ = logged
    by_id = {rid: name for name, rid in runs.items()}
    plain = ok(post(client, "runs/search", {"experiment_ids": [eid]}))["runs"]
    assert len(plain) == len(SPECIALS)
    for run in plain:
        _check_run(run, by_id[run["info"]["run_id"]], "runs/search")
    for key in ("v", "b", "l", "z"):
        for ascending in (False, True):
            # the metric-order walk: values in SQL's order (infinities as the largest doubles, tied
            # with them; ties by start_time DESC), NaN last
            found = ok(
                post(
                    client,
                    "runs/search",
                    {"experiment_ids": [eid], "order_by": [f"metrics.{key} {'ASC' if ascending else 'DESC'}"]},
                )
            )
            names = [by_id[r["info"]["run_id"]] for r in found["runs"]]
            numbers = [(n, name) for n, (name, value) in enumerate(SPECIALS) if not math.isnan(value)]
            sign = 1 if ascending else -1
            expected = [name for n, name in sorted(numbers, key=lambda p: (sign * stored_order(VALUE[p[1]]), -p[0]))]
            assert names == expected + ["nan"], (key, ascending)
            for run in found["runs"]:
                _check_run(run, by_id[run["info"]["run_id"]], f"runs/search by {key}")
    # a page of one: the walk's single-statement path
    top = ok(post(client, "runs/search", {"experiment_ids": [eid], "order_by": ["metrics.v DESC"], "max_results": 1}))
    assert [by_id[r["info"]["run_id"]] for r in top["runs"]] == ["inf"]
    _check_run(top["runs"][0], "inf", "runs/search top 1")


def test_search_filters_treat_infinities_as_the_largest_doubles(client, logged):
    eid, runs, _ = logged

    def names(flt):
        found = ok(post(client, "runs/search", {"experiment_ids": [eid], "filter": flt})).get("runs", [])
        return sorted(next(n for n, rid in runs.items() if rid == r["info"]["run_id"]) for r in found)

    assert names("metrics.v > 1e308") == ["inf", "max"]
    assert names("metrics.v < -1e308") == ["neg-inf", "neg-max"]
    assert names("metrics.v = 0") == ["neg-zero", "zero"]  # -0.0 == 0.0, as doubles compare
    assert names("metrics.v > 0") == ["inf", "max", "max-subnormal", "min-normal", "min-subnormal", "tenth-sum"]
    assert names("metrics.v < 0") == ["neg-inf", "neg-max", "neg-min-normal", "neg-min-subnormal"]


def _history(client, rid, key, root=None):
    params = {"run_id": rid, "metric_key": key}
    body = ok(
        get(client, "metrics/get-history", **params)
        if root is None
        else get(client, "metrics/get-history", root=root, **params)
    )
    return body.get("metrics", [])


def test_get_history_returns_every_double_exactly(client, logged):
    _, runs, _ = logged
    for name, rid in runs.items():
        for key in ("v", "b", "mv", "mb"):
            points = _history(client, rid, key)
            assert len(points) == 1
            check(points[0]["value"], name, f"get-history {key}")
        h = _history(client, rid, "h", root=AJAX)
        assert [p["step"] for p in h] == [0, 1, 2] and h[0]["value"] == 1.0 and h[2]["value"] == 2.0
        check(h[1]["value"], name, "get-history h")
        first, second = _history(client, rid, "l")
        assert first["value"] == "Infinity" and first["step"] == 0
        check(second["value"], name, "get-history l")
        first, second = _history(client, rid, "z")
        assert same(unwire(first["value"]), -0.0)
        check(second["value"], name, "get-history z")
    # paged: the same values page by page
    rid = runs["neg-zero"]
    page = ok(get(client, "metrics/get-history", run_id=rid, metric_key="h", max_results=1, page_token=_token(1)))[
        "metrics"
    ]
    check(page[0]["value"], "neg-zero", "get-history page")


def _token(offset: int) -> str:
    import base64

    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def test_get_history_bulk_interval_returns_every_double_exactly(client, logged):
    _, runs, _ = logged
    by_id = {rid: name for name, rid in runs.items()}
    ids = list(runs.values())
    for key in ("v", "b", "l", "z", "h"):
        for max_results in (None, 2):
            params = [("run_ids", rid) for rid in ids] + [("metric_key", key)]
            if max_results:
                params.append(("max_results", str(max_results)))
            body = ok(client.get(f"{AJAX}/{BULK}", query_string=params))
            points = body["metrics"]
            per_run: dict = {}
            for p in points:
                per_run.setdefault(p["run_id"], []).append(p)
            assert list(per_run) == ids
            for rid, got in per_run.items():
                name = by_id[rid]
                # the special value is at step 1 of "l", "z", "h" (the latter sampled to its first and
                # last rows with max_results=2) and the only point of "v" and "b"
                at = {p["step"]: p["value"] for p in got}
                if key in ("v", "b"):
                    check(at[0], name, f"bulk {key}")
                elif key in ("l", "z"):
                    check(at[1], name, f"bulk {key}")
                    assert same(unwire(at[0]), math.inf if key == "l" else -0.0)
                elif max_results is None:
                    check(at[1], name, "bulk h")


def test_logged_model_metrics_return_every_double_exactly(client, logged):
    eid, runs, model_id = logged
    by_id = {rid: name for name, rid in runs.items()}

    def check_model(model, where):
        metrics = model["data"]["metrics"]
        assert len(metrics) == 2 * len(SPECIALS)
        for m in metrics:
            assert m["model_id"] == model_id and m["key"] in ("mv", "mb")
            check(m["value"], by_id[m["run_id"]], f"{where} {m['key']}")

    check_model(ok(client.get(f"/api/2.0/mlflow/logged-models/{model_id}"))["model"], "logged-models/get")
    found = ok(post(client, "logged-models/search", {"experiment_ids": [eid]}))["models"]
    assert len(found) == 1
    check_model(found[0], "logged-models/search")
    ordered = ok(
        post(
            client,
            "logged-models/search",
            {"experiment_ids": [eid], "order_by": [{"field_name": "metrics.mv", "ascending": False}]},
        )
    )["models"]
    check_model(ordered[0], "logged-models/search by metric")


def test_stored_form(client, logged, registry_db):
    """The orderable column holds what SQL compares (infinities as +/-FLOAT_MAX, -0.0 as 0.0, NaN
    as 0); ``value_bits`` is set exactly where that differs from the logged double."""
    from registry_core.models import LatestMetric, LoggedModelMetric, Metric

    _, runs, _ = logged
    by_id = {rid: name for name, rid in runs.items()}
    for model, run_column in (
        (Metric, Metric.run),
        (LatestMetric, LatestMetric.run),
        (LoggedModelMetric, LoggedModelMetric.run_id),
    ):
        key = {Metric: "v", LatestMetric: "v", LoggedModelMetric: "mv"}[model]
        rows = model.select(run_column, model.value, model.is_nan, model.value_bits).where(model.key == key).tuples()
        rows = list(rows)
        assert len(rows) == len(SPECIALS)
        for rid, value, is_nan, value_bits in rows:
            logged_value = VALUE[by_id[rid]]
            assert bool(is_nan) == math.isnan(logged_value)
            if math.isnan(logged_value):
                assert value == 0 and value_bits is None
                continue
            assert value == stored_order(logged_value) and math.copysign(1.0, value) == (
                -1.0 if logged_value < 0 else 1.0
            ), (model, by_id[rid], value)
            if math.isinf(logged_value) or same(logged_value, -0.0):
                assert value_bits == bits(logged_value), (model, by_id[rid])
            else:
                assert value_bits is None, (model, by_id[rid])
    # the finite value that replaced an infinity as the latest cleared its bits
    latest = dict(
        LatestMetric.select(LatestMetric.run, LatestMetric.value_bits).where(LatestMetric.key == "l").tuples()
    )
    assert latest[runs["max"]] is None and latest[runs["neg-zero"]] == bits(-0.0)
    assert latest[runs["inf"]] == bits(math.inf)
