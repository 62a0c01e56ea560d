"""ctl.nets: sizes kept, encoder features by name and shape, the encoder stops early, receptive fields measured
against the formula (70 x 70 PatchGAN), F's sampling and normalisation, U-Net shapes and bad sizes, the networks
SIFA and AdaptSegNet add, and ``frozen``."""
import pytest
import torch
from torch import nn

from ctl.nets import (OutputDiscriminator, PatchDiscriminator, PatchProjector, ResnetGenerator,
                      TwoHeadPatchDiscriminator, UNet, frozen, gather_patches, sample_patch_ids)
from ctl.nets.receptive_field import (empirical_receptive_field, encoder_receptive_fields, positive_weights,
                                      receptive_field)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# --- generator -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("size", [(32, 32), (48, 40)])
def test_generator_keeps_the_size_and_maps_to_unit_range(antialias, size):
    g = ResnetGenerator(ngf=4, n_blocks=2, antialias=antialias)
    x = torch.rand(2, 1, *size)
    y = g(x)
    assert y.shape == x.shape
    assert y.min() >= 0 and y.max() <= 1


def test_generator_output_is_tanh_mapped_to_unit_range():
    g = ResnetGenerator(ngf=4, n_blocks=1)
    x = torch.rand(1, 1, 16, 16)
    feat = x
    for stage in g.encoder.values():
        feat = stage(feat)
    t = g.decoder(feat)  # ends in tanh: [-1, 1]
    torch.testing.assert_close(g(x), (t + 1) / 2)


def test_encoder_feature_shapes_per_layer():
    g = ResnetGenerator(ngf=4, n_blocks=2)
    feats = g.encode(torch.rand(3, 1, 32, 32), ["res1", "input", "stem", "down1", "down2", "res0"])
    shapes = {name: tuple(f.shape) for name, f in feats.items()}
    assert shapes == {"res1": (3, 16, 8, 8), "input": (3, 1, 32, 32), "stem": (3, 4, 32, 32),
                      "down1": (3, 8, 16, 16), "down2": (3, 16, 8, 8), "res0": (3, 16, 8, 8)}
    assert list(feats) == ["res1", "input", "stem", "down1", "down2", "res0"]  # the order asked for
    assert g.feature_channels(list(feats)) == {name: s[1] for name, s in shapes.items()}
    assert g.layer_names == ("input", "stem", "down1", "down2", "res0", "res1")


def test_encode_runs_only_as_far_as_the_deepest_layer():
    g = ResnetGenerator(ngf=4, n_blocks=3)
    calls = []
    for name, stage in g.encoder.items():
        stage.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    g.decoder.register_forward_hook(lambda m, i, o: calls.append("decoder"))
    g.encode(torch.rand(1, 1, 16, 16), ["stem", "down1"])
    assert calls == ["stem", "down1"]
    calls.clear()
    g.encode(torch.rand(1, 1, 16, 16), ["input"])
    assert calls == []  # the input needs no network at all


def test_forward_with_features_matches_forward_and_encode():
    g = ResnetGenerator(ngf=4, n_blocks=2)
    x = torch.rand(2, 1, 16, 16)
    out, feats = g.forward_with_features(x, ["stem", "res1"])
    torch.testing.assert_close(out, g(x))
    for name, f in g.encode(x, ["stem", "res1"]).items():
        torch.testing.assert_close(feats[name], f)


def test_generator_rejects_unknown_layers_and_bad_sizes():
    g = ResnetGenerator(ngf=4, n_blocks=2)
    with pytest.raises(ValueError, match=r"unknown encoder layer\(s\) \['res2'\].*'res1'"):
        g.encode(torch.rand(1, 1, 16, 16), ["res2"])
    with pytest.raises(TypeError, match="list or tuple"):
        g.encode(torch.rand(1, 1, 16, 16), "stem")
    with pytest.raises(ValueError, match="divisible by 4"):
        g(torch.rand(1, 1, 18, 16))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        g(torch.rand(1, 16, 16))


# --- receptive fields ------------------------------------------------------------------------------------------
def test_encoder_receptive_fields_by_hand():
    g = ResnetGenerator(ngf=2, n_blocks=2)
    # stem 7x7: 7; down1 3x3 s2: 7 + 2 = 9, jump 2; down2: 9 + 2*2 = 13, jump 4; each block two 3x3 at jump 4: +16
    assert encoder_receptive_fields(g) == {"input": (1, 1), "stem": (7, 1), "down1": (9, 2), "down2": (13, 4),
                                           "res0": (29, 4), "res1": (45, 4)}


@pytest.mark.parametrize("antialias", [False, True])
def test_encoder_receptive_fields_match_the_gradient(antialias):
    g = ResnetGenerator(ngf=2, n_blocks=2, antialias=antialias)
    probe = positive_weights(g)
    for name, (field, _) in encoder_receptive_fields(g).items():
        if name == "input":
            continue
        measured = empirical_receptive_field(lambda x, name=name: probe.encode(x, [name])[name], size=96)
        assert measured == field, name


