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
# # 02 · LSGAN translation: CT → MR, with and without PatchNCE
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ctl-teaching/ctl/blob/main/notebooks/02_lsgan_translation.ipynb)
#
# **What this notebook teaches**
# - why the paper's adversarial losses are least squares (eq. 2-3): the loss and its gradient against those of
#   the original GAN;
# - the translation networks (a ResNet generator $G$, a 70x70 PatchGAN discriminator $D$) and one training step,
#   discriminator first, then generator and projection head;
# - CT→MR translation trained on the phantom twice, on the same batches: with LSGAN alone, and with LSGAN plus
#   PatchNCE (eq. 4-11, derived in notebook 03);
# - how to judge a translation where a truth exists: the phantom renders each CT patient's anatomy as MR too, so
#   translations can be put beside the MR they should be, with organ outlines, organ brightness, and two
#   similarity numbers inside the body.
#
# **Exercises** (they check themselves): 1 the three generator gradients by hand, 2 the loss values of a
# discriminator that cannot tell, 3 a sweep of $\lambda_{NCE}$ read from its table (short runs on the small phantom).
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

ctx = setup_notebook("02_lsgan_translation", PRESET, DATA_SOURCE, DATA_DIR, RUN_DIR, SEED)

# %%
from IPython.display import Markdown, display

from ctl.teach.overview import time_and_hardware

display(Markdown(time_and_hardware("02_lsgan_translation")))

# %% [markdown]
# ## 1. Why least squares
#
# $D$ ends in a raw score $a$ per patch. In the original GAN (Goodfellow et al. 2014) $a$ passes through a
# sigmoid, $D$ is a real-vs-fake classifier trained with cross-entropy, and $G$ minimises
# $\log(1 - \sigma(a))$ on its fakes (the *minimax* loss). Its derivative is
#
# $$\frac{d}{da} \log(1 - \sigma(a)) = -\sigma(a),$$
#
# which vanishes when $D$ confidently rejects a fake ($a \ll 0$), i.e. exactly early in training, when the fakes
# are poor and most need a signal. The usual remedy, the *non-saturating* loss $-\log \sigma(a)$ with
# derivative $-(1 - \sigma(a))$, keeps a push on rejected fakes but none on fakes $D$ already accepts, however far
# they still are from real data.
#
# The least-squares GAN (Mao et al. 2017; the paper's ref. [13]) drops the sigmoid and regresses the score: $D$
# pushes real MR towards 1 and fakes towards 0 (eq. 3), $G$ pushes its fakes towards 1 (eq. 2):
#
# $$\mathcal{L}_{gen} = \mathbb{E}\big[(D(G(x^s)) - 1)^2\big], \qquad
#   \mathcal{L}_{dis} = \mathbb{E}\big[D(G(x^s))^2\big] + \mathbb{E}\big[(D(x^t) - 1)^2\big].$$
#
# The generator's gradient $2(a - 1)$ grows with the distance from "real" on both sides and never saturates:
# the paper's reason for the choice ("mitigate the gradient disappearance problem and stabilize the training").
# The curves, computed with autograd (the least-squares one through `ctl.losses.lsgan_generator_loss`):

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import numpy as np

from ctl.teach.lsgan import generator_loss_curves

scores = np.linspace(-4, 4, 161)
curves = generator_loss_curves(scores)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for name, (loss, grad) in curves.items():
    axes[0].plot(scores, loss, label=name)
    axes[1].plot(scores, np.abs(grad), label=name)
axes[0].set_ylim(-5, 10)
axes[0].set_title("generator loss", fontsize=9)
axes[0].set_ylabel("loss (no unit)")
axes[1].set_title("|d loss / d a|: the push the generator gets", fontsize=9)
axes[1].set_ylabel("|gradient| (per unit of score)")
for ax in axes:
    ax.set_xlabel("D's raw score a of a fake (low = rejected as fake)")
    ax.axvline(0, color="gray", lw=0.6)
axes[1].legend(fontsize=8)
fig.tight_layout()
ctx.save_figure(fig, "gan-losses")

