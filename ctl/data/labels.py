"""How the two data sets encode the organs on disk, mapped onto our class ids.

Our classes (used everywhere after loading) are those of ``ctl.organs``: ``0 background, 1 liver, 2 right
kidney, 3 left kidney, 4 spleen``.

- BTCV (Multi-Atlas Labeling Beyond the Cranial Vault) labels 13 organs with ids 1-13; we keep four of them and
  map every other id to background (``btcv_to_classes``).
- CHAOS stores each MR slice's mask as an 8-bit PNG whose grey level names the organ: liver 63, right kidney 126,
  left kidney 189, spleen 252. Readers are told to accept a range around each level, (55, 70], (110, 135],
  (175, 200], (240, 255], because resampled masks may hold neighbouring values (``decode_chaos_png``). A mask
  re-saved as a 16-bit PNG holds each level times 257 (65535 / 255, e.g. liver 16191); ``mask_grey_8bit`` scales
  it back, so liver and kidneys do not all read as the top range (spleen).
"""
from __future__ import annotations

import numpy as np

from ctl.organs import NUM_CLASSES, ORGAN_LABELS

# BTCV label ids (from the challenge's label list).
BTCV_NAMES = {
    0: "background", 1: "spleen", 2: "right kidney", 3: "left kidney", 4: "gallbladder", 5: "esophagus",
    6: "liver", 7: "stomach", 8: "aorta", 9: "inferior vena cava", 10: "portal and splenic vein",
    11: "pancreas", 12: "right adrenal gland", 13: "left adrenal gland",
}
BTCV_TO_CLASS = {btcv_id: ORGAN_LABELS[organ] for btcv_id, organ in  # every other BTCV id -> background
                 ((1, "spleen"), (2, "right_kidney"), (3, "left_kidney"), (6, "liver"))}

# CHAOS grey levels written for each class, and the (exclusive, inclusive] ranges a reader accepts.
CHAOS_GREY = {ORGAN_LABELS[organ]: grey for organ, grey in
              (("liver", 63), ("right_kidney", 126), ("left_kidney", 189), ("spleen", 252))}
CHAOS_RANGES = {ORGAN_LABELS[organ]: grey_range for organ, grey_range in
                (("liver", (55, 70)), ("right_kidney", (110, 135)), ("left_kidney", (175, 200)),
                 ("spleen", (240, 255)))}


def btcv_to_classes(label: np.ndarray, source: str = "BTCV label") -> np.ndarray:
    """Map BTCV ids (0-13) to our classes (0-4); other organs become background.

    Raises:
        ValueError: when ``label`` holds a value that is not a BTCV id (names ``source`` and the values).
    """
    values = np.unique(label)
    unknown = [v for v in values.tolist() if v not in BTCV_NAMES]
    if unknown:
        raise ValueError(f"{source}: label values {unknown[:10]} are not BTCV ids 0-13; is this a BTCV label "
                         f"file (label00NN.nii.gz) and not an image?")
    lookup = np.zeros(max(BTCV_NAMES) + 1, dtype=np.uint8)
    for btcv_id, cls in BTCV_TO_CLASS.items():
        lookup[btcv_id] = cls
    return lookup[np.asarray(label).astype(np.int64)]


def mask_grey_8bit(grey: np.ndarray, source: str = "CHAOS mask") -> np.ndarray:
    """The 8-bit grey levels of a mask image: 8-bit values as they are; 16-bit ones (above 255) divided by 257
    and rounded (a 16-bit PNG stores 8-bit level g as 257 g).

    Raises:
        ValueError: for values that are not whole numbers in 0-65535 (names ``source``).
    """
    grey = np.asarray(grey)
    if grey.dtype == np.uint8:
        return grey
    if not np.issubdtype(grey.dtype, np.integer) or grey.size and (grey.min() < 0 or grey.max() > 65535):
        raise ValueError(f"{source}: a CHAOS mask holds 8- or 16-bit grey levels, got {grey.dtype} values "
                         f"{np.unique(grey)[:6].tolist()}")
    if grey.size == 0 or grey.max() <= 255:
        return grey.astype(np.uint8)
    return np.rint(grey / 257.0).astype(np.uint8)


def decode_chaos_png(grey: np.ndarray, source: str = "CHAOS mask") -> np.ndarray:
    """CHAOS grey levels -> our classes: 0 stays background, each organ's range maps to its class.

    Raises:
        ValueError: when a pixel is neither 0 nor inside one of the four ranges (names ``source`` and values).
    """
    grey = np.asarray(grey)
    if grey.ndim != 2:
        raise ValueError(f"{source}: a CHAOS mask is one 2-D grey image, got shape {grey.shape}")
    out = np.zeros(grey.shape, dtype=np.uint8)
    known = grey == 0
    for cls, (low, high) in CHAOS_RANGES.items():
        inside = (grey > low) & (grey <= high)
        out[inside] = cls
        known |= inside
    if not known.all():
        bad = np.unique(grey[~known])
        raise ValueError(f"{source}: grey values {bad[:10].tolist()} are outside the CHAOS ranges "
                         f"{CHAOS_RANGES} (0 = background); is this an MR mask from the T2SPIR/Ground folder?")
    return out


def encode_chaos_png(label: np.ndarray) -> np.ndarray:
    """Our classes (0-4) as the CHAOS grey levels 0/63/126/189/252 (uint8)."""
    lookup = np.zeros(NUM_CLASSES, dtype=np.uint8)
    for cls, grey in CHAOS_GREY.items():
        lookup[cls] = grey
    return lookup[label]
