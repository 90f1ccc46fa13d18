"""`modelops server --artifacts-page-cache` and `--artifacts-keep-recent-mb` on a real server: a
large proxied upload with a Content-Length stays cached as one of the files written last ('bounded',
the default) or, with none kept, bypasses the page cache (direct I/O); a chunked one is written
behind and dropped as it streams; with 'kernel' both stay cached. Either way every byte comes
back, whole and by range (the direct download sends views of buffers it reuses)."""

from __future__ import annotations

import hashlib

import pytest
import requests

from storage.pagecache import WINDOW
from tests.e2e import server as harness
from tests.page_cache import PAGE, SUPPORTED, disk_directory, resident

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not SUPPORTED, reason="needs Linux mincore and posix_fadvise")]

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
MiB = 1024 * 1024


# (options, whether the early pages of a large upload stay cached: with a Content-Length, chunked)
MODES = {
    "default": ([], (True, False)),
    "bounded-none-kept": (["--artifacts-page-cache", "bounded", "--artifacts-keep-recent-mb", "0"], (False, False)),
    "kernel": (["--artifacts-page-cache", "kernel"], (True, True)),
}


@pytest.fixture(scope="module", params=list(MODES))
def page_cache_server(request, tmp_path_factory):
    """modelops itself whatever the suite's target: the options are ours."""
    tmp = disk_directory(tmp_path_factory.mktemp("page-cache"))
    port = harness.free_port()
    cmd = [
        harness.modelops_bin(),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{tmp / 'mlflow.db'}",
        "--artifacts-destination",
        str(tmp / "artifacts"),
    ]
    cmd += MODES[request.param][0]
    with harness.ServerProcess(cmd, "127.0.0.1", port, tmp, name="modelops", env=harness.server_env()).start() as srv:
        yield request.param, srv, tmp / "artifacts"


def _chunks(data: bytes, size: int = 3 * MiB + 17):
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_large_upload_and_download(page_cache_server, chunked):
    mode, srv, root = page_cache_server
    data = hashlib.shake_256(f"{mode}-{chunked}".encode()).digest(5 * WINDOW + 12345)
    target = f"{ARTIFACTS}/page-cache/{mode}-{chunked}.bin"
    with requests.Session() as http:
        answer = http.put(
            srv.url + target,
            data=_chunks(data) if chunked else data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
        assert (answer.status_code, answer.text) == (200, "{}")
        stored = root / "page-cache" / f"{mode}-{chunked}.bin"
        assert stored.stat().st_size == len(data)
        early = resident(stored)[: 3 * WINDOW // PAGE]
        assert early == [MODES[mode][1][chunked]] * len(early)
        got = http.get(srv.url + target, timeout=60)
        assert got.status_code == 200 and got.content == data
        ranged = http.get(srv.url + target, headers={"Range": f"bytes={WINDOW - 3}-{4 * WINDOW + 5}"}, timeout=60)
        assert ranged.status_code == 206 and ranged.content == data[WINDOW - 3 : 4 * WINDOW + 6]
        # a cached file is served from the cache and left there; one that is not stays out of it
        assert resident(stored)[: 3 * WINDOW // PAGE] == early
