"""ctl.teach.lsgan (notebook 02): GAN loss curves and moving averages by hand, the figures on tiny inputs."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ctl.presets import PRESETS  # noqa: E402
from ctl.teach.lsgan import (generator_loss_curves, loss_curves_figure, moving_average,  # noqa: E402
                             translation_preset)


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


def test_the_translators_train_half_the_iterations_with_at_least_20():
    cpu = translation_preset(PRESETS["cpu"].replace(iterations=1000, checkpoint_every=250))
    assert (cpu.iterations, cpu.checkpoint_every) == (500, 250)
    ci = translation_preset(PRESETS["ci"].replace(iterations=6, checkpoint_every=3))
    assert (ci.iterations, ci.checkpoint_every) == (20, 3)
    assert translation_preset(PRESETS["ci"].replace(iterations=30, checkpoint_every=50)).checkpoint_every == 20


def test_the_loss_curves_draw_what_they_are_given():
    iterations = np.arange(1.0, 4.0)
    fig = loss_curves_figure({"x": {"iteration": iterations, "d": np.ones(3), "gan": np.ones(3), "total": np.ones(3)},
                              "y": {"iteration": iterations, "d": np.ones(3), "gan": np.ones(3),
                                    "nce_source": np.ones(3), "total": np.ones(3)}}, window=2)
    assert [ax.get_title() for ax in fig.axes] == ["d", "gan", "nce_source"]
    assert fig.axes[0].get_ylabel() == "d loss (moving average of 2)"
    assert fig.axes[2].lines[0].get_color() == fig.axes[0].lines[1].get_color()  # run "y" keeps its colour
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), iterations)
    plt.close(fig)
