"""The model registry: models of record, their versions, tags, aliases and stages.

One function per use case, each in one transaction. Versions are created by promotion
(``registry_core.promotion``); everything else about a version may change except its artifacts.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import peewee as pw

from registry_core import validation as v
from registry_core.clock import now_ms
from registry_core.db import database
from registry_core.errors import AlreadyExists, InvalidInput, NotFound
from registry_core.models import (
    ModelVersion,
    ModelVersionDataset,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from registry_core.sqlutil import Prepared, quoted, select_in, upsert

IS_PROMPT_TAG = "mlflow.prompt.is_prompt"
STAGES = ("None", "Staging", "Production", "Archived")
ACTIVE_STAGES = ("Staging", "Production")
MAX_TAG_KEY = 250
MAX_TAG_VALUE = 100_000
MAX_ALIAS_LENGTH = 255
_ALIAS_RE = re.compile(r"^[\w\-]*$")
_RESERVED_ALIAS_RE = re.compile(r"^[vV]\d+$")


@dataclass(slots=True)
class VersionView:
    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None
    user_id: str | None
    current_stage: str
    source: str | None
    run_id: str | None
    run_link: str | None
    status: str
    status_message: str | None
    model_id: str | None
    storage_location: str | None
    tags: list[tuple[str, str]] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ModelView:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None
    latest_versions: list[VersionView] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    aliases: list[tuple[str, int]] = field(default_factory=list)


# --- validation ------------------------------------------------------------------------------


def validate_name(name) -> str:
    if not name or not isinstance(name, str):
        raise InvalidInput("Registered model name cannot be empty.")
    if "/" in name or ":" in name:
        raise InvalidInput(f"Invalid name: '{name}'. Registered model name cannot contain '/' or ':'.")
    if len(name) > 256:
        raise InvalidInput("Registered model name exceeds the maximum length of 256 characters")
    return name


def validate_tag(key, value) -> tuple[str, str]:
    v.validate_key("tag", key)
    value = "" if value is None else str(value)
    if len(value) > MAX_TAG_VALUE:
        raise InvalidInput(f"'value' exceeds the maximum length of {MAX_TAG_VALUE} characters")
    return key, value


def validate_alias(alias) -> str:
    if not alias or not isinstance(alias, str):
        raise InvalidInput("Registered model alias name cannot be empty.")
    if not _ALIAS_RE.match(alias):
        raise InvalidInput(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidInput(f"Registered model alias name exceeds the maximum length of {MAX_ALIAS_LENGTH} characters")
    return alias


def validate_version(version) -> int:
    """A version number as MLflow reads one (``int()``: " 1" is 1, "1.0" is refused); a number
    no version has (0, -1, beyond int64) is left to the lookup, which finds nothing."""
    try:
        return int(str(version))
    except (TypeError, ValueError):
        raise InvalidInput(f"Parameter 'version' must be an integer, got '{version}'.") from None


def canonical_stage(stage) -> str:
    for s in STAGES:
        if str(stage).lower() == s.lower():
            return s
    raise InvalidInput(f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(STAGES)}.")


# --- reads -----------------------------------------------------------------------------------


def model_row(name: str) -> dict:
    validate_name(name)
    row = RegisteredModel.select().where(RegisteredModel.name == name).dicts().first()
    if row is None:
        raise NotFound(f"Registered Model with name={name} not found")
    return row


_MODEL_PK = Prepared(
    lambda name: RegisteredModel.select(RegisteredModel.id).where(RegisteredModel.name == pw.Value(name)), "name"
)


def model_pk(name: str) -> int:
    """The model's key, for a caller that needs nothing more of its row (one compiled statement)."""
    validate_name(name)
    found = _MODEL_PK.first(name=name)
    return model_row(name)["id"] if found is None else found[0]  # model_row says what is missing


def version_not_found(name: str, number) -> NotFound:
    return NotFound(f"Model Version (name={name}, version={number}) not found")


def live_version(name: str, version) -> tuple[dict, dict]:
    """(model row, version row) of a live version. As MLflow: a version that is not an integer
    is refused first; a missing model or version is the version's not found."""
    number = validate_version(version)
    validate_name(name)
    row = RegisteredModel.select().where(RegisteredModel.name == name).dicts().first()
    if row is None or not _IN_INT64(number):
        raise version_not_found(name, number)
    mv = (
        ModelVersion.select()
        .where(
            (ModelVersion.registered_model == row["id"])
            & (ModelVersion.version == number)
            & (ModelVersion.deleted == False)  # noqa: E712
        )
        .dicts()
        .first()
    )
    if mv is None:
        raise version_not_found(name, number)
    return row, mv


