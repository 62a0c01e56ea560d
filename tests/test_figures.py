"""Display helpers of notebooks 04 and 05 whose numbers matter: the body crop and slice-wise Dice."""
import math

import numpy as np
import pytest

from ctl.figures import body_box
from ctl.metrics import slice_dice


def test_body_box_crops_to_the_body_with_its_margin_and_ignores_a_noise_pixel():
    image = np.zeros((40, 50))
    image[10:20, 5:30] = 0.6  # the body
    image[35, 45] = 0.9  # one noisy pixel far from it
    rows, cols = body_box(image, margin=2)
    assert (rows, cols) == (slice(8, 22), slice(3, 32))
    assert body_box(np.zeros((8, 8))) == (slice(None), slice(None))
    with pytest.raises(ValueError, match="one slice"):
        body_box(np.zeros((2, 8, 8)))


def test_slice_dice_by_hand():
    truth = np.zeros((4, 4, 4), bool)
    pred = np.zeros((4, 4, 4), bool)
    truth[0, :2, :2] = pred[0, :2, :2] = True  # slice 0: perfect, Dice 1
    truth[1, :2, :2] = True
    pred[1, :2, :1] = True  # slice 1: 2 of 4 truth pixels, Dice 2*2/(2+4) = 2/3
    pred[2, 3, 3] = True  # slice 2: a false positive only, Dice 0; slice 3 empty in both: not counted
    assert slice_dice(pred, truth) == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert math.isnan(slice_dice(np.zeros((2, 3, 3), bool), np.zeros((2, 3, 3), bool)))
    with pytest.raises(ValueError, match="volumes"):
        slice_dice(pred[0], truth[0])
