"""Promotion: a candidate (a run or a logged model) becomes an immutable version of record.

The source is accepted or refused as MLflow 3.17.2 accepts it, and verified against what this
server holds (``registry_core.sources``). Verified artifacts, wherever their root (the server's
destination, a client-written ``file://`` or ``s3://`` root), are snapshotted under
``registry/<uuid>/`` in the destination, so the version owns its files: later writes or deletes
of the candidate's artifacts do not change it, and the artifact API refuses writes under
``registry/``. A source the server cannot verify is kept by reference, never read, and its
lineage says why. Lineage (run, experiment, source commit and repository, input datasets) is
recorded in the same transaction as the version.
"""

from __future__ import annotations

import json
import uuid

import peewee as pw

from registry_core import logged_models, model_versions, registered_models, sources
from registry_core import validation as v
from registry_core.artifacts import REGISTRY_ROOT, ArtifactRepository
from registry_core.clock import now_ms
from registry_core.db import database, dialect
from registry_core.entities import VersionView
from registry_core.errors import NotFound
from registry_core.lifecycle import DELETED, NO_STAGE
from registry_core.models import (
    Dataset,
    Input,
    InputTag,
    LoggedModel,
    ModelVersion,
    ModelVersionDataset,
    ModelVersionTag,
    RegisteredModel,
    Run,
    Tag,
)
from registry_core.sqlutil import Prepared

MODEL_VERSIONS_TAG = "mlflow.modelVersions"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
GIT_REPO_TAGS = ("mlflow.source.git.repoURL", "mlflow.gitRepoURL")
DATASET_CONTEXT_TAG = "mlflow.data.context"
_VERSION_RETRIES = 5


# The reads and writes of a promotion, each compiled once per database: peewee took longer to
# write these statements than the database to run them (bench W6 create).
def _named_model(run_id, name, column):
    """The run's latest live logged model called ``name``: its ``column`` (a scalar subquery)."""
    return (
        LoggedModel.select(column)
        .where(
            (LoggedModel.source_run_id == run_id)
            & (LoggedModel.name == name)
            & (LoggedModel.lifecycle_stage != DELETED)
        )
        .order_by(LoggedModel.creation_timestamp.desc())
        .limit(1)
    )


# the run with its git tags (a row per tag found, one row of NULL tags when none is), then the id
# and location of its logged model named ``name``, if any, and whether it took datasets as
# input: what resolving a source reads, and lineage then, in one statement. The columns are
# ``sources.RunRow``'s, in its order.
_RUN = Prepared(
    lambda run_id, name: (
        Run.select(
            Run.run_uuid,
            Run.experiment,
            Run.artifact_uri,
            Tag.key,
            Tag.value,
            _named_model(pw.Value(run_id), pw.Value(name), LoggedModel.model_id),
            _named_model(pw.Value(run_id), pw.Value(name), LoggedModel.artifact_location),
            pw.fn.EXISTS(Input.select(pw.SQL("1")).where(Input.run == pw.Value(run_id))),
        )
        .join(Tag, pw.JOIN.LEFT_OUTER, on=((Tag.run == Run.run_uuid) & Tag.key.in_([GIT_COMMIT_TAG, *GIT_REPO_TAGS])))
        .where(Run.run_uuid == pw.Value(run_id))
    ),
    "run_id",
    "name",
)
_LINEAGE_DATASETS = Prepared(
    lambda run_id: (
        Input.select(Dataset.name, Dataset.digest, InputTag.value)
        .join(Dataset, on=(Input.dataset == Dataset.dataset_uuid))
        .switch(Input)
        .join(
            InputTag,
            pw.JOIN.LEFT_OUTER,
            on=((InputTag.input == Input.input_uuid) & (InputTag.name == DATASET_CONTEXT_TAG)),
        )
        .where(Input.run == pw.Value(run_id))
        .order_by(Dataset.name, Dataset.digest)
    ),
    "run_id",
)
_LAST_VERSION = Prepared(
    lambda model: ModelVersion.select(pw.fn.MAX(ModelVersion.version)).where(
        ModelVersion.registered_model == pw.Value(model)
    ),
    "model",
)
_VERSION_COLUMNS = (
    "registered_model",
    "version",
    "creation_time",
    "last_updated_time",
    "description",
    "source",
    "storage_location",
    "run_id",
    "run_link",
    "model_id",
    "source_experiment_id",
    "source_commit",
    "source_repository",
    "source_unverified",
)


def _build_insert(*markers):
    query = ModelVersion.insert(
        dict(zip(_VERSION_COLUMNS, map(pw.Value, markers)), user_id=None, current_stage=NO_STAGE, status="READY")
    )
    return query.returning(ModelVersion.id) if database.obj.returning_clause else query


