"""Which pages of a file are in the page cache, for the tests of storage/pagecache.py.

``mincore(2)`` on a mapping of the file: it reports residency without reading anything (a read
with ``RWF_NOWAIT`` would start readahead of the very pages it is asked about).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

import pytest

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
SUPPORTED = sys.platform.startswith("linux") and hasattr(os, "posix_fadvise")

_PROT_READ, _MAP_SHARED = 1, 1
if SUPPORTED:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    _libc.mmap.restype = ctypes.c_void_p
    _libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    _libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    _libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def resident(path) -> list[bool]:
    """For each page of ``path``: whether it is in the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return []
        address = _libc.mmap(None, size, _PROT_READ, _MAP_SHARED, fd, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap")
        try:
            pages = (size + PAGE - 1) // PAGE
            vector = ctypes.create_string_buffer(pages)
            if _libc.mincore(address, size, vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
            return [bool(byte & 1) for byte in vector.raw[:pages]]
        finally:
            _libc.munmap(address, size)
    finally:
        os.close(fd)


def disk_directory(directory):
    """``directory``, once it is known to be on a filesystem that drops clean pages when advised
    to; the test is skipped on one that cannot (tmpfs is only memory: there is no page cache to
    bound)."""
    if not _drops_pages(directory):
        pytest.skip(f"{directory} is on a filesystem that keeps every page in memory (tmpfs?)")
    return directory


def _drops_pages(directory) -> bool:
    probe = os.path.join(directory, ".page-cache-probe")
    with open(probe, "wb") as fh:
        fh.write(os.urandom(64 * 1024))
        fh.flush()
        os.fsync(fh.fileno())
        os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    try:
        return not any(resident(probe))
    finally:
        os.unlink(probe)
