"""Segmentation losses: weighted cross-entropy, Dice and their sum (paper eq. 12-14).

Symbols: y^{s->t} = U(x^{s->t}) is the segmenter's prediction on a translated slice (``logits``, or ``probs``
after softmax), y^s the CT labels (``target``, integer class per pixel); i runs over the N pixels of the batch
and c over the N_C classes (background included).

    L_seg = L_wce + L_dl                                                                       (eq. 12)
    L_wce = -(1/N) sum_i sum_c w_c y_i^{c,s} log y_i^{c,s->t},   w_c = 1 - (pixels of class c) / N    (eq. 13)
    L_dl  = 1 - (1/N_C) sum_c  2 sum_i p_i^c g_i^c / ( sum_i (p_i^c)^2 + sum_i (g_i^c)^2 )           (eq. 14)

Two departures from the printed equations, both to make them what they are meant to be:
- eq. 13 prints a sum over pixels; here it is the mean over pixels (a constant factor N, which would otherwise
  make the loss grow with the batch and image size).
- eq. 14 as printed lacks the factor 2 and the average over classes, so a perfect prediction would give
  1 - N_C / 2 instead of 0. The version above is the squared-denominator soft Dice of Milletari et al. (V-Net,
  2016): 0 for a perfect one-hot prediction, 1 for a prediction disjoint from the truth.
The class weights and the Dice sums are over all pixels of the batch (N counts the whole batch).
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as nnf

from ctl.device import full_precision


def _check_dense(name: str, scores: Tensor, target: Tensor) -> None:
    if scores.dim() != 4:
        raise ValueError(f"{name} must be (B, K, H, W), got shape {tuple(scores.shape)}")
    if target.dim() != 3 or target.shape[0] != scores.shape[0] or target.shape[1:] != scores.shape[2:]:
        raise ValueError(f"target must be (B, H, W) = {(scores.shape[0], *scores.shape[2:])} for {name} of shape "
                         f"{tuple(scores.shape)}, got {tuple(target.shape)}")
    if target.is_floating_point():
        raise TypeError(f"target must hold integer class ids, got {target.dtype}; use target.long()")
    low, high = int(target.min()), int(target.max())
    if low < 0 or high >= scores.shape[1]:
        raise ValueError(f"target has class ids in [{low}, {high}] but {name} has {scores.shape[1]} classes")


def class_weights(target: Tensor, n_classes: int) -> Tensor:
    """w_c = 1 - (pixels of class c) / (all pixels) over the whole batch (eq. 13): rare classes weigh more.

    A class absent from the batch gets weight 1 (it has no pixels, so the weight multiplies nothing).
    """
    counts = torch.bincount(target.flatten(), minlength=n_classes).to(torch.float32)  # (K,)
    return 1.0 - counts / target.numel()


def weighted_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """L_wce (eq. 13) with the per-batch class weights w_c, averaged over all pixels.

    Args:
        logits: U's raw scores (B, K, H, W) (softmax is applied inside, via log-softmax).
        target: integer labels (B, H, W) in [0, K).
    Returns:
        A scalar: (1/N) sum_i w_{y_i} * (-log softmax(logits_i)[y_i]). Note the division by N, not by
        sum_i w_{y_i} as torch's ``cross_entropy(weight=...)`` would do.
    Raises:
        ValueError/TypeError: for bad shapes, float labels or class ids outside [0, K).
    """
    _check_dense("logits", logits, target)
    logits = full_precision(logits)
    weights = class_weights(target, logits.shape[1]).to(logits.dtype)  # (K,)
    # -log y_i^{c,s->t} at the true class of every pixel: (B, H, W)
    nll = nnf.cross_entropy(logits, target, reduction="none")
    # w_c of each pixel's true class, then the mean over the N pixels
    return (weights[target] * nll).mean()


def dice_loss(probs: Tensor, target: Tensor) -> Tensor:
    """L_dl (eq. 14, corrected): 1 - mean over classes of 2 sum p g / (sum p^2 + sum g^2), sums over the batch.

    Args:
        probs: class probabilities (B, K, H, W), e.g. softmax(logits, dim=1).
        target: integer labels (B, H, W) in [0, K).
    Returns:
        A scalar in [0, 1]: 0 for a perfect one-hot prediction, 1 when prediction and truth are disjoint.
        A class absent from both the prediction and the truth (0 / 0) counts as perfectly predicted (Dice 1).
    Raises:
        ValueError/TypeError: for bad shapes, float labels or class ids outside [0, K).
    """
    _check_dense("probs", probs, target)
    probs = full_precision(probs)
    n_classes = probs.shape[1]
    truth = nnf.one_hot(target, n_classes).permute(0, 3, 1, 2).to(probs.dtype)  # (B, H, W, K) -> (B, K, H, W)
    dims = (0, 2, 3)  # sum over the batch and the pixels: one value per class
    # 2 sum_i p_i^c g_i^c
    overlap = 2 * (probs * truth).sum(dims)  # (K,)
    # sum_i (p_i^c)^2 + sum_i (g_i^c)^2
    denominator = probs.pow(2).sum(dims) + truth.pow(2).sum(dims)  # (K,)
    dice = torch.where(denominator > 0, overlap / denominator.clamp_min(torch.finfo(probs.dtype).tiny),
                       torch.ones_like(denominator))
    return 1 - dice.mean()


def segmentation_loss(logits: Tensor, target: Tensor) -> Tensor:
    """L_seg (eq. 12) = weighted cross-entropy (eq. 13) + Dice loss (eq. 14) on softmax(logits).

    Args:
        logits: U's raw scores (B, K, H, W).
        target: integer labels (B, H, W) in [0, K).
    """
    logits = full_precision(logits)  # the softmax, too, in float32
    return weighted_cross_entropy(logits, target) + dice_loss(nnf.softmax(logits, dim=1), target)
