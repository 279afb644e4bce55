"""What names a VDG checkpoint in generator ids: its vdgray manifest, or the checkpoint itself.

A VDG that vdgray wrote (`vdg assemble`, `train-vdg`, `vdg export`) has a `vdg-model`
manifest whose `created_at` and `code_version` name it, as before. A llava-hf directory from
the hub, or one a user fine-tuned elsewhere, has none: it is named by a fingerprint of its
own files instead: `config.json` byte for byte, and for every weight file its name, its size
and a SHA-1 of its first and last MiB (the safetensors header lists every tensor's name,
shape and offset; the sampled bytes tell two fine-tunes of one architecture apart). That
reads at most 2 MiB per file, also over S3, and gives the same name to the same checkpoint
on every run, so triplet ids stay deterministic and a killed run resumes.

The prompt format needs no manifest: `vdg_response_format` in config.json (absent: the
paper's `delta`), and the prompt is vdgray's VDG prompt (`models.vdg.prompt`).
"""

from __future__ import annotations

import hashlib

from vdgray import manifest, storage
from vdgray.errors import DataFormatError
from vdgray.layout import VDG_MODEL_STAGE

WEIGHT_SUFFIXES = (".safetensors", ".bin")
SAMPLE_BYTES = 1 << 20


def _sample_digest(uri: str) -> tuple[int, str]:
    """(size, SHA-1 of the first and last SAMPLE_BYTES) of one file, local or s3://."""
    fs, path = storage.filesystem(uri)
    size = fs.get_file_info(path).size
    h = hashlib.sha1()
    with fs.open_input_file(path) as f:
        h.update(f.read(min(size, SAMPLE_BYTES)))
        if size > SAMPLE_BYTES:
            f.seek(max(SAMPLE_BYTES, size - SAMPLE_BYTES))
            h.update(f.read())
    return size, h.hexdigest()


def checkpoint_fingerprint(model_uri: str) -> str:
    """The fingerprint of a model directory without a manifest (see the module docstring)."""
    uri = str(model_uri).rstrip("/")
    config = storage.join(uri, "config.json")
    if not storage.exists(config):
        raise DataFormatError(f"{uri}: not a model directory (no config.json)")
    h = hashlib.sha1(storage.read_bytes(config))
    weights = [r for r in storage.list_relative(uri) if r.endswith(WEIGHT_SUFFIXES)]
    if not weights:
        raise DataFormatError(f"{uri}: no weight files ({', '.join(WEIGHT_SUFFIXES)})")
    for rel in sorted(weights):
        size, digest = _sample_digest(storage.join(uri, rel))
        h.update(f"\n{rel}\t{size}\t{digest}".encode())
    return h.hexdigest()


def vdg_identity(model_uri: str) -> dict:
    """What names the VDG at `model_uri` in generator ids: `created_at` and `code_version`
    from its `vdg-model` manifest, or `checkpoint` (the fingerprint) when it has none. A
    manifest of another stage, or an unfinished vdgray output, stays an error."""
    uri = str(model_uri).rstrip("/")
    if storage.exists(manifest.manifest_uri(uri)):
        doc = manifest.read_manifest(uri, stage=VDG_MODEL_STAGE)
        return {"created_at": doc.get("created_at"), "code_version": doc.get("code_version")}
    return {"checkpoint": checkpoint_fingerprint(uri)}
