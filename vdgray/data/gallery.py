"""Reading an image gallery, whatever its form, and decoding it for an encoder.

A gallery is a folder of image files, Parquet with `image_id: string, image: binary`, a
finished output with a `_manifest.json`, or a synthetic world (its `gallery/` prefix) — local
or s3://. `read_gallery` turns any of them into a Ray Dataset of (image_id, image bytes);
`read_gallery_table` does the same in memory for small galleries (training, benchmarks).
`Decoder` is the per-batch decode + preprocess step: it never raises on a bad image, it
drops the row from the stream and records (image_id, reason) in a small side file so the
stage can list every failure in its manifest.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vdgray import layout, manifest, storage
from vdgray.errors import DataFormatError, StorageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
FAILURE_SCHEMA = pa.schema([("image_id", pa.string()), ("reason", pa.string())])


@dataclass
class GallerySource:
    """A resolved gallery: `kind` is 'parquet' or 'folder'; `files` are URIs; `root` the prefix."""

    uri: str
    kind: str
    root: str
    files: list[str]


def resolve_gallery(uri: str) -> GallerySource:
    """Work out what kind of gallery `uri` is and which files hold it."""
    uri = storage.check_uri(str(uri)).rstrip("/")
    world_gallery = layout.world_part(uri, layout.GALLERY)
    if storage.exists(manifest.manifest_uri(world_gallery)):
        files = manifest.dataset_files(world_gallery)
        return GallerySource(uri, "parquet", world_gallery, files)
    if storage.exists(manifest.manifest_uri(uri)):
        return GallerySource(uri, "parquet", uri, manifest.dataset_files(uri))
    if uri.endswith(".parquet"):
        if not storage.exists(uri):
            raise StorageError(f"{uri}: gallery file not found")
        return GallerySource(uri, "parquet", uri.rsplit("/", 1)[0], [uri])
    all_files = storage.list_files(uri)
    parquet = [f for f in all_files if f.endswith(".parquet")]
    if parquet:
        return GallerySource(uri, "parquet", uri, parquet)
    images = [f for f in all_files if f.lower().endswith(IMAGE_SUFFIXES)]
    if images:
        return GallerySource(uri, "folder", uri, images)
    raise DataFormatError(
        f"{uri}: no gallery here (expected a synthetic world, Parquet with image_id/image, "
        f"or a folder of {'/'.join(s[1:] for s in IMAGE_SUFFIXES[:3])} images)"
    )


def _check_parquet_schema(path_uri: str) -> None:
    fs, path = storage.filesystem(path_uri)
    try:
        schema = pq.read_schema(path, filesystem=fs)
    except Exception as e:
        raise StorageError(f"{path_uri}: cannot read Parquet schema ({e})") from None
    for col, want in (("image_id", pa.string()), ("image", pa.binary())):
        if col not in schema.names:
            raise DataFormatError(f"{path_uri}: gallery column {col!r} missing (has {schema.names})")
        got = schema.field(col).type
        if not (got == want or (want == pa.binary() and got == pa.large_binary())
                or (want == pa.string() and got == pa.large_string())):
            raise DataFormatError(f"{path_uri}: gallery column {col!r} is {got}, expected {want}")


def image_id_for(root: str, file_uri: str) -> str:
    """A folder image's id: its path under the gallery root without the suffix."""
    rel = str(file_uri)[len(str(root).rstrip("/")) + 1:]
    return rel.rsplit(".", 1)[0]


def gallery_rows(src: GallerySource) -> int:
    """Row count of a gallery, from Parquet footers or the file list (no image is read)."""
    if src.kind == "folder":
        return len(src.files)
    total = 0
    for f in src.files:
        fs, path = storage.filesystem(f)
        try:
            total += pq.ParquetFile(fs.open_input_file(path)).metadata.num_rows
        except Exception as e:
            raise StorageError(f"{f}: cannot read Parquet footer ({e})") from None
    return total


