"""The training loop shared by every method: seeding, data order, mixed precision, checkpoints, resume, history.

``train(...)`` runs one registered method (``ctl.methods``) for ``preset.iterations`` iterations (segmenter
updates; translator updates for a translation-only method) into a run folder (``ctl.training.runs``):
config.json first, a checkpoint every ``preset.checkpoint_every`` iterations (``ctl.training.checkpoints``),
then history.json, final.pt and summary.json.

``load_or_train(...)`` loads ``final.pt`` when the folder was trained with the same config, resumes from the last
checkpoint when there is one, and trains from scratch otherwise. Notebooks 01, 02, 04 and 05 use it.

**Checked before anything is written.** ``train`` validates the method name, the schedule (``check_schedule``:
iterations, checkpoint_every and batch_size of at least 1), the device, the run folder (``runs.check_run_folder``)
and the stored config.json against the requested one, then takes the run folder's lock (``runs.run_lock``). A
finished folder of the same configuration raises ``AlreadyTrained`` (the command line says "nothing to do");
its final.pt must hold that configuration (``checkpoints.load_final``).

**Exact resume.** The data order is a pure function of (seed, iteration) and each item's randomness has its own
seed (``ctl.training.reproducibility``); the global RNGs, used by the methods alone, are saved in every
checkpoint. On CPU a resumed run therefore repeats the loss history of an uninterrupted one to the last bit
(tested). CUDA kernels are not bitwise deterministic.

**Learning rate.** The paper gives the *initial* rate of its Adam optimizers (2e-4); like CUT and CycleGAN,
whose code it builds on, every optimizer of every method keeps it for the first half of the iterations and
then decays it linearly towards zero (``lr_factor``), which also settles the adversarial game at the end.

**Fairness.** Every method reads the same ``ctl.data.UnpairedSliceDataset``; only a method that declares
``uses_target_labels`` (the oracle) is given MR labels, and nothing here reads the evaluation-only paired MR.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm
from tqdm.std import tqdm as plain_tqdm

from ctl import data
from ctl.device import Amp, describe_device, pick_device
from ctl.methods import Method, method_class
from ctl.presets import Preset
from ctl.training.checkpoints import (atomic_save, atomic_write_text, checkpoints, load_final, load_latest,
                                      restore_checkpoint, save_checkpoint)
from ctl.training.reproducibility import make_loader, seed_everything
from ctl.training.runs import check_run_folder, check_same_config, config_differences, run_config, run_lock


@dataclass(frozen=True)
class TrainConfig:
    """Options of the loop itself (the method's own settings live in its config)."""

    augment: bool = True  # the paper augments (sharpness, brightness/contrast, elastic) against over-fitting
    amp: bool = True  # mixed precision on CUDA and on CPUs with native bfloat16 (ctl.device.Amp); faster, less memory
    channels_last: bool = True  # NHWC layout of weights and batches on CPU and CUDA: faster convolutions (measured)
    decay_from: float = 0.5  # CUT/CycleGAN: constant lr for the first half, then linear decay towards 0
    max_loss: float = 1e3  # a loss above this is an explosion: healthy values here stay below about 10
    keep_checkpoints: int = 2  # older checkpoints are deleted; two, in case the newest is being written
    num_workers: int | None = None  # data-loading processes; None: 0 on CPU (2 cores), up to 4 on CUDA
    progress: bool = True  # tqdm progress bar (works headless and in notebooks)

    def identity(self) -> dict:
        """The options that change the trained weights (compared when a run folder is reused)."""
        return {"augment": self.augment, "amp": self.amp, "decay_from": self.decay_from,
                "channels_last": self.channels_last}

    def __post_init__(self):
        if not 0 <= self.decay_from <= 1:
            raise ValueError(f"decay_from is a fraction of the iterations in [0, 1], got {self.decay_from}")
        if self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}")


class TrainingDiverged(RuntimeError):
    """A loss became NaN/inf or exploded; the message names the iteration, the loss and the last checkpoint."""


class AlreadyTrained(ValueError):
    """The run folder holds a finished run (final.pt) of the requested configuration: nothing to train."""


def check_schedule(preset: Preset) -> None:
    """Refuse a preset whose schedule cannot train: iterations, checkpoint_every or batch_size below 1.

    Raises:
        ValueError: naming the field, its value and the preset.
    """
    for name in ("iterations", "checkpoint_every", "batch_size"):
        value = getattr(preset, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"preset {preset.name!r}: {name}={value!r}; it must be a whole number of at least 1 "
                             f"(e.g. preset.replace({name}=...))")


