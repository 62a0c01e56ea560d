"""Helpers of notebook 03 (PatchNCE derivation): the InfoNCE bound on a Gaussian pair whose mutual information is
known, and the patch each encoder layer's feature describes, drawn on a slice.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from ctl.losses import info_nce
from ctl.teach.plots import outline_organs


def gaussian_infonce_bound(rho: float, dim: int, negatives: int, queries: int,
                           generator: torch.Generator) -> tuple[float, float]:
    """(true I(x; y), InfoNCE bound log(N+1) - L) for y = rho x + sqrt(1 - rho^2) noise, x ~ N(0, I_dim) (notebook 03).

    The critic is the best one possible, the log density ratio log p(y | x) / p(y), written as a dot product of
    augmented vectors so that ``info_nce`` (unnormalised, tau = 1) computes eq. 11 with it:
        log p(y|x)/p(y) = rho x.y / (1 - rho^2) - rho^2 |y|^2 / (2 (1 - rho^2)) + (terms of x only, which cancel)
        q = (rho x / (1 - rho^2), -1),   k = (y, rho^2 |y|^2 / (2 (1 - rho^2))).
    Each query's negatives are the positives of other queries (samples of the marginal p(y)).
    """
    if not 0 <= rho < 1:
        raise ValueError(f"rho must be in [0, 1), got {rho}")
    if negatives >= queries:
        raise ValueError(f"need more queries ({queries}) than negatives ({negatives}) to draw negatives from")
    x = torch.randn(queries, dim, generator=generator, dtype=torch.float64)
    y = rho * x + math.sqrt(1 - rho ** 2) * torch.randn(queries, dim, generator=generator, dtype=torch.float64)
    c = rho ** 2 / (2 * (1 - rho ** 2))
    q = torch.cat([rho * x / (1 - rho ** 2), -torch.ones(queries, 1, dtype=torch.float64)], dim=1)  # (Q, dim+1)
    k = torch.cat([y, c * (y * y).sum(1, keepdim=True)], dim=1)  # (Q, dim+1)
    # negatives of query i: the keys of queries i+1, ..., i+N (cyclically): independent of x_i
    idx = (torch.arange(queries)[:, None] + torch.arange(1, negatives + 1)[None]) % queries  # (Q, N)
    loss = info_nce(q, k, k[idx], tau=1.0, normalize=False)
    true_mi = -dim / 2 * math.log(1 - rho ** 2)
    return true_mi, math.log(negatives + 1) - loss.item()


def draw_patch_sizes(ax, image: np.ndarray, centre: tuple[int, int], fields: Mapping[str, int],
                     label: np.ndarray | None = None) -> None:
    """A slice with one square per layer: the receptive field (side in pixels) of the feature at ``centre``
    (row, column), i.e. the patch that one feature vector of that layer describes (notebook 03)."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    if label is not None:
        outline_organs(ax, label, linewidth=0.6)
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(fields)))
    row, col = centre
    for (name, side), colour in zip(fields.items(), colours):
        half = side / 2
        ax.add_patch(Rectangle((col - half, row - half), side, side, fill=False, ec=colour, lw=1.5,
                               label=f"{name}: {side} px"))
    ax.plot(col, row, "+", color="yellow")
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.set_xticks([]), ax.set_yticks([])
    ax.legend(fontsize=7, loc="upper right", framealpha=0.6)
