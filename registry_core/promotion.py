"""Promotion: a candidate (a run or a logged model) becomes an immutable version of record.

The source is resolved when the version is created:
  models:/<model_id>                 a logged model      -> its artifacts
  models:/<name>/<version|stage>, models:/<name>@<alias>  -> that version's artifacts
  runs:/<run_id>/<path>              a run's artifacts (or the logged model the run named <path>)
  mlflow-artifacts:/... or the store's own URIs, inside the run's or logged model's artifacts
Anything else (file:///etc/..., absolute or ../ paths, http URLs, other buckets) is refused: a
version can never point the server at files outside its store.

The resolved artifacts are snapshotted under ``registry/<uuid>/`` in the store, so the version
owns its files: later writes or deletes of the candidate's artifacts do not change it, and the
artifact API refuses writes under ``registry/``. Lineage (run, experiment, source commit and
repository, input datasets) is recorded in the same transaction.
"""
from __future__ import annotations

import json
import uuid
from urllib.parse import unquote, urlsplit

import peewee as pw
from storage.base import UnsafePath
from storage.paths import safe_relpath

from registry_core import logged_models, registry
from registry_core.artifacts import ArtifactRepository
from registry_core.clock import now_ms
from registry_core.db import database, dialect
from registry_core.errors import InvalidInput, NotFound
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

PROMPT_SOURCES = ("dummy-source", "prompt-template")
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
GIT_REPO_TAGS = ("mlflow.source.git.repoURL", "mlflow.gitRepoURL")
DATASET_CONTEXT_TAG = "mlflow.data.context"
SNAPSHOT_ROOT = "registry"
_VERSION_RETRIES = 5


def _invalid_source(source: str, why: str) -> InvalidInput:
    return InvalidInput(f"Invalid model version source: '{source}'. {why}")


def _parse_models_uri(source: str):
    """(model_id, name, version, stage, alias) of a models:/ URI, as MLflow parses it."""
    parts = urlsplit(source)
    if parts.netloc:
        raise _invalid_source(source, "Registered model sources must use the active model registry.")
    path = parts.path
    if not path.startswith("/") or len(path) <= 1:
        raise _invalid_source(source, "Not a valid models:/ URI.")
    segments = path.lstrip("/").split("/")
    if len(segments) > 2 or not segments[0].strip():
        raise _invalid_source(source, "Not a valid models:/ URI.")
    if len(segments) == 2:
        name, suffix = segments
        if not suffix.strip():
            raise _invalid_source(source, "Not a valid models:/ URI.")
        if suffix.isdigit():
            return None, name, int(suffix), None, None
        if suffix.lower() == "latest":
            return None, name, None, None, None
        return None, name, None, registry.canonical_stage(suffix), None
    if "@" in segments[0]:
        name, alias = segments[0].rsplit("@", 1)
        if not alias:
            raise _invalid_source(source, "Not a valid models:/ URI.")
        return None, name, None, None, alias
    return segments[0], None, None, None, None


def _registry_version(source, name, version, stage, alias) -> registry.VersionView:
    if registry.is_prompt(name):
        raise _invalid_source(source, "Prompt versions cannot be used as model version sources.")
    if alias:
        return registry.version_by_alias(name, alias)
    if version is not None:
        return registry.get_version(name, version)
    latest = registry.latest_versions(name, [stage] if stage else None)
    if not latest:
        raise NotFound(f"No versions of model {name}" + (f" in stage {stage}" if stage else ""))
    return max(latest, key=lambda mv: mv.version)


def _within(uri: str, root: str) -> bool:
    def parts(u):
        p = urlsplit(u)
        return p.scheme.lower(), p.netloc.lower(), [unquote(x) for x in p.path.split("/") if x]

    s, r = parts(uri), parts(root)
    return s[0] == r[0] and s[1] == r[1] and bool(r[2]) and s[2][: len(r[2])] == r[2]


# The reads and writes of a promotion, each compiled once per database: peewee took longer to
# write these statements than the database to run them (bench W6 create).
def _named_model(run_id, name, column):
    """The run's latest live logged model called ``name``: its ``column`` (a scalar subquery)."""
    return LoggedModel.select(column).where(
        (LoggedModel.source_run_id == run_id) & (LoggedModel.name == name) & (LoggedModel.lifecycle_stage != "deleted")
    ).order_by(LoggedModel.creation_timestamp.desc()).limit(1)


