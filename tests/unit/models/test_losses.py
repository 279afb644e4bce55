"""HN-NCE, the joint objective and TDM against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vdgray.models.losses import hn_nce, joint_loss, mine_hard_negatives, tdm_loss

# sim[i, j] = q_i . t_j = T3[j][i] for q = identity
T3 = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.6, 0.8]])
SIM = [[1.0, 0.6, 0.0], [0.0, 0.8, 0.6], [0.0, 0.0, 0.8]]


def test_infonce_on_orthogonal_pair_is_log_one_plus_e_minus_one():
    eye = torch.eye(2)
    assert hn_nce(eye, eye, temperature=1.0) == pytest.approx(math.log(1 + math.exp(-1)),
                                                              abs=1e-6)


def test_beta_zero_is_symmetric_cross_entropy():
    g = torch.Generator().manual_seed(0)
    q, t = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    logits = F.normalize(q, dim=-1) @ F.normalize(t, dim=-1).T / 0.1
    ce = (F.cross_entropy(logits, torch.arange(5)) + F.cross_entropy(logits.T, torch.arange(5))) / 2
    assert hn_nce(q, t, temperature=0.1) == pytest.approx(float(ce), rel=1e-5)


def _hand_row(sims: list[float], i: int, alpha: float, beta: float, tau: float) -> float:
    n = len(sims)
    others = [j for j in range(n) if j != i]
    z = sum(math.exp(beta * sims[k] / tau) for k in others)
    denom = alpha * math.exp(sims[i] / tau)
    for j in others:
        w = (n - 1) * math.exp(beta * sims[j] / tau) / z
        denom += w * math.exp(sims[j] / tau)
    return -math.log(math.exp(sims[i] / tau) / denom)


@pytest.mark.parametrize("alpha,beta,tau", [(1.0, 0.5, 1.0), (1.0, 0.5, 0.5), (0.5, 1.0, 0.7),
                                            (0.0, 0.0, 1.0)])
def test_hn_nce_matches_the_formula_by_hand(alpha, beta, tau):
    q = torch.eye(3)
    rows = sum(_hand_row(SIM[i], i, alpha, beta, tau) for i in range(3)) / 3
    cols = sum(_hand_row([SIM[r][i] for r in range(3)], i, alpha, beta, tau) for i in range(3)) / 3
    got_rows = hn_nce(q, T3, temperature=tau, alpha=alpha, beta=beta, symmetric=False)
    got = hn_nce(q, T3, temperature=tau, alpha=alpha, beta=beta)
    assert float(got_rows) == pytest.approx(rows, rel=1e-5)
    assert float(got) == pytest.approx((rows + cols) / 2, rel=1e-5)


def test_hard_negatives_raise_the_loss():
    q = torch.eye(3)
    assert hn_nce(q, T3, temperature=0.5, beta=0.5) > hn_nce(q, T3, temperature=0.5, beta=0.0)


def test_joint_loss_is_human_term_plus_concatenated_term():
    g = torch.Generator().manual_seed(1)
    qh, th, qp, tp = (torch.randn(4, 6, generator=g) for _ in range(4))
    expected = hn_nce(qh, th, temperature=0.2) + hn_nce(torch.cat([qh, qp]), torch.cat([th, tp]),
                                                         temperature=0.2)
    assert float(joint_loss(qh, th, qp, tp, temperature=0.2)) == pytest.approx(float(expected))
    assert float(joint_loss(qh, th, temperature=0.2)) == pytest.approx(
        float(hn_nce(qh, th, temperature=0.2)))


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="at least 2"):
        hn_nce(torch.ones(1, 3), torch.ones(1, 3))
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        hn_nce(torch.ones(2, 3), torch.ones(3, 3))


def test_hard_negatives_are_most_similar_non_matching():
    sim = torch.tensor([[0.9, 0.8, 0.1, 0.7],
                        [0.2, 0.9, 0.3, 0.95],
                        [0.5, 0.4, 0.9, 0.6],
                        [0.1, 0.2, 0.3, 0.4]])
    assert mine_hard_negatives(sim).tolist() == [1, 3, 3, 2]
    same = torch.zeros(4, 4, dtype=torch.bool)
    same[0, 1] = same[1, 3] = True  # e.g. rows sharing a target image are not negatives
    assert mine_hard_negatives(sim, same).tolist() == [3, 2, 3, 2]


def test_sampled_negatives_never_match_and_row_without_negatives_is_flagged():
    sim = torch.randn(6, 6, generator=torch.Generator().manual_seed(0))
    same = torch.zeros(6, 6, dtype=torch.bool)
    same[5] = True  # row 5 has nothing left to choose
    for seed in range(5):
        idx = mine_hard_negatives(sim, same, "sample", torch.Generator().manual_seed(seed))
        assert all(int(idx[i]) != i for i in range(5))
        assert int(idx[5]) == 5


def test_tdm_loss_is_cross_entropy_with_positives_as_class_one():
    pos = torch.tensor([[0.0, 2.0]])
    neg = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    by_hand = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1)) + math.log(2)) / 3
    assert float(tdm_loss(pos, neg)) == pytest.approx(by_hand, rel=1e-6)
