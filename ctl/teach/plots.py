"""Pictures of slices and organs shared by the notebooks: organ overlays and outlines in the paper's colours, the
one organ legend, crops, the slice viewer of notebook 01, and the image grids of Figures 2 and 3 (notebook 05).

Organ colours are the paper's Fig. 3 (``ctl.organs``): liver cyan, right kidney blue, left kidney pink, spleen red.
Images are shown as stored: patient right on the image's left (never flipped), top anterior. Every function
draws what it is given and returns nothing or the matplotlib figure; notebooks save figures with
``ctx.save_figure``.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
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
    """A slice in [0, 1] in grey with its labels in the paper's colours: ``show_slice`` on a fixed grey scale, so
    that intensities compare across panels. Used by notebooks 04 and 05."""
    show_slice(ax, image, labels, title, vmin=0, vmax=1, alpha=alpha)
    ax.axis("off")


def outline_organs(ax, label: np.ndarray, linewidth: float = 1.0) -> None:
    """Draw the outline of every organ of a label slice (H, W) on ``ax`` in its colour (notebooks 02, 03)."""
    for organ in ORGANS:
        if (label == organ.label).any():
            ax.contour(label == organ.label, levels=[0.5], colors=organ.colour, linewidths=linewidth)


def organ_legend(fig, outlines: bool = False) -> None:
    """The four organs in the paper's colours and Table 1's order, in one row under the panels of ``fig``:
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


def slice_viewer(volumes: dict[str, Volume], vmax: float = 1.0):
    """An ipywidgets viewer: pick a volume, move through its slices, toggle the organ overlay.

    Returns ``(widget, draw)``: display the widget in Jupyter; ``draw(name, position, overlay)`` draws one frame
    (position in [0, 1] along the stack) and is also what the widget calls. Building the widget starts no
    event loop, so it cannot hang a headless run. Used by notebook 01.
    """
    import ipywidgets as widgets  # here, not at the top: it loads Jupyter's widget machinery, which only a
    # notebook that builds the viewer needs

    names = list(volumes)

    def draw(name: str = names[0], position: float = 0.5, overlay: bool = True):
        volume = volumes[name]
        z = int(round(position * (volume.image.shape[0] - 1)))
        fig, ax = plt.subplots(figsize=(4.2, 4.4))
        show_slice(ax, volume.image[z], volume.label[z], f"{name}: slice {z} of {volume.image.shape[0]}",
                   vmin=0.0, vmax=vmax, overlay=overlay)
        ax.set_xlabel(f"z = {z * volume.spacing[0]:.1f} mm from the lowest slice; "
                      f"pixel {volume.spacing[1]:.2f} mm", fontsize=8)
        plt.show()
        return fig

    widget = widgets.interactive(
        draw, name=widgets.Dropdown(options=names, description="volume"),
        position=widgets.FloatSlider(0.5, min=0.0, max=1.0, step=0.01, description="slice", continuous_update=False),
        overlay=widgets.Checkbox(True, description="organs"))
    return widget, draw


# --- Figures 2 and 3 (notebook 05) ----------------------------------------------------------------------------
def representative_slices(labels: np.ndarray, count: int = 3) -> list[int]:
    """``count`` slice indices spread evenly over the slices that hold an organ (fewer if fewer hold one).
    Used by notebooks 02 and 05."""
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
    """Figure 2 analogue (notebook 05): each row one CT slice; columns: the CT, every method's G(CT), the paired
    MR truth."""
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
    """Figure 3 analogue (notebook 05): each row one MR test slice; columns: the MR, the truth, every method's
    segmentation."""
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
