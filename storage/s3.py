"""Artifacts in an S3 bucket (AWS S3, MinIO, or anything speaking the S3 API), via ``minio``."""

from __future__ import annotations

import contextlib
import mimetypes
import os
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta

import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.credentials.providers import AWSConfigProvider, ChainedProvider, IamAwsProvider
from minio.datatypes import Part
from minio.deleteobjects import DeleteObject
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.helpers import check_bucket_name

from storage.base import (
    CHUNK_SIZE,
    ArtifactNotFound,
    ArtifactStore,
    ByteChunks,
    FileInfo,
    InvalidRequest,
    MultipartPart,
    StorageError,
    UnsafePath,
    WriteSource,
    iter_source,
    resolve_range,
)
from storage.paths import is_reachable_name, safe_relpath

__all__ = ["S3ArtifactStore"]

PART_SIZE = 10 * 1024 * 1024  # same part size as MLflow's multipart upload
MAX_PARTS = 10_000
PRESIGN_EXPIRY = timedelta(hours=1)
_MAX_KEY_BYTES = 1024
_NOT_FOUND = {"NoSuchKey", "NoSuchObject", "NoSuchUpload", "NoSuchBucket", "NotFound", "ResourceNotFound"}
_BAD_REQUEST = {
    "InvalidPart",
    "InvalidPartOrder",
    "EntityTooSmall",
    "EntityTooLarge",
    "MalformedXML",
    "InvalidArgument",
    "InvalidRequest",
    "KeyTooLongError",
}
_TRUE = {"1", "true", "yes", "on"}


