"""The "Your own data and models" commands (docs/your-own-data.md), run line by line as a new user runs them.

What the user brings is made here with nothing of vdgray's: tiny checkpoints that
transformers' own classes and processors saved (a CLIP in the hub's file layout, a llava-hf
LLaVA, a SigLIP in transformers 5's processor layout, a BLIP retrieval model), CIRR in
CLIP4Cir's layout (images one folder above the CIRR root), FashionIQ with its images one
folder up, and a bucket of JPEGs in sub-folders on the loopback S3 server, one of them broken.
No manifest, Parquet or symlink is made by hand.

Each `vdgray` line of the block runs through `vdgray.cli.main` as written, its
variables set to those inputs; the test appends only resource and size settings (`TEST_SETS`:
epochs, batch sizes, CPU shares) that a 2-CPU machine needs. `vdgray serve` runs as its own
process on the test's Ray cluster and is queried over HTTP by image_id and by image. Then
the retriever line runs again on SigLIP and BLIP.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shlex
import signal
import subprocess
import time

import httpx
import numpy as np
import pytest
from helpers.hub_models import save_blip, save_clip, save_llava, save_siglip
from helpers.layouts import cirr_layout, fashioniq_layout
from helpers.paths import BIN, ROOT

from vdgray import manifest, storage
from vdgray.cli import main
from vdgray.loopback import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

README_BLOCK = re.compile(r"<!-- your-own-data[^>]*-->\s*```bash\n(.*?)```", re.S)

# Sizes and CPU shares for a 2-CPU test machine, appended to the README's lines.
TEST_SETS = {
    "embed": ["batch_size=8", "num_cpus_per_actor=0.5", "decode_num_cpus=0.25", "torch_threads=1"],
    "mine": ["max_similarity=0.9999"],  # a random tiny CLIP sees every photo as alike
    "train-vdg": ["epochs=1", "batch_size=2", "val_limit=2", "lora.r=4", "lora.alpha=8",
                  "torch_threads=1", "max_failures=0"],
    "generate": ["num_cpus_per_actor=0.5", "torch_threads=1", "sampling.max_new_tokens=6",
                 "filters.enabled=false", "batch_size=8"],
    "train-cir": ["epochs=1", "batch_size=2", "torch_threads=1", "max_failures=0"],
    "eval": ["batch_size=8"],
    "index": ["batch_size=8"],
    "serve": ["num_cpus=0.25", "max_replicas=1", "torch_threads=1"],
}
N_PHOTOS = 18


def readme_lines() -> tuple[dict[str, str], list[str]]:
    """(the variables the block assigns, its vdgray command lines), from the README."""
    block = README_BLOCK.search((ROOT / "docs" / "your-own-data.md").read_text()).group(1)
    names, commands = {}, []
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if m := re.fullmatch(r"([A-Z]+)=(\S+)", line):
            names[m.group(1)] = m.group(2)
        elif line.startswith("vdgray "):
            commands.append(line)
    return names, commands


def _argv(line: str, env: dict[str, str]) -> list[str]:
    words = shlex.split(re.sub(r"\$([A-Z]+)", lambda m: env[m.group(1)], line))[1:]
    return words + [x for s in TEST_SETS.get(words[0], []) for x in ("--set", s)]


def _photo(i: int) -> bytes:
    """A JPEG of a few coloured blocks (photos that differ, unlike noise)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(i)
    img = Image.new("RGB", (56, 48), tuple(int(c) for c in rng.integers(0, 255, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x, y = rng.integers(0, 40, 2)
        draw.rectangle([int(x), int(y), int(x) + 14, int(y) + 12],
                       fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def brought(tmp_path_factory, ray_session, s3_server):
    """What a user has: hub-layout checkpoints, CIRR and FashionIQ as unpacked, a bucket."""
    root = tmp_path_factory.mktemp("user")
    bucket = f"user-{os.getpid()}"
    storage.s3_client().create_bucket(Bucket=bucket)
    photos = f"s3://{bucket}/photos"
    ids = []
    for i in range(N_PHOTOS):
        image_id = f"shoot{i % 3}/IMG_{i:04d}"
        storage.write_bytes(f"{photos}/{image_id}.jpg", _photo(i))
        ids.append(image_id)
    storage.write_bytes(f"{photos}/shoot0/IMG_broken.jpg", _photo(99)[:40])
    cirr, _ = cirr_layout(root / "data", "clip4cir")
    fiq, _ = fashioniq_layout(root / "fiq", "parent")
    env = {"CLIP": str(save_clip(root / "models" / "clip-vit-base-patch32")),
           "LLAVA": str(save_llava(root / "models" / "llava-1.5-7b-hf")),
           "CIRR": cirr, "FIQ": fiq, "PHOTOS": photos, "OUT": f"s3://{bucket}/vdgray"}
    return {"env": env, "ids": ids, "root": root, "ray": ray_session}


def _run(argv: list[str], capsys) -> str:
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, f"vdgray {' '.join(argv)}\n{out.err[-3000:]}"
    return out.out


def test_the_readme_block_assigns_every_input_it_uses():
    names, commands = readme_lines()
    assert set(names) == {"CLIP", "LLAVA", "CIRR", "FIQ", "PHOTOS", "OUT"}
    used = {v for c in commands for v in re.findall(r"\$([A-Z]+)", c)}
    assert used <= set(names)
    assert [c.split()[1] for c in commands] == [
        "embed", "mine", "train-vdg", "generate", "train-cir", "eval", "eval", "eval",
        "index", "serve"]


def test_readme_commands_from_download_to_a_served_retriever(brought, capsys):
    env, out = brought["env"], brought["env"]["OUT"]
    _, commands = readme_lines()
    *offline, serve_line = commands
    for line in offline:
        _run(_argv(line, env), capsys)

    emb = manifest.read_manifest(f"{out}/embeddings", stage="embeddings")
    assert emb["counts"]["images"] == N_PHOTOS
    assert [f["image_id"] for f in emb["failures"]] == ["shoot0/IMG_broken"]
    assert manifest.read_manifest(f"{out}/pairs", stage="pairs")["counts"]["pairs"] > 0
    trip = manifest.read_manifest(f"{out}/triplets", stage="triplets")
    assert trip["counts"]["triplets"] > 0
    assert manifest.read_manifest(f"{out}/vdg", stage="vdg-model")["adapter"] is True
    for name in ("eval-cirr-val", "eval-cirr-test1"):
        assert storage.list_files(f"{out}/{name}", suffix=".json")
        assert any("submission" in f for f in storage.list_files(f"{out}/{name}"))
    fiq = storage.read_json(f"{out}/eval-fashioniq/metrics.json")
    assert fiq and manifest.is_complete(f"{out}/eval-fashioniq")
    index = manifest.read_manifest(f"{out}/index")
    assert index["counts"]["vectors"] == N_PHOTOS

    _serve_and_query(serve_line, brought)


def _serve_and_query(line: str, brought) -> None:
    """`vdgray serve` as its own process on the test's Ray, queried by id and by image."""
    env, ray = brought["env"], brought["ray"]
    port = free_port()
    argv = _argv(line, env) + ["--port", str(port), "--set",
                               f"ray.address={ray.get_runtime_context().gcs_address}"]
    proc = subprocess.Popen([str(BIN / "vdgray"), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            pytest.fail("vdgray serve did not answer /healthz within 240 s")
        ids = set(brought["ids"])
        r = httpx.post(f"{url}/search", json={"image_id": brought["ids"][0],
                                              "text": "make it red", "k": 5}, timeout=60)
        assert r.status_code == 200, r.text
        got = [h["image_id"] for h in r.json()["results"]]
        assert len(got) == 5 and set(got) <= ids
        image = base64.b64encode(_photo(3)).decode()
        r = httpx.post(f"{url}/search", json={"image": image, "text": "bigger", "k": 3},
                       timeout=60)
        assert r.status_code == 200, r.text
        assert {h["image_id"] for h in r.json()["results"]} <= ids
        r = httpx.post(f"{url}/search", json={"image_id": "shoot0/IMG_broken", "text": "x"},
                       timeout=60)
        assert r.status_code in (404, 422) and "shoot0/IMG_broken" in r.text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    # SIGTERM stops the app on the shared cluster (it once left the replica running there)
    assert proc.returncode == 0, out[-3000:]
    assert "serve: stopping" in out
    left = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
            if a["namespace"] == "serve"]
    assert not left, left


@pytest.mark.parametrize("family", ["siglip", "blip"])
def test_the_retriever_lines_on_siglip_and_blip(brought, family, capsys, tmp_path):
    """The README's train-cir, eval and index lines with a SigLIP (transformers 5's processor
    layout) or a BLIP retrieval model in place of the CLIP."""
    save = {"siglip": (save_siglip, "processor"), "blip": (save_blip, "hub")}[family]
    env = dict(brought["env"], CLIP=str(save[0](tmp_path / family, layout=save[1])),
               OUT=f"{brought['env']['OUT']}-{family}")
    if not storage.exists(manifest.manifest_uri(f"{brought['env']['OUT']}/triplets")):
        pytest.skip("needs the README chain's triplets")
    triplets = f"{brought['env']['OUT']}/triplets"
    _, commands = readme_lines()
    for line in commands:
        verb = line.split()[1]
        if verb not in ("train-cir", "eval", "index"):
            continue
        argv = _argv(line.replace("$OUT/triplets", triplets), env)
        if verb == "train-cir" and family == "blip":
            argv += ["--set", "model.kind=blip"]
        _run(argv, capsys)
    metrics = storage.read_json(f"{env['OUT']}/eval-cirr-val/metrics.json")
    assert metrics
    assert manifest.read_manifest(f"{env['OUT']}/index")["counts"]["vectors"] == N_PHOTOS
