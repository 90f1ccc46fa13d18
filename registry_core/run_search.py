"""Search over candidates: every filter and ordering runs in SQL.

Each metric/param/tag clause is a correlated semi-join on the (run, key)-keyed table, so the
database uses the primary-key indexes; orderings on metrics/params/tags are LEFT JOINs that place
missing values (and NaN metrics) last whatever the direction, as MLflow does. Ties are broken by
start_time DESC then run id, so pages are stable.

A search whose first order key is a metric is read as three segments in that order: the runs
with a value for the metric, those whose value is NaN, those without it. The first is read from
the (experiment_id, key, is_nan, value) index of latest_metrics, best value first, stopping at
the end of the page (see ``_Values``): its cost follows the page's end, not the number of runs
that match, which is what keeps a top-100 search as fast on 100,000 runs as on 10,000. The other
two are small in practice and read as ordinary filtered queries; each segment is only read when
the page reaches it.
"""

from __future__ import annotations

import peewee as pw

from registry_core import validation as v
from registry_core.candidates import _RUN_FIELDS, load_runs
from registry_core.db import database, dialect
from registry_core.entities import Page
from registry_core.errors import InvalidInput
from registry_core.lifecycle import VIEW_STAGES
from registry_core.models import Dataset, Input, InputTag, LatestMetric, Param, Run, Tag
from registry_core.search_ast import Comparison, OrderKey
from registry_core.sqlutil import compare, compare_double, has_row

ATTRIBUTE_COLUMNS = {
    "run_id": Run.run_uuid,
    "run_name": Run.name,
    "status": Run.status,
    "user_id": Run.user_id,
    "artifact_uri": Run.artifact_uri,
    "start_time": Run.start_time,
    "end_time": Run.end_time,
    "lifecycle_stage": Run.lifecycle_stage,
    "experiment_id": Run.experiment,
}
_KEYED = {"metric": LatestMetric, "param": Param, "tag": Tag}
DATASET_CONTEXT_TAG = "mlflow.data.context"


def _keyed_condition(model, c: Comparison):
    """The condition on a row of a (run, key)-keyed table for a comparison that needs the row
    to exist (every operator but IS NULL)."""
    cond = model.key == c.key
    if c.op == "IS NOT NULL":
        return cond
    if c.kind == "metric":
        # NaN is stored as value 0 with is_nan: it satisfies "!=" and nothing else (MLflow).
        value_cond = compare_double(model.value, model.value_bits, c.op, float(c.value))
        if c.op == "!=":
            return cond & (value_cond | (model.is_nan == True))  # noqa: E712
        return cond & value_cond & (model.is_nan == False)  # noqa: E712
    return cond & compare(model.value, c.op, c.value)


def _clause(n: int, c: Comparison):
    """A condition on Run for one comparison."""
    if c.kind == "attribute":
        column = ATTRIBUTE_COLUMNS.get(c.key)
        if column is None:
            raise InvalidInput(f"Invalid attribute key '{c.key}' specified.")
        return compare(column, c.op, c.value)
    if c.kind in _KEYED:
        # Correlated on the (run, key) primary key: one index probe per run of the searched
        # experiments, whatever the size of the other experiments.
        model = _KEYED[c.kind].alias(f"f{n}")
        if c.op == "IS NULL":
            return has_row(model, model.run, Run.run_uuid, model.key == c.key, negate=True)
        return has_row(model, model.run, Run.run_uuid, _keyed_condition(model, c))
    if c.kind == "dataset":
        if c.key == "context":
            tag = InputTag.alias(f"f{n}")
            sub = (
                Input.select(Input.run)
                .join(tag, on=(tag.input == Input.input_uuid))
                .where((tag.name == DATASET_CONTEXT_TAG) & compare(tag.value, c.op, c.value))
            )
        else:
            column = {"name": Dataset.name, "digest": Dataset.digest}.get(c.key)
            if column is None:
                raise InvalidInput(f"Invalid dataset key '{c.key}' specified.")
            sub = Input.select(Input.run).join(Dataset).where(compare(column, c.op, c.value))
        return Run.run_uuid.in_(sub)
    raise InvalidInput(f"Invalid search expression type '{c.kind}'")


def _check_order(order: list[OrderKey]) -> None:
    seen = set()
    for o in order:
        if (o.kind, o.key) in seen:
            raise InvalidInput(f"`order_by` contains duplicate fields: {[f'{x.kind}.{x.key}' for x in order]}")
        seen.add((o.kind, o.key))
        if o.kind == "attribute":
            if o.key not in ATTRIBUTE_COLUMNS:
                raise InvalidInput(f"Invalid order_by key '{o.key}' specified.")
        elif o.kind not in _KEYED:
            raise InvalidInput(f"Invalid order_by entity type '{o.kind}'")


