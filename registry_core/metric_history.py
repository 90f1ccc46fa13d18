"""Metric history: paged full history, and MLflow's sampled bulk-interval view."""
from __future__ import annotations

import peewee as pw

from registry_core import validation as v
from registry_core.candidates import _run_row
from registry_core.entities import MetricPoint, Page
from registry_core.errors import InvalidInput
from registry_core.models import Metric

MAX_RESULTS_GET_METRIC_HISTORY = 25000
MAX_RUNS_BULK_INTERVAL = 100
MAX_RESULTS_PER_RUN = 2500


def history_rows(run_id: str, key: str, max_results: int | None, offset: int) -> Page:
    """One page of ``(value, timestamp, step)`` tuples ordered as MLflow orders them
    (timestamp, step, value); values as logged (NaN and infinities restored). Tuples, not
    objects: a page holds up to 25,000 points."""
    if not run_id:
        raise InvalidInput("Missing value for required parameter 'run_id'.")
    _run_row(run_id)
    query = (
        Metric.select(Metric.value, Metric.timestamp, Metric.step, Metric.is_nan)
        .where((Metric.run == run_id) & (Metric.key == key))
        .order_by(Metric.timestamp, Metric.step, Metric.value)
        .offset(offset)
    )
    if max_results is not None:
        query = query.limit(max_results + 1)
    stored, top = v.stored_metric_value, v.FLOAT_MAX
    rows = [
        (stored(value, nan) if nan or not -top < value < top else value, ts, step)
        for value, ts, step, nan in query.tuples().iterator()
    ]
    next_offset = None
    if max_results is not None and len(rows) > max_results:
        rows.pop()
        next_offset = offset + max_results
    return Page(rows, next_offset)


def history(run_id: str, key: str, max_results: int | None, offset: int) -> Page:
    """As ``history_rows``, as MetricPoints."""
    page = history_rows(run_id, key, max_results, offset)
    return Page([MetricPoint(key, value, ts, step, run_id) for value, ts, step in page.items], page.next_offset)


def bulk_interval(run_ids: list[str], key: str, max_results: int, start_step, end_step) -> list[MetricPoint]:
    """Up to ``max_results`` points per run, evenly sampled over its ordered history (one row
    per NTILE bucket, in SQL), always keeping the last point, as MLflow 3 samples it."""
    if (start_step is None) != (end_step is None):
        raise InvalidInput("If either start step or end step are specified, both must be specified.")
    if start_step is not None and start_step > end_step:
        raise InvalidInput(
            "end_step must be greater than start_step. "
            f"Found start_step={start_step} and end_step={end_step}."
        )
    max_results = max(1, max_results)
    for run_id in run_ids:
        _run_row(run_id)
    out: list[MetricPoint] = []
    for run_id in run_ids:
        out.extend(_sample_run(run_id, key, max_results, start_step, end_step))
    return out


def _ntile_firsts(total: int, buckets: int) -> list[int]:
    """Indices of the first row of each NTILE(buckets) bucket over ``total`` ordered rows: the
    first ``total % buckets`` buckets hold one row more, as SQL's NTILE assigns them."""
    if total <= buckets:
        return list(range(total))
    size, extra = divmod(total, buckets)
    return [b * size + min(b, extra) for b in range(buckets)]


def _sample_run(run_id, key, max_results, start_step, end_step) -> list[MetricPoint]:
    """MLflow's sampling (one row per NTILE bucket of the ordered history, then the last row),
    computed from the row count: one COUNT on the (run, key, step) index, then one numbered
    pass in SQL returning only the chosen rows, instead of two window functions and a sort."""
    cond = (Metric.run == run_id) & (Metric.key == key)
    if start_step is not None:
        cond &= (Metric.step >= start_step) & (Metric.step <= end_step)
    total = Metric.select(pw.fn.COUNT(pw.SQL("*"))).where(cond).scalar() or 0
    if not total:
        return []
    picks = _ntile_firsts(total, max_results)
    wanted = sorted(set(picks) | {total - 1})
    numbered = (
        Metric.select(
            Metric.value, Metric.timestamp, Metric.step, Metric.is_nan,
            pw.fn.ROW_NUMBER().over(order_by=[Metric.step, Metric.timestamp, Metric.value, Metric.is_nan]).alias("rn"),
        )
        .where(cond)
        .alias("numbered")
    )
    chosen = {
        rn - 1: (value, ts, step, nan)
        for value, ts, step, nan, rn in pw.Select([numbered], [
            numbered.c.value, numbered.c.timestamp, numbered.c.step, numbered.c.is_nan, numbered.c.rn,
        ]).where(numbered.c.rn.in_([i + 1 for i in wanted])).bind(Metric._meta.database).tuples()
    }
    rows = [chosen[i] for i in picks]
    last = chosen[total - 1]
    if not rows or _norm(rows[-1]) != _norm(last):
        if len(rows) >= max_results:
            rows[-1] = last
        else:
            rows.append(last)
    stored = v.stored_metric_value
    return [MetricPoint(key, stored(val, bool(nan)), ts, step, run_id) for val, ts, step, nan in rows]


def _norm(row):
    value, ts, step, nan = row
    return (step, ts, None if nan else value, bool(nan))
