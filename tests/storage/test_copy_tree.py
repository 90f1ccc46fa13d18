"""``ArtifactStore.copy_tree``: what every store's copy does (``store``: local disk and S3), and how
each makes it (hard links on disk, server-side copies on S3, the streamed default elsewhere).
"""

from __future__ import annotations

import errno
import os

import pytest

import storage.local
from storage import ArtifactNotFound, ArtifactStore, FileInfo, InvalidRequest, UnsafePath, open_store

FILES = {
    "MLmodel": b"flavors: {}\n",
    "model.pkl": os.urandom(3000),
    "empty.bin": b"",
    "sub/deeper/weights.bin": os.urandom(70_000),
    "sub/ünï dir/e.txt": "é".encode(),
}


def read(store, path) -> bytes:
    chunks, _ = store.open_read(path)
    with chunks:
        return b"".join(chunks)


def files_under(store, path="") -> dict[str, bytes]:
    out = {}
    for info in store.list_dir(path):
        child = f"{path}/{info.path}" if path else info.path
        if info.is_dir:
            out.update({f"{info.path}/{k}": v for k, v in files_under(store, child).items()})
        else:
            out[info.path] = read(store, child)
    return out


@pytest.fixture
def model(store):
    for path, data in FILES.items():
        store.write(f"1/run/artifacts/model/{path}", data)
    store.write("1/run/artifacts/other.txt", b"not part of the model")
    return "1/run/artifacts/model"


def test_copies_a_tree(store, model):
    assert store.copy_tree(model, "registry/v1") == len(FILES)
    assert files_under(store, "registry/v1") == FILES
    assert files_under(store, model) == FILES  # the source is untouched


def test_copies_one_file(store, model):
    assert store.copy_tree(f"{model}/sub/deeper/weights.bin", "registry/v2/w.bin") == 1
    assert read(store, "registry/v2/w.bin") == FILES["sub/deeper/weights.bin"]
    assert store.list_dir("registry/v2") == [FileInfo("w.bin", False, len(FILES["sub/deeper/weights.bin"]))]


def test_nothing_at_the_source_copies_nothing(store, model):
    assert store.copy_tree("1/run/artifacts/nope", "registry/v3") == 0
    assert not store.exists("registry/v3")


def test_the_copy_outlives_later_writes_and_deletes_of_the_source(store, model):
    store.copy_tree(model, "registry/v1")
    store.write(f"{model}/MLmodel", b"rewritten")
    store.write(f"{model}/sub/deeper/weights.bin", os.urandom(10))
    store.write(f"{model}/added.txt", b"new")
    assert files_under(store, "registry/v1") == FILES
    store.delete(model)
    assert files_under(store, "registry/v1") == FILES
    with pytest.raises(ArtifactNotFound):
        store.open_read(f"{model}/MLmodel")


def test_writes_to_the_copy_leave_the_source_alone(store, model):
    store.copy_tree(model, "registry/v1")
    store.write("registry/v1/MLmodel", b"changed in the copy")
    store.delete("registry/v1/sub")
    assert files_under(store, model) == FILES


def test_a_copy_replaces_files_at_the_destination(store, model):
    store.write("registry/v1/MLmodel", b"old")
    store.write("registry/v1/stale.txt", b"stays: a copy adds and replaces, it does not mirror")
    assert store.copy_tree(model, "registry/v1") == len(FILES)
    assert read(store, "registry/v1/MLmodel") == FILES["MLmodel"]
    assert read(store, "registry/v1/stale.txt").startswith(b"stays")


def test_paths_are_checked(store, model):
    with pytest.raises(UnsafePath):
        store.copy_tree("../outside", "registry/x")
    with pytest.raises(UnsafePath):
        store.copy_tree(model, "../outside")
    with pytest.raises(UnsafePath):
        store.copy_tree(model, "")  # the root itself is never a destination


# -- local disk: hard links ----------------------------------------------------------------------
def test_local_copy_links_instead_of_copying(local_store, tmp_path):
    for path, data in FILES.items():
        local_store.write(f"m/{path}", data)
    assert local_store.copy_tree("m", "registry/v1") == len(FILES)
    for path in FILES:
        a, b = (
            os.stat(os.path.join(local_store.root, "m", path)),
            os.stat(os.path.join(local_store.root, "registry/v1", path)),
        )
        assert (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) and a.st_nlink == 2