def read_gallery(uri: str, src: GallerySource | None = None, num_cpus: float | None = None):
    """A streaming Ray Dataset with columns image_id (string) and image (encoded bytes).

    `num_cpus` is reserved per read task (fractional lets reads run beside encoder actors).
    """
    import ray.data

    src = src or resolve_gallery(uri)
    fs, _ = storage.filesystem(src.root)
    paths = [storage.filesystem(f)[1] for f in src.files]
    if src.kind == "parquet":
        _check_parquet_schema(src.files[0])
        return ray.data.read_parquet(paths, filesystem=fs, columns=["image_id", "image"],
                                     **({"num_cpus": num_cpus} if num_cpus else {}))
    _, root_path = storage.filesystem(src.root)
    ds = ray.data.read_binary_files(paths, filesystem=fs, include_paths=True,
                                    **({"num_cpus": num_cpus} if num_cpus else {}))
    return ds.map_batches(_folder_rows, fn_kwargs={"root": root_path}, batch_format="pyarrow")


def _folder_rows(batch: pa.Table, root: str) -> pa.Table:
    ids = [image_id_for(root, p) for p in batch.column("path").to_pylist()]
    return pa.table({"image_id": pa.array(ids, pa.string()), "image": batch.column("bytes")})


def read_gallery_table(uri: str) -> pa.Table:
    """The whole gallery in memory (image_id, image) — for small galleries only."""
    src = resolve_gallery(uri)
    if src.kind == "parquet":
        _check_parquet_schema(src.files[0])
        return storage.read_parquet(src.files, columns=["image_id", "image"])
    ids = [image_id_for(src.root, f) for f in src.files]
    data = [storage.read_bytes(f) for f in src.files]
    return pa.table({"image_id": pa.array(ids, pa.string()), "image": pa.array(data, pa.binary())})


class Decoder:
    """Decode + preprocess a batch; bad images leave the stream and are recorded with a reason.

    `processor` is the encoder's image processor (so decoding in tasks matches the model).
    When `failures_uri` is set, each batch with failures writes one small Parquet file of
    (image_id, reason) under it; `self.failures` also keeps them for direct (non-Ray) use.
    """

    def __init__(self, processor: Any, image_size: int, failures_uri: str | None = None):
        self.processor = processor
        self.image_size = int(image_size)
        self.failures_uri = failures_uri
        # Resolved here, on the driver: the pickled filesystem carries the S3 endpoint and
        # credentials to the workers, exactly as Ray Data's own writers do.
        self._fs = storage.filesystem(failures_uri) if failures_uri else None
        self.failures: list[dict] = []

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from vdgray.data.images import decode_image

        ids, images, failed = [], [], []
        for image_id, data in zip(batch["image_id"], batch["image"], strict=True):
            try:
                if data is None:
                    raise DataFormatError("cannot decode image: no image bytes (null)")
                images.append(decode_image(bytes(data)))
                ids.append(str(image_id))
            except DataFormatError as e:
                failed.append({"image_id": str(image_id), "reason": str(e)})
        if images:
            pixels = self.processor(images=images, return_tensors="np")["pixel_values"]
            pixels = np.ascontiguousarray(pixels, dtype=np.float32)
        else:
            pixels = np.zeros((0, 3, self.image_size, self.image_size), np.float32)
        if failed:
            self.failures.extend(failed)
            if self._fs is not None:
                self._write_failures(failed)
        return {"image_id": np.array(ids, dtype=object), "pixel_values": pixels}

    def _write_failures(self, failed: list[dict]) -> None:
        fs, path = self._fs
        name = f"{path}/{uuid.uuid4().hex}.parquet"
        try:
            fs.create_dir(path, recursive=True)
            pq.write_table(pa.Table.from_pylist(failed, schema=FAILURE_SCHEMA), name, filesystem=fs)
        except Exception as e:
            raise StorageError(f"{self.failures_uri}: cannot write failure records ({e})") from None


def collect_failures(failures_uri: str) -> list[dict]:
    """Read the side files a Decoder wrote (deduplicated: a retried task may write twice)."""
    files = storage.list_files(failures_uri, suffix=".parquet")
    if not files:
        return []
    rows = storage.read_parquet(files).to_pylist()
    seen: dict[str, str] = {}
    for r in rows:
        seen.setdefault(r["image_id"], r["reason"])
    return [{"image_id": k, "reason": v} for k, v in sorted(seen.items())]
