"""Helpers of notebook 03 (PatchNCE derivation): the InfoNCE bound on a Gaussian pair whose mutual information is
known, the patch each encoder layer's feature describes, drawn on a slice, and the patch-similarity matrices
sorted by organ, with how often a same-image negative overlaps its query (the bound assumes independent ones).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch, Rectangle

from ctl.losses import info_nce
from ctl.organs import ORGANS
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


def position_organs(label: np.ndarray, positions: np.ndarray, map_width: int, jump: int) -> np.ndarray:
    """The organ id (0 = none) under the centre of each feature-map position (flat index into a map
    ``map_width`` wide whose neighbours are ``jump`` input pixels apart): which organ a patch is about (notebook 03)."""
    rows, cols = np.divmod(np.asarray(positions), map_width)
    centre_rows = np.minimum(rows * jump + jump // 2, label.shape[0] - 1)
    centre_cols = np.minimum(cols * jump + jump // 2, label.shape[1] - 1)
    return np.asarray(label)[centre_rows, centre_cols]


def sorted_by_organ(organs: np.ndarray) -> np.ndarray:
    """The order that groups positions by organ (liver, kidneys, spleen, then none), keeping their order inside each
    group: rows and columns of a similarity matrix sorted this way show organs as blocks (notebook 03)."""
    organs = np.asarray(organs)
    key = np.where(organs == 0, organs.max(initial=0) + 1, organs)  # "no organ" last
    return np.argsort(key, kind="stable")


def sample_by_organ(positions: np.ndarray, organs: np.ndarray, count: int, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``count`` of the candidate ``positions`` (or all, when fewer), as evenly as possible over the groups of
    ``organs`` (each organ, and "no organ"), drawn at random inside each group, then sorted by organ. Uniform
    sampling would give the large liver and the body most of the rows of a similarity matrix (notebook 03).
    Returns (positions, their organs)."""
    positions, organs = np.asarray(positions), np.asarray(organs)
    present = np.unique(organs)
    groups = [np.flatnonzero(organs == g) for g in present[sorted_by_organ(present)]]  # organs first, "none" last
    chosen: list[int] = []
    while len(chosen) < min(count, len(positions)):  # round robin over the groups that still have candidates
        for group in groups:
            left = np.setdiff1d(group, chosen)
            if left.size and len(chosen) < count:
                chosen.append(int(rng.choice(left)))
    picked = positions[chosen]
    order = sorted_by_organ(organs[chosen])
    return picked[order], organs[chosen][order]


def overlapping_share(positions: np.ndarray, map_width: int, jump: int, field: int) -> float:
    """Share of the ordered pairs (query, negative) of distinct ``positions`` whose receptive fields (squares of
    side ``field`` input pixels, centres ``jump`` pixels apart per map step) overlap: how often a same-image
    negative shares input pixels with its query, against the independence the InfoNCE bound assumes (notebook 03).

    Raises:
        ValueError: for fewer than two positions.
    """
    positions = np.asarray(positions)
    if positions.size < 2:
        raise ValueError(f"need at least two positions to form pairs, got {positions.size}")
    rows, cols = np.divmod(positions, map_width)
    d_rows = np.abs(rows[:, None] - rows[None]) * jump  # (S, S) distances between centres in input pixels
    d_cols = np.abs(cols[:, None] - cols[None]) * jump
    overlap = (d_rows < field) & (d_cols < field)
    off_diagonal = ~np.eye(len(positions), dtype=bool)
    return float(overlap[off_diagonal].mean())


def similarity_figure(matrices: Mapping[str, np.ndarray], organs: np.ndarray, titles: Mapping[str, str]):
    """Query-key similarity matrices (rows: query patches of the translation, columns: key patches of the source,
    both sorted by organ), each with a colour bar and an organ strip along both axes (notebook 03)."""
    names = list(matrices)
    fig, axes = plt.subplots(1, len(names), figsize=(5.6 * len(names), 5.0), squeeze=False)
    strip = ListedColormap(["#dddddd", *(organ.colour for organ in ORGANS)])  # 0: no organ
    for ax, name in zip(axes[0], names):
        image = ax.imshow(matrices[name], cmap="magma", vmin=-1, vmax=1, interpolation="nearest")
        size = len(organs)
        ax.imshow(np.asarray(organs)[None], cmap=strip, vmin=-0.5, vmax=len(ORGANS) + 0.5, aspect="auto",
                  extent=(-0.5, size - 0.5, size + 1.5, size - 0.5), interpolation="nearest")
        ax.imshow(np.asarray(organs)[:, None], cmap=strip, vmin=-0.5, vmax=len(ORGANS) + 0.5, aspect="auto",
                  extent=(-2.5, -0.5, size - 0.5, -0.5), interpolation="nearest")
        ax.set_xlim(-2.5, size - 0.5)
        ax.set_ylim(size + 1.5, -0.5)
        ax.set_title(titles[name], fontsize=9)
        ax.set_xlabel("key patch of the source (sorted by organ; strip: its organ)", fontsize=8)
        ax.set_ylabel("query patch of the translation (same order)", fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="cosine similarity q.k")
    fig.tight_layout()
    handles = [Patch(color="#dddddd", label="no organ")] + [Patch(color=o.colour, label=o.title) for o in ORGANS]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), fontsize=8,
               frameon=False)
    return fig
