"""ctl.teach.exercises: every checker of notebooks 01-03 fed None, a right answer worked out by hand, and wrong
answers (the common mistakes each hint is for); a wrong answer's message never contains the right value."""
import math

import numpy as np
import pytest

from ctl.teach.exercises import (Verdict, check_ct_window, check_gan_gradients, check_infonce,
                                 check_lambda_sweep, check_lsgan_landmarks, check_negatives_for_bound,
                                 check_prepared_spacing, check_top1_accuracy, check_voxel_to_ras)


def assert_status(result, status, capsys, contains=(), hidden=()):
    """The checker returned ``status``, printed its message, and the message names ``contains`` but none of
    ``hidden`` (the right value, in the forms a student would type it)."""
    printed = capsys.readouterr().out
    assert isinstance(result, Verdict) and result.status == status, printed
    assert printed.strip().endswith(result.message) and printed.count("\n") == 1
    assert bool(result) == (status == "right")
    for text in contains:
        assert text in printed, printed
    for text in hidden:
        assert text not in result.message, result.message


def forms(value):
    return [f"{value:.2f}", f"{value:.3f}", f"{value:.4f}"]


def test_ct_window(capsys):
    # (176 + 200) / 500 = 0.752; -500 HU is clipped to the window's lower edge: 0
    assert_status(check_ct_window(None, hu=176), "unanswered", capsys, ["Not answered yet"])
    assert_status(check_ct_window(0.752, hu=176), "right", capsys)
    assert_status(check_ct_window(0.0, hu=-500), "right", capsys)
    assert_status(check_ct_window(-0.6, hu=-500), "wrong", capsys, ["clipped"])
    assert_status(check_ct_window((50 + 200) / 300, hu=50), "wrong", capsys, ["width"], forms(0.5))
    assert_status(check_ct_window(0.3, hu=176), "wrong", capsys, [], forms(0.752))
    assert_status(check_ct_window("0.75", hu=176), "right", capsys)  # a number typed as text still counts
    assert_status(check_ct_window([0.7, 0.8], hu=176), "wrong", capsys, ["one number"])


AFFINE = np.array([[-2.0, 0, 0, 100.0], [0, -2.0, 0, 50.0], [0, 0, 3.0, -20.0], [0, 0, 0, 1]])


def test_voxel_to_ras(capsys):
    # voxel (10, 5, 2): x = -20 + 100 = 80, y = -10 + 50 = 40, z = 6 - 20 = -14
    assert_status(check_voxel_to_ras(None, AFFINE, (10, 5, 2)), "unanswered", capsys)
    assert_status(check_voxel_to_ras((80, 40, -14), AFFINE, (10, 5, 2)), "right", capsys, ["right side"])
    assert_status(check_voxel_to_ras((-20, -10, 6), AFFINE, (10, 5, 2)), "wrong", capsys, ["translation"])
    # voxel (2, 5, 10) is at (96, 40, 10); (80, 40, -14) is the voxel read backwards, (10, 5, 2)
    assert_status(check_voxel_to_ras((80, 40, -14), AFFINE, (2, 5, 10)), "wrong", capsys, ["wrong order"])
    assert_status(check_voxel_to_ras((1, 2), AFFINE, (10, 5, 2)), "wrong", capsys, ["three numbers"])


def test_prepared_spacing(capsys):
    # 200 x 250 pixels of 1.5 mm: field of view 375 mm (the larger side), 375 / 250 = 1.5 mm at 250 px; at 300 px
    # it is 375 / 300 = 1.25 mm
    assert_status(check_prepared_spacing(None, (200, 250), (1.5, 1.5), 300), "unanswered", capsys)
    assert_status(check_prepared_spacing(1.25, (200, 250), (1.5, 1.5), 300), "right", capsys)
    assert_status(check_prepared_spacing(1.0, (200, 250), (1.5, 1.5), 300), "wrong", capsys, ["smaller side"],
                  forms(1.25))
    assert_status(check_prepared_spacing(0.9, (200, 250), (1.5, 1.5), 300), "wrong", capsys, [], forms(1.25))


def test_gan_gradients(capsys):
    s = 1 / (1 + math.exp(1.0))  # sigmoid(-1)
    assert_status(check_gan_gradients(None, None, None, score=-1.0), "unanswered", capsys)
    assert_status(check_gan_gradients(-s, -(1 - s), 2 * (-1 - 1), score=-1.0), "right", capsys)
    result = check_gan_gradients(s, -(1 - s), -2.0, score=-1.0)  # minimax sign flipped, least squares without 2
    assert_status(result, "wrong", capsys, ["`minimax` (check its sign)", "`least_squares`", "factor 2"])
    assert "non_saturating" not in result.message
    assert_status(check_gan_gradients(-s, None, -4.0, score=-1.0), "wrong", capsys, ["`non_saturating`"])


