"""InfoNCE (eq. 11) and PatchNCE (eq. 5, 8): hand-worked values, cross-entropy equivalence, log(S) for unrelated
vectors, lower loss for matching patches, no gradient through the keys, bad inputs."""
import math

import pytest
import torch
from torch.nn import functional as nnf

from ctl.losses import info_nce, multilayer_patch_nce, patch_nce


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _unit(*shape):
    return nnf.normalize(torch.randn(*shape), dim=-1)


def test_info_nce_by_hand():
    # q = (1, 0), k+ = (0.6, 0.8), k- = (1, 0), (0, 1), tau = 0.5: logits 1.2, 2, 0
    # L = -log(e^1.2 / (e^1.2 + e^2 + e^0)) = log(11.709173) - 1.2 = 1.2603726
    q = torch.tensor([1.0, 0.0])
    k_pos = torch.tensor([0.6, 0.8])
    k_neg = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert info_nce(q, k_pos, k_neg, tau=0.5).item() == pytest.approx(1.2603726, abs=1e-6)


def test_info_nce_normalises_its_inputs():
    q, k_pos, k_neg = torch.tensor([1.0, 0.0]), torch.tensor([0.6, 0.8]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    scaled = info_nce(3 * q, 5 * k_pos, 2 * k_neg, tau=0.5)
    assert scaled.item() == pytest.approx(1.2603726, abs=1e-6)
    # without normalising: q.k+ = 9, q.k- = 6, 0 -> logits 18, 12, 0 -> L = log(1 + e^-6 + e^-18) = 0.0024757
    raw = info_nce(3 * q, 5 * k_pos, 2 * k_neg, tau=0.5, normalize=False)
    assert raw.item() == pytest.approx(0.0024757, abs=1e-6)


def test_info_nce_is_cross_entropy_with_the_positive_at_index_0():
    q, k_pos, k_neg = _unit(4, 8), _unit(4, 8), _unit(4, 5, 8)
    logits = torch.cat([(q * k_pos).sum(-1, keepdim=True), torch.einsum("bc,bnc->bn", q, k_neg)], 1) / 0.07
    expected = nnf.cross_entropy(logits, torch.zeros(4, dtype=torch.long), reduction="none")
    torch.testing.assert_close(info_nce(q, k_pos, k_neg, reduction="none"), expected)
    torch.testing.assert_close(info_nce(q, k_pos, k_neg), expected.mean())
    torch.testing.assert_close(info_nce(q, k_pos, k_neg, reduction="sum"), expected.sum())


def test_info_nce_without_negatives_is_zero_and_with_equal_similarities_log_n_plus_1():
    q = torch.tensor([1.0, 0.0])
    assert info_nce(q, q, torch.zeros(0, 2)).item() == pytest.approx(0.0)
    # positive and 3 negatives all orthogonal to q: 4 equal logits -> log 4
    assert info_nce(q, torch.tensor([0.0, 1.0]), torch.tensor([[0.0, 1.0]] * 3)).item() == \
        pytest.approx(math.log(4))


def test_info_nce_rejects_bad_shapes_and_options():
    q = torch.rand(3)
    with pytest.raises(ValueError, match="negatives must be"):
        info_nce(q, q, torch.rand(4, 2))
    with pytest.raises(ValueError, match="query and positive"):
        info_nce(q, torch.rand(2), torch.rand(4, 3))
    with pytest.raises(ValueError, match="tau must be > 0"):
        info_nce(q, q, torch.rand(4, 3), tau=0)
    with pytest.raises(ValueError, match="reduction"):
        info_nce(q, q, torch.rand(4, 3), reduction="max")


def test_patch_nce_by_hand():
    # S = 2 patches, tau = 1. Matching keys: each row of logits is (1, 0) with the positive first:
    # log(1 + e^-1) = 0.3132617. Swapped keys: the positive scores 0, the negative 1: log(1 + e) = 1.3132617
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    assert patch_nce(q, q.clone(), tau=1.0).item() == pytest.approx(0.3132617, abs=1e-6)
    assert patch_nce(q, q.flip(1), tau=1.0).item() == pytest.approx(1.3132617, abs=1e-6)


def test_patch_nce_equals_info_nce_per_patch():
    q, k = _unit(2, 6, 4), _unit(2, 6, 4)
    per_patch = patch_nce(q, k, tau=0.2, reduction="none")
    assert per_patch.shape == (2, 6)
    for b in range(2):
        for s in range(6):
            others = torch.cat([k[b, :s], k[b, s + 1:]])  # the other patches of the same image
            assert per_patch[b, s].item() == pytest.approx(info_nce(q[b, s], k[b, s], others, tau=0.2).item(),
                                                           abs=1e-5)


def test_patch_nce_is_lower_for_matching_patches_than_for_shuffled_keys():
    q = _unit(2, 64, 32)
    matched = patch_nce(q, q.clone())
    shuffled = patch_nce(q, q[:, torch.randperm(64)])
    assert matched.item() < 0.5 < shuffled.item()


def test_patch_nce_is_about_log_s_for_unrelated_unit_vectors_at_tau_1():
    s = 64
    loss = patch_nce(_unit(4, s, 512), _unit(4, s, 512), tau=1.0)
    # dot products of random unit vectors in 512 dims are ~N(0, 1/512): all logits near 0
    assert loss.item() == pytest.approx(math.log(s), abs=0.05)


def test_no_gradient_reaches_the_key_branch():
    q = _unit(2, 8, 4).requires_grad_()
    k = _unit(2, 8, 4).requires_grad_()
    patch_nce(q, k).backward()
    assert k.grad is None
    assert q.grad is not None and q.grad.abs().sum() > 0


def test_multilayer_patch_nce_averages_the_layers():
    qa, ka, qb, kb = _unit(1, 8, 4), _unit(1, 8, 4), _unit(1, 16, 6), _unit(1, 16, 6)
    expected = (patch_nce(qa, ka) + patch_nce(qb, kb)) / 2
    torch.testing.assert_close(multilayer_patch_nce({"a": qa, "b": qb}, {"b": kb, "a": ka}), expected)


def test_patch_nce_rejects_bad_inputs():
    with pytest.raises(ValueError, match="at least 2 patches"):
        patch_nce(_unit(1, 1, 4), _unit(1, 1, 4))
    with pytest.raises(ValueError, match=r"\(B, S, C\)"):
        patch_nce(_unit(1, 4, 4), _unit(1, 5, 4))
    with pytest.raises(ValueError, match="same layers"):
        multilayer_patch_nce({"a": _unit(1, 4, 4)}, {"b": _unit(1, 4, 4)})
