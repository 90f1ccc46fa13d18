"""MLflow ``filter_string`` / ``order_by`` grammar -> the neutral AST of registry_core.search_ast.

One regex tokenizer pass, then a small hand-written parser driven by a declarative table per
search type (runs, experiments, registered models, model versions, logged models). Behaviour and
error messages follow MLflow 3.17.2: ``mlflow/utils/search_utils.py``, the comparator checks its
SQL stores add on top, and ``mlflow/utils/search_logged_model_utils.py``. Deliberate differences:
we accept a little more (``IS  NOT  NULL`` with extra spaces, ``1e+3``, ``like`` in lower case
everywhere, prefixes such as ``attributes.`` for experiments and models, the model-version
timestamps and ``source_path IN``), refuse what MLflow would answer with a 500 or pass to SQL
(``run_id = ('a')``, ``tags.x IS NULL`` for models, ``('a' 'b')`` lists), print sets in a
stable order, and answer a duplicate ``order_by`` field with 400 instead of 500.

Grammar::

    filter  := [clause (AND clause)*]            AND is case-insensitive; OR and ( ) are invalid
    clause  := ident op value | ident [NOT] IN list | ident IS [NOT] NULL
    ident   := [prefix "."] key                  key: word(.word)* | `any` | "any" | 'any'
    value   := 'str' | "str" | number            number: -?digits[.digits][e[+-]digits]
    list    := "(" str ("," str)* [","] ")"
    order   := ident [ASC | DESC]
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from mlflow_compat.errors import invalid
from registry_core.search_ast import OPERATORS, Comparison, OrderKey

NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
LIST_OPS = frozenset({"IN", "NOT IN"})
NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})

# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------
# String bodies use sqlparse's rules (a doubled quote or a backslash-quote stays inside the
# string) and, like MLflow, the text between the quotes is taken as is, without unescaping.
_SQ = r"'(?:''|\\'|[^'])*'"
_DQ = r'"(?:""|\\"|[^"])*"'
_TOKEN_RE = re.compile(
    rf"""
     (?P<ws>\s+)
    |(?P<sq>{_SQ})
    |(?P<dq>{_DQ})
    |(?P<num>-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])
    |(?P<ident>(?:`[^`]*`|\w+)(?:\.(?:`[^`]*`|{_DQ}|{_SQ}|\w+(?:\.\w+)*))?)
    |(?P<op><=|>=|!=|<>|==|=|<|>)
    |(?P<lp>\()
    |(?P<rp>\))
    |(?P<comma>,)
    |(?P<junk>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_IDENT_SPLIT = re.compile(r"(`[^`]*`|\w+)(?:\.(.*))?\Z", re.DOTALL)
_INT_RE = re.compile(r"-?\d+\Z")


class _Tok:
    __slots__ = ("items", "kind", "text")

    def __init__(self, kind: str, text: str, items: list | None = None):
        self.kind, self.text, self.items = kind, text, items

    def word(self) -> str | None:
        """The upper-cased text if this is a plain word (a keyword candidate)."""
        return self.text.upper() if self.kind == "ident" and self.text.isidentifier() else None


def _tokenize(s: str) -> list[_Tok]:
    """Tokens without whitespace; balanced ``( ... )`` become one ``group`` token."""
    out: list[_Tok] = []
    stack: list[tuple[list[_Tok], int]] = []
    for m in _TOKEN_RE.finditer(s):
        kind = m.lastgroup
        if kind == "ws":
            continue
        if kind == "lp":
            stack.append((out, m.start()))
            out = []
            continue
        if kind == "rp":
            if stack:
                parent, start = stack.pop()
                parent.append(_Tok("group", s[start : m.end()], out))
                out = parent
                continue
            kind = "junk"
        out.append(_Tok(kind, m.group()))
    while stack:  # an unclosed "(" is just an invalid token
        parent, _ = stack.pop()
        out = parent + [_Tok("junk", "(")] + out
    return out


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "`'\"":
        return text[1:-1]
    return text


def _fmt(values) -> str:
    """A set rendered the way MLflow prints one, but in a stable order."""
    order = {op: i for i, op in enumerate(OPERATORS)}
    ordered = sorted(values, key=lambda v: (order.get(v, len(order)), v))
    return "{" + ", ".join(repr(v) for v in ordered) + "}"


# ---------------------------------------------------------------------------------------------
# Declarative tables
# ---------------------------------------------------------------------------------------------
_ALL_PREFIXES = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "dataset": "dataset", "datasets": "dataset",
}  # fmt: skip
_MLFLOW_TYPE = {"param": "parameter"}  # how MLflow names an entity kind in its messages
_DATASET_KEYS = ("name", "digest", "context")


