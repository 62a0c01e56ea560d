"""Time CUT's own training step and ctl's in one process, in interleaved rounds, at CUT's settings.

Usage (CUT's code is not part of ctl: clone it first, e.g. github.com/taesungp/contrastive-unpaired-translation):
    python benchmarks/cut_side_by_side.py --cut /path/to/contrastive-unpaired-translation
    python benchmarks/cut_side_by_side.py --cut /path/to/cut --modes float32 best --rounds 5

Settings on both sides: batch 1, 128 x 128, one channel, ngf = ndf = 64, 9 residual blocks, 256 patches on five
layers, identity NCE on, no anti-aliasing (CUT: ``--no_antialias --no_antialias_up``), Adam with lr 2e-4. CUT's
step is its ``model.set_input(batch); model.optimize_parameters()``; ctl's is ``ctl.translate.translation_step``
on a ``Translator`` built at the same sizes. ctl runs in one of these modes:

    float32      plain float32, default memory layout
    channels_last  float32, networks and inputs in NHWC layout (as ``ctl.training`` trains on CPU and CUDA)
    best         what ``ctl.training`` does on this machine: channels-last and ``Amp.for_device`` (bfloat16 matrix
                 products on a CPU with native bfloat16, norms and losses in float32; float32 elsewhere)

Both steps take fresh random batches in [-1, 1] (CUT) and [0, 1] (ctl) each call; a round times ``--per-round``
steps of each, alternating which goes first, so that a machine that slows down during the run slows both alike.
The ratio reported is CUT's median seconds per step over ctl's. Equal results: CUT and ctl initialise their
networks differently, so their losses cannot be compared step by step; what is checked is that ctl's faster modes
compute the same thing as its float32 one: from the same weights and batches, ``--check-steps`` steps in each
mode, and the largest relative difference of each loss from float32's.

Writes benchmarks/results/cut_side_by_side_<device>.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import types
from pathlib import Path

import torch
from step_timing import machine_record  # benchmarks/step_timing.py

from ctl.device import Amp
from ctl.translate import TranslationConfig, Translator, translation_step

RESULTS = Path(__file__).resolve().parent / "results"
SIZE = 128
CUT_OPTIONS = ["--dataroot", ".", "--model", "cut", "--input_nc", "1", "--output_nc", "1",
               "--crop_size", str(SIZE), "--load_size", str(SIZE), "--batch_size", "1", "--ngf", "64",
               "--ndf", "64", "--netG", "resnet_9blocks", "--num_patches", "256", "--nce_idt", "True",
               "--no_antialias", "--no_antialias_up", "--gpu_ids", "-1", "--lambda_GAN", "1.0",
               "--lambda_NCE", "1.0"]


def torchvision_or_stand_in() -> bool:
    """True if torchvision imports; otherwise registers empty ``torchvision`` and ``torchvision.transforms``
    modules and returns False. CUT imports torchvision at module level only for its data pipeline (transforms,
    image saving), which a training step on tensors never calls; a torchvision wheel that does not match the
    installed torch fails to import, and ctl does not depend on torchvision."""
    try:
        import torchvision  # noqa: F401  (only whether it imports matters here)
        return True
    except (ImportError, RuntimeError):
        for name in ("torchvision", "torchvision.transforms"):
            sys.modules[name] = types.ModuleType(name)
        sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]
        return False


def cut_model(checkout: Path, checkpoints: Path):
    """CUT's model built from its own options parser, on the CPU, ready for ``optimize_parameters``."""
    sys.path.insert(0, str(checkout))
    try:  # CUT's packages are found only through the checkout given on the command line
        import models
        from options.train_options import TrainOptions
    except ImportError as e:
        raise SystemExit(f"--cut {checkout}: no CUT checkout there ({e}); clone "
                         f"github.com/taesungp/contrastive-unpaired-translation and pass its folder") from e
    argv, sys.argv = sys.argv, [sys.argv[0]] + CUT_OPTIONS
    try:
        opt = TrainOptions().gather_options()
    finally:
        sys.argv = argv
    opt.isTrain, opt.gpu_ids, opt.phase, opt.continue_train = True, [], "train", False
    opt.checkpoints_dir, opt.name = str(checkpoints), "side_by_side"
    opt.epoch_count, opt.n_epochs, opt.n_epochs_decay = 1, 200, 200
    model = models.create_model(opt)
    model.data_dependent_initialize(cut_batch(torch.Generator().manual_seed(0)))
    model.setup(opt)
    return model


def cut_batch(generator: torch.Generator) -> dict:
    shape = (1, 1, SIZE, SIZE)
    return {"A": torch.rand(shape, generator=generator) * 2 - 1, "B": torch.rand(shape, generator=generator) * 2 - 1,
            "A_paths": ["a"], "B_paths": ["b"]}


