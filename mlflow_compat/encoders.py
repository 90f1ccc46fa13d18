"""Hot answers written as JSON directly, without the response schemas.

Where a profile showed marshmallow dominating (thousands of points or runs per page, 8-45 us
each through a schema), the answer is written here from the core's values instead. Each writer
is held byte for byte equal to what its schema dumps through ``wire.json_response`` by a test
(tests/unit/test_wire_encoding.py), for every kind of field: set, unset, empty, NaN and
infinities, unicode and escapes.
"""

from __future__ import annotations

import json
import math

from flask import Response

from mlflow_compat.wire import JSON_MIMETYPE


def _json_number(value) -> str:
    """A ``Double`` field's value as json_response writes what the field dumps."""
    if type(value) is not float:
        return json.dumps(value, allow_nan=False)
    if value != value:
        return '"NaN"'
    if value in (math.inf, -math.inf):
        return '"Infinity"' if value > 0 else '"-Infinity"'
    return repr(float(value))


def metric_points_json(key: str, rows, next_page_token: str | None = None) -> Response:
    """``{"metrics": [...], "next_page_token": ...}`` for ``(value, timestamp, step)`` rows of one
    metric: exactly what the MetricOut schema dumps (a test holds them equal), written directly
    because a history page holds up to 25,000 points and the schema costs 8 us a point."""
    prefix = '{"key":' + json.dumps(key, ensure_ascii=False) + ',"value":'
    body = ",".join(f'{prefix}{_json_number(value)},"timestamp":{ts},"step":{step}}}' for value, ts, step in rows)
    parts = ['{"metrics":[', body, "]"] if rows else ["{"]
    if next_page_token:
        parts.append(("," if rows else "") + '"next_page_token":' + json.dumps(next_page_token))
    parts.append("}")
    return Response("".join(parts), status=200, mimetype=JSON_MIMETYPE)


_json_str = json.encoder.encode_basestring  # exactly what json.dumps(ensure_ascii=False) writes for a str


def _json_text(value) -> str:
    """A marshmallow ``fields.String`` value as JSON (``str()`` of anything else, as it does)."""
    return _json_str(value if type(value) is str else str(value))


def _optional(parts: list, name: str, value, number: bool = False) -> None:
    """``"name":value`` into ``parts`` for a set field (a string field's value as ``str()``)."""
    if value is not None:
        parts.append(f'"{name}":' + (str(int(value)) if number else _json_text(value)))


# ModelVersionOut's fields, in its order, and how each is written: "s" a fields.String, "i" a
# fields.Integer, "v" the version (a fields.Function of str(), always there), "l" a list.
_VERSION_FIELDS = (
    ("name", "s"),
    ("version", "v"),
    ("creation_timestamp", "i"),
    ("last_updated_timestamp", "i"),
    ("user_id", "s"),
    ("current_stage", "s"),
    ("description", "s"),
    ("source", "s"),
    ("run_id", "s"),
    ("status", "s"),
    ("status_message", "s"),
    ("tags", "l"),
    ("run_link", "s"),
    ("aliases", "l"),
)
_VERSION_SCALARS = tuple(name for name, kind in _VERSION_FIELDS if kind in "si")
_version_writers: dict = {}


def model_version_json(mv) -> str:
    """One registry VersionView as ``ModelVersionOut`` dumps it, then ``json_response`` writes it
    (a test holds them equal): its fields in the schema's order, unset ones and empty lists left
    out. A search page holds up to 200,000 versions, so each pattern of set fields gets its own
    writer, one f-string; a value of a type the registry does not store (a number in a string
    field, a float timestamp, a string version) takes the general path, as the schema does."""
    present = (
        mv.name is not None,
        mv.creation_timestamp is not None,
        mv.last_updated_timestamp is not None,
        mv.user_id is not None,
        mv.current_stage is not None,
        mv.description is not None,
        mv.source is not None,
        mv.run_id is not None,
        mv.status is not None,
        mv.status_message is not None,
        mv.run_link is not None,
    )
    writer = _version_writers.get(present) or _version_writer(present)
    try:
        return writer(mv)
    except (TypeError, ValueError):  # encode_basestring takes only str, ":d" only int
        return _version_json_general(mv)