# the run with its git tags (a row per tag found, one row of NULL tags when none is), then the id
# and location of its logged model named ``name``, if any, and whether it took datasets as
# input: what resolving a source reads, and lineage then, in one statement
_RUN = Prepared(lambda run_id, name: Run.select(
    Run.run_uuid, Run.experiment, Run.artifact_uri, Tag.key, Tag.value,
    _named_model(pw.Value(run_id), pw.Value(name), LoggedModel.model_id),
    _named_model(pw.Value(run_id), pw.Value(name), LoggedModel.artifact_location),
    pw.fn.EXISTS(Input.select(pw.SQL("1")).where(Input.run == pw.Value(run_id))),
).join(
    Tag, pw.JOIN.LEFT_OUTER, on=((Tag.run == Run.run_uuid) & Tag.key.in_([GIT_COMMIT_TAG, *GIT_REPO_TAGS]))
).where(Run.run_uuid == pw.Value(run_id)), "run_id", "name")
_LINEAGE_DATASETS = Prepared(lambda run_id: Input.select(Dataset.name, Dataset.digest, InputTag.value).join(
    Dataset, on=(Input.dataset == Dataset.dataset_uuid)
).switch(Input).join(
    InputTag, pw.JOIN.LEFT_OUTER, on=((InputTag.input == Input.input_uuid) & (InputTag.name == DATASET_CONTEXT_TAG))
).where(Input.run == pw.Value(run_id)).order_by(Dataset.name, Dataset.digest), "run_id")
_LAST_VERSION = Prepared(lambda model: ModelVersion.select(pw.fn.MAX(ModelVersion.version)).where(
    ModelVersion.registered_model == pw.Value(model)), "model")
_VERSION_COLUMNS = ("registered_model", "version", "creation_time", "last_updated_time", "description", "source",
                    "storage_location", "run_id", "run_link", "model_id", "source_experiment_id", "source_commit",
                    "source_repository")


def _build_insert(*markers):
    query = ModelVersion.insert(
        dict(zip(_VERSION_COLUMNS, map(pw.Value, markers)), user_id=None, current_stage="None", status="READY")
    )
    return query.returning(ModelVersion.id) if database.obj.returning_clause else query


_INSERT_VERSION = Prepared(_build_insert, *_VERSION_COLUMNS)
_NUMBERED_COLUMNS = tuple(column for column in _VERSION_COLUMNS if column != "version")


def _build_numbered_insert(*markers):
    """The version inserted with its number: one past the model's highest (a subquery), the
    key and number returned (RETURNING): one statement where two were."""
    values = dict(zip(_NUMBERED_COLUMNS, map(pw.Value, markers)))
    highest = ModelVersion.select(pw.fn.MAX(ModelVersion.version)).where(
        ModelVersion.registered_model == values["registered_model"])  # a bare MAX: read off the index's end
    values["version"] = pw.fn.COALESCE(highest, 0) + 1
    return ModelVersion.insert(values, user_id=None, current_stage="None", status="READY").returning(
        ModelVersion.id, ModelVersion.version)


_INSERT_NEXT_VERSION = Prepared(_build_numbered_insert, *_NUMBERED_COLUMNS)


def _numbers_in_insert() -> bool:
    """Whether the version is numbered inside its INSERT (``_INSERT_NEXT_VERSION``): on
    PostgreSQL, where it spares a round trip to the server. MySQL and MariaDB refuse a subquery
    on the table an INSERT writes (error 1093). SQLite takes it, but its RETURNING costs more
    than the statement it saves (an ephemeral table: 76-99 against 65-85 us for the MAX and the
    INSERT apart, sqlite3 3.40 alone), and its writers are serialised anyway."""
    return dialect() == "postgresql"


_TOUCH_MODEL = Prepared(lambda now, model: RegisteredModel.update(last_updated_time=pw.Value(now)).where(
    RegisteredModel.id == pw.Value(model)), "now", "model")


def _run_rows(run_id: str, source: str, named: str = "") -> list[tuple]:
    """The run's ``_RUN`` rows: ``[0][2]`` is its artifact URI, ``[0][5:7]`` the id and location of
    its logged model called ``named``, ``[0][7]`` whether it has input datasets."""
    rows = _RUN.execute(run_id=run_id, name=named).fetchall()
    if not rows:
        raise _invalid_source(source, "The run_id request parameter must identify the resource that contains the source.")
    return rows


