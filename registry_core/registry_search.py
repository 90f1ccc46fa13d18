"""Search over the registry: models of record and their versions, filtered and ordered in SQL.

Prompts are registered models too; as in MLflow, a search returns plain models unless its filter
asks for prompts (``tags.mlflow.prompt.is_prompt = 'true'``).
"""

from __future__ import annotations

import functools

import peewee as pw

from registry_core.db import dialect
from registry_core.entities import Page
from registry_core.errors import InvalidInput
from registry_core.model_versions import VERSION_ROW, version_views_of_tuples
from registry_core.models import ModelVersion, ModelVersionTag, RegisteredModel, RegisteredModelTag
from registry_core.registered_models import IS_PROMPT_TAG, model_views
from registry_core.search_ast import Comparison, OrderKey
from registry_core.sqlutil import compare, has_row


def _prompt_scope(comparisons: list[Comparison]) -> tuple[list[Comparison], bool]:
    """(other comparisons, whether prompts are searched): MLflow returns plain models unless the
    filter asks for prompts with ``tags.mlflow.prompt.is_prompt = 'true'`` (or != 'false')."""
    rest, prompts = [], False
    for c in comparisons:
        if c.kind == "tag" and c.key == IS_PROMPT_TAG:
            value = str(c.value).lower()
            prompts = (c.op == "=" and value == "true") or (c.op == "!=" and value == "false")
            if prompts:
                continue
            if c.op in ("!=", "=") and value in ("true", "false"):
                continue  # "!= 'true'" / "= 'false'": exactly the default scope
        rest.append(c)
    return rest, prompts


def _tag_condition(model, owner_field, owner_column, key, op, value, n):
    alias = model.alias(f"tag{n}")  # not t<n>: peewee names the outer tables t1, t2, ...
    return has_row(
        alias, getattr(alias, owner_field), owner_column, (alias.key == key) & compare(alias.value, op, value)
    )


def _prompt_ids(tag_model, owner_field):
    alias = tag_model.alias("prompt_tags")
    return alias.select(getattr(alias, owner_field)).where(
        (alias.key == IS_PROMPT_TAG) & (pw.fn.LOWER(alias.value) == "true")
    )


def search_models(comparisons: list[Comparison], order: list[OrderKey], max_results: int, offset: int) -> Page:
    comparisons, prompts = _prompt_scope(comparisons)
    query = RegisteredModel.select()
    prompt_ids = _prompt_ids(RegisteredModelTag, "registered_model")
    query = query.where(RegisteredModel.id.in_(prompt_ids) if prompts else RegisteredModel.id.not_in(prompt_ids))
    for n, c in enumerate(comparisons):
        if c.kind == "attribute" and c.key == "name":
            query = query.where(compare(RegisteredModel.name, c.op, c.value))
        elif c.kind == "tag":
            query = query.where(
                _tag_condition(RegisteredModelTag, "registered_model", RegisteredModel.id, c.key, c.op, c.value, n)
            )
        else:
            raise InvalidInput(f"Invalid attribute name: {c.key}")
    columns = {
        "name": RegisteredModel.name,
        "creation_timestamp": RegisteredModel.creation_time,
        "last_updated_timestamp": RegisteredModel.last_updated_time,
        "timestamp": RegisteredModel.last_updated_time,
    }
    clauses, seen = [], set()
    for o in order:
        column = columns.get(o.key)
        if column is None:
            raise InvalidInput(f"Invalid order by key '{o.key}' specified.")
        if column.name in seen:
            raise InvalidInput(f"`order_by` contains duplicate fields: {[x.key for x in order]}")
        seen.add(column.name)
        clauses.append(column.asc() if o.ascending else column.desc())
    if "name" not in seen:
        clauses.append(RegisteredModel.name.asc())
    rows = list(query.order_by(*clauses).offset(offset).limit(max_results + 1).dicts())
    next_offset = offset + max_results if len(rows) > max_results else None
    return Page(model_views(rows[:max_results]), next_offset)


_VERSION_COLUMNS = {
    "name": RegisteredModel.name,
    "run_id": ModelVersion.run_id,
    "source_path": ModelVersion.source,
    "version_number": ModelVersion.version,
    "creation_timestamp": ModelVersion.creation_time,
    "last_updated_timestamp": ModelVersion.last_updated_time,
    "timestamp": ModelVersion.last_updated_time,
    "current_stage": ModelVersion.current_stage,
    "model_id": ModelVersion.model_id,
}


