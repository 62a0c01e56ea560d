"""3D Dice and average symmetric surface distance (ASSD), per volume and per organ, as in the paper's Table 1.

The paper (Section 4) scores every method by Dice and ASSD per organ; like the works it compares with (SIFA,
SynSeg-Net), these are computed per test volume in 3D (the predicted axial slices stacked back in their order,
at the volume's voxel spacing), then averaged across volumes (``ctl.evaluate.table1``).

Dice (Dice, 1945), P the predicted and T the true voxel set::

    Dice(P, T) = 2 |P ∩ T| / (|P| + |T|)

ASSD. The surface ∂A of a binary mask A is the set of its voxels that have a background 6-neighbour:
``A XOR erosion(A)`` with ``scipy.ndimage.generate_binary_structure(3, 1)`` (medpy's definition; voxels on the
array's border count as surface). With d(a, ∂B) the Euclidean distance in mm from voxel a to the nearest voxel
of ∂B (spacing in the array's axis order)::

    pooled        ASSD = (Σ_{a∈∂P} d(a, ∂T) + Σ_{b∈∂T} d(b, ∂P)) / (|∂P| + |∂T|)
    mean_of_means ASSD = ½ (mean_{a∈∂P} d(a, ∂T) + mean_{b∈∂T} d(b, ∂P))

"pooled" is the default: it is medpy >= 0.5.2's ``assd`` and MONAI's symmetric average surface distance.
"mean_of_means" is what medpy <= 0.4 computed (the mean of its two directed ``asd``); the two differ when the
surfaces have different sizes. ``unit="voxel"`` measures on a grid of unit spacing instead, as SIFA's public
evaluation does on its resampled grid (the paper does not state its unit); every result carries its unit.

Empty masks. ``dice`` is 0.0 when exactly one mask is empty and NaN when both are (the organ is absent and none
was predicted: nothing to score). ``assd`` is undefined when either mask is empty: it then returns a
``SurfaceDistance`` with value NaN and a ``status`` saying which mask was empty, never inf. ``score_volume``
keeps these statuses per organ, and ``ctl.evaluate.table1`` leaves such cases out of the means and prints how many.

Speed: both surfaces are extracted and both distance transforms computed only inside the joint bounding box of
the two masks plus one voxel, which gives exactly medpy's numbers (``benchmarks/assd_speed.py`` measures it).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy.ndimage import binary_erosion, distance_transform_edt, generate_binary_structure

from ctl.organs import ORGAN_LABELS

ASSD_MODES = ("pooled", "mean_of_means")
UNITS = ("mm", "voxel")
# Status of one organ in one volume; anything but "ok" means ASSD is undefined there.
STATUSES = ("ok", "empty_prediction", "empty_truth", "both_empty")


def _check_mask_pair(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as boolean arrays of the same 2D or 3D shape; label volumes or other values are refused."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"pred has shape {pred.shape} but truth has shape {truth.shape}; they must match")
    if pred.ndim not in (2, 3):
        raise ValueError(f"expected binary 2D or 3D masks, got {pred.ndim} dimensions (shape {pred.shape})")
    masks = []
    for name, array in (("pred", pred), ("truth", truth)):
        if array.dtype != bool:
            other = (array != 0) & (array != 1)  # O(N), unlike np.unique
            if other.any():
                raise ValueError(f"{name} is not binary: it holds {np.unique(array[other])[:8].tolist()}; pass "
                                 "one organ's mask (labels == k) or use score_volume for label volumes")
            array = array.astype(bool)
        masks.append(array)
    return masks[0], masks[1]


def _check_spacing(spacing, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        raise ValueError("spacing (mm per voxel, in the array's axis order) is required for unit='mm'; "
                         "pass unit='voxel' to measure in voxels")
    values = tuple(float(s) for s in np.ravel(spacing))
    if len(values) != ndim or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(f"spacing must be {ndim} positive finite numbers (one per array axis), got {spacing!r}")
    return values


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient 2|P∩T| / (|P|+|T|) of two binary masks, a fraction in [0, 1].

    Args:
        pred, truth: boolean (or 0/1) arrays of the same 2D or 3D shape.
    Returns:
        Dice as a float; 0.0 when exactly one mask is empty; NaN when both are empty (nothing to score).
    Raises:
        ValueError: for different shapes, other than 2 or 3 dimensions, or values other than 0/1.
    """
    pred, truth = _check_mask_pair(pred, truth)
    total = int(pred.sum()) + int(truth.sum())
    if total == 0:
        return float("nan")
    return 2.0 * int(np.logical_and(pred, truth).sum()) / total