@pytest.mark.parametrize("n_layers, field", [(3, 70), (2, 34), (1, 16)])
def test_patchgan_receptive_field(n_layers, field):
    # 1 + 3 * (sum of the jumps before each 4x4 conv): n_layers=3 -> 1 + 3 * (1 + 2 + 4 + 8 + 8) = 70
    d = PatchDiscriminator(ndf=2, n_layers=n_layers)
    assert receptive_field([d.model])[0] == field
    assert empirical_receptive_field(positive_weights(d), size=160) == field


def test_patchgan_output_size_and_too_small_input():
    d = PatchDiscriminator(ndf=4)
    assert d(torch.rand(2, 1, 256, 256)).shape == (2, 1, 30, 30)  # the classic 30 x 30 score map
    assert d.output_size(256) == 30 and d.min_input_size == 24
    assert d(torch.rand(1, 1, 24, 24)).shape == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="at least 24 pixels"):
        d(torch.rand(1, 1, 20, 20))


# --- projection head F -------------------------------------------------------------------------------------------
def test_gather_patches_picks_the_positions_of_every_image():
    feat = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    ids = torch.tensor([0, 7, 19])  # flat positions (row * 5 + col): (0, 0), (1, 2), (3, 4)
    got = gather_patches(feat, ids)
    assert got.shape == (2, 3, 3)  # (B, S, C)
    expected = torch.stack([feat[:, :, 0, 0], feat[:, :, 1, 2], feat[:, :, 3, 4]], dim=1)
    torch.testing.assert_close(got, expected)


def test_sample_patch_ids_are_distinct_and_capped():
    ids = sample_patch_ids(4, 4, 10)
    assert ids.shape == (10,) and len(set(ids.tolist())) == 10 and ids.max() < 16
    assert sorted(sample_patch_ids(3, 3, 100).tolist()) == list(range(9))  # fewer positions: all of them once
    with pytest.raises(ValueError, match="num_patches"):
        sample_patch_ids(4, 4, 0)


def test_projector_builds_per_layer_and_normalises():
    f = PatchProjector(mlp_width=16)
    feats = {"stem": torch.rand(2, 4, 8, 8), "res0": torch.rand(2, 8, 4, 4)}
    emb, ids = f(feats, num_patches=10)
    assert f.layers == ("stem", "res0")
    assert [f.mlps[n][0].in_features for n in f.layers] == [4, 8]
    assert emb["stem"].shape == (2, 10, 16) and emb["res0"].shape == (2, 10, 16)
    torch.testing.assert_close(emb["res0"].norm(dim=-1), torch.ones(2, 10))
    # the same ids on other features give the embeddings of the same positions
    again, ids2 = f(feats, num_patches=10, patch_ids=ids)
    for name in feats:
        assert torch.equal(ids2[name], ids[name])
        torch.testing.assert_close(again[name], emb[name])


def test_projector_embeds_with_a_two_layer_mlp():
    f = PatchProjector(mlp_width=6)
    feat = torch.rand(1, 3, 2, 2)
    ids = {"x": torch.tensor([3, 1])}
    emb, _ = f({"x": feat}, 2, patch_ids=ids)
    mlp = f.mlps["x"]
    patches = torch.stack([feat[0, :, 1, 1], feat[0, :, 0, 1]])  # (S, C)
    hidden = torch.relu(patches @ mlp[0].weight.T + mlp[0].bias)
    out = hidden @ mlp[2].weight.T + mlp[2].bias
    torch.testing.assert_close(emb["x"][0], out / out.norm(dim=1, keepdim=True))


def test_projector_rejects_missing_ids_and_changed_widths():
    f = PatchProjector(mlp_width=8)
    f({"a": torch.rand(1, 4, 4, 4)}, 4)
    with pytest.raises(ValueError, match="no positions for layer"):
        f({"a": torch.rand(1, 4, 4, 4)}, 4, patch_ids={"b": torch.tensor([0, 1])})
    with pytest.raises(ValueError, match="built for 4 channels"):
        f.build({"a": 5})


# --- U-Net ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth, size", [(2, (16, 12)), (3, (48, 48)), (4, (32, 64))])
def test_unet_gives_logits_per_class_and_pixel(depth, size):
    u = UNet(in_channels=1, n_classes=5, base=4, depth=depth)
    assert u(torch.rand(2, 1, *size)).shape == (2, 5, *size)


def test_unet_rejects_sizes_not_divisible_by_two_to_the_depth():
    u = UNet(base=4, depth=3)
    with pytest.raises(ValueError, match=r"divisible by 8, got \(20, 24\)"):
        u(torch.rand(1, 1, 20, 24))
    with pytest.raises(ValueError, match="depth >= 1"):
        UNet(depth=0)


