"""Service endpoints: /health, /version and the 3.x server-info capability probe."""
from flask import Blueprint, Response

from registry_core.db import database

bp = Blueprint("meta", __name__)

# The MLflow protocol release this server answers as (clients gate features on /version).
MLFLOW_PROTOCOL_VERSION = "3.17.2"


@bp.get("/health")
def health():
    return Response("OK", mimetype="text/plain")


@bp.get("/version")
def version():
    return Response(MLFLOW_PROTOCOL_VERSION, mimetype="text/plain")


def server_info():
    return {
        "store_type": "SqlStore",
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "features_enabled": {},
    }


__all__ = ["bp", "server_info", "database"]
