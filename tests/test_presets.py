"""The preset table: one place, every preset complete, CTL_PRESET overriding, bad names refused."""
import dataclasses

import pytest

from ctl.presets import PRESET_ENV_VAR, PRESETS, Preset, get_preset


def test_the_four_presets_exist_in_order_of_size():
    assert list(PRESETS) == ["ci", "cpu", "gpu", "paper"]
    sizes = [PRESETS[name].image_size for name in PRESETS]
    assert sizes == sorted(sizes)
    iterations = [PRESETS[name].iterations for name in PRESETS]
    assert iterations == sorted(iterations)


def test_each_preset_is_named_after_its_key():
    for name, preset in PRESETS.items():
        assert preset.name == name


def test_reference_sizes_at_gpu_and_paper():
    # CUT/CycleGAN's reference generator: ngf 64, 9 residual blocks at 256x256; CUT samples 256 patches per layer
    # from 5 layers with tau 0.07; the paper resamples to 256x256 and uses lr 2e-4 and a 20 % test split.
    for name in ("gpu", "paper"):
        p = PRESETS[name]
        assert (p.image_size, p.ngf, p.n_blocks, p.ndf) == (256, 64, 9, 64)
        assert (p.num_patches, len(p.nce_layers), p.nce_tau, p.mlp_width) == (256, 5, 0.07, 256)
        assert (p.n_ct, p.n_mr, p.test_fraction, p.lr) == (30, 20, 0.2, 2e-4)
    assert PRESETS["paper"].data_source == "real"


def test_image_sizes_fit_the_unet_depth():
    for p in PRESETS.values():
        assert p.image_size % (2 ** p.unet_depth) == 0, p.name
        assert p.image_size % 4 == 0, p.name  # the generator downsamples twice


def test_every_preset_keeps_at_least_one_test_subject_per_domain():
    for p in PRESETS.values():
        assert round(p.n_ct * p.test_fraction) >= 1 and round(p.n_mr * p.test_fraction) >= 1, p.name


def test_environment_variable_overrides_requested_preset(capsys):
    assert get_preset("cpu", env={PRESET_ENV_VAR: "ci"}).name == "ci"
    assert "overrides" in capsys.readouterr().out
    assert get_preset("gpu", env={}).name == "gpu"
    assert get_preset("gpu", env={PRESET_ENV_VAR: "  "}).name == "gpu"


@pytest.mark.parametrize("requested, env", [("laptop", {}), ("cpu", {PRESET_ENV_VAR: "tiny"})])
def test_unknown_preset_names_the_choices(requested, env):
    with pytest.raises(ValueError, match=r"unknown preset .*choose one of \['ci', 'cpu', 'gpu', 'paper'\]"):
        get_preset(requested, env=env)


def test_presets_are_frozen_and_replace_returns_a_copy():
    p = PRESETS["ci"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.iterations = 1  # type: ignore[misc]
    q = p.replace(iterations=1)
    assert isinstance(q, Preset) and q.iterations == 1 and p.iterations != 1
