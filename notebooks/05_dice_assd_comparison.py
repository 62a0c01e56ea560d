# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Dice, ASSD and the comparison of Table 1
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ctl-teaching/ctl/blob/main/notebooks/05_dice_assd_comparison.ipynb)
#
# **What this notebook teaches**
# - the two scores of the paper's Table 1: Dice (overlap) and ASSD (average symmetric surface distance), drawn
#   on a tiny example, and why ASSD must be measured in millimetres when voxels are not cubes;
# - the evaluation protocol: every MR test volume once, slices predicted and stacked back into 3D, scored at
#   the volume's spacing, averaged across volumes and seeds;
# - Table 1 for every method of this run beside the paper's printed rows, with the two bounds (CT-only
#   training and MR-label training);
# - the paper's Figures 2 and 3 redrawn on our data, and box plots of every volume's score;
# - the measure the paper left for future work: how faithful each translation is (against a paired truth,
#   against the CT labels, and as a distance to real MR), and whether that predicts the final Dice.
#
# **Exercises** (they check themselves): 1 pooled ASSD against the mean of means on a toy where they differ,
# 2 Dice and ASSD of an eroded organ in millimetres, 3 a bootstrap interval before calling one method better.
# **Time and hardware**: printed under the setup cell.

# %% [markdown]
# **Setup.** On Colab the next cell installs `ctl` at its released version (keeping Colab's own torch), says
# which preset fits the runtime and, with `USE_DRIVE = True`, keeps `RUN_DIR` on Google Drive so that training
# resumes after a lost runtime; everywhere else it does nothing.

# %%
import subprocess
import sys

USE_DRIVE = False  # Colab only: True keeps RUN_DIR on your Google Drive, so training resumes after a lost runtime
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "ctl @ git+https://github.com/ctl-teaching/ctl@v0.1.0"], check=True)
    from ctl.teach.colab import colab_setup

    colab_setup(use_drive=USE_DRIVE)

# %% tags=["parameters"]
PRESET = "cpu"  # ci, cpu, gpu or paper; the environment variable CTL_PRESET overrides it
DATA_SOURCE = "phantom"  # "phantom" (made here, nothing to download) or "real" (BTCV + CHAOS, see notebook 01)
DATA_DIR = "../data"  # raw and prepared data
RUN_DIR = "../runs/notebooks"  # trained models, figures and results
SEED = 0

# %%
from ctl.teach.context import setup_notebook

ctx = setup_notebook("05_dice_assd_comparison", PRESET, DATA_SOURCE, DATA_DIR, RUN_DIR, SEED)

# %%
from IPython.display import Markdown, display

from ctl.teach.overview import time_and_hardware

display(Markdown(time_and_hardware("05_dice_assd_comparison")))

# %% [markdown]
# ## 1. Two scores of a segmentation
#
# Let $P$ be the set of voxels a method labels as, say, the liver, and $T$ the true liver voxels.
#
# **Dice** counts overlap: $\mathrm{Dice}(P, T) = \dfrac{2\,|P \cap T|}{|P| + |T|}$, 1 for a perfect
# prediction, 0 when they do not touch. It does not see *where* the errors are: a thin rim missed all around
# the organ and a stray blob far from it can cost the same.
#
# **ASSD** looks at boundaries. The surface $\partial A$ of a mask is its voxels that touch the background
# through a face (the mask minus its erosion). For a surface voxel $a$ of one mask, $d(a, \partial B)$ is its
# distance to the nearest surface voxel of the other. Averaging over both surfaces gives
#
# $$\mathrm{ASSD} = \frac{\sum_{a \in \partial P} d(a, \partial T) + \sum_{b \in \partial T} d(b, \partial P)}
#                        {|\partial P| + |\partial T|} \qquad\text{(pooled)},$$
#
# the mean distance between the two boundaries, in millimetres: 0 for a perfect prediction, large for a false
# blob far from the organ. An older definition (medpy up to 0.4) averages the two *directed* means instead,
# $\tfrac12\big(\overline{d}(\partial P \to \partial T) + \overline{d}(\partial T \to \partial P)\big)$; the two
# differ when the two surfaces have different sizes and different mean distances: the pooled mean weighs each
# direction by its number of surface voxels, the mean of means weighs the two directions equally. We use the
# pooled one (medpy from 0.5.2, MONAI) everywhere and compare both on this run's predictions in section 5.
#
# Here is a tiny 2D example where they differ: a rectangular "organ" and an under-segmentation that finds only
# its left third (what a CT-trained model often does on MR). The prediction's surface is small and close to the
# truth's; the truth's surface is large and much of it is far from the prediction. Each arrow goes from a surface
# pixel to the nearest surface pixel of the other mask; pixels on both surfaces have distance 0 (no arrow).

