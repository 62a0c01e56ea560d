"""Run folders: where a trained method lives, what defines it, and the files a finished run leaves.

    RUN_DIR/config.json    what was trained: method and its config, seed, preset, data meta, loop options
                           (``run_config``), plus where and on what it ran ("info")
    RUN_DIR/history.json   one row of losses per iteration (``load_history`` gives it as columns)
    RUN_DIR/summary.json   iterations, seconds, device of a finished run (``read_summary``)
    RUN_DIR/final.pt       the trained weights (and checkpoints/, see ``ctl.training.checkpoints``)

A run folder is reused only for the same configuration: ``config_differences`` compares the stored config.json
with the one a new run would write.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ctl.data import check_data_source
from ctl.methods import Method
from ctl.presets import Preset


def run_config(method: Method, preset: Preset, prepared: Path, seed: int, train_options: dict) -> dict:
    """What defines a trained model: the part of config.json compared when a run folder is reused (JSON types).

    ``train_options`` are the loop options that change the weights (``TrainConfig.identity()``).
    """
    meta_path = Path(prepared) / "meta.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} not found: {prepared} is not a prepared data folder "
                                f"(make one with ctl.data.ensure_phantom_prepared or `python -m ctl prepare`)")
    # the data's description without where its raw files lay (a copied data folder is the same data)
    meta = {k: v for k, v in json.loads(meta_path.read_text()).items() if not k.endswith("_dir")}
    record = {"method": method.name, "uses_target_labels": method.uses_target_labels,
              "method_config": dataclasses.asdict(method.config), "seed": int(seed),
              "preset": dataclasses.asdict(preset), "train": train_options, "data": meta}
    return json.loads(json.dumps(record))  # tuples -> lists, as they come back from the file


def read_run_config(run_dir: Path | str) -> dict:
    """config.json of a run folder (method, seed, preset, train options, data meta, info)."""
    return json.loads((Path(run_dir) / "config.json").read_text())


def config_differences(run_dir: Path, expected: dict) -> list[str]:
    """The top-level keys in which ``run_dir/config.json`` differs from ``expected`` (none if there is no file)."""
    if not (Path(run_dir) / "config.json").exists():
        return []
    stored = {k: v for k, v in read_run_config(run_dir).items() if k != "info"}
    return sorted(k for k in set(stored) | set(expected) if stored.get(k) != expected.get(k))


def check_same_config(run_dir: Path, expected: dict) -> None:
    """Raise a ValueError naming what differs when ``run_dir`` holds a run of another configuration."""
    differ = config_differences(run_dir, expected)
    if differ:
        raise ValueError(f"{run_dir} holds a run with a different configuration (differs in {differ}); "
                         f"choose another run folder or delete this one")


def run_folder(root: Path, method_name: str, preset_name: str, seed: int, data_source: str = "phantom") -> Path:
    """Where the notebooks keep, and find, a trained method: ``root/train/<method>-<preset>-seed<seed>`` on the
    phantom, ``root/train/<method>-<preset>-real-seed<seed>`` on the real data, so the two live side by side."""
    check_data_source(data_source)
    source = "" if data_source == "phantom" else "-real"
    return Path(root) / "train" / f"{method_name}-{preset_name}{source}-seed{seed}"


def load_history(run_dir: Path) -> dict[str, np.ndarray]:
    """``history.json`` as columns: {"iteration": (N,), "<loss name>": (N,), ...} (NaN where a row lacks a loss)."""
    rows = json.loads((Path(run_dir) / "history.json").read_text())
    names = list(dict.fromkeys(k for row in rows for k in row))
    return {k: np.array([row.get(k, np.nan) for row in rows], dtype=float) for k in names}


def read_summary(run_dir: Path) -> dict:
    """``summary.json`` of a finished run (iterations, seconds, device)."""
    return json.loads((Path(run_dir) / "summary.json").read_text())
