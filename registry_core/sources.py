"""A model version's source: accepted and refused as MLflow 3.17.2 does, and checked against
what this server holds.

MLflow's rules (mlflow/server/handlers.py: _resolve_registered_model_source_lineage,
_validate_source_run, _validate_source_model), applied in its order and worded as it words them:
  - a host the server must not contact is refused (its host policy);
  - ``models:/<name>/<version|stage|latest>`` and ``models:/<name>@<alias>`` name a version of
    this registry (never a prompt); the source is recorded as ``models:/<name>/<version>``;
  - a local path or ``file://`` URI must lie inside the artifact directory of the run (or logged
    model) given with it, after resolving ``.`` and ``..``; a ``file://`` URI of another host is
    MLflow's internal error;
  - any other source must hold no relative segment in any encoding (CVE-2023-1177, -2356, -6831,
    CVE-2024-1560); ``runs:/<id>/…`` must name the run_id given; an ``mlflow-artifacts`` source
    must lie inside the run's (or model's) artifacts;
  - other URIs (``s3://``, ``gs://``, …) are accepted.

Beyond MLflow, each accepted source is *verified*: it lies inside the artifacts of a run or
logged model this server holds, which the server can then read and snapshot. A source that is
not (``runs:/`` of a run that does not exist here, a bucket outside the run's root) is still a
version, kept by reference, never read; ``Resolved.unverified`` says why, and lineage shows it.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import unquote, unquote_plus, urlsplit

from registry_core import aliases, logged_models, model_versions, registered_models
from registry_core.artifacts import ArtifactRepository, Location, is_local_uri, local_path
from registry_core.entities import VersionView
from registry_core.errors import InvalidInput, NotFound

PROMPT_SOURCES = ("dummy-source", "prompt-template")


@dataclass(slots=True)
class Resolved:
    source: str  # as recorded (models:/<name>@<alias> becomes models:/<name>/<version>)
    run_id: str | None
    model_id: str | None
    location: Location | None = None  # the verified artifacts to snapshot
    storage_location: str | None = None  # when not snapshotted: what the version points at
    shared_snapshot: bool = False  # a registry version's own (immutable) snapshot
    unverified: str | None = None  # why the server could not verify the source
    run_rows: list[RunRow] | None = None  # the promotion's reading of run_id, when read here


def invalid_source(source, why: str) -> InvalidInput:
    return InvalidInput(f"Invalid model version source: '{source}'. {why}")


def _must_identify(source, what: str) -> InvalidInput:
    return invalid_source(source, f"The {what} request parameter must identify the resource that contains the source.")


class ModelsUri(NamedTuple):
    """A ``models:/`` URI as MLflow parses it: a logged model's id, or a registered model's name
    with at most one of version, stage and alias (none of them: its latest version)."""

    model_id: str | None
    name: str | None
    version: int | None
    stage: str | None
    alias: str | None


class RunRow(NamedTuple):
    """One row of promotion's reading of a run (``promotion._RUN``, which selects these columns
    in this order): the run, one of its git tags (None when it has none), its logged model of
    the name asked for (None when none), and whether it has input datasets."""

    run_id: str
    experiment_id: int
    artifact_uri: str | None
    tag_key: str | None
    tag_value: str | None
    named_model_id: str | None
    named_model_location: str | None
    has_inputs: bool


def parse_models_uri(source: str) -> ModelsUri:
    """The parts of a models:/ URI, as MLflow parses it."""
    parts = urlsplit(source)
    path = parts.path
    if not path.startswith("/") or len(path) <= 1:
        raise _must_identify(source, "model_id")
    segments = path.lstrip("/").split("/")
    if len(segments) > 2 or not segments[0].strip():
        raise _must_identify(source, "model_id")
    if len(segments) == 2:
        name, suffix = segments
        if not suffix.strip():
            raise _must_identify(source, "model_id")
        if suffix.isdigit():
            return ModelsUri(None, name, int(suffix), None, None)
        if suffix.lower() == "latest":
            return ModelsUri(None, name, None, None, None)
        return ModelsUri(None, name, None, model_versions.canonical_stage(suffix), None)
    if "@" in segments[0]:
        name, alias = segments[0].rsplit("@", 1)
        if not alias:
            raise _must_identify(source, "model_id")
        return ModelsUri(None, name, None, None, alias)
    return ModelsUri(segments[0], None, None, None, None)


def _registry_version(source, name, version, stage, alias) -> VersionView:
    if registered_models.is_prompt(name):
        raise invalid_source(source, "Prompt versions cannot be used as model version sources.")
    if alias:
        return aliases.version_by_alias(name, alias)
    if version is not None:
        return model_versions.get_version(name, version)
    latest = registered_models.latest_versions(name, [stage] if stage else None)
    if not latest:
        raise NotFound(f"No versions of model {name}" + (f" in stage {stage}" if stage else ""))
    return max(latest, key=lambda mv: mv.version)


def _iteratively_unquote(value: str) -> str:
    while (unquoted := unquote(value)) != value:
        value = unquoted
    return value


def _parts(uri: str):
    p = urlsplit(uri)
    return p.scheme.lower(), p.netloc.lower(), tuple(_iteratively_unquote(x) for x in p.path.split("/") if x)


def within(uri: str, root: str | None) -> bool:
    """MLflow's _is_uri_within_root: same scheme and authority, the root's path a prefix."""
    if not root:
        return False
    s, r = _parts(uri), _parts(root)
    return s[0] == r[0] and s[1] == r[1] and bool(r[2]) and s[2][: len(r[2])] == r[2]


def _is_mlflow_artifact_source(source: str) -> bool:
    scheme, _, path = _parts(source)
    if scheme == "mlflow-artifacts":
        return True
    route = ("api", "2.0", "mlflow-artifacts", "artifacts")
    return scheme in ("http", "https") and any(path[i : i + 4] == route for i in range(len(path) - 3))


def _refuse_relative_paths(source: str) -> None:
    """MLflow's _validate_non_local_source_contains_relative_paths."""
    message = (
        f"Invalid model version source: '{source}'. If supplying a source as an http, https, local file "
        "path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without "
        "relative path references present. Please provide an absolute path."
    )
    decoded = source
    while (unquoted := unquote_plus(decoded)) != decoded:
        decoded = unquoted
    path = re.sub(r"/+", "/", urlsplit(decoded).path.rstrip("/"))
    if "\x00" in path or any(p == ".." for p in decoded.split("/")):
        raise InvalidInput(message)
    if posixpath.normpath(path) != path and path not in ("",):
        raise InvalidInput(message)


