"""Short training runs of method variants, for the exercises of notebooks 02 and 04.

The exercises ask what changes when a setting changes (lambda_NCE in notebook 02; ``seg_grad_to_generator`` and
the target PatchNCE term in notebook 04). The registry's methods take their settings from the preset, and a full
run takes minutes, so an exercise trains its variants here instead: at the ``ci`` preset's sizes (48 px slices,
the small networks) on the ``ci`` phantom, for ``EXERCISE_ITERATIONS`` iterations, in seconds on a CPU.
Such runs are comparable with each other, not with the notebook's own runs, and they are short: a difference
between two of them means little until another seed shows how much runs differ anyway (the exercises ask that).

``train_variant`` is the training loop without what a short run does not need (checkpoints, resume, the
learning-rate decay, augmentation): seed, build, set up on the first batch, then ``train_step`` per batch, each
step's ``zero_grad / backward / step`` written out in the method's own module. The data order is the loop's
(``ctl.training.reproducibility.make_loader``): a function of the seed and the iteration.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ctl.data import ensure_prepared
from ctl.evaluate import EvalConfig, evaluate_segmenter
from ctl.methods import Method
from ctl.organs import ORGAN_ORDER
from ctl.presets import PRESETS, Preset
from ctl.training.loop import training_dataset
from ctl.training.reproducibility import make_loader, seed_everything

EXERCISE_ITERATIONS = {"ci": 4}  # per preset of the notebook; every other preset: DEFAULT_ITERATIONS
DEFAULT_ITERATIONS = 100  # at 48 px: seconds per run of `ours`, so that four runs stay near half a minute


def exercise_preset(notebook_preset: Preset) -> Preset:
    """The sizes of the short runs: the ``ci`` preset with the iterations of ``EXERCISE_ITERATIONS``."""
    iterations = EXERCISE_ITERATIONS.get(notebook_preset.name, DEFAULT_ITERATIONS)
    return PRESETS["ci"].replace(iterations=iterations)


def exercise_data(data_dir: Path, seed: int) -> Path:
    """The ``ci`` phantom, prepared in ``data_dir`` (generated on first use: a few seconds)."""
    return ensure_prepared(data_dir, PRESETS["ci"], "phantom", seed)


def train_variant(build: Callable[[], Method], prepared: Path, preset: Preset, seed: int = 0,
                  device: torch.device | str = "cpu") -> tuple[Method, dict[str, list[float]]]:
    """Train the method ``build()`` returns for ``preset.iterations`` steps of ``preset.batch_size`` slices.

    ``build`` is called after seeding, so two variants built from the same seed start from the same weights
    wherever their networks agree. Returns the method in eval mode and its loss history (loss -> values).
    Raises:
        ValueError: for fewer than one iteration.
    """
    if preset.iterations < 1:
        raise ValueError(f"a run needs at least one iteration, got {preset.iterations}")
    device = torch.device(device)
    seed_everything(seed)
    method = build().to(device)
    dataset = training_dataset(Path(prepared), type(method), augment=False)
    loader = iter(make_loader(dataset, preset.batch_size, seed, 0, device, num_workers=0))

    def next_batch():
        return {k: v.to(device) for k, v in next(loader).items() if k in method.batch_keys}

    batch = next_batch()
    method.setup(batch)
    method.train()
    history: dict[str, list[float]] = {}
    for iteration in range(preset.iterations):
        if iteration:
            batch = next_batch()
        for name, value in method.train_step(batch).items():
            history.setdefault(name, []).append(float(value))
        method.amp.update()
    return method.eval(), history


def mean_dice(method: Method, prepared: Path, device: torch.device | str = "cpu") -> float:
    """Mean 3D Dice (%) of ``method``'s segmenter on the MR test subjects: the mean over organs of the mean over
    volumes (Table 1's Mean column)."""
    evaluation = evaluate_segmenter(method.segmenter, prepared, method="", domain="mr", device=torch.device(device),
                                    config=EvalConfig(units=("mm",)))
    per_organ = [np.nanmean([r["dice"] for r in evaluation.records if r["organ"] == organ]) for organ in ORGAN_ORDER]
    return 100 * float(np.mean(per_organ))
