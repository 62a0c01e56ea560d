"""The paper's augmentations (section 3): random sharpness, random brightness/contrast, elastic deformation.

All act on one slice: ``image`` (C, H, W) float in [0, 1] and, for the elastic deformation, its ``label``
(H, W) int, deformed by the **same** displacement so that the organs stay labelled. Random draws use torch's
default generator (or one passed in), so ``torch.manual_seed`` and DataLoader worker seeding make them
repeatable.

There is deliberately **no left-right flip**: the anatomy is not mirror-symmetric (liver on the right, spleen
on the left) and a flipped slice would carry a right kidney labelled where the left one belongs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

_SMOOTH = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0  # PIL's smoothing kernel


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation (images in [0, 1])."""

    p_sharpness: float = 0.3  # sharpness changes are mild; a third of the slices is enough variety
    sharpness: tuple[float, float] = (0.5, 2.0)  # 0 = blurred, 1 = unchanged, 2 = detail doubled
    p_brightness_contrast: float = 0.5  # scanners and windows differ: the most common nuisance
    brightness: float = 0.1  # added offset drawn from [-0.1, 0.1]
    contrast: tuple[float, float] = (0.8, 1.2)  # gain about the slice mean
    p_elastic: float = 0.3  # deformation is the costliest and the strongest change
    elastic_points: int = 4  # control points per side: one smooth bend across the abdomen
    elastic_sd: float = 0.02  # displacement sd at the control points, as a fraction of the image side


def adjust_sharpness(image: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend a slice with its smoothed copy: blur + factor * (image - blur), clipped to [0, 1].

    The blur is the 3x3 kernel [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 with replicated borders; factor 1 returns
    the image, 0 the blurred image, above 1 a sharper one. ``image`` is (C, H, W).
    """
    c = image.shape[0]
    kernel = _SMOOTH.to(image)[None, None].repeat(c, 1, 1, 1)  # (C, 1, 3, 3): one filter per channel
    blur = F.conv2d(F.pad(image[None], (1, 1, 1, 1), mode="replicate"), kernel, groups=c)[0]
    return (blur + factor * (image - blur)).clamp(0.0, 1.0)


def adjust_brightness_contrast(image: torch.Tensor, brightness: float, contrast: float) -> torch.Tensor:
    """(image - mean) * contrast + mean + brightness, clipped to [0, 1]; the mean is over the whole slice."""
    mean = image.mean()
    return ((image - mean) * contrast + mean + brightness).clamp(0.0, 1.0)


def random_displacement(height: int, width: int, points: int = 4, sd: float = 0.02,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """A smooth random displacement field (2, H, W) in pixels (dy, dx).

    Normal displacements (sd * image side) at a ``points`` x ``points`` lattice of control points, interpolated
    bicubically over the slice: a smooth, elastic-looking warp with no tearing.
    """
    coarse = torch.randn(2, points, points, generator=generator) * sd  # fractions of the side
    field = F.interpolate(coarse[None], size=(height, width), mode="bicubic", align_corners=True)[0]
    return field * torch.tensor([height, width], dtype=field.dtype)[:, None, None]


def elastic_deform(image: torch.Tensor, label: torch.Tensor | None, displacement: torch.Tensor):
    """Warp ``image`` (C, H, W) bilinearly and ``label`` (H, W) with nearest neighbour by ``displacement``.

    output(p) = input(p + displacement(p)), with displacement (2, H, W) in pixels (dy, dx); points that fall
    outside the slice take the nearest border value. Returns (image, label) (label None when given None).
    """
    _, h, w = image.shape
    ys = torch.arange(h, dtype=image.dtype)[:, None] + displacement[0].to(image.dtype)  # (H, W) source rows
    xs = torch.arange(w, dtype=image.dtype)[None, :] + displacement[1].to(image.dtype)  # (H, W) source columns
    # grid_sample wants (x, y) in [-1, 1] with -1/+1 at the outer pixel edges (align_corners=False)
    grid = torch.stack([(2 * xs + 1) / w - 1, (2 * ys + 1) / h - 1], dim=-1)[None]  # (1, H, W, 2)
    warped = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    if label is None:
        return warped, None
    lab = F.grid_sample(label[None, None].to(image.dtype), grid, mode="nearest", padding_mode="border",
                        align_corners=False)[0, 0]
    return warped, lab.round().to(label.dtype)


def augment_slice(image: torch.Tensor, label: torch.Tensor | None, config: AugmentConfig = AugmentConfig(),
                  generator: torch.Generator | None = None):
    """Apply each augmentation with its probability, in the order sharpness, brightness/contrast, elastic."""
    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=generator))

    if float(torch.rand((), generator=generator)) < config.p_sharpness:
        image = adjust_sharpness(image, uniform(*config.sharpness))
    if float(torch.rand((), generator=generator)) < config.p_brightness_contrast:
        image = adjust_brightness_contrast(image, uniform(-config.brightness, config.brightness),
                                           uniform(*config.contrast))
    if float(torch.rand((), generator=generator)) < config.p_elastic:
        field = random_displacement(image.shape[1], image.shape[2], config.elastic_points, config.elastic_sd, generator)
        image, label = elastic_deform(image, label, field)
    return image, label