@dataclass(slots=True)
class _Candidate:
    """The run or logged model a source must lie in: its artifact URI, read once."""

    kind: str  # "run" or "model"
    ident: str
    uri: str | None
    rows: list[RunRow] | None = None
    source_run_id: str | None = None


# ``run_rows(run_id, named)``: the run's RunRows, its logged model called ``named`` in
# ``named_model_*`` ([] when there is no such run).
RunRows = Callable[[str, str], list[RunRow]]


def _run(run_id: str, source: str, run_rows: RunRows) -> _Candidate:
    rows = run_rows(run_id, "")
    if not rows:
        raise _must_identify(source, "run_id")
    return _Candidate("run", run_id, rows[0].artifact_uri, rows)


def _model(model_id: str, source: str) -> _Candidate:
    try:
        model = logged_models.get(model_id)
    except NotFound:
        raise _must_identify(source, "model_id") from None
    return _Candidate("model", model_id, model.artifact_location, source_run_id=model.source_run_id)


def _local_source(source, candidate: _Candidate | None, repo: ArtifactRepository, what: str) -> Location:
    """A local path inside the candidate's local artifact directory, as a Location there."""
    resolved = os.path.realpath(local_path(source.replace("\x00", "")))
    if candidate is not None and candidate.uri and is_local_uri(candidate.uri) and "\x00" not in source:
        root = os.path.realpath(local_path(candidate.uri))
        if resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep):
            return repo.locate(
                candidate.uri, os.path.relpath(resolved, root).replace(os.sep, "/") if resolved != root else None
            )
    owner = "run specified by the run_id" if what == "run_id" else "run specified by the model_id"
    raise InvalidInput(
        f"Invalid model version source: '{resolved if candidate else source}'. To use a local path as a model "
        f"version source, the {what} request parameter has to be specified and the local path has to be "
        f"contained within the artifact directory of the {owner}."
    )


