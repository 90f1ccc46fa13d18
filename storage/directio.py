"""Large files read and written with direct I/O through a ring of the process's own buffers: the
ones the local store does not keep in the page cache (:class:`storage.pagecache.RecentWrites`
keeps the files written last), and reads of files that are not cached.

The disk reads into and writes from a few aligned 8 MiB buffers (``O_DIRECT``) while the socket
fills or drains the others, the way nginx serves large files (``directio`` with ``aio threads``):

* no page cache at all for a large artifact: nothing for the kernel to allocate, flush or
  reclaim, no writeback burst, nothing that counts against a container's memory limit. The ring
  is the only memory a transfer touches, and it is reused from one transfer to the next (on a VM
  whose free memory is handed back to the host, fresh pages are the bound of an upload);
* one copy instead of two: the socket's bytes land in the ring and the disk takes them from there
  (the page cache path copies them again, into the cache);
* several requests in flight: up to :data:`DEPTH` blocks are being read or written by the disk at
  once, from a small pool of threads (the reads and writes release the GIL), while the request's
  own thread moves bytes between the socket and the ring.

Only for a length known beforehand of at least :data:`MIN_SIZE`; smaller files, streams of
unknown length, filesystems without direct I/O (``fcntl`` refuses ``O_DIRECT``: tmpfs on older
kernels, some FUSE mounts) and platforms without ``O_DIRECT`` take the page cache path
(:mod:`storage.pagecache`). At most :data:`POOL_BUFFERS` buffers exist per process: a transfer
that finds fewer than two free also takes that path, so memory stays bounded under any load.

The buffers, once made, stay with the process (at most ``POOL_BUFFERS * BLOCK``, 64 MiB; 32 MiB
for one transfer at a time): handed back to the kernel, they would be fresh pages to fault in on
the next transfer, the very cost this avoids.

The kernel keeps direct and cached access to one file coherent (a direct read first writes back
any dirty cached page of its range, a direct write drops the cached pages it overwrites).
"""

from __future__ import annotations

import mmap
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

try:
    import fcntl
except ImportError:  # Windows: no O_DIRECT either
    fcntl = None

__all__ = [
    "ALIGN",
    "BLOCK",
    "DEPTH",
    "MIN_SIZE",
    "POOL_BUFFERS",
    "DiskError",
    "Ring",
    "ShortBody",
    "direct_read",
    "direct_write",
    "ring",
    "set_direct",
]

O_DIRECT = getattr(os, "O_DIRECT", 0) if fcntl is not None else 0
BLOCK = 8 * 1024 * 1024
DEPTH = 4
POOL_BUFFERS = 2 * DEPTH
MIN_SIZE = 2 * BLOCK
# Offsets, lengths and buffer addresses of direct I/O are multiples of the device's logical block
# size (512 or 4096 bytes); a page is a multiple of both, and the ring's buffers are page-aligned.
ALIGN = 4096
# private anonymous memory (Python's default for an anonymous map is shared: shmem pages)
_PRIVATE = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)


class _Pool:
    """The process's buffers and I/O threads, made on first use (never before gunicorn forks its
    workers: a child starts with none)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.free: list[mmap.mmap] = []
        self.made = 0
        self.executor: ThreadPoolExecutor | None = None

    def take(self, want: int) -> list[mmap.mmap]:
        with self.lock:
            while len(self.free) < want and self.made < POOL_BUFFERS:
                self.free.append(mmap.mmap(-1, BLOCK, flags=_PRIVATE))
                self.made += 1
            if len(self.free) < 2:
                return []
            taken, self.free = self.free[:want], self.free[want:]
            if self.executor is None:
                self.executor = ThreadPoolExecutor(POOL_BUFFERS, thread_name_prefix="modelops-directio")
            return taken

    def give(self, buffers: list[mmap.mmap]) -> None:
        with self.lock:
            self.free.extend(buffers)


_pool = _Pool()


def _reset_after_fork() -> None:
    global _pool
    _pool = _Pool()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class Ring:
    """Up to :data:`DEPTH` buffers of :data:`BLOCK` bytes and the I/O in flight on them.
    :meth:`close` waits for that I/O before the buffers go back to the pool."""

    def __init__(self, buffers: list[mmap.mmap], executor: ThreadPoolExecutor):
        self.buffers = buffers
        self.views = [memoryview(buffer) for buffer in buffers]
        self.pending: list[Future | None] = [None] * len(buffers)
        self.executor = executor

    def __len__(self) -> int:
        return len(self.buffers)

    def submit(self, slot: int, function, *args) -> None:
        self.pending[slot] = self.executor.submit(function, *args)

    def wait(self, slot: int):
        """The result of the I/O on ``slot`` (its exception raised), or None if there was none."""
        future, self.pending[slot] = self.pending[slot], None
        return None if future is None else future.result()

    def close(self) -> None:
        if self.buffers is None:
            return
        for future in self.pending:
            if future is not None:
                try:
                    future.result()
                except Exception:
                    pass  # the error was (or will not be) the caller's; the buffer is free again
        buffers, self.buffers = self.buffers, None
        _pool.give(buffers)


def ring() -> Ring | None:
    """A ring of :data:`DEPTH` buffers (at least two), or None: no ``O_DIRECT`` on this
    platform, or the process's buffers are all in use."""
    if not O_DIRECT:
        return None
    buffers = _pool.take(DEPTH)
    if not buffers:
        return None
    return Ring(buffers, _pool.executor)


