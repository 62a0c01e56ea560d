"""ctl.training.checkpoints: atomic writes, only the newest kept, and a restore that refuses changed data; a damaged
newest checkpoint falls back to the previous one, a full disk is said and leaves no partial file, final.pt must
be the run folder's own."""
import errno
import shutil
from pathlib import Path

import pytest
import torch

import ctl.training.loop as loop
from conftest import LOOP_PRESET, QUIET, FakeUnpaired, Toy, history_rows
from ctl.training import checkpoints, load_or_train, train
from ctl.training.checkpoints import atomic_save, load_checkpoint, load_latest


def test_atomic_save_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "sub" / "state.pt"
    atomic_save({"x": torch.arange(3)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["x"], torch.arange(3))
    assert [p.name for p in path.parent.iterdir()] == ["state.pt"]


def test_only_the_newest_checkpoints_are_kept_and_they_hold_the_run(toy, tmp_path):
    run = tmp_path / "run"
    train("toy", toy, LOOP_PRESET, run, seed=0, device="cpu", config=QUIET)  # checkpoints at 2, 4, 6, 7
    assert [p.name for p in checkpoints(run)] == ["iter_0000006.pt", "iter_0000007.pt"]  # keep 2
    state = load_checkpoint(checkpoints(run)[-1])
    assert state["iteration"] == 7 and len(state["history"]) == 7
    assert set(state["optimizers"]) == {"critic", "main"} and {"torch", "numpy", "python"} <= set(state["rng"])
    assert state["data_position"] == {"epoch": 2, "batch": 1, "batches_per_epoch": 3}  # 10 items, batches of 3


def test_resume_refuses_training_data_of_another_size(toy, tmp_path, monkeypatch):
    original = Toy.train_step

    def stop_after_the_first_checkpoint(self, batch):
        if checkpoints(tmp_path / "run"):
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Toy, "train_step", stop_after_the_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    monkeypatch.setattr(loop, "training_dataset", lambda prepared, cls, augment: FakeUnpaired(n=7))
    with pytest.raises(ValueError, match=r"training data changed .* \(batches per epoch 3 then, 2 now\)"):
        train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET, resume=True)


def _interrupt_after(monkeypatch, steps):
    """Make Toy raise KeyboardInterrupt at its ``steps + 1``-th step; returns a function that undoes it."""
    original, calls = Toy.train_step, {"n": 0}

    def interrupted(self, batch):
        calls["n"] += 1
        if calls["n"] > steps:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Toy, "train_step", interrupted)
    return lambda: monkeypatch.setattr(Toy, "train_step", original)


def test_a_truncated_newest_checkpoint_falls_back_to_the_previous_one(toy, tmp_path, monkeypatch):
    train("toy", toy, LOOP_PRESET, tmp_path / "straight", seed=0, device="cpu", config=QUIET)
    restore = _interrupt_after(monkeypatch, 6)  # checkpoints at 2, 4, 6: 4 and 6 kept
    with pytest.raises(KeyboardInterrupt):
        train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    restore()
    newest = checkpoints(tmp_path / "run")[-1]
    newest.write_bytes(newest.read_bytes()[:1000])
    with pytest.warns(UserWarning, match=r"iter_0000006.pt cannot be read .*: set aside as .damaged; resuming from "
                                         r"the previous checkpoint, iter_0000004.pt \(iteration 4\)"):
        train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET, resume=True)
    assert history_rows(tmp_path / "run") == history_rows(tmp_path / "straight")  # still bit for bit
    assert (tmp_path / "run/checkpoints/iter_0000006.pt.damaged").exists()


def test_no_readable_checkpoint_is_an_error_that_says_what_to_do(tmp_path):
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    for name in ("iter_0000002.pt", "iter_0000004.pt"):
        (folder / name).write_bytes(b"PK\x03\x04 cut")
    with pytest.raises(ValueError, match=r"no readable checkpoint: .*iter_0000004.pt cannot be read.*iter_0000002.pt "
                                         r"cannot be read.* move .*run away, or delete its checkpoints/ folder"):
        load_latest(checkpoints(tmp_path / "run"))


def test_a_full_disk_while_checkpointing_is_said_and_leaves_no_partial_file(toy, tmp_path, monkeypatch):
    real_save = torch.save

    def disk_full_at_iteration_4(obj, path, *args, **kwargs):
        if "iter_0000004" in str(path):
            Path(path).write_bytes(b"PK\x03\x04 half a checkpoint")  # what a write that ran out of space leaves
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full_at_iteration_4)
    with pytest.raises(OSError, match=r"could not write iter_0000004.pt \(No space left on device; \d+ MB free there\)"
                                      r"\. The partial file was removed .* continue with --resume") as raised:
        train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    assert raised.value.errno == errno.ENOSPC and raised.value.filename.endswith("iter_0000004.pt")
    assert sorted(p.name for p in (tmp_path / "run/checkpoints").iterdir()) == ["iter_0000002.pt"]
    monkeypatch.setattr(torch, "save", real_save)  # space freed: the run continues from iteration 2
    train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET, resume=True)
    train("toy", toy, LOOP_PRESET, tmp_path / "straight", seed=0, device="cpu", config=QUIET)
    assert history_rows(tmp_path / "run") == history_rows(tmp_path / "straight")


def test_final_pt_must_be_the_run_folders_own(toy, tmp_path):
    for seed in (0, 1):
        train("toy", toy, LOOP_PRESET, tmp_path / f"seed{seed}", seed=seed, device="cpu", config=QUIET)
    shutil.copy(tmp_path / "seed1/final.pt", tmp_path / "seed0/final.pt")  # weights of another run
    with pytest.raises(ValueError, match=r"seed0/final.pt holds the weights of another run \(method 'toy', seed 1\): "
                                         r"seed: 1 there, 0 asked"):
        load_or_train("toy", toy, LOOP_PRESET, tmp_path / "seed0", seed=0, device="cpu", config=QUIET)
    final = tmp_path / "seed1/final.pt"
    final.write_bytes(final.read_bytes()[:500])
    with pytest.raises(ValueError, match=r"seed1/final.pt cannot be read .* delete it and run `python -m ctl train "
                                         r"\.\.\. --out .*seed1 --resume`"):
        load_or_train("toy", toy, LOOP_PRESET, tmp_path / "seed1", seed=1, device="cpu", config=QUIET)
    final.unlink()  # as the message says: the last checkpoint (iteration 7) writes it again without training
    load_or_train("toy", toy, LOOP_PRESET, tmp_path / "seed1", seed=1, device="cpu", config=QUIET)
    assert torch.load(final, weights_only=True)["config"]["seed"] == 1
