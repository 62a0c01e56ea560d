"""Helpers of notebooks 02 (LSGAN translation) and 03 (PatchNCE derivation): the computations behind their
plots, and the plots. Each function says which notebook uses it; images are shown as stored (patient right on
the image's left, never flipped).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from torch.nn import functional as nnf

from ctl.data import CLASS_NAMES
from ctl.table1 import PAPER_COLOURS
from ctl.losses import info_nce, lsgan_generator_loss

# label id -> colour for outlines (the paper's Fig. 3 colours, as in ctl.figures)
ORGAN_COLOURS = PAPER_COLOURS  # organ name -> colour, the paper's Fig. 3 (one table: ctl.table1)


# --- notebook 02 ---------------------------------------------------------------------------------------------
def generator_loss_curves(scores: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """G's loss and its derivative with respect to D's raw output a, for three GAN losses (notebook 02).

    - "minimax GAN": log(1 - sigmoid(a)), the original objective G minimises (Goodfellow et al. 2014);
    - "non-saturating GAN": -log sigmoid(a), the variant used in practice;
    - "least squares (eq. 2)": (a - 1)^2 via ``ctl.losses.lsgan_generator_loss``.
    Returns {name: (loss values, d loss / d a)} at every score in ``scores``; derivatives by autograd.
    """
    curves = {}
    losses = {
        "minimax GAN": lambda a: torch.log1p(-torch.sigmoid(a)),
        "non-saturating GAN": lambda a: -nnf.logsigmoid(a),
        "least squares (eq. 2)": lambda a: lsgan_generator_loss(a[None]),  # one score: the mean is the value
    }
    for name, loss in losses.items():
        values, grads = [], []
        for s in scores:
            a = torch.tensor(float(s), dtype=torch.float64, requires_grad=True)
            value = loss(a)
            value.backward()
            values.append(value.item())
            grads.append(a.grad.item())
        curves[name] = (np.array(values), np.array(grads))
    return curves


def outline_organs(ax, label: np.ndarray, linewidth: float = 1.0) -> None:
    """Draw the outline of every organ of a label slice (H, W) on ``ax`` (notebooks 02, 03)."""
    for class_id, name in enumerate(CLASS_NAMES):
        if name in ORGAN_COLOURS and (label == class_id).any():
            ax.contour(label == class_id, levels=[0.5], colors=ORGAN_COLOURS[name], linewidths=linewidth)


def organ_legend_handles() -> list[Line2D]:
    return [Line2D([], [], color=colour, label=name.replace("_", " ")) for name, colour in ORGAN_COLOURS.items()]


def translation_figure(columns: Mapping[str, Sequence[np.ndarray]], labels: Sequence[np.ndarray],
                       row_titles: Sequence[str] = (), dpi: int = 50):
    """One row per slice, one column per image kind (e.g. CT, translations, paired MR), organ outlines of
    ``labels`` on every panel (notebook 02). A low ``dpi`` keeps the noisy panels small in the notebook."""
    names = list(columns)
    rows = len(labels)
    fig, axes = plt.subplots(rows, len(names), figsize=(2.0 * len(names), 2.0 * rows + 0.4), squeeze=False,
                             dpi=dpi)
    for i in range(rows):
        for j, name in enumerate(names):
            ax = axes[i, j]
            ax.imshow(columns[name][i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            outline_organs(ax, labels[i], linewidth=0.8)
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=9)
        if i < len(row_titles):
            axes[i, 0].set_ylabel(row_titles[i], fontsize=8)
    fig.legend(handles=organ_legend_handles(), loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of each run of ``window`` consecutive values (shorter at the start): smooths loss curves."""
    values = np.asarray(values, dtype=float)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    sums = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (sums[1:] - sums[np.arange(1, len(values) + 1) - counts]) / counts


def loss_curves_figure(histories: Mapping[str, Sequence[Mapping[str, float]]], window: int):
    """Loss curves of several training runs (notebook 02): one panel per loss key, one line per run."""
    keys = []
    for history in histories.values():
        keys += [k for k in history[0] if k not in keys and k != "total"]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.3 * len(keys), 2.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for colour, (name, history) in enumerate(histories.items()):  # one colour per run in every panel
            if key in history[0]:
                ax.plot(moving_average([h[key] for h in history], window), color=f"C{colour}", label=name)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("iteration")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- notebook 03 ---------------------------------------------------------------------------------------------
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
