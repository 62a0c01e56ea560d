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
# # 01 · Data preparation: two modalities, three file formats, one path to training slices
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/ctl-teaching/ctl/blob/main/notebooks/01_data_preparation.ipynb)
#
# **What this notebook teaches**
# - what portal-venous CT and T2-SPIR MR show of the same four organs, and why the grey levels a segmenter
#   learns on CT do not carry over to MR;
# - how the data sets store images: the NIfTI header and affine (BTCV), DICOM tags (CHAOS), and CHAOS's
#   grey-level PNG masks;
# - one canonical orientation for every volume, and why a slice must never be flipped left-right;
# - each preprocessing step of the paper (CT window, MR normalisation, resampling, a split by subject), shown;
# - the paper's augmentations (sharpness, brightness/contrast, elastic deformation) on one slice;
# - how to browse the volumes, and how to switch from the phantom to the real BTCV and CHAOS data.
#
# **Exercises** (they check themselves): 1 a voxel's position in millimetres from the NIfTI affine (section 3),
# 2 the CT window by hand (section 5.1), 3 the pixel size after resampling (section 5.3).
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
DATA_SOURCE = "phantom"  # "phantom" (made here, nothing to download) or "real" (BTCV + CHAOS, see section 9)
DATA_DIR = "../data"  # raw and prepared data
RUN_DIR = "../runs/notebooks"  # trained models, figures and results
SEED = 0

# %%
from ctl.teach.context import setup_notebook

ctx = setup_notebook("01_data_preparation", PRESET, DATA_SOURCE, DATA_DIR, RUN_DIR, SEED)

# %%
from IPython.display import Markdown, display

from ctl.teach.overview import time_and_hardware

display(Markdown(time_and_hardware("01_data_preparation")))

# %% [markdown]
# ## 1. The data: a phantom in the real data sets' formats
#
# The paper trains on 30 labelled CT volumes of BTCV and adapts to 20 T2-SPIR MR volumes of CHAOS. Both need a
# registration to download, so the default data here is a **synthetic abdominal phantom** written to disk in
# exactly the same formats (BTCV's NIfTI files, CHAOS's DICOM series and PNG masks). Phantom and real data then
# take one path: *raw files → loaders → preprocessing → a prepared folder* that training reads.
#
# **Anatomy.** Each phantom subject is drawn from its own seed: a body outline with subcutaneous fat and a
# muscle wall, spine, aorta and vena cava, stomach, bowel and gas, a gallbladder in most subjects, and the four
# organs of the paper. Every organ is a smooth closed surface, a superellipsoid in its own frame with a few
# low-frequency bumps on its level function,
#
# $$\text{level}(u) = \big(|u_x|^e + |u_y|^e + |u_z|^e\big)^{1/e} - \sum_k a_k \sin(w_k \cdot u + \varphi_k) < 1,$$
#
# placed in millimetres where anatomy puts it: the liver on the patient's right under the diaphragm, the
# spleen posterior on the left, the kidneys beside the spine (the right one lower). Because shapes live in
# millimetres, one subject can be voxelised on any scanner grid.
#
# **Contrast.** The CT renderer uses Hounsfield units close to BTCV's organ medians (liver about 124, spleen
# 122, kidneys 177 HU). The MR renderer models a T2-weighted spin echo: for equal proton density the signal is
#
# $$S = \left(1 - e^{-TR/T_1}\right) e^{-TE/T_2},$$
#
# computed below from published 3 T relaxation times (de Bazelaire et al., Radiology 2004) at TE/TR = 80/1600 ms,
# then fat is suppressed to a tenth (SPIR), and a smooth bias field, a gain and Rician noise are added.

# %%
# NBVAL_CHECK_OUTPUT
from ctl.data.render import CT_HU, MR_RELAXATION, MRConfig, mr_relative

