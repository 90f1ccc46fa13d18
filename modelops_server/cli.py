"""``modelops`` command line: ``modelops server`` (flags and env vars of ``mlflow server``)
and ``modelops db upgrade URI``."""

from __future__ import annotations

import shlex
import sys

import click

from mlflow_compat.config import KEEP_RECENT_MB, ServerConfig

WORKERS = ("modelops", "gthread")  # --worker: modelops_server.serve.worker_class


@click.group()
def main():
    """modelops-registry: a model registry and experiment tracker speaking the MLflow protocol."""


def _prepare(config: ServerConfig) -> None:
    """Create an empty database's schema, or refuse to serve an outdated one. This process then
    forks the workers: it starts no checkpoint thread, for a thread inside SQLite at the fork
    would leave SQLite's mutex locked in the worker, whose first connection then waits forever."""
    from registry_core import db as core_db
    from registry_core import schema

    database = core_db.open_database(config.backend_store_uri, checkpoints=False)
    try:
        schema.check(database, config.default_artifact_root)
    except core_db.SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if hasattr(database, "close_all"):
            database.close_all()
        elif not database.is_closed():
            database.close()


@main.command()
@click.option(
    "--host",
    "-h",
    envvar="MLFLOW_HOST",
    default="127.0.0.1",
    show_default=True,
    help="The network address to listen on.",
)
@click.option("--port", "-p", envvar="MLFLOW_PORT", default=5000, type=int, show_default=True)
@click.option(
    "--backend-store-uri",
    envvar="MLFLOW_BACKEND_STORE_URI",
    default=None,
    help="sqlite:///path.db, postgresql://user:pw@host/db or mysql://user:pw@host/db "
    "(default: sqlite:///modelops-data/mlflow.db).",
)
@click.option(
    "--default-artifact-root",
    envvar="MLFLOW_DEFAULT_ARTIFACT_ROOT",
    default=None,
    help="Artifact root for new experiments (default: mlflow-artifacts:/ when serving "
    "artifacts, else the artifacts destination).",
)
@click.option(
    "--artifacts-destination",
    envvar="MLFLOW_ARTIFACTS_DESTINATION",
    default=None,
    help="Where proxied artifacts are stored: a local path or s3://bucket/prefix (default: ./modelops-data/artifacts).",
)
@click.option(
    "--serve-artifacts/--no-serve-artifacts",
    envvar="MLFLOW_SERVE_ARTIFACTS",
    default=True,
    show_default=True,
    help="Proxy artifact uploads and downloads through this server.",
)
@click.option(
    "--workers",
    "-w",
    envvar="MLFLOW_WORKERS",
    default=1,
    type=int,
    show_default=True,
    help="Number of gunicorn worker processes.",
)
@click.option(
    "--threads", envvar="MODELOPS_THREADS", default=4, type=int, show_default=True, help="Threads per worker."
)
@click.option(
    "--worker",
    envvar="MODELOPS_WORKER",
    type=click.Choice(WORKERS),
    default="modelops",
    show_default=True,
    help="The gunicorn worker: 'modelops' (this server's epoll worker and its gunicorn patches) "
    "or 'gthread' (gunicorn's stock threaded worker, unpatched, serving the same app).",
)
@click.option(
    "--artifacts-page-cache",
    envvar="MODELOPS_ARTIFACTS_PAGE_CACHE",
    type=click.Choice(["bounded", "kernel"]),
    default="bounded",
    show_default=True,
    help="A local artifact destination's large files: 'bounded' keeps them out of the "
    "page cache but for the ones written last (direct I/O from 16 MiB; else written "
    "behind and dropped as they stream, about 16 MiB each), 'kernel' leaves caching "
    "to the kernel.",
)
@click.option(
    "--artifacts-keep-recent-mb",
    envvar="MODELOPS_ARTIFACTS_KEEP_RECENT_MB",
    type=click.IntRange(min=0),
    default=KEEP_RECENT_MB,
    show_default=True,
    help="With 'bounded': the large files written last stay in the page cache, up to this "
    "many MiB per worker, so a download soon after an upload is served from memory; "
    "the oldest is dropped as new ones arrive. 0: none stay.",
)
@click.option(
    "--static-prefix", envvar="MLFLOW_STATIC_PREFIX", default=None, help="A path prefix for every route, e.g. /mlflow."
)
@click.option(
    "--gunicorn-opts",
    envvar="MLFLOW_GUNICORN_OPTS",
    default=None,
    help="Extra gunicorn command-line options, e.g. '--timeout 300'.",
)
def server(
    host,
    port,
    backend_store_uri,
    default_artifact_root,
    artifacts_destination,
    serve_artifacts,
    workers,
    threads,
    worker,
    artifacts_page_cache,
    artifacts_keep_recent_mb,
    static_prefix,
    gunicorn_opts,
):
    """Run the tracking and registry server."""
    try:
        config = ServerConfig.resolve(
            backend_store_uri,
            default_artifact_root,
            artifacts_destination,
            serve_artifacts,
            static_prefix,
            artifacts_page_cache,
            artifacts_keep_recent_mb,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    _prepare(config)
    from modelops_server.serve import run_gunicorn

    run_gunicorn(config, host, port, workers, threads, shlex.split(gunicorn_opts or ""), worker=worker)


@main.group()
def db():
    """Database schema commands."""


@db.command("upgrade")
@click.argument("url")
@click.option(
    "--default-artifact-root",
    default="mlflow-artifacts:/",
    show_default=True,
    help="Artifact root recorded for the Default experiment of a new database.",
)
def upgrade(url, default_artifact_root):
    """Create or upgrade the schema of the database at URL."""
    from registry_core import db as core_db
    from registry_core import schema

    database = core_db.open_database(url, checkpoints=False)  # a one-off command: no background thread
    try:
        version = schema.upgrade(database, default_artifact_root)
    except core_db.SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Database schema is at version {version}.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
