"""The local store's page-cache footprint (storage/pagecache.py): where a large file cannot go
direct (no direct I/O on the filesystem, no free buffers, a stream of unknown length; see
test_directio.py), it is written behind and dropped from the cache as it streams; small files and
the 'kernel' mode are left to the kernel."""
from __future__ import annotations

import errno
import hashlib
import io
import os

import pytest

from storage import StorageError, open_store
from storage.local import LocalArtifactStore
from storage.pagecache import WINDOW, ReadBehind, WriteBehind, read_behind, write_behind
from tests.page_cache import PAGE, SUPPORTED, disk_directory, resident

MIB = 1024 * 1024
pytestmark = pytest.mark.skipif(not SUPPORTED, reason="needs Linux mincore and posix_fadvise")


@pytest.fixture
def disk_dir(tmp_path):
    return disk_directory(tmp_path)


@pytest.fixture
def no_direct(monkeypatch):
    """A filesystem without direct I/O: every large file takes the page-cache path."""
    monkeypatch.setattr("storage.local.set_direct", lambda fd, on: False)


def data(size: int) -> bytes:
    return hashlib.shake_256(b"pagecache").digest(size)


def stored(store: LocalArtifactStore, path: str) -> str:
    return os.path.join(store.root, *path.split("/"))


def test_a_large_write_leaves_only_its_last_windows_in_the_page_cache(disk_dir, no_direct):
    store = LocalArtifactStore(disk_dir / "a")
    payload = data(6 * WINDOW + 123)
    assert store.write("big.bin", io.BytesIO(payload), len(payload)) == len(payload)
    path = stored(store, "big.bin")
    pages = resident(path)
    # windows 0-4 were written back and dropped as the next ones arrived ...
    assert not any(pages[:5 * WINDOW // PAGE])
    # ... the last full window and the tail are still cached, and nothing was lost
    assert all(pages[5 * WINDOW // PAGE:])
    with store.open_read("big.bin")[0] as chunks:
        assert b"".join(chunks) == payload


def test_small_files_and_the_kernel_mode_stay_in_the_page_cache(disk_dir):
    bounded = LocalArtifactStore(disk_dir / "b")
    small = data(WINDOW)
    bounded.write("small.bin", io.BytesIO(small), len(small))
    assert all(resident(stored(bounded, "small.bin")))

    kernel = LocalArtifactStore(disk_dir / "k", page_cache="kernel")
    payload = data(4 * WINDOW)
    kernel.write("big.bin", iter([payload[i:i + MIB] for i in range(0, len(payload), MIB)]))
    assert all(resident(stored(kernel, "big.bin")))


def test_a_large_read_drops_what_it_has_sent(disk_dir, no_direct):
    # written fully cached and clean (the kernel keeps dirty pages whatever it is advised)
    store = LocalArtifactStore(disk_dir / "r", fsync=True, page_cache="kernel")
    payload = data(5 * WINDOW)
    store.write("big.bin", io.BytesIO(payload), len(payload))
    path = stored(store, "big.bin")
    assert all(resident(path))
    reader = LocalArtifactStore(disk_dir / "r")
    chunks, size = reader.open_read("big.bin")
    with chunks:
        got = b"".join(chunks)
    assert (size, got) == (len(payload), payload)
    pages = resident(path)
    assert not any(pages[:3 * WINDOW // PAGE])  # dropped one window behind the reader
    assert all(pages[4 * WINDOW // PAGE:])  # the last window is left


def test_a_large_range_is_read_whole_and_only_its_own_pages_are_dropped(disk_dir, no_direct):
    store = LocalArtifactStore(disk_dir / "g", fsync=True, page_cache="kernel")
    payload = data(6 * WINDOW)
    store.write("big.bin", io.BytesIO(payload), len(payload))
    path = stored(store, "big.bin")
    start, end = WINDOW + 5, 5 * WINDOW - 7
    with LocalArtifactStore(disk_dir / "g").open_read("big.bin", start, end)[0] as chunks:
        assert b"".join(chunks) == payload[start:end + 1]
    pages = resident(path)
    first, last = start // PAGE, end // PAGE
    assert all(pages[:first + 1]) and all(pages[last:])  # outside the range (and its edge pages): untouched
    # inside: dropped behind the reader (all but the first large folio, which the kernel keeps
    # because it begins before the range)
    assert not any(pages[2 * WINDOW // PAGE:3 * WINDOW // PAGE])


def test_a_small_read_is_left_alone():
    assert read_behind(0, 0, WINDOW) is None
    assert isinstance(read_behind(0, 0, WINDOW + 1), ReadBehind)


def test_write_behind_turns_itself_off_where_the_kernel_refuses_it():
    read_end, write_end = os.pipe()
    try:
        behind = write_behind(write_end)
        assert isinstance(behind, WriteBehind)
        os.write(write_end, b"x" * 2 * 4096)
        small = WriteBehind(write_end, window=4096)
        small.advance(2 * 4096)  # sync_file_range on a pipe: ESPIPE, not raised
        assert small.started is None
        small.advance(10 * 4096)  # and no further calls
        assert os.read(read_end, 3 * 4096) == b"x" * 2 * 4096
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_failing_disk_write_is_a_storage_error_and_leaves_nothing(disk_dir, no_direct, monkeypatch):
    store = LocalArtifactStore(disk_dir / "f")
    store.write("model.bin", io.BytesIO(b"old"), 3)

    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(WriteBehind, "advance", lambda self, size: full())
    payload = data(3 * WINDOW)
    with pytest.raises(StorageError, match="No space left"):
        store.write("model.bin", io.BytesIO(payload), len(payload))
    with store.open_read("model.bin")[0] as chunks:
        assert b"".join(chunks) == b"old"
    assert sorted(os.listdir(disk_dir / "f")) == ["model.bin"]  # no temporary file left behind


def test_the_mode_is_checked_and_passed_through_open_store(tmp_path):
    with pytest.raises(ValueError, match="page_cache"):
        LocalArtifactStore(tmp_path, page_cache="none")
    assert open_store(str(tmp_path)).bounded
    assert not open_store(str(tmp_path), page_cache="kernel").bounded
    assert not open_store(f"file://{tmp_path}", page_cache="kernel").bounded
