"""Messages of MLflow's tracking service (service.proto): experiments, runs, metrics."""

from marshmallow import fields, validate

from mlflow_compat.schemas.base import KeyValueList, Part, ProtoSchema, RequestSchema
from mlflow_compat.wire import Double, IdString, Int64, ProtoEnum, refuse
from registry_core.candidates import RUN_STATUSES
from registry_core.lifecycle import ACTIVE_ONLY, ALL, DELETED_ONLY, VIEW_TYPES
from registry_core.metric_history import MAX_RESULTS_PER_RUN
from registry_core.metric_history import MAX_RUNS_BULK_INTERVAL as MAX_RUNS_BULK

# --- responses -----------------------------------------------------------------------------


class ExperimentOut(ProtoSchema):
    experiment_id = fields.Function(lambda e: str(e.experiment_id))
    name = fields.String()
    artifact_location = fields.String()
    lifecycle_stage = fields.String()
    last_update_time = fields.Integer()
    creation_time = fields.Integer()
    tags = KeyValueList()
    workspace = fields.Function(lambda e: "default")


class MetricOut(ProtoSchema):
    key = fields.String()
    value = Double()
    timestamp = fields.Integer()
    step = fields.Integer()


class MetricWithRunIdOut(MetricOut):
    run_id = fields.String()


class RunInfoOut(ProtoSchema):
    run_uuid = fields.Function(lambda r: r.run_id)
    experiment_id = fields.Function(lambda r: str(r.experiment_id))
    run_name = fields.String()
    user_id = fields.String()
    status = fields.String()
    start_time = fields.Integer()
    end_time = fields.Integer()
    artifact_uri = fields.String()
    lifecycle_stage = fields.String()
    run_id = fields.String()


class RunDataOut(ProtoSchema):
    metrics = fields.List(fields.Nested(MetricOut))
    params = KeyValueList()
    tags = KeyValueList()


class DatasetOut(ProtoSchema):
    name = fields.String()
    digest = fields.String()
    source_type = fields.String()
    source = fields.String()
    schema = fields.String()
    profile = fields.String()


class DatasetInputOut(ProtoSchema):
    tags = KeyValueList()
    dataset = Part(DatasetOut)


class RunInputsOut(ProtoSchema):
    dataset_inputs = fields.List(fields.Nested(DatasetInputOut))
    model_inputs = fields.Function(lambda r: [{"model_id": m} for m in r.model_inputs])


class RunOutputsOut(ProtoSchema):
    model_outputs = fields.Function(lambda r: [{"model_id": m, "step": step} for m, step in r.model_outputs])


class RunOut(ProtoSchema):
    info = Part(RunInfoOut)
    data = Part(RunDataOut)
    inputs = Part(RunInputsOut)
    outputs = Part(RunOutputsOut)


# --- experiment requests -------------------------------------------------------------------
# Each request message lists its fields in the order of MLflow 3.17.2's handler schema (the
# first refused field is the one MLflow names); required as its ``_assert_required`` requires.

_VIEW_NUMBERS = {1: ACTIVE_ONLY, 2: DELETED_ONLY, 3: ALL}


def _view_type(**kwargs):
    return ProtoEnum(VIEW_TYPES, _VIEW_NUMBERS, load_default=ACTIVE_ONLY, **kwargs)


class CreateExperiment(RequestSchema):
    name = fields.String(required=True)
    artifact_location = fields.String(load_default=None)
    tags = KeyValueList(load_default=list)


class ExperimentId(RequestSchema):
    experiment_id = fields.String(required=True)


class GetExperimentByName(RequestSchema):
    experiment_name = fields.String(required=True)


class SearchExperiments(RequestSchema):
    view_type = _view_type()
    max_results = Int64(load_default=0)  # unset reads as 0, refused as MLflow's store refuses it
    order_by = fields.List(fields.String(), load_default=list)
    filter = fields.String(load_default=None)
    page_token = fields.String(load_default=None)


class SearchDatasets(RequestSchema):
    experiment_ids = fields.List(fields.String(), load_default=list)


class UpdateExperiment(RequestSchema):
    experiment_id = fields.String(required=True)
    new_name = fields.String(required=True)


class SetExperimentTag(RequestSchema):
    experiment_id = fields.String(required=True)
    key = fields.String(required=True)
    value = fields.String(load_default="", allow_none=True)


class DeleteExperimentTag(RequestSchema):
    experiment_id = fields.String(required=True)
    key = fields.String(required=True)


# --- run requests --------------------------------------------------------------------------


