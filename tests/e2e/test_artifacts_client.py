"""Run artifacts through the unmodified mlflow 3.x client, against ``modelops server
--artifacts-destination`` on local disk and on S3 (moto): issue 3.

Logging (``log_artifact``, ``log_artifacts`` of a nested directory, ``log_text``, ``log_dict``),
listing at several depths, downloading files and directories, deleting, multipart upload (S3) and
its fallback (local disk), and a 200 MB round trip during which the server's resident memory is
measured. Public mlflow API only; the store is inspected directly to check where the bytes landed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from tests.e2e.artifact_servers import RssSampler, tree_rss

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024

# file names with spaces and non-ASCII characters
ODD_FILE = "résumé final.txt"
NESTED = {
    "a.txt": b"alpha\n",
    "sub dir/b ü.json": b'{"b": 1}\n',
    "sub dir/deeper/c.bin": bytes(range(256)) * 40,
    "sub dir/deeper/日本語 データ.csv": b"x,y\n1,2\n",
    "empty.txt": b"",
}


def _tree(root: Path) -> dict[str, bytes]:
    """{relative posix path: bytes} of every file under ``root``."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _listing(client, run_id, path=None):
    return [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id, path)]


def _store_prefix(run) -> str:
    """Where a proxied run's artifacts live inside the destination."""
    assert run.info.artifact_uri == (f"mlflow-artifacts:/{run.info.experiment_id}/{run.info.run_id}/artifacts")
    return f"{run.info.experiment_id}/{run.info.run_id}/artifacts"


@pytest.fixture
def logged_run(art_tracking, art_client, tmp_path, uniq):
    """A finished run holding every kind of artifact; yields (run, local source dir)."""
    mlflow.set_experiment(uniq("artifacts"))
    src = _write_tree(tmp_path / "src" / "data", NESTED)
    odd = tmp_path / "src" / ODD_FILE
    odd.write_text("ça marche\n", encoding="utf-8")
    with mlflow.start_run() as active:
        mlflow.log_artifact(str(odd))
        mlflow.log_artifacts(str(src), artifact_path="data")
        mlflow.log_text("hello text\n", "notes/readme.md")
        mlflow.log_dict({"lr": 0.1, "layers": [1, 2], "name": "ü"}, "config/params.json")
    return art_client.get_run(active.info.run_id), tmp_path / "src"


def test_artifacts_land_in_the_destination(logged_run, artifact_server):
    run, src = logged_run
    prefix = _store_prefix(run)
    assert artifact_server.stored_bytes(f"{prefix}/{ODD_FILE}") == (src / ODD_FILE).read_bytes()
    for rel, data in NESTED.items():
        assert artifact_server.stored_bytes(f"{prefix}/data/{rel}") == data, rel
    assert artifact_server.stored_bytes(f"{prefix}/notes/readme.md") == b"hello text\n"
    stored = json.loads(artifact_server.stored_bytes(f"{prefix}/config/params.json"))
    assert stored == {"lr": 0.1, "layers": [1, 2], "name": "ü"}


def test_list_artifacts_at_several_depths(logged_run, art_client):
    run, _ = logged_run
    rid = run.info.run_id
    assert _listing(art_client, rid) == [
        ("config", True, None),
        ("data", True, None),
        ("notes", True, None),
        (ODD_FILE, False, len("ça marche\n".encode())),
    ]
    assert _listing(art_client, rid, "data") == [
        ("data/a.txt", False, 6),
        ("data/empty.txt", False, None),  # MLflow omits a 0 size
        ("data/sub dir", True, None),
    ]
    assert _listing(art_client, rid, "data/sub dir") == [
        ("data/sub dir/b ü.json", False, len(NESTED["sub dir/b ü.json"])),
        ("data/sub dir/deeper", True, None),
    ]
    assert _listing(art_client, rid, "data/sub dir/deeper") == [
        ("data/sub dir/deeper/c.bin", False, 256 * 40),
        ("data/sub dir/deeper/日本語 データ.csv", False, len(NESTED["sub dir/deeper/日本語 データ.csv"])),
    ]
    # a file or a missing path lists as empty
    assert art_client.list_artifacts(rid, "data/a.txt") == []
    assert art_client.list_artifacts(rid, "no/such/dir") == []
    # the fluent listing by artifact URI agrees (paths relative to the URI's parent)
    names = [f.path for f in mlflow.artifacts.list_artifacts(artifact_uri=f"{run.info.artifact_uri}/data/sub dir")]
    assert names == ["sub dir/b ü.json", "sub dir/deeper"]


