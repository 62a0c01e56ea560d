"""Load CHAOS T2-SPIR MR (one DICOM series and one PNG mask per slice) into the canonical orientation.

CHAOS (Kavur et al., Medical Image Analysis 2021) unpacks to ``Train_Sets/MR/<id>/T2SPIR/DICOM_anon/*.dcm``
and ``Train_Sets/MR/<id>/T2SPIR/Ground/*.png`` (20 labelled MR subjects; the T1DUAL folders are not used here).
``find_chaos_root`` accepts the folder holding ``MR/`` or the one above it.

- **Slice order comes from geometry**, never from file names: each file's ImagePositionPatient is projected on
  the slice normal (the cross product of the two ImageOrientationPatient directions) and files are sorted by
  that position. Scanners often number files from the head down; a reader trusting names would turn the
  volume upside down.
- **Each PNG belongs to the DICOM file of the same name** (``IMG-0004-00012.png`` is the mask of
  ``IMG-0004-00012.dcm``) and has that file's rows and columns. The masks are stacked in the DICOM files'
  geometric order and reoriented together with the image, to LPS axes indexed (z, y, x) like BTCV.
- Grey levels are decoded by range (``labels.decode_chaos_png``), 16-bit masks scaled back to 8 bits first
  (``labels.mask_grey_8bit``).
- **Checks.** An unreadable DICOM or PNG and a mask of the wrong size are named with the subject. When PNG
  names differ from the DICOM names the masks are paired in name order with a warning, and refused when they
  cannot be this subject's (``check_masks_fit``: more than half of the organ pixels lie where the image is air).
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ctl.data.btcv import OBLIQUE_WARN_DEG, obliquity_deg
from ctl.data.geometry import Volume
from ctl.data.labels import decode_chaos_png, mask_grey_8bit

if TYPE_CHECKING:
    import SimpleITK as sitk  # imported where used: it costs ~90 MB of memory, and only DICOM needs it

AIR_FRACTION = 0.05  # darker than 5 % of the volume's 99th percentile is air (organs in T2-SPIR: above 9 %)
MAX_ORGAN_ON_AIR = 0.5  # right masks put ~1 % of organ pixels on such dark pixels, another subject's most of them


def find_chaos_root(path: Path | str) -> Path:
    """The folder holding ``MR/<id>/T2SPIR``, given it, the ``MR`` folder's parent's parent, or ``MR`` itself.

    Raises:
        FileNotFoundError: with the layout that was expected.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"CHAOS folder {path} does not exist; point --chaos at the folder holding MR/ "
                                f"(CHAOS unpacks to Train_Sets/MR/<id>/T2SPIR/DICOM_anon and .../Ground)")
    for candidate in (path, path / "Train_Sets", path.parent if path.name == "MR" else None):
        if candidate is not None and (candidate / "MR").is_dir():
            return candidate
    raise FileNotFoundError(f"no MR/ folder in {path} or {path / 'Train_Sets'}; CHAOS MR is expected as "
                            f"MR/<id>/T2SPIR/DICOM_anon/*.dcm with masks in MR/<id>/T2SPIR/Ground/*.png")


def list_chaos_cases(root: Path | str) -> list[int]:
    """Subject ids (numeric folder names) under ``root/MR`` that have a ``T2SPIR`` folder.

    Raises:
        FileNotFoundError: when there is none.
    """
    mr = Path(root) / "MR"
    ids = sorted(int(p.name) for p in mr.iterdir() if p.is_dir() and p.name.isdigit() and (p / "T2SPIR").is_dir())
    if not ids:
        raise FileNotFoundError(f"no <id>/T2SPIR folders in {mr}")
    return ids


def _floats(reader: sitk.ImageFileReader, tag: str, path: Path) -> np.ndarray:
    if not reader.HasMetaDataKey(tag):
        raise ValueError(f"{path}: DICOM tag {tag} is missing; cannot place the slice in space")
    return np.array([float(v) for v in reader.GetMetaData(tag).split("\\")])