_INSERT_VERSION = Prepared(_build_insert, *_VERSION_COLUMNS)
_NUMBERED_COLUMNS = tuple(column for column in _VERSION_COLUMNS if column != "version")


def _build_numbered_insert(*markers):
    """The version inserted with its number: one past the model's highest (a subquery), the
    key and number returned (RETURNING): one statement where two were."""
    values = dict(zip(_NUMBERED_COLUMNS, map(pw.Value, markers)))
    highest = ModelVersion.select(pw.fn.MAX(ModelVersion.version)).where(
        ModelVersion.registered_model == values["registered_model"]
    )  # a bare MAX: read off the index's end
    values["version"] = pw.fn.COALESCE(highest, 0) + 1
    return ModelVersion.insert(values, user_id=None, current_stage=NO_STAGE, status="READY").returning(
        ModelVersion.id, ModelVersion.version
    )


_INSERT_NEXT_VERSION = Prepared(_build_numbered_insert, *_NUMBERED_COLUMNS)


def _numbers_in_insert() -> bool:
    """Whether the version is numbered inside its INSERT (``_INSERT_NEXT_VERSION``): on
    PostgreSQL, where it spares a round trip to the server. MySQL and MariaDB refuse a subquery
    on the table an INSERT writes (error 1093). SQLite takes it, but its RETURNING costs more
    than the statement it saves (an ephemeral table: 76-99 against 65-85 us for the MAX and the
    INSERT apart, sqlite3 3.40 alone), and its writers are serialised anyway."""
    return dialect() == "postgresql"


_TOUCH_MODEL = Prepared(
    lambda now, model: RegisteredModel.update(last_updated_time=pw.Value(now)).where(
        RegisteredModel.id == pw.Value(model)
    ),
    "now",
    "model",
)


def _run_rows(run_id: str, named: str = "") -> list[sources.RunRow]:
    """The run's ``_RUN`` rows, its logged model called ``named`` in ``named_model_*`` ([] when
    there is no such run)."""
    return [sources.RunRow._make(row) for row in _RUN.execute(run_id=run_id, name=named).fetchall()]


def _snapshot(repo: ArtifactRepository, resolved: sources.Resolved, proxied: bool) -> str | None:
    """The version's storage location: a registry-owned, immutable copy of the verified
    artifacts, or (nothing there to copy, or a source not verified) the reference itself."""
    if resolved.shared_snapshot or resolved.location is None:
        return resolved.storage_location or resolved.source
    dst = f"{REGISTRY_ROOT}/{uuid.uuid4().hex}"
    if not repo.snapshot(resolved.location, dst):
        return resolved.source  # nothing there (yet): keep the reference, as MLflow does
    return repo.uri_for(dst, proxied)


def _lineage(run_id: str | None, rows: list[sources.RunRow] | None = None) -> dict:
    """What the run a version is promoted from records: experiment, git tags, input datasets.
    ``rows``: the run's ``_RUN`` rows, if already read."""
    if not run_id:
        return {}
    if rows is None:
        rows = _run_rows(run_id)
    if not rows:
        return {}  # no such run (a models:/ source's run may have been deleted since)
    tags = {row.tag_key: row.tag_value for row in rows if row.tag_key is not None}
    return {
        "source_experiment_id": rows[0].experiment_id,
        "source_commit": tags.get(GIT_COMMIT_TAG),
        "source_repository": next((tags[t] for t in GIT_REPO_TAGS if tags.get(t)), None),
        "datasets": [
            {"name": name, "digest": digest, "context": context}
            for name, digest, context in _LINEAGE_DATASETS.execute(run_id=run_id).fetchall()
        ]
        if rows[0].has_inputs
        else [],
    }


