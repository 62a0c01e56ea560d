"""Helpers of notebook 02 (LSGAN translation): the GAN losses' gradients, translations beside the MR they should
be, and the loss curves of the two translators. Images are shown as stored (patient right on the image's left,
never flipped).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.nn import functional as nnf

from ctl.losses import lsgan_generator_loss
from ctl.teach.plots import organ_legend, outline_organs


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
    fig.tight_layout()
    organ_legend(fig, outlines=True)
    return fig


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of each run of ``window`` consecutive values (shorter at the start): smooths the loss curves of
    ``loss_curves_figure``."""
    values = np.asarray(values, dtype=float)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    sums = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (sums[1:] - sums[np.arange(1, len(values) + 1) - counts]) / counts


def loss_curves_figure(histories: Mapping[str, Mapping[str, np.ndarray]], window: int):
    """Loss curves of several training runs (notebook 02): one panel per loss, one line per run.

    ``histories``: run name -> its history as columns (``ctl.training.load_history``: "iteration" and one array
    per loss); "total" is left out (it is the sum of the others).
    """
    keys = []
    for history in histories.values():
        keys += [k for k in history if k not in keys and k not in ("iteration", "total")]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.3 * len(keys), 2.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for colour, (name, history) in enumerate(histories.items()):  # one colour per run in every panel
            if key in history:
                ax.plot(history["iteration"], moving_average(history[key], window), color=f"C{colour}",
                        label=name)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("iteration")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig
