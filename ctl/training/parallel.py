"""Several methods trained side by side, one process each, so that a small CPU is used fully.

A training step of these small networks does not scale well over threads: on a 2-core CPU, each baseline's
short run took only 1.5-1.6 times as long on one thread (two runs side by side) as on two threads alone
(``benchmarks/parallel_training.py``, per-method seconds in its record). So two methods trained at once, each
on one core, finish sooner than the same two trained one after the other on both cores: 1.20x for the four
baselines there.

``load_or_train_many`` is ``load_or_train`` (``ctl.training.loop``) for several methods: the methods whose run
folders do not yet hold a finished run of the requested configuration are trained in up to ``workers``
processes, each with its share of the cores as torch threads, in the order given (give the longest first);
one progress bar per method; then every method is loaded from its folder. It trains one after the other in
this process instead where processes would not help (``parallel_workers``): on a GPU, with one core, with one
method to train, or where memory is short (a worker needs about ``WORKER_MEMORY``; Binder gives 2 GB in all).
``train_many`` does the training part for any runs (``TrainingJob``: a method, a run folder, a training seed),
e.g. every method and seed of ``benchmarks/heldout.py``, and loads nothing.

A run depends on the number of threads in its last bits (sums are taken in another order), not otherwise: a
method trained in a worker with one thread repeats the losses of the same method trained alone with one
thread exactly (``tests/test_training_parallel.py``). Interrupting the caller stops the workers; each run
resumes from its last checkpoint the next time.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import pickle
import queue as queue_module
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ctl.methods import Method, method_class
from ctl.presets import Preset
from ctl.training.loop import TrainConfig, load_or_train, progress_bar, resolve_device
from ctl.training.runs import config_differences, run_config

WORKER_MEMORY = 1 << 30  # bytes a training process needs at the cpu preset (measured peak: 0.46-0.66 GB)
REPORT_EVERY = 10  # iterations between two progress messages of a worker


def usable_cores(root: Path = Path("/")) -> int:
    """CPU cores this process may use: its affinity mask, capped by a container's CPU quota (cgroup v2 or v1;
    ``root``: where /sys lies, for tests)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(root)
    return max(1, min(cores, int(quota)) if quota else cores)


