"""Request decoding and response encoding shared by every endpoint.

``@rpc(RequestSchema)`` reads the request message the way MLflow's server does (the query string
for GET, a JSON body for POST/PATCH/DELETE), validates it with the schema (unknown fields
ignored), and hands the handler a dict. The handler returns a dict already dumped by a response
schema; it is sent as compact JSON with HTTP 200.
"""
from __future__ import annotations

import functools
import io
import json
import math

from flask import Response, request
from marshmallow import Schema, ValidationError, fields

from mlflow_compat.errors import MlflowError, invalid

JSON_MIMETYPE = "application/json"


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
        data[key] = args.getlist(key) if isinstance(field, fields.List) else args.get(key)
    return data


def body_in_memory(environ) -> bool:
    """Whether the request's body was read whole before it was served (http1.PlainReader, a test
    client): nothing of it is left on the connection."""
    return type(environ.get("wsgi.input")) is io.BytesIO


def _body_message() -> dict:
    if request.method in ("POST", "PUT"):  # MLflow's _validate_content_type (no cross-site form posts)
        if not request.content_type:
            raise invalid("Bad Request. Content-Type header is missing.")
        if request.content_type.split(";")[0].strip().lower() != JSON_MIMETYPE:
            raise invalid(f"Bad Request. Content-Type must be one of ['{JSON_MIMETYPE}'].")
    environ = request.environ
    length = environ.get("CONTENT_LENGTH")
    if body_in_memory(environ) and length and length.isascii() and length.isdigit():
        # what get_data would return, without werkzeug's stream wrappers (a third of a small
        # call's body handling)
        raw = environ["wsgi.input"].read(int(length))
    else:
        raw = request.get_data(cache=False)
    if not raw or not raw.strip():
        return {}
    try:
        data = json.loads(raw)
        if isinstance(data, str):  # older clients (R) post their JSON double-encoded, as MLflow allows
            data = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MlflowError(f"Malformed request body: it is not valid JSON ({exc})", "BAD_REQUEST") from None
    if not isinstance(data, dict):
        raise invalid("Invalid request body: expected a JSON object")
    return data


def _first_error(messages, prefix: str = "") -> tuple[str, str]:
    """(field path, message) of the first marshmallow error."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix and not isinstance(key, int) else (
                f"{prefix}[{key}]" if isinstance(key, int) else str(key)
            )
            return _first_error(value, path)
    if isinstance(messages, list) and messages:
        if isinstance(messages[0], (dict, list)):
            return _first_error(messages[0], prefix)
        return prefix, str(messages[0])
    return prefix, str(messages)


def load(schema: Schema, data: dict) -> dict:
    try:
        return schema.load(data)
    except ValidationError as exc:
        field, message = _first_error(exc.messages)
        if message == "Missing data for required field.":
            raise invalid(
                f"Missing value for required parameter '{field}'. "
                "See the API docs for more information about request parameters."
            ) from None
        raise invalid(f"Invalid value for parameter '{field}' supplied: {message}") from None


def read_message(schema: Schema) -> dict:
    if request.method == "GET":
        data = _query_message(schema)
    elif request.method == "DELETE" and not request.content_length and request.args:
        data = _query_message(schema)  # curl -X DELETE '...?name=x' with no body
    else:
        data = _body_message()
    return load(schema, data)


def rpc(request_schema: type[Schema] | None = None):
    """Decorate a handler ``fn(message: dict) -> dict``."""
    schema = request_schema() if request_schema else None

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(**path_args):
            message = read_message(schema) if schema else {}
            message.update(path_args)
            result = fn(message)
            if isinstance(result, Response):
                return result
            return json_response(result if result is not None else {})

        return wrapper

    return decorate


# --- field types of the protobuf JSON mapping ----------------------------------------------


class Int64(fields.Integer):
    """int64: a JSON number, or a numeric string as protobuf JSON allows."""

    def __init__(self, **kwargs):
        super().__init__(strict=False, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid", input=value)
        number = super()._deserialize(value, attr, data, **kwargs)
        if not -(2**63) <= number < 2**63:  # as protobuf refuses it: a 400, never a DB overflow
            raise ValidationError(f"Value {value} is out of range for a 64-bit integer.")
        return number


class Double(fields.Field):
    """double: a JSON number or one of "NaN", "Infinity", "-Infinity" (and numeric strings)."""

    _SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

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


class IdString(fields.String):
    """A string id that clients may send as a number (experiment ids)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super()._deserialize(value, attr, data, **kwargs)