def _IN_INT64(number: int) -> bool:
    return -(2**63) <= number < 2**63


# The columns of a version row: its key, its registered model's key, then VersionView's own
# fields from ``version`` to ``storage_location``. ``version_views_of_tuples`` reads them with
# the model's name between the two keys.
VERSION_ROW = (
    "id",
    "registered_model",
    "version",
    "creation_time",
    "last_updated_time",
    "description",
    "user_id",
    "current_stage",
    "source",
    "run_id",
    "run_link",
    "status",
    "status_message",
    "model_id",
    "storage_location",
)


def version_views(rows: list[dict], names: dict[int, str]) -> list[VersionView]:
    """VersionViews of version rows, with tags and aliases, in a fixed number of queries."""
    return version_views_of_tuples(
        [(r["id"], r["registered_model"], names[r["registered_model"]], *(r[c] for c in VERSION_ROW[2:])) for r in rows]
    )


def version_views_of_tuples(rows: list[tuple]) -> list[VersionView]:
    """As ``version_views``, of row tuples laid out as (id, registered model's key, model name,
    then ``VERSION_ROW[2:]``): a search page of 500 versions is built without a dict per row."""
    if not rows:
        return []
    tags: dict = {}
    for vid, key, value in select_in(
        quoted("model_version_id", "key", "value"),
        quoted(ModelVersionTag._meta.table_name),
        quoted("model_version_id"),
        [r[0] for r in rows],
        quoted("key"),
    ):
        tags.setdefault(vid, []).append((key, value))
    aliases: dict = {}
    for mid, alias, version in select_in(
        quoted("registered_model_id", "alias", "version"),
        quoted(RegisteredModelAlias._meta.table_name),
        quoted("registered_model_id"),
        {r[1] for r in rows},
        quoted("alias"),
    ):
        aliases.setdefault((mid, version), []).append(alias)
    # Each list is one view's own (a version's tags and aliases belong to it alone).
    return [VersionView(*r[2:], tags.get(r[0]) or [], aliases.get((r[1], r[3])) or []) for r in rows]


def _latest_per_stage(model_pks: list[int], stages=None) -> dict[int, list[dict]]:
    """The highest live version of each stage, per model (one window-function query)."""
    if not model_pks:
        return {}
    ranked = ModelVersion.select(
        ModelVersion.id,
        pw.fn.ROW_NUMBER()
        .over(
            partition_by=[ModelVersion.registered_model, ModelVersion.current_stage],
            order_by=[ModelVersion.version.desc()],
        )
        .alias("rn"),
    ).where(ModelVersion.registered_model.in_(model_pks) & (ModelVersion.deleted == False))  # noqa: E712
    if stages:
        ranked = ranked.where(ModelVersion.current_stage.in_(list(stages)))
    ranked = ranked.alias("ranked")
    rows = (
        ModelVersion.select()
        .join(ranked, on=(ranked.c.id == ModelVersion.id))
        .where(ranked.c.rn == 1)
        .order_by(ModelVersion.version)
        .dicts()
    )
    out = defaultdict(list)
    for r in rows:
        out[r["registered_model"]].append(r)
    return out


def model_views(rows: list[dict]) -> list[ModelView]:
    if not rows:
        return []
    pks = [r["id"] for r in rows]
    names = {r["id"]: r["name"] for r in rows}
    latest = _latest_per_stage(pks)
    tags = defaultdict(list)
    for mid, key, value in (
        RegisteredModelTag.select(RegisteredModelTag.registered_model, RegisteredModelTag.key, RegisteredModelTag.value)
        .where(RegisteredModelTag.registered_model.in_(pks))
        .order_by(RegisteredModelTag.key)
        .tuples()
    ):
        tags[mid].append((key, value))
    aliases = defaultdict(list)
    for mid, alias, version in (
        RegisteredModelAlias.select(
            RegisteredModelAlias.registered_model, RegisteredModelAlias.alias, RegisteredModelAlias.version
        )
        .where(RegisteredModelAlias.registered_model.in_(pks))
        .order_by(RegisteredModelAlias.alias)
        .tuples()
    ):
        aliases[mid].append((alias, version))
    all_latest = [row for pk in pks for row in latest.get(pk, [])]
    views_by_id = {vv_row["id"]: vv for vv_row, vv in zip(all_latest, version_views(all_latest, names))}
    return [
        ModelView(
            name=r["name"],
            creation_timestamp=r["creation_time"],
            last_updated_timestamp=r["last_updated_time"],
            description=r["description"],
            latest_versions=[views_by_id[x["id"]] for x in latest.get(r["id"], [])],
            tags=tags[r["id"]],
            aliases=aliases[r["id"]],
        )
        for r in rows
    ]


