"""Choosing and configuring a store from a destination URI."""

from __future__ import annotations

import ast
import pathlib

import pytest

import storage
from storage import ArtifactNotFound, LocalArtifactStore, StorageError, open_store
from storage.s3 import S3ArtifactStore


def test_plain_path_creates_the_root(tmp_path):
    root = tmp_path / "new" / "artifacts"
    store = open_store(str(root))
    assert isinstance(store, LocalArtifactStore) and root.is_dir()
    assert open_store(root).root == str(root.resolve())  # os.PathLike too


def test_file_uri(tmp_path):
    root = tmp_path / "dir with space"
    store = open_store(root.as_uri())
    assert isinstance(store, LocalArtifactStore)
    assert store.root == str(root.resolve()) and root.is_dir()
    assert open_store(f"file://localhost{root}").root == store.root


@pytest.mark.parametrize(
    "uri",
    [
        "gs://bucket/x",
        "wasbs://c@a.blob.core.windows.net/x",
        "mlflow-artifacts:/",
        "http://host/x",
        "",
        "   ",
        "file://otherhost/x",
    ],
)
def test_unsupported_destinations(uri):
    with pytest.raises(ValueError):
        open_store(uri)


def test_s3_uri_is_configured_from_the_environment(monkeypatch):
    for name in (
        "MLFLOW_S3_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "MLFLOW_S3_IGNORE_TLS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "https://minio.internal:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    store = open_store("s3://my-bucket/some/prefix/")
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix) == ("my-bucket", "some/prefix")
    url = store._client.get_presigned_url("GET", "my-bucket", "k")  # offline: signs locally
    assert url.startswith("https://minio.internal:9000/my-bucket/k?")
    assert "eu-west-1" in url


def test_s3_defaults_and_tls_switch():
    store = S3ArtifactStore.from_uri("s3://bkt", env={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})
    assert store.prefix == ""
    # default endpoint: AWS S3 over https, region us-east-1
    assert store._client.get_presigned_url("GET", "bkt", "k").startswith("https://bkt.s3.us-east-1.amazonaws.com/k?")
    insecure = S3ArtifactStore.from_uri(
        "s3://bkt/p",
        env={
            "MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "MLFLOW_S3_IGNORE_TLS": "true",
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
        },
    )
    assert insecure._client.get_presigned_url("GET", "bkt", "k").startswith("http://127.0.0.1:9000/bkt/k?")


@pytest.mark.parametrize(
    "uri,env",
    [
        ("s3://", {}),
        ("s3://bad..bucket/x", {}),
        ("s3://bkt/../x", {}),
        ("s3://bkt/x", {"MLFLOW_S3_ENDPOINT_URL": "ftp://host"}),
        ("s3://bkt/x", {"MLFLOW_S3_ENDPOINT_URL": "http://host:9000/sub/path"}),
    ],
)
def test_bad_s3_configuration(uri, env):
    with pytest.raises((ValueError, storage.UnsafePath)):
        S3ArtifactStore.from_uri(uri, env=env)


def test_missing_bucket_reads_are_not_found_writes_are_errors(s3_env):
    store = open_store("s3://no-such-bucket/prefix")
    with pytest.raises(ArtifactNotFound):
        store.open_read("a.txt")
    with pytest.raises(ArtifactNotFound):
        store.size("a.txt")
    assert store.list_dir("") == []
    assert not store.exists("a.txt")
    with pytest.raises(StorageError) as info:
        store.write("a.txt", b"x")
    assert not isinstance(info.value, ArtifactNotFound)


def test_unreachable_endpoint_is_a_storage_error(monkeypatch, s3_env):
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    store = open_store("s3://bucket/prefix")
    store._client._http.connection_pool_kw["retries"] = False  # fail fast
    with pytest.raises(StorageError):
        store.size("a.txt")


def test_storage_package_imports_nothing_from_the_project():
    forbidden = {"mlflow_compat", "registry_core", "flask", "peewee", "werkzeug", "tests"}
    package = pathlib.Path(storage.__file__).parent
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{source.name} imports {name}"
