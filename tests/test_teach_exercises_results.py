"""ctl.teach.exercises_results: the checkers of notebooks 04-05 fed None, right answers worked out by hand and
the common wrong ones; the exact bootstrap distribution against a hand count and a large Monte Carlo sample."""
import numpy as np
import pytest

from ctl.evaluate.metrics import assd
from ctl.teach.exercises_results import (bootstrap_distribution, check_assd_modes, check_bootstrap_interval,
                                         check_dice_and_assd, check_gap_closed, check_seg_gradient_reach,
                                         check_variant_reading, quantile)


def status(result, capsys):
    printed = capsys.readouterr().out
    assert printed.strip().endswith(result.message)
    return result.status, printed


def test_seg_gradient_reach(capsys):
    assert status(check_seg_gradient_reach(None, True), capsys)[0] == "unanswered"
    assert status(check_seg_gradient_reach({"U", "G"}, True), capsys)[0] == "right"
    assert status(check_seg_gradient_reach(["u"], False), capsys)[0] == "right"
    kind, printed = status(check_seg_gradient_reach({"U", "G"}, False), capsys)
    assert kind == "wrong" and "detached" in printed
    kind, printed = status(check_seg_gradient_reach({"U", "G", "D"}, True), capsys)
    assert kind == "wrong" and "never passes through D" in printed and "detached" not in printed
    kind, printed = status(check_seg_gradient_reach({"G"}, True), capsys)
    assert kind == "wrong" and "computes L_seg itself" in printed
    assert "not among" in status(check_seg_gradient_reach({"X"}, True), capsys)[1]
    assert "set of names" in status(check_seg_gradient_reach("UG", True), capsys)[1]


def test_gap_closed(capsys):
    # source_only 40, ours 70, oracle 90: (70 - 40) / (90 - 40) = 60 %
    assert status(check_gap_closed(None, 40, 70, 90), capsys)[0] == "unanswered"
    assert status(check_gap_closed(60, 40, 70, 90), capsys)[0] == "right"
    kind, printed = status(check_gap_closed(0.6, 40, 70, 90), capsys)
    assert kind == "wrong" and "not a fraction" in printed
    kind, printed = status(check_gap_closed(100 * 30 / 90, 40, 70, 90), capsys)
    assert kind == "wrong" and "gap between the bounds" in printed and "60" not in printed
    assert "undefined" in status(check_gap_closed(10, 50, 60, 45), capsys)[1]


def test_variant_reading(capsys):
    dice = {"default": 60.0, "default, seed 1": 57.0, "no identity": 58.5, "detached": 61.0}
    # largest effect |61 - 60| = 1 < seed difference 3: not larger
    assert status(check_variant_reading(None, dice, "default", "default, seed 1"), capsys)[0] == "unanswered"
    assert status(check_variant_reading(False, dice, "default", "default, seed 1"), capsys)[0] == "right"
    assert status(check_variant_reading(True, dice, "default", "default, seed 1"), capsys)[0] == "wrong"
    dice["detached"] = 70.0  # now 10 > 3
    assert status(check_variant_reading(True, dice, "default", "default, seed 1"), capsys)[0] == "right"
    assert "True or False" in status(check_variant_reading("yes", dice, "default", "default, seed 1"), capsys)[1]
    assert "needs the runs 'default' and 'default, seed 2'" in status(
        check_variant_reading(True, dice, "default", "default, seed 2"), capsys)[1]
    assert "at least one variant" in status(check_variant_reading(True, {"default": 1.0, "default, seed 1": 2.0},
                                                                  "default", "default, seed 1"), capsys)[1]


def toy():
    truth = np.zeros((12, 12), bool)
    truth[2:10, 2:10] = True
    pred = np.zeros_like(truth)
    pred[4:8, 4:8] = True  # a small prediction inside: its surface is half the truth's
    return pred, truth


