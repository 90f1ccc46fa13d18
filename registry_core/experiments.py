"""Experiments: the folders candidates are logged into. One function per use case."""

from __future__ import annotations

import os
from collections import defaultdict
from urllib.parse import unquote, urlsplit, urlunsplit

import peewee as pw

from registry_core import validation as v
from registry_core.artifacts import HostPolicy, is_local_uri
from registry_core.clock import now_ms
from registry_core.db import database
from registry_core.entities import ExperimentView, Page
from registry_core.errors import AlreadyExists, InvalidInput, NotFound
from registry_core.lifecycle import ACTIVE, ACTIVE_ONLY, DELETED, DELETED_ONLY
from registry_core.models import Dataset, Experiment, ExperimentTag, Input, InputTag, Run
from registry_core.search_ast import Comparison, OrderKey
from registry_core.sqlutil import compare, has_row, upsert

MAX_LOCATION_LENGTH = int(os.environ.get("MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH", "2048"))


def _location(root: str, experiment_id: int) -> str:
    if root.endswith((":/", "/")):
        return f"{root}{experiment_id}"
    return f"{root}/{experiment_id}"


def _views(rows: list[dict]) -> list[ExperimentView]:
    ids = [r["experiment_id"] for r in rows]
    tags = defaultdict(list)
    if ids:
        for eid, key, value in (
            ExperimentTag.select(ExperimentTag.experiment, ExperimentTag.key, ExperimentTag.value)
            .where(ExperimentTag.experiment.in_(ids))
            .order_by(ExperimentTag.key)
            .tuples()
        ):
            tags[eid].append((key, value))
    return [ExperimentView(**r, tags=tags[r["experiment_id"]]) for r in rows]


def _row(experiment_id: int) -> dict:
    row = Experiment.select().where(Experiment.experiment_id == experiment_id).dicts().first()
    if row is None:
        raise NotFound(f"No Experiment with id={experiment_id} exists")
    return row


def get(experiment_id) -> ExperimentView:
    return _views([_row(v.experiment_id(experiment_id))])[0]


def get_by_name(name: str) -> ExperimentView:
    row = Experiment.select().where(Experiment.name == name).dicts().first()
    if row is None:
        raise NotFound(f"Could not find experiment with name '{name}'")
    return _views([row])[0]


def checked_location(location: str, hosts: HostPolicy) -> str:
    """An experiment's artifact location as MLflow 3.17.2 checks and records it: no fragment,
    params or traversing query, no host the server must not contact, no runs:/ URI, at most
    2,048 characters; a relative local path made absolute against the server's working
    directory (as MLflow's resolve_uri_if_local)."""
    parts = urlsplit(location)
    if parts.fragment or ";" in parts.path:
        raise InvalidInput("'artifact_location' URL can't include fragments or params.")
    if ".." in unquote(parts.query):
        raise InvalidInput("Invalid query string")
    refusal = hosts.refusal(location, "artifact_location")
    if refusal:
        raise InvalidInput(refusal)
    if location.startswith("runs:"):
        raise InvalidInput(f"Artifact location cannot be a runs:/ URI. Given: '{location}'")
    if len(location) > MAX_LOCATION_LENGTH:
        raise InvalidInput(
            "Invalid artifact path length. The length of the artifact path cannot be greater than "
            f"{MAX_LOCATION_LENGTH} characters. To configure this limit, please set the "
            "MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH environment variable."
        )
    if is_local_uri(location):
        path = location if not parts.scheme else parts.path
        if not os.path.isabs(path):
            absolute = os.path.join(os.getcwd(), path).replace(os.sep, "/")
            return absolute if not parts.scheme else urlunsplit((parts.scheme, "", absolute, parts.query, ""))
    return location


def create(
    name, artifact_location: str | None, tags, default_artifact_root: str, hosts: HostPolicy | None = None
) -> int:
    """A new experiment; ``hosts``: which hosts its artifact location may name (none but for
    schemes allowed by the environment, by default)."""
    name = v.experiment_name(name)
    tags = [v.experiment_tag(k, val) for k, val in (tags or [])]
    if artifact_location:
        artifact_location = checked_location(artifact_location, hosts or HostPolicy())
    now = now_ms()
    with database.atomic():
        if Experiment.select().where(Experiment.name == name).exists():
            raise AlreadyExists(f"Experiment(name={name}) already exists. Error: (UNIQUE constraint failed)")
        try:
            eid = Experiment.insert(
                name=name,
                artifact_location=artifact_location or None,
                lifecycle_stage=ACTIVE,
                creation_time=now,
                last_update_time=now,
            ).execute()
        except pw.IntegrityError:
            raise AlreadyExists(f"Experiment(name={name}) already exists.") from None
        if not artifact_location:
            Experiment.update(artifact_location=_location(default_artifact_root, eid)).where(
                Experiment.experiment_id == eid
            ).execute()
        if tags:
            upsert(
                ExperimentTag,
                [{"experiment": eid, "key": k, "value": val} for k, val in dict(tags).items()],
                [ExperimentTag.experiment, ExperimentTag.key],
                [ExperimentTag.value],
            )
    return eid


def _set_stage(experiment_id, expected: str, new: str) -> None:
    eid = v.experiment_id(experiment_id)
    if _row(eid)["lifecycle_stage"] != expected:
        raise NotFound(f"No Experiment with id={eid} exists")
    now = now_ms()
    with database.atomic():
        Experiment.update(lifecycle_stage=new, last_update_time=now).where(Experiment.experiment_id == eid).execute()
        # The experiment's runs follow it, as in MLflow.
        Run.update(lifecycle_stage=new, deleted_time=now if new == DELETED else None).where(
            Run.experiment == eid
        ).execute()


