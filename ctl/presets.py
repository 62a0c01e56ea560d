"""The preset table: every size, count and schedule that depends on how much compute a run has.

Notebooks hold only plain values in their ``parameters`` cell (``PRESET = "cpu"``); the next cell calls
``get_preset(PRESET)`` and reads everything else from the returned ``Preset``. This file is the one place where
these numbers live.

- ``ci``    exercises every code path in seconds per notebook (tiny images, a handful of iterations).
- ``cpu``   the default: meaningful results on a 2-core laptop or a 2 GB Binder in well under an hour.
- ``gpu``   the full-size phantom on one GPU, with the reference network sizes.
- ``paper`` the paper's settings, meant for the real BTCV/CHAOS data.

The environment variable ``CTL_PRESET`` overrides the requested preset, so that tools which cannot inject
papermill parameters (nbval) can still run the notebooks small.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

PRESET_ENV_VAR = "CTL_PRESET"


@dataclass(frozen=True)
class Preset:
    """Settings derived from a preset name. Units are given beside each field."""

    name: str
    # --- data -------------------------------------------------------------------------------------------
    image_size: int  # in-plane size of the prepared axial slices (pixels); the paper resamples to 256
    phantom_size: int  # in-plane size the phantom is rendered at (pixels) before resampling
    n_ct: int  # phantom CT subjects; the paper has 30 BTCV volumes
    n_mr: int  # phantom MR subjects; the paper has 20 CHAOS T2-SPIR volumes
    test_fraction: float  # share of subjects held out for testing, by subject (the paper: 20 %)
    # --- translation networks (CUT/CycleGAN ResNet generator and PatchGAN discriminator) ----------------
    ngf: int  # generator base width (reference: 64)
    n_blocks: int  # residual blocks in the generator (reference: 9 at 256x256)
    ndf: int  # discriminator base width (reference: 64)
    disc_norm: str  # normalisation of the PatchGANs' hidden layers: "instance" (reference) or "none"
    nce_layers: tuple[str, ...]  # generator encoder layers used by PatchNCE (CUT uses 5)
    num_patches: int  # patches sampled per layer and image for PatchNCE (CUT: 256)
    nce_tau: float  # InfoNCE temperature (CUT: 0.07)
    mlp_width: int  # hidden and output width of the projection head F (CUT: 256)
    # --- segmenter (2D U-Net) ---------------------------------------------------------------------------
    unet_base: int  # channels at the first U-Net level
    unet_depth: int  # number of down-sampling levels
    # --- training ---------------------------------------------------------------------------------------
    batch_size: int  # slices per step
    iterations: int  # segmenter updates per method (the same for every method at a preset)
    lr: float  # Adam learning rate (the paper: 2e-4)
    checkpoint_every: int  # iterations between checkpoints
    seeds: tuple[int, ...]  # seeds evaluated per method (mean and std across them where there are several)
    data_source: str  # "phantom" or "real": what this preset is meant for

    def replace(self, **changes) -> "Preset":
        """A copy with some fields changed, e.g. ``get_preset("cpu").replace(iterations=10)``."""
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, Preset] = {
    "ci": Preset(
        name="ci",
        image_size=48, phantom_size=48, n_ct=5, n_mr=5, test_fraction=0.2,  # 4 train + 1 test per domain
        ngf=8, n_blocks=2, ndf=8, disc_norm="instance", nce_layers=("input", "stem", "down1", "res0"),
        num_patches=32, nce_tau=0.07, mlp_width=32,
        unet_base=8, unet_depth=3,
        batch_size=2, iterations=6, lr=2e-4, checkpoint_every=3, seeds=(0,),
        data_source="phantom",
    ),
    # cpu (chosen by experiments on phantom seed 0; benchmarks/heldout.py re-measures it on unseen seeds): a narrow
    # generator (ngf 8) with 6 residual blocks, so that its receptive field (109 px) covers the whole 96 px slice:
    # in CT the spleen looks like the liver, and only its place in the body tells G to render it brighter (with 2
    # blocks, 45 px, ours' spleen Dice was 57 against 84); an unnormalised D, which sees brightness (with instance
    # norm G's translations stayed dark, see ctl.nets.discriminator); lr 5e-4 and 1500 iterations, because a GAN at 1000
    # iterations and 2e-4 had not learnt MR's contrasts (2000 would have made the series longer: at 1500 it takes
    # about 28 minutes on 2 cores, with methods trained two at a time); the U-Net keeps base 16 (base 8 under-fits CT).
    "cpu": Preset(
        name="cpu",
        image_size=96, phantom_size=128, n_ct=30, n_mr=20, test_fraction=0.2,
        ngf=8, n_blocks=6, ndf=16, disc_norm="none", nce_layers=("input", "stem", "down1", "down2", "res1"),
        num_patches=128, nce_tau=0.07, mlp_width=128,
        unet_base=16, unet_depth=4,
        batch_size=4, iterations=1500, lr=5e-4, checkpoint_every=500, seeds=(0,),
        data_source="phantom",
    ),
    "gpu": Preset(
        name="gpu",
        image_size=256, phantom_size=256, n_ct=30, n_mr=20, test_fraction=0.2,
        ngf=64, n_blocks=9, ndf=64, disc_norm="instance", nce_layers=("input", "stem", "down1", "res0", "res4"),
        num_patches=256, nce_tau=0.07, mlp_width=256,
        unet_base=32, unet_depth=5,
        batch_size=8, iterations=20000, lr=2e-4, checkpoint_every=1000, seeds=(0, 1, 2),
        data_source="phantom",
    ),
    "paper": Preset(
        name="paper",
        image_size=256, phantom_size=256, n_ct=30, n_mr=20, test_fraction=0.2,
        ngf=64, n_blocks=9, ndf=64, disc_norm="instance", nce_layers=("input", "stem", "down1", "res0", "res4"),
        num_patches=256, nce_tau=0.07, mlp_width=256,
        unet_base=32, unet_depth=5,
        batch_size=8, iterations=50000, lr=2e-4, checkpoint_every=2000, seeds=(0, 1, 2),
        data_source="real",
    ),
}


def get_preset(requested: str, *, env: dict[str, str] | None = None) -> Preset:
    """The ``Preset`` called ``requested``, unless the ``CTL_PRESET`` environment variable names another.

    Raises:
        ValueError: when either name is not one of ``PRESETS``.
    """
    env = os.environ if env is None else env
    override = env.get(PRESET_ENV_VAR, "").strip()
    name = override or requested
    if name not in PRESETS:
        source = f"environment variable {PRESET_ENV_VAR}" if override else "PRESET"
        raise ValueError(f"unknown preset {name!r} (from {source}); choose one of {sorted(PRESETS)}")
    if override and override != requested:
        print(f"{PRESET_ENV_VAR}={override} overrides the requested preset {requested!r}")
    return PRESETS[name]
