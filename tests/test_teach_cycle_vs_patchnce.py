"""ctl.teach.cycle_vs_patchnce (notebook 03): every translation of the demonstration is exactly undone by its
inverse (cycle loss 0), the grey swap exchanges the two HU bands and nothing else, and PatchNCE sees a moved
anatomy where the cycle loss sees nothing."""
import numpy as np
import pytest
import torch

from ctl.teach.cycle_vs_patchnce import content_changes, content_losses, swap_bands


def test_swap_bands_by_hand_and_is_its_own_inverse():
    x = torch.tensor([0.05, 0.62, 0.69, 0.70, 0.75, 0.95])
    swapped = swap_bands(x, (0.6, 0.7), (0.7, 0.8))
    assert swapped.tolist() == pytest.approx([0.05, 0.72, 0.79, 0.60, 0.65, 0.95])
    assert torch.allclose(swap_bands(swapped, (0.6, 0.7), (0.7, 0.8)), x)
    with pytest.raises(ValueError, match="equal width"):
        swap_bands(x, (0.6, 0.7), (0.7, 0.9))
    with pytest.raises(ValueError, match="overlap"):
        swap_bands(x, (0.6, 0.7), (0.65, 0.75))


def asymmetric_slice(size=32):
    """A body disk with an 'organ' of 0.64 (100-150 HU after the window) on the left, one of 0.75 on the right."""
    yy, xx = np.mgrid[:size, :size]
    image = np.where((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 2 - 2) ** 2, 0.3, 0.0)
    image[8:16, 6:14] = 0.64
    image[18:22, 20:24] = 0.75
    return torch.from_numpy(image[None, None].astype(np.float32))


def test_every_translation_is_undone_by_its_inverse_and_the_swap_changes_only_the_two_bands():
    x = asymmetric_slice()
    changes = content_changes(x.shape[-2])
    assert list(changes) == ["identity", "mirror", "shift", "grey swap"]
    for forward, inverse in changes.values():
        assert torch.equal(inverse(forward(x)), x)
    swapped = changes["grey swap"][0](x)
    # (124 + 200) / 500: 0.64 lies in [0.6, 0.7) (100-150 HU) and moves to 0.74; 0.75 moves to 0.65
    assert torch.allclose(swapped[0, 0, 10, 10], torch.tensor(0.74)) and torch.allclose(swapped[0, 0, 20, 21],
                                                                                         torch.tensor(0.65))
    assert torch.equal(swapped[x == 0.3], x[x == 0.3])  # the body's 0.3 is in neither band
    assert torch.equal(changes["mirror"][0](x)[..., 7], x[..., 24])


def test_cycle_loss_is_zero_for_all_while_patchnce_rises_when_the_anatomy_moves():
    results = content_losses(asymmetric_slice(), ngf=4, n_blocks=1, layers=("input", "stem", "down1"),
                             num_patches=16, mlp_width=8, steps=2, repeats=4)
    assert all(r["cycle"] == 0.0 for r in results.values())
    for moved in ("mirror", "shift"):
        assert results[moved]["patchnce_untrained"] > results["identity"]["patchnce_untrained"]
    with pytest.raises(ValueError, match=r"one slice \(1, 1, H, W\)"):
        content_losses(torch.zeros(2, 1, 8, 8), ngf=4, n_blocks=1, layers=("input",), num_patches=4, mlp_width=4)