def sorted_series(folder: Path | str) -> list[Path]:
    """The DICOM files of ``folder`` ordered by position along the slice normal (lowest first).

    Raises:
        FileNotFoundError: no DICOM files.
        ValueError: several series, slices of different orientation, duplicate or unevenly spaced positions.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".dcm") \
        if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"no DICOM files (*.dcm) in {folder}")
    import SimpleITK as sitk  # here, not at the top: it costs ~90 MB of memory, and only DICOM needs it

    series, positions, normal0 = {}, {}, None
    reader = sitk.ImageFileReader()
    for path in files:
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError as err:
            raise ValueError(f"{path} is not a readable DICOM file ({err.args[0].splitlines()[0][:120]})") from None
        uid = reader.GetMetaData("0020|000e") if reader.HasMetaDataKey("0020|000e") else "?"
        series.setdefault(uid, []).append(path)
        orientation = _floats(reader, "0020|0037", path)
        normal = np.cross(orientation[:3], orientation[3:])
        if normal0 is None:
            normal0 = normal
        elif not np.allclose(normal, normal0, atol=1e-3):
            raise ValueError(f"{path} is oriented differently from the other slices in {folder}")
        positions[path] = float(_floats(reader, "0020|0032", path) @ normal0)
    if len(series) > 1:
        counts = {uid[-12:]: len(v) for uid, v in series.items()}
        raise ValueError(f"{folder} mixes {len(series)} DICOM series (SeriesInstanceUID ...suffix: files {counts}); "
                         f"keep one series (the T2-SPIR one) per folder")
    ordered = sorted(files, key=positions.__getitem__)
    gaps = np.diff([positions[p] for p in ordered])
    if len(gaps) and gaps.min() < 1e-3:
        raise ValueError(f"{folder}: two files share a slice position; is a series duplicated?")
    if len(gaps) and gaps.max() > 1.1 * gaps.min():
        raise ValueError(f"{folder}: slices are unevenly spaced ({gaps.min():.2f}-{gaps.max():.2f} mm); "
                         f"a slice may be missing")
    return ordered


def read_mask_png(path: Path, subject: int) -> np.ndarray:
    """One CHAOS mask PNG (8- or 16-bit grey, or grey stored as RGB) decoded to our classes.

    Raises:
        ValueError: the PNG cannot be read (truncated, not an image) or holds unknown grey levels; names the
            PNG and the subject.
    """
    try:
        with Image.open(path) as image:
            image.load()
            sixteen_bit = image.mode.startswith("I")  # "I;16", "I;16B", "I": 16-bit greys are not 8-bit "L"
            grey = np.asarray(image) if sixteen_bit else np.asarray(image.convert("L"))
    except OSError as err:
        raise ValueError(f"{path} (a mask of MR subject {subject}) cannot be read ({err}); the PNG is truncated or "
                         f"not an image: copy it again") from None
    return decode_chaos_png(mask_grey_8bit(grey, source=str(path)), source=f"{path} (MR subject {subject})")


def _read_masks(ground: Path, dicoms: list[Path], subject: int) -> tuple[list[Path], list[np.ndarray], bool]:
    """The PNG of each DICOM file (same order), matched by file name; their decoded masks; whether the PNGs were
    paired by name order instead (names differ)."""
    pngs = sorted(ground.glob("*.png")) if ground.is_dir() else []
    if len(pngs) != len(dicoms):
        raise ValueError(f"{ground} holds {len(pngs)} PNG masks but the series has {len(dicoms)} DICOM slices; "
                         f"each slice needs exactly one mask")
    by_stem = {p.stem: p for p in pngs}
    by_order = set(by_stem) != {d.stem for d in dicoms}
    if not by_order:
        matched = [by_stem[d.stem] for d in dicoms]
    else:  # names differ: pair the n-th PNG with the n-th DICOM file in name order, and say so
        warnings.warn(f"{ground}: PNG names do not match the DICOM names; pairing them in file-name order")
        by_name = dict(zip(sorted(dicoms, key=lambda p: _natural(p.name)),
                           sorted(pngs, key=lambda p: _natural(p.name))))
        matched = [by_name[d] for d in dicoms]
    return matched, [read_mask_png(p, subject) for p in matched], by_order


def check_masks_fit(image: np.ndarray, masks: np.ndarray, ground: Path, subject: int) -> None:
    """Refuse masks that cannot belong to this image: most organ pixels where the image is as dark as air.

    ``image`` and ``masks`` are (Z, H, W) in the same slice order. Air is below ``AIR_FRACTION`` of the image's
    99th percentile; correctly paired masks put about 1 % of their organ pixels there.

    Raises:
        ValueError: more than ``MAX_ORGAN_ON_AIR`` of the organ pixels on air, with the counts.
    """
    organ = masks > 0
    if not organ.any():
        return
    air = image < AIR_FRACTION * np.percentile(image, 99)
    on_air = int((organ & air).sum())
    if on_air > MAX_ORGAN_ON_AIR * organ.sum():
        slices = [int(k) for k in np.flatnonzero((organ & air).any(axis=(1, 2)))]
        raise ValueError(f"{ground}: {on_air} of the {int(organ.sum())} organ pixels of the masks lie where the image "
                         f"of MR subject {subject} is air (slices {slices[:8]}{' ...' if len(slices) > 8 else ''} in "
                         f"file order); these masks belong to another subject or another order. The PNG names differ "
                         f"from the DICOM names, so they were paired in name order: name each mask like its DICOM "
                         f"file (IMG-0004-00012.png for IMG-0004-00012.dcm)")


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def load_chaos_case(root: Path | str, subject: int, need_labels: bool = True) -> Volume:
    """T2-SPIR MR of CHAOS subject ``subject``: image in scanner units (float32), masks as classes, LPS (Z, H, W).

    With ``need_labels=False`` (an unlabelled test subject) the label is all background.

    Raises:
        FileNotFoundError, ValueError: missing folders, a bad series (see ``sorted_series``), a PNG count or
        size that does not match the series, unknown grey values.
    """
    folder = Path(root) / "MR" / str(subject) / "T2SPIR"
    import SimpleITK as sitk  # here, not at the top: it costs ~90 MB of memory, and only DICOM needs it

    files = sorted_series(folder / "DICOM_anon")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in files])
    try:
        image = reader.Execute()
    except RuntimeError as err:
        raise ValueError(f"{folder / 'DICOM_anon'}: the series of MR subject {subject} cannot be read "
                         f"({str(err).strip().splitlines()[-1][:160]}); a file is truncated or damaged") from None
    angle = obliquity_deg(np.array(image.GetDirection()).reshape(3, 3))  # columns: the voxel axes
    if angle > OBLIQUE_WARN_DEG:
        warnings.warn(f"{folder / 'DICOM_anon'}: the slices are oblique, up to {angle:.1f}° from the scanner axes; "
                      f"they are snapped to the nearest axes without resampling", stacklevel=2)
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"{folder}: expected a grey-level 3-D series, got {image.GetDimension()}-D with "
                         f"{image.GetNumberOfComponentsPerPixel()} components")
    if need_labels:
        pngs, masks, by_order = _read_masks(folder / "Ground", files, subject)
        rows, cols = image.GetSize()[1], image.GetSize()[0]
        for mask, png, path in zip(masks, pngs, files):
            if mask.shape != (rows, cols):
                raise ValueError(f"{png} (MR subject {subject}) is {mask.shape} (rows, cols) but its slice "
                                 f"{path.name} is {(rows, cols)}; a mask must have its slice's size")
        if by_order:
            check_masks_fit(sitk.GetArrayFromImage(image), np.stack(masks), folder / "Ground", subject)
        label = sitk.GetImageFromArray(np.stack(masks))  # (Z, H, W) in the same order as the files
    else:
        label = sitk.Image(image.GetSize(), sitk.sitkUInt8)
    label.CopyInformation(image)
    image, label = sitk.DICOMOrient(image, "LPS"), sitk.DICOMOrient(label, "LPS")
    spacing = np.array(image.GetSpacing()[::-1], dtype=np.float64)
    return Volume(image=sitk.GetArrayFromImage(image).astype(np.float32),
                  label=sitk.GetArrayFromImage(label).astype(np.uint8), spacing=spacing, subject=f"mr{subject:04d}",
                  domain="mr")
