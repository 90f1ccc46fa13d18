"""Hostile paths are refused everywhere; legitimate odd-looking ones are not."""

from __future__ import annotations

import io
import os
import unicodedata

import pytest

from storage import ArtifactNotFound, LocalArtifactStore, UnsafePath, join_relpath, safe_relpath
from storage.paths import split_relpath

HOSTILE = [
    "..",
    "../x",
    "a/..",
    "a/../../b",
    "a/b/../../../etc/passwd",
    "%2e%2e%2f",
    "%2e%2e/x",
    "%2E%2E%2Fetc%2Fpasswd",
    "%252e%252e%252f",
    "%25252e%25252e%25252fx",
    "..%2f",
    "..%2fetc",
    "a/%2e%2e/b",
    "..\\x",
    "a\\b",
    "%5c..%5cx",
    "/etc/passwd",
    "//host/x",
    "///x",
    "%2fetc%2fpasswd",
    "C:\\x",
    "C:/x",
    "c:",
    "a\x00b",
    "a%00b",
    "x\x00/../y",
    "a\nb",
    "tab\there",
    "del\x7f",
    "\u2025/x",  # "two dot leader", NFKC-normalises to ".."
    "file:///etc/passwd",
    "s3://other-bucket/key",
    "a#b",
    "%ff.bin",  # not UTF-8 once decoded
    "%" + "25" * 12 + "2e",  # more levels of encoding than anyone legitimately uses
    "a/" * 300,  # deeper than MAX_SEGMENTS
    "x" * 5000,  # longer than MAX_PATH_CHARS
]

LEGIT = [
    ("a/b.txt", "a/b.txt"),
    ("dir with space/ü.txt", "dir with space/ü.txt"),
    ("a..b", "a..b"),
    ("..b/c..", "..b/c.."),
    ("...", "..."),
    (".hidden", ".hidden"),
    ("a/.hidden/x", "a/.hidden/x"),
    ("a//b", "a/b"),
    ("./a/./b/", "a/b"),
    ("", ""),
    ("/".join(["d"] * 20), "/".join(["d"] * 20)),
    ("日本語/データ.bin", "日本語/データ.bin"),
    ("100%.txt", "100%.txt"),  # not an escape: left alone
    ("a%20b.txt", "a b.txt"),  # decoded to the fixed point, like MLflow
    ("100%2525.txt", "100%.txt"),
    ("a%2fb", "a/b"),
    ("d%C3%BCr/%2e/x", "dür/x"),
    ("name:with:colons", "name:with:colons"),
    ("~/x", "~/x"),
]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_paths_are_rejected(path):
    with pytest.raises(UnsafePath):
        safe_relpath(path)


@pytest.mark.parametrize("path,expected", LEGIT)
def test_legit_paths_pass(path, expected):
    assert safe_relpath(path) == expected
    assert safe_relpath(expected) == expected  # idempotent


def test_listing_skips_names_no_client_could_address(tmp_path):
    store = LocalArtifactStore(tmp_path)
    for name in ("ok.txt", "back\\slash", "pct%41", "ctl\x01", "new\nline"):
        (tmp_path / name).write_bytes(b"x")
    assert [f.path for f in store.list_dir("")] == ["ok.txt"]


def test_non_strings_are_rejected():
    with pytest.raises(UnsafePath):
        safe_relpath(b"a/b")  # type: ignore[arg-type]


def test_join_and_split():
    assert join_relpath("1/run/artifacts", "sub/", "f.txt") == "1/run/artifacts/sub/f.txt"
    assert join_relpath("", "f.txt") == "f.txt"
    for bad in (("a", "/etc"), ("a", ".."), ("a/..", "b"), ("a", "%2e%2e")):
        with pytest.raises(UnsafePath):
            join_relpath(*bad)
    assert split_relpath("a/b/c.txt") == ("a/b", "c.txt")
    assert split_relpath("c.txt") == ("", "c.txt")


# -- every store refuses hostile paths in every operation ------------------------------------------
OPERATIONS = {
    "write": lambda store, p: store.write(p, b"pwned"),
    "open_read": lambda store, p: store.open_read(p),
    "list_dir": lambda store, p: store.list_dir(p),
    "delete": lambda store, p: store.delete(p),
    "exists": lambda store, p: store.exists(p),
    "is_dir": lambda store, p: store.is_dir(p),
    "size": lambda store, p: store.size(p),
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("path", HOSTILE)
def test_stores_refuse_hostile_paths(store, operation, path):
    with pytest.raises(UnsafePath):
        OPERATIONS[operation](store, path)
    assert store.list_dir("") == []  # nothing was written anywhere in the store


@pytest.mark.parametrize("path", ["../escape.txt", "%2e%2e%2fescape.txt", "..\\escape.txt"])
def test_local_write_outside_root_touches_nothing(tmp_path, path):
    root = tmp_path / "root"
    store = LocalArtifactStore(root)
    with pytest.raises(UnsafePath):
        store.write(path, b"pwned")
    assert sorted(os.listdir(tmp_path)) == ["root"]
    assert os.listdir(root) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda store, p: store.create_multipart(p),
        lambda store, p: store.multipart_part_urls(p, "upload-id", 1),
        lambda store, p: store.complete_multipart(p, "upload-id", [(1, "etag")]),
        lambda store, p: store.abort_multipart(p, "upload-id"),
        lambda store, p: store.presigned_get(p),
    ],
)
@pytest.mark.parametrize("path", ["../x", "%252e%252e%252fx", "/abs"])
def test_url_methods_refuse_hostile_paths_before_anything_else(store, call, path):
    # on local disk too: a hostile path is a 400 before "not supported" is a 501
    with pytest.raises(UnsafePath):
        call(store, path)


