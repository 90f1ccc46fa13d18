"""metrics/get-history (paged), metrics/get-history-bulk-interval, and the UI's
metrics/get-history-bulk (ajax only, as in MLflow)."""

from flask import Blueprint, request

from mlflow_compat import page_tokens
from mlflow_compat.encoders import metric_points_json, metric_points_with_run_json
from mlflow_compat.errors import invalid
from mlflow_compat.schemas import tracking as s
from mlflow_compat.wire import rpc
from registry_core import metric_history

bp = Blueprint("metrics", __name__)
ajax = Blueprint("metrics_ajax", __name__)  # mounted under /ajax-api only


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
        m["run_ids"], m["metric_key"], m["max_results"], m["start_step"], m["end_step"]
    )
    return metric_points_with_run_json(points)


MAX_BULK_RUNS = 100
MAX_BULK_RESULTS = 25000


@ajax.get("/metrics/get-history-bulk")
def get_history_bulk():
    """MLflow's get_metric_history_bulk_handler: repeated ``run_id``, ``metric_key``, and
    ``max_results`` capped at 25,000 points in all."""
    run_ids = request.args.getlist("run_id")
    if not run_ids:
        raise invalid("GetMetricHistoryBulk request must specify at least one run_id.")
    if len(run_ids) > MAX_BULK_RUNS:
        raise invalid(
            f"GetMetricHistoryBulk request cannot specify more than {MAX_BULK_RUNS} run_ids. "
            f"Received {len(run_ids)} run_ids."
        )
    metric_key = request.args.get("metric_key")
    if metric_key is None:
        raise invalid("GetMetricHistoryBulk request must specify a metric_key.")
    raw = request.args.get("max_results", str(MAX_BULK_RESULTS))
    try:
        max_results = min(int(raw), MAX_BULK_RESULTS)
    except ValueError:
        raise invalid(f"Invalid value {raw} for parameter 'max_results' supplied.") from None
    if max_results < 1:
        return metric_points_with_run_json([])
    return metric_points_with_run_json(metric_history.history_bulk(run_ids, metric_key, max_results))