def cgroup_cpu_quota(root: Path = Path("/")) -> float | None:
    """Cores allowed by the container's CPU quota; None when there is none (or no cgroup files)."""
    cgroup = Path(root) / "sys" / "fs" / "cgroup"
    try:  # cgroup v2: "max 100000" or "200000 100000"
        quota, period = (cgroup / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        quota = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_memory(root: Path = Path("/")) -> int | None:
    """Bytes that new processes may still use: the least of the machine's available memory and what is left
    under a container's memory limit (cgroup v2 or v1); None where neither can be read (``root``: where /proc
    and /sys lie, for tests)."""
    root, found = Path(root), []
    try:
        for line in (root / "proc" / "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    cgroup = root / "sys" / "fs" / "cgroup"
    for limit_file, usage_file in (("memory.max", "memory.current"),
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            limit = (cgroup / limit_file).read_text().strip()
            if limit != "max" and int(limit) < 1 << 60:  # v1 writes a huge number for "no limit"
                found.append(int(limit) - int((cgroup / usage_file).read_text()))
                break
        except (OSError, ValueError):
            continue
    return min(found) if found else None


def parallel_workers(jobs: int, device: torch.device, cores: int | None = None,
                     memory: int | None = None) -> int:
    """How many processes to train ``jobs`` methods in: 1 (this process, one after the other) on a GPU or MPS;
    on a CPU, as many as there are jobs, cores (``usable_cores``) and ``WORKER_MEMORY`` in the available memory
    (``available_memory``; when it cannot be read, as if there were room), and at least 1."""
    if device.type != "cpu" or jobs <= 1:
        return 1
    cores = usable_cores() if cores is None else cores
    memory = available_memory() if memory is None else memory
    by_memory = jobs if memory is None else memory // WORKER_MEMORY
    return max(1, min(jobs, cores, by_memory))


def needs_training(method_name: str, prepared: Path, preset: Preset, run_dir: Path, seed: int,
                   config: TrainConfig) -> bool:
    """True unless ``run_dir`` holds a finished run (final.pt) of exactly this configuration."""
    if not (Path(run_dir) / "final.pt").exists():
        return True
    expected = run_config(method_class(method_name).from_preset(preset), preset, prepared, seed, config.identity())
    return bool(config_differences(run_dir, expected))


@dataclass(frozen=True)
class TrainingJob:
    """One run to train: a method, its run folder and its training seed."""

    method: str
    run_dir: Path
    seed: int = 0


def train_many(jobs: Mapping[str, TrainingJob], prepared: Path, preset: Preset,
               device: torch.device | str | None = None, config: TrainConfig | None = None,
               on_config_change: str = "error", workers: int | None = None, threads: int | None = None) -> list[str]:
    """Train every job of ``jobs`` (a label -> ``TrainingJob``, the label names its progress bar) whose run folder
    does not yet hold a finished run of this configuration, ``workers`` at a time in the order given (None:
    ``parallel_workers``), each worker with ``threads`` torch threads (None: the usable cores shared out); with
    one worker here, one after the other, as ``load_or_train`` would. Nothing is loaded. Returns the labels of the
    jobs that were trained. The other arguments are ``load_or_train``'s, for every job.

    Raises:
        whatever ``load_or_train`` raises for a job (re-raised after the other workers have finished, with the
        job's label named), or RuntimeError when a worker stopped without a word (e.g. killed for memory).
    """
    config, device = config or TrainConfig(), resolve_device(device)
    pending, left = _train_pending_in_workers(jobs, prepared, preset, device, config, on_config_change, workers,
                                              threads)
    for job in left.values():  # one after the other, here
        load_or_train(job.method, prepared, preset, job.run_dir, seed=job.seed, device=device, config=config,
                      on_config_change=on_config_change)
    return pending


def load_or_train_many(run_dirs: Mapping[str, Path], prepared: Path, preset: Preset, seed: int = 0,
                       device: torch.device | str | None = None, config: TrainConfig | None = None,
                       on_config_change: str = "error", workers: int | None = None,
                       threads: int | None = None) -> dict[str, Method]:
    """Every method of ``run_dirs`` (method name -> run folder), trained where needed (``train_many``, in the order
    of ``run_dirs``: give the longest first) and loaded (eval mode). The other arguments are ``load_or_train``'s,
    for every method; ``workers`` and ``threads`` are ``train_many``'s.

    Raises:
        what ``train_many`` raises.
    """
    config, device = config or TrainConfig(), resolve_device(device)
    jobs = {name: TrainingJob(name, Path(run_dir), seed) for name, run_dir in run_dirs.items()}
    _train_pending_in_workers(jobs, prepared, preset, device, config, on_config_change, workers, threads)
    # load_or_train loads what the workers trained and trains here what they did not
    return {name: load_or_train(name, prepared, preset, run_dir, seed=seed, device=device, config=config,
                                on_config_change=on_config_change) for name, run_dir in run_dirs.items()}


def _train_pending_in_workers(jobs: Mapping[str, TrainingJob], prepared: Path, preset: Preset, device: torch.device,
                              config: TrainConfig, on_config_change: str, workers: int | None,
                              threads: int | None) -> tuple[list[str], dict[str, TrainingJob]]:
    """The labels of the unfinished jobs, and those of them left to train: none where worker processes trained
    them (more than one worker, more than one job), all of them otherwise."""
    pending = {label: job for label, job in jobs.items()
               if needs_training(job.method, prepared, preset, job.run_dir, job.seed, config)}
    workers = parallel_workers(len(pending), device) if workers is None else workers
    if workers > 1 and len(pending) > 1:
        threads = max(1, usable_cores() // workers) if threads is None else threads
        _train_in_workers(pending, prepared, preset, config, on_config_change, workers, threads)
        return list(pending), {}
    return list(pending), pending


def _train_in_workers(jobs: Mapping[str, TrainingJob], prepared: Path, preset: Preset, config: TrainConfig,
                      on_config_change: str, workers: int, threads: int) -> None:
    """Train each job in its own process, ``workers`` at a time, showing their progress."""
    what = "methods" if len({job.method for job in jobs.values()}) == len(jobs) else "runs"
    print(f"training {len(jobs)} {what} in {workers} processes at a time, {threads} thread(s) each "
          f"(ctl.training.parallel)")
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: safe from a notebook kernel
    messages = context.Queue()
    todo, running, bars, errors = list(jobs), {}, {}, []
    quiet = dataclasses.replace(config, progress=False)  # the bars are drawn here
    try:
        while todo or running:
            while todo and len(running) < workers:
                label = todo.pop(0)
                job = jobs[label]
                bars[label] = progress_bar(preset.iterations, 0, label)
                running[label] = context.Process(
                    target=_worker, name=f"ctl-train-{label}", daemon=True,
                    args=(label, job.method, Path(prepared), preset, Path(job.run_dir), job.seed, quiet,
                          on_config_change, threads, messages))
                running[label].start()
            try:
                kind, label, value = messages.get(timeout=1.0)
            except queue_module.Empty:
                for label in _check_alive(running, messages, errors):
                    bars[label].close()  # a bar left open would look like a run still going
                continue
            if kind == "progress":
                bars[label].update(value - bars[label].n)
            else:  # "done" or "error"
                running.pop(label).join()
                bars[label].close()
                if kind == "error":
                    errors.append((label, value))
    except BaseException:  # KeyboardInterrupt in a notebook: stop every worker, keep their checkpoints
        for process in running.values():
            process.terminate()
            process.join()
        raise
    if errors:
        label, error = errors[0]
        if not isinstance(error, BaseException):
            raise RuntimeError(f"training {label} failed: {error}")
        if hasattr(error, "add_note"):  # Python 3.11 and later
            error.add_note(f"(raised while training {label} in a worker process of ctl.training.parallel)")
        raise error


def _check_alive(running: dict, messages, errors: list) -> list[str]:
    """A worker that exited without saying "done" or "error" (killed, out of memory) becomes an error; returns
    the names of those workers."""
    vanished = []
    for name, process in list(running.items()):
        if not process.is_alive():
            time.sleep(0.5)  # its last messages may still be in the pipe: the next get() reads them
            if messages.empty() and not process.is_alive():
                running.pop(name)
                errors.append((name, f"its process ended with exit code {process.exitcode} before finishing "
                                     f"(killed, or out of memory?); run again to resume from the last checkpoint"))
                vanished.append(name)
    return vanished


def _worker(label: str, method: str, prepared: Path, preset: Preset, run_dir: Path, seed: int,
            config: TrainConfig, on_config_change: str, threads: int, messages) -> None:
    """One run's training in a worker process: progress, then "done", or "error" with the exception."""
    torch.set_num_threads(threads)

    def report(iteration: int) -> None:
        if iteration % REPORT_EVERY == 0 or iteration == preset.iterations:
            messages.put(("progress", label, iteration))

    try:
        load_or_train(method, prepared, preset, run_dir, seed=seed, device="cpu", config=config,
                      on_config_change=on_config_change, on_iteration=report)
        messages.put(("done", label, None))
    except BaseException as error:  # noqa: BLE001 - every failure goes back to the caller
        try:
            pickle.loads(pickle.dumps(error))  # the queue pickles in a thread of its own, where a failure is lost
        except Exception:  # an exception that cannot travel: its text
            error = f"{type(error).__name__}: {error}"
        messages.put(("error", label, error))
