"""Schema step 5: ``model_versions.source_unverified``. A version-4 database (every version
verified, the server refused any other source then) is upgraded to the schema a new database
gets; its versions read as verified, and new unverified ones are recorded after the upgrade; also
when an earlier upgrade stopped after adding the column (MySQL commits each DDL statement)."""

from __future__ import annotations

import io

import pytest

from registry_core import candidates, experiments, promotion, registered_models, schema
from registry_core import db as core_db
from registry_core.artifacts import ArtifactRepository

ROOT = "mlflow-artifacts:/"


def _columns(database):
    return [(c.name, c.data_type.lower(), c.null) for c in database.get_columns("model_versions")]


def _promote(repo, name, source, run_id):
    return promotion.promote(name, source, run_id=run_id, tags=[], repo=repo, proxied=True)


@pytest.mark.parametrize("interrupted", [False, True])
def test_upgrade_from_v4_keeps_versions_verified(backend_uri, tmp_path, interrupted):
    repo = ArtifactRepository(str(tmp_path / "store"), default_root=ROOT)
    database = core_db.open_database(backend_uri)
    try:
        schema.upgrade(database, ROOT)
        with database.connection_context():
            fresh = _columns(database)
            assert ("source_unverified", fresh[-1][1], True) in fresh
            eid = experiments.create("upgrade", None, [], ROOT)
            run = candidates.create(eid, "u", 1, [], "r")
            repo.write_at(run.artifact_uri, "model/MLmodel", io.BytesIO(b"flavors: {}\n"), 12)
            registered_models.create_model("m", [], None)
            _promote(repo, "m", f"runs:/{run.run_id}/model", run.run_id)
            if not interrupted:
                database.execute_sql("ALTER TABLE model_versions DROP COLUMN source_unverified")
            database.execute_sql("UPDATE modelops_schema SET version = 4")
        with pytest.raises(core_db.SchemaError, match="modelops db upgrade"):
            schema.check(database, ROOT)
        assert schema.upgrade(database, ROOT) == core_db.SCHEMA_VERSION == 5
        with database.connection_context():
            assert _columns(database) == fresh
            old = promotion.lineage("m", 1)
            assert old["source_verified"] is True and old["source_unverified_reason"] is None
            # after the upgrade a source this server cannot read is a version kept by reference
            _promote(repo, "m", "s3://elsewhere/model", None)
            new = promotion.lineage("m", 2)
            assert new["source_verified"] is False and new["source_unverified_reason"]
    finally:
        if hasattr(database, "close_all"):
            database.close_all()
        else:
            database.close()
