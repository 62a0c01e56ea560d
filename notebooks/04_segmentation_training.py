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
# # 04 · Segmentation training: the joint objective, and the two bounds around it
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ctl-teaching/ctl/blob/main/notebooks/04_segmentation_training.ipynb)
#
# **What this notebook teaches**
# - the paper's full objective (eq. 1) term by term: which network computes each term, which gradient reaches
#   which network, which of the two optimizers applies it;
# - one iteration of the method in code: the discriminator first, then generator, projection head and
#   segmenter together;
# - the two reference points of every adaptation result: a U-Net trained on CT only (lower bound) and one
#   trained on labelled MR (upper bound, it *uses target labels*);
# - a training loop that can be stopped and resumed bit for bit (seeds, checkpoints, history);
# - reading the outcome: loss curves, predictions on MR test slices, 2D and 3D Dice per organ.
#
# **Exercises** (they check themselves): 1 which networks $\mathcal{L}_{seg}$ reaches, 2 the share of the gap
# between the bounds, 3 two variants of the method against the noise of a second seed (short runs on the small
# phantom). **Time and hardware**: printed under the setup cell.

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

ctx = setup_notebook("04_segmentation_training", PRESET, DATA_SOURCE, DATA_DIR, RUN_DIR, SEED)

# %%
from IPython.display import Markdown, display

from ctl.teach.overview import time_and_hardware

display(Markdown(time_and_hardware("04_segmentation_training")))

# %% [markdown]
# ## 1. The objective, term by term
#
# Notation: $x^s$ a CT slice with labels $y^s$, $x^t$ an MR slice (no labels), $G$ the CT→MR generator,
# $x^{s\to t} = G(x^s)$ the translated CT, $D$ the discriminator, $G_{enc}$ the encoder half of $G$, $F$ the
# projection head of PatchNCE, $U$ the U-Net. The paper trains all of them on one objective (eq. 1):
#
# $$\mathcal{L}_{tot} = \mathcal{L}_{gen} + \mathcal{L}_{dis} + \mathcal{L}_{seg} + \mathcal{L}_{PatchNCE}.$$
#
# The four terms pull on different networks:
#
# | term | eq. | what it compares | gradient reaches | applied by |
# |---|---|---|---|---|
# | $\mathcal{L}_{dis} = \mathbb{E}[D(G(x^s))^2] + \mathbb{E}[(D(x^t)-1)^2]$ | 3 | D's scores of translated CT (target 0) and real MR (target 1); $G(x^s)$ is detached | $D$ | Adam #2 |
# | $\mathcal{L}_{gen} = \mathbb{E}[(D(G(x^s))-1)^2]$ | 2 | D's score of translated CT, now with target 1 | $G$ (through a frozen $D$) | Adam #1 |
# | $\mathcal{L}_{PatchNCE} = \mathcal{L}^S(x^s, G(x^s)) + \mathcal{L}^T(x^t, G(x^t))$ | 4-11 | each patch of the translation must pick its own source patch among the others, in $F(G_{enc}(\cdot))$ | $G$, $F$ | Adam #1 |
# | $\mathcal{L}_{seg} = \mathcal{L}_{wce} + \mathcal{L}_{dl}$ on $(U(G(x^s)), y^s)$ | 12-14 | U's prediction on translated CT against the CT labels | $U$ and $G$ | Adam #1 |
#
# "Minimising" a sum whose terms fight each other ($D$ wants $\mathcal{L}_{dis}$ small, $G$ wants
# $\mathcal{L}_{gen}$ small, and the two are the same score seen from both sides) is really a game: each
# player descends its own terms with its own optimizer. The paper says so in its settings: two Adam optimizers
# (lr 0.0002), *one for the generator and the segmentation network, one for the discriminator*. We add $F$ to
# the first, as CUT does (F has no other optimizer), and take CUT's betas (0.5, 0.999) for both.
#
# **Order within an iteration.** As in CUT: translate the batch once; step $D$ on $\mathcal{L}_{dis}$; then,
# with $D$'s parameters frozen (it still passes gradients back to $G$), step $G$, $F$, $U$ on
# $\mathcal{L}_{gen} + \mathcal{L}_{PatchNCE} + \mathcal{L}_{seg}$.
#
# **Does $\mathcal{L}_{seg}$ reach $G$?** Putting $G$ and $U$ in one optimizer changes nothing unless the
# gradient of $\mathcal{L}_{seg}$ flows through $x^{s\to t}$ into $G$, so we let it (the default
# `seg_grad_to_generator=True`). $G$ is then also asked to keep what $U$ needs to find the organs, a
# task-driven content term beside PatchNCE. The risk is a translation bent towards "easy for $U$" rather than
# "like MR"; $\mathcal{L}_{gen}$ holds it to MR's look. `OursConfig(seg_grad_to_generator=False)` trains $U$
# on a detached $G(x^s)$ for comparison.
#
# **F from the first batch.** $F$ is one small MLP per encoder layer, and its input width is that layer's
# channel count. CUT creates it on the first batch; so do we (`Method.setup`), before Adam #1 is built.

# %% [markdown]
# ### Exercise 1: where does $\mathcal{L}_{seg}$'s gradient go?
# With `OursConfig(seg_grad_to_generator=False)`, which of the four networks $G$, $D$, $F$, $U$ receive a
# gradient from $\mathcal{L}_{seg}$? Answer from the table and the paragraph above; the solution then checks it
# by experiment, on a method built at a tiny size.

# %%
from ctl.teach.exercises_results import check_seg_gradient_reach

