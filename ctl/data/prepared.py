"""Prepared data: the one folder format that training and evaluation read, for the phantom and for real data.

    PREPARED/meta.json          settings and provenance, with ``"generator": "ctl.data.prepare"`` (the mark that
                                lets ``prepare`` replace the folder) and ``format_version``
    PREPARED/split.json         {"ct": {"train": [ids], "test": [ids]}, "mr": {...}}: split by SUBJECT
    PREPARED/ct/<id>.npz        image float32 (Z, H, W) in [0, 1]; label uint8 (Z, H, W); spacing float64 (3,)
    PREPARED/mr/<id>.npz        the same for MR
    PREPARED/paired_mr/<id>.npz phantom only, EVALUATION ONLY: CT subject <id>'s anatomy rendered as MR on the
                                CT grid, preprocessed like MR; read it only through ``load_paired_mr``

Arrays are in the canonical orientation (LPS axes indexed (z, y, x), see ``ctl.data.btcv``); spacing is mm
along (z, y, x). Subject ids are ``ct<NNNN>`` (BTCV case number) and ``mr<NNNN>`` (CHAOS subject number).

**Never trust a stale file.** ``read_meta`` refuses a folder of another ``format_version`` (saying how to
re-prepare it) and ``load_volume`` checks each file's arrays (float32 image in [0, 1], uint8 label of the image's
shape, three positive spacings) and names a damaged or truncated ``.npz``. ``is_complete``, which decides whether
``ensure_phantom_prepared`` may reuse a folder, opens every listed file's index (not its arrays: a few ms), so a
truncated file makes the folder be prepared again. ``prepare`` writes only into a new or empty folder or one it
made itself (``ctl.data.folders``), building it under a temporary sibling. Where the notebooks keep their
prepared folders, and when they are reused, is ``ctl.data.sources``.

Splits: ``"random"`` draws ``test_fraction`` of each domain's subjects with ``seed`` (the paper: 20 % test);
``"sifa"`` is the fixed split of SIFA (Chen et al. 2019, which the paper follows): test CT 1, 9, 30, 32, 33, 39
and MR 1, 13, 32, 38, the rest train.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from ctl.data.archives import is_zip, unpacked
from ctl.data.btcv import find_btcv_root, list_btcv_cases, load_btcv_case, load_nifti_image
from ctl.data.chaos import find_chaos_root, list_chaos_cases, load_chaos_case
from ctl.data.folders import building
from ctl.data.geometry import Volume
from ctl.data.preprocess import CT_WINDOW_HU, MR_PERCENTILES, preprocess_volume
from ctl.organs import CLASS_NAMES

DOMAINS = ("ct", "mr")
SPLITS = ("train", "test")
SIFA_TEST = {"ct": (1, 9, 30, 32, 33, 39), "mr": (1, 13, 32, 38)}
FORMAT_VERSION = 2  # 2: meta.json carries the "generator" mark; arrays are checked when loaded
GENERATOR = "ctl.data.prepare"  # meta.json's mark: a folder ctl made (and may replace)
ARRAYS = ("image", "label", "spacing")  # what every prepared .npz holds
PREPARED_NAMES = ("meta.json", "split.json", "ct", "mr", "paired_mr")  # all that prepare writes in its folder
ORIENTATION = "LPS axes, arrays (z, y, x): image left = patient right, top = anterior, slice 0 = most inferior"


def random_split(ids: list[str], test_fraction: float, seed: int) -> dict[str, list[str]]:
    """Seeded split of subject ids: round(test_fraction * n) subjects (at least 1) go to test.

    Raises:
        ValueError: fewer than 2 subjects, or ``test_fraction`` outside (0, 1).
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    if len(ids) < 2:
        raise ValueError(f"need at least 2 subjects to split into train and test, got {ids}")
    n_test = min(len(ids) - 1, max(1, int(round(test_fraction * len(ids)))))
    order = np.random.default_rng(seed).permutation(len(ids))
    test = sorted(ids[i] for i in order[:n_test])
    return {"train": sorted(i for i in ids if i not in test), "test": test}


def sifa_split(ids: list[str], domain: str) -> dict[str, list[str]]:
    """SIFA's fixed test subjects; every other subject trains.

    Raises:
        ValueError: when one of SIFA's test subjects is not among ``ids``.
    """
    wanted = [f"{domain}{n:04d}" for n in SIFA_TEST[domain]]
    missing = [w for w in wanted if w not in ids]
    if missing:
        raise ValueError(f"the SIFA split needs {domain.upper()} subjects {missing}, which are not in the data; "
                         f"use split='random' for other data")
    return {"train": sorted(i for i in ids if i not in wanted), "test": wanted}