def _order_terms(query, order: list[OrderKey], first_alias: int = 0):
    """The query with the LEFT JOINs ``order`` needs, and its ORDER BY terms: for each key, the
    missing (and NaN) values after the others, then the value in the key's direction."""
    terms = []
    for n, o in enumerate(order, first_alias):
        if o.kind == "attribute":
            column = ATTRIBUTE_COLUMNS[o.key]
            terms.append(pw.Case(None, [(column.is_null(), 1)], 0))
        else:
            model = _KEYED[o.kind].alias(f"o{n}")
            query = query.join(
                model, pw.JOIN.LEFT_OUTER, on=((model.run == Run.run_uuid) & (model.key == o.key)), src=Run
            )
            column = model.value
            if o.kind == "metric":
                terms.append(pw.Case(None, [(model.is_nan == True, 1), (column.is_null(), 2)], 0))  # noqa: E712
            else:
                terms.append(pw.Case(None, [(column.is_null(), 1)], 0))
        terms.append(column.asc() if o.ascending else column.desc())
    return query, terms


def _tie_breaks(order: list[OrderKey]) -> list:
    """start_time DESC (unless the order names start_time), then run id: a total order."""
    if any(o.kind == "attribute" and o.key == "start_time" for o in order):
        return [Run.run_uuid.asc()]
    return [Run.start_time.desc(), Run.run_uuid.asc()]


def _ordered(query, order: list[OrderKey], head: list = (), first_alias: int = 0):
    query, terms = _order_terms(query, order, first_alias)
    return query.order_by(*head, *terms, *_tie_breaks(order))


def _fetch(query) -> list[tuple]:
    """The rows as the driver returns them (peewee's row wrapping converts nothing a run row
    needs and costs ~10 us a row)."""
    return database.execute(query).fetchall()


class _Filtered:
    """Runs of the searched experiments and view type that pass the filter and ``extra``, in
    the order of ``order``: the general query, and the NaN and missing segments of a metric
    order (``order`` then holds the keys after the metric)."""

    def __init__(self, ids, stages, comparisons, order, extra=None):
        query = Run.select(*_RUN_FIELDS).where(Run.experiment.in_(ids) & Run.lifecycle_stage.in_(stages))
        for n, c in enumerate(comparisons):
            query = query.where(_clause(n, c))
        self.query = query.where(extra) if extra is not None else query
        self.order = order

    def rows(self, offset: int, limit: int) -> list[tuple]:
        return _fetch(_ordered(self.query, self.order).offset(offset).limit(limit))

    def count(self) -> int:
        return self.query.count()


class _Values:
    """The runs that have a value (not NaN) for the metric ``key``, best value first.

    Read from the (experiment_id, key, is_nan, value) index of latest_metrics, each row joined to
    its run and probed for the filter on the (run, key) keys. Per experiment, the first
    ``end + 1`` rows of that walk in the key's direction: an order the index gives, so the walk
    stops there (EXPLAIN: SQLite and MariaDB read the index in order; PostgreSQL does when its
    statistics are current, which the schema upgrade makes sure of). The ``end``-th best value of
    them all bounds the page: every row better than it was read, and, unless an experiment's
    walk stopped on a value equal to it, every row equal to it too. Ordered by the metric alone,
    the page is those rows sorted by (value, start_time DESC, run id), one statement in all.

    Otherwise (more order keys after the metric, a walk that stopped inside tied values, a page
    ending past ``_CANDIDATES``), two statements: each experiment's ``end``-th value alone, then
    the rows at least as good as the best of those bounds, fully ordered (value, the keys after
    it, start_time DESC, run id) and paged. That order needs a sort, which MariaDB would do over
    every match before the LIMIT; the bound keeps it to the rows the page needs."""

    # The deepest page end read as whole rows in one statement.
    _CANDIDATES = 2500
    # Where start_time is in a walk row: (value, *_RUN_FIELDS).
    _START_TIME = 1 + [f.name for f in _RUN_FIELDS].index("start_time")

    def __init__(self, ids, stages, comparisons, first: OrderKey, rest: list[OrderKey]):
        self.ids, self.stages, self.comparisons = ids, stages, comparisons
        self.first, self.rest = first, rest
        self.w = LatestMetric.alias("w")

    def _walk(self, ids, *fields):
        w = self.w
        # MariaDB turns EXISTS into a semi-join and drives the query from the filter's table;
        # STRAIGHT_JOIN keeps the written order (index walk, then the run, then the filter rows),
        # and on a (run, key) key a join filters exactly as EXISTS does. SQLite and PostgreSQL
        # drive from the index with the filter as correlated EXISTS probes.
        straight = dialect() == "mysql"
        join = "STRAIGHT_JOIN" if straight else pw.JOIN.INNER
        query = (
            w.select(*fields)
            .join(Run, join, on=(Run.run_uuid == w.run))
            .where(
                w.experiment_id.in_(ids)
                & (w.key == self.first.key)
                & (w.is_nan == False)  # noqa: E712
                & Run.lifecycle_stage.in_(self.stages)
            )
        )
        for n, c in enumerate(self.comparisons):
            if straight and c.kind in _KEYED and c.op != "IS NULL":
                model = _KEYED[c.kind].alias(f"f{n}")
                query = query.join(model, join, on=((model.run == Run.run_uuid) & _keyed_condition(model, c)), src=Run)
            else:
                query = query.where(_clause(n, c))
        return query

    def _better_or_equal(self, column, bound):
        return column >= bound if not self.first.ascending else column <= bound

    def _direction(self, column):
        return column.asc() if self.first.ascending else column.desc()

    def rows(self, offset: int, limit: int) -> list[tuple]:
        end = offset + limit
        if not self.rest and end <= self._CANDIDATES:
            page = self._sorted_walks(end)
            if page is not None:
                return page[offset:end]
        w = self.w
        query = self._walk(self.ids, *_RUN_FIELDS)
        bound = self._bound(end)
        if bound is not None:
            query = query.where(bound)
        query = _ordered(query, self.rest, head=[self._direction(w.value)], first_alias=1)
        return _fetch(query.offset(offset).limit(limit))

    def _sorted_walks(self, end: int) -> list[tuple] | None:
        """The first ``end`` rows in the full order, from each experiment's first ``end + 1``
        rows of the walk; None when rows tied with the ``end``-th value may lie beyond what was
        read (or a run has no start_time, which the databases order differently)."""
        w, walks = self.w, []
        for eid in dict.fromkeys(self.ids):
            query = self._walk([eid], w.value, *_RUN_FIELDS).order_by(self._direction(w.value))
            walks.append(_fetch(query.limit(end + 1)))
        rows = [row for walk in walks for row in walk]
        start = self._START_TIME
        if any(row[start] is None for row in rows):
            return None
        sign = 1 if self.first.ascending else -1
        rows.sort(key=lambda row: (sign * row[0], -row[start], row[1]))
        if len(rows) > end:
            bound = rows[end - 1][0]
            if any(len(walk) > end and walk[-1][0] == bound for walk in walks):
                return None
        return [row[1:] for row in rows[:end]]

    def _bound(self, end: int):
        """Each experiment's ``end``-th value: the condition that keeps the rows at least as good
        as the best of them (None: no experiment has ``end`` rows)."""
        w, bounds = self.w, []
        for eid in dict.fromkeys(self.ids):
            query = self._walk([eid], w.value).order_by(self._direction(w.value))
            bound = query.offset(end - 1).limit(1).scalar()
            if bound is not None:
                bounds.append(bound)
        if not bounds:
            return None
        # Each experiment has ``end`` rows at least as good as its bound: the page lies within the
        # rows at least as good as the best of those bounds.
        return self._better_or_equal(w.value, min(bounds) if self.first.ascending else max(bounds))

    def count(self) -> int:
        return self._walk(self.ids, pw.SQL("1")).count()


