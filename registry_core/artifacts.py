"""Artifact access for the registry: where the bytes behind an artifact URI live, confined.

The server writes to one artifact destination (a local folder or s3://bucket/prefix): proxied
uploads, and the snapshots that make model versions immutable (under ``registry/``, which the
artifact API never writes). It reads from every root it hands out: the destination, through
``mlflow-artifacts:/`` URIs, the destination's own URIs and the ``http(s)://…/api/2.0/mlflow-
artifacts/artifacts/`` form of this server's proxy (resolved here, never fetched), and the
roots clients write to directly: the default artifact root and each experiment's
``artifact_location`` (``file://``, a local path or ``s3://``).

What may be read is confined to one entity's artifacts: ``locate`` opens a run's, a logged
model's or a version's own artifact URI (which the server computed, or checked to lie in the
run's or model's, at creation) as a ``Location``, and a relative path below it is refused with
MLflow's "Invalid path" if it could leave it (``..`` or absolute in any encoding, a symlink
out, a backslash). Hosts other than those of the server's own roots are never contacted
(MLflow's host policy, ``MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES``). Storage errors
become core errors here.
"""

from __future__ import annotations

import collections
import contextlib
import os
import posixpath
import threading
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import storage
from registry_core.errors import Forbidden, InvalidInput, NotFound, RegistryError, StoreUnavailable, Unsupported
from storage.base import MULTIPART_UPLOAD_UNSUPPORTED as MULTIPART_UPLOAD_UNSUPPORTED  # the protocol's 501 message
from storage.base import (
    ArtifactNotFound,
    ArtifactStore,
    FileInfo,
    InvalidRequest,
    NotSupported,
    StorageError,
    UnsafePath,
    stream_tree,
)
from storage.pagecache import KEEP_RECENT
from storage.paths import safe_relpath

PROXY_SCHEME = "mlflow-artifacts"
PROXY_ROUTE = "/api/2.0/mlflow-artifacts/artifacts/"
# Model version snapshots live under this top-level folder (experiment folders are numeric).
REGISTRY_ROOT = "registry"
CHUNK_SIZE = 1024 * 1024
INVALID_PATH = "Invalid path"
# Schemes whose URIs name a host the server would connect to (mlflow.store.artifact.host_policy).
HOST_ADDRESSED_SCHEMES = frozenset(
    {"ftp", "sftp", "hdfs", "viewfs", "http", "https", "mlflow-artifacts", "r2", "b2", "abfss"}
)
_SCHEME_FAMILIES = {"viewfs": "hdfs", "https": "http", "mlflow-artifacts": "http"}
_DEFAULT_PORTS = {
    "ftp": (21,),
    "sftp": (22,),
    "http": (80,),
    "https": (443,),
    "mlflow-artifacts": (80, 443),
    "r2": (443,),
    "b2": (443,),
    "abfss": (443,),
}
_EXTERNAL_STORES = 256  # stores opened on client-written roots, kept for reuse


class RemoteFileUri(RegistryError):
    """A ``file://`` URI naming another host: MLflow answers it with an internal error (500),
    which its own tests expect."""


@contextlib.contextmanager
def mapped_errors():
    try:
        yield
    except UnsafePath:
        raise InvalidInput(INVALID_PATH) from None
    except ArtifactNotFound as exc:
        raise NotFound(str(exc) or "Artifact not found") from None
    except NotSupported as exc:
        raise Unsupported(str(exc)) from None
    except InvalidRequest as exc:
        raise InvalidInput(str(exc)) from None
    except StorageError as exc:
        raise StoreUnavailable(f"Artifact store error: {exc}") from None


def clean_path(path: str | None) -> str:
    """A client's relative artifact path, normalised; MLflow's "Invalid path" if it could leave
    the folder it is relative to."""
    if path in (None, "", "/"):
        return ""
    try:
        return safe_relpath(path)
    except UnsafePath:
        raise InvalidInput(INVALID_PATH) from None


_clean = clean_path


