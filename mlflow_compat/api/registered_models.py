"""registered-models/*: models of record, their tags, aliases and latest versions."""

from flask import Blueprint

from mlflow_compat import filters, page_tokens
from mlflow_compat.encoders import model_version_answer, model_versions_json
from mlflow_compat.errors import invalid
from mlflow_compat.schemas import registry as s
from mlflow_compat.wire import rpc
from registry_core import aliases, registered_models, registry_search

bp = Blueprint("registered_models", __name__)
_model = s.RegisteredModelOut()


@bp.post("/registered-models/create")
@rpc(s.CreateRegisteredModel)
def create(m):
    model = registered_models.create_model(m["name"], m["tags"], m["description"])
    return {"registered_model": _model.dump(model)}


@bp.get("/registered-models/get")
@rpc(s.ModelName)
def get(m):
    return {"registered_model": _model.dump(registered_models.get_model(m["name"]))}


@bp.post("/registered-models/rename")
@rpc(s.RenameRegisteredModel)
def rename(m):
    return {"registered_model": _model.dump(registered_models.rename_model(m["name"], m["new_name"]))}


@bp.patch("/registered-models/update")
@rpc(s.UpdateRegisteredModel)
def update(m):
    return {"registered_model": _model.dump(registered_models.update_model(m["name"], m["description"]))}


@bp.delete("/registered-models/delete")
@rpc(s.ModelName)
def delete(m):
    registered_models.delete_model(m["name"])
    return {}


def checked_max_results(max_results: int) -> int:
    """The registry searches' lower bound, in the words of MLflow's store (the schema keeps the
    upper one)."""
    if max_results < 1:
        raise invalid(f"Invalid value for max_results. It must be a positive integer, but got {max_results}")
    return max_results


@bp.get("/registered-models/search")
@rpc(s.SearchRegisteredModels)
def search(m):
    page = registry_search.search_models(
        filters.parse_registered_model_filter(m["filter"]),
        filters.parse_registered_model_order_by(m["order_by"]),
        checked_max_results(m["max_results"]),
        page_tokens.decode(m["page_token"]),
    )
    return page_tokens.paged("registered_models", _model, page)


@bp.route("/registered-models/get-latest-versions", methods=["GET", "POST"])
@rpc(s.GetLatestVersions)
def get_latest_versions(m):
    return model_versions_json(registered_models.latest_versions(m["name"], m["stages"]))


@bp.post("/registered-models/set-tag")
@rpc(s.SetRegisteredModelTag)
def set_tag(m):
    registered_models.set_model_tag(m["name"], m["key"], m["value"])
    return {}


@bp.delete("/registered-models/delete-tag")
@rpc(s.DeleteRegisteredModelTag)
def delete_tag(m):
    registered_models.delete_model_tag(m["name"], m["key"])
    return {}


@bp.post("/registered-models/alias")
@rpc(s.SetAlias)
def set_alias(m):
    aliases.set_alias(m["name"], m["alias"], m["version"])
    return {}


@bp.delete("/registered-models/alias")
@rpc(s.AliasRef)
def delete_alias(m):
    aliases.delete_alias(m["name"], m["alias"])
    return {}


@bp.get("/registered-models/alias")
@rpc(s.AliasRef)
def get_by_alias(m):
    return model_version_answer(aliases.version_by_alias(m["name"], m["alias"]))
