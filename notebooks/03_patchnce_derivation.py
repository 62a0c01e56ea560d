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
# # 03 · PatchNCE: from a softmax classifier to patches that keep their content
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ctl-teaching/ctl/blob/main/notebooks/03_patchnce_derivation.ipynb)
#
# **What this notebook teaches**
# - InfoNCE (eq. 11) is the cross-entropy of an $(N+1)$-way softmax classification: derived, then computed by
#   hand on tiny vectors and checked against `ctl.losses.info_nce`;
# - the bound it gives on mutual information, $I \ge \log(N+1) - \mathcal{L}_q$, and why it can never exceed
#   $\log(N+1)$;
# - what the temperature $\tau$ and the number of negatives $N$ do to the loss and to its gradient;
# - what a "patch" is at each encoder layer of $G$ (receptive fields drawn on a CT slice), and how PatchNCE
#   (eq. 4-10) turns one image into many classification problems;
# - why the features pass through a small MLP head $F$ with L2 normalisation before the loss, and where `ctl`
#   follows CUT's code rather than the paper's text;
# - why the paper uses PatchNCE rather than CycleGAN's cycle consistency: measured on a CT slice;
# - why the bound is only a guide here: PatchNCE's negatives come from the same image as the query.
#
# **Exercises** (they check themselves): 1 InfoNCE by hand, 2 how many negatives a bound needs, 3 the trained
# translator of notebook 02 in the patch-similarity matrix. **Time and hardware**: printed under the setup cell.

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

ctx = setup_notebook("03_patchnce_derivation", PRESET, DATA_SOURCE, DATA_DIR, RUN_DIR, SEED)

# %%
from IPython.display import Markdown, display

from ctl.teach.overview import time_and_hardware

display(Markdown(time_and_hardware("03_patchnce_derivation")))

# %% [markdown]
# ## 1. InfoNCE is a classification loss
#
# Take a *query* vector $q$ and $N+1$ candidate *keys* $k_0, \dots, k_N$. Exactly one of them, the positive
# $k^+ = k_0$, belongs with $q$ (in PatchNCE: the source patch at the same place as the translated patch $q$);
# the other $N$, the negatives $k^-_1, \dots, k^-_N$, were drawn independently of $q$ (PatchNCE bends this rule:
# section 5). The task: say which key is the positive.
#
# A classifier for this task needs a score per candidate. Use the similarity of unit vectors, scaled by a
# temperature: $s_i = q \cdot k_i / \tau$. A softmax over the $N+1$ scores gives the probability that candidate
# $i$ is the positive:
#
# $$p(i \mid q, k_0, \dots, k_N) = \frac{\exp(q \cdot k_i / \tau)}{\sum_{j=0}^{N} \exp(q \cdot k_j / \tau)} .$$
#
# The cross-entropy of this prediction with the correct answer $i = 0$ is $-\log p(0 \mid \dots)$:
#
# $$\mathcal{L}_q(q, k^+, k^-) = -\log \frac{\exp(q \cdot k^+ / \tau)}{\exp(q \cdot k^+ / \tau) +
#   \sum_{n=1}^{N} \exp(q \cdot k^-_n / \tau)} \qquad \text{(eq. 11)}$$
#
# That is all eq. 11 is: softmax cross-entropy where the "class weights" are the keys themselves and the
# correct class is the positive. Two consequences to keep in mind:
# - a classifier that cannot tell the keys apart gives every candidate $1/(N+1)$, so $\mathcal{L}_q = \log(N+1)$;
# - the loss falls towards 0 only when $q \cdot k^+$ exceeds every $q \cdot k^-_n$ by many multiples of $\tau$.
#
# ### By hand, on four 2-D unit vectors
#
# $q = (0.6, 0.8)$, $k^+ = (0.8, 0.6)$ and three negatives $(1, 0)$, $(0, 1)$, $(-0.6, 0.8)$, with $\tau = 0.5$.
# The dot products are $q \cdot k^+ = 0.48 + 0.48 = 0.96$ and $q \cdot k^- = 0.6,\ 0.8,\ -0.36 + 0.64 = 0.28$.

# %%
# NBVAL_CHECK_OUTPUT
import numpy as np

q = np.array([0.6, 0.8])
k_pos = np.array([0.8, 0.6])
k_neg = np.array([[1.0, 0.0], [0.0, 1.0], [-0.6, 0.8]])
tau = 0.5

similarities = np.concatenate([[q @ k_pos], k_neg @ q])  # candidate 0 is the positive
logits = similarities / tau
probabilities = np.exp(logits) / np.exp(logits).sum()
loss_by_hand = -np.log(probabilities[0])

print("candidate      q.k    q.k/tau   softmax")
for name, s, z, p in zip(["k+", "k-1", "k-2", "k-3"], similarities, logits, probabilities):
    print(f"{name:9s} {s:8.2f} {z:9.2f} {p:9.4f}")
print(f"L_q = -log {probabilities[0]:.4f} = {loss_by_hand:.4f}")

