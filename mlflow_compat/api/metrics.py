"""metrics/get-history (paged) and metrics/get-history-bulk-interval."""
from flask import Blueprint

from mlflow_compat import page_tokens
from mlflow_compat.api.runs import run_id
from mlflow_compat.errors import invalid
from mlflow_compat.schemas import tracking as s
from mlflow_compat.encoders import metric_points_json, metric_points_with_run_json
from mlflow_compat.wire import rpc
from registry_core import metric_history

bp = Blueprint("metrics", __name__)


@bp.get("/metrics/get-history")
@rpc(s.GetMetricHistory)
def get_history(m):
    max_results = m["max_results"]
    if max_results is not None and not 1 <= max_results <= metric_history.MAX_RESULTS_GET_METRIC_HISTORY:
        raise invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            f"between 1 and {metric_history.MAX_RESULTS_GET_METRIC_HISTORY}."
        )
    page = metric_history.history_rows(run_id(m), m["metric_key"], max_results, page_tokens.decode(m["page_token"]))
    return metric_points_json(m["metric_key"], page.items, page_tokens.encode(page.next_offset))


@bp.get("/metrics/get-history-bulk-interval")
@rpc(s.GetMetricHistoryBulkInterval)
def get_history_bulk_interval(m):
    run_ids = m["run_ids"]
    if not run_ids:
        raise invalid("GetMetricHistoryBulkInterval request must specify at least one run_id.")
    if len(run_ids) > metric_history.MAX_RUNS_BULK_INTERVAL:
        raise invalid(
            f"GetMetricHistoryBulkInterval request must specify at most "
            f"{metric_history.MAX_RUNS_BULK_INTERVAL} run_ids. Received {len(run_ids)} run_ids."
        )
    max_results = m["max_results"] if m["max_results"] is not None else metric_history.MAX_RESULTS_PER_RUN
    if not 1 <= max_results <= metric_history.MAX_RESULTS_PER_RUN:
        raise invalid(f"max_results must be between 1 and {metric_history.MAX_RESULTS_PER_RUN}.")
    points = metric_history.bulk_interval(run_ids, m["metric_key"], max_results, m["start_step"], m["end_step"])
    return metric_points_with_run_json(points)
