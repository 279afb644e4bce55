"""`vdgray mine` end to end on tiny embeddings outputs, local and on the loopback S3 server."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from vdgray import manifest, storage
from vdgray.config import load_config
from vdgray.errors import ConfigError, DataFormatError, IncompleteOutputError, StorageError
from vdgray.stages import mine

pytestmark = pytest.mark.integration


def unit_vectors(n, d, clusters=12, noise=0.25, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d))
    x = centres[rng.integers(0, clusters, n)] + noise * rng.standard_normal((n, d))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def write_embeddings(uri, ids, x, shards=3, dim=None, stage="embeddings"):
    files = []
    for i, part in enumerate(np.array_split(np.arange(len(ids)), shards)):
        emb = pa.FixedSizeListArray.from_arrays(pa.array(x[part].reshape(-1), pa.float32()),
                                                x.shape[1])
        table = pa.table({"image_id": pa.array([ids[j] for j in part], pa.string()),
                          "embedding": emb})
        name = f"part-{i:05d}.parquet"
        storage.write_parquet(storage.join(uri, name), table)
        files.append(name)
    manifest.write_manifest(uri, stage=stage, counts={"images": len(ids)}, files=files,
                            extra={"encoder": "tiny-test", "dim": dim or x.shape[1]})
    return uri


def config(emb, out, **kw):
    return mine.MineConfig(embeddings=emb, output=out, **kw)


def check_pairs(table, ids, x, cfg):
    ref, tgt = table["reference_id"].to_pylist(), table["target_id"].to_pylist()
    gid = table["group_id"].to_numpy()
    row = {name: i for i, name in enumerate(ids)}
    groups: dict[int, set] = {}
    for r, t, g in zip(ref, tgt, gid, strict=True):
        groups.setdefault(int(g), set()).update((r, t))
    seen = set()
    for g, members in groups.items():
        assert len(members) == cfg.group_size
        assert not (members & seen)
        seen |= members
        n_pairs = int((gid == g).sum())
        assert n_pairs == cfg.group_size * (cfg.group_size - 1)
    assert len(set(zip(ref, tgt, strict=True))) == len(ref)
    expect = np.array([x[row[r]] @ x[row[t]] for r, t in zip(ref, tgt, strict=True)])
    np.testing.assert_allclose(table["similarity"].to_numpy(), expect, rtol=1e-5, atol=1e-6)
    assert len(table["pair_id"].unique()) == table.num_rows
    return groups


def test_mine_writes_pairs_contract(any_uri):
    n, d = 400, 16
    ids = [f"img-{i:04d}" for i in range(n)]
    x = unit_vectors(n, d)
    emb = write_embeddings(storage.join(any_uri, "emb"), ids, x)
    cfg = config(emb, storage.join(any_uri, "pairs"), rows_per_shard=1000)
    summary = mine.run(cfg)

    doc = manifest.read_manifest(cfg.output, stage="pairs")
    table = manifest.read_dataset(cfg.output, stage="pairs")
    assert table.schema.equals(mine.PAIRS_SCHEMA)
    groups = check_pairs(table, ids, x, cfg)
    assert doc["counts"] == {"images": n, "grouped_images": 6 * len(groups),
                             "groups": len(groups), "pairs": table.num_rows}
    assert summary["pairs"] == table.num_rows > 0
    assert len(doc["files"]) == -(-table.num_rows // 1000)
    assert doc["index"]["kind"] == "flat" and doc["index"]["faiss_class"] == "IndexFlatIP"
    assert doc["thresholds"]["max_similarity"] == 0.94 and doc["thresholds"]["top_k"] == 20
    assert doc["encoder"] == "tiny-test" and doc["inputs"]["embeddings"] == emb

    # a finished output is not replaced silently; with overwrite the result is identical
    with pytest.raises(StorageError, match="overwrite"):
        mine.run(cfg)
    mine.run(cfg.model_copy(update={"overwrite": True}))
    assert manifest.read_dataset(cfg.output, stage="pairs").equals(table)


def test_result_does_not_depend_on_sharding_or_row_order(tmp_path):
    n, d = 300, 12
    ids = [f"im{i}" for i in range(n)]
    x = unit_vectors(n, d, seed=4)
    a = write_embeddings(str(tmp_path / "a"), ids, x, shards=1)
    perm = np.random.default_rng(0).permutation(n)
    b = write_embeddings(str(tmp_path / "b"), [ids[i] for i in perm], x[perm], shards=4)
    mine.run(config(a, str(tmp_path / "pa")))
    mine.run(config(b, str(tmp_path / "pb")))
    ta = manifest.read_dataset(str(tmp_path / "pa"), stage="pairs")
    tb = manifest.read_dataset(str(tmp_path / "pb"), stage="pairs")
    assert ta.num_rows > 0
    assert ta.drop(["similarity"]).equals(tb.drop(["similarity"]))
    np.testing.assert_allclose(ta["similarity"].to_numpy(), tb["similarity"].to_numpy(), atol=1e-6)


def test_ivf_index_and_partial_groups(tmp_path):
    n, d = 2000, 16
    ids = [f"g{i}" for i in range(n)]
    x = unit_vectors(n, d, clusters=40, noise=0.2, seed=2)
    emb = write_embeddings(str(tmp_path / "emb"), ids, x)
    cfg = config(emb, str(tmp_path / "pairs"), index="ivf", ivf_nlist=16, nprobe=8,
                 group_size=4, top_k=10, require_full_group=False, max_similarity=0.99)
    summary = mine.run(cfg)
    doc = manifest.read_manifest(cfg.output, stage="pairs")
    assert doc["index"] == {"kind": "ivf", "faiss_class": "IndexIVFFlat", "nlist": 16, "nprobe": 8,
                            "gpu": False}
    table = manifest.read_dataset(cfg.output, stage="pairs")
    sizes = {}
    for g in table["group_id"].to_pylist():
        sizes[g] = sizes.get(g, 0) + 1
    assert summary["groups"] == len(sizes) > 0
    assert all(s in (2, 6, 12) for s in sizes.values())  # groups of 2, 3 or 4 images


def test_input_errors_are_one_clear_line(tmp_path):
    out = str(tmp_path / "pairs")
    with pytest.raises(IncompleteOutputError, match="_manifest.json"):
        mine.run(config(str(tmp_path / "nothing"), out))

    x = unit_vectors(50, 8)
    ids = [f"i{i}" for i in range(50)]
    wrong = write_embeddings(str(tmp_path / "wrong"), ids, x, stage="gallery")
    with pytest.raises(StorageError, match="expected 'embeddings'"):
        mine.run(config(wrong, out))

    dup = write_embeddings(str(tmp_path / "dup"), ids[:-1] + ["i0"], x)
    with pytest.raises(DataFormatError, match="'i0' appears more than once"):
        mine.run(config(dup, out))

    unnorm = write_embeddings(str(tmp_path / "unnorm"), ids, x * 2)
    with pytest.raises(DataFormatError, match="norm 2.0000"):
        mine.run(config(unnorm, out))

    dim = write_embeddings(str(tmp_path / "dim"), ids, x, dim=16)
    with pytest.raises(DataFormatError, match="dimension 8, manifest says dim 16"):
        mine.run(config(dim, out))

    nocol = str(tmp_path / "nocol")
    storage.write_parquet(storage.join(nocol, "p.parquet"), pa.table({"image_id": ["a"]}))
    manifest.write_manifest(nocol, stage="embeddings", files=["p.parquet"], extra={"dim": 8})
    with pytest.raises(DataFormatError, match="missing column 'embedding'"):
        mine.run(config(nocol, out))
    assert not storage.exists(storage.join(out, "_manifest.json"))


def test_config_rejects_conflicts_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="top_k"):
        load_config(mine.MineConfig, overrides=["embeddings=a", "output=b", "top_k=3"])
    with pytest.raises(ConfigError, match="nprobe"):
        load_config(mine.MineConfig, overrides=["embeddings=a", "output=b", "ivf_nlist=8",
                                                "nprobe=16"])
    with pytest.raises(ConfigError, match="max_similarity"):
        load_config(mine.MineConfig, overrides=["embeddings=a", "output=b", "max_similarity=0"])
    with pytest.raises(ConfigError, match="group_size"):
        load_config(mine.MineConfig, overrides=["embeddings=a", "output=b", "group_size=1"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(mine.MineConfig, overrides=["embeddings=a", "output=b", "topk=3"])


def test_cli_command(tmp_path):
    x = unit_vectors(120, 8)
    emb = write_embeddings(str(tmp_path / "emb"), [f"c{i}" for i in range(120)], x)
    out = str(tmp_path / "pairs")
    res = CliRunner().invoke(mine.command, ["--embeddings", emb, "-o", out, "-s", "group_size=3",
                                            "-s", "top_k=5"])
    assert res.exit_code == 0, res.output
    assert "pairs=" in res.output
    doc = manifest.read_manifest(out, stage="pairs")
    assert doc["config"]["group_size"] == 3 and doc["counts"]["pairs"] == 6 * doc["counts"]["groups"]
