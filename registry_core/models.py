"""Peewee models of the native registry: experiments, candidates (runs), their metrics,
params, tags, datasets and inputs.

Values, not ORM objects, travel on hot paths: services select tuples/dicts and bulk-insert
rows. Column sizes follow MLflow's limits so the same data fits on every backend.
"""

from __future__ import annotations

import peewee as pw

from registry_core.db import database
from registry_core.lifecycle import ACTIVE, NO_STAGE


class BigIntField(pw.BigIntegerField):
    pass


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaVersion(BaseModel):
    """One row: the schema version this database is at."""

    version = pw.IntegerField()

    class Meta:
        table_name = "modelops_schema"
        primary_key = False


class Experiment(BaseModel):
    experiment_id = pw.AutoField()
    name = pw.CharField(max_length=500, unique=True)
    artifact_location = pw.TextField(null=True)
    lifecycle_stage = pw.CharField(max_length=32, default=ACTIVE)
    creation_time = BigIntField(null=True)
    last_update_time = BigIntField(null=True)

    class Meta:
        table_name = "experiments"
        indexes = ((("lifecycle_stage", "creation_time"), False),)


class ExperimentTag(BaseModel):
    experiment = pw.ForeignKeyField(Experiment, column_name="experiment_id", on_delete="CASCADE")
    key = pw.CharField(max_length=250)
    value = pw.TextField(null=True)

    class Meta:
        table_name = "experiment_tags"
        primary_key = pw.CompositeKey("experiment", "key")


class Run(BaseModel):
    """A candidate: one training run with its params, metrics, tags and artifacts."""

    run_uuid = pw.CharField(max_length=32, primary_key=True)
    name = pw.CharField(max_length=250, null=True)
    experiment = pw.ForeignKeyField(Experiment, column_name="experiment_id", on_delete="CASCADE")
    user_id = pw.CharField(max_length=256, null=True)
    status = pw.CharField(max_length=20, default="RUNNING")
    start_time = BigIntField(null=True)
    end_time = BigIntField(null=True)
    deleted_time = BigIntField(null=True)
    lifecycle_stage = pw.CharField(max_length=20, default=ACTIVE)
    artifact_uri = pw.TextField(null=True)

    class Meta:
        table_name = "runs"
        indexes = ((("experiment", "lifecycle_stage", "start_time"), False),)


class Param(BaseModel):
    run = pw.ForeignKeyField(Run, column_name="run_uuid", on_delete="CASCADE")
    key = pw.CharField(max_length=250)
    value = pw.TextField()

    class Meta:
        table_name = "params"
        primary_key = pw.CompositeKey("run", "key")


class Tag(BaseModel):
    run = pw.ForeignKeyField(Run, column_name="run_uuid", on_delete="CASCADE")
    key = pw.CharField(max_length=250)
    value = pw.TextField(null=True)

    class Meta:
        table_name = "tags"
        primary_key = pw.CompositeKey("run", "key")


class Metric(BaseModel):
    """Full metric history. ``value`` is an orderable double on every backend (MySQL has no
    infinities): +/-Infinity are stored there as +/- the largest double, -0.0 as 0.0, NaN as 0
    with ``is_nan``, so filters and orderings in SQL treat them as MLflow does. Where the stored
    ``value`` is not the logged one (infinities, -0.0), ``value_bits`` holds the logged double's
    IEEE-754 bits (a signed 64-bit integer) and reads return that; it is NULL otherwise
    (``validation.metric_value``, ``validation.stored_metric_value``). The same in
    ``latest_metrics`` and ``logged_model_metrics``. The primary key is the whole point, as in
    MLflow: a retried request cannot store a point twice."""

    run = pw.ForeignKeyField(Run, column_name="run_uuid", on_delete="CASCADE", index=False)
    key = pw.CharField(max_length=250)
    value = pw.DoubleField()
    timestamp = BigIntField()
    step = BigIntField(default=0)
    is_nan = pw.BooleanField(default=False)
    value_bits = BigIntField(null=True)

    class Meta:
        table_name = "metrics"
        primary_key = pw.CompositeKey("run", "key", "timestamp", "step", "value", "is_nan")
        indexes = ((("run", "key", "step"), False),)


