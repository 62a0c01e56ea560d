"""ctl.methods.base: the registry and its rules, and the contract every registered method keeps, checked for each
of them: a few steps give finite, changing losses; each optimizer moves only its own networks, once, in the
method's update order; only the oracle reads MR labels and nothing reads the evaluation-only paired MR; mixed
precision; the translating methods expose ``translate``; resume through the loop repeats the history bit for bit.
"""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

import ctl.training.loop as loop
from conftest import (TINY, NoTargetLabels, TinyUnpaired, assert_optimizers_move_only_their_own, built,
                      tiny_batch)
from ctl import data
from ctl.data import prepared as prepared_module
from ctl.device import Amp
from ctl.evaluate import translator_of
from ctl.methods import (ALL_BATCH_KEYS, METHODS, SIFA, CycleGAN, CycleGANConfig, Method, SIFAConfig, SynSeg,
                         SynSegConfig, method_class, register)
from ctl.presets import PRESETS
from ctl.training import TrainConfig, checkpoints, load_or_train, train

TABLE_1 = {"source_only", "oracle", "ours", "cyclegan", "synseg", "adaptseg", "sifa"}
TRANSLATION_ONLY = {"lsgan", "cut"}
TRANSLATING = {"ours", "cyclegan", "synseg", "sifa", "lsgan", "cut"}  # methods with translate(ct) -> fake MR

# method -> the losses its step returns
LOSS_KEYS = {
    "source_only": {"seg"},
    "oracle": {"seg"},
    "ours": {"d", "gan", "nce_source", "nce_target", "seg", "total"},
    "cyclegan": {"gan_mr", "gan_ct", "cycle_ct", "cycle_mr", "idt_mr", "idt_ct", "d_mr", "d_ct", "seg"},
    "synseg": {"gan_mr", "gan_ct", "cycle_ct", "cycle_mr", "seg", "d_mr", "d_ct"},
    "adaptseg": {"seg", "adv", "d"},
    "sifa": {"gan_mr", "gan_ct", "cycle_ct", "cycle_mr", "seg", "adv_seg", "adv_aux", "d_mr", "d_ct", "d_seg"},
    "lsgan": {"d", "gan", "total"},
    "cut": {"d", "gan", "nce_source", "nce_target", "total"},
}

# method -> {optimizer name: the networks it alone moves}, in the order the optimizers step
OWNERS = {
    "source_only": lambda m: {"segmenter": [m.unet]},
    "oracle": lambda m: {"segmenter": [m.unet]},
    "ours": lambda m: {"discriminator": [m.translator.D],
                       "generator_segmenter": [m.translator.G, m.translator.F, m.unet]},
    "cyclegan": lambda m: {"generators": [m.translator.G_ct2mr, m.translator.G_mr2ct],
                           "discriminators": [m.translator.D_mr, m.translator.D_ct], "segmenter": [m.unet]},
    "synseg": lambda m: {"generators_segmenter": [m.translator.G_ct2mr, m.translator.G_mr2ct, m.unet],
                         "discriminators": [m.translator.D_mr, m.translator.D_ct]},
    "adaptseg": lambda m: {"segmenter": [m.unet], "discriminator": [m.D]},
    "sifa": lambda m: {"generator": [m.G], "decoder": [m.decoder], "segmenter": [m.unet],
                       "discriminators": [m.D_mr, m.D_ct, m.D_seg]},
    "lsgan": lambda m: {"discriminator": [m.translator.D], "generator": [m.translator.G]},  # no F without PatchNCE
    "cut": lambda m: {"discriminator": [m.translator.D], "generator": [m.translator.G, m.translator.F]},
}


# --- the registry ----------------------------------------------------------------------------------------------
def test_the_registered_methods_are_table_1_and_the_two_translators():
    assert set(METHODS) == TABLE_1 | TRANSLATION_ONLY
    assert {name for name, cls in METHODS.items() if cls.in_table1} == TABLE_1
    assert set(LOSS_KEYS) == set(OWNERS) == set(METHODS)  # every method is checked below, none is left out
    with pytest.raises(ValueError, match="unknown method 'nope'.*'ours'"):
        method_class("nope")


def test_the_baselines_are_m1_to_m4_of_table_1_and_read_ct_labels_and_mr_images():
    for k, name in enumerate(("cyclegan", "synseg", "adaptseg", "sifa"), start=1):
        assert METHODS[name].description.startswith(f"M{k} "), name
        assert set(METHODS[name].batch_keys) == {"ct", "ct_label", "mr"}, name


def test_only_the_oracle_declares_and_reads_target_labels():
    readers = {name for name, cls in METHODS.items() if cls.uses_target_labels}
    assert readers == {"oracle"}
    for name, cls in METHODS.items():
        assert ("mr_label" in cls.batch_keys) == cls.uses_target_labels, name
        assert set(cls.batch_keys) <= set(ALL_BATCH_KEYS), name
    assert "upper bound" in METHODS["oracle"].description and "MR labels" in METHODS["oracle"].description


def test_register_refuses_a_method_reading_target_labels_without_saying_so():
    class Sneaky(Method):
        name = "sneaky"
        batch_keys = ("mr", "mr_label")

    with pytest.raises(ValueError, match="reads 'mr_label'.*uses_target_labels"):
        register(Sneaky)
    Sneaky.batch_keys = ("ct", "mr_labels")
    with pytest.raises(ValueError, match=r"unknown keys \['mr_labels'\]"):
        register(Sneaky)
    Sneaky.name, Sneaky.batch_keys = "ours", ("ct",)
    with pytest.raises(ValueError, match="'ours' is taken"):
        register(Sneaky)
    assert "sneaky" not in METHODS


def test_a_step_before_setup_is_refused():
    method = method_class("source_only").from_preset(TINY)
    with pytest.raises(RuntimeError, match="call setup"):
        method.train_step(tiny_batch())


# --- every method ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_few_steps_give_finite_changing_losses_without_reading_mr_labels(name):
    method, _ = built(name)
    cls = METHODS[name]
    batches = [{k: tiny_batch(seed=s)[k] for k in cls.batch_keys} for s in range(4)]
    if not cls.uses_target_labels:
        batches = [NoTargetLabels(b) for b in batches]  # fails the test if the step reads "mr_label"
    history = [method.train_step(b) for b in batches]
    assert set(history[0]) == LOSS_KEYS[name]
    for key in history[0]:
        values = np.array([h[key] for h in history])
        assert np.isfinite(values).all(), (key, values)
        assert len(set(values.tolist())) > 1, f"{name}: loss {key!r} did not change: {values}"
    if cls.in_table1:
        assert method.eval().segmenter(tiny_batch()["mr"]).shape == (2, 5, 32, 32)
    else:
        with pytest.raises(TypeError, match="no segmenter and is not a row of Table 1"):
            method.segmenter


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_optimizer_moves_only_its_own_networks(name):
    method, batch = built(name)
    assert_optimizers_move_only_their_own(method, batch, OWNERS[name](method))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_optimizer_steps_once_in_the_reference_order(name):
    method, batch = built(name)
    order = []
    for key, optimizer in method.optimizers.items():
        original = optimizer.step
        optimizer.step = lambda *a, _k=key, _o=original, **kw: (order.append(_k), _o(*a, **kw))[1]
    method.train_step(batch)
    assert order == list(OWNERS[name](method))  # so the segmenter (or the translator) is updated exactly once


@pytest.mark.parametrize("name", sorted(METHODS))
def test_exactly_the_translating_methods_expose_their_ct_to_mr_generator(name):
    """Figure 2 and the fidelity measures (notebook 05) show every method that translates CT, and only those."""
    method, _ = built(name)
    translate = translator_of(method)
    assert (translate is not None) == (name in TRANSLATING)
    if translate is not None:
        with torch.no_grad():
            fake = translate(tiny_batch()["ct"])
        assert fake.shape == (2, 1, 32, 32) and 0 <= fake.min() and fake.max() <= 1


