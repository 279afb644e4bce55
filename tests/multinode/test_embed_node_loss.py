"""`vdgray embed` on a head and two worker nodes: a worker node lost without grace while its
encoder actor is mid-run; the output is complete (every gallery image once) and equals an
uninterrupted run's embeddings."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from helpers.images import noise_png
from helpers.node_loss import NodeKiller

from vdgray import manifest, storage
from vdgray.gallery_embed import embedding_matrix
from vdgray.stages.embed import EmbedConfig, run

N_IMAGES = 240
ENCODER = "EmbedBatch"


def _gallery(uri: str) -> list[str]:
    ids = [f"img-{i:04d}" for i in range(N_IMAGES)]
    for s in range(4):
        part = slice(s * N_IMAGES // 4, (s + 1) * N_IMAGES // 4)
        storage.write_parquet(storage.join(uri, f"part-{s:05d}.parquet"), pa.table(
            {"image_id": ids[part],
             "image": pa.array([noise_png(i, size=32) for i in range(N_IMAGES)][part],
                               pa.binary())}))
    return ids


def _config(gallery: str, output: str, address: str) -> EmbedConfig:
    """One encoder actor of 1.5 CPUs, which only a worker node (2 CPUs) can hold and the other
    worker can take over; small blocks, so the output is written as the run goes."""
    return EmbedConfig(gallery=gallery, output=output, model="tiny-clip", batch_size=4,
                       block_rows=8, num_cpus_per_actor=1.5, decode_num_cpus=0.1,
                       torch_threads=1, ray={"address": address})


def _embeddings(output: str) -> dict[str, np.ndarray]:
    """image_id -> embedding of a finished output; an image written twice fails here."""
    table = manifest.read_dataset(output, "embeddings")
    ids = table.column("image_id").to_pylist()
    assert len(ids) == len(set(ids)), "an image was embedded more than once"
    return dict(zip(ids, embedding_matrix(table), strict=True))


def _rows_written(output: str) -> int:
    return sum(storage.parquet_rows(f) for f in storage.list_files(output, suffix=".parquet")
               if "/_" not in f[len(output):])


def test_embed_survives_losing_the_node_of_its_encoder(make_cluster, tmp_path):
    cluster = make_cluster(head_cpus=1, worker_cpus=(2, 2), dashboard=True)
    gallery = str(tmp_path / "gallery")
    ids = _gallery(gallery)

    whole = str(tmp_path / "whole")
    run(_config(gallery, whole, cluster.address))
    expected = _embeddings(whole)
    assert sorted(expected) == ids

    lossy = str(tmp_path / "lossy")
    with NodeKiller(cluster, ENCODER, lambda: _rows_written(lossy)) as killer:
        summary = run(_config(gallery, lossy, cluster.address))
    killer.assert_killed_mid_run(N_IMAGES)
    killer.assert_restarted_elsewhere()
    assert summary["images"] == N_IMAGES and summary["failed"] == 0
    got = _embeddings(lossy)
    assert sorted(got) == ids
    for i in ids:
        np.testing.assert_allclose(got[i], expected[i], rtol=0, atol=1e-6)
