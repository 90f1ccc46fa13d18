"""The artifact store interface, its value types and its errors.

Paths given to a store are POSIX-style paths relative to the store's root; ``""`` is the root.
Every implementation validates them with :func:`storage.paths.safe_relpath`.

Error mapping expected from the API layer (MLflow codes):

==========================  ======  =============================================
exception                   HTTP    MLflow error_code
==========================  ======  =============================================
``ArtifactNotFound``        404     RESOURCE_DOES_NOT_EXIST
``UnsafePath``              400     INVALID_PARAMETER_VALUE ("Invalid path ...")
``InvalidRange``            416     (Range header not satisfiable)
``InvalidRequest``          400     INVALID_PARAMETER_VALUE
``NotSupported``            501     NOT_IMPLEMENTED, message as given
other ``StorageError``      500     INTERNAL_ERROR
==========================  ======  =============================================
"""

from __future__ import annotations

import abc
import posixpath
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

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
    "MultipartPart",
    "NotSupported",
    "StorageError",
    "UnsafePath",
    "WriteSource",
    "iter_source",
    "resolve_range",
    "stream_tree",
]

# The exact messages MLflow answers with (mlflow/exceptions.py); the 3.x client falls back to a
# single PUT when mpu/create answers 501 with a message starting with the first one.
MULTIPART_UPLOAD_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"
MULTIPART_DOWNLOAD_UNSUPPORTED = "Multipart download is not supported for the current artifact repository"

CHUNK_SIZE = 1024 * 1024  # streaming granularity for reads and writes (MLflow uses 1 MiB too)

WriteSource = BinaryIO | Iterable[bytes] | bytes | bytearray | memoryview


class StorageError(Exception):
    """Base class of every error raised by an artifact store."""


class ArtifactNotFound(StorageError):
    """No file (or, for delete, nothing at all) exists at the path."""


class UnsafePath(StorageError):
    """The path is hostile or escapes the store (traversal, absolute, symlink out of the root)."""


class NotSupported(StorageError):
    """The store cannot do this (e.g. multipart upload on local disk)."""


class InvalidRequest(StorageError):
    """The caller's arguments are invalid (bad part list, byte count mismatch, ...)."""


class InvalidRange(InvalidRequest):
    """The requested byte range cannot be satisfied for an object of ``size`` bytes."""

    def __init__(self, message: str, size: int):
        super().__init__(message)
        self.size = size


@dataclass(frozen=True)
class FileInfo:
    """One entry of a directory listing; ``path`` is relative to the listed directory."""

    path: str
    is_dir: bool
    file_size: int | None = None

    def to_dict(self) -> dict:
        """The MLflow JSON shape: ``file_size`` is left out for directories."""
        out: dict = {"path": self.path, "is_dir": self.is_dir}
        if not self.is_dir and self.file_size is not None:
            out["file_size"] = self.file_size
        return out


@dataclass(frozen=True)
class MultipartPart:
    """Where (and with which headers) the client PUTs one part of a multipart upload."""

    part_number: int
    url: str
    headers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"part_number": self.part_number, "url": self.url, "headers": dict(self.headers)}


class ByteChunks(Iterator[bytes]):
    """An iterator of byte chunks that releases its resource (file, HTTP response) on ``close()``.

    Closed automatically when exhausted, on error, or when used as a context manager. WSGI servers
    call ``close()`` on a response iterable, so it can be handed to Flask/werkzeug as is.
    """

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], None]):
        self._chunks = chunks
        self._close: Callable[[], None] | None = close

    def __iter__(self) -> ByteChunks:
        return self

    def __next__(self) -> bytes:
        if self._close is None:
            raise StopIteration
        try:
            return next(self._chunks)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()

    def __enter__(self) -> ByteChunks:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # a response that was never iterated still releases its handle
        try:
            self.close()
        except Exception:
            pass


