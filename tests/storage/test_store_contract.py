"""The same behaviour from every artifact store (``store`` runs each test on local disk and on S3)."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc

import pytest

from storage import (
    MULTIPART_DOWNLOAD_UNSUPPORTED,
    MULTIPART_UPLOAD_UNSUPPORTED,
    ArtifactNotFound,
    FileInfo,
    InvalidRange,
    InvalidRequest,
    NotSupported,
    StorageError,
    UnsafePath,
)

MiB = 1024 * 1024


def read_all(store, path, start=None, end=None) -> tuple[bytes, int]:
    chunks, total = store.open_read(path, start, end)
    with chunks:
        return b"".join(chunks), total


def kind(store) -> str:
    return "s3" if store.supports_multipart else "local"


# -- write / read ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "a.txt",
        "dir with space/file name with space.txt",
        "ünï/çødé/データ ✓.bin",
        "x/y/z/deep/.hidden",
        "a..b",
    ],
)
@pytest.mark.parametrize("size", [0, 1, 1000, 3 * MiB + 17])
def test_round_trip(store, path, size):
    data = os.urandom(size)
    assert store.write(path, io.BytesIO(data)) == size
    assert read_all(store, path) == (data, size)
    assert store.size(path) == size
    assert store.exists(path) and not store.is_dir(path)


@pytest.mark.parametrize(
    "make",
    [
        lambda data: data,  # bytes
        lambda data: io.BytesIO(data),  # binary stream
        lambda data: (data[i : i + 7] for i in range(0, len(data), 7)),  # generator of odd chunks
        lambda data: [bytearray(data[:50]), memoryview(data[50:])],  # other bytes-likes
    ],
)
def test_write_sources(store, make):
    data = os.urandom(300)
    assert store.write("src.bin", make(data)) == 300
    assert read_all(store, "src.bin")[0] == data


class Trickle(io.RawIOBase):
    """A socket-like stream: ``readinto`` hands over at most ``step`` bytes at a time, and raises
    ``fail`` once ``fail_after`` bytes are out."""

    def __init__(self, data: bytes, step: int, fail_after: int | None = None, fail=None):
        self.data, self.pos, self.step = data, 0, step
        self.fail_after, self.fail = fail_after, fail
        self.reads = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.fail_after is not None and self.pos >= self.fail_after:
            raise self.fail
        self.reads += 1
        n = min(len(buffer), self.step, len(self.data) - self.pos)
        buffer[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


@pytest.mark.parametrize("size", [0, 5, 3 * MiB + 17, 9 * MiB + 1])
@pytest.mark.parametrize("with_length", [True, False])
def test_write_from_short_reads(store, size, with_length):
    """A stream with ``readinto`` that returns little at a time (a socket) is stored whole, with
    or without the length announced."""
    data = os.urandom(size)
    stream = Trickle(data + b"never read", step=65_537) if with_length else Trickle(data, 65_537)
    assert store.write("short/reads.bin", stream, size if with_length else None) == size
    assert read_all(store, "short/reads.bin") == (data, size)
    if with_length:
        assert stream.pos == size  # not a byte past the announced length


def test_write_from_a_stream_that_ends_early_stores_nothing(store):
    store.write("early/f.bin", b"original")
    with pytest.raises(InvalidRequest):
        store.write("early/f.bin", Trickle(os.urandom(2 * MiB), 100_000), 5 * MiB)
    assert read_all(store, "early/f.bin")[0] == b"original"
    assert [f.path for f in store.list_dir("early")] == ["f.bin"]


def test_write_from_a_stream_that_fails_leaves_previous_version(store):
    store.write("reset/f.bin", b"original")
    stream = Trickle(
        os.urandom(12 * MiB), MiB, fail_after=11 * MiB, fail=ConnectionResetError("connection reset by peer")
    )
    with pytest.raises(ConnectionResetError):
        store.write("reset/f.bin", stream, 12 * MiB)
    assert read_all(store, "reset/f.bin")[0] == b"original"
    assert [f.path for f in store.list_dir("reset")] == ["f.bin"]


def test_write_with_known_length_reads_only_that_much(store):
    stream = io.BytesIO(b"0123456789tail")
    assert store.write("ten.txt", stream, length=10) == 10
    assert read_all(store, "ten.txt")[0] == b"0123456789"


@pytest.mark.parametrize("chunks,length", [([b"short"], 10), ([b"0123456789", b"extra"], 10)])
def test_write_length_mismatch_stores_nothing(store, chunks, length):
    with pytest.raises(InvalidRequest):
        store.write("bad/len.txt", iter(chunks), length=length)
    assert not store.exists("bad/len.txt")
    assert store.list_dir("bad") == []


def test_overwrite_replaces_the_content(store):
    store.write("f.txt", b"first version, longer")
    store.write("f.txt", b"second")
    assert read_all(store, "f.txt") == (b"second", 6)


def test_failed_write_leaves_previous_version(store):
    store.write("keep.txt", b"original")

    def broken():
        yield b"partial data"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        store.write("keep.txt", broken())
    assert read_all(store, "keep.txt")[0] == b"original"
    assert [f.path for f in store.list_dir("")] == ["keep.txt"]


def test_artifact_is_invisible_until_the_write_completes(store):
    seen = []

    def produce():
        for _ in range(12):  # 12 MiB: more than one S3 part
            yield os.urandom(MiB)
            seen.append((store.exists("w/f.bin"), store.list_dir("w")))

    store.write("w/f.bin", produce())
    assert len(seen) == 12 and all(entry == (False, []) for entry in seen)
    assert store.size("w/f.bin") == 12 * MiB


def test_local_fsync_option(tmp_path):
    from storage import LocalArtifactStore

    store = LocalArtifactStore(tmp_path / "root", fsync=True)
    assert store.write("a/b.txt", b"durable") == 7
    assert read_all(store, "a/b.txt")[0] == b"durable"


def test_root_cannot_be_written_or_deleted(store):
    with pytest.raises(UnsafePath):
        store.write("", b"x")
    with pytest.raises(UnsafePath):
        store.delete("")
    with pytest.raises(UnsafePath):
        store.open_read("")


# -- byte ranges ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "start,end,expected",
    [
        (0, 0, slice(0, 1)),
        (10, 19, slice(10, 20)),
        (990, None, slice(990, 1000)),
        (None, 9, slice(0, 10)),
        (995, 5000, slice(995, 1000)),  # end past the last byte is clamped
        (999, 999, slice(999, 1000)),
        (-10, None, slice(990, 1000)),  # suffix range, HTTP "bytes=-10"
        (-5000, None, slice(0, 1000)),
        (None, None, slice(0, 1000)),
    ],
)
def test_byte_ranges(store, start, end, expected):
    data = bytes(range(256)) * 3 + os.urandom(232)
    store.write("r.bin", data)
    assert read_all(store, "r.bin", start, end) == (data[expected], 1000)


@pytest.mark.parametrize("start,end", [(1000, None), (1000, 2000), (5, 2), (-5, 3)])
def test_unsatisfiable_ranges(store, start, end):
    store.write("r.bin", b"x" * 1000)
    with pytest.raises(InvalidRange) as info:
        store.open_read("r.bin", start, end)
    assert info.value.size == 1000


def test_range_spanning_several_chunks(store):
    data = os.urandom(3 * MiB)
    store.write("big.bin", data)
    assert read_all(store, "big.bin", MiB - 3, 2 * MiB + 5)[0] == data[MiB - 3 : 2 * MiB + 6]


# -- listing -------------------------------------------------------------------------------------
@pytest.fixture
def tree(store):
    files = {
        "a.txt": b"hello",
        "sub/b.txt": b"abc",
        "sub/deeper/c.txt": b"1234567",
        "sub/deeper/d.bin": b"",
        "sub/deeper/ünï dir/e.txt": b"e",
        "z dir/ü.txt": "ü".encode(),
        "subway/not-under-sub.txt": b"s",
    }
    for path, data in files.items():
        store.write(path, data)
    return files


def test_list_dir_at_several_depths(store, tree):
    assert store.list_dir("") == [
        FileInfo("a.txt", False, 5),
        FileInfo("sub", True, None),
        FileInfo("subway", True, None),
        FileInfo("z dir", True, None),
    ]
    assert store.list_dir("sub") == [FileInfo("b.txt", False, 3), FileInfo("deeper", True, None)]
    assert store.list_dir("sub/deeper") == [
        FileInfo("c.txt", False, 7),
        FileInfo("d.bin", False, 0),
        FileInfo("ünï dir", True, None),
    ]
    assert store.list_dir("sub/deeper/ünï dir") == [FileInfo("e.txt", False, 1)]
    assert store.list_dir("z dir") == [FileInfo("ü.txt", False, 2)]


def test_list_dir_normalises_the_path(store, tree):
    expected = store.list_dir("sub")
    assert store.list_dir("sub/") == expected
    assert store.list_dir("./sub//") == expected


def test_list_dir_of_missing_path_or_file_is_empty(store, tree):
    assert store.list_dir("nope") == []
    assert store.list_dir("sub/nope/deeper") == []
    assert store.list_dir("a.txt") == []
    assert store.list_dir("sub/b.txt") == []
    assert store.list_dir("su") == []  # a prefix of a directory name is not a directory


def test_list_dir_of_empty_store_is_empty(store):
    assert store.list_dir("") == []
    assert store.list_dir() == []


def test_file_info_json_shape():
    assert FileInfo("a.txt", False, 5).to_dict() == {"path": "a.txt", "is_dir": False, "file_size": 5}
    assert FileInfo("sub", True, None).to_dict() == {"path": "sub", "is_dir": True}


# -- exists / is_dir / size ----------------------------------------------------------------------
def test_exists_is_dir_size(store, tree):
    assert store.exists("") and store.is_dir("")
    assert store.exists("a.txt") and not store.is_dir("a.txt") and store.size("a.txt") == 5
    assert store.exists("sub") and store.is_dir("sub")
    assert store.exists("sub/deeper") and store.is_dir("sub/deeper/")
    assert not store.exists("su") and not store.is_dir("su")
    assert not store.exists("missing") and not store.is_dir("missing")
    assert store.size("sub/deeper/d.bin") == 0


@pytest.mark.parametrize("path", ["missing.txt", "sub", "sub/nope.txt", "a.txt/under-a-file"])
def test_missing_files_raise_not_found(store, tree, path):
    with pytest.raises(ArtifactNotFound):
        store.open_read(path)
    with pytest.raises(ArtifactNotFound):
        store.size(path)


@pytest.mark.parametrize("path", ["x" * 300, "d/" + "y" * 300 + "/f.txt", "z/" * 200 + "y" * 900])
def test_overlong_paths_are_simply_not_found(store, path):
    with pytest.raises(ArtifactNotFound):
        store.open_read(path)
    with pytest.raises(ArtifactNotFound):
        store.size(path)
    with pytest.raises(ArtifactNotFound):
        store.delete(path)
    assert store.list_dir(path) == [] and not store.exists(path) and not store.is_dir(path)


def test_writing_an_overlong_path_is_an_error_not_a_crash(store):
    path = "d/" + "y" * 1100  # beyond S3's 1024-byte keys and Linux's 255-byte file names
    with pytest.raises(StorageError):
        store.write(path, b"x")
    assert not store.exists(path)


# -- delete --------------------------------------------------------------------------------------
def test_delete_file(store, tree):
    store.delete("sub/b.txt")
    assert not store.exists("sub/b.txt")
    assert [f.path for f in store.list_dir("sub")] == ["deeper"]
    assert read_all(store, "sub/deeper/c.txt")[0] == b"1234567"


def test_delete_tree(store, tree):
    store.delete("sub")
    assert not store.exists("sub") and not store.exists("sub/deeper/c.txt")
    assert store.list_dir("sub") == []
    # siblings, including one whose name starts with the deleted one, are untouched
    assert [f.path for f in store.list_dir("")] == ["a.txt", "subway", "z dir"]
    assert read_all(store, "subway/not-under-sub.txt")[0] == b"s"


def test_delete_nested_tree_with_trailing_slash(store, tree):
    store.delete("sub/deeper/")
    assert store.list_dir("sub") == [FileInfo("b.txt", False, 3)]


@pytest.mark.parametrize("path", ["missing", "sub/missing.txt", "su"])
def test_delete_missing_raises_not_found(store, tree, path):
    with pytest.raises(ArtifactNotFound):
        store.delete(path)
    assert len(store.list_dir("")) == 4


# -- streaming without buffering -----------------------------------------------------------------
def test_streamed_50mb_write_and_read_keep_memory_flat(store):
    chunk_count = 50
    produced = hashlib.sha256()

    def produce():
        for _ in range(chunk_count):
            chunk = os.urandom(MiB)
            produced.update(chunk)
            yield chunk

    consumed = hashlib.sha256()
    tracemalloc.start()
    try:
        written = store.write("big/stream.bin", produce())
        chunks, total = store.open_read("big/stream.bin")
        read = 0
        with chunks:
            for chunk in chunks:
                consumed.update(chunk)
                read += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == total == read == chunk_count * MiB
    assert consumed.hexdigest() == produced.hexdigest()
    assert peak < 20_000_000, f"peak traced memory {peak / 1e6:.1f} MB"


def test_unconsumed_reader_can_be_closed(store):
    store.write("f.bin", os.urandom(3 * MiB))
    chunks, total = store.open_read("f.bin")
    assert len(next(chunks)) > 0
    chunks.close()
    assert list(chunks) == []
    assert total == 3 * MiB


# -- multipart and presigned URLs ----------------------------------------------------------------
def test_capabilities(store):
    assert store.supports_multipart is (kind(store) == "s3")


def test_multipart_not_supported_on_local(local_store):
    local_store.write("x.bin", b"x")
    calls = [
        lambda: local_store.create_multipart("x.bin"),
        lambda: local_store.multipart_part_urls("x.bin", "id", 2),
        lambda: local_store.complete_multipart("x.bin", "id", [(1, "etag")]),
        lambda: local_store.abort_multipart("x.bin", "id"),
    ]
    for call in calls:
        with pytest.raises(NotSupported) as info:
            call()
        assert str(info.value) == MULTIPART_UPLOAD_UNSUPPORTED
        assert str(info.value).startswith("Multipart upload is not supported")
    with pytest.raises(NotSupported) as info:
        local_store.presigned_get("x.bin")
    assert str(info.value) == MULTIPART_DOWNLOAD_UNSUPPORTED


def _upload_parts(http, parts, bodies):
    etags = []
    for part, body in zip(parts, bodies):
        response = http.put(part.url, data=body, headers=part.headers)
        assert response.status_code == 200, response.text
        etags.append((part.part_number, response.headers["ETag"]))
    return etags


def test_multipart_upload_on_s3(s3_store, http):
    path = "mpu/model weights ü.bin"
    bodies = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]
    upload_id = s3_store.create_multipart(path)
    parts = s3_store.multipart_part_urls(path, upload_id, len(bodies))
    assert [p.part_number for p in parts] == [1, 2, 3]
    assert all(p.url.startswith("http://127.0.0.1:") for p in parts)
    assert parts[0].to_dict()["headers"] == {}
    etags = _upload_parts(http, parts, bodies)
    assert not s3_store.exists(path)  # invisible until completed
    # MLflow sends {"part_number", "etag", "url"} dicts, in any order, etags quoted
    s3_store.complete_multipart(
        path, upload_id, [{"part_number": n, "etag": etag, "url": parts[n - 1].url} for n, etag in reversed(etags)]
    )
    assert read_all(s3_store, path) == (b"".join(bodies), 10 * MiB + 1234)
    assert [f.path for f in s3_store.list_dir("mpu")] == ["model weights ü.bin"]


def test_multipart_abort_on_s3(s3_store, http):
    path = "mpu/aborted.bin"
    upload_id = s3_store.create_multipart(path)
    parts = s3_store.multipart_part_urls(path, upload_id, 1)
    etags = _upload_parts(http, parts, [b"some bytes"])
    assert etags
    s3_store.abort_multipart(path, upload_id)
    assert not s3_store.exists(path)
    # The upload is gone: S3 answers NoSuchUpload, mapped to ArtifactNotFound. (Completing it
    # would give the same on S3/MinIO, but moto 5.2 answers that with a 500, so not tested.)
    with pytest.raises(ArtifactNotFound):
        s3_store.abort_multipart(path, upload_id)


def test_multipart_argument_checks_on_s3(s3_store):
    upload_id = s3_store.create_multipart("mpu/x.bin")
    for bad in (0, -1, 10_001, "3", True):
        with pytest.raises(InvalidRequest):
            s3_store.multipart_part_urls("mpu/x.bin", upload_id, bad)
    for parts in ([], [(1, "")], [(0, "etag")], [(1, "a"), (1, "b")], ["nonsense"]):
        with pytest.raises(InvalidRequest):
            s3_store.complete_multipart("mpu/x.bin", upload_id, parts)
    with pytest.raises(InvalidRequest):
        s3_store.multipart_part_urls("mpu/x.bin", "", 1)
    with pytest.raises(UnsafePath):
        s3_store.create_multipart("../x.bin")
    s3_store.abort_multipart("mpu/x.bin", upload_id)


def test_presigned_get_on_s3(s3_store, http):
    data = os.urandom(4096)
    s3_store.write("dl/file ü.bin", data)
    url, headers = s3_store.presigned_get("dl/file ü.bin")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=3600" in url
    response = http.get(url, headers=headers)
    assert response.status_code == 200 and response.content == data
    ranged = http.get(url, headers={**headers, "Range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.content == data[100:200]
    with pytest.raises(ArtifactNotFound):
        s3_store.presigned_get("dl/missing.bin")
