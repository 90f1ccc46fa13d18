"""Dialect-aware SQL building blocks shared by the services: upserts and the comparisons of
the search grammar, with the same case rules on SQLite, PostgreSQL and MySQL/MariaDB:
``=``, ``!=`` and ``LIKE`` are case-sensitive, ``ILIKE`` is not."""
from __future__ import annotations

import peewee as pw

from registry_core.db import dialect
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
        # peewee renders LIKE as GLOB on SQLite and LIKE BINARY on MySQL: case-sensitive everywhere.
        return column % (like_to_glob(value) if dialect() == "sqlite" else value)
    if op == "ILIKE":
        # ILIKE natively on PostgreSQL, LIKE (case-insensitive) on SQLite and MySQL.
        return column ** value
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


def like_to_glob(pattern: str) -> str:
    """A SQL LIKE pattern as the equivalent (case-sensitive) SQLite GLOB pattern."""
    out = []
    for ch in pattern:
        if ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        elif ch in "*?[":
            out.append(f"[{ch}]")
        else:
            out.append(ch)
    return "".join(out)

