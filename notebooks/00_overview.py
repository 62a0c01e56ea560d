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
# # 00 · Overview: teaching a CT-trained segmenter to read MR
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ctl-teaching/ctl/blob/main/notebooks/00_overview.ipynb)
#
# **What this notebook teaches**
# - the clinical problem: why a network trained on labelled CT fails on MR of the same organs;
# - the pipeline of *Contrastive Translation Learning for Medical Image Segmentation* (Zeng, Fan et al.,
#   ICASSP 2022) as one picture, with the loss of each arrow;
# - the map of this series, and how to switch preset, device and data.
#
# **Time and hardware**: printed under the setup cell (measured, never estimated). Notebooks 01-05 end their
# sections with exercises that check themselves; instructors: `notebooks/INSTRUCTORS.md`.

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

ctx = setup_notebook("00_overview", PRESET, DATA_SOURCE, DATA_DIR, RUN_DIR, SEED)

# %%
from IPython.display import Markdown, display

from ctl.teach.overview import time_and_hardware

display(Markdown(time_and_hardware("00_overview")))

# %% [markdown]
# ## 1. The clinical problem
#
# Abdominal organs are delineated in CT every day, and labelled CT data sets exist (BTCV: 30 portal-venous
# CT volumes with 13 organs outlined). MR of the same organs is less often labelled: CHAOS gives 20 T2-SPIR
# volumes. A segmenter trained on CT and applied to MR fails, because the two modalities map the same tissue to
# different grey values:
#
# | tissue | CT (Hounsfield units, portal-venous phase) | T2-SPIR MR (relative to liver) |
# |---|---|---|
# | liver | about 124 HU | 1 (dark) |
# | spleen | about 122 HU: looks like the liver | about 2-2.5: brighter than the liver |
# | kidney | about 176-178 HU | about 3: brightest organ |
# | fat | about -100 HU: darkest soft tissue | suppressed by SPIR: dark |
#
# In CT liver and spleen look alike and fat is dark; in T2-SPIR the spleen is much brighter than the liver.
# A network that learned "liver = this grey, spleen = the same grey, decided by position" on CT meets
# a different image. Notebook 01 measures the drop on our phantom.
#
# **Unsupervised domain adaptation (UDA)** uses the labelled source (CT) and the *unlabelled* target (MR).
# The paper works in input space: translate each CT slice so it looks like MR, keep its labels, and train the
# segmenter on the translated slices.

# %% [markdown]
# ## 2. The pipeline
#
# - A generator $G$ translates a CT slice $x^s$ into $x^{s\to t} = G(x^s)$.
# - A discriminator $D$ tells translated slices from real MR slices $x^t$; least-squares GAN losses
#   $L_{gen}$, $L_{dis}$ (eq. 2-3) push $G$ to produce MR-looking slices (notebook 02).
# - Looking like MR is not enough: the kidney must stay where the kidney was. PatchNCE (eq. 4-11, from CUT)
#   encodes $x^s$ and $x^{s\to t}$ with $G$'s own encoder, projects patches with a small MLP $F$, and asks
#   each translated patch to pick its own source patch out of the others (notebook 03).
# - The same PatchNCE is asked of real MR (eq. 8): $G$ applied to an MR slice $x^t$ should change nothing, so
#   each patch of $G(x^t)$ must pick its own patch of $x^t$. The paper writes $x^{t\to s}$ for it; with a single
#   generator, as in CUT, it is $G(x^t)$ (the third row of the figure).
# - A U-Net $U$ learns from $(x^{s\to t}, y^s)$ with weighted cross-entropy plus Dice (eq. 12-14), in the same
#   loop (notebook 04). At test time (below the dotted line) only $U$ is used, on real MR: $G$, $D$ and $F$ exist
#   only to train it.

# %%
from ctl.teach.overview import draw_pipeline

fig = draw_pipeline()
ctx.save_figure(fig, "pipeline")

# %% [markdown]
# ## 3. The series
#
# Each notebook states what it teaches, derives before it codes, and runs in minutes on a CPU at its default
# settings. Times are measured (by `benchmarks/notebook_times.py`) on a 2-core CPU, not estimated; a dash means
# that preset has not been timed yet. Each notebook's header line reads the same file, so the two agree.
#
# **Exercises.** Every section of notebooks 01-05 that teaches a skill ends with an exercise: a heading
# "Exercise", a cell where you write your answer (it starts as `None`) and a call to a checker of `ctl.teach`
# that says whether the answer is right or what is wrong, without giving the answer away. The worked solution
# follows in a cell tagged `solution`; `make student` writes the series without those cells into
# `build/student/`, for handing out.

# %%
from IPython.display import Markdown, display

from ctl.teach.overview import series_table

display(Markdown(series_table()))

# %% [markdown]
# ## 4. Presets, device and data
#
# **Preset.** The `parameters` cell above holds plain values only. `PRESET` picks a row of one table,
# `ctl/presets.py`:
#
# - `ci`: tiny images and a few iterations: every code path in seconds (used by the tests);
# - `cpu` (default): meaningful results on a 2-core laptop or Binder (2 GB RAM);
# - `gpu`: the full-size phantom and the reference network sizes on one GPU (Colab);
# - `paper`: the paper's settings, for the real data.
#
# Change `PRESET` and rerun, or set the environment variable `CTL_PRESET` before starting Jupyter (it wins over
# the cell). To run the whole series non-interactively: `make demo PRESET=gpu`.
#
# **Device.** Chosen automatically (CUDA, then Apple MPS, then CPU) and printed by the setup cell above.
#
# **Data.** `DATA_SOURCE = "phantom"` generates a synthetic abdomen rendered as CT and as MR (nothing to
# download). With the real BTCV and CHAOS data on disk, set `DATA_SOURCE = "real"`: notebook 01 says where to
# get them and how to lay them out.

# %%
from ctl.presets import PRESETS

rows = ["| preset | image (px) | CT / MR subjects | generator ngf x blocks | U-Net base x depth | iterations |",
        "|---|---|---|---|---|---|"]
for p in PRESETS.values():
    rows.append(f"| `{p.name}` | {p.image_size} | {p.n_ct} / {p.n_mr} | {p.ngf} x {p.n_blocks} "
                f"| {p.unet_base} x {p.unet_depth} | {p.iterations} |")
display(Markdown("\n".join(rows)))
