"""Run folders: where a trained method lives, what defines it, and the files a finished run leaves.

    RUN_DIR/config.json    what was trained: method and its config, seed, preset, data meta, loop options
                           (``run_config``), plus where and on what it ran ("info")
    RUN_DIR/history.json   one row of losses per iteration (``load_history`` gives it as columns)
    RUN_DIR/summary.json   iterations, seconds, device of a finished run (``read_summary``)
    RUN_DIR/final.pt       the trained weights (and checkpoints/, see ``ctl.training.checkpoints``)
    RUN_DIR/train.lock     held by the process training into the folder (``run_lock``); names it

A run folder is reused only for the same configuration: ``config_differences`` compares the stored config.json
with the one a new run would write. Training writes only into a new or empty folder or a run folder
(``check_run_folder``), never into the current folder or one holding other files, and one process at a time
(``run_lock``: a second one is told which process holds the folder).
"""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from ctl.data import check_data_source, read_meta
from ctl.methods import Method
from ctl.presets import Preset

try:
    import fcntl  # POSIX advisory locks, released by the kernel when the holder dies (even by kill -9)
except ImportError:  # Windows: run folders are not locked there
    fcntl = None

LOCK_FILE = "train.lock"
# What training leaves in a run folder before config.json exists (an interrupted start): still ours.
STARTING = {LOCK_FILE, "checkpoints"}
_HELD: set[Path] = set()  # run folders this process holds (the lock is re-entrant within a process)


class RunFolderBusy(OSError):
    """Another process is training into the run folder; the message names it."""


def run_config(method: Method, preset: Preset, prepared: Path, seed: int, train_options: dict) -> dict:
    """What defines a trained model: the part of config.json compared when a run folder is reused (JSON types).

    ``train_options`` are the loop options that change the weights (``TrainConfig.identity()``).
    """
    meta_path = Path(prepared) / "meta.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} not found: {prepared} is not a prepared data folder "
                                f"(make one with ctl.data.ensure_phantom_prepared or `python -m ctl prepare`)")
    # the data's description without where its raw files lay (a copied data folder is the same data); its
    # format version is checked where the arrays are read (ctl.data.subject_ids)
    meta = {k: v for k, v in read_meta(prepared, check_version=False).items() if not k.endswith("_dir")}
    record = {"method": method.name, "uses_target_labels": method.uses_target_labels,
              "method_config": dataclasses.asdict(method.config), "seed": int(seed),
              "preset": dataclasses.asdict(preset), "train": train_options, "data": meta}
    return json.loads(json.dumps(record))  # tuples -> lists, as they come back from the file


def read_run_config(run_dir: Path | str) -> dict:
    """config.json of a run folder (method, seed, preset, train options, data meta, info).

    Raises:
        FileNotFoundError: no config.json.
        ValueError: config.json is empty or damaged, or names no method (the message says what to do).
    """
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: {run_dir} is not a run folder made by `ctl train`")
    try:
        config = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is empty or damaged ({err}); training writes it again when it starts: if this "
                         f"folder was trained with the same command, delete the file and run `python -m ctl train "
                         f"... --out {run_dir} --resume`, otherwise move the folder away") from None
    if not isinstance(config, dict) or "method" not in config:
        raise ValueError(f"{path} is not a ctl run's config.json (it names no method); choose another run folder")
    return config


def differences(stored: dict, expected: dict) -> list[str]:
    """The top-level keys in which two run configurations differ ("info", where a run ran, is not compared)."""
    keys = (set(stored) | set(expected)) - {"info"}
    return sorted(k for k in keys if stored.get(k) != expected.get(k))


def describe_differences(stored: dict, expected: dict) -> str:
    """"method: 'source_only' there, 'oracle' asked; preset.iterations: 6 there, 1000 asked" (one level deep)."""
    parts = []
    for key in differences(stored, expected):
        a, b = stored.get(key), expected.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            inner = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            parts += [f"{key}.{k}: {a.get(k)!r} there, {b.get(k)!r} asked" for k in inner[:4]]
        else:
            parts.append(f"{key}: {a!r} there, {b!r} asked")
    return "; ".join(parts)


def config_differences(run_dir: Path, expected: dict) -> list[str]:
    """The top-level keys in which ``run_dir/config.json`` differs from ``expected`` (none if there is no file)."""
    if not (Path(run_dir) / "config.json").exists():
        return []
    return differences(read_run_config(run_dir), expected)


def check_same_config(run_dir: Path, expected: dict) -> None:
    """Raise a ValueError naming what differs when ``run_dir`` holds a run of another configuration."""
    differ = config_differences(run_dir, expected)
    if differ:
        detail = describe_differences(read_run_config(run_dir), expected)
        raise ValueError(f"{run_dir} holds a run with a different configuration (differs in {differ}: {detail}); "
                         f"choose another run folder, or move this one away")


def check_run_folder(run_dir: Path | str) -> None:
    """Refuse to train into a folder that is not a run folder: the current folder or one above it, a file, or a
    non-empty folder with neither a run's config.json nor only what an interrupted start leaves.

    Raises:
        ValueError: naming the folder and what is in it.
    """
    given = Path(run_dir)
    run_dir = given.resolve()
    cwd = Path.cwd().resolve()
    if run_dir == cwd or run_dir in cwd.parents:
        raise ValueError(f"refusing to train into {given} ({run_dir}): it is the current folder or holds it; give "
                         f"a run folder of its own, e.g. --out runs/<method>")
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"{run_dir} is a file, not a run folder; choose another --out")
    if not run_dir.is_dir() or not any(run_dir.iterdir()):
        return
    if (run_dir / "config.json").exists():
        read_run_config(run_dir)  # a run's own config.json, or a clear error
        return
    names = sorted(p.name for p in run_dir.iterdir())
    if not set(names) <= STARTING:
        raise ValueError(f"refusing to train into {run_dir}: it holds {', '.join(names[:6])}"
                         f"{' ...' if len(names) > 6 else ''} and is not a run folder (no config.json); choose a new "
                         f"or empty folder")


@contextmanager
def run_lock(run_dir: Path | str) -> Iterator[None]:
    """Hold ``run_dir/train.lock`` while training (creating the folder); re-entrant within a process.

    The file names the holder (process id, host, start time). The lock is the kernel's (``fcntl.flock``), so it
    is released when the holder exits in any way, and a stale file never blocks.

    Raises:
        RunFolderBusy: another process holds the folder; the message names it.
        OSError: the folder cannot be created or written (no permission, full disk).
    """
    run_dir = Path(run_dir).resolve()
    if run_dir in _HELD or fcntl is None:
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / LOCK_FILE, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunFolderBusy(f"{run_dir} is being trained by {holder}; wait for it to finish or stop it, or "
                                f"train into another folder (--out)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        _HELD.add(run_dir)
        try:
            yield
        finally:
            _HELD.discard(run_dir)
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


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
