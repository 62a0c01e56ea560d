"""Render a voxelised phantom (tissue ids from ``phantom.voxelise``) as portal-venous CT or as T2-SPIR MR.

**CT** (Hounsfield units). BTCV is portal-venous contrast-enhanced CT; its median organ values are about liver
124, spleen 122, kidneys 176-178 and aorta 184 HU; fat sits near -100 HU, muscle near 50 HU, bone at several
hundred. Liver and spleen therefore look alike in CT: a translation to MR must tell them apart by position and
shape. Each subject draws its own tissue means around these values (contrast timing varies; tissues on one bolus
move together, ``CT_FOLLOWS``): the portal and hepatic veins enhance above the liver (~170 HU), the kidney
enhances nearly uniformly (medulla ~12 HU below cortex), urine in the pelvis is not yet opacified. On top come
the subject's anatomical texture (``Anatomy.texture``, a few HU in parenchyma), the scanner's own smooth
texture, a slight in-plane blur (the point spread), and Gaussian noise.

**MR** (T2-SPIR: a T2-weighted spin echo with spectral fat suppression, as in CHAOS). A spin echo at echo time
TE and repetition time TR gives, for equal proton density,

    S = (1 - exp(-TR / T1)) * exp(-TE / T2)                                  (spin-echo signal)

With the 3 T relaxation times measured in vivo by de Bazelaire et al. (Radiology 230:652-659, 2004), T1/T2 in
ms: liver 809/34, spleen 1328/61, kidney cortex 1142/76, medulla 1545/81, pancreas 725/43, skeletal muscle
898/29, fat 382/68, and TE/TR = 80/1600 ms, the signal relative to the liver is spleen 2.3, cortex 3.2, medulla
2.9, pancreas 1.7, muscle 0.64, fat 3.7 (``mr_relative``). At this short TR the medulla's longer T1 outweighs its
longer T2, so the pyramids show slightly *darker* than the cortex (on long-TR T2 images they are slightly
brighter); what is bright inside the kidney is urine in the pelvis. SPIR suppresses fat to about a tenth.
Fluid (CSF, bile, urine, stomach and bowel content) gets long assumed relaxation times, so it is bright.
Flowing blood gives a flow void in a spin echo, so the aorta, the portal and hepatic veins in the liver and the
splenic hilar vessels are dark tubes (bright in CT): the same branches with the opposite contrast, structure
that a translation must keep. Cortical bone and gas give no signal. The order of the organs therefore differs
from CT: the spleen is much brighter than the liver and the kidneys are the brightest of the four. The same
anatomical texture as in CT modulates each tissue by a few per cent; then come a smooth multiplicative bias field
(coil sensitivity), a scanner gain, and Rician noise (the magnitude of a complex signal with Gaussian noise in
both channels).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ctl.data.geometry import Grid, SmoothField
from ctl.data.phantom import TISSUES, T, sample_anatomy, sample_grid, voxelise

T_SUBCUTANEOUS_FAT = T["subcutaneous_fat"]

# tissue: (mean HU, between-subject sd, texture sd). Organ means from BTCV's medians; others typical values.
CT_HU = {
    "air": (-1000, 0, 0), "gas": (-900, 30, 20), "lung": (-850, 30, 25), "subcutaneous_fat": (-100, 8, 6),
    "visceral_fat": (-95, 8, 8), "perirenal_fat": (-95, 8, 6), "renal_sinus_fat": (-90, 8, 6),
    "muscle": (50, 6, 5), "bowel": (20, 8, 6), "bowel_wall": (95, 10, 6), "stool": (-60, 25, 10),
    "stomach_content": (20, 8, 6), "liver": (124, 12, 3), "liver_vessel": (170, 15, 3), "gallbladder": (10, 5, 3),
    "spleen": (122, 12, 3), "kidney": (177, 18, 4), "renal_medulla": (165, 18, 4), "urine": (15, 5, 3),
    "pancreas": (105, 12, 4), "vein": (170, 15, 4), "artery": (184, 20, 4), "aorta": (184, 20, 4),
    "ivc": (160, 20, 5), "heart": (150, 20, 6), "bone_cortex": (700, 80, 40), "bone_marrow": (230, 40, 30),
    "rib": (450, 60, 40), "disc": (90, 10, 5), "csf": (10, 5, 3),
}
# Tissues whose mean moves with another's (one contrast bolus): the follower keeps its offset from the leader
# and varies only by its own sd around it. In the portal-venous phase liver and spleen enhance alike (spleen
# within about +-6 HU of the liver's value minus 2), the kidney nearly uniformly (medulla 12 HU below cortex),
# portal and hepatic veins follow the splenic/portal vein, arteries the aorta.
CT_FOLLOWS = {"spleen": ("liver", 6), "renal_medulla": ("kidney", 5), "liver_vessel": ("vein", 5),
              "artery": ("aorta", 5), "heart": ("aorta", 10), "ivc": ("vein", 10)}
# Anatomical texture (``Anatomy.texture``, unit sd, shared with MR): HU per unit. A few HU in parenchyma
# (under the 8-18 HU noise, visible after the eye averages), lobulated pancreas, mottled stool.
CT_ANATOMY_TEXTURE = {"liver": 5, "spleen": 4, "kidney": 5, "renal_medulla": 5, "pancreas": 12, "muscle": 4,
                      "visceral_fat": 10, "perirenal_fat": 6, "bowel": 8, "bowel_wall": 8, "stool": 120}

# tissue: (T1 ms, T2 ms, fat?) for relaxation-based MR signal. Organs and fat: de Bazelaire et al. 2004 (3 T),
# including renal medulla (1545/81) and pancreas (725/43). CSF, bile, urine, stomach and bowel content, bowel wall
# and disc are assumed values (fluid-like where fluid; no single published source).
MR_RELAXATION = {
    "liver": (809, 34, False), "spleen": (1328, 61, False), "kidney": (1142, 76, False),
    "renal_medulla": (1545, 81, False), "pancreas": (725, 43, False), "muscle": (898, 29, False),
    "subcutaneous_fat": (382, 68, True), "visceral_fat": (382, 68, True), "renal_sinus_fat": (382, 68, True),
    "perirenal_fat": (382, 68, True), "csf": (4000, 2000, False), "gallbladder": (2500, 500, False),
    "urine": (3000, 700, False), "stomach_content": (3000, 250, False), "bowel": (3000, 250, False),
    "bowel_wall": (1000, 42, False), "disc": (1200, 80, False),
}
# Tissues without a useful relaxation model: signal relative to liver, fixed. Flowing blood gives a flow void
# (dark) in a T2 spin echo: aorta, arteries, portal and hepatic veins, heart; slower caval flow is less dark.
MR_FIXED = {"air": 0.0, "gas": 0.0, "lung": 0.03, "bone_cortex": 0.05, "bone_marrow": 0.5, "aorta": 0.15, "ivc": 0.3,
            "liver_vessel": 0.25, "vein": 0.25, "artery": 0.15, "heart": 0.3, "rib": 0.15, "stool": 0.6}
# texture sd as a fraction of the tissue's signal: the scanner's own (independent of CT) ...
MR_TEXTURE = {"bowel": 0.1, "stomach_content": 0.1, "visceral_fat": 0.15, "stool": 0.2}
# ... and the anatomical texture's weight (fraction per unit of ``Anatomy.texture``; the same field as in CT)
MR_ANATOMY_TEXTURE = {"liver": 0.05, "spleen": 0.04, "kidney": 0.05, "renal_medulla": 0.05, "pancreas": 0.1,
                      "muscle": 0.04, "bowel": 0.15, "bowel_wall": 0.1, "stool": 0.4}


@dataclass(frozen=True)
class CTConfig:
    noise_hu: tuple[float, float] = (8.0, 18.0)  # per-subject noise sd range: 5 mm portal-venous slices
    blur_mm: float = 0.7  # in-plane point-spread sd: soft-tissue kernel
    texture_mm: float = 12.0  # correlation length of within-tissue texture


@dataclass(frozen=True)
class MRConfig:
    te_ms: float = 80.0  # echo time of a T2-weighted spin echo
    tr_ms: float = 1600.0  # repetition time
    fat_suppression: float = 0.1  # SPIR leaves about a tenth of the fat signal
    subject_sd: float = 0.08  # between-subject variation of each tissue's relative signal (log scale)
    bias_sd: float = 0.12  # log-sd of the multiplicative bias field (about +-12 %, after scanner normalisation)
    bias_mm: float = 200.0  # bias correlation length: a coil profile varies slowly across the abdomen
    gain: tuple[float, float] = (150.0, 400.0)  # liver intensity in scanner units (CHAOS stores uint16)
    noise: tuple[float, float] = (0.04, 0.08)  # Rician noise sd as a fraction of the liver's signal
    blur_mm: float = 1.2  # in-plane point-spread sd: MR is blurrier than CT
    texture_mm: float = 12.0  # correlation length of within-tissue texture
    fat_failure: float = 0.5  # share of subjects where SPIR fails in one spot at the body surface (B0 edge)
    fat_failure_mm: tuple[float, float] = (20.0, 40.0)  # radius of that spot: a few cm of bright fat


def spin_echo_signal(t1_ms: float, t2_ms: float, te_ms: float, tr_ms: float) -> float:
    """S = (1 - exp(-TR/T1)) exp(-TE/T2): spin-echo signal for unit proton density."""
    if min(t1_ms, t2_ms, te_ms, tr_ms) <= 0:
        raise ValueError(f"relaxation and timing must be positive, got T1={t1_ms} T2={t2_ms} TE={te_ms} TR={tr_ms}")
    return float((1 - np.exp(-tr_ms / t1_ms)) * np.exp(-te_ms / t2_ms))


def mr_relative(config: MRConfig = MRConfig()) -> dict[str, float]:
    """Each tissue's T2-SPIR signal relative to the liver's (before bias, gain and noise)."""
    liver = spin_echo_signal(*MR_RELAXATION["liver"][:2], config.te_ms, config.tr_ms)
    out = dict(MR_FIXED)
    for name, (t1, t2, is_fat) in MR_RELAXATION.items():
        s = spin_echo_signal(t1, t2, config.te_ms, config.tr_ms) / liver
        out[name] = s * (config.fat_suppression if is_fat else 1.0)
    return out


def _blur(image: np.ndarray, grid: Grid, sd_mm: float) -> np.ndarray:
    """Gaussian blur in-plane only (each slice is measured separately)."""
    for axis, spacing in ((1, grid.spacing[1]), (2, grid.spacing[2])):
        if sd_mm / spacing > 0.2:
            image = gaussian_filter1d(image, sd_mm / spacing, axis=axis, mode="nearest")
    return image


def ct_means(rng: np.random.Generator) -> np.ndarray:
    """One subject's mean HU per tissue (``TISSUES`` order): each drawn around ``CT_HU``, followers
    (``CT_FOLLOWS``) moved with their leader."""
    drawn = {t: CT_HU[t][0] + (rng.normal(0, CT_HU[t][1]) if CT_HU[t][1] else 0.0) for t in TISSUES}
    for t, (leader, sd) in CT_FOLLOWS.items():
        drawn[t] = drawn[leader] + CT_HU[t][0] - CT_HU[leader][0] + rng.normal(0, sd)
    return np.array([drawn[t] for t in TISSUES], np.float32)


def render_ct(tissue: np.ndarray, grid: Grid, rng: np.random.Generator, config: CTConfig = CTConfig(),
              texture: np.ndarray | None = None) -> np.ndarray:
    """CT of the tissue map in Hounsfield units, float32 (Z, H, W).

    ``texture`` (optional, (Z, H, W), unit sd): the subject's anatomical texture (``Anatomy.texture`` on this
    grid), weighted per tissue by ``CT_ANATOMY_TEXTURE``; the same field modulates the MR (``render_mr``), so
    parenchymal structure is shared by the two modalities, as tissue is.
    """
    _check(tissue, grid)
    mean = ct_means(rng)
    scanner = np.array([CT_HU[t][2] for t in TISSUES], np.float32)
    image = mean[tissue] + scanner[tissue] * SmoothField(rng, config.texture_mm)(*grid.axes())
    if texture is not None:
        image += np.array([CT_ANATOMY_TEXTURE.get(t, 0) for t in TISSUES], np.float32)[tissue] * texture
    image = _blur(image, grid, config.blur_mm)
    sd = rng.uniform(*config.noise_hu)
    image += rng.standard_normal(grid.shape, dtype=np.float32) * np.float32(sd)
    return np.clip(image, -1024, 3071).astype(np.float32)


def render_mr(tissue: np.ndarray, grid: Grid, rng: np.random.Generator, config: MRConfig = MRConfig(),
              texture: np.ndarray | None = None) -> np.ndarray:
    """T2-SPIR MR of the tissue map in scanner units (non-negative), float32 (Z, H, W).

    ``texture``: as in ``render_ct``, weighted by ``MR_ANATOMY_TEXTURE`` (a fraction of each tissue's signal).
    """
    _check(tissue, grid)
    rel = mr_relative(config)
    value = np.array([rel[t] * np.exp(rng.normal(0, config.subject_sd)) for t in TISSUES], np.float32)
    scanner = np.array([MR_TEXTURE.get(t, 0.02) for t in TISSUES], np.float32)
    axes = grid.axes()
    modulation = scanner[tissue] * SmoothField(rng, config.texture_mm)(*axes)
    if texture is not None:
        modulation += np.array([MR_ANATOMY_TEXTURE.get(t, 0) for t in TISSUES], np.float32)[tissue] * texture
    signal = value[tissue] * (1 + modulation)
    if rng.uniform() < config.fat_failure:
        signal *= _fat_failure(tissue, grid, rng, config)
    signal = _blur(np.maximum(signal, 0), grid, config.blur_mm)
    signal *= np.exp(config.bias_sd * SmoothField(rng, config.bias_mm)(*axes))  # coil sensitivity
    gain = rng.uniform(*config.gain)
    sd = rng.uniform(*config.noise)
    real = signal + rng.standard_normal(grid.shape, dtype=np.float32) * np.float32(sd)
    imag = rng.standard_normal(grid.shape, dtype=np.float32) * np.float32(sd)
    return (np.sqrt(real ** 2 + imag ** 2) * gain).astype(np.float32)  # Rician magnitude


def _fat_failure(tissue: np.ndarray, grid: Grid, rng: np.random.Generator, config: MRConfig) -> np.ndarray:
    """Gain map undoing fat suppression around one subcutaneous-fat point (a spectral fat-saturation failure
    where the field is inhomogeneous, at the body surface): fat there shines at up to its unsuppressed signal,
    the bright outliers that MR normalisation must not be fooled by."""
    fat = np.flatnonzero(tissue == T_SUBCUTANEOUS_FAT)
    if fat.size == 0:
        return np.float32(1.0)
    k, j, i = np.unravel_index(fat[rng.integers(fat.size)], tissue.shape)
    zs, ys, xs = grid.axes()
    radius = rng.uniform(*config.fat_failure_mm)
    d2 = (zs[:, None, None] - zs[k]) ** 2 + (ys[None, :, None] - ys[j]) ** 2 + (xs[None, None, :] - xs[i]) ** 2
    weight = np.exp(-d2 / (2 * radius ** 2)).astype(np.float32)
    is_fat = np.isin(tissue, [T_SUBCUTANEOUS_FAT])
    return 1 + is_fat * weight * np.float32(1 / config.fat_suppression - 1)


def _check(tissue: np.ndarray, grid: Grid) -> None:
    if tissue.shape != tuple(grid.shape):
        raise ValueError(f"tissue map has shape {tissue.shape} but the grid is {grid.shape}")
    if tissue.size and int(tissue.max()) >= len(TISSUES):
        raise ValueError(f"tissue id {int(tissue.max())} is not one of the {len(TISSUES)} phantom tissues")


@dataclass
class PhantomSubject:
    """One rendered phantom subject on its own scanner grid (arrays (Z, H, W), LPS-aligned, see ``Grid``)."""

    image: np.ndarray  # CT in HU or MR in scanner units, float32
    label: np.ndarray  # BTCV-style structure ids, uint8 (``labels.btcv_to_classes`` gives our classes)
    grid: Grid
    paired_mr: np.ndarray | None = None  # CT subjects only: the same anatomy as MR on the CT grid (evaluation only)


DOMAIN_CODES = {"ct": 0, "mr": 1}


def render_subject(seed: int, domain: str, index: int, paired: bool = True, size: int = 256) -> PhantomSubject:
    """Phantom subject ``index`` (1-based) of ``domain`` ("ct" or "mr") for data-set ``seed``, ``size`` px.

    Anatomy, grid, CT/MR rendering and the paired MR each draw from their own child of
    ``SeedSequence([seed, domain, index])``: the same arguments give the same subject bit for bit, and asking
    for the paired MR does not change the CT.
    """
    if domain not in DOMAIN_CODES:
        raise ValueError(f"domain must be 'ct' or 'mr', got {domain!r}")
    if index < 1:
        raise ValueError(f"subject index is 1-based, got {index}")
    anatomy_rng, image_rng, paired_rng = (np.random.default_rng(s) for s in
                                          np.random.SeedSequence([seed, DOMAIN_CODES[domain], index]).spawn(3))
    anatomy = sample_anatomy(anatomy_rng)
    grid = sample_grid(anatomy, anatomy_rng, size, domain)
    tissue, label = voxelise(anatomy, grid)
    texture = anatomy.texture(*grid.axes())
    if domain == "ct":
        image = render_ct(tissue, grid, image_rng, texture=texture)
        paired_mr = render_mr(tissue, grid, paired_rng, texture=texture) if paired else None
        return PhantomSubject(image=image, label=label, grid=grid, paired_mr=paired_mr)
    return PhantomSubject(image=render_mr(tissue, grid, image_rng, texture=texture), label=label, grid=grid)
