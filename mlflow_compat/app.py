"""The Flask app factory: routes, per-request database connections and MLflow's error JSON."""

from __future__ import annotations

import logging

import peewee
from flask import Blueprint, Flask, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from mlflow_compat.api import (
    artifacts,
    experiments,
    logged_models,
    meta,
    metrics,
    model_versions,
    registered_models,
    runs,
)
from mlflow_compat.config import ServerConfig
from mlflow_compat.errors import MlflowError
from mlflow_compat.wire import body_in_memory, error_response, json_response
from registry_core import db as core_db
from registry_core.artifacts import ArtifactRepository
from registry_core.errors import RegistryError

log = logging.getLogger("modelops")

_DRAIN_LIMIT = 1024 * 1024  # unread request bytes read and dropped to keep a connection alive

# (blueprint, API versions it is served under); each under /api/<v>/mlflow and /ajax-api/<v>/mlflow
_RESOURCES = [
    (experiments.bp, ("2.0",)),
    (runs.bp, ("2.0",)),
    (metrics.bp, ("2.0", "2.11")),
    (logged_models.bp, ("2.0",)),
    (artifacts.tracking, ("2.0",)),
    (registered_models.bp, ("2.0",)),
    (model_versions.bp, ("2.0",)),
]


def _mount(
    app: Flask, bp: Blueprint, prefix: str, versions, service: str = "mlflow", roots=("api", "ajax-api")
) -> None:
    for version in versions:
        for root in roots:
            name = f"{bp.name}_{root.replace('-', '_')}_{version.replace('.', '_')}"
            app.register_blueprint(bp, url_prefix=f"{prefix}/{root}/{version}/{service}", name=name)


def create_app(config: ServerConfig, database=None) -> Flask:
    """``database``: an already bound peewee database (tests); else opened from the config."""
    app = Flask("modelops", static_folder=None)  # no static files: nothing served from the cwd
    app.config["MODELOPS"] = config
    app.url_map.strict_slashes = False
    db = database or core_db.bind(config.backend_store_uri)
    prefix = config.static_prefix

    for bp, versions in _RESOURCES:
        _mount(app, bp, prefix, versions)
    for bp in (metrics.ajax, experiments.ajax, runs.ajax, artifacts.ajax):  # the UI's own routes
        _mount(app, bp, prefix, ("2.0",), roots=("ajax-api",))
    _mount(app, artifacts.proxy, prefix, ("2.0",), service="mlflow-artifacts")
    _mount(app, model_versions.native, prefix, ("2.0",), service="modelops")
    app.register_blueprint(meta.bp, url_prefix=prefix or None)
    app.register_blueprint(artifacts.ui, url_prefix=prefix or None)
    app.register_blueprint(model_versions.ui, url_prefix=prefix or None)
    app.extensions["modelops.artifacts"] = ArtifactRepository(
        config.artifacts_destination,
        config.artifacts_page_cache,
        config.artifacts_keep_recent_mb * 1024 * 1024,
        default_root=config.default_artifact_root,
    )

    @app.before_request
    def _connect():
        core_db.begin_work()
        core_db.connect(db)

    # A pooled connection (PostgreSQL, MySQL) goes back to its pool after each request; a SQLite
    # connection stays open in its worker thread, sparing every request the open and the pragmas.
    if core_db.dialect(db) != "sqlite":

        @app.teardown_request
        def _close(exc):
            if not db.is_closed():
                db.close()

    @app.after_request
    def _finish_request_body(response):
        """A handler that answered without reading the whole body (a DELETE with a JSON body,
        a write refused before its upload) leaves bytes on a keep-alive connection; the worker
        may then drop it and the client's next request fails. Small leftovers are read and
        dropped; a large one is not read: the connection is closed after this response."""
        if body_in_memory(request.environ):
            return response
        stream = request.stream
        if getattr(stream, "is_exhausted", False) or not (
            request.content_length or request.headers.get("Transfer-Encoding")
        ):
            return response
        if (request.content_length or 0) > _DRAIN_LIMIT:  # refused unread (over its limit): not read now
            response.headers["Connection"] = "close"
            return response
        budget = _DRAIN_LIMIT
        while budget > 0:
            chunk = stream.read(min(64 * 1024, budget))
            if not chunk:
                return response
            budget -= len(chunk)
        response.headers["Connection"] = "close"
        return response

    _install_error_handlers(app)
    return app


def _install_error_handlers(app: Flask) -> None:
    def _retry_or_fail(err):
        """A refusal for load: 503 with Retry-After (the MLflow client retries it) while nothing of
        this request was applied; once something was (a write committed before a read-back met
        the refusal), a retry would apply it twice, so it is a 500."""
        if core_db.work_applied():
            log.error("refused for load after part of the request was applied: %s", err)
            return error_response(
                MlflowError("Internal error: the database refused the request part way", "INTERNAL_ERROR")
            )
        log.warning("refused for load, nothing applied: %s (%s)", err, err.__cause__ or "no cause")
        message = err.message if isinstance(err, RegistryError) else "The database is busy; retry the request"
        return error_response(MlflowError(message, "TEMPORARILY_UNAVAILABLE"), {"Retry-After": "1"})

    @app.errorhandler(MlflowError)
    def _mlflow_error(err: MlflowError):
        return error_response(err)

    @app.errorhandler(RegistryError)
    def _core_error(err: RegistryError):
        mapped = MlflowError.from_core(err)
        if mapped.status == 503:
            return _retry_or_fail(err)
        return error_response(mapped)

    @app.errorhandler(NotFound)
    def _not_found(err):
        return error_response(MlflowError(f"No API endpoint at {request.path}", "ENDPOINT_NOT_FOUND"))

    @app.errorhandler(MethodNotAllowed)
    def _method_not_allowed(err: MethodNotAllowed):
        body = MlflowError(f"The method {request.method} is not allowed for {request.path}", "BAD_REQUEST").to_json()
        headers = {"Allow": ", ".join(sorted(err.valid_methods or []))}
        return json_response(body, 405, headers)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = "BAD_REQUEST" if err.code and err.code < 500 else "INTERNAL_ERROR"
        return json_response(MlflowError(err.description or err.name, code).to_json(), err.code or 500)

    @app.errorhandler(peewee.DataError)
    def _bad_value(err):
        # A value the database cannot hold (too long, out of range): the request's fault.
        return error_response(MlflowError(f"Invalid value: the database refused it ({err})", "INVALID_PARAMETER_VALUE"))

    @app.errorhandler(Exception)
    def _unexpected(err):
        if core_db.is_transient(err):  # the database refused for load and rolled back
            return _retry_or_fail(err)
        log.exception("unhandled error")
        if isinstance(err, peewee.DatabaseError):
            return error_response(MlflowError("Internal database error", "INTERNAL_ERROR"))
        return error_response(MlflowError(f"Internal error: {type(err).__name__}", "INTERNAL_ERROR"))
