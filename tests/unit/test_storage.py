"""Storage behaviour, identical for local paths and s3:// on the loopback S3 server."""

import pyarrow as pa
import pytest

from vdgray import manifest, storage
from vdgray.errors import IncompleteOutputError, StorageError


def test_roundtrip_bytes_json_and_listing(any_uri):
    storage.write_bytes(storage.join(any_uri, "a", "x.bin"), b"hello")
    storage.write_json(storage.join(any_uri, "b.json"), {"k": [1, 2]})
    assert storage.read_bytes(storage.join(any_uri, "a", "x.bin")) == b"hello"
    assert storage.read_json(storage.join(any_uri, "b.json")) == {"k": [1, 2]}
    files = storage.list_files(any_uri)
    assert [f.rsplit("/", 2)[-2:] for f in files] == [["a", "x.bin"], ["out", "b.json"]]
    assert storage.exists(storage.join(any_uri, "b.json"))
    assert not storage.exists(storage.join(any_uri, "nope.json"))


def test_missing_file_names_the_uri(any_uri):
    with pytest.raises(StorageError, match="nope.bin: file not found"):
        storage.read_bytes(storage.join(any_uri, "nope.bin"))


def test_manifest_written_last_marks_complete(any_uri):
    t = pa.table({"image_id": ["a", "b"], "x": [1, 2]})
    assert not manifest.is_complete(any_uri)
    storage.write_parquet(storage.join(any_uri, "part-0.parquet"), t)
    # a stray file from a killed run is not part of the dataset
    storage.write_parquet(storage.join(any_uri, "part-stray.parquet"), t)
    with pytest.raises(IncompleteOutputError, match="no _manifest.json"):
        manifest.read_dataset(any_uri)
    manifest.write_manifest(any_uri, stage="test", files=["part-0.parquet"], counts={"rows": 2})
    assert manifest.is_complete(any_uri, "test")
    assert manifest.read_dataset(any_uri).num_rows == 2
    with pytest.raises(StorageError, match="written by stage 'test', expected 'embed'"):
        manifest.read_manifest(any_uri, "embed")


def test_invalid_json_names_position(any_uri):
    storage.write_text(storage.join(any_uri, "bad.json"), "{\n  'x': 1}")
    with pytest.raises(StorageError, match=r"bad.json: invalid JSON at line 2"):
        storage.read_json(storage.join(any_uri, "bad.json"))


def test_bad_uris():
    with pytest.raises(StorageError, match="unsupported scheme 'gs'"):
        storage.check_uri("gs://bucket/x")
    with pytest.raises(StorageError, match="not a valid s3:// URI"):
        storage.check_uri("s3:///x")


def test_missing_bucket(s3_server):
    with pytest.raises(StorageError, match="does not exist"):
        storage.ensure_bucket("s3://no-such-bucket-xyz/p")


def test_unreachable_s3(monkeypatch):
    from vdgray.loopback import free_port

    port = free_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    with pytest.raises(StorageError, match="cannot reach S3"):
        storage.read_bytes(f"s3://bucket/key-{port}")


def test_local_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    storage.write_bytes(str(target), b"old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(StorageError, match="disk full"):
        storage.write_bytes(str(target), b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_parent_of_a_uri():
    assert storage.parent("s3://b/runs/model") == "s3://b/runs"
    assert storage.parent("/tmp/runs/model") == "/tmp/runs"
    assert storage.parent("model") == "."


def test_parquet_rows_reads_the_footer(any_uri):
    uri = storage.join(any_uri, "t.parquet")
    storage.write_parquet(uri, pa.table({"x": list(range(7))}))
    assert storage.parquet_rows(uri) == 7