def resolve_device(device: torch.device | str | None) -> torch.device:
    """``device`` as a torch.device (None: the best present).

    Raises:
        ValueError: a name torch does not know (e.g. "tpu") or a device this machine lacks.
    """
    if isinstance(device, torch.device):
        return device
    try:
        return pick_device(device)
    except RuntimeError:  # torch.device("tpu"): "Expected one of cpu, cuda, ... device type at start of ..."
        raise ValueError(f"device {device!r} is not a device torch knows; use 'cpu', 'cuda' or 'mps', or leave it "
                         f"out to use the best present") from None


# --- data -------------------------------------------------------------------------------------------------
def training_dataset(prepared: Path, method_cls: type[Method], augment: bool) -> Dataset:
    """The one training set of every method; MR labels are loaded only for a method that declares it uses them."""
    return data.UnpairedSliceDataset(prepared, split="train", augment=augment,
                                     target_labels=method_cls.uses_target_labels)


def memory_format(device: torch.device, config: "TrainConfig") -> torch.memory_format:
    """channels_last (NHWC) on CPU and CUDA when the config asks for it, where the convolution libraries (oneDNN,
    cuDNN) run faster on it (measured on a 2-core CPU: 13-20 % per training step); the default layout elsewhere."""
    wanted = config.channels_last and device.type in ("cpu", "cuda")
    return torch.channels_last if wanted else torch.contiguous_format


def _to_device(batch: dict, keys: tuple[str, ...], device: torch.device,
               layout: torch.memory_format = torch.contiguous_format) -> dict[str, torch.Tensor]:
    """The keys the method declared, on its device (images in ``layout``); a missing key is a contract error."""
    missing = [k for k in keys if k not in batch]
    if missing:
        raise KeyError(f"the training batch lacks {missing} (it has {sorted(batch)})")
    return {k: batch[k].to(device, non_blocking=True, memory_format=layout) if batch[k].dim() == 4
            else batch[k].to(device, non_blocking=True) for k in keys}


# --- the loop ------------------------------------------------------------------------------------------------
def lr_factor(iteration: int, iterations: int, decay_from: float) -> float:
    """Learning-rate multiplier at 0-based ``iteration``: 1 up to ``decay_from * iterations``, then linear decay.

    CUT's and CycleGAN's rule, counted in iterations instead of epochs: with n iterations and decay from
    iteration s, factor = 1 - max(0, iteration + 1 - s) / (n - s + 1), so the last step still has a small rate.
    It is a function of the iteration alone (no scheduler state), so a resumed run gets the same rates.
    """
    start = int(round(decay_from * iterations))
    return 1.0 - max(0, iteration + 1 - start) / (iterations - start + 1)


def _set_learning_rates(method: Method, factor: float) -> None:
    """Every optimizer's groups at ``factor`` times their initial rate (kept in the group as "initial_lr")."""
    for optimizer in method.optimizers.values():
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * factor


def _check_losses(losses: dict[str, float], iteration: int, max_loss: float, run_dir: Path) -> None:
    """Stop on a NaN/inf or exploded loss, naming the iteration, the loss and the checkpoint to go back to."""
    for name, value in losses.items():
        if not np.isfinite(value) or abs(value) > max_loss:
            kept = checkpoints(run_dir)
            back = f"the last good checkpoint is {kept[-1]}" if kept else "no checkpoint was written yet"
            what = "is not finite" if not np.isfinite(value) else f"exceeds max_loss={max_loss:g}"
            raise TrainingDiverged(f"training diverged at iteration {iteration}: loss {name!r} = {value} {what}; "
                                   f"{back}. Lower the learning rate or check the data, then resume.")


def _build(method_name: str, prepared: Path, preset: Preset, seed: int, device: torch.device,
           config: TrainConfig, start_iteration: int):
    """Seed, build the method on ``device``, make the loader and set the method up from the first batch."""
    cls = method_class(method_name)
    seed_everything(seed)
    layout = memory_format(device, config)
    method = cls.from_preset(preset).to(device, memory_format=layout)
    method.amp = Amp.for_device(device, config.amp)
    dataset = training_dataset(Path(prepared), cls, config.augment)
    loader = iter(make_loader(dataset, preset.batch_size, seed, start_iteration, device, config.num_workers))
    first = _to_device(next(loader), cls.batch_keys, device, layout)
    method.setup(first)
    method.check_optimizers_disjoint()
    return method, loader, first, len(dataset) // preset.batch_size