# %%
# NBVAL_CHECK_OUTPUT
import matplotlib.pyplot as plt
import numpy as np

from ctl.evaluate.metrics import assd, dice, surface_distances
from ctl.teach.evaluation_plots import anisotropy_picture, surface_distance_picture

truth = np.zeros((14, 16), bool)
truth[3:9, 3:12] = True
pred = np.zeros_like(truth)
pred[4:8, 3:6] = True  # the left third of the organ, a row short at the top and at the bottom

to_truth, to_pred = surface_distances(pred, truth, spacing=(1.0, 1.0))
print(f"Dice = 2 x {(pred & truth).sum()} / ({pred.sum()} + {truth.sum()}) = {dice(pred, truth):.3f}")
print(f"P -> T: {to_truth.size} surface pixels, distances sum to {to_truth.sum():.2f} mm")
print(f"T -> P: {to_pred.size} surface pixels, distances sum to {to_pred.sum():.2f} mm")
print(f"pooled ASSD        = ({to_truth.sum():.2f} + {to_pred.sum():.2f}) / ({to_truth.size} + {to_pred.size})"
      f" = {assd(pred, truth, (1.0, 1.0)).value:.3f} mm")
print(f"mean of the means  = ({to_truth.mean():.3f} + {to_pred.mean():.3f}) / 2"
      f" = {assd(pred, truth, (1.0, 1.0), mode='mean_of_means').value:.3f} mm")
larger = "T -> P" if to_pred.size > to_truth.size else "P -> T"
print(f"the two differ by {abs(assd(pred, truth, (1.0, 1.0)).value - assd(pred, truth, (1.0, 1.0), mode='mean_of_means').value):.3f} mm: "
      f"the pooled mean gives the larger surface ({larger}) more weight")

# %%
fig = surface_distance_picture(pred, truth, spacing=(1.0, 1.0))
ctx.save_figure(fig, "surface-distance")
plt.show()

# %% [markdown]
# ### Exercise 1: pooled or mean of means?
# A 8 x 8 organ and a prediction of its central 4 x 4, on pixels of 1.5 mm (rows) by 1 mm (columns). Compute
# both ASSDs in mm with `surface_distances` (section 1's cell shows how it is called), then explain from the
# sizes of the two surfaces why the pooled one is larger.

# %%
from ctl.teach.exercises_results import check_assd_modes

square = np.zeros((12, 12), bool)
square[2:10, 2:10] = True
centre = np.zeros_like(square)
centre[4:8, 4:8] = True
pooled_mm = None  # pooled ASSD of `centre` against `square`, in mm
mean_of_means_mm = None  # the mean of the two directed means, in mm
check_assd_modes(pooled_mm, mean_of_means_mm, centre, square, (1.5, 1.0))

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
# Solution: the truth has 28 surface pixels, the prediction 12; the truth's are farther from the other surface on
# average, and the pooled mean counts each of its 28 once, the mean of means counts that direction as one half.
p_to_t, t_to_p = surface_distances(centre, square, spacing=(1.5, 1.0))
pooled_mm = (p_to_t.sum() + t_to_p.sum()) / (p_to_t.size + t_to_p.size)
mean_of_means_mm = (p_to_t.mean() + t_to_p.mean()) / 2
print(f"|dP| = {p_to_t.size}, |dT| = {t_to_p.size}; means {p_to_t.mean():.3f} and {t_to_p.mean():.3f} mm")
check_assd_modes(pooled_mm, mean_of_means_mm, centre, square, (1.5, 1.0))

# %% [markdown]
# ## 2. Why millimetres
#
# A CT or MR volume is a stack of slices: the voxels are often 0.7-1.5 mm wide in the slice but 3-9 mm apart
# between slices. A boundary one voxel off *between* slices is several times farther away than one voxel off
# *within* a slice. Counted in voxels the two errors look the same; in millimetres they do not. Below, a
# coronal cut through a volume with 3 mm slices (vertical) and 0.8 mm pixels (horizontal), drawn to scale: an
# organ of 4 x 4 voxels and two predictions, each shifted by exactly one voxel. By symmetry the two errors are
# the same in voxels. In millimetres the shift across slices costs more (not the full 3 / 0.8 = 3.75 times: some
# surface voxels find their nearest counterpart along the short in-plane axis).

