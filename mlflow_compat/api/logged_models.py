"""logged-models/*: MLflow 3's logged models (every flavor's log_model goes through these)."""

from flask import Blueprint

from mlflow_compat import filters, page_tokens
from mlflow_compat.errors import invalid
from mlflow_compat.schemas import logged_models as s
from mlflow_compat.wire import rpc
from registry_core import logged_models

bp = Blueprint("logged_models", __name__)
_model = s.LoggedModelOut()


@bp.post("/logged-models")
@rpc(s.CreateLoggedModel)
def create(m):
    model = logged_models.create(
        m["experiment_id"],
        m["name"],
        m["source_run_id"],
        m["tags"],
        m["params"],
        m["model_type"],
    )
    return {"model": _model.dump(model)}


@bp.get("/logged-models/<model_id>")
@rpc(s.GetLoggedModel)
def get(m):
    return {"model": _model.dump(logged_models.get(m["model_id"], m["allow_deleted"]))}


@bp.patch("/logged-models/<model_id>")
@rpc(s.FinalizeLoggedModel)
def finalize(m):
    return {"model": _model.dump(logged_models.finalize(m["model_id"], m["status"]))}


@bp.delete("/logged-models/<model_id>")
@rpc()
def delete(m):
    logged_models.delete(m["model_id"])
    return {}


@bp.patch("/logged-models/<model_id>/tags")
@rpc(s.SetLoggedModelTags)
def set_tags(m):
    logged_models.set_tags(m["model_id"], m["tags"])
    return {}


@bp.delete("/logged-models/<model_id>/tags/<path:tag_key>")
@rpc()
def delete_tag(m):
    logged_models.delete_tag(m["model_id"], m["tag_key"])
    return {}


@bp.post("/logged-models/<model_id>/params")
@rpc(s.LogLoggedModelParams)
def log_params(m):
    logged_models.log_params(m["model_id"], m["params"])
    return {}


@bp.post("/logged-models/search")
@rpc(s.SearchLoggedModels)
def search(m):
    max_results = m["max_results"] or logged_models.DEFAULT_MAX_RESULTS
    if max_results < 1:
        raise invalid(f"Invalid value {max_results} for parameter 'max_results' supplied.")
    order_by = [
        {k: ob[k] for k in ("field_name", "ascending", "dataset_name", "dataset_digest")} for ob in m["order_by"]
    ]
    context = {"experiment_ids": m["experiment_ids"], "filter_string": m["filter"], "order_by": order_by}
    offset = page_tokens.decode_bound(m["page_token"], context)
    datasets = list(m["datasets"])
    models, next_offset = logged_models.search(
        m["experiment_ids"],
        filters.parse_logged_model_filter(m["filter"]),
        datasets,
        order_by,
        max_results,
        offset,
    )
    return {
        "models": _model.dump(models, many=True),
        "next_page_token": page_tokens.encode_bound(next_offset, context),
    }