relative = mr_relative(MRConfig())
rows = ["| tissue | CT mean (HU) | T1 (ms) | T2 (ms) | T2-SPIR signal / liver |", "|---|---|---|---|---|"]
for tissue in ("liver", "spleen", "kidney", "muscle", "subcutaneous_fat", "gallbladder", "csf"):
    t1, t2, is_fat = MR_RELAXATION[tissue]
    note = " (after SPIR)" if is_fat else ""
    rows.append(f"| {tissue} | {CT_HU[tissue][0]} | {t1} | {t2} | {relative[tissue]:.2f}{note} |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# Read the two columns against each other: in CT the liver and the spleen differ by 2 HU, in T2-SPIR the
# spleen is more than twice as bright as the liver; muscle is darker than the liver in MR, brighter than fat
# in both. A segmenter that learned "liver and spleen: the same mid grey" on CT meets a dark liver and a bright
# spleen in MR. That is the domain shift the paper's translation must undo. (CSF, bile and the other
# fluid-filled structures use assumed long relaxation times: they stand for MR's bright outliers.)
#
# The next cell generates the phantom for this preset (or finds it on disk) and prepares it. With
# `DATA_SOURCE = "real"` it prepares BTCV and CHAOS instead (section 9).

# %%
import time

import numpy as np

from ctl.data import ensure_prepared, read_meta, subject_ids

start = time.perf_counter()
prepared = ensure_prepared(ctx.data_dir, ctx.preset, ctx.data_source, ctx.seed)
if ctx.data_source == "phantom":
    raw = ctx.data_dir / "phantom" / f"{ctx.preset.name}-seed{ctx.seed}"
else:
    raw = ctx.data_dir / "real"
meta = read_meta(prepared)
print(f"raw data      : {raw}")
print(f"prepared data : {prepared}  ({time.perf_counter() - start:.1f} s, including generation if needed)")
for domain in ("ct", "mr"):
    n_train, n_test = len(subject_ids(prepared, domain, "train")), len(subject_ids(prepared, domain, "test"))
    slices = sum(s["slices"] for s in meta["subjects"][domain].values())
    print(f"{domain.upper()}: {n_train} train + {n_test} test subjects, {slices} slices of "
          f"{meta['image_size']} x {meta['image_size']}")
    ctx.record(f"{domain}_subjects", n_train + n_test)
    ctx.record(f"{domain}_slices", slices)

# %% [markdown]
# ## 2. Two modalities, one anatomy
#
# The phantom has something real data never have: for every CT subject, the same anatomy rendered as MR on the
# CT's own grid (`paired_mr/`, read only through `load_paired_mr`, **for evaluation only**: no training code
# may see it). It lets us put a CT slice and "its" MR side by side. With real data the two MR panels show
# another person (a CHAOS test subject).

# %%
# %matplotlib inline
import matplotlib.pyplot as plt

from ctl.data import load_paired_mr, load_volume
from ctl.teach.plots import busiest_slice, organ_legend, show_slice

plt.rcParams["figure.dpi"] = 72
ct_id, mr_id = subject_ids(prepared, "ct", "test")[0], subject_ids(prepared, "mr", "test")[0]
ct = load_volume(prepared, "ct", ct_id)
mr = load_paired_mr(prepared, ct_id) if meta["paired_mr"] else load_volume(prepared, "mr", mr_id)
z = busiest_slice(ct.label)
z_mr = z if meta["paired_mr"] else busiest_slice(mr.label)
fig, axes = plt.subplots(1, 4, figsize=(11, 3.2))
show_slice(axes[0], ct.image[z], title=f"CT {ct_id}, slice {z}")
show_slice(axes[1], ct.image[z], ct.label[z], title="CT with organs")
show_slice(axes[2], mr.image[z_mr], title=("paired MR (same anatomy)" if meta["paired_mr"] else f"MR {mr_id}"))
show_slice(axes[3], mr.image[z_mr], mr.label[z_mr], title="MR with organs")
fig.tight_layout()
organ_legend(fig)
ctx.save_figure(fig, "ct_and_mr")
plt.show()

# %% [markdown]
# The organs outlined in the two images are the same voxels, yet their grey levels are not. The histograms
# below gather every organ voxel of the prepared training subjects (images already scaled to [0, 1], see
# section 5): in CT the liver and spleen curves lie on top of each other, in MR they separate and the order of
# the organs changes.

# %%
from ctl.organs import CLASS_NAMES, ORGANS

fig, axes = plt.subplots(1, 2, figsize=(10, 2.8), sharey=False)
medians = {}
for ax, domain in zip(axes, ("ct", "mr")):
    volumes = [load_volume(prepared, domain, s) for s in subject_ids(prepared, domain, "train")]
    for organ in ORGANS:
        values = np.concatenate([v.image[v.label == organ.label] for v in volumes])
        medians[(domain, organ.name)] = float(np.median(values))
        ax.hist(values, bins=60, range=(0, 1), density=True, histtype="step", color=organ.colour, lw=1.5,
                label=organ.name.replace("_", " "))
    ax.set_title(f"{domain.upper()} training subjects: organ intensities")
    ax.set_xlabel("prepared intensity (0-1, no unit)")
    ax.set_ylabel("density (share of voxels per unit)")
axes[0].legend(fontsize=8)
ctx.save_figure(fig, "organ_histograms")
plt.show()
for (domain, organ), value in medians.items():
    ctx.record(f"median_{domain}_{organ}", value)
print("median prepared intensity    " + "  ".join(f"{organ.name:>12s}" for organ in ORGANS))
for domain in ("ct", "mr"):
    print(f"{domain.upper():28s} " + "  ".join(f"{medians[(domain, organ.name)]:12.2f}" for organ in ORGANS))

# %% [markdown]
# ## 3. How the data sets store images
#
# ### 3.1 BTCV: NIfTI
# A NIfTI file is a header plus a block of voxels `data[i, j, k]`. The header says the data type, the voxel
# sizes (`pixdim`) and, most importantly, an **affine** $A$ (4 x 4) that maps a voxel index to millimetres in
# the scanner's RAS frame (x to the patient's **R**ight, y **A**nterior, z **S**uperior):
#
# $$\begin{pmatrix} x \\ y \\ z \\ 1 \end{pmatrix} = A \begin{pmatrix} i \\ j \\ k \\ 1 \end{pmatrix}.$$
#
# The signs on the diagonal tell which way each array axis runs through the body.

# %%
import nibabel as nib

from ctl.data.btcv import find_btcv_root, list_btcv_cases

btcv_root = find_btcv_root(raw / "btcv")
ct_number = list_btcv_cases(btcv_root)[0]
nii = nib.load(btcv_root / "img" / f"img{ct_number:04d}.nii.gz")
header = nii.header
print(f"file          : {btcv_root.name}/img/img{ct_number:04d}.nii.gz")
print(f"dim           : {header['dim'][1:4].tolist()}  (i, j, k voxels)")
print(f"pixdim        : {np.round(header['pixdim'][1:4], 3).tolist()}  (mm)")
print(f"datatype      : {header.get_data_dtype()}  (Hounsfield units)")
print(f"qform / sform : codes {int(header['qform_code'])} / {int(header['sform_code'])}  (1 = scanner coordinates)")
print(f"axis codes    : {nib.aff2axcodes(nii.affine)}  (the direction each of i, j, k grows towards)")
print("affine (voxel -> RAS mm):")
print(np.round(nii.affine, 2))
label_nii = nib.load(btcv_root / "label" / f"label{ct_number:04d}.nii.gz")
liver_voxel = np.argwhere(np.asanyarray(label_nii.dataobj) == 6).mean(axis=0)  # BTCV id 6 = liver
liver_ras = nii.affine @ np.append(liver_voxel, 1.0)
print(f"liver centroid: voxel {np.round(liver_voxel, 1).tolist()} -> RAS {np.round(liver_ras[:3], 1).tolist()} mm"
      f"  (x > 0: the patient's right)")

# %% [markdown]
# ### Exercise 1: a voxel in millimetres
# Use the affine `nii.affine` printed above to find where voxel $(i, j, k) = (10, 20, 5)$ of this CT lies, in
# millimetres of the RAS frame, and say on which side of the patient it is. Set `ras` to the three numbers
# $(x, y, z)$ and run the cell.

# %%
from ctl.teach.exercises import check_voxel_to_ras

voxel = (10, 20, 5)
ras = None  # (x, y, z) in mm
check_voxel_to_ras(ras, nii.affine, voxel)

# %% tags=["solution"]
# Solution: the affine maps the homogeneous voxel index (i, j, k, 1) to (x, y, z, 1).
ras = (nii.affine @ np.array([*voxel, 1.0]))[:3]
print(f"voxel {voxel} -> RAS {np.round(ras, 1).tolist()} mm")
check_voxel_to_ras(ras, nii.affine, voxel)

# %% [markdown]
# BTCV labels 13 organs (1 spleen, 2 right kidney, 3 left kidney, 4 gallbladder, 6 liver, 7 stomach, 8 aorta,
# 9 inferior vena cava, ...). We keep four and map them to our classes
# `0 background, 1 liver, 2 right kidney, 3 left kidney, 4 spleen`; every other id becomes background.
#
# ### 3.2 CHAOS: a DICOM series
# DICOM stores **one file per slice**; each file carries tags. The ones that place a slice in space are
# ImagePositionPatient (the LPS position in mm of the first pixel's centre), ImageOrientationPatient (the
# directions along a row and down a column) and PixelSpacing. File names and instance numbers carry no
# geometry.

# %%
import SimpleITK as sitk

from ctl.data.chaos import find_chaos_root, list_chaos_cases, sorted_series

chaos_root = find_chaos_root(raw / "chaos")
mr_number = list_chaos_cases(chaos_root)[0]
series_dir = chaos_root / "MR" / str(mr_number) / "T2SPIR" / "DICOM_anon"
by_name = sorted(series_dir.glob("*.dcm"))
reader = sitk.ImageFileReader()
reader.SetFileName(str(by_name[0]))
reader.ReadImageInformation()
TAGS = {"0008|0060": "Modality", "0008|103e": "SeriesDescription", "0020|0013": "InstanceNumber",
        "0020|0032": "ImagePositionPatient", "0020|0037": "ImageOrientationPatient", "0028|0010": "Rows",
        "0028|0011": "Columns", "0028|0030": "PixelSpacing", "0018|0050": "SliceThickness",
        "0018|0081": "EchoTime", "0018|0080": "RepetitionTime"}
print(f"{by_name[0].name}:")
for tag, name in TAGS.items():
    value = reader.GetMetaData(tag).strip() if reader.HasMetaDataKey(tag) else "(absent)"
    print(f"  ({tag.replace('|', ',')}) {name:24s} {value}")


def position(path):
    """z of a file's first pixel (mm, LPS): the third number of ImagePositionPatient."""
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return float(reader.GetMetaData("0020|0032").split("\\")[2])


by_geometry = sorted_series(series_dir)
print(f"\nfirst two files by name     : {[p.name for p in by_name[:2]]}, z = "
      f"{[round(position(p), 1) for p in by_name[:2]]} mm")
print(f"first two files by geometry : {[p.name for p in by_geometry[:2]]}, z = "
      f"{[round(position(p), 1) for p in by_geometry[:2]]} mm")

# %% [markdown]
# In the phantom, as on many scanners, file 1 is the **top** slice. Stacking by file name would put the head
# at slice 0; the loader sorts by the position along the slice normal (the cross product of the two
# ImageOrientationPatient directions) instead.
#
# ### 3.3 CHAOS masks: grey levels in PNG files
# Each DICOM file has a PNG mask of the same name in `Ground/`. The organ is coded by grey level: liver 63,
# right kidney 126, left kidney 189, spleen 252. Readers accept a range around each level, (55, 70],
# (110, 135], (175, 200], (240, 255]; any other non-zero value is an error, never silently background.

# %%
from PIL import Image

from ctl.data.labels import CHAOS_RANGES, decode_chaos_png

masks = [np.asarray(Image.open(p.parent.parent / "Ground" / (p.stem + ".png"))) for p in by_geometry]
busiest = int(np.argmax([(m > 0).sum() for m in masks]))
grey = masks[busiest]
values, counts = np.unique(grey, return_counts=True)
print(f"{by_geometry[busiest].stem}.png: grey values {values.tolist()} with pixel counts {counts.tolist()}")
classes = decode_chaos_png(grey)
print(f"decoded classes: {np.unique(classes).tolist()}  "
      f"({', '.join(f'{CLASS_NAMES[c]} {low + 1}-{high}' for c, (low, high) in CHAOS_RANGES.items())})")
fig, axes = plt.subplots(1, 2, figsize=(8, 4.2))
axes[0].imshow(grey, cmap="gray", vmin=0, vmax=255)
axes[0].set_title("PNG as stored (grey levels 0-255)", fontsize=9)
show_slice(axes[1], np.zeros_like(classes, dtype=float), classes, "decoded classes", alpha=0.9)
axes[0].set_xticks([]), axes[0].set_yticks([])
fig.tight_layout()
organ_legend(fig)
plt.show()

# %% [markdown]
# ## 4. One orientation for every volume
#
# The two formats use different frames (NIfTI: RAS; DICOM: LPS), and two files of the same body may store
# their voxels in different orders. The loaders reorder every volume so that its axes point to the patient's
# **L**eft, **P**osterior and **S**uperior and index it `(z, y, x)`: an axial slice then shows the patient's
# right on the image's **left** and the front at the top (radiological display), and slice 0 is the lowest.
# Spacing is reordered with the axes and kept in mm (the evaluation's surface distances need it).
#
# A test of this: store the same CT with its first axis reversed and the affine changed to match. A reader that
# ignores the affine sees a mirror image: the liver jumps to the other side. Our loader returns the same array.

# %%
import tempfile
from pathlib import Path

from ctl.data.btcv import read_nifti_lps

data, affine = np.asanyarray(nii.dataobj), nii.affine
n_i = data.shape[0]
reverse_i = np.array([[-1, 0, 0, n_i - 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])  # new i = n - 1 - old i
labels = np.asanyarray(label_nii.dataobj)
with tempfile.TemporaryDirectory() as tmp:
    flipped_img, flipped_lab = Path(tmp) / "img.nii.gz", Path(tmp) / "label.nii.gz"
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data[::-1]), affine @ reverse_i), flipped_img)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(labels[::-1]), affine @ reverse_i), flipped_lab)
    original, _, _ = read_nifti_lps(btcv_root / "img" / f"img{ct_number:04d}.nii.gz")
    canonical_label, _, _ = read_nifti_lps(flipped_lab, is_label=True)
    again, _, _ = read_nifti_lps(flipped_img)
    naive_label = np.asanyarray(nib.load(flipped_lab).dataobj).transpose(2, 1, 0)  # ignores the affine
