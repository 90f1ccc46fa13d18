"""Model versions of record: reads, description, stage transitions, deletion, tags.

One function per use case, each in one transaction. Versions are created by promotion
(``registry_core.promotion``), which may call in here; nothing here calls promotion. Everything
about a version may change except its artifacts; a deleted version's number is never reused.
"""

from __future__ import annotations

from collections import defaultdict

import peewee as pw

from registry_core import validation as v
from registry_core.clock import now_ms
from registry_core.db import database
from registry_core.entities import VersionView
from registry_core.errors import InvalidInput, NotFound
from registry_core.lifecycle import ACTIVE_VERSION_STAGES, ARCHIVED, DELETED_VERSION_STAGE, VERSION_STAGES
from registry_core.models import ModelVersion, ModelVersionTag, RegisteredModel, RegisteredModelAlias
from registry_core.sqlutil import Prepared, quoted, select_in, upsert

# --- rules -----------------------------------------------------------------------------------


def validate_version(version) -> int:
    """A version number as MLflow reads one (``int()``: " 1" is 1, "1.0" is refused); a number
    no version has (0, -1, beyond int64) is left to the lookup, which finds nothing."""
    try:
        return int(str(version))
    except (TypeError, ValueError):
        raise InvalidInput(f"Parameter 'version' must be an integer, got '{version}'.") from None


def canonical_stage(stage) -> str:
    """One of ``VERSION_STAGES``, matched case-insensitively."""
    for s in VERSION_STAGES:
        if str(stage).lower() == s.lower():
            return s
    raise InvalidInput(f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(VERSION_STAGES)}.")


def version_not_found(name: str, number) -> NotFound:
    return NotFound(f"Model Version (name={name}, version={number}) not found")


def _in_int64(number: int) -> bool:
    return -(2**63) <= number < 2**63


# --- views -----------------------------------------------------------------------------------

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


def latest_per_stage(model_pks: list[int], stages=None) -> dict[int, list[dict]]:
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


# --- reads -----------------------------------------------------------------------------------


def live_version(name: str, version) -> tuple[dict, dict]:
    """(model row, version row) of a live version. As MLflow: a version that is not an integer
    is refused first; a missing model or version is the version's not found."""
    number = validate_version(version)
    v.model_name(name)
    row = RegisteredModel.select().where(RegisteredModel.name == name).dicts().first()
    if row is None or not _in_int64(number):
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


def get_version(name: str, version) -> VersionView:
    number = validate_version(version)
    v.model_name(name)
    found = _VERSION_BY_NAME.first(name=name, number=number) if _in_int64(number) else None
    if found is None:
        raise version_not_found(name, number)
    return version_views_of_tuples([found])[0]


def version_of(model: dict, name: str, version) -> VersionView:
    """As ``get_version``, for a caller that holds the model's row already."""
    number = validate_version(version)
    found = _VERSION_BY_NUMBER.first(model=model["id"], number=number) if _in_int64(number) else None
    if found is None:
        raise version_not_found(name, number)
    return version_views_of_tuples([(found[0], found[1], name, *found[2:])])[0]


def download_uri(name, version) -> str:
    view = get_version(name, version)
    return view.storage_location or view.source


# --- writes ----------------------------------------------------------------------------------


def touch_model(model_pk: int, now: int) -> None:
    """The registered model was last updated ``now`` (a change to one of its versions or aliases)."""
    RegisteredModel.update(last_updated_time=now).where(RegisteredModel.id == model_pk).execute()


def update_version(name, version, description) -> VersionView:
    row, mv = live_version(name, version)
    ModelVersion.update(description=description, last_updated_time=now_ms()).where(
        ModelVersion.id == mv["id"]
    ).execute()
    return version_of(row, name, version)


def transition_stage(name, version, stage, archive_existing: bool) -> VersionView:
    stage = canonical_stage(stage)
    if archive_existing and stage not in ACTIVE_VERSION_STAGES:
        raise InvalidInput(
            f"Model version transition cannot archive existing model versions because '{stage}' is "
            f"not an Active stage. Valid stages are {list(ACTIVE_VERSION_STAGES)}"
        )
    row, mv = live_version(name, version)
    now = now_ms()
    with database.atomic():
        if archive_existing:
            ModelVersion.update(current_stage=ARCHIVED, last_updated_time=now).where(
                (ModelVersion.registered_model == row["id"])
                & (ModelVersion.id != mv["id"])
                & (ModelVersion.current_stage == stage)
                & (ModelVersion.deleted == False)  # noqa: E712
            ).execute()
        ModelVersion.update(current_stage=stage, last_updated_time=now).where(ModelVersion.id == mv["id"]).execute()
        touch_model(row["id"], now)
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
            current_stage=DELETED_VERSION_STAGE,
            last_updated_time=now,
            description=None,
            user_id=None,
            source="REDACTED-SOURCE-PATH",
            run_id="REDACTED-RUN-ID",
            run_link="REDACTED-RUN-LINK",
            status_message=None,
        ).where(ModelVersion.id == mv["id"]).execute()
        touch_model(row["id"], now)


def set_version_tag(name, version, key, value) -> None:
    key, value = v.registry_tag(key, value)
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


# --- compiled reads --------------------------------------------------------------------------


# The hot single-version reads, in ``version_views_of_tuples``' layout, compiled once per
# database (peewee takes longer to build each lookup than the database to run it). The slots
# are ``pw.Value`` nodes: a field would convert its marker to a number.
def version_select(with_name: bool):
    """A select of ``VERSION_ROW``, with the model's name third when ``with_name`` (the caller
    joins ``RegisteredModel``)."""
    fields = [getattr(ModelVersion, f) for f in VERSION_ROW]
    if with_name:
        fields.insert(2, RegisteredModel.name)
    return ModelVersion.select(*fields)


LIVE = ModelVersion.deleted == False  # noqa: E712
_VERSION_BY_NUMBER = Prepared(
    lambda model, number: version_select(False).where(
        (ModelVersion.registered_model == pw.Value(model)) & (ModelVersion.version == pw.Value(number)) & LIVE
    ),
    "model",
    "number",
)
_VERSION_BY_NAME = Prepared(
    lambda name, number: (
        version_select(True)
        .join(RegisteredModel, on=(ModelVersion.registered_model == RegisteredModel.id))
        .where((RegisteredModel.name == pw.Value(name)) & (ModelVersion.version == pw.Value(number)) & LIVE)
    ),
    "name",
    "number",
)
