"""Large files through the page cache with a bounded footprint: write-behind and drop-behind.

The local store's large transfers go direct where they can (:mod:`storage.directio`); this is
the path for the rest: a filesystem without direct I/O, every direct buffer in use, a stream of
unknown length (a chunked upload).

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
  window reuses those pages.

:class:`ReadBehind` is the same for a large read: what has been sent is dropped one window behind,
so a download reuses its pages too; the kernel's readahead keeps the disk ahead of the reader.

A file or read of at most one window costs nothing: no system call is made for it. The cost is
that a large file is read back from disk rather than from memory, even right after it was written.
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

__all__ = ["MODES", "WINDOW", "ReadBehind", "WriteBehind", "read_behind", "write_behind"]

# How a local store uses the page cache: "bounded" (write-behind and read drop-behind, below) or
# "kernel" (plain reads and writes; the kernel keeps what it likes).
MODES = ("bounded", "kernel")

WINDOW = 8 * 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4  # <linux/fs.h> SYNC_FILE_RANGE_*


def _load_sync_file_range():
    if not hasattr(os, "posix_fadvise"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_sync_file_range = _load_sync_file_range()


def write_behind(fd: int) -> "WriteBehind | None":
    """A :class:`WriteBehind` for ``fd``, or None where the platform has no ``sync_file_range``."""
    return WriteBehind(fd) if _sync_file_range is not None else None


def read_behind(fd: int, start: int, count: int) -> "ReadBehind | None":
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

    __slots__ = ("fd", "window", "started")

    def __init__(self, fd: int, window: int = WINDOW):
        self.fd = fd
        self.window = window
        self.started = 0  # bytes whose writeback has been started; None: turned off

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

    __slots__ = ("fd", "window", "done")

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
