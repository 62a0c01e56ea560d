"""Interactive viewers of the notebooks (ipywidgets), each with a static frame for readers of a saved notebook.

Every viewer returns ``(widget, draw)``. ``draw(...)`` takes the same values as the widget's controls and returns
one matplotlib figure without showing it. The widget is the controls above an output area; moving a control
redraws the figure there (``ctl.teach.plots.compact_image``). A notebook displays the widget, then draws the first
frame itself (``show_compact(draw(...))``), so that a headless run (papermill, nbval), a static render on GitHub,
and a student without a live kernel all see a figure.

**Why the widget draws nothing until a control moves.** A figure shown inside a widget's output area while a
headless client (nbclient, under papermill and nbval) executes the cell makes that client send messages back to
the kernel on the channel it is waiting on, which can deadlock it until the cell times out (jupyter/nbclient
issue 312; we saw a 900 s stall). ``ipywidgets.interactive`` draws at once, so it is not used; here the output
area is filled only by a control's change, which never happens in a headless run, and then by setting the output
widget's contents rather than capturing a display.

- ``slice_viewer`` (notebook 01): any volume, one slice, organs on or off;
- ``translation_viewer`` (02, 05): CT, each G(CT) and the paired MR truth of one slice, CT organ outlines on all;
- ``prediction_viewer`` (04, 05): an MR slice, its truth and every method's segmentation;
- ``infonce_explorer`` (03): the temperature and the number of negatives against the InfoNCE loss and gradient;
- ``dice_assd_explorer`` (05): shift and erode a prediction of a toy organ, read Dice and ASSD.

Images are shown as stored (patient right on the image's left, never flipped).
"""
from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.ndimage import binary_dilation, binary_erosion
from torch.nn import functional as nnf

from ctl.data import Volume
from ctl.evaluate.metrics import assd, dice
from ctl.losses import info_nce
from ctl.teach.evaluation_plots import mask_legend, mask_overlay
from ctl.teach.plots import compact_image, organ_legend, outline_organs, show_slice

PANEL = 2.6  # inches per image panel of a viewer: about 260 screen pixels


def _interactive(draw, **controls) -> widgets.VBox:
    """The ``controls`` (name -> widget, each an argument of ``draw``) above an output area that shows
    ``draw(**values)`` whenever a control changes, and nothing before (see the module docstring)."""
    out = widgets.Output()

    def redraw(_change=None) -> None:
        out.outputs = ()
        out.append_display_data(compact_image(draw(**{name: c.value for name, c in controls.items()})))

    for control in controls.values():
        control.observe(redraw, names="value")
    return widgets.VBox([*controls.values(), out])


def _slice_slider(depth: int, value: int) -> widgets.IntSlider:
    return widgets.IntSlider(value, min=0, max=depth - 1, description="slice", continuous_update=False)


def _slice_title(volume: Volume, z: int) -> str:
    return f"slice {z} of {volume.image.shape[0]}, z = {z * volume.spacing[0]:.0f} mm above the lowest"


def slice_viewer(volumes: Mapping[str, Volume], vmax: float = 1.0):
    """Pick a volume, move through its slices, toggle the organ overlay (notebook 01).

    ``draw(name, position, overlay)``: ``position`` in [0, 1] along the stack, so that one slider serves volumes
    of different depths.
    """
    names = list(volumes)

    def draw(name: str = names[0], position: float = 0.5, overlay: bool = True):
        volume = volumes[name]
        z = int(round(position * (volume.image.shape[0] - 1)))
        fig, ax = plt.subplots(figsize=(5.6, 6.0))
        show_slice(ax, volume.image[z], volume.label[z], f"{name}: slice {z} of {volume.image.shape[0]}",
                   vmin=0.0, vmax=vmax, overlay=overlay)
        ax.set_xlabel(f"z = {z * volume.spacing[0]:.1f} mm from the lowest slice; "
                      f"pixel {volume.spacing[1]:.2f} mm", fontsize=9)
        fig.tight_layout()
        if overlay:
            organ_legend(fig)
        return fig

    widget = _interactive(
        draw, name=widgets.Dropdown(options=names, description="volume"),
        position=widgets.FloatSlider(0.5, min=0.0, max=1.0, step=0.01, description="slice", continuous_update=False),
        overlay=widgets.Checkbox(True, description="organs"))
    return widget, draw


