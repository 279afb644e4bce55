"""Storage URIs: a local path or `s3://bucket/prefix`, through pyarrow (data) and boto3 (objects).

S3 is configured only by the standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_REGION`), so any S3-compatible store works. Writes are atomic:
a temp file renamed into place locally, a single PUT on S3. Every failure becomes a
`StorageError` that names the URI.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from vdgray.errors import MissingFileError, StorageError

S3_PREFIX = "s3://"


def is_s3(uri: str) -> bool:
    return str(uri).startswith(S3_PREFIX)


def parse_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> ('bucket', 'a/b'); rejects URIs without a bucket."""
    rest = str(uri)[len(S3_PREFIX) :]
    bucket, _, key = rest.partition("/")
    if not bucket or any(c in bucket for c in " \\"):
        raise StorageError(f"{uri}: not a valid s3:// URI (expected s3://bucket/prefix)")
    return bucket, key.strip("/")


def check_uri(uri: str) -> str:
    """Validate a storage URI early, with a clear message for the common mistakes."""
    uri = str(uri)
    if not uri:
        raise StorageError("empty storage URI")
    if "://" in uri and not is_s3(uri):
        scheme = uri.split("://", 1)[0]
        raise StorageError(f"{uri}: unsupported scheme {scheme!r} (expected a local path or s3://bucket/prefix)")
    if is_s3(uri):
        parse_s3(uri)
    return uri


def absolute(uri: str) -> str:
    """A validated URI with local paths made absolute (Ray workers run in other directories)."""
    uri = check_uri(uri)
    return uri if is_s3(uri) else os.path.abspath(os.path.expanduser(uri))


def join(uri: str, *parts: str) -> str:
    """Join path parts onto a URI with '/' (S3) or the OS separator (local)."""
    uri = str(uri)
    if is_s3(uri):
        out = uri.rstrip("/")
        for p in parts:
            out += "/" + str(p).strip("/")
        return out
    return str(Path(uri, *parts))


def parent(uri: str) -> str:
    """The URI up to its last '/' ("." for a bare name): where a stage's sibling outputs go."""
    return uri.rsplit("/", 1)[0] if "/" in uri else "."


def _aws_env() -> tuple:
    keys = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
            "AWS_REGION", "AWS_DEFAULT_REGION")
    return tuple(os.environ.get(k) for k in keys)


@lru_cache(maxsize=8)
def _s3fs(env: tuple) -> pafs.S3FileSystem:
    endpoint, key, secret, token, region, default_region = env
    kwargs: dict[str, Any] = {
        "region": region or default_region or "us-east-1",
        "connect_timeout": 5,
        "request_timeout": 60,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=3),
    }
    if key and secret:
        kwargs.update(access_key=key, secret_key=secret, session_token=token)
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs.update(endpoint_override=host or endpoint, scheme=scheme if host else "https")
        kwargs["force_virtual_addressing"] = False
    return pafs.S3FileSystem(**kwargs)


@lru_cache(maxsize=8)
def _boto3_client(env: tuple):
    import boto3
    from botocore.config import Config

    endpoint, key, secret, token, region, default_region = env
    return boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=region or default_region or "us-east-1",
        config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3}),
    )


def s3_client():
    """A boto3 S3 client configured from the environment (cached per environment)."""
    return _boto3_client(_aws_env())


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem for a URI and the path inside it (bucket/key for S3)."""
    uri = check_uri(uri)
    if is_s3(uri):
        bucket, key = parse_s3(uri)
        return _s3fs(_aws_env()), f"{bucket}/{key}".rstrip("/")
    return pafs.LocalFileSystem(), str(Path(uri).absolute())


def _endpoint() -> str:
    return os.environ.get("AWS_ENDPOINT_URL") or "the default AWS endpoint"


def _wrap(uri: str, action: str, err: Exception) -> StorageError:
    """Translate a pyarrow/boto3/OS error into one line naming the URI."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    low = text.lower()
    if any(s in low for s in ("connection refused", "could not connect", "curlcode: 7",
                              "connect timeout", "failed to connect", "unable to connect",
                              "connect to endpoint", "name or service not known")):
        return StorageError(f"{uri}: cannot reach S3 at {_endpoint()} while trying to {action} ({text})")
    if "nosuchbucket" in low.replace(" ", "") or "bucket does not exist" in low:
        return StorageError(f"{uri}: bucket does not exist (while trying to {action})")
    if "accessdenied" in low.replace(" ", "") or "invalidaccesskeyid" in low.replace(" ", ""):
        return StorageError(f"{uri}: access denied while trying to {action} ({text})")
    return StorageError(f"{uri}: cannot {action} ({text})")


def exists(uri: str) -> bool:
    """True if a file (object) exists at the URI."""
    fs, path = filesystem(uri)
    try:
        return fs.get_file_info(path).type == pafs.FileType.File
    except Exception as e:  # network, permissions
        raise _wrap(uri, "check existence", e) from None


