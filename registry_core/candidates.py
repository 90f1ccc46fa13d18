"""Candidates (MLflow runs): lifecycle, params, metrics, tags, inputs and outputs.

Writes of a batch happen in one transaction with bulk statements: a batch is applied wholly or
not at all, and a thousand metrics cost a handful of statements, not a thousand.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from registry_core import logged_models
from registry_core import validation as v
from registry_core.clock import now_ms
from registry_core.db import database
from registry_core.entities import DatasetInputView, MetricPoint, RunView
from registry_core.errors import InvalidInput, NotFound
from registry_core.lifecycle import ACTIVE, DELETED
from registry_core.models import (
    Dataset,
    Experiment,
    Input,
    InputTag,
    LatestMetric,
    Metric,
    Param,
    Run,
    RunModelLink,
    Tag,
)
from registry_core.names import random_run_name
from registry_core.sqlutil import Prepared, insert_ignore, quoted, select_in, upsert

RUN_NAME_TAG = "mlflow.runName"
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")


def _artifact_uri(experiment_location: str | None, run_id: str) -> str:
    base = (experiment_location or "").rstrip("/")
    if base.endswith(":"):  # "mlflow-artifacts:" from "mlflow-artifacts:/"
        base += "/"
        return f"{base}{run_id}/artifacts"
    return f"{base}/{run_id}/artifacts"


# --- reads ---------------------------------------------------------------------------------

_RUN_FIELDS = (
    Run.run_uuid,
    Run.name,
    Run.experiment,
    Run.user_id,
    Run.status,
    Run.start_time,
    Run.end_time,
    Run.artifact_uri,
    Run.lifecycle_stage,
)


_RUN_BY_ID = Prepared(lambda run_id: Run.select(*_RUN_FIELDS).where(Run.run_uuid == run_id).limit(1), "run_id")


def _run_row(run_id: str) -> tuple:
    row = _RUN_BY_ID.first(run_id=run_id)
    if row is None:
        raise NotFound(f"Run with id={run_id} not found")
    return row


def _active_run(run_id) -> tuple:
    if not run_id:
        raise InvalidInput("Missing value for required parameter 'run_id'.")
    row = _run_row(run_id)
    if row[8] != ACTIVE:
        raise InvalidInput(f"The run {run_id} must be in the 'active' state. Current state is {row[8]}.")
    return row


def load_runs(rows: list[tuple]) -> list[RunView]:
    """Complete RunViews for run rows (as selected with _RUN_FIELDS): a fixed number of
    queries whatever the number of runs."""
    views = {
        r[0]: RunView(
            run_id=r[0],
            run_name=r[1],
            experiment_id=r[2],
            user_id=r[3],
            status=r[4],
            start_time=r[5],
            end_time=r[6],
            artifact_uri=r[7],
            lifecycle_stage=r[8],
        )
        for r in rows
    }
    if not views:
        return []
    ids = list(views)
    stored = v.stored_metric_value
    for rid, key, value, ts, step, is_nan, bits in select_in(
        quoted("run_uuid", "key", "value", "timestamp", "step", "is_nan", "value_bits"),
        quoted("latest_metrics"),
        quoted("run_uuid"),
        ids,
        quoted("run_uuid", "key"),
    ):
        views[rid].metrics.append(MetricPoint(key, stored(float(value), is_nan, bits), ts, step))
    for rid, key, value in select_in(
        quoted("run_uuid", "key", "value"), quoted("params"), quoted("run_uuid"), ids, quoted("run_uuid", "key")
    ):
        views[rid].params.append((key, value))
    for rid, key, value in select_in(
        quoted("run_uuid", "key", "value"), quoted("tags"), quoted("run_uuid"), ids, quoted("run_uuid", "key")
    ):
        views[rid].tags.append((key, value))
    _load_inputs(views, ids)
    for rid, model_id, direction, step in select_in(
        quoted("run_uuid", "model_id", "direction", "step"),
        quoted("run_model_links"),
        quoted("run_uuid"),
        ids,
        quoted("run_uuid", "model_id"),
    ):
        if direction == "output":
            views[rid].model_outputs.append((model_id, step))
        else:
            views[rid].model_inputs.append(model_id)
    return [views[r[0]] for r in rows]


def _load_inputs(views: dict, ids: list[str]) -> None:
    rows = select_in(
        quoted(
            "i.input_uuid", "i.run_uuid", "d.name", "d.digest", "d.source_type", "d.source", "d.schema", "d.profile"
        ),
        f"{quoted('inputs')} i JOIN {quoted('datasets')} d ON {quoted('d.dataset_uuid')} = {quoted('i.dataset_uuid')}",
        quoted("i.run_uuid"),
        ids,
        quoted("d.name", "d.digest"),
    )
    if not rows:
        return
    tags = defaultdict(list)
    for input_uuid, name, value in select_in(
        quoted("input_uuid", "name", "value"),
        quoted("input_tags"),
        quoted("input_uuid"),
        [r[0] for r in rows],
        quoted("name"),
    ):
        tags[input_uuid].append((name, value))
    for input_uuid, rid, name, digest, source_type, source, schema, profile in rows:
        views[rid].dataset_inputs.append(
            DatasetInputView(name, digest, source_type, source, schema, profile, tags[input_uuid])
        )


def get(run_id: str) -> RunView:
    if not run_id:
        raise InvalidInput("Missing value for required parameter 'run_id'.")
    return load_runs([_run_row(run_id)])[0]


# --- lifecycle -------------------------------------------------------------------------------


def create(experiment_id, user_id, start_time, tags, run_name) -> RunView:
    eid = v.experiment_id(experiment_id if experiment_id not in (None, "") else 0)
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
    tags = dict(_validated_tags(tags))
    tag_name = tags.get(RUN_NAME_TAG)
    if run_name and tag_name and run_name != tag_name:
        raise InvalidInput(
            "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different "
            f"values (run_name='{run_name}', mlflow.runName='{tag_name}')."
        )
    run_name = v.truncate(run_name or tag_name or random_run_name(), v.MAX_RUN_NAME_LENGTH)
    tags[RUN_NAME_TAG] = run_name
    run_id = uuid.uuid4().hex
    start = v.int_value("start_time", start_time, 0) if start_time not in (None, "") else now_ms()
    with database.atomic():
        Run.insert(
            run_uuid=run_id,
            name=run_name,
            experiment=eid,
            user_id=user_id or "",
            status="RUNNING",
            start_time=start,
            end_time=None,
            lifecycle_stage=ACTIVE,
            artifact_uri=_artifact_uri(exp[1], run_id),
        ).execute()
        Tag.insert_many([{"run": run_id, "key": k, "value": val} for k, val in tags.items()]).execute()
    return get(run_id)


def update(run_id, status=None, end_time=None, run_name=None) -> RunView:
    _active_run(run_id)
    changes = {}
    if status not in (None, ""):
        if status not in RUN_STATUSES:
            raise InvalidInput(f"Invalid value {status} for parameter 'status' supplied.")
        changes[Run.status] = status
    if end_time not in (None, ""):
        changes[Run.end_time] = v.int_value("end_time", end_time, 0)
    with database.atomic():
        if run_name:
            run_name = v.truncate(run_name, v.MAX_RUN_NAME_LENGTH)
            changes[Run.name] = run_name
            upsert(
                Tag,
                [{"run": run_id, "key": RUN_NAME_TAG, "value": run_name}],
                [Tag.run, Tag.key],
                [Tag.value],
            )
        if changes:
            Run.update(changes).where(Run.run_uuid == run_id).execute()
    return get(run_id)


def delete(run_id) -> None:
    row = _run_row(run_id)
    if row[8] == DELETED:
        return
    Run.update(lifecycle_stage=DELETED, deleted_time=now_ms()).where(Run.run_uuid == run_id).execute()


def restore(run_id) -> None:
    _run_row(run_id)
    Run.update(lifecycle_stage=ACTIVE, deleted_time=None).where(Run.run_uuid == run_id).execute()


# --- tags ----------------------------------------------------------------------------------


def _validated_tags(tags) -> list[tuple[str, str]]:
    return [(v.validate_key("tag", k), v.tag_value(val)) for k, val in (tags or [])]


def _write_tags(run_id: str, tags: list[tuple[str, str]]) -> None:
    latest = dict(tags)  # the last value of a repeated key wins
    if not latest:
        return
    upsert(
        Tag,
        [{"run": run_id, "key": k, "value": val} for k, val in latest.items()],
        [Tag.run, Tag.key],
        [Tag.value],
    )
    if RUN_NAME_TAG in latest:
        Run.update(name=v.truncate(latest[RUN_NAME_TAG], v.MAX_RUN_NAME_LENGTH)).where(Run.run_uuid == run_id).execute()


def set_tag(run_id, key, value) -> None:
    tags = _validated_tags([(key, value)])
    _active_run(run_id)
    with database.atomic():
        _write_tags(run_id, tags)


def delete_tag(run_id, key) -> None:
    _active_run(run_id)
    deleted = Tag.delete().where((Tag.run == run_id) & (Tag.key == key)).execute()
    if not deleted:
        raise NotFound(f"No tag with name: {key} in run with id {run_id}")


# --- params and metrics ----------------------------------------------------------------------


def _validated_params(params) -> dict[str, str]:
    seen: dict[str, str] = {}
    dupes = []
    for key, value in params or []:
        v.validate_key("param", key)
        if key in seen:
            dupes.append(key)
        seen[key] = v.param_value(value)
    if dupes:
        raise InvalidInput(
            f"Duplicate parameter keys have been submitted: {dupes}. Please ensure the request "
            "contains only one param value per param key."
        )
    return seen


def _write_params(run_id: str, params: dict[str, str]) -> None:
    if not params:
        return
    existing = dict(
        Param.select(Param.key, Param.value).where((Param.run == run_id) & Param.key.in_(list(params))).tuples()
    )
    conflicts = [
        {"key": k, "old_value": existing[k], "new_value": val}
        for k, val in params.items()
        if k in existing and existing[k] != val
    ]
    if len(conflicts) == 1 and len(params) == 1:
        c = conflicts[0]
        raise InvalidInput(
            f"Changing param values is not allowed. Param with key='{c['key']}' was already logged "
            f"with value='{c['old_value']}' for run ID='{run_id}'. Attempted logging new value "
            f"'{c['new_value']}'."
        )
    if conflicts:
        raise InvalidInput(
            f"Changing param values is not allowed. Params were already logged='{conflicts}' for run ID='{run_id}'."
        )
    insert_ignore(Param, [{"run": run_id, "key": k, "value": val} for k, val in params.items() if k not in existing])


def _validated_metrics(metrics) -> tuple[list[tuple], list[dict]]:
    """(points, model points): (key, stored value, timestamp, step, is_nan, value_bits) per
    metric with exact duplicates removed, and the metrics logged with a ``model_id`` for that
    model's record. Two points that differ only in ``value_bits`` (0.0 and -0.0, or the largest
    double and Infinity, at one timestamp and step) are one point of the primary key: the first
    is stored, as a second request with the other would find it stored."""
    out = {}
    model_points = []
    for m in metrics or []:
        key = v.validate_key("metric", m.get("key"))
        value, is_nan, bits = v.metric_value(key, m.get("value"))
        ts = m.get("timestamp")
        timestamp = v.int_value("timestamp", ts, 0) if ts not in (None, "") else now_ms()
        step = m.get("step")
        step = v.int_value("step", step) if step not in (None, "") else 0
        out[(key, value, timestamp, step, is_nan, bits)] = None
        if m.get("model_id"):
            for name in ("model_id", "dataset_name", "dataset_digest"):
                if m.get(name) is not None and not isinstance(m[name], str):
                    raise InvalidInput(f"Invalid value {m[name]!r} for parameter '{name}' supplied: must be a string")
            model_points.append(
                {
                    "key": key,
                    "value": value,
                    "is_nan": is_nan,
                    "value_bits": bits,
                    "timestamp": timestamp,
                    "step": step,
                    "model_id": m["model_id"],
                    "dataset_name": m.get("dataset_name") or None,
                    "dataset_digest": m.get("dataset_digest") or None,
                }
            )
    return list(out), model_points


def _write_metrics(run_id: str, experiment_id: int, points: list[tuple]) -> None:
    if not points:
        return
    if any(p[5] is not None for p in points):
        rows = [
            {"run": run_id, "key": k, "value": val, "timestamp": ts, "step": step, "is_nan": nan, "value_bits": bits}
            for k, val, ts, step, nan, bits in points
        ]
    else:  # the common batch: no value_bits column in the statement (NULL), one parameter less a point
        rows = [
            {"run": run_id, "key": k, "value": val, "timestamp": ts, "step": step, "is_nan": nan}
            for k, val, ts, step, nan, _ in points
        ]
    insert_ignore(Metric, rows)
    # The latest value per key: greatest (step, timestamp, value), as MLflow decides it; the
    # stored row is replaced only by a greater one, in the statement itself (value_bits with it,
    # NULL included: a finite value replacing an infinity clears the bits).
    newest = {}
    for k, val, ts, step, nan, bits in points:
        cur = newest.get(k)
        if cur is None or (step, ts, val) > (cur["step"], cur["timestamp"], cur["value"]):
            newest[k] = {
                "run": run_id,
                "key": k,
                "value": val,
                "timestamp": ts,
                "step": step,
                "is_nan": nan,
                "experiment_id": experiment_id,
                "value_bits": bits,
            }
    # in key order: concurrent batches of one run then lock the keys they share in the same order
    upsert(
        LatestMetric,
        [newest[k] for k in sorted(newest)],
        [LatestMetric.run, LatestMetric.key],
        [LatestMetric.value, LatestMetric.timestamp, LatestMetric.step, LatestMetric.is_nan, LatestMetric.value_bits],
        newer_by=[LatestMetric.step, LatestMetric.timestamp, LatestMetric.value],
    )


def log_param(run_id, key, value) -> None:
    params = _validated_params([(key, value)])
    _active_run(run_id)
    with database.atomic():
        _write_params(run_id, params)


def log_metric(run_id, metric: dict) -> None:
    points, model_points = _validated_metrics([metric])
    experiment_id = _active_run(run_id)[2]
    with database.atomic():
        _write_metrics(run_id, experiment_id, points)
        logged_models.record_metrics(run_id, model_points)


def log_batch(run_id, metrics: list[dict], params: list, tags: list) -> None:
    """Params, then tags, then metrics of one request, in one transaction."""
    v.batch_sizes(len(metrics or []), len(params or []), len(tags or []))
    param_values = _validated_params(params)
    tag_values = _validated_tags(tags)
    points, model_points = _validated_metrics(metrics)
    experiment_id = _active_run(run_id)[2]
    with database.atomic():
        _write_params(run_id, param_values)
        _write_tags(run_id, tag_values)
        _write_metrics(run_id, experiment_id, points)
        logged_models.record_metrics(run_id, model_points)


# --- inputs and outputs ----------------------------------------------------------------------


def log_inputs(run_id, datasets: list[dict], model_ids: list[str]) -> None:
    """``datasets``: [{"name", "digest", "source_type", "source", "schema", "profile",
    "tags": [(key, value)]}]."""
    for d in datasets:
        v.limited("dataset.name", d.get("name"), v.MAX_DATASET_NAME_SIZE)
        v.limited("dataset.digest", d.get("digest"), v.MAX_DATASET_DIGEST_SIZE)
        v.limited("dataset.source_type", d.get("source_type"), 36)
        v.limited("dataset.source", d.get("source"), v.MAX_DATASET_SOURCE_SIZE)
        v.limited("dataset.schema", d.get("schema"), v.MAX_DATASET_SCHEMA_SIZE, required=False)
        v.limited("dataset.profile", d.get("profile"), v.MAX_DATASET_PROFILE_SIZE, required=False)
        for key, value in d.get("tags") or []:
            v.limited("input_tag.key", key, v.MAX_INPUT_TAG_KEY_SIZE)
            v.limited("input_tag.value", value, v.MAX_INPUT_TAG_VALUE_SIZE)
    row = _active_run(run_id)
    experiment_id = row[2]
    with database.atomic():
        for d in datasets:
            found = (
                Dataset.select(Dataset.dataset_uuid)
                .where(
                    (Dataset.experiment == experiment_id)
                    & (Dataset.name == d["name"])
                    & (Dataset.digest == d["digest"])
                )
                .scalar()
            )
            if found is None:
                found = uuid.uuid4().hex
                Dataset.insert(
                    dataset_uuid=found,
                    experiment=experiment_id,
                    name=d["name"],
                    digest=d["digest"],
                    source_type=d["source_type"],
                    source=d["source"],
                    schema=d.get("schema"),
                    profile=d.get("profile"),
                ).execute()
            input_uuid = Input.select(Input.input_uuid).where((Input.run == run_id) & (Input.dataset == found)).scalar()
            if input_uuid is None:
                input_uuid = uuid.uuid4().hex
                Input.insert(input_uuid=input_uuid, dataset=found, run=run_id).execute()
                upsert(
                    InputTag,
                    [{"input": input_uuid, "name": k, "value": val} for k, val in dict(d.get("tags") or []).items()],
                    [InputTag.input, InputTag.name],
                    [InputTag.value],
                )
        _link_models(run_id, [(m, 0) for m in model_ids], "input")


def log_outputs(run_id, models: list[tuple[str, int]]) -> None:
    _active_run(run_id)
    with database.atomic():
        _link_models(run_id, models, "output")


def _link_models(run_id: str, models: list[tuple[str, int]], direction: str) -> None:
    for model_id, _ in models:
        if not model_id:
            raise InvalidInput("Missing value for required parameter 'model_id'.")
    upsert(
        RunModelLink,
        [{"run": run_id, "model_id": m, "direction": direction, "step": step} for m, step in models],
        [RunModelLink.run, RunModelLink.model_id, RunModelLink.direction],
        [RunModelLink.step],
    )