def test_unet_width_doubles_per_level():
    u = UNet(base=4, depth=3)
    widths = [block[0].out_channels for block in u.down]
    assert widths == [4, 8, 16, 32]
    assert isinstance(u.head, nn.Conv2d) and u.head.out_channels == 5


def test_unet_features_are_the_input_of_its_head():
    """SIFA's encoder E is ``UNet.features`` and its classifier C the 1 x 1 head: C(E(x)) is U(x)."""
    unet = UNet(1, 5, base=4, depth=2).eval()
    x = torch.rand(2, 1, 32, 32)
    assert torch.equal(unet.head(unet.features(x)), unet(x))
    assert unet.features(x).shape == (2, 4, 32, 32)
    with pytest.raises(ValueError, match="divisible by 4"):
        unet.features(torch.rand(1, 1, 30, 30))


# --- SIFA's and AdaptSegNet's networks ---------------------------------------------------------------------------
def test_two_head_discriminator_gives_main_and_aux_maps():
    D = TwoHeadPatchDiscriminator(1, ndf=4)
    scores = D(torch.rand(3, 1, 32, 32))
    assert set(scores) == {"main", "aux"} and scores["main"].shape == scores["aux"].shape == (3, 1, 2, 2)
    with pytest.raises(ValueError, match="too small"):
        D(torch.rand(1, 1, 16, 16))


def test_sifas_decoder_maps_features_to_an_image_in_unit_range():
    decoder = ResnetGenerator(in_channels=4, out_channels=1, ngf=4, n_blocks=1)  # Dec, on E's 4-channel map
    image = decoder(torch.randn(2, 4, 32, 32))
    assert image.shape == (2, 1, 32, 32) and 0 <= image.min() and image.max() <= 1


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


# --- frozen ---------------------------------------------------------------------------------------------------------
def test_frozen_network_passes_gradients_but_keeps_none():
    D = PatchDiscriminator(1, ndf=4)
    x = torch.rand(1, 1, 32, 32, requires_grad=True)
    with frozen(D.parameters()):
        score = D(x).mean()
    score.backward()
    assert x.grad is not None and all(p.grad is None for p in D.parameters())
    assert all(p.requires_grad for p in D.parameters())  # restored after the block


def test_frozen_puts_back_each_previous_flag_also_after_an_error():
    D = PatchDiscriminator(1, ndf=4)
    first = next(D.parameters())
    first.requires_grad_(False)  # already frozen before the block: it must stay so
    with pytest.raises(RuntimeError, match="inside"):
        with frozen(D.parameters()):
            assert not any(p.requires_grad for p in D.parameters())
            raise RuntimeError("inside")
    assert not first.requires_grad
    assert all(p.requires_grad for p in list(D.parameters())[1:])


def test_an_instance_normalised_discriminator_cannot_see_a_dimmed_image_but_an_unnormalised_one_can():
    """Why ``norm="none"`` exists: with instance norm, D's score of a*x is nearly its score of x (each hidden channel
    is normalised per image), so a translation that is everywhere too dark fools it; without, the scores differ."""
    torch.manual_seed(0)
    x = 0.2 + 0.6 * torch.rand(2, 1, 48, 48)
    change = {}
    for norm in ("instance", "none"):
        torch.manual_seed(1)
        D = PatchDiscriminator(1, ndf=8, norm=norm)
        with torch.no_grad():
            change[norm] = float((D(0.3 * x) - D(x)).abs().mean() / D(x).abs().mean())
    assert change["instance"] < 0.15  # a 70 % darker image moves the scores little
    assert change["none"] == pytest.approx(0.7, abs=1e-4)  # zero biases at init: D(a x) = a D(x) exactly
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in PatchDiscriminator(1, ndf=4, norm="none").modules())
    with pytest.raises(ValueError, match="norm='batch'; choose one of"):
        PatchDiscriminator(1, ndf=4, norm="batch")
    two = TwoHeadPatchDiscriminator(1, ndf=4, norm="none")
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in two.modules())


def test_under_bfloat16_autocast_only_the_convolutions_run_in_bfloat16():
    """The norm layers of ctl.nets.norms give float32, so a generator's activations between its convolutions stay
    float32 and its bfloat16 output stays close to the float32 one; torch's own layers would pass bfloat16 on."""
    from ctl.nets.norms import BatchNorm2d, InstanceNorm2d

    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0)).bfloat16()
    for layer in (InstanceNorm2d(4), BatchNorm2d(4)):
        assert layer(x).dtype == torch.float32
        assert torch.allclose(layer(x), type(layer).__mro__[1](4)(x.float()))  # torch's layer on the same values
    torch.manual_seed(0)
    G = ResnetGenerator(1, 1, ngf=8, n_blocks=4)
    image = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        exact = G(image)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = G(image)
    assert (mixed.float() - exact).abs().max() < 0.02
