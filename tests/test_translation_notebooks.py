"""Helpers of notebooks 02 and 03: GAN loss curves and moving averages by hand, the Gaussian InfoNCE bound
against its known limits, and the plotting helpers on tiny inputs."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ctl.translation_notebooks import (draw_patch_sizes, gaussian_infonce_bound, generator_loss_curves,  # noqa: E402
                                       loss_curves_figure, moving_average, translation_figure)


def test_generator_loss_curves_by_hand():
    curves = generator_loss_curves(np.array([0.0, 1.0, -4.0]))
    minimax, non_saturating, least_squares = (curves[k] for k in
                                              ("minimax GAN", "non-saturating GAN", "least squares (eq. 2)"))
    # at a = 0: sigmoid = 1/2. minimax log(1/2), slope -1/2; non-saturating -log(1/2), slope -1/2; LS 1, slope -2
    np.testing.assert_allclose([minimax[0][0], minimax[1][0]], [math.log(0.5), -0.5])
    np.testing.assert_allclose([non_saturating[0][0], non_saturating[1][0]], [-math.log(0.5), -0.5])
    np.testing.assert_allclose([least_squares[0][0], least_squares[1][0]], [1.0, -2.0])
    assert least_squares[0][1] == 0.0 and least_squares[1][1] == 0.0  # a = 1: the target
    assert minimax[1][2] == pytest.approx(-1 / (1 + math.exp(4)))  # saturated: -sigmoid(-4)
    assert least_squares[1][2] == pytest.approx(-10.0)


def test_moving_average_by_hand():
    np.testing.assert_allclose(moving_average([1, 2, 3, 4], 2), [1.0, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(moving_average([1, 2, 3], 1), [1, 2, 3])
    with pytest.raises(ValueError, match="window"):
        moving_average([1, 2], 0)


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


def test_plotting_helpers_draw_what_they_are_given():
    label = np.zeros((16, 16), np.uint8)
    label[4:8, 4:8] = 1  # liver
    label[10:12, 10:14] = 4  # spleen
    image = np.random.default_rng(0).random((16, 16))
    fig = translation_figure({"CT": [image, image], "MR": [image, image]}, [label, label], ["a", "b"])
    assert len(fig.axes) == 4
    plt.close(fig)
    fig = loss_curves_figure({"x": [{"d": 1.0, "gan": 2.0, "total": 2.0}] * 3,
                              "y": [{"d": 1.0, "gan": 2.0, "nce_source": 3.0, "total": 5.0}] * 3}, window=2)
    assert [ax.get_title() for ax in fig.axes] == ["d", "gan", "nce_source"]
    assert fig.axes[2].lines[0].get_color() == fig.axes[0].lines[1].get_color()  # run "y" keeps its colour
    plt.close(fig)
    fig, ax = plt.subplots()
    draw_patch_sizes(ax, image, (8, 8), {"stem": 7, "res0": 29}, label)
    assert [p.get_width() for p in ax.patches] == [7, 29]
    plt.close(fig)
