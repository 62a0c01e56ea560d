"""Pictures of slices and organs shared by the notebooks: organ overlays and outlines in the organ colours, the
one organ legend, crops, the image grids of notebook 02 and of Figures 2 and 3 (notebook 05), and ``show_compact``
that keeps noisy image grids small in a committed notebook. The interactive viewers are in ``ctl.teach.widgets``.

Organ colours come from ``ctl.organs``: the hues of the paper's Fig. 3 (liver cyan, right kidney blue, left
kidney pink-purple, spleen red), adjusted so that colour-blind readers can tell them apart.
Images are shown as stored: patient right on the image's left (never flipped), top anterior. Every function
draws what it is given and returns nothing or the matplotlib figure; notebooks save figures with
``ctx.save_figure``.
"""
from __future__ import annotations

import base64
import io
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image as DisplayImage
from IPython.display import display
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from PIL import Image
from scipy.ndimage import binary_opening

from ctl.data import Volume
from ctl.organs import ORGAN_COLOURS, ORGAN_ORDER, ORGAN_TITLES, ORGANS


# --- one slice ---------------------------------------------------------------------------------------------
def show_slice(ax, image: np.ndarray, label: np.ndarray | None = None, title: str = "", vmin=None, vmax=None,
               overlay: bool = True, alpha: float = 0.35) -> None:
    """One axial slice in radiological display (patient right on the image's left), organs as filled tints
    with white outlines. Used by notebook 01, and through ``show_labels`` by notebooks 04-05.
    """
    image = np.asarray(image)
    label = None if label is None else np.asarray(label)
    ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    if overlay and label is not None and label.any():
        colours = ListedColormap([organ.colour for organ in ORGANS])  # label ids 1..4
        ax.imshow(np.ma.masked_equal(label, 0), cmap=colours, vmin=0.5, vmax=len(ORGANS) + 0.5, alpha=alpha,
                  interpolation="nearest")
        ax.contour(label, levels=[organ.label - 0.5 for organ in ORGANS], colors="white", linewidths=0.4)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def show_labels(ax, image: np.ndarray, labels: np.ndarray | None = None, title: str = "", alpha: float = 0.5):
    """A slice in [0, 1] in grey with its labels in the organ colours: ``show_slice`` on a fixed grey scale, so
    that intensities compare across panels. Used by notebooks 04 and 05."""
    show_slice(ax, image, labels, title, vmin=0, vmax=1, alpha=alpha)
    ax.axis("off")


def outline_organs(ax, label: np.ndarray, linewidth: float = 1.0) -> None:
    """Draw the outline of every organ of a label slice (H, W) on ``ax`` in its colour (notebooks 02, 03)."""
    for organ in ORGANS:
        if (label == organ.label).any():
            ax.contour(label == organ.label, levels=[0.5], colors=organ.colour, linewidths=linewidth)


def organ_legend(fig, outlines: bool = False) -> None:
    """The four organs in their colours (``ctl.organs``) and Table 1's order, in one row under the panels of ``fig``:
    filled patches for tinted overlays (``show_slice``), lines for outlines (``outline_organs``). Lay the panels
    out first (``tight_layout``); the legend goes below them. Used by notebooks 01, 02 and 05."""
    if outlines:
        handles = [Line2D([], [], color=ORGAN_COLOURS[o], label=ORGAN_TITLES[o]) for o in ORGAN_ORDER]
    else:
        handles = [Patch(color=ORGAN_COLOURS[o], label=ORGAN_TITLES[o]) for o in ORGAN_ORDER]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), fontsize=8,
               frameon=False)