def _prefixes(*kinds: str, run_alias: bool = False) -> dict[str, str]:
    return {p: k for p, k in _ALL_PREFIXES.items() if k in kinds and (run_alias or p != "run")}


@dataclass(frozen=True, eq=False)
class _Spec:
    """What one search type accepts in a filter string and how it words its errors."""

    prefixes: dict[str, str]
    entity_msg: str  # {entity}
    attrs: dict[str, str]  # accepted spelling -> canonical attribute key
    numeric: frozenset[str]  # canonical numeric attributes
    ops: dict[str, frozenset[str]]  # role (metric/param/tag/dataset/string/numeric) -> ops
    op_msg: Callable[[str, str, str, frozenset], str]  # (role, key, op, allowed) -> message
    clause_msg: Callable[[list[str], str], str]  # (invalid tokens, filter) -> message
    attr_ops: dict[str, frozenset[str]] = field(default_factory=dict)  # per-attribute override
    list_attrs: frozenset[str] = frozenset()  # canonical attributes that accept ( ... ) lists
    list_kinds: frozenset[str] = frozenset()  # kinds whose every key accepts lists
    null_msg: str | None = None  # {type} {key}: IS [NOT] NULL on the wrong kind
    attr_value_msg: str = "Expected a quoted string value for attributes. Got value {value}"
    int_only: bool = False  # numeric attributes refuse floats
    numeric_from_str: bool = False  # numeric attributes also take '123'
    op_first: bool = False  # check the comparator before the value


@dataclass(frozen=True, eq=False)
class _OrderSpec:
    prefixes: dict[str, str]
    entity_msg: str
    attrs: dict[str, str]  # accepted spelling -> canonical attribute key
    kinds: frozenset[str]  # accepted kinds besides "attribute"
    bad_kind_msg: str  # {kind} {key} {ident} {valid}
    bad_key_msg: str = "Invalid attribute key '{key}' specified. Valid keys are '{valid}'"
    unique: bool = True  # refuse the same field twice


def _runs_op_msg(role, key, op, allowed):
    return f"Invalid comparator '{op}' not one of '{_fmt(allowed)}'"


def _quoted_clauses(bad, s):
    return "Invalid clause(s) in filter string: " + ", ".join(f"'{t}'" for t in bad)


def _bare_clauses(bad, s):
    return "Invalid clause(s) in filter string: " + ", ".join(bad)


def _registry_op_msg(role, key, op, allowed):
    if role == "numeric":
        return f"Invalid comparator for attribute {key}: {op}"
    return f"Invalid comparator for {'tag' if role == 'tag' else 'attribute'}: {op}"


def _experiments_op_msg(role, key, op, allowed):
    what = (
        "experiment_id"
        if key == "experiment_id"
        else {"tag": "tag", "string": "string attribute", "numeric": "numeric attribute"}[role]
    )
    return f"Invalid comparator for {what}: {op}"


_RUN_ATTRS = {
    "run_name": "run_name", "run name": "run_name", "Run name": "run_name", "Run Name": "run_name",
    "status": "status", "user_id": "user_id", "artifact_uri": "artifact_uri", "run_id": "run_id",
    "start_time": "start_time", "created": "start_time", "Created": "start_time",
    "end_time": "end_time",
}  # fmt: skip
_EXP_ATTRS = {k: k for k in ("name", "experiment_id", "creation_time", "last_update_time")}
_LM_ATTRS = {
    **{k: k for k in ("name", "model_id", "model_type", "status", "source_run_id")},
    "creation_timestamp": "creation_timestamp", "creation_time": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
    "last_updated_time": "last_updated_timestamp",
}  # fmt: skip
_REGISTRY_ENTITY_MSG = "Invalid entity type '{entity}'. Valid entity types are ('attribute', 'tag', 'tags')"

