"""Which pages of a file are in the page cache, for the tests of storage/pagecache.py: the
store's own ``mincore`` reader (``resident_pages``), per page."""

from __future__ import annotations

import os
import sys

import pytest

from storage.pagecache import resident_pages

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
SUPPORTED = sys.platform.startswith("linux") and hasattr(os, "posix_fadvise")


def resident(path) -> list[bool]:
    """For each page of ``path``: whether it is in the page cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return []
        pages = resident_pages(fd, 0, size)
        if pages is None:
            raise OSError(f"cannot tell which pages of {path} are cached")
        return [bool(page) for page in pages]
    finally:
        os.close(fd)


def uncache(path, offset: int = 0, length: int = 0) -> None:
    """Written back and dropped from the page cache (the whole file, or ``length`` bytes from
    ``offset``): what a file not read for a while looks like."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
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