class Resolved:
    def __init__(self, location: str | None, run_id: str | None, model_id: str | None, shared_snapshot: bool = False,
                 external: bool = False, run_rows: list[tuple] | None = None):
        self.location = location  # an artifact URI inside the store, or None (prompts)
        self.run_id = run_id
        self.run_rows = run_rows  # the _RUN rows of run_id, when resolving read them
        self.model_id = model_id
        self.shared_snapshot = shared_snapshot  # already an immutable registry snapshot
        # the candidate's artifacts live in a client-written root outside the server's store
        # (``--default-artifact-root /path``): the server never reads them, it keeps the reference
        self.external = external


def resolve_source(source: str, run_id: str | None, model_id: str | None, repo: ArtifactRepository,
                   prompt: bool) -> Resolved:
    if not source:
        raise InvalidInput("Missing value for required parameter 'source'.")
    if prompt:
        if source not in PROMPT_SOURCES:
            raise InvalidInput(f"Invalid prompt source: '{source}'. Prompt sources must use an MLflow placeholder.")
        return Resolved(None, run_id, model_id)
    if "\\" in source or "\x00" in source or ".." in unquote(unquote(source)).split("/"):
        raise _invalid_source(source, "Relative path segments and backslashes are not allowed.")
    scheme = urlsplit(source).scheme.lower()
    if scheme == "models":
        mid, name, version, stage, alias = _parse_models_uri(source)
        if mid is not None:
            if model_id and model_id != mid:
                raise _invalid_source(source, "The model_id request parameter must identify the resource that contains the source.")
            model = logged_models.get(mid)
            return Resolved(model.artifact_location, run_id or model.source_run_id, mid,
                            external=not repo.owns(model.artifact_location))
        mv = _registry_version(source, name, version, stage, alias)
        return Resolved(mv.storage_location, run_id or mv.run_id, model_id or mv.model_id, shared_snapshot=True)
    if scheme == "runs":
        parts = urlsplit(source)
        if parts.netloc:
            raise _invalid_source(source, "The run_id request parameter must identify the resource that contains the source.")
        segments = [s for s in parts.path.split("/") if s]
        if not segments:
            raise _invalid_source(source, "Not a valid runs:/ URI.")
        source_run, rel = segments[0], "/".join(segments[1:])
        if run_id and run_id != source_run:
            raise _invalid_source(source, "The run_id request parameter must identify the resource that contains the source.")
        first, _, rest = rel.partition("/")
        rows = _run_rows(source_run, source, named=first)
        row = rows[0]
        try:
            safe_relpath(rel)
        except UnsafePath:
            raise _invalid_source(source, "Relative path segments and backslashes are not allowed.") from None
        external = not repo.owns(row[2])
        named_id, named_location = row[5], row[6]
        if rel and named_id is not None and (external or not repo.list(repo.resolve(row[2], rel))):
            location = named_location if not rest else f"{named_location.rstrip('/')}/{rest}"
            return Resolved(location, source_run, model_id or named_id, external=not repo.owns(named_location),
                            run_rows=rows)
        location = row[2] if not rel else f"{row[2].rstrip('/')}/{rel}"
        return Resolved(location, source_run, model_id, external=external, run_rows=rows)
    if repo.owns(source):
        if model_id:
            model = logged_models.get(model_id)
            if _within(source, model.artifact_location):
                return Resolved(source, run_id or model.source_run_id, model_id)
        if run_id:
            rows = _run_rows(run_id, source)
            if _within(source, rows[0][2]):
                return Resolved(source, run_id, model_id, run_rows=rows)
        raise _invalid_source(
            source, "It must lie inside the artifacts of the run_id or model_id given with it."
        )
    # A location inside the run's (or logged model's) own artifacts when those live in a
    # client-written root outside the server's store (MLflow's local-source rule; the 2.x client
    # registers ``runs:/`` URIs this way). The server never reads such a location.
    if model_id:
        model = logged_models.get(model_id)
        if not repo.owns(model.artifact_location) and _within(source, model.artifact_location):
            return Resolved(source, run_id or model.source_run_id, model_id, external=True)
    if run_id:
        rows = _run_rows(run_id, source)
        if not repo.owns(rows[0][2]) and _within(source, rows[0][2]):
            return Resolved(source, run_id, model_id, external=True, run_rows=rows)
    raise _invalid_source(
        source, "Sources must be runs:/, models:/ or artifact URIs of this server's artifact store."
    )


