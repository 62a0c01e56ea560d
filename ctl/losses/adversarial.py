"""Least-squares GAN losses (paper eq. 2-3; Mao et al., "Least squares generative adversarial networks", 2017).

    L_gen(G) = E_{x^s ~ p(S)} [ (D(G(x^s)) - 1)^2 ]                                    (eq. 2)
    L_dis(D) = E_{x^s ~ p(S)} [ D(G(x^s))^2 ] + E_{x^t ~ p(T)} [ (D(x^t) - 1)^2 ]       (eq. 3)

D outputs a score map (PatchGAN: one score per patch); the expectation is the mean over images *and* patches.
Symbols: ``d_fake`` is D(G(x^s)) = D(x^{s->t}), the scores of translated CT; ``d_real`` is D(x^t), the scores of
real MR.

Why least squares: the original GAN's generator loss log(1 - sigmoid(a)) saturates: once D confidently rejects
a fake (a << 0) its gradient vanishes, while the squared loss keeps pulling a fake towards the "real" target 1
in proportion to how far it is (notebook 02 plots both). CUT/CycleGAN halve eq. 3 (their D loss is the mean of
the two terms); with Adam a constant factor on a loss changes almost nothing, and here eq. 3 is kept as printed.
"""
from __future__ import annotations

from torch import Tensor

from ctl.device import full_precision


def _check_scores(name: str, scores: Tensor) -> None:
    if scores.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(scores.shape)}); D returned no scores")
    if not scores.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor of discriminator scores, got {scores.dtype}")


def lsgan_generator_loss(d_fake: Tensor) -> Tensor:
    """L_gen (eq. 2): mean of (D(x^{s->t}) - 1)^2 over images and patches.

    Args:
        d_fake: D's scores of translated images, any shape, e.g. (B, 1, H', W').
    Returns:
        A scalar; 0 when D takes every fake for real (scores 1).
    """
    _check_scores("d_fake", d_fake)
    d_fake = full_precision(d_fake)
    # (D(G(x^s)) - 1)^2: G wants its translations scored as real (target 1)
    return (d_fake - 1).pow(2).mean()


def lsgan_discriminator_loss(d_fake: Tensor, d_real: Tensor) -> Tensor:
    """L_dis (eq. 3): mean of D(x^{s->t})^2 plus mean of (D(x^t) - 1)^2.

    Args:
        d_fake: D's scores of translated images (computed from a *detached* translation when training D).
        d_real: D's scores of real target (MR) images. The two may differ in batch size.
    Returns:
        A scalar; 0 for a perfect D (fakes scored 0, reals scored 1), 2 when it scores fakes 1 and reals 0.
    """
    _check_scores("d_fake", d_fake)
    _check_scores("d_real", d_real)
    d_fake, d_real = full_precision(d_fake), full_precision(d_real)
    # E[D(G(x^s))^2]: fakes pushed towards the target 0
    fake_term = d_fake.pow(2).mean()
    # E[(D(x^t) - 1)^2]: real MR pushed towards the target 1
    real_term = (d_real - 1).pow(2).mean()
    return fake_term + real_term
