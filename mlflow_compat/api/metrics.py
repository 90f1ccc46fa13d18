"""metrics/get-history (paged) and metrics/get-history-bulk-interval."""
from flask import Blueprint

from mlflow_compat import page_tokens
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
    page = metric_history.history_rows(m["run_id"], m["metric_key"], max_results, page_tokens.decode(m["page_token"]))
    return metric_points_json(m["metric_key"], page.items, page_tokens.encode(page.next_offset))


@bp.get("/metrics/get-history-bulk-interval")
@rpc(s.GetMetricHistoryBulkInterval)
def get_history_bulk_interval(m):
    points = metric_history.bulk_interval(
        m["run_ids"], m["metric_key"], m["max_results"], m["start_step"], m["end_step"])
    return metric_points_with_run_json(points)
