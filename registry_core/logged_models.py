"""Logged models (MLflow 3): candidate models with their own artifacts, params, tags and metrics.

A logged model is created PENDING by ``log_model``, receives its files in the artifact store
under ``<experiment artifact location>/models/<model_id>/artifacts``, then is finalized READY.
"""

from __future__ import annotations

import uuid

import peewee as pw

from registry_core import validation as v
from registry_core.clock import now_ms
from registry_core.db import database
from registry_core.entities import LoggedModelView
from registry_core.errors import InvalidInput, NotFound
from registry_core.lifecycle import ACTIVE, DELETED
from registry_core.models import (
    Experiment,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelParam,
    LoggedModelTag,
)
from registry_core.names import random_run_name
from registry_core.search_ast import Comparison
from registry_core.sqlutil import compare, compare_double, has_row, insert_ignore, upsert

STATUSES = (
    "LOGGED_MODEL_STATUS_UNSPECIFIED",
    "LOGGED_MODEL_PENDING",
    "LOGGED_MODEL_READY",
    "LOGGED_MODEL_UPLOAD_FAILED",
)
DEFAULT_MAX_RESULTS = 50
_BAD_NAME_CHARS = set("/:.%\"'")


def status_name(value) -> str:
    """A status from its proto name, its short name (READY) or its enum number."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(STATUSES):
        return STATUSES[value]
    if isinstance(value, str):
        text = value.strip().upper()
        if text.isdigit() and int(text) < len(STATUSES):
            return STATUSES[int(text)]
        for name in STATUSES:
            if text in (name, name.replace("LOGGED_MODEL_", "")) or (text == "FAILED" and name.endswith("FAILED")):
                return name
    raise InvalidInput(f"Invalid logged model status: {value!r}")


def _models_location(experiment_location: str, model_id: str) -> str:
    base = (experiment_location or "").rstrip("/")
    if base.endswith(":"):
        return f"{base}/models/{model_id}/artifacts"
    return f"{base}/models/{model_id}/artifacts"


def _validate_name(name: str | None) -> None:
    if name is None:
        return
    if name == "" or any(ch in _BAD_NAME_CHARS for ch in name):
        raise InvalidInput(
            f"Invalid model name ('{name}') provided. Model name must be a non-empty string and "
            "cannot contain the following characters: ('/', ':', '.', '%', '\"', \"'\")"
        )


def create(experiment_id, name, source_run_id, tags, params, model_type) -> LoggedModelView:
    _validate_name(name)
    eid = v.experiment_id(experiment_id)
    exp = (
        Experiment.select(Experiment.lifecycle_stage, Experiment.artifact_location)
        .where(Experiment.experiment_id == eid)
        .tuples()
        .first()
    )
    if exp is None:
        raise NotFound(f"No Experiment with id={eid} exists")
    if exp[0] != ACTIVE:
        raise InvalidInput(f"The experiment {eid} must be in the 'active' state. Current state is {exp[0]}.")
    model_id = "m-" + uuid.uuid4().hex
    now = now_ms()
    with database.atomic():
        LoggedModel.insert(
            model_id=model_id,
            experiment=eid,
            name=name or random_run_name(),
            artifact_location=_models_location(exp[1], model_id),
            creation_timestamp=now,
            last_updated_timestamp=now,
            status="LOGGED_MODEL_PENDING",
            lifecycle_stage=ACTIVE,
            model_type=model_type or None,
            source_run_id=source_run_id or None,
        ).execute()
        _write_tags(model_id, tags)
        _write_params(model_id, params)
    return get(model_id)


def _write_tags(model_id: str, tags) -> None:
    latest = {k: ("" if val is None else str(val)) for k, val in (tags or [])}
    upsert(
        LoggedModelTag,
        [{"logged_model": model_id, "key": k, "value": val} for k, val in latest.items()],
        [LoggedModelTag.logged_model, LoggedModelTag.key],
        [LoggedModelTag.value],
    )


def _write_params(model_id: str, params) -> None:
    latest = {k: v.param_value(val) for k, val in (params or [])}
    upsert(
        LoggedModelParam,
        [{"logged_model": model_id, "key": k, "value": val} for k, val in latest.items()],
        [LoggedModelParam.logged_model, LoggedModelParam.key],
        [LoggedModelParam.value],
    )


def _row(model_id: str, allow_deleted: bool = False) -> dict:
    query = LoggedModel.select().where(LoggedModel.model_id == model_id)
    if not allow_deleted:
        query = query.where(LoggedModel.lifecycle_stage != DELETED)
    row = query.dicts().first()
    if row is None:
        raise NotFound(f"Logged model with ID '{model_id}' not found.")
    return row


def _views(rows: list[dict]) -> list[LoggedModelView]:
    views = {
        r["model_id"]: LoggedModelView(
            model_id=r["model_id"],
            experiment_id=r["experiment"],
            name=r["name"],
            artifact_location=r["artifact_location"],
            creation_timestamp=r["creation_timestamp"],
            last_updated_timestamp=r["last_updated_timestamp"],
            status=r["status"],
            status_message=r["status_message"],
            model_type=r["model_type"],
            source_run_id=r["source_run_id"],
            lifecycle_stage=r["lifecycle_stage"],
        )
        for r in rows
    }
    if not views:
        return []
    ids = list(views)
    for mid, key, value in (
        LoggedModelTag.select(LoggedModelTag.logged_model, LoggedModelTag.key, LoggedModelTag.value)
        .where(LoggedModelTag.logged_model.in_(ids))
        .order_by(LoggedModelTag.key)
        .tuples()
    ):
        views[mid].tags.append((key, value))
    for mid, key, value in (
        LoggedModelParam.select(LoggedModelParam.logged_model, LoggedModelParam.key, LoggedModelParam.value)
        .where(LoggedModelParam.logged_model.in_(ids))
        .order_by(LoggedModelParam.key)
        .tuples()
    ):
        views[mid].params.append((key, value))
    M = LoggedModelMetric
    for mid, key, value, nan, bits, ts, step, run_id, dname, ddigest in (
        M.select(
            M.logged_model,
            M.key,
            M.value,
            M.is_nan,
            M.value_bits,
            M.timestamp,
            M.step,
            M.run_id,
            M.dataset_name,
            M.dataset_digest,
        )
        .where(M.logged_model.in_(ids))
        .order_by(M.key, M.timestamp, M.step)
        .tuples()
    ):
        views[mid].metrics.append(
            {
                "key": key,
                "value": v.stored_metric_value(value, nan, bits),
                "timestamp": ts,
                "step": step,
                "run_id": run_id,
                "dataset_name": dname,
                "dataset_digest": ddigest,
                "model_id": mid,
            }
        )
    return [views[r["model_id"]] for r in rows]


def get(model_id: str, allow_deleted: bool = False) -> LoggedModelView:
    return _views([_row(model_id, allow_deleted)])[0]


def finalize(model_id: str, status) -> LoggedModelView:
    name = status_name(status)
    _row(model_id)
    LoggedModel.update(status=name, last_updated_timestamp=now_ms()).where(LoggedModel.model_id == model_id).execute()
    return get(model_id)


def delete(model_id: str) -> None:
    _row(model_id)
    LoggedModel.update(lifecycle_stage=DELETED, last_updated_timestamp=now_ms()).where(
        LoggedModel.model_id == model_id
    ).execute()


def set_tags(model_id: str, tags) -> None:
    _row(model_id)
    with database.atomic():
        _write_tags(model_id, tags)


def delete_tag(model_id: str, key: str) -> None:
    _row(model_id)
    deleted = (
        LoggedModelTag.delete().where((LoggedModelTag.logged_model == model_id) & (LoggedModelTag.key == key)).execute()
    )
    if not deleted:
        raise NotFound(f"No tag with key {key!r} found for model with ID {model_id!r}.")


def log_params(model_id: str, params) -> None:
    _row(model_id)
    with database.atomic():
        _write_params(model_id, params)


def record_metrics(run_id: str, points: list[dict]) -> None:
    """Metrics of a run logged with a ``model_id`` also attach to that model (inside the
    caller's transaction). ``points``: key, value (stored form), is_nan, value_bits, timestamp,
    step, model_id, dataset_name, dataset_digest."""
    if not points:
        return
    known = {
        mid
        for (mid,) in LoggedModel.select(LoggedModel.model_id)
        .where(LoggedModel.model_id.in_(list({p["model_id"] for p in points})))
        .tuples()
    }
    missing = {p["model_id"] for p in points} - known
    if missing:
        raise NotFound(f"Logged model with ID '{sorted(missing)[0]}' not found.")
    insert_ignore(
        LoggedModelMetric,
        [
            {
                "logged_model": p["model_id"],
                "key": p["key"],
                "value": p["value"],
                "is_nan": p["is_nan"],
                "value_bits": p.get("value_bits"),
                "timestamp": p["timestamp"],
                "step": p["step"],
                "run_id": run_id,
                "dataset_name": p.get("dataset_name"),
                "dataset_digest": p.get("dataset_digest"),
            }
            for p in points
        ],
    )


# --- search ---------------------------------------------------------------------------------

_ATTRIBUTES = {
    "name": LoggedModel.name,
    "model_id": LoggedModel.model_id,
    "model_type": LoggedModel.model_type,
    "status": LoggedModel.status,
    "source_run_id": LoggedModel.source_run_id,
    "creation_timestamp": LoggedModel.creation_timestamp,
    "creation_time": LoggedModel.creation_timestamp,
    "last_updated_timestamp": LoggedModel.last_updated_timestamp,
    "last_updated_time": LoggedModel.last_updated_timestamp,
    "experiment_id": LoggedModel.experiment,
}


def _dataset_condition(alias, datasets):
    cond = None
    for d in datasets or []:
        one = alias.dataset_name == d["dataset_name"]
        if d.get("dataset_digest"):
            one &= alias.dataset_digest == d["dataset_digest"]
        cond = one if cond is None else (cond | one)
    return cond


def search(
    experiment_ids, comparisons: list[Comparison], datasets, order_by: list[dict], max_results: int, offset: int
):
    """(views, next_offset). ``order_by``: [{field_name, ascending, dataset_name, dataset_digest}]."""
    if datasets and not all(d.get("dataset_name") for d in datasets):
        raise InvalidInput("`dataset_name` in the `datasets` clause must be specified.")
    ids = [v.experiment_id(e) for e in experiment_ids]
    query = LoggedModel.select().where(LoggedModel.experiment.in_(ids) & (LoggedModel.lifecycle_stage != DELETED))
    has_metric_filter = False
    for n, c in enumerate(comparisons):
        if c.kind == "attribute":
            column = _ATTRIBUTES.get(c.key)
            if column is None:
                raise InvalidInput(f"Invalid attribute key '{c.key}' specified.")
            value = status_name(c.value) if c.key == "status" and isinstance(c.value, str) else c.value
            query = query.where(compare(column, c.op, value))
        elif c.kind == "metric":
            has_metric_filter = True
            m = LoggedModelMetric.alias(f"f{n}")
            value_cond = compare_double(m.value, m.value_bits, c.op, float(c.value))
            cond = (m.key == c.key) & (m.is_nan == False) & value_cond  # noqa: E712
            ds = _dataset_condition(m, datasets)
            if ds is not None:
                cond &= ds
            query = query.where(has_row(m, m.logged_model, LoggedModel.model_id, cond))
        elif c.kind in ("param", "tag"):
            model = (LoggedModelParam if c.kind == "param" else LoggedModelTag).alias(f"f{n}")
            cond = (model.key == c.key) & compare(model.value, c.op, c.value)
            query = query.where(has_row(model, model.logged_model, LoggedModel.model_id, cond))
        else:
            raise InvalidInput(f"Invalid search expression type '{c.kind}'")
    if datasets and not has_metric_filter:
        m = LoggedModelMetric.alias("fds")
        query = query.where(has_row(m, m.logged_model, LoggedModel.model_id, _dataset_condition(m, datasets)))
    query = _order(query, order_by or [])
    rows = list(query.offset(offset).limit(max_results + 1).dicts())
    next_offset = offset + max_results if len(rows) > max_results else None
    return _views(rows[:max_results]), next_offset


def _order(query, order_by: list[dict]):
    clauses = []
    seen = set()
    for n, ob in enumerate(order_by):
        field_name = ob.get("field_name") or ""
        ascending = ob.get("ascending", True) is not False
        if "." not in field_name:
            column = _ATTRIBUTES.get(field_name)
            if column is None:
                raise InvalidInput(f"Invalid order by field name: {field_name}")
            seen.add(column.name)
        else:
            entity, key = field_name.split(".", 1)
            if entity != "metrics":
                raise InvalidInput(f"Invalid order by field name: {field_name}. Only metrics are supported.")
            latest = _latest_metric_value(n, key, ob.get("dataset_name"), ob.get("dataset_digest"))
            query = query.join(latest, pw.JOIN.LEFT_OUTER, on=(latest.c.model_id == LoggedModel.model_id))
            column = latest.c.value
        clauses.append(pw.Case(None, [(column.is_null(), 1)], 0))
        clauses.append(column.asc() if ascending else column.desc())
    if "creation_timestamp" not in seen:
        clauses.append(LoggedModel.creation_timestamp.desc())
    if "model_id" not in seen:
        clauses.append(LoggedModel.model_id.asc())
    return query.order_by(*clauses)


def _latest_metric_value(n: int, key: str, dataset_name, dataset_digest):
    """A subquery: the latest value (by timestamp, then step) of metric ``key`` per model."""
    M = LoggedModelMetric.alias(f"om{n}")
    cond = M.key == key
    if dataset_name:
        cond &= M.dataset_name == dataset_name
    if dataset_digest:
        cond &= M.dataset_digest == dataset_digest
    ranked = (
        M.select(
            M.logged_model.alias("model_id"),
            M.value.alias("value"),
            pw.fn.ROW_NUMBER()
            .over(partition_by=[M.logged_model], order_by=[M.timestamp.desc(), M.step.desc(), M.run_id.asc()])
            .alias("rn"),
        )
        .where(cond)
        .alias(f"r{n}")
    )
    latest = pw.Select([ranked], [ranked.c.model_id, ranked.c.value]).where(ranked.c.rn == 1).alias(f"o{n}")
    return latest
