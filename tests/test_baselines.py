"""The four baselines of Table 1 (M1 cyclegan, M2 synseg, M3 adaptseg, M4 sifa) on the shared interface.

For each: a few steps give finite, changing losses; each optimizer moves only its own networks, in the
reference update order; no step reads MR labels; resume through ``ctl.training`` repeats the uninterrupted loss
history bit for bit (with pools small enough to fill, so their saved state matters). Then what tells the methods
apart: L_seg reaches the generator in SynSeg-Net but not in CycleGAN; in AdaptSegNet MR reaches U only through
the adversarial term; in SIFA every network gets the gradient of its own loss and the warm-up follows SIFA.
"""
import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

import ctl.training as training
from ctl.losses import lsgan_generator_loss, segmentation_loss
from ctl.methods import METHODS, AdaptSeg, CycleGAN, CycleGANConfig, SIFA, SIFAConfig, SynSeg, SynSegConfig
from ctl.methods.adaptseg import bce_to
from ctl.methods.cyclegan import cycle_l1
from ctl.nets import OutputDiscriminator, TwoHeadPatchDiscriminator, UNet, unet_features
from ctl.training import TrainConfig, checkpoints, train
from test_methods import TINY, assert_optimizers_move_only_their_own, built, tiny_batch

BASELINES = ["cyclegan", "synseg", "adaptseg", "sifa"]
TRANSLATORS = ["cyclegan", "synseg", "sifa"]  # methods with translate(ct) -> fake_mr

# optimizer name -> the networks it alone moves, in the order the optimizers step
OWNERS = {
    "cyclegan": lambda m: {"generators": [m.translator.G_ct2mr, m.translator.G_mr2ct],
                           "discriminators": [m.translator.D_mr, m.translator.D_ct], "segmenter": [m.unet]},
    "synseg": lambda m: {"generators_segmenter": [m.translator.G_ct2mr, m.translator.G_mr2ct, m.unet],
                         "discriminators": [m.translator.D_mr, m.translator.D_ct]},
    "adaptseg": lambda m: {"segmenter": [m.unet], "discriminator": [m.D]},
    "sifa": lambda m: {"generator": [m.G], "decoder": [m.decoder], "segmenter": [m.unet],
                       "discriminators": [m.D_mr, m.D_ct, m.D_seg]},
}


class NoTargetLabels(dict):
    """A batch that holds "mr_label" but fails the test if a step reads it."""

    def __getitem__(self, key):
        if key == "mr_label":
            raise AssertionError("the training step read the MR labels")
        return super().__getitem__(key)

    def get(self, key, default=None):
        return self[key] if key in self else default


# --- the interface ---------------------------------------------------------------------------------------------
def test_the_four_baselines_are_registered_and_declare_no_target_labels():
    for name in BASELINES:
        cls = METHODS[name]
        assert not cls.uses_target_labels and "mr_label" not in cls.batch_keys, name
        assert set(cls.batch_keys) == {"ct", "ct_label", "mr"}, name
        assert cls.description.startswith(f"M{BASELINES.index(name) + 1} "), name


@pytest.mark.parametrize("name", BASELINES)
def test_a_few_steps_give_finite_changing_losses_without_reading_mr_labels(name):
    method, _ = built(name)
    history = [method.train_step(NoTargetLabels(tiny_batch(seed=k))) for k in range(4)]
    assert "seg" in history[0]
    for key in history[0]:
        values = np.array([h[key] for h in history])
        assert np.isfinite(values).all(), (key, values)
        assert len(set(values.tolist())) > 1, f"{name}: loss {key!r} did not change: {values}"
    assert method.segmenter(tiny_batch()["mr"]).shape == (2, 5, 32, 32)


@pytest.mark.parametrize("name", BASELINES)
def test_each_optimizer_moves_only_its_own_networks(name):
    method, batch = built(name)
    assert_optimizers_move_only_their_own(method, batch, OWNERS[name](method))