# %% [markdown]
# The positive is the most similar candidate, yet it gets only 0.40 of the probability, well under half: at
# $\tau = 0.5$ a similarity gap of 0.16 to the closest negative is a logit gap of only 0.32. Our function and
# PyTorch's plain cross-entropy (with the positive as class 0) give the same number:

# %%
# NBVAL_CHECK_OUTPUT
import torch
from torch.nn import functional as nnf

from ctl.losses import info_nce

as_tensor = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
ours = info_nce(as_tensor(q), as_tensor(k_pos), as_tensor(k_neg), tau=tau).item()
cross_entropy = nnf.cross_entropy(as_tensor(logits)[None], torch.tensor([0])).item()
print(f"by hand           {loss_by_hand:.6f}")
print(f"ctl info_nce      {ours:.6f}")
print(f"torch CE, class 0 {cross_entropy:.6f}")

# %% [markdown]
# ### Its gradient
#
# With $p_i$ the softmax probabilities above, the derivative of eq. 11 with respect to the query is
#
# $$\frac{\partial \mathcal{L}_q}{\partial q} = \frac{1}{\tau}\Big(\sum_{i=0}^{N} p_i k_i - k^+\Big)
#   = \frac{1}{\tau}\Big(\sum_{n=1}^{N} p_n\, (k^-_n - k^+)\Big).$$
#
# Gradient descent moves $q$ towards $k^+$ and away from each negative *in proportion to that negative's
# softmax probability*: negatives that already score low hardly matter, the "hard" ones (similar to $q$) get
# most of the push. Check against autograd:

# %%
# NBVAL_CHECK_OUTPUT
grad_by_hand = (probabilities[1:, None] * (k_neg - k_pos)).sum(0) / tau

q_var = as_tensor(q).requires_grad_()
info_nce(q_var, as_tensor(k_pos), as_tensor(k_neg), tau=tau, normalize=False).backward()
print("by hand :", np.round(grad_by_hand, 6))
print("autograd:", np.round(q_var.grad.numpy(), 6))

# %% [markdown]
# ### Exercise 1: InfoNCE by hand
# Now on your own: $q = (0, 1)$, $k^+ = (0.6, 0.8)$, negatives $(0.8, 0.6)$, $(1, 0)$ and $(-0.6, 0.8)$, and the
# temperature $\tau = 0.2$. Compute $\mathcal{L}_q$ (eq. 11) with numpy, step by step as above (no `info_nce`).
# Before you compute: will it be larger or smaller than the example's 0.904?

# %%
from ctl.teach.exercises import check_infonce

ex_q, ex_pos, ex_neg, ex_tau = np.array([0.0, 1.0]), np.array([0.6, 0.8]), np.array([[0.8, 0.6], [1.0, 0.0],
                                                                                    [-0.6, 0.8]]), 0.2
my_loss = None  # L_q in nats
check_infonce(my_loss, ex_q, ex_pos, ex_neg, ex_tau)

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
# Solution: logits 0.8/0.2 = 4.0 for the positive; 3.0, 0.0 and 4.0 for the negatives. The third negative is as
# similar to q as the positive, so the positive cannot get more than half of the probability.
ex_logits = np.concatenate([[ex_q @ ex_pos], ex_neg @ ex_q]) / ex_tau
my_loss = -np.log(np.exp(ex_logits[0]) / np.exp(ex_logits).sum())
print(f"logits {np.round(ex_logits, 2).tolist()}, L_q = {my_loss:.4f}")
check_infonce(my_loss, ex_q, ex_pos, ex_neg, ex_tau)

# %% [markdown]
# ## 2. What the loss measures: a bound on mutual information
#
# Oord et al. (2018, "CPC") showed that for *any* scoring function, in expectation over queries and their
# positives and negatives,
#
# $$I(q; k^+) \;\ge\; \log(N+1) - \mathcal{L}_q .$$
#
# Read it as: a guesser that ignores $q$ scores $\log(N+1)$; every nat the loss falls below that must come from
# information that $q$ carries about its own positive. Minimising InfoNCE therefore *maximises a lower bound on
# the mutual information* between a translated patch and its source patch, which is what the paper wants from
# $\mathcal{L}_{PatchNCE}$ (Sec. 2.3). Since $\mathcal{L}_q \ge 0$, the bound can never exceed $\log(N+1)$:
# with CUT's 256 patches per image (255 negatives) it is at most $\log 256 = 5.55$ nats, however much the
# patches share.
#
# An experiment where the true mutual information is known: $x \sim \mathcal{N}(0, I_4)$ and
# $y = \rho x + \sqrt{1-\rho^2}\,\varepsilon$ have $I(x; y) = -2 \log(1-\rho^2)$ nats. With the best possible
# scoring function (the log density ratio, which `gaussian_infonce_bound` writes as a dot product so that
# `info_nce` computes it), the bound follows the true value until it hits the ceiling $\log(N+1)$.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt

from ctl.teach.infonce import gaussian_infonce_bound

