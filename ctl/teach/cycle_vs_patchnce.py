"""Why PatchNCE instead of cycle consistency (notebook 03): the paper's motivation, measured on one CT slice.

CycleGAN-style methods keep content with a cycle loss, |G'(G(x)) - x| (``ctl.translate.cycle.cycle_l1``). The
paper's complaint (its introduction): this "pixel-level constraint is difficult to ensure the content consistency
in the corresponding region (patch)". Stated precisely: the cycle loss is zero for *every* invertible G, with G'
its inverse. It cannot tell a translation that keeps each organ in place from one that mirrors the body (the
kidneys swap sides and the CT labels no longer fit) or shifts it.

PatchNCE asks instead that each patch of G(x) be recognisable as the patch *at the same place* of x, among the
other patches of x. ``content_losses`` scores four invertible "translations" of a slice with both losses:

- ``identity``: nothing changes (the best a content loss can ask for);
- ``mirror``: left-right flip (self-inverse): the anatomy moves, the labels are wrong;
- ``shift``: the anatomy moved down by a quarter of the slice (rolled; inverse: roll back);
- ``grey swap``: the grey values of 100-150 HU (liver, spleen) and 150-200 HU (kidneys) exchanged (self-inverse):
  every organ stays in place, but with another organ's brightness.

PatchNCE is computed with the encoder G_enc and head F of an untrained generator, then again after a few steps
of training G_enc and F on that pair (as CUT trains them), to see which changes a trained encoder can learn to
see through. Mutual information, which PatchNCE bounds, does not change under an invertible remapping of grey
values, so neither loss can decide which grey each tissue gets: that is the adversarial loss's job.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from ctl.data.preprocess import window_ct
from ctl.losses import multilayer_patch_nce
from ctl.nets import PatchProjector, ResnetGenerator
from ctl.translate.cycle import cycle_l1

SWAPPED_HU = ((100.0, 150.0), (150.0, 200.0))  # liver and spleen (about 124 HU) <-> kidneys (about 177 HU)


def swap_bands(image: Tensor, band_a: tuple[float, float], band_b: tuple[float, float]) -> Tensor:
    """Exchange the values in ``band_a`` = [a0, a1) and ``band_b`` = [b0, b1) (equal widths), keeping each value's
    place inside its band: an invertible map that is its own inverse.

    Raises:
        ValueError: when the bands differ in width or overlap.
    """
    (a0, a1), (b0, b1) = band_a, band_b
    if not np.isclose(a1 - a0, b1 - b0) or a1 <= a0:
        raise ValueError(f"the bands must be intervals of equal width, got {band_a} and {band_b}")
    if a0 < b1 and b0 < a1:
        raise ValueError(f"the bands overlap: {band_a} and {band_b}")
    in_a, in_b = (image >= a0) & (image < a1), (image >= b0) & (image < b1)
    out = image.clone()
    out[in_a] = image[in_a] - a0 + b0
    out[in_b] = image[in_b] - b0 + a0
    return out


def content_changes(height: int) -> dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]]:
    """The four invertible translations of the module docstring: name -> (G, its inverse G'), on (B, 1, H, W)."""
    band_a, band_b = (tuple(float(window_ct(np.array(h))) for h in band) for band in SWAPPED_HU)
    shift = height // 4
    return {
        "identity": (lambda x: x, lambda x: x),
        "mirror": (lambda x: x.flip(-1), lambda x: x.flip(-1)),
        "shift": (lambda x: torch.roll(x, shift, dims=-2), lambda x: torch.roll(x, -shift, dims=-2)),
        "grey swap": (lambda x: swap_bands(x, band_a, band_b), lambda x: swap_bands(x, band_a, band_b)),
    }


def patchnce_of_pair(G: ResnetGenerator, F: PatchProjector, source: Tensor, translated: Tensor,
                     layers: Sequence[str], num_patches: int, tau: float) -> Tensor:
    """L_PatchNCE(source, translated) (eq. 5) with G's encoder and the head F, at freshly drawn positions."""
    keys, ids = F(G.encode(source, list(layers)), num_patches)
    queries, _ = F(G.encode(translated, list(layers)), num_patches, patch_ids=ids)
    return multilayer_patch_nce(queries, keys, tau=tau)


def content_losses(image: Tensor, ngf: int, n_blocks: int, layers: Sequence[str], num_patches: int,
                   mlp_width: int, tau: float = 0.07, steps: int = 100, seed: int = 0, repeats: int = 8
                   ) -> dict[str, dict[str, float]]:
    """For each translation of ``content_changes``: the cycle loss with its inverse, and PatchNCE between the
    slice ``image`` (1, 1, H, W) and its translation, with a freshly initialised G_enc and F (the same initial
    weights for every translation) before and after ``steps`` Adam steps on that pair alone.

    PatchNCE values are means over ``repeats`` draws of patch positions. Returns
    {name: {"cycle": ..., "patchnce_untrained": ..., "patchnce_trained": ...}}.
    """
    if image.dim() != 4 or image.shape[:2] != (1, 1):
        raise ValueError(f"image must be one slice (1, 1, H, W), got shape {tuple(image.shape)}")
    results = {}
    for name, (forward, inverse) in content_changes(image.shape[-2]).items():
        translated = forward(image)
        torch.manual_seed(seed)  # the same G_enc and F for every translation
        G, F = ResnetGenerator(ngf=ngf, n_blocks=n_blocks), PatchProjector(mlp_width=mlp_width)

        def measured() -> float:
            with torch.no_grad():
                return float(np.mean([patchnce_of_pair(G, F, image, translated, layers, num_patches, tau).item()
                                      for _ in range(repeats)]))

        untrained = measured()  # also builds F's MLPs, before the optimizer is made
        optimizer = torch.optim.Adam([*G.parameters(), *F.parameters()], lr=2e-4, betas=(0.5, 0.999))
        for _ in range(steps):
            optimizer.zero_grad()
            patchnce_of_pair(G, F, image, translated, layers, num_patches, tau).backward()
            optimizer.step()
        results[name] = {"cycle": cycle_l1(inverse(translated), image).item(), "patchnce_untrained": untrained,
                         "patchnce_trained": measured()}
    return results