# %%
# NBVAL_CHECK_OUTPUT
print("score a   |grad| minimax   |grad| non-saturating   |grad| least squares")
for a in (-4.0, -2.0, 0.0, 1.0, 3.0):
    i = int(np.argmin(np.abs(scores - a)))
    print(f"{a:7.1f} {abs(curves['minimax GAN'][1][i]):14.4f} {abs(curves['non-saturating GAN'][1][i]):20.4f} "
          f"{abs(curves['least squares (eq. 2)'][1][i]):20.4f}")

# %% [markdown]
# At $a = -4$ (a fake $D$ is sure about) the minimax gradient is 0.018 while least squares gives 10; at $a = 3$
# (a fake scored more "real" than real data) only least squares still pulls it back towards 1. One warning: eq. 3
# as printed adds the two terms; CUT halves them. With Adam a constant factor on a loss changes almost nothing
# (Adam divides by the gradient's own scale), and `ctl` keeps eq. 3 as printed.

# %% [markdown]
# ### Exercise 1: the three gradients by hand
# At D's raw score $a = -1$ (a fake that $D$ rejects), what is $d\,\text{loss} / da$ for the minimax loss
# $\log(1 - \sigma(a))$, the non-saturating loss $-\log \sigma(a)$ and least squares $(a - 1)^2$? Derive each with
# pen and paper ($\sigma'(a) = \sigma(a)(1 - \sigma(a))$), then evaluate; signs count.

# %%
from ctl.teach.exercises import check_gan_gradients

minimax_gradient = None
non_saturating_gradient = None
least_squares_gradient = None
check_gan_gradients(minimax_gradient, non_saturating_gradient, least_squares_gradient, score=-1.0)

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
# Solution: d/da log(1 - s) = -s'/(1 - s) = -s; d/da -log s = -s'/s = -(1 - s); d/da (a - 1)^2 = 2 (a - 1).
sigmoid = 1 / (1 + np.exp(1.0))  # sigma(-1)
minimax_gradient, non_saturating_gradient, least_squares_gradient = -sigmoid, -(1 - sigmoid), 2 * (-1.0 - 1)
print(f"{minimax_gradient:.4f}, {non_saturating_gradient:.4f}, {least_squares_gradient:.1f}")
check_gan_gradients(minimax_gradient, non_saturating_gradient, least_squares_gradient, score=-1.0)

# %% [markdown]
# ## 2. The data: unpaired slices
#
# Training sees CT slices with their labels and MR slices drawn independently: different patients, no
# correspondence (`UnpairedSliceDataset`). The phantom also renders every CT patient's anatomy as MR on the CT
# grid: the *paired truth*, read only for evaluation below (`load_paired_mr`); real data have no such thing.

# %%
from ctl.data import UnpairedSliceDataset, ensure_prepared

from ctl.teach.plots import show_compact

preset = ctx.preset
prepared = ensure_prepared(ctx.data_dir, preset, ctx.data_source, ctx.seed)
dataset = UnpairedSliceDataset(prepared, split="train")
print(f"{len(dataset)} CT training slices, {len(dataset.mr)} MR training slices, {preset.image_size} px")

sample = [dataset[i] for i in np.linspace(0, len(dataset) - 1, 4).astype(int)]
fig, axes = plt.subplots(2, 4, figsize=(8, 4.4))
for j, item in enumerate(sample):
    axes[0, j].imshow(item["ct"][0], cmap="gray", vmin=0, vmax=1)
    axes[1, j].imshow(item["mr"][0], cmap="gray", vmin=0, vmax=1)
axes[0, 0].set_ylabel("CT $x^s$")
axes[1, 0].set_ylabel("MR $x^t$ (another patient)")
for ax in axes.flat:
    ax.set_xticks([]), ax.set_yticks([])
fig.tight_layout()
ctx.save_figure(fig, "unpaired-batch")
show_compact(fig)

# %% [markdown]
# ## 3. The networks
#
# - $G$, the ResNet generator of CycleGAN/CUT: a 7x7 convolution, two stride-2 convolutions, `n_blocks` residual
#   blocks at a quarter of the resolution, two transposed convolutions back up, and a 7x7 convolution with tanh
#   (mapped to $[0, 1]$). Instance normalisation and reflection padding throughout. Its first half is the encoder
#   $G_{enc}$ that PatchNCE reads.
# - $D$, the PatchGAN: four 4x4 convolutions (three with stride 2) and a final one to a map of scores; each score
#   judges a 70x70-pixel patch, so $D$ asks "does this patch look like MR?" rather than "is this an MR image?".
# - $F$, PatchNCE's projection head: one two-layer MLP per NCE layer (notebook 03).