def set_direct(fd: int, on: bool) -> bool:
    """Turn ``O_DIRECT`` on or off for ``fd``; False where the filesystem does not support it."""
    if not O_DIRECT:
        return False
    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | O_DIRECT if on else flags & ~O_DIRECT)
    except OSError:
        return False
    return True


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


def _fill(stream, view: memoryview) -> int:
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])
        if not n:
            break
        got += n
    return got


class DiskError(Exception):
    """The disk's ``OSError`` (``error``) in a direct write, told apart from the stream's own."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


class ShortBody(Exception):
    """The stream ended after ``received`` of the ``expected`` bytes."""

    def __init__(self, received: int, expected: int):
        super().__init__(f"Received {received} bytes, expected {expected}")
        self.received = received
        self.expected = expected


def direct_write(fd: int, stream, length: int, ring: Ring) -> int:
    """Write exactly ``length`` bytes of ``stream`` (a binary stream with ``readinto``) to the
    start of ``fd``, which has ``O_DIRECT`` set: each full buffer is handed to the disk while the
    next one fills. The last partial page is written through the page cache, after ``O_DIRECT``
    is turned off (direct I/O cannot write a part of a block). Raises :class:`ShortBody` when the
    stream ends early, :class:`DiskError` for the disk's errors, the stream's own errors as they
    are; whichever, no I/O is left in flight on the ring's buffers when it returns or raises (the
    caller closes the ring)."""
    try:
        return _write(fd, stream, length, ring)
    except _StreamError as exc:
        raise exc.error from None
    except OSError as exc:
        raise DiskError(exc) from exc


class _StreamError(Exception):
    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


def _write(fd: int, stream, length: int, ring: Ring) -> int:
    offset = 0
    slot = 0
    tail = b""
    # on any error the caller's Ring.close waits for the writes still in flight
    while offset < length:
        ring.wait(slot)
        view = ring.views[slot][: min(BLOCK, length - offset)]
        try:
            got = _fill(stream, view)
        except OSError as exc:  # the client's connection, not the disk
            raise _StreamError(exc) from exc
        if got < len(view):
            raise ShortBody(offset + got, length)
        aligned = got - got % ALIGN
        if aligned:
            ring.submit(slot, _pwrite_all, fd, view[:aligned], offset)
        if aligned < got:  # only the last block can end inside a page
            tail = bytes(view[aligned:got])
        offset += got
        slot = (slot + 1) % len(ring)
    for each in range(len(ring)):
        ring.wait(each)
    if tail:
        if not set_direct(fd, False):
            raise OSError(f"cannot turn O_DIRECT off to write the last {len(tail)} bytes")
        _pwrite_all(fd, memoryview(tail), length - len(tail))
    return length


def _pread_block(fd: int, view: memoryview, offset: int) -> int:
    """Read into ``view`` from ``offset`` until it is full or the file ends."""
    got = 0
    while got < len(view):
        n = os.preadv(fd, [view[got:]], offset + got)
        if not n:
            break
        got += n
    return got


def direct_read(fd: int, offset: int, count: int, ring: Ring):
    """Yield ``count`` bytes of ``fd`` (``O_DIRECT`` set) from ``offset`` as memoryviews of the
    ring's buffers, each valid only until the next is asked for; the disk reads up to
    ``len(ring)`` blocks ahead. Stops early if the file is shorter than that. Closing the
    generator waits for the reads in flight (:meth:`Ring.close`, called by the caller)."""
    start = offset - offset % ALIGN
    end = offset + count
    blocks = range(start, end, BLOCK)

    def read_into(slot: int, index: int) -> None:
        if index < len(blocks):
            at = blocks[index]
            want = min(BLOCK, -(-(end - at) // ALIGN) * ALIGN)  # whole pages: past the end is fine
            ring.submit(slot, _pread_block, fd, ring.views[slot][:want], at)

    for slot in range(min(len(ring), len(blocks))):
        read_into(slot, slot)
    for index, at in enumerate(blocks):
        slot = index % len(ring)
        got = ring.wait(slot)
        low = offset - at if index == 0 else 0
        high = min(got, end - at)
        if high <= low:
            return
        yield ring.views[slot][low:high]
        if got < min(BLOCK, end - at):  # the file ended inside this block
            return
        read_into(slot, index + len(ring))
