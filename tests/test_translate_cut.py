"""ctl.translate.cut: configs from presets, the generator losses (with and without the shared G pass), who gets
gradients, and the order of one training step (D moves only in the D step, G and F only in the G step)."""
import copy
import math
import warnings

import pytest
import torch

from ctl.presets import PRESETS
from ctl.device import Amp
from ctl.translate import TranslationConfig, Translator, translation_step

TINY = dict(ngf=4, n_blocks=2, ndf=4, nce_layers=("input", "stem", "down1", "res1"), num_patches=16, mlp_width=8)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _batch(b=2, size=32):
    return torch.rand(b, 1, size, size), torch.rand(b, 1, size, size)


def _translator(**changes):
    t = Translator(TranslationConfig(**{**TINY, **changes}))
    return t


def _optimizers(t):
    return (torch.optim.Adam(t.generator_parameters(), lr=1e-3, betas=(0.5, 0.999)),
            torch.optim.Adam(t.discriminator_parameters(), lr=1e-3, betas=(0.5, 0.999)))


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_gives_a_valid_config(name):
    p = PRESETS[name]
    cfg = TranslationConfig.from_preset(p)
    assert (cfg.ngf, cfg.n_blocks, cfg.ndf, cfg.nce_layers) == (p.ngf, p.n_blocks, p.ndf, tuple(p.nce_layers))
    assert (cfg.num_patches, cfg.tau, cfg.mlp_width) == (p.num_patches, p.nce_tau, p.mlp_width)
    lsgan = TranslationConfig.from_preset(p, lambda_nce=0.0, nce_identity=False)  # the other fields from the preset
    assert (lsgan.ngf, lsgan.n_blocks, lsgan.ndf) == (p.ngf, p.n_blocks, p.ndf)
    assert not Translator(lsgan).uses_nce and not Translator(lsgan).uses_identity


def test_ci_preset_translator_runs_at_its_image_size():
    p = PRESETS["ci"]
    t = Translator(TranslationConfig.from_preset(p))
    ct, mr = _batch(p.batch_size, p.image_size)
    t.build_projection(ct)
    losses = t.generator_losses(ct, t.translate(ct), mr)
    assert set(losses) == {"gan", "nce_source", "nce_target", "total"}


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match=r"unknown: \['res5'\]"):
        TranslationConfig(n_blocks=4, nce_layers=("stem", "res5"))
    with pytest.raises(ValueError, match="distinct"):
        TranslationConfig(nce_layers=("stem", "stem"))
    with pytest.raises(ValueError, match="num_patches"):
        TranslationConfig(num_patches=1)
    with pytest.raises(ValueError, match="tau"):
        TranslationConfig(tau=0.0)
    with pytest.raises(ValueError, match="loss weights"):
        TranslationConfig(lambda_gan=-1.0)
    with pytest.raises(ValueError, match="unknown TranslationConfig field"):
        TranslationConfig.from_preset(PRESETS["ci"], lamda_nce=0)
    with pytest.warns(UserWarning, match="nce_identity=True has no effect"):
        TranslationConfig(lambda_nce=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TranslationConfig(lambda_nce=0.0, nce_identity=False)


def test_generator_parameters_need_a_built_projection():
    t = _translator()
    with pytest.raises(RuntimeError, match="build_projection"):
        t.generator_parameters()
    t.build_projection(_batch()[0])
    assert set(t.F.layers) == set(TINY["nce_layers"])
    n_g = sum(p.numel() for p in t.G.parameters())
    assert sum(p.numel() for p in t.generator_parameters()) == n_g + sum(p.numel() for p in t.F.parameters())


def test_generator_losses_keys_and_weighted_total():
    t = _translator(lambda_gan=2.0, lambda_nce=0.5)
    ct, mr = _batch()
    t.build_projection(ct)
    losses = t.generator_losses(ct, t.translate(ct), mr)
    assert set(losses) == {"gan", "nce_source", "nce_target", "total"}
    expected = 2.0 * losses["gan"] + 0.5 * (losses["nce_source"] + losses["nce_target"])
    torch.testing.assert_close(losses["total"], expected)
    for key in ("nce_source", "nce_target"):
        assert losses[key].item() > 0 and math.isfinite(losses[key].item())


def test_without_identity_or_without_nce():
    ct, mr = _batch()
    t = _translator(nce_identity=False)
    t.build_projection(ct)
    losses = t.generator_losses(ct, t.translate(ct), mr)
    assert set(losses) == {"gan", "nce_source", "total"}
    lsgan = _translator(lambda_nce=0.0, nce_identity=False)
    losses = lsgan.generator_losses(ct, lsgan.translate(ct), mr)
    assert set(losses) == {"gan", "total"}
    assert lsgan.generator_parameters()  # no F needed
    assert lsgan.generate(ct, mr).keys is None and lsgan.generate(ct, mr).idt_mr is None


@pytest.mark.parametrize("identity", [True, False])
def test_shared_pass_gives_the_same_losses_and_gradients(identity):
    ct, mr = (x.double() for x in _batch())  # float64: the two orders of summation agree to ~1e-12
    t = _translator(nce_identity=identity).double()
    t.build_projection(ct)
    twin = copy.deepcopy(t)

    torch.manual_seed(1)  # the same patch positions in both computations
    direct = t.generator_losses(ct, t.translate(ct), mr)
    direct["total"].backward()
    torch.manual_seed(1)
    generated = twin.generate(ct, mr)
    shared = twin.generator_losses(ct, generated.fake_mr, mr, generated=generated)
    shared["total"].backward()

    assert set(direct) == set(shared)
    for key in direct:
        torch.testing.assert_close(shared[key], direct[key])
    for (name, p), q in zip(t.named_parameters(), twin.parameters()):
        torch.testing.assert_close(q.grad, p.grad, msg=name)
    with pytest.raises(ValueError, match="fake_mr must be"):
        twin.generator_losses(ct, generated.fake_mr.clone(), mr, generated=generated)


def test_generate_shares_one_pass_for_ct_and_mr():
    ct, mr = _batch()
    t = _translator()
    t.build_projection(ct)
    g = t.generate(ct, mr)
    torch.testing.assert_close(g.fake_mr, t.translate(ct))
    torch.testing.assert_close(g.idt_mr, t.translate(mr))
    keys = t.G.encode(torch.cat([ct, mr]), TINY["nce_layers"])
    for name in keys:
        torch.testing.assert_close(g.keys[name], keys[name])
        assert not g.keys[name].requires_grad


def test_discriminator_loss_gives_no_gradient_to_the_generator():
    ct, mr = _batch()
    t = _translator()
    t.discriminator_loss(t.translate(ct), mr).backward()
    assert all(p.grad is None for p in t.G.parameters())
    assert all(p.grad is not None for p in t.D.parameters())
    with pytest.raises(ValueError, match="same channels and size"):
        t.discriminator_loss(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 40, 40))