generator = torch.Generator().manual_seed(ctx.seed)
rhos = np.linspace(0.0, 0.995, 14)
fig, ax = plt.subplots(figsize=(6.4, 4.2))
true_mi = [-2 * np.log(1 - r ** 2) for r in rhos]
ax.plot(true_mi, true_mi, "k--", lw=1, label="true I(x; y)")
for negatives in (3, 31, 255):
    bounds = [gaussian_infonce_bound(r, dim=4, negatives=negatives, queries=2048, generator=generator)[1]
              for r in rhos]
    line, = ax.plot(true_mi, bounds, "o-", ms=3, label=f"log(N+1) - L, N = {negatives}")
    ax.axhline(np.log(negatives + 1), color=line.get_color(), lw=0.8, ls=":")
ax.set_xlabel("true mutual information (nats)")
ax.set_ylabel("InfoNCE bound (nats)")
ax.legend(fontsize=8)
ax.set_title("the bound saturates at log(N+1) (dotted)", fontsize=9)
ctx.save_figure(fig, "mi-bound")

# %% [markdown]
# Each curve follows the dashed diagonal while the mutual information is small and bends flat at its own
# $\log(N+1)$ (the dotted lines) once the pairs share more than the $N+1$ candidates can reveal. More negatives
# make the bound usable further up: one reason CUT samples hundreds of patches per layer.
#
# One condition of the bound matters below: the negatives are drawn *independently* of the query, from the
# marginal distribution (here: other samples' $y$). Section 5 shows that PatchNCE's negatives are not.

# %% [markdown]
# ### Exercise 2: enough negatives for a bound
# A pair of patches shares 3 nats of information. What is the smallest number of negatives $N$ for which the
# InfoNCE bound could certify all of it?

# %%
from ctl.teach.exercises import check_negatives_for_bound

negatives_needed = None  # a whole number
check_negatives_for_bound(negatives_needed, nats=3.0)

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
# Solution: the bound never exceeds log(N + 1), so N + 1 >= e^3 = 20.09: N = 20 (log 21 = 3.04 nats).
negatives_needed = int(np.ceil(np.exp(3.0) - 1))
check_negatives_for_bound(negatives_needed, nats=3.0)

# %% [markdown]
# ## 3. Temperature and number of negatives
#
# **Unrelated vectors.** If $q$ is independent of every key, all scores look alike and the loss sits near
# $\log(N+1)$, growing with $N$. At $\tau = 1$ random unit vectors in many dimensions have dot products near
# 0, so the loss is almost exactly $\log(N+1)$; at $\tau = 0.07$ the small random similarities are magnified
# 14-fold and the chance winner among the negatives pushes the loss *above* $\log(N+1)$.

# %%
dims = 64
ns = np.array([1, 3, 7, 15, 31, 63, 127, 255, 511])
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for t in (1.0, 0.2, 0.07):
    losses = []
    for n in ns:
        q_rand = nnf.normalize(torch.randn(256, dims, generator=generator), dim=-1)
        k_rand = nnf.normalize(torch.randn(256, n + 1, dims, generator=generator), dim=-1)
        losses.append(info_nce(q_rand, k_rand[:, 0], k_rand[:, 1:], tau=t).item())
    axes[0].plot(ns, losses, "o-", ms=3, label=f"tau = {t}")
axes[0].plot(ns, np.log(ns + 1), "k--", lw=1, label="log(N+1)")
axes[0].set_xscale("log")
axes[0].set_xlabel("negatives N (log scale)")
axes[0].set_ylabel("InfoNCE loss (nats)")
axes[0].set_title("q independent of all keys", fontsize=9)
axes[0].legend(fontsize=8)

# **Which negatives get the gradient.** One query, a positive at similarity 0.8 and 255 negatives with
# similarities spread over [-0.5, 0.7]: the softmax weight p_n that each negative gets in the gradient.
sims_neg = torch.linspace(-0.5, 0.7, 255, dtype=torch.float64)
for t in (1.0, 0.2, 0.07):
    weights = torch.softmax(torch.cat([torch.tensor([0.8], dtype=torch.float64), sims_neg]) / t, dim=0)[1:]
    axes[1].plot(sims_neg, weights / weights.sum(), label=f"tau = {t}")
axes[1].set_xlabel("similarity q.k- of a negative")
axes[1].set_ylabel("its share of the push away")
axes[1].set_title("low tau: the gradient goes to the hardest negatives", fontsize=9)
axes[1].legend(fontsize=8)

