"""Request decoding and response encoding shared by every endpoint.

``@rpc(RequestSchema)`` reads the request message the way MLflow's server does (the query string
for GET, a JSON body for POST/PATCH/DELETE), validates it with the schema (unknown fields
ignored), and hands the handler a dict. The handler returns a dict already dumped by a response
schema; it is sent as compact JSON with HTTP 200.
"""

from __future__ import annotations

import functools
import json
import math
from typing import ClassVar

from flask import Response, request
from marshmallow import Schema, ValidationError, fields

from mlflow_compat import request_body
from mlflow_compat.errors import MlflowError, invalid
from mlflow_compat.request_body import JSON_MIMETYPE, body_in_memory  # noqa: F401 (re-exported)


def json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
    if isinstance(payload, dict):  # unset fields are absent, as in protobuf JSON
        payload = {k: val for k, val in payload.items() if val is not None and val != []}
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return Response(body, status=status, mimetype=JSON_MIMETYPE, headers=headers)


def error_response(err: MlflowError, headers: dict | None = None) -> Response:
    return json_response(err.to_json(), err.status, headers)


def _query_message(schema: Schema) -> dict:
    args = request.args
    data = {}
    for name, field in schema.load_fields.items():
        key = field.data_key or name
        if key not in args:
            continue
        if isinstance(field, fields.List):
            data[key] = args.getlist(key)
        elif isinstance(field, ProtoBool):  # as MLflow reads a bool from a query string
            value = args.get(key)
            if value.lower() not in ("true", "false"):
                raise invalid(f"Invalid boolean value: {value}, must be 'true' or 'false'.")
            data[key] = value.lower() == "true"
        else:
            data[key] = args.get(key)
    return data


def _body_message(limit: int) -> dict:
    request_body.check_content_type()
    try:
        raw = request_body.raw_body(limit)
    except request_body.BodyTooLarge as exc:
        raise invalid(_too_large_message(exc)) from None
    return request_body.parse_json(raw)


def _too_large_message(exc) -> str:
    size = "a larger request" if exc.size is None else f"a request of size {exc.size}"
    if request.path.endswith("/runs/log-batch"):
        return f"Batched logging API requests must be at most {exc.limit} bytes, got {size}."
    return f"Request bodies of {request.path} must be at most {exc.limit} bytes, got {size}."


_API_DOCS = " See the API docs for more information about request parameters."
_MISSING = object()


def missing_value(path: str) -> MlflowError:
    """MLflow's answer to a required field absent, null or empty."""
    return invalid(f"Missing value for required parameter '{path}'.{_API_DOCS}")


def invalid_value(path: str, value) -> MlflowError:
    """MLflow's answer to a field of the wrong type (or out of its schema's bounds): the value
    echoed as JSON, then its Python type (mlflow.utils.validation.invalid_value)."""
    try:
        shown = json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        shown = repr(value)
    return invalid(
        f"Invalid value {shown} for parameter '{path}' supplied:  Hint: Value was of type "
        f"'{type(value).__name__}'.{_API_DOCS}"
    )


def _first_error(messages, prefix: str = "") -> tuple[str, object]:
    """(field path, message) of the first marshmallow error, in the schema's field order."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}[{key}]" if isinstance(key, int) else (f"{prefix}.{key}" if prefix else str(key))
            return _first_error(value, path)
    if isinstance(messages, list) and messages:
        if isinstance(messages[0], (dict, list)):
            return _first_error(messages[0], prefix)
        return prefix, messages[0]
    return prefix, messages


def _lookup(data, path: str):
    """The raw value at a field path such as ``metrics[3].key`` (``_MISSING`` when absent)."""
    value = data
    for part in path.replace("]", "").replace("[", ".").split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def load(schema: Schema, data: dict) -> dict:
    """The message validated as MLflow validates it: fields in the schema's order, each refused
    with MLflow's words: missing (absent, null or ""), or the invalid value echoed."""
    for target, source in getattr(schema, "fallbacks", ()):  # run_id <- the legacy run_uuid
        if data.get(target) is None and source in data:
            data[target] = data[source]
    try:
        message = schema.load(data)
    except ValidationError as exc:
        errors = exc.messages
        for key in _ordered_keys(schema):
            value = data.get(key)
            if key in errors:
                if key in schema.required_keys and (value is None or (value == "" and key not in schema.type_first)):
                    raise missing_value(key) from None
                raise _refusal(data, key, errors[key]) from None
            if key in schema.required_keys and value in (None, ""):
                raise missing_value(key) from None
        path, text = _first_error(errors)
        raise _refusal(data, path, text) from None
    for key in schema.required_keys:
        if data.get(key) in (None, ""):  # loaded, but absent or empty: MLflow's _assert_required
            raise missing_value(key)
    return message