@pytest.mark.parametrize("name", BASELINES)
def test_every_optimizer_steps_once_in_the_reference_order(name):
    method, batch = built(name)
    order = []
    for key, optimizer in method.optimizers.items():
        original = optimizer.step
        optimizer.step = lambda *a, _k=key, _o=original, **kw: (order.append(_k), _o(*a, **kw))[1]
    method.train_step(batch)
    assert order == list(OWNERS[name](method))  # so the segmenter is updated exactly once


@pytest.mark.parametrize("name", BASELINES)
def test_translate_is_defined_by_the_translating_methods_only(name):
    method, batch = built(name)
    if name not in TRANSLATORS:
        assert not hasattr(method, "translate")
        return
    with torch.no_grad():
        fake_mr = method.eval().translate(batch["ct"])
    assert fake_mr.shape == batch["ct"].shape
    assert 0 <= fake_mr.min() and fake_mr.max() <= 1


# --- M1 and M2: CycleGAN ---------------------------------------------------------------------------------------
def test_cycle_l1_is_measured_on_the_minus_one_to_one_scale():
    x, y = torch.tensor([0.0, 1.0, 0.25]), torch.tensor([0.5, 0.5, 0.25])
    assert cycle_l1(x, y).item() == pytest.approx(2 * (0.5 + 0.5 + 0) / 3)  # |(2x-1) - (2y-1)| averaged
    with pytest.raises(ValueError, match="one shape"):
        cycle_l1(x, y[:2])


def test_cyclegan_generator_loss_is_the_weighted_sum_of_its_terms():
    method, batch = built("cyclegan")
    translator = method.translator
    p = translator.forward_cycle(batch["ct"], batch["mr"])
    g = translator.generator_losses(p, batch["ct"], batch["mr"])
    expected = (g["gan_mr"] + g["gan_ct"] + 10 * (g["cycle_ct"] + g["cycle_mr"])
                + 10 * 0.5 * (g["idt_mr"] + g["idt_ct"]))  # CycleGAN: lambda 10, identity 0.5 * lambda
    assert g["total"].item() == pytest.approx(expected.item(), rel=1e-6)
    # the shared passes give what separate passes give
    G, F = translator.G_ct2mr, translator.G_mr2ct
    for got, want in [(p.fake_mr, G(batch["ct"])), (p.fake_ct, F(batch["mr"])), (p.rec_ct, F(G(batch["ct"]))),
                      (p.rec_mr, G(F(batch["mr"]))), (p.idt_mr, G(batch["mr"])), (p.idt_ct, F(batch["ct"]))]:
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_synseg_has_no_identity_term_and_cyclegan_has_one():
    assert SynSegConfig.from_preset(TINY).cycle.lambda_identity == 0
    assert CycleGANConfig.from_preset(TINY).cycle.lambda_identity == 0.5
    method, batch = built("synseg")
    assert not {"idt_mr", "idt_ct"} & set(method.train_step(batch))


@pytest.mark.parametrize("name, reaches_generator", [("cyclegan", False), ("synseg", True)])
def test_the_ct_labels_reach_the_generator_in_synseg_only(name, reaches_generator):
    """Same images, other labels: G_ct2mr's update changes exactly when L_seg's gradient flows into it."""
    generators = []
    for shift in (0, 3):
        method, batch = built(name)
        batch = {**batch, "ct_label": torch.roll(batch["ct_label"], shifts=shift, dims=-1)}
        method.train_step(batch)
        generators.append(torch.cat([p.detach().flatten() for p in method.translator.G_ct2mr.parameters()]))
    assert torch.equal(generators[0], generators[1]) != reaches_generator


# --- M3: AdaptSegNet -------------------------------------------------------------------------------------------
def test_output_discriminator_shapes_and_no_normalisation():
    D = OutputDiscriminator(n_classes=5, ndf=4)
    assert D(torch.rand(2, 5, 96, 96)).shape == (2, 1, 3, 3)  # five halvings: 96 / 32
    assert D(torch.rand(1, 5, 32, 32)).shape == (1, 1, 1, 1)
    assert D.min_input_size == 32
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)) for m in D.modules())
    with pytest.raises(ValueError, match=r"expected class maps \(B, 5, H, W\)"):
        D(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="need at least 32 pixels"):
        D(torch.rand(1, 5, 24, 24))
    with pytest.raises(ValueError, match="n_classes >= 2"):
        OutputDiscriminator(n_classes=1)