print(f"same array after reorientation : {np.array_equal(original, again)}")
width = original.shape[2]
for name, lab in (("our loader", canonical_label), ("ignoring the affine", naive_label)):
    column = np.nonzero(lab == 6)[2].mean()
    side = "image left = patient right" if column < width / 2 else "image right = patient LEFT: wrong"
    print(f"{name:20s}: liver centre at column {column:.0f} of {width} ({side})")

# %% [markdown]
# ## 5. Preprocessing, step by step
#
# ### 5.1 CT: a window from -200 to 300 HU
# The paper clips CT to [-200, 300] HU and scales linearly, $x' = (\text{clip}(x) + 200) / 500$. Air
# (-1000 HU) and bone (several hundred HU) are squeezed to 0 and 1; the organs, between about 0 and 200 HU, get
# most of the [0, 1] range.

# %%
from ctl.data import load_btcv_case, window_ct
from ctl.organs import ORGAN_COLOURS, ORGAN_TITLES
from ctl.teach.plots import organ_medians

ct_raw = load_btcv_case(btcv_root, ct_number)
hu = ct_raw.image.ravel()
fig, axes = plt.subplots(1, 2, figsize=(10, 2.8))
axes[0].hist(hu, bins=120, range=(-1100, 1100), color="0.4")
axes[0].axvspan(-200, 300, color="orange", alpha=0.2, label="window")
for organ, value in organ_medians(ct_raw).items():
    axes[0].axvline(value, color=ORGAN_COLOURS[organ], lw=1.2, label=f"{ORGAN_TITLES[organ]} median")