def _paged(segments, offset: int, limit: int) -> list[tuple]:
    """Rows ``offset`` to ``offset + limit`` of the segments read one after the other; a segment
    is only read (and one before it counted) when the page reaches it."""
    rows: list[tuple] = []
    for segment in segments:
        got = segment.rows(offset, limit - len(rows))
        rows.extend(got)
        if len(rows) == limit:
            break
        # (rows may be logged between the two statements: never a negative offset)
        offset = 0 if got else max(0, offset - segment.count())
    return rows


def _metric_segments(ids, stages, comparisons, order: list[OrderKey]) -> list:
    first, rest = order[0], order[1:]
    lm = LatestMetric.alias("k")
    has_key = lm.key == first.key
    return [
        _Values(ids, stages, comparisons, first, rest),
        _Filtered(ids, stages, comparisons, rest, has_row(lm, lm.run, Run.run_uuid, has_key & (lm.is_nan == True))),  # noqa: E712
        _Filtered(ids, stages, comparisons, rest, has_row(lm, lm.run, Run.run_uuid, has_key, negate=True)),
    ]


def _walks(comparisons: list[Comparison], order: list[OrderKey]) -> bool:
    """Whether the metric walk applies: ordered by a metric first, and no run-id filter (the
    runs' primary key finds those runs directly)."""
    if not order or order[0].kind != "metric":
        return False
    return not any(c.kind == "attribute" and c.key == "run_id" and c.op in ("=", "IN") for c in comparisons)


def search(
    experiment_ids: list,
    comparisons: list[Comparison],
    view_type: str,
    order: list[OrderKey],
    max_results: int,
    offset: int,
) -> Page:
    ids = [v.experiment_id(e) for e in experiment_ids]
    if not ids:
        return Page([], None)
    stages = VIEW_STAGES.get(view_type)
    if stages is None:
        raise InvalidInput(f"Invalid value {view_type} for parameter 'run_view_type' supplied.")
    for n, c in enumerate(comparisons):
        _clause(n, c)  # an invalid filter fails before anything runs
    _check_order(order)
    if _walks(comparisons, order):
        segments = _metric_segments(ids, stages, comparisons, order)
    else:
        segments = [_Filtered(ids, stages, comparisons, order)]
    rows = _paged(segments, offset, max_results + 1)
    next_offset = offset + max_results if len(rows) > max_results else None
    return Page(load_runs(rows[:max_results]), next_offset)
