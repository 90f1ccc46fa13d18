"""Dialect-aware SQL building blocks shared by the services: upserts and the comparisons of
the search grammar, with the same case rules on SQLite, PostgreSQL and MySQL/MariaDB:
``=``, ``!=``, ``IN`` and ``LIKE`` are case-sensitive, ``ILIKE`` is not."""
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


def compare(column, op: str, value):
    """``column <op> value`` for one clause of the search grammar. Text columns are
    case-sensitive on every backend (MySQL tables use a binary, no-pad collation)."""
    if op == "IS NULL":
        return column.is_null(True)
    if op == "IS NOT NULL":
        return column.is_null(False)
    if op in ("IN", "NOT IN"):
        values = list(value)
        return column.in_(values) if op == "IN" else column.not_in(values)
    if op == "LIKE":
        # peewee renders LIKE as GLOB on SQLite and LIKE BINARY on MySQL: case-sensitive everywhere.
        return column % (like_to_glob(value) if dialect() == "sqlite" else value)
    if op == "ILIKE":
        if dialect() == "mysql":  # binary collation: fold both sides
            return pw.fn.LOWER(column) ** pw.fn.LOWER(value)
        # ILIKE natively on PostgreSQL, LIKE (case-insensitive) on SQLite.
        return column ** value
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

