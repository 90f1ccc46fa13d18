"""Search over candidates: every filter and ordering runs in SQL.

Each metric/param/tag clause becomes a semi-join on its own alias of the (run, key)-keyed table,
so the database uses the primary-key indexes; orderings on metrics/params/tags are LEFT JOINs that
place missing values (and NaN metrics) last whatever the direction, as MLflow does. Ties are broken
by start_time DESC then run id, so pages are stable.
"""
from __future__ import annotations

import peewee as pw

from registry_core import validation as v
from registry_core.candidates import _RUN_FIELDS, load_runs
from registry_core.entities import Page
from registry_core.errors import InvalidInput
from registry_core.models import Dataset, Input, InputTag, LatestMetric, Param, Run, Tag
from registry_core.search_ast import Comparison, OrderKey
from registry_core.sqlutil import compare, has_row

ATTRIBUTE_COLUMNS = {
    "run_id": Run.run_uuid,
    "run_name": Run.name,
    "status": Run.status,
    "user_id": Run.user_id,
    "artifact_uri": Run.artifact_uri,
    "start_time": Run.start_time,
    "end_time": Run.end_time,
    "lifecycle_stage": Run.lifecycle_stage,
    "experiment_id": Run.experiment,
}
_KEYED = {"metric": LatestMetric, "param": Param, "tag": Tag}
_VIEW_STAGES = {"ACTIVE_ONLY": ("active",), "DELETED_ONLY": ("deleted",), "ALL": ("active", "deleted")}
DATASET_CONTEXT_TAG = "mlflow.data.context"


def _clause(n: int, c: Comparison):
    """A condition on Run for one comparison."""
    if c.kind == "attribute":
        column = ATTRIBUTE_COLUMNS.get(c.key)
        if column is None:
            raise InvalidInput(f"Invalid attribute key '{c.key}' specified.")
        return compare(column, c.op, c.value)
    if c.kind in _KEYED:
        # Correlated on the (run, key) primary key: one index probe per run of the searched
        # experiments, whatever the size of the other experiments.
        model = _KEYED[c.kind].alias(f"f{n}")
        cond = model.key == c.key
        if c.op == "IS NULL":
            return has_row(model, model.run, Run.run_uuid, cond, negate=True)
        if c.op != "IS NOT NULL":
            value = c.value
            if c.kind == "metric":
                # NaN is stored as value 0 with is_nan: it satisfies "!=" and nothing else (MLflow).
                value_cond = compare(model.value, c.op, float(value))
                if c.op == "!=":
                    cond &= value_cond | (model.is_nan == True)  # noqa: E712
                else:
                    cond &= value_cond & (model.is_nan == False)  # noqa: E712
            else:
                cond &= compare(model.value, c.op, value)
        return has_row(model, model.run, Run.run_uuid, cond)
    if c.kind == "dataset":
        if c.key == "context":
            tag = InputTag.alias(f"f{n}")
            sub = (
                Input.select(Input.run)
                .join(tag, on=(tag.input == Input.input_uuid))
                .where((tag.name == DATASET_CONTEXT_TAG) & compare(tag.value, c.op, c.value))
            )
        else:
            column = {"name": Dataset.name, "digest": Dataset.digest}.get(c.key)
            if column is None:
                raise InvalidInput(f"Invalid dataset key '{c.key}' specified.")
            sub = Input.select(Input.run).join(Dataset).where(compare(column, c.op, c.value))
        return Run.run_uuid.in_(sub)
    raise InvalidInput(f"Invalid search expression type '{c.kind}'")


def _ordering(query, order: list[OrderKey]):
    clauses = []
    seen = set()
    for n, o in enumerate(order):
        if (o.kind, o.key) in seen:
            raise InvalidInput(f"`order_by` contains duplicate fields: {[f'{x.kind}.{x.key}' for x in order]}")
        seen.add((o.kind, o.key))
        if o.kind == "attribute":
            column = ATTRIBUTE_COLUMNS.get(o.key)
            if column is None:
                raise InvalidInput(f"Invalid order_by key '{o.key}' specified.")
            clauses.append(pw.Case(None, [(column.is_null(), 1)], 0))
        elif o.kind in _KEYED:
            model = _KEYED[o.kind].alias(f"o{n}")
            query = query.join(
                model, pw.JOIN.LEFT_OUTER, on=((model.run == Run.run_uuid) & (model.key == o.key))
            )
            column = model.value
            if o.kind == "metric":
                clauses.append(pw.Case(None, [(model.is_nan == True, 1), (column.is_null(), 2)], 0))  # noqa: E712
            else:
                clauses.append(pw.Case(None, [(column.is_null(), 1)], 0))
        else:
            raise InvalidInput(f"Invalid order_by entity type '{o.kind}'")
        clauses.append(column.asc() if o.ascending else column.desc())
    if ("attribute", "start_time") not in seen:
        clauses.append(Run.start_time.desc())
    clauses.append(Run.run_uuid.asc())
    return query.order_by(*clauses)


def search(
    experiment_ids: list,
    comparisons: list[Comparison],
    view_type: str,
    order: list[OrderKey],
    max_results: int,
    offset: int,
) -> Page:
    ids = [v.experiment_id(e) for e in experiment_ids]
    if not ids:
        return Page([], None)
    stages = _VIEW_STAGES.get(view_type)
    if stages is None:
        raise InvalidInput(f"Invalid value {view_type} for parameter 'run_view_type' supplied.")
    query = Run.select(*_RUN_FIELDS).where(Run.experiment.in_(ids) & Run.lifecycle_stage.in_(stages))
    for n, c in enumerate(comparisons):
        query = query.where(_clause(n, c))
    query = _ordering(query, order).offset(offset).limit(max_results + 1)
    rows = list(query.tuples())
    next_offset = offset + max_results if len(rows) > max_results else None
    return Page(load_runs(rows[:max_results]), next_offset)