def body_box(image: np.ndarray, threshold: float = 0.1, margin: int = 2) -> tuple[slice, slice]:
    """Row and column slices around the body in a 2D slice in [0, 1], to crop the empty border for display.

    The body: pixels above ``threshold``, opened twice so that isolated noise pixels do not count; ``margin``
    pixels are kept around it. The whole slice when nothing is left. Used by notebook 04.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"body_box takes one slice (H, W), got shape {image.shape}")
    body = binary_opening(image > threshold, iterations=2)
    if not body.any():
        return slice(None), slice(None)
    rows, cols = np.nonzero(body)
    return (slice(max(rows.min() - margin, 0), rows.max() + margin + 1),
            slice(max(cols.min() - margin, 0), cols.max() + margin + 1))


# --- volumes (notebook 01) ------------------------------------------------------------------------------------
def busiest_slice(label: np.ndarray) -> int:
    """The slice index with the most organ voxels (a good slice to show). Used by notebook 01."""
    return int(np.argmax((label > 0).sum(axis=(1, 2))))


def organ_medians(volume: Volume) -> dict[str, float]:
    """Median image value inside each organ (NaN when the organ is absent). Used by notebook 01."""
    return {organ.name: float(np.median(volume.image[volume.label == organ.label]))
            if (volume.label == organ.label).any() else float("nan") for organ in ORGANS}


# --- Figures 2 and 3 (notebook 05) ----------------------------------------------------------------------------
def representative_slices(labels: np.ndarray, count: int = 3) -> list[int]:
    """``count`` slice indices spread evenly over the slices that hold an organ (fewer if fewer hold one).
    Used by notebooks 02 and 05."""
    with_organs = np.flatnonzero((np.asarray(labels) > 0).any(axis=(1, 2)))
    if with_organs.size == 0:
        raise ValueError("no slice of this label volume holds an organ")
    picks = np.linspace(0, with_organs.size - 1, count + 2)[1:-1].round().astype(int)  # inner quantiles
    return sorted({int(with_organs[i]) for i in picks})


# The image grids draw each slice in a panel of PANEL_INCHES at GRID_DPI: 160 screen pixels, enough for the
# 96-256 px slices of the presets, and never less than MIN_WIDTH_INCHES wide (512 px) however few the columns;
# ``show_compact`` keeps the noisy grids under the notebooks' 200 KB per image.
PANEL_INCHES = 2.0
MIN_WIDTH_INCHES = 6.4
GRID_DPI = 80
MAX_PNG_BYTES = 150_000  # base64 characters; larger renderings are shown as JPEG (tests allow 200 KB per image)


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="jpeg", quality=quality)
    return buffer.getvalue()


def compact_image(fig, dpi: int = GRID_DPI, max_bytes: int = MAX_PNG_BYTES) -> DisplayImage:
    """``fig`` rendered as PNG when that takes at most ``max_bytes`` of base64, otherwise as JPEG (quality 88,
    then 75 and 60, then scaled down by steps of 0.8 until it fits); the figure is closed. Noisy image grids
    compress badly as PNG; JPEG keeps them readable at a fraction of the size, and the committed notebooks stay
    under their 200 KB per image."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    data, kind = buffer.getvalue(), "png"
    if len(base64.b64encode(data)) > max_bytes:
        rgb, kind = Image.open(io.BytesIO(data)).convert("RGB"), "jpeg"
        for quality in (88, 75, 60):
            data = _jpeg(rgb, quality)
            if len(base64.b64encode(data)) <= max_bytes:
                break
        while len(base64.b64encode(data)) > max_bytes:
            rgb = rgb.resize((int(rgb.width * 0.8), int(rgb.height * 0.8)), Image.Resampling.LANCZOS)
            data = _jpeg(rgb, 60)
    return DisplayImage(data=data, format=kind)


def show_compact(fig, dpi: int = GRID_DPI, max_bytes: int = MAX_PNG_BYTES) -> None:
    """Display ``compact_image(fig)`` in the notebook; the figure is closed, so that the inline backend does not
    show it a second time. Used by notebooks 01-05."""
    display(compact_image(fig, dpi, max_bytes))


def translation_grid(columns: Mapping[str, Sequence[np.ndarray]], labels: Sequence[np.ndarray] | None = None,
                     row_titles: Sequence[str] | None = None):
    """Translations side by side (notebook 02; Figure 2 analogue in notebook 05): one row per slice, one column
    per image kind (the CT, each method's G(CT), the paired MR truth), the organ outlines of ``labels`` (the CT
    labels: the anatomy every column should keep) on every panel, and the organ legend below."""
    names = list(columns)
    rows = len(next(iter(columns.values())))
    width = max(PANEL_INCHES * len(names), MIN_WIDTH_INCHES)
    fig, axes = plt.subplots(rows, len(names), figsize=(width, width / len(names) * rows + 0.5), squeeze=False,
                             dpi=GRID_DPI)
    for i in range(rows):
        for j, name in enumerate(names):
            ax = axes[i, j]
            ax.imshow(columns[name][i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            if labels is not None:
                outline_organs(ax, labels[i], linewidth=0.9)
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=9)
        if row_titles:
            axes[i, 0].set_ylabel(row_titles[i], fontsize=8)
    fig.tight_layout()
    if labels is not None:
        organ_legend(fig, outlines=True)
    return fig


def translation_rows(slices: Sequence[tuple[str, int]], cts: Mapping[str, object],
                     translated: Mapping[str, Mapping[str, np.ndarray]],
                     truths: Mapping[str, np.ndarray] | None = None, ct_title: str = "CT $x^s$"):
    """``translation_grid`` of CT test slices given as (subject, z): the CT (``cts[subject]``, a volume with
    ``.image`` and ``.label``), each translator's volume ``translated[name][subject]`` and, when given, the paired
    MR truth ``truths[subject]``; rows titled "<subject>, slice <z>". Notebooks 02 and 05."""
    columns = {ct_title: [cts[s].image[z] for s, z in slices]}
    columns.update({name: [volumes[s][z] for s, z in slices] for name, volumes in translated.items()})
    if truths is not None:
        columns["paired MR truth"] = [truths[s][z] for s, z in slices]
    return translation_grid(columns, [cts[s].label[z] for s, z in slices], [f"{s}, slice {z}" for s, z in slices])


def segmentation_grid(images: Sequence[np.ndarray], truths: Sequence[np.ndarray],
                      predictions: Mapping[str, Sequence[np.ndarray]], row_titles: Sequence[str] | None = None):
    """Figure 3 analogue (notebook 05): each row one MR test slice; columns: the MR, the truth, every method's
    segmentation."""
    columns = ["MR", "truth", *predictions]
    width = max(PANEL_INCHES * len(columns), MIN_WIDTH_INCHES)
    fig, axes = plt.subplots(len(images), len(columns), figsize=(width, width / len(columns) * len(images) + 0.3),
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