def resolve(
    source: str, run_id: str | None, model_id: str | None, repo: ArtifactRepository, prompt: bool, run_rows: RunRows
) -> Resolved:
    """Resolve a CreateModelVersion's source. ``run_id`` / ``model_id``: None when the request
    did not carry them. ``run_rows``: the promotion's reading of a run (see ``RunRows``)."""
    if prompt:
        if source not in PROMPT_SOURCES:
            raise InvalidInput(f"Invalid prompt source: '{source}'. Prompt sources must use an MLflow placeholder.")
        return Resolved(source, run_id, model_id)
    refusal = repo.host_refusal(source, "source")
    if refusal:
        raise InvalidInput(refusal)
    resolved = _registered_model_source(source, run_id, model_id)
    if resolved is not None:
        source, run_id, model_id = resolved.source, resolved.run_id, resolved.model_id
    if model_id:
        found = _FOR_MODEL[_source_kind(source)](source, model_id, repo, run_rows)
    else:
        found = _FOR_RUN[_source_kind(source)](source, run_id, repo, run_rows)
    if resolved is not None:  # a registry version: its own snapshot, whatever its source was
        return resolved
    found.run_id = found.run_id or run_id
    found.model_id = model_id or found.model_id
    return found


def _registered_model_source(source, run_id, model_id) -> Resolved | None:
    """MLflow's _resolve_registered_model_source_lineage, for models:/<name>… sources."""
    parts = urlsplit(source)
    if parts.scheme.lower() != "models":
        return None
    if parts.netloc:
        raise invalid_source(source, "Registered model sources must use the active model registry.")
    uri = parse_models_uri(source)
    if uri.model_id is not None:
        return None
    mv = _registry_version(source, uri.name, uri.version, uri.stage, uri.alias)
    if (run_id is not None and (run_id or "") != (mv.run_id or "")) or (
        model_id is not None and (model_id or "") != (mv.model_id or "")
    ):
        raise invalid_source(
            source, "The run_id and model_id request parameters must match the referenced model version."
        )
    return Resolved(
        f"models:/{uri.name}/{mv.version}",
        mv.run_id if run_id is None else run_id,
        mv.model_id if model_id is None else model_id,
        storage_location=mv.storage_location,
        shared_snapshot=True,
    )


def _source_kind(source: str) -> str:
    """Which row of ``_FOR_RUN`` / ``_FOR_MODEL`` checks ``source``. Any source but a local one
    is first refused if it holds a relative segment in any encoding (MLflow's order)."""
    if is_local_uri(source):
        return "local"
    _refuse_relative_paths(source)
    scheme = urlsplit(source).scheme.lower()
    if scheme in ("runs", "models"):
        return scheme
    return "mlflow-artifacts" if _is_mlflow_artifact_source(source) else "other"


# --- sources given with a run_id (or neither id): MLflow's _validate_source_run, then whether
# this server holds what the source names


def _run_local(source, run_id, repo: ArtifactRepository, run_rows: RunRows) -> Resolved:
    candidate = _run(run_id, source, run_rows) if run_id else None
    location = _local_source(source, candidate, repo, "run_id")
    return Resolved(source, run_id, None, location=location, run_rows=candidate.rows)


def _run_runs_uri(source, run_id, repo: ArtifactRepository, run_rows: RunRows) -> Resolved:
    """``runs:/<run_id>/<path>``: the run's artifacts at ``path``, or the run's logged model
    called ``path``'s first segment (where MLflow 3's log_model writes), when the run holds no
    such path; unverified when this server holds no such run."""
    parts = urlsplit(source)
    if parts.netloc:
        raise _must_identify(source, "run_id")
    segments = [s for s in parts.path.split("/") if s]
    if not segments or not run_id or segments[0] != run_id:
        raise _must_identify(source, "run_id")
    rel = "/".join(segments[1:])
    first, _, rest = rel.partition("/")
    rows = run_rows(run_id, first)
    if not rows:
        return Resolved(
            source,
            run_id,
            None,
            storage_location=source,
            unverified=f"the run '{run_id}' does not exist on this server",
        )
    run = rows[0]
    location = repo.locate(run.artifact_uri, rel or None)
    if rel and run.named_model_id is not None and not repo.list(location):
        located = repo.locate(run.named_model_location, rest or None)
        return Resolved(source, run_id, run.named_model_id, location=located, run_rows=rows)
    return Resolved(source, run_id, None, location=location, run_rows=rows)