def read_bytes(uri: str) -> bytes:
    """The whole content of one file; a missing file is a StorageError naming it."""
    fs, path = filesystem(uri)
    try:
        with fs.open_input_stream(path) as f:
            return f.read()
    except FileNotFoundError:
        raise MissingFileError(f"{uri}: file not found") from None
    except OSError as e:
        if "not found" in str(e).lower() or "nosuchkey" in str(e).lower().replace(" ", ""):
            raise MissingFileError(f"{uri}: file not found") from None
        raise _wrap(uri, "read", e) from None


def write_bytes(uri: str, data: bytes) -> None:
    """Write a file atomically: temp + rename locally, one PUT on S3 (never half-visible)."""
    uri = check_uri(uri)
    if is_s3(uri):
        bucket, key = parse_s3(uri)
        try:
            s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        except Exception as e:
            raise _wrap(uri, "write", e) from None
        return
    path = Path(uri)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as e:
        raise _wrap(uri, "write", e) from None


def read_text(uri: str) -> str:
    return read_bytes(uri).decode("utf-8")


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def read_json(uri: str) -> Any:
    """Parse a JSON file; invalid JSON is a StorageError naming the file and position."""
    text = read_text(uri)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise StorageError(f"{uri}: invalid JSON at line {e.lineno} column {e.colno} ({e.msg})") from None


def write_json(uri: str, obj: Any) -> None:
    write_text(uri, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def _listing(uri: str, suffix: str | None) -> list[tuple[str, str]]:
    """(path relative to `uri`, file URI) of every file under a prefix, sorted by URI."""
    fs, path = filesystem(uri)
    try:
        info = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except Exception as e:
        raise _wrap(uri, "list files", e) from None
    out = []
    base = uri.rstrip("/")
    for fi in info:
        if fi.type != pafs.FileType.File:
            continue
        rel = fi.path[len(path) :].lstrip("/")
        if suffix and not rel.endswith(suffix):
            continue
        out.append((rel, join(base, rel) if is_s3(uri) else fi.path))
    return sorted(out, key=lambda item: item[1])


def list_files(uri: str, suffix: str | None = None) -> list[str]:
    """All files under a prefix (recursive, sorted), as URIs of the same kind as `uri`."""
    return [f for _, f in _listing(uri, suffix)]


def list_relative(uri: str, suffix: str | None = None) -> list[str]:
    """All files under a prefix, as '/'-separated paths relative to it (the names a manifest
    lists), in `list_files` order."""
    return [rel for rel, _ in _listing(uri, suffix)]


def delete_prefix(uri: str) -> None:
    """Remove everything under a prefix (used to clear a partial output before a rewrite)."""
    fs, path = filesystem(uri)
    try:
        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            return
        fs.delete_dir_contents(path, missing_dir_ok=True)
    except Exception as e:
        raise _wrap(uri, "delete", e) from None


def ensure_bucket(uri: str) -> None:
    """Fail early and clearly if an S3 URI's bucket is missing or the endpoint unreachable."""
    if not is_s3(uri):
        return
    bucket, _ = parse_s3(uri)
    try:
        s3_client().head_bucket(Bucket=bucket)
    except Exception as e:
        code = getattr(e, "response", {}).get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket"):
            raise StorageError(f"{uri}: bucket {bucket!r} does not exist") from None
        raise _wrap(uri, "open the bucket", e) from None


def write_parquet(uri: str, table: pa.Table, **kwargs) -> None:
    """Write one Parquet file atomically (serialised in memory, then one atomic write)."""
    buf = io.BytesIO()
    pq.write_table(table, buf, **kwargs)
    write_bytes(uri, buf.getvalue())


def read_parquet(uris: str | list[str], columns: list[str] | None = None) -> pa.Table:
    """Read one Parquet file or a list of them into one table."""
    if isinstance(uris, str):
        uris = [uris]
    tables = []
    for u in uris:
        fs, path = filesystem(u)
        try:
            tables.append(pq.read_table(path, filesystem=fs, columns=columns))
        except FileNotFoundError:
            raise MissingFileError(f"{u}: file not found") from None
        except (OSError, pa.ArrowInvalid) as e:
            raise _wrap(u, "read Parquet", e) from None
    if not tables:
        raise StorageError("no Parquet files to read")
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def open_parquet(uri: str) -> pq.ParquetFile:
    """A lazily read Parquet file (row groups on demand) of a shard a manifest lists."""
    fs, path = filesystem(uri)
    try:
        return pq.ParquetFile(fs.open_input_file(path))
    except FileNotFoundError:
        raise StorageError(f"{uri}: file not found (listed in the manifest)") from None
    except (OSError, pa.ArrowInvalid) as e:
        raise StorageError(f"{uri}: cannot read Parquet ({str(e).strip().splitlines()[0]})") from None


def parquet_rows(uri: str) -> int:
    """Rows of one Parquet file, from its footer (no data read)."""
    fs, path = filesystem(uri)
    with fs.open_input_file(path) as fh:
        return pq.ParquetFile(fh).metadata.num_rows


def unique_name(prefix: str = "part", suffix: str = ".parquet") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}{suffix}"