# %%
import torch

from ctl.nets.receptive_field import receptive_field
from ctl.translate import TranslationConfig, Translator

cut_config = TranslationConfig.from_preset(preset)  # LSGAN + PatchNCE, as the method `cut` trains it
probe = Translator(cut_config)
count = lambda module: sum(p.numel() for p in module.parameters())  # noqa: E731
score_map = probe.D(torch.zeros(1, 1, preset.image_size, preset.image_size)).shape[-1]
print(f"G: ngf {cut_config.ngf}, {cut_config.n_blocks} residual blocks, {count(probe.G):,} parameters")
print(f"D: ndf {cut_config.ndf}, {count(probe.D):,} parameters; a {score_map} x {score_map} score map for "
      f"{preset.image_size} px slices; each score sees {receptive_field([probe.D.model])[0]} px")
print(f"PatchNCE: layers {cut_config.nce_layers}, {cut_config.num_patches} patches each, tau {cut_config.tau}")

# %% [markdown]
# (At the tiny `ci` size the 70-pixel field is larger than the 48-pixel slice, so there each score sees the whole
# slice; from the `cpu` preset on, the scores judge patches.)
#
# ## 4. One training step
#
# `ctl.translate.translation_step` does what CUT does, in CUT's order:
#
# 1. $G$ runs once on the batch $[x^s; x^t]$, giving $G(x^s)$, $G(x^t)$ (for eq. 8) and, from the same pass, the
#    encoder features of $x^s$ and $x^t$ that PatchNCE uses as keys.
# 2. **$D$ step**: $\mathcal{L}_{dis}$ (eq. 3) on the *detached* $G(x^s)$ and on $x^t$; `zero_grad`, `backward`,
#    `step` of $D$'s Adam. Detaching means this step cannot change $G$.
# 3. **$G$ and $F$ step**: $\mathcal{L}_{gen}$ (eq. 2) through the *updated* $D$, whose own weights are frozen
#    for this step, plus $\lambda_{NCE}$ times the two PatchNCE terms (eq. 5 and 8); one Adam over $G$ and $F$.

# %%
import inspect

from ctl.translate import translation_step

print(inspect.getsource(translation_step).split('"""')[2])  # the body, without the docstring

# %% [markdown]
# ## 5. Training both translators
#
# Two translators, trained as two methods without a segmenter (`ctl.methods.translation_only`):
#
# - **LSGAN** (method `lsgan`): $\mathcal{L}_{gen}$ only (`lambda_nce=0`): $G$ is free to produce anything $D$
#   accepts as MR;
# - **LSGAN + PatchNCE** (method `cut`): $\mathcal{L}_{gen} + \mathcal{L}^S_{PatchNCE} + \mathcal{L}^T_{PatchNCE}$
#   (eq. 4), as in CUT and the paper's translation part.
#
# Each step is `translation_step` above. They go through the training loop every method of notebooks 04 and 05
# uses (`ctl.training.load_or_train`): seeded, so both start from the same $G$ and $D$; the data order a function
# of (seed, iteration), so both see the same batches; the same augmentation; checkpoints, so an interrupted run
# resumes, and a finished one is loaded instead of trained again. Adam with the preset's learning rate
# ($2 \cdot 10^{-4}$ as in the paper at the `gpu` and `paper` presets; $5 \cdot 10^{-4}$ at `cpu`, whose run is
# too short for the paper's step size), constant for the first half of the iterations and then decayed linearly
# (the schedule of CUT and of every method here), and betas $(0.5, 0.999)$ (CUT). The number of iterations is
# half the preset's segmenter iterations (at least 20).

# %%
from ctl.teach.lsgan import translation_preset
from ctl.training import load_history, load_or_train, read_summary, run_folder