# %%
organ = np.zeros((10, 14), bool)
organ[3:7, 5:9] = True  # 4 x 4 voxels: 12 mm tall, 3.2 mm wide
fig = anisotropy_picture(organ, {"one slice up": (-1, 0), "one pixel left": (0, -1)}, spacing=(3.0, 0.8))
ctx.save_figure(fig, "anisotropy")
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
in_voxels = [assd(np.roll(organ, s, axis=(0, 1)), organ, unit="voxel").value for s in ((-1, 0), (0, -1))]
in_mm = [assd(np.roll(organ, s, axis=(0, 1)), organ, (3.0, 0.8)).value for s in ((-1, 0), (0, -1))]
print(f"one slice up  : ASSD {in_voxels[0]:.3f} voxel, {in_mm[0]:.3f} mm")
print(f"one pixel left: ASSD {in_voxels[1]:.3f} voxel, {in_mm[1]:.3f} mm")
print(f"in mm the shift across slices counts {in_mm[0] / in_mm[1]:.2f} times the in-plane one")

# %% [markdown]
# **Explore.** Shift the prediction and erode it (negative: dilate) and watch the two scores part: Dice counts
# overlapping voxels, ASSD how far the boundaries are in mm at this spacing (3 mm between rows, 0.8 mm between
# columns). With a live kernel, moving a control draws the new view under the controls; the figure below is the
# starting view.

# %%
from ctl.teach.plots import show_compact
from ctl.teach.widgets import dice_assd_explorer

toy = np.zeros((14, 20), bool)
toy[4:10, 5:13] = True  # 6 x 8 voxels: 18 mm tall, 6.4 mm wide
widget, draw = dice_assd_explorer(toy, spacing=(3.0, 0.8))
display(widget)

# %%
show_compact(draw(shift_rows=1, shift_cols=0, erode=0))

# %% [markdown]
# ### Exercise 2: an eroded organ
# Erode the toy organ of the explorer by one voxel (no shift), at the same spacing. What are its Dice (a fraction)
# and its ASSD in mm? Predict first: every surface voxel moves by one voxel, 3 mm across rows or 0.8 mm across
# columns. Which edges of the organ hold more surface voxels, and where between 0.8 and 3 mm will the ASSD land?

# %%
from ctl.teach.exercises_results import check_dice_and_assd
from ctl.teach.widgets import shifted_and_eroded

eroded = shifted_and_eroded(toy, 0, 0, 1)
eroded_dice = None  # a fraction
eroded_assd_mm = None  # in mm
check_dice_and_assd(eroded_dice, eroded_assd_mm, eroded, toy, (3.0, 0.8))

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
# Solution: the eroded 4 x 6 block keeps 24 of 48 voxels: Dice = 2 x 24 / (24 + 48) = 0.667. Its surface sits one
# voxel inside the truth's: 3 mm away across rows (the long top and bottom edges, most of the surface voxels) and
# 0.8 mm across columns (the short sides); each surface voxel takes its nearest counterpart, so the ASSD lands
# between the two, at the value printed below.
eroded_dice = dice(eroded, toy)
eroded_assd_mm = assd(eroded, toy, (3.0, 0.8)).value
print(f"Dice {eroded_dice:.3f}, ASSD {eroded_assd_mm:.2f} mm")
check_dice_and_assd(eroded_dice, eroded_assd_mm, eroded, toy, (3.0, 0.8))

# %% [markdown]
# So every volume keeps its spacing (z, y, x) in mm, and ASSD is computed with it. The paper does not say in
# which unit its ASSD is; SIFA's public evaluation code measures in voxels of its resampled grid. We report mm
# in the main table and give the voxel table too, each labelled. Here are the spacings of our MR test volumes
# (after resampling the slices to `image_size` pixels):

# %%
from IPython.display import Markdown, display

from ctl import data