axes[0].set_yscale("log")
axes[0].set_title("raw CT; lines: organ medians", fontsize=9)
axes[0].set(xlabel="Hounsfield units (HU)", ylabel="voxels (log scale)")
axes[0].legend(fontsize=7)
axes[1].hist(window_ct(hu), bins=100, range=(0, 1), color="0.4")
axes[1].set_yscale("log")
axes[1].set_title("after the window: (clip(HU, -200, 300) + 200) / 500", fontsize=9)
axes[1].set(xlabel="prepared intensity (0-1, no unit)", ylabel="voxels (log scale)")
ctx.save_figure(fig, "ct_window")
plt.show()
below, above = (hu < -200).mean(), (hu > 300).mean()
print(f"voxels clipped to 0: {below:.1%} (air, fat, lungs); to 1: {above:.1%} (bone)")
print("organ medians (HU): " + ", ".join(f"{k} {v:.0f}" for k, v in organ_medians(ct_raw).items()))
ctx.record("ct_clipped_low_fraction", float(below))
ctx.record("ct_clipped_high_fraction", float(above))

# %% [markdown]
# ### Exercise 2: the window by hand
# What prepared intensity does a kidney voxel of 176 HU get, and what does a lung voxel of -500 HU get? Work
# them out from the formula above (no code needed), then let the checker judge.