RUNS = _Spec(
    prefixes=_prefixes("metric", "param", "tag", "attribute", "dataset", run_alias=True),
    entity_msg="Invalid entity type '{entity}'. "
    "Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']",
    attrs=_RUN_ATTRS,
    numeric=frozenset({"start_time", "end_time"}),
    ops={
        "metric": NUMERIC_OPS,
        "param": STRING_OPS | NULL_OPS,
        "tag": STRING_OPS | NULL_OPS,
        "string": STRING_OPS | LIST_OPS,
        "numeric": NUMERIC_OPS,
        "dataset": STRING_OPS | LIST_OPS,
    },
    op_msg=_runs_op_msg,
    clause_msg=_quoted_clauses,
    list_attrs=frozenset({"run_id"}),
    list_kinds=frozenset({"dataset"}),
    null_msg="IS NULL / IS NOT NULL is only supported for tags and params, not for '{type}' '{key}'",
)
EXPERIMENTS = _Spec(
    prefixes=_prefixes("attribute", "tag"),
    entity_msg=_REGISTRY_ENTITY_MSG,
    attrs=_EXP_ATTRS,
    numeric=frozenset({"creation_time", "last_update_time"}),
    ops={"tag": STRING_OPS | NULL_OPS, "string": STRING_OPS, "numeric": NUMERIC_OPS},
    attr_ops={"experiment_id": frozenset({"=", "!="}) | LIST_OPS},
    op_msg=_experiments_op_msg,
    clause_msg=_bare_clauses,
    list_attrs=frozenset({"experiment_id"}),
    null_msg="IS NULL / IS NOT NULL is only supported for tags, not for attribute '{key}'",
    int_only=True,
)
REGISTERED_MODELS = _Spec(
    prefixes=_prefixes("attribute", "tag"),
    entity_msg=_REGISTRY_ENTITY_MSG,
    attrs={"name": "name"},
    numeric=frozenset(),
    ops={"tag": STRING_OPS, "string": STRING_OPS | LIST_OPS},
    op_msg=_registry_op_msg,
    clause_msg=_bare_clauses,
    list_attrs=frozenset({"name"}),
    attr_value_msg="Expected a quoted string value or a list of quoted string values for attributes. Got value {value}",
)
MODEL_VERSIONS = _Spec(
    prefixes=_prefixes("attribute", "tag"),
    entity_msg=_REGISTRY_ENTITY_MSG,
    # MLflow itself searches only name/run_id/source_path/version_number and lists only
    # name/run_id: the two timestamps and source_path IN are extensions of ours.
    attrs={
        k: k
        for k in ("name", "run_id", "source_path", "version_number", "creation_timestamp", "last_updated_timestamp")
    },
    numeric=frozenset({"version_number", "creation_timestamp", "last_updated_timestamp"}),
    ops={"tag": STRING_OPS, "string": STRING_OPS | LIST_OPS, "numeric": NUMERIC_OPS},
    op_msg=_registry_op_msg,
    clause_msg=_bare_clauses,
    list_attrs=frozenset({"name", "run_id", "source_path"}),
    attr_value_msg=REGISTERED_MODELS.attr_value_msg,
    int_only=True,
    numeric_from_str=True,
)
_LM_PLURAL = {"metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes"}
LOGGED_MODELS = _Spec(
    prefixes=_prefixes("metric", "param", "tag", "attribute"),
    entity_msg="Invalid entity type: '{entity}'. Expected one of ['attributes', 'metrics', 'params', 'tags'].",
    attrs=_LM_ATTRS,
    numeric=frozenset({"creation_timestamp", "last_updated_timestamp"}),
    ops={
        "metric": NUMERIC_OPS,
        "numeric": NUMERIC_OPS,
        "param": STRING_OPS | LIST_OPS,
        "tag": STRING_OPS | LIST_OPS,
        "string": STRING_OPS | LIST_OPS,
    },
    op_msg=lambda role, key, op, allowed: (
        f"Invalid comparison operator for {_LM_PLURAL.get(role, 'attributes')}.{key}: {op!r}. "
        f"Expected one of {tuple(o for o in OPERATORS if o in allowed)}."
    ),
    clause_msg=lambda bad, s: (
        f"Invalid filter string: {s!r}. Expected a list of comparisons "
        "separated by 'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01')."
    ),
    list_kinds=frozenset({"param", "tag"}),
    list_attrs=frozenset({"name", "model_id", "model_type", "status", "source_run_id"}),
    op_first=True,
)

