"""Dialect-aware SQL building blocks shared by the services: upserts and the comparisons of
the search grammar, with the same case rules on SQLite, PostgreSQL and MySQL/MariaDB:
``=``, ``!=``, ``IN`` and ``LIKE`` are case-sensitive, ``ILIKE`` is not."""

from __future__ import annotations

import functools
import math
import operator
import weakref

import peewee as pw

from registry_core.db import database, dialect
from registry_core.errors import InvalidInput
from registry_core.validation import FLOAT_MAX, INF_BITS, NEG_INF_BITS

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_NEVER = pw.SQL("1 = 0")
_ALWAYS = pw.SQL("1 = 1")


# Rows per INSERT statement: within every backend's bound-parameter limit (SQLite: 32,766).
_MAX_PARAMS = 30000


def _quoted(db, name: str) -> str:
    return f"{db.quote[0]}{name}{db.quote[1]}"


@functools.lru_cache(maxsize=256)
def _statement(
    model, names: tuple, kind: str, conflict: tuple, update: tuple, newer_by: tuple, dialect_name: str
) -> tuple[str, str, str]:
    """(head, one row's placeholders, tail) of a multi-row INSERT (``kind``: "ignore" or
    "upsert"), worked out once per shape: peewee's query builder costs about 90 ms for a
    1,000-row insert and 0.1 ms for a one-row one, the joined text a few microseconds."""
    db = model._meta.database
    meta = model._meta.fields
    q = functools.partial(_quoted, db)
    table = q(model._meta.table_name)
    columns = ", ".join(q(meta[name].column_name) for name in names)
    row = "(" + ", ".join([db.param] * len(names)) + ")"
    verb, suffix = "INSERT", ""
    if kind == "ignore":
        verb, suffix = {"mysql": ("INSERT IGNORE", ""), "sqlite": ("INSERT OR IGNORE", "")}.get(
            dialect_name, ("INSERT", " ON CONFLICT DO NOTHING")
        )
    elif dialect_name == "mysql":
        suffix = " ON DUPLICATE KEY UPDATE " + _mysql_assignments(q, meta, update, newer_by)
    else:
        target = ", ".join(q(meta[name].column_name) for name in conflict)
        sets = ", ".join(f"{c} = excluded.{c}" for c in (q(meta[name].column_name) for name in update))
        suffix = f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
        if newer_by:
            order = [q(meta[name].column_name) for name in newer_by]
            suffix += (
                " WHERE ("
                + ", ".join(f"excluded.{c}" for c in order)
                + ") > ("
                + ", ".join(f"{table}.{c}" for c in order)
                + ")"
            )
    return f"{verb} INTO {table} ({columns}) VALUES ", row, suffix


def _mysql_assignments(q, meta, update: tuple, newer_by: tuple) -> str:
    """``ON DUPLICATE KEY UPDATE`` assignments; with ``newer_by``, each guarded by "the new row's
    (newer_by...) is greater than the stored one". MySQL applies the assignments left to right,
    each seeing the ones before it, so the compared columns come last, least significant first:
    a guard then reads either the stored row unchanged, or (after an earlier guarded assignment)
    a row whose later columns already equal the new ones, which decides the same way."""
    if not newer_by:
        return ", ".join(f"{c} = VALUES({c})" for c in (q(meta[name].column_name) for name in update))
    order = [q(meta[name].column_name) for name in newer_by]
    guard = "(" + ", ".join(f"VALUES({c})" for c in order) + ") > (" + ", ".join(order) + ")"
    names = [n for n in update if n not in newer_by] + [n for n in reversed(newer_by) if n in update]
    return ", ".join(f"{c} = IF({guard}, VALUES({c}), {c})" for c in (q(meta[n].column_name) for n in names))


