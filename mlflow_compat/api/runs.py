"""runs/*: lifecycle, params, metrics, tags, inputs, outputs and search."""

from flask import Blueprint

from mlflow_compat import filters, page_tokens, request_body
from mlflow_compat.api.artifacts import repository
from mlflow_compat.encoders import runs_json
from mlflow_compat.errors import invalid
from mlflow_compat.schemas import tracking as s
from mlflow_compat.wire import json_response, rpc
from registry_core import candidates, promptlab, run_search

bp = Blueprint("runs", __name__)
ajax = Blueprint("runs_ajax", __name__)  # mounted under /ajax-api only, as in MLflow
_run = s.RunOut()
_run_info = s.RunInfoOut()


def _pairs(items):
    return [(i["key"], i["value"]) for i in items]


@bp.post("/runs/create")
@rpc(s.CreateRun)
def create(m):
    run = candidates.create(m["experiment_id"], m["user_id"], m["start_time"], m["tags"], m["run_name"])
    created = _run.dump(run)
    created.pop("outputs", None)  # MLflow's CreateRun answer carries no outputs
    return {"run": created}


@bp.get("/runs/get")
@rpc(s.RunRef)
def get(m):
    return {"run": _run.dump(candidates.get(m["run_id"]))}


@bp.post("/runs/update")
@rpc(s.UpdateRun)
def update(m):
    run = candidates.update(m["run_id"], m["status"], m["end_time"], m["run_name"])
    return {"run_info": _run_info.dump(run)}


@bp.post("/runs/delete")
@rpc(s.RunRef)
def delete(m):
    candidates.delete(m["run_id"])
    return {}


@bp.post("/runs/restore")
@rpc(s.RunRef)
def restore(m):
    candidates.restore(m["run_id"])
    return {}


@bp.post("/runs/set-tag")
@rpc(s.SetTag)
def set_tag(m):
    candidates.set_tag(m["run_id"], m["key"], m["value"])
    return {}


@bp.post("/runs/delete-tag")
@rpc(s.DeleteTag)
def delete_tag(m):
    candidates.delete_tag(m["run_id"], m["key"])
    return {}


@bp.post("/runs/log-metric")
@rpc(s.LogMetric)
def log_metric(m):
    candidates.log_metric(m["run_id"], m)
    return {}


@bp.post("/runs/log-parameter")
@rpc(s.LogParam)
def log_param(m):
    candidates.log_param(m["run_id"], m["key"], m["value"])
    return {}


# MLflow documents 1 MB, but 3.17.2 measures the parsed body's key count, so clients send larger
# batches (100 params of 6000 chars alone exceed 1 MB); the ceiling, checked before the body is
# read, only stops abuse.
MAX_BATCH_LOG_REQUEST_SIZE = 16 * 1024 * 1024
# a dataset's schema and profile may hold up to 16 MiB each (MLflow's column sizes)
MAX_LOG_INPUTS_REQUEST_SIZE = 40 * 1024 * 1024


@bp.post("/runs/log-batch")
@rpc(s.LogBatch, max_body=MAX_BATCH_LOG_REQUEST_SIZE)
def log_batch(m):
    candidates.log_batch(m["run_id"], m["metrics"], _pairs(m["params"]), m["tags"])
    return {}


@bp.post("/runs/log-inputs")
@rpc(s.LogInputs, max_body=MAX_LOG_INPUTS_REQUEST_SIZE)
def log_inputs(m):
    datasets = [dict(d["dataset"], tags=d["tags"]) for d in m["datasets"]]
    candidates.log_inputs(m["run_id"], datasets, [x["model_id"] for x in m["models"]])
    return {}


@bp.post("/runs/outputs")
@rpc(s.LogOutputs)
def log_outputs(m):
    candidates.log_outputs(m["run_id"], [(x["model_id"], x["step"]) for x in m["models"]])
    return {}


@bp.post("/runs/search")
@rpc(s.SearchRuns)
def search(m):
    if m["max_results"] < 1:
        raise invalid(
            f"Invalid value {m['max_results']} for parameter 'max_results' supplied. It must be a positive integer"
        )
    page = run_search.search(
        m["experiment_ids"],
        filters.parse_run_filter(m["filter"]),
        m["run_view_type"],
        filters.parse_run_order_by(m["order_by"]),
        m["max_results"],
        page_tokens.decode(m["page_token"]),
    )
    return runs_json(page.items, page_tokens.encode(page.next_offset))


# the fields MLflow's create_promptlab_run_handler requires, in the order it checks them
PROMPTLAB_REQUIRED = (
    "experiment_id",
    "prompt_template",
    "prompt_parameters",
    "model_route",
    "model_input",
    "mlflow_version",
)


@ajax.post("/runs/create-promptlab-run")
def create_promptlab_run():
    """The UI's prompt-engineering run (MLflow's create_promptlab_run_handler, whose checks and
    words these are)."""
    request_body.check_content_type()
    args = request_body.parse_json(request_body.raw_body(request_body.DEFAULT_MAX_BODY))
    for name in PROMPTLAB_REQUIRED:
        if not args.get(name):
            raise invalid(f"CreatePromptlabRun request must specify {name}.")

    def pairs(name):
        items = args.get(name) or []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise invalid(f"Invalid value for parameter '{name}' supplied: expected a list of key-value objects")
        return [(i.get("key"), i.get("value")) for i in items]

    run = promptlab.create_run(
        repository(),
        str(args["experiment_id"]),
        args.get("run_name"),
        pairs("tags"),
        args.get("user_id", "unknown"),
        args.get("start_time"),
        args["prompt_template"],
        pairs("prompt_parameters"),
        args["model_route"],
        pairs("model_parameters"),
        args["model_input"],
        args.get("model_output"),
        pairs("model_output_parameters"),
        args["mlflow_version"],
    )
    created = _run.dump(run)
    created.pop("outputs", None)  # a CreateRun answer
    return json_response({"run": created})