RUNS_ORDER = _OrderSpec(
    prefixes=RUNS.prefixes,
    entity_msg=RUNS.entity_msg,
    attrs={k: v for k, v in _RUN_ATTRS.items() if k.lower() != "run name"},
    kinds=frozenset({"metric", "param", "tag"}),
    bad_kind_msg="Invalid identifier type '{kind}'",
)
EXPERIMENTS_ORDER = _OrderSpec(
    prefixes=EXPERIMENTS.prefixes,
    entity_msg=_REGISTRY_ENTITY_MSG,
    attrs=_EXP_ATTRS,
    kinds=frozenset(),
    bad_kind_msg="Invalid order_by entity: {kind}",
    unique=False,
)
REGISTERED_MODELS_ORDER = _OrderSpec(
    prefixes=REGISTERED_MODELS.prefixes,
    entity_msg=_REGISTRY_ENTITY_MSG,
    # MLflow's SQL store sorts "timestamp" by the last update time; creation_timestamp is an
    # extension of ours (MLflow's file store accepts it).
    attrs={
        "name": "name",
        "timestamp": "last_updated_timestamp",
        "last_updated_timestamp": "last_updated_timestamp",
        "creation_timestamp": "creation_timestamp",
    },
    kinds=frozenset(),
    bad_kind_msg="Invalid order by key '{ident}' specified. Valid keys are '{valid}'",
    bad_key_msg="Invalid order by key '{ident}' specified. Valid keys are '{valid}'",
)
MODEL_VERSIONS_ORDER = _OrderSpec(
    prefixes=MODEL_VERSIONS.prefixes,
    entity_msg=_REGISTRY_ENTITY_MSG,
    attrs={k: k for k in ("name", "version_number", "creation_timestamp", "last_updated_timestamp")},
    kinds=frozenset(),
    bad_kind_msg="Invalid order by key '{key}' specified. Valid keys are {valid}",
)


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------
_VALUE_KINDS = frozenset({"sq", "dq", "num", "ident", "group"})
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE"})


def _match_clause(toks: list[_Tok], i: int):
    """``(end, lhs, op, value)`` if a clause starts at ``toks[i]``, else None (structure only)."""
    lhs = toks[i]
    if lhs.kind not in ("ident", "dq") or lhs.word() in _KEYWORDS or i + 1 >= len(toks):
        return None
    nxt = toks[i + 1].word()
    rest = toks[i + 2 : i + 4]
    words = [t.word() for t in rest]
    if toks[i + 1].kind == "op" or nxt in ("LIKE", "ILIKE"):
        if rest and rest[0].kind in _VALUE_KINDS:
            return i + 3, lhs, nxt or toks[i + 1].text, rest[0]
    elif nxt == "IN" and rest and rest[0].kind == "group":
        return i + 3, lhs, "IN", rest[0]
    elif nxt == "NOT" and len(rest) == 2 and words[0] == "IN" and rest[1].kind == "group":
        return i + 4, lhs, "NOT IN", rest[1]
    elif nxt == "NOT" and len(rest) == 2 and words[0] in ("LIKE", "ILIKE"):  # refused later
        return i + 4, lhs, "NOT " + words[0], rest[1]
    elif nxt == "IS" and words[:1] == ["NULL"]:
        return i + 3, lhs, "IS NULL", None
    elif nxt == "IS" and words == ["NOT", "NULL"]:
        return i + 4, lhs, "IS NOT NULL", None
    return None


def _resolve(lhs: _Tok, prefixes: dict[str, str], entity_msg: str) -> tuple[str, str]:
    """``(kind, key)`` of an identifier; a bare identifier is an attribute."""
    if lhs.kind == "dq":
        return "attribute", lhs.text[1:-1]
    head, tail = _IDENT_SPLIT.match(lhs.text).groups()
    if tail is None:
        return "attribute", _unquote(head)
    entity = _unquote(head) if head.startswith("`") else head
    kind = prefixes.get(entity)
    if kind is None:
        raise invalid(entity_msg.format(entity=entity))
    return kind, _unquote(tail)