def test_bce_to_a_constant_label_by_hand():
    logits = torch.tensor([0.0, np.log(3.0)])  # sigmoid: 1/2 and 3/4
    assert bce_to(logits, 1.0).item() == pytest.approx((np.log(2) - np.log(0.75)) / 2)
    assert bce_to(logits, 0.0).item() == pytest.approx((np.log(2) - np.log(0.25)) / 2)


@pytest.mark.parametrize("lambda_adv, mr_matters", [(0.0, False), (1e-3, True)])
def test_adaptseg_mr_images_reach_the_segmenter_only_through_the_adversarial_term(lambda_adv, mr_matters):
    weights = []
    for mr_seed in (1, 2):
        torch.manual_seed(0)
        method = AdaptSeg(replace(AdaptSeg.from_preset(TINY).config, lambda_adv=lambda_adv))
        batch = {k: tiny_batch()[k] for k in AdaptSeg.batch_keys}
        batch["mr"] = tiny_batch(seed=mr_seed)["mr"]
        method.setup(batch)
        method.train().train_step(batch)
        weights.append(torch.cat([p.detach().flatten() for p in method.unet.parameters()]))
    assert torch.equal(weights[0], weights[1]) != mr_matters


# --- M4: SIFA --------------------------------------------------------------------------------------------------
def test_sifa_encoder_and_head_are_the_shared_unet():
    torch.manual_seed(0)
    unet = UNet(1, 5, base=4, depth=2).eval()
    x = torch.rand(2, 1, 32, 32)
    assert torch.equal(unet.head(unet_features(unet, x)), unet(x))
    assert unet_features(unet, x).shape == (2, 4, 32, 32)
    with pytest.raises(ValueError, match="divisible by 4"):
        unet_features(unet, torch.rand(1, 1, 30, 30))
    method, _ = built("sifa")
    assert type(method.segmenter) is UNet and method.segmenter is method.unet


def test_two_head_discriminator_gives_main_and_aux_maps():
    D = TwoHeadPatchDiscriminator(1, ndf=4)
    scores = D(torch.rand(3, 1, 32, 32))
    assert set(scores) == {"main", "aux"} and scores["main"].shape == scores["aux"].shape == (3, 1, 2, 2)
    with pytest.raises(ValueError, match="too small"):
        D(torch.rand(1, 1, 16, 16))


def test_sifa_warmup_of_the_output_space_term():
    method = SIFA(replace(SIFAConfig.from_preset(TINY), iterations=100, warmup=(0.2, 0.35)))
    expected = {0: 0.0, 20: 0.0, 26: 0.1 * 6 / 15, 30: 0.1 * 10 / 15, 35: 0.1, 99: 0.1}
    for done, weight in expected.items():
        method.steps_done.fill_(done)
        assert method.adv_seg_weight() == pytest.approx(weight)
    assert "steps_done" in method.state_dict()
    with pytest.raises(ValueError, match="warmup must be"):
        SIFAConfig(warmup=(0.5, 0.2))