def iter_source(
    source: WriteSource, length: int | None = None, chunk_size: int = CHUNK_SIZE, buffer: bytearray | None = None
) -> Iterator[bytes]:
    """Yield the bytes of a write source in chunks without ever holding all of it.

    A file-like object is read ``chunk_size`` bytes at a time (and never past ``length`` when
    that is given); an iterable is passed through chunk by chunk. When ``length`` is given the
    total must match it exactly, otherwise :class:`InvalidRequest` is raised (after the last chunk,
    so the caller can discard what it wrote).

    With a ``buffer``, a source that has ``readinto`` fills it (up to ``length``) before each
    chunk, which is then a view of the buffer, valid only until the next chunk is asked for: no
    allocation per chunk, and a writer gets large chunks even from a socket's short reads.
    """
    total = 0
    if isinstance(source, (bytes, bytearray, memoryview)):
        chunks: Iterable = (source,) if len(source) else ()
    elif buffer is not None and hasattr(source, "readinto"):
        chunks = _fill_chunks(source, length, memoryview(buffer))
    elif hasattr(source, "read"):
        chunks = _read_chunks(source, length, chunk_size)
    elif isinstance(source, str):
        raise TypeError("write() needs bytes, a binary stream or an iterable of bytes, not str")
    else:
        chunks = source
    for chunk in chunks:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"write() got a chunk of type {type(chunk).__name__}, expected bytes")
        if not len(chunk):
            continue
        total += len(chunk)
        if length is not None and total > length:
            raise InvalidRequest(f"Received more than the announced {length} bytes")
        yield chunk
    if length is not None and total != length:
        raise InvalidRequest(f"Received {total} bytes, expected {length}")


def _read_chunks(stream: BinaryIO, length: int | None, chunk_size: int) -> Iterator[bytes]:
    remaining = length
    while remaining is None or remaining > 0:
        want = chunk_size if remaining is None else min(chunk_size, remaining)
        chunk = stream.read(want)
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _fill_chunks(stream, length: int | None, view: memoryview) -> Iterator[memoryview]:
    remaining = length
    while remaining is None or remaining > 0:
        want = len(view) if remaining is None else min(len(view), remaining)
        got = 0
        while got < want:
            n = stream.readinto(view[got:want])
            if not n:  # end of the stream
                break
            got += n
        if got:
            if remaining is not None:
                remaining -= got
            yield view[:got]
        if got < want:
            return


def resolve_range(size: int, start: int | None, end: int | None) -> tuple[int, int]:
    """Turn an HTTP-style range (``end`` inclusive, either side optional) into ``(offset, count)``.

    ``end`` past the last byte is clamped, as HTTP does. A negative ``start`` without ``end`` is
    a suffix range (``start=-500`` is HTTP ``bytes=-500``, the last 500 bytes). A start at or
    beyond the end of a non-empty object, a negative start with an end, or ``end < start`` raise
    :class:`InvalidRange`.
    """
    if start is None and end is None:
        return 0, size
    if start is not None and start < 0 and end is None:
        count = min(-start, size)
        return size - count, count
    first = 0 if start is None else start
    last = size - 1 if end is None else min(end, size - 1)
    if first < 0 or (end is not None and end < first):
        raise InvalidRange(f"Invalid byte range {start}-{end}", size)
    if first >= size:
        if size == 0 and first == 0:
            return 0, 0
        raise InvalidRange(f"Byte range {start}-{end} starts beyond the {size}-byte object", size)
    return first, last - first + 1


