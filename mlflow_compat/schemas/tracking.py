"""Messages of MLflow's tracking service (service.proto): experiments, runs, metrics."""
from marshmallow import fields, validate

from mlflow_compat.schemas.base import KeyValueList, Part, ProtoSchema, RequestSchema
from mlflow_compat.wire import Double, IdString, Int64

VIEW_TYPES = ("ACTIVE_ONLY", "DELETED_ONLY", "ALL")
_view_type = validate.OneOf(VIEW_TYPES)


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
    model_outputs = fields.Function(
        lambda r: [{"model_id": m, "step": step} for m, step in r.model_outputs]
    )


class RunOut(ProtoSchema):
    info = Part(RunInfoOut)
    data = Part(RunDataOut)
    inputs = Part(RunInputsOut)
    outputs = Part(RunOutputsOut)


# --- experiment requests -------------------------------------------------------------------


class CreateExperiment(RequestSchema):
    name = fields.String(required=True)
    artifact_location = fields.String(load_default=None)
    tags = KeyValueList(load_default=list)


class ExperimentId(RequestSchema):
    experiment_id = IdString(required=True)


class GetExperimentByName(RequestSchema):
    experiment_name = fields.String(required=True)


class SearchExperiments(RequestSchema):
    max_results = Int64(load_default=1000)
    page_token = fields.String(load_default=None)
    filter = fields.String(load_default=None)
    order_by = fields.List(fields.String(), load_default=list)
    view_type = fields.String(load_default="ACTIVE_ONLY", validate=_view_type)


class UpdateExperiment(RequestSchema):
    experiment_id = IdString(required=True)
    new_name = fields.String(required=True)


class SetExperimentTag(RequestSchema):
    experiment_id = IdString(required=True)
    key = fields.String(required=True)
    value = fields.String(load_default="", allow_none=True)


class DeleteExperimentTag(RequestSchema):
    experiment_id = IdString(required=True)
    key = fields.String(required=True)


# --- run requests --------------------------------------------------------------------------


class RunRef(RequestSchema):
    """run_id, or the legacy run_uuid the clients still send beside it."""

    run_id = fields.String(load_default=None)
    run_uuid = fields.String(load_default=None)


class CreateRun(RequestSchema):
    experiment_id = IdString(load_default=None)
    user_id = fields.String(load_default=None)
    run_name = fields.String(load_default=None)
    start_time = Int64(load_default=None)
    tags = KeyValueList(load_default=list)


class UpdateRun(RunRef):
    status = fields.String(load_default=None)
    end_time = Int64(load_default=None)
    run_name = fields.String(load_default=None)


class SearchRuns(RequestSchema):
    experiment_ids = fields.List(IdString(), load_default=list)
    filter = fields.String(load_default=None)
    run_view_type = fields.String(load_default="ACTIVE_ONLY", validate=_view_type)
    max_results = Int64(
        load_default=1000,
        validate=validate.Range(max=50000, error="It must be at most 50000"),
    )
    order_by = fields.List(fields.String(), load_default=list)
    page_token = fields.String(load_default=None)


class SetTag(RunRef):
    key = fields.String(required=True)
    value = fields.String(load_default="", allow_none=True)


class DeleteTag(RunRef):
    key = fields.String(required=True)


class MetricIn(RequestSchema):
    key = fields.String(required=True)
    value = Double(required=True)
    timestamp = Int64(load_default=None)
    step = Int64(load_default=None)
    # MLflow 3: a metric may be logged for a logged model (and a dataset) of the run
    model_id = fields.String(load_default=None)
    dataset_name = fields.String(load_default=None)
    dataset_digest = fields.String(load_default=None)


class LogMetric(RunRef, MetricIn):
    pass


class ParamIn(RequestSchema):
    key = fields.String(required=True)
    value = fields.Raw(load_default=None)


class LogParam(RunRef, ParamIn):
    pass


class LogBatch(RunRef):
    # Up to 1,000 metric objects: only their shape is checked here (a nested schema per point
    # was half of log-batch's time); registry_core validates every field of every point.
    metrics = fields.List(fields.Dict(), load_default=list)
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
    models = fields.List(fields.Nested(ModelOutputIn), load_default=list)


class GetMetricHistory(RunRef):
    metric_key = fields.String(required=True)
    page_token = fields.String(load_default=None)
    max_results = Int64(load_default=None)


class GetMetricHistoryBulkInterval(RequestSchema):
    run_ids = fields.List(fields.String(), required=True)
    metric_key = fields.String(required=True)
    start_step = Int64(load_default=None)
    end_step = Int64(load_default=None)
    max_results = Int64(load_default=None)


__all__ = [name for name in dir() if not name.startswith("_")]
