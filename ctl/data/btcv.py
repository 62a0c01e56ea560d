"""Load BTCV abdominal CT (NIfTI images and labels) into the canonical orientation.

BTCV ("Multi-Atlas Labeling Beyond the Cranial Vault", MICCAI 2015) unpacks to ``RawData/Training/img/img00NN.nii.gz``
and ``RawData/Training/label/label00NN.nii.gz``: 30 labelled portal-venous CT volumes (ids 1-10 and 21-40),
0.6-1.0 mm in-plane, 2.5-5 mm slices. ``find_btcv_root`` accepts the folder that holds ``img``/``label`` or any
folder above it down to ``RawData``.

**Canonical orientation.** A NIfTI file stores voxels (i, j, k) and an affine that maps them to RAS
millimetres; two files of the same body can store it in different voxel orders (a flipped axis, a negative
pixel spacing). We reorder every volume so that its voxel axes point to the patient's Left, Posterior and
Superior (LPS, DICOM's convention) and index it (z, y, x). Then an axial slice shows the patient's right on the
image's left and the front at the top, and slice 0 is the lowest (the one nearest the feet). The spacing is
reordered with the axes; it is kept for distances in millimetres (ASSD). An oblique affine (voxel axes tilted
against the scanner's) is snapped to the nearest axes without resampling, with a warning that gives the angle.

**Checks.** A file that cannot be read (truncated, empty, not NIfTI) is named in a ValueError. A CT image must
look like one (``check_ct_image``): thousands of distinct values (a label volume copied into ``img/`` has a
handful) and air (below -500 HU) around the body.
"""
from __future__ import annotations

import re
import warnings
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError

from ctl.data.geometry import Volume
from ctl.data.labels import btcv_to_classes

LPS = ("L", "P", "S")
OBLIQUE_WARN_DEG = 1.0  # below this a 50 mm organ's far edge moves < 1 mm (50 tan 1° = 0.9 mm) when snapped
CT_AIR_HU = -500.0  # air is about -1000 HU; every abdominal CT field of view holds air around the body
CT_MIN_DISTINCT = 20  # a CT holds thousands of distinct values; a BTCV label volume at most 14
READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, ImageFileError)  # a truncated, empty or foreign file


def obliquity_deg(directions: np.ndarray) -> float:
    """Largest angle (degrees) between a voxel axis and the nearest scanner axis; columns of ``directions``
    (3 x 3) are the voxel axes in world coordinates (any length). 0 for an axis-aligned grid."""
    columns = np.asarray(directions, dtype=np.float64)
    unit = columns / np.linalg.norm(columns, axis=0, keepdims=True)
    return float(np.degrees(np.arccos(np.clip(np.abs(unit).max(axis=0), -1.0, 1.0))).max())