class _Spy:
    """Records, at each optimizer step, which parts of the translator have changed since the step before."""

    def __init__(self, translator):
        self.t = translator
        self.last = self._snapshot()
        self.log = []

    def _snapshot(self):
        return {part: [p.detach().clone() for p in getattr(self.t, part).parameters()] for part in "GDF"}

    def changed(self):
        now = self._snapshot()
        moved = {part for part in "GDF" if any(not torch.equal(a, b) for a, b in zip(now[part], self.last[part]))}
        self.last = now
        return moved

    def wrap(self, opt, name):
        step = opt.step

        def spied_step(*args, **kwargs):
            before = self.changed()
            grads = {part: any(p.grad is not None for p in getattr(self.t, part).parameters()) for part in "GDF"}
            out = step(*args, **kwargs)
            self.log.append((name, before, grads, self.changed()))
            return out

        opt.step = spied_step


def test_translation_step_moves_d_only_in_the_d_step_and_g_f_only_in_the_g_step():
    ct, mr = _batch()
    t = _translator()
    t.build_projection(ct)
    opt_g, opt_d = _optimizers(t)
    spy = _Spy(t)
    spy.wrap(opt_d, "d")
    spy.wrap(opt_g, "g")
    result = translation_step(t, opt_g, opt_d, ct, mr)

    (first, before_d, grads_d, moved_d), (second, before_g, grads_g, moved_g) = spy.log
    assert (first, second) == ("d", "g")  # D first, as CUT
    assert before_d == set() and moved_d == {"D"}
    assert grads_d == {"G": False, "D": True, "F": False}  # the D loss reaches D only
    assert before_g == set() and moved_g == {"G", "F"}
    assert grads_g["G"] and grads_g["F"]
    assert set(result) == {"d", "gan", "nce_source", "nce_target", "total"}
    assert all(v.dim() == 0 and not v.requires_grad and math.isfinite(v.item()) for v in result.values())


def test_generator_step_leaves_the_discriminator_gradients_alone():
    ct, mr = _batch()
    t = _translator()
    t.build_projection(ct)
    opt_g, opt_d = _optimizers(t)
    grads_after_d = []
    step_d = opt_d.step
    opt_d.step = lambda: (grads_after_d.append([p.grad.clone() for p in t.D.parameters()]), step_d())
    translation_step(t, opt_g, opt_d, ct, mr)
    for before, p in zip(grads_after_d[0], t.D.parameters()):
        assert torch.equal(before, p.grad)  # the G step added nothing to D's .grad


def test_a_few_steps_lower_the_patch_nce_loss():
    ct, mr = _batch(2, 32)
    t = _translator()
    t.build_projection(ct)
    opt_g, opt_d = _optimizers(t)
    history = [translation_step(t, opt_g, opt_d, ct, mr)["nce_source"].item() for _ in range(25)]
    first, last = sum(history[:3]) / 3, sum(history[-3:]) / 3
    assert last < first - 0.3, (first, last)


def test_the_step_goes_through_the_mixed_precision_switch():
    """With bfloat16 autocast (CUDA's path on recent GPUs, exercised on the CPU) the step still trains G, F and D."""
    ct, mr = _batch()
    t = _translator()
    t.build_projection(ct)
    opt_g, opt_d = _optimizers(t)
    before = {k: v.clone() for k, v in t.state_dict().items()}
    losses = translation_step(t, opt_g, opt_d, ct, mr, amp=Amp(device_type="cpu", dtype=torch.bfloat16))
    assert all(math.isfinite(v.item()) for v in losses.values())
    for part in ("G", "D", "F"):
        assert any(not torch.equal(before[k], v) for k, v in t.state_dict().items() if k.startswith(part + "."))