prepared = data.ensure_prepared(ctx.data_dir, ctx.preset, ctx.data_source, ctx.seed)
mr_test_ids = data.subject_ids(prepared, "mr", "test")
mr_test = {sid: data.load_volume(prepared, "mr", sid) for sid in mr_test_ids}  # for the figures below
rows = ["| MR test volume | slices x rows x columns | spacing z, y, x (mm) |", "|---|---|---|"]
rows += [f"| {sid} | {' x '.join(map(str, v.image.shape))} | {', '.join(f'{s:.2f}' for s in v.spacing)} |"
         for sid, v in mr_test.items()]
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## 3. The protocol
#
# The works that Table 1 compares with (SIFA, SynSeg-Net) score each test volume in 3D, so we do the same for every
# method (`ctl.evaluate`):
#
# 1. read the MR **test** subjects of the split, each once (no training subject, no CT, no paired MR);
# 2. segment each volume slice by slice with the method's segmenter and stack the predictions back in their
#    order (Z, H, W);
# 3. per organ, Dice and ASSD on that volume at its spacing;
# 4. mean and standard deviation across volumes; with several seeds (`preset.seeds`), each (volume, seed) pair
#    counts as one sample; the Mean column is the mean of the four organ means, as in the paper.
#
# An organ a method misses entirely (it predicts none of it) has no surface, so its ASSD is undefined. By default
# such volumes are left out of that organ's ASSD mean, and every mean says how many values it covers: `[3/4]` in
# an organ's cell, and in the Mean column the (volume, organ) pairs of the four organs, e.g. `[7/8]`
# (`ctl.evaluate.table1`). Leaving a miss out flatters the method, whose ASSD then covers only what it found, so
# the count goes wherever a mean goes: into the run's `summary.json` (`assd_values_<method>`, e.g. "7/8") and into
# the discussion of section 9. The other choice is a penalty: `EvalConfig(assd_miss_penalty="diagonal")`
# (`python -m ctl evaluate --assd-miss-penalty`) counts a miss as the diagonal of its volume, a distance no real
# boundary error can exceed, and the cells then say `[k pen.]`.
#
# How do the works of Table 1 treat a miss? The paper does not say. SIFA's public evaluation script
# (`evaluate.py` in github.com/cchen-cc/SIFA, written for its cardiac data) calls medpy's `assd` for every test
# volume and structure with no check for an empty prediction, and medpy raises an error when either mask is
# empty; a single missed structure stops that evaluation, so numbers it printed come from runs that predicted
# every structure in every test volume. It also averages with `np.mean` and `np.std` (ddof 0), as we do.
#
# Every method is trained with `load_or_train` in the run folders notebook 04 uses
# (`RUN_DIR/train/<method>-<preset>-seed<seed>/`): a method trained there is loaded, not trained again. The
# evaluation writes `metrics.json` and `metrics.csv` into each run folder; `python -m ctl evaluate --run
# RUN_DIR --data PREPARED` does the same from a terminal.

# %%
from ctl.evaluate import evaluate_method, table_methods
from ctl.methods import METHODS
from ctl.training import load_or_train, read_summary, run_folder

NAMES = table_methods()
SEEDS = ctx.preset.seeds
methods, evaluations = {}, {}
rows = ["| method | seed | training iterations | training time (s) | reads MR labels |", "|---|---|---|---|---|"]
for name in NAMES:
    for seed in SEEDS:
        folder = run_folder(ctx.run_dir, name, ctx.preset.name, seed, ctx.data_source)
        methods[name, seed] = load_or_train(name, prepared, ctx.preset, folder, seed=seed, device=ctx.device)
        evaluations[name, seed] = evaluate_method(methods[name, seed], prepared, seed=seed, run_dir=folder,
                                                  device=ctx.device, info={"preset": ctx.preset.name})
        summary = read_summary(folder)
        flag = "**yes (upper bound)**" if METHODS[name].uses_target_labels else "no"
        rows.append(f"| `{name}` | {seed} | {summary['iterations']} | {summary['seconds']:.0f} | {flag} |")
display(Markdown("\n".join(rows)))
records = [r for ev in evaluations.values() for r in ev.records]
print(f"{len(NAMES)} methods x {len(SEEDS)} seed(s), {len(mr_test_ids)} MR test volume(s): {len(records)} records")

# %% [markdown]
# ## 4. Table 1
#
# Our rows beside the paper's printed rows. **The paper's rows are real CT → MR data (BTCV → CHAOS) and are
# copied from the paper; ours are this run's data** (the phantom unless `DATA_SOURCE = "real"`), so compare
# orderings and gaps, not the numbers themselves. `source_only` and `oracle` are not in the paper: they bound
# what adaptation can do here (the oracle reads the MR labels, which no unsupervised method may).

# %%
from ctl.evaluate import comparison, data_label, write_tables

