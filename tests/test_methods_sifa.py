"""ctl.methods.sifa (M4): the segmenter is the shared U-Net, the warm-up follows SIFA, and every network gets the
gradient of its own loss."""
import copy
from dataclasses import replace

import pytest
import torch

from conftest import TINY, built
from ctl.losses import lsgan_generator_loss, segmentation_loss
from ctl.methods import SIFA, SIFAConfig
from ctl.nets import UNet
from ctl.translate import cycle_l1


def test_sifa_segments_with_the_shared_unet():
    method, _ = built("sifa")
    assert type(method.segmenter) is UNet and method.segmenter is method.unet


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
    feat_fake, feat_mr = m.unet.features(fake_mr), m.unet.features(mr)
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