def _snapshot(repo: ArtifactRepository, location: str, proxied: bool) -> str:
    """Copy the artifacts at ``location`` to a registry-owned, immutable place; its URI."""
    src = repo.resolve(location)
    dst = f"{SNAPSHOT_ROOT}/{uuid.uuid4().hex}"
    copied = repo.copy_tree(src, dst)
    if not copied:
        return location  # nothing there (yet): keep the reference, as MLflow does
    return repo.uri_for(dst, proxied)


def _lineage(run_id: str | None, rows: list[tuple] | None = None) -> dict:
    """What the run a version is promoted from records: experiment, git tags, input datasets.
    ``rows``: the run's ``_RUN`` rows, if already read."""
    if not run_id:
        return {}
    if rows is None:
        rows = _RUN.execute(run_id=run_id, name="").fetchall()
    if not rows:
        return {}  # no such run (a models:/ source's run may have been deleted since)
    tags = {row[3]: row[4] for row in rows if row[3] is not None}
    return {
        "source_experiment_id": rows[0][1],
        "source_commit": tags.get(GIT_COMMIT_TAG),
        "source_repository": next((tags[t] for t in GIT_REPO_TAGS if tags.get(t)), None),
        "datasets": [
            {"name": name, "digest": digest, "context": context}
            for name, digest, context in _LINEAGE_DATASETS.execute(run_id=run_id).fetchall()
        ] if rows[0][7] else [],
    }


def promote(name, source, run_id, tags, run_link, description, model_id, repo: ArtifactRepository,
            proxied: bool) -> registry.VersionView:
    """Create the next version of model ``name`` from a candidate (MLflow's CreateModelVersion)."""
    tags = dict(registry.validate_tag(k, val) for k, val in (tags or []))
    prompt = (tags.get(registry.IS_PROMPT_TAG) or "").lower() == "true"
    model_pk = registry.model_pk(name)
    resolved = resolve_source(source, run_id or None, model_id or None, repo, prompt)
    location = resolved.location
    if location and not resolved.shared_snapshot and not resolved.external:
        location = _snapshot(repo, location, proxied)
    lineage = _lineage(resolved.run_id, resolved.run_rows) if not prompt else {}
    for attempt in range(_VERSION_RETRIES):
        try:
            with database.atomic():
                version, now = _insert_version(model_pk, source, location, resolved, tags, run_link, description, lineage)
            break
        except pw.IntegrityError:
            if attempt == _VERSION_RETRIES - 1:
                raise
    if resolved.model_id and not prompt:
        _record_on_logged_model(resolved.model_id, name, version)
    # The answer is what was just written, not read back: a new version's number was never used
    # (numbers of deleted versions are not reused), so no alias can name it yet.
    return registry.VersionView(
        name=name, version=version, creation_timestamp=now, last_updated_timestamp=now,
        description=description or None, user_id=None, current_stage="None", source=source,
        run_id=resolved.run_id, run_link=run_link or None, status="READY", status_message=None,
        model_id=resolved.model_id, storage_location=location, tags=sorted(tags.items()), aliases=[],
    )


def _insert_version(model_pk, source, location, resolved, tags, run_link, description, lineage) -> tuple[int, int]:
    now = now_ms()
    values = dict(
        registered_model=model_pk, creation_time=now, last_updated_time=now,
        description=description or None, source=source, storage_location=location, run_id=resolved.run_id,
        run_link=run_link or None, model_id=resolved.model_id, source_experiment_id=lineage.get("source_experiment_id"),
        source_commit=lineage.get("source_commit"), source_repository=lineage.get("source_repository"),
    )
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
    entry = {"name": name, "version": str(version)}
    entries = json.loads(current) if current else []
    if entry not in entries:
        entries.append(entry)
    logged_models.set_tags(model_id, [(MODEL_VERSIONS_TAG, json.dumps(entries))])


def lineage(name: str, version) -> dict:
    """What a version was promoted from: run, experiment, commit, repository, datasets."""
    row = registry.model_row(name)
    mv = ModelVersion.select().where(
        (ModelVersion.registered_model == row["id"]) & (ModelVersion.version == registry.validate_version(version))
        & (ModelVersion.deleted == False)  # noqa: E712
    ).dicts().first()
    if mv is None:
        raise NotFound(f"Model Version (name={name}, version={version}) not found")
    datasets = list(ModelVersionDataset.select(
        ModelVersionDataset.name, ModelVersionDataset.digest, ModelVersionDataset.context
    ).where(ModelVersionDataset.model_version == mv["id"]).order_by(ModelVersionDataset.name).dicts())
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
        "datasets": datasets,
    }