def _write(model, rows: list[dict], kind: str, conflict=(), update=(), newer_by=()) -> None:
    """One multi-row statement per chunk of ``rows`` (dicts of field name -> value, same keys)."""
    if not rows:
        return
    names = tuple(rows[0])
    fields = [model._meta.fields[name] for name in names]
    per_statement = max(1, _MAX_PARAMS // len(names))
    db = model._meta.database
    shape = (tuple(f.name for f in conflict), tuple(f.name for f in update), tuple(f.name for f in newer_by), dialect())
    head, row_marks, tail = _statement(model, names, kind, *shape)
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        params = [f.db_value(row[name]) for row in chunk for name, f in zip(names, fields)]
        db.execute_sql(head + ", ".join([row_marks] * len(chunk)) + tail, params)


def upsert(model, rows: list[dict], conflict: list, update: list, newer_by: list = ()) -> None:
    """Insert ``rows`` (dicts of field name -> value, same keys each); on a key conflict
    overwrite the ``update`` fields, or with ``newer_by`` only where the new row's values of
    those fields are greater (compared in order) than the stored row's: one statement, no read."""
    _write(model, rows, "upsert", conflict, update, newer_by)


def insert_ignore(model, rows: list[dict]) -> None:
    """Insert ``rows``, skipping those whose key exists (a retried request stores nothing twice)."""
    _write(model, rows, "ignore")


class Prepared:
    """A peewee query compiled to SQL once per database, then run with new values.

    peewee compiles a query's text on every execution: for the one-row SELECT a log-metric call
    makes, that was 0.3 ms, more than SQLite took to answer it. ``build`` receives a marker for
    each of ``slots`` and returns the query; the text is kept per database, and each call's
    values take the markers' places among its parameters."""

    def __init__(self, build, *slots: str):
        self._build, self._slots = build, slots
        self._compiled = weakref.WeakKeyDictionary()

    def _compile(self, db):
        markers = {f"\x00{name}\x00": name for name in self._slots}
        sql, params = self._build(*markers).sql()
        layout = [(markers[p], None) if isinstance(p, str) and p in markers else (None, p) for p in params]
        self._compiled[db] = compiled = (sql, layout)
        return compiled

    def execute(self, **values):
        """The cursor of the query run with ``values`` for its slots."""
        db = database.obj
        sql, layout = self._compiled.get(db) or self._compile(db)
        return db.execute_sql(sql, [values[slot] if slot else constant for slot, constant in layout])

    def first(self, **values):
        return self.execute(**values).fetchone()


# Bound parameters per IN list: far below every backend's limit (SQLite: 32,766), so a page of
# up to 50,000 runs (or 200,000 model versions) loads in a few statements.
_IN_CHUNK = 5000


def select_in(columns: str, source: str, key: str, ids, order: str) -> list[tuple]:
    """``SELECT columns FROM source WHERE key IN ids ORDER BY order`` (identifiers already
    ``quoted``), in chunks of ``_IN_CHUNK`` ids, the text written here and the rows taken from
    the cursor as they are: peewee's builder and row wrapping cost ~20 us per id and per row
    (a page of 1,000 runs reads ~10,000 rows; an IN list of 500 ids took 4 ms to compile)."""
    db = database.obj
    ids = list(ids)
    rows: list[tuple] = []
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        marks = ", ".join([db.param] * len(chunk))
        sql = f"SELECT {columns} FROM {source} WHERE {key} IN ({marks}) ORDER BY {order}"
        rows.extend(db.execute_sql(sql, chunk).fetchall())
    return rows


def quoted(*names: str) -> str:
    """Quoted identifiers, comma-separated; ``a.b`` quoted per part (``key`` and ``schema`` are
    reserved words in MySQL)."""
    return _quoted_list(database.obj.quote, names)


@functools.lru_cache(maxsize=1024)
def _quoted_list(quote: str, names: tuple[str, ...]) -> str:
    """``quoted``'s text per quoting style (a hot read builds the same few lists on every call)."""
    open_quote, close_quote = quote
    return ", ".join(".".join(f"{open_quote}{part}{close_quote}" for part in name.split(".")) for name in names)


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
        return column**value
    if isinstance(column, pw.IntegerField) and _number(value) and not INT64_MIN <= value <= INT64_MAX:
        return _beyond_int64(column, op, value)
    return _ordering(op)(column, value)


_ORDERINGS = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _ordering(op: str):
    """The comparison function of ``op``; any other comparator is refused."""
    try:
        return _ORDERINGS[op]
    except KeyError:
        raise InvalidInput(f"Invalid comparator '{op}'") from None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _beyond_int64(column, op: str, value):
    """An integer column compared with a number no int64 reaches (an int beyond the range, a
    huge or infinite float), decided without binding it: SQLite cannot hold it (OverflowError)
    and peewee converts it with int() (infinity). Every stored value lies below such a number
    (or above it), so "<", "<=" and "!=" (">", ">=" and "!=" for one below the range) hold for
    every row with a value, and the others for none."""
    _ordering(op)
    if math.isnan(value):
        holds = op == "!="
    else:
        holds = op in (("<", "<=", "!=") if value > 0 else (">", ">=", "!="))
    return column.is_null(False) if holds else _NEVER


def compare_double(column, bits, op: str, value: float):
    """``column <op> value`` on a metric's stored value (registry_core.validation.metric_value:
    +/-Infinity stored as +/-FLOAT_MAX with its bits in ``bits``). An infinite literal is not
    bound (MariaDB refuses one, and +/-FLOAT_MAX would stand for it only approximately): the
    comparison is decided on whether the stored value is that infinity. x > +inf holds for no
    x, x <= +inf for every one, x >= +inf and x = +inf for +inf alone, x < +inf and x != +inf for
    all but it; symmetrically for -inf."""
    if not math.isinf(value):
        return compare(column, op, value)
    _ordering(op)
    stored, inf_bits = (FLOAT_MAX, INF_BITS) if value > 0 else (-FLOAT_MAX, NEG_INF_BITS)
    is_it = (column == stored) & (pw.fn.COALESCE(bits, 0) == inf_bits)
    never, only, all_but = (">", (">=", "="), ("<", "!=")) if value > 0 else ("<", ("<=", "="), (">", "!="))
    if op == never:
        return _NEVER
    if op in only:
        return is_it
    if op in all_but:
        return ~is_it
    return _ALWAYS


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