def _run_models_uri(source, run_id, repo: ArtifactRepository, run_rows: RunRows) -> Resolved:
    """A logged model's ``models:/<model_id>`` needs its model_id; a registry version's
    (already resolved) is checked as any other URI."""
    if urlsplit(source).netloc or parse_models_uri(source).model_id is not None:
        raise _must_identify(source, "model_id")
    return _run_other(source, run_id, repo, run_rows)


def _run_proxied(source, run_id, repo: ArtifactRepository, run_rows: RunRows) -> Resolved:
    """An ``mlflow-artifacts`` source must lie inside the run's artifacts."""
    candidate = _run(run_id, source, run_rows) if run_id else None
    if candidate is None or not within(source, candidate.uri):
        raise _must_identify(source, "run_id")
    return Resolved(source, run_id, None, location=repo.locate(source), run_rows=candidate.rows)


def _run_other(source, run_id, repo: ArtifactRepository, run_rows: RunRows) -> Resolved:
    rows = run_rows(run_id, "") if run_id else []
    candidate = _Candidate("run", run_id, rows[0].artifact_uri, rows) if rows else None
    return _other_source(source, candidate, run_id, None, repo)


_FOR_RUN = {
    "local": _run_local,
    "runs": _run_runs_uri,
    "models": _run_models_uri,
    "mlflow-artifacts": _run_proxied,
    "other": _run_other,
}


# --- sources given with a model_id: MLflow's _validate_source_model, then whether this server
# holds what the source names


def _model_local(source, model_id, repo: ArtifactRepository, _run_rows: RunRows) -> Resolved:
    candidate = _model(model_id, source)
    location = _local_source(source, candidate, repo, "model_id")
    return Resolved(source, candidate.source_run_id, model_id, location=location)


def _model_runs_uri(source, _model_id, _repo: ArtifactRepository, _run_rows: RunRows) -> Resolved:
    raise _must_identify(source, "model_id")


def _model_models_uri(source, model_id, repo: ArtifactRepository, run_rows: RunRows) -> Resolved:
    """``models:/<model_id>`` must name the model_id given; a registry version's (already
    resolved) is checked as any other URI."""
    if urlsplit(source).netloc:
        raise _must_identify(source, "model_id")
    mid = parse_models_uri(source).model_id
    if mid is None:
        return _model_other(source, model_id, repo, run_rows)
    if mid != model_id:
        raise _must_identify(source, "model_id")
    candidate = _model(model_id, source)
    return Resolved(source, candidate.source_run_id, model_id, location=repo.locate(candidate.uri))


def _model_proxied(source, model_id, repo: ArtifactRepository, _run_rows: RunRows) -> Resolved:
    """An ``mlflow-artifacts`` source must lie inside the model's artifacts."""
    candidate = _model(model_id, source)
    if not within(source, candidate.uri):
        raise _must_identify(source, "model_id")
    return Resolved(source, candidate.source_run_id, model_id, location=repo.locate(source))


def _model_other(source, model_id, repo: ArtifactRepository, _run_rows: RunRows) -> Resolved:
    try:
        candidate = _model(model_id, source)
    except InvalidInput:
        candidate = None
    return _other_source(source, candidate, candidate.source_run_id if candidate else None, model_id, repo)


_FOR_MODEL = {
    "local": _model_local,
    "runs": _model_runs_uri,
    "models": _model_models_uri,
    "mlflow-artifacts": _model_proxied,
    "other": _model_other,
}


def _other_source(source, candidate: _Candidate | None, run_id, model_id, repo: ArtifactRepository) -> Resolved:
    """A URI MLflow accepts as it is (``s3://``, ``gs://``, …): verified when it lies inside the
    candidate's artifacts (the server then reads it), kept by reference otherwise."""
    if candidate is not None and within(source, candidate.uri):
        return Resolved(source, run_id, model_id, location=repo.locate(source), run_rows=candidate.rows)
    owner = f"the {candidate.kind} '{candidate.ident}'" if candidate else "any run or logged model of this server"
    return Resolved(
        source,
        run_id,
        model_id,
        storage_location=source,
        unverified=f"the source does not lie in the artifacts of {owner}",
    )
