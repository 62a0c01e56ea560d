"""The pictures of notebook 05 that explain and compare scores: what a surface distance is, ASSD in mm against
voxels, box plots of every volume's score per organ, and translation fidelity against Dice.

Every function draws numbers it is given (computed in the notebook's run) and returns the matplotlib figure;
the notebook saves it with ``ctx.save_figure``.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch
from scipy.ndimage import distance_transform_edt

from ctl.evaluate.metrics import assd, surface
from ctl.organs import ORGAN_ORDER, ORGAN_TITLES


# --- what ASSD measures --------------------------------------------------------------------------------------
def nearest_surface_arrows(source: np.ndarray, target: np.ndarray, spacing: Sequence[float]):
    """For each surface pixel of ``source`` (2D), the nearest surface pixel of ``target`` in mm (the arrows of
    ``surface_distance_picture``).

    Returns:
        (from (N, 2) pixel coordinates, to (N, 2), distances (N,) in mm).
    """
    source_surface, target_surface = surface(source), surface(target)
    distances, nearest = distance_transform_edt(~target_surface, sampling=spacing, return_indices=True)
    starts = np.argwhere(source_surface)  # (N, 2) as (row, column)
    ends = nearest[:, starts[:, 0], starts[:, 1]].T  # (N, 2)
    return starts, ends, distances[source_surface]


def mask_overlay(pred: np.ndarray, truth: np.ndarray, surfaces: bool) -> np.ndarray:
    """RGB picture of two 2D masks: truth only green, prediction only magenta, both grey; surfaces brighter."""
    canvas = np.zeros(pred.shape + (3,))
    canvas[truth & ~pred] = (0.0, 0.5, 0.0)
    canvas[pred & ~truth] = (0.5, 0.0, 0.5)
    canvas[pred & truth] = (0.45, 0.45, 0.45)
    if surfaces:
        on_truth, on_pred = surface(truth), surface(pred)
        canvas[on_truth] = (0.2, 1.0, 0.2)
        canvas[on_pred] = (1.0, 0.35, 1.0)
        canvas[on_truth & on_pred] = (1.0, 1.0, 1.0)
    return canvas


def mask_legend(ax, surfaces: bool = False) -> None:
    """The legend of ``mask_overlay``'s colours on ``ax`` (green and magenta: told apart with any colour vision)."""
    handles = [Patch(color=(0.0, 0.5, 0.0), label="truth only"), Patch(color=(0.5, 0.0, 0.5), label="prediction only"),
               Patch(color=(0.45, 0.45, 0.45), label="both")]
    if surfaces:
        handles += [Patch(color=(0.2, 1.0, 0.2), label="truth surface"),
                    Patch(color=(1.0, 0.35, 1.0), label="prediction surface"),
                    Patch(facecolor="white", edgecolor="0.5", label="on both surfaces")]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def surface_distance_picture(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float] = (1.0, 1.0)):
    """Two panels on a tiny 2D example: the directed distances P -> T and T -> P drawn as arrows, with ASSD
    (notebook 05, section 1)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    value = assd(pred, truth, spacing).value
    for ax, (a, b, name) in zip(axes, ((pred, truth, "P -> T"), (truth, pred, "T -> P"))):
        ax.imshow(mask_overlay(pred, truth, surfaces=True), interpolation="nearest", aspect=spacing[0] / spacing[1])
        starts, ends, d = nearest_surface_arrows(a, b, spacing)
        for (r0, c0), (r1, c1), dist in zip(starts, ends, d):
            if dist > 0:
                ax.annotate("", xy=(c1, r1), xytext=(c0, r0), arrowprops=dict(arrowstyle="->", color="yellow", lw=0.8))
        ax.set_title(f"{name}: {len(d)} surface pixels, mean distance {d.mean():.2f} mm", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    mask_legend(axes[1], surfaces=True)
    fig.suptitle(f"arrows: from a surface pixel to the nearest surface pixel of the other mask. Pooled ASSD = "
                 f"{value:.2f} mm", fontsize=9)
    fig.tight_layout()
    return fig


def anisotropy_picture(truth: np.ndarray, shifts: Mapping[str, tuple[int, int]], spacing: Sequence[float]):
    """The same truth with predictions shifted by whole pixels along different axes, drawn at physical aspect:
    equal ASSD in voxels, different ASSD in mm when the spacing differs between axes (notebook 05, section 1)."""
    fig, axes = plt.subplots(1, len(shifts), figsize=(3.6 * len(shifts) + 1.4, 4.8), squeeze=False)
    for ax, (name, shift) in zip(axes[0], shifts.items()):
        pred = np.roll(truth, shift, axis=(0, 1))
        mm, voxel = assd(pred, truth, spacing).value, assd(pred, truth, unit="voxel").value
        ax.imshow(mask_overlay(pred, truth, surfaces=False), interpolation="nearest", aspect=spacing[0] / spacing[1])
        ax.set_title(f"{name}\nASSD {voxel:.2f} voxel = {mm:.2f} mm", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    mask_legend(axes[0, -1])
    fig.suptitle(f"spacing {spacing[0]} mm (vertical) x {spacing[1]} mm (horizontal), drawn to scale", fontsize=9)
    fig.tight_layout()
    return fig


# --- distributions and relations -----------------------------------------------------------------------------
def box_plots(records: Sequence[Mapping], methods: Sequence[str], unit: str):
    """Per organ, per method: Dice (%) and ASSD (``unit``) of every test volume (seeds pooled), as boxes with
    the volumes as dots. Missing ASSDs (an empty mask) are not drawn; their count is in the title (notebook 05)."""
    fig, axes = plt.subplots(2, len(ORGAN_ORDER), figsize=(3.1 * len(ORGAN_ORDER), 6.2), squeeze=False)
    chosen = [r for r in records if r["assd_unit"] == unit]
    for k, organ in enumerate(ORGAN_ORDER):
        for row, (metric, scale, label) in enumerate((("dice", 100.0, "Dice (%)"), ("assd", 1.0, f"ASSD ({unit})"))):
            ax = axes[row, k]
            values, missing = [], 0
            for m in methods:
                column = [r[metric] for r in chosen if r["method"] == m and r["organ"] == organ]
                missing += sum(v is None for v in column)
                values.append([scale * v for v in column if v is not None])
            positions = [i for i, v in enumerate(values) if v]
            if positions:
                ax.boxplot([values[i] for i in positions], positions=positions, widths=0.6, showfliers=False)
            for i, v in enumerate(values):
                ax.scatter(np.full(len(v), i) + np.linspace(-0.12, 0.12, len(v)), v, s=10, alpha=0.7, zorder=3)
            ax.set_xticks(range(len(methods)), methods, rotation=60, fontsize=7)
            ax.set_xlim(-0.6, len(methods) - 0.4)
            title = ORGAN_TITLES[organ] + (f" ({missing} undefined)" if missing else "")
            ax.set_title(title, fontsize=9)
            if k == 0:
                ax.set_ylabel(label)
    fig.tight_layout()
    return fig


def fidelity_scatter(summaries: Mapping[str, Mapping[str, float | None]], dice: Mapping[str, float],
                     measures: Mapping[str, tuple[str, bool]], correlations: Mapping[str, Mapping] | None = None):
    """One panel per fidelity measure: the measure (x) against the final mean Dice on MR (y), one dot per method
    (notebook 05)."""
    shown = [key for key in measures if any(summaries[m].get(key) is not None for m in summaries if m in dice)]
    columns = min(max(len(shown), 1), 2)
    rows = max(1, math.ceil(len(shown) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.4 * columns, 3.3 * rows), squeeze=False)
    for ax in axes.flat[len(shown):]:
        ax.axis("off")
    for ax, key in zip(axes.flat, shown):
        for name in summaries:
            x = summaries[name].get(key)
            if name in dice and x is not None and math.isfinite(x):
                ax.scatter(x, dice[name], s=25)
                ax.annotate(name, (x, dice[name]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        c = (correlations or {}).get(key, {})
        label, higher_better = measures[key]
        rho = c.get("rho")
        ax.set_title(f"Spearman rho = {rho:+.2f} (n = {c['n']})" if rho is not None
                     else "rho undefined: under 3 methods or no spread", fontsize=9)
        ax.set_xlabel(label + ("\n(higher is better)" if higher_better else "\n(lower is better)"), fontsize=8)
        ax.set_ylabel("mean Dice on MR test (%)", fontsize=8)
    fig.tight_layout()
    return fig