def _version_writer(present: tuple):
    """The writer of versions whose set scalar fields are ``present`` (in _VERSION_SCALARS'
    order): one f-string expression compiled for the pattern (at most 2**11 of them; a registry
    has a handful)."""
    here = dict(zip(_VERSION_SCALARS, present))
    parts = []
    for name, kind in _VERSION_FIELDS:
        comma = "," if parts else ""
        if kind == "v":
            parts.append(f'{comma}"version":"{{mv.version:d}}"')
        elif kind == "l":
            parts.append(f'{{_{name}(mv.{name}) if mv.{name} else ""}}')  # writes its own comma
        elif here[name]:
            value = f"{{mv.{name}:d}}" if kind == "i" else f"{{_str(mv.{name})}}"
            parts.append(f'{comma}"{name}":{value}')
    source = "lambda mv: f'{{" + "".join(parts) + "}}'"
    writer = eval(source, {"_str": _json_str, "_tags": _version_tags, "_aliases": _version_aliases})
    _version_writers[present] = writer
    return writer


def _version_tags(tags) -> str:
    return ',"tags":' + _key_value_list(tags)


def _version_aliases(aliases) -> str:
    return ',"aliases":[' + ",".join(_json_str(a) for a in aliases) + "]"


def _version_json_general(mv) -> str:
    """model_version_json for any values, converted as the schema's fields convert them."""
    parts = []
    _optional(parts, "name", mv.name)
    parts.append('"version":' + _json_text(str(mv.version)))
    _optional(parts, "creation_timestamp", mv.creation_timestamp, number=True)
    _optional(parts, "last_updated_timestamp", mv.last_updated_timestamp, number=True)
    for name in ("user_id", "current_stage", "description", "source", "run_id", "status", "status_message"):
        _optional(parts, name, getattr(mv, name))
    _pairs(parts, "tags", mv.tags)
    _optional(parts, "run_link", mv.run_link)
    if mv.aliases:
        parts.append('"aliases":[' + ",".join(_json_text(a) for a in mv.aliases) + "]")
    return "{" + ",".join(parts) + "}"


def _page_json(key: str, items, encode_one, next_page_token: str | None) -> Response:
    """``{"<key>": [...], "next_page_token": ...}`` of a search page, unset parts left out."""
    parts = []
    if items:
        parts.append(f'"{key}":[' + ",".join(encode_one(item) for item in items) + "]")
    if next_page_token is not None:
        parts.append('"next_page_token":' + _json_str(next_page_token))
    return Response("{" + ",".join(parts) + "}", status=200, mimetype=JSON_MIMETYPE)


def model_version_answer(mv) -> Response:
    """``{"model_version": ...}``: the answer of create, get, update, transition-stage and get by
    alias, as the schema dumps it (a test holds them equal)."""
    return Response('{"model_version":' + model_version_json(mv) + "}", status=200, mimetype=JSON_MIMETYPE)


def model_versions_json(versions, next_page_token: str | None = None) -> Response:
    """The answer of a version search, written directly: the schema costs about 20 us a version
    and a page holds up to 200,000 (bench W6: 500)."""
    return _page_json("model_versions", versions, model_version_json, next_page_token)