def train(method_name: str, prepared: Path, preset: Preset, run_dir: Path, seed: int = 0,
          device: torch.device | str | None = None, config: TrainConfig | None = None,
          resume: bool = False, on_iteration: Callable[[int], None] | None = None) -> Method:
    """Train ``method_name`` for ``preset.iterations`` iterations into ``run_dir`` and return it (in eval mode).

    Everything is checked before anything is written (see the module docstring). ``on_iteration(n)``, if given,
    is called after each iteration with the number of iterations done (``ctl.training.parallel`` reports
    progress with it).

    Raises:
        ValueError: an unknown method or device, a schedule below 1 (``check_schedule``), a run folder that is not
            one (``runs.check_run_folder``) or holds another configuration, checkpoints while ``resume`` is False,
            no readable checkpoint, or data that changed since the checkpoint.
        AlreadyTrained: ``run_dir`` holds a finished run of this configuration (a ValueError).
        FileNotFoundError: ``prepared`` is not a prepared folder.
        RunFolderBusy: another process is training into ``run_dir`` (an OSError naming it).
        OSError: a file could not be written (full disk, no permission), naming it; the partial file is removed.
        TrainingDiverged: when a loss is NaN/inf or above ``config.max_loss``.
    """
    config = config or TrainConfig()
    run_dir, prepared = Path(run_dir), Path(prepared)
    cls = method_class(method_name)
    check_schedule(preset)
    device = resolve_device(device)
    check_run_folder(run_dir)
    expected = run_config(cls.from_preset(preset), preset, prepared, seed, config.identity())
    check_same_config(run_dir, expected)
    if (run_dir / "final.pt").exists():
        load_final(run_dir, expected, map_location="cpu")
        raise AlreadyTrained(f"{run_dir} is already trained (final.pt of the same configuration); nothing to do. "
                             f"Load it with load_or_train")
    with run_lock(run_dir):
        return _train(method_name, prepared, preset, run_dir, seed, device, config, resume, expected, on_iteration)


def _train(method_name: str, prepared: Path, preset: Preset, run_dir: Path, seed: int, device: torch.device,
           config: TrainConfig, resume: bool, expected: dict,
           on_iteration: Callable[[int], None] | None = None) -> Method:
    """The loop itself, on checked arguments, with the run folder locked."""
    kept = checkpoints(run_dir)
    if kept and not resume:
        raise ValueError(f"{run_dir} already has checkpoints ({kept[-1].name}); pass resume=True (--resume) "
                         f"to continue it, or choose another run folder")
    state, source = load_latest(kept) if kept and resume else (None, None)
    start = state["iteration"] if state else 0
    method, loader, batch, batches_per_epoch = _build(method_name, prepared, preset, seed, device, config, start)
    run_dir.mkdir(parents=True, exist_ok=True)
    info = {"prepared": str(prepared.resolve()), "device": describe_device(device), "torch": torch.__version__,
            "precision": f"{str(method.amp.dtype).removeprefix('torch.')} autocast" if method.amp.enabled else "float32"}
    atomic_write_text(run_dir / "config.json", json.dumps({**expected, "info": info}, indent=2))

    history, seconds = [], 0.0
    if state:
        restore_checkpoint(method, state, batches_per_epoch, source)
        history, seconds = state["history"], state["seconds"]
        print(f"resuming {method_name} from iteration {start} ({source})")

    method.train()
    iterations = preset.iterations
    progress = progress_bar(iterations, start, method_name, config.progress, iterable=range(start, iterations))
    tic = time.perf_counter()
    for iteration in progress:
        if iteration > start:
            batch = _to_device(next(loader), method.batch_keys, device, memory_format(device, config))
        _set_learning_rates(method, lr_factor(iteration, iterations, config.decay_from))
        losses = method.train_step(batch)
        method.amp.update()
        row = {"iteration": iteration + 1, **{k: float(v) for k, v in losses.items()}}
        history.append(row)
        _check_losses(losses, iteration + 1, config.max_loss, run_dir)
        if (iteration + 1) % preset.checkpoint_every == 0 or iteration + 1 == iterations:
            elapsed = seconds + time.perf_counter() - tic
            save_checkpoint(run_dir, method, iteration + 1, history, elapsed, config.keep_checkpoints,
                            batches_per_epoch)
            atomic_write_text(run_dir / "history.json", json.dumps(history))
        if hasattr(progress, "set_postfix") and (iteration + 1) % 10 == 0:
            progress.set_postfix({k: f"{v:.3f}" for k, v in list(losses.items())[:4]}, refresh=False)
        if on_iteration is not None:
            on_iteration(iteration + 1)

    seconds += time.perf_counter() - tic
    atomic_save({"method": method.state_dict(), "config": expected, "iterations": iterations}, run_dir / "final.pt")
    atomic_write_text(run_dir / "history.json", json.dumps(history))
    done = {"iterations": iterations, "seconds": round(seconds, 2),  # training steps and checkpoints, all sessions
            "seconds_per_iteration": round(seconds / max(iterations, 1), 4), "device": describe_device(device),
            "resumed_from": start or None}
    atomic_write_text(run_dir / "summary.json", json.dumps(done, indent=2))
    return method.eval()


