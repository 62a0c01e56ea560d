"""The pictures of notebook 05: what a surface distance is, Figures 2 and 3 of the paper redrawn on our data, box
plots per organ, and fidelity against Dice.

Every function draws numbers it is given (computed in the notebook's run) and returns the matplotlib figure;
the notebook saves it with ``ctx.save_figure``. Organ colours are the paper's Fig. 3: liver cyan, spleen red,
left kidney pink, right kidney blue. Images are shown as stored: patient right on the image's left (never
flipped), top anterior.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch
from scipy.ndimage import distance_transform_edt

from ctl.metrics import assd, surface
from ctl.table1 import ORGAN_ORDER, ORGAN_TITLES, PAPER_COLOURS



def show_labels(ax, image: np.ndarray, labels: np.ndarray | None = None, title: str = "", alpha: float = 0.5):
    """A slice in [0, 1] in grey with its labels in the paper's colours: ``ctl.data.show.show_slice`` on a fixed
    grey scale, so that intensities compare across panels."""
    from ctl.data.show import show_slice

    show_slice(ax, image, labels, title, vmin=0, vmax=1, alpha=alpha)
    ax.axis("off")


def body_box(image: np.ndarray, threshold: float = 0.1, margin: int = 2) -> tuple[slice, slice]:
    """Row and column slices around the body in a 2D slice in [0, 1], to crop the empty border for display.

    The body: pixels above ``threshold``, opened twice so that isolated noise pixels do not count; ``margin``
    pixels are kept around it. The whole slice when nothing is left.
    """
    from scipy.ndimage import binary_opening

    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"body_box takes one slice (H, W), got shape {image.shape}")
    body = binary_opening(image > threshold, iterations=2)
    if not body.any():
        return slice(None), slice(None)
    rows, cols = np.nonzero(body)
    return (slice(max(rows.min() - margin, 0), rows.max() + margin + 1),
            slice(max(cols.min() - margin, 0), cols.max() + margin + 1))


def organ_legend(fig) -> None:
    fig.legend(handles=[Patch(color=PAPER_COLOURS[o], label=ORGAN_TITLES[o]) for o in ORGAN_ORDER],
               loc="lower center", ncol=4, fontsize=8, frameon=False, bbox_to_anchor=(0.5, -0.02))


# --- what ASSD measures --------------------------------------------------------------------------------------
def nearest_surface_arrows(source: np.ndarray, target: np.ndarray, spacing: Sequence[float]):
    """For each surface pixel of ``source`` (2D), the nearest surface pixel of ``target`` in mm.

    Returns:
        (from (N, 2) pixel coordinates, to (N, 2), distances (N,) in mm).
    """
    source_surface, target_surface = surface(source), surface(target)
    distances, nearest = distance_transform_edt(~target_surface, sampling=spacing, return_indices=True)
    starts = np.argwhere(source_surface)  # (N, 2) as (row, column)
    ends = nearest[:, starts[:, 0], starts[:, 1]].T  # (N, 2)
    return starts, ends, distances[source_surface]


def _overlay(pred: np.ndarray, truth: np.ndarray, surfaces: bool) -> np.ndarray:
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


def surface_distance_picture(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float] = (1.0, 1.0)):
    """Two panels on a tiny 2D example: the directed distances P -> T and T -> P drawn as arrows, with ASSD."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
    value = assd(pred, truth, spacing).value
    for ax, (a, b, name) in zip(axes, ((pred, truth, "P -> T"), (truth, pred, "T -> P"))):
        ax.imshow(_overlay(pred, truth, surfaces=True), interpolation="nearest", aspect=spacing[0] / spacing[1])
        starts, ends, d = nearest_surface_arrows(a, b, spacing)
        for (r0, c0), (r1, c1), dist in zip(starts, ends, d):
            if dist > 0:
                ax.annotate("", xy=(c1, r1), xytext=(c0, r0), arrowprops=dict(arrowstyle="->", color="yellow", lw=0.8))
        ax.set_title(f"{name}: {len(d)} surface pixels, mean distance {d.mean():.2f} mm", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"truth T: green, prediction P: magenta, both: grey; surfaces bright (white: on both). "
                 f"Pooled ASSD = {value:.2f} mm", fontsize=9)
    fig.tight_layout()
    return fig


