"""Plain values the core returns. The protocol layer renders them; nothing here is an ORM row."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ExperimentView:
    experiment_id: int
    name: str
    artifact_location: str | None
    lifecycle_stage: str
    creation_time: int | None
    last_update_time: int | None
    tags: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class MetricPoint:
    key: str
    value: float
    timestamp: int
    step: int
    run_id: str | None = None


@dataclass(slots=True)
class DatasetInputView:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None
    profile: str | None
    tags: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class RunView:
    run_id: str
    run_name: str | None
    experiment_id: int
    user_id: str | None
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str | None
    lifecycle_stage: str
    metrics: list[MetricPoint] = field(default_factory=list)
    params: list[tuple[str, str]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    dataset_inputs: list[DatasetInputView] = field(default_factory=list)
    model_inputs: list[str] = field(default_factory=list)
    model_outputs: list[tuple[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class Page:
    items: list
    next_offset: int | None = None


@dataclass(slots=True)
class VersionView:
    """A model version of record; ``tags`` and ``aliases`` are this view's own lists."""

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None
    user_id: str | None
    current_stage: str
    source: str | None
    run_id: str | None
    run_link: str | None
    status: str
    status_message: str | None
    model_id: str | None
    storage_location: str | None
    tags: list[tuple[str, str]] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ModelView:
    """A registered model with its latest version per stage, tags and (alias, version) pairs."""

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str | None
    latest_versions: list[VersionView] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    aliases: list[tuple[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class LoggedModelView:
    model_id: str
    experiment_id: int
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: str
    status_message: str | None
    model_type: str | None
    source_run_id: str | None
    lifecycle_stage: str
    tags: list[tuple[str, str]] = field(default_factory=list)
    params: list[tuple[str, str]] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
