"""FAISS helpers: kind selection, IVF recall against exact search, save/load, clear errors."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from vdgray import index as vindex
from vdgray.errors import ConfigError, DataFormatError, StorageError


def clustered(n, d, clusters, noise, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[rng.integers(0, clusters, n)] + noise * rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def recall(found, truth):
    return np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])


def test_auto_kind_switches_at_exact_max():
    assert vindex.resolve_kind("auto", 100, exact_max=100) == "flat"
    assert vindex.resolve_kind("auto", 101, exact_max=100) == "ivf"
    assert vindex.resolve_kind("hnsw", 5) == "hnsw"
    with pytest.raises(ConfigError, match="index kind"):
        vindex.resolve_kind("lsh", 5)


def test_auto_nlist_grows_with_sqrt_and_keeps_39_points_per_list():
    assert vindex.auto_nlist(1_000_000) == 4000
    assert vindex.auto_nlist(1000) == 1000 // 39
    assert vindex.auto_nlist(10) == 1


def test_flat_index_is_exact_and_sorted():
    x = clustered(500, 16, 10, 0.3)
    index = vindex.build_index(x, kind="flat")
    assert isinstance(index, faiss.IndexFlatIP)
    sims, ids = vindex.search(index, x, 5, batch=64)
    brute = x @ x.T
    np.testing.assert_array_equal(ids[:, 0], np.arange(500))
    expect = -np.sort(-brute, axis=1)[:, :5]
    np.testing.assert_allclose(sims, expect, rtol=1e-5, atol=1e-5)
    assert (np.diff(sims, axis=1) <= 1e-6).all()


def test_ivf_recall_against_exact_on_clustered_data():
    x = clustered(20_000, 32, 200, 0.15, seed=1)
    flat = vindex.build_index(x, kind="flat")
    ivf = vindex.build_index(x, kind="ivf", nlist=128, nprobe=16, seed=0)
    assert isinstance(ivf, faiss.IndexIVFFlat) and ivf.nprobe == 16
    q = x[:1000]
    _, truth = vindex.search(flat, q, 20)
    _, found = vindex.search(ivf, q, 20, batch=300)
    assert recall(found, truth) >= 0.95
    # probing a single list finds fewer true neighbours than probing 16
    vindex.set_nprobe(ivf, 1)
    _, few = vindex.search(ivf, q, 20)
    assert recall(few, truth) < recall(found, truth)


def test_ivf_build_is_deterministic_for_a_seed():
    x = clustered(5000, 16, 50, 0.3)
    a = vindex.build_index(x, kind="ivf", nlist=32, nprobe=4, seed=3)
    b = vindex.build_index(x, kind="ivf", nlist=32, nprobe=4, seed=3)
    assert np.array_equal(vindex.search(a, x[:200], 10)[1], vindex.search(b, x[:200], 10)[1])


def test_hnsw_index_finds_self():
    x = clustered(2000, 16, 20, 0.3)
    index = vindex.build_index(x, kind="hnsw")
    _, ids = vindex.search(index, x[:100], 1)
    assert (ids[:, 0] == np.arange(100)).mean() > 0.95


def test_missing_neighbours_are_marked():
    x = clustered(3, 8, 1, 0.3)
    sims, ids = vindex.search(vindex.build_index(x, kind="flat"), x, 5)
    assert (ids[:, 3:] == -1).all() and np.isneginf(sims[:, 3:]).all()


def test_save_and_load_round_trip(tmp_path):
    x = clustered(3000, 16, 30, 0.3)
    index = vindex.build_index(x, kind="ivf", nlist=16, nprobe=4)
    uri = str(tmp_path / "idx" / "index.faiss")
    vindex.save_index(index, uri)
    loaded = vindex.load_index(uri, use_gpu=False, nprobe=4)
    assert loaded.ntotal == 3000
    assert np.array_equal(vindex.search(index, x[:50], 5)[1], vindex.search(loaded, x[:50], 5)[1])


def test_clear_errors(tmp_path):
    bad = tmp_path / "bad.faiss"
    bad.write_bytes(b"not an index")
    with pytest.raises(StorageError, match="not a FAISS index"):
        vindex.load_index(str(bad), use_gpu=False)
    with pytest.raises(StorageError, match="not found"):
        vindex.load_index(str(tmp_path / "missing.faiss"), use_gpu=False)
    index = vindex.build_index(clustered(10, 8, 1, 0.3), kind="flat")
    with pytest.raises(DataFormatError, match="dimension"):
        vindex.search(index, np.zeros((2, 4), np.float32), 3)
    with pytest.raises(DataFormatError, match="2-D"):
        vindex.build_index(np.zeros(5, np.float32))
    with pytest.raises(ConfigError, match="ivf_nlist"):
        vindex.build_index(clustered(10, 8, 1, 0.3), kind="ivf", nlist=50)


@pytest.mark.skipif(vindex.gpus_available() > 0, reason="checks the no-GPU path")
def test_use_gpu_true_without_gpus_is_a_config_error():
    assert vindex.want_gpu("auto") is False
    with pytest.raises(ConfigError, match="use_gpu"):
        vindex.want_gpu(True)
