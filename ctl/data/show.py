"""Pictures of volumes for notebook 01 (data preparation): organ overlays, intensity tables, a slice viewer.

Organ colours follow the paper's Fig. 3: liver cyan, spleen red, left kidney pink, right kidney blue.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from ctl.data.geometry import Volume
from ctl.data.labels import CLASS_NAMES
from ctl.metrics import ORGAN_LABELS
from ctl.table1 import PAPER_COLOURS

# label id -> colour, from the one table of the paper's colours (``ctl.table1.PAPER_COLOURS``)
ORGAN_COLOURS = {label: PAPER_COLOURS[organ] for organ, label in ORGAN_LABELS.items()}


def show_slice(ax, image: np.ndarray, label: np.ndarray | None = None, title: str = "", vmin=None, vmax=None,
               overlay: bool = True, alpha: float = 0.35) -> None:
    """One axial slice in radiological display (patient right on the image's left), organs as filled tints
    with white outlines. Used by notebook 01, and by ``ctl.figures.show_labels`` for notebooks 04-05.
    """
    image = np.asarray(image)
    label = None if label is None else np.asarray(label)
    ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    if overlay and label is not None and label.any():
        colours = ["#00000000"] + [ORGAN_COLOURS[c] for c in range(1, 5)]
        ax.imshow(np.ma.masked_equal(label, 0), cmap=ListedColormap(colours[1:]), vmin=0.5, vmax=4.5, alpha=alpha,
                  interpolation="nearest")
        ax.contour(label, levels=[0.5, 1.5, 2.5, 3.5], colors="white", linewidths=0.4)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def organ_legend(fig) -> None:
    """A legend of the four organ colours at the bottom of ``fig``. Used by notebook 01."""
    handles = [plt.Rectangle((0, 0), 1, 1, color=ORGAN_COLOURS[c]) for c in range(1, 5)]
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.1, top=0.88, wspace=0.05)
    fig.legend(handles, [CLASS_NAMES[c].replace("_", " ") for c in range(1, 5)], loc="lower center",
               bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=8, frameon=False)


def busiest_slice(label: np.ndarray) -> int:
    """The slice index with the most organ voxels (a good slice to show). Used by notebook 01."""
    return int(np.argmax((label > 0).sum(axis=(1, 2))))


def organ_medians(volume: Volume) -> dict[str, float]:
    """Median image value inside each organ (NaN when the organ is absent). Used by notebook 01."""
    return {CLASS_NAMES[c]: float(np.median(volume.image[volume.label == c])) if (volume.label == c).any()
            else float("nan") for c in range(1, 5)}


def slice_viewer(volumes: dict[str, Volume], vmax: float = 1.0):
    """An ipywidgets viewer: pick a volume, move through its slices, toggle the organ overlay.

    Returns ``(widget, draw)``: display the widget in Jupyter; ``draw(name, position, overlay)`` draws one frame
    (position in [0, 1] along the stack) and is also what the widget calls. Building the widget starts no
    event loop, so it cannot hang a headless run. Used by notebook 01.
    """
    import ipywidgets as widgets

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