def is_local_uri(uri: str) -> bool:
    """MLflow's is_local_uri: a plain path or a ``file:`` URI of this machine; a ``file:`` URI of
    another host is refused as MLflow refuses it."""
    parts = urlsplit(uri)
    if not parts.scheme:
        return True
    if parts.scheme.lower() != "file":
        return False
    host = parts.hostname
    if host and not (host == "." or host.startswith(("localhost", "127.0.0.1"))):
        raise RemoteFileUri(
            f"{uri} is not a valid remote uri. For remote access on windows, please consider using a "
            "different scheme such as SMB (e.g. smb://<hostname>/<path>)."
        )
    return True


def local_path(uri: str) -> str:
    """The filesystem path of a local URI (MLflow's local_file_uri_to_path), made absolute."""
    path = urlsplit(uri).path if uri.startswith("file:") else uri
    return os.path.abspath(urllib.request.url2pathname(path))


def _host_targets(uri: str):
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in HOST_ADDRESSED_SCHEMES or (scheme == PROXY_SCHEME and not parts.netloc):
        return None
    if "\\" in parts.netloc or any(c.isspace() for c in parts.netloc):
        return frozenset({("malformed", parts.netloc, None)})
    try:
        port = parts.port
    except ValueError:
        return frozenset({("malformed", parts.netloc, None)})
    family = _SCHEME_FAMILIES.get(scheme, scheme)
    ports = (port,) if port is not None else _DEFAULT_PORTS.get(scheme, (None,))
    return frozenset((family, (parts.hostname or "").lower(), p) for p in ports)


class HostPolicy:
    """MLflow's host policy: a URI that would make the server connect to a host is refused unless
    it is the host of one of the server's own roots (``trusted``) or its scheme is allowed by
    ``MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES``."""

    def __init__(self, *trusted: str | None):
        self._trusted = set()
        for uri in trusted:
            self._trusted |= set(_host_targets(uri or "") or ())

    def refusal(self, uri: str, field_name: str | None = None) -> str | None:
        """MLflow's refusal of ``uri`` (worded for the request field ``field_name``, if given),
        or None when the URI is acceptable."""
        targets = _host_targets(uri)
        if targets is None:
            return None
        scheme = urlsplit(uri).scheme.lower()
        allowed = os.environ.get("MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES", "")
        if scheme in {s.strip().lower() for s in allowed.split(",")} or targets & self._trusted:
            return None
        reason = (
            f"the '{scheme}' scheme addresses a host other than the tracking server's configured artifact "
            "storage, so the server would connect to the host named in the URI"
        )
        hint = "Set the MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment variable on the server to allow it."
        if field_name is not None:
            return f"'{field_name}' cannot use the '{scheme}' scheme: {reason}. {hint}"
        return f"The tracking server does not connect to artifact location '{uri}': {reason}. {hint}"


@dataclass(frozen=True, slots=True)
class Location:
    """The artifacts below one artifact URI: a store and the path there (``""``: its root).
    ``owned``: in the server's own destination (and so a snapshot there is a hard link or a
    server-side copy)."""

    store: ArtifactStore
    path: str
    owned: bool

    def child(self, relative: str | None) -> Location:
        rel = clean_path(relative)
        if not rel:
            return self
        return Location(self.store, posixpath.join(self.path, rel) if self.path else rel, self.owned)


