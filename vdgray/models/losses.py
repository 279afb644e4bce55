"""The paper's CIR losses: HN-NCE, the joint human + pseudo objective, and TDM.

- `hn_nce` is the hard-negative InfoNCE of Radenovic et al. 2023 ("Filtering, distillation
  and hard negatives for vision-language pre-training"): negatives are re-weighted by
  w_ij = (N-1) exp(beta s_ij / T) / sum_{k != i} exp(beta s_ik / T) and the positive by
  alpha, in both directions (query->target and target->query, averaged). alpha=1, beta=0 is
  exactly the symmetric InfoNCE (the paper's CLIP setting); BLIP uses alpha=1, beta=0.5.
- `joint_loss` is L = L_c(B) + L_c(B ⊕ B'), B the human batch and B' the pseudo batch
  concatenated on the batch axis (the second term is dropped when there is no pseudo batch,
  which is the supervised baseline).
- `tdm_loss` is target-delta matching: a 2-way matching head scores (target image, delta)
  pairs; negatives are mined in the batch from the query/target similarity as ALBEF does
  (the most similar non-matching item, or sampled in proportion to softmax similarity).
- `gather` is the gradient-preserving all_gather that lets every rank see all ranks'
  negatives under DDP (each rank then computes the same full-batch loss, and DDP's gradient
  averaging gives exactly the single-process gradient).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _direction(sim: torch.Tensor, temperature: float, alpha: float, beta: float) -> torch.Tensor:
    """Mean over rows of -log(e^{s_ii/T} / (alpha e^{s_ii/T} + sum_{j!=i} w_ij e^{s_ij/T}))."""
    n = sim.shape[0]
    logits = sim / temperature
    eye = torch.eye(n, dtype=torch.bool, device=sim.device)
    pos = logits.diagonal()
    neg_inf = torch.finfo(logits.dtype).min
    if beta == 0:
        log_w = torch.zeros_like(logits)
    else:  # log w_ij = log(N-1) + beta s_ij/T - logsumexp_{k!=i}(beta s_ik/T)
        scaled = (beta * logits).masked_fill(eye, neg_inf)
        log_w = math.log(n - 1) + scaled - torch.logsumexp(scaled, dim=1, keepdim=True)
    neg = (logits + log_w).masked_fill(eye, neg_inf)
    terms = [neg]
    if alpha > 0:
        terms.append((pos + math.log(alpha))[:, None])
    denom = torch.logsumexp(torch.cat(terms, dim=1), dim=1)
    return (denom - pos).mean()


def hn_nce(query: torch.Tensor, target: torch.Tensor, temperature: float = 0.07,
           alpha: float = 1.0, beta: float = 0.0, symmetric: bool = True) -> torch.Tensor:
    """HN-NCE between row-aligned query and target embeddings (normalised here) [N, D].

    Row i of `target` is the positive of row i of `query`; every other row is a negative.
    With `symmetric`, the loss is the mean of the query->target and target->query terms.
    """
    if query.shape != target.shape or query.ndim != 2:
        raise ValueError(f"query and target must both be [N, D], got {tuple(query.shape)} "
                         f"and {tuple(target.shape)}")
    if query.shape[0] < 2:
        raise ValueError("HN-NCE needs at least 2 rows (one positive and one negative)")
    if temperature <= 0 or alpha < 0:
        raise ValueError(f"temperature must be > 0 and alpha >= 0, got {temperature}, {alpha}")
    q = F.normalize(query.float(), dim=-1)
    t = F.normalize(target.float(), dim=-1)
    sim = q @ t.T
    loss = _direction(sim, temperature, alpha, beta)
    if symmetric:
        loss = (loss + _direction(sim.T, temperature, alpha, beta)) / 2
    return loss


def joint_loss(query_h: torch.Tensor, target_h: torch.Tensor,
               query_p: torch.Tensor | None = None, target_p: torch.Tensor | None = None,
               **hn) -> torch.Tensor:
    """L = L_c(B) + L_c(B ⊕ B'); just L_c(B) without a pseudo batch (supervised baseline)."""
    loss = hn_nce(query_h, target_h, **hn)
    if query_p is not None and query_p.shape[0] > 0:
        loss = loss + hn_nce(torch.cat([query_h, query_p]), torch.cat([target_h, target_p]), **hn)
    return loss


def mine_hard_negatives(sim: torch.Tensor, same: torch.Tensor | None = None,
                        mode: str = "argmax",
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """For each row i, a column j that does not match i: the most similar one (`argmax`) or
    one drawn with probability softmax(sim_i) over the non-matching columns (`sample`, ALBEF).

    `same[i, j]` marks extra matches to avoid (e.g. rows sharing a target image); the
    diagonal always matches. A row with no non-matching column gets its own index (-> the
    caller should drop it); returns int64 [N].
    """
    n, m = sim.shape
    blocked = torch.zeros(n, m, dtype=torch.bool, device=sim.device)
    k = min(n, m)
    blocked[torch.arange(k), torch.arange(k)] = True
    if same is not None:
        blocked |= same.to(torch.bool)
    s = sim.detach().float().masked_fill(blocked, float("-inf"))
    if mode == "argmax":
        idx = s.argmax(dim=1)
    elif mode == "sample":
        probs = torch.softmax(s, dim=1)
        probs = torch.nan_to_num(probs, nan=0.0)
        empty = probs.sum(dim=1) == 0
        probs[empty, 0] = 1.0
        idx = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    else:
        raise ValueError(f"mode must be 'argmax' or 'sample', got {mode!r}")
    none_left = blocked.all(dim=1)
    return torch.where(none_left, torch.arange(n, device=sim.device), idx)


def tdm_loss(pos_logits: torch.Tensor, neg_logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the 2-way matching head: positives are class 1, negatives class 0."""
    logits = torch.cat([pos_logits, neg_logits]).float()
    labels = torch.cat([torch.ones(len(pos_logits), dtype=torch.long),
                        torch.zeros(len(neg_logits), dtype=torch.long)]).to(logits.device)
    return F.cross_entropy(logits, labels)


def gather(x: torch.Tensor) -> torch.Tensor:
    """All ranks' rows of `x` concatenated (rank order), keeping gradients; `x` when not DDP."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x.contiguous()), dim=0)
