"""The neutral form of a search request, as the core understands it.

The protocol layer parses MLflow filter strings and ``order_by`` clauses into these values;
the core turns them into SQL. Nothing here knows about MLflow's string grammar.

Entity kinds:
    "metric"    latest value of a metric          (key = metric key)
    "param"     run parameter                      (key = param key)
    "tag"       run / experiment tag               (key = tag key)
    "attribute" a column of the searched entity    (key = canonical attribute name)
    "dataset"   a dataset the run took as input    (key = "name" | "digest" | "context")

Operators (upper case): "=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN",
"IS NULL", "IS NOT NULL". For "IN"/"NOT IN" the value is a tuple of strings; for "IS NULL"
and "IS NOT NULL" it is None; numeric comparisons carry an int or float.
"""

from __future__ import annotations

from dataclasses import dataclass

Value = str | int | float | tuple | None

ENTITY_KINDS = ("metric", "param", "tag", "attribute", "dataset")
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL")


@dataclass(frozen=True)
class Comparison:
    kind: str
    key: str
    op: str
    value: Value = None


@dataclass(frozen=True)
class OrderKey:
    kind: str
    key: str
    ascending: bool = True