def test_download_file_and_directory(logged_run, tmp_path):
    run, src = logged_run
    rid = run.info.run_id

    local = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path=ODD_FILE, dst_path=str(tmp_path / "one"))
    assert Path(local).read_bytes() == (src / ODD_FILE).read_bytes()

    deep = mlflow.artifacts.download_artifacts(
        run_id=rid, artifact_path="data/sub dir/deeper/日本語 データ.csv", dst_path=str(tmp_path / "two")
    )
    assert Path(deep).read_bytes() == NESTED["sub dir/deeper/日本語 データ.csv"]

    folder = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="data", dst_path=str(tmp_path / "dir"))
    assert _tree(Path(folder)) == NESTED

    sub = mlflow.artifacts.download_artifacts(f"runs:/{rid}/data/sub dir", dst_path=str(tmp_path / "sub"))
    assert _tree(Path(sub)) == {k[len("sub dir/") :]: v for k, v in NESTED.items() if k.startswith("sub dir/")}

    everything = mlflow.artifacts.download_artifacts(run_id=rid, dst_path=str(tmp_path / "all"))
    tree = _tree(Path(everything))
    assert tree[ODD_FILE] == (src / ODD_FILE).read_bytes()
    assert {k[len("data/") :]: v for k, v in tree.items() if k.startswith("data/")} == NESTED
    assert tree["notes/readme.md"] == b"hello text\n"
    assert json.loads(tree["config/params.json"]) == {"lr": 0.1, "layers": [1, 2], "name": "ü"}

    # the helpers that read straight from an artifact URI
    assert mlflow.artifacts.load_text(f"runs:/{rid}/notes/readme.md") == "hello text\n"
    assert mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/config/params.json") == {
        "lr": 0.1,
        "layers": [1, 2],
        "name": "ü",
    }


def test_download_missing_artifact_raises(logged_run, tmp_path):
    run, _ = logged_run
    with pytest.raises(MlflowException) as info:
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="nope.txt", dst_path=str(tmp_path / "a")
        )
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # straight from the artifact URI: the server's answer surfaces, and it is a 404 (a 5xx would
    # have sent the client into its retry loop)
    with pytest.raises(Exception) as info:
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"{run.info.artifact_uri}/nope.txt", dst_path=str(tmp_path / "b")
        )
    assert "404" in str(info.value), str(info.value)


def test_delete_artifacts(logged_run, art_client, artifact_server):
    run, _ = logged_run
    rid = run.info.run_id
    prefix = _store_prefix(run)
    repo = get_artifact_repository(run.info.artifact_uri)

    repo.delete_artifacts("data/sub dir")  # a directory tree
    assert _listing(art_client, rid, "data") == [
        ("data/a.txt", False, 6),
        ("data/empty.txt", False, None),  # MLflow omits a 0 size
    ]
    assert artifact_server.stored_bytes(f"{prefix}/data/sub dir/deeper/c.bin") is None

    repo.delete_artifacts(ODD_FILE)  # a single file
    assert [f.path for f in art_client.list_artifacts(rid)] == ["config", "data", "notes"]
    assert artifact_server.stored_bytes(f"{prefix}/{ODD_FILE}") is None
    # the rest is untouched
    assert artifact_server.stored_bytes(f"{prefix}/data/a.txt") == b"alpha\n"
    assert artifact_server.stored_bytes(f"{prefix}/notes/readme.md") == b"hello text\n"

    # through the model-artifact style repository of a sub-directory URI too
    get_artifact_repository(f"{run.info.artifact_uri}/notes").delete_artifacts("readme.md")
    assert art_client.list_artifacts(rid, "notes") == []


