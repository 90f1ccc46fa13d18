"""The local store's page-cache footprint (storage/pagecache.py): the large files written last
stay cached up to a budget, the oldest dropped to make room; where another large file cannot go
direct (no direct I/O on the filesystem, no free buffers, a stream of unknown length; see
test_directio.py), it is written behind and dropped from the cache as it streams; a large read
is served from the cache when its file is there and goes around it when not; small files and
the 'kernel' mode are left to the kernel."""

from __future__ import annotations

import errno
import hashlib
import io
import os

import pytest

from storage import StorageError, open_store
from storage.local import LocalArtifactStore
from storage.pagecache import (
    WINDOW,
    ReadBehind,
    RecentWrites,
    WriteBehind,
    read_behind,
    resident_fraction,
    resident_pages,
    write_behind,
)
from tests.page_cache import PAGE, SUPPORTED, disk_directory, resident, uncache

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
    store = LocalArtifactStore(disk_dir / "a", keep_recent=0)
    payload = data(6 * WINDOW + 123)
    assert store.write("big.bin", io.BytesIO(payload), len(payload)) == len(payload)
    path = stored(store, "big.bin")
    pages = resident(path)
    # windows 0-4 were written back and dropped as the next ones arrived ...
    assert not any(pages[: 5 * WINDOW // PAGE])
    # ... the last full window and the tail are still cached, and nothing was lost
    assert all(pages[5 * WINDOW // PAGE :])
    with store.open_read("big.bin")[0] as chunks:
        assert b"".join(chunks) == payload


def test_small_files_and_the_kernel_mode_stay_in_the_page_cache(disk_dir):
    bounded = LocalArtifactStore(disk_dir / "b")
    small = data(WINDOW)
    bounded.write("small.bin", io.BytesIO(small), len(small))
    assert all(resident(stored(bounded, "small.bin")))

    kernel = LocalArtifactStore(disk_dir / "k", page_cache="kernel")
    payload = data(4 * WINDOW)
    kernel.write("big.bin", iter([payload[i : i + MIB] for i in range(0, len(payload), MIB)]))
    assert all(resident(stored(kernel, "big.bin")))


def test_a_large_read_of_a_file_not_cached_drops_what_it_has_sent(disk_dir, no_direct):
    store = LocalArtifactStore(disk_dir / "r", page_cache="kernel")
    payload = data(5 * WINDOW)
    store.write("big.bin", io.BytesIO(payload), len(payload))
    path = stored(store, "big.bin")
    uncache(path)
    reader = LocalArtifactStore(disk_dir / "r")
    chunks, size = reader.open_read("big.bin")
    with chunks:
        got = b"".join(chunks)
    assert (size, got) == (len(payload), payload)
    pages = resident(path)
    assert not any(pages[: 3 * WINDOW // PAGE])  # dropped one window behind the reader
    assert all(pages[4 * WINDOW // PAGE :])  # the last window is left


def test_a_large_range_is_read_whole_and_only_its_own_pages_are_dropped(disk_dir, no_direct):
    """Outside the range (and its edge pages) the file stays cached; inside, it is dropped behind
    the reader (all but the first large folio, which the kernel keeps because it begins before
    the range). The kernel may itself reclaim clean pages while the machine is loaded (the whole
    suite running beside it), so the scenario is tried up to three times: a reader that dropped
    pages outside its range fails every time."""
    payload = data(6 * WINDOW)
    start, end = WINDOW + 5, 5 * WINDOW - 7
    first, last = start // PAGE, end // PAGE
    seen = []
    for attempt in range(3):
        store = LocalArtifactStore(disk_dir / f"g{attempt}", fsync=True, page_cache="kernel")
        store.write("big.bin", io.BytesIO(payload), len(payload))
        path = stored(store, "big.bin")
        uncache(path, start, end - start + 1)  # the range is not cached, the rest of the file is
        with LocalArtifactStore(disk_dir / f"g{attempt}").open_read("big.bin", start, end)[0] as chunks:
            assert b"".join(chunks) == payload[start : end + 1]
        pages = resident(path)
        outside = all(pages[: first + 1]) and all(pages[last:])
        inside_dropped = not any(pages[2 * WINDOW // PAGE : 3 * WINDOW // PAGE])
        assert inside_dropped  # the reader's own drop-behind: never up to the kernel
        if outside:
            return
        seen.append([i for i, cached in enumerate(pages) if not cached and not first < i < last][:10])
    pytest.fail(f"pages outside the range were dropped in every attempt (first missing: {seen})")


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


@pytest.mark.parametrize("keep_recent", [0, 4 * WINDOW], ids=["dropped", "kept"])
def test_a_failing_disk_write_is_a_storage_error_and_leaves_nothing(disk_dir, no_direct, monkeypatch, keep_recent):
    store = LocalArtifactStore(disk_dir / "f", keep_recent=keep_recent)
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
    assert (store.recent.held, store.recent.kept()) == (0, [])  # the failed write's room is given back


def test_the_mode_is_checked_and_passed_through_open_store(tmp_path):
    with pytest.raises(ValueError, match="page_cache"):
        LocalArtifactStore(tmp_path, page_cache="none")
    assert open_store(str(tmp_path)).bounded
    assert not open_store(str(tmp_path), page_cache="kernel").bounded
    assert not open_store(f"file://{tmp_path}", page_cache="kernel").bounded


# --- the files written last (RecentWrites) --------------------------------------------------------


def kept_store(root, windows: int) -> LocalArtifactStore:
    return LocalArtifactStore(root, keep_recent=windows * WINDOW)


def write(store: LocalArtifactStore, path: str, size: int, seed: str = "") -> bytes:
    payload = data(size + len(seed))[len(seed) :] if seed else data(size)
    assert store.write(path, io.BytesIO(payload), len(payload)) == len(payload)
    return payload


def test_a_large_file_written_last_stays_cached_and_is_read_from_the_cache(disk_dir):
    store = kept_store(disk_dir / "k", 8)
    payload = write(store, "model/weights.bin", 3 * WINDOW + 5)
    path = stored(store, "model/weights.bin")
    assert all(resident(path))  # written behind, not dropped
    assert store.recent.kept() == [path] and store.recent.held == len(payload)
    chunks, size = store.open_read("model/weights.bin")
    with chunks:
        assert (size, b"".join(chunks)) == (len(payload), payload)
    assert all(resident(path))  # a cached file is read through the cache and left there


def test_the_file_kept_longest_is_dropped_to_make_room(disk_dir, no_direct):
    store = kept_store(disk_dir / "o", 7)
    first = write(store, "a.bin", 3 * WINDOW, "a")
    write(store, "b.bin", 3 * WINDOW, "b")
    assert all(resident(stored(store, "a.bin"))) and all(resident(stored(store, "b.bin")))
    write(store, "c.bin", 3 * WINDOW, "c")  # 9 windows would not fit in 7: a makes room
    assert not any(resident(stored(store, "a.bin")))
    assert all(resident(stored(store, "b.bin"))) and all(resident(stored(store, "c.bin")))
    assert store.recent.kept() == [stored(store, "b.bin"), stored(store, "c.bin")]
    assert store.recent.held == 6 * WINDOW
    # a file no longer cached is read around the cache (here, without direct I/O: dropped
    # behind the reader), not into it
    with store.open_read("a.bin")[0] as chunks:
        assert b"".join(chunks) == first
    assert not any(resident(stored(store, "a.bin"))[: WINDOW // PAGE])


def test_files_beyond_the_budget_small_files_and_a_budget_of_zero_are_not_kept(disk_dir):
    store = kept_store(disk_dir / "b", 2)
    write(store, "big.bin", 2 * WINDOW + 1)  # more than the budget: direct I/O, never cached
    assert not any(resident(stored(store, "big.bin"))[: 2 * WINDOW // PAGE])
    write(store, "small.bin", WINDOW)  # one window: left to the kernel, not counted
    assert all(resident(stored(store, "small.bin")))
    assert (store.recent.kept(), store.recent.held) == ([], 0)
    none = LocalArtifactStore(disk_dir / "z", keep_recent=0)
    write(none, "big.bin", 2 * WINDOW)
    assert not any(resident(stored(none, "big.bin"))) and none.recent.kept() == []
    assert LocalArtifactStore(disk_dir / "kk", page_cache="kernel").recent.budget == 0
    with pytest.raises(ValueError, match="budget"):
        RecentWrites(-1)


def test_a_kept_file_replaced_or_deleted_is_no_longer_counted(disk_dir):
    store = kept_store(disk_dir / "r", 8)
    write(store, "run/a.bin", 2 * WINDOW, "1")
    write(store, "run/a.bin", 3 * WINDOW, "2")  # replaced by another kept file: counted once
    assert (store.recent.kept(), store.recent.held) == ([stored(store, "run/a.bin")], 3 * WINDOW)
    write(store, "run/a.bin", 10, "3")  # replaced by a small file
    assert (store.recent.kept(), store.recent.held) == ([], 0)
    write(store, "run/a.bin", 2 * WINDOW, "4")
    write(store, "run/sub/b.bin", 2 * WINDOW, "5")
    write(store, "c.bin", 2 * WINDOW, "6")
    store.delete("run")  # a folder: everything kept under it goes
    assert (store.recent.kept(), store.recent.held) == ([stored(store, "c.bin")], 2 * WINDOW)
    store.delete("c.bin")
    assert (store.recent.kept(), store.recent.held) == ([], 0)


def test_a_file_put_in_place_of_a_kept_one_behind_the_stores_back_is_left_alone(disk_dir):
    store = kept_store(disk_dir / "s", 4)
    write(store, "a.bin", 2 * WINDOW, "a")
    path = stored(store, "a.bin")
    other = disk_dir / "other.bin"
    other.write_bytes(data(2 * WINDOW))
    os.replace(other, path)  # another inode now: the one kept went with its pages
    assert all(resident(path))
    write(store, "b.bin", 2 * WINDOW, "b")
    write(store, "c.bin", 2 * WINDOW, "c")  # a's turn to be dropped: not this file
    assert all(resident(path))
    assert store.recent.kept() == [stored(store, "b.bin"), stored(store, "c.bin")]


def test_what_is_cached_is_told_without_reading_it(disk_dir):
    path = disk_dir / "f.bin"
    path.write_bytes(data(4 * WINDOW))
    uncache(path, WINDOW, 2 * WINDOW)
    fd = os.open(path, os.O_RDONLY)
    try:
        pages = resident_pages(fd, 0, 4 * WINDOW)
        per_window = WINDOW // PAGE
        assert pages == b"\x01" * per_window + b"\x00" * 2 * per_window + b"\x01" * per_window
        assert resident_fraction(fd, 0, 4 * WINDOW) == 0.5
        assert resident_fraction(fd, WINDOW + 1, WINDOW) == 0.0  # whole pages, unaligned start
        assert resident_fraction(fd, 3 * WINDOW, WINDOW) == 1.0
        assert resident_pages(fd, 0, 4 * WINDOW) == pages  # asking read nothing in
        assert resident_pages(fd, 0, 0) is None
    finally:
        os.close(fd)