class S3ArtifactStore(ArtifactStore):
    """Artifacts as objects ``<prefix>/<path>`` in ``bucket``; directories are key prefixes.

    Writes stream in parts of ``part_size`` bytes through one reused buffer (a write holds at
    most one part in memory); an object becomes visible only when its upload completes.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        client: Minio,
        *,
        part_size: int = PART_SIZE,
        presign_expiry: timedelta = PRESIGN_EXPIRY,
    ):
        try:
            check_bucket_name(bucket)
        except ValueError as exc:
            raise ValueError(f"Invalid S3 bucket name {bucket!r}: {exc}") from None
        if part_size < 5 * 1024 * 1024:
            raise ValueError("part_size must be at least 5 MiB (the S3 minimum)")
        self.bucket = bucket
        self.prefix = safe_relpath(prefix or "")
        self.part_size = part_size
        self.presign_expiry = presign_expiry
        self._client = client

    @classmethod
    def from_uri(cls, uri: str, env: Mapping[str, str] | None = None, **kwargs) -> S3ArtifactStore:
        """Build a store for ``s3://bucket/prefix`` configured like MLflow's S3 repository:
        ``MLFLOW_S3_ENDPOINT_URL`` (default ``https://s3.amazonaws.com``), ``AWS_ACCESS_KEY_ID``
        / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` (else the shared credentials file or
        the instance role), ``AWS_DEFAULT_REGION`` / ``AWS_REGION`` (default us-east-1) and
        ``MLFLOW_S3_IGNORE_TLS``."""
        env = os.environ if env is None else env
        parsed = urllib.parse.urlsplit(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"Not an S3 URI (expected s3://bucket/prefix): {uri!r}")
        if parsed.query or parsed.fragment:
            raise ValueError(f"S3 URI must not have a query or fragment: {uri!r}")

        endpoint_url = (env.get("MLFLOW_S3_ENDPOINT_URL") or "https://s3.amazonaws.com").strip()
        endpoint = urllib.parse.urlsplit(endpoint_url)
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            raise ValueError(f"MLFLOW_S3_ENDPOINT_URL must be an http(s) URL: {endpoint_url!r}")
        if endpoint.path.strip("/"):
            raise ValueError(f"MLFLOW_S3_ENDPOINT_URL must not contain a path: {endpoint_url!r}")

        access_key = env.get("AWS_ACCESS_KEY_ID") or None
        secret_key = env.get("AWS_SECRET_ACCESS_KEY") or None
        credentials = None
        if not access_key:
            credentials = ChainedProvider([AWSConfigProvider(profile=env.get("AWS_PROFILE")), IamAwsProvider()])
        client = Minio(
            endpoint.netloc,
            access_key=access_key,
            secret_key=secret_key,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            secure=endpoint.scheme == "https",
            region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
            credentials=credentials,
            cert_check=(env.get("MLFLOW_S3_IGNORE_TLS") or "").strip().lower() not in _TRUE,
        )
        return cls(parsed.netloc, parsed.path.strip("/"), client, **kwargs)

    def __repr__(self) -> str:
        return f"S3ArtifactStore(s3://{self.bucket}/{self.prefix})"

    # -- keys ---------------------------------------------------------------------------------
    def _key(self, rel: str, writing: bool = False) -> str:
        key = f"{self.prefix}/{rel}" if self.prefix and rel else (self.prefix or rel)
        if len(key.encode("utf-8")) > _MAX_KEY_BYTES:
            if writing:
                raise InvalidRequest(f"Path too long for S3 (max {_MAX_KEY_BYTES} bytes)")
            raise ArtifactNotFound(f"No artifact at {rel!r} (longer than any S3 key)")
        return key

    def _file(self, path: str, writing: bool = False) -> tuple[str, str]:
        rel = safe_relpath(path)
        if not rel:
            raise UnsafePath("Invalid path: the artifact root itself cannot be used here")
        return rel, self._key(rel, writing)

    def _dir_prefix(self, rel: str) -> str:
        key = self._key(rel)
        return f"{key}/" if key else ""

    def _stat(self, rel: str, key: str):
        """The object's stat, or None if there is no object at ``key``."""
        try:
            with _s3_errors(rel):
                return self._client.stat_object(self.bucket, key)
        except ArtifactNotFound:
            return None

    def _has_children(self, prefix: str) -> bool:
        return next(iter(self._client.list_objects(self.bucket, prefix=prefix)), None) is not None

    # -- writing ------------------------------------------------------------------------------
    def write(self, path: str, stream: WriteSource, length: int | None = None) -> int:
        rel, key = self._file(path, writing=True)
        headers = {"Content-Type": mimetypes.guess_type(rel)[0] or "application/octet-stream"}
        upload_id = None
        parts: list[Part] = []
        total = 0
        try:
            with _s3_errors(rel, writing=True):
                chunks = iter_source(stream, length)
                for number, (data, last) in enumerate(_iter_parts(chunks, self.part_size, length), start=1):
                    total += len(data)
                    if number == 1 and last:
                        self._client._put_object(self.bucket, key, data, dict(headers))
                        return total
                    if upload_id is None:
                        upload_id = self._client._create_multipart_upload(self.bucket, key, dict(headers))
                    etag = self._client._upload_part(self.bucket, key, data, None, upload_id, number)
                    parts.append(Part(number, etag))
                self._client._complete_multipart_upload(self.bucket, key, upload_id, parts)
                return total
        except BaseException:
            if upload_id is not None:
                with contextlib.suppress(Exception):
                    self._client._abort_multipart_upload(self.bucket, key, upload_id)
            raise

    # -- reading ------------------------------------------------------------------------------
    def open_read(
        self, path: str, start: int | None = None, end: int | None = None, views: bool = False
    ) -> tuple[ByteChunks, int]:
        rel, key = self._file(path)
        with _s3_errors(rel):
            size = self._client.stat_object(self.bucket, key).size
            offset, count = resolve_range(size, start, end)
            if count == 0:
                return ByteChunks(iter(()), lambda: None), size
            whole = offset == 0 and count == size
            response = self._client.get_object(
                self.bucket, key, offset=0 if whole else offset, length=0 if whole else count
            )

        def release() -> None:
            response.close()
            response.release_conn()

        return ByteChunks(iter(response.stream(CHUNK_SIZE)), release), size

    def list_dir(self, path: str = "") -> list[FileInfo]:
        rel = safe_relpath(path)
        infos = []
        try:
            prefix = self._dir_prefix(rel)
            with _s3_errors(rel):
                for obj in self._client.list_objects(self.bucket, prefix=prefix):
                    name = obj.object_name[len(prefix) :]
                    if obj.is_dir:
                        name = name[:-1] if name.endswith("/") else name
                    if not is_reachable_name(name):
                        continue  # dir marker, "a//b" key, or a name no client can address
                    infos.append(FileInfo(name, True, None) if obj.is_dir else FileInfo(name, False, obj.size))
        except ArtifactNotFound:
            return []
        infos.sort(key=lambda info: info.path)
        return infos

    def exists(self, path: str) -> bool:
        rel = safe_relpath(path)
        if not rel:
            return True
        try:
            key = self._key(rel)
        except ArtifactNotFound:
            return False
        if self._stat(rel, key) is not None:
            return True
        return self.is_dir(rel)

    def is_dir(self, path: str) -> bool:
        rel = safe_relpath(path)
        if not rel:
            return True
        try:
            prefix = self._dir_prefix(rel)
            with _s3_errors(rel):
                return self._has_children(prefix)
        except ArtifactNotFound:
            return False

    def size(self, path: str) -> int:
        rel, key = self._file(path)
        with _s3_errors(rel):
            return self._client.stat_object(self.bucket, key).size

    # -- copying ------------------------------------------------------------------------------
    def copy_tree(self, src: str, dst: str) -> int:
        """Server-side copies (CopyObject; above 5 GiB minio composes the copy from
        UploadPartCopy parts): no byte of the artifacts passes through this server."""
        src_rel = safe_relpath(src)
        dst_rel, _ = self._file(dst, writing=True)
        try:
            src_key = self._key(src_rel) if src_rel else ""
        except ArtifactNotFound:
            return 0  # longer than any key: nothing there
        if src_rel and self._stat(src_rel, src_key) is not None:
            self._copy(src_key, dst_rel, src_rel)
            return 1
        prefix = self._dir_prefix(src_rel)
        copied = 0
        with _s3_errors(src_rel):
            objects = list(self._client.list_objects(self.bucket, prefix=prefix, recursive=True))
        for obj in objects:
            name = obj.object_name[len(prefix) :]
            if obj.is_dir or not all(is_reachable_name(part) for part in name.split("/")):
                continue  # a folder marker, "a//b", or a name no client could address
            self._copy(obj.object_name, f"{dst_rel}/{name}", src_rel)
            copied += 1
        return copied

    def _copy(self, src_key: str, dst_rel: str, src_rel: str) -> None:
        dst_key = self._key(dst_rel, writing=True)
        with _s3_errors(src_rel, writing=True):
            self._client.copy_object(self.bucket, dst_key, CopySource(self.bucket, src_key))

    # -- deleting -----------------------------------------------------------------------------
    def delete(self, path: str) -> None:
        rel, key = self._file(path)
        found = self._stat(rel, key) is not None
        count = 0

        def tree() -> Iterator[DeleteObject]:
            nonlocal count
            for obj in self._client.list_objects(self.bucket, prefix=f"{key}/", recursive=True):
                count += 1
                yield DeleteObject(obj.object_name)

        with _s3_errors(rel):
            if found:
                self._client.remove_object(self.bucket, key)
            # remove_objects is lazy and batches 1000 keys per request; consume it fully.
            errors = list(self._client.remove_objects(self.bucket, tree()))
        if errors:
            first = errors[0]
            raise StorageError(
                f"Could not delete {len(errors)} object(s) under {rel!r}: {first.name}: {first.code} {first.message}"
            )
        if not found and not count:
            raise ArtifactNotFound(f"No artifact at {rel!r}")

    # -- multipart upload and presigned URLs --------------------------------------------------
    @property
    def supports_multipart(self) -> bool:
        return True

    def create_multipart(self, path: str) -> str:
        rel, key = self._file(path, writing=True)
        content_type = mimetypes.guess_type(rel)[0] or "application/octet-stream"
        with _s3_errors(rel, writing=True):
            return self._client._create_multipart_upload(self.bucket, key, {"Content-Type": content_type})

    def multipart_part_urls(self, path: str, upload_id: str, num_parts: int) -> list[MultipartPart]:
        rel, key = self._file(path)
        _check_upload_id(upload_id)
        if isinstance(num_parts, bool) or not isinstance(num_parts, int) or not 1 <= num_parts <= MAX_PARTS:
            raise InvalidRequest(f"num_parts must be an integer from 1 to {MAX_PARTS}")
        with _s3_errors(rel):
            return [
                MultipartPart(
                    number,
                    self._client.get_presigned_url(
                        "PUT",
                        self.bucket,
                        key,
                        expires=self.presign_expiry,
                        extra_query_params={"partNumber": str(number), "uploadId": upload_id},
                    ),
                    {},
                )
                for number in range(1, num_parts + 1)
            ]

    def complete_multipart(self, path: str, upload_id: str, parts: Iterable[tuple[int, str]]) -> None:
        rel, key = self._file(path)
        _check_upload_id(upload_id)
        normalised = _normalise_parts(parts)
        with _s3_errors(rel, writing=True):
            self._client._complete_multipart_upload(self.bucket, key, upload_id, normalised)

    def abort_multipart(self, path: str, upload_id: str) -> None:
        rel, key = self._file(path)
        _check_upload_id(upload_id)
        with _s3_errors(rel):
            self._client._abort_multipart_upload(self.bucket, key, upload_id)

    def presigned_get(self, path: str) -> tuple[str, dict[str, str]]:
        rel, key = self._file(path)
        with _s3_errors(rel):
            self._client.stat_object(self.bucket, key)  # a URL to nothing is a 404 here
            url = self._client.presigned_get_object(self.bucket, key, expires=self.presign_expiry)
        return url, {}


def _iter_parts(
    chunks: Iterator[bytes], part_size: int, length: int | None
) -> Iterator[tuple[bytes | memoryview, bool]]:
    """Regroup chunks into upload parts of exactly ``part_size`` bytes (the last may be shorter),
    yielding ``(data, is_last)``. Up to one chunk is gathered in a small list (small files never
    allocate a part buffer); beyond that, one ``bytearray`` is allocated and reused for every
    part, so a yielded view is only valid until the next iteration."""
    small: list[bytes] = []
    small_len = 0
    carry: memoryview | None = None
    for chunk in chunks:
        if small_len + len(chunk) > CHUNK_SIZE:
            carry = memoryview(chunk)
            break
        small.append(chunk)
        small_len += len(chunk)
    else:
        yield b"".join(small), True
        return
    del chunk  # only `carry` may keep chunk data alive from here on

    buf = bytearray(part_size if length is None else max(1, min(part_size, length)))
    view = memoryview(buf)
    pos = 0
    while small:
        piece = small.pop(0)
        view[pos : pos + len(piece)] = piece
        pos += len(piece)
        del piece
    while True:
        while pos < len(buf):
            if carry is None:
                nxt = next(chunks, None)
                if nxt is None:
                    break
                carry, nxt = memoryview(nxt), None
            take = min(len(buf) - pos, len(carry))
            view[pos : pos + take] = carry[:take]
            pos += take
            carry = carry[take:] if take < len(carry) else None
        if carry is None and pos == len(buf):
            nxt = next(chunks, None)  # look ahead: is this full part the last one?
            carry, nxt = (memoryview(nxt) if nxt is not None else None), None
        last = carry is None
        yield view[:pos], last
        if last:
            return
        pos = 0


def _check_upload_id(upload_id: str) -> None:
    if not isinstance(upload_id, str) or not upload_id.strip():
        raise InvalidRequest("upload_id is required")


def _normalise_parts(parts) -> list[Part]:
    """``(part_number, etag)`` pairs (or dicts / objects with those fields) -> sorted Parts."""
    out: dict[int, str] = {}
    for item in parts:
        if isinstance(item, Mapping):
            number, etag = item.get("part_number"), item.get("etag")
        elif hasattr(item, "part_number"):
            number, etag = item.part_number, getattr(item, "etag", None)
        else:
            try:
                number, etag = item
            except (TypeError, ValueError):
                raise InvalidRequest(f"Invalid part {item!r}") from None
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise InvalidRequest(f"Invalid part number {number!r}") from None
        if not 1 <= number <= MAX_PARTS:
            raise InvalidRequest(f"Part number {number} is out of range 1..{MAX_PARTS}")
        if not isinstance(etag, str) or not etag.strip().strip('"'):
            raise InvalidRequest(f"Part {number} has no etag")
        if number in out:
            raise InvalidRequest(f"Part {number} is listed twice")
        out[number] = etag.strip().strip('"')
    if not out:
        raise InvalidRequest("At least one part is required to complete a multipart upload")
    return [Part(number, out[number]) for number in sorted(out)]


@contextlib.contextmanager
def _s3_errors(rel: str, writing: bool = False):
    """Translate minio / urllib3 errors into storage errors. A missing key is always
    ArtifactNotFound (a 404 for the API, never a 500); a missing bucket is too, except on
    writes, where it is a configuration error."""
    try:
        yield
    except S3Error as exc:
        code = exc.code or ""
        if code in _NOT_FOUND and not (writing and code == "NoSuchBucket"):
            what = "upload" if code == "NoSuchUpload" else "artifact"
            raise ArtifactNotFound(f"No {what} at {rel!r} ({code})") from None
        if code in _BAD_REQUEST:
            raise InvalidRequest(f"S3 rejected the request for {rel!r}: {code}: {exc.message}") from None
        raise StorageError(f"S3 error for {rel!r}: {code}: {exc.message}") from exc
    except InvalidResponseError as exc:
        if getattr(exc, "_code", None) == 404:
            raise ArtifactNotFound(f"No artifact at {rel!r}") from None
        raise StorageError(f"Unexpected S3 response for {rel!r}: {exc}") from exc
    except ServerError as exc:
        raise StorageError(f"S3 server error for {rel!r}: {exc}") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise StorageError(f"Cannot reach the S3 endpoint for {rel!r}: {exc}") from exc
    except ValueError as exc:  # minio: no credentials found, argument checks
        raise StorageError(f"S3 client error for {rel!r}: {exc}") from exc
