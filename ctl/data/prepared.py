"""Prepared data: the one folder format that training and evaluation read, for the phantom and for real data.

    PREPARED/meta.json          settings and provenance (written last: a folder without it is incomplete)
    PREPARED/split.json         {"ct": {"train": [ids], "test": [ids]}, "mr": {...}}: split by SUBJECT
    PREPARED/ct/<id>.npz        image float32 (Z, H, W) in [0, 1]; label uint8 (Z, H, W); spacing float64 (3,)
    PREPARED/mr/<id>.npz        the same for MR
    PREPARED/paired_mr/<id>.npz phantom only, EVALUATION ONLY: CT subject <id>'s anatomy rendered as MR on the
                                CT grid, preprocessed like MR; read it only through ``load_paired_mr``

Arrays are in the canonical orientation (LPS axes indexed (z, y, x), see ``ctl.data.btcv``); spacing is mm
along (z, y, x). Subject ids are ``ct<NNNN>`` (BTCV case number) and ``mr<NNNN>`` (CHAOS subject number).

Splits: ``"random"`` draws ``test_fraction`` of each domain's subjects with ``seed`` (the paper: 20 % test);
``"sifa"`` is the fixed split of SIFA (Chen et al. 2019, which the paper follows): test CT 1, 9, 30, 32, 33, 39
and MR 1, 13, 32, 38, the rest train.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ctl.data.archives import is_zip, unpacked
from ctl.data.btcv import find_btcv_root, list_btcv_cases, load_btcv_case, load_nifti_image
from ctl.data.chaos import find_chaos_root, list_chaos_cases, load_chaos_case
from ctl.data.geometry import Volume
from ctl.data.preprocess import CT_WINDOW_HU, MR_PERCENTILES, preprocess_volume
from ctl.data.write import PHANTOM_VERSION, generate_phantom, phantom_is_complete
from ctl.organs import CLASS_NAMES

DATA_SOURCES = ("phantom", "real")  # the embedded phantom, or BTCV + CHAOS under DATA_DIR/real
DOMAINS = ("ct", "mr")
SPLITS = ("train", "test")
SIFA_TEST = {"ct": (1, 9, 30, 32, 33, 39), "mr": (1, 13, 32, 38)}
FORMAT_VERSION = 1
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
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, image=volume.image.astype(np.float32), label=volume.label.astype(np.uint8),
             spacing=volume.spacing.astype(np.float64))


def prepare(btcv_dir: Path | str, chaos_dir: Path | str, out_dir: Path | str, size: int = 256, *,
            paired_dir: Path | str | None = None, split: str = "random", seed: int = 0, test_fraction: float = 0.2,
            ct_window: tuple[float, float] = CT_WINDOW_HU, mr_percentiles: tuple[float, float] = MR_PERCENTILES,
            extra_meta: dict | None = None, progress: bool = True) -> Path:
    """Load BTCV CT and CHAOS MR, preprocess every volume (``preprocess.preprocess_volume``), split by subject,
    and write the prepared folder ``out_dir`` (replacing one that is there). Returns ``out_dir``.

    ``paired_dir`` (the phantom's ``paired_mr`` folder) adds each CT subject's MR rendering, for evaluation only.
    The folder is built under ``<out_dir>.partial`` and moved into place when complete. ``btcv_dir`` and
    ``chaos_dir`` may also be the zip archives as downloaded (``RawData.zip``, ``CHAOS_Train_Sets.zip``): the
    files used are extracted into a temporary folder beside ``out_dir``, removed afterwards (``ctl.data.archives``).

    Raises:
        FileNotFoundError, ValueError: from the loaders (each names the file and what to do), or a bad ``split``.
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
    out = Path(out_dir)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
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
    meta = {"format_version": FORMAT_VERSION, "source": "phantom" if is_phantom else "real",
            "image_size": size, "classes": list(CLASS_NAMES), "orientation": ORIENTATION,
            "ct_window_hu": list(ct_window), "mr_percentiles": list(mr_percentiles),
            "split": {"kind": split, "seed": seed, "test_fraction": test_fraction},
            "paired_mr": paired_dir is not None, "btcv_dir": str(btcv_root), "chaos_dir": str(chaos_root),
            "subjects": info, **(extra_meta or {})}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def read_meta(prepared: Path | str) -> dict:
    """``meta.json`` of a prepared folder.

    Raises:
        FileNotFoundError: the folder is missing or was never completed.
    """
    path = Path(prepared) / "meta.json"
    if not path.exists():
        raise FileNotFoundError(f"{prepared} is not a (complete) prepared folder: no meta.json. Create it with "
                                f"ctl.data.ensure_phantom_prepared(...) or `python -m ctl prepare ...`")
    return json.loads(path.read_text())


def is_complete(prepared: Path | str, expected: dict) -> bool:
    """True when ``prepared`` has meta.json whose entries equal ``expected`` and every listed subject's file."""
    try:
        meta = read_meta(prepared)
    except FileNotFoundError:
        return False
    if any(meta.get(key) != value for key, value in expected.items()):
        return False
    splits = json.loads((Path(prepared) / "split.json").read_text())
    return all((Path(prepared) / d / f"{i}.npz").exists() for d in DOMAINS for s in SPLITS for i in splits[d][s])


def subject_ids(prepared: Path | str, domain: str, split: str) -> list[str]:
    """Subject ids of ``domain`` ("ct"/"mr") in ``split`` ("train"/"test")."""
    if domain not in DOMAINS or split not in SPLITS:
        raise ValueError(f"domain must be one of {DOMAINS} and split one of {SPLITS}, got {domain!r}, {split!r}")
    read_meta(prepared)
    return list(json.loads((Path(prepared) / "split.json").read_text())[domain][split])


def _read(path: Path, subject: str, domain: str) -> Volume:
    if not path.exists():
        available = sorted(p.stem for p in path.parent.glob("*.npz"))
        raise FileNotFoundError(f"no subject {subject!r} in {path.parent}; available: {available}")
    with np.load(path) as data:
        return Volume(image=data["image"], label=data["label"], spacing=data["spacing"], subject=subject, domain=domain)


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


def ensure_phantom_prepared(data_dir: Path | str, preset, seed: int = 0, progress: bool = True) -> Path:
    """The prepared phantom for ``preset`` (a ``ctl.presets.Preset``), generating and preparing it when needed.

    Raw phantom (BTCV/CHAOS formats): ``data_dir/phantom/<preset.name>-seed<seed>/``; prepared folder:
    ``data_dir/prepared/phantom-<preset.name>-seed<seed>/``. Both are reused when complete and made with the
    same settings (``preset.n_ct``, ``n_mr``, ``phantom_size``, ``image_size``, ``test_fraction``, ``seed``).
    Every notebook after 01 calls this first.
    """
    data_dir = Path(data_dir)
    raw = data_dir / "phantom" / f"{preset.name}-seed{seed}"
    out = data_dir / "prepared" / f"phantom-{preset.name}-seed{seed}"
    phantom = {"version": PHANTOM_VERSION, "seed": seed, "n_ct": preset.n_ct, "n_mr": preset.n_mr,
               "size": preset.phantom_size}
    expected = {"format_version": FORMAT_VERSION, "source": "phantom", "image_size": preset.image_size,
                "split": {"kind": "random", "seed": seed, "test_fraction": preset.test_fraction}, "phantom": phantom}
    if is_complete(out, expected):
        return out
    if not phantom_is_complete(raw, preset.n_ct, preset.n_mr, seed, preset.phantom_size):
        if progress:
            print(f"generating the phantom ({preset.n_ct} CT + {preset.n_mr} MR, {preset.phantom_size} px) in {raw}")
        generate_phantom(raw, preset.n_ct, preset.n_mr, seed, preset.phantom_size)
    if progress:
        print(f"preparing it at {preset.image_size} px into {out}")
    return prepare(raw / "btcv", raw / "chaos", out, preset.image_size, paired_dir=raw / "paired_mr", split="random",
                   seed=seed, test_fraction=preset.test_fraction, extra_meta={"phantom": phantom}, progress=False)


def ensure_real_prepared(data_dir: Path | str, size: int, split: str = "sifa", seed: int = 0,
                         test_fraction: float = 0.2, progress: bool = True) -> Path:
    """The prepared real data: BTCV in ``data_dir/real/btcv`` and CHAOS in ``data_dir/real/chaos`` (any level
    ``find_btcv_root``/``find_chaos_root`` accept) into ``data_dir/prepared/real-<split>-<size>/``, reused when
    complete.

    Raises:
        FileNotFoundError: when the real data are not there, saying where to put them (see data/README.md).
    """
    data_dir = Path(data_dir)
    out = data_dir / "prepared" / f"real-{split}-{size}"
    expected = {"format_version": FORMAT_VERSION, "source": "real", "image_size": size,
                "split": {"kind": split, "seed": seed, "test_fraction": test_fraction}}
    if is_complete(out, expected):
        return out
    btcv, chaos = data_dir / "real" / "btcv", data_dir / "real" / "chaos"
    if not btcv.exists() or not chaos.exists():
        raise FileNotFoundError(f"real data not found: expected BTCV under {btcv} and CHAOS under {chaos} "
                                f"(see data/README.md for where to get them and the layout)")
    return prepare(btcv, chaos, out, size, split=split, seed=seed, test_fraction=test_fraction, progress=progress)


def ensure_prepared(data_dir: Path | str, preset, data_source: str = "phantom", seed: int = 0) -> Path:
    """``ensure_phantom_prepared`` or, for ``data_source="real"``, ``ensure_real_prepared`` (SIFA split)."""
    check_data_source(data_source)
    if data_source == "phantom":
        return ensure_phantom_prepared(data_dir, preset, seed)
    return ensure_real_prepared(data_dir, preset.image_size, split="sifa", seed=seed)


def check_data_source(data_source: str, name: str = "data_source") -> None:
    """Raise a ValueError naming ``name`` and the choices unless ``data_source`` is one of ``DATA_SOURCES``."""
    if data_source not in DATA_SOURCES:
        raise ValueError(f"{name}={data_source!r}; choose one of {DATA_SOURCES}")