def _save(path: Path, volume: Volume) -> None:
    """One prepared volume; a failed write (a full disk) is re-raised naming the file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, image=volume.image.astype(np.float32), label=volume.label.astype(np.uint8),
                 spacing=volume.spacing.astype(np.float64))
    except OSError as err:
        raise OSError(err.errno, f"could not write {path.name}: {err.strerror or err}", str(path)) from err


def made_by_prepare(folder: Path) -> bool:
    """True when ``folder`` is a prepared folder written by ``prepare`` (any format version): it may be replaced."""
    try:
        meta = json.loads((Path(folder) / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    # format 1 had no "generator" key; its orientation sentence is as good a mark
    return isinstance(meta, dict) and (meta.get("generator") == GENERATOR or meta.get("orientation") == ORIENTATION)


def prepare(btcv_dir: Path | str, chaos_dir: Path | str, out_dir: Path | str, size: int = 256, *,
            paired_dir: Path | str | None = None, split: str = "random", seed: int = 0, test_fraction: float = 0.2,
            ct_window: tuple[float, float] = CT_WINDOW_HU, mr_percentiles: tuple[float, float] = MR_PERCENTILES,
            extra_meta: dict | None = None, progress: bool = True) -> Path:
    """Load BTCV CT and CHAOS MR, preprocess every volume (``preprocess.preprocess_volume``), split by subject,
    and write the prepared folder ``out_dir``. Returns ``out_dir``.

    ``out_dir`` may be new, empty, or a prepared folder made by ``prepare`` (which is then replaced); anything
    else is refused (``ctl.data.folders``), as are the current folder and a folder holding the input data.
    ``paired_dir`` (the phantom's ``paired_mr`` folder) adds each CT subject's MR rendering, for evaluation only.
    The folder is built under ``<out_dir>.ctl-partial`` and moved into place when complete; an error removes it. ``btcv_dir`` and
    ``chaos_dir`` may also be the zip archives as downloaded (``RawData.zip``, ``CHAOS_Train_Sets.zip``): the
    files used are extracted into a temporary folder beside ``out_dir``, removed afterwards (``ctl.data.archives``).

    Raises:
        FileNotFoundError, ValueError: from the loaders (each names the file and what to do), a bad ``split``,
            or an ``out_dir`` that must not be written.
        OSError: a file could not be written (full disk, no permission), naming it.
    """
    if split not in ("random", "sifa"):
        raise ValueError(f"split must be 'random' or 'sifa', got {split!r}")
    if is_zip(btcv_dir) or is_zip(chaos_dir):  # read the archives: same preparation on their used members
        archives = {f"{kind}_dir": str(Path(path).resolve())  # provenance: the archive, not the temporary folder
                    for kind, path in (("btcv", btcv_dir), ("chaos", chaos_dir)) if is_zip(path)}
        with unpacked(btcv_dir, "btcv", Path(out_dir).parent) as btcv, \
                unpacked(chaos_dir, "chaos", Path(out_dir).parent) as chaos:
            return prepare(btcv, chaos, out_dir, size, paired_dir=paired_dir, split=split, seed=seed,
                           test_fraction=test_fraction, ct_window=ct_window, mr_percentiles=mr_percentiles,
                           extra_meta={**(extra_meta or {}), **archives}, progress=progress)
    btcv_root, chaos_root = find_btcv_root(btcv_dir), find_chaos_root(chaos_dir)
    ct_numbers, mr_numbers = list_btcv_cases(btcv_root), list_chaos_cases(chaos_root)
    inputs = [btcv_dir, chaos_dir, btcv_root, chaos_root] + ([paired_dir] if paired_dir is not None else [])
    with building(out_dir, made_by_prepare, inputs, what="prepared folder", owned_names=PREPARED_NAMES) as tmp:
        _write_prepared(tmp, btcv_root, chaos_root, ct_numbers, mr_numbers, size, paired_dir, split, seed,
                        test_fraction, ct_window, mr_percentiles, extra_meta, progress)
    return Path(out_dir)


def _write_prepared(tmp: Path, btcv_root: Path, chaos_root: Path, ct_numbers: list[int], mr_numbers: list[int],
                    size: int, paired_dir, split: str, seed: int, test_fraction: float, ct_window, mr_percentiles,
                    extra_meta: dict | None, progress: bool) -> None:
    """Everything ``prepare`` writes, into the temporary folder ``tmp``."""
    info: dict = {"ct": {}, "mr": {}}

    def store(volume: Volume, folder: str) -> Volume:
        prepared = preprocess_volume(volume, size, ct_window, mr_percentiles)
        _save(tmp / folder / f"{volume.subject}.npz", prepared)
        if folder in DOMAINS:
            info[folder][volume.subject] = {"slices": int(prepared.image.shape[0]),
                                            "raw_shape": list(volume.image.shape),
                                            "raw_spacing": np.round(volume.spacing, 4).tolist(),
                                            "spacing": np.round(prepared.spacing, 4).tolist()}
        return prepared

    for n in ct_numbers:
        ct = load_btcv_case(btcv_root, n)
        store(ct, "ct")
        if paired_dir is not None:
            paired = load_nifti_image(Path(paired_dir) / "img" / f"img{n:04d}.nii.gz", ct.subject, "mr", ct.label)
            if paired.image.shape != ct.image.shape or not np.allclose(paired.spacing, ct.spacing, rtol=1e-4):
                raise ValueError(f"paired MR of {ct.subject} is {paired.image.shape} at {paired.spacing} mm but the CT "
                                 f"is {ct.image.shape} at {ct.spacing} mm; they must share the CT grid")
            store(paired, "paired_mr")
        if progress:
            print(f"  {ct.subject}: {ct.image.shape} -> {info['ct'][ct.subject]['slices']} x {size} x {size}")
    for n in mr_numbers:
        mr = load_chaos_case(chaos_root, n)
        store(mr, "mr")
        if progress:
            print(f"  {mr.subject}: {mr.image.shape} -> {info['mr'][mr.subject]['slices']} x {size} x {size}")

    splits = {}
    for domain in DOMAINS:
        ids = sorted(info[domain])
        splits[domain] = random_split(ids, test_fraction, seed) if split == "random" else sifa_split(ids, domain)
    (tmp / "split.json").write_text(json.dumps(splits, indent=2))
    is_phantom = paired_dir is not None or (btcv_root.parent / "phantom.json").exists()
    meta = {"generator": GENERATOR, "format_version": FORMAT_VERSION, "source": "phantom" if is_phantom else "real",
            "image_size": size, "classes": list(CLASS_NAMES), "orientation": ORIENTATION,
            "ct_window_hu": list(ct_window), "mr_percentiles": list(mr_percentiles),
            "split": {"kind": split, "seed": seed, "test_fraction": test_fraction},
            "paired_mr": paired_dir is not None, "btcv_dir": str(btcv_root), "chaos_dir": str(chaos_root),
            "subjects": info, **(extra_meta or {})}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))


def reprepare_hint(prepared: Path | str, meta: dict | None = None) -> str:
    """The command that makes ``prepared`` again with the settings in its ``meta`` (it replaces the folder)."""
    meta = meta or {}
    btcv, chaos = meta.get("btcv_dir", "BTCV_DIR"), meta.get("chaos_dir", "CHAOS_DIR")
    split = meta.get("split", {})
    command = (f"python -m ctl prepare --btcv {btcv} --chaos {chaos} --out {prepared} "
               f"--size {meta.get('image_size', 256)} --split {split.get('kind', 'random')} "
               f"--seed {split.get('seed', 0)} --test-fraction {split.get('test_fraction', 0.2)}")
    if meta.get("paired_mr") and "btcv_dir" in meta:
        command += f" --paired {Path(btcv).parent / 'paired_mr'}"
    auto = " (the notebooks re-prepare their phantom folders by themselves)" if "phantom" in meta else ""
    return f"re-prepare it with: {command}{auto}"


def read_meta(prepared: Path | str, check_version: bool = True) -> dict:
    """``meta.json`` of a prepared folder, checked to be of this ``FORMAT_VERSION`` (unless ``check_version``
    is False).

    Raises:
        FileNotFoundError: the folder is missing or was never completed.
        ValueError: meta.json is damaged, or of another format version (the message says how to re-prepare).
    """
    path = Path(prepared) / "meta.json"
    if not path.exists():
        raise FileNotFoundError(f"{prepared} is not a (complete) prepared folder: no meta.json. Create it with "
                                f"ctl.data.ensure_phantom_prepared(...) or `python -m ctl prepare ...`")
    try:
        meta = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is damaged ({err}); {reprepare_hint(prepared)}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path} does not hold a JSON object; {reprepare_hint(prepared)}")
    version = meta.get("format_version")
    if check_version and version != FORMAT_VERSION:
        made = "has no format_version" if version is None else f"is of format_version {version}"
        raise ValueError(f"{path} {made}, but this ctl reads prepared folders of format_version {FORMAT_VERSION} "
                         f"(it checks the arrays it loads); {reprepare_hint(prepared, meta)}")
    return meta


def _npz_index_ok(path: Path) -> bool:
    """True when ``path`` opens as a .npz listing the three arrays. Reads the zip index only (at the file's end,
    so a truncated file fails), not the arrays: cheap enough for every notebook start."""
    try:
        with np.load(path) as data:
            return set(ARRAYS) <= set(data.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return False


def is_complete(prepared: Path | str, expected: dict) -> bool:
    """True when ``prepared`` has meta.json (this format) whose entries equal ``expected``, and every listed
    subject's file opens with its three arrays (``_npz_index_ok``)."""
    try:
        meta = read_meta(prepared)
        splits = json.loads((Path(prepared) / "split.json").read_text())
        ids = {d: [i for s in SPLITS for i in splits[d][s]] for d in DOMAINS}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if any(meta.get(key) != value for key, value in expected.items()):
        return False
    folders = [(d, d) for d in DOMAINS] + ([("ct", "paired_mr")] if meta.get("paired_mr") else [])
    return all(_npz_index_ok(Path(prepared) / folder / f"{i}.npz") for domain, folder in folders for i in ids[domain])


def subject_ids(prepared: Path | str, domain: str, split: str) -> list[str]:
    """Subject ids of ``domain`` ("ct"/"mr") in ``split`` ("train"/"test")."""
    if domain not in DOMAINS or split not in SPLITS:
        raise ValueError(f"domain must be one of {DOMAINS} and split one of {SPLITS}, got {domain!r}, {split!r}")
    read_meta(prepared)
    return list(json.loads((Path(prepared) / "split.json").read_text())[domain][split])


def _read(path: Path, subject: str, domain: str) -> Volume:
    """One .npz, checked: float32 image (Z, H, W) in [0, 1], uint8 label of its shape, three positive spacings.

    Raises:
        FileNotFoundError: no such subject. ValueError: a damaged file or arrays of another kind, naming the file.
    """
    if not path.exists():
        available = sorted(p.stem for p in path.parent.glob("*.npz"))
        raise FileNotFoundError(f"no subject {subject!r} in {path.parent}; available: {available}")
    prepared = path.parent.parent
    try:
        with np.load(path) as data:
            missing = [k for k in ARRAYS if k not in data.files]
            if missing:
                raise ValueError(f"it lacks the array(s) {missing} (it holds {sorted(data.files)})")
            image, label, spacing = data["image"], data["label"], data["spacing"]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path} cannot be read ({type(err).__name__}: {err}); the file is damaged or truncated: "
                         f"{reprepare_hint(prepared, _meta_or_empty(prepared))}") from None
    problems = []
    if image.dtype != np.float32 or image.ndim != 3:
        problems.append(f"image is {image.dtype} with {image.ndim} dimensions, not float32 (Z, H, W)")
    elif image.size and not (np.isfinite(image).all() and image.min() >= 0.0 and image.max() <= 1.0):
        problems.append(f"image values span [{np.nanmin(image):.4g}, {np.nanmax(image):.4g}], not [0, 1]")
    if label.dtype != np.uint8 or label.shape != image.shape:
        problems.append(f"label is {label.dtype} {label.shape}, not uint8 of the image's shape {image.shape}")
    if spacing.shape != (3,) or not (np.isfinite(spacing).all() and (spacing > 0).all()):
        problems.append(f"spacing is {spacing.tolist()}, not three positive mm values")
    if problems:
        raise ValueError(f"{path} is not a prepared volume: {'; '.join(problems)}. Prepared folders are written by "
                         f"ctl; {reprepare_hint(prepared, _meta_or_empty(prepared))}")
    return Volume(image=image, label=label, spacing=spacing, subject=subject, domain=domain)


