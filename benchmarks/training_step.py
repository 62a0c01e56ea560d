"""Time one training iteration of each method at each preset: iterations/s and peak memory.

Usage: python benchmarks/training_step.py [--presets ci cpu] [--methods source_only oracle ours] [--steps 10]
Writes ctl/teach/measured/training_step_<device>.json (package data: notebook 04 and the Colab setup read it).

Each (preset, method) pair runs in its own subprocess, so that its peak memory is its own: on CUDA the peak of
``torch.cuda.max_memory_allocated`` (tensors only), on CPU the process's maximum resident set size (everything:
Python, torch, the networks, activations, Adam's moments). A step is ``method.train_step`` on a batch of random
slices of the preset's size and batch size (the data loader is left out: it is measured by the notebooks'
times), after ``--warmup`` untimed steps; the reported time is the median of ``--steps`` timed steps. The JSON
also gives the training time one method would take at that preset (median step x ``preset.iterations``),
without data loading and checkpoints. Run it on an otherwise idle machine: the JSON records the machine and
the 1-minute load average before and after (on a 2-core CPU, one other busy process can slow torch's two
threads several times over).
"""
import argparse
import json
import os
from pathlib import Path

import torch
from step_timing import machine_record, median_step_seconds, peak_memory, run_one  # benchmarks/step_timing.py

from ctl.device import Amp, pick_device
from ctl.methods import METHODS, method_class
from ctl.presets import PRESETS
from ctl.training.loop import TrainConfig, memory_format

# package data of the checkout this script sits in: an installed ctl reads it from there (ctl.teach.measurements)
RESULTS = Path(__file__).resolve().parents[1] / "ctl" / "teach" / "measured"


def random_batch(preset, device: torch.device, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A batch with every key of an UnpairedSliceDataset item (MR labels included: the oracle reads them)."""
    shape = (preset.batch_size, 1, preset.image_size, preset.image_size)
    batch = {"ct": torch.rand(shape, generator=generator), "mr": torch.rand(shape, generator=generator),
             "ct_label": torch.randint(0, 5, (shape[0], *shape[2:]), generator=generator),
             "mr_label": torch.randint(0, 5, (shape[0], *shape[2:]), generator=generator)}
    return {k: v.to(device) for k, v in batch.items()}


def time_one(preset_name: str, method_name: str, steps: int, warmup: int, device_name: str | None,
             amp: bool = True, channels_last: bool = True) -> dict:
    """Median seconds per ``train_step`` of one method at one preset, and its peak memory (run in a subprocess).
    ``amp``: mixed precision where the device has it (``ctl.device.Amp.for_device``), as training does.
    ``channels_last``: networks and images in the layout the training loop gives them (``memory_format``)."""
    preset, device = PRESETS[preset_name], pick_device(device_name)
    torch.manual_seed(0)
    cls = method_class(method_name)
    layout = memory_format(device, TrainConfig(channels_last=channels_last))
    method = cls.from_preset(preset).to(device, memory_format=layout)
    method.amp = Amp.for_device(device, enabled=amp)
    batch = random_batch(preset, device, torch.Generator().manual_seed(0))
    batch = {k: batch[k].contiguous(memory_format=layout) if batch[k].dim() == 4 else batch[k]
             for k in cls.batch_keys}
    method.setup(batch)
    method.train()
    def step():
        method.train_step(batch)
        method.amp.update()

    step_s = median_step_seconds(step, device, steps, warmup)
    peak_mb, memory = peak_memory(device)
    return {"preset": preset_name, "method": method_name, "batch_size": preset.batch_size,
            "image_size": preset.image_size, "seconds_per_iteration": round(step_s, 5),
            "iterations_per_s": round(1 / step_s, 3), "peak_memory_mb": round(peak_mb, 1), "memory": memory,
            "preset_iterations": preset.iterations,
            "estimated_training_s": round(step_s * preset.iterations, 1), "amp": method.amp.enabled,
            "precision": str(method.amp.dtype).removeprefix("torch.") if method.amp.enabled else "float32",
            "channels_last": layout == torch.channels_last}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=None, help="default: ci cpu, plus gpu on CUDA")
    parser.add_argument("--methods", nargs="+", default=None, help="default: every registered method")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best present)")
    parser.add_argument("--precisions", nargs="+", default=["auto"], choices=["auto", "float32"],
                        help="auto: mixed precision where the device has it, as training does; float32: never "
                             "(give both to compare them)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                        help="the layout the training loop uses on CPU and CUDA (default on; --no-channels-last "
                             "to compare)")
    parser.add_argument("--one", nargs=3, metavar=("PRESET", "METHOD", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # the subprocess: one pair, JSON on the last line of stdout
        preset, method, precision = args.one
        print(json.dumps(time_one(preset, method, args.steps, args.warmup, args.device, precision == "auto",
                                  args.channels_last)))
        return

    device = pick_device(args.device)
    presets = args.presets or (["ci", "cpu", "gpu"] if device.type == "cuda" else ["ci", "cpu"])
    methods = args.methods or list(METHODS)
    load_before = os.getloadavg()[0]  # other processes slow CPU timings a lot: the JSON says how busy it was
    rows = []
    for preset in presets:
        for method in methods:
            for precision in args.precisions:
                arguments = [preset, method, precision, "--steps", str(args.steps), "--warmup", str(args.warmup),
                             "--channels-last" if args.channels_last else "--no-channels-last"] \
                    + (["--device", args.device] if args.device else [])
                r = run_one(__file__, arguments, f"{preset}/{method}/{precision}")
                rows.append(r)
                print(f"{preset:6s} {method:12s} {r['precision']:9s} {r['iterations_per_s']:8.2f} it/s  "
                      f"{r['peak_memory_mb']:8.0f} MB  ~{r['estimated_training_s']:.0f} s for "
                      f"{r['preset_iterations']} iterations", flush=True)
    record = {**machine_record(device), "steps": args.steps, "warmup": args.warmup,
              "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)], "results": rows}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"training_step_{device.type}.json"
    out.write_text(json.dumps(record, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