# %%
from ctl.teach.exercises import check_ct_window

kidney_intensity = None  # the prepared value of 176 HU
lung_intensity = None  # the prepared value of -500 HU
check_ct_window(kidney_intensity, hu=176)
check_ct_window(lung_intensity, hu=-500)

# %% tags=["solution"]
# NBVAL_CHECK_OUTPUT
# Solution: (176 + 200) / 500 = 0.752; -500 HU lies below the window, is clipped to -200 HU, and becomes 0.
kidney_intensity, lung_intensity = (176 + 200) / 500, 0.0
check_ct_window(kidney_intensity, hu=176)
check_ct_window(lung_intensity, hu=-500)

# %% [markdown]
# ### 5.2 MR: robust scaling to [0, 1]
# MR intensities have no unit and vary with the scanner's gain; a few voxels (fluid in T2, vessels, spots where
# fat suppression failed, coil hot spots) can be far brighter than any organ. Dividing by the maximum lets the
# single brightest voxel decide where the organs land. We map the 0.5th percentile of the volume (air, the noise
# floor) to 0 and the 99.5th to 1 and clip, so at most 0.5 % of the voxels saturate.

# %%
from ctl.data import load_chaos_case, normalise_mr

mr_raw = load_chaos_case(chaos_root, mr_number)
low, high = np.percentile(mr_raw.image, [0.5, 99.5])
fig, axes = plt.subplots(1, 2, figsize=(10, 2.8))
axes[0].hist(mr_raw.image.ravel(), bins=120, color="0.4")
for value, name in ((low, "0.5 %"), (high, "99.5 %"), (mr_raw.image.max(), "max")):
    axes[0].axvline(value, color="orange" if name != "max" else "red", lw=1.2)
    axes[0].text(value, axes[0].get_ylim()[1] * 0.3, f" {name}", fontsize=8)
axes[0].set_yscale("log")
axes[0].set_title("raw T2-SPIR; lines: percentiles and maximum", fontsize=9)
axes[0].set(xlabel="MR signal (scanner units)", ylabel="voxels (log scale)")
axes[1].hist(normalise_mr(mr_raw.image).ravel(), bins=100, range=(0, 1), color="0.4")
axes[1].set_yscale("log")
axes[1].set_title("after percentile scaling", fontsize=9)
axes[1].set(xlabel="prepared intensity (0-1, no unit)", ylabel="voxels (log scale)")
ctx.save_figure(fig, "mr_normalisation")
plt.show()
print(f"{mr_raw.subject}: 0.5 % = {low:.0f}, 99.5 % = {high:.0f}, maximum = {mr_raw.image.max():.0f} (scanner units)")
ctx.record("mr_saturated_fraction", float((mr_raw.image > high).mean()))

# %% [markdown]
# Two checks of that choice. First, across all MR subjects, where does each scaling put the liver and the
# spleen? Second, what happens when one voxel of this volume becomes a spike ten times brighter than the
# maximum (a single corrupted pixel is enough)?

# %%
rows = []
for number in list_chaos_cases(chaos_root):
    volume = load_chaos_case(chaos_root, number)
    lo, hi, top = *np.percentile(volume.image, [0.5, 99.5]), volume.image.max()
    med = organ_medians(volume)
    rows.append([med["liver"] / top, (med["liver"] - lo) / (hi - lo), med["spleen"] / top,
                 (med["spleen"] - lo) / (hi - lo)])
rows = np.array(rows)
print(f"{len(rows)} MR subjects, organ median after scaling (mean +- sd across subjects):")
for k, name in enumerate(("liver,  by maximum   ", "liver,  by percentile", "spleen, by maximum   ",
                          "spleen, by percentile")):
    print(f"  {name}: {rows[:, k].mean():.2f} +- {rows[:, k].std():.2f}")