def slice_dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """The "2D Dice" of many 2D papers: ``dice`` per slice (axis 0) of two 3D masks, averaged over the slices where
    either mask holds the organ (a slice with only a false positive scores 0). Small end slices weigh as much as
    large central ones, so it is usually below the 3D ``dice``. NaN when both masks are empty."""
    pred, truth = _check_mask_pair(pred, truth)
    if pred.ndim != 3:
        raise ValueError(f"slice_dice needs volumes (Z, H, W), got shape {pred.shape}")
    scores = [dice(p, t) for p, t in zip(pred, truth) if p.any() or t.any()]
    return float(np.mean(scores)) if scores else float("nan")


def surface(mask: np.ndarray, connectivity: int = 1) -> np.ndarray:
    """Surface voxels of a binary mask: ``mask XOR erosion(mask)`` (as medpy; the array border is background).

    ``connectivity=1`` erodes with the 6-neighbourhood in 3D (4 in 2D), so a voxel is on the surface when one of
    its face neighbours is background.
    """
    mask = np.asarray(mask, dtype=bool)
    if not 1 <= connectivity <= mask.ndim:
        raise ValueError(f"connectivity={connectivity}; use 1 (face neighbours, medpy's default) to {mask.ndim}")
    structure = generate_binary_structure(mask.ndim, connectivity)
    return mask & ~binary_erosion(mask, structure=structure, iterations=1)


def _joint_crop(pred: np.ndarray, truth: np.ndarray) -> tuple[slice, ...]:
    """The bounding box of ``pred | truth`` grown by one voxel and clipped to the array.

    One voxel of margin keeps every mask voxel's neighbours inside the crop (or outside the array, which erosion
    treats as background in both cases), so surfaces and distances are the same as on the whole array.
    """
    union = pred | truth
    crop = []
    for axis in range(union.ndim):
        others = tuple(a for a in range(union.ndim) if a != axis)
        hits = np.flatnonzero(np.any(union, axis=others))
        crop.append(slice(max(int(hits[0]) - 1, 0), min(int(hits[-1]) + 2, union.shape[axis])))
    return tuple(crop)


