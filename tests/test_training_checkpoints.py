"""ctl.training.checkpoints: atomic writes, only the newest kept, and a restore that refuses changed data."""
import pytest
import torch

import ctl.training.loop as loop
from conftest import LOOP_PRESET, QUIET, FakeUnpaired, Toy
from ctl.training import checkpoints, train
from ctl.training.checkpoints import atomic_save, load_checkpoint


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
