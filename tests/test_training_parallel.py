"""ctl.training.parallel: how many worker processes, and that a method trained in a worker is the method trained
here (the same losses to the last bit, at the same number of threads), finished runs are loaded rather than
trained again, and a failing or vanished worker is reported with the method it was training."""
import os
import queue
import sys

import pytest
import torch

from conftest import QUIET, history_rows
from ctl.presets import PRESETS
from ctl.training import load_or_train
from ctl.training.parallel import (WORKER_MEMORY, TrainingJob, _check_alive, available_memory, cgroup_cpu_quota,
                                   load_or_train_many, needs_training, parallel_workers, train_many, usable_cores)

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
GB = 1 << 30
SHORT = PRESETS["ci"].replace(iterations=4, checkpoint_every=2)


@pytest.mark.parametrize("jobs, device, cores, memory, expected", [
    (4, CPU, 2, 8 * GB, 2),  # a 2-core laptop: two at a time
    (3, CPU, 16, 64 * GB, 3),  # never more workers than jobs
    (4, CPU, 2, WORKER_MEMORY + GB // 2, 1),  # Binder (2 GB in all, the kernel holding some): one at a time
    (4, CPU, 8, 3 * WORKER_MEMORY, 3),  # memory caps it below the cores
    (4, CPU, 1, 8 * GB, 1),  # one core
    (1, CPU, 8, 8 * GB, 1),  # one job
    (4, CUDA, 8, 8 * GB, 1),  # a GPU trains one method at a time, in this process
])
def test_parallel_workers_follow_jobs_cores_and_memory(jobs, device, cores, memory, expected):
    assert parallel_workers(jobs, device, cores=cores, memory=memory) == expected


def _files(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_binder_like_container_is_read_from_its_cgroup_files(tmp_path):
    meminfo = "MemTotal:       16000000 kB\nMemAvailable:    8000000 kB\n"
    # cgroup v2, as on Binder: 2 GB limit, 0.7 GB used; a quota of 1.5 cores
    v2 = _files(tmp_path / "v2", {"proc/meminfo": meminfo, "sys/fs/cgroup/memory.max": "2147483648\n",
                                  "sys/fs/cgroup/memory.current": str(700 * 2**20),
                                  "sys/fs/cgroup/cpu.max": "150000 100000\n"})
    assert available_memory(v2) == 2147483648 - 700 * 2**20  # less than MemAvailable (8 GB)
    assert cgroup_cpu_quota(v2) == 1.5
    assert parallel_workers(4, CPU, cores=2, memory=available_memory(v2)) == 1
    # cgroup v1 without limits (a huge number): the machine's MemAvailable; no quota
    v1 = _files(tmp_path / "v1", {"proc/meminfo": meminfo,
                                  "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
                                  "sys/fs/cgroup/memory/memory.usage_in_bytes": "4646957056\n",
                                  "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
                                  "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"})
    assert available_memory(v1) == 8000000 * 1024 and cgroup_cpu_quota(v1) is None
    assert cgroup_cpu_quota(_files(tmp_path / "v2max", {"sys/fs/cgroup/cpu.max": "max 100000\n"})) is None
    assert available_memory(tmp_path / "nothing") is None and cgroup_cpu_quota(tmp_path / "nothing") is None


def test_this_machine_reports_cores_and_memory():
    assert 1 <= usable_cores() <= os.cpu_count()
    memory = available_memory()
    assert memory is None or 0 < memory < 1 << 50


def _folders(root, names):
    return {name: root / name for name in names}


def test_a_method_trained_in_a_worker_repeats_the_same_run_trained_here(ci_prepared, tmp_path):
    names = ("ours", "source_only")
    apart = load_or_train_many(_folders(tmp_path / "workers", names), ci_prepared, SHORT, seed=1, device="cpu",
                               config=QUIET, workers=2, threads=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = {name: load_or_train(name, ci_prepared, SHORT, tmp_path / "here" / name, seed=1, device="cpu",
                                    config=QUIET) for name in names}
    finally:
        torch.set_num_threads(threads)
    for name in names:
        assert (tmp_path / "workers" / name / "final.pt").exists()
        assert len(history_rows(tmp_path / "workers" / name)) == SHORT.iterations
        assert history_rows(tmp_path / "workers" / name) == history_rows(tmp_path / "here" / name)
        for (key, a), b in zip(apart[name].state_dict().items(), here[name].state_dict().values()):
            assert torch.equal(a, b), (name, key)
        assert not needs_training(name, ci_prepared, SHORT, tmp_path / "workers" / name, 1, QUIET)


def test_finished_runs_are_loaded_not_trained_again(ci_prepared, tmp_path, monkeypatch):
    folders = _folders(tmp_path, ("source_only", "oracle"))
    load_or_train_many(folders, ci_prepared, SHORT, device="cpu", config=QUIET, workers=1)
    stamps = {name: (folder / "final.pt").stat().st_mtime_ns for name, folder in folders.items()}

    def no_workers(*args, **kwargs):
        raise AssertionError("nothing should be trained")
    monkeypatch.setattr("ctl.training.parallel._train_in_workers", no_workers)
    loaded = load_or_train_many(folders, ci_prepared, SHORT, device="cpu", config=QUIET, workers=2)
    assert sorted(loaded) == ["oracle", "source_only"] and not loaded["oracle"].training
    assert {name: (folder / "final.pt").stat().st_mtime_ns for name, folder in folders.items()} == stamps
    # another configuration (more iterations) is not the finished run: it needs training
    assert needs_training("oracle", ci_prepared, SHORT.replace(iterations=6), folders["oracle"], 0, QUIET)


def test_several_seeds_of_one_method_train_side_by_side_each_with_its_own_seed(ci_prepared, tmp_path):
    jobs = {f"source_only seed {seed}": TrainingJob("source_only", tmp_path / f"seed{seed}", seed) for seed in (1, 2)}
    assert train_many(jobs, ci_prepared, SHORT, device="cpu", config=QUIET, workers=2, threads=1) == list(jobs)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        load_or_train("source_only", ci_prepared, SHORT, tmp_path / "here", seed=2, device="cpu", config=QUIET)
    finally:
        torch.set_num_threads(threads)
    assert history_rows(tmp_path / "seed2") == history_rows(tmp_path / "here")  # the seed went with the job
    assert history_rows(tmp_path / "seed1") != history_rows(tmp_path / "seed2")
    assert train_many(jobs, ci_prepared, SHORT, device="cpu", config=QUIET, workers=2) == []  # both finished


def test_a_failing_worker_is_raised_after_the_others_finish(ci_prepared, tmp_path):
    folders = _folders(tmp_path, ("source_only", "oracle"))
    folders["source_only"].write_text("not a folder")  # the worker refuses a run folder that is a file
    with pytest.raises(ValueError, match="source_only") as raised:
        load_or_train_many(folders, ci_prepared, SHORT, device="cpu", config=QUIET, workers=2, threads=1)
    assert (folders["oracle"] / "final.pt").exists()  # the other method was trained to the end
    assert folders["source_only"].read_text() == "not a folder"  # and the user's file left as it was
    if sys.version_info >= (3, 11):  # add_note: the method is named beside the worker's own message
        assert any("training source_only in a worker" in note for note in raised.value.__notes__)


class _Ended:
    def __init__(self, exitcode):
        self.exitcode = exitcode

    def is_alive(self):
        return False


def test_a_worker_that_vanished_becomes_an_error_naming_it():
    running, errors = {"sifa": _Ended(-9)}, []
    assert _check_alive(running, queue.Queue(), errors) == ["sifa"]  # its progress bar is closed by the caller
    assert running == {} and errors[0][0] == "sifa"
    assert "exit code -9" in errors[0][1] and "resume" in errors[0][1]
    # one whose last message is still waiting is left to be read
    running, waiting = {"sifa": _Ended(0)}, queue.Queue()
    waiting.put(("done", "sifa", None))
    assert _check_alive(running, waiting, errors := []) == []
    assert "sifa" in running and errors == []