class ArtifactStore(abc.ABC):
    """Where artifact bytes live. Implementations must be safe to share between threads."""

    # -- files and directories ---------------------------------------------------------------
    @abc.abstractmethod
    def write(self, path: str, stream: WriteSource, length: int | None = None) -> int:
        """Store the bytes of ``stream`` at ``path`` (replacing any file there) and return the
        number of bytes written. Streams in fixed-size chunks; the artifact becomes visible only
        once complete. With ``length`` the byte count must match (else :class:`InvalidRequest`
        and nothing is stored)."""

    @abc.abstractmethod
    def open_read(
        self, path: str, start: int | None = None, end: int | None = None, views: bool = False
    ) -> tuple[ByteChunks, int]:
        """Open the file at ``path`` for streaming. Returns ``(chunks, total_size)`` where
        ``chunks`` yields bytes ``start..end`` (inclusive, like HTTP Range; defaults to the
        whole file) and ``total_size`` is the size of the whole file. Raises
        :class:`ArtifactNotFound` (also for a directory) and :class:`InvalidRange`.

        ``views=True`` is for a consumer that is done with each chunk before it asks for the
        next (a socket ``sendall``, a write): chunks may then be memoryviews of a buffer that
        the next chunk reuses, which saves a copy of each."""

    @abc.abstractmethod
    def list_dir(self, path: str = "") -> list[FileInfo]:
        """The entries directly under ``path``, sorted by name, paths relative to ``path``.
        Directories have ``file_size=None``. A missing path or a file path gives ``[]``."""

    @abc.abstractmethod
    def delete(self, path: str) -> None:
        """Delete the file or the whole directory tree at ``path`` (not the root).
        Raises :class:`ArtifactNotFound` if nothing exists there."""

    @abc.abstractmethod
    def exists(self, path: str) -> bool:
        """Whether a file or a directory exists at ``path``."""

    @abc.abstractmethod
    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a directory (``""``, the root, always is)."""

    @abc.abstractmethod
    def size(self, path: str) -> int:
        """The size in bytes of the file at ``path``; :class:`ArtifactNotFound` otherwise."""

    def copy_tree(self, src: str, dst: str) -> int:
        """Copy the file or the directory tree at ``src`` to ``dst`` (replacing files there) and
        return the number of files copied; ``0`` when nothing exists at ``src``. Later writes or
        deletes under ``src`` never change the copy. This default streams each file through
        :meth:`open_read` and :meth:`write`; stores override it with what copies without moving
        the bytes (hard links, a server-side copy)."""
        return stream_tree(self, src, self, dst)

    # -- multipart upload and presigned URLs (optional) ----------------------------------------
    @property
    def supports_multipart(self) -> bool:
        return False

    # The defaults validate the path first (a hostile path is a 400 before it is a 501, as in
    # MLflow), then refuse.
    def create_multipart(self, path: str) -> str:
        """Start a multipart upload of the file ``path``; returns the upload id."""
        _unsupported(path, MULTIPART_UPLOAD_UNSUPPORTED)

    def multipart_part_urls(self, path: str, upload_id: str, num_parts: int) -> list[MultipartPart]:
        """Presigned PUT URLs (and headers) for parts ``1..num_parts`` of an upload."""
        _unsupported(path, MULTIPART_UPLOAD_UNSUPPORTED)

    def complete_multipart(self, path: str, upload_id: str, parts: Iterable[tuple[int, str]]) -> None:
        """Assemble the uploaded parts, given as ``(part_number, etag)`` pairs (dicts or objects
        with ``part_number`` and ``etag`` are accepted too); ETag quotes are optional."""
        _unsupported(path, MULTIPART_UPLOAD_UNSUPPORTED)

    def abort_multipart(self, path: str, upload_id: str) -> None:
        """Abandon an upload and free its parts."""
        _unsupported(path, MULTIPART_UPLOAD_UNSUPPORTED)

    def presigned_get(self, path: str) -> tuple[str, dict[str, str]]:
        """A time-limited URL (and headers to send with it) to GET the file directly.
        Raises :class:`ArtifactNotFound` if there is no file at ``path``."""
        _unsupported(path, MULTIPART_DOWNLOAD_UNSUPPORTED)

    def close(self) -> None:  # noqa: B027 (a hook: stores without pools keep it)
        """Release pooled resources (connections); the default does nothing."""


def _unsupported(path: str, message: str):
    from storage.paths import safe_relpath  # storage.paths imports this module

    safe_relpath(path)
    raise NotSupported(message)


def stream_tree(src: ArtifactStore, src_path: str, dst: ArtifactStore, dst_path: str) -> int:
    """Copy the file or tree at ``src_path`` of ``src`` to ``dst_path`` of ``dst`` (the same store
    or another), a file at a time, chunk by chunk; the number of files copied, 0 if none."""
    if not src.is_dir(src_path):
        if not src.exists(src_path):
            return 0
        chunks, size = src.open_read(src_path, views=True)  # each chunk written before the next
        with chunks:
            dst.write(dst_path, chunks, size)
        return 1
    copied = 0
    for info in src.list_dir(src_path):
        name = info.path.rstrip("/")
        copied += stream_tree(src, posixpath.join(src_path, name), dst, posixpath.join(dst_path, name))
    return copied