def get_model(name: str) -> ModelView:
    return model_views([model_row(name)])[0]


def is_prompt(name: str) -> bool:
    pk = model_row(name)["id"]
    value = (
        RegisteredModelTag.select(RegisteredModelTag.value)
        .where((RegisteredModelTag.registered_model == pk) & (RegisteredModelTag.key == IS_PROMPT_TAG))
        .scalar()
    )
    return (value or "").lower() == "true"


def get_version(name: str, version) -> VersionView:
    number = validate_version(version)
    validate_name(name)
    found = _VERSION_BY_NAME.first(name=name, number=number) if _IN_INT64(number) else None
    if found is None:
        raise version_not_found(name, number)
    return version_views_of_tuples([found])[0]


def version_of(model: dict, name: str, version) -> VersionView:
    """As ``get_version``, for a caller that holds the model's row already."""
    number = validate_version(version)
    found = _VERSION_BY_NUMBER.first(model=model["id"], number=number) if _IN_INT64(number) else None
    if found is None:
        raise version_not_found(name, number)
    return version_views_of_tuples([(found[0], found[1], name, *found[2:])])[0]


# --- registered models -----------------------------------------------------------------------


def create_model(name, tags, description) -> ModelView:
    validate_name(name)
    tags = dict(validate_tag(k, val) for k, val in (tags or []))
    now = now_ms()
    with database.atomic():
        existing = RegisteredModel.select(RegisteredModel.id).where(RegisteredModel.name == name).scalar()
        if existing is not None:
            raise AlreadyExists(_exists_message(name, existing, tags))
        try:
            pk = RegisteredModel.insert(
                name=name, creation_time=now, last_updated_time=now, description=description or None
            ).execute()
        except pw.IntegrityError:
            raise AlreadyExists(f"Registered Model (name={name}) already exists.") from None
        upsert(
            RegisteredModelTag,
            [{"registered_model": pk, "key": k, "value": val} for k, val in tags.items()],
            [RegisteredModelTag.registered_model, RegisteredModelTag.key],
            [RegisteredModelTag.value],
        )
    return get_model(name)


def _exists_message(name: str, pk: int, new_tags: dict) -> str:
    """MLflow words the clash differently when a prompt and a model share a name."""
    old_prompt = (
        RegisteredModelTag.select(RegisteredModelTag.value)
        .where((RegisteredModelTag.registered_model == pk) & (RegisteredModelTag.key == IS_PROMPT_TAG))
        .scalar()
        or ""
    ).lower() == "true"
    new_prompt = (new_tags.get(IS_PROMPT_TAG) or "").lower() == "true"
    if old_prompt and not new_prompt:
        return f"Tried to create a model with name {name!r}, but the name is already taken by a prompt."
    if new_prompt and not old_prompt:
        return f"Tried to create a prompt with name {name!r}, but the name is already taken by a registered model."
    return f"Registered Model (name={name}) already exists."


def rename_model(name, new_name) -> ModelView:
    validate_name(new_name)
    pk = model_row(name)["id"]
    with database.atomic():
        if RegisteredModel.select().where((RegisteredModel.name == new_name) & (RegisteredModel.id != pk)).exists():
            raise AlreadyExists(f"Registered Model (name={new_name}) already exists.")
        now = now_ms()
        # Versions reference the model by key, so they follow the rename in this one statement.
        RegisteredModel.update(name=new_name, last_updated_time=now).where(RegisteredModel.id == pk).execute()
        ModelVersion.update(last_updated_time=now).where(ModelVersion.registered_model == pk).execute()
    return get_model(new_name)


def update_model(name, description) -> ModelView:
    pk = model_row(name)["id"]
    RegisteredModel.update(description=description, last_updated_time=now_ms()).where(
        RegisteredModel.id == pk
    ).execute()
    return get_model(name)


