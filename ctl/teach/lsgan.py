"""Helpers of notebook 02 (LSGAN translation): the GAN losses' gradients, the preset the two translators train at,
and their loss curves. (Translations beside the MR they should be: ``ctl.teach.plots.translation_grid``.)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.nn import functional as nnf

from ctl.losses import lsgan_generator_loss
from ctl.presets import Preset


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


def translation_preset(preset: Preset) -> Preset:
    """The preset of notebook 02's two translators: half the segmenter's iterations (at least 20), checkpoints no
    further apart than that. Notebook 03's exercise loads the translator trained with it, so it lives here once."""
    steps = max(20, preset.iterations // 2)
    return preset.replace(iterations=steps, checkpoint_every=min(preset.checkpoint_every, steps))


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
    fig, axes = plt.subplots(1, len(keys), figsize=(3.3 * len(keys), 3.0), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for colour, (name, history) in enumerate(histories.items()):  # one colour per run in every panel
            if key in history:
                ax.plot(history["iteration"], moving_average(history[key], window), color=f"C{colour}",
                        label=name)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"{key} loss (moving average of {window})", fontsize=8)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig
