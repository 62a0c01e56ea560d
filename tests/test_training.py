"""The training loop (ctl.training, ctl.reproducibility) on a tiny stand-in method and data set: data order,
seeding, exact resume, run folders, the NaN/explosion guard, load_or_train and predict_volume.

The stand-ins follow the contracts (``ctl.methods.Method``; ``ctl.data.UnpairedSliceDataset`` items) and use
random numbers in the data (MR draw, noise) and in the step (dropout), so that any RNG the loop fails to
control would show up as a different loss history.
"""
import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

import ctl.training as training
from ctl.methods import METHODS, Method, register
from ctl.presets import PRESETS
from ctl.reproducibility import EpochBatchSampler, SeededItems, rng_state, set_rng_state
from ctl.training import (TrainConfig, TrainingDiverged, checkpoints, load_history, load_or_train, lr_factor,
                          predict_volume, run_folder, train)

PRESET = PRESETS["ci"].replace(iterations=7, checkpoint_every=2, batch_size=3)
QUIET = TrainConfig(progress=False)


class FakeUnpaired(torch.utils.data.Dataset):
    """Contract of ctl.data.UnpairedSliceDataset: 10 CT slices, MR drawn at random, noise as 'augmentation'."""

    def __init__(self, target_labels=False, n=10, size=8):
        g = torch.Generator().manual_seed(123)
        self.ct = torch.rand(n, 1, size, size, generator=g)
        self.mr = torch.rand(n + 3, 1, size, size, generator=g)
        self.target_labels = target_labels

    def __len__(self):
        return len(self.ct)

    def __getitem__(self, i):
        j = int(torch.randint(len(self.mr), ()))  # the MR slice is drawn independently of the CT slice
        item = {"ct": self.ct[i] + 0.01 * torch.randn(1, 8, 8), "ct_label": (self.ct[i, 0] * 5).long().clamp(0, 4),
                "mr": self.mr[j]}
        if self.target_labels:
            item["mr_label"] = (self.mr[j, 0] * 5).long().clamp(0, 4)
        return item


@dataclass(frozen=True)
class ToyConfig:
    lr: float = 1e-2  # large, so that a few steps visibly change the losses


class Toy(Method):
    """Two networks, two optimizers, a part built from the first batch, dropout: a miniature of ``ours``."""

    name = "toy"

    def __init__(self, config=ToyConfig()):
        super().__init__()
        self.config = config
        self.seg = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Dropout(0.3), nn.Conv2d(4, 5, 1))
        self.critic = nn.Conv2d(1, 1, 3, padding=1)
        self.head = None

    @classmethod
    def from_preset(cls, preset):
        return cls()

    @property
    def segmenter(self):
        return self.seg

    def setup(self, batch):
        self.head = nn.Linear(batch["ct"].shape[-1], 2)  # created from the first batch, like CUT's F
        super().setup(batch)

    def configure_optimizers(self):
        return {"critic": torch.optim.Adam(self.critic.parameters(), lr=self.config.lr),
                "main": torch.optim.Adam(list(self.seg.parameters()) + list(self.head.parameters()),
                                         lr=self.config.lr)}

    def train_step(self, batch):
        opt_c, opt_m = self.optimizers["critic"], self.optimizers["main"]
        opt_c.zero_grad()
        loss_c = (self.critic(batch["mr"]) - 1).pow(2).mean() + self.critic(batch["ct"]).pow(2).mean()
        loss_c.backward()
        opt_c.step()
        opt_m.zero_grad()
        seg = nn.functional.cross_entropy(self.seg(batch["ct"]), batch["ct_label"])
        loss_m = seg + self.head(batch["ct"]).pow(2).mean()
        loss_m.backward()
        opt_m.step()
        return {"critic": loss_c.item(), "seg": seg.item()}


@pytest.fixture
def toy(monkeypatch, tmp_path):
    """Registers ``Toy``, points the loop at ``FakeUnpaired`` and makes a prepared folder with meta.json."""
    register(Toy)
    monkeypatch.setattr(training, "training_dataset",
                        lambda prepared, cls, augment: FakeUnpaired(cls.uses_target_labels))
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "meta.json").write_text(json.dumps({"source": "phantom", "image_size": 8}))
    yield prepared
    METHODS.pop("toy")