def delete_model(name) -> None:
    """The model, its versions, tags and aliases go together (artifact snapshots stay in the
    store until an operator collects them)."""
    pk = model_row(name)["id"]
    with database.atomic():
        versions = ModelVersion.select(ModelVersion.id).where(ModelVersion.registered_model == pk)
        ModelVersionTag.delete().where(ModelVersionTag.model_version.in_(versions)).execute()
        ModelVersionDataset.delete().where(ModelVersionDataset.model_version.in_(versions)).execute()
        RegisteredModelAlias.delete().where(RegisteredModelAlias.registered_model == pk).execute()
        RegisteredModelTag.delete().where(RegisteredModelTag.registered_model == pk).execute()
        ModelVersion.delete().where(ModelVersion.registered_model == pk).execute()
        RegisteredModel.delete().where(RegisteredModel.id == pk).execute()


def set_model_tag(name, key, value) -> None:
    key, value = validate_tag(key, value)
    pk = model_row(name)["id"]
    upsert(
        RegisteredModelTag,
        [{"registered_model": pk, "key": key, "value": value}],
        [RegisteredModelTag.registered_model, RegisteredModelTag.key],
        [RegisteredModelTag.value],
    )


def delete_model_tag(name, key) -> None:
    v.validate_key("tag", key)
    pk = model_row(name)["id"]
    RegisteredModelTag.delete().where(
        (RegisteredModelTag.registered_model == pk) & (RegisteredModelTag.key == key)
    ).execute()


def latest_versions(name, stages) -> list[VersionView]:
    row = model_row(name)
    wanted = [canonical_stage(s) for s in stages] if stages else list(STAGES)
    rows = _latest_per_stage([row["id"]], wanted).get(row["id"], [])
    return version_views(rows, {row["id"]: name})


# --- versions --------------------------------------------------------------------------------


def _touch(model_pk: int, version_pk: int | None, now: int) -> None:
    RegisteredModel.update(last_updated_time=now).where(RegisteredModel.id == model_pk).execute()
    if version_pk is not None:
        ModelVersion.update(last_updated_time=now).where(ModelVersion.id == version_pk).execute()


def update_version(name, version, description) -> VersionView:
    row, mv = live_version(name, version)
    ModelVersion.update(description=description, last_updated_time=now_ms()).where(
        ModelVersion.id == mv["id"]
    ).execute()
    return version_of(row, name, version)


def transition_stage(name, version, stage, archive_existing: bool) -> VersionView:
    stage = canonical_stage(stage)
    if archive_existing and stage not in ACTIVE_STAGES:
        raise InvalidInput(
            f"Model version transition cannot archive existing model versions because '{stage}' is "
            f"not an Active stage. Valid stages are {list(ACTIVE_STAGES)}"
        )
    row, mv = live_version(name, version)
    now = now_ms()
    with database.atomic():
        if archive_existing:
            ModelVersion.update(current_stage="Archived", last_updated_time=now).where(
                (ModelVersion.registered_model == row["id"])
                & (ModelVersion.id != mv["id"])
                & (ModelVersion.current_stage == stage)
                & (ModelVersion.deleted == False)  # noqa: E712
            ).execute()
        ModelVersion.update(current_stage=stage, last_updated_time=now).where(ModelVersion.id == mv["id"]).execute()
        _touch(row["id"], None, now)
    return version_of(row, name, version)


def delete_version(name, version) -> None:
    """The number is never reused: the row stays, redacted, as in MLflow; its aliases go."""
    row, mv = live_version(name, version)
    now = now_ms()
    with database.atomic():
        RegisteredModelAlias.delete().where(
            (RegisteredModelAlias.registered_model == row["id"]) & (RegisteredModelAlias.version == mv["version"])
        ).execute()
        ModelVersion.update(
            deleted=True,
            current_stage="Deleted_Internal",
            last_updated_time=now,
            description=None,
            user_id=None,
            source="REDACTED-SOURCE-PATH",
            run_id="REDACTED-RUN-ID",
            run_link="REDACTED-RUN-LINK",
            status_message=None,
        ).where(ModelVersion.id == mv["id"]).execute()
        _touch(row["id"], None, now)


def set_version_tag(name, version, key, value) -> None:
    key, value = validate_tag(key, value)
    _row, mv = live_version(name, version)
    upsert(
        ModelVersionTag,
        [{"model_version": mv["id"], "key": key, "value": value}],
        [ModelVersionTag.model_version, ModelVersionTag.key],
        [ModelVersionTag.value],
    )


