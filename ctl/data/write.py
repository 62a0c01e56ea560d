"""Write the phantom to disk exactly as the real data sets are laid out, so one loader path serves both.

``python -m ctl phantom --out DIR --n-ct 30 --n-mr 20 --seed S --size 256`` writes:

    DIR/btcv/img/img0001.nii.gz       CT in HU (int16), as BTCV's RawData/Training/img
    DIR/btcv/label/label0001.nii.gz   BTCV label ids (1 spleen, 2 right kidney, 3 left kidney, 6 liver; also
                                      4 gallbladder, 7 stomach, 8 aorta, 9 inferior vena cava, 10 portal and
                                      splenic vein, 11 pancreas)
    DIR/chaos/MR/<n>/T2SPIR/DICOM_anon/IMG-<series>-<slice>.dcm   one MR DICOM series per subject (uint16)
    DIR/chaos/MR/<n>/T2SPIR/Ground/IMG-<series>-<slice>.png       CHAOS grey-level masks, one per DICOM file
    DIR/paired_mr/img/img0001.nii.gz  EVALUATION ONLY: CT subject 1's anatomy rendered as MR on its CT grid
    DIR/phantom.json                  what was generated (written last: its presence marks a complete folder)

NIfTI affines map voxel (i, j, k) to RAS millimetres (the NIfTI convention); our LPS grids therefore get
``diag(-dx, -dy, dz)``. DICOM files are numbered from the head downwards (as scanners often do), so a reader
that trusted file names instead of the ImagePositionPatient tags would stack the slices upside down.
"""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

from ctl.data.folders import building
from ctl.data.geometry import Grid
from ctl.data.labels import btcv_to_classes, encode_chaos_png
from ctl.data.render import MRConfig, render_subject

PHANTOM_VERSION = 4  # bump when the anatomy or rendering changes, so cached phantoms are regenerated
# 4: kidneys in perirenal fat, liver/spleen/aorta placed and carved anatomically, vessels, bowel, texture


def lps_affine(grid: Grid) -> np.ndarray:
    """NIfTI affine (voxel (x, y, z) index -> RAS mm) of an LPS-aligned ``grid``."""
    dz, dy, dx = grid.spacing
    z0, y0, x0 = grid.origin
    return np.array([[-dx, 0, 0, -x0], [0, -dy, 0, -y0], [0, 0, dz, z0], [0, 0, 0, 1]], dtype=np.float64)


def write_nifti(path: Path, volume: np.ndarray, grid: Grid, dtype) -> None:
    """Save a (Z, H, W) volume on ``grid`` as NIfTI (stored (x, y, z) with the grid's affine)."""
    affine = lps_affine(grid)
    img = nib.Nifti1Image(np.ascontiguousarray(volume.transpose(2, 1, 0)).astype(dtype), affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))


def _uid(rng: np.random.Generator) -> str:
    """A DICOM UID under the 2.25 root (a 128-bit number written in decimal), drawn from ``rng``."""
    return "2.25." + str(int.from_bytes(rng.bytes(16), "big"))


def write_dicom_series(folder: Path, volume: np.ndarray, grid: Grid, subject: int, rng: np.random.Generator,
                       protocol: MRConfig = MRConfig()) -> list[Path]:
    """One DICOM file per slice of a (Z, H, W) MR volume, with real geometry and T2-SPIR tags.

    Files are named ``IMG-<series>-<n>.dcm`` with n = 1 at the **top** slice (largest z).
    """
    import SimpleITK as sitk  # here, not at the top: it costs ~90 MB of memory, and only DICOM needs it

    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame = _uid(rng), _uid(rng), _uid(rng)
    series_number = 2 + subject % 7  # CHAOS series numbers vary between subjects too
    pixels = np.clip(np.rint(volume), 0, 65535).astype(np.uint16)
    dz, dy, dx = grid.spacing
    z0, y0, x0 = grid.origin
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    paths = []
    for n in range(1, grid.shape[0] + 1):
        k = grid.shape[0] - n  # file 1 holds the top slice
        img = sitk.GetImageFromArray(pixels[k])  # (H, W): rows y, columns x
        img.SetSpacing((dx, dy))
        tags = {
            "0008|0060": "MR", "0008|103e": "T2SPIR (ctl phantom)", "0008|0070": "ctl phantom",
            "0010|0010": f"phantom^{subject:02d}", "0010|0020": f"phantom-mr-{subject:02d}",
            "0020|000d": study, "0020|000e": series, "0020|0052": frame, "0008|0018": _uid(rng),
            "0020|0011": str(series_number), "0020|0013": str(n),
            "0020|0032": f"{x0:.4f}\\{y0:.4f}\\{z0 + k * dz:.4f}",  # ImagePositionPatient: pixel (0, 0) centre
            "0020|0037": "1\\0\\0\\0\\1\\0",  # ImageOrientationPatient: rows run along +x, columns along +y
            "0028|0030": f"{dy:.6f}\\{dx:.6f}",  # PixelSpacing: between rows, between columns
            "0018|0050": f"{dz:.3f}",  # SliceThickness (GDCM cannot write SpacingBetweenSlices for 2-D slices)
            "0008|0020": "20000101", "0008|0030": "000000",  # fixed study date/time: reproducible files
            "0018|0020": "SE", "0018|0081": f"{protocol.te_ms:g}", "0018|0080": f"{protocol.tr_ms:g}",
            "0018|0087": "3",  # the relaxation times used are 3 T values
        }
        for key, value in tags.items():
            img.SetMetaData(key, value)
        path = folder / f"IMG-{series_number:04d}-{n:05d}.dcm"
        writer.SetFileName(str(path))
        writer.Execute(img)
        paths.append(path)
    return paths


