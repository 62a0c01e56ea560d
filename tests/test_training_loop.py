"""ctl.training.loop on a tiny stand-in method and data set (``Toy``, ``FakeUnpaired`` in conftest.py): the
learning-rate schedule, the files of a run, seeding, exact resume, load_or_train, the NaN/explosion guard, and the
arguments checked before anything is written.

The stand-ins follow the contracts (``ctl.methods.Method``; ``ctl.data.UnpairedSliceDataset`` items) and use
random numbers in the data (MR draw, noise) and in the step (dropout), so that any RNG the loop fails to
control would show up as a different loss history.
"""
import json

import numpy as np
import pytest
import torch

from conftest import LOOP_PRESET, QUIET, Toy, history_rows
from ctl.presets import PRESETS
from ctl.training import (AlreadyTrained, TrainConfig, TrainingDiverged, checkpoints, load_history, load_or_train,
                          lr_factor, train)
from ctl.training.loop import resolve_device


def test_lr_factor_is_constant_then_linear_as_in_cut():
    # n = 10, decay from s = 5: 1 for iterations 0..4, then 1 - k / 6 for k = 1..5
    expected = [1, 1, 1, 1, 1, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6]
    np.testing.assert_allclose([lr_factor(i, 10, 0.5) for i in range(10)], expected)
    assert [lr_factor(i, 4, 1.0) for i in range(4)] == [1, 1, 1, 1]  # no decay
    np.testing.assert_allclose([lr_factor(i, 4, 0.0) for i in range(4)], [4 / 5, 3 / 5, 2 / 5, 1 / 5])


@pytest.mark.parametrize("changes, match", [({"decay_from": 1.5}, "decay_from"),
                                            ({"keep_checkpoints": 0}, "keep_checkpoints")])
def test_train_config_refuses_bad_values(changes, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**changes)


def test_the_loop_applies_the_schedule_to_every_optimizer(toy, tmp_path, monkeypatch):
    seen, original = [], Toy.train_step

    def spy(self, batch):
        seen.append({name: opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()})
        return original(self, batch)

    monkeypatch.setattr(Toy, "train_step", spy)
    train("toy", toy, LOOP_PRESET.replace(iterations=4), tmp_path / "run", device="cpu", config=QUIET)
    # lr 1e-2, n = 4, decay from s = 2: factors 1, 1, 2/3, 1/3
    for name in ("critic", "main"):
        np.testing.assert_allclose([s[name] for s in seen], [1e-2, 1e-2, 1e-2 * 2 / 3, 1e-2 / 3])


def test_a_run_folder_holds_config_history_checkpoints_and_weights(toy, tmp_path):
    run = tmp_path / "run"
    method = train("toy", toy, LOOP_PRESET, run, seed=0, device="cpu", config=QUIET)
    rows = history_rows(run)
    assert [r["iteration"] for r in rows] == list(range(1, 8))
    assert all(np.isfinite(r["critic"]) and np.isfinite(r["seg"]) for r in rows)
    assert rows[0]["seg"] != rows[-1]["seg"]
    assert [p.name for p in checkpoints(run)] == ["iter_0000006.pt", "iter_0000007.pt"]  # keep 2 of 2, 4, 6, 7
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "toy" and config["seed"] == 0 and config["preset"]["iterations"] == 7
    assert (run / "final.pt").exists() and not method.training
    assert load_history(run)["seg"].shape == (7,)


def test_same_seed_same_history_other_seed_other_history(toy, tmp_path):
    train("toy", toy, LOOP_PRESET, tmp_path / "a", seed=0, device="cpu", config=QUIET)
    train("toy", toy, LOOP_PRESET, tmp_path / "b", seed=0, device="cpu", config=QUIET)
    train("toy", toy, LOOP_PRESET, tmp_path / "c", seed=1, device="cpu", config=QUIET)
    assert history_rows(tmp_path / "a") == history_rows(tmp_path / "b")
    assert history_rows(tmp_path / "a") != history_rows(tmp_path / "c")


def test_resume_after_an_interruption_repeats_the_uninterrupted_history(toy, tmp_path, monkeypatch):
    reference = train("toy", toy, LOOP_PRESET, tmp_path / "straight", seed=0, device="cpu", config=QUIET)

    calls = {"n": 0}
    original = Toy.train_step

    def interrupted(self, batch):
        calls["n"] += 1
        if calls["n"] == 6:  # dies during iteration 6; the last checkpoint is at iteration 4
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Toy, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train("toy", toy, LOOP_PRESET, tmp_path / "broken", seed=0, device="cpu", config=QUIET)
    monkeypatch.setattr(Toy, "train_step", original)
    assert checkpoints(tmp_path / "broken")[-1].name == "iter_0000004.pt"
    state = torch.load(checkpoints(tmp_path / "broken")[-1], weights_only=True)
    assert state["data_position"] == {"epoch": 1, "batch": 1, "batches_per_epoch": 3}  # 10 items, batches of 3
    with pytest.raises(ValueError, match="resume=True"):
        train("toy", toy, LOOP_PRESET, tmp_path / "broken", seed=0, device="cpu", config=QUIET)
    resumed = train("toy", toy, LOOP_PRESET, tmp_path / "broken", seed=0, device="cpu", config=QUIET, resume=True)

    assert history_rows(tmp_path / "broken") == history_rows(tmp_path / "straight")  # bit for bit
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_load_or_train_loads_a_finished_run_without_training(toy, tmp_path, monkeypatch):
    trained = load_or_train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    monkeypatch.setattr(Toy, "train_step", lambda self, batch: pytest.fail("load_or_train trained again"))
    loaded = load_or_train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    for (name, a), b in zip(trained.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_run_folder_of_another_configuration_is_refused(toy, tmp_path):
    load_or_train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    with pytest.raises(ValueError, match=r"different configuration \(differs in \['seed'\]: seed: 0 there, 1 asked\)"):
        load_or_train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=1, device="cpu", config=QUIET)
    with pytest.raises(ValueError, match=r"differs in \['preset'\]: preset.lr: 0.0002 there, 0.001 asked"):
        load_or_train("toy", toy, LOOP_PRESET.replace(lr=1e-3), tmp_path / "run", seed=0, device="cpu", config=QUIET)