@pytest.mark.parametrize("name", sorted(METHODS))
def test_training_reads_target_labels_only_for_the_oracle_and_never_the_paired_mr(name, ci_prepared, tmp_path,
                                                                                  monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("training read the evaluation-only paired MR")

    monkeypatch.setattr(data, "load_paired_mr", forbidden)
    monkeypatch.setattr(prepared_module, "load_paired_mr", forbidden)
    real_np_load = np.load
    monkeypatch.setattr(np, "load", lambda path, *a, **k: forbidden() if "paired_mr" in str(path)
                        else real_np_load(path, *a, **k))
    datasets, batches = [], []
    real_dataset = data.UnpairedSliceDataset

    def spy_dataset(*args, **kwargs):
        datasets.append(kwargs)
        return real_dataset(*args, **kwargs)

    monkeypatch.setattr(data, "UnpairedSliceDataset", spy_dataset)
    cls = METHODS[name]
    real_step = cls.train_step
    monkeypatch.setattr(cls, "train_step", lambda self, batch: (batches.append(set(batch)), real_step(self, batch))[1])
    reads_before = data.paired_mr_reads()

    preset = PRESETS["ci"].replace(iterations=2, checkpoint_every=1)
    load_or_train(name, ci_prepared, preset, tmp_path / name, device="cpu", config=TrainConfig(progress=False))
    load_or_train(name, ci_prepared, preset, tmp_path / name, device="cpu", config=TrainConfig(progress=False))

    assert [d["target_labels"] for d in datasets] == [cls.uses_target_labels] * 2  # train, then load
    assert batches == [set(cls.batch_keys)] * 2
    assert ("mr_label" in batches[0]) == (name == "oracle")
    assert data.paired_mr_reads() == reads_before


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_step_runs_under_autocast(name):
    """The mixed-precision path (autocast in every forward pass) of each method, exercised on the CPU with
    bfloat16, the dtype CUDA uses on recent GPUs; float16 with loss scaling needs a GPU to be tested."""
    method, batch = built(name)
    method.amp = Amp(device_type="cpu", dtype=torch.bfloat16)
    before = {k: v.clone() for k, v in method.state_dict().items() if isinstance(v, torch.Tensor)}
    for _ in range(2):
        losses = method.train_step(batch)
        method.amp.update()
    assert all(np.isfinite(v) for v in losses.values()), losses
    moved = {k for k, v in method.state_dict().items() if k in before and not torch.equal(before[k], v)}
    for network in OWNERS[name](method).values():  # every network every optimizer owns was trained
        for module in network:
            names = {k for k, p in method.named_parameters() if any(p is q for q in module.parameters())}
            assert names & moved, f"{name}: a network did not move under autocast"


def _small_pools(monkeypatch):
    """Pools of 3 images: full after two iterations, so that the random swaps and the saved pool matter."""
    monkeypatch.setattr(CycleGAN, "from_preset", classmethod(lambda cls, preset: cls(
        CycleGANConfig.from_preset(preset, pool_size=3))))
    monkeypatch.setattr(SynSeg, "from_preset", classmethod(lambda cls, preset: cls(
        SynSegConfig.from_preset(preset, pool_size=3))))
    monkeypatch.setattr(SIFA, "from_preset", classmethod(lambda cls, preset: cls(
        replace(SIFAConfig.from_preset(preset), pool_size=3))))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(METHODS))
def test_resume_repeats_the_uninterrupted_history(name, tmp_path, monkeypatch):
    """Every method's state (networks, optimizers, pools, warm-up counters) survives a checkpoint."""
    _small_pools(monkeypatch)
    monkeypatch.setattr(loop, "training_dataset", lambda prepared, cls, augment: TinyUnpaired(cls.uses_target_labels))
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "meta.json").write_text(json.dumps({"source": "phantom", "image_size": 32}))
    preset, quiet = TINY.replace(iterations=6, checkpoint_every=2), TrainConfig(progress=False)
    straight = train(name, prepared, preset, tmp_path / "straight", seed=0, device="cpu", config=quiet)

    cls, calls = METHODS[name], {"n": 0}
    original = cls.train_step

    def interrupted(self, batch):
        calls["n"] += 1
        if calls["n"] == 5:  # dies in iteration 5; the last checkpoint is at 4
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(cls, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(name, prepared, preset, tmp_path / "broken", seed=0, device="cpu", config=quiet)
    monkeypatch.setattr(cls, "train_step", original)
    assert checkpoints(tmp_path / "broken")[-1].name == "iter_0000004.pt"
    resumed = train(name, prepared, preset, tmp_path / "broken", seed=0, device="cpu", config=quiet, resume=True)

    rows = [json.loads((tmp_path / run / "history.json").read_text()) for run in ("straight", "broken")]
    assert len(rows[0]) == 6 and rows[0] == rows[1]  # bit for bit
    for (key, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), key
        else:  # a pool's extra state
            assert a["size"] == b["size"] and torch.equal(a["images"], b["images"]), key
    pools = [m for m in straight.modules() if type(m).__name__ == "ImagePool"]
    assert all(pool.full for pool in pools)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_translate_runs_the_generator_and_refuses_without_one(name):
    method = method_class(name).from_preset(TINY).eval()
    ct = tiny_batch()["ct"]
    if method.generator is None:
        assert name in ("source_only", "oracle", "adaptseg")
        with pytest.raises(TypeError, match="does not translate CT to MR"):
            method.translate(ct)
    else:
        with torch.no_grad():
            torch.testing.assert_close(method.translate(ct), method.generator(ct))
