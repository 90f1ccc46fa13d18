"""Messages of MLflow 3's logged-model endpoints (service.proto: LoggedModel*)."""

from marshmallow import fields

from mlflow_compat.schemas.base import KeyValueList, Part, ProtoSchema, RequestSchema
from mlflow_compat.wire import Double, Int32, ProtoBool


class LoggedModelMetricOut(ProtoSchema):
    key = fields.String()
    value = Double()
    timestamp = fields.Integer()
    step = fields.Integer()
    dataset_name = fields.String()
    dataset_digest = fields.String()
    model_id = fields.String()
    run_id = fields.String()


class LoggedModelInfoOut(ProtoSchema):
    model_id = fields.String()
    experiment_id = fields.Function(lambda m: str(m.experiment_id))
    name = fields.String()
    creation_timestamp_ms = fields.Integer(attribute="creation_timestamp")
    last_updated_timestamp_ms = fields.Integer(attribute="last_updated_timestamp")
    artifact_uri = fields.String(attribute="artifact_location")
    status = fields.String()
    status_message = fields.String()
    model_type = fields.String()
    source_run_id = fields.String()
    tags = KeyValueList()


class LoggedModelDataOut(ProtoSchema):
    params = KeyValueList()
    metrics = fields.List(fields.Nested(LoggedModelMetricOut))


class LoggedModelOut(ProtoSchema):
    info = Part(LoggedModelInfoOut)
    data = Part(LoggedModelDataOut)


class CreateLoggedModel(RequestSchema):
    experiment_id = fields.String(required=True)
    name = fields.String(load_default=None)
    model_type = fields.String(load_default=None)
    source_run_id = fields.String(load_default=None)
    params = KeyValueList(load_default=list)
    tags = KeyValueList(load_default=list)


class GetLoggedModel(RequestSchema):
    allow_deleted = ProtoBool(load_default=False)


class FinalizeLoggedModel(RequestSchema):
    type_first = ("status",)
    status = fields.Raw(required=True)  # a name or number, checked by registry_core.logged_models


class SetLoggedModelTags(RequestSchema):
    tags = KeyValueList(load_default=list)


class LogLoggedModelParams(RequestSchema):
    params = KeyValueList(load_default=list)


class DatasetFilterIn(RequestSchema):
    dataset_name = fields.String(load_default=None)
    dataset_digest = fields.String(load_default=None)


class OrderByIn(RequestSchema):
    field_name = fields.String(required=True)
    ascending = ProtoBool(load_default=True)
    dataset_name = fields.String(load_default=None)
    dataset_digest = fields.String(load_default=None)


class SearchLoggedModels(RequestSchema):
    type_first = ("experiment_ids",)
    experiment_ids = fields.List(fields.String(), required=True)
    filter = fields.String(load_default=None)
    datasets = fields.List(fields.Nested(DatasetFilterIn), load_default=list)
    max_results = Int32(load_default=None)  # int32 in MLflow's proto: LIMIT max_results + 1 stays in range
    order_by = fields.List(fields.Nested(OrderByIn), load_default=list)
    page_token = fields.String(load_default=None)
