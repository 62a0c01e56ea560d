"""The methods (ctl.methods): registry rules, a few steps at a tiny size, which optimizer moves which networks,
who reads target labels, and that training never touches the evaluation-only paired MR.

``assert_optimizers_move_only_their_own`` and ``tiny_batch`` are written to be reused for every method of
Table 1 (the baselines included): the parametrised tests below run over everything in ``METHODS``.
"""
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

import ctl.training as training
from ctl.methods import ALL_BATCH_KEYS, METHODS, Method, method_class, register
from ctl.presets import PRESETS

TINY = PRESETS["ci"].replace(image_size=32, ngf=4, n_blocks=1, ndf=4, num_patches=8, mlp_width=8, unet_base=4,
                             unet_depth=2, batch_size=2, nce_layers=("input", "stem", "down1", "res0"))


def tiny_batch(size: int = 32, batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """Every key a method may read: CT and MR slices in [0, 1] with organ-like squares as labels."""
    g = torch.Generator().manual_seed(seed)
    ct_label = torch.zeros(batch, size, size, dtype=torch.long)
    ct_label[:, 4:16, 4:16], ct_label[:, 20:26, 4:10] = 1, 2  # liver, right kidney (on the image's left)
    ct_label[:, 20:26, 22:28], ct_label[:, 6:14, 20:28] = 3, 4  # left kidney, spleen
    mr_label = torch.roll(ct_label, shifts=1, dims=-1)
    # the organs alike in CT (as liver and spleen are), told apart by their grey value in MR
    ct = 0.2 + 0.3 * (ct_label > 0).float() + 0.05 * torch.rand(batch, size, size, generator=g)
    mr = 0.1 + 0.15 * mr_label.float() + 0.05 * torch.rand(batch, size, size, generator=g)
    return {"ct": ct[:, None], "ct_label": ct_label, "mr": mr[:, None], "mr_label": mr_label}


def built(name: str, seed: int = 0, preset=TINY) -> tuple[Method, dict[str, torch.Tensor]]:
    """The method at the tiny size, set up on the keys it declares."""
    torch.manual_seed(seed)
    cls = method_class(name)
    method = cls.from_preset(preset)
    batch = {k: tiny_batch()[k] for k in cls.batch_keys}
    method.setup(batch)
    return method.train(), batch


def assert_optimizers_move_only_their_own(method: Method, batch: dict, owners: dict[str, list[nn.Module]]) -> None:
    """Run one step with every optimizer's ``step`` spied on; each must change parameters of ``owners[name]``
    and of nothing else (e.g. D's step leaves G and U alone, and the G/U step leaves D alone)."""
    params = dict(method.named_parameters())
    changed: dict[str, set[str]] = {}
    for name, optimizer in method.optimizers.items():
        original = optimizer.step

        def spy(*args, _name=name, _original=original, **kwargs):
            before = {k: p.detach().clone() for k, p in params.items()}
            result = _original(*args, **kwargs)
            changed[_name] = {k for k, p in params.items() if not torch.equal(before[k], p.detach())}
            return result

        optimizer.step = spy
    method.train_step(batch)
    assert set(changed) == set(owners), f"optimizers that stepped: {sorted(changed)}"
    for name, modules in owners.items():
        own = {k for k, p in params.items() if any(p is q for m in modules for q in m.parameters())}
        assert changed[name], f"optimizer {name!r} moved nothing"
        assert changed[name] <= own, f"optimizer {name!r} moved {sorted(changed[name] - own)}"
        for module in modules:  # every network an optimizer owns really moves
            assert any(k in changed[name] for k, p in params.items() if any(p is q for q in module.parameters()))


# --- registry --------------------------------------------------------------------------------------------
def test_the_three_methods_of_this_issue_are_registered():
    assert {"source_only", "oracle", "ours"} <= set(METHODS)
    with pytest.raises(ValueError, match="unknown method 'cut'.*'ours'"):
        method_class("cut")


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


# --- a few steps of every method -------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_few_steps_give_finite_changing_losses(name):
    method, batch = built(name)
    history = [method.train_step(batch) for _ in range(4)]
    assert set(history[0]) >= {"seg"} or name not in ("source_only", "oracle", "ours")
    for key in history[0]:
        values = np.array([h[key] for h in history])
        assert np.isfinite(values).all(), (key, values)
        assert len(set(values.tolist())) > 1, f"{name}: loss {key!r} did not change: {values}"
    segmenter = method.segmenter.eval()
    logits = segmenter(tiny_batch()["mr"])
    assert logits.shape == (2, 5, 32, 32)


@pytest.mark.parametrize("name", ["source_only", "oracle"])
def test_the_bounds_learn_their_own_domain(name):
    method, batch = built(name, preset=TINY.replace(lr=1e-2))  # a large rate: a visible drop in 40 steps
    first = method.train_step(batch)["seg"]
    for _ in range(40):
        last = method.train_step(batch)["seg"]
    assert last < 0.5 * first


# --- which optimizer moves which networks ----------------------------------------------------------------
# Optimizer name -> the networks it alone may move, for the methods of this module (the baselines have theirs in
# test_baselines.py).
OWNERS = {
    "source_only": lambda m: {"segmenter": [m.unet]},
    "oracle": lambda m: {"segmenter": [m.unet]},
    "ours": lambda m: {"discriminator": [m.translator.D],
                       "generator_segmenter": [m.translator.G, m.translator.F, m.unet]},
}




@pytest.mark.parametrize("name", sorted(OWNERS))
def test_each_optimizer_moves_only_its_own_networks(name):
    if name not in METHODS:
        pytest.skip(f"{name} is not registered")
    method, batch = built(name)
    assert_optimizers_move_only_their_own(method, batch, OWNERS[name](method))


def test_ours_steps_the_discriminator_first():
    method, batch = built("ours")
    order = []
    for name, optimizer in method.optimizers.items():
        original = optimizer.step
        optimizer.step = lambda *a, _n=name, _o=original, **k: (order.append(_n), _o(*a, **k))[1]
    method.train_step(batch)
    assert order == ["discriminator", "generator_segmenter"]


@pytest.mark.parametrize("through_generator", [True, False])
def test_ours_segmentation_gradient_reaches_the_generator_only_when_asked(through_generator):
    """Scaling L_seg changes G's update exactly when L_seg's gradient flows through G(x^s) into G."""
    from ctl.methods import Ours, OursConfig

    generators = []
    for lambda_seg in (1.0, 1000.0):
        torch.manual_seed(0)
        config = OursConfig.from_preset(TINY)
        config = OursConfig(**{**config.__dict__, "lambda_seg": lambda_seg,
                               "seg_grad_to_generator": through_generator})
        method = Ours(config)
        batch = {k: tiny_batch()[k] for k in Ours.batch_keys}
        method.setup(batch)
        method.train().train_step(batch)
        generators.append(torch.cat([p.detach().flatten() for p in method.translator.G.parameters()]))
    assert torch.equal(generators[0], generators[1]) != through_generator


def test_ours_refuses_a_segmenter_without_loss():
    from ctl.methods import Ours, OursConfig

    with pytest.raises(ValueError, match="lambda_seg must be > 0"):
        Ours(OursConfig(**{**OursConfig.from_preset(TINY).__dict__, "lambda_seg": 0.0}))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_exactly_the_translation_methods_expose_their_ct_to_mr_generator(name):
    """Figure 2 and the fidelity measures (notebook 05) show every method that translates CT, and only those."""
    from ctl.translation_fidelity import translator_of

    method, batch = built(name)
    translate = translator_of(method)
    assert (translate is not None) == (name in {"ours", "cyclegan", "synseg", "sifa"})
    if translate is not None:
        with torch.no_grad():
            fake = translate(tiny_batch()["ct"])
        assert fake.shape == (2, 1, 32, 32) and 0 <= fake.min() and fake.max() <= 1


# --- what training reads -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from ctl import data

    return data.ensure_phantom_prepared(tmp_path_factory.mktemp("data"), PRESETS["ci"], seed=0, progress=False)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_training_reads_target_labels_only_for_the_oracle_and_never_the_paired_mr(name, prepared, tmp_path,
                                                                                  monkeypatch):
    from ctl import data
    from ctl.data import prepared as prepared_module
    from ctl.training import TrainConfig, load_or_train

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
    load_or_train(name, prepared, preset, tmp_path / name, device="cpu", config=TrainConfig(progress=False))
    load_or_train(name, prepared, preset, tmp_path / name, device="cpu", config=TrainConfig(progress=False))

    assert [d["target_labels"] for d in datasets] == [cls.uses_target_labels] * 2  # train, then load
    assert batches == [set(cls.batch_keys)] * 2
    assert ("mr_label" in batches[0]) == (name == "oracle")
    assert data.paired_mr_reads() == reads_before


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_step_runs_under_autocast(name):
    """The mixed-precision path (autocast in every forward pass) of each method, exercised on the CPU with
    bfloat16, the dtype CUDA uses on recent GPUs; float16 with loss scaling needs a GPU to be tested."""
    from ctl.methods import Amp

    assert not Amp.for_device(torch.device("cpu")).enabled  # on a CPU training itself stays in float32
    method, batch = built(name)
    method.amp = Amp(device_type="cpu", dtype=torch.bfloat16)
    before = {k: v.clone() for k, v in method.segmenter.state_dict().items()}
    for _ in range(2):
        losses = method.train_step(batch)
        method.amp.update()
    assert all(np.isfinite(v) for v in losses.values()), losses
    assert any(not torch.equal(before[k], v) for k, v in method.segmenter.state_dict().items())