def _rows(run_dir):
    return json.loads((run_dir / "history.json").read_text())


# --- data order ----------------------------------------------------------------------------------------------
def test_each_epoch_is_a_permutation_in_full_batches():
    sampler = EpochBatchSampler(n_items=10, batch_size=3, seed=0)
    assert sampler.batches_per_epoch == 3
    it = iter(sampler)
    for epoch in range(3):
        keys = [k for _ in range(3) for k in next(it)]
        epochs, indices = np.divmod(keys, 10)
        assert set(epochs) == {epoch}
        assert len(set(indices)) == 9  # 9 distinct slices, one left out of this epoch
    assert sampler.position(7) == (2, 1)


def test_starting_at_an_iteration_continues_the_same_sequence():
    full = iter(EpochBatchSampler(10, 3, seed=5))
    expected = [next(full) for _ in range(11)]
    resumed = iter(EpochBatchSampler(10, 3, seed=5, start_iteration=4))
    assert [next(resumed) for _ in range(7)] == expected[4:]
    other = iter(EpochBatchSampler(10, 3, seed=6))
    assert [next(other) for _ in range(3)] != expected[:3]


def test_sampler_refuses_a_batch_larger_than_the_data():
    with pytest.raises(ValueError, match="4 training slices, batch size 5"):
        EpochBatchSampler(4, 5, seed=0)


def test_seeded_items_repeat_and_leave_the_global_rng_alone():
    items = SeededItems(FakeUnpaired(), seed=1)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    a, b = items[13], items[13]  # epoch 1, slice 3: same draw twice
    assert torch.equal(a["ct"], b["ct"]) and torch.equal(a["mr"], b["mr"])
    assert torch.equal(torch.get_rng_state(), before)
    assert not torch.equal(items[3]["ct"], items[13]["ct"])  # same slice, other epoch: other noise


def test_rng_state_round_trip(tmp_path):
    torch.manual_seed(3)
    np.random.seed(3)
    state = rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3))
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    np.testing.assert_array_equal(np.random.rand(3), expected[1])


# --- learning-rate schedule ----------------------------------------------------------------------------------
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
    train("toy", toy, PRESET.replace(iterations=4), tmp_path / "run", device="cpu", config=QUIET)
    # lr 1e-2, n = 4, decay from s = 2: factors 1, 1, 2/3, 1/3
    for name in ("critic", "main"):
        np.testing.assert_allclose([s[name] for s in seen], [1e-2, 1e-2, 1e-2 * 2 / 3, 1e-2 / 3])


# --- training runs -------------------------------------------------------------------------------------------
def test_a_run_folder_holds_config_history_checkpoints_and_weights(toy, tmp_path):
    run = tmp_path / "run"
    method = train("toy", toy, PRESET, run, seed=0, device="cpu", config=QUIET)
    rows = _rows(run)
    assert [r["iteration"] for r in rows] == list(range(1, 8))
    assert all(np.isfinite(r["critic"]) and np.isfinite(r["seg"]) for r in rows)
    assert rows[0]["seg"] != rows[-1]["seg"]
    assert [p.name for p in checkpoints(run)] == ["iter_0000006.pt", "iter_0000007.pt"]  # keep 2 of 2, 4, 6, 7
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "toy" and config["seed"] == 0 and config["preset"]["iterations"] == 7
    assert (run / "final.pt").exists() and not method.training
    assert load_history(run)["seg"].shape == (7,)


def test_same_seed_same_history_other_seed_other_history(toy, tmp_path):
    train("toy", toy, PRESET, tmp_path / "a", seed=0, device="cpu", config=QUIET)
    train("toy", toy, PRESET, tmp_path / "b", seed=0, device="cpu", config=QUIET)
    train("toy", toy, PRESET, tmp_path / "c", seed=1, device="cpu", config=QUIET)
    assert _rows(tmp_path / "a") == _rows(tmp_path / "b")
    assert _rows(tmp_path / "a") != _rows(tmp_path / "c")