label = data_label(prepared, ctx.preset.name, records)
results, table_mm = comparison(records, "mm", data_label=label)
display(Markdown(table_mm.to_markdown()))
write_tables(ctx.run_dir, records, label)
print(f"written: {ctx.run_dir / 'table1.md'} and table1.csv")
for name, result in results.items():  # "n/a" where an organ had no defined value in any volume
    ctx.record(f"dice_mean_{name}", round(result.dice_mean, 2) if np.isfinite(result.dice_mean) else "n/a", "%")
    ctx.record(f"assd_mean_{name}", round(result.assd_mean, 3) if np.isfinite(result.assd_mean) else "n/a", "mm")
    defined, total, _ = result.assd_counts  # misses left out of assd_mean: it covers defined of total values
    ctx.record(f"assd_values_{name}", f"{defined}/{total}", "(volume, organ) pairs in assd_mean")
if ctx.preset.name == "ci":
    print("(ci preset: a few iterations on tiny images; a smoke test, these numbers mean nothing)")

# %% [markdown]
# **The paper's method, trained far longer.** The package ships reference weights of `ours` trained by its own
# code for many more iterations than this run (`ctl.training.reference`; not trained here). Scored here on the same
# MR test volumes, it shows how far the row of `ours` above is from what longer training gives:

# %%
from ctl.evaluate import evaluate_segmenter
from ctl.evaluate.table1 import summarize
from ctl.organs import ORGAN_ORDER
from ctl.teach.references import reference_or_reason

reference, about = reference_or_reason("ours", ctx.preset, ctx.device, ctx.data_source)
print(about)
if reference is not None:
    long_records = [r for r in evaluate_segmenter(reference.method.segmenter, prepared, method=reference.label,
                                                  device=ctx.device).records if r["assd_unit"] == "mm"]
    long_result = summarize(long_records, reference.label)
    print(f"{reference.label}: mean Dice {long_result.dice_mean:.1f} % (this run's ours: "
          f"{results['ours'].dice_mean:.1f} %), mean ASSD {long_result.assd_mean:.2f} mm; per organ Dice "
          + ", ".join(f"{o} {long_result.dice[o].mean:.1f}" for o in ORGAN_ORDER))
    ctx.record("dice_mean_ours_reference", round(long_result.dice_mean, 2), "%")

# %% [markdown]
# The same table with ASSD counted in voxels, as SIFA's evaluation does (Dice does not change):

# %%
_, table_voxel = comparison(records, "voxel", data_label=label, include_paper=False)
display(Markdown(table_voxel.to_markdown()))

# %% [markdown]
# ## 5. Pooled ASSD against the mean of the two directed means
#
# Section 1 defined both. Here they are on this run's predictions of the paper's method (first seed): where
# a prediction's surface is much larger or smaller than the truth's, the two weigh the directions differently
# (the line under the table says how far apart they are in this run).

# %%
from ctl.evaluate.metrics import score_volume
from ctl.organs import ORGAN_ORDER, ORGAN_TITLES

shown_method = "ours" if "ours" in NAMES else NAMES[0]
ev = evaluations[shown_method, SEEDS[0]]
rows = ["| organ | pooled ASSD (mm) | mean of directed means (mm) | volumes with both surfaces |", "|---|---|---|---|"]
gaps = []
for organ in ORGAN_ORDER:
    pooled, halves = [], []
    for sid, volume in mr_test.items():
        prediction = ev.predictions[sid]
        a = score_volume(prediction, volume.label, volume.spacing, mode="pooled")[organ]
        b = score_volume(prediction, volume.label, volume.spacing, mode="mean_of_means")[organ]
        if a.status == "ok":
            pooled.append(a.assd)
            halves.append(b.assd)
    cells = (f"{np.mean(pooled):.2f}", f"{np.mean(halves):.2f}") if pooled else ("n/a", "n/a")
    if pooled:
        gaps.append((abs(np.mean(pooled) - np.mean(halves)), ORGAN_TITLES[organ]))
    rows.append(f"| {ORGAN_TITLES[organ]} | {cells[0]} | {cells[1]} | {len(pooled)} of {len(mr_test)} |")
display(Markdown(f"`{shown_method}`, seed {SEEDS[0]}\n\n" + "\n".join(rows)))
if gaps:
    print("the two definitions differ most for the {1}: by {0:.2f} mm (means over volumes)".format(*max(gaps)))

# %% [markdown]
# ## 6. Figure 3, redrawn: segmentations on the same MR slices
#
# Rows are MR test slices (spread over the slices that hold organs); columns are the MR, the truth, and every
# method's prediction (first seed). The colours (legend under the figure) keep the hues of the paper's Fig. 3.
# The patient's right is on the image's left, so the right kidney is on the image's left.

