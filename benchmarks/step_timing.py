"""Shared by the step benchmarks (``training_step.py``, ``translation_step.py``): time a step, read peak memory,
run one setting in its own process, describe the machine."""
from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from typing import Callable

import torch

from ctl.device import describe_device


def median_step_seconds(step: Callable[[], object], device: torch.device, steps: int, warmup: int) -> float:
    """Median wall-clock seconds of ``step()`` over ``steps`` calls after ``warmup`` untimed ones (CUDA is
    synchronised around each call, so the time is the step's, not its launch's). Resets CUDA's peak memory
    statistics first, so that ``peak_memory`` covers these calls."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        tic = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - tic)
    return statistics.median(times)


def peak_memory(device: torch.device) -> tuple[float, str]:
    """(MB, what was measured): CUDA's max_memory_allocated (tensors only), else the process's max RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda max_memory_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process max RSS"


def run_one(script: str, arguments: list[str], what: str) -> dict:
    """Run ``script --one ...`` in a fresh Python process (so its peak memory is its own) and return the JSON
    record it prints last. Raises RuntimeError with the child's stderr if it fails."""
    done = subprocess.run([sys.executable, script, "--one", *arguments], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{what} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine_record(device: torch.device) -> dict:
    """Date, device, CPU, torch version and thread count: the header of every step-benchmark JSON."""
    return {"date": date.today().isoformat(), "device": describe_device(device),
            "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
