"""ctl.translate.cycle: CycleGAN's L1 on the [-1, 1] scale, the weighted generator loss, shared passes equal to
separate ones, and the discriminators' losses on pooled fakes."""
import pytest
import torch

from conftest import TINY, tiny_batch
from ctl.translate import CycleConfig, CycleTranslator, cycle_l1


def translator_and_batch(**changes):
    torch.manual_seed(0)
    return CycleTranslator(CycleConfig.from_preset(TINY, **changes)), tiny_batch()


def test_cycle_l1_is_measured_on_the_minus_one_to_one_scale():
    x, y = torch.tensor([0.0, 1.0, 0.25]), torch.tensor([0.5, 0.5, 0.25])
    assert cycle_l1(x, y).item() == pytest.approx(2 * (0.5 + 0.5 + 0) / 3)  # |(2x-1) - (2y-1)| averaged
    with pytest.raises(ValueError, match="one shape"):
        cycle_l1(x, y[:2])


def test_generator_loss_is_the_weighted_sum_of_its_terms():
    translator, batch = translator_and_batch()
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


def test_without_identity_there_are_no_identity_images_or_terms():
    translator, batch = translator_and_batch(lambda_identity=0.0)
    p = translator.forward_cycle(batch["ct"], batch["mr"])
    assert p.idt_mr is None and p.idt_ct is None
    g = translator.generator_losses(p, batch["ct"], batch["mr"])
    assert set(g) == {"gan_mr", "gan_ct", "cycle_ct", "cycle_mr", "total"}
    assert g["total"].item() == pytest.approx((g["gan_mr"] + g["gan_ct"] + 10 * (g["cycle_ct"] + g["cycle_mr"])).item(),
                                              rel=1e-6)


def test_discriminator_losses_see_pooled_detached_fakes():
    translator, batch = translator_and_batch(pool_size=3)
    p = translator.forward_cycle(batch["ct"], batch["mr"])
    d = translator.discriminator_losses(p, batch["ct"], batch["mr"])
    assert set(d) == {"d_mr", "d_ct", "total"} and len(translator.pool_mr) == len(translator.pool_ct) == 2
    d["total"].backward()
    assert all(q.grad is None for q in translator.generator_parameters())  # the fakes were detached
    assert all(q.grad is not None for q in translator.discriminator_parameters())
    with pytest.raises(ValueError, match="weights and pool size must be >= 0"):
        CycleConfig(pool_size=-1)
    with pytest.raises(ValueError, match="unknown CycleConfig field"):
        CycleConfig.from_preset(TINY, lambda_cyc=1.0)
