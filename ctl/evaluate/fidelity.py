"""Translation fidelity: how well G(x^s) keeps the CT's content and how MR-like it looks.

The paper leaves "a new evaluation metric that can evaluate the semantic content consistency between translated
images and the input and measure the distribution difference between translated images and target one" to
future work (Section 4). Three measures, each for one translation method at a time:

1. Paired truth (phantom only). Each phantom CT subject is also rendered as MR on the CT's own grid
   (``ctl.data.load_paired_mr``, evaluation only), so G(x^s) can be compared with the MR it should be, pixel for
   pixel: SSIM (``ctl.evaluate.similarity``, one map per volume) and PSNR inside the body and inside each organ
   (``paired_fidelity``). Real data has no such truth.
2. Labels (phantom and real). Segment G(x^s) with a fixed segmenter trained on real MR (the oracle) and score
   the result against the CT labels y^s (``content_score``): if the translation moved or erased an organ, an MR
   segmenter will not find it where y^s has it.
3. Distribution (phantom and real). A kernel distance between features of translated and real MR slices
   (``kernel_distance``, the unbiased MMD^2 with a cubic polynomial kernel of KID, Binkowski et al., ICLR 2018).

Inputs are volumes (Z, H, W) of axial slices in [0, 1] on the CT grid, labels uint8 with ``ctl.organs``' ids.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.ndimage import binary_fill_holes, label as connected_components
from torch import nn

from ctl.evaluate.metrics import OrganScore, score_volume
from ctl.evaluate.similarity import mean_over_window_centres, ssim_map
from ctl.organs import ORGAN_LABELS


# ---------------------------------------------------------------- 1. against the paired truth
def body_mask(image: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """The body in a (Z, H, W) volume in [0, 1]: above ``threshold``, the largest 3D component, holes filled.

    0.05 lies well below soft tissue in a CT windowed to [-200, 300] HU (fat, -100 HU, maps to 0.2) and above
    air (0). Dark structures inside the body (e.g. bowel gas) are kept by filling holes slice by slice.
    """
    image = np.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"expected a volume (Z, H, W), got shape {image.shape}")
    components, count = connected_components(image > threshold)
    if count == 0:
        raise ValueError(f"no voxel is above threshold={threshold}; is the image in [0, 1]?")
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    body = components == int(np.argmax(sizes))
    return np.stack([binary_fill_holes(body_slice) for body_slice in body])


def masked_psnr(image: np.ndarray, reference: np.ndarray, mask: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio 10 log10(L^2 / MSE) in dB over the voxels of ``mask``.

    Returns:
        PSNR; ``inf`` when the image equals the reference inside the mask; 0 dB when every voxel is off by the
        full range L (e.g. a binary image against its inverse).
    Raises:
        ValueError: for shapes that differ or an empty mask.
    """
    image, reference, mask = np.asarray(image, np.float64), np.asarray(reference, np.float64), np.asarray(mask, bool)
    if not image.shape == reference.shape == mask.shape:
        raise ValueError(f"image {image.shape}, reference {reference.shape} and mask {mask.shape} must match")
    if not mask.any():
        raise ValueError("the mask is empty: there are no voxels to compare")
    mse = float(np.mean((image[mask] - reference[mask]) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range ** 2 / mse)


def paired_fidelity(translated: np.ndarray, truth: np.ndarray, labels: np.ndarray, body: np.ndarray | None = None,
                    organs: dict[str, int] | None = None) -> dict[str, dict]:
    """SSIM and PSNR of G(x^s) against its paired MR truth, inside the body and inside each organ.

    Args:
        translated: G(x^s), (Z, H, W) in [0, 1], the CT subject's slices translated one by one.
        truth: the paired MR rendering of the same subject on the same grid (phantom only).
        labels: the CT subject's label volume (the paired truth has the same anatomy).
        body: body mask; default ``body_mask(truth)``.
        organs: name -> label id (default ``ctl.organs.ORGAN_LABELS``).
    Returns:
        region ("body", then each organ) -> {"ssim", "psnr_db", "voxels"}; an organ absent from ``labels`` gets
        None for both values and voxels 0 (no NaN is stored).
    """
    translated, truth, labels = np.asarray(translated), np.asarray(truth), np.asarray(labels)
    if not translated.shape == truth.shape == labels.shape or translated.ndim != 3:
        raise ValueError(f"translated {translated.shape}, truth {truth.shape} and labels {labels.shape} must be "
                         "volumes (Z, H, W) of one shape")
    regions = {"body": body_mask(truth) if body is None else np.asarray(body, bool)}
    regions.update({name: labels == label for name, label in (organs or ORGAN_LABELS).items()})
    ssim = ssim_map(translated, truth)  # one map per volume, averaged over each region's window centres
    report = {}
    for name, mask in regions.items():
        voxels = int(mask.sum())
        report[name] = {"ssim": mean_over_window_centres(ssim, mask) if voxels else None,
                        "psnr_db": masked_psnr(translated, truth, mask) if voxels else None, "voxels": voxels}
    return report


# ---------------------------------------------------------------- 2. against the source labels
def content_score(translated: np.ndarray, source_labels: np.ndarray, segmenter: Callable[[np.ndarray], np.ndarray],
                  spacing, *, unit: str = "mm") -> dict[str, OrganScore]:
    """Dice and ASSD of ``segmenter(G(x^s))`` against y^s: does an MR segmenter find the organs where they were?

    Args:
        translated: G(x^s), (Z, H, W) in [0, 1].
        source_labels: y^s, the CT labels (Z, H, W).
        segmenter: maps an image volume (Z, H, W) in [0, 1] to a label volume (Z, H, W) of integer ids, e.g.
            ``lambda v: ctl.evaluate.predict_volume(oracle.segmenter, v, device, batch)``; use the same fixed
            segmenter for every translation method, or the scores are not comparable.
        spacing: the CT volume's spacing (mm, (z, y, x)).
    Returns:
        organ -> ``OrganScore`` (``ctl.evaluate.metrics.score_volume``); 1 (Dice) when the segmentation equals y^s.
    """
    prediction = np.asarray(segmenter(translated))
    if prediction.shape != np.shape(source_labels):
        raise ValueError(f"the segmenter returned shape {prediction.shape} for an input of shape "
                         f"{np.shape(translated)}; it must return one label per voxel")
    return score_volume(prediction, np.asarray(source_labels), spacing, unit=unit)


# ---------------------------------------------------------------- 3. distribution distance
@dataclass(frozen=True)
class FeatureConfig:
    """The fixed feature network of ``RandomFeatures``."""

    widths: tuple[int, ...] = (16, 32, 64, 64)  # channels per stage; each stage halves the resolution (4 scales)
    seed: int = 0  # fixes the random weights: every method and every run is measured by the same network
    batch_size: int = 64  # slices per forward pass; only memory depends on it


class RandomFeatures(nn.Module):
    """A fixed, seeded, randomly initialised conv net; its pooled activations describe a slice's appearance.

    Why a random network: the usual feature extractor (Inception, for FID/KID) would have to be downloaded, and
    it was trained on photographs, not MR. The activations of random convolutions followed by ReLUs, averaged
    over the image, are statistics of random local filters (edges, blobs, textures at each scale): they change
    when intensities, contrasts between tissues, noise or texture change, which is what a CT->MR translation must
    get right; randomly initialised networks have been studied as embeddings for evaluating generative models
    (Naeem et al., ICML 2020; Lee, Kim and Lee, arXiv:2208.09218). Limits: the features know nothing about anatomy (an
    MR-looking image with organs in the wrong place can score well; measures 1 and 2 cover content); values are
    only comparable for the same ``FeatureConfig``, image size and set sizes, never with published KID/FID.
    """

    def __init__(self, config: FeatureConfig = FeatureConfig()):
        super().__init__()
        generator = torch.Generator().manual_seed(config.seed)
        stages, channels = {}, 1
        for i, width in enumerate(config.widths, start=1):
            conv = nn.Conv2d(channels, width, kernel_size=3, stride=2, padding=1)
            with torch.no_grad():  # He initialisation from our own generator, so the weights depend only on seed
                conv.weight.normal_(0.0, math.sqrt(2.0 / (channels * 9)), generator=generator)
                conv.bias.zero_()
            stages[f"scale{i}"] = nn.Sequential(conv, nn.ReLU())
            channels = width
        self.stages = nn.ModuleDict(stages)
        self.config = config
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (N, 1, H, W) in [0, 1] -> feature maps keyed by stage name, (N, C_l, H / 2^l, W / 2^l)."""
        features = {}
        for name, stage in self.stages.items():
            x = stage(x)
            features[name] = x
        return features


def image_features(images, config: FeatureConfig = FeatureConfig()) -> dict[str, np.ndarray]:
    """Per-slice descriptors: for every stage, the spatial mean and standard deviation of each channel.

    Args:
        images: slices (N, H, W) or (N, 1, H, W) in [0, 1] (numpy or torch).
    Returns:
        stage name -> (N, 2 C_l) float64; ``np.concatenate(list(d.values()), axis=1)`` gives one vector per slice.
    """
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if x.dim() == 3:
        x = x[:, None]  # (N, H, W) -> (N, 1, H, W)
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"expected slices (N, H, W) or (N, 1, H, W), got shape {tuple(x.shape)}")
    network = RandomFeatures(config)
    pooled: dict[str, list] = {name: [] for name in network.stages}
    with torch.no_grad():
        for batch in torch.split(x, config.batch_size):
            for name, maps in network(batch).items():
                flat = maps.flatten(2)  # (B, C, H * W)
                pooled[name].append(torch.cat([flat.mean(2), flat.std(2, correction=0)], dim=1))  # (B, 2C)
    return {name: torch.cat(parts).double().numpy() for name, parts in pooled.items()}


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between samples x (m, d) and y (n, d) with KID's kernel k(a, b) = (a.b / d + 1)^3.

        MMD^2_u = sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (n(n-1)) - 2 sum_{i,j} k(x_i, y_j) / (mn)

    Its expectation is 0 when x and y come from one distribution, so it can come out slightly negative.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(len(x), len(y)) < 2:
        raise ValueError(f"need two sets of at least 2 feature vectors of one length, got {x.shape} and {y.shape}")
    d = x.shape[1]
    k_xx = (x @ x.T / d + 1.0) ** 3  # (m, m)
    k_yy = (y @ y.T / d + 1.0) ** 3  # (n, n)
    k_xy = (x @ y.T / d + 1.0) ** 3  # (m, n)
    m, n = len(x), len(y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * k_xy.mean())


@dataclass(frozen=True)
class KernelDistance:
    """KID-style distance: the mean and spread of MMD^2_u over random subsets."""

    mean: float
    std: float
    subsets: int
    subset_size: int


def kernel_distance(x: np.ndarray, y: np.ndarray, subsets: int = 50, subset_size: int = 100,
                    seed: int = 0) -> KernelDistance:
    """MMD^2_u between feature sets x (translated) and y (real MR), averaged over random subsets as KID does.

    Each subset draws ``subset_size`` rows of x and of y without replacement (fewer if a set is smaller); the
    spread across subsets shows how much the number can be trusted with few slices.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError(f"need at least 2 slices in each set, got {len(x)} and {len(y)}")
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)])
              for _ in range(subsets)]
    return KernelDistance(float(np.mean(values)), float(np.std(values)), subsets, size)
