"""Fixtures shared by the unit and API tests: a fresh registry database per test on every
reachable backend, and a Flask test client over it."""

from __future__ import annotations

import pytest

from tests import databases

BACKENDS = databases.backends()


@pytest.fixture(params=BACKENDS)
def backend_uri(request, tmp_path):
    with databases.fresh_database(request.param, tmp_path) as uri:
        yield uri


@pytest.fixture
def registry_db(backend_uri):
    """The registry schema on a fresh database, bound to the models."""
    from registry_core import db as core_db
    from registry_core import schema

    database = core_db.open_database(backend_uri)
    schema.upgrade(database, "mlflow-artifacts:/")
    database.connect(reuse_if_open=True)
    yield database
    database.close()
    if hasattr(database, "close_all"):
        database.close_all()


@pytest.fixture
def app(registry_db, backend_uri, tmp_path):
    """The app over the test's database; its artifacts under the test's own tmp_path, never the
    working directory's ./modelops-data."""
    from mlflow_compat.app import create_app
    from mlflow_compat.config import ServerConfig

    config = ServerConfig.resolve(backend_store_uri=backend_uri, artifacts_destination=str(tmp_path / "artifacts"))
    application = create_app(config, database=registry_db)
    application.testing = True
    return application


@pytest.fixture
def client(app):
    return app.test_client()