def test_lsgan_landmarks(capsys):
    # D outputs 0.5: L_dis = 0.25 + 0.25, L_gen = 0.25; D outputs 0.2: L_dis = 0.04 + 0.64, L_gen = 0.64
    assert_status(check_lsgan_landmarks(None, 0.25), "unanswered", capsys)
    assert_status(check_lsgan_landmarks(0.5, 0.25), "right", capsys)
    assert_status(check_lsgan_landmarks(0.68, 0.64, d_output=0.2), "right", capsys)
    assert_status(check_lsgan_landmarks(0.25, 0.25), "wrong", capsys, ["two terms", "only one"])
    assert_status(check_lsgan_landmarks(0.5, 0.0), "wrong", capsys, ["towards 1"])


def test_lambda_sweep(capsys):
    ssim = {0.0: 0.30, 0.5: 0.41, 1.0: 0.44, 4.0: 0.39}
    ncc = {0.0: 0.40, 0.5: 0.47, 1.0: 0.45, 4.0: 0.42}  # NCC prefers 0.5: it disagrees with SSIM
    assert_status(check_lambda_sweep(None, None, ssim, ncc), "unanswered", capsys)
    assert_status(check_lambda_sweep(1.0, False, ssim, ncc), "right", capsys)
    assert_status(check_lambda_sweep(1.0, True, ssim, ncc), "wrong", capsys, ["highest NCC"])
    assert_status(check_lambda_sweep(0.5, False, ssim, ncc), "wrong", capsys, ["lambda 0.5 has SSIM 0.410"])
    assert_status(check_lambda_sweep(2.0, False, ssim, ncc), "wrong", capsys, ["one of the lambdas"])
    assert_status(check_lambda_sweep(1.0, "no", ssim, ncc), "wrong", capsys, ["True or False"])
    assert_status(check_lambda_sweep(1.0, False, {}, {}), "wrong", capsys, ["fill `sweep_ssim`"])


def test_infonce_against_the_hand_worked_value_of_notebook_03(capsys):
    # notebook 03's example: logits 1.92, 1.20, 1.60, 0.56; softmax of the positive 0.4049; L = 0.9040
    q, k_pos, k_neg, tau = [0.6, 0.8], [0.8, 0.6], [[1, 0], [0, 1], [-0.6, 0.8]], 0.5
    logits = np.array([1.92, 1.20, 1.60, 0.56])
    loss = -logits[0] + np.log(np.exp(logits).sum())
    assert loss == pytest.approx(0.9040, abs=1e-4)
    assert_status(check_infonce(None, q, k_pos, k_neg, tau), "unanswered", capsys)
    assert_status(check_infonce(0.904, q, k_pos, k_neg, tau), "right", capsys)
    assert_status(check_infonce(0.4049, q, k_pos, k_neg, tau), "wrong", capsys, ["probability"], ["0.904"])
    no_positive = -logits[0] + np.log(np.exp(logits[1:]).sum())
    assert_status(check_infonce(no_positive, q, k_pos, k_neg, tau), "wrong", capsys, ["sums over the positive"])
    untempered = -0.96 + np.log(np.exp(logits * tau).sum())
    assert_status(check_infonce(untempered, q, k_pos, k_neg, tau), "wrong", capsys, ["temperature"])
    assert_status(check_infonce(-0.9, q, k_pos, k_neg, tau), "wrong", capsys, ["never negative"])


def test_negatives_for_bound(capsys):
    # log(N + 1) >= 3 nats: N + 1 >= e^3 = 20.09, so N = 20 (log 21 = 3.04; log 20 = 2.996 falls short)
    assert_status(check_negatives_for_bound(None, 3.0), "unanswered", capsys)
    assert_status(check_negatives_for_bound(20, 3.0), "right", capsys)
    assert_status(check_negatives_for_bound(21, 3.0), "wrong", capsys, ["one too many"])
    assert_status(check_negatives_for_bound(19, 3.0), "wrong", capsys, ["too few"])
    assert_status(check_negatives_for_bound(100, 3.0), "wrong", capsys, ["fewer would do"], ["20 "])
    assert_status(check_negatives_for_bound(2.5, 3.0), "wrong", capsys, ["whole number"])


def test_top1_accuracy(capsys):
    sim = np.array([[0.9, 0.1, 0.2], [0.95, 0.5, 0.1], [0.0, 0.3, 0.8]])  # rows 0 and 2 find their key: 2/3
    assert_status(check_top1_accuracy(None, sim), "unanswered", capsys)
    assert_status(check_top1_accuracy(2 / 3, sim), "right", capsys)
    assert_status(check_top1_accuracy(66.7, sim), "wrong", capsys, ["not a percentage"])
    by_columns = np.array([[0.5, 0.9, 0.0], [0.2, 0.1, 0.3], [0.1, 0.0, 0.4]])  # rows: 1/3 right; columns: 2/3
    assert_status(check_top1_accuracy(2 / 3, by_columns), "wrong", capsys, ["each row"])
    assert_status(check_top1_accuracy(0.5, np.ones((2, 3))), "wrong", capsys, ["must be square"])
    assert_status(check_top1_accuracy(0.5, None), "wrong", capsys, ["must be square"])  # the matrix not computed