# %%
from ctl.teach.evaluation_plots import box_plots
from ctl.teach.plots import representative_slices, segmentation_grid
from ctl.teach.widgets import prediction_viewer

per_subject = 3 if len(mr_test) == 1 else 1
picks = [(sid, z) for sid in mr_test_ids[:3] for z in representative_slices(mr_test[sid].label, per_subject)]
fig = segmentation_grid([mr_test[s].image[z] for s, z in picks], [mr_test[s].label[z] for s, z in picks],
                        {name: [evaluations[name, SEEDS[0]].predictions[s][z] for s, z in picks] for name in NAMES},
                        row_titles=[f"{s}, slice {z}" for s, z in picks])
ctx.save_figure(fig, "figure3-segmentations")
show_compact(fig)

# %% [markdown]
# **Every slice, every method.** The first MR test subject, slice by slice (with a live kernel, moving the slider
# draws the new view under it; the figure below is the starting view). Each title gives the share of organ pixels
# the method labels correctly there.

# %%
first = mr_test_ids[0]
widget, draw = prediction_viewer(mr_test[first], {name: evaluations[name, SEEDS[0]].predictions[first]
                                                  for name in NAMES})
display(widget)

# %%
show_compact(draw())

# %% [markdown]
# ## 7. Every volume's score
#
# A mean and a standard deviation hide how few volumes there are and whether one of them fails. Each dot is one
# test volume (and seed); boxes span the middle half. A method that misses an organ in a volume has no ASSD
# there: the title counts such cases.

# %%
fig = box_plots(records, NAMES, "mm")
ctx.save_figure(fig, "box-plots")
plt.show()

# %% [markdown]
# ### Exercise 3: is the best method better, or lucky?
# Take the two methods with the highest mean Dice in Table 1, the bounds left out. For each MR test
# volume, compute the difference of their Dice (mean over the four organs, in points; first seed). Draw 10,000
# bootstrap resamples of those differences (volumes drawn with replacement, as many as there are), take the mean
# of each, and report the 2.5 and 97.5 percentiles: a 95 % interval for the mean difference. Does it exclude 0?
# (`records` holds one dict per method, seed, volume and organ, with "dice" as a fraction.)

# %%
from ctl.evaluate.table1 import BOUNDS
from ctl.teach.exercises_results import check_bootstrap_interval

ranked = sorted((n for n in NAMES if n not in BOUNDS), key=lambda n: -results[n].dice_mean)[:2]
print(f"compare {ranked[0]} ({results[ranked[0]].dice_mean:.1f}) with {ranked[1]} ({results[ranked[1]].dice_mean:.1f})"
      if len(ranked) == 2 else "fewer than two methods to compare")
per_volume_difference = None  # one value per MR test volume: Dice of the first minus Dice of the second, in points
interval = None  # (low, high), in points
excludes_zero = None  # True or False
check_bootstrap_interval(interval, excludes_zero, per_volume_difference)

# %% tags=["solution"]
# Solution: differences per volume (the pairing removes what the volumes share), then a percentile bootstrap.


def volume_dice(method, subject):
    """Mean Dice (%) over the four organs of one method on one volume, first seed (notebook 05, exercise 3)."""
    values = [r["dice"] for r in records if r["method"] == method and r["subject"] == subject
              and r["seed"] == SEEDS[0] and r["assd_unit"] == "mm"]
    return 100 * float(np.mean(values))


per_volume_difference = np.array([volume_dice(ranked[0], sid) - volume_dice(ranked[1], sid) for sid in mr_test_ids])
resampled = np.random.default_rng(ctx.seed).choice(per_volume_difference, (10_000, len(per_volume_difference)))
interval = tuple(np.percentile(resampled.mean(axis=1), [2.5, 97.5]))
excludes_zero = bool(interval[0] > 0 or interval[1] < 0)
print(f"differences per volume: {np.round(per_volume_difference, 1).tolist()}; 95 % interval of the mean "
      f"({interval[0]:.1f}, {interval[1]:.1f}) points")
check_bootstrap_interval(interval, excludes_zero, per_volume_difference)