# -- symlinks inside a local store -----------------------------------------------------------------
def snapshot(directory):
    result = {}
    for base, dirs, files in os.walk(directory):
        for name in dirs + files:
            full = os.path.join(base, name)
            rel = os.path.relpath(full, directory)
            result[rel] = None if os.path.isdir(full) else open(full, "rb").read()
    return result


@pytest.fixture
def trap(tmp_path):
    """A store whose root holds symlinks pointing outside it, and the outside directory."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (outside / "nested").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(b"top secret")
    (outside / "nested" / "deep.txt").write_bytes(b"deep secret")
    store = LocalArtifactStore(root)
    store.write("ok/f.txt", b"fine")
    os.symlink(outside, root / "dirlink")  # absolute target
    os.symlink("../outside/secret.txt", root / "filelink")  # relative target
    os.symlink(outside / "not-yet.txt", root / "dangling")  # target does not exist
    os.symlink("../../outside", root / "ok" / "uplink")  # nested, relative
    return store, root, outside


ESCAPES = [
    "dirlink",
    "dirlink/secret.txt",
    "dirlink/nested",
    "dirlink/nested/deep.txt",
    "filelink",
    "dangling",
    "ok/uplink",
    "ok/uplink/secret.txt",
    "dirlink/new/dir/x.txt",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_symlinks_out_of_the_root_are_refused(trap, path):
    store, root, outside = trap
    before = snapshot(outside)
    for operation in OPERATIONS.values():
        with pytest.raises(UnsafePath):
            operation(store, path)
    assert snapshot(outside) == before
    assert not (outside / "not-yet.txt").exists()
    for link in ("dirlink", "filelink", "dangling", "ok/uplink"):
        assert os.path.islink(root / link)  # delete removed neither the links nor their targets


def test_listing_hides_links_that_leave_the_root(trap):
    store, _, _ = trap
    assert [f.path for f in store.list_dir("")] == ["ok"]
    assert [f.path for f in store.list_dir("ok")] == ["f.txt"]


def test_symlinks_inside_the_root_are_followed(trap):
    store, root, _ = trap
    os.symlink("ok", root / "alias")
    os.symlink("f.txt", root / "ok" / "f-alias.txt")
    assert store.size("alias/f.txt") == 4
    assert [f.path for f in store.list_dir("alias")] == ["f-alias.txt", "f.txt"]
    chunks, total = store.open_read("ok/f-alias.txt")
    assert b"".join(chunks) == b"fine" and total == 4
    store.delete("ok/f-alias.txt")  # removes the link, not its target
    assert not os.path.lexists(root / "ok" / "f-alias.txt")
    assert (root / "ok" / "f.txt").read_bytes() == b"fine"
    with pytest.raises(ArtifactNotFound):
        store.delete("ok/f-alias.txt")


def test_paths_resolve_as_realpath_resolves_them(trap):
    """The store resolves only the components below its root; the answer is realpath's."""
    store, root, _ = trap
    os.symlink("ok", root / "alias")
    os.symlink("loop-b", root / "loop-a")
    os.symlink("loop-a", root / "loop-b")
    for rel in [
        "",
        "ok",
        "ok/f.txt",
        "ok/missing/deeper/x",
        "ok/f.txt/under-a-file",
        "alias/f.txt",
        "alias/new/x",
        *ESCAPES,
        "loop-a",
        "loop-a/x",
        "missing",
        "ok/uplink/nested/deep.txt",
    ]:
        full = os.path.join(store.root, *rel.split("/")) if rel else store.root
        assert store._real(full) == os.path.realpath(full), rel


def test_root_given_through_a_symlink_works(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "via-link")
    store = LocalArtifactStore(tmp_path / "via-link")
    store.write("a/b.txt", b"x")
    assert (tmp_path / "real" / "a" / "b.txt").read_bytes() == b"x"
    assert [f.path for f in store.list_dir("a")] == ["b.txt"]


def test_s3_listing_skips_keys_no_client_could_address(s3_store):
    raw = s3_store._client  # objects put there by some other tool
    for name in ("ok.txt", "back\\slash", "pct%41", "dir//double.txt", "ctl\x01"):
        raw.put_object(s3_store.bucket, f"{s3_store.prefix}/{name}", io.BytesIO(b"x"), 1)
    assert [(f.path, f.is_dir) for f in s3_store.list_dir("")] == [("dir", True), ("ok.txt", False)]
    assert s3_store.list_dir("dir") == []


def test_the_control_characters_refused_are_unicodes_category_cc():
    controls = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cc"]
    assert len(controls) == 65
    for ch in controls:
        with pytest.raises(UnsafePath, match="control characters"):
            safe_relpath(f"a{ch}b")
    for ch in ("\u00ad", "\u200b", "\u2028", "\ufeff"):  # format characters and separators: not Cc
        assert safe_relpath(f"a{ch}b") == f"a{ch}b"