def test_assd_modes_by_hand(capsys):
    pred, truth = toy()
    # P (4 x 4) has 12 surface pixels, each 2 px from T's surface: sum 24. T (8 x 8) has 28: along each edge of 8
    # pixels, 4 face P's edge at 2 px, 2 are sqrt(5) and 2 are sqrt(8) away (top and bottom rows); along each side
    # column of 6, 4 at 2 and 2 at sqrt(5): sum 2 (8 + 2 sqrt 5 + 2 sqrt 8) + 2 (8 + 2 sqrt 5)
    to_pred = 2 * (8 + 2 * 5 ** 0.5 + 2 * 8 ** 0.5) + 2 * (8 + 2 * 5 ** 0.5)
    a, b = (24 + to_pred) / (12 + 28), (24 / 12 + to_pred / 28) / 2  # pooled 2.130, mean of means 2.093
    assert assd(pred, truth, (1.0, 1.0)).value == pytest.approx(a)
    assert assd(pred, truth, (1.0, 1.0), mode="mean_of_means").value == pytest.approx(b)
    assert status(check_assd_modes(None, 1.0, pred, truth, (1.0, 1.0)), capsys)[0] == "unanswered"
    assert status(check_assd_modes(a, b, pred, truth, (1.0, 1.0)), capsys)[0] == "right"
    kind, printed = status(check_assd_modes(b, a, pred, truth, (1.0, 1.0)), capsys)
    assert kind == "wrong" and "swapped" in printed
    kind, printed = status(check_assd_modes(a, a, pred, truth, (1.0, 1.0)), capsys)
    assert kind == "wrong" and "mean of means" in printed and "pooled:" not in printed


def test_dice_and_assd(capsys):
    pred, truth = toy()
    # Dice = 2 * 16 / (16 + 64) = 0.4
    spacing = (2.0, 1.0)
    mm = assd(pred, truth, spacing).value
    assert status(check_dice_and_assd(None, 1.0, pred, truth, spacing), capsys)[0] == "unanswered"
    assert status(check_dice_and_assd(0.4, mm, pred, truth, spacing), capsys)[0] == "right"
    assert "fraction" in status(check_dice_and_assd(40, mm, pred, truth, spacing), capsys)[1]
    voxels = assd(pred, truth, unit="voxel").value
    assert "in mm" in status(check_dice_and_assd(0.4, voxels, pred, truth, spacing), capsys)[1]


def test_exact_bootstrap_distribution_by_hand():
    # two values 0 and 1: resamples {0,0} (p 1/4, mean 0), {0,1} (p 1/2, mean 0.5), {1,1} (p 1/4, mean 1)
    means, probs = bootstrap_distribution([0.0, 1.0])
    assert means.tolist() == [0.0, 0.5, 1.0] and probs.tolist() == [0.25, 0.5, 0.25]
    assert quantile(means, probs, 0.25) == 0.0 and quantile(means, probs, 0.26) == 0.5
    values = np.array([3.0, -1.0, 4.0, 1.5, 5.0])
    means, probs = bootstrap_distribution(values)
    assert probs.sum() == pytest.approx(1.0) and means @ probs == pytest.approx(values.mean())
    sampled = np.random.default_rng(1).choice(values, (100_000, 5)).mean(1)
    for level in (0.025, 0.5, 0.975):  # a Monte Carlo percentile lands within the slack of the exact one
        assert quantile(means, probs, level - 0.01) <= np.percentile(sampled, 100 * level) <= \
            quantile(means, probs, level + 0.01)
    with pytest.raises(ValueError, match="1 to 10"):
        bootstrap_distribution(np.arange(11.0))


def test_bootstrap_interval(capsys):
    differences = np.array([3.0, -1.0, 4.0, 1.5, 5.0])
    boot = np.random.default_rng(0).choice(differences, (20_000, 5)).mean(1)
    interval = tuple(np.percentile(boot, [2.5, 97.5]))
    assert interval[0] > 0  # every resample mean below 0 needs mostly -1s: rare
    assert status(check_bootstrap_interval(None, None, differences), capsys)[0] == "unanswered"
    assert status(check_bootstrap_interval(interval, True, differences), capsys)[0] == "right"
    kind, printed = status(check_bootstrap_interval(interval, False, differences), capsys)
    assert kind == "wrong" and "0 lies inside" in printed
    sd = differences.std(ddof=1)
    too_wide = (differences.mean() - 2 * sd, differences.mean() + 2 * sd)  # a spread of volumes, not of the mean
    kind, printed = status(check_bootstrap_interval(too_wide, False, differences), capsys)
    assert kind == "wrong" and "percentiles" in printed
    kind, printed = status(check_bootstrap_interval((3.5, 5.0), True, differences), capsys)
    assert kind == "wrong" and "observed mean" in printed
    assert "at least one" in status(check_bootstrap_interval((0, 1), True, []), capsys)[1]
    one = check_bootstrap_interval((2.0, 2.0), True, [2.0])  # one volume: the interval is that value
    assert status(one, capsys)[0] == "right"