class RunRef(RequestSchema):
    """run_id, or the legacy run_uuid the clients still send beside it (MLflow reads run_uuid
    when run_id is absent). Messages that extend it list it last among their bases, so that
    run_id is their first field, as in MLflow."""

    fallbacks = (("run_id", "run_uuid"),)
    run_id = fields.String(required=True)
    run_uuid = fields.String(load_default=None)


class CreateRun(RequestSchema):
    experiment_id = fields.String(load_default=None)
    start_time = Int64(load_default=None)
    run_name = fields.String(load_default=None)
    user_id = fields.String(load_default=None)
    tags = KeyValueList(load_default=list)


class UpdateRun(RunRef):
    end_time = Int64(load_default=None)
    status = ProtoEnum(RUN_STATUSES, dict(enumerate(RUN_STATUSES, start=1)), load_default=None)
    run_name = fields.String(load_default=None)


class SearchRuns(RequestSchema):
    experiment_ids = fields.List(IdString(), load_default=list)
    filter = fields.String(load_default=None)
    max_results = Int64(load_default=1000, validate=validate.Range(max=50000))
    order_by = fields.List(fields.String(), load_default=list)
    run_view_type = _view_type()
    page_token = fields.String(load_default=None)


class _Keyed(RequestSchema):
    key = fields.String(required=True)


class SetTag(_Keyed, RunRef):
    value = fields.String(load_default="", allow_none=True)


class DeleteTag(_Keyed, RunRef):
    pass


class MetricIn(RequestSchema):
    key = fields.String(required=True)
    value = Double(required=True)
    timestamp = Int64(required=True)
    step = Int64(load_default=None)
    # MLflow 3: a metric may be logged for a logged model (and a dataset) of the run
    model_id = fields.String(load_default=None)
    dataset_name = fields.String(load_default=None)
    dataset_digest = fields.String(load_default=None)


class LogMetric(MetricIn, RunRef):
    type_first = ("timestamp",)


class ParamIn(RequestSchema):
    key = fields.String(required=True)
    value = fields.String(load_default=None)


class LogParam(ParamIn, RunRef):
    pass


class MetricList(fields.List):
    """A batch's metrics: each a JSON object whose key, value and timestamp are present (MLflow's
    _assert_metrics_fields_present, worded with the point's path); only their presence is
    checked here: registry_core validates every value of every point (a nested schema per point
    was half of log-batch's time)."""

    def __init__(self, **kwargs):
        super().__init__(fields.Dict(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        points = super()._deserialize(value, attr, data, **kwargs)
        for n, point in enumerate(points):
            for name in ("key", "value", "timestamp"):
                if point.get(name) in (None, ""):
                    raise refuse(f"Missing value for required parameter 'metrics[{n}].{name}'.")
        return points


class LogBatch(RunRef):
    metrics = MetricList(load_default=list)
    params = fields.List(fields.Nested(ParamIn), load_default=list)
    tags = KeyValueList(load_default=list)


class DatasetIn(RequestSchema):
    name = fields.String(required=True)
    digest = fields.String(required=True)
    source_type = fields.String(required=True)
    source = fields.String(required=True)
    schema = fields.String(load_default=None)
    profile = fields.String(load_default=None)


class DatasetInputIn(RequestSchema):
    tags = KeyValueList(load_default=list)
    dataset = fields.Nested(DatasetIn, required=True)


class ModelInputIn(RequestSchema):
    model_id = fields.String(required=True)


class ModelOutputIn(RequestSchema):
    model_id = fields.String(required=True)
    step = Int64(load_default=0)


class LogInputs(RunRef):
    datasets = fields.List(fields.Nested(DatasetInputIn), load_default=list)
    models = fields.List(fields.Nested(ModelInputIn), load_default=list)


class LogOutputs(RunRef):
    models = fields.List(fields.Nested(ModelOutputIn), required=True)


class GetMetricHistory(RunRef):
    metric_key = fields.String(required=True)
    page_token = fields.String(load_default=None)
    max_results = Int64(load_default=None)


def _at_most_runs(run_ids):
    if len(run_ids) > MAX_RUNS_BULK:
        raise refuse(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS_BULK} run_ids. "
            f"Received {len(run_ids)} run_ids."
        )


def _bulk_max_results(value):
    if not 1 <= value <= MAX_RESULTS_PER_RUN:
        raise refuse(f"max_results must be between 1 and {MAX_RESULTS_PER_RUN}.")


class GetMetricHistoryBulkInterval(RequestSchema):
    run_ids = fields.List(fields.String(), required=True, validate=_at_most_runs)
    metric_key = fields.String(required=True)
    start_step = Int64(load_default=None)
    end_step = Int64(load_default=None)
    max_results = Int64(load_default=MAX_RESULTS_PER_RUN, validate=_bulk_max_results)


__all__ = [name for name in dir() if not name.startswith("_")]
