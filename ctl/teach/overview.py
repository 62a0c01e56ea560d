"""Helpers of ``00_overview.ipynb``: the map of the notebook series and the pipeline figure of the paper."""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ctl.teach.measurements import read_records

# (notebook, what it teaches)
SERIES = (
    ("00_overview", "the clinical problem, the paper's pipeline, how to run the series"),
    ("01_data_preparation", "CT and MR phantom and real data: formats, HU windowing, resampling, splits by subject"),
    ("02_lsgan_translation", "least-squares GANs; CT->MR translation with and without PatchNCE"),
    ("03_patchnce_derivation", "InfoNCE from an (N+1)-way softmax, temperature, negatives, patches per layer"),
    ("04_segmentation_training", "the joint objective (eq. 1); ours against source-only and oracle bounds"),
    ("05_dice_assd_comparison", "Dice and ASSD in 3D; Table 1 and Figures 2-3 on our runs"),
)


def measured_times(records: list[dict] | None = None) -> dict[str, dict[str, float]]:
    """Seconds per notebook per preset, from the package's ``measured/notebook_times_<preset>.json`` (measured
    by ``benchmarks/notebook_times.py``; ``records`` instead, if given); presets never measured are absent."""
    times: dict[str, dict[str, float]] = {}
    for record in read_records("notebook_times") if records is None else records:
        for row in record["notebooks"]:
            times.setdefault(row["notebook"].removesuffix(".ipynb"), {})[record["preset"]] = row["seconds"]
    return times


def series_table(times: dict[str, dict[str, float]] | None = None) -> str:
    """A markdown table: notebook, what it teaches, measured minutes per preset ("-" where not measured); every
    row has as many cells as the header, also when no preset was measured (then only two columns)."""
    times = measured_times() if times is None else times
    presets = sorted({p for row in times.values() for p in row}, key=["ci", "cpu", "gpu", "paper"].index)
    lines = ["| " + " | ".join(["notebook", "teaches"] + [f"{p} (min)" for p in presets]) + " |",
             "|" + "---|" * (2 + len(presets))]
    for name, teaches in SERIES:
        cells = [f"{times[name][p] / 60:.1f}" if p in times.get(name, {}) else "-" for p in presets]
        lines.append("| " + " | ".join([f"`{name}`", teaches] + cells) + " |")
    return "\n".join(lines)


def _box(ax, xy, text, color, width=1.7, height=0.8):
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.05", fc=color, ec="0.2", lw=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=10)


def _arrow(ax, start, end, text="", color="0.2", style="-|>"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14, color=color, lw=1.4))
    if text:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.18, text, ha="center", fontsize=9,
                color=color)


def draw_pipeline() -> plt.Figure:
    """The paper's Fig. 1 redrawn as a diagram: who feeds whom, and which loss of eq. 1 acts where (notebook 00)."""
    fig, ax = plt.subplots(figsize=(11, 4.6))
    ax.set_xlim(0, 12)
    ax.set_ylim(0, 5)
    ax.axis("off")
    ct, mr, net, loss = "#cfe2f3", "#f4cccc", "#fff2cc", "#d9ead3"
    _box(ax, (1.0, 3.8), "CT slice $x^s$\n(labelled $y^s$)", ct)
    _box(ax, (3.6, 3.8), "generator $G$\n(enc. + dec.)", net)
    _box(ax, (6.3, 3.8), "translated\n$x^{s\\to t}=G(x^s)$", mr)
    _box(ax, (9.0, 3.8), "U-Net $U$", net)
    _box(ax, (11.1, 3.8), "$L_{seg}$ vs $y^s$\n(eq. 12-14)", loss, width=1.6)
    _box(ax, (6.3, 1.0), "MR slice $x^t$\n(no labels)", mr)
    _box(ax, (9.0, 1.9), "discriminator $D$", net)
    _box(ax, (11.1, 1.9), "$L_{gen}, L_{dis}$\n(eq. 2-3)", loss, width=1.6)
    _box(ax, (3.6, 1.9), "$F \\circ G_{enc}$ on\n$x^s$ and $x^{s\\to t}$", net)
    _box(ax, (3.6, 0.6), "$L_{PatchNCE}$\n(eq. 4-11)", loss)
    _arrow(ax, (1.85, 3.8), (2.75, 3.8))
    _arrow(ax, (4.45, 3.8), (5.45, 3.8))
    _arrow(ax, (7.15, 3.8), (8.15, 3.8))
    _arrow(ax, (9.85, 3.8), (10.3, 3.8))
    _arrow(ax, (6.6, 3.35), (8.6, 2.3), "fake")
    _arrow(ax, (7.15, 1.2), (8.2, 1.7), "real")
    _arrow(ax, (9.85, 1.9), (10.3, 1.9))
    _arrow(ax, (5.6, 3.4), (4.2, 2.35), "same patch\nlocations")
    _arrow(ax, (1.4, 3.35), (2.9, 2.3))
    _arrow(ax, (3.6, 1.45), (3.6, 1.05))
    ax.text(0.1, 0.05, "One objective (eq. 1): L_tot = L_gen + L_dis + L_seg + L_PatchNCE.  Adam #1 updates G, F "
            "and U; Adam #2 updates D (both lr 2e-4).", fontsize=9)
    fig.tight_layout()
    return fig