# **How large the gradient is.** One query with its positive at similarity 0.8 and 254 random negatives in 8-D:
# "hard" keeps all of them (a few random directions are more similar to q than the positive), "easy" keeps
# only those below 0.6, a clear margin. Loss and gradient norm as tau varies.
taus = np.geomspace(0.02, 2.0, 40)
dirs = nnf.normalize(torch.randn(256, 8, generator=generator, dtype=torch.float64), dim=-1)
q_fixed = dirs[0]
k_pos_fixed = 0.8 * q_fixed + 0.6 * nnf.normalize(dirs[1] - (dirs[1] @ q_fixed) * q_fixed, dim=0)  # q.k+ = 0.8
negatives_all = dirs[2:]
beating = int((negatives_all @ q_fixed > 0.8).sum())
easy = negatives_all[negatives_all @ q_fixed < 0.6]
cases = {f"hard: all {len(negatives_all)}": negatives_all, f"easy: the {len(easy)} below 0.6": easy}
for (case, negs), colour in zip(cases.items(), ("C0", "C1")):
    loss_t, grad_t = [], []
    for t in taus:
        qv = q_fixed.clone().requires_grad_()
        value = info_nce(qv, k_pos_fixed, negs, tau=float(t), normalize=False)
        value.backward()
        loss_t.append(value.item())
        grad_t.append(qv.grad.norm().item())
    axes[2].plot(taus, loss_t, color=colour, label=f"loss, {case}")
    axes[2].plot(taus, grad_t, color=colour, ls="--", label=f"|dL/dq|, {case}")
axes[2].set_xscale("log")
axes[2].set_yscale("log")
axes[2].axvline(0.07, color="gray", lw=0.8, ls=":")
axes[2].set_xlabel("tau (log scale; CUT: 0.07, dotted)")
axes[2].set_ylabel("loss (nats) and |dL/dq| (log scale)")
axes[2].set_title(f"positive at 0.8; {beating} of {len(negatives_all)} negatives beat it", fontsize=9)
axes[2].legend(fontsize=7)
fig.tight_layout()
ctx.save_figure(fig, "temperature-negatives")

# %% [markdown]
# - **Left:** with nothing to find, the loss is about $\log(N+1)$ at $\tau = 1$ and rises above it at small
#   $\tau$; training pushes it *below* that line, and the gap is what the model has learnt.
# - **Middle:** at $\tau = 1$ every negative pushes a little; at $\tau = 0.07$ almost all of the push comes
#   from the few negatives most similar to the query. A low temperature makes the loss a *hard-negative*
#   miner: it spends the gradient where the patches are still confused.
# - **Right:** at large $\tau$ every logit is near 0, the loss approaches $\log(N+1)$ whatever the similarities
#   and its gradient shrinks like $1/\tau$: little is learnt. As $\tau$ falls, two cases part. If the positive
#   beats every negative by a clear margin ("easy"), loss and gradient both vanish: the example is solved and stops pulling. If
#   some negatives beat it ("hard"), the loss grows again like (their lead) / $\tau$ and so does the gradient,
#   all of it aimed at those negatives. A small $\tau$ such as CUT's 0.07 thus spends the training signal on the
#   patches that are still confused.
#
# The number of negatives works in the same direction as a ceiling: more negatives make the task harder (the
# loss at chance grows like $\log(N+1)$) and raise the most the bound of Section 2 can certify.
#
# **Explore.** Move the temperature and the number of negatives: on the left, which negatives get the push; on the
# right, where the chosen $\tau$ sits on the loss and gradient curves of those negatives. (With a live kernel,
# moving a control draws the new view under the controls; the figure below is the starting view.)

# %%
from ctl.teach.plots import show_compact
from ctl.teach.widgets import infonce_explorer

widget, draw = infonce_explorer(seed=ctx.seed)
display(widget)

# %%
show_compact(draw(tau=0.07, negatives=255))

# %% [markdown]
# ## 4. What a "patch" is at each encoder layer
#
# PatchNCE does not compare whole images. It takes the generator's own encoder $G_{enc}$ and reads its
# feature maps at a few layers $l$ (eq. 6-7). At layer $l$, the feature vector at one position describes a
# square of the input: its *receptive field*. For a chain of convolutions with kernels $k_i$ and strides $s_i$
# the side length is $r = 1 + \sum_i (k_i - 1) \prod_{j<i} s_j$ (`ctl.nets.receptive_field`). The paper: "deeper
# layers have bigger patches".
#
# For the reference generator (CUT's: 64 channels, 9 residual blocks, no anti-aliasing) the sizes are:

# %%
# NBVAL_CHECK_OUTPUT
from ctl.nets import ResnetGenerator, encoder_receptive_fields

reference = encoder_receptive_fields(ResnetGenerator(ngf=64, n_blocks=9))
print("layer   field (px)   distance between neighbours (px)")
for name, (field, jump) in reference.items():
    print(f"{name:7s} {field:8d} {jump:12d}")

# %% [markdown]
# Each residual block adds two 3x3 convolutions at a quarter of the resolution, i.e. $2 \times 2 \times 4 = 16$
# pixels to the field. At this notebook's preset, with the generator and the NCE layers the preset trains:

# %%
from ctl.data import ensure_prepared, load_volume, subject_ids
from ctl.organs import ORGAN_LABELS

