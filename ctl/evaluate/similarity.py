"""Does a translation keep the anatomy? Similarity of a translated slice to the true MR of the same anatomy.

Only the phantom has such a truth: each CT subject is also rendered as MR on the CT's own grid
(``ctl.data.load_paired_mr``, evaluation only). Notebook 02 compares G(x^s) with it inside the body:

- ``masked_ncc``: normalised cross-correlation (Pearson's r) of the pixel values inside a mask. 1 when the
  translation equals the truth up to brightness and contrast (a * truth + b, a > 0), about 0 when unrelated,
  negative when bright and dark are swapped. It rewards the right organ-to-organ contrasts at the right places.
- ``masked_ssim``: the structural similarity index (Wang et al., IEEE TIP 2004) with an 11 x 11 Gaussian window
  (sigma 1.5), its map averaged over the mask. It compares local means, contrasts and correlations.

Both take 2D slices or stacks of slices (..., H, W) as numpy arrays or tensors; values are in [0, 1].
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as nnf


def _as_tensor(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a), dtype=torch.float64)


def _check(image: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> None:
    if image.shape != reference.shape or image.shape != mask.shape:
        raise ValueError(f"image {tuple(image.shape)}, reference {tuple(reference.shape)} and mask "
                         f"{tuple(mask.shape)} must have the same shape")
    if image.dim() < 2:
        raise ValueError(f"expected slices (..., H, W), got shape {tuple(image.shape)}")
    if not mask.any():
        raise ValueError("the mask is empty: there are no pixels to compare")


def masked_ncc(image, reference, mask) -> float:
    """Pearson correlation of ``image`` and ``reference`` over the pixels where ``mask`` is true.

    Returns:
        r in [-1, 1]; NaN when either image is constant inside the mask (no contrast: r is undefined).
    Raises:
        ValueError: for shapes that differ or an empty mask.
    """
    image, reference, mask = _as_tensor(image), _as_tensor(reference), _as_tensor(mask).bool()
    _check(image, reference, mask)
    a, b = image[mask], reference[mask]  # (P,) pixels inside the mask
    a, b = a - a.mean(), b - b.mean()
    denominator = torch.sqrt((a * a).sum() * (b * b).sum())
    if denominator == 0:
        return float("nan")
    return float((a * b).sum() / denominator)


def _gaussian_1d(size: int, sigma: float) -> torch.Tensor:
    """The normalised 1D Gaussian (size,); the 2D window is its outer product with itself."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim_map(image, reference, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5,
             k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """The SSIM of every ``win_size`` window lying fully inside the slices: (..., H - win + 1, W - win + 1).

    SSIM = (2 mu_a mu_b + C1)(2 sigma_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(sigma_a^2 + sigma_b^2 + C2)),
    C1 = (k1 L)^2, C2 = (k2 L)^2 with L the data range; local moments with a Gaussian window.
    """
    image, reference = _as_tensor(image), _as_tensor(reference)
    if image.shape != reference.shape or image.dim() < 2:
        raise ValueError(f"image {tuple(image.shape)} and reference {tuple(reference.shape)} must be equal-shaped "
                         "slices (..., H, W)")
    if min(image.shape[-2:]) < win_size:
        raise ValueError(f"slices of size {tuple(image.shape[-2:])} are smaller than the {win_size}-pixel window")
    lead = image.shape[:-2]
    a = image.reshape(-1, 1, *image.shape[-2:])  # (N, 1, H, W)
    b = reference.reshape(-1, 1, *reference.shape[-2:])
    g = _gaussian_1d(win_size, sigma)
    column, row = g.view(1, 1, -1, 1), g.view(1, 1, 1, -1)

    def local_mean(x):
        # the 2D Gaussian window is separable: a column pass then a row pass equals one 11 x 11 convolution,
        # at 2 x 11 instead of 121 multiplications per pixel and without a 121-fold unfolded copy of the volume
        return nnf.conv2d(nnf.conv2d(x, column), row)  # valid: only windows fully inside the slice

    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a = local_mean(a * a) - mu_a ** 2
    var_b = local_mean(b * b) - mu_b ** 2
    cov = local_mean(a * b) - mu_a * mu_b
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return ssim.reshape(*lead, *ssim.shape[-2:])


def masked_ssim(image, reference, mask, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5) -> float:
    """Mean SSIM over the window centres that lie inside ``mask`` (windows must fit inside the slice).

    Raises:
        ValueError: for shapes that differ, an empty mask, or a mask with no pixel at least ``win_size // 2``
            pixels away from the slice border.
    """
    image, reference, mask = _as_tensor(image), _as_tensor(reference), _as_tensor(mask).bool()
    _check(image, reference, mask)
    return mean_over_window_centres(ssim_map(image, reference, data_range, win_size, sigma), mask, win_size)


def mean_over_window_centres(values: torch.Tensor, mask, win_size: int = 11) -> float:
    """Mean of an ``ssim_map`` over the windows whose centre lies in ``mask`` (same shape as the slices), so that
    one map serves several regions (``ctl.evaluate.fidelity.paired_fidelity``).

    Raises:
        ValueError: when no mask pixel lies at least ``win_size // 2`` pixels inside the slice border.
    """
    mask = _as_tensor(mask).bool()
    half = win_size // 2
    centres = mask[..., half:mask.shape[-2] - half, half:mask.shape[-1] - half]  # the centres of valid windows
    if centres.shape != values.shape:
        raise ValueError(f"an SSIM map of shape {tuple(values.shape)} does not belong to a mask of shape "
                         f"{tuple(mask.shape)} and a {win_size}-pixel window")
    if not centres.any():
        raise ValueError(f"no mask pixel lies at least {half} pixels inside the slice border")
    return float(values[centres].mean())