def _attribute(kind: str, key: str, attrs: dict[str, str]) -> str:
    if kind == "attribute":
        if key not in attrs:
            raise invalid(f"Invalid attribute key '{key}' specified. Valid keys are '{_fmt(attrs)}'")
        return attrs[key]
    if kind == "dataset" and key not in _DATASET_KEYS:
        raise invalid(f"Invalid dataset key '{key}' specified. Valid keys are '{_fmt(_DATASET_KEYS)}'")
    return key


def _parse_list(tok: _Tok) -> tuple:
    items, values, expect_item = tok.items, [], True
    for t in items:
        if expect_item and t.kind in ("sq", "dq", "num"):
            values.append(_list_item(t))
            expect_item = False
        elif not expect_item and t.kind == "comma":
            expect_item = True
        else:
            raise invalid(
                "While parsing a list in the query, expected a non-empty list of "
                "string values, but got ill-formed list."
            )
    if not values:
        raise invalid(
            "While parsing a list in the query, expected a non-empty list of string values, but got empty list"
        )
    if not all(isinstance(v, str) for v in values):
        raise invalid(
            "While parsing a list in the query, expected string value, punctuation, "
            f"or whitespace, but got different type in list: {tuple(values)}"
        )
    return tuple(values)


def _list_item(t: _Tok):
    if t.kind == "num":
        return _number(t.text)
    inner = t.text[1:-1]
    if "\\" in inner or t.text[0] * 2 in inner:  # MLflow reads lists as Python literals
        try:
            return ast.literal_eval(t.text)
        except (SyntaxError, ValueError):
            raise invalid(
                "While parsing a list in the query, expected a non-empty list of "
                "string values, but got ill-formed list."
            ) from None
    return inner


def _number(text: str) -> int | float:
    return int(text) if _INT_RE.match(text) else float(text)


def _value(spec: _Spec, kind: str, role: str, key: str, canonical: str, tok: _Tok):
    if role in ("metric", "numeric"):
        if tok.kind == "num" or (spec.numeric_from_str and tok.kind in ("sq", "dq")):
            text = tok.text if tok.kind == "num" else tok.text[1:-1]
            if role == "metric":
                return float(text)
            if spec.int_only and not _INT_RE.match(text.strip()):
                raise invalid(f"Invalid value for numeric attribute '{key}': {text!r}")
            return _number(text.strip())
        if role == "metric":
            raise invalid(f"Expected numeric value type for metric. Found {tok.text}")
        raise invalid(f"Expected numeric value type for numeric attribute: {key}. Found {tok.text}")
    if tok.kind in ("sq", "dq"):
        return tok.text[1:-1]
    if tok.kind == "ident":
        raise invalid(
            "Parameter value is either not quoted or unidentified quote types used for "
            f"string value {tok.text}. Use either single or double quotes."
        )
    if tok.kind == "group":
        if kind in spec.list_kinds or (kind == "attribute" and canonical in spec.list_attrs):
            return _parse_list(tok)
        if kind == "attribute":
            raise invalid(
                f"Only {sorted(spec.list_attrs)} attributes support comparison with a list of quoted string values."
            )
    if kind in ("param", "tag"):
        raise invalid(
            f"Expected a quoted string value for {_MLFLOW_TYPE.get(kind, kind)} (e.g. 'my-value'). Got value {tok.text}"
        )
    if kind == "dataset":
        raise invalid(f"Expected a quoted string value for dataset attributes. Got value {tok.text}")
    raise invalid(spec.attr_value_msg.format(value=tok.text))


def _comparison(spec: _Spec, lhs: _Tok, op: str, tok: _Tok | None) -> Comparison:
    kind, key = _resolve(lhs, spec.prefixes, spec.entity_msg)
    canonical = _attribute(kind, key, spec.attrs)
    if kind == "attribute":
        role = "numeric" if canonical in spec.numeric else "string"
        allowed = spec.attr_ops.get(canonical, spec.ops.get(role, frozenset()))
    else:
        role, allowed = kind, spec.ops.get(kind, frozenset())
    if spec.op_first and op not in allowed:
        raise invalid(spec.op_msg(role, key, op, allowed))
    if tok is None:  # IS [NOT] NULL
        if op not in allowed and spec.null_msg:
            raise invalid(spec.null_msg.format(type=_MLFLOW_TYPE.get(kind, kind), key=key))
        value = None
    else:
        value = _value(spec, kind, role, key, canonical, tok)
    if op not in allowed:
        raise invalid(spec.op_msg(role, key, op, allowed))
    if isinstance(value, tuple) and op not in LIST_OPS:
        raise invalid(f"Invalid comparator '{op}' for a list of values. Use IN or NOT IN.")
    return Comparison(kind, canonical, op, value)


