"""Artifact access for the registry: which store holds an artifact URI, and the operations on it.

The server owns one artifact destination (local folder or s3://bucket/prefix). Runs, logged models
and model versions carry MLflow artifact URIs (``mlflow-artifacts:/<exp>/<run>/artifacts``, or the
destination's own URIs when artifacts are not proxied); ``resolve`` maps such a URI to a path
inside the destination and refuses everything else, so no request can make the server read or
write outside its store. Storage errors become core errors here.
"""
from __future__ import annotations

import contextlib
import os
import posixpath
from urllib.parse import urlsplit

import storage
from storage.base import (
    ArtifactNotFound, FileInfo, InvalidRequest, NotSupported, StorageError, UnsafePath,
)
from storage.pagecache import KEEP_RECENT
from storage.paths import safe_relpath

from registry_core.errors import Forbidden, InvalidInput, NotFound, StoreUnavailable, Unsupported

PROXY_SCHEME = "mlflow-artifacts"
# Model version snapshots live under this top-level folder (experiment folders are numeric).
REGISTRY_ROOT = "registry"
CHUNK_SIZE = 1024 * 1024


@contextlib.contextmanager
def mapped_errors():
    try:
        yield
    except UnsafePath as exc:
        raise InvalidInput(f"Invalid path: {exc}") from None
    except ArtifactNotFound as exc:
        raise NotFound(str(exc) or "Artifact not found") from None
    except NotSupported as exc:
        raise Unsupported(str(exc)) from None
    except InvalidRequest as exc:
        raise InvalidInput(str(exc)) from None
    except StorageError as exc:
        raise StoreUnavailable(f"Artifact store error: {exc}") from None


def _clean(path: str | None) -> str:
    if path in (None, "", "/"):
        return ""
    try:  # mapped_errors' mapping, without a context manager for each of a request's few paths
        return safe_relpath(path)
    except UnsafePath as exc:
        raise InvalidInput(f"Invalid path: {exc}") from None


class ArtifactRepository:
    """The server's artifact destination and the URIs that point into it."""

    def __init__(self, destination: str, page_cache: str = "bounded", keep_recent: int = KEEP_RECENT):
        self.destination = destination
        self.store = storage.open_store(destination, page_cache=page_cache, keep_recent=keep_recent)
        self._prefixes = self._own_prefixes(destination)

    @staticmethod
    def _own_prefixes(destination: str) -> list[str]:
        if "://" in destination and not destination.startswith("file://"):
            return [destination.rstrip("/") + "/"]
        local = destination[len("file://"):] if destination.startswith("file://") else destination
        local = os.path.abspath(local).rstrip("/")
        return [local + "/", "file://" + local + "/"]

    # --- URIs -------------------------------------------------------------------------------

    def resolve(self, artifact_uri: str, relative: str | None = None) -> str:
        """The store path of ``relative`` under ``artifact_uri``; refuses foreign URIs."""
        base = self._store_path(artifact_uri)
        rel = _clean(relative)
        return posixpath.join(base, rel) if base and rel else (base or rel)

    def _store_path(self, uri: str) -> str:
        if not uri:
            raise InvalidInput("Empty artifact URI")
        parts = urlsplit(uri)
        if parts.scheme == PROXY_SCHEME:
            # mlflow-artifacts:/1/x, or mlflow-artifacts://host:port/1/x as older clients form it
            return _clean(parts.path.lstrip("/"))
        for prefix in self._prefixes:
            if uri.startswith(prefix):
                return _clean(uri[len(prefix):])
            if uri.rstrip("/") == prefix.rstrip("/"):
                return ""
        raise InvalidInput(
            f"Artifact URI '{uri}' is outside this server's artifact store; the server only "
            "serves artifacts it stores itself"
        )

    def owns(self, uri: str) -> bool:
        try:
            self._store_path(uri)
            return True
        except InvalidInput:
            return False

    def uri_for(self, store_path: str, proxied: bool) -> str:
        """An artifact URI for a store path, as clients see it."""
        if proxied:
            return f"{PROXY_SCHEME}:/{store_path}"
        return self._prefixes[-1] + store_path

    # --- operations (paths are store paths, already resolved or cleaned) -----------------------

    @staticmethod
    def _writable(path: str) -> str:
        if path == REGISTRY_ROOT or path.startswith(REGISTRY_ROOT + "/"):
            raise Forbidden(
                f"'{path}' belongs to a registered model version, whose artifacts never change"
            )
        return path

    def upload(self, path: str, stream, length: int | None) -> int:
        path = self._writable(_clean(path))
        if not path:
            raise InvalidInput("An artifact path is required")
        with mapped_errors():
            return self.store.write(path, stream, length)

    def download(self, path: str, start: int | None = None, end: int | None = None,
                 views: bool = False):
        """(chunk iterator, total size) of a file; ``views``: as ``ArtifactStore.open_read``."""
        path = _clean(path)
        with mapped_errors():
            if not path or self.store.is_dir(path):
                raise ArtifactNotFound(f"Artifact '{path}' not found")
            return self.store.open_read(path, start, end, views=views)

    def size(self, path: str) -> int:
        with mapped_errors():
            return self.store.size(_clean(path))

    def list(self, path: str) -> list[FileInfo]:
        """One directory level, names relative to ``path``; [] for a missing path or a file."""
        with mapped_errors():
            return self.store.list_dir(_clean(path))

    def delete(self, path: str) -> None:
        path = self._writable(_clean(path))
        if not path:
            raise InvalidInput("Refusing to delete the artifact root")
        with mapped_errors():
            try:
                self.store.delete(path)
            except ArtifactNotFound:
                pass  # deleting what is already gone succeeds, as in MLflow

    @property
    def supports_multipart(self) -> bool:
        return bool(getattr(self.store, "supports_multipart", False))

    def create_multipart(self, directory: str, filename: str, num_parts: int):
        """(upload_id, [MultipartPart]) for ``directory/basename(filename)``."""
        path = self._writable(self._mpu_path(directory, filename))
        with mapped_errors():
            upload_id = self.store.create_multipart(path)
            return upload_id, self.store.multipart_part_urls(path, upload_id, num_parts)

    def complete_multipart(self, directory: str, filename: str, upload_id: str, parts) -> None:
        with mapped_errors():
            self.store.complete_multipart(self._mpu_path(directory, filename), upload_id, parts)

    def abort_multipart(self, directory: str, filename: str, upload_id: str) -> None:
        with mapped_errors():
            self.store.abort_multipart(self._mpu_path(directory, filename), upload_id)

    def presigned_get(self, path: str):
        with mapped_errors():
            path = _clean(path)
            size = self.store.size(path)
            url, headers = self.store.presigned_get(path)
            return url, headers, size

    def copy_tree(self, src: str, dst: str) -> int:
        """Copy the file or directory tree at ``src`` to ``dst`` the store's cheapest way (hard
        links on disk, server-side copies on S3); files copied."""
        src, dst = _clean(src), _clean(dst)
        with mapped_errors():
            return self.store.copy_tree(src, dst)

    def _mpu_path(self, directory: str, filename: str) -> str:
        name = posixpath.basename((filename or "").replace("\\", "/"))
        if not name:
            raise InvalidInput("Missing value for required parameter 'path'.")
        return _clean(posixpath.join(_clean(directory), name))