def translation_viewer(ct: Volume, translations: Mapping[str, np.ndarray], truth: np.ndarray | None = None):
    """One CT slice, its translation by each method (volumes (Z, H, W) on the CT grid) and the paired MR truth,
    with the CT's organ outlines on every panel: does each organ keep its place and take MR's brightness?
    Notebooks 02 and 05. ``draw(z)``."""
    columns = {"CT": ct.image, **translations}
    if truth is not None:
        columns["paired MR truth"] = truth

    busiest = int(np.argmax((ct.label > 0).sum(axis=(1, 2))))

    def draw(z: int = busiest):
        fig, axes = plt.subplots(1, len(columns), figsize=(PANEL * len(columns), PANEL + 0.7), squeeze=False)
        for ax, (name, volume) in zip(axes[0], columns.items()):
            ax.imshow(volume[z], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            outline_organs(ax, ct.label[z], linewidth=1.0)
            ax.set_title(name, fontsize=9)
            ax.set_xticks([]), ax.set_yticks([])
        fig.suptitle(f"{ct.subject}: {_slice_title(ct, z)}; outlines: the CT's organs", fontsize=9)
        fig.tight_layout()
        organ_legend(fig, outlines=True)
        return fig

    return _interactive(draw, z=_slice_slider(ct.image.shape[0], busiest)), draw


def prediction_viewer(mr: Volume, predictions: Mapping[str, np.ndarray]):
    """One MR slice, its truth and each method's prediction (label volumes (Z, H, W)), with each prediction's
    Dice on that slice in its title (notebooks 04 and 05). ``draw(z)``."""
    busiest = int(np.argmax((mr.label > 0).sum(axis=(1, 2))))

    def draw(z: int = busiest):
        panels = 2 + len(predictions)
        fig, axes = plt.subplots(1, panels, figsize=(PANEL * panels, PANEL + 0.7), squeeze=False)
        show_slice(axes[0, 0], mr.image[z], None, "MR", vmin=0, vmax=1)
        show_slice(axes[0, 1], mr.image[z], mr.label[z], "truth", vmin=0, vmax=1, alpha=0.5)
        for ax, (name, labels) in zip(axes[0, 2:], predictions.items()):
            both = (labels[z] > 0) | (mr.label[z] > 0)
            agree = f"{np.mean(labels[z][both] == mr.label[z][both]):.0%}" if both.any() else "n/a"
            show_slice(ax, mr.image[z], labels[z], f"{name}\n{agree} of organ pixels right", vmin=0, vmax=1,
                       alpha=0.5)
        fig.suptitle(f"{mr.subject}: {_slice_title(mr, z)}", fontsize=9)
        fig.tight_layout()
        organ_legend(fig)
        return fig

    return _interactive(draw, z=_slice_slider(mr.image.shape[0], busiest)), draw


def infonce_explorer(dim: int = 8, pool: int = 1023, positive: float = 0.8, seed: int = 0):
    """The InfoNCE loss (eq. 11) of one query whose positive has similarity ``positive``, against N negatives
    taken from a fixed pool of random unit vectors in ``dim`` dimensions (notebook 03). ``draw(tau, negatives)``:
    left, each negative's share of the gradient's push (its softmax weight) against its similarity to the query;
    right, the loss and |dL/dq| as tau varies, for these N negatives, with the chosen tau marked."""
    generator = torch.Generator().manual_seed(seed)
    dirs = nnf.normalize(torch.randn(pool + 2, dim, generator=generator, dtype=torch.float64), dim=-1)
    q = dirs[0]
    side = nnf.normalize(dirs[1] - (dirs[1] @ q) * q, dim=0)
    k_pos = positive * q + (1 - positive ** 2) ** 0.5 * side  # q . k+ = positive
    pool_negatives = dirs[2:]
    taus = np.geomspace(0.02, 2.0, 60)

    def loss_and_grad(tau: float, negs: torch.Tensor) -> tuple[float, float]:
        query = q.clone().requires_grad_()
        value = info_nce(query, k_pos, negs, tau=tau, normalize=False)
        value.backward()
        return value.item(), query.grad.norm().item()

    def draw(tau: float = 0.07, negatives: int = 255):
        negs = pool_negatives[:negatives]
        sims = (negs @ q).numpy()
        logits = np.concatenate([[positive], sims]) / tau
        weights = np.exp(logits - logits.max())
        weights = weights[1:] / weights.sum()
        loss, grad = loss_and_grad(tau, negs)
        curves = np.array([loss_and_grad(float(t), negs) for t in taus])
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        axes[0].scatter(sims, weights, s=12, color="#2266FF", label="a negative")
        axes[0].axvline(positive, color="red", ls="--", lw=1, label=f"the positive (q.k+ = {positive})")
        axes[0].set(xlabel="similarity q.k- of a negative (cosine)", ylabel="softmax weight p_n (its push)",
                    title=f"tau = {tau:.3f}, N = {negatives}: {int((sims > positive).sum())} negatives beat the positive")
        axes[0].legend(fontsize=8)
        axes[1].plot(taus, curves[:, 0], label="loss L_q (nats)")
        axes[1].plot(taus, curves[:, 1], ls="--", label="|dL/dq|")
        axes[1].axhline(np.log(negatives + 1), color="0.5", lw=0.8, ls=":", label="log(N+1): chance")
        axes[1].axvline(tau, color="0.3", lw=0.8)
        axes[1].set(xscale="log", yscale="log", xlabel="temperature tau (log scale)", ylabel="value (log scale)",
                    title=f"at tau = {tau:.3f}: L_q = {loss:.2f} nats, |dL/dq| = {grad:.2f}")
        axes[1].legend(fontsize=8)
        fig.tight_layout()
        return fig

    widget = _interactive(
        draw, tau=widgets.FloatLogSlider(0.07, base=10, min=-1.7, max=0.3, step=0.05, description="tau",
                                         continuous_update=False),
        negatives=widgets.IntSlider(255, min=1, max=pool, description="negatives N", continuous_update=False))
    return widget, draw


def shifted_and_eroded(truth: np.ndarray, shift_rows: int, shift_cols: int, erode: int) -> np.ndarray:
    """``truth`` moved by whole pixels (rolled: keep it away from the border), then eroded by ``erode`` pixels
    (dilated when negative): the predictions of ``dice_assd_explorer``."""
    pred = np.roll(truth, (shift_rows, shift_cols), axis=(0, 1))
    if erode > 0:
        pred = binary_erosion(pred, iterations=erode)
    elif erode < 0:
        pred = binary_dilation(pred, iterations=-erode)
    return pred


def dice_assd_explorer(truth: np.ndarray, spacing: tuple[float, float]):
    """Move and erode a prediction of the 2D toy organ ``truth`` and watch Dice and ASSD (mm at ``spacing``)
    part ways (notebook 05). ``draw(shift_rows, shift_cols, erode)``: left, the overlay; right, Dice and ASSD of
    every erosion at this shift, the current one marked."""
    erosions = np.arange(-3, 4)

    def scores(pred):
        value = assd(pred, truth, spacing).value if pred.any() else float("nan")
        return dice(pred, truth), value

    def draw(shift_rows: int = 0, shift_cols: int = 1, erode: int = 0):
        pred = shifted_and_eroded(truth, shift_rows, shift_cols, erode)
        d, s = scores(pred)
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
        axes[0].imshow(mask_overlay(pred, truth, surfaces=True), interpolation="nearest",
                       aspect=spacing[0] / spacing[1])
        axes[0].set(xticks=[], yticks=[], title=f"Dice {d:.3f}, ASSD {s:.2f} mm")
        mask_legend(axes[0], surfaces=True)
        table = np.array([scores(shifted_and_eroded(truth, shift_rows, shift_cols, int(e))) for e in erosions])
        axes[1].plot(erosions, table[:, 0], "o-", color="#2266FF", label="Dice (left axis)")
        axes[1].set(xlabel="pixels eroded (negative: dilated)", ylabel="Dice", ylim=(0, 1.05))
        twin = axes[1].twinx()
        twin.plot(erosions, table[:, 1], "s--", color="#AA3377", label="ASSD (right axis)")
        twin.set_ylabel("ASSD (mm)")
        axes[1].axvline(erode, color="0.5", lw=0.8)
        axes[1].legend(handles=axes[1].lines[:1] + twin.lines, fontsize=8, loc="upper center")
        axes[1].set_title(f"shift ({shift_rows}, {shift_cols}) px; spacing {spacing[0]} x {spacing[1]} mm", fontsize=9)
        fig.tight_layout()
        return fig

    slider = dict(min=-4, max=4, continuous_update=False)
    widget = _interactive(draw, shift_rows=widgets.IntSlider(0, description="shift rows", **slider),
                          shift_cols=widgets.IntSlider(1, description="shift cols", **slider),
                          erode=widgets.IntSlider(0, min=-3, max=3, description="erode", continuous_update=False))
    return widget, draw