@lru_cache(maxsize=1024)
def _parse_filter(spec: _Spec, filter_string: str) -> tuple[Comparison, ...]:
    toks = _tokenize(filter_string)
    if not toks:
        raise invalid(f"Invalid filter '{filter_string}'. Could not be parsed.")
    clauses, bad, i = [], [], 0
    while i < len(toks):
        if toks[i].word() == "AND":
            i += 1
            continue
        match = _match_clause(toks, i)
        if match is None:
            bad.append(toks[i].text)
            i += 1
            continue
        i = match[0]
        clauses.append(match[1:])
    if bad:
        raise invalid(spec.clause_msg(bad, filter_string))
    return tuple(_comparison(spec, *clause) for clause in clauses)


@lru_cache(maxsize=1024)
def _parse_order_clause(spec: _OrderSpec, clause: str) -> OrderKey:
    toks = _tokenize(clause)
    if not toks or len(toks) > 2 or toks[0].kind not in ("ident", "dq"):
        raise invalid(f"Invalid order_by clause '{clause}'. Could not be parsed.")
    ascending = True
    if len(toks) == 2:
        direction = toks[1].word()
        if direction not in ("ASC", "DESC"):
            raise invalid(f"Invalid ordering key in order_by clause '{clause}'.")
        ascending = direction == "ASC"
    kind, key = _resolve(toks[0], spec.prefixes, spec.entity_msg)
    fmt = {"kind": kind, "key": key, "ident": toks[0].text, "valid": _fmt(spec.attrs)}
    if kind == "attribute":
        if key not in spec.attrs:
            raise invalid(spec.bad_key_msg.format(**fmt))
        return OrderKey(kind, spec.attrs[key], ascending)
    if kind not in spec.kinds:
        raise invalid(spec.bad_kind_msg.format(**fmt))
    return OrderKey(kind, key, ascending)


def _parse_order_by(spec: _OrderSpec, order_by: list[str] | None) -> list[OrderKey]:
    keys = [_parse_order_clause(spec, clause) for clause in order_by or ()]
    if spec.unique and len({(k.kind, k.key) for k in keys}) != len(keys):
        raise invalid(f"`order_by` contains duplicate fields: {list(order_by)}")
    return keys


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------
def parse_run_filter(filter_string: str | None) -> list[Comparison]:
    return list(_parse_filter(RUNS, filter_string)) if filter_string else []


def parse_run_order_by(order_by: list[str] | None) -> list[OrderKey]:
    return _parse_order_by(RUNS_ORDER, order_by)


def parse_experiment_filter(filter_string: str | None) -> list[Comparison]:
    return list(_parse_filter(EXPERIMENTS, filter_string)) if filter_string else []


def parse_experiment_order_by(order_by: list[str] | None) -> list[OrderKey]:
    return _parse_order_by(EXPERIMENTS_ORDER, order_by)


def parse_registered_model_filter(filter_string: str | None) -> list[Comparison]:
    return list(_parse_filter(REGISTERED_MODELS, filter_string)) if filter_string else []


def parse_registered_model_order_by(order_by: list[str] | None) -> list[OrderKey]:
    return _parse_order_by(REGISTERED_MODELS_ORDER, order_by)


def parse_model_version_filter(filter_string: str | None) -> list[Comparison]:
    return list(_parse_filter(MODEL_VERSIONS, filter_string)) if filter_string else []


def parse_model_version_order_by(order_by: list[str] | None) -> list[OrderKey]:
    return _parse_order_by(MODEL_VERSIONS_ORDER, order_by)


def parse_logged_model_filter(filter_string: str | None) -> list[Comparison]:
    return list(_parse_filter(LOGGED_MODELS, filter_string)) if filter_string else []