def _meta_or_empty(prepared: Path) -> dict:
    """meta.json for an error message; empty when it cannot be read."""
    try:
        return read_meta(prepared, check_version=False)
    except (OSError, ValueError):
        return {}


def load_volume(prepared: Path | str, domain: str, subject_id: str) -> Volume:
    """One prepared volume: image in [0, 1] (Z, H, W), label (Z, H, W), spacing (z, y, x) mm."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r} (paired MR: use load_paired_mr)")
    return _read(Path(prepared) / domain / f"{subject_id}.npz", subject_id, domain)


_PAIRED_READS = [0]


def load_paired_mr(prepared: Path | str, ct_subject_id: str) -> Volume:
    """EVALUATION ONLY. NEVER CALL THIS FROM TRAINING CODE.

    The phantom's MR rendering of CT subject ``ct_subject_id`` on that subject's CT grid, preprocessed like MR:
    the translation of a CT slice can be compared with it pixel for pixel. Real data sets have no such pair,
    and an unsupervised method that saw it would be cheating. Every read of ``paired_mr/`` goes through this
    function and is counted (``paired_mr_reads``), so tests can check that training never reads it.

    Raises:
        FileNotFoundError: the folder has no paired MR (real data) or not this subject.
    """
    folder = Path(prepared) / "paired_mr"
    if not folder.is_dir():
        raise FileNotFoundError(f"{prepared} has no paired_mr/: paired MR exists only for the phantom")
    _PAIRED_READS[0] += 1
    return _read(folder / f"{ct_subject_id}.npz", ct_subject_id, "mr")


def paired_mr_reads() -> int:
    """How many times ``load_paired_mr`` has read a file in this process (tests assert training leaves it at 0)."""
    return _PAIRED_READS[0]
