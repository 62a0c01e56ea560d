"""The paper's preprocessing: intensity windows to [0, 1] and axial slices resampled to ``size`` x ``size``.

Section 3 of the paper: CT is clipped to [-200, 300] HU (the soft-tissue range that holds the abdominal
organs) and scaled to [0, 1]; MR is scaled to [0, 1]; axial slices are resampled to 256 x 256.

**MR normalisation.** MR intensities have no physical unit and a few voxels can be far brighter than any organ
(fluid in T2, vessels with inflow, coil hot spots); dividing by the maximum would squeeze all organs into a
small range that changes from subject to subject. We therefore map the 0.5th percentile of the volume (air,
the noise floor) to 0 and the 99.5th percentile to 1, and clip: at most 0.5 % of the voxels saturate, and the
organs keep a comparable grey level across subjects. (``normalise_mr``)

**Resampling.** Each slice is first padded (with 0, i.e. air after normalisation) to a square field of view in
millimetres, so the resize keeps the anatomy's proportions, then resized to ``size`` x ``size``: images with
antialiased bilinear interpolation, labels with nearest neighbour (a label is a category: averaging 1 (liver)
and 3 (left kidney) must not give 2 (right kidney)). The slice spacing is unchanged; the in-plane spacing
becomes the padded field of view divided by ``size``. Slices are never flipped.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ctl.data.geometry import Volume

CT_WINDOW_HU = (-200.0, 300.0)  # the paper's CT clipping window
MR_PERCENTILES = (0.5, 99.5)  # robust MR range (see the module docstring)


def window_ct(hu: np.ndarray, low: float = CT_WINDOW_HU[0], high: float = CT_WINDOW_HU[1]) -> np.ndarray:
    """Clip CT to [low, high] HU and scale linearly to [0, 1] (float32): (clip(hu) - low) / (high - low)."""
    if not high > low:
        raise ValueError(f"CT window must have high > low, got [{low}, {high}]")
    return ((np.clip(hu, low, high) - low) / (high - low)).astype(np.float32)


def normalise_mr(image: np.ndarray, percentiles: tuple[float, float] = MR_PERCENTILES) -> np.ndarray:
    """Map the volume's ``percentiles`` (low, high) to 0 and 1, clip to [0, 1] (float32).

    Raises:
        ValueError: for percentiles outside 0-100 or in the wrong order, or a constant volume.
    """
    p_low, p_high = percentiles
    if not 0 <= p_low < p_high <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}")
    low, high = np.percentile(image, [p_low, p_high])
    if not high > low:
        raise ValueError(f"MR volume is constant between its {p_low} and {p_high} percentiles ({low}); "
                         f"is it empty?")
    return np.clip((image.astype(np.float32) - low) / (high - low), 0.0, 1.0).astype(np.float32)


def pad_to_square(volume: np.ndarray, spacing_yx: tuple[float, float],
                  fill: float = 0.0) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad (Z, H, W) symmetrically so that H * dy == W * dx (a square field of view, to within a pixel).

    Returns the padded volume and the number of rows and columns added in front (before the image).
    """
    z, h, w = volume.shape
    dy, dx = spacing_yx
    fov = max(h * dy, w * dx)
    new_h, new_w = max(h, int(round(fov / dy))), max(w, int(round(fov / dx)))
    top, left = (new_h - h) // 2, (new_w - w) // 2
    pad = ((0, 0), (top, new_h - h - top), (left, new_w - w - left))
    return np.pad(volume, pad, constant_values=fill), (top, left)


def resize_slices(volume: np.ndarray, size: int, is_label: bool) -> np.ndarray:
    """Resize every axial slice of (Z, H, W) to (Z, size, size): bilinear with antialiasing, or nearest for labels."""
    if size < 2:
        raise ValueError(f"size={size} px is too small; use at least 2")
    if volume.shape[1:] == (size, size):
        return volume.copy()
    t = torch.from_numpy(np.ascontiguousarray(volume))[:, None]  # (Z, 1, H, W)
    if is_label:
        out = F.interpolate(t.float(), size=(size, size), mode="nearest-exact")
        return out[:, 0].round().numpy().astype(volume.dtype)
    out = F.interpolate(t.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out[:, 0].numpy().astype(np.float32)


def preprocess_volume(volume: Volume, size: int, ct_window: tuple[float, float] = CT_WINDOW_HU,
                      mr_percentiles: tuple[float, float] = MR_PERCENTILES) -> Volume:
    """Intensity normalisation for the volume's domain, then square padding and resizing of every slice.

    Returns a new ``Volume`` with images in [0, 1], labels resized with nearest neighbour and the spacing
    (z, y, x) of the resized grid.
    """
    if volume.domain == "ct":
        image = window_ct(volume.image, *ct_window)
    elif volume.domain == "mr":
        image = normalise_mr(volume.image, mr_percentiles)
    else:
        raise ValueError(f"{volume.subject}: domain must be 'ct' or 'mr', got {volume.domain!r}")
    dz, dy, dx = volume.spacing
    image, _ = pad_to_square(image, (dy, dx), fill=0.0)
    label, _ = pad_to_square(volume.label, (dy, dx), fill=0)
    spacing = np.array([dz, dy * image.shape[1] / size, dx * image.shape[2] / size])
    image = np.clip(resize_slices(image, size, is_label=False), 0.0, 1.0)
    return Volume(image=image, label=resize_slices(label, size, is_label=True), spacing=spacing,
                  subject=volume.subject, domain=volume.domain)
