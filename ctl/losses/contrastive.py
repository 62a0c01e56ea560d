"""InfoNCE and PatchNCE (paper eq. 4-11; Oord et al. 2018 "CPC"; Park et al. 2020 "CUT").

InfoNCE (eq. 11) for a query q, its positive k+ and N negatives k-_1..k-_N (unit vectors, temperature tau):

    L_q(q, k+, k-) = -log  exp(q.k+ / tau) / ( exp(q.k+ / tau) + sum_n exp(q.k-_n / tau) )

It is the cross-entropy of an (N+1)-way classification whose logits are the similarities q.k / tau and whose
correct class is the positive (notebook 03 derives it and the bound I(q; k) >= log(N + 1) - L_q).

PatchNCE applies it to patches (eq. 5 and 8). For one encoder layer l, F gives S embeddings of the query image
(the translation, u-hat) and S of the key image (the source, u) at the same S positions. Query patch s has the
key patch s as positive and the other S - 1 key patches of the same image as negatives, so the loss of one layer
is a cross-entropy over the rows of the (S, S) similarity matrix with the positives on its diagonal. The keys
carry no gradient (as in CUT): only the query branch, i.e. G's translation, and F's embedding of it, learn.

Eq. 5 sums over layers l and patches s; here (as in CUT) the per-layer loss is the mean over images and patches
and the multi-layer loss the mean over layers. The two differ by the constant factor L * S, which a loss weight
absorbs.

The target term (eq. 4, 8): the paper writes L^T(x^t, x^{t->s}). The method has no MR->CT generator; as in CUT
("identity" NCE) the query image is G(x^t), the CT->MR generator applied to a real MR slice, which should
leave it unchanged. ``ctl.translate.cut`` computes it that way.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as nnf

from ctl.device import full_precision

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _check_tau_and_reduction(tau: float, reduction: str) -> None:
    if not tau > 0:
        raise ValueError(f"the temperature tau must be > 0, got {tau}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def info_nce(query: Tensor, positive: Tensor, negatives: Tensor, tau: float = 0.07, normalize: bool = True,
             reduction: str = "mean") -> Tensor:
    """InfoNCE L_q(q, k+, k-) of eq. 11.

    Args:
        query: q, shape (C,) or batched (B, C).
        positive: k+, the same shape as ``query``.
        negatives: k-_1..k-_N, shape (N, C) or batched (B, N, C).
        tau: temperature (CUT: 0.07); smaller tau sharpens the softmax.
        normalize: L2-normalise q, k+ and k- first, so q.k is a cosine similarity (eq. 11 assumes unit vectors).
        reduction: "mean" or "sum" over the batch, or "none" for one loss per query (B,).
    Returns:
        A scalar (or (B,) with reduction "none"). For N = 0 the loss is 0 (a 1-way classification).
    Raises:
        ValueError: for mismatched shapes, tau <= 0 or an unknown reduction.
    """
    _check_tau_and_reduction(tau, reduction)
    single = query.dim() == 1
    if single:
        query, positive, negatives = query[None], positive[None], negatives[None]
    if query.dim() != 2 or positive.shape != query.shape:
        raise ValueError(f"query and positive must both be (C,) or (B, C); got {tuple(query.shape)} and "
                         f"{tuple(positive.shape)}")
    if negatives.dim() != 3 or negatives.shape[0] != query.shape[0] or negatives.shape[2] != query.shape[1]:
        raise ValueError(f"negatives must be (N, C) for a query (C,), or (B, N, C) for queries (B, C); got "
                         f"negatives {tuple(negatives.shape)} for queries {tuple(query.shape)}")
    if normalize:
        query, positive, negatives = (nnf.normalize(t, dim=-1) for t in (query, positive, negatives))
    # q . k+ for each query: (B, 1)
    pos = (query * positive).sum(-1, keepdim=True)
    # q . k-_n for each query and negative: (B, N)
    neg = torch.einsum("bc,bnc->bn", query, negatives)
    # the positive is class 0 of an (N+1)-way softmax over the logits q.k / tau
    logits = torch.cat([pos, neg], dim=1) / tau  # (B, N+1)
    losses = -nnf.log_softmax(logits, dim=1)[:, 0]  # (B,)
    return losses[0] if single and reduction == "none" else _reduce(losses, reduction)


def patch_nce(feat_q: Tensor, feat_k: Tensor, tau: float = 0.07, reduction: str = "mean") -> Tensor:
    """PatchNCE of one layer: every query patch against its own key patch and the other patches of that image.

    Args:
        feat_q: query embeddings u-hat_l, (B, S, C): F(G_enc^l(translation)) at S sampled positions.
        feat_k: key embeddings u_l, (B, S, C): F(G_enc^l(source)) at the same positions. Detached here.
        tau: temperature of eq. 11.
        reduction: "mean" or "sum" over the B * S query patches, or "none" for a (B, S) map.
    Both are expected to be unit vectors along C (F normalises its output).
    Returns:
        A scalar (or (B, S)). About log(S) when queries and keys are unrelated.
    Raises:
        ValueError: for mismatched shapes, S < 2 (no negatives), tau <= 0 or an unknown reduction.
    """
    _check_tau_and_reduction(tau, reduction)
    if feat_q.dim() != 3 or feat_q.shape != feat_k.shape:
        raise ValueError(f"feat_q and feat_k must both be (B, S, C) with equal shapes; got {tuple(feat_q.shape)} "
                         f"and {tuple(feat_k.shape)}")
    batch, patches, _ = feat_q.shape
    if patches < 2:
        raise ValueError(f"PatchNCE needs at least 2 patches per image (the others are the negatives), got {patches}")
    feat_q, feat_k = full_precision(feat_q), full_precision(feat_k).detach()  # no gradient through the keys
    # u-hat^s . u^r for every pair of patches of the same image: (B, S, S); positives on the diagonal r = s
    with torch.autocast(feat_q.device.type, enabled=False):  # mixed precision would run bmm in half precision
        logits = torch.bmm(feat_q, feat_k.transpose(1, 2)) / tau
    target = torch.arange(patches, device=feat_q.device).expand(batch, patches)  # (B, S): the positive of row s is s
    losses = nnf.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none")  # (B*S,)
    return _reduce(losses.view(batch, patches), reduction)


def multilayer_patch_nce(feats_q: dict[str, Tensor], feats_k: dict[str, Tensor], tau: float = 0.07) -> Tensor:
    """L^S_PatchNCE (eq. 5) or L^T_PatchNCE (eq. 8): ``patch_nce`` averaged over the layers.

    Args:
        feats_q: {layer: query embeddings (B, S_l, C)}, the translation's (u-hat, or v-hat for eq. 8).
        feats_k: {layer: key embeddings (B, S_l, C)}, the input's (u, or v), same layers.
        tau: temperature.
    Raises:
        ValueError: when the two dicts name different layers or are empty.
    """
    if set(feats_q) != set(feats_k):
        raise ValueError(f"query and key features must have the same layers; got {sorted(feats_q)} and "
                         f"{sorted(feats_k)}")
    if not feats_q:
        raise ValueError("no layers given")
    per_layer = [patch_nce(feats_q[name], feats_k[name], tau) for name in feats_q]
    return torch.stack(per_layer).mean()