class LatestMetric(BaseModel):
    """The latest value (max step, then timestamp, then value) of each metric of a run,
    kept in step with every write, so search filters and orders without scanning history.

    ``experiment_id`` repeats the run's experiment (a run never changes experiment) so that a
    search ordered by a metric walks the (experiment, key, is_nan, value) index from the best
    value and stops at the page's end, instead of sorting every matching run of the experiment."""

    run = pw.ForeignKeyField(Run, column_name="run_uuid", on_delete="CASCADE")
    key = pw.CharField(max_length=250)
    value = pw.DoubleField()
    timestamp = BigIntField()
    step = BigIntField(default=0)
    is_nan = pw.BooleanField(default=False)
    experiment_id = pw.IntegerField()
    value_bits = BigIntField(null=True)  # as in Metric

    class Meta:
        table_name = "latest_metrics"
        primary_key = pw.CompositeKey("run", "key")
        indexes = (
            (("key", "value"), False),
            (("experiment_id", "key", "is_nan", "value"), False),
        )


class Dataset(BaseModel):
    dataset_uuid = pw.CharField(max_length=36, primary_key=True)
    experiment = pw.ForeignKeyField(Experiment, column_name="experiment_id", on_delete="CASCADE")
    name = pw.CharField(max_length=500)
    digest = pw.CharField(max_length=36)
    source_type = pw.CharField(max_length=36)
    source = pw.TextField()
    schema = pw.TextField(null=True)
    profile = pw.TextField(null=True)

    class Meta:
        table_name = "datasets"
        indexes = ((("experiment", "name", "digest"), True),)


class Input(BaseModel):
    """A dataset a run took as input (source DATASET -> destination RUN)."""

    input_uuid = pw.CharField(max_length=36, primary_key=True)
    dataset = pw.ForeignKeyField(Dataset, column_name="dataset_uuid", on_delete="CASCADE")
    run = pw.ForeignKeyField(Run, column_name="run_uuid", on_delete="CASCADE")

    class Meta:
        table_name = "inputs"
        indexes = ((("run", "dataset"), True),)


class InputTag(BaseModel):
    input = pw.ForeignKeyField(Input, column_name="input_uuid", on_delete="CASCADE")
    name = pw.CharField(max_length=255)
    value = pw.CharField(max_length=500)

    class Meta:
        table_name = "input_tags"
        primary_key = pw.CompositeKey("input", "name")


class RunModelLink(BaseModel):
    """A logged model a run produced ("output") or consumed ("input"), by model id."""

    run = pw.ForeignKeyField(Run, column_name="run_uuid", on_delete="CASCADE")
    model_id = pw.CharField(max_length=64)
    direction = pw.CharField(max_length=8)
    step = BigIntField(default=0)

    class Meta:
        table_name = "run_model_links"
        primary_key = pw.CompositeKey("run", "model_id", "direction")


class LoggedModel(BaseModel):
    """An MLflow 3 logged model: a candidate model with its own artifacts, params and metrics."""

    model_id = pw.CharField(max_length=64, primary_key=True)
    experiment = pw.ForeignKeyField(Experiment, column_name="experiment_id", on_delete="CASCADE")
    name = pw.CharField(max_length=500)
    artifact_location = pw.TextField()
    creation_timestamp = BigIntField()
    last_updated_timestamp = BigIntField()
    status = pw.CharField(max_length=40, default="LOGGED_MODEL_PENDING")
    status_message = pw.TextField(null=True)
    lifecycle_stage = pw.CharField(max_length=32, default=ACTIVE)
    model_type = pw.CharField(max_length=500, null=True)
    source_run_id = pw.CharField(max_length=32, null=True, index=True)

    class Meta:
        table_name = "logged_models"
        indexes = ((("experiment", "lifecycle_stage", "creation_timestamp"), False),)


class LoggedModelTag(BaseModel):
    logged_model = pw.ForeignKeyField(LoggedModel, column_name="model_id", on_delete="CASCADE")
    key = pw.CharField(max_length=255)
    value = pw.TextField(null=True)

    class Meta:
        table_name = "logged_model_tags"
        primary_key = pw.CompositeKey("logged_model", "key")


class LoggedModelParam(BaseModel):
    logged_model = pw.ForeignKeyField(LoggedModel, column_name="model_id", on_delete="CASCADE")
    key = pw.CharField(max_length=255)
    value = pw.TextField()

    class Meta:
        table_name = "logged_model_params"
        primary_key = pw.CompositeKey("logged_model", "key")


class LoggedModelMetric(BaseModel):
    """Metrics logged with a model_id attach to the model too (with the run and dataset)."""

    logged_model = pw.ForeignKeyField(LoggedModel, column_name="model_id", on_delete="CASCADE", index=False)
    key = pw.CharField(max_length=250)
    value = pw.DoubleField()
    is_nan = pw.BooleanField(default=False)
    timestamp = BigIntField()
    step = BigIntField(default=0)
    run_id = pw.CharField(max_length=32)
    dataset_name = pw.CharField(max_length=500, null=True)
    dataset_digest = pw.CharField(max_length=36, null=True)
    value_bits = BigIntField(null=True)  # as in Metric

    class Meta:
        table_name = "logged_model_metrics"
        primary_key = pw.CompositeKey("logged_model", "key", "timestamp", "step", "run_id", "value")
        indexes = ((("key", "value"), False),)