def surface_distances(pred: np.ndarray, truth: np.ndarray, spacing=None, *, connectivity: int = 1
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each surface voxel of one mask to the nearest surface voxel of the other.

    Args:
        pred, truth: non-empty binary masks of the same 2D or 3D shape.
        spacing: voxel size per array axis (mm); None measures in voxels.
        connectivity: of the erosion that defines the surface (1: face neighbours, as medpy).
    Returns:
        ``(pred_to_truth, truth_to_pred)``: 1D float64 arrays, d(a, ∂T) for a ∈ ∂P and d(b, ∂P) for b ∈ ∂T,
        each in the order of the surface voxels in C order.
    Raises:
        ValueError: when a mask is empty (the distance is undefined), or for bad shapes or spacing.
    """
    pred, truth = _check_mask_pair(pred, truth)
    sampling = None if spacing is None else _check_spacing(spacing, pred.ndim)
    for name, mask in (("pred", pred), ("truth", truth)):
        if not mask.any():
            raise ValueError(f"{name} is empty: surface distances are undefined (assd() returns a flagged NaN)")
    crop = _joint_crop(pred, truth)
    pred_surface = surface(pred[crop], connectivity)
    truth_surface = surface(truth[crop], connectivity)
    # One exact Euclidean distance transform per surface, on the crop only: the distance of every voxel of the
    # crop to the nearest voxel of that surface, read at the other surface's voxels.
    to_truth = distance_transform_edt(~truth_surface, sampling=sampling)
    to_pred = distance_transform_edt(~pred_surface, sampling=sampling)
    return to_truth[pred_surface], to_pred[truth_surface]


@dataclass(frozen=True)
class SurfaceDistance:
    """An ASSD value with its unit and whether it was defined. ``float(result)`` gives the value."""

    value: float  # NaN when status is not "ok"
    unit: str  # "mm" or "voxel"
    mode: str  # "pooled" or "mean_of_means"
    status: str  # one of STATUSES

    def __float__(self) -> float:
        return self.value


def _status(pred_voxels: int, truth_voxels: int) -> str:
    if pred_voxels and truth_voxels:
        return "ok"
    if truth_voxels:
        return "empty_prediction"
    return "empty_truth" if pred_voxels else "both_empty"


def assd(pred: np.ndarray, truth: np.ndarray, spacing=None, *, unit: str = "mm", mode: str = "pooled",
         connectivity: int = 1) -> SurfaceDistance:
    """Average symmetric surface distance between two binary masks (see the module docstring for the formulas).

    Args:
        pred, truth: binary masks of the same 2D or 3D shape (array axis order, e.g. (z, y, x)).
        spacing: voxel size in mm per array axis, e.g. the prepared volume's ``spacing``; required for mm.
        unit: "mm" (default) or "voxel" (unit spacing; ``spacing`` is then ignored, with a warning if given).
        mode: "pooled" (medpy >= 0.5.2, MONAI symmetric; default) or "mean_of_means" (medpy <= 0.4).
        connectivity: of the surface erosion; 1 (6-neighbourhood) as medpy.
    Returns:
        ``SurfaceDistance``; when a mask is empty its value is NaN and its status names the empty mask.
    Raises:
        ValueError: for an unknown unit or mode, bad shapes, non-binary values, or missing/bad spacing for mm.
    """
    if unit not in UNITS:
        raise ValueError(f"unit={unit!r}; choose one of {UNITS}")
    if mode not in ASSD_MODES:
        raise ValueError(f"mode={mode!r}; choose one of {ASSD_MODES}")
    pred, truth = _check_mask_pair(pred, truth)
    if unit == "mm":
        spacing = _check_spacing(spacing, pred.ndim)
    else:
        if spacing is not None and any(float(s) != 1.0 for s in np.ravel(spacing)):
            warnings.warn(f"unit='voxel' ignores spacing={spacing!r}; distances are in voxels", stacklevel=2)
        spacing = None
    status = _status(int(pred.sum()), int(truth.sum()))
    if status != "ok":
        return SurfaceDistance(float("nan"), unit, mode, status)
    pred_to_truth, truth_to_pred = surface_distances(pred, truth, spacing, connectivity=connectivity)
    if mode == "pooled":
        value = (pred_to_truth.sum() + truth_to_pred.sum()) / (pred_to_truth.size + truth_to_pred.size)
    else:
        value = 0.5 * (pred_to_truth.mean() + truth_to_pred.mean())
    return SurfaceDistance(float(value), unit, mode, status)


@dataclass(frozen=True)
class OrganScore:
    """Dice and ASSD of one organ in one volume. Undefined values are NaN here and None in ``as_dict``."""

    organ: str
    label: int
    dice: float  # fraction in [0, 1]; NaN only when both masks are empty
    assd: float  # in ``assd_unit``; NaN unless status == "ok"
    assd_unit: str
    assd_mode: str
    status: str  # one of STATUSES
    pred_voxels: int
    truth_voxels: int

    def as_dict(self) -> dict:
        """A flat JSON/CSV-ready record; NaN becomes None (JSON null) so no file holds a bare NaN."""
        record = asdict(self)
        for key in ("dice", "assd"):
            if math.isnan(record[key]):
                record[key] = None
        return record


def score_volume(pred_labels: np.ndarray, truth_labels: np.ndarray, spacing=None, *, unit: str = "mm",
                 mode: str = "pooled", organs: dict[str, int] | None = None) -> dict[str, OrganScore]:
    """Dice and ASSD of every organ of a predicted label volume against the true one.

    Args:
        pred_labels, truth_labels: integer label volumes (Z, H, W) with the ids of ``ctl.organs``, the slices
            stacked in their original order.
        spacing: the volume's voxel size in mm, (z, y, x); required for unit="mm", unused for "voxel".
        unit, mode: as in ``assd``.
        organs: organ name -> label id (default ``ctl.organs.ORGAN_LABELS``).
    Returns:
        organ name -> ``OrganScore``, in the order of ``organs``.
    Raises:
        ValueError: for different shapes, non-integer labels, or missing/bad spacing for mm.
    """
    pred_labels, truth_labels = np.asarray(pred_labels), np.asarray(truth_labels)
    if pred_labels.shape != truth_labels.shape:
        raise ValueError(f"pred_labels has shape {pred_labels.shape} but truth_labels {truth_labels.shape}")
    for name, array in (("pred_labels", pred_labels), ("truth_labels", truth_labels)):
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must hold integer label ids, got dtype {array.dtype}; take argmax first")
    organs = ORGAN_LABELS if organs is None else organs
    voxel_spacing = spacing if unit == "mm" else None
    scores = {}
    for organ, label in organs.items():
        pred, truth = pred_labels == label, truth_labels == label
        distance = assd(pred, truth, voxel_spacing, unit=unit, mode=mode)
        scores[organ] = OrganScore(organ=organ, label=int(label), dice=dice(pred, truth), assd=distance.value,
                                   assd_unit=unit, assd_mode=mode, status=distance.status,
                                   pred_voxels=int(pred.sum()), truth_voxels=int(truth.sum()))
    return scores
