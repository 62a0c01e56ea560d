"""Colab: the setup cell every notebook opens with, and what it does once ctl is installed there.

The cell (``SETUP_CELL``, the same text in every notebook; ``tests/test_teach_colab.py`` checks each one) does
nothing outside Colab. On Colab it pip-installs ctl at ``RELEASE`` (a released tag, never the moving ``main``)
from ``REPOSITORY`` and calls ``colab_setup``, which

- says which preset fits the runtime: no GPU, ``cpu`` with its measured series time; a GPU, ``gpu`` when one
  training iteration of ``ours`` at that preset fits its memory, with an *estimated* series time (one iteration
  timed on this GPU, the other methods scaled by their cost relative to ``ours`` measured on a CPU;
  nobody has timed the series on a GPU yet, so nothing here says "measured" for it);
- with ``USE_DRIVE = True`` mounts Google Drive and points ``RUN_DIR`` there (``CTL_RUN_DIR``, honoured by
  ``setup_notebook``), so that training interrupted by a lost runtime resumes from its last checkpoint: the VM's
  own disk is wiped with it.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

from ctl import RELEASE, REPOSITORY, __version__
from ctl.device import Amp
from ctl.evaluate import table_methods
from ctl.methods import method_class
from ctl.presets import PRESETS, Preset
from ctl.teach.context import RUN_DIR_ENV_VAR
from ctl.teach.measurements import read_records

# The release the notebooks install: the repository's address (a placeholder organisation until it is published)
# and the release tag live beside ctl.__version__ in ctl/__init__.py.
INSTALL = f"ctl @ git+{REPOSITORY}@{RELEASE}"
DRIVE_MOUNT = "/content/drive"
DRIVE_RUN_DIR = f"{DRIVE_MOUNT}/MyDrive/ctl/runs/notebooks"
TIMING_CACHE = Path("/tmp/ctl-colab-step-timing.json")  # one timing per Colab VM, shared by the notebooks

SETUP_CELL = f'''import subprocess
import sys

USE_DRIVE = False  # Colab only: True keeps RUN_DIR on your Google Drive, so training resumes after a lost runtime
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "{INSTALL}"], check=True)
    from ctl.teach.colab import colab_setup

    colab_setup(use_drive=USE_DRIVE)'''


def time_step(method_name: str, preset: Preset, device: torch.device, steps: int = 3, warmup: int = 2) -> dict:
    """Seconds per training iteration of ``method_name`` at ``preset`` on ``device`` (mean of ``steps`` after
    ``warmup`` untimed ones, on random slices of the preset's size) and the peak memory of CUDA tensors.
    ``benchmarks/training_step.py`` measures every method this way, with more steps, for the committed tables."""
    torch.manual_seed(0)
    cls = method_class(method_name)
    shape = (preset.batch_size, 1, preset.image_size, preset.image_size)
    batch = {"ct": torch.rand(shape), "mr": torch.rand(shape), "ct_label": torch.randint(0, 5, (shape[0],) + shape[2:]),
             "mr_label": torch.randint(0, 5, (shape[0],) + shape[2:])}
    batch = {k: batch[k].to(device) for k in cls.batch_keys}
    method = cls.from_preset(preset).to(device)
    method.amp = Amp.for_device(device)
    method.setup(batch)
    method.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            tic = time.perf_counter()
        method.train_step(batch)
        method.amp.update()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return {"method": method_name, "preset": preset.name, "seconds_per_iteration": (time.perf_counter() - tic) / steps,
            "peak_memory_bytes": peak}


def relative_costs(records: list[dict], reference: str = "ours") -> dict[str, float]:
    """Each method's seconds per iteration divided by ``reference``'s, from training-step records (CPU,
    ``training_step_*.json``) at the largest preset they measured ``reference`` at. Where a record times a
    method both as training runs it (mixed precision, ``"amp": true``) and in float32 for comparison, the first
    is used."""
    for preset in ("paper", "gpu", "cpu", "ci"):
        rows = {}
        for r in sorted((r for record in records for r in record["results"] if r["preset"] == preset),
                        key=lambda r: bool(r.get("amp"))):  # mixed-precision rows last, so they win
            rows[r["method"]] = r["seconds_per_iteration"]
        if reference in rows:
            return {name: seconds / rows[reference] for name, seconds in rows.items()}
    raise ValueError(f"no training-step record measures {reference!r}; run benchmarks/training_step.py")


def estimated_series_seconds(ours_seconds_per_iteration: float, preset: Preset, costs: dict[str, float],
                             methods: list[str]) -> float:
    """Training time of the series at ``preset``: each of ``methods`` (the series trains every method of Table 1,
    ``ctl.evaluate.table_methods()``, once per seed: notebooks 01 and 04 some, notebook 05 the rest) for
    ``preset.iterations`` iterations and each seed of ``preset.seeds``, at ``costs[method]`` times the time of
    ``ours``. Data loading, evaluation and notebook 02's short translator runs are left out: the series takes
    somewhat longer.

    Raises:
        ValueError: a method without a relative cost.
    """
    missing = [name for name in methods if name not in costs]
    if missing:
        raise ValueError(f"no relative cost for {missing}; run benchmarks/training_step.py for every method")
    return ours_seconds_per_iteration * sum(costs[name] for name in methods) * preset.iterations * len(preset.seeds)


def measured_series_seconds(preset: str) -> tuple[float, dict] | None:
    """Seconds of the whole series at ``preset`` as measured by ``benchmarks/notebook_times.py`` (and its
    record), or None when it was never measured."""
    for record in read_records("notebook_times"):
        if record["preset"] == preset:
            return sum(row["seconds"] for row in record["notebooks"]), record
    return None


def _hours(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def preset_advice(gpu_name: str | None, gpu_memory_bytes: int | None = None, timing: dict | None = None) -> str:
    """What the setup cell prints about presets: for a CPU runtime (``gpu_name`` None) the ``cpu`` preset with
    its measured series time; for a GPU, ``gpu`` when ``timing`` (``time_step`` of ``ours`` at the gpu preset
    on it, or None when that ran out of memory) shows it fits, with the estimated series time."""
    cpu = measured_series_seconds("cpu")
    cpu_line = (f"measured {_hours(cpu[0])} for the whole series on a {cpu[1]['cpu_count']}-core CPU "
                f"({cpu[1]['date']})" if cpu else "its series time was never measured")
    if gpu_name is None:
        return (f"No GPU in this runtime: PRESET = \"cpu\" fits ({cpu_line}).\nFor the full-size `gpu` preset "
                f"choose Runtime > Change runtime type > a GPU, then run this cell again.")
    memory = f"{gpu_memory_bytes / 2**30:.0f} GB" if gpu_memory_bytes else "unknown memory"
    if timing is None:
        return (f"GPU: {gpu_name} ({memory}). One iteration of the `gpu` preset did not fit its memory: keep "
                f"PRESET = \"cpu\" ({cpu_line}; a GPU runs it faster, not measured).")
    gpu = PRESETS["gpu"]
    measured = measured_series_seconds("gpu")
    if measured:
        when = f"Measured {_hours(measured[0])} for the whole series ({measured[1]['date']})"
    else:
        methods = table_methods()
        total = estimated_series_seconds(timing["seconds_per_iteration"], gpu,
                                         relative_costs(read_records("training_step")), methods)
        when = (f"Estimated {_hours(total)} of training for the whole series: {len(gpu.seeds)} seeds x "
                f"{len(methods)} methods x {gpu.iterations} iterations, from "
                f"{timing['seconds_per_iteration']:.3f} s per iteration of "
                f"`ours` timed here just now and the other methods' cost relative to it measured on a CPU")
    peak = f", peak {timing['peak_memory_bytes'] / 2**30:.1f} GB" if timing.get("peak_memory_bytes") else ""
    return (f"GPU: {gpu_name} ({memory}{peak}): set PRESET = \"gpu\" in the parameters cell.\n{when}.\n"
            f"A Colab session can end before that: USE_DRIVE = True keeps the runs on Drive, and a notebook run "
            f"again resumes its training.")


def gpu_timing(device: torch.device, cache: Path = TIMING_CACHE) -> dict | None:
    """``time_step`` of ``ours`` at the gpu preset on ``device``, cached in ``cache`` for the other notebooks of
    this VM; None when it runs out of GPU memory."""
    if cache.exists():
        return json.loads(cache.read_text())
    try:
        timing = time_step("ours", PRESETS["gpu"], device)
    except torch.cuda.OutOfMemoryError:
        timing = None
    torch.cuda.empty_cache()
    cache.write_text(json.dumps(timing))
    return timing


def use_drive_for_runs(mount=None, run_dir: str = DRIVE_RUN_DIR) -> str:
    """Mount Google Drive (``mount``: ``google.colab.drive.mount``, asked for the user's permission) and make
    ``run_dir`` on it the RUN_DIR of every notebook of this runtime (``CTL_RUN_DIR``)."""
    if mount is None:
        from google.colab import drive  # here, not at the top: the module exists only on Colab

        mount = drive.mount
    mount(DRIVE_MOUNT)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    os.environ[RUN_DIR_ENV_VAR] = run_dir
    return run_dir


def colab_setup(use_drive: bool = False) -> None:
    """What the setup cell runs on Colab after installing ctl: the preset advice, and RUN_DIR on Drive if asked."""
    print(f"ctl {__version__} installed from {REPOSITORY} at {RELEASE}; Python {sys.version.split()[0]}, "
          f"torch {torch.__version__}")
    if torch.cuda.is_available():
        device = torch.device("cuda")
        properties = torch.cuda.get_device_properties(device)
        print(preset_advice(properties.name, properties.total_memory, gpu_timing(device)))
    else:
        print(preset_advice(None))
    if use_drive:
        print(f"RUN_DIR is {use_drive_for_runs()} on your Google Drive: rerun a notebook after a lost runtime "
              f"and its training continues from the last checkpoint")
    else:
        print("RUN_DIR is on this runtime's disk, which is wiped with it; USE_DRIVE = True keeps it on Drive")