def test_log_artifact_overwrites(art_tracking, art_client, artifact_server, tmp_path, uniq):
    mlflow.set_experiment(uniq("overwrite"))
    path = tmp_path / "v.txt"
    with mlflow.start_run() as run:
        path.write_bytes(b"first version, longer\n")
        mlflow.log_artifact(str(path))
        path.write_bytes(b"second\n")
        mlflow.log_artifact(str(path))
    assert _listing(art_client, run.info.run_id) == [("v.txt", False, 7)]
    got = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="v.txt", dst_path=str(tmp_path / "dl")
    )
    assert Path(got).read_bytes() == b"second\n"


def test_multipart_upload_through_the_client(art_tracking, art_client, artifact_server, tmp_path, uniq, monkeypatch):
    """S3: the client asks for presigned part URLs and PUTs the parts straight to the object
    store; local disk: mpu/create answers MLflow's 501 and the client falls back to one PUT."""
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(1 * MiB))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * MiB))  # the S3 minimum
    path = tmp_path / "weights.bin"
    data = os.urandom(12 * MiB + 12345)  # three parts
    path.write_bytes(data)
    mlflow.set_experiment(uniq("mpu"))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(path), artifact_path="ckpt")
    key = f"{_store_prefix(art_client.get_run(run.info.run_id))}/ckpt/weights.bin"
    assert artifact_server.stored_bytes(key) == data
    if artifact_server.kind == "s3":
        from tests import moto_server
        from tests.e2e.artifact_servers import BUCKET

        stat = moto_server.minio_client(artifact_server.s3_endpoint).stat_object(
            BUCKET, f"{artifact_server.s3_prefix}/{key}"
        )
        assert stat.etag.strip('"').endswith("-3"), f"not a 3-part upload: etag {stat.etag}"
    got = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="ckpt/weights.bin", dst_path=str(tmp_path / "dl")
    )
    assert Path(got).read_bytes() == data


# --- 200 MB through the server, memory measured -------------------------------------------------

BIG_MB = 200
RSS_LIMIT = 200 * MiB


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def test_200mb_round_trip_keeps_server_memory_flat(
    art_tracking, art_client, artifact_server, tmp_path, uniq, monkeypatch, record_property
):
    # Both directions through the server: no presigned multipart download straight from S3
    # (server-info advertises it on S3), no multipart upload (the file is below 500 MB anyway).
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "false")
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "false")
    big = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(big, "wb") as fh:
        for _ in range(BIG_MB):
            chunk = os.urandom(MiB)
            digest.update(chunk)
            fh.write(chunk)
    expected = digest.hexdigest()

    mlflow.set_experiment(uniq("big"))
    baseline = tree_rss(artifact_server.pid)
    with mlflow.start_run() as run, RssSampler(artifact_server.pid) as upload:
        mlflow.log_artifact(str(big), artifact_path="large")
    big.unlink()
    rid = run.info.run_id
    assert _listing(art_client, rid, "large") == [("large/big.bin", False, BIG_MB * MiB)]

    with RssSampler(artifact_server.pid) as download:
        got = Path(
            mlflow.artifacts.download_artifacts(
                run_id=rid, artifact_path="large/big.bin", dst_path=str(tmp_path / "dl")
            )
        )
    try:
        assert got.stat().st_size == BIG_MB * MiB
        assert _sha256(got) == expected
    finally:
        got.unlink()
        get_artifact_repository(f"mlflow-artifacts:/{run.info.experiment_id}/{rid}/artifacts").delete_artifacts("large")

    report = (
        f"[{artifact_server.kind}] server tree RSS: baseline {baseline / MiB:.0f} MB, "
        f"peak during upload {upload.peak / MiB:.0f} MB ({len(upload.samples)} samples), "
        f"peak during download {download.peak / MiB:.0f} MB "
        f"({len(download.samples)} samples)"
    )
    print(report, file=sys.stderr)
    record_property("rss", report)
    assert len(upload.samples) >= 3 and len(download.samples) >= 3, report
    assert upload.peak < RSS_LIMIT, report
    assert download.peak < RSS_LIMIT, report