class RegisteredModel(BaseModel):
    """A model of record: a named line of immutable versions (MLflow's registered model)."""

    id = pw.AutoField()
    name = pw.CharField(max_length=256, unique=True)
    creation_time = BigIntField()
    last_updated_time = BigIntField()
    description = pw.TextField(null=True)

    class Meta:
        table_name = "registered_models"


class RegisteredModelTag(BaseModel):
    registered_model = pw.ForeignKeyField(RegisteredModel, column_name="registered_model_id", on_delete="CASCADE")
    key = pw.CharField(max_length=250)
    value = pw.TextField(null=True)

    class Meta:
        table_name = "registered_model_tags"
        primary_key = pw.CompositeKey("registered_model", "key")


class ModelVersion(BaseModel):
    """A version of record, promoted from a candidate. Its artifacts (``storage_location``) never
    change after creation; description, tags, aliases and stage may. Deleted versions keep their
    row (redacted) so a version number is never reused, as in MLflow."""

    id = pw.AutoField()
    registered_model = pw.ForeignKeyField(RegisteredModel, column_name="registered_model_id", on_delete="CASCADE")
    version = pw.IntegerField()
    creation_time = BigIntField()
    last_updated_time = BigIntField()
    description = pw.TextField(null=True)
    user_id = pw.CharField(max_length=256, null=True)
    current_stage = pw.CharField(max_length=20, default=NO_STAGE)
    source = pw.TextField(null=True)
    storage_location = pw.TextField(null=True)
    run_id = pw.CharField(max_length=32, null=True, index=True)
    run_link = pw.TextField(null=True)
    status = pw.CharField(max_length=20, default="READY")
    status_message = pw.TextField(null=True)
    model_id = pw.CharField(max_length=64, null=True)
    deleted = pw.BooleanField(default=False)
    # lineage recorded at promotion
    source_experiment_id = pw.IntegerField(null=True)
    source_commit = pw.CharField(max_length=64, null=True)
    source_repository = pw.TextField(null=True)
    # why the server could not verify the source (it names nothing this server holds); NULL:
    # verified, its artifacts snapshotted when there were any
    source_unverified = pw.TextField(null=True)

    class Meta:
        table_name = "model_versions"
        # (model, last_updated_time, version): a model's versions in search's default order
        # (last updated first, then highest version), read off the index without a sort.
        indexes = (
            (("registered_model", "version"), True),
            (("last_updated_time",), False),
            (("registered_model", "last_updated_time", "version"), False),
        )


class ModelVersionTag(BaseModel):
    model_version = pw.ForeignKeyField(ModelVersion, column_name="model_version_id", on_delete="CASCADE")
    key = pw.CharField(max_length=250)
    value = pw.TextField(null=True)

    class Meta:
        table_name = "model_version_tags"
        primary_key = pw.CompositeKey("model_version", "key")


class ModelVersionDataset(BaseModel):
    """Lineage: a dataset the source run took as input when the version was promoted."""

    model_version = pw.ForeignKeyField(ModelVersion, column_name="model_version_id", on_delete="CASCADE")
    name = pw.CharField(max_length=500)
    digest = pw.CharField(max_length=36)
    context = pw.CharField(max_length=500, null=True)

    class Meta:
        table_name = "model_version_datasets"
        primary_key = pw.CompositeKey("model_version", "name", "digest")


class RegisteredModelAlias(BaseModel):
    registered_model = pw.ForeignKeyField(RegisteredModel, column_name="registered_model_id", on_delete="CASCADE")
    alias = pw.CharField(max_length=255)
    version = pw.IntegerField()

    class Meta:
        table_name = "registered_model_aliases"
        primary_key = pw.CompositeKey("registered_model", "alias")


TABLES = [
    SchemaVersion,
    Experiment,
    ExperimentTag,
    Run,
    Param,
    Tag,
    Metric,
    LatestMetric,
    Dataset,
    Input,
    InputTag,
    RunModelLink,
    LoggedModel,
    LoggedModelTag,
    LoggedModelParam,
    LoggedModelMetric,
    RegisteredModel,
    RegisteredModelTag,
    ModelVersion,
    ModelVersionTag,
    ModelVersionDataset,
    RegisteredModelAlias,
]
