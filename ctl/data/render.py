"""Render a voxelised phantom (tissue ids from ``phantom.voxelise``) as portal-venous CT or as T2-SPIR MR.

**CT** (Hounsfield units). BTCV is portal-venous contrast-enhanced CT; its median organ values are about liver
124, spleen 122, kidneys 176-178 and aorta 184 HU; fat sits near -100 HU, muscle near 50 HU, bone at several
hundred. Liver and spleen therefore look alike in CT. Each subject draws its own tissue means around these
values (contrast timing varies), adds a smooth texture, a slight in-plane blur (the scanner's point spread),
and Gaussian noise.

**MR** (T2-SPIR: a T2-weighted spin echo with spectral fat suppression, as in CHAOS). A spin echo at echo time
TE and repetition time TR gives, for equal proton density,

    S = (1 - exp(-TR / T1)) * exp(-TE / T2)                                  (spin-echo signal)

With the 3 T relaxation times measured in vivo by de Bazelaire et al. (Radiology 230:652-659, 2004), T1/T2 in
ms: liver 809/34, spleen 1328/61, kidney cortex 1142/76, skeletal muscle 898/29, fat 382/68, and TE/TR =
80/1600 ms, the signal relative to the liver is spleen 2.3, kidney 3.2, muscle 0.64, fat 3.7 (``mr_relative``).
SPIR then suppresses fat to about a tenth. Fluid-filled structures (CSF, bile, stomach content) get long
assumed relaxation times (so they are bright), and flowing blood, cortical bone and gas get a fixed low signal
(flow void, no signal). The order of the organs is therefore different from CT: in MR the spleen is much
brighter than the liver and the kidneys are the brightest organs. On top come a smooth multiplicative bias
field (coil sensitivity), a scanner gain, and Rician noise (the magnitude of a complex signal with Gaussian
noise in both channels).
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
    "visceral_fat": (-95, 8, 8),
    "muscle": (50, 6, 5), "bowel": (35, 8, 18), "stomach_content": (20, 8, 6), "liver": (124, 12, 5),
    "liver_vessel": (175, 15, 5), "gallbladder": (10, 5, 3), "spleen": (122, 12, 5), "kidney": (177, 18, 8),
    "renal_sinus_fat": (-90, 8, 6), "aorta": (184, 20, 4), "ivc": (160, 20, 5), "bone_cortex": (700, 80, 40),
    "bone_marrow": (230, 40, 30), "disc": (90, 10, 5), "csf": (10, 5, 3),
}

# tissue: (T1 ms, T2 ms, fat?) for relaxation-based MR signal. Organs and fat: de Bazelaire et al. 2004 (3 T).
# CSF, bile, stomach content, bowel and disc are assumed, fluid-like values (no single published source).
MR_RELAXATION = {
    "liver": (809, 34, False), "spleen": (1328, 61, False), "kidney": (1142, 76, False), "muscle": (898, 29, False),
    "subcutaneous_fat": (382, 68, True), "visceral_fat": (382, 68, True), "renal_sinus_fat": (382, 68, True),
    "csf": (4000, 2000, False), "gallbladder": (2500, 500, False), "stomach_content": (3000, 250, False),
    "bowel": (1000, 42, False), "disc": (1200, 80, False),
}
# Tissues without a useful relaxation model: signal relative to liver, fixed.
MR_FIXED = {"air": 0.0, "gas": 0.0, "lung": 0.03, "bone_cortex": 0.05, "bone_marrow": 0.5, "aorta": 0.15, "ivc": 0.3,
            "liver_vessel": 0.25}
# texture sd as a fraction of the tissue's signal
MR_TEXTURE = {"bowel": 0.25, "stomach_content": 0.1, "visceral_fat": 0.15}


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


def render_ct(tissue: np.ndarray, grid: Grid, rng: np.random.Generator, config: CTConfig = CTConfig()) -> np.ndarray:
    """CT of the tissue map in Hounsfield units, float32 (Z, H, W)."""
    _check(tissue, grid)
    mean = np.array([CT_HU[t][0] + rng.normal(0, CT_HU[t][1]) if CT_HU[t][1] else CT_HU[t][0] for t in TISSUES],
                    np.float32)
    texture = np.array([CT_HU[t][2] for t in TISSUES], np.float32)
    field = SmoothField(rng, config.texture_mm)(*grid.axes())
    image = mean[tissue] + texture[tissue] * field
    image = _blur(image, grid, config.blur_mm)
    sd = rng.uniform(*config.noise_hu)
    image += rng.standard_normal(grid.shape, dtype=np.float32) * np.float32(sd)
    return np.clip(image, -1024, 3071).astype(np.float32)


def render_mr(tissue: np.ndarray, grid: Grid, rng: np.random.Generator, config: MRConfig = MRConfig()) -> np.ndarray:
    """T2-SPIR MR of the tissue map in scanner units (non-negative), float32 (Z, H, W)."""
    _check(tissue, grid)
    rel = mr_relative(config)
    value = np.array([rel[t] * np.exp(rng.normal(0, config.subject_sd)) for t in TISSUES], np.float32)
    texture = np.array([MR_TEXTURE.get(t, 0.04) for t in TISSUES], np.float32)
    axes = grid.axes()
    signal = value[tissue] * (1 + texture[tissue] * SmoothField(rng, config.texture_mm)(*axes))
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
    if domain == "ct":
        image = render_ct(tissue, grid, image_rng)
        paired_mr = render_mr(tissue, grid, paired_rng) if paired else None
        return PhantomSubject(image=image, label=label, grid=grid, paired_mr=paired_mr)
    return PhantomSubject(image=render_mr(tissue, grid, image_rng), label=label, grid=grid)
