"""Checkpoints of a training run: everything needed to continue it exactly where it stopped.

    RUN_DIR/checkpoints/iter_K.pt   written every preset.checkpoint_every iterations: all networks, optimizers,
                                    the grad scaler, every RNG state, the loss history, the seconds spent and
                                    the data position (epoch, batch), which is a function of K

Files are written under a temporary name and then renamed (``atomic_save``, ``atomic_write_text``), so an
interruption never leaves a half-written checkpoint; only the newest ``keep`` checkpoints are kept. A write that
fails (a full disk) removes its partial file and raises an OSError that names the file, the free space and how
to continue. A checkpoint damaged later (a truncated copy) is set aside as ``iter_K.pt.damaged`` and resuming
falls back to the previous kept one, with a warning (``load_latest``). ``final.pt`` stores the run's
configuration, and ``load_final`` refuses weights whose configuration is not the run folder's.
"""
from __future__ import annotations

import errno
import os
import pickle
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import torch

from ctl.methods import Method
from ctl.training.reproducibility import rng_state, set_rng_state
from ctl.training.runs import describe_differences, differences

# What torch.load raises on a truncated or foreign file (the zip reader's RuntimeError, a cut pickle, ...).
LOAD_ERRORS = (RuntimeError, EOFError, OSError, ValueError, KeyError, pickle.UnpicklingError, zipfile.BadZipFile)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` into ``<path>.tmp``, then rename it to ``path``. On failure the temporary file is removed and an
    OSError names ``path``, the free space and what to do."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # torch's zip writer reports a failed write as a RuntimeError
        tmp.unlink(missing_ok=True)
        code = err.errno if isinstance(err, OSError) and err.errno else errno.EIO
        reason = os.strerror(code) if code != errno.EIO else str(err).strip().splitlines()[-1][:160]
        try:
            free = f"{shutil.disk_usage(path.parent).free / 2**20:.0f} MB free there"
        except OSError:
            free = "free space unknown"
        raise OSError(code, f"could not write {path.name} ({reason}; {free}). The partial file was removed and "
                            f"earlier files are kept: free some space (or fix the permission), then continue "
                            f"with --resume (resume=True)", str(path)) from err


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to a temporary name, then rename: an interruption never leaves a half-written file."""
    _atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_text(path: Path, text: str) -> None:
    """A text file (config.json, history.json, summary.json) written like ``atomic_save``."""
    _atomic_write(path, lambda tmp: tmp.write_text(text))


def checkpoints(run_dir: Path) -> list[Path]:
    """The run's checkpoints, oldest first."""
    return sorted((Path(run_dir) / "checkpoints").glob("iter_*.pt"))


def save_checkpoint(run_dir: Path, method: Method, iteration: int, history: list, seconds: float, keep: int,
                    batches_per_epoch: int) -> Path:
    """Write ``checkpoints/iter_<iteration>.pt`` and delete all but the newest ``keep`` checkpoints."""
    epoch, batch = divmod(iteration, batches_per_epoch)  # where the loader resumes (it is a function of these)
    state = {"iteration": iteration, "data_position": {"epoch": epoch, "batch": batch,
                                                       "batches_per_epoch": batches_per_epoch},
             "method": method.state_dict(),
             "optimizers": {name: opt.state_dict() for name, opt in method.optimizers.items()},
             "scaler": method.amp.scaler.state_dict(), "rng": rng_state(), "history": history,
             "seconds": seconds}
    path = Path(run_dir) / "checkpoints" / f"iter_{iteration:07d}.pt"
    atomic_save(state, path)
    for old in checkpoints(run_dir)[:-keep]:
        old.unlink()
    return path


def load_checkpoint(path: Path) -> dict:
    """A checkpoint as written by ``save_checkpoint`` (tensors on the CPU).

    Raises:
        ValueError: the file is damaged or truncated, or not a checkpoint (names it).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or not {"iteration", "method", "optimizers", "rng", "history"} <= set(state):
            raise ValueError("it does not hold a training checkpoint")
    except LOAD_ERRORS as err:
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path} cannot be read ({reason}); it is damaged or truncated") from None
    return state


def load_latest(kept: list[Path]) -> tuple[dict, Path]:
    """The newest readable checkpoint of ``kept`` (oldest first) and its path. A damaged one is renamed to
    ``<name>.damaged`` (kept for inspection, no longer listed) and the previous one is tried, with a warning.

    Raises:
        ValueError: no kept checkpoint can be read.
    """
    problems = []
    for path in reversed(kept):
        try:
            state = load_checkpoint(path)
        except ValueError as err:
            problems.append(str(err))
            path.rename(path.with_name(path.name + ".damaged"))
            continue
        if problems:
            warnings.warn(f"{'; '.join(problems)}: set aside as .damaged; resuming from the previous checkpoint, "
                          f"{path.name} (iteration {state['iteration']})", stacklevel=2)
        return state, path
    raise ValueError(f"no readable checkpoint: {'; '.join(problems)} (set aside as .damaged). Train this run from "
                     f"the start: move {Path(kept[-1]).parent.parent} away, or delete its checkpoints/ folder")


def load_final(run_dir: Path, expected: dict, map_location=None) -> dict:
    """``run_dir/final.pt``, checked to hold the weights of the configuration ``expected`` (the run's config).

    Raises:
        ValueError: the file is damaged, or its stored configuration (method, seed, preset, data) is not
            ``expected``: weights copied from another run.
    """
    path = Path(run_dir) / "final.pt"
    try:
        final = torch.load(path, map_location=map_location, weights_only=True)
        if not isinstance(final, dict) or not {"method", "config"} <= set(final):
            raise ValueError("it holds no weights with their configuration")
    except LOAD_ERRORS as err:
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path} cannot be read ({reason}); delete it and run `python -m ctl train ... --out "
                         f"{run_dir} --resume` to write it again from the last checkpoint") from None
    if differences(final["config"], expected):
        stored = final["config"]
        raise ValueError(f"{path} holds the weights of another run (method {stored.get('method')!r}, seed "
                         f"{stored.get('seed')!r}): {describe_differences(stored, expected)}, where 'asked' is this "
                         f"run folder's config.json. Was it copied from another run? Put the right final.pt back, or "
                         f"delete it and run `python -m ctl train ... --out {run_dir} --resume`")
    return final


def restore_checkpoint(method: Method, state: dict, batches_per_epoch: int, source: Path) -> None:
    """Put ``state`` back into ``method`` (set up, with its optimizers), its grad scaler and the global RNGs.

    Raises:
        ValueError: when the training data changed size since ``source`` was written (the data position would
            no longer mean the same batches).
    """
    then = state.get("data_position", {}).get("batches_per_epoch", batches_per_epoch)
    if then != batches_per_epoch:
        raise ValueError(f"the training data changed since {source} was written (batches per epoch "
                         f"{then} then, {batches_per_epoch} now)")
    method.load_state_dict(state["method"])
    for name, optimizer in method.optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    if state["scaler"] and method.amp.scaler.is_enabled():  # empty when saved without float16 scaling
        method.amp.scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
