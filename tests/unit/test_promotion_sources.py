"""registry_core.sources: how model-version sources are parsed and confined, without a
database (the API tests in tests/api/test_registry_api.py cover resolution end to end)."""

from __future__ import annotations

import pytest

from registry_core import sources
from registry_core.artifacts import ArtifactRepository
from registry_core.errors import InvalidInput


def _no_lookup(*args):
    raise AssertionError("a source refused on its face must not read any run")


def test_parse_models_uri():
    parse = sources.parse_models_uri
    assert parse("models:/m-0123abcd") == ("m-0123abcd", None, None, None, None)
    assert parse("models:/fraud/3") == (None, "fraud", 3, None, None)
    assert parse("models:/fraud/latest") == (None, "fraud", None, None, None)
    assert parse("models:/fraud/Latest") == (None, "fraud", None, None, None)
    assert parse("models:/fraud/production") == (None, "fraud", None, "Production", None)
    assert parse("models:/fraud@champion") == (None, "fraud", None, None, "champion")
    for bad in ("models:/", "models:", "models:/a/b/c", "models:/fraud/", "models:/fraud@", "models:/ /1"):
        with pytest.raises(InvalidInput):
            parse(bad)
    with pytest.raises(InvalidInput):
        parse("models:/fraud/NotAStage")


def test_within_is_a_path_prefix_test():
    within = sources.within
    root = "mlflow-artifacts:/1/abc/artifacts"
    assert within(f"{root}/model", root)
    assert within(root, root)
    assert within(f"{root}/", root)
    assert within("mlflow-artifacts:/1/abc/artifacts/%6Dodel", root)  # decoded segments compare
    assert not within("mlflow-artifacts:/1/abc/artifacts2/model", root)  # not a string prefix test
    assert not within("mlflow-artifacts:/1/abd/artifacts/model", root)
    assert not within("mlflow-artifacts://host/1/abc/artifacts/model", root)  # authority counts
    assert not within("file:///1/abc/artifacts/model", root)  # scheme counts
    assert not within("mlflow-artifacts:/1", root)
    assert not within("mlflow-artifacts:/x", "mlflow-artifacts:/")  # an empty root contains nothing
    assert within("/data/1/abc/artifacts/model", "/data/1/abc/artifacts")
    assert not within("/data/1/abc/artifactsX", "/data/1/abc/artifacts")


@pytest.mark.parametrize(
    "source",
    [
        "/etc/passwd",
        "file:///etc/passwd",
        "../x",
        "a\\b",
        "x\x00y",
        "https://evil/x",
        "http://127.0.0.1/x",
        "ftp://evil/x",
        "mlflow-artifacts://evil/1/x",
        "models://host/x",
        "runs://host/abc/model",
        "runs:/abc/model",
        "runs:/abc/../../x",
        "runs:/abc/..%2f..%2fx",
        "runs:/abc/%252e%252e/x",
        "runs:/abc/model%00",
        "mlflow-artifacts:/1/abc/artifacts/../../x",
        "mlflow-artifacts:/1/abc/%2e%2e/x",
        "s3://bucket/a/../b",
    ],
)
def test_hostile_sources_fail_before_any_lookup(source, tmp_path):
    """Refused on their face, as MLflow 3.17.2 refuses them (a local path needs a run_id, runs:/
    must name the run_id given, no traversal in any encoding, no foreign host): no run, model or
    store is consulted."""
    repo = ArtifactRepository(str(tmp_path / "store"))
    with pytest.raises(InvalidInput):
        sources.resolve(source, None, None, repo, False, _no_lookup)


@pytest.mark.parametrize("source", ["s3://other-bucket/x", "gs://bucket/model", "hdfs:///x"])
def test_uris_mlflow_accepts_as_they_are_are_kept_unverified(source, tmp_path):
    """MLflow accepts an object-store URI without a run: a version, kept by reference, never read."""
    repo = ArtifactRepository(str(tmp_path / "store"))
    if source.startswith("hdfs"):
        with pytest.raises(InvalidInput):  # hdfs names a host (its default one): the host policy
            sources.resolve(source, None, None, repo, False, _no_lookup)
        return
    resolved = sources.resolve(source, None, None, repo, False, _no_lookup)
    assert resolved.location is None and resolved.storage_location == source
    assert resolved.unverified


def test_a_file_uri_of_another_host_is_mlflows_internal_error(tmp_path):
    from registry_core.artifacts import RemoteFileUri

    repo = ArtifactRepository(str(tmp_path / "store"))
    with pytest.raises(RemoteFileUri, match="is not a valid remote uri"):
        sources.resolve("file://123.456.789.123/path/to/source", "r" * 32, None, repo, False, _no_lookup)


def test_prompt_sources_are_placeholders_only(tmp_path):
    repo = ArtifactRepository(str(tmp_path / "store"))
    for placeholder in sources.PROMPT_SOURCES:
        resolved = sources.resolve(placeholder, None, None, repo, True, _no_lookup)
        assert resolved.location is None
    for source in ("runs:/abc/model", "/etc/passwd", "models:/p/1"):
        with pytest.raises(InvalidInput):
            sources.resolve(source, None, None, repo, True, _no_lookup)
