"""The two data sources and where their prepared folders live: the embedded phantom, generated and prepared on
first use, and the real BTCV + CHAOS data under ``DATA_DIR/real``. Every notebook after 01 calls
``ensure_prepared`` first.

A prepared folder is reused only when ``ctl.data.prepared.is_complete`` says it was made with the same settings
in this format and every file opens; otherwise it is made again (``prepare`` replaces only folders ctl made, so
this never touches a user's folder).
"""
from __future__ import annotations

from pathlib import Path

from ctl.data.prepared import FORMAT_VERSION, is_complete, prepare
from ctl.data.write import PHANTOM_VERSION, generate_phantom, phantom_is_complete

DATA_SOURCES = ("phantom", "real")  # the embedded phantom, or BTCV + CHAOS under DATA_DIR/real


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