steps = translation_preset(preset).iterations
runs = {"LSGAN": "lsgan", "LSGAN + PatchNCE": "cut"}
translators, histories = {}, {}
for name, method in runs.items():
    folder = run_folder(ctx.run_dir, method, preset.name, ctx.seed, ctx.data_source)
    translators[name] = load_or_train(method, prepared, translation_preset(preset), folder, seed=ctx.seed,
                                      device=ctx.device, on_config_change="retrain")
    histories[name] = load_history(folder)
    seconds = read_summary(folder)["seconds"]  # the training time, also when the run was loaded
    ctx.record(f"train_seconds_{'lsgan' if method == 'lsgan' else 'lsgan_patchnce'}", round(seconds, 1), "s")
    print(f"{name:17s}: {steps} iterations in {seconds:.0f} s; last losses "
          + ", ".join(f"{k} {v[-1]:.3f}" for k, v in histories[name].items() if k != "iteration"))

# %% [markdown]
# ## 6. Loss curves
#
# Smoothed over a window of iterations. Landmarks for the least-squares losses: if $D$ cannot tell fakes from
# real MR and outputs 0.5 for both, $\mathcal{L}_{dis} = 0.25 + 0.25 = 0.5$ and $\mathcal{L}_{gen} = 0.25$. A
# PatchNCE term starts near or above $\log S$ (chance; $S$ patches per layer) and falls as the translation keeps
# more of its source recognisable.

# %%
from ctl.teach.lsgan import loss_curves_figure

