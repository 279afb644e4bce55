"""The cross-worker gather: with 2 gloo ranks, the gathered loss gives the full-batch gradient.

Every rank computes the same full-batch loss over all ranks' embeddings; the gather's
backward sums the ranks' gradients, so each rank's local gradient is world_size times the
single-process one, and DDP's averaging over ranks brings it back exactly.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vdgray.loopback import free_port
from vdgray.models.losses import gather, hn_nce

WORLD = 2
ROWS = 3


def _worker(rank: int, port: int, q_all: torch.Tensor, t_all: torch.Tensor, out_dir: str):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        q = q_all[rank * ROWS:(rank + 1) * ROWS].clone().requires_grad_(True)
        t = t_all[rank * ROWS:(rank + 1) * ROWS].clone().requires_grad_(True)
        loss = hn_nce(gather(q), gather(t), temperature=0.5, beta=0.5)
        loss.backward()
        torch.save({"loss": loss.detach(), "q": q.grad, "t": t.grad},
                   os.path.join(out_dir, f"rank{rank}.pt"))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    # Leave without interpreter teardown: with gloo threads still around it aborted now and
    # then ("terminate called without an active exception", SIGABRT) after the work was done.
    os._exit(0)


def test_gathered_loss_and_gradients_match_the_single_process_batch(tmp_path):
    g = torch.Generator().manual_seed(0)
    q_all, t_all = torch.randn(WORLD * ROWS, 8, generator=g), torch.randn(WORLD * ROWS, 8,
                                                                          generator=g)
    mp.spawn(_worker, args=(free_port(), q_all, t_all, str(tmp_path)), nprocs=WORLD, join=True)
    q, t = q_all.clone().requires_grad_(True), t_all.clone().requires_grad_(True)
    full = hn_nce(q, t, temperature=0.5, beta=0.5)
    full.backward()
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        sl = slice(rank * ROWS, (rank + 1) * ROWS)
        assert torch.allclose(got["loss"], full.detach(), atol=1e-6)
        assert torch.allclose(got["q"] / WORLD, q.grad[sl], atol=1e-6)
        assert torch.allclose(got["t"] / WORLD, t.grad[sl], atol=1e-6)


def test_gather_is_identity_without_a_process_group():
    x = torch.randn(2, 3)
    assert gather(x) is x
