"""Checkpoints of a training run: everything needed to continue it exactly where it stopped.

    RUN_DIR/checkpoints/iter_K.pt   written every preset.checkpoint_every iterations: all networks, optimizers,
                                    the grad scaler, every RNG state, the loss history, the seconds spent and
                                    the data position (epoch, batch), which is a function of K

Files are written under a temporary name and then renamed (``atomic_save``), so an interruption never leaves a
half-written checkpoint; only the newest ``keep`` checkpoints are kept.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ctl.methods import Method
from ctl.training.reproducibility import rng_state, set_rng_state


def atomic_save(obj, path: Path) -> None:
    """Write to a temporary name, then rename: an interruption never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


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
    """A checkpoint as written by ``save_checkpoint`` (tensors on the CPU)."""
    return torch.load(path, map_location="cpu", weights_only=True)


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