def promote(
    name,
    source,
    *,
    run_id=None,
    model_id=None,
    tags=None,
    run_link=None,
    description=None,
    repo: ArtifactRepository,
    proxied: bool,
) -> VersionView:
    """Create the next version of model ``name`` from a candidate (MLflow's CreateModelVersion).
    ``run_id`` / ``model_id``: None when the request did not carry them; ``proxied``: whether
    the server serves artifacts, so a snapshot's location is an ``mlflow-artifacts`` URI."""
    tags = dict(v.registry_tag(k, val) for k, val in (tags or []))
    prompt = (tags.get(registered_models.IS_PROMPT_TAG) or "").lower() == "true"
    model_pk = registered_models.model_pk(name)
    resolved = sources.resolve(source, run_id, model_id, repo, prompt, _run_rows)
    location = None if prompt else _snapshot(repo, resolved, proxied)
    lineage = _lineage(resolved.run_id, resolved.run_rows) if not prompt and resolved.run_id else {}
    lineage["unverified"] = resolved.unverified
    for attempt in range(_VERSION_RETRIES):
        try:
            with database.atomic():
                version, now = _insert_version(
                    model_pk, resolved.source, location, resolved, tags, run_link, description, lineage
                )
            break
        except pw.IntegrityError:
            if attempt == _VERSION_RETRIES - 1:
                raise
    if resolved.model_id and not prompt:
        _record_on_logged_model(resolved.model_id, name, version)
    # The answer is what was just written, not read back: a new version's number was never used
    # (numbers of deleted versions are not reused), so no alias can name it yet.
    return VersionView(
        name=name,
        version=version,
        creation_timestamp=now,
        last_updated_timestamp=now,
        description=description or None,
        user_id=None,
        current_stage=NO_STAGE,
        source=resolved.source,
        run_id=resolved.run_id or None,
        run_link=run_link or None,
        status="READY",
        status_message=None,
        model_id=resolved.model_id or None,
        storage_location=location,
        tags=sorted(tags.items()),
        aliases=[],
    )


def _insert_version(model_pk, source, location, resolved, tags, run_link, description, lineage) -> tuple[int, int]:
    now = now_ms()
    values = {
        "registered_model": model_pk,
        "creation_time": now,
        "last_updated_time": now,
        "description": description or None,
        "source": source,
        "storage_location": location,
        "run_id": resolved.run_id or None,
        "run_link": run_link or None,
        "model_id": resolved.model_id or None,
        "source_experiment_id": lineage.get("source_experiment_id"),
        "source_commit": lineage.get("source_commit"),
        "source_repository": lineage.get("source_repository"),
        "source_unverified": lineage.get("unverified"),
    }
    # The model's row first: its lock, held to the commit, queues the model's other writers
    # here, so the number is taken after theirs are committed and seen (PostgreSQL's and
    # MySQL's next statement reads what was committed before it) rather than colliding on it.
    _TOUCH_MODEL.execute(now=now, model=model_pk)
    if _numbers_in_insert():
        # fetchall: the statement runs to its end before the commit
        ((vid, version),) = _INSERT_NEXT_VERSION.execute(**values).fetchall()
    else:
        latest = _LAST_VERSION.first(model=model_pk)[0]
        version = (latest or 0) + 1
        cursor = _INSERT_VERSION.execute(version=version, **values)
        vid = cursor.fetchone()[0] if database.obj.returning_clause else cursor.lastrowid
    if tags:
        ModelVersionTag.insert_many(
            [{"model_version": vid, "key": k, "value": val} for k, val in tags.items()]
        ).execute()
    if lineage.get("datasets"):
        ModelVersionDataset.insert_many(
            [dict(d, model_version=vid) for d in lineage["datasets"]]
        ).on_conflict_ignore().execute()
    return version, now


def _record_on_logged_model(model_id: str, name: str, version: int) -> None:
    """The logged model lists the versions promoted from it (MLflow's mlflow.modelVersions tag)."""
    try:
        model = logged_models.get(model_id)
    except NotFound:
        return
    current = dict(model.tags).get(MODEL_VERSIONS_TAG)
    entry = {"name": name, "version": version}  # a number, as MLflow writes it
    entries = json.loads(current) if current else []
    if entry not in entries:
        entries.append(entry)
    logged_models.set_tags(model_id, [(MODEL_VERSIONS_TAG, json.dumps(entries))])


def lineage(name: str, version) -> dict:
    """What a version was promoted from: run, experiment, commit, repository, datasets."""
    _, mv = model_versions.live_version(name, version)
    datasets = list(
        ModelVersionDataset.select(ModelVersionDataset.name, ModelVersionDataset.digest, ModelVersionDataset.context)
        .where(ModelVersionDataset.model_version == mv["id"])
        .order_by(ModelVersionDataset.name)
        .dicts()
    )
    datasets = [{k: val for k, val in d.items() if val is not None} for d in datasets]  # unset: absent
    return {
        "name": name,
        "version": str(mv["version"]),
        "source": mv["source"],
        "storage_location": mv["storage_location"],
        "run_id": mv["run_id"],
        "model_id": mv["model_id"],
        "experiment_id": None if mv["source_experiment_id"] is None else str(mv["source_experiment_id"]),
        "source_commit": mv["source_commit"],
        "source_repository": mv["source_repository"],
        "source_verified": mv["source_unverified"] is None,
        "source_unverified_reason": mv["source_unverified"],
        "datasets": datasets,
    }
