"""model-versions/*: versions of record promoted from candidates; plus the version lineage and
the UI download route."""

from flask import Blueprint, current_app, request

from mlflow_compat import filters, page_tokens
from mlflow_compat.api.artifacts import repository, send_artifact
from mlflow_compat.api.registered_models import checked_max_results
from mlflow_compat.encoders import model_version_answer, model_versions_json
from mlflow_compat.errors import invalid
from mlflow_compat.schemas import registry as s
from mlflow_compat.wire import rpc
from registry_core import model_versions, promotion, registry_search
from registry_core.artifacts import clean_path

bp = Blueprint("model_versions", __name__)
native = Blueprint("model_version_lineage", __name__)  # mounted at /api/2.0/modelops
ui = Blueprint("model_version_downloads", __name__)  # mounted at the root


@bp.post("/model-versions/create")
@rpc(s.CreateModelVersion)
def create(m):
    version = promotion.promote(
        m["name"],
        m["source"],
        run_id=m["run_id"],
        model_id=m["model_id"],
        tags=m["tags"],
        run_link=m["run_link"],
        description=m["description"],
        repo=repository(),
        proxied=current_app.config["MODELOPS"].serve_artifacts,
    )
    return model_version_answer(version)


@bp.get("/model-versions/get")
@rpc(s.VersionRef)
def get(m):
    return model_version_answer(model_versions.get_version(m["name"], m["version"]))


@bp.patch("/model-versions/update")
@rpc(s.UpdateModelVersion)
def update(m):
    return model_version_answer(model_versions.update_version(m["name"], m["version"], m["description"]))


@bp.post("/model-versions/transition-stage")
@rpc(s.TransitionStage)
def transition_stage(m):
    version = model_versions.transition_stage(m["name"], m["version"], m["stage"], m["archive_existing_versions"])
    return model_version_answer(version)


@bp.delete("/model-versions/delete")
@rpc(s.VersionRef)
def delete(m):
    model_versions.delete_version(m["name"], m["version"])
    return {}


@bp.get("/model-versions/search")
@rpc(s.SearchModelVersions)
def search(m):
    page = registry_search.search_versions(
        filters.parse_model_version_filter(m["filter"]),
        filters.parse_model_version_order_by(m["order_by"]),
        checked_max_results(m["max_results"]),
        page_tokens.decode(m["page_token"]),
    )
    return model_versions_json(page.items, page_tokens.encode(page.next_offset))


@bp.get("/model-versions/get-download-uri")
@rpc(s.VersionRef)
def get_download_uri(m):
    return {"artifact_uri": model_versions.download_uri(m["name"], m["version"])}


@bp.post("/model-versions/set-tag")
@rpc(s.SetModelVersionTag)
def set_tag(m):
    model_versions.set_version_tag(m["name"], m["version"], m["key"], m["value"])
    return {}


@bp.delete("/model-versions/delete-tag")
@rpc(s.DeleteModelVersionTag)
def delete_tag(m):
    model_versions.delete_version_tag(m["name"], m["version"], m["key"])
    return {}


@native.get("/model-versions/lineage")
@rpc(s.VersionRef)
def lineage(m):
    """Where a version of record came from (not an MLflow endpoint: the registry's own)."""
    return promotion.lineage(m["name"], m["version"])


@ui.get("/model-versions/get-artifact")
def get_artifact():
    name, version, path = request.args.get("name"), request.args.get("version"), request.args.get("path")
    if not name or not version or not path:
        raise invalid("The 'name', 'version' and 'path' query parameters are required.")
    path = clean_path(path)  # first, as MLflow checks it: "Invalid path"
    location = model_versions.download_uri(name, version)
    return send_artifact(repository().locate(location, path))
