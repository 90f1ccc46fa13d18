"""The OpenAPI 3.1 document of every route the app serves (``GET /api/openapi.json``).

Built with apispec from the app's ``url_map``: a view decorated with ``@rpc(Schema)`` is described
by its request schema (a GET's fields as query parameters, repeated ones as arrays; a POST, PATCH
or DELETE's as a JSON body); a view without one (downloads, uploads, the UI's own routes, the
service endpoints) is described by hand in ``MANUAL``. A route that is neither, and not in
``EXCLUDED`` with its reason, makes ``build`` raise ``UndescribedRoute``: no route goes
undescribed. Every operation answers 200 (its answer's schema where ``ANSWERS`` or ``MANUAL``
names one, else an object) and, for any 4xx, MLflow's error JSON (the ``Error`` component).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Flask
from marshmallow import Schema

from mlflow_compat.api import (
    artifacts,
    experiments,
    logged_models,
    meta,
    metrics,
    model_versions,
    registered_models,
    runs,
)
from mlflow_compat.schemas import logged_models as lm
from mlflow_compat.schemas import registry as reg
from mlflow_compat.schemas import tracking as tr
from mlflow_compat.schemas.base import Part
from mlflow_compat.wire import Double, Int64, ProtoBool, ProtoEnum

OPENAPI_VERSION = "3.1.0"
_METHODS = ("get", "post", "put", "patch", "delete")
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")  # werkzeug's <converter:name>


class UndescribedRoute(RuntimeError):
    """A served route the document does not describe (neither ``@rpc`` nor ``MANUAL``)."""


# --- what the code cannot tell -----------------------------------------------------------------

_ERROR = {"$ref": "#/components/responses/Error"}
_BINARY = {"type": "string", "format": "binary"}


@dataclass(frozen=True)
class Manual:
    """A view without a request schema, described by hand. ``query``: (name, JSON schema,
    required); ``body``: a request schema class, a JSON schema, or ``"binary"`` for raw bytes;
    ``answer``: the 200 answer (see ``ANSWERS``) or ``"binary"`` / ``"text"``; ``multipart``: a
    route of the multipart protocol, answered 501 NOT_IMPLEMENTED where the store has none."""

    summary: str
    query: tuple = ()
    headers: tuple = ()
    body: object = None
    answer: object = None
    multipart: bool = False


_STRING = {"type": "string"}
_PROMPTLAB_BODY = {
    "type": "object",
    "required": list(runs.PROMPTLAB_REQUIRED),
    "properties": {
        "experiment_id": _STRING,
        "run_name": _STRING,
        "user_id": _STRING,
        "start_time": {"type": "integer", "format": "int64"},
        "tags": {"type": "array", "items": {"$ref": "#/components/schemas/KeyValueIn"}},
        "prompt_template": _STRING,
        "prompt_parameters": {"type": "array", "items": {"$ref": "#/components/schemas/KeyValueIn"}},
        "model_route": _STRING,
        "model_parameters": {"type": "array", "items": {"$ref": "#/components/schemas/KeyValueIn"}},
        "model_input": _STRING,
        "model_output": _STRING,
        "model_output_parameters": {"type": "array", "items": {"$ref": "#/components/schemas/KeyValueIn"}},
        "mlflow_version": _STRING,
    },
}
_RANGE = ("Range", {"type": "string", "pattern": r"^bytes=[0-9]*-[0-9]*$"}, False)

#: the views without ``@rpc``, each described by hand
MANUAL = {
    artifacts.download: Manual(
        "Download a proxied artifact (a single byte Range honoured)", headers=(_RANGE,), answer="binary"
    ),
    artifacts.upload: Manual("Upload a proxied artifact (the raw body)", body="binary", answer={}),
    artifacts.delete: Manual("Delete a proxied artifact", answer={}),
    artifacts.mpu_create: Manual(
        "Start a multipart upload",
        body=artifacts._CreateMultipart,
        answer={"upload_id": str, "credentials": [dict]},
        multipart=True,
    ),
    artifacts.mpu_complete: Manual(
        "Complete a multipart upload", body=artifacts._CompleteMultipart, answer={}, multipart=True
    ),
    artifacts.mpu_abort: Manual("Abort a multipart upload", body=artifacts._AbortMultipart, answer={}, multipart=True),
    artifacts.presigned: Manual(
        "A presigned download URL of a proxied artifact",
        answer={"url": str, "headers": dict, "file_size": int},
        multipart=True,
    ),
    artifacts.download_logged_model_artifact: Manual(
        "Download a file of a logged model's artifacts",
        query=(("artifact_file_path", _STRING, True),),
        headers=(_RANGE,),
        answer="binary",
    ),
    artifacts.get_run_artifact: Manual(
        "Download a run's artifact (the UI's route)",
        query=(("run_id", _STRING, False), ("run_uuid", _STRING, False), ("path", _STRING, True)),
        headers=(_RANGE,),
        answer="binary",
    ),
    artifacts.upload_run_artifact: Manual(
        "Upload a file into a run's artifacts (the UI's route, at most 10 MB)",
        query=(("run_uuid", _STRING, True), ("path", _STRING, True)),
        body="binary",
        answer={},
    ),
    model_versions.get_artifact: Manual(
        "Download an artifact of a model version (the UI's route)",
        query=(("name", _STRING, True), ("version", _STRING, True), ("path", _STRING, True)),
        headers=(_RANGE,),
        answer="binary",
    ),
    metrics.get_history_bulk: Manual(
        "The history of one metric of several runs (the UI's route)",
        query=(
            ("run_id", {"type": "array", "items": _STRING}, True),
            ("metric_key", _STRING, True),
            ("max_results", {"type": "integer", "format": "int64"}, False),
        ),
        answer={"metrics": [tr.MetricWithRunIdOut]},
    ),
    runs.create_promptlab_run: Manual(
        "Create a prompt-engineering run (the UI's route)", body=_PROMPTLAB_BODY, answer={"run": tr.RunOut}
    ),
    meta.health: Manual("Liveness probe: OK", answer="text"),
    meta.version: Manual("The MLflow protocol version served", answer="text"),
    meta.server_info_view: Manual(
        "The MLflow 3 capability probe",
        answer={
            "store_type": str,
            "workspaces_enabled": bool,
            "multipart_uploads_enabled": bool,
            "multipart_downloads_enabled": bool,
            "features_enabled": dict,
        },
    ),
    meta.openapi_document: Manual("This document", answer=dict),
}

#: endpoints served but not described, each with its reason
EXCLUDED: dict[str, str] = {}

_MODEL_VERSION = {"model_version": reg.ModelVersionOut}
_MODEL_VERSIONS = {"model_versions": [reg.ModelVersionOut], "next_page_token": str}
_REGISTERED_MODEL = {"registered_model": reg.RegisteredModelOut}
_LOGGED_MODEL = {"model": lm.LoggedModelOut}
_LISTING = {"root_uri": str, "files": [artifacts.FileInfoOut]}

#: the 200 answers of the ``@rpc`` views: {field: schema class, [schema class] or a Python type};
#: a view not here answers an object
ANSWERS = {
    experiments.create: {"experiment_id": str},
    experiments.get: {"experiment": tr.ExperimentOut},
    experiments.get_by_name: {"experiment": tr.ExperimentOut},
    experiments.search: {"experiments": [tr.ExperimentOut], "next_page_token": str},
    experiments.search_datasets: {"dataset_summaries": [dict]},
    runs.create: {"run": tr.RunOut},
    runs.get: {"run": tr.RunOut},
    runs.update: {"run_info": tr.RunInfoOut},
    runs.search: {"runs": [tr.RunOut], "next_page_token": str},
    metrics.get_history: {"metrics": [tr.MetricOut], "next_page_token": str},
    metrics.get_history_bulk_interval: {"metrics": [tr.MetricWithRunIdOut]},
    logged_models.create: _LOGGED_MODEL,
    logged_models.get: _LOGGED_MODEL,
    logged_models.finalize: _LOGGED_MODEL,
    logged_models.search: {"models": [lm.LoggedModelOut], "next_page_token": str},
    artifacts.list_artifacts: {"files": [artifacts.FileInfoOut]},
    artifacts.list_run_artifacts: _LISTING,
    artifacts.list_logged_model_artifacts: _LISTING,
    registered_models.create: _REGISTERED_MODEL,
    registered_models.get: _REGISTERED_MODEL,
    registered_models.rename: _REGISTERED_MODEL,
    registered_models.update: _REGISTERED_MODEL,
    registered_models.search: {"registered_models": [reg.RegisteredModelOut], "next_page_token": str},
    registered_models.get_latest_versions: {"model_versions": [reg.ModelVersionOut]},
    registered_models.get_by_alias: _MODEL_VERSION,
    model_versions.create: _MODEL_VERSION,
    model_versions.get: _MODEL_VERSION,
    model_versions.update: _MODEL_VERSION,
    model_versions.transition_stage: _MODEL_VERSION,
    model_versions.search: _MODEL_VERSIONS,
    model_versions.get_download_uri: {"artifact_uri": str},
}

_PY_TYPES = {
    str: {"type": "string"},
    int: {"type": "integer"},
    bool: {"type": "boolean"},
    dict: {"type": "object"},
    float: {"type": "number"},
}


# --- the field types of mlflow_compat.wire -----------------------------------------------------


def _wire_fields(self, field, ret):
    """OpenAPI for the protobuf JSON field types (an apispec attribute function)."""
    if isinstance(field, Int64):
        bound = 2 ** (field.BITS - 1)
        return {
            "format": f"int{field.BITS}",
            "minimum": max(ret.get("minimum", -bound), -bound),
            "maximum": min(ret.get("maximum", bound - 1), bound - 1),
        }
    if isinstance(field, Double):
        return {"anyOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}
    if isinstance(field, ProtoEnum):
        return {"enum": [*field.names, *([None] if field.allow_none else [])]}
    if isinstance(field, Part):
        return self.resolve_nested_schema(type(field._schema))
    if isinstance(field, tr.MetricList):
        return {"items": self.resolve_nested_schema(tr.MetricIn)}
    return {}


def _new_spec(title: str):
    from apispec import APISpec  # here: the server's start does not pay for it
    from apispec.ext.marshmallow import MarshmallowPlugin

    plugin = MarshmallowPlugin()
    spec = APISpec(
        title=title,
        version=meta.MLFLOW_PROTOCOL_VERSION,
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={
            "description": (
                "The MLflow REST protocol (3.17.2) as modelops-registry serves it, generated from the "
                "request schemas the server validates with. Every 4xx answer is MLflow's error JSON."
            )
        },
    )
    converter = plugin.converter
    converter.map_to_openapi_type(Int64, "integer", "int64")
    converter.map_to_openapi_type(Double, None, None)
    converter.map_to_openapi_type(ProtoEnum, "string", None)
    converter.map_to_openapi_type(ProtoBool, "boolean", None)
    converter.add_attribute_function(_wire_fields)
    spec.components.schema(
        "Error",
        {
            "type": "object",
            "required": ["error_code", "message"],
            "properties": {
                "error_code": {"type": "string", "description": "MLflow's error code, e.g. INVALID_PARAMETER_VALUE"},
                "message": {"type": "string"},
                "sqlstate": {"type": "string"},
                "error_class": {"type": "string"},
            },
        },
    )
    spec.components.response(
        "Error",
        {
            "description": "MLflow's error answer",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    )
    return spec, converter


# --- the document --------------------------------------------------------------------------------


def _ref(converter, schema) -> dict:
    return converter.resolve_nested_schema(type(schema) if isinstance(schema, Schema) else schema)


def _answer_schema(converter, answer) -> dict:
    if isinstance(answer, type) and issubclass(answer, Schema):
        return _ref(converter, answer)
    if isinstance(answer, list):
        return {"type": "array", "items": _answer_schema(converter, answer[0])}
    if isinstance(answer, type) and answer in _PY_TYPES:
        return dict(_PY_TYPES[answer])
    if isinstance(answer, dict):
        if "type" in answer or "$ref" in answer:
            return answer
        return {
            "type": "object",
            "properties": {name: _answer_schema(converter, value) for name, value in answer.items()},
        }
    return {"type": "object"}


def _ok(converter, answer) -> dict:
    if answer == "binary":
        return {
            "200": {"description": "The file's bytes", "content": {"*/*": {"schema": _BINARY}}},
            "206": {"description": "The requested byte range", "content": {"*/*": {"schema": _BINARY}}},
        }
    if answer == "text":
        return {"200": {"description": "OK", "content": {"text/plain": {"schema": _STRING}}}}
    schema = _answer_schema(converter, answer if answer is not None else dict)
    return {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}}


def _json_body(converter, schema, required: bool) -> dict:
    body = schema if isinstance(schema, dict) else _ref(converter, schema)
    return {"required": required, "content": {"application/json": {"schema": body}}}


def _rpc_operation(converter, method: str, schema: Schema | None, answer) -> dict:
    op: dict = {"parameters": [], "responses": {**_ok(converter, answer), "4XX": _ERROR}}
    if schema is None:
        return op
    if method == "get":
        op["parameters"] = converter.schema2parameters(schema, location="query")
    else:
        op["requestBody"] = _json_body(converter, schema, bool(schema.required_keys))
    return op


def _manual_operation(converter, manual: Manual) -> dict:
    params = [
        {
            "in": "query",
            "name": name,
            "required": required,
            "schema": schema,
            **({"style": "form", "explode": True} if schema.get("type") == "array" else {}),
        }
        for name, schema, required in manual.query
    ]
    params += [
        {"in": "header", "name": name, "required": required, "schema": schema}
        for name, schema, required in manual.headers
    ]
    op: dict = {
        "summary": manual.summary,
        "parameters": params,
        "responses": {**_ok(converter, manual.answer), "4XX": _ERROR},
    }
    if manual.body == "binary":
        op["requestBody"] = {"required": True, "content": {"application/octet-stream": {"schema": _BINARY}}}
    elif manual.body is not None:
        op["requestBody"] = _json_body(converter, manual.body, True)
    if manual.multipart:
        op["responses"]["501"] = {
            "description": "The artifact store has no multipart support (MLflow's NOT_IMPLEMENTED)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return op


def _summary(view) -> str | None:
    doc = (view.__doc__ or "").strip()
    return doc.split("\n\n", 1)[0].replace("\n", " ") if doc else None


def build(app: Flask, title: str = "modelops-registry") -> dict:
    """The OpenAPI 3.1 document of ``app``'s routes; raises ``UndescribedRoute`` naming every
    route that is neither ``@rpc`` nor in ``MANUAL`` / ``EXCLUDED``."""
    spec, converter = _new_spec(title)
    paths: dict[str, dict] = {}
    undescribed = []
    operation_ids: set[str] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, sorted(r.methods or ()))):
        if rule.endpoint in EXCLUDED:
            continue
        view = app.view_functions[rule.endpoint]
        methods = [m for m in _METHODS if m.upper() in (rule.methods or ())]
        path = _ARGUMENT.sub(r"{\1}", rule.rule)
        item = paths.setdefault(path, {})
        for method in methods:
            if view in MANUAL:
                op = _manual_operation(converter, MANUAL[view])
            elif hasattr(view, "request_schema"):
                op = _rpc_operation(converter, method, view.request_schema, ANSWERS.get(view))
                if _summary(view):
                    op["summary"] = _summary(view)
            else:
                undescribed.append(f"{method.upper()} {rule.rule} ({rule.endpoint})")
                continue
            op_id = rule.endpoint if len(methods) == 1 else f"{rule.endpoint}.{method}"
            if op_id in operation_ids:  # one view at several paths
                op_id = f"{op_id}.{path.strip('/').split('/', 1)[0]}"
            operation_ids.add(op_id)
            op["operationId"] = op_id
            op["tags"] = [view.__module__.rsplit(".", 1)[-1]]
            names = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            op["parameters"] = [
                *(
                    {"in": "path", "name": arg, "required": True, "schema": {"type": "string", "minLength": 1}}
                    for arg in sorted(rule.arguments)
                    if arg not in names
                ),
                *(p for p in op["parameters"] if p["in"] != "path" and p["name"] not in rule.arguments),
            ]
            item[method] = op
    if undescribed:
        raise UndescribedRoute(
            "routes neither @rpc nor described in mlflow_compat.openapi.MANUAL (nor EXCLUDED):\n  "
            + "\n  ".join(undescribed)
        )
    for path in sorted(paths):
        if paths[path]:
            spec.path(path=path, operations=paths[path])
    document = spec.to_dict()
    for component in document["components"]["schemas"].values():
        # an answer may grow fields (protobuf JSON readers ignore unknown ones): not closed
        if component.get("additionalProperties") is False:
            del component["additionalProperties"]
    document["x-excluded-endpoints"] = dict(EXCLUDED)
    return document
