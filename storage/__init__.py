"""Artifact stores: where artifact bytes live (local disk or S3/MinIO).

This package depends on nothing else in the project (nor on flask or peewee); the registry
core and the wire layer depend on it.
"""

from __future__ import annotations

import os
import urllib.parse
import urllib.request

from storage.base import (
    CHUNK_SIZE,
    MULTIPART_DOWNLOAD_UNSUPPORTED,
    MULTIPART_UPLOAD_UNSUPPORTED,
    ArtifactNotFound,
    ArtifactStore,
    ByteChunks,
    FileInfo,
    InvalidRange,
    InvalidRequest,
    MultipartPart,
    NotSupported,
    StorageError,
    UnsafePath,
)
from storage.local import LocalArtifactStore
from storage.pagecache import KEEP_RECENT
from storage.paths import join_relpath, safe_relpath, split_relpath

__all__ = [
    "CHUNK_SIZE",
    "MULTIPART_DOWNLOAD_UNSUPPORTED",
    "MULTIPART_UPLOAD_UNSUPPORTED",
    "ArtifactNotFound",
    "ArtifactStore",
    "ByteChunks",
    "FileInfo",
    "InvalidRange",
    "InvalidRequest",
    "LocalArtifactStore",
    "MultipartPart",
    "NotSupported",
    "S3ArtifactStore",
    "StorageError",
    "UnsafePath",
    "join_relpath",
    "open_store",
    "safe_relpath",
    "split_relpath",
]


def __getattr__(name: str):
    # S3ArtifactStore is imported lazily so that local-only use does not load minio/urllib3.
    if name == "S3ArtifactStore":
        from storage.s3 import S3ArtifactStore

        return S3ArtifactStore
    raise AttributeError(f"module 'storage' has no attribute {name!r}")


def open_store(
    uri_or_path: str | os.PathLike, page_cache: str = "bounded", keep_recent: int = KEEP_RECENT
) -> ArtifactStore:
    """The artifact store for a destination URI:

    * ``s3://bucket/prefix`` -> :class:`S3ArtifactStore` (endpoint and credentials from the
      environment, as for MLflow: ``MLFLOW_S3_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...);
    * ``file:///abs/path``, ``file:relative/path`` or a plain path -> :class:`LocalArtifactStore`
      (the directory is created if missing).

    Anything else raises ``ValueError``. ``page_cache`` and ``keep_recent`` (bytes) are the local
    store's (see :class:`LocalArtifactStore`); S3 has no use for them.
    """
    if isinstance(uri_or_path, os.PathLike):
        return LocalArtifactStore(os.fspath(uri_or_path), page_cache=page_cache, keep_recent=keep_recent)
    if not isinstance(uri_or_path, str) or not uri_or_path.strip():
        raise ValueError(f"An artifact destination is required, got {uri_or_path!r}")
    target = uri_or_path.strip()
    parsed = urllib.parse.urlsplit(target)
    scheme = parsed.scheme.lower()
    if scheme == "s3":
        from storage.s3 import S3ArtifactStore

        return S3ArtifactStore.from_uri(target)
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValueError(f"file:// URIs must point at this machine, got {target!r}")
        if parsed.query or parsed.fragment:
            raise ValueError(f"file:// URI must not have a query or fragment: {target!r}")
        path = urllib.request.url2pathname(parsed.path)
        if not path:
            raise ValueError(f"file:// URI without a path: {target!r}")
        return LocalArtifactStore(path, page_cache=page_cache, keep_recent=keep_recent)
    if scheme == "" or (len(scheme) == 1 and os.name == "nt"):  # C:\... on Windows
        return LocalArtifactStore(target, page_cache=page_cache, keep_recent=keep_recent)
    raise ValueError(
        f"Unsupported artifact destination {target!r}: scheme {parsed.scheme!r} is not supported "
        "(use s3://bucket/prefix, file:///path or a local directory path)"
    )