def anisotropy_picture(truth: np.ndarray, shifts: Mapping[str, tuple[int, int]], spacing: Sequence[float]):
    """The same truth with predictions shifted by whole pixels along different axes, drawn at physical aspect:
    equal ASSD in voxels, different ASSD in mm when the spacing differs between axes."""
    fig, axes = plt.subplots(1, len(shifts), figsize=(3.2 * len(shifts), 4.2), squeeze=False)
    for ax, (name, shift) in zip(axes[0], shifts.items()):
        pred = np.roll(truth, shift, axis=(0, 1))
        mm, voxel = assd(pred, truth, spacing).value, assd(pred, truth, unit="voxel").value
        ax.imshow(_overlay(pred, truth, surfaces=False), interpolation="nearest", aspect=spacing[0] / spacing[1])
        ax.set_title(f"{name}\nASSD {voxel:.2f} voxel = {mm:.2f} mm", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"spacing {spacing[0]} mm (vertical) x {spacing[1]} mm (horizontal), drawn to scale", fontsize=9)
    fig.tight_layout()
    return fig


# --- Figures 2 and 3 -----------------------------------------------------------------------------------------
def representative_slices(labels: np.ndarray, count: int = 3) -> list[int]:
    """``count`` slice indices spread evenly over the slices that hold an organ (fewer if fewer hold one)."""
    with_organs = np.flatnonzero((np.asarray(labels) > 0).any(axis=(1, 2)))
    if with_organs.size == 0:
        raise ValueError("no slice of this label volume holds an organ")
    picks = np.linspace(0, with_organs.size - 1, count + 2)[1:-1].round().astype(int)  # inner quantiles
    return sorted({int(with_organs[i]) for i in picks})


# The image grids draw each slice in a panel 1.6-1.7 inches wide: at 60 dpi that is about 100 screen pixels, one
# per image pixel at the cpu preset (96 px slices), and a noisy 6-column grid stays under 200 KB of PNG.
GRID_DPI = 60


def translation_grid(inputs: Sequence[np.ndarray], translations: Mapping[str, Sequence[np.ndarray]],
                     truths: Sequence[np.ndarray] | None = None, row_titles: Sequence[str] | None = None):
    """Figure 2 analogue: each row one CT slice; columns: the CT, every method's G(CT), the paired MR truth."""
    columns = ["CT input", *translations] + (["paired MR truth"] if truths is not None else [])
    fig, axes = plt.subplots(len(inputs), len(columns), figsize=(1.7 * len(columns), 1.8 * len(inputs)),
                             squeeze=False, dpi=GRID_DPI)
    for i, row in enumerate(axes):
        images = [inputs[i], *(t[i] for t in translations.values())] + ([truths[i]] if truths is not None else [])
        for j, (ax, image) in enumerate(zip(row, images)):
            show_labels(ax, image, title=columns[j] if i == 0 else "")
        if row_titles:
            row[0].text(-0.05, 0.5, row_titles[i], transform=row[0].transAxes, rotation=90, va="center",
                        ha="right", fontsize=8)
    fig.tight_layout()
    return fig


def segmentation_grid(images: Sequence[np.ndarray], truths: Sequence[np.ndarray],
                      predictions: Mapping[str, Sequence[np.ndarray]], row_titles: Sequence[str] | None = None):
    """Figure 3 analogue: each row one MR test slice; columns: the MR, the truth, every method's segmentation."""
    columns = ["MR", "truth", *predictions]
    fig, axes = plt.subplots(len(images), len(columns), figsize=(1.6 * len(columns), 1.7 * len(images) + 0.3),
                             squeeze=False, dpi=GRID_DPI)
    for i, row in enumerate(axes):
        show_labels(row[0], images[i], title=columns[0] if i == 0 else "")
        show_labels(row[1], images[i], truths[i], title=columns[1] if i == 0 else "")
        for ax, (name, labels) in zip(row[2:], predictions.items()):
            show_labels(ax, images[i], labels[i], title=name if i == 0 else "")
        if row_titles:
            row[0].text(-0.05, 0.5, row_titles[i], transform=row[0].transAxes, rotation=90, va="center",
                        ha="right", fontsize=8)
    fig.tight_layout()
    organ_legend(fig)
    return fig


# --- distributions and relations -----------------------------------------------------------------------------
def box_plots(records: Sequence[Mapping], methods: Sequence[str], unit: str):
    """Per organ, per method: Dice (%) and ASSD (``unit``) of every test volume (seeds pooled), as boxes with
    the volumes as dots. Missing ASSDs (an empty mask) are not drawn; their count is in the title."""
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
    """One panel per fidelity measure: the measure (x) against the final mean Dice on MR (y), one dot per method."""
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