def write_chaos_masks(folder: Path, label_classes: np.ndarray, dicom_paths: list[Path], grid: Grid) -> None:
    """One CHAOS grey-level PNG per DICOM file, with the same name; ``label_classes`` is (Z, H, W), classes 0-4."""
    folder.mkdir(parents=True, exist_ok=True)
    grey = encode_chaos_png(label_classes)
    for n, dicom in enumerate(dicom_paths, start=1):
        k = grid.shape[0] - n  # same slice as write_dicom_series put in file n
        Image.fromarray(grey[k], mode="L").save(folder / (dicom.stem + ".png"))


def generate_phantom(out_dir: Path | str, n_ct: int = 30, n_mr: int = 20, seed: int = 0, size: int = 256,
                     progress: bool = False) -> Path:
    """Render ``n_ct`` CT and ``n_mr`` MR phantom subjects and write them in BTCV/CHAOS layout under ``out_dir``.

    CT subject i and MR subject i are different people (as BTCV and CHAOS are); each CT subject also gets its
    paired MR rendering under ``paired_mr/`` for evaluation only. ``phantom.json`` is written last.

    ``out_dir`` may be new, empty, or a phantom folder (``phantom.json``, and nothing but what this writes), which
    is then replaced; any other folder is refused (``ctl.data.folders``). The phantom is written into a temporary
    sibling, renamed to ``out_dir`` when complete and removed if an error stops it.

    Raises:
        ValueError: for counts below 1, a size below 16, or an ``out_dir`` that must not be written.
    """
    if n_ct < 1 or n_mr < 1:
        raise ValueError(f"need at least one CT and one MR subject, got n_ct={n_ct}, n_mr={n_mr}")
    if size < 16:
        raise ValueError(f"size={size} px is too small for the phantom; use at least 16")
    owned = ("btcv", "chaos", "paired_mr", "phantom.json")  # all that it writes; anything else is not replaced
    with building(out_dir, made_by_generate_phantom, what="phantom", owned_names=owned) as tmp:
        _write_phantom(tmp, n_ct, n_mr, seed, size, progress)
    return Path(out_dir)


def made_by_generate_phantom(folder: Path) -> bool:
    """True when ``folder`` holds a phantom.json written by ``generate_phantom`` (any version): it may be replaced."""
    try:
        info = json.loads((Path(folder) / "phantom.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("generator") == "ctl.data.generate_phantom"


def _write_phantom(out: Path, n_ct: int, n_mr: int, seed: int, size: int, progress: bool) -> None:
    """Everything ``generate_phantom`` writes, into ``out`` (its temporary folder)."""
    marker = out / "phantom.json"
    for i in range(1, n_ct + 1):
        subject = render_subject(seed, "ct", i, paired=True, size=size)
        write_nifti(out / "btcv" / "img" / f"img{i:04d}.nii.gz", np.rint(subject.image), subject.grid, np.int16)
        write_nifti(out / "btcv" / "label" / f"label{i:04d}.nii.gz", subject.label, subject.grid, np.uint8)
        paired = np.clip(np.rint(subject.paired_mr), 0, 65535)
        write_nifti(out / "paired_mr" / "img" / f"img{i:04d}.nii.gz", paired, subject.grid, np.uint16)
        if progress:
            print(f"CT {i}/{n_ct}: {subject.grid.shape} voxels, spacing {np.round(subject.grid.spacing, 2)} mm")
    for i in range(1, n_mr + 1):
        subject = render_subject(seed, "mr", i, size=size)
        folder = out / "chaos" / "MR" / str(i) / "T2SPIR"
        uid_rng = np.random.default_rng([seed, 7, i])
        paths = write_dicom_series(folder / "DICOM_anon", subject.image, subject.grid, i, uid_rng)
        write_chaos_masks(folder / "Ground", btcv_to_classes(subject.label), paths, subject.grid)
        if progress:
            print(f"MR {i}/{n_mr}: {subject.grid.shape} voxels, spacing {np.round(subject.grid.spacing, 2)} mm")
    info = {"generator": "ctl.data.generate_phantom", "version": PHANTOM_VERSION, "seed": seed, "n_ct": n_ct,
            "n_mr": n_mr, "size": size}
    marker.write_text(json.dumps(info, indent=2))


def phantom_is_complete(out_dir: Path | str, n_ct: int, n_mr: int, seed: int, size: int) -> bool:
    """True when ``out_dir`` holds a finished phantom generated with exactly these settings."""
    try:
        info = json.loads((Path(out_dir) / "phantom.json").read_text())
    except (OSError, ValueError):  # missing (never finished) or damaged: not complete
        return False
    return info == {"generator": "ctl.data.generate_phantom", "version": PHANTOM_VERSION, "seed": seed,
                    "n_ct": n_ct, "n_mr": n_mr, "size": size}