def delete_version_tag(name, version, key) -> None:
    v.validate_key("tag", key)
    _row, mv = live_version(name, version)
    ModelVersionTag.delete().where((ModelVersionTag.model_version == mv["id"]) & (ModelVersionTag.key == key)).execute()


def download_uri(name, version) -> str:
    view = get_version(name, version)
    return view.storage_location or view.source


# --- aliases ---------------------------------------------------------------------------------


def set_alias(name, alias, version) -> None:
    validate_alias(alias)
    if alias.lower() == "latest" or _RESERVED_ALIAS_RE.match(alias):
        raise InvalidInput(
            "'latest' alias name (case insensitive) is reserved."
            if alias.lower() == "latest"
            else f"Version alias name '{alias}' is reserved."
        )
    row, mv = live_version(name, version)
    with database.atomic():
        upsert(
            RegisteredModelAlias,
            [{"registered_model": row["id"], "alias": alias, "version": mv["version"]}],
            [RegisteredModelAlias.registered_model, RegisteredModelAlias.alias],
            [RegisteredModelAlias.version],
        )
        _touch(row["id"], None, now_ms())


def delete_alias(name, alias) -> None:
    validate_alias(alias)
    pk = model_row(name)["id"]
    RegisteredModelAlias.delete().where(
        (RegisteredModelAlias.registered_model == pk) & (RegisteredModelAlias.alias == alias)
    ).execute()


def version_by_alias(name, alias) -> VersionView:
    if alias.lower() != "latest":
        validate_alias(alias)
        validate_name(name)
        found = _VERSION_BY_ALIAS.first(name=name, alias=alias)
        if found is not None:
            return version_views_of_tuples([found])[0]
        # something is missing: the lookups below say what, as MLflow does
    row = model_row(name)
    if alias.lower() == "latest":
        latest = (
            ModelVersion.select(pw.fn.MAX(ModelVersion.version))
            .where(
                (ModelVersion.registered_model == row["id"]) & (ModelVersion.deleted == False)  # noqa: E712
            )
            .scalar()
        )
        if latest is None:
            raise NotFound(f"Latest version not found for model {name}.")
        return version_of(row, name, latest)
    target = (
        RegisteredModelAlias.select(RegisteredModelAlias.version)
        .where((RegisteredModelAlias.registered_model == row["id"]) & (RegisteredModelAlias.alias == alias))
        .scalar()
    )
    if target is None:
        raise InvalidInput(f"Registered model alias {alias} not found.")
    return version_of(row, name, target)


# The hot single-version reads, in ``version_views_of_tuples``' layout, compiled once per
# database (peewee took longer to write each lookup than the database to run it; bench W6 alias
# and create). The slots are ``pw.Value`` nodes: a field would convert its marker to a number.
def _version_select(with_name: bool):
    fields = [getattr(ModelVersion, f) for f in VERSION_ROW]
    if with_name:
        fields.insert(2, RegisteredModel.name)
    return ModelVersion.select(*fields)


_LIVE = ModelVersion.deleted == False  # noqa: E712
_VERSION_BY_NUMBER = Prepared(
    lambda model, number: _version_select(False).where(
        (ModelVersion.registered_model == pw.Value(model)) & (ModelVersion.version == pw.Value(number)) & _LIVE
    ),
    "model",
    "number",
)
_VERSION_BY_NAME = Prepared(
    lambda name, number: (
        _version_select(True)
        .join(RegisteredModel, on=(ModelVersion.registered_model == RegisteredModel.id))
        .where((RegisteredModel.name == pw.Value(name)) & (ModelVersion.version == pw.Value(number)) & _LIVE)
    ),
    "name",
    "number",
)
_VERSION_BY_ALIAS = Prepared(
    lambda name, alias: (
        _version_select(True)
        .join(RegisteredModel, on=(ModelVersion.registered_model == RegisteredModel.id))
        .join(
            RegisteredModelAlias,
            on=(
                (RegisteredModelAlias.registered_model == RegisteredModel.id)
                & (RegisteredModelAlias.version == ModelVersion.version)
            ),
        )
        .where((RegisteredModel.name == pw.Value(name)) & (RegisteredModelAlias.alias == pw.Value(alias)) & _LIVE)
    ),
    "name",
    "alias",
)