preset = ctx.preset
G = ResnetGenerator(ngf=preset.ngf, n_blocks=preset.n_blocks)
fields = encoder_receptive_fields(G)
prepared = ensure_prepared(ctx.data_dir, preset, ctx.data_source, ctx.seed)
ct = load_volume(prepared, "ct", subject_ids(prepared, "ct", "train")[0])
z = int(np.argmax((ct.label > 0).sum(axis=(1, 2))))  # the slice with the most organ pixels
x = torch.from_numpy(ct.image[z][None, None].astype(np.float32))  # (1, 1, H, W)
pixel_mm = float(ct.spacing[1])
channels = G.feature_channels(G.layer_names)
maps = G.encode(x, G.layer_names)
print(f"CT slice {z} of {ct.subject}: {x.shape[-2]} x {x.shape[-1]} px, {pixel_mm:.2f} mm per pixel")
print("layer   used  channels   map (H x W)   field px   field mm")
for name in G.layer_names:
    f = maps[name]
    used = "yes" if name in preset.nce_layers else ""
    print(f"{name:7s} {used:4s} {channels[name]:9d}   {f.shape[2]:4d} x {f.shape[3]:<4d} {fields[name][0]:10d} "
          f"{fields[name][0] * pixel_mm:10.0f}")

# %% [markdown]
# The same fields drawn on the slice, centred on one point inside the liver (outlines: organs):

# %%
from ctl.teach.infonce import draw_patch_sizes
from ctl.teach.plots import organ_legend