class ArtifactRepository:
    """The server's artifact destination and read access to the roots it hands out."""

    def __init__(
        self,
        destination: str,
        page_cache: str = "bounded",
        keep_recent: int = KEEP_RECENT,
        default_root: str | None = None,
    ):
        self.destination = destination
        self.store = storage.open_store(destination, page_cache=page_cache, keep_recent=keep_recent)
        self._prefixes = self._own_prefixes(destination)
        self._page_cache = page_cache
        self.hosts = HostPolicy(default_root, destination)
        self._external: collections.OrderedDict = collections.OrderedDict()
        self._external_lock = threading.Lock()

    @staticmethod
    def _own_prefixes(destination: str) -> list[str]:
        if "://" in destination and not destination.startswith("file://"):
            return [destination.rstrip("/") + "/"]
        local = destination[len("file://") :] if destination.startswith("file://") else destination
        local = os.path.abspath(local).rstrip("/")
        return [local + "/", "file://" + local + "/"]

    # --- which URIs the server may reference ---------------------------------------------------

    def host_refusal(self, uri: str, field_name: str | None = None) -> str | None:
        return self.hosts.refusal(uri, field_name)

    # --- URIs -------------------------------------------------------------------------------

    def own_path(self, uri: str) -> str | None:
        """The destination path of an artifact URI that points into the destination, else None."""
        if not uri:
            return None
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        if scheme == PROXY_SCHEME:
            # mlflow-artifacts:/1/x, or mlflow-artifacts://host:port/1/x as older clients form it
            return clean_path(parts.path.lstrip("/"))
        if scheme in ("http", "https") and PROXY_ROUTE in parts.path:
            # the proxy's own download route (a default root such as http://host/api/2.0/mlflow-artifacts/artifacts)
            return clean_path(parts.path.split(PROXY_ROUTE, 1)[1])
        if scheme in ("http", "https") and parts.path.rstrip("/") == PROXY_ROUTE.rstrip("/"):
            return ""
        for prefix in self._prefixes:
            if uri.startswith(prefix):
                return clean_path(uri[len(prefix) :])
            if uri.rstrip("/") == prefix.rstrip("/"):
                return ""
        return None

    def owns(self, uri: str) -> bool:
        try:
            return self.own_path(uri) is not None
        except InvalidInput:
            return False

    def resolve(self, artifact_uri: str, relative: str | None = None) -> str:
        """The destination path of ``relative`` under ``artifact_uri``; refuses other URIs."""
        base = self.own_path(artifact_uri)
        if base is None:
            raise InvalidInput(f"Artifact URI '{artifact_uri}' is outside this server's artifact store")
        rel = clean_path(relative)
        return posixpath.join(base, rel) if base and rel else (base or rel)

    def locate(self, artifact_uri: str, relative: str | None = None) -> Location:
        """The artifacts at ``relative`` below ``artifact_uri``, wherever the URI's root is; a
        URI the server cannot read is refused (``Unsupported``), a host it must not contact
        too (``InvalidInput``)."""
        rel = clean_path(relative)  # first: a bad path is "Invalid path" whatever the URI
        if not artifact_uri:
            raise InvalidInput("Empty artifact URI")
        own = self.own_path(artifact_uri)
        if own is not None:
            return Location(self.store, own, True).child(rel)
        refusal = self.host_refusal(artifact_uri)
        if refusal:
            raise InvalidInput(refusal)
        return Location(self._external_store(artifact_uri), "", False).child(rel)

    def uri_for(self, store_path: str, proxied: bool) -> str:
        """An artifact URI for a destination path, as clients see it."""
        if proxied:
            return f"{PROXY_SCHEME}:/{store_path}"
        return self._prefixes[-1] + store_path

    def _external_store(self, uri: str) -> ArtifactStore:
        """A read-only store rooted at ``uri`` itself (an entity's own artifacts), reused."""
        with self._external_lock:
            found = self._external.get(uri)
            if found is not None:
                self._external.move_to_end(uri)
                return found
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        if is_local_uri(uri):
            path = local_path(uri)
            store = (
                storage.LocalArtifactStore(path, create=False, page_cache=self._page_cache)
                if os.path.isdir(path)
                else _Missing(uri)
            )
        elif scheme == "s3":
            with mapped_errors():
                try:
                    store = storage.S3ArtifactStore.from_uri(uri)
                except ValueError as exc:
                    raise InvalidInput(f"Invalid artifact location '{uri}': {exc}") from None
        else:
            raise Unsupported(f"This server does not read artifacts at '{uri}' (scheme '{parts.scheme}')")
        if isinstance(store, _Missing):
            return store  # not kept: the folder may appear when the client writes to it
        with self._external_lock:
            self._external[uri] = store
            while len(self._external) > _EXTERNAL_STORES:
                self._external.popitem(last=False)
        return store

    # --- reads (any Location) -----------------------------------------------------------------

    def list(self, where: Location | str) -> list[FileInfo]:
        """One directory level, names relative to it; [] for a missing path or a file."""
        loc = self._as_location(where)
        with mapped_errors():
            return loc.store.list_dir(loc.path)

    def download(self, where: Location | str, start: int | None = None, end: int | None = None, views: bool = False):
        """(chunk iterator, total size) of a file; ``views``: as ``ArtifactStore.open_read``."""
        loc = self._as_location(where)
        with mapped_errors():
            if not loc.path and not loc.owned and isinstance(loc.store, _Missing):
                raise ArtifactNotFound("Artifact not found")
            if (not loc.path and loc.owned) or loc.store.is_dir(loc.path):
                raise ArtifactNotFound(f"Artifact '{loc.path}' not found")
            return loc.store.open_read(loc.path, start, end, views=views)

    def size(self, where: Location | str) -> int:
        loc = self._as_location(where)
        with mapped_errors():
            return loc.store.size(loc.path)

    def is_dir(self, where: Location | str) -> bool:
        loc = self._as_location(where)
        with mapped_errors():
            return loc.store.is_dir(loc.path)

    def exists(self, where: Location | str) -> bool:
        loc = self._as_location(where)
        with mapped_errors():
            return loc.store.exists(loc.path)

    def _as_location(self, where: Location | str) -> Location:
        return where if isinstance(where, Location) else Location(self.store, clean_path(where), True)

    # --- writes (the destination's paths) -----------------------------------------------------

    @staticmethod
    def _writable(path: str) -> str:
        if path == REGISTRY_ROOT or path.startswith(REGISTRY_ROOT + "/"):
            raise Forbidden(f"'{path}' belongs to a registered model version, whose artifacts never change")
        return path

    def upload(self, path: str, stream, length: int | None) -> int:
        path = self._writable(clean_path(path))
        if not path:
            raise InvalidInput("An artifact path is required")
        with mapped_errors():
            return self.store.write(path, stream, length)

    def write_at(self, artifact_uri: str, relative: str, stream, length: int | None) -> int:
        """Write a file at ``relative`` below an entity's artifact URI, wherever its root is (the
        UI's upload-artifact and promptlab runs write into a run's artifacts, as MLflow's do)."""
        rel = clean_path(relative)
        if not rel:
            raise InvalidInput("An artifact path is required")
        own = self.own_path(artifact_uri)
        if own is not None:
            return self.upload(posixpath.join(own, rel) if own else rel, stream, length)
        refusal = self.host_refusal(artifact_uri)
        if refusal:
            raise InvalidInput(refusal)
        if is_local_uri(artifact_uri):
            store = storage.LocalArtifactStore(local_path(artifact_uri), page_cache=self._page_cache)
        elif urlsplit(artifact_uri).scheme.lower() == "s3":
            store = self._external_store(artifact_uri)
        else:
            raise Unsupported(f"This server does not write artifacts at '{artifact_uri}'")
        with mapped_errors():
            written = store.write(rel, stream, length)
        with self._external_lock:  # a root that did not exist may be read now
            self._external.pop(artifact_uri, None)
        return written

    def delete(self, path: str) -> None:
        path = self._writable(clean_path(path))
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
            path = clean_path(path)
            size = self.store.size(path)
            url, headers = self.store.presigned_get(path)
            return url, headers, size

    def snapshot(self, source: Location, dst: str) -> int:
        """Copy the file or tree at ``source`` to destination path ``dst`` the cheapest way (hard
        links on disk, server-side copies on S3 within the destination; streamed from another
        root); files copied."""
        dst = clean_path(dst)
        with mapped_errors():
            if source.store is self.store:
                return self.store.copy_tree(source.path, dst)
            return stream_tree(source.store, source.path, self.store, dst)

    def copy_tree(self, src: str, dst: str) -> int:
        return self.snapshot(self._as_location(src), dst)

    def _mpu_path(self, directory: str, filename: str) -> str:
        name = posixpath.basename((filename or "").replace("\\", "/"))
        if not name:
            raise InvalidInput("Missing value for required parameter 'path'.")
        return clean_path(posixpath.join(clean_path(directory), name))


class _Missing(ArtifactStore):
    """A client-written root that does not exist (yet): empty, nothing to read."""

    def __init__(self, uri: str):
        self.uri = uri

    def write(self, path, stream, length=None):
        raise NotSupported(f"This server does not write to '{self.uri}'")

    def open_read(self, path, start=None, end=None, views=False):
        raise ArtifactNotFound(f"No artifact at {path!r}")

    def list_dir(self, path=""):
        return []

    def delete(self, path):
        raise NotSupported(f"This server does not write to '{self.uri}'")

    def exists(self, path):
        return False

    def is_dir(self, path):
        return False

    def size(self, path):
        raise ArtifactNotFound(f"No artifact at {path!r}")
