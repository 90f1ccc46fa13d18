"""Large files through the page cache with a bounded footprint: write-behind, drop-behind, and
the files written last kept.

The local store's large transfers go direct where they can (:mod:`storage.directio`); this is
the path for the rest: a filesystem without direct I/O, every direct buffer in use, a stream of
unknown length (a chunked upload), and the files :class:`RecentWrites` keeps.

Written plainly, a 10 GiB model leaves 10 GiB of dirty pages for the kernel to flush when *it*
decides (``vm.dirty_ratio``): a writeback burst that stalls every other writer on the disk, the
database's commits included, and page cache that counts against a container's memory limit. And
every page of it is memory the kernel must take from its free lists: on a VM whose free memory is
handed back to the host (virtio-balloon free page reporting, proactive reclaim), each such page is
a fault in the host, which made plain writes the bound of an upload on the bench VM.

:class:`WriteBehind` keeps a file written front to back to about two windows of page cache, the
pattern PostgreSQL uses for its ``*_flush_after`` settings:

* each time a window of ``window`` bytes is complete, its writeback is started
  (``sync_file_range(SYNC_FILE_RANGE_WRITE)``: asynchronous, the disk works while the next window
  arrives);
* the window before it, whose writeback began one window ago, is waited for (usually done
  already) and dropped from the page cache (``posix_fadvise(POSIX_FADV_DONTNEED)``), so the next
  window reuses those pages. A file :class:`RecentWrites` keeps is written back the same way but
  not dropped: its dirty pages stay bounded, its clean ones stay cached.

:class:`ReadBehind` is the same for a large read: what has been sent is dropped one window behind,
so a download reuses its pages too; the kernel's readahead keeps the disk ahead of the reader.

:class:`RecentWrites` keeps the large files a store wrote last in the cache, up to a budget, so a
download soon after the upload (a model logged, then registered, loaded or evaluated) is served
from memory; before each such file is written, the ones kept longest are dropped to make room,
so the new file takes the pages just freed rather than fresh ones. :func:`resident_fraction`
tells a read whether its file is cached (``mincore``), and so whether to read it through the
cache or around it.

A file or read of at most one window costs nothing: no system call is made for it. The cost is
that a large file is read back from disk rather than from memory once it is no longer kept.
This is writeback, not durability: nothing is promised about a crash (that is the store's
``fsync`` option). Errors from this advice turn it off for that file and are not raised (it
changes when data reaches the disk, never what a file holds), except ``EIO`` from waiting on
writeback, which means the data did not reach the disk. Where ``sync_file_range`` does not exist
(not Linux), writes are plain page-cache writes. Measurements: docs/performance.md.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import threading
from collections import OrderedDict

__all__ = [
    "KEEP_RECENT",
    "MODES",
    "WINDOW",
    "ReadBehind",
    "RecentWrites",
    "WriteBehind",
    "read_behind",
    "resident_fraction",
    "write_behind",
]

# How a local store uses the page cache: "bounded" (write-behind and read drop-behind, below) or
# "kernel" (plain reads and writes; the kernel keeps what it likes).
MODES = ("bounded", "kernel")

WINDOW = 8 * 1024 * 1024
# What a store keeps of the large files it wrote last (RecentWrites), by default: per process.
KEEP_RECENT = 256 * 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4  # <linux/fs.h> SYNC_FILE_RANGE_*


def _load_libc():
    if not hasattr(os, "posix_fadvise"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


def _function(libc, name: str, argtypes, restype):
    function = getattr(libc, name, None) if libc is not None else None
    if function is not None:
        function.argtypes, function.restype = argtypes, restype
    return function


_libc = _load_libc()
_sync_file_range = _function(
    _libc, "sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint], ctypes.c_int
)
_mmap = _function(
    _libc,
    "mmap",
    [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int64],
    ctypes.c_void_p,
)
_munmap = _function(_libc, "munmap", [ctypes.c_void_p, ctypes.c_size_t], ctypes.c_int)
_mincore = _function(_libc, "mincore", [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p], ctypes.c_int)
_PROT_READ, _MAP_SHARED, _MAP_FAILED = 1, 1, ctypes.c_void_p(-1).value
_LOW_BIT = bytes(value & 1 for value in range(256))  # mincore's other bits are reserved


def write_behind(fd: int, keep: bool = False) -> WriteBehind | None:
    """A :class:`WriteBehind` for ``fd``, or None where the platform has no ``sync_file_range``.
    ``keep``: written back, but not dropped (a file :class:`RecentWrites` keeps)."""
    return WriteBehind(fd, keep=keep) if _sync_file_range is not None else None


def resident_pages(fd: int, offset: int, count: int) -> bytes | None:
    """For each page of ``count`` bytes of ``fd`` from ``offset`` (whole pages, the first one's
    start rounded down): 1 if it is in the page cache, else 0. ``mincore`` on a mapping of the
    range, which reads nothing (a read with ``RWF_NOWAIT`` would start readahead of the very
    pages it asks about). None where it cannot be told (not Linux, a file that cannot be mapped)."""
    if _mincore is None or _mmap is None or count <= 0:
        return None
    start = offset // _PAGE * _PAGE
    length = offset + count - start
    address = _mmap(None, length, _PROT_READ, _MAP_SHARED, fd, start)
    if address in (None, _MAP_FAILED):
        return None
    try:
        pages = (length + _PAGE - 1) // _PAGE
        vector = ctypes.create_string_buffer(pages)
        if _mincore(address, length, vector) != 0:
            return None
        return vector.raw[:pages].translate(_LOW_BIT)
    finally:
        _munmap(address, length)


def resident_fraction(fd: int, offset: int, count: int) -> float:
    """The share of the pages of that range that are in the page cache; 0.0 where it cannot be
    told."""
    pages = resident_pages(fd, offset, count)
    return pages.count(1) / len(pages) if pages else 0.0


def read_behind(fd: int, start: int, count: int) -> ReadBehind | None:
    """A :class:`ReadBehind` for a read of ``count`` bytes from ``start``, or None for a read of
    at most one window or where the platform has no ``posix_fadvise``."""
    if count <= WINDOW or not hasattr(os, "posix_fadvise"):
        return None
    return ReadBehind(fd, start)


class WriteBehind:
    """Call :meth:`advance` with the file's size after each write, from one thread.

    Any error from the kernel's advice (a filesystem without ``sync_file_range``, say) turns
    write-behind off for this file and is not raised: it changes when data reaches the disk, never
    what the file holds. ``EIO`` from waiting on writeback is raised, since it means the data did
    not reach the disk.
    """

    __slots__ = ("fd", "keep", "started", "window")

    def __init__(self, fd: int, window: int = WINDOW, keep: bool = False):
        self.fd = fd
        self.window = window
        self.started = 0  # bytes whose writeback has been started; None: turned off
        self.keep = keep  # written back, not dropped

    def advance(self, size: int) -> None:
        started = self.started
        if started is None or size - started < self.window:
            return
        window = self.window
        try:
            while size - started >= window:
                _call(self.fd, started, window, _WRITE)
                if started >= window:
                    previous = started - window
                    _call(self.fd, previous, window, _WAIT_BEFORE | _WRITE | _WAIT_AFTER)
                    if not self.keep:
                        os.posix_fadvise(self.fd, previous, window, os.POSIX_FADV_DONTNEED)
                started += window
        except OSError as exc:
            if exc.errno == errno.EIO:
                raise
            self.started = None
            return
        self.started = started


def _call(fd: int, offset: int, count: int, flags: int) -> None:
    if _sync_file_range(fd, offset, count, flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


class ReadBehind:
    """The read side: a file read front to back drops what it has read, one window behind.

    For reads of more than one window. What was read is dropped from the page cache (the kernel
    keeps pages that are dirty or mapped), so a large download holds about two windows of page
    cache and reuses them instead of taking fresh memory for every window. Errors are ignored:
    this is advice.
    """

    __slots__ = ("done", "fd", "window")

    def __init__(self, fd: int, start: int, window: int = WINDOW):
        self.fd = fd
        self.window = window
        self.done = start  # bytes before this offset have been dropped (or were never read)

    def advance(self, offset: int) -> None:
        """``offset``: the file position after the last read."""
        done = self.done
        if offset - done < 2 * self.window:
            return
        until = (offset - self.window) // _PAGE * _PAGE  # the kernel drops whole pages only
        try:
            os.posix_fadvise(self.fd, done, until - done, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass
        self.done = until


class RecentWrites:
    """The large files a store wrote last, kept in the page cache up to ``budget`` bytes.

    A file of more than one window and at most ``budget`` bytes is :meth:`reserve`-d before it
    is written: the files kept longest are dropped from the cache (``POSIX_FADV_DONTNEED``)
    until it fits, so its pages are the ones just freed (on the bench VM, pages the kernel had to
    take fresh ran writes at 300-400 MiB/s in some phases, reused ones at 1,500-2,300: see
    docs/performance.md). It is then written behind without being dropped, and :meth:`keep`-s its
    place once it is in place, or :meth:`release`-s it if the write failed. A file is known by its
    path and inode: one replaced or deleted since (whose pages the kernel freed with it) is not
    touched when its turn to be dropped comes.

    Per store object, that is per process: each worker keeps its own budget. Thread-safe.
    ``budget`` 0, or a platform without ``sync_file_range``, keeps nothing.
    """

    def __init__(self, budget: int = KEEP_RECENT):
        if budget < 0:
            raise ValueError(f"the budget of recent writes must be >= 0, got {budget}")
        self.budget = budget if _sync_file_range is not None else 0
        self._lock = threading.Lock()
        self._files: OrderedDict[str, tuple[int, int, int]] = OrderedDict()  # path -> (dev, ino, size)
        self.held = 0  # bytes of the files kept and of the writes reserved

    def admits(self, length: int | None) -> bool:
        return length is not None and WINDOW < length <= self.budget

    def reserve(self, length: int) -> None:
        dropped = []
        with self._lock:
            while self._files and self.held + length > self.budget:
                path, (dev, ino, size) = self._files.popitem(last=False)
                self.held -= size
                dropped.append((path, dev, ino))
            self.held += length
        for path, dev, ino in dropped:
            _drop_file(path, dev, ino)

    def keep(self, path: str, stat: os.stat_result, length: int) -> None:
        """The reserved write of ``length`` bytes is now the file at ``path``."""
        with self._lock:
            replaced = self._files.pop(path, None)
            if replaced is not None:  # the file it replaced went with its pages
                self.held -= replaced[2]
            self._files[path] = (stat.st_dev, stat.st_ino, length)

    def release(self, length: int) -> None:
        """The reserved write of ``length`` bytes failed: nothing to keep."""
        with self._lock:
            self.held -= length

    def forget(self, path: str) -> None:
        """``path`` (a file or a whole folder) was deleted: what was kept under it went with it."""
        folder = path.rstrip(os.sep) + os.sep
        with self._lock:
            for kept in [p for p in self._files if p == path or p.startswith(folder)]:
                self.held -= self._files.pop(kept)[2]

    def kept(self) -> list[str]:
        """The paths kept, the one kept longest first."""
        with self._lock:
            return list(self._files)


def _drop_file(path: str, dev: int, ino: int) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return  # deleted or replaced by a link since: its pages went with it
    try:
        stat = os.fstat(fd)
        if (stat.st_dev, stat.st_ino) == (dev, ino):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass  # advice
    finally:
        os.close(fd)
