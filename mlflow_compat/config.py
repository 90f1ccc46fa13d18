"""Server configuration, resolved once from CLI flags and environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

from registry_core.artifacts import KEEP_RECENT

DEFAULT_DATA_DIR = "modelops-data"
PROXIED_ROOT = "mlflow-artifacts:/"
KEEP_RECENT_MB = KEEP_RECENT // (1024 * 1024)


@dataclass(frozen=True)
class ServerConfig:
    backend_store_uri: str
    default_artifact_root: str
    artifacts_destination: str
    serve_artifacts: bool = True
    static_prefix: str = ""
    artifacts_page_cache: str = "bounded"  # the local artifact store's (storage.pagecache)
    artifacts_keep_recent_mb: int = KEEP_RECENT_MB  # of the large files written last, kept cached

    @classmethod
    def resolve(
        cls,
        backend_store_uri: str | None = None,
        default_artifact_root: str | None = None,
        artifacts_destination: str | None = None,
        serve_artifacts: bool = True,
        static_prefix: str | None = None,
        artifacts_page_cache: str = "bounded",
        artifacts_keep_recent_mb: int = KEEP_RECENT_MB,
    ) -> ServerConfig:
        """MLflow's rules: with proxied artifacts and no explicit root, runs get
        ``mlflow-artifacts:/`` URIs and the bytes land in ``artifacts_destination``."""
        backend = backend_store_uri or f"sqlite:///{DEFAULT_DATA_DIR}/mlflow.db"
        destination = artifacts_destination or os.path.abspath(os.path.join(DEFAULT_DATA_DIR, "artifacts"))
        if default_artifact_root:
            root = default_artifact_root
        elif serve_artifacts:
            root = PROXIED_ROOT
        else:
            root = destination
        prefix = (static_prefix or "").rstrip("/")
        if prefix and not prefix.startswith("/"):
            raise ValueError(f"--static-prefix must begin with '/': {static_prefix!r}")
        if artifacts_keep_recent_mb < 0:
            raise ValueError(f"--artifacts-keep-recent-mb must be 0 or more: {artifacts_keep_recent_mb}")
        return cls(backend, root, destination, serve_artifacts, prefix, artifacts_page_cache, artifacts_keep_recent_mb)