# %% [markdown]
# ## 8. How faithful are the translations?
#
# The paper shows translated images (its Fig. 2) and leaves a quantitative measure to future work. Four of the
# methods translate CT into MR-like images before segmenting; for each, on the CT **test** subjects:
#
# - **paired truth** (phantom only): the phantom renders each CT subject's anatomy as MR too, so $G(x^s)$ can
#   be compared with the MR it should be: SSIM (local means, contrasts and correlation, 1 = identical) and PSNR
#   inside the body and in each organ;
# - **content against the labels**: segment $G(x^s)$ with the oracle's segmenter (trained on real MR) and score
#   it against the CT labels $y^s$; organs moved or erased by the translation are not found where $y^s$ has
#   them;
# - **distance to real MR**: a kernel distance (KID-style, unbiased MMD$^2$) between features of translated
#   slices and of real MR test slices, from a fixed random network (`ctl.evaluate.fidelity`); 0 means the two
#   sets are indistinguishable to those features.
#
# On real data no MR of the CT patient exists, so only the last two apply (with `DATA_SOURCE = "real"` the code
# below skips the paired measure). Two reference rows frame the methods: the CT without translation and, on the
# phantom, the paired truth itself (a perfect translation).

# %%
from ctl.evaluate import translator_of
from ctl.evaluate.translation_fidelity import (MEASURES, NO_TRANSLATION, PAIRED_TRUTH, FidelityConfig,
                                               rank_correlations, translation_fidelity)

translators = {name: translator_of(methods[name, SEEDS[0]]) for name in NAMES}
translators = {name: t for name, t in translators.items() if t is not None}
print("methods that translate CT to MR:", list(translators) or "none",
      "| without translate():", [n for n in NAMES if n not in translators])
measured = dict(translators)  # this run's translators, and the reference G of `ours` (labelled as such)
if reference is not None:
    measured[reference.label] = reference.method.translate
oracle = methods["oracle", SEEDS[0]].segmenter
fidelity = translation_fidelity(measured, prepared, oracle, data_source=ctx.data_source, device=ctx.device,
                                config=FidelityConfig())

# %% [markdown]
# **Figure 2, redrawn.** The same CT test slices translated by every translation method, beside the paired MR
# truth (phantom only). The coloured lines are the CT's organ outlines (legend under the figure): the anatomy
# each translation should keep. Look for organs that leave their outline, vanish or appear, and for the contrast
# between liver, spleen and kidneys (in T2 MR the spleen is brighter than the liver, the kidneys brightest).

# %%
from ctl.teach.evaluation_plots import fidelity_scatter
from ctl.teach.plots import translation_rows

ct_id = data.subject_ids(prepared, "ct", "test")[0]
ct_volume = data.load_volume(prepared, "ct", ct_id)
zs = representative_slices(ct_volume.label, 3)
paired = fidelity[PAIRED_TRUTH].translated if PAIRED_TRUTH in fidelity else None
fig = translation_rows([(ct_id, z) for z in zs], {ct_id: ct_volume},
                       {name: fidelity[name].translated for name in measured}, paired, ct_title="CT input")
ctx.save_figure(fig, "figure2-translations")
show_compact(fig)

# %% [markdown]
# **Every slice.** The same comparison through the whole CT test volume (with a live kernel, moving the slider
# draws the new view under it; the figure below is the starting view).

# %%
from ctl.teach.widgets import translation_viewer

widget, draw = translation_viewer(ct_volume, {name: fidelity[name].translated[ct_id] for name in measured},
                                  paired[ct_id] if paired is not None else None)
display(widget)