@pytest.mark.parametrize("code", [errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP])
def test_local_copy_streams_what_it_cannot_link(local_store, monkeypatch, code):
    for path, data in FILES.items():
        local_store.write(f"m/{path}", data)

    def refuse(src, dst, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(storage.local.os, "link", refuse)
    assert local_store.copy_tree("m", "registry/v1") == len(FILES)
    assert files_under(local_store, "registry/v1") == FILES
    copied = os.stat(os.path.join(local_store.root, "registry/v1/model.pkl"))
    assert copied.st_nlink == 1


def test_local_copy_failure_is_a_store_error(local_store, monkeypatch):
    local_store.write("m/a.txt", b"a")

    def full(src, dst, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage.local.os, "link", full)
    with pytest.raises(storage.StorageError, match="No space left"):
        local_store.copy_tree("m", "registry/v1")


def test_local_copy_follows_the_stores_listing_rules(local_store, tmp_path):
    root = local_store.root
    local_store.write("m/a.txt", b"a")
    local_store.write("elsewhere/b.txt", b"b")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    os.symlink(outside, os.path.join(root, "m", "out-dir"))
    os.symlink(outside / "secret.txt", os.path.join(root, "m", "out-file"))
    os.symlink(os.path.join(root, "elsewhere"), os.path.join(root, "m", "in-dir"))
    os.symlink(os.path.join(root, "m"), os.path.join(root, "m", "loop"))
    (open(os.path.join(root, "m", ".modelops-tmp-0123456789abcdef"), "wb")).close()
    assert local_store.copy_tree("m", "registry/v1") == 2
    assert files_under(local_store, "registry/v1") == {"a.txt": b"a", "in-dir/b.txt": b"b"}
    # the links' targets are copied, not the links
    assert not os.path.islink(os.path.join(root, "registry/v1/in-dir"))


def test_local_copy_into_itself_is_refused(local_store):
    local_store.write("m/a.txt", b"a")
    with pytest.raises(InvalidRequest, match="into itself"):
        local_store.copy_tree("m", "m/inner")
    with pytest.raises(InvalidRequest):
        local_store.copy_tree("m", "m")
    assert files_under(local_store, "m") == {"a.txt": b"a"}


def test_local_copy_onto_a_file_is_refused(local_store):
    local_store.write("m/a.txt", b"a")
    local_store.write("registry/v1", b"a file where the folder would go")
    with pytest.raises(InvalidRequest):
        local_store.copy_tree("m", "registry/v1")


def test_local_copy_with_fsync(tmp_path, monkeypatch):
    store = open_store(str(tmp_path / "a"))
    store.fsync = True
    synced = []
    monkeypatch.setattr(storage.local, "_fsync_dir", synced.append)
    store.write("m/a.txt", b"a")
    store.write("m/sub/b.txt", b"b")
    synced.clear()
    assert store.copy_tree("m", "registry/v1") == 2
    assert sorted(synced) == sorted(os.path.join(store.root, p) for p in ("registry/v1", "registry/v1/sub"))


# -- S3: server-side copies ----------------------------------------------------------------------
def test_s3_copy_moves_no_bytes_through_the_server(s3_store, monkeypatch):
    for path, data in FILES.items():
        s3_store.write(f"m/{path}", data)

    def no_streaming(*args, **kwargs):
        raise AssertionError("the copy read the artifact through this server")

    monkeypatch.setattr(s3_store, "open_read", no_streaming)
    monkeypatch.setattr(s3_store, "write", no_streaming)
    assert s3_store.copy_tree("m", "registry/v1") == len(FILES)
    monkeypatch.undo()
    assert files_under(s3_store, "registry/v1") == FILES


# -- the streamed default --------------------------------------------------------------------------
class Streamed(ArtifactStore):
    """A store that only has the interface's required methods (a local store underneath)."""

    def __init__(self, inner):
        self.inner = inner

    def write(self, path, stream, length=None):
        return self.inner.write(path, stream, length)

    def open_read(self, path, start=None, end=None, views=False):
        return self.inner.open_read(path, start, end, views)

    def list_dir(self, path=""):
        return self.inner.list_dir(path)

    def delete(self, path):
        return self.inner.delete(path)

    def exists(self, path):
        return self.inner.exists(path)

    def is_dir(self, path):
        return self.inner.is_dir(path)

    def size(self, path):
        return self.inner.size(path)


def test_the_default_copy_streams_each_file(local_store):
    streamed = Streamed(local_store)
    for path, data in FILES.items():
        streamed.write(f"m/{path}", data)
    assert streamed.copy_tree("m", "registry/v1") == len(FILES)
    assert streamed.copy_tree("m/MLmodel", "registry/one") == 1
    assert streamed.copy_tree("m/nope", "registry/none") == 0
    assert files_under(streamed, "registry/v1") == FILES
    assert os.stat(os.path.join(local_store.root, "registry/v1/model.pkl")).st_nlink == 1
