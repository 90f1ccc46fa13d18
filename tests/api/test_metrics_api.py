"""metrics/get-history and metrics/get-history-bulk-interval through the Flask test client.

The bulk-interval sampling is compared point for point with MLflow 3.17.2's own algorithm
(``SqlAlchemyStore._sample_rows_with_window_functions``), run on an in-memory SQLite database
through SQLAlchemy with MLflow's ``SqlMetric`` model.
"""

from __future__ import annotations

import base64
import json
import math
from urllib.parse import urlencode

import pytest

from tests.api.wire import AJAX, error, get, ok, post

BULK = "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval"
FLOAT_MAX = 1.7976931348623157e308


# --- helpers --------------------------------------------------------------------------------


def new_run(client, experiment_id, name) -> str:
    return ok(post(client, "runs/create", {"experiment_id": experiment_id, "run_name": name, "start_time": 1}))["run"][
        "info"
    ]["run_id"]


def wire(value) -> float | str:
    """A logged value as protobuf JSON renders it."""
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def log_points(client, run_id, key, points):
    """points: (value, timestamp, step), logged in batches of at most 1000."""
    for start in range(0, len(points), 1000):
        chunk = points[start : start + 1000]
        ok(
            post(
                client,
                "runs/log-batch",
                {
                    "run_id": run_id,
                    "metrics": [{"key": key, "value": wire(v), "timestamp": ts, "step": step} for v, ts, step in chunk],
                },
            )
        )


def _order_value(value):
    """The value a SQL store sorts on: NaN is stored as 0, infinities as +/- FLOAT_MAX."""
    if math.isnan(value):
        return 0.0
    if math.isinf(value):
        return FLOAT_MAX if value > 0 else -FLOAT_MAX
    return value


# --- get-history --------------------------------------------------------------------------------


