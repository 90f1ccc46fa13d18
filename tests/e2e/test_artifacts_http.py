"""The proxied artifact API over raw HTTP, on local disk and on S3 (moto): issue 3.

Hostile paths on every verb (``..``, ``%2e%2e%2f``, ``%252e%252e%252f``, backslashes, absolute
paths, leading ``//``, NUL) answer 400 JSON and touch nothing outside the store (a sentinel
outside the artifact root is snapshotted before and compared after; on local disk, symlinks
planted inside the store that point outside are not followed); a missing artifact is a 404
``RESOURCE_DOES_NOT_EXIST``; listings of a missing path or a file are ``{}``; multipart upload
(presigned part URLs on S3, MLflow's 501 on local disk), presigned downloads, ``server-info``,
byte ranges, and ``--no-serve-artifacts``.

Requests whose path matters are sent with ``raw_request`` (``http.client``): ``requests`` and
urllib3 would normalise ``..`` segments before sending them.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import socket
import struct
import time
import uuid
from http.client import HTTPConnection
from urllib.parse import quote

import pytest
import requests

from tests import moto_server
from tests.e2e import server as harness
from tests.e2e.artifact_servers import BUCKET, STORES, fail_start, launch, raw_request

pytestmark = pytest.mark.e2e

API = "/api/2.0/mlflow-artifacts"
ARTIFACTS = f"{API}/artifacts"
MiB = 1024 * 1024
MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"
SENTINEL = b"sentinel: must never be read, overwritten or removed\n"
SECRET = b"secret outside the store\n"


@pytest.fixture
def http():
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


def _q(path: str) -> str:
    """Percent-encode a benign artifact path for a request target."""
    return quote(path, safe="/")


def _put(srv, path: str, data: bytes):
    return raw_request(srv.url, "PUT", f"{ARTIFACTS}/{_q(path)}", data)


def _uid(prefix="t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- what lies outside the store ----------------------------------------------------------------


class Outside:
    """A sentinel file and a secret directory next to (outside) the artifact root, and how to
    reach them from inside: ``rel`` is their location relative to the root (``../...``) and
    ``absolute`` an absolute path to the sentinel."""

    def __init__(self, srv):
        self.srv = srv
        if srv.kind == "local":
            base = srv.local_root.parent / "outside"
            (base / "dir").mkdir(parents=True, exist_ok=True)
            (base / "sentinel.txt").write_bytes(SENTINEL)
            (base / "dir" / "secret.txt").write_bytes(SECRET)
            self.base = base
            self.absolute = str(base / "sentinel.txt")
        else:
            # the destination is s3://BUCKET/<srv-x>/artifacts: "outside" is s3://BUCKET/<srv-x>/outside
            import io

            self.client = moto_server.minio_client(srv.s3_endpoint)
            self.key_base = srv.s3_prefix.rsplit("/", 1)[0] + "/outside"
            for name, data in (("sentinel.txt", SENTINEL), ("dir/secret.txt", SECRET)):
                self.client.put_object(BUCKET, f"{self.key_base}/{name}", io.BytesIO(data), len(data))
            self.absolute = f"/{self.key_base}/sentinel.txt"
        self.rel = "../outside"

    def snapshot(self) -> dict[str, bytes]:
        """Every file outside the store, with its bytes (local: the server's tmpdir; S3: every
        key of the bucket that is not under the server's prefix)."""
        if self.srv.kind == "local":
            root = self.srv.local_root
            out = {}
            for path in sorted(self.srv.tmpdir.rglob("*")):
                if root in path.parents or path == root:
                    continue
                if (
                    path.is_file()
                    and not path.is_symlink()
                    and path.suffix != ".log"
                    and not path.name.startswith("mlflow.db")
                ):
                    out[str(path)] = path.read_bytes()
            return out
        out = {}
        for obj in self.client.list_objects(BUCKET, recursive=True):
            if obj.object_name.startswith(self.srv.s3_prefix + "/"):
                continue
            resp = self.client.get_object(BUCKET, obj.object_name)
            try:
                out[obj.object_name] = resp.read()
            finally:
                resp.close()
                resp.release_conn()
        return out


@pytest.fixture
def outside(artifact_server):
    return Outside(artifact_server)


def _hostile_paths(outside: Outside) -> list[str]:
    """Request-target suffixes (after ``/artifacts/``) that try to leave the store."""
    rel = outside.rel  # ../outside
    absolute = outside.absolute  # /tmp/.../outside/sentinel.txt or /<bucket key>
    return [
        f"{rel}/sentinel.txt",
        f"1/2/../../{rel}/sentinel.txt",
        "a/../../outside/dir/secret.txt",
        "%2e%2e%2foutside%2fsentinel.txt",
        "%2e%2e/outside/sentinel.txt",
        "1/%2e%2e%2f%2e%2e%2foutside%2fsentinel.txt",
        "%252e%252e%252foutside%252fsentinel.txt",
        "1/%252e%252e/%252e%252e/outside/sentinel.txt",
        "..%5coutside%5csentinel.txt",
        "..\\outside\\sentinel.txt",
        "1\\..\\..\\outside\\sentinel.txt",
        # absolute: the path after /artifacts/ starts with "/" (so the target has "//")
        absolute,
        "/etc/passwd",
        # leading "//" in the artifact path
        "/" + absolute,
        "//etc/passwd",
        # absolute, percent-encoded
        quote(absolute, safe=""),
        "%2Fetc%2Fpasswd",
        "%252Fetc%252Fpasswd",
        # NUL
        "x%00.txt",
        f"{rel}/sentinel.txt%00.png",
        "1/%00/../../outside/sentinel.txt",
        # drive letter and URI smuggling
        "C:%5cWindows%5cwin.ini",
        "file:%2F%2F%2Fetc%2Fpasswd",
    ]


def _problem_400_json(resp, what) -> str | None:
    """Why ``resp`` is not a 400 JSON error, or None."""
    if resp.status != 400:
        return f"{what}: HTTP {resp.status} {resp.text[:200]!r}"
    if not resp.headers.get("content-type", "").startswith("application/json"):
        return f"{what}: content-type {resp.headers.get('content-type')!r}"
    if resp.json().get("error_code") not in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"):
        return f"{what}: body {resp.text[:200]!r}"
    return None


def _assert_400_json(resp, what):
    problem = _problem_400_json(resp, what)
    assert problem is None, problem


@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE", "LIST"])
def test_hostile_paths_are_400_and_touch_nothing(artifact_server, outside, method):
    before_outside = outside.snapshot()
    before_store = artifact_server.stored_keys() if artifact_server.kind == "local" else None
    assert before_outside, "the sentinel was not planted"
    problems = []
    for hostile in _hostile_paths(outside):
        if method == "LIST":
            resp = raw_request(artifact_server.url, "GET", f"{ARTIFACTS}?path={hostile}")
        else:
            body = b"pwned" if method == "PUT" else None
            resp = raw_request(artifact_server.url, method, f"{ARTIFACTS}/{hostile}", body)
        problems.append(_problem_400_json(resp, f"{method} {hostile!r}"))
        assert SENTINEL not in resp.body and SECRET not in resp.body
    assert [p for p in problems if p] == []
    assert outside.snapshot() == before_outside
    if before_store is not None:
        assert artifact_server.stored_keys() == before_store


def test_hostile_paths_on_multipart_and_presigned(artifact_server, outside):
    before = outside.snapshot()
    for hostile in _hostile_paths(outside):
        for route in ("mpu/create", "mpu/abort", "mpu/complete"):
            body = {"path": "f.bin", "num_parts": 1, "upload_id": "x", "parts": [{"part_number": 1, "etag": "e"}]}
            resp = raw_request(
                artifact_server.url,
                "POST",
                f"{API}/{route}/{hostile}",
                _json(body),
                {"Content-Type": "application/json"},
            )
            if artifact_server.kind == "local":
                # refused either way: the store has no multipart (501) or the path is bad (400)
                assert resp.status in (400, 501), (route, hostile, resp.status, resp.text)
            else:
                _assert_400_json(resp, f"{route} {hostile!r}")
        resp = raw_request(artifact_server.url, "GET", f"{API}/presigned/{hostile}")
        assert resp.status in ((400, 501) if artifact_server.kind == "local" else (400,)), (
            hostile,
            resp.status,
            resp.text,
        )
        assert SENTINEL not in resp.body
    assert outside.snapshot() == before


def _json(obj) -> bytes:
    import json

    return json.dumps(obj).encode()


def test_hostile_paths_on_run_and_model_routes(artifact_server, outside, http):
    """The tracking-side artifact routes resolve a path under a run's or model's artifact URI."""
    base = artifact_server.url
    exp = http.post(f"{base}/api/2.0/mlflow/experiments/create", json={"name": _uid("hostile")}, timeout=30).json()[
        "experiment_id"
    ]
    run = http.post(f"{base}/api/2.0/mlflow/runs/create", json={"experiment_id": exp}, timeout=30).json()["run"]["info"]
    model = http.post(
        f"{base}/api/2.0/mlflow/logged-models", json={"experiment_id": exp, "name": "m"}, timeout=30
    ).json()["model"]
    model_id = model["info"]["model_id"]
    before = outside.snapshot()
    # from <exp>/<run>/artifacts (or <exp>/models/<id>/artifacts) up to the store root is 3-4
    # levels; go further
    climbs = [
        "../../../../../outside/sentinel.txt",
        "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/etc/passwd",
        "..\\..\\..\\..\\outside",
        "a%00b",
    ]
    for hostile in climbs:
        q = quote(hostile, safe="")
        for target in (
            f"/api/2.0/mlflow/artifacts/list?run_id={run['run_id']}&path={q}",
            f"/get-artifact?run_id={run['run_id']}&path={q}",
            f"/api/2.0/mlflow/logged-models/{model_id}/artifacts/directories?artifact_directory_path={q}",
            f"/api/2.0/mlflow/logged-models/{model_id}/artifacts/files?artifact_file_path={q}",
        ):
            resp = raw_request(base, "GET", target)
            _assert_400_json(resp, target)
            assert SENTINEL not in resp.body
    assert outside.snapshot() == before


@pytest.mark.parametrize("artifact_server", ["local"], indirect=True)  # symlinks: local disk only
def test_symlinks_inside_the_local_store_are_not_followed(artifact_server, outside):
    links = artifact_server.local_root / "links"
    links.mkdir(parents=True, exist_ok=True)
    file_link = links / "file_link"
    dir_link = links / "dir_link"
    for link, target in ((file_link, outside.base / "sentinel.txt"), (dir_link, outside.base / "dir")):
        if not link.is_symlink():
            link.symlink_to(target)
    (links / "plain.txt").write_bytes(b"plain")
    before = outside.snapshot()
    url = artifact_server.url

    for method, target, body in (
        ("GET", "links/file_link", None),
        ("GET", "links/dir_link/secret.txt", None),
        ("PUT", "links/file_link", b"pwned"),
        ("PUT", "links/dir_link/new.txt", b"pwned"),
        ("PUT", "links/dir_link/secret.txt", b"pwned"),
        ("DELETE", "links/file_link", None),
        ("DELETE", "links/dir_link", None),
        ("DELETE", "links/dir_link/secret.txt", None),
        ("GET", "?path=links/dir_link", None),
    ):
        path = f"{ARTIFACTS}{target}" if target.startswith("?") else f"{ARTIFACTS}/{target}"
        resp = raw_request(url, method, path, body)
        _assert_400_json(resp, f"{method} {target}")
        assert SENTINEL not in resp.body and SECRET not in resp.body
    ranged = raw_request(url, "GET", f"{ARTIFACTS}/links/file_link", headers={"Range": "bytes=0-5"})
    _assert_400_json(ranged, "ranged GET through a symlink")

    # a listing of the directory holding the links does not reveal them
    listing = raw_request(url, "GET", f"{ARTIFACTS}?path=links")
    assert listing.status == 200
    assert listing.json() == {"files": [{"path": "plain.txt", "is_dir": False, "file_size": 5}]}
    assert outside.snapshot() == before
    assert not (outside.base / "dir" / "new.txt").exists()
    assert file_link.is_symlink() and dir_link.is_symlink()


# --- ordinary behaviour -------------------------------------------------------------------------


def test_put_get_delete_roundtrip(artifact_server):
    base = _uid("rt")
    data = os.urandom(3 * MiB + 17)
    resp = _put(artifact_server, f"{base}/dir/blob é.bin", data)
    assert resp.status == 200, resp.text
    got = raw_request(artifact_server.url, "GET", f"{ARTIFACTS}/{_q(base + '/dir/blob é.bin')}")
    assert got.status == 200
    assert got.body == data
    if "content-length" in got.headers:  # else chunked
        assert int(got.headers["content-length"]) == len(data)
    assert artifact_server.stored_bytes(f"{base}/dir/blob é.bin") == data

    _put(artifact_server, f"{base}/dir/other.txt", b"x")
    assert raw_request(artifact_server.url, "DELETE", f"{ARTIFACTS}/{base}/dir").status == 200
    for name in ("blob é.bin", "other.txt"):
        missing = raw_request(artifact_server.url, "GET", f"{ARTIFACTS}/{_q(base)}/dir/{_q(name)}")
        assert missing.status == 404
        assert artifact_server.stored_bytes(f"{base}/dir/{name}") is None


def test_unwritable_paths_are_client_errors(artifact_server):
    """A write the path itself makes impossible is a 400, never a 5xx (a 503 with Retry-After
    would send the client into minutes of retries for an error that cannot go away). S3 has no
    such conflicts: a key and a prefix of the same name coexist."""
    base = _uid("conflict")
    assert _put(artifact_server, f"{base}/d/f.txt", b"f").status == 200
    for path in (
        f"{base}/d",  # a directory is in the way
        f"{base}/d/f.txt/child",  # a file is in the way
        f"{base}/{'y' * 1100}",
    ):  # longer than any file name or S3 key
        resp = _put(artifact_server, path, b"x")
        if artifact_server.kind == "s3" and resp.status == 200:
            continue
        _assert_400_json(resp, f"PUT {path[:60]}")
    assert artifact_server.stored_bytes(f"{base}/d/f.txt") == b"f"


def test_missing_artifact_is_404_resource_does_not_exist(artifact_server):
    base = _uid("missing")
    _put(artifact_server, f"{base}/d/f.txt", b"f")
    for target in (f"{base}/nope.txt", f"{base}/no/such/dir/file.bin", f"{base}/d/f.txt/below", f"{_uid('nobody')}/x"):
        for headers in (None, {"Range": "bytes=0-1"}):
            resp = raw_request(artifact_server.url, "GET", f"{ARTIFACTS}/{target}", headers=headers)
            assert resp.status == 404, (target, resp.status, resp.text)
            assert resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    # a directory is not a file: a client error either way (MLflow: 400), never a 5xx
    resp = raw_request(artifact_server.url, "GET", f"{ARTIFACTS}/{base}/d")
    assert resp.status in (400, 404), resp.status


def test_listing(artifact_server, http):
    base = _uid("ls")
    _put(artifact_server, f"{base}/a.txt", b"abc")
    _put(artifact_server, f"{base}/empty", b"")
    _put(artifact_server, f"{base}/sub dir/b ü.txt", b"bb")
    _put(artifact_server, f"{base}/sub dir/deeper/c.txt", b"c")
    url = artifact_server.url + ARTIFACTS

    def listing(path):
        resp = http.get(url, params={"path": path}, timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()

    assert listing(base) == {
        "files": [
            {"path": "a.txt", "is_dir": False, "file_size": 3},
            {"path": "empty", "is_dir": False},  # no file_size for 0 bytes, as MLflow
            {"path": "sub dir", "is_dir": True},
        ]
    }
    assert listing(f"{base}/sub dir") == {
        "files": [
            {"path": "b ü.txt", "is_dir": False, "file_size": 2},
            {"path": "deeper", "is_dir": True},
        ]
    }
    assert listing(f"{base}/sub dir/deeper") == {"files": [{"path": "c.txt", "is_dir": False, "file_size": 1}]}
    # a missing path and a file both list as {}
    assert listing(f"{base}/nope") == {}
    assert listing(f"{base}/a.txt") == {}
    assert listing(f"{base}/sub dir/b ü.txt") == {}


def test_range_requests(artifact_server):
    path = f"{_uid('range')}/r.bin"
    data = bytes(range(256)) * 8  # 2048 bytes
    _put(artifact_server, path, data)
    target = f"{ARTIFACTS}/{path}"
    for header, start, end in (
        ("bytes=10-19", 10, 19),
        ("bytes=2000-", 2000, 2047),
        ("bytes=-5", 2043, 2047),
        ("bytes=0-0", 0, 0),
        ("bytes=2040-9999", 2040, 2047),
    ):
        resp = raw_request(artifact_server.url, "GET", target, headers={"Range": header})
        assert resp.status == 206, (header, resp.status, resp.text)
        assert resp.body == data[start : end + 1], header
        assert resp.headers["content-range"] == f"bytes {start}-{end}/{len(data)}", header
        assert int(resp.headers["content-length"]) == end - start + 1
    unsatisfiable = raw_request(artifact_server.url, "GET", target, headers={"Range": "bytes=5000-"})
    assert unsatisfiable.status == 416
    assert unsatisfiable.headers.get("content-range") == f"bytes */{len(data)}"
    whole = raw_request(artifact_server.url, "GET", target)
    assert whole.status == 200 and whole.body == data


def test_server_info_advertises_multipart_only_on_s3(artifact_server, http):
    info = http.get(f"{artifact_server.url}/api/3.0/mlflow/server-info", timeout=30).json()
    on_s3 = artifact_server.kind == "s3"
    assert info["multipart_uploads_enabled"] is on_s3
    assert info["multipart_downloads_enabled"] is on_s3


def test_multipart_upload(artifact_server, http):
    directory = f"{_uid('mpu')}/ckpt"
    part1 = os.urandom(5 * MiB)  # S3's minimum size for every part but the last
    part2 = os.urandom(MiB + 3)
    create = http.post(
        f"{artifact_server.url}{API}/mpu/create/{directory}",
        json={"path": "/home/user/model weights.bin", "num_parts": 2},
        timeout=30,
    )
    if artifact_server.kind == "local":
        assert create.status_code == 501, create.text
        body = create.json()
        assert body["error_code"] == "NOT_IMPLEMENTED"
        assert body["message"].startswith(MULTIPART_UNSUPPORTED)
        return
    assert create.status_code == 200, create.text
    body = create.json()
    upload_id = body["upload_id"]
    creds = sorted(body["credentials"], key=lambda c: c["part_number"])
    assert [c["part_number"] for c in creds] == [1, 2]
    parts = []
    for cred, data in zip(creds, (part1, part2)):
        put = http.put(cred["url"], data=data, headers=cred.get("headers") or {}, timeout=60)
        assert put.status_code == 200, put.text
        parts.append({"part_number": cred["part_number"], "etag": put.headers["ETag"], "url": cred["url"]})
    complete = http.post(
        f"{artifact_server.url}{API}/mpu/complete/{directory}",
        json={"path": "/home/user/model weights.bin", "upload_id": upload_id, "parts": parts},
        timeout=60,
    )
    assert complete.status_code == 200, complete.text
    got = http.get(f"{artifact_server.url}{ARTIFACTS}/{directory}/{_q('model weights.bin')}", timeout=60)
    assert got.status_code == 200
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(part1 + part2).digest()

    # an aborted upload leaves nothing behind
    create = http.post(
        f"{artifact_server.url}{API}/mpu/create/{directory}", json={"path": "aborted.bin", "num_parts": 1}, timeout=30
    ).json()
    http.put(create["credentials"][0]["url"], data=b"never", timeout=30)
    abort = http.post(
        f"{artifact_server.url}{API}/mpu/abort/{directory}",
        json={"path": "aborted.bin", "upload_id": create["upload_id"]},
        timeout=30,
    )
    assert abort.status_code == 200, abort.text
    assert artifact_server.stored_bytes(f"{directory}/aborted.bin") is None


def test_presigned_download(artifact_server, http):
    path = f"{_uid('presigned')}/f ü.bin"
    data = os.urandom(100_000)
    _put(artifact_server, path, data)
    resp = http.get(f"{artifact_server.url}{API}/presigned/{_q(path)}", timeout=30)
    if artifact_server.kind == "local":
        assert resp.status_code == 501, resp.text
        assert resp.json()["error_code"] == "NOT_IMPLEMENTED"
        return
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["file_size"] == len(data)
    fetched = http.get(body["url"], headers=body.get("headers") or {}, timeout=30)
    assert fetched.status_code == 200 and fetched.content == data
    ranged = http.get(body["url"], headers={**(body.get("headers") or {}), "Range": "bytes=5-9"}, timeout=30)
    assert ranged.status_code == 206 and ranged.content == data[5:10]
    missing = http.get(f"{artifact_server.url}{API}/presigned/{_uid('nope')}/x", timeout=30)
    assert missing.status_code == 404
    assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_run_artifact_routes(artifact_server, http):
    """``GET /api/2.0/mlflow/artifacts/list`` for a run and the UI's ``/get-artifact``."""
    base = artifact_server.url
    exp = http.post(f"{base}/api/2.0/mlflow/experiments/create", json={"name": _uid("routes")}, timeout=30).json()[
        "experiment_id"
    ]
    run = http.post(f"{base}/api/2.0/mlflow/runs/create", json={"experiment_id": exp}, timeout=30).json()["run"]["info"]
    assert run["artifact_uri"] == f"mlflow-artifacts:/{exp}/{run['run_id']}/artifacts"
    root = f"{exp}/{run['run_id']}/artifacts"
    _put(artifact_server, f"{root}/top.txt", b"top")
    _put(artifact_server, f"{root}/d/inner.txt", b"inner")
    listing = http.get(f"{base}/api/2.0/mlflow/artifacts/list", params={"run_id": run["run_id"]}, timeout=30).json()
    assert listing["root_uri"] == run["artifact_uri"]
    assert listing["files"] == [{"path": "d", "is_dir": True}, {"path": "top.txt", "is_dir": False, "file_size": 3}]
    sub = http.get(
        f"{base}/api/2.0/mlflow/artifacts/list", params={"run_id": run["run_id"], "path": "d"}, timeout=30
    ).json()
    assert sub["files"] == [{"path": "d/inner.txt", "is_dir": False, "file_size": 5}]
    ui = http.get(f"{base}/get-artifact", params={"run_id": run["run_id"], "path": "d/inner.txt"}, timeout=30)
    assert ui.status_code == 200 and ui.content == b"inner"
    gone = http.get(f"{base}/get-artifact", params={"run_id": run["run_id"], "path": "nope"}, timeout=30)
    assert gone.status_code == 404


# --- request bodies: keep-alive, chunked, no length, clients that stop half way -----------------
# The server reads a Content-Length upload straight from gunicorn's socket (modelops_server/body.py):
# every request behind it on the same connection must still be read from the right byte.


def _connection(srv, timeout=60) -> HTTPConnection:
    host, port = srv.url.split("://", 1)[1].rstrip("/").split(":")
    conn = HTTPConnection(host, int(port), timeout=timeout)
    conn.connect()
    return conn


def _exchange(conn, method, target, body=None, headers=None, **kwargs):
    """One request on ``conn`` (kept open), the answer read to its end."""
    conn.request(method, target, body=body, headers=headers or {}, **kwargs)
    resp = conn.getresponse()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def _pieces(data: bytes, sizes=(1, 8191, 65_537, 1_000_000)):
    """``data`` as chunks of uneven sizes (for a Transfer-Encoding: chunked body)."""
    pos, i = 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        yield data[pos : pos + size]
        pos, i = pos + size, i + 1


def test_uploads_keep_the_connection_alive(artifact_server):
    """Uploads with a Content-Length, chunked and with no length at all, then downloads, all on
    one keep-alive connection: each request is answered right and the connection stays open."""
    base = _uid("keepalive")
    big = os.urandom(9 * MiB + 5)
    chunked = os.urandom(3 * MiB + 7)
    conn = _connection(artifact_server)
    try:
        local_end = conn.sock.getsockname()
        status, _, body = _exchange(conn, "PUT", f"{ARTIFACTS}/{base}/big.bin", big)
        assert (status, body) == (200, b"{}")
        status, _, body = _exchange(conn, "PUT", f"{ARTIFACTS}/{base}/small.txt", b"small")
        assert (status, body) == (200, b"{}")
        status, _, body = _exchange(
            conn, "PUT", f"{ARTIFACTS}/{base}/chunked.bin", _pieces(chunked), encode_chunked=True
        )
        assert (status, body) == (200, b"{}")
        # neither Content-Length nor Transfer-Encoding: an empty body (RFC 9112 6.3)
        conn.putrequest("PUT", f"{ARTIFACTS}/{base}/empty.bin", skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"{}")

        for name, data in (("big.bin", big), ("small.txt", b"small"), ("chunked.bin", chunked), ("empty.bin", b"")):
            status, headers, body = _exchange(conn, "GET", f"{ARTIFACTS}/{base}/{name}")
            assert status == 200, (name, status, body[:200])
            assert body == data, name
            assert int(headers["content-length"]) == len(data), name
            assert artifact_server.stored_bytes(f"{base}/{name}") == data, name
        status, headers, body = _exchange(
            conn, "GET", f"{ARTIFACTS}/{base}/big.bin", headers={"Range": "bytes=4194300-4194309"}
        )
        assert (status, body) == (206, big[4194300:4194310])
        status, headers, body = _exchange(conn, "HEAD", f"{ARTIFACTS}/{base}/big.bin")
        assert (status, body, int(headers["content-length"])) == (200, b"", len(big))
        assert conn.sock is not None and conn.sock.getsockname() == local_end, (
            "the server closed the keep-alive connection"
        )
    finally:
        conn.close()


def _start_upload(srv, target: str, declared: int, sent: bytes) -> socket.socket:
    """A PUT announcing ``declared`` bytes of which only ``sent`` go out; the socket stays open."""
    host, port = srv.url.split("://", 1)[1].rstrip("/").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    sock.sendall(
        f"PUT {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {declared}\r\n"
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + sent
    )
    return sock


def _poll(what: str, condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("how", ["stops sending", "resets the connection"])
def test_a_client_that_goes_away_mid_upload_leaves_the_old_artifact(artifact_server, how):
    """Half of a 48 MiB upload (over two S3 parts), then the client half-closes (the server reads
    EOF and answers 400) or resets the connection (the server's read fails): the artifact it was
    replacing is intact, nothing half-written is visible, no write is left under way."""
    base = _uid("cut")
    old = os.urandom(100_000)
    assert _put(artifact_server, f"{base}/model.bin", old).status == 200
    sock = _start_upload(artifact_server, f"{ARTIFACTS}/{base}/model.bin", 48 * MiB, os.urandom(24 * MiB))
    try:
        # sendall returned: the server has read all but what the socket buffers hold, and waits
        _poll("the write to start", lambda: artifact_server.pending_writes(base))
        if how == "stops sending":
            sock.shutdown(socket.SHUT_WR)
            answer = sock.makefile("rb").read()
            assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
            assert b"INVALID_PARAMETER_VALUE" in answer, answer[:300]
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()
    _poll("the server to drop the partial write", lambda: not artifact_server.pending_writes(base))
    assert artifact_server.stored_bytes(f"{base}/model.bin") == old
    got = raw_request(artifact_server.url, "GET", f"{ARTIFACTS}/{base}/model.bin")
    assert got.status == 200 and got.body == old
    listing = raw_request(artifact_server.url, "GET", f"{ARTIFACTS}?path={base}").json()
    assert listing == {"files": [{"path": "model.bin", "is_dir": False, "file_size": len(old)}]}


@pytest.fixture(scope="module")
def workers_server(tmp_path_factory, _client_env):
    """A local-disk server with two gunicorn workers of four threads."""
    srv = error = None
    try:
        srv = launch("local", tmp_path_factory.mktemp("art-workers"), extra_args=("--workers", "2", "--threads", "4"))
    except harness.ServerError as exc:
        error = exc
    if srv is None:
        fail_start("local", error)
    yield srv
    srv.stop()


def test_concurrent_uploads_on_keep_alive_connections(workers_server):
    """Eight clients at once, each on its own connection: Content-Length and chunked uploads of
    a few MiB, each followed by its downloads on the same connection."""
    base = _uid("concurrent")

    def client(n: int):
        data = os.urandom((1 + n % 4) * MiB + n)
        conn = _connection(workers_server)
        try:
            for kind in ("length", "chunked"):
                target = f"{ARTIFACTS}/{base}/{n}-{kind}.bin"
                body = data if kind == "length" else _pieces(data)
                status, _, answer = _exchange(conn, "PUT", target, body, encode_chunked=kind == "chunked")
                assert (status, answer) == (200, b"{}"), (n, kind, status, answer[:200])
                status, _, got = _exchange(conn, "GET", target)
                assert status == 200 and got == data, (n, kind, status, len(got))
        finally:
            conn.close()
        return n

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(client, range(8))) == list(range(8))
    for n in range(8):
        size = (1 + n % 4) * MiB + n
        for kind in ("length", "chunked"):
            assert workers_server.local_root.joinpath(base, f"{n}-{kind}.bin").stat().st_size == size


# --- --no-serve-artifacts -----------------------------------------------------------------------


@pytest.fixture(scope="module", params=STORES)
def no_serve_server(request, tmp_path_factory, _client_env):
    kind = request.param
    endpoint = request.getfixturevalue("s3_endpoint") if kind == "s3" else None
    tmpdir = tmp_path_factory.mktemp(f"noserve-{kind}")
    srv = error = None
    try:
        srv = launch(kind, tmpdir, endpoint, serve_artifacts=False)
    except harness.ServerError as exc:
        error = exc
    if srv is None:
        fail_start(kind, error)
    yield srv
    srv.stop()


def test_no_serve_artifacts(no_serve_server, http, tmp_path, monkeypatch):
    """Experiments and runs carry the destination's own URIs, the client writes there itself,
    and the proxy answers 503."""
    from mlflow import MlflowClient

    srv = no_serve_server
    client = MlflowClient(tracking_uri=srv.url)
    exp_id = client.create_experiment(_uid("no-serve"))
    location = client.get_experiment(exp_id).artifact_location
    if srv.kind == "local":
        root = str(srv.local_root.resolve())
        assert location in (f"{root}/{exp_id}", f"file://{root}/{exp_id}"), location
    else:
        assert location == f"{srv.destination}/{exp_id}", location
    run = client.create_run(exp_id)
    assert run.info.artifact_uri == f"{location}/{run.info.run_id}/artifacts"

    # the proxy is off
    for method, target in (
        ("GET", f"{ARTIFACTS}?path={exp_id}"),
        ("GET", f"{ARTIFACTS}/{exp_id}/x.txt"),
        ("PUT", f"{ARTIFACTS}/{exp_id}/x.txt"),
        ("DELETE", f"{ARTIFACTS}/{exp_id}/x.txt"),
        ("POST", f"{API}/mpu/create/{exp_id}"),
        ("GET", f"{API}/presigned/{exp_id}/x.txt"),
    ):
        resp = raw_request(
            srv.url, method, target, b"{}" if method in ("PUT", "POST") else None, {"Content-Type": "application/json"}
        )
        assert resp.status == 503, (method, target, resp.status, resp.text)
    info = http.get(f"{srv.url}/api/3.0/mlflow/server-info", timeout=30).json()
    assert info["multipart_uploads_enabled"] is False

    # the client writes to the destination directly
    if srv.kind == "s3":
        for key, value in moto_server.s3_env(srv.s3_endpoint).items():
            monkeypatch.setenv(key, value)
        for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CA_BUNDLE"):
            monkeypatch.delenv(key, raising=False)
    src = tmp_path / "direct é.txt"
    src.write_bytes(b"written by the client\n")
    client.log_artifact(run.info.run_id, str(src), artifact_path="direct")
    store_path = f"{exp_id}/{run.info.run_id}/artifacts/direct/direct é.txt"
    assert srv.stored_bytes(store_path) == b"written by the client\n"
    assert [f.path for f in client.list_artifacts(run.info.run_id, "direct")] == ["direct/direct é.txt"]


def test_versions_from_a_root_the_client_writes(no_serve_server, http, tmp_path, monkeypatch):
    """The production set-up (clients write to the root themselves): the server lists and serves
    the run's files, a version registered from the run's own ``runs:/`` URI and from its artifact
    URI is accepted, verified and snapshotted, and stays whole when the run's files are deleted."""
    import mlflow
    from mlflow import MlflowClient

    srv = no_serve_server
    if srv.kind == "s3":
        for key, value in moto_server.s3_env(srv.s3_endpoint).items():
            monkeypatch.setenv(key, value)
        for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CA_BUNDLE"):
            monkeypatch.delenv(key, raising=False)
    client = MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", srv.url)
    monkeypatch.setattr(mlflow.tracking._model_registry.utils, "_registry_uri", srv.url)
    run = client.create_run(client.create_experiment(_uid("direct")))
    run_id = run.info.run_id
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    client.log_artifacts(run_id, str(model), artifact_path="model")

    # the server reads the root the client wrote: listing and file, as MLflow's UI asks for them
    listing = http.get(
        f"{srv.url}/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": "model"}, timeout=30
    ).json()
    assert sorted((f["path"], f.get("file_size")) for f in listing["files"]) == [
        ("model/MLmodel", 12),
        ("model/weights.bin", 2000),
    ]
    got = http.get(f"{srv.url}/get-artifact", params={"run_id": run_id, "path": "model/MLmodel"}, timeout=30)
    assert got.status_code == 200 and got.content == b"flavors: {}\n"
    assert got.headers["Content-Type"] == "text/plain"

    name = _uid("direct-model")
    client.create_registered_model(name)
    v1 = client.create_model_version(name, f"runs:/{run_id}/model", run_id)
    v2 = client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id)
    for version in (v1, v2):
        lineage = http.get(
            f"{srv.url}/api/2.0/modelops/model-versions/lineage",
            params={"name": name, "version": version.version},
            timeout=30,
        ).json()
        assert lineage["source_verified"] is True, lineage
    weights = http.get(
        f"{srv.url}/model-versions/get-artifact",
        params={"name": name, "version": "2", "path": "weights.bin"},
        timeout=30,
    )
    assert weights.status_code == 200 and weights.content == b"\x00\x01" * 1000

    # the versions are snapshots: deleting the run's files leaves them whole
    mlflow.artifacts.download_artifacts(f"runs:/{run_id}/model", dst_path=str(tmp_path / "before"))
    client._tracking_client._get_artifact_repo(run_id).delete_artifacts("model")
    assert (
        "files"
        not in http.get(
            f"{srv.url}/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": "model"}, timeout=30
        ).json()
    )
    for version in ("1", "2"):
        out = mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=str(tmp_path / version))
        assert {"MLmodel", "weights.bin"} <= set(os.listdir(out)), out
        assert open(os.path.join(out, "weights.bin"), "rb").read() == b"\x00\x01" * 1000