# %%
show_compact(draw(zs[len(zs) // 2]))

# %%
summaries = {name: report.summary() for name, report in fidelity.items()}
columns = [("ssim_body", "SSIM body", ".3f"), ("ssim_liver", "SSIM liver", ".3f"), ("ssim_spleen", "SSIM spleen", ".3f"),
           ("psnr_body_db", "PSNR body (dB)", ".1f"), ("content_dice", "content Dice (%)", ".1f"),
           ("content_assd", "content ASSD (mm)", ".2f"), ("kid", "kernel distance", ".2e")]
columns = [c for c in columns if any(s.get(c[0]) is not None for s in summaries.values())]
rows = ["| translation | " + " | ".join(c[1] for c in columns) + " |", "|---|" + "---|" * len(columns)]
for name, s in summaries.items():
    cells = ["n/a" if s.get(k) is None else f"{s[k]:{spec}}" for k, _, spec in columns]
    rows.append(f"| {'*' + name + '* (reference)' if name in (NO_TRANSLATION, PAIRED_TRUTH) else name} | "
                + " | ".join(cells) + " |")
display(Markdown("\n".join(rows)))
for name in measured:
    key_name = "ours_reference" if name not in translators else name
    for key in ("ssim_body", "content_dice", "kid"):
        if summaries[name].get(key) is not None and np.isfinite(summaries[name][key]):
            ctx.record(f"fidelity_{key}_{key_name}", float(f"{summaries[name][key]:.4g}"),
                       "%" if key == "content_dice" else "")
if ctx.data_source == "real":
    print("real data: no paired MR exists, so SSIM/PSNR against a truth cannot be measured; "
          "only the label-based content score and the distance to real MR apply")
truth_kid = summaries.get(PAIRED_TRUTH, {}).get("kid")
if truth_kid is not None:
    closer = [n for n in measured if summaries[n].get("kid") is not None and summaries[n]["kid"] < truth_kid]
    print(f"kernel distance of the paired truth itself: {truth_kid:.2e}; "
          + (f"lower than it (closer to real MR): {', '.join(closer)}" if closer
             else "every translation is farther from real MR than the truth"))

# %% [markdown]
# **A reference that behaves unexpectedly.** The last line compares the paired truth's kernel distance with the
# translations'. If some translations are *closer* to real MR than the truth is, that is not a bug and not a
# better translation: the kernel distance compares the *distribution* of features of the translated CT slices
# with that of the MR test slices of *other* subjects, scanned on another grid. The paired truth is MR of the CT
# subjects' anatomy on the CT grid, so its slices differ from the MR test set in body shapes, slice positions
# and field of view, and a translation can match the test set's feature statistics more closely without being
# faithful to its own patient; with few slices the estimate is also noisy. That is why the measure is read as
# "looks like MR in general", and only the paired columns say "is the right MR".

# %% [markdown]
# **Does fidelity predict Dice?** Each dot is a translation method: a fidelity measure (x) against the mean
# Dice of its segmenter on the MR test volumes (y, Table 1's Mean). Spearman's $\rho$ compares rankings:
# +1 when the better-translating method always segments better (for the kernel distance, where lower is better,
# that is $\rho = -1$). With four methods at most, a single swap moves $\rho$ a lot: read it as a hint.

# %%
dice_means = {name: results[name].dice_mean for name in translators}
correlations = rank_correlations(summaries, dice_means)
fig = fidelity_scatter({n: summaries[n] for n in translators}, dice_means, MEASURES, correlations)
ctx.save_figure(fig, "fidelity-vs-dice")
plt.show()
for key, c in correlations.items():
    shown = "n/a (fewer than 3 methods or no spread)" if c["rho"] is None else f"{c['rho']:+.2f}"
    print(f"{MEASURES[key][0]:<48} Spearman rho vs mean Dice: {shown}  (n = {c['n']})")
    if c["rho"] is not None:
        ctx.record(f"spearman_{key}_vs_dice", round(c["rho"], 3), "")

# %% [markdown]
# ## 9. Discussion, computed from this run
#
# The sentences below are generated from the numbers of this run (`ctl.teach.discussion`), so they stay true when
# the preset, the seed or the data change. Read them with the tables above. One number comes from outside this
# run, and the sentence says so: how far each method's mean Dice moves between training seeds, measured by
# `benchmarks/heldout.py` on phantoms no notebook uses and shipped with the package (a run here has one seed:
# three would triple notebook 04's training). Where no such measurement exists for the preset, the sentence is
# left out.

# %%
from ctl.teach.discussion import discussion
from ctl.teach.measurements import seed_spread

display(Markdown("\n".join(f"- {line}" for line in discussion(results, seed_spread(ctx.preset.name)))))

# %% [markdown]
# Questions to answer from the tables and figures (exercise 3 above is the first one, worked):
#
# - Is the ordering of methods here the paper's? Where it differs, is the difference larger than the spread
#   across volumes (section 7), and would another seed change it?
# - Which organ is hardest here, and in the paper? Is it the smallest one, or the one whose contrast changes
#   most between CT and MR?
# - Do Dice and ASSD agree? A method can overlap well and still place a small false blob far away (high ASSD).
# - Does a more faithful translation (section 8) give a better segmenter? If not, what else does the segmenter
#   learn from: the anatomy kept by PatchNCE, or the MR-like contrast?
# - Our phantom is simpler than BTCV and CHAOS. Which conclusions would you expect to carry over to real data,
#   and which not?

# %% [markdown]
# **What to remember.** Dice counts overlap, ASSD measures how far boundaries are, in millimetres at the
# volume's own spacing; both are computed per test volume in 3D and averaged across volumes (and seeds). Our
# Table 1 is a phantom result beside the paper's real-data numbers: compare orderings and gaps between the
# bounds, not values. Translation fidelity can be measured directly on the phantom (paired truth) and
# indirectly on real data (labels, distribution), and the last plot asks whether it matters for segmentation.
