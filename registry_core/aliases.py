"""Aliases: a registered model's names for one of its versions (``models:/<name>@<alias>``).

An alias names at most one live version; deleting the version deletes its aliases
(``model_versions.delete_version``). "latest" (any case) and ``v<digits>`` are reserved:
"latest" is read as the highest live version and never stored.
"""

from __future__ import annotations

import re

import peewee as pw

from registry_core import validation as v
from registry_core.clock import now_ms
from registry_core.db import database
from registry_core.entities import VersionView
from registry_core.errors import InvalidInput, NotFound
from registry_core.model_versions import (
    LIVE,
    live_version,
    touch_model,
    version_of,
    version_select,
    version_views_of_tuples,
)
from registry_core.models import ModelVersion, RegisteredModel, RegisteredModelAlias
from registry_core.registered_models import model_row
from registry_core.sqlutil import Prepared, upsert

MAX_ALIAS_LENGTH = 255
LATEST = "latest"
_ALIAS_RE = re.compile(r"^[\w\-]*$")
_RESERVED_ALIAS_RE = re.compile(r"^[vV]\d+$")


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


def set_alias(name, alias, version) -> None:
    validate_alias(alias)
    if alias.lower() == LATEST or _RESERVED_ALIAS_RE.match(alias):
        raise InvalidInput(
            "'latest' alias name (case insensitive) is reserved."
            if alias.lower() == LATEST
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
        touch_model(row["id"], now_ms())


def delete_alias(name, alias) -> None:
    validate_alias(alias)
    pk = model_row(name)["id"]
    RegisteredModelAlias.delete().where(
        (RegisteredModelAlias.registered_model == pk) & (RegisteredModelAlias.alias == alias)
    ).execute()


def version_by_alias(name, alias) -> VersionView:
    """The version ``alias`` names ("latest": the highest live version). The hit is one
    compiled statement; a miss is looked up again to say what is missing, as MLflow does."""
    if alias.lower() != LATEST:
        validate_alias(alias)
        v.model_name(name)
        found = _VERSION_BY_ALIAS.first(name=name, alias=alias)
        if found is not None:
            return version_views_of_tuples([found])[0]
    row = model_row(name)
    if alias.lower() == LATEST:
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


_VERSION_BY_ALIAS = Prepared(
    lambda name, alias: (
        version_select(True)
        .join(RegisteredModel, on=(ModelVersion.registered_model == RegisteredModel.id))
        .join(
            RegisteredModelAlias,
            on=(
                (RegisteredModelAlias.registered_model == RegisteredModel.id)
                & (RegisteredModelAlias.version == ModelVersion.version)
            ),
        )
        .where((RegisteredModel.name == pw.Value(name)) & (RegisteredModelAlias.alias == pw.Value(alias)) & LIVE)
    ),
    "name",
    "alias",
)