reached_by_seg = None  # a set of names, e.g. {"G", "D"}
check_seg_gradient_reach(reached_by_seg, seg_grad_to_generator=False)

# %% tags=["solution"]
# Solution: U computes L_seg and G's output is detached before U sees it, so U alone. The experiment: build the
# method, compute L_seg on one batch the way its training step does, and list the networks with a gradient.
from dataclasses import replace

import torch

from ctl.losses import segmentation_loss
from ctl.methods import Ours, OursConfig
from ctl.presets import PRESETS

tiny = PRESETS["ci"]
for flag in (True, False):
    torch.manual_seed(0)
    method = Ours(replace(OursConfig.from_preset(tiny), seg_grad_to_generator=flag))
    ct_batch = torch.rand(2, 1, tiny.image_size, tiny.image_size)
    method.translator.build_projection(ct_batch)
    fake = method.translator.translate(ct_batch)
    logits = method.segmenter(fake if flag else fake.detach())
    segmentation_loss(logits, torch.randint(0, 5, (2, tiny.image_size, tiny.image_size))).backward()
    networks = {"G": method.translator.G, "D": method.translator.D, "F": method.translator.F, "U": method.segmenter}
    reached = {k for k, net in networks.items() if any(p.grad is not None and p.grad.abs().sum() > 0
                                                       for p in net.parameters())}
    print(f"seg_grad_to_generator={flag}: L_seg's gradient reaches {sorted(reached)}")
reached_by_seg = reached
check_seg_gradient_reach(reached_by_seg, seg_grad_to_generator=False)

# %% [markdown]
# ### The segmentation loss (eq. 12-14), and a misprint in eq. 14
#
# $U$ outputs class scores per pixel; after a softmax, $p_i^c$ is the probability of class $c$ (background,
# liver, right kidney, left kidney, spleen: $N_C = 5$) at pixel $i$, and $g_i^c \in \{0, 1\}$ the one-hot CT
# label. Eq. 12 adds two terms that fail in different ways:
#
# - **weighted cross-entropy** (eq. 13), $\mathcal{L}_{wce} = -\frac{1}{N}\sum_i \sum_c w_c\, g_i^c \log p_i^c$
#   with $w_c = 1 - N_c / N$ ($N_c$ pixels of class $c$ among the $N$ of the batch). Background covers most of
#   a slice, so unweighted CE is won by predicting background; the weight makes a kidney pixel count far more
#   than a background pixel.
# - **soft Dice** (eq. 14), which scores the overlap of each class as a whole, whatever its size.
#
# Eq. 14 as printed reads $1 - \sum_c \frac{\sum_i p_i^c g_i^c}{\sum_i (p_i^c)^2 + \sum_i (g_i^c)^2}$. Check it
# on a perfect prediction, $p = g$: each class gives $\frac{\sum g}{2 \sum g} = \frac12$, so the loss is
# $1 - N_C/2 = -1.5$, not 0, and it can go below zero. The factor 2 of the Dice coefficient and the average
# over classes were lost in print. We implement the soft Dice of V-Net (Milletari et al., 2016) that it is
# meant to be:
#
# $$\mathcal{L}_{dl} = 1 - \frac{1}{N_C}\sum_c \frac{2\sum_i p_i^c g_i^c}{\sum_i (p_i^c)^2 + \sum_i (g_i^c)^2},$$
#
# 0 for a perfect prediction and 1 for one that misses every class. The cell below computes both versions on a
# perfect and on a disjoint prediction (a tiny 2 x 5 label map, every class present); `ctl.losses.dice_loss`
# is the corrected one (`tests/test_losses_segmentation.py` also checks it against MONAI's `DiceLoss`).

# %%
# NBVAL_CHECK_OUTPUT
import torch

from ctl.losses import dice_loss


def printed_eq14(probs, target):
    """Eq. 14 exactly as printed in the paper (without the factor 2 and the class average): notebook 04 only."""
    onehot = torch.nn.functional.one_hot(target, probs.shape[1]).permute(0, 3, 1, 2).float()
    per_class = (probs * onehot).sum((0, 2, 3)) / ((probs ** 2).sum((0, 2, 3)) + (onehot ** 2).sum((0, 2, 3)))
    return 1 - per_class.sum()


label = torch.tensor([[[0, 1, 2, 3, 4], [4, 3, 2, 1, 0]]])  # (B=1, H=2, W=5): every class twice
perfect = torch.nn.functional.one_hot(label, 5).permute(0, 3, 1, 2).float()
disjoint = torch.roll(perfect, shifts=1, dims=1)  # every pixel given the next class
for name, probs in (("perfect", perfect), ("disjoint", disjoint)):
    print(f"{name:>8}: eq. 14 as printed {printed_eq14(probs, label).item():+.2f}, "
          f"corrected (ctl.losses.dice_loss) {dice_loss(probs, label).item():+.2f}")

# %% [markdown]
# ## 2. One iteration, as code
#
# This is the method's whole training step (`ctl/methods/ours.py`); the loop around it only feeds batches,
# counts iterations and saves checkpoints. The `self.amp` calls are plain `backward()` and `step()` on a CPU;
# on a GPU they add mixed precision (section 11).

# %%
import inspect

from IPython.display import Code, Markdown, display

from ctl.methods import Ours

display(Code(inspect.getsource(Ours.train_step), language="python"))