spiked = mr_raw.image.copy()
spiked[mr_raw.image.shape[0] // 2, 0, 0] = 10 * mr_raw.image.max()
liver = mr_raw.label == 1
for name, scale in (("by maximum", lambda v: v / v.max()), ("by percentile", normalise_mr)):
    before, after = np.median(scale(mr_raw.image)[liver]), np.median(scale(spiked)[liver])
    print(f"one spike, liver median {name:13s}: {before:.3f} -> {after:.3f}")
ctx.record("mr_liver_by_percentile_mean", float(rows[:, 1].mean()))
ctx.record("mr_liver_by_percentile_sd", float(rows[:, 1].std()))
prepared_mr = [load_volume(prepared, "mr", s) for s in subject_ids(prepared, "mr", "train")]
saturated = {CLASS_NAMES[c]: float(np.mean(np.concatenate([v.image[v.label == c] for v in prepared_mr]) >= 1.0))
             for c in range(1, 5)}
print("share of each organ's voxels at 1.0 after scaling (prepared MR training subjects): "
      + ", ".join(f"{k} {v:.1%}" for k, v in saturated.items()))

# %% [markdown]
# Both scalings keep the organs in the same order. Compare the spreads across subjects: while every voxel is
# clean, dividing by the maximum is not much worse; one corrupt voxel, and it squeezes the liver towards 0
# while the percentile scaling does not move. Its price is in the last line: the brightest organ, the kidney,
# loses the top of its range to clipping.
#
# ### 5.3 Resampling the slices
# Every axial slice is padded (with 0, air) to a square field of view in millimetres, then resized to
# `image_size` x `image_size`: images bilinearly with antialiasing, labels with nearest neighbour (a label is
# a category: averaging liver (1) and left kidney (3) must not give right kidney (2)). The in-plane spacing
# becomes the field of view divided by the new size; the slice spacing does not change. Nothing is flipped.

# %%
ct_prepared = load_volume(prepared, "ct", f"ct{ct_number:04d}")
z = busiest_slice(ct_raw.label)
fig, axes = plt.subplots(1, 2, figsize=(9, 4.8))
show_slice(axes[0], window_ct(ct_raw.image[z]), ct_raw.label[z],
           f"raw {ct_raw.image.shape[1]}x{ct_raw.image.shape[2]}, {ct_raw.spacing[1]:.2f} mm pixels")
show_slice(axes[1], ct_prepared.image[z], ct_prepared.label[z],
           f"prepared {ct_prepared.image.shape[1]}x{ct_prepared.image.shape[2]}, {ct_prepared.spacing[1]:.2f} mm")
fig.tight_layout()
organ_legend(fig)
ctx.save_figure(fig, "resampling")
plt.show()
print(f"spacing (z, y, x) mm: raw {np.round(ct_raw.spacing, 3).tolist()} -> prepared "
      f"{np.round(ct_prepared.spacing, 3).tolist()}")
print(f"labels present: raw {np.unique(ct_raw.label[z]).tolist()}, prepared {np.unique(ct_prepared.label[z]).tolist()}")

# %% [markdown]
# ### Exercise 3: the pixel size after resampling
# The raw MR volume of section 5.2, `mr_raw`, has slices of `mr_raw.image.shape[1:]` pixels with spacing
# `mr_raw.spacing[1:]` (mm). What in-plane pixel size (mm) does it get once prepared at this preset's
# `ctx.preset.image_size`? Reason it out from the paragraph above (pad, then resize), and compute it.

# %%
from ctl.teach.exercises import check_prepared_spacing

print(f"{mr_raw.subject}: {mr_raw.image.shape[1]} x {mr_raw.image.shape[2]} pixels of "
      f"{mr_raw.spacing[1]:.3f} x {mr_raw.spacing[2]:.3f} mm; prepared size {ctx.preset.image_size} px")
mr_pixel_mm = None  # the prepared pixel size in mm
check_prepared_spacing(mr_pixel_mm, mr_raw.image.shape[1:], mr_raw.spacing[1:], ctx.preset.image_size)

# %% tags=["solution"]
# Solution: pad the smaller side so the field of view is square in mm, then spread it over image_size pixels.
field_of_view_mm = max(mr_raw.image.shape[1] * mr_raw.spacing[1], mr_raw.image.shape[2] * mr_raw.spacing[2])
mr_pixel_mm = field_of_view_mm / ctx.preset.image_size
print(f"field of view {field_of_view_mm:.1f} mm / {ctx.preset.image_size} px = {mr_pixel_mm:.3f} mm per pixel")
check_prepared_spacing(mr_pixel_mm, mr_raw.image.shape[1:], mr_raw.spacing[1:], ctx.preset.image_size)

# %% [markdown]
# ### 5.4 The split is by subject
# Neighbouring slices of one patient are nearly identical; a split by slice would put near-copies of test
# slices into training. We split **subjects**: 80 % train, 20 % test, drawn with the seed (the paper's ratio).
# For the real data the SIFA split the paper follows is used (test CT 1, 9, 30, 32, 33, 39; MR 1, 13, 32, 38).

# %%
for domain in ("ct", "mr"):
    train, test = subject_ids(prepared, domain, "train"), subject_ids(prepared, domain, "test")
    assert not set(train) & set(test)
    print(f"{domain.upper()} test : {test}")
    print(f"{domain.upper()} train: {train}")

# %% [markdown]
# ## 6. Augmentations on one slice
#
# The paper adds random sharpness, random brightness/contrast and elastic deformations. Sharpness blends the
# slice with a 3 x 3 smoothed copy, $\text{blur} + f\,(x - \text{blur})$ ($f < 1$ softens, $f > 1$ sharpens);
# brightness/contrast is $(x - \bar x)\,c + \bar x + b$; the elastic deformation moves every pixel by a smooth
# random field, $x'(p) = x(p + d(p))$, and moves the **label by the same field** (nearest neighbour) so the
# organs stay outlined. There is no left-right flip: the last panel shows what one would teach, a right kidney
# (blue) on the patient's left.

# %%
import torch

from ctl.data import AugmentConfig, SliceDataset
from ctl.data.augment import adjust_brightness_contrast, adjust_sharpness, elastic_deform, random_displacement

train_ct = SliceDataset(prepared, "ct", "train")
busy = int(np.argmax([(train_ct.labels[i] > 0).sum() for i in range(len(train_ct))]))
item = train_ct[busy]
image, label = item["image"], item["label"]
field = random_displacement(image.shape[1], image.shape[2], points=4, sd=0.04,
                            generator=torch.Generator().manual_seed(ctx.seed))  # twice the default sd, to see it
warped, warped_label = elastic_deform(image, label, field)
panels = [("original", image, label), ("sharpness 0.3", adjust_sharpness(image, 0.3), None),
          ("sharpness 2.0", adjust_sharpness(image, 2.0), None),
          ("brightness +0.1\ncontrast 1.2", adjust_brightness_contrast(image, 0.1, 1.2), None),
          ("brightness -0.1\ncontrast 0.8", adjust_brightness_contrast(image, -0.1, 0.8), None),
          ("elastic\n(image and label)", warped, warped_label),
          ("a flip: NOT used\n(kidneys swap sides)", image.flip(-1), label.flip(-1))]
fig, axes = plt.subplots(1, len(panels), figsize=(15, 2.9))
for ax, (title, img, lab) in zip(axes, panels):
    show_slice(ax, img[0].numpy(), None if lab is None else lab.numpy(), title, vmin=0, vmax=1)
organ_legend(fig)
ctx.save_figure(fig, "augmentations")
plt.show()
print(f"slice {item['slice']} of {item['subject']}; elastic displacement up to {field.abs().max():.1f} px")
print(f"used in training: {AugmentConfig()}")

# %% [markdown]
# During training the datasets apply these at random (`SliceDataset(..., augment=True)`), each with the
# probability and range printed above (`ctl.data.AugmentConfig`), drawing from torch's random generator so that
# a seeded run repeats.
#
# ## 7. A slice viewer
# Pick a volume, move the slider, toggle the organs. With a live kernel, moving a control draws the new view under
# the controls; the figure below is the starting view, drawn for readers of the saved notebook.

# %%
from ctl.teach.plots import show_compact
from ctl.teach.widgets import slice_viewer

viewer_volumes = {f"CT {ct_id}": ct, f"MR {mr_id}": load_volume(prepared, "mr", mr_id)}
if meta["paired_mr"]:
    viewer_volumes[f"paired MR of {ct_id} (evaluation only)"] = mr
widget, draw = slice_viewer(viewer_volumes)
display(widget)

# %%
frame = draw(f"CT {ct_id}", position=busiest_slice(ct.label) / (ct.image.shape[0] - 1), overlay=True)
ctx.save_figure(frame, "viewer_frame")
show_compact(frame)

# %% [markdown]
# ## 8. The domain shift, measured
#
# Section 2 argued from the rendered intensities that a CT-trained segmenter must fail on MR. Here we measure
# it. The same U-Net (`ctl.nets.UNet`, the segmenter of every method in this series) is trained twice at this
# preset, for the same number of iterations:
#
# - **`source_only`**: on CT slices with their labels, as if no MR existed;
# - **`oracle`**: on MR training slices with their labels (the upper bound: real MR labels are exactly what the
#   paper assumes we do not have).
#
# Both are then scored with the 3D Dice per organ (`ctl.evaluate.evaluate_segmenter`, which uses
# `ctl.evaluate.metrics.dice`: $2|P \cap T| / (|P| + |T|)$ over the stacked slices of one volume, mean over the test
# subjects) on the MR test subjects, and `source_only` also on the CT test subjects, which tells a model that
# did not learn apart from a model that learned CT and does not transfer. The models are saved in
# `RUN_DIR/train/`; notebook 04 loads them instead of training them again. On a CPU with two cores or more the
# two train side by side, each in a process of its own (`ctl.training.parallel`, explained in notebook 04).

# %%
from ctl.evaluate import EvalConfig, evaluate_segmenter
from ctl.organs import ORGAN_ORDER, ORGAN_TITLES
from ctl.training import read_summary, run_folder
from ctl.training.parallel import load_or_train_many


def organ_dice(segmenter, domain):
    """Mean 3D Dice (%) per organ of ``segmenter`` over the test subjects of ``domain`` (notebook 01)."""
    evaluation = evaluate_segmenter(segmenter, prepared, method="", domain=domain, device=ctx.device,
                                    config=EvalConfig(units=("mm",)))  # one record per subject and organ
    return {organ: 100 * float(np.nanmean([r["dice"] for r in evaluation.records if r["organ"] == organ]))
            for organ in ORGAN_ORDER}


folders = {name: run_folder(ctx.run_dir, name, ctx.preset.name, ctx.seed, ctx.data_source)
           for name in ("source_only", "oracle")}
bounds = load_or_train_many(folders, prepared, ctx.preset, seed=ctx.seed, device=ctx.device,
                            on_config_change="retrain")
for name, folder in folders.items():
    summary = read_summary(folder)
    print(f"{name}: {ctx.preset.iterations} iterations, trained in {summary['seconds']:.0f} s on "
          f"{summary['device']} (that run's wall-clock time)")

shift = {"CT-trained, tested on CT": organ_dice(bounds["source_only"].segmenter, "ct"),
         "CT-trained, tested on MR": organ_dice(bounds["source_only"].segmenter, "mr"),
         "MR-trained (oracle), tested on MR": organ_dice(bounds["oracle"].segmenter, "mr")}
RECORD_KEYS = dict(zip(shift, ("dice_mean_ct_on_ct", "dice_mean_ct_on_mr", "dice_mean_mr_on_mr")))
rows = ["| 3D Dice (%) | " + " | ".join(ORGAN_TITLES[o] for o in ORGAN_ORDER) + " | Mean |",
        "|---|" + "---|" * (len(ORGAN_ORDER) + 1)]
for label, values in shift.items():
    mean = float(np.mean(list(values.values())))
    rows.append(f"| {label} | " + " | ".join(f"{values[o]:.1f}" for o in ORGAN_ORDER) + f" | {mean:.1f} |")
    ctx.record(RECORD_KEYS[label], round(mean, 2), "%")
display(Markdown("\n".join(rows)))
drop = np.mean(list(shift["MR-trained (oracle), tested on MR"].values())) - np.mean(
    list(shift["CT-trained, tested on MR"].values()))
print(f"training on CT instead of MR costs {drop:.1f} points of mean Dice on the MR test subjects "
      f"({len(subject_ids(prepared, 'mr', 'test'))} of them, preset {ctx.preset.name}, seed {ctx.seed})")
if ctx.preset.name == "ci":
    print("(ci preset: a few iterations on tiny images, a smoke test; these numbers mean nothing)")

# %% [markdown]
# Read the rows in order. The first says whether the U-Net learned its task at all; the second is the
# domain shift; the third is what the same network reaches when it is given MR labels. The organs that lose
# most are those whose MR contrast differs most from their CT contrast (section 2): in CT the liver and the
# spleen are the same grey, in MR they are not. The paper's method aims to close the gap between the second
# and the third rows without MR labels (notebooks 02-04).

# %% [markdown]
# ## 9. The real data
#
# Both data sets are free for research after registration; neither may be redistributed, so nothing here
# downloads them.
#
# - **BTCV** (MICCAI 2015 "Multi-Atlas Labeling Beyond the Cranial Vault", abdomen): on Synapse, project
#   syn3193805 (https://www.synapse.org/#!Synapse:syn3193805/wiki/217789), file `RawData.zip` (30 labelled CT).
# - **CHAOS** (Combined Healthy Abdominal Organ Segmentation): https://chaos.grand-challenge.org/, data on
#   Zenodo (doi:10.5281/zenodo.3431873), file `CHAOS_Train_Sets.zip` (20 MR subjects with T2-SPIR masks).
#
# Unpack them under `DATA_DIR/real/` (any of the folder levels below works):
#
# ```
# DATA_DIR/real/btcv/RawData/Training/img/img0001.nii.gz ... label/label0001.nii.gz
# DATA_DIR/real/chaos/Train_Sets/MR/1/T2SPIR/DICOM_anon/*.dcm ... MR/1/T2SPIR/Ground/*.png
# ```
#
# then set **`DATA_SOURCE = "real"`** in the parameters cell and run the notebooks again (the `paper` preset
# has the paper's sizes). The data are prepared once into `DATA_DIR/prepared/real-sifa-<size>/` with the SIFA
# split. From a shell the same step is
# `python -m ctl prepare --btcv data/real/btcv --chaos data/real/chaos --out data/prepared/real-sifa-256 --split sifa`.
# `data/README.md` says the same.

# %%
for name in ("btcv", "chaos"):
    folder = ctx.data_dir / "real" / name
    print(f"{folder}: {'found' if folder.exists() else 'not there'}")

# %% [markdown]
# ## Summary
# - The phantom renders one anatomy as CT (BTCV's organ HU) and as T2-SPIR MR (spin-echo signal from measured
#   relaxation times): liver and spleen look alike in CT and differ by a factor of about two in MR.
# - Loaders read NIfTI (BTCV) and DICOM + PNG (CHAOS) into one orientation (LPS, patient right on the image's
#   left), slice order from geometry, spacing kept; every bad input stops with a message naming the file.
# - Preprocessing: CT window [-200, 300] HU, MR percentile scaling, square padding and resizing (labels by
#   nearest neighbour), split by subject. Augmentation: sharpness, brightness/contrast, elastic; never a flip.
# - Training reads `SliceDataset` / `UnpairedSliceDataset`; evaluation reads whole volumes with
#   `load_volume`, and, on the phantom only, the paired MR with `load_paired_mr`.
