"""Base schemas for MLflow's protobuf JSON mapping."""

from marshmallow import EXCLUDE, Schema, fields, post_dump


class RequestSchema(Schema):
    """A request message. Unknown fields are ignored (newer clients send more). A required field
    is refused when absent, null or empty, as MLflow's ``_assert_required`` refuses it;
    ``fallbacks``: (field, legacy field) pairs, the legacy one read when the field is absent;
    ``type_first``: required fields whose MLflow schema checks the type before presence, so that
    an empty string is an invalid value there rather than a missing one."""

    fallbacks: tuple[tuple[str, str], ...] = ()
    type_first: tuple[str, ...] = ()

    class Meta:
        unknown = EXCLUDE

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.required_keys = tuple(f.data_key or name for name, f in self.load_fields.items() if f.required)


class ProtoSchema(Schema):
    """Response messages drop unset scalars and empty repeated fields, as protobuf JSON does."""

    @post_dump
    def _drop_unset(self, data, **kwargs):
        return {k: val for k, val in data.items() if val is not None and val != []}


class KeyValueIn(RequestSchema):
    key = fields.String(required=True)
    value = fields.String(load_default=None, allow_none=True)


class KeyValueList(fields.List):
    """Tags and params: ``[{"key", "value"}]`` on the wire, ``[(key, value)]`` in the core."""

    def __init__(self, **kwargs):
        super().__init__(fields.Nested(KeyValueIn), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return [(item["key"], item["value"]) for item in super()._deserialize(value, attr, data, **kwargs)]

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else [{"key": k, "value": val} for k, val in value]


class Part(fields.Field):
    """A sub-message built from the object itself (a run's ``info`` and ``data`` both come from
    the run), dumped by one shared instance of ``schema`` (a schema instance per dump would
    deep-copy its fields every time)."""

    _CHECK_ATTRIBUTE = False

    def __init__(self, schema: type[Schema], **kwargs):
        super().__init__(**kwargs)
        self._schema = schema()

    def _serialize(self, value, attr, obj, **kwargs):
        return self._schema.dump(obj)
