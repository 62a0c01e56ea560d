"""Shared by the step benchmarks (``training_step.py``, ``translation_step.py``): time a step, read peak memory."""
from __future__ import annotations

import resource
import statistics
import time
from typing import Callable

import torch


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
