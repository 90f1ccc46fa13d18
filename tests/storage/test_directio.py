"""Large files with direct I/O (storage/directio.py): every byte and range comes back, the page
cache is left alone, the ring's buffers always go back to the pool, and everything that cannot
go direct takes the page-cache path with the same results. The stores here keep none of the files
they write in the cache (``keep_recent=0``): that is test_pagecache.py's."""

from __future__ import annotations

import errno
import hashlib
import io
import os

import pytest

from storage import InvalidRequest, StorageError, directio
from storage.directio import ALIGN, BLOCK, MIN_SIZE, POOL_BUFFERS, ring
from storage.local import LocalArtifactStore
from tests.page_cache import PAGE, SUPPORTED, disk_directory, resident

pytestmark = pytest.mark.skipif(not (SUPPORTED and directio.O_DIRECT), reason="needs Linux O_DIRECT and mincore")


@pytest.fixture
def disk_dir(tmp_path):
    directory = disk_directory(tmp_path)
    probe = os.open(directory / ".direct-probe", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not directio.set_direct(probe, True):
            pytest.skip(f"{directory} is on a filesystem without direct I/O")
    finally:
        os.close(probe)
        os.unlink(directory / ".direct-probe")
    return directory


@pytest.fixture(autouse=True)
def pool_is_whole_again():
    """Every test ends with each buffer of the pool free: no ring left behind, no I/O in flight."""
    yield
    pool = directio._pool
    assert len(pool.free) == pool.made


def direct_store(root) -> LocalArtifactStore:
    return LocalArtifactStore(root, keep_recent=0)


def data(size: int, seed: str = "direct") -> bytes:
    return hashlib.shake_256(seed.encode()).digest(size)


def stored(store: LocalArtifactStore, path: str) -> str:
    return os.path.join(store.root, *path.split("/"))


def read_all(store: LocalArtifactStore, path: str, start=None, end=None, views=False) -> bytes:
    """Each chunk copied as it arrives: a view is only valid until the next one is asked for."""
    chunks, _ = store.open_read(path, start, end, views=views)
    with chunks:
        return b"".join(bytes(chunk) for chunk in chunks)


@pytest.mark.parametrize(
    "size",
    [MIN_SIZE, MIN_SIZE + 12345, 5 * BLOCK + 1, 9 * BLOCK - ALIGN],
    ids=["aligned", "tail", "one-byte-tail", "many-blocks"],
)
def test_a_large_file_round_trips_without_touching_the_page_cache(disk_dir, size):
    store = direct_store(disk_dir / "s")
    payload = data(size, str(size))
    assert store.write("big.bin", io.BytesIO(payload), size) == size
    path = stored(store, "big.bin")
    assert os.path.getsize(path) == size
    whole_pages = size // PAGE
    assert not any(resident(path)[:whole_pages])  # only a partial last page went through the cache
    assert read_all(store, "big.bin") == payload
    assert read_all(store, "big.bin", views=True) == payload
    assert not any(resident(path)[:whole_pages])


def test_ranges_at_every_kind_of_edge(disk_dir):
    store = direct_store(disk_dir / "r")
    payload = data(4 * BLOCK + 777)
    store.write("big.bin", io.BytesIO(payload), len(payload))
    size = len(payload)
    for start, end in [
        (0, MIN_SIZE - 1),  # exactly the smallest direct read
        (1, 3 * BLOCK),  # unaligned start, ends one byte into a block
        (BLOCK - 5, 3 * BLOCK + 4),  # straddles block edges
        (ALIGN + 1, size - 2),  # a page in, a byte short of the end
        (2 * BLOCK + 100, size - 1),  # to the last byte, through the partial page
        (size - MIN_SIZE - 1, None),  # an open end
    ]:
        expected = payload[start : None if end is None else end + 1]
        assert read_all(store, "big.bin", start, end) == expected, (start, end)
        assert read_all(store, "big.bin", start, end, views=True) == expected, (start, end)
    assert read_all(store, "big.bin", -(MIN_SIZE + 3)) == payload[-(MIN_SIZE + 3) :]  # a suffix


def test_views_are_reused_and_bytes_can_be_kept(disk_dir):
    store = direct_store(disk_dir / "v")
    payload = data(3 * BLOCK)
    store.write("big.bin", io.BytesIO(payload), len(payload))
    chunks, _ = store.open_read("big.bin", views=True)
    with chunks:
        first = next(chunks)
        assert isinstance(first, memoryview) and len(first) == BLOCK
        assert bytes(first) == payload[:BLOCK]
    kept, _ = store.open_read("big.bin")  # views=False: chunks that outlive the next one
    with kept:
        parts = list(kept)
    assert all(type(part) is bytes for part in parts) and b"".join(parts) == payload


def test_a_short_body_is_refused_and_changes_nothing(disk_dir):
    store = direct_store(disk_dir / "b")
    store.write("model.bin", io.BytesIO(b"old"), 3)
    payload = data(3 * BLOCK)
    with pytest.raises(InvalidRequest, match=f"Received {len(payload) - 10} bytes, expected {len(payload)}"):
        store.write("model.bin", io.BytesIO(payload[:-10]), len(payload))
    assert read_all(store, "model.bin") == b"old"
    assert sorted(os.listdir(disk_dir / "b")) == ["model.bin"]  # no temporary file left behind


class Dropping(io.RawIOBase):
    """A client whose connection breaks after ``after`` bytes."""

    def __init__(self, payload: bytes, after: int):
        self.stream = io.BytesIO(payload)
        self.after = after

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.stream.tell() >= self.after:
            raise ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        view = memoryview(buffer)[: self.after - self.stream.tell()]
        return self.stream.readinto(view)


def test_the_clients_error_is_its_own_and_the_disks_is_the_stores(disk_dir, monkeypatch):
    store = direct_store(disk_dir / "e")
    payload = data(4 * BLOCK)
    # a broken connection half way: raised as it is (not a store failure), nothing written
    with pytest.raises(ConnectionResetError):
        store.write("model.bin", Dropping(payload, 2 * BLOCK + 5), len(payload))
    assert os.listdir(disk_dir / "e") == []

    # a full disk on the second block: a StorageError, after the writes in flight are done
    real = directio._pwrite_all
    calls = []

    def full_on_second(fd, view, offset):
        calls.append(offset)
        if offset == BLOCK:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, view, offset)

    monkeypatch.setattr(directio, "_pwrite_all", full_on_second)
    with pytest.raises(StorageError, match="No space left"):
        store.write("model.bin", io.BytesIO(payload), len(payload))
    assert BLOCK in calls and os.listdir(disk_dir / "e") == []


