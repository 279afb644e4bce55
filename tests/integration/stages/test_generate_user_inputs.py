"""`vdgray generate` on what a user brings: a llava-hf checkpoint as is (no vdgray manifest)
and a folder of JPEGs (in sub-folders, one of them broken), through the CLI."""

from __future__ import annotations

import pyarrow as pa
import pytest
from helpers.hub_models import save_llava
from helpers.images import noise_jpeg

from vdgray import manifest, storage
from vdgray.cli import main
from vdgray.layout import PAIRS_STAGE
from vdgray.stages.mine import PAIRS_SCHEMA, pair_ids

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def user_inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("user")
    photos = root / "photos"
    ids = []
    for i in range(6):
        rel = f"shoot{i % 2}/img{i}"
        (photos / rel).parent.mkdir(parents=True, exist_ok=True)
        (photos / f"{rel}.jpg").write_bytes(noise_jpeg(i))
        ids.append(rel)
    (photos / "shoot0" / "broken.jpg").write_bytes(noise_jpeg(9)[:50])
    refs = [ids[0], ids[1], ids[2], ids[3], ids[4]]
    tgts = [ids[1], ids[2], ids[3], "shoot0/broken", ids[5]]
    pairs = str(root / "pairs")
    storage.write_parquet(storage.join(pairs, "part-00000.parquet"), pa.table(
        {"pair_id": pair_ids(refs, tgts), "reference_id": refs, "target_id": tgts,
         "similarity": pa.array([0.5] * len(refs), pa.float32()), "group_id": [0] * len(refs)},
        schema=PAIRS_SCHEMA))
    manifest.write_manifest(pairs, stage=PAIRS_STAGE, files=["part-00000.parquet"])
    llava = save_llava(root / "llava-hf")
    return {"root": root, "photos": str(photos), "pairs": pairs, "llava": str(llava)}


def _generate(inputs, output, capsys):
    code = main(["generate", "--pairs", inputs["pairs"], "--gallery", inputs["photos"],
                 "--model", inputs["llava"], "--output", output,
                 "--set", "num_cpus_per_actor=0.5", "--set", "torch_threads=1",
                 "--set", "sampling.max_new_tokens=6", "--set", "filters.enabled=false"])
    err = capsys.readouterr().err
    assert code == 0, err
    return manifest.read_manifest(output, stage="triplets")


def _triplets(output: str) -> pa.Table:
    return storage.read_parquet(manifest.dataset_files(output, stage="triplets"))


def _by_id(table: pa.Table) -> list[tuple[str, str]]:
    return sorted(zip(table.column("triplet_id").to_pylist(), table.column("text").to_pylist(),
                      strict=True))


def test_a_llava_hf_dir_and_a_folder_gallery_generate_with_deterministic_ids(
        user_inputs, ray_session, tmp_path, capsys):
    assert not storage.exists(manifest.manifest_uri(user_inputs["llava"]))
    doc = _generate(user_inputs, str(tmp_path / "t1"), capsys)
    assert doc["counts"]["pairs"] == 5
    assert doc["counts"]["triplets"] == 4 and doc["counts"]["failures"] == 1
    failure = doc["failures"][0]
    assert failure["target_id"] == "shoot0/broken" and "cannot be decoded" in failure["reason"]
    assert doc["generator"].startswith("llava-hf@")
    assert set(doc["model_identity"]) == {"checkpoint"}
    first = _triplets(str(tmp_path / "t1"))
    again = _generate(user_inputs, str(tmp_path / "t2"), capsys)
    second = _triplets(str(tmp_path / "t2"))
    assert again["generator"] == doc["generator"]
    assert _by_id(first) == _by_id(second)