def delete(experiment_id) -> None:
    _set_stage(experiment_id, ACTIVE, DELETED)


def restore(experiment_id) -> None:
    _set_stage(experiment_id, DELETED, ACTIVE)


def rename(experiment_id, new_name) -> None:
    eid = v.experiment_id(experiment_id)
    new_name = v.experiment_name(new_name)
    row = _row(eid)
    if row["lifecycle_stage"] != ACTIVE:
        raise InvalidInput("Cannot rename a non-active experiment.")
    with database.atomic():
        clash = Experiment.select().where((Experiment.name == new_name) & (Experiment.experiment_id != eid))
        if clash.exists():
            raise AlreadyExists(f"Experiment(name={new_name}) already exists.")
        Experiment.update(name=new_name, last_update_time=now_ms()).where(Experiment.experiment_id == eid).execute()


def _active_row(experiment_id) -> int:
    eid = v.experiment_id(experiment_id)
    row = _row(eid)
    if row["lifecycle_stage"] != ACTIVE:
        raise InvalidInput(
            f"The experiment {eid} must be in the 'active' state. Current state is {row['lifecycle_stage']}."
        )
    return eid


def set_tag(experiment_id, key, value) -> None:
    key, value = v.experiment_tag(key, value)
    eid = _active_row(experiment_id)
    with database.atomic():
        upsert(
            ExperimentTag,
            [{"experiment": eid, "key": key, "value": value}],
            [ExperimentTag.experiment, ExperimentTag.key],
            [ExperimentTag.value],
        )


def delete_tag(experiment_id, key) -> None:
    eid = _active_row(experiment_id)
    deleted = ExperimentTag.delete().where((ExperimentTag.experiment == eid) & (ExperimentTag.key == key)).execute()
    if not deleted:
        raise NotFound(f"No tag with name: {key} in experiment with id {eid}")


# --- datasets ----------------------------------------------------------------------------

MAX_DATASET_SUMMARIES = 1000
DATASET_CONTEXT_TAG = "mlflow.data.context"


def dataset_summaries(experiment_ids: list[str]) -> list[dict]:
    """The distinct (experiment, dataset name, digest, context) the runs of these experiments
    took as input, at most 1,000, in one statement (MLflow's _search_datasets)."""
    ids = [_int_id(e) for e in experiment_ids]
    rows = (
        Dataset.select(Dataset.experiment, Dataset.name, Dataset.digest, InputTag.value)
        .join(Input, on=(Input.dataset == Dataset.dataset_uuid))
        .join(
            InputTag,
            pw.JOIN.LEFT_OUTER,
            on=((InputTag.input == Input.input_uuid) & (InputTag.name == DATASET_CONTEXT_TAG)),
        )
        .where(Dataset.experiment.in_(ids))
        .distinct()
        .order_by(Dataset.experiment, Dataset.name, Dataset.digest, InputTag.value)
        .limit(MAX_DATASET_SUMMARIES)
        .tuples()
    )
    return [
        {"experiment_id": str(eid), "name": name, "digest": digest, "context": context}
        for eid, name, digest, context in rows
    ]


# --- search -------------------------------------------------------------------------------

_ATTRIBUTE_COLUMNS = {
    "name": Experiment.name,
    "experiment_id": Experiment.experiment_id,
    "creation_time": Experiment.creation_time,
    "last_update_time": Experiment.last_update_time,
}


def _int_id(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"Invalid experiment ID '{value}'. Experiment ID must be a valid integer.") from None


def _stage_filter(view_type: str):
    if view_type == ACTIVE_ONLY:
        return Experiment.lifecycle_stage == ACTIVE
    if view_type == DELETED_ONLY:
        return Experiment.lifecycle_stage == DELETED
    return Experiment.lifecycle_stage.in_([ACTIVE, DELETED])


def search(
    view_type: str,
    comparisons: list[Comparison],
    order: list[OrderKey],
    max_results: int,
    offset: int,
) -> Page:
    query = Experiment.select().where(_stage_filter(view_type))
    for n, c in enumerate(comparisons):
        if c.kind == "attribute":
            column = _ATTRIBUTE_COLUMNS[c.key]
            value = c.value
            if c.key == "experiment_id":
                value = tuple(map(_int_id, value)) if isinstance(value, tuple) else _int_id(value)
            query = query.where(compare(column, c.op, value))
        elif c.kind == "tag":
            alias = ExperimentTag.alias(f"tag{n}")  # not t<n>: peewee names the outer tables t1, t2, ...
            cond = alias.key == c.key
            if c.op not in ("IS NULL", "IS NOT NULL"):
                cond &= compare(alias.value, c.op, c.value)
            query = query.where(
                has_row(alias, alias.experiment, Experiment.experiment_id, cond, negate=c.op == "IS NULL")
            )
        else:
            raise InvalidInput(f"Invalid search expression type '{c.kind}'")
    ordering = []
    seen = set()
    for o in order:
        column = _ATTRIBUTE_COLUMNS[o.key]
        seen.add(o.key)
        ordering.append(column.asc() if o.ascending else column.desc())
    if "creation_time" not in seen:
        ordering.append(Experiment.creation_time.desc())
    if "experiment_id" not in seen:
        ordering.append(Experiment.experiment_id.asc())
    rows = list(query.order_by(*ordering).offset(offset).limit(max_results + 1).dicts())
    next_offset = offset + max_results if len(rows) > max_results else None
    return Page(_views(rows[:max_results]), next_offset)