# %% [markdown]
# ## 3. The methods, one interface
#
# Every method of Table 1 is a small module on one interface (`ctl.methods.base.Method`): what it builds, one
# training step, and which network segments at test time. All of them use the same U-Net, the same training
# data, the same number of segmenter updates (`preset.iterations`) and the same evaluation, so that a
# difference in Dice comes from the method. Each declares the batch keys it reads; the loop gives MR labels
# only to a method that declares `uses_target_labels`, which only the oracle does.

# %%
from ctl.methods import METHODS

rows = ["| method | what it is | reads | uses MR labels |", "|---|---|---|---|"]
for name, cls in METHODS.items():
    if not cls.in_table1:  # the translators of notebook 02 (no segmenter) are not rows of Table 1
        continue
    flag = "**yes (upper bound)**" if cls.uses_target_labels else "no"
    rows.append(f"| `{name}` | {cls.description} | {', '.join(cls.batch_keys)} | {flag} |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## 4. Data
#
# The phantom prepared as in notebook 01. A training item pairs a CT slice and its labels with an MR slice
# drawn independently (the two are *unpaired*: different subjects, different anatomy). The MR labels exist on
# disk (the oracle and the evaluation read them), but the other methods never receive them.

# %%
import matplotlib.pyplot as plt
import numpy as np

from ctl import data

prepared = data.ensure_prepared(ctx.data_dir, ctx.preset, ctx.data_source, ctx.seed)
train_set = data.UnpairedSliceDataset(prepared, split="train")
print(f"prepared data: {prepared}")
print(f"training items (CT training slices): {len(train_set)}; keys of an item: {sorted(train_set[0])}")
print(f"MR test subjects: {data.subject_ids(prepared, 'mr', 'test')}")

# %%
from ctl.teach.plots import body_box, organ_legend, show_labels  # a slice with its organs; crop to the body

item = train_set[len(train_set) // 2]
ct_box, mr_box = body_box(item["ct"][0].numpy()), body_box(item["mr"][0].numpy())
fig, axes = plt.subplots(1, 3, figsize=(8, 2.8))
show_labels(axes[0], item["ct"][0][ct_box], None, "CT slice $x^s$")
show_labels(axes[1], item["ct"][0][ct_box], item["ct_label"][ct_box], "its labels $y^s$")
show_labels(axes[2], item["mr"][0][mr_box], None, "an unpaired MR slice $x^t$")
fig.tight_layout()
organ_legend(fig)
ctx.save_figure(fig, "training-item")
plt.show()

# %% [markdown]
# ## 5. Training `ours`, with the two bounds from notebook 01
#
# Notebook 01 trained the two bounds, `source_only` and `oracle`, into the folders this cell reads, so here they
# are loaded and only `ours` trains (run on its own, without notebook 01, the cell trains all three).
# `load_or_train` trains a method into its own run folder (`RUN_DIR/train/<method>-<preset>-seed<seed>/`),
# or loads it when that folder already holds a finished run of the same configuration (so notebook 05 reuses
# these models). A folder made with another configuration (say, after a change of the preset table) is renamed
# `<name>.replaced-<date-time>` and the method trained again. The folder holds `config.json`, `history.json` (one row of losses per iteration),
# checkpoints every `preset.checkpoint_every` iterations, and `final.pt`.
#
# **Stopping and resuming.** Interrupt the next cell (or lose the Colab session) and run it again: each
# method continues from its last checkpoint. On Colab the runtime's disk is lost with the session: set
# `USE_DRIVE = True` in the setup cell at the top before training, so that `RUN_DIR` lies on Google Drive.
# The checkpoint stores every network, both optimizers, every
# random-number generator, and the loss history; the data order is a function of the seed and the iteration
# alone. On a CPU the resumed run repeats the uninterrupted run's losses exactly (`tests/test_training_loop.py`
# checks this), as long as the number of CPU threads is the same (a different thread count sums in another
# order and drifts in the last bits).
#
# **Side by side on a CPU.** A training step of networks this small gains little from a second thread (on a
# 2-core CPU, two threads make a step about 1.5 times faster than one, not 2), so on a CPU `load_or_train_many`
# (`ctl.training.parallel`) trains the methods in processes of their own, as many at a time as there are cores
# and memory for, each with its share of the cores; on a 2-core CPU, two at a time on one thread each, which
# finishes sooner than one after the other on both threads (`benchmarks/parallel_training.py` measures the
# gain). On a GPU, and where memory is short (Binder), they train one after the other in this kernel, as
# `load_or_train` does. Each method's run is the one it would be alone at the same thread count.
#
# The training times below are wall-clock seconds of the run that made each model (kept in its `summary.json`,
# so they are shown also when a model is loaded), with the threads it had: a method that shared the CPU with
# another took longer than alone, while the cell as a whole took less. They grow a lot when other programs
# share the CPU.

# %%
import time

from ctl.training import load_history, read_summary, run_folder
from ctl.training.parallel import load_or_train_many

NAMES = ("source_only", "oracle", "ours")
start = time.perf_counter()
folders = {name: run_folder(ctx.run_dir, name, ctx.preset.name, ctx.seed, ctx.data_source)
           for name in ("ours", "source_only", "oracle")}  # the longest first, so that parallel workers end together
methods = load_or_train_many(folders, prepared, ctx.preset, seed=ctx.seed, device=ctx.device,
                             on_config_change="retrain")
histories, seconds, devices = {}, {}, {}
for name in NAMES:
    histories[name] = load_history(folders[name])
    summary = read_summary(folders[name])  # the training time, also when the run was loaded
    seconds[name], devices[name] = summary["seconds"], summary["device"]
    ctx.record(f"train_seconds_{name}", round(seconds[name], 1), "s")

rows = ["| method | iterations | batch | trained on | training time (s) | s / iteration |", "|---|---|---|---|---|---|"]
for name in NAMES:
    n = len(histories[name]["iteration"])
    rows.append(f"| `{name}` | {n} | {ctx.preset.batch_size} | {devices[name]} | {seconds[name]:.0f} | "
                f"{seconds[name] / n:.3f} |")
display(Markdown("\n".join(rows)))
print(f"this cell: {time.perf_counter() - start:.0f} s of wall-clock time (training, or loading runs made earlier)")

# %% [markdown]
# ## 6. Loss curves
#
# Left, the paper's method. $\mathcal{L}_{dis}$ and $\mathcal{L}_{gen}$ (LSGAN) should hover rather than go to
# zero: if $D$ could not tell at all, it would output 0.5 for everything, giving $\mathcal{L}_{dis} = 0.25 + 0.25
# = 0.5$ and $\mathcal{L}_{gen} = 0.25$; a discriminator that wins outright leaves the generator no useful
# gradient. Each PatchNCE term is a cross-entropy over $S$ candidate patches (the positive and $S-1$ negatives),
# so a blind guess costs $\log S$ (dashed line); with the temperature $\tau = 0.07$ a confident wrong match costs
# more, so the terms can start above it, and they fall as patches become recognisable in their translation. Right, $\mathcal{L}_{seg}$ of the three methods: each
# falls on its own training images, which says nothing yet about MR: `source_only` is fitted on CT.

# %%
def smooth(values, width):
    """Moving average over ``width`` iterations (notebook 04's loss curves)."""
    width = max(1, min(width, len(values)))
    return np.convolve(values, np.ones(width) / width, mode="valid")


width = max(1, ctx.preset.iterations // 50)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
ours_history = histories["ours"]
for key, label in (("d", r"$L_{dis}$ (eq. 3)"), ("gan", r"$L_{gen}$ (eq. 2)"), ("nce_source", r"$L^S_{NCE}$ (eq. 5)"),
                   ("nce_target", r"$L^T_{NCE}$ (eq. 8)"), ("seg", r"$L_{seg}$ (eq. 12)")):
    if key in ours_history:
        values = smooth(ours_history[key], width)
        axes[0].plot(np.arange(len(values)) + width, values, label=label)
axes[0].axhline(np.log(ctx.preset.num_patches), color="0.5", linestyle="--", linewidth=1,
                label=f"log S = log {ctx.preset.num_patches}")
axes[0].set(title="ours: every term", xlabel="iteration", ylabel=f"loss (moving average of {width})")
axes[0].legend(fontsize=8)
for name in NAMES:
    values = smooth(histories[name]["seg"], width)
    suffix = " (upper bound, MR labels)" if METHODS[name].uses_target_labels else ""
    axes[1].plot(np.arange(len(values)) + width, values, label=f"{name}{suffix}")
axes[1].set(title=r"$L_{seg}$ on each method's own training images", xlabel="iteration",
            ylabel=f"L_seg (moving average of {width})")
axes[1].legend(fontsize=8)
ctx.save_figure(fig, "loss-curves")
plt.show()

# %% [markdown]
# ## 7. What the generator learned
#
# The segmenter of `ours` never sees raw CT: it learns on $G(x^s)$ with the CT labels. Below: a CT test slice,
# its translation, the translation with the CT labels on top (do the organs of $G(x^s)$ sit under their labels?),
# and a real MR slice to compare the appearance with (not the anatomy: the subjects differ).
#
# Do not expect a photograph. GANs need many iterations; at the `cpu` preset (its iterations and batch size are
# in the table of section 5) the translation is rough: what $U$ needs is that each organ gets MR's contrast
# relative to its neighbours (the liver dark, the spleen and kidneys bright) at the right place, and the Dice
# scores below measure whether that was enough. The `gpu` preset trains far longer with the reference network
# sizes (section 11).

# %%
import torch

ours = methods["ours"]
ct_test = data.load_volume(prepared, "ct", data.subject_ids(prepared, "ct", "test")[0])
mr_test = data.load_volume(prepared, "mr", data.subject_ids(prepared, "mr", "test")[0])
ct_z = int(np.argmax((ct_test.label > 0).sum(axis=(1, 2))))  # the slice with the most organ pixels
mr_z = int(np.argmax((mr_test.label > 0).sum(axis=(1, 2))))
with torch.no_grad():
    ours.eval()
    fake = ours.translator.translate(torch.from_numpy(ct_test.image[ct_z][None, None]).to(ctx.device))
ct_box, mr_box = body_box(ct_test.image[ct_z]), body_box(mr_test.image[mr_z])
fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
show_labels(axes[0], ct_test.image[ct_z][ct_box], None, f"CT {ct_test.subject}, slice {ct_z}")
show_labels(axes[1], fake[0, 0].cpu().numpy()[ct_box], None, "G(CT): translated")
show_labels(axes[2], fake[0, 0].cpu().numpy()[ct_box], ct_test.label[ct_z][ct_box], "G(CT) with the CT labels")
show_labels(axes[3], mr_test.image[mr_z][mr_box], None, f"real MR {mr_test.subject}")
fig.tight_layout()
organ_legend(fig)
ctx.save_figure(fig, "translation")
plt.show()

# %% [markdown]
# **Trained far longer.** The package ships reference weights of `ours`, trained by its own code with the same
# data, losses and schedule for many more iterations (`ctl.training.reference`; not trained in this run). The
# same CT slice through the reference $G$: this is what the translation above is heading towards.

# %%
from ctl.teach.references import reference_or_reason

reference, about = reference_or_reason("ours", ctx.preset, ctx.device, ctx.data_source)
print(about)
if reference is not None:
    with torch.no_grad():
        long_fake = reference.method.translate(torch.from_numpy(ct_test.image[ct_z][None, None]).to(ctx.device))
    long_fake = long_fake[0, 0].float().cpu().numpy()[ct_box]
    fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
    show_labels(axes[0], ct_test.image[ct_z][ct_box], None, f"CT {ct_test.subject}, slice {ct_z}")
    show_labels(axes[1], fake[0, 0].cpu().numpy()[ct_box], None, "G(CT): this run")
    show_labels(axes[2], long_fake, None, f"G(CT): {reference.label}")
    show_labels(axes[3], long_fake, ct_test.label[ct_z][ct_box], "reference G(CT) with the CT labels")
    fig.tight_layout()
    organ_legend(fig)
    ctx.save_figure(fig, "translation-reference")
    plt.show()

# %% [markdown]
# ## 8. Predictions on MR test slices
#
# Each method's `segmenter` (the U-Net in all three) is applied to whole MR test volumes slice by slice
# (`ctl.evaluate.predict_volume`). One slice per test subject, the one with the most organ pixels; the colours
# (in the legend) keep the hues of the paper's Fig. 3. Right and left are the patient's: the right kidney is on
# the image's left.

# %%
from ctl.evaluate import predict_volume
from ctl.teach.plots import show_compact

mr_ids = data.subject_ids(prepared, "mr", "test")
volumes = {sid: data.load_volume(prepared, "mr", sid) for sid in mr_ids}
predictions = {name: {sid: predict_volume(methods[name].segmenter, v.image, ctx.device) for sid, v in volumes.items()}
               for name in NAMES}

shown = mr_ids[:3]
fig, axes = plt.subplots(len(shown), 5, figsize=(10, 1.7 * len(shown)), squeeze=False)
for row, sid in zip(axes, shown):
    volume = volumes[sid]
    z = int(np.argmax((volume.label > 0).sum(axis=(1, 2))))
    box = body_box(volume.image[z])
    show_labels(row[0], volume.image[z][box], None, f"MR {sid}, slice {z}")
    show_labels(row[1], volume.image[z][box], volume.label[z][box], "truth")
    for ax, name in zip(row[2:], NAMES):
        title = "oracle (upper bound)" if name == "oracle" else name
        show_labels(ax, volume.image[z][box], predictions[name][sid][z][box], title)
fig.tight_layout()
organ_legend(fig)
ctx.save_figure(fig, "mr-predictions")
show_compact(fig)

# %% [markdown]
# **Every slice.** The same three predictions on every slice of the first MR test subject (with a live kernel,
# moving the slider draws the new view under it; the figure below is the starting view, for readers of the saved
# notebook). Each title gives the share of organ pixels (truth or prediction) labelled correctly on that slice.

# %%
from ctl.teach.widgets import prediction_viewer

first = mr_ids[0]
widget, draw = prediction_viewer(volumes[first], {name: predictions[name][first] for name in NAMES})
display(widget)

# %%
show_compact(draw())

# %% [markdown]
# ## 9. Dice on the MR test subjects
#
# **3D Dice** (the paper's measure): per organ and per test volume, $2|P\cap T| / (|P| + |T|)$ over all voxels
# of the stacked slices (`ctl.evaluate.metrics.dice`), then the mean over volumes. **2D Dice**
# (`ctl.evaluate.metrics.slice_dice`): the same formula per slice, averaged over the slices where the truth or the
# prediction holds the organ (a slice with a false positive only scores 0). 2D Dice weighs small end slices as
# much as large central ones, so it is usually lower; it is reported because many 2D papers use it. Notebook 05
# adds ASSD and the full Table 1.

# %%
from ctl.evaluate.metrics import dice, slice_dice
from ctl.organs import ORGAN_LABELS, ORGAN_ORDER, ORGAN_TITLES  # ORGAN_ORDER: the paper's column order


scores = {}  # (method, organ, "3D"/"2D") -> per-volume values
for name in NAMES:
    for organ in ORGAN_ORDER:
        k = ORGAN_LABELS[organ]
        scores[name, organ, "3D"] = [dice(predictions[name][s] == k, volumes[s].label == k) for s in mr_ids]
        scores[name, organ, "2D"] = [slice_dice(predictions[name][s] == k, volumes[s].label == k) for s in mr_ids]

for kind in ("3D", "2D"):
    rows = [f"| {kind} Dice (%) | " + " | ".join(ORGAN_TITLES[o] for o in ORGAN_ORDER) + " | Mean |",
            "|---|" + "---|" * (len(ORGAN_ORDER) + 1)]
    for name in NAMES:
        means = [100 * np.nanmean(scores[name, organ, kind]) for organ in ORGAN_ORDER]
        label = "`oracle` (upper bound, uses MR labels)" if name == "oracle" else f"`{name}`"
        rows.append(f"| {label} | " + " | ".join(f"{m:.1f}" for m in means) + f" | {np.mean(means):.1f} |")
        ctx.record(f"dice_{kind.lower()}_mean_{name}", round(float(np.mean(means)), 2), "%")
    display(Markdown("\n".join(rows)))
print(f"{len(mr_ids)} MR test subject(s), preset {ctx.preset.name}")

# %%
if reference is not None:  # the reference weights of `ours` on the same test volumes (not trained in this run)
    long_predictions = {sid: predict_volume(reference.method.segmenter, v.image, ctx.device) for sid, v in volumes.items()}
    means = [100 * np.nanmean([dice(long_predictions[s] == ORGAN_LABELS[o], volumes[s].label == ORGAN_LABELS[o])
                               for s in mr_ids]) for o in ORGAN_ORDER]
    display(Markdown(f"| 3D Dice (%) | " + " | ".join(ORGAN_TITLES[o] for o in ORGAN_ORDER) + " | Mean |\n"
                     + "|---|" + "---|" * (len(ORGAN_ORDER) + 1) + f"\n| `{reference.label}` | "
                     + " | ".join(f"{m:.1f}" for m in means) + f" | {np.mean(means):.1f} |"))
    ctx.record("dice_3d_mean_ours_reference", round(float(np.mean(means)), 2), "%")

# %%
mean_3d = {name: 100 * np.mean([np.nanmean(scores[name, o, "3D"]) for o in ORGAN_ORDER]) for name in NAMES}
gap = mean_3d["ours"] - mean_3d["source_only"]
between_bounds = mean_3d["oracle"] - mean_3d["source_only"]
print(f"mean 3D Dice: source_only {mean_3d['source_only']:.1f} %, ours {mean_3d['ours']:.1f} %, "
      f"oracle (upper bound, MR labels) {mean_3d['oracle']:.1f} %")
print(f"ours - source_only = {gap:+.1f} points of mean 3D Dice")
if between_bounds >= 1:
    print(f"that is {100 * gap / between_bounds:.0f} % of the distance between the bounds "
          f"({between_bounds:.1f} points)")
else:
    print("the two bounds are less than a point apart: nothing to compare against")
ctx.record("dice_3d_gain_ours_over_source_only", round(float(gap), 2), "points")
if ctx.preset.name == "ci":
    print("(ci preset: a few iterations on tiny images, a smoke test; these numbers mean nothing)")

# %% [markdown]
# ### Exercise 2: the share of the gap
# From the mean 3D Dice values printed above (`mean_3d`), compute the share (%) of the distance between the two
# bounds that `ours` closes, without looking at the line that prints it. Why divide by that distance rather than
# by the oracle's Dice?

# %%
from ctl.teach.exercises_results import check_gap_closed

share_closed = None  # in %
check_gap_closed(share_closed, mean_3d["source_only"], mean_3d["ours"], mean_3d["oracle"])

# %% tags=["solution"]
# Solution: 0 % means no better than CT-only training, 100 % as good as training on MR labels. Dividing by the
# oracle's Dice would mix the domain shift with how hard the task is even with the right labels.
between_bounds = mean_3d["oracle"] - mean_3d["source_only"]
if between_bounds > 0:
    share_closed = 100 * (mean_3d["ours"] - mean_3d["source_only"]) / between_bounds
    check_gap_closed(share_closed, mean_3d["source_only"], mean_3d["ours"], mean_3d["oracle"])
else:
    print("the oracle is not above source_only in this run: the share is undefined (train longer)")

# %% [markdown]
# How to read these numbers: the distance between `source_only` and the oracle is the domain shift of the
# phantom (the same U-Net, trained as long, on CT or on MR). Translation closes part of it when $G$ keeps the
# anatomy of the CT slice and gives it MR's contrasts; the fraction printed above says how much. At the `ci`
# preset nothing is trained long enough for this comparison to mean anything; run the `cpu` preset (the
# default) for results.

# %% [markdown]
# ## 10. The baselines of Table 1
#
# The paper compares its method with four others. Each is a module of `ctl.methods` on the same interface, so
# it trains on the same data, with the same U-Net and the same number of segmenter updates; each module's
# docstring gives the paper it comes from, its losses and weights, its update order, and what we changed for
# our scale.
#
# | Table 1 | method | idea | segmenter trained on |
# |---|---|---|---|
# | M1 | `cyclegan` | two generators (CT→MR, MR→CT), two LSGAN discriminators, cycle loss (weight 10) and identity loss (0.5), image pools of 50 | translated CT, after the translation has been learned alongside |
# | M2 | `synseg` (SynSeg-Net) | CycleGAN, with the U-Net trained end to end on $G(x^s)$ in the generators' optimizer | translated CT; its loss reaches $G$ |
# | M3 | `adaptseg` (AdaptSegNet) | no image translation: a discriminator on $U$'s softmax maps tells CT outputs from MR outputs, and $U$ learns to make MR outputs look like CT ones (weight 0.001) | raw CT (+ the adversarial term on MR) |
# | M4 | `sifa` | image and feature alignment together: CT→MR generator, shared encoder with a segmentation head and a decoder back to images, discriminators on images and on segmentations, cycle consistency | translated CT, features aligned |
#
# The next cell trains each of them at the chosen preset, or loads the run made earlier (notebook 05 then
# reuses all seven). At the `cpu` preset this is the longest cell of the series: the table it prints gives each
# method's training time in the run that made it, and the line under the setup cell this notebook's measured
# total.

# %%
BASELINES = ("cyclegan", "synseg", "adaptseg", "sifa")
start = time.perf_counter()
folders = {name: run_folder(ctx.run_dir, name, ctx.preset.name, ctx.seed, ctx.data_source)
           for name in ("sifa", "cyclegan", "synseg", "adaptseg")}  # the longest first (section 11's step times)
methods.update(load_or_train_many(folders, prepared, ctx.preset, seed=ctx.seed, device=ctx.device,
                                  on_config_change="retrain"))
print(f"trained or loaded in {time.perf_counter() - start:.0f} s of wall-clock time")
for name in BASELINES:
    summary = read_summary(folders[name])
    seconds[name], devices[name] = summary["seconds"], summary["device"]
    ctx.record(f"train_seconds_{name}", round(seconds[name], 1), "s")
    predictions[name] = {sid: predict_volume(methods[name].segmenter, v.image, ctx.device)
                         for sid, v in volumes.items()}
    for organ in ORGAN_ORDER:
        k = ORGAN_LABELS[organ]
        scores[name, organ, "3D"] = [dice(predictions[name][s] == k, volumes[s].label == k) for s in mr_ids]

ALL = NAMES + BASELINES
rows = ["| method | trained on | training time (s) | " + " | ".join(ORGAN_TITLES[o] for o in ORGAN_ORDER)
        + " | Mean 3D Dice (%) |", "|---|---|---|" + "---|" * (len(ORGAN_ORDER) + 1)]
for name in sorted(ALL, key=lambda n: (n == "oracle", n != "source_only")):
    means = [100 * np.nanmean(scores[name, organ, "3D"]) for organ in ORGAN_ORDER]
    label = "`oracle` (upper bound, uses MR labels)" if name == "oracle" else f"`{name}`"
    rows.append(f"| {label} | {devices[name]} | {seconds[name]:.0f} | " + " | ".join(f"{m:.1f}" for m in means)
                + f" | {np.mean(means):.1f} |")
    if name in BASELINES:
        ctx.record(f"dice_3d_mean_{name}", round(float(np.mean(means)), 2), "%")
display(Markdown("\n".join(rows)))
print(f"one seed ({ctx.seed}), {len(mr_ids)} MR test subject(s), preset {ctx.preset.name}; "
      "notebook 05 adds ASSD, several seeds where the preset has them, and the paper's numbers")

# %% [markdown]
# One seed and a handful of test subjects: differences of a few points between methods may be within the noise
# of GAN training (notebook 05 shows the spread over seeds where the preset trains several, and exercise 3 below
# measures it on a small case). What the table can show is the larger pattern: which methods close most of the
# gap between the bounds.

# %% [markdown]
# ### Exercise 3: two design choices, against the noise of a second seed
# Does it matter that $\mathcal{L}_{seg}$ reaches $G$, or that PatchNCE is also asked of real MR (eq. 8)? Train
# `ours` four times for a short run on the small `ci` phantom (`ctl.teach.short_runs`: `exercise_data`,
# `exercise_preset`, `train_variant`, `mean_dice`): the default at seed 0 and at seed 1, and at seed 0 with
# `seg_grad_to_generator=False` and with `nce_identity=False` (a `TranslationConfig` field: build it with
# `TranslationConfig.from_preset(small, nce_identity=False)`). Fill `variant_dice` with the mean 3D Dice of each,
# then answer: is the largest difference between a variant and the default larger than the difference between
# the default's two seeds? (These short runs compare only with each other, not with the tables above.)

# %%
from ctl.teach.exercises_results import check_variant_reading

variant_dice = {}  # "default, seed 0", "default, seed 1", and one entry per variant -> mean 3D Dice (%)
larger_than_seed_noise = None  # True or False
check_variant_reading(larger_than_seed_noise, variant_dice, "default, seed 0", "default, seed 1")

# %% tags=["solution"]
# Solution: four short runs (the cell prints how long they took).
import time
from dataclasses import replace

from ctl.methods import Ours, OursConfig
from ctl.teach.short_runs import exercise_data, exercise_preset, mean_dice, train_variant
from ctl.translate import TranslationConfig

small_prepared, small = exercise_data(ctx.data_dir, ctx.seed), exercise_preset(ctx.preset)
default = OursConfig.from_preset(small)
runs = {"default, seed 0": (default, 0), "default, seed 1": (default, 1),
        "seg_grad_to_generator=False": (replace(default, seg_grad_to_generator=False), 0),
        "nce_identity=False": (replace(default, translation=TranslationConfig.from_preset(small, nce_identity=False)),
                               0)}
start = time.perf_counter()
for run_name, (config, seed) in runs.items():
    trained, _ = train_variant(lambda: Ours(config), small_prepared, small, seed=seed, device=ctx.device)
    variant_dice[run_name] = mean_dice(trained, small_prepared, ctx.device)
    print(f"{run_name:28s}: mean 3D Dice {variant_dice[run_name]:5.1f} %")
print(f"{len(runs)} runs of {small.iterations} iterations at {small.image_size} px, "
      f"{len(data.subject_ids(small_prepared, 'mr', 'test'))} MR test subject(s): {time.perf_counter() - start:.0f} s")
noise = abs(variant_dice["default, seed 1"] - variant_dice["default, seed 0"])
largest = max(abs(v - variant_dice["default, seed 0"]) for k, v in variant_dice.items() if not k.startswith("default"))
larger_than_seed_noise = largest > noise
check_variant_reading(larger_than_seed_noise, variant_dice, "default, seed 0", "default, seed 1")
print("Two seeds are a weak estimate of the noise, and runs this short learn little (look at the Dice values): "
      "read the answer as a lesson in method. For a real answer, rerun with "
      "`small = exercise_preset(ctx.preset).replace(iterations=1000)` and three seeds of the default (minutes).")

# %% [markdown]
# **The same question at the `cpu` preset, where Dice is not the whole answer.** Runs long enough to learn
# something tell more, and they should be read with a second measure. `benchmarks/seg_gradient.py` trained `ours`
# both ways at the `cpu` preset (1500 iterations, 96 px, the same short-run loop as above) with training seeds 0, 1
# and 2 on a phantom no notebook uses, and scored each $G$ by its content Dice too (the oracle segmenting $G(x^s)$,
# against the CT labels; notebook 05 section 8); record `benchmarks/results/seg_gradient_cpu.json`, not this run:
#
# | seed | mean Dice, $\mathcal{L}_{seg}$ reaches $G$ | mean Dice, detached | content Dice, reaches $G$ | content Dice, detached |
# |---|---|---|---|---|
# | 0 | 87.0 | 84.5 | 58.4 | 46.4 |
# | 1 | 85.3 | 87.5 | 50.0 | 34.5 |
# | 2 | 77.7 | 84.6 | 73.0 | 69.8 |
# | mean ± sd | 83.3 ± 4.1 | 85.5 ± 1.4 | 60.5 ± 9.5 | 50.2 ± 14.7 |
#
# By segmentation Dice the two are within their seed noise (and detached is even a little ahead on average). The
# translations differ: with $\mathcal{L}_{seg}$'s gradient in $G$, the oracle finds more of the organs in $G(x^s)$
# on every seed (by 12.0, 15.6 and 3.2 points), although each variant's spread over seeds (9.5 and 14.7 points) is
# about as large as the mean difference (10.3). Two lessons: compare variants *paired by seed* when the seeds themselves move the result
# this much, and a method can segment as well while its translation keeps less of the anatomy, because $U$ learns
# on whatever $G$ produces; only a measure of the translation itself shows it.

# %% [markdown]
# ## 11. On a GPU
#
# - **Device.** `ctx.device` picks CUDA, then Apple MPS, then the CPU; every method follows it.
# - **Mixed precision.** On CUDA every forward pass runs under `torch.autocast`: in bfloat16 where the GPU
#   supports it (Ampere and later; no loss scaling needed), in float16 otherwise (Colab's T4), with one
#   `GradScaler` shared by both optimizers (scale each loss, step each optimizer, update the scale once per
#   iteration). It roughly halves activation memory; `TrainConfig(amp=False)` switches it off.
# - **Batch size and sizes.** The `gpu` preset trains on full-size slices with the reference networks (the
#   ResNet generator of CUT, a 70 x 70 PatchGAN) and a larger batch; the cell below prints its values from the
#   preset table (`ctl/presets.py`). On CUDA the data loader uses up to 4 worker processes.
# - **Long runs.** Outside a notebook, `python -m ctl train --method ours --data data/prepared/phantom-gpu-seed0
#   --preset gpu --out runs/notebooks/train/ours-gpu-seed0` trains the same way and `--resume` continues after
#   an interruption; that is the folder `load_or_train` looks in at the `gpu` preset and seed 0, so the notebook
#   then just loads the model (the data folder is the one notebook 01 prepares for the preset).
#
# The times measured by `benchmarks/training_step.py` (one iteration of each method, without data loading; the
# training time is that step times `preset.iterations`). A load average above the number of cores means other
# programs were running and the times are too long. *Precision*: `bfloat16` is how training runs on a CPU with
# native bfloat16 arithmetic (convolutions in bfloat16, normalisation and losses in float32, see `ctl.device.Amp`);
# `float32` rows, where present, time the same step without it for comparison.

# %%
from ctl.presets import PRESETS
from ctl.teach.measurements import read_records

rows = ["| preset | image (px) | batch | generator ngf x blocks | patches per layer | U-Net base x depth "
        "| iterations |", "|---|---|---|---|---|---|---|"]
for p in [ctx.preset] + ([PRESETS["gpu"]] if ctx.preset.name != "gpu" else []):
    rows.append(f"| `{p.name}` | {p.image_size} | {p.batch_size} | {p.ngf} x {p.n_blocks} | {p.num_patches} | "
                f"{p.unet_base} x {p.unet_depth} | {p.iterations} |")
display(Markdown("\n".join(rows)))

rows = ["| device (date, load average) | preset | method | precision | iterations / s | peak memory (MB) "
        "| training time (min) |", "|---|---|---|---|---|---|---|"]
for record in read_records("training_step"):  # shipped with ctl (ctl/teach/measured/), also on Colab
    where = f"{record['device']} ({record['date']}, load {max(record.get('load_average_1min', [float('nan')])):.1f})"
    for r in record["results"]:
        rows.append(f"| {where} | {r['preset']} | `{r['method']}` | {r.get('precision', 'float32')} | "
                    f"{r['iterations_per_s']:.2f} | "
                    f"{r['peak_memory_mb']:.0f} | {r['estimated_training_s'] / 60:.1f} |")
display(Markdown("\n".join(rows) if len(rows) > 2 else "No benchmark has been run yet: "
                 "`python benchmarks/training_step.py` writes one."))

# %% [markdown]
# **What to remember.** Eq. 1 is a game between two optimizers: $D$ alone on $\mathcal{L}_{dis}$, and $G$, $F$,
# $U$ together on everything else, $D$ first in each iteration. The segmenter only ever sees translated CT,
# so what it can do on MR depends on how faithfully $G$ keeps the anatomy, which is what PatchNCE is for.
# The bounds make the result readable: how much of the distance from CT-only training to MR-label training
# did the method close? Notebook 05 compares all methods of Table 1 with Dice and ASSD.