# version_views_of_tuples' layout: the two keys, the model's name, the version's own fields
_VIEW_FIELDS = (
    ModelVersion.id,
    ModelVersion.registered_model,
    RegisteredModel.name,
    *(getattr(ModelVersion, name) for name in VERSION_ROW[2:]),
)


def search_versions(comparisons: list[Comparison], order: list[OrderKey], max_results: int, offset: int) -> Page:
    sql, params = version_statement(comparisons, order, max_results, offset)
    # Raw cursor tuples: the selected columns are plain integers and strings on every driver,
    # and peewee's row wrapping costs as much as the query on a page of 500 versions.
    rows = ModelVersion._meta.database.execute_sql(sql, params).fetchall()
    next_offset = offset + max_results if len(rows) > max_results else None
    return Page(version_views_of_tuples(rows[:max_results]), next_offset)


def version_statement(
    comparisons: list[Comparison], order: list[OrderKey], max_results: int, offset: int
) -> tuple[str, tuple]:
    """(SQL, parameters) of a version search on the bound database, from the cache below."""
    value_types = tuple(type(c.value) for c in comparisons)  # 1, 1.0 and True are one key otherwise
    return _version_statement(tuple(comparisons), value_types, tuple(order), max_results, offset, dialect())


@functools.lru_cache(maxsize=256)
def _version_statement(
    comparisons: tuple, value_types: tuple, order: tuple, max_results: int, offset: int, dialect_name: str
) -> tuple[str, tuple]:
    """(SQL, parameters) of a version search, built once per distinct search: the same search
    comes again and again (a client polling one model's versions), and peewee takes about as
    long to write this statement as SQLite takes to run it on a page of 500 versions."""
    del value_types, dialect_name  # in the cache key only
    sql, params = (
        ModelVersion._meta.database.get_sql_context()
        .sql(_version_query(list(comparisons), list(order), max_results, offset))
        .query()
    )
    return sql, tuple(params)


def _version_query(comparisons: list[Comparison], order: list[OrderKey], max_results: int, offset: int):
    comparisons, prompts = _prompt_scope(comparisons)
    query = (
        ModelVersion.select(*_VIEW_FIELDS).join(RegisteredModel).where(ModelVersion.deleted == False)  # noqa: E712
    )
    prompt_ids = _prompt_ids(RegisteredModelTag, "registered_model")
    query = query.where(
        ModelVersion.registered_model.in_(prompt_ids) if prompts else ModelVersion.registered_model.not_in(prompt_ids)
    )
    for n, c in enumerate(comparisons):
        if c.kind == "attribute":
            column = _VERSION_COLUMNS.get(c.key)
            if column is None:
                raise InvalidInput(f"Invalid attribute name: {c.key}")
            value = c.value
            if c.key in ("version_number", "creation_timestamp", "last_updated_timestamp"):
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    raise InvalidInput(f"Invalid value for numeric attribute '{c.key}': {value!r}") from None
            query = query.where(compare(column, c.op, value))
        elif c.kind == "tag":
            query = query.where(
                _tag_condition(ModelVersionTag, "model_version", ModelVersion.id, c.key, c.op, c.value, n)
            )
        else:
            raise InvalidInput(f"Invalid attribute name: {c.key}")
    if not order:
        order = [
            OrderKey("attribute", "last_updated_timestamp", False),
            OrderKey("attribute", "name", True),
            OrderKey("attribute", "version_number", False),
        ]
    # One model's versions (name = '...'): the name orders nothing then, and left out, the
    # default order is the (model, last_updated_time, version) index read backwards, no sort.
    one_model = any(c.kind == "attribute" and c.key == "name" and c.op == "=" for c in comparisons)
    clauses, seen = [], set()
    for o in order:
        column = _VERSION_COLUMNS.get(o.key)
        if column is None or o.key in ("source_path", "current_stage", "model_id"):
            raise InvalidInput(f"Invalid order by key '{o.key}' specified.")
        if column.name in seen:
            raise InvalidInput(f"`order_by` contains duplicate fields: {[x.key for x in order]}")
        seen.add(column.name)
        if not (one_model and column is RegisteredModel.name):
            clauses.append(column.asc() if o.ascending else column.desc())
    if "name" not in seen and not one_model:
        clauses.append(RegisteredModel.name.asc())
    if "version" not in seen:
        clauses.append(ModelVersion.version.desc())
    return query.order_by(*clauses).offset(offset).limit(max_results + 1)
