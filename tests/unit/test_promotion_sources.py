"""registry_core.promotion: how model-version sources are parsed and confined, without a
database (the API tests in tests/api/test_registry_api.py cover resolution end to end)."""
from __future__ import annotations

import pytest

from registry_core import promotion
from registry_core.artifacts import ArtifactRepository
from registry_core.errors import InvalidInput


def test_parse_models_uri():
    parse = promotion._parse_models_uri
    assert parse("models:/m-0123abcd") == ("m-0123abcd", None, None, None, None)
    assert parse("models:/fraud/3") == (None, "fraud", 3, None, None)
    assert parse("models:/fraud/latest") == (None, "fraud", None, None, None)
    assert parse("models:/fraud/Latest") == (None, "fraud", None, None, None)
    assert parse("models:/fraud/production") == (None, "fraud", None, "Production", None)
    assert parse("models:/fraud@champion") == (None, "fraud", None, None, "champion")
    for bad in ("models://host/x", "models://host/fraud/1", "models:/", "models:", "models:/a/b/c",
                "models:/fraud/", "models:/fraud@", "models:/ /1"):
        with pytest.raises(InvalidInput):
            parse(bad)
    with pytest.raises(InvalidInput):
        parse("models:/fraud/NotAStage")


def test_within_is_a_path_prefix_test():
    within = promotion._within
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


@pytest.mark.parametrize("source", [
    "", "/etc/passwd", "file:///etc/passwd", "../x", "a\\b", "x\x00y", "https://evil/x", "http://127.0.0.1/x",
    "s3://other-bucket/x", "models://host/x", "runs:/abc/../../x", "runs:/abc/..%2f..%2fx",
    "runs:/abc/%252e%252e/x", "mlflow-artifacts:/1/abc/artifacts/../../x", "mlflow-artifacts:/1/abc/%2e%2e/x",
])
def test_hostile_sources_fail_before_any_lookup(source, tmp_path):
    """Refused on their face: no run, model or store is consulted (no database bound here)."""
    repo = ArtifactRepository(str(tmp_path / "store"))
    with pytest.raises(InvalidInput):
        promotion.resolve_source(source, None, None, repo, prompt=False)


def test_prompt_sources_are_placeholders_only(tmp_path):
    repo = ArtifactRepository(str(tmp_path / "store"))
    for placeholder in promotion.PROMPT_SOURCES:
        resolved = promotion.resolve_source(placeholder, None, None, repo, prompt=True)
        assert resolved.location is None
    for source in ("runs:/abc/model", "/etc/passwd", "models:/p/1"):
        with pytest.raises(InvalidInput):
            promotion.resolve_source(source, None, None, repo, prompt=True)