def test_get_history_order_and_pages(client):
    eid = ok(post(client, "experiments/create", {"name": "history"}))["experiment_id"]
    rid = new_run(client, eid, "h")
    points = [
        (3.0, 10, 2),
        (1.0, 10, 2),
        (5.0, 5, 9),
        (2.0, 10, 1),
        (math.nan, 20, 0),
        (math.inf, 1, 0),
        (-math.inf, 1, 1),
        (0.5, 30, -4),
        (7.0, 30, -4),
        (4.0, 10, 2),
    ]
    # 13 more on one timestamp, ordered by step then value
    points += [(float(n % 4), 40, n // 2) for n in range(13)]
    # logged in a scrambled order, partly one by one
    scrambled = points[::2] + points[1::2]
    for value, ts, step in scrambled[:5]:
        ok(
            post(
                client,
                "runs/log-metric",
                {"run_id": rid, "key": "m", "value": wire(value), "timestamp": ts, "step": step},
            )
        )
    log_points(client, rid, "m", scrambled[5:])
    expected = [(wire(v), ts, step) for v, ts, step in sorted(points, key=lambda p: (p[1], p[2], _order_value(p[0])))]
    assert len(expected) == 23

    def fetch(metric_key="m", **params):
        body = ok(get(client, "metrics/get-history", metric_key=metric_key, **params))
        for m in body.get("metrics", []):
            assert m["key"] == metric_key
            assert isinstance(m["timestamp"], int) and isinstance(m["step"], int)
        return [(m["value"], m["timestamp"], m["step"]) for m in body.get("metrics", [])], body

    full, body = fetch(run_id=rid)
    assert full == expected and "next_page_token" not in body
    assert fetch(run_uuid=rid)[0] == expected
    assert fetch(run_id=rid, run_uuid=rid)[0] == expected
    assert ok(get(client, "metrics/get-history", root=AJAX, run_id=rid, metric_key="m"))["metrics"] == body["metrics"]
    # MLflow's client pages with max_results=25000
    assert fetch(run_id=rid, max_results=25000)[0] == expected

    # paging through every page with max_results + page_token
    for size, n_pages in ((5, 5), (1, 23), (22, 2), (23, 1)):
        seen, token, pages = [], None, 0
        while True:
            params = {"run_id": rid, "max_results": size}
            if token:
                params["page_token"] = token
            page, body = fetch(**params)
            pages += 1
            assert len(page) <= size
            seen.extend(page)
            token = body.get("next_page_token")
            if not token:
                break
            assert json.loads(base64.b64decode(token)) == {"offset": len(seen)}
        assert (seen, pages) == (expected, n_pages)

    # unknown key: an empty history; other runs' points never leak in
    other = new_run(client, eid, "other")
    log_points(client, other, "m", [(99.0, 10, 2)])
    assert fetch(run_id=rid, metric_key="nothing")[0] == []
    assert fetch(run_id=rid)[0] == expected
    assert fetch(run_id=other)[0] == [(99.0, 10, 2)]

    # errors
    error(
        get(client, "metrics/get-history", run_id="0" * 32, metric_key="m"),
        404,
        "RESOURCE_DOES_NOT_EXIST",
        f"Run with id={'0' * 32} not found",
    )
    error(get(client, "metrics/get-history", run_id=rid), 400, "INVALID_PARAMETER_VALUE", "metric_key")
    error(get(client, "metrics/get-history", metric_key="m"), 400, "INVALID_PARAMETER_VALUE", "run_id")
    error(
        get(client, "metrics/get-history", run_id=rid, metric_key="m", max_results=0),
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results",
    )
    error(
        get(client, "metrics/get-history", run_id=rid, metric_key="m", max_results=-1),
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results",
    )
    error(
        get(client, "metrics/get-history", run_id=rid, metric_key="m", max_results="ten"),
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results",
    )
    error(
        get(client, "metrics/get-history", run_id=rid, metric_key="m", page_token="nope"),
        400,
        "INVALID_PARAMETER_VALUE",
        "Invalid page token",
    )
    error(post(client, "metrics/get-history", {"run_id": rid, "metric_key": "m"}), 405, "BAD_REQUEST")


# --- get-history-bulk-interval -------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_sampler():
    """MLflow's sampler on its own SQLAlchemy metric model (in-memory SQLite)."""
    from mlflow.store.tracking.dbmodels.models import SqlMetric
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    def sample(points, max_results, start_step=None, end_step=None):
        engine = create_engine("sqlite://")
        SqlMetric.__table__.create(engine)
        with Session(engine) as session:
            session.add_all(
                [
                    SqlMetric(
                        run_uuid="r", key="m", value=_order_value(v), timestamp=ts, step=step, is_nan=math.isnan(v)
                    )
                    for v, ts, step in points
                ]
            )
            session.flush()
            filters = [SqlMetric.run_uuid == "r", SqlMetric.key == "m"]
            if start_step is not None:
                filters += [SqlMetric.step >= start_step, SqlMetric.step <= end_step]
            order_by = [SqlMetric.step, SqlMetric.timestamp, SqlMetric.value, SqlMetric.is_nan]
            rows = SqlAlchemyStore._sample_rows_with_window_functions(
                None, session, filters, order_by, max(1, max_results)
            )
            out = []
            for row in rows:
                value = math.nan if row.is_nan else row.value
                if value >= FLOAT_MAX:
                    value = math.inf
                elif value <= -FLOAT_MAX:
                    value = -math.inf
                out.append((wire(value), row.timestamp, row.step))
        engine.dispose()
        return out

    return sample


def _bulk(client, run_ids, key="m", root=BULK, **params):
    query = urlencode(
        [("run_ids", r) for r in run_ids] + [("metric_key", key)] + [(k, str(val)) for k, val in params.items()]
    )
    return client.get(f"{root}?{query}")


def test_get_history_bulk_interval(client, mlflow_sampler):
    eid = ok(post(client, "experiments/create", {"name": "bulk"}))["experiment_id"]
    series = {
        # one point per step
        "steps": [(step / 10, 1000 + step, step) for step in range(100)],
        # a short history
        "short": [(float(n), n, n * 3) for n in range(7)],
        # everything on step 0 (log_metric without a step): sampled by row, not by step
        "flat": [(float(n % 5), 5000 - n, 0) for n in range(50)],
        # several points per step, NaN and infinities, logged out of order
        "mixed": [
            ((math.nan, math.inf, -math.inf, 1.0, 2.0, -3.0)[n % 6], 100 + (n * 7) % 11, n // 3) for n in range(40)
        ][::-1],
        # a long one
        "long": [(math.sin(n), n, n) for n in range(3000)],
        # uneven runs of repeated steps, negative and very large steps, gaps: sampled positions
        # fall inside runs of one step, where timestamp and value decide
        "groups": [
            (float((n * 37) % 11) - 5.0, 7000 - (n * 13) % 17, step)
            for n, step in enumerate(
                [-(2**40)] * 5
                + [-3]
                + [0] * 7
                + [1, 2]
                + [9] * 13
                + [2**53 + 1] * 2
                + [10**12 + k for k in range(40)]
                + [2**62] * 9
            )
        ][::-1],
    }
    runs = {}
    for name, points in series.items():
        runs[name] = new_run(client, eid, name)
        log_points(client, runs[name], "m", points)

    def fetch(names, **params):
        body = ok(_bulk(client, [runs[n] for n in names], **params))
        got = {n: [] for n in names}
        order = []
        by_id = {runs[n]: n for n in names}
        for m in body.get("metrics", []):
            assert m["key"] == "m"
            name = by_id[m["run_id"]]
            if not order or order[-1] != name:
                order.append(name)
            got[name].append((m["value"], m["timestamp"], m["step"]))
        assert order == [n for n in names if got[n]]  # grouped by run, in the request's order
        return got

    for max_results in (1, 2, 3, 7, 10, 64, 99, 100, 101):
        got = fetch(list(series), max_results=max_results)
        for name, points in series.items():
            sampled = got[name]
            assert sampled == mlflow_sampler(points, max_results), (name, max_results)
            assert len(sampled) == min(max_results, len(points))
            ordered = sorted(points, key=lambda p: (p[2], p[1], _order_value(p[0])))
            last = ordered[-1]
            assert sampled[-1] == (wire(last[0]), last[1], last[2])  # always the last point
            if max_results > 1:
                first = ordered[0]
                assert sampled[0] == (wire(first[0]), first[1], first[2])  # and the first
            assert sampled == sorted(sampled, key=lambda p: (p[2], p[1]))

    # default max_results: 2500 per run
    got = fetch(["long", "steps"])
    assert got["long"] == mlflow_sampler(series["long"], 2500) and len(got["long"]) == 2500
    assert got["steps"] == [(v, ts, step) for v, ts, step in series["steps"]]

    # a step window
    for start, end, max_results in ((10, 19, 100), (10, 59, 7), (0, 0, 5), (5, 5, 2), (200, 300, 5)):
        got = fetch(["steps", "flat", "mixed"], start_step=start, end_step=end, max_results=max_results)
        for name in ("steps", "flat", "mixed"):
            assert got[name] == mlflow_sampler(series[name], max_results, start, end), (name, start, end)
            assert all(start <= step <= end for _, _, step in got[name])
    assert [p[2] for p in fetch(["steps"], start_step=10, end_step=19, max_results=100)["steps"]] == list(range(10, 20))

    # repeated run ids, an unknown key, the other mounts
    assert ok(_bulk(client, [runs["short"]], key="nothing")).get("metrics", []) == []
    both = ok(_bulk(client, [runs["short"], runs["steps"]], max_results=3))["metrics"]
    assert [m["run_id"] for m in both] == [runs["short"]] * 3 + [runs["steps"]] * 3
    v211 = ok(
        _bulk(
            client,
            [runs["short"], runs["steps"]],
            root="/api/2.11/mlflow/metrics/get-history-bulk-interval",
            max_results=3,
        )
    )["metrics"]
    assert v211 == both

    # errors
    error(
        _bulk(client, [f"{n:032x}" for n in range(101)]),
        400,
        "INVALID_PARAMETER_VALUE",
        "GetMetricHistoryBulkInterval request must specify at most 100 run_ids. Received 101 run_ids.",
    )
    ok(_bulk(client, [runs["short"]] * 100, max_results=1))
    error(_bulk(client, []), 400, "INVALID_PARAMETER_VALUE", "run_id")
    error(client.get(f"{BULK}?run_ids={runs['short']}"), 400, "INVALID_PARAMETER_VALUE", "metric_key")
    # a run that does not exist has no points, as in MLflow
    assert ok(_bulk(client, [runs["short"], "f" * 32])) == ok(_bulk(client, [runs["short"]]))
    error(
        _bulk(client, [runs["short"]], start_step=3),
        400,
        "INVALID_PARAMETER_VALUE",
        "If either start step or end step are specified, both must be specified.",
    )
    error(
        _bulk(client, [runs["short"]], end_step=3),
        400,
        "INVALID_PARAMETER_VALUE",
        "If either start step or end step are specified, both must be specified.",
    )
    error(
        _bulk(client, [runs["short"]], start_step=5, end_step=3),
        400,
        "INVALID_PARAMETER_VALUE",
        "end_step must be greater than start_step. Found start_step=5 and end_step=3.",
    )
    error(
        _bulk(client, [runs["short"]], max_results=0),
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results must be between 1 and 2500.",
    )
    error(
        _bulk(client, [runs["short"]], max_results=2501),
        400,
        "INVALID_PARAMETER_VALUE",
        "max_results must be between 1 and 2500.",
    )
    error(_bulk(client, [runs["short"]], max_results="many"), 400, "INVALID_PARAMETER_VALUE", "max_results")
    error(_bulk(client, [runs["short"]], start_step="a", end_step=3), 400, "INVALID_PARAMETER_VALUE", "start_step")


def test_bulk_interval_when_the_aggregated_steps_are_cut(client, mlflow_sampler, registry_db):
    """The sampler reads a run's steps as one aggregated value; where the database cuts it short
    (MySQL's group_concat_max_len), the steps are read row by row instead and the sample is
    still MLflow's."""
    from registry_core.db import dialect

    eid = ok(post(client, "experiments/create", {"name": "bulk-cut"}))["experiment_id"]
    cases = [
        # the cut drops numbers: "1,2,3,10,20," of 15 steps
        (
            12,
            [(float(n), 100 + n, step) for n, step in enumerate([1, 10, 100, 1000, 10000, 2, 20, 200, 3, 30])]
            + [(float(n), 50, 100) for n in range(5)],
        ),
        # the cut falls inside the last number ("0,1,...,9,12" of "...,9,12345"): as many
        # numbers as rows, the last one wrong
        (22, [(float(n), 100 + n, step) for n, step in enumerate(list(range(10)) + [12345])]),
    ]
    for limit, points in cases:
        if dialect(registry_db) == "mysql":  # the test thread's pooled connection serves the requests
            registry_db.connect(reuse_if_open=True)
            registry_db.execute_sql(f"SET SESSION group_concat_max_len = {limit}")
        rid = new_run(client, eid, f"cut-{limit}")
        log_points(client, rid, "m", points)
        for max_results in (1, 3, 4, 7, 100):
            body = ok(_bulk(client, [rid], max_results=max_results))
            got = [(m["value"], m["timestamp"], m["step"]) for m in body["metrics"]]
            assert got == mlflow_sampler(points, max_results), (limit, max_results)