def test_a_read_closed_half_way_waits_for_its_reads_and_frees_its_buffers(disk_dir):
    store = direct_store(disk_dir / "c")
    payload = data(8 * BLOCK)
    store.write("big.bin", io.BytesIO(payload), len(payload))
    chunks, _ = store.open_read("big.bin", views=True)
    assert bytes(next(chunks)) == payload[:BLOCK]  # three more reads are in flight now
    chunks.close()
    assert len(directio._pool.free) == directio._pool.made  # all back, none still being read into
    assert read_all(store, "big.bin", 5 * BLOCK, None) == payload[5 * BLOCK :]


def test_when_every_buffer_is_taken_the_page_cache_path_serves(disk_dir):
    store = direct_store(disk_dir / "p")
    taken = []
    while (one := ring()) is not None:
        taken.append(one)
    try:
        assert sum(len(each) for each in taken) == POOL_BUFFERS
        payload = data(3 * BLOCK + 3)
        store.write("big.bin", io.BytesIO(payload), len(payload))
        pages = resident(stored(store, "big.bin"))
        assert any(pages)  # written through the page cache (behind: its last windows are cached)
        assert read_all(store, "big.bin") == payload
    finally:
        for each in taken:
            each.close()


def test_without_direct_io_the_page_cache_path_gives_the_same_bytes(disk_dir, monkeypatch):
    monkeypatch.setattr("storage.local.set_direct", lambda fd, on: False)  # tmpfs, FUSE, ...
    store = direct_store(disk_dir / "n")
    payload = data(3 * BLOCK + 1)
    store.write("big.bin", io.BytesIO(payload), len(payload))
    assert read_all(store, "big.bin", 7, None, views=True) == payload[7:]


def test_small_files_unknown_lengths_and_the_kernel_mode_are_not_direct(disk_dir):
    store = direct_store(disk_dir / "k")
    small = data(MIN_SIZE - 1)
    store.write("small.bin", io.BytesIO(small), len(small))
    assert all(resident(stored(store, "small.bin")))
    streamed = data(MIN_SIZE)
    store.write("streamed.bin", iter([streamed[:BLOCK], streamed[BLOCK:]]))  # no length, no readinto
    assert any(resident(stored(store, "streamed.bin")))
    kernel = LocalArtifactStore(disk_dir / "k2", page_cache="kernel")
    kernel.write("big.bin", io.BytesIO(streamed), len(streamed))
    assert all(resident(stored(kernel, "big.bin")))


def test_a_child_process_starts_with_a_pool_of_its_own(disk_dir):
    store = direct_store(disk_dir / "f")
    payload = data(MIN_SIZE)
    store.write("big.bin", io.BytesIO(payload), len(payload))  # the parent's pool now has buffers
    assert directio._pool.made > 0
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        ok = directio._pool.made == 0 and read_all(store, "big.bin") == payload
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
