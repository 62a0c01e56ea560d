"""ctl.teach.infonce (notebook 03): the Gaussian InfoNCE bound against its known limits; the patch squares."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ctl.teach.infonce import draw_patch_sizes, gaussian_infonce_bound  # noqa: E402


def test_gaussian_bound_is_zero_without_dependence_and_tracks_small_information():
    g = torch.Generator().manual_seed(0)
    true_mi, bound = gaussian_infonce_bound(0.0, dim=3, negatives=15, queries=256, generator=g)
    assert true_mi == 0.0 and bound == pytest.approx(0.0, abs=1e-12)  # all scores equal: L = log(N+1)
    true_mi, bound = gaussian_infonce_bound(0.6, dim=2, negatives=255, queries=4096, generator=g)
    assert true_mi == pytest.approx(-math.log(1 - 0.36))
    assert bound == pytest.approx(true_mi, abs=0.1)  # far below log 256: the bound is nearly tight


def test_gaussian_bound_saturates_at_log_n_plus_1():
    g = torch.Generator().manual_seed(1)
    true_mi, bound = gaussian_infonce_bound(0.999, dim=4, negatives=7, queries=1024, generator=g)
    assert true_mi > 10 and math.log(8) - 0.05 < bound <= math.log(8)
    with pytest.raises(ValueError, match="rho"):
        gaussian_infonce_bound(1.0, 2, 3, 10, g)
    with pytest.raises(ValueError, match="more queries"):
        gaussian_infonce_bound(0.5, 2, 10, 10, g)


def test_one_square_per_layer_around_the_centre():
    label = np.zeros((16, 16), np.uint8)
    label[4:8, 4:8] = 1
    image = np.random.default_rng(0).random((16, 16))
    fig, ax = plt.subplots()
    draw_patch_sizes(ax, image, (8, 8), {"stem": 7, "res0": 29}, label)
    assert [p.get_width() for p in ax.patches] == [7, 29]
    assert ax.patches[0].get_xy() == (8 - 3.5, 8 - 3.5)
    plt.close(fig)
