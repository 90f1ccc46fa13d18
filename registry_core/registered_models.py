"""Registered models (models of record): create, read, rename, describe, delete, tags, and the
latest version per stage.

One function per use case, each in one transaction. A prompt is a registered model tagged
``IS_PROMPT_TAG`` = "true"; MLflow words a name clash between a prompt and a model its own way.
"""

from __future__ import annotations

from collections import defaultdict

import peewee as pw

from registry_core import validation as v
from registry_core.clock import now_ms
from registry_core.db import database
from registry_core.entities import ModelView, VersionView
from registry_core.errors import AlreadyExists, NotFound
from registry_core.lifecycle import VERSION_STAGES
from registry_core.model_versions import canonical_stage, latest_per_stage, version_views
from registry_core.models import (
    ModelVersion,
    ModelVersionDataset,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
)
from registry_core.sqlutil import Prepared, upsert

IS_PROMPT_TAG = "mlflow.prompt.is_prompt"


# --- reads -----------------------------------------------------------------------------------


def model_row(name: str) -> dict:
    v.model_name(name)
    row = RegisteredModel.select().where(RegisteredModel.name == name).dicts().first()
    if row is None:
        raise NotFound(f"Registered Model with name={name} not found")
    return row


_MODEL_PK = Prepared(
    lambda name: RegisteredModel.select(RegisteredModel.id).where(RegisteredModel.name == pw.Value(name)), "name"
)


def model_pk(name: str) -> int:
    """The model's key, for a caller that needs nothing more of its row (one compiled statement)."""
    v.model_name(name)
    found = _MODEL_PK.first(name=name)
    return model_row(name)["id"] if found is None else found[0]  # model_row says what is missing


def model_views(rows: list[dict]) -> list[ModelView]:
    """ModelViews of model rows, with latest versions, tags and aliases, in a fixed number of queries."""
    if not rows:
        return []
    pks = [r["id"] for r in rows]
    names = {r["id"]: r["name"] for r in rows}
    latest = latest_per_stage(pks)
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


def latest_versions(name, stages) -> list[VersionView]:
    """The model's highest live version of each stage asked for (every stage when none is)."""
    row = model_row(name)
    wanted = [canonical_stage(s) for s in stages] if stages else list(VERSION_STAGES)
    rows = latest_per_stage([row["id"]], wanted).get(row["id"], [])
    return version_views(rows, {row["id"]: name})


# --- writes ----------------------------------------------------------------------------------


def create_model(name, tags, description) -> ModelView:
    v.model_name(name)
    tags = dict(v.registry_tag(k, val) for k, val in (tags or []))
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
    v.model_name(new_name)
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
    key, value = v.registry_tag(key, value)
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
