"""experiments/*: create, get, get-by-name, search, update, delete, restore, tags."""

from flask import Blueprint, current_app

from mlflow_compat import filters, page_tokens
from mlflow_compat.api.artifacts import repository
from mlflow_compat.errors import invalid
from mlflow_compat.schemas import tracking as s
from mlflow_compat.wire import rpc
from registry_core import experiments

bp = Blueprint("experiments", __name__)
ajax = Blueprint("experiments_ajax", __name__)  # mounted under /ajax-api only, as in MLflow
MAX_RESULTS = 50000
_experiment = s.ExperimentOut()


@bp.post("/experiments/create")
@rpc(s.CreateExperiment)
def create(m):
    eid = experiments.create(
        m["name"],
        m["artifact_location"],
        m["tags"],
        current_app.config["MODELOPS"].default_artifact_root,
        repository().hosts,
    )
    return {"experiment_id": str(eid)}


@bp.get("/experiments/get")
@rpc(s.ExperimentId)
def get(m):
    return {"experiment": _experiment.dump(experiments.get(m["experiment_id"]))}


@bp.get("/experiments/get-by-name")
@rpc(s.GetExperimentByName)
def get_by_name(m):
    return {"experiment": _experiment.dump(experiments.get_by_name(m["experiment_name"]))}


@bp.route("/experiments/search", methods=["GET", "POST"])
@rpc(s.SearchExperiments)
def search(m):
    max_results = m["max_results"]
    if max_results < 1:  # as MLflow's store words it
        raise invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"
        )
    if max_results > MAX_RESULTS:
        raise invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at most {MAX_RESULTS}"
        )
    page = experiments.search(
        m["view_type"],
        filters.parse_experiment_filter(m["filter"]),
        filters.parse_experiment_order_by(m["order_by"]),
        max_results,
        page_tokens.decode(m["page_token"]),
    )
    return page_tokens.paged("experiments", _experiment, page)


@bp.post("/experiments/update")
@rpc(s.UpdateExperiment)
def update(m):
    experiments.rename(m["experiment_id"], m["new_name"])
    return {}


@bp.post("/experiments/delete")
@rpc(s.ExperimentId)
def delete(m):
    experiments.delete(m["experiment_id"])
    return {}


@bp.post("/experiments/restore")
@rpc(s.ExperimentId)
def restore(m):
    experiments.restore(m["experiment_id"])
    return {}


@bp.post("/experiments/set-experiment-tag")
@rpc(s.SetExperimentTag)
def set_tag(m):
    experiments.set_tag(m["experiment_id"], m["key"], m["value"])
    return {}


@bp.post("/experiments/delete-experiment-tag")
@rpc(s.DeleteExperimentTag)
def delete_tag(m):
    experiments.delete_tag(m["experiment_id"], m["key"])
    return {}


MAX_DATASET_SEARCH_EXPERIMENTS = 20


@ajax.post("/experiments/search-datasets")
@rpc(s.SearchDatasets)
def search_datasets(m):
    """The datasets the UI lists for some experiments (MLflow's _search_datasets_handler)."""
    ids = m["experiment_ids"]
    if not ids:
        raise invalid("SearchDatasets request must specify at least one experiment_id.")
    if len(ids) > MAX_DATASET_SEARCH_EXPERIMENTS:
        raise invalid(
            f"SearchDatasets request cannot specify more than {MAX_DATASET_SEARCH_EXPERIMENTS} "
            f"experiment_ids. Received {len(ids)} experiment_ids."
        )
    return {
        "dataset_summaries": [
            {k: val for k, val in d.items() if val is not None} for d in experiments.dataset_summaries(ids)
        ]
    }
