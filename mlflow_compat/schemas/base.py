"""Base schemas for MLflow's protobuf JSON mapping."""
from marshmallow import EXCLUDE, Schema, fields, post_dump


class RequestSchema(Schema):
    """Request messages ignore fields they do not know (newer clients send more)."""

    class Meta:
        unknown = EXCLUDE


class ProtoSchema(Schema):
    """Response messages drop unset scalars and empty repeated fields, as protobuf JSON does."""

    @post_dump
    def _drop_unset(self, data, **kwargs):
        return {k: val for k, val in data.items() if val is not None and val != []}


class KeyValue(ProtoSchema):
    key = fields.String()
    value = fields.String()


class KeyValueIn(RequestSchema):
    key = fields.String(required=True)
    value = fields.String(load_default=None, allow_none=True)


def pairs(items) -> list[dict]:
    return [{"key": k, "value": val} for k, val in items]