def check_ct_image(image: np.ndarray, path: Path | str) -> None:
    """Refuse a "CT" that cannot be one: a handful of distinct values (a label volume in ``img/``), or no air.

    Raises:
        ValueError: naming ``path``, what was found and what was expected.
    """
    sample = image.ravel()[:: max(1, image.size // 200_000)]  # np.unique of a whole CT takes seconds
    if len(np.unique(sample)) < CT_MIN_DISTINCT:
        values = np.unique(image)
        if len(values) < CT_MIN_DISTINCT:
            raise ValueError(f"{path} holds only {len(values)} distinct values {values[:10].tolist()}: this is a label "
                             f"volume, not a CT image in HU; is a labelNNNN.nii.gz copied into img/?")
    if float(image.min()) >= CT_AIR_HU:
        raise ValueError(f"{path}: no voxel is below {CT_AIR_HU:g} HU (minimum {float(image.min()):g}), so there is "
                         f"no air around the body: this is not a CT in Hounsfield units (or it was windowed or "
                         f"rescaled before); use the original BTCV image")


def read_nifti_lps(path: Path | str, is_label: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a NIfTI volume as (Z, H, W) on LPS axes. Returns (array, spacing (z, y, x) mm, LPS-axes affine).

    Images come back as float32 (scaling applied); labels as integers (rounded, checked to be whole numbers).
    An oblique affine is snapped to the nearest axes with a warning giving the angle (``OBLIQUE_WARN_DEG``).

    Raises:
        FileNotFoundError: ``path`` is missing.
        ValueError: the file cannot be read (truncated, empty, not NIfTI), is not 3-D, or a label holds non-integer
            values.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        img = nib.load(str(path))
        shape = img.shape
        if len(shape) == 3:
            angle = obliquity_deg(img.affine[:3, :3])
            transform = nib.orientations.ornt_transform(nib.orientations.io_orientation(img.affine),
                                                        nib.orientations.axcodes2ornt(LPS))
            img = img.as_reoriented(transform)
            data = np.asanyarray(img.dataobj) if is_label else img.get_fdata(dtype=np.float32)
    except READ_ERRORS as err:
        raise ValueError(f"{path} cannot be read ({type(err).__name__}: {err}); the file is truncated, empty or "
                         f"not NIfTI: copy or download it again") from None
    if len(shape) != 3:
        raise ValueError(f"{path}: expected a 3-D volume, got shape {shape}")
    if angle > OBLIQUE_WARN_DEG and not is_label:  # the label shares the image's affine (checked): one warning
        warnings.warn(f"{path}: the voxel axes are oblique, up to {angle:.1f}° from the scanner axes; they are "
                      f"snapped to the nearest axes without resampling, so the anatomy stays tilted by that angle "
                      f"in the prepared slices", stacklevel=2)
    if is_label:
        if not np.issubdtype(data.dtype, np.integer):
            rounded = np.rint(data)
            if np.abs(data - rounded).max() > 1e-3:
                raise ValueError(f"{path}: a label volume must hold whole numbers, found {np.unique(data)[:5]}")
            data = rounded
        data = data.astype(np.int32)
    spacing = np.sqrt((img.affine[:3, :3] ** 2).sum(axis=0))  # voxel size along i, j, k = x, y, z
    return np.ascontiguousarray(data.transpose(2, 1, 0)), spacing[::-1].astype(np.float64), img.affine


def find_btcv_root(path: Path | str) -> Path:
    """The folder holding ``img/`` and ``label/``, given it or a folder above it (``RawData``, ``Training``).

    Raises:
        FileNotFoundError: with the layout that was expected.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"BTCV folder {path} does not exist; point --btcv at the folder holding img/ and "
                                f"label/ (BTCV unpacks to RawData/Training/img and RawData/Training/label)")
    for candidate in (path, path / "Training", path / "RawData" / "Training"):
        if (candidate / "img").is_dir():
            return candidate
    raise FileNotFoundError(f"no img/ folder in {path}, {path / 'Training'} or {path / 'RawData/Training'}; BTCV "
                            f"is expected as .../img/img00NN.nii.gz and .../label/label00NN.nii.gz")


def list_btcv_cases(root: Path | str, need_labels: bool = True) -> list[int]:
    """Case numbers in ``root/img`` (from ``imgNNNN.nii.gz``), each checked to have its label file.

    Raises:
        FileNotFoundError: no images, an image without a label or a label without an image.
    """
    root = Path(root)
    pattern = re.compile(r"img(\d+)\.nii(\.gz)?$")
    numbers = sorted(int(m.group(1)) for p in (root / "img").iterdir() if (m := pattern.match(p.name)))
    if not numbers:
        raise FileNotFoundError(f"no imgNNNN.nii.gz files in {root / 'img'}")
    if need_labels:
        labels = {int(m.group(1)) for p in (root / "label").glob("label*.nii*")
                  if (m := re.match(r"label(\d+)\.nii(\.gz)?$", p.name))} if (root / "label").is_dir() else set()
        missing = [n for n in numbers if n not in labels]
        if missing:
            raise FileNotFoundError(f"images without a label in {root}: {[f'img{n:04d}' for n in missing]}; each "
                                    f"img/imgNNNN.nii.gz needs label/labelNNNN.nii.gz (or remove the image)")
        orphans = sorted(labels - set(numbers))
        if orphans:
            raise FileNotFoundError(f"labels without an image in {root}: {[f'label{n:04d}' for n in orphans]}")
    return numbers


def _case_file(folder: Path, stem: str) -> Path:
    for suffix in (".nii.gz", ".nii"):
        if (folder / (stem + suffix)).exists():
            return folder / (stem + suffix)
    raise FileNotFoundError(f"{folder / (stem + '.nii.gz')} does not exist")


def load_btcv_case(root: Path | str, number: int) -> Volume:
    """CT case ``number`` from a BTCV root: image in HU (float32), label mapped to our classes, LPS (Z, H, W).

    Raises:
        ValueError: a file cannot be read, the image is not a CT (``check_ct_image``), image and label differ in
            shape or geometry, or the label holds unknown ids.
    """
    root = Path(root)
    img_path, lab_path = _case_file(root / "img", f"img{number:04d}"), _case_file(root / "label", f"label{number:04d}")
    image, spacing, affine = read_nifti_lps(img_path)
    check_ct_image(image, img_path)
    label, lab_spacing, lab_affine = read_nifti_lps(lab_path, is_label=True)
    if image.shape != label.shape:
        raise ValueError(f"{img_path.name} has shape {image.shape} (z, y, x) but {lab_path.name} has {label.shape}; "
                         f"an image and its label must cover the same voxels")
    if not np.allclose(affine, lab_affine, atol=1e-3 * float(spacing.min())):
        raise ValueError(f"{img_path.name} and {lab_path.name} have different affines (voxel positions); "
                         f"image:\n{np.round(affine, 3)}\nlabel:\n{np.round(lab_affine, 3)}")
    classes = btcv_to_classes(label, source=str(lab_path))
    return Volume(image=image, label=classes, spacing=spacing, subject=f"ct{number:04d}", domain="ct")


def load_nifti_image(path: Path | str, subject: str, domain: str, label: np.ndarray) -> Volume:
    """An image-only NIfTI (e.g. the phantom's paired MR) with a label given by the caller, LPS (Z, H, W)."""
    image, spacing, _ = read_nifti_lps(path)
    return Volume(image=image, label=label, spacing=spacing, subject=subject, domain=domain)
