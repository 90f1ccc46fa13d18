"""Server configuration, resolved once from CLI flags and environment variables."""
from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DATA_DIR = "modelops-data"
PROXIED_ROOT = "mlflow-artifacts:/"


@dataclass(frozen=True)
class ServerConfig:
    backend_store_uri: str
    default_artifact_root: str
    artifacts_destination: str
    serve_artifacts: bool = True
    static_prefix: str = ""
    artifacts_page_cache: str = "bounded"  # the local artifact store's (storage.pagecache)

    @classmethod
    def resolve(
        cls,
        backend_store_uri: str | None = None,
        default_artifact_root: str | None = None,
        artifacts_destination: str | None = None,
        serve_artifacts: bool = True,
        static_prefix: str | None = None,
        artifacts_page_cache: str = "bounded",
    ) -> "ServerConfig":
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
        return cls(backend, root, destination, serve_artifacts, prefix, artifacts_page_cache)