def _ordered_keys(schema: Schema) -> list[str]:
    return [field.data_key or name for name, field in schema.load_fields.items()]


def _refusal(data, path: str, messages) -> MlflowError:
    sub, text = _first_error(messages)  # in a nested message or list, the first error inside it
    if sub:
        path = f"{path}{sub}" if sub.startswith("[") else f"{path}.{sub}"
    if isinstance(text, str) and text.startswith(_REFUSAL_MARK):
        return invalid(text[len(_REFUSAL_MARK) :] + _API_DOCS)
    if text == "Missing data for required field.":
        return missing_value(path)
    value = _lookup(data, path)
    if value is _MISSING or value is None:
        return missing_value(path)
    top = path.split("[", 1)[0].split(".", 1)[0]  # MLflow's type checks see the top-level field
    return invalid_value(top, data.get(top))


_REFUSAL_MARK = "\x00mlflow:"


def refuse(message: str) -> ValidationError:
    """A validator's refusal in MLflow's own words: ``message``, then the API docs hint, as
    MLflow's schema checks word it."""
    return ValidationError(_REFUSAL_MARK + message)


def read_message(schema: Schema, limit: int = request_body.DEFAULT_MAX_BODY) -> dict:
    """The request's message, read as MLflow's _get_request_message reads it: a GET's query
    string when it has one, else the JSON body (a GET with an empty query string may carry its
    message as a body, as mlflow-export-import sends it); a DELETE with no body but a query
    string (curl -X DELETE '...?name=x') from the query string."""
    method = request.method
    if method == "GET":
        data = _query_message(schema) if request.args else _body_message(limit)
    elif method == "DELETE" and not request.content_length and request.args:
        data = _query_message(schema)
    else:
        data = _body_message(limit)
    return load(schema, data)


def rpc(request_schema: type[Schema] | None = None, max_body: int = request_body.DEFAULT_MAX_BODY):
    """Decorate a handler ``fn(message: dict) -> dict``; ``max_body``: the route's body limit in
    bytes, refused before the body is read."""
    schema = request_schema() if request_schema else None

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(**path_args):
            message = read_message(schema, max_body) if schema else {}
            message.update(path_args)
            result = fn(message)
            if isinstance(result, Response):
                return result
            return json_response(result if result is not None else {})

        wrapper.request_schema = schema
        return wrapper

    return decorate


# --- field types of the protobuf JSON mapping ----------------------------------------------


class Int64(fields.Integer):
    """int64: a JSON number, or a numeric string as protobuf JSON allows."""

    BITS = 64

    def __init__(self, **kwargs):
        super().__init__(strict=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid", input=value)
        number = super()._deserialize(value, attr, data, **kwargs)
        bound = 2 ** (self.BITS - 1)
        if not -bound <= number < bound:  # as protobuf refuses it: a 400, never a DB overflow
            raise ValidationError(f"Value {value} is out of range for a {self.BITS}-bit integer.")
        return number


class Int32(Int64):
    """int32, where MLflow's proto declares one and the value reaches the database as it is (a
    LIMIT): beyond int32, protobuf refuses it, and so is it refused here (MLflow's invalid value)."""

    BITS = 32


class Double(fields.Field):
    """double: a JSON number or one of "NaN", "Infinity", "-Infinity" (and numeric strings)."""

    _SPECIAL: ClassVar[dict[str, float]] = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError(f"Not a valid double: {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            if value in self._SPECIAL:
                return self._SPECIAL[value]
            try:
                return float(value)
            except ValueError:
                pass
        raise ValidationError(f"Not a valid double: {value!r}")


class ProtoEnum(fields.Field):
    """A protobuf enum: its name (or number) loads as the name. A name (or a non-integral number)
    the enum does not know, or a JSON bool, is ignored, the field then taking its default, as
    MLflow's ParseDict(ignore_unknown_fields) ignores it; an unknown integer, a list or an object
    is refused."""

    def __init__(self, names: tuple[str, ...], numbers: dict[int, str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.names, self.numbers = names, numbers or {}

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if isinstance(value, str) and value in self.names:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value in self.numbers:
            return self.numbers[value]
        if value is None or value == "" or (isinstance(value, (int, list, dict)) and not isinstance(value, bool)):
            return super().deserialize(value, attr, data, **kwargs)  # required, null, refusal
        return self.load_default() if callable(self.load_default) else self.load_default

    def _deserialize(self, value, attr, data, **kwargs):
        raise ValidationError("Not a valid enum value.")


class ProtoBool(fields.Field):
    """A protobuf bool: JSON true or false (a query string's 'true' or 'false', in any case, is
    read as one by ``_query_message``)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return value
        raise ValidationError("Not a valid boolean.")


class IdString(fields.String):
    """A string id that clients may send as a number (the experiment ids of a search)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)