def test_resume_after_an_interruption_repeats_the_uninterrupted_history(toy, tmp_path, monkeypatch):
    reference = train("toy", toy, PRESET, tmp_path / "straight", seed=0, device="cpu", config=QUIET)

    calls = {"n": 0}
    original = Toy.train_step

    def interrupted(self, batch):
        calls["n"] += 1
        if calls["n"] == 6:  # dies during iteration 6; the last checkpoint is at iteration 4
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Toy, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train("toy", toy, PRESET, tmp_path / "broken", seed=0, device="cpu", config=QUIET)
    monkeypatch.setattr(Toy, "train_step", original)
    assert checkpoints(tmp_path / "broken")[-1].name == "iter_0000004.pt"
    state = torch.load(checkpoints(tmp_path / "broken")[-1], weights_only=True)
    assert state["data_position"] == {"epoch": 1, "batch": 1, "batches_per_epoch": 3}  # 10 items, batches of 3
    with pytest.raises(ValueError, match="resume=True"):
        train("toy", toy, PRESET, tmp_path / "broken", seed=0, device="cpu", config=QUIET)
    resumed = train("toy", toy, PRESET, tmp_path / "broken", seed=0, device="cpu", config=QUIET, resume=True)

    assert _rows(tmp_path / "broken") == _rows(tmp_path / "straight")  # bit for bit
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_resume_refuses_training_data_of_another_size(toy, tmp_path, monkeypatch):
    original = Toy.train_step

    def stop_after_the_first_checkpoint(self, batch):
        if checkpoints(tmp_path / "run"):
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Toy, "train_step", stop_after_the_first_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train("toy", toy, PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    monkeypatch.setattr(training, "training_dataset", lambda prepared, cls, augment: FakeUnpaired(n=7))
    with pytest.raises(ValueError, match=r"training data changed .* \(batches per epoch 3 then, 2 now\)"):
        train("toy", toy, PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET, resume=True)


def test_load_or_train_loads_a_finished_run_without_training(toy, tmp_path, monkeypatch):
    trained = load_or_train("toy", toy, PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    monkeypatch.setattr(Toy, "train_step", lambda self, batch: pytest.fail("load_or_train trained again"))
    loaded = load_or_train("toy", toy, PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    for (name, a), b in zip(trained.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_run_folder_of_another_configuration_is_refused(toy, tmp_path):
    load_or_train("toy", toy, PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    with pytest.raises(ValueError, match=r"different configuration \(differs in \['seed'\]\)"):
        load_or_train("toy", toy, PRESET, tmp_path / "run", seed=1, device="cpu", config=QUIET)
    with pytest.raises(ValueError, match=r"differs in \['preset'\]"):
        load_or_train("toy", toy, PRESET.replace(lr=1e-3), tmp_path / "run", seed=0, device="cpu", config=QUIET)


def test_load_or_train_can_set_a_changed_run_aside_and_train_again(toy, tmp_path, monkeypatch):
    load_or_train("toy", toy, PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    changed = PRESET.replace(iterations=3)
    method = load_or_train("toy", toy, changed, tmp_path / "run", seed=0, device="cpu", config=QUIET,
                           on_config_change="retrain")
    assert len(_rows(tmp_path / "run")) == 3 and not method.training
    (old,) = tmp_path.glob("run.replaced-*")
    assert len(_rows(old)) == 7 and (old / "final.pt").exists()  # the earlier run is kept, not deleted
    with pytest.raises(ValueError, match="on_config_change must be"):
        load_or_train("toy", toy, changed, tmp_path / "run", device="cpu", config=QUIET, on_config_change="wipe")


def test_missing_meta_json_is_explained(toy, tmp_path):
    (toy / "meta.json").unlink()
    with pytest.raises(FileNotFoundError, match="not a prepared data folder"):
        train("toy", toy, PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)


def test_unknown_method_lists_the_known_ones(toy, tmp_path):
    with pytest.raises(ValueError, match="unknown method 'nope'.*source_only"):
        train("nope", toy, PRESET, tmp_path / "run", device="cpu", config=QUIET)


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
        train("toy", toy, PRESET, tmp_path / "run", seed=0, device="cpu", config=QUIET)
    assert [p.name for p in checkpoints(tmp_path / "run")] == ["iter_0000002.pt", "iter_0000004.pt"]
    assert not (tmp_path / "run" / "final.pt").exists()


# --- test time -----------------------------------------------------------------------------------------------
class Threshold(nn.Module):
    """Logits whose argmax is floor(4 * x) clipped to 0..3, worked out by hand per pixel."""

    def forward(self, x):  # (B, 1, H, W) -> (B, 4, H, W)
        centres = torch.tensor([0.125, 0.375, 0.625, 0.875]).view(1, 4, 1, 1)
        return -(x - centres).abs()


def test_predict_volume_segments_slice_by_slice():
    image = np.array([[[0.0, 0.3], [0.6, 0.9]], [[0.26, 0.74], [1.0, 0.1]], [[0.5, 0.5], [0.5, 0.5]]])  # (3, 2, 2)
    expected = np.array([[[0, 1], [2, 3]], [[1, 2], [3, 0]], [[1, 1], [1, 1]]], dtype=np.uint8)
    net = Threshold().train()
    for batch in (1, 2, 16):
        labels = predict_volume(net, image, device="cpu", batch=batch)
        np.testing.assert_array_equal(labels, expected)
        assert labels.dtype == np.uint8 and labels.shape == image.shape
    assert net.training  # mode restored


@pytest.mark.parametrize("image, match", [(np.zeros((4, 4)), r"expected a volume \(Z, H, W\)"),
                                          (np.full((1, 4, 4), 255.0), "values span"),
                                          (np.zeros((1, 4, 4)), "batch must be")])
def test_predict_volume_refuses_bad_input(image, match):
    with pytest.raises(ValueError, match=match):
        predict_volume(Threshold(), image, device="cpu", batch=0 if "batch" in match else 4)


# --- command line --------------------------------------------------------------------------------------------
def test_ctl_train_command(toy, tmp_path, monkeypatch, capsys):
    from ctl.__main__ import main

    monkeypatch.setenv("CTL_PRESET", "ci")
    args = ["train", "--method", "toy", "--data", str(toy), "--preset", "ci", "--out", str(tmp_path / "run"),
            "--device", "cpu"]
    assert main(args) == 0
    assert "trained toy: 6 iterations" in capsys.readouterr().out
    assert len(_rows(tmp_path / "run")) == PRESETS["ci"].iterations
    assert main(args) == 0
    assert "already trained" in capsys.readouterr().out
    assert main(args[:-4] + ["--out", str(tmp_path / "other"), "--method", "nope"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err


def test_ctl_train_resume_flag(toy, tmp_path, monkeypatch, capsys):
    from ctl.__main__ import main

    monkeypatch.setenv("CTL_PRESET", "ci")
    original, calls = Toy.train_step, {"n": 0}

    def interrupted(self, batch):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Toy, "train_step", interrupted)
    args = ["train", "--method", "toy", "--data", str(toy), "--preset", "ci", "--out", str(tmp_path / "run"),
            "--device", "cpu"]
    with pytest.raises(KeyboardInterrupt):
        main(args)
    monkeypatch.setattr(Toy, "train_step", original)
    assert main(args) == 2
    assert "pass resume=True (--resume)" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0
    assert "resuming toy from iteration 3" in capsys.readouterr().out
    assert [r["iteration"] for r in _rows(tmp_path / "run")] == list(range(1, 7))


def test_phantom_and_real_runs_get_their_own_folders(tmp_path):
    assert run_folder(tmp_path, "ours", "cpu", 2) == tmp_path / "train" / "ours-cpu-seed2"
    assert run_folder(tmp_path, "ours", "cpu", 2, "real") == tmp_path / "train" / "ours-cpu-real-seed2"
    with pytest.raises(ValueError, match="data_source must be"):
        run_folder(tmp_path, "ours", "cpu", 2, "btcv")