# "lines": progress as plain text lines (set by ctl.series, which streams a notebook kernel's output to a log)
PROGRESS_ENV_VAR = "CTL_PROGRESS"


def progress_bar(total: int, start: int, name: str, enabled: bool = True, iterable=None):
    """A live tqdm bar (a widget in a notebook); in a log (``CTL_PROGRESS=lines``, or stderr not a terminal
    outside a notebook kernel) one plain line per 5 % of the iterations with the rate and the time left.
    Wraps ``iterable`` if given (disabled: ``iterable`` itself), else is moved on with ``update``."""
    if not enabled:
        return iterable
    if os.environ.get(PROGRESS_ENV_VAR) == "lines" or ("ipykernel" not in sys.modules and not sys.stderr.isatty()):
        # position 0: with several bars at once (ctl.training.parallel) tqdm would move the cursor between them
        return plain_tqdm(iterable, total=total, initial=start, desc=name, mininterval=0,
                          miniters=max(1, total // 20), ascii=True, file=sys.stderr, position=0)
    return tqdm(iterable, total=total, initial=start, desc=name, mininterval=2.0, leave=True)


def load_or_train(method_name: str, prepared: Path, preset: Preset, run_dir: Path, seed: int = 0,
                  device: torch.device | str | None = None, config: TrainConfig | None = None,
                  on_config_change: str = "error", on_iteration: Callable[[int], None] | None = None) -> Method:
    """The trained method (eval mode): loaded from ``run_dir/final.pt`` if trained with the same configuration,
    otherwise trained, resuming from the last checkpoint when there is one. Used by notebooks 01, 02, 04 and 05.

    Args:
        on_config_change: what to do when ``run_dir`` was made with another configuration (another preset table,
            data or method settings): "error" raises; "retrain" renames the folder to
            ``<name>.replaced-<date-time>`` (nothing is deleted) and trains afresh (notebooks, whose run folders
            outlive code changes).
        on_iteration: passed to ``train`` (called with the number of iterations done, after each).
    Raises:
        ValueError: for an unknown ``on_config_change``, or with "error" when ``run_dir`` holds a run with another
            configuration (the message names what differs).
    """
    if on_config_change not in ("error", "retrain"):
        raise ValueError(f"on_config_change must be 'error' or 'retrain', got {on_config_change!r}")
    config = config or TrainConfig()
    run_dir = Path(run_dir)
    device = resolve_device(device)
    if (run_dir / "config.json").exists():
        check_run_folder(run_dir)
        method = _build(method_name, prepared, preset, seed, device, config, 0)[0]
        expected = run_config(method, preset, prepared, seed, config.identity())
        differ = config_differences(run_dir, expected)
        if differ and on_config_change == "retrain":
            old = run_dir.with_name(f"{run_dir.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
            with run_lock(run_dir):  # not while another process trains into it
                run_dir.rename(old)
            print(f"{run_dir} was trained with another configuration (differs in {differ}): moved to {old.name}")
        elif (run_dir / "final.pt").exists():
            check_same_config(run_dir, expected)
            final = load_final(run_dir, expected, map_location=device)
            method.load_state_dict(final["method"])
            print(f"loaded {method_name} from {run_dir / 'final.pt'} ({final['iterations']} iterations)")
            return method.eval()
    return train(method_name, prepared, preset, run_dir, seed, device, config, resume=True, on_iteration=on_iteration)
