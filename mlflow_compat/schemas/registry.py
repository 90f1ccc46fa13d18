"""Messages of MLflow's model registry service (model_registry.proto)."""

from marshmallow import fields, validate

from mlflow_compat.schemas.base import KeyValueList, ProtoSchema, RequestSchema
from mlflow_compat.wire import Int64, ProtoBool

MAX_MODELS_PER_PAGE = 1000
MAX_VERSIONS_PER_PAGE = 200_000


class ModelVersionOut(ProtoSchema):
    name = fields.String()
    version = fields.Function(lambda mv: str(mv.version))
    creation_timestamp = fields.Integer()
    last_updated_timestamp = fields.Integer()
    user_id = fields.String()
    current_stage = fields.String()
    description = fields.String()
    source = fields.String()
    run_id = fields.String()
    status = fields.String()
    status_message = fields.String()
    tags = KeyValueList()
    run_link = fields.String()
    aliases = fields.List(fields.String())


class RegisteredModelOut(ProtoSchema):
    name = fields.String()
    creation_timestamp = fields.Integer()
    last_updated_timestamp = fields.Integer()
    description = fields.String()
    latest_versions = fields.List(fields.Nested(ModelVersionOut))
    tags = KeyValueList()
    aliases = fields.Function(lambda rm: [{"alias": a, "version": str(ver)} for a, ver in rm.aliases])


class ModelName(RequestSchema):
    name = fields.String(required=True)


class CreateRegisteredModel(RequestSchema):
    name = fields.String(required=True)
    tags = KeyValueList(load_default=list)
    description = fields.String(load_default=None)


class RenameRegisteredModel(RequestSchema):
    name = fields.String(required=True)
    new_name = fields.String(required=True)


class UpdateRegisteredModel(RequestSchema):
    name = fields.String(required=True)
    description = fields.String(load_default=None)


class SearchRegisteredModels(RequestSchema):
    filter = fields.String(load_default=None)
    max_results = Int64(load_default=100, validate=validate.Range(max=MAX_MODELS_PER_PAGE))
    order_by = fields.List(fields.String(), load_default=list)
    page_token = fields.String(load_default=None)


class GetLatestVersions(RequestSchema):
    name = fields.String(required=True)
    stages = fields.List(fields.String(), load_default=list)


class SetRegisteredModelTag(RequestSchema):
    name = fields.String(required=True)
    key = fields.String(required=True)
    value = fields.String(load_default="", allow_none=True)


class DeleteRegisteredModelTag(RequestSchema):
    name = fields.String(required=True)
    key = fields.String(required=True)


class SetAlias(RequestSchema):
    name = fields.String(required=True)
    alias = fields.String(required=True)
    version = fields.String(required=True)


class AliasRef(RequestSchema):
    name = fields.String(required=True)
    alias = fields.String(required=True)


class CreateModelVersion(RequestSchema):
    name = fields.String(required=True)
    source = fields.String(required=True)
    run_id = fields.String(load_default=None)
    tags = KeyValueList(load_default=list)
    run_link = fields.String(load_default=None)
    description = fields.String(load_default=None)
    model_id = fields.String(load_default=None)


class VersionRef(RequestSchema):
    name = fields.String(required=True)
    version = fields.String(required=True)


class UpdateModelVersion(VersionRef):
    description = fields.String(load_default=None)


class TransitionStage(VersionRef):
    stage = fields.String(required=True)
    archive_existing_versions = ProtoBool(load_default=False)


class SearchModelVersions(RequestSchema):
    filter = fields.String(load_default=None)
    max_results = Int64(load_default=MAX_VERSIONS_PER_PAGE, validate=validate.Range(max=MAX_VERSIONS_PER_PAGE))
    order_by = fields.List(fields.String(), load_default=list)
    page_token = fields.String(load_default=None)


class SetModelVersionTag(VersionRef):
    key = fields.String(required=True)
    value = fields.String(load_default="", allow_none=True)


class DeleteModelVersionTag(VersionRef):
    key = fields.String(required=True)
