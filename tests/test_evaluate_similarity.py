"""ctl.evaluate.similarity, the structure-preservation numbers of notebooks 02 and 05: masked NCC by hand and
against numpy, SSIM against MONAI."""
import math

import numpy as np
import pytest
import torch
from monai.metrics import SSIMMetric

from ctl.evaluate.similarity import masked_ncc, masked_ssim, mean_over_window_centres, ssim_map


def test_ncc_by_hand():
    # inside the mask a = (1, 2, 3), b = (1, 3, 2): centred (-1, 0, 1), (-1, 1, 0) -> r = 1 / (sqrt 2 * sqrt 2) = 0.5
    a = np.array([[1.0, 2.0], [3.0, 9.0]])
    b = np.array([[1.0, 3.0], [2.0, -7.0]])
    mask = np.array([[True, True], [True, False]])  # the fourth pixel is outside and must not count
    assert masked_ncc(a, b, mask) == pytest.approx(0.5)


def test_ncc_ignores_brightness_and_contrast_and_sees_inversion():
    rng = np.random.default_rng(0)
    truth = rng.random((2, 16, 16))
    mask = truth > 0.3
    assert masked_ncc(2.5 * truth + 0.1, truth, mask) == pytest.approx(1.0)
    assert masked_ncc(1 - truth, truth, mask) == pytest.approx(-1.0)
    other = rng.random((2, 16, 16))
    expected = np.corrcoef(other[mask], truth[mask])[0, 1]
    assert masked_ncc(torch.from_numpy(other), truth, mask) == pytest.approx(expected)


def test_ncc_of_a_constant_image_is_nan_and_bad_inputs_raise():
    truth = np.random.default_rng(1).random((8, 8))
    assert math.isnan(masked_ncc(np.full((8, 8), 0.4), truth, np.ones((8, 8), bool)))
    with pytest.raises(ValueError, match="mask is empty"):
        masked_ncc(truth, truth, np.zeros((8, 8), bool))
    with pytest.raises(ValueError, match="same shape"):
        masked_ncc(truth, truth[:4], np.ones((8, 8), bool))


def test_ssim_of_identical_images_is_one():
    x = np.random.default_rng(2).random((32, 32))
    assert masked_ssim(x, x, np.ones_like(x, bool)) == pytest.approx(1.0)


def test_ssim_matches_monai_without_a_mask():
    rng = np.random.default_rng(3)
    a = rng.random((2, 40, 36))
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), 0, 1)
    metric = SSIMMetric(spatial_dims=2, data_range=1.0, kernel_type="gaussian", win_size=11, kernel_sigma=1.5)
    expected = metric(torch.from_numpy(a)[:, None], torch.from_numpy(b)[:, None]).mean().item()
    assert masked_ssim(a, b, np.ones_like(a, bool)) == pytest.approx(expected, rel=1e-6)


def test_masked_ssim_averages_the_map_over_window_centres_in_the_mask():
    rng = np.random.default_rng(4)
    a, b = rng.random((30, 30)), rng.random((30, 30))
    mask = np.zeros((30, 30), bool)
    mask[10:20, 12:18] = True
    values = ssim_map(a, b)  # (20, 20): centres 5..24
    assert values.shape == (20, 20)
    assert masked_ssim(a, b, mask) == pytest.approx(values[5:15, 7:13].mean().item())
    border = np.zeros((30, 30), bool)
    border[0, 0] = True
    with pytest.raises(ValueError, match="inside the slice border"):
        masked_ssim(a, b, border)


def test_one_ssim_map_serves_several_masks_and_refuses_a_foreign_one():
    rng = np.random.default_rng(5)
    a, b = rng.random((3, 24, 24)), rng.random((3, 24, 24))
    values = ssim_map(a, b)
    for threshold in (0.2, 0.7):
        mask = a > threshold
        assert mean_over_window_centres(values, mask) == masked_ssim(a, b, mask)
    with pytest.raises(ValueError, match="does not belong to a mask"):
        mean_over_window_centres(values, np.ones((3, 30, 30), bool))