window = max(1, steps // 20)
fig = loss_curves_figure(histories, window)
ctx.save_figure(fig, "loss-curves")
print(f"chance level of a PatchNCE term: log S = {np.log(cut_config.num_patches):.2f} "
      f"(S = {cut_config.num_patches}, fewer where a feature map has fewer positions)")

# %% [markdown]
# ### Exercise 2: a discriminator that cannot tell
# Read the loss curves against a landmark. If $D$ outputs 0.5 for every translated and every real slice, what are
# $\mathcal{L}_{dis}$ (eq. 3) and $\mathcal{L}_{gen}$ (eq. 2)? Then compare with the last values of the two runs
# printed in section 5: is $D$ winning, losing, or guessing?

# %%
from ctl.teach.exercises import check_lsgan_landmarks

dis_at_half = None  # L_dis when D outputs 0.5 everywhere
gen_at_half = None  # L_gen when D outputs 0.5 everywhere
check_lsgan_landmarks(dis_at_half, gen_at_half, d_output=0.5)

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
# Solution: L_dis = (0.5 - 0)^2 + (0.5 - 1)^2 = 0.5 and L_gen = (0.5 - 1)^2 = 0.25. Below 0.5, D tells the two
# apart better than chance; L_gen above 0.25 means the generator's fakes are scored below 0.5 on average.
dis_at_half, gen_at_half = 0.5 ** 2 + (0.5 - 1) ** 2, (0.5 - 1) ** 2
check_lsgan_landmarks(dis_at_half, gen_at_half, d_output=0.5)

# %% [markdown]
# ## 7. Translations beside the MR they should be
#
# CT test patients (never seen in training), two slices each, spread over the organs. Columns: the CT input,
# both translations, and the paired truth: the same anatomy rendered as MR. The coloured lines are the organ
# outlines of the CT labels (colours in the legend under the figure); since the paired truth has the same
# anatomy, they fit it exactly. A translation keeps the anatomy if its organs sit inside these lines with MR's
# brightness: in T2-SPIR MR the spleen and kidneys are clearly brighter than the liver, unlike in CT.

# %%
from ctl.data import load_paired_mr, load_volume, subject_ids
from ctl.evaluate import translate_volume
from ctl.teach.plots import representative_slices, translation_rows

has_paired_truth = (prepared / "paired_mr").is_dir()
test_ids = subject_ids(prepared, "ct", "test")
translated, volumes, truths = {name: {} for name in translators}, {}, {}
for sid in test_ids:
    volumes[sid] = load_volume(prepared, "ct", sid)
    truths[sid] = load_paired_mr(prepared, sid) if has_paired_truth else None  # evaluation only
    for name, translator in translators.items():
        translated[name][sid] = translate_volume(translator.translate, volumes[sid].image, ctx.device)

shown = test_ids[:2]
rows = [(sid, z) for sid in shown for z in representative_slices(volumes[sid].label, 2)]
truth_images = {sid: truths[sid].image for sid in test_ids} if has_paired_truth else None
fig = translation_rows(rows, volumes, translated, truth_images)
ctx.save_figure(fig, "translations")
show_compact(fig)

# %% [markdown]
# **Every slice.** Move through the first test patient with the slider (with a live kernel, moving a control draws
# the new view under the controls; the figure below is the starting view, for readers of the saved notebook).

# %%
from ctl.teach.widgets import translation_viewer

first = test_ids[0]
widget, draw = translation_viewer(volumes[first], {name: translated[name][first] for name in translators},
                                  truths[first].image if has_paired_truth else None)
display(widget)

# %%
show_compact(draw(representative_slices(volumes[first].label, 1)[0]))

# %% [markdown]
# ## 8. Structure preservation, measured
#
# Pictures persuade; numbers decide. Each translated test volume is compared with its paired truth inside the
# body (CT above 0.05, the largest component, holes filled: `ctl.evaluate.fidelity.body_mask`):
#
# - **NCC** (`ctl.evaluate.similarity.masked_ncc`): Pearson's correlation of the voxel values, $r \in [-1, 1]$.
#   It ignores overall brightness and contrast, and rewards the right *pattern*: dark where the truth is dark,
#   bright where it is bright;
# - **SSIM** (`ctl.evaluate.similarity.masked_ssim`, Wang et al. 2004; 11x11 Gaussian window): local agreement of
#   brightness, contrast and structure, averaged over the windows centred in the body.
#
# The CT itself ("no translation") is the reference row: how far apart the two modalities start.
# Mean over the CT test patients (one value per patient, all their slices together):

# %%
from ctl.evaluate.fidelity import body_mask
from ctl.evaluate.similarity import masked_ncc, masked_ssim


def body_scores(images, cts, paired):
    """(patients, 2): NCC and SSIM of each patient's image against its paired MR truth, inside the CT's body.
    ``images``, ``cts``, ``paired``: subject -> volume (Z, H, W). Notebook 02 (section 8 and exercise 3)."""
    return np.array([(masked_ncc(images[sid], paired[sid], body_mask(cts[sid])),
                      masked_ssim(images[sid], paired[sid], body_mask(cts[sid]))) for sid in cts])


if not has_paired_truth:
    print("real data: there is no paired MR truth, so no structure numbers (see notebook 05 for measures "
          "that need none)")
else:
    cts = {sid: volumes[sid].image for sid in test_ids}
    paired_images = {sid: truths[sid].image for sid in test_ids}
    candidates = {"no translation (CT)": cts, **translated}
    scores = {name: body_scores(images, cts, paired_images) for name, images in candidates.items()}
    print(f"{len(test_ids)} CT test patients        NCC (mean ± sd)      SSIM (mean ± sd)")
    for name, values in scores.items():
        mean, sd = values.mean(0), values.std(0)
        print(f"{name:24s} {mean[0]:7.3f} ± {sd[0]:.3f}      {mean[1]:7.3f} ± {sd[1]:.3f}")
        key = {"no translation (CT)": "ct", "LSGAN": "lsgan", "LSGAN + PatchNCE": "lsgan_patchnce"}[name]
        ctx.record(f"ncc_body_{key}", round(float(mean[0]), 4))
        ctx.record(f"ssim_body_{key}", round(float(mean[1]), 4))
    gain = scores["LSGAN + PatchNCE"].mean(0) - scores["LSGAN"].mean(0)
    versus_ct = scores["LSGAN + PatchNCE"].mean(0) - scores["no translation (CT)"].mean(0)
    print(f"\nLSGAN + PatchNCE minus LSGAN:            NCC {gain[0]:+.3f}, SSIM {gain[1]:+.3f}")
    print(f"LSGAN + PatchNCE minus no translation:   NCC {versus_ct[0]:+.3f}, SSIM {versus_ct[1]:+.3f}")
    moved = [f"{'raised' if g > 0 else 'lowered'} {m} by {abs(g):.3f}" for m, g in zip(("NCC", "SSIM"), gain)]
    print(f"In this run, adding PatchNCE {moved[0]} and {moved[1]} against the paired truth.")

# %% [markdown]
# How to read the two differences (the last line above says which way they went in this run). The first says
# what the content term changed. The two measures can disagree, and the difference teaches something:
# SSIM compares small windows (local brightness, contrast and structure), so it rewards edges kept in their
# places, which is PatchNCE's job; NCC correlates the voxel values of the whole body at once, so it is dominated
# by the large organs' brightness relative to each other. A translation can keep the anatomy better (SSIM up)
# while its organs' brightness sits further from the truth's (NCC down): then PatchNCE did its part and the
# appearance is still wrong, which is $\mathcal{L}_{gen}$'s part (the organ brightness table below shows it).
# The second difference is a stricter bar: the CT itself already correlates with the MR truth, because both are
# bright where there is tissue and dark in the air, and they share every edge. A translation beats "no
# translation" only if it also gets MR's *contrasts* right (which organ is brighter than which) without losing
# that structure; a short training run may not get there, and then the numbers say so.

# %% [markdown]
# **Organ brightness.** The contrast that separates the modalities: the mean intensity of each organ in the
# truth and in each translation, over all test patients' voxels. A translation that learnt MR's appearance *and*
# kept the anatomy reproduces the truth's ordering (spleen and kidneys above liver).

# %%
from ctl.organs import ORGANS

rows_of = {"CT input": {sid: volumes[sid].image for sid in test_ids}, **translated}
if has_paired_truth:
    rows_of["paired MR truth"] = {sid: truths[sid].image for sid in test_ids}
print(f"{'':20s}" + "".join(f"{organ.name:>14s}" for organ in ORGANS) + "   spleen / liver")
ratios = {}
for name, images in rows_of.items():
    means = {}
    for organ in ORGANS:
        values = np.concatenate([images[sid][volumes[sid].label == organ.label] for sid in test_ids])
        means[organ.name] = values.mean() if values.size else float("nan")
    ratios[name] = means["spleen"] / means["liver"]
    print(f"{name:20s}" + "".join(f"{m:14.3f}" for m in means.values()) + f"{ratios[name]:17.2f}")
if has_paired_truth:
    closest = min(translated, key=lambda n: abs(ratios[n] - ratios["paired MR truth"]))
    print(f"\nspleen / liver: CT {ratios['CT input']:.2f}, paired truth {ratios['paired MR truth']:.2f}; the translation "
          f"closest to the truth's ratio is {closest} ({ratios[closest]:.2f})")

# %% [markdown]
# ### Exercise 3: sweep $\lambda_{NCE}$
# How much content term is enough? Train one LSGAN + PatchNCE translator per weight $\lambda_{NCE}$ in `LAMBDAS`
# (0 is LSGAN alone), measure each against the paired truth with `body_scores` (section 8), and read your table:
# which $\lambda$ gives the highest SSIM, and does NCC pick the same one?
#
# Full runs would take minutes each, so train short ones on the small `ci` phantom: `exercise_data` prepares it,
# `exercise_preset` gives its sizes (`small.iterations` iterations each; the solution prints it), and `train_variant` trains
# any method you build. A translator with weight $\lambda$ is
# `TranslationOnly(TranslationOnlyConfig(TranslationConfig.from_preset(small, lambda_nce=lam), lr=small.lr))`
# (`ctl.methods.translation_only`, `ctl.translate`; at $\lambda = 0$ add `nce_identity=False`, as the method
# `lsgan` does); translate a test volume with
# `translate_volume(method.translate, ct_image, ctx.device)`. These runs are short and compare only with each
# other: before trusting a ranking, ask whether a second seed would give the same one.

# %%
from ctl.teach.exercises import check_lambda_sweep

LAMBDAS = (0.0, 0.3, 1.0, 3.0)
sweep_ssim, sweep_ncc = {}, {}  # lambda -> mean SSIM / NCC over the small phantom's CT test patients
# ... your sweep here ...
best_lambda = None  # the lambda with the highest SSIM in your table
ncc_agrees = None  # True if the lambda with the highest NCC is the same one, else False
check_lambda_sweep(best_lambda, ncc_agrees, sweep_ssim, sweep_ncc)

# %% tags=["solution"]
# Solution: short runs on the small phantom (the cell prints how long they took).
import time

from ctl.methods.translation_only import TranslationOnly, TranslationOnlyConfig
from ctl.teach.short_runs import exercise_data, exercise_preset, train_variant

small_prepared, small = exercise_data(ctx.data_dir, ctx.seed), exercise_preset(preset)
if (small_prepared / "paired_mr").is_dir():
    small_ids = subject_ids(small_prepared, "ct", "test")
    small_cts = {sid: load_volume(small_prepared, "ct", sid).image for sid in small_ids}
    small_truths = {sid: load_paired_mr(small_prepared, sid).image for sid in small_ids}
    start = time.perf_counter()
    for lam in LAMBDAS:
        translation = TranslationConfig.from_preset(small, lambda_nce=lam, nce_identity=lam > 0)  # eq. 8 needs PatchNCE
        config = TranslationOnlyConfig(translation, lr=small.lr)
        method, _ = train_variant(lambda: TranslationOnly(config), small_prepared, small, seed=ctx.seed,
                                  device=ctx.device)
        images = {sid: translate_volume(method.translate, small_cts[sid], ctx.device) for sid in small_ids}
        sweep_ncc[lam], sweep_ssim[lam] = body_scores(images, small_cts, small_truths).mean(0)
        print(f"lambda {lam:3.1f}: NCC {sweep_ncc[lam]:.3f}, SSIM {sweep_ssim[lam]:.3f}")
    print(f"{len(LAMBDAS)} runs of {small.iterations} iterations at {small.image_size} px, "
          f"{len(small_ids)} test patient(s): {time.perf_counter() - start:.0f} s")
    best_lambda = max(sweep_ssim, key=sweep_ssim.get)
    ncc_agrees = max(sweep_ncc, key=sweep_ncc.get) == best_lambda
    check_lambda_sweep(best_lambda, ncc_agrees, sweep_ssim, sweep_ncc)

# %% [markdown]
# ## 9. The same translators, trained far longer
#
# A GAN needs many more iterations than a few minutes on a CPU give it: in this run's figure the translations
# are still learning MR's brightness. The package ships reference weights of both translators, LSGAN alone
# (`lsgan`) and LSGAN + PatchNCE (`cut`), trained by its own code (the same losses, data and schedule, only
# longer) at this preset's sizes on the same phantom; where a preset has none, the cell says so and how to make
# them. They were not trained in this run; everything below about them is computed here, on this run's test
# patients. This is where the two runs above are heading, and it repeats section 8's comparison without the excuse
# of short training: once both have learnt MR's look, which one still keeps the CT's anatomy?

# %%
from ctl.teach.references import reference_or_reason

references = {}
for name, method in runs.items():
    reference, about = reference_or_reason(method, preset, ctx.device, ctx.data_source)
    print(about)
    if reference is not None:
        references[f"{name} (reference)"] = reference.method
if references:
    long_translated = {name: {sid: translate_volume(model.translate, volumes[sid].image, ctx.device)
                              for sid in test_ids} for name, model in references.items()}
    fig = translation_rows(rows, volumes, long_translated, truth_images)
    ctx.save_figure(fig, "translations-reference")
    show_compact(fig)
    if has_paired_truth:
        print(f"{len(test_ids)} CT test patients                  NCC (mean ± sd)      SSIM (mean ± sd)")
        for name, images in {**translated, **long_translated}.items():
            values = body_scores(images, cts, paired_images)
            mean, sd = values.mean(0), values.std(0)
            print(f"{name:34s} {mean[0]:7.3f} ± {sd[0]:.3f}      {mean[1]:7.3f} ± {sd[1]:.3f}")
            if name in long_translated:
                key = "lsgan" if name.startswith("LSGAN (") else "lsgan_patchnce"
                ctx.record(f"ssim_body_{key}_reference", round(float(mean[1]), 4))

# %% [markdown]
# ## What to take away
#
# - Least squares gives the generator a gradient proportional to how far its fakes score from "real", with no
#   saturation; the discriminator is a PatchGAN that judges local appearance.
# - LSGAN alone only asks the output to *look like MR*. Nothing in its loss ties a translated organ to the CT
#   organ it came from; PatchNCE adds exactly that tie, patch by patch, in $G$'s own features.
# - The paired truth of the phantom turns "keeps the anatomy" into numbers. Read the tables above with the loss
#   curves and pictures: a higher SSIM for LSGAN + PatchNCE than for LSGAN alone means the content term keeps
#   local structure; NCC and the spleen/liver ratio show how much of MR's appearance has been learnt so far, and
#   the comparison with "no translation" whether the translation has yet beaten doing nothing. At the `ci`
#   preset (20 iterations) all of this is noise; the `cpu` preset and above give numbers worth reading, and
#   longer training (section 9, `gpu`) gets closer to the truth.
# - Notebook 03 derives PatchNCE; notebook 04 trains the segmenter on translated CT, jointly with $G$ (eq. 1).