def ctl_step_function(mode: str):
    """ctl's translation step at CUT's settings in ``mode`` (same initial weights and batch sequence in every
    mode); returns (step function returning the step's losses, precision in words)."""
    torch.manual_seed(0)
    layout = torch.contiguous_format if mode == "float32" else torch.channels_last
    amp = Amp.for_device(torch.device("cpu"), enabled=mode == "best")
    config = TranslationConfig(ngf=64, n_blocks=9, ndf=64, nce_layers=("input", "stem", "down1", "res0", "res4"),
                               num_patches=256, mlp_width=256, nce_identity=True, antialias=False)
    translator = Translator(config).to(memory_format=layout)
    generator = torch.Generator().manual_seed(1)

    def batch() -> torch.Tensor:
        return torch.rand(1, 1, SIZE, SIZE, generator=generator).contiguous(memory_format=layout)

    translator.build_projection(batch())
    opt_g = torch.optim.Adam(translator.generator_parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(translator.discriminator_parameters(), lr=2e-4, betas=(0.5, 0.999))
    precision = str(amp.dtype).removeprefix("torch.") if amp.enabled else "float32"
    return (lambda: translation_step(translator, opt_g, opt_d, batch(), batch(), amp)), precision


def loss_differences(modes: list[str], steps: int) -> dict[str, dict[str, float]]:
    """Per mode, each loss's largest relative difference from float32's over ``steps`` steps."""
    losses = {}
    for mode in dict.fromkeys(["float32", *modes]):
        step, _ = ctl_step_function(mode)
        losses[mode] = [{k: float(v) for k, v in step().items()} for _ in range(steps)]
    return {mode: {k: round(max(abs(a[k] - b[k]) / abs(b[k]) for a, b in zip(losses[mode], losses["float32"])), 4)
                   for k in losses["float32"][0]} for mode in modes if mode != "float32"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cut", required=True, help="folder of a checkout of CUT's repository")
    parser.add_argument("--modes", nargs="+", default=["float32", "channels_last", "best"],
                        choices=["float32", "channels_last", "best"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=3, help="steps of each side per round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--check-steps", type=int, default=5, help="steps of the loss comparison between modes")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--note", default="", help="free text kept in the JSON, e.g. whether the machine was idle")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    real_torchvision = torchvision_or_stand_in()
    model = cut_model(Path(args.cut).resolve(), RESULTS.parent.parent / "build" / "cut_side_by_side")
    cut_generator = torch.Generator().manual_seed(2)

    def cut_step():
        model.set_input(cut_batch(cut_generator))
        model.optimize_parameters()

    load_at_start = [round(x, 2) for x in os.getloadavg()]
    rows = []
    for mode in args.modes:
        ctl_step, precision = ctl_step_function(mode)
        for step in (cut_step, ctl_step):
            for _ in range(args.warmup):
                step()
        seconds = {"cut": [], "ctl": []}
        for r in range(args.rounds):
            order = [("cut", cut_step), ("ctl", ctl_step)]
            for name, step in order if r % 2 == 0 else order[::-1]:
                tic = time.perf_counter()
                for _ in range(args.per_round):
                    step()
                seconds[name].append((time.perf_counter() - tic) / args.per_round)
        median = {name: statistics.median(v) for name, v in seconds.items()}
        rows.append({"mode": mode, "ctl_precision": precision, "cut_seconds_per_step": round(median["cut"], 4),
                     "ctl_seconds_per_step": round(median["ctl"], 4),
                     "speedup": round(median["cut"] / median["ctl"], 3),
                     "rounds": {k: [round(x, 4) for x in v] for k, v in seconds.items()}})
        print(f"{mode:14s} ({precision:8s}) CUT {median['cut']:.3f} s  ctl {median['ctl']:.3f} s  "
              f"ctl is {median['cut'] / median['ctl']:.2f}x faster", flush=True)
    differences = loss_differences(args.modes, args.check_steps)
    for mode, diff in differences.items():
        print(f"{mode:14s} largest relative loss difference from float32 over {args.check_steps} steps: "
              + ", ".join(f"{k} {v:.1%}" for k, v in diff.items()))
    record = {**machine_record(torch.device("cpu")), "settings": "batch 1, 128 x 128, 1 channel, ngf/ndf 64, "
              "9 blocks, 256 patches on 5 layers, identity NCE, no anti-aliasing", "rounds": args.rounds,
              "per_round": args.per_round, "warmup": args.warmup, "load_average_at_start": load_at_start,
              "load_average_at_end": [round(x, 2) for x in os.getloadavg()], "note": args.note,
              "torchvision": "installed" if real_torchvision else
              "absent: an empty stand-in was registered (CUT's data pipeline is not used)", "results": rows,
              "relative_loss_difference_from_float32": differences, "check_steps": args.check_steps}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "cut_side_by_side_cpu.json"
    out.write_text(json.dumps(record, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