def test_sifa_each_network_gets_the_gradient_of_its_own_loss():
    """G: gan_mr + cycle; Dec: gan_ct + cycle; E/C: seg + 0.1 (gan_ct + cycle) + w adv_seg + 0.1 adv_aux,
    recomputed here term by term with separate passes and compared with what each optimizer steps on."""
    method, batch = built("sifa")
    method.double()  # float64, so that separate and shared passes agree to rounding
    batch = {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}
    method.steps_done.fill_(method.config.iterations)  # after the warm-up: w = 0.1
    reference = copy.deepcopy(method)
    captured = {}
    for key in ("generator", "decoder", "segmenter"):
        optimizer = method.optimizers[key]
        original = optimizer.step

        def spy(*args, _key=key, _opt=optimizer, _original=original, **kwargs):
            captured[_key] = [p.grad.clone() for group in _opt.param_groups for p in group["params"]]
            return _original(*args, **kwargs)

        optimizer.step = spy
    method.train_step(batch)

    m, ct, mr = reference, batch["ct"], batch["mr"]
    fake_mr = m.G(ct)
    feat_fake, feat_mr = unet_features(m.unet, fake_mr), unet_features(m.unet, mr)
    fake_ct, rec_ct = m.decoder(feat_mr), m.decoder(feat_fake)
    rec_mr = m.G(fake_ct)
    cycle = 10 * (cycle_l1(rec_ct, ct) + cycle_l1(rec_mr, mr))
    gan_mr = lsgan_generator_loss(m.D_mr(fake_mr))
    gan_ct = lsgan_generator_loss(m.D_ct(fake_ct)["main"])
    seg = segmentation_loss(m.unet.head(feat_fake), batch["ct_label"])
    adv_seg = lsgan_generator_loss(m.D_seg(m.unet.head(feat_mr).softmax(dim=1)))
    adv_aux = lsgan_generator_loss(m.D_ct(fake_ct)["aux"])
    own_losses = {"generator": (gan_mr + cycle, m.G), "decoder": (gan_ct + cycle, m.decoder),
                  "segmenter": (seg + 0.1 * (gan_ct + cycle) + 0.1 * adv_seg + 0.1 * adv_aux, m.unet)}
    for key, (loss, network) in own_losses.items():
        expected = torch.autograd.grad(loss, list(network.parameters()), retain_graph=True, allow_unused=True)
        assert len(expected) == len(captured[key])
        for want, got in zip(expected, captured[key]):
            torch.testing.assert_close(got, torch.zeros_like(got) if want is None else want, rtol=1e-9, atol=1e-12)


# --- resume through the training loop --------------------------------------------------------------------------
class TinyUnpaired(torch.utils.data.Dataset):
    """The contract of ctl.data.UnpairedSliceDataset at 32 x 32, without MR labels: asking for them fails."""

    def __init__(self, target_labels: bool):
        if target_labels:
            raise AssertionError("a baseline asked the training loop for MR labels")
        self.batches = [tiny_batch(seed=k) for k in range(3)]  # 6 CT and 6 MR slices

    def __len__(self):
        return 6

    def __getitem__(self, i):
        source, j = self.batches[i // 2], int(torch.randint(6, ()))  # MR drawn at random, as the real one does
        noise = 0.01 * torch.randn(1, 32, 32)  # stands in for the augmentation's randomness
        return {"ct": (source["ct"][i % 2] + noise).clamp(0, 1), "ct_label": source["ct_label"][i % 2],
                "mr": self.batches[j // 2]["mr"][j % 2]}


def _small_pools(monkeypatch):
    """Pools of 3 images: full after two iterations, so that the random swaps and the saved pool matter."""
    monkeypatch.setattr(CycleGAN, "from_preset", classmethod(lambda cls, preset: cls(
        CycleGANConfig.from_preset(preset, pool_size=3))))
    monkeypatch.setattr(SynSeg, "from_preset", classmethod(lambda cls, preset: cls(
        SynSegConfig.from_preset(preset, pool_size=3))))
    monkeypatch.setattr(SIFA, "from_preset", classmethod(lambda cls, preset: cls(
        replace(SIFAConfig.from_preset(preset), pool_size=3))))


@pytest.mark.slow
@pytest.mark.parametrize("name", (*BASELINES, "ours"))  # and the paper's method, which has the same batch keys
def test_resume_repeats_the_uninterrupted_history(name, tmp_path, monkeypatch):
    _small_pools(monkeypatch)
    monkeypatch.setattr(training, "training_dataset", lambda prepared, cls, augment: TinyUnpaired(
        cls.uses_target_labels))
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
