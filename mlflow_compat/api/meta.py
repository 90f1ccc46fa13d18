"""Service endpoints: /health, /version, the 3.x server-info capability probe and the OpenAPI
document of every route (/api/openapi.json)."""

import json

from flask import Blueprint, Response, current_app

from mlflow_compat.wire import JSON_MIMETYPE, json_response

bp = Blueprint("meta", __name__)

# The MLflow protocol release this server answers as (clients gate features on /version).
MLFLOW_PROTOCOL_VERSION = "3.17.2"


@bp.get("/health")
def health():
    return Response("OK", mimetype="text/plain")


@bp.get("/version")
def version():
    return Response(MLFLOW_PROTOCOL_VERSION, mimetype="text/plain")


def server_info(multipart: bool = False):
    """The 3.x capability probe; multipart is advertised when the proxied store supports it."""
    return {
        "store_type": "SqlStore",
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": multipart,
        "multipart_downloads_enabled": multipart,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "features_enabled": {},
    }


@bp.get("/api/3.0/mlflow/server-info")
@bp.get("/ajax-api/3.0/mlflow/server-info")
def server_info_view():
    config, repository = current_app.config["MODELOPS"], current_app.extensions["modelops.artifacts"]
    return json_response(server_info(config.serve_artifacts and repository.supports_multipart))


@bp.get("/api/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of this app's routes, built on the first request and kept."""
    body = current_app.extensions.get("modelops.openapi")
    if body is None:
        from mlflow_compat import openapi  # apispec is loaded only when the document is asked for

        body = json.dumps(openapi.build(current_app), separators=(",", ":"), ensure_ascii=False)
        current_app.extensions["modelops.openapi"] = body
    return Response(body, mimetype=JSON_MIMETYPE)
