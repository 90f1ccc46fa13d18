"""Dialect-aware SQL building blocks shared by the services: upserts and the comparisons of
the search grammar, with the same case rules on SQLite, PostgreSQL and MySQL/MariaDB:
``=``, ``!=``, ``IN`` and ``LIKE`` are case-sensitive, ``ILIKE`` is not."""
from __future__ import annotations

import peewee as pw

from registry_core.db import dialect
from registry_core.errors import InvalidInput


# Rows per INSERT statement: within every backend's bound-parameter limit (SQLite: 32,766).
_MAX_PARAMS = 30000


def _quoted(db, name: str) -> str:
    return f"{db.quote[0]}{name}{db.quote[1]}"


def _insert_sql(model, names: list[str], n_rows: int, suffix: str, verb: str = "INSERT") -> str:
    db = model._meta.database
    fields = [model._meta.fields[name] for name in names]
    columns = ", ".join(_quoted(db, f.column_name) for f in fields)
    row = "(" + ", ".join([db.param] * len(fields)) + ")"
    return f"{verb} INTO {_quoted(db, model._meta.table_name)} ({columns}) VALUES " + ", ".join([row] * n_rows) + suffix


def _bulk(model, rows: list[dict], verb: str, suffix: str) -> None:
    """One multi-row INSERT per chunk, the SQL text written here: peewee's query builder costs
    about 90 ms for a 1,000-row insert, the statement itself a few ms."""
    if not rows:
        return
    names = list(rows[0])
    fields = [model._meta.fields[name] for name in names]
    per_statement = max(1, _MAX_PARAMS // len(names))
    db = model._meta.database
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        params = [f.db_value(row[name]) for row in chunk for name, f in zip(names, fields)]
        db.execute_sql(_insert_sql(model, names, len(chunk), suffix, verb), params)


def upsert(model, rows: list[dict], conflict: list, update: list) -> None:
    """Insert ``rows`` (dicts of field name -> value, same keys each); on a key conflict
    overwrite the ``update`` fields."""
    if not rows:
        return
    db = model._meta.database
    if dialect() == "mysql":
        sets = ", ".join(f"{_quoted(db, f.column_name)} = VALUES({_quoted(db, f.column_name)})" for f in update)
        suffix = f" ON DUPLICATE KEY UPDATE {sets}"
    else:
        target = ", ".join(_quoted(db, f.column_name) for f in conflict)
        sets = ", ".join(f"{_quoted(db, f.column_name)} = excluded.{_quoted(db, f.column_name)}" for f in update)
        suffix = f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
    _bulk(model, rows, "INSERT", suffix)


def insert_ignore(model, rows: list[dict]) -> None:
    """Insert ``rows``, skipping those whose key exists (a retried request stores nothing twice)."""
    kind = dialect()
    if kind == "mysql":
        _bulk(model, rows, "INSERT IGNORE", "")
    elif kind == "sqlite":
        _bulk(model, rows, "INSERT OR IGNORE", "")
    else:
        _bulk(model, rows, "INSERT", " ON CONFLICT DO NOTHING")


def has_row(child, owner_key, owner_column, condition=None, negate: bool = False):
    """``[NOT] EXISTS (SELECT 1 FROM child WHERE child.owner_key = owner_column AND condition)``:
    a filter on the rows an entity owns (its tags, params, metrics), correlated on the child's
    key so the database probes it per candidate instead of materialising every owner's matches."""
    cond = owner_key == owner_column
    if condition is not None:
        cond &= condition
    exists = pw.fn.EXISTS(child.select(pw.SQL("1")).where(cond))
    return ~exists if negate else exists


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