liver = np.argwhere(ct.label[z] == ORGAN_LABELS["liver"])
centre = tuple(int(v) for v in liver[len(liver) // 2]) if len(liver) else (x.shape[-2] // 2, x.shape[-1] // 2)
fig, ax = plt.subplots(figsize=(6.4, 6.6))
draw_patch_sizes(ax, ct.image[z], centre, {name: fields[name][0] for name in preset.nce_layers}, ct.label[z])
ax.set_title(f"receptive fields of the NCE layers ({preset.name} preset), in pixels of "
             f"{pixel_mm:.2f} mm", fontsize=9)
fig.tight_layout()
organ_legend(fig, outlines=True)
ctx.save_figure(fig, "patch-sizes")

# %% [markdown]
# "input" patches are single pixels (PatchNCE on them asks that the translated pixel be recognisable from the
# source pixel's grey value alone); the shallow layers see texture and edges; the deepest chosen layer sees
# organ-sized regions, so its patches must keep *which organ is where*. Using several layers at once asks for
# content to be kept at every scale.
#
# The formula is easy to get wrong, so it is checked here the empirical way: make a copy of $G$ without
# normalisation layers and with all-positive weights, and see which input pixels the centre feature's
# gradient reaches (`empirical_receptive_field`).

# %%
from ctl.nets.receptive_field import empirical_receptive_field, positive_weights

probe = positive_weights(G)
deepest = preset.nce_layers[-1]
size = 4 * ((2 * fields[deepest][0]) // 4 + 4)
measured = empirical_receptive_field(lambda image: probe.encode(image, [deepest])[deepest], size=size)
print(f"{deepest}: formula {fields[deepest][0]} px, measured from gradients {measured} px")
assert measured == fields[deepest][0]

# %% [markdown]
# ## 5. PatchNCE: one image, many classification problems
#
# For layer $l$, take the features of the translation $G_{enc}^l(x^{s\to t})$ and of the source
# $G_{enc}^l(x^s)$, pick the same $S$ random positions in both, and embed them with $F_l$ (eq. 6-7). Query patch
# $s$ of the translation ($\hat u_l^s$) must pick out source patch $s$ ($u_l^s$) among the $S$ source patches;
# the other $S-1$ patches *of the same image* are its negatives (eq. 5). In matrix form, the similarities of
# all queries with all keys form an $S \times S$ matrix whose diagonal holds the positives, and the loss is a
# cross-entropy over each row. Three choices, all CUT's:
#
# - **negatives from the same image**: the other places of the same slice are the relevant confusions
#   (is this the liver or the spleen?), harder than patches of other images;
# - **no gradient through the keys**: only the translation (and $F$'s view of it) is trained to match the
#   source; the source features are the fixed target of the classification (`patch_nce` detaches them);
# - **several layers**: the loss is averaged over layers (eq. 5 sums; a constant factor).
#
# **The target term (eq. 8).** Eq. 4 adds $\mathcal{L}^T_{PatchNCE}(x^t, x^{t\to s})$. The method has no MR→CT
# generator, so $x^{t\to s}$ is not what it seems: as in CUT, it is $G(x^t)$, the CT→MR generator applied to a
# real MR slice, which should change nothing. Its PatchNCE asks that $G$ keep MR content too (CUT's "identity"
# loss, `nce_identity=True` in `ctl.translate`).
#
# Below, the similarity matrices for one CT slice at the preset's deepest NCE layer, for $S$ positions inside
# the body, using an *untrained* $G$ and $F$. The positions are drawn evenly over the organs and the rest of the
# body and sorted by organ (the strips along the axes), so that patches of one organ form a block. The query
# image is first the slice itself (a translation that changed nothing), then the slice moved down by a quarter
# of the layer's field (a translation that displaced the anatomy).

# %%
from ctl.losses import patch_nce
from ctl.nets import PatchProjector
from ctl.teach.infonce import position_organs, sample_by_organ, similarity_figure

layer = preset.nce_layers[-1]  # the deepest NCE layer: the largest patches
field, jump = fields[layer]
F_head = PatchProjector(mlp_width=preset.mlp_width)
shift = max(2, field // 4)
moved = torch.roll(x, shifts=shift, dims=2)  # anatomy moved down by `shift` pixels (rolled: the top wraps round)
with torch.no_grad():
    key_map = G.encode(x, [layer])
    map_width = key_map[layer].shape[-1]
    inside = nnf.avg_pool2d((x > 0.05).float(), jump) > 0.5 if jump > 1 else x > 0.05  # body, at the map's size
    candidates = torch.flatten(inside).nonzero()[:, 0].numpy()
    S = min(48, len(candidates), preset.num_patches)
    chosen, patch_organs = sample_by_organ(candidates, position_organs(ct.label[z], candidates, map_width, jump),
                                           S, np.random.default_rng(ctx.seed))
    ids = {layer: torch.from_numpy(chosen)}  # S positions in the body, sorted by organ
    keys, _ = F_head(key_map, S, patch_ids=ids)
    query_same, _ = F_head(G.encode(x, [layer]), S, patch_ids=ids)
    query_moved, _ = F_head(G.encode(moved, [layer]), S, patch_ids=ids)
similarities, titles = {}, {}
for name, query in (("same slice", query_same), (f"moved {shift} px", query_moved)):
    similarities[name] = (query[layer][0] @ keys[layer][0].T).numpy()  # (S, S): row = query patch, column = key
    loss = patch_nce(query[layer], keys[layer], tau=preset.nce_tau).item()
    found = np.mean(similarities[name].argmax(1) == np.arange(S))
    titles[name] = (f"query = {name}: PatchNCE at '{layer}' = {loss:.2f} (log S = {np.log(S):.2f});\n"
                    f"{found:.0%} of the queries find their own key (chance {1 / S:.0%})")
fig = similarity_figure(similarities, patch_organs, titles)
ctx.save_figure(fig, "similarity-matrices")

# %% [markdown]
# With the same slice every query meets an identical key, so the diagonal is at the maximum similarity 1;
# the other bright entries are patches with similar content (look inside the organ blocks: two places inside the
# liver), the negatives that make the task hard, and they are why the loss is not 0. Moving the anatomy breaks
# the correspondence: the diagonal fades and fewer queries find their own key (the titles count them). A
# translation that restyles intensities but keeps every organ in place can drive this loss down; one that
# invents or moves structures cannot. That is the content term that LSGAN alone lacks (notebook 02 trains both).
# (Positions in the uniform air around the body would all look alike and could not be told apart at all:
# PatchNCE can only ask for correspondence where there is structure. Training samples positions everywhere,
# as CUT does.)
#
# **The negatives are not independent of the query.** Section 2's bound, $I \ge \log(N+1) - \mathcal{L}_q$,
# assumes negatives drawn independently of $q$. PatchNCE's negatives are the other patches of the *same* image:
# the same patient, the same scanner, and often overlapping receptive fields, so some of them share input pixels
# with the query's own patch. The next cell counts how often, for the positions drawn above.

# %%
from ctl.teach.infonce import overlapping_share

share = overlapping_share(chosen, map_width, jump, field)
print(f"layer '{layer}': fields of {field} px, neighbours {jump} px apart; of the {S} x {S - 1} (query, negative) "
      f"pairs above, {share:.0%} share input pixels")
same_organ = patch_organs[:, None] == patch_organs[None]
off_diagonal = ~np.eye(S, dtype=bool)
for name, sim in similarities.items():
    within, across = sim[same_organ & off_diagonal].mean(), sim[~same_organ].mean()
    print(f"{name:12s}: mean similarity to negatives of the same organ {within:+.2f}, of other organs {across:+.2f}")

# %% [markdown]
# So the bound is a guide to what the loss rewards, not a guarantee about mutual information: negatives that
# overlap the query or show the same organ are harder than independent ones (their similarity to the query is
# higher, as the two lines above compare), which raises the loss and makes $\log(N+1) - \mathcal{L}$ a
# pessimistic number, while the assumption behind calling it a *bound* does not hold. CUT chose same-image
# negatives on purpose: they are the confusions that matter for content (liver or spleen?), and its ablations
# found them better than negatives from other images. Read PatchNCE's value as a training signal.

# %% [markdown]
# ## 6. Why an MLP head $F$, and why normalise
#
# The loss is not computed on $G_{enc}^l$'s features directly but on $F_l$ of them: a small MLP per layer
# (eq. 6-7, "MLP ... embeds encoded feature to latent space"), output normalised to unit length.
#
# **Where `ctl` follows CUT rather than the paper's text.** The paper says $F$ is "a multi-layer perceptron (MLP)
# with two hidden layers". CUT's code, which the paper cites for PatchNCE, uses one hidden layer: Linear, ReLU,
# Linear. `ctl` follows CUT's code (printed below) because the paper gives no widths or other details of its
# $F$, and CUT's head is the one whose behaviour is published; a second hidden layer is one more
# `Linear, ReLU` pair in `ctl.nets.projection.PatchProjector.build`. The other places where `ctl` departs from
# the printed equations are named where they occur: eq. 3's factor (notebook 02), eq. 14's misprint (notebook 04),
# eq. 8's $x^{t \to s}$ (section 5).
#
# - **Different layers, one loss.** Layers differ in width and scale, as the table below shows. One MLP per layer
#   maps each to the same embedding width, and the normalisation puts every similarity in $[-1, 1]$, so one
#   $\tau$ means the same sharpness at every layer and the logits are bounded by $1/\tau \approx 14$.
# - **The head takes the invariances, the encoder keeps the information.** SimCLR (Chen et al. 2020) found that a
#   contrastive loss on a projection head works better than on the features themselves: what the loss does not
#   need (e.g. exact intensities) can be discarded by the head, while the encoder, which $G$'s decoder also
#   relies on, keeps it. CUT uses the same design; $F$ is trained together with $G$ and thrown away afterwards.

# %%
F_head.build({name: channels[name] for name in preset.nce_layers})
print("layer   channels   mean |feature|   F_l parameters")
for name in preset.nce_layers:
    norms = maps[name].flatten(2).norm(dim=1)  # (1, H*W): length of each position's feature vector
    n_params = sum(p.numel() for p in F_head.mlps[name].parameters())
    print(f"{name:7s} {channels[name]:8d} {norms.mean().item():14.3f} {n_params:16d}")
print(f"embedding width {preset.mlp_width}; every embedding has length 1")
print(f"F for layer '{layer}': {F_head.mlps[layer]}")
hidden = sum(isinstance(m, torch.nn.ReLU) for m in F_head.mlps[layer])
print(f"hidden layers: {hidden} (CUT's code); the paper's text says 2")

# %% [markdown]
# ## 7. Why PatchNCE and not cycle consistency
#
# The paper's motivation (its introduction): the methods before it keep content with CycleGAN's cycle
# consistency, $\lVert G'(G(x)) - x \rVert_1$ with a second generator $G'$ back to CT, and "this pixel-level
# constraint is difficult to ensure the content consistency in the corresponding region (patch)". Made precise:
# the cycle loss is zero for *every* invertible $G$, with $G'$ its inverse. It asks that the translation can be
# undone, not that anything stays where it was.
#
# Four invertible "translations" of one CT slice (the slice of this subject that shows the most organs), each
# with its exact inverse as $G'$, so the cycle loss (`ctl.translate.cycle.cycle_l1`) is 0 for all of them:
#
# - **identity**: nothing changes, the best a content loss can ask for;
# - **mirror**: a left-right flip; the kidneys swap sides and the CT labels no longer fit the image;
# - **shift**: the anatomy moved down by a quarter of the slice;
# - **grey swap**: the grey values of 100-150 HU (liver, spleen) and 150-200 HU (kidneys) exchanged; every organ
#   stays in place with another organ's brightness.
#
# PatchNCE between each slice and its translation, first with an untrained $G_{enc}$ and $F$ (the same weights for
# all four), then after training $G_{enc}$ and $F$ on that pair alone for a few Adam steps, as CUT trains them
# (`ctl.teach.cycle_vs_patchnce`).

# %%
from ctl.teach.cycle_vs_patchnce import content_changes, content_losses
from ctl.teach.plots import outline_organs

z_all = int(np.argmax([len(np.unique(s)) * 1e6 + (s > 0).sum() for s in ct.label]))  # most organs, then area
slice_all = torch.from_numpy(ct.image[z_all][None, None].astype(np.float32))  # (1, 1, H, W)
steps = 5 if preset.name == "ci" else 100
losses = content_losses(slice_all, preset.ngf, preset.n_blocks, preset.nce_layers, num_patches=64,
                        mlp_width=preset.mlp_width, tau=preset.nce_tau, steps=steps, seed=ctx.seed)
rows = ["| translation | cycle loss | PatchNCE, untrained $G_{enc}$, $F$ | PatchNCE after "
        f"{steps} steps |", "|---|---|---|---|"]
rows += [f"| {name} | {r['cycle']:.3f} | {r['patchnce_untrained']:.2f} | {r['patchnce_trained']:.2f} |"
         for name, r in losses.items()]
display(Markdown("\n".join(rows)))
changes = content_changes(slice_all.shape[-2])
swapped = changes["grey swap"][0](slice_all)
print(f"slice {z_all} of {ct.subject}; the grey swap changes {(swapped != slice_all).float().mean():.0%} of its "
      f"pixels; PatchNCE is the mean over the NCE layers {preset.nce_layers}, 64 patches each")
ordered = sorted(losses, key=lambda n: losses[n]["patchnce_trained"])
print("PatchNCE after training, lowest first: " + " < ".join(ordered))

fig, axes = plt.subplots(1, 4, figsize=(12, 3.6))
for ax, (name, (forward, _)) in zip(axes, changes.items()):
    ax.imshow(forward(slice_all)[0, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    outline_organs(ax, ct.label[z_all], linewidth=0.9)
    ax.set_title(f"{name}: cycle loss {losses[name]['cycle']:.1f}", fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
fig.suptitle("outlines: where the CT labels say the organs are", fontsize=9)
fig.tight_layout()
organ_legend(fig, outlines=True)
ctx.save_figure(fig, "cycle-vs-patchnce")

# %% [markdown]
# Read the table with the pictures (the line above it orders the four by their trained PatchNCE in this run):
#
# - The cycle loss cannot tell the four apart: each can be undone exactly. A mirrored or shifted translation
#   would give the segmenter CT labels that no longer lie on their organs, and the cycle loss would not object.
# - PatchNCE compares each patch with the patch *at the same place*. The mirror and the shift move the anatomy
#   away from its labels, and they are the translations PatchNCE scores far above the identity, before and after
#   its encoder is trained.
# - The grey swap moves nothing. PatchNCE scores it close to the identity: the mutual information between a
#   patch and its translation is unchanged by any invertible remapping of grey values, and a trained encoder
#   learns to see through it. Neither loss decides which grey each tissue should get. That is the adversarial
#   loss's job: $D$ has seen real MR, where the spleen is brighter than the liver. Notebook 02's organ brightness
#   table shows how far training got with it.
#
# (Whether the real methods produce such translations is another question: a convolutional $G$ finds a mirror
# hard to learn. The point is what each loss can and cannot see. Notebook 05 measures the translations of the
# trained methods.)

# %% [markdown]
# ### Exercise 3: the trained translator in the similarity matrix
# Notebook 02 trained $G$ and $F$ with PatchNCE (method `cut`). Load that translator (the cell below trains it if
# notebook 02 has not run: `load_or_train("cut", prepared, translation_preset(preset), folder, ...)`, with the
# folder `run_folder(ctx.run_dir, "cut", preset.name, ctx.seed, ctx.data_source)`), translate the slice `x` with
# its `G`, and build the similarity matrix of section 5 with the *trained* encoder and head: queries
# $F(G_{enc}(G(x)))$, keys $F(G_{enc}(x))$, at the positions `ids` drawn in section 5. Then: what share of the
# query patches find their own key (the largest entry of their row is on the diagonal)? Compare with the
# untrained matrices above.

# %%
from ctl.teach.exercises import check_top1_accuracy

similarity_trained = None  # (S, S) numpy array: rows queries of G(x), columns keys of x
accuracy_trained = None  # a fraction between 0 and 1
check_top1_accuracy(accuracy_trained, similarity_trained)

# %% tags=["solution"]
# Solution: notebook 02's run is loaded from its run folder (trained here only when it is missing).
from ctl.teach.lsgan import translation_preset
from ctl.training import load_or_train, run_folder

cut = load_or_train("cut", prepared, translation_preset(preset),
                    run_folder(ctx.run_dir, "cut", preset.name, ctx.seed, ctx.data_source), seed=ctx.seed,
                    device=ctx.device, on_config_change="retrain")
G_trained, F_trained = cut.translator.G.cpu(), cut.translator.F.cpu()
with torch.no_grad():
    translated_x = G_trained(x)
    trained_keys, _ = F_trained(G_trained.encode(x, [layer]), S, patch_ids=ids)
    trained_queries, _ = F_trained(G_trained.encode(translated_x, [layer]), S, patch_ids=ids)
similarity_trained = (trained_queries[layer][0] @ trained_keys[layer][0].T).numpy()
accuracy_trained = float(np.mean(similarity_trained.argmax(1) == np.arange(S)))
untrained = {name: float(np.mean(sim.argmax(1) == np.arange(S))) for name, sim in similarities.items()}
print(f"queries that find their own key: trained G(x) {accuracy_trained:.0%}; untrained: "
      + ", ".join(f"{name} {value:.0%}" for name, value in untrained.items()) + f"; chance {1 / S:.0%}")
check_top1_accuracy(accuracy_trained, similarity_trained)

# %% [markdown]
# ## Summary
#
# - Eq. 11 is an $(N+1)$-way softmax cross-entropy with the positive as the correct class; its value at chance
#   is $\log(N+1)$, and $\log(N+1) - \mathcal{L}_q$ bounds the mutual information from below (never above
#   $\log(N+1)$).
# - A small temperature concentrates the gradient on hard negatives; more negatives raise the ceiling.
# - A patch at layer $l$ is that layer's receptive field; PatchNCE classifies each translated patch against the
#   other patches of the same source image, at several layers, through a per-layer MLP head with unit-length
#   output (one hidden layer, as CUT; the paper says two), with no gradient through the source.
# - Same-image negatives are harder than independent ones and not independent of the query: the MI bound is a
#   guide, the loss a training signal.
# - Cycle consistency is satisfied by any invertible translation, including ones that move the anatomy;
#   PatchNCE penalises moved content, and neither pins down which grey a tissue gets (the adversarial loss does).
# - Notebook 02 trains the translator with and without this term; notebook 04 adds the segmenter (eq. 12-14).