def metric_points_with_run_json(points) -> Response:
    """``{"metrics": [...]}`` of get-history-bulk-interval: MetricPoints with their run ids, as
    MetricWithRunIdOut dumps them through json_response (a test holds them equal), written
    directly: up to 2,500 points per run of up to 100 runs, at 8 us a point in the schema."""
    quoted: dict = {}

    def text(value):
        if value not in quoted:
            quoted[value] = _json_text(value)
        return quoted[value]

    items = []
    for p in points:
        parts = []
        if p.key is not None:
            parts.append('"key":' + text(p.key))
        if p.value is not None:
            parts.append('"value":' + _json_number(p.value))
        if p.timestamp is not None:
            parts.append(f'"timestamp":{int(p.timestamp)}')
        if p.step is not None:
            parts.append(f'"step":{int(p.step)}')
        if p.run_id is not None:
            parts.append('"run_id":' + text(p.run_id))
        items.append("{" + ",".join(parts) + "}")
    body = '{"metrics":[' + ",".join(items) + "]}" if items else "{}"
    return Response(body, status=200, mimetype=JSON_MIMETYPE)


# --- runs ----------------------------------------------------------------------------------------


def _key_value_list(pairs) -> str:
    """``[{"key":..,"value":..}, ...]``: a KeyValueList's JSON."""
    return (
        "["
        + ",".join(
            '{"key":' + _json_str(k) + ',"value":' + ("null" if val is None else _json_str(val)) + "}"
            for k, val in pairs
        )
        + "]"
    )


def _pairs(parts: list, name: str, pairs) -> None:
    """``"name":[{"key":..,"value":..}]`` (a KeyValueList) into ``parts``, for a non-empty list."""
    if pairs:
        parts.append(f'"{name}":' + _key_value_list(pairs))


def run_json(run) -> str:
    """One RunView as RunOut dumps it (fields in the schema's order, unset fields absent)."""
    info = ['"run_uuid":' + _json_str(run.run_id), '"experiment_id":' + _json_str(str(run.experiment_id))]
    _optional(info, "run_name", run.run_name)
    _optional(info, "user_id", run.user_id)
    _optional(info, "status", run.status)
    _optional(info, "start_time", run.start_time, number=True)
    _optional(info, "end_time", run.end_time, number=True)
    _optional(info, "artifact_uri", run.artifact_uri)
    _optional(info, "lifecycle_stage", run.lifecycle_stage)
    _optional(info, "run_id", run.run_id)
    data = []
    if run.metrics:
        data.append(
            '"metrics":['
            + ",".join(
                '{"key":'
                + _json_str(m.key)
                + ',"value":'
                + _json_number(m.value)
                + f',"timestamp":{int(m.timestamp)},"step":{int(m.step)}}}'
                for m in run.metrics
            )
            + "]"
        )
    _pairs(data, "params", run.params)
    _pairs(data, "tags", run.tags)
    inputs = []
    if run.dataset_inputs:
        inputs.append('"dataset_inputs":[' + ",".join(_dataset_input_json(d) for d in run.dataset_inputs) + "]")
    if run.model_inputs:
        inputs.append(
            '"model_inputs":[' + ",".join('{"model_id":' + _json_str(m) + "}" for m in run.model_inputs) + "]"
        )
    outputs = ""
    if run.model_outputs:
        outputs = (
            '"model_outputs":['
            + ",".join('{"model_id":' + _json_str(m) + f',"step":{step}}}' for m, step in run.model_outputs)
            + "]"
        )
    return (
        '{"info":{'
        + ",".join(info)
        + '},"data":{'
        + ",".join(data)
        + '},"inputs":{'
        + ",".join(inputs)
        + '},"outputs":{'
        + outputs
        + "}}"
    )


def _dataset_input_json(d) -> str:
    dataset = []
    for name in ("name", "digest", "source_type", "source", "schema", "profile"):
        _optional(dataset, name, getattr(d, name))
    parts: list = []
    _pairs(parts, "tags", d.tags)
    parts.append('"dataset":{' + ",".join(dataset) + "}")
    return "{" + ",".join(parts) + "}"


def runs_json(runs, next_page_token: str | None = None) -> Response:
    """The answer of a run search, exactly as RunOut dumps the runs (a test holds them equal): a
    page holds up to 50,000 runs, and the schemas cost about 45 us a run."""
    return _page_json("runs", runs, run_json, next_page_token)