def test_load_or_train_can_set_a_changed_run_aside_and_train_again(toy, tmp_path, monkeypatch):
    load_or_train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    changed = LOOP_PRESET.replace(iterations=3)
    method = load_or_train("toy", toy, changed, tmp_path / "run", seed=0, device="cpu", config=QUIET,
                           on_config_change="retrain")
    assert len(history_rows(tmp_path / "run")) == 3 and not method.training
    (old,) = tmp_path.glob("run.replaced-*")
    assert len(history_rows(old)) == 7 and (old / "final.pt").exists()  # the earlier run is kept, not deleted
    with pytest.raises(ValueError, match="on_config_change must be"):
        load_or_train("toy", toy, changed, tmp_path / "run", device="cpu", config=QUIET, on_config_change="wipe")


def test_unknown_method_lists_the_known_ones(toy, tmp_path):
    with pytest.raises(ValueError, match="unknown method 'nope'.*source_only"):
        train("nope", toy, LOOP_PRESET, tmp_path / "run", device="cpu", config=QUIET)


@pytest.mark.parametrize("bad, match", [(float("nan"), "is not finite"), (5e3, "exceeds max_loss=1000")])
def test_a_diverging_loss_stops_with_the_iteration_and_keeps_the_last_checkpoint(toy, tmp_path, monkeypatch,
                                                                                 bad, match):
    original, calls = Toy.train_step, {"n": 0}

    def diverging(self, batch):
        calls["n"] += 1
        losses = original(self, batch)
        return {**losses, "seg": bad} if calls["n"] == 5 else losses

    monkeypatch.setattr(Toy, "train_step", diverging)
    with pytest.raises(TrainingDiverged, match=rf"iteration 5: loss 'seg' = .* {match}.*iter_0000004.pt"):
        train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    assert [p.name for p in checkpoints(tmp_path / "run")] == ["iter_0000002.pt", "iter_0000004.pt"]
    assert not (tmp_path / "run" / "final.pt").exists()


@pytest.mark.parametrize("changes, match", [({"iterations": 0}, "iterations=0"), ({"checkpoint_every": 0},
                                             "checkpoint_every=0"), ({"batch_size": -1}, "batch_size=-1"),
                                            ({"iterations": 2.5}, "iterations=2.5")])
def test_a_schedule_that_cannot_train_is_refused_before_anything_is_written(toy, tmp_path, changes, match):
    with pytest.raises(ValueError, match=rf"preset 'ci': {match}; it must be a whole number of at least 1"):
        train("toy", toy, LOOP_PRESET.replace(**changes), tmp_path / "run", device="cpu", config=QUIET)
    assert not (tmp_path / "run").exists()


def test_an_unknown_device_is_refused_with_the_choices(toy, tmp_path):
    with pytest.raises(ValueError, match=r"device 'tpu' is not a device torch knows; use 'cpu', 'cuda' or 'mps'"):
        train("toy", toy, LOOP_PRESET, tmp_path / "run", device="tpu", config=QUIET)
    assert resolve_device("cpu") == torch.device("cpu")


def test_a_finished_run_is_checked_before_it_is_called_finished(toy, tmp_path):
    train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    with pytest.raises(AlreadyTrained, match="already trained .*same configuration.*nothing to do"):
        train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    with pytest.raises(ValueError, match=r"differs in \['seed'\]"):  # not "already trained" for another seed
        train("toy", toy, LOOP_PRESET, tmp_path / "run", seed=2, device="cpu", config=QUIET)
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        train("nope", toy, LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    with pytest.raises(FileNotFoundError, match="not a prepared data folder"):
        train("toy", tmp_path / "nowhere", LOOP_PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)


def test_channels_last_changes_the_layout_not_the_result(ci_prepared, tmp_path):
    """The NHWC layout makes oneDNN's convolutions faster; the losses of the same run agree to float rounding."""
    from ctl.training.loop import memory_format

    assert memory_format(torch.device("cpu"), TrainConfig()) == torch.channels_last
    assert memory_format(torch.device("cpu"), TrainConfig(channels_last=False)) == torch.contiguous_format
    assert memory_format(torch.device("mps"), TrainConfig()) == torch.contiguous_format
    preset = PRESETS["ci"].replace(iterations=4, checkpoint_every=4)
    histories = {}
    for layout in (True, False):
        config = TrainConfig(channels_last=layout, amp=False, progress=False)
        method = train("source_only", ci_prepared, preset, tmp_path / f"nhwc-{layout}", device="cpu", config=config)
        weight = method.unet.head.weight
        assert weight.is_contiguous(memory_format=torch.channels_last) == layout or weight.shape[-1] == 1
        histories[layout] = [row["seg"] for row in history_rows(tmp_path / f"nhwc-{layout}")]
    assert histories[True] == pytest.approx(histories[False], rel=1e-4)
