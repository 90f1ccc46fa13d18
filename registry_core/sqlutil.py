"""Dialect-aware SQL building blocks shared by the services: upserts and the comparisons of
the search grammar, with the same case rules on SQLite, PostgreSQL and MySQL/MariaDB:
``=``, ``!=`` and ``LIKE`` are case-sensitive, ``ILIKE`` is not."""
from __future__ import annotations

import peewee as pw

from registry_core.db import database, dialect
from registry_core.errors import InvalidInput


def upsert(model, rows: list[dict], conflict: list, update: list) -> None:
    """Insert ``rows``; on a key conflict overwrite the ``update`` fields."""
    if not rows:
        return
    query = model.insert_many(rows)
    if dialect() == "mysql":
        query = query.on_conflict(preserve=update)
    else:
        query = query.on_conflict(conflict_target=conflict, preserve=update)
    query.execute()


def insert_ignore(model, rows: list[dict]) -> None:
    if rows:
        model.insert_many(rows).on_conflict_ignore().execute()


def _binary(value):
    return pw.NodeList((pw.SQL("BINARY"), value)) if dialect() == "mysql" else value


def compare(column, op: str, value):
    """``column <op> value`` for one clause of the search grammar."""
    if op == "IS NULL":
        return column.is_null(True)
    if op == "IS NOT NULL":
        return column.is_null(False)
    if op in ("IN", "NOT IN"):
        values = list(value)
        if dialect() == "mysql" and values and isinstance(values[0], str):
            column = pw.NodeList((pw.SQL("BINARY"), column))
        expr = column.in_(values) if op == "IN" else column.not_in(values)
        return expr
    if op == "LIKE":
        if dialect() == "postgresql":
            return pw.Expression(column, "LIKE", value)
        return pw.Expression(column, "LIKE", _binary(value))
    if op == "ILIKE":
        if dialect() == "postgresql":
            return pw.Expression(column, "ILIKE", value)
        return pw.Expression(pw.fn.LOWER(column), "LIKE", pw.fn.LOWER(value))
    if isinstance(value, str):
        if op == "=":
            return column == _binary(value)
        if op == "!=":
            return column != _binary(value)
    ops = {
        "=": lambda: column == value,
        "!=": lambda: column != value,
        "<": lambda: column < value,
        "<=": lambda: column <= value,
        ">": lambda: column > value,
        ">=": lambda: column >= value,
    }
    if op not in ops:
        raise InvalidInput(f"Invalid comparator '{op}'")
    return ops[op]()


def atomic():
    return database.atomic()
