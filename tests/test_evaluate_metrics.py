"""ctl.evaluate.metrics: Dice and ASSD against hand-worked values, medpy and MONAI; empty masks; bad input."""
import math
import warnings

import numpy as np
import pytest
from medpy.metric.binary import asd as medpy_asd
from medpy.metric.binary import assd as medpy_assd
from medpy.metric.binary import dc as medpy_dice
import torch
from monai.metrics import compute_average_surface_distance
from scipy.ndimage import gaussian_filter

from ctl.evaluate.metrics import SurfaceDistance, assd, dice, score_volume, slice_dice, surface, surface_distances
from ctl.organs import ORGAN_LABELS

SPACING = (3.0, 0.8, 1.1)  # (z, y, x) mm: thick slices, anisotropic in-plane


def blobs(shape, seed, smooth=2.0):
    """Random smooth shapes (several components, holes): smoothed noise above its median."""
    field = gaussian_filter(np.random.default_rng(seed).random(shape), smooth)
    return field > np.median(field)


def random_pair(seed, shape=(14, 32, 30)):
    rng = np.random.default_rng(seed)
    a = gaussian_filter(rng.random(shape), 1.5)
    b = gaussian_filter(rng.random(shape), 1.5)
    return a > np.quantile(a, 0.6), b > np.quantile(b, 0.7)


# ---------------------------------------------------------------- hand-worked values
def test_dice_by_hand():
    pred = np.zeros((2, 3, 3), bool)
    truth = np.zeros((2, 3, 3), bool)
    pred[0, :2, :2] = True  # 4 voxels
    truth[0, :2, :] = True  # 6 voxels, 4 shared
    assert dice(pred, truth) == pytest.approx(2 * 4 / (4 + 6))
    assert dice(truth, truth) == 1.0
    assert dice(pred.astype(np.uint8), truth.astype(np.uint8)) == pytest.approx(0.8)


def test_two_single_voxels_are_one_anisotropic_step_apart():
    pred = np.zeros((5, 6, 7), bool)
    truth = np.zeros((5, 6, 7), bool)
    pred[2, 2, 3] = True
    truth[3, 4, 3] = True  # 1 slice (3 mm) and 2 rows (0.8 mm each) away
    expected = math.hypot(3.0, 1.6)
    for mode in ("pooled", "mean_of_means"):
        assert assd(pred, truth, SPACING, mode=mode).value == pytest.approx(expected, abs=1e-12)
    assert assd(pred, truth, unit="voxel").value == pytest.approx(math.sqrt(5), abs=1e-12)
    assert dice(pred, truth) == 0.0


def test_two_cubes_offset_along_z():
    # Every voxel of a 2x2x2 cube is on its surface. The cubes are 4 slices apart: voxels of the near face are
    # 3 slices from the other cube, those of the far face 4 slices, in both directions: ASSD = 3.5 slices.
    pred = np.zeros((8, 4, 4), bool)
    truth = np.zeros((8, 4, 4), bool)
    pred[0:2, 1:3, 1:3] = True
    truth[4:6, 1:3, 1:3] = True
    assert assd(pred, truth, (2.5, 0.7, 0.7)).value == pytest.approx(3.5 * 2.5, abs=1e-12)
    assert assd(pred, truth, unit="voxel").value == pytest.approx(3.5, abs=1e-12)


def test_point_inside_cube_separates_pooled_from_mean_of_means():
    # pred: the centre voxel; truth: the 3x3x3 cube around it, whose surface is its 26 outer voxels. With
    # spacing (2, 1, 1) the outer voxels lie at: 2 z-faces 2 mm, 4 in-plane faces 1 mm, 4 in-plane edges
    # sqrt(2), 8 edges with a z step sqrt(5), 8 corners sqrt(6); the centre's nearest outer voxel is 1 mm away.
    pred = np.zeros((5, 5, 5), bool)
    truth = np.zeros((5, 5, 5), bool)
    pred[2, 2, 2] = True
    truth[1:4, 1:4, 1:4] = True
    outer = 2 * 2 + 4 * 1 + 4 * math.sqrt(2) + 8 * math.sqrt(5) + 8 * math.sqrt(6)
    spacing = (2.0, 1.0, 1.0)
    assert surface(truth).sum() == 26
    assert assd(pred, truth, spacing).value == pytest.approx((1 + outer) / 27, abs=1e-12)
    assert assd(pred, truth, spacing, mode="mean_of_means").value == pytest.approx(0.5 * (1 + outer / 26),
                                                                                   abs=1e-12)
    pred_to_truth, truth_to_pred = surface_distances(pred, truth, spacing)
    assert pred_to_truth.tolist() == [1.0]
    assert truth_to_pred.size == 26 and truth_to_pred.max() == pytest.approx(math.sqrt(6))


def test_identical_masks_score_perfectly():
    mask = blobs((10, 20, 20), seed=3)
    assert dice(mask, mask) == 1.0
    assert assd(mask, mask, SPACING).value == 0.0


# ---------------------------------------------------------------- against medpy and MONAI
@pytest.mark.parametrize("seed", range(6))
def test_matches_medpy_on_random_shapes(seed):
    pred, truth = random_pair(seed)
    assert dice(pred, truth) == pytest.approx(medpy_dice(pred, truth), abs=1e-12)
    assert assd(pred, truth, SPACING).value == pytest.approx(medpy_assd(pred, truth, SPACING), abs=1e-6)
    older = 0.5 * (medpy_asd(pred, truth, SPACING) + medpy_asd(truth, pred, SPACING))
    assert assd(pred, truth, SPACING, mode="mean_of_means").value == pytest.approx(older, abs=1e-6)
    assert assd(pred, truth, unit="voxel").value == pytest.approx(medpy_assd(pred, truth), abs=1e-6)


@pytest.mark.parametrize("case", ["touching_border", "far_apart", "small_in_large", "hollow", "2d", "conn2"])
def test_matches_medpy_on_built_shapes(case):
    shape = (12, 40, 36)
    pred = np.zeros(shape, bool)
    truth = np.zeros(shape, bool)
    spacing, connectivity = SPACING, 1
    if case == "touching_border":  # surface voxels on the array border; the crop must not move them
        pred[:5, :10, 20:] = True
        truth[:7, :12, 25:] = True
    elif case == "far_apart":  # the crop spans almost the whole array
        pred[0:3, 0:4, 0:4] = True
        truth[9:12, 35:40, 30:36] = True
    elif case == "small_in_large":
        pred[5:7, 18:21, 17:19] = True
        truth[2:10, 8:30, 6:30] = True
    elif case == "hollow":  # a shell with a cavity: the cavity wall is surface too
        truth[2:10, 8:30, 6:30] = True
        truth[4:8, 12:26, 10:26] = False
        pred = blobs(shape, seed=11)
    elif case == "2d":
        pred, truth = random_pair(5, shape=(40, 36))[0], random_pair(6, shape=(40, 36))[1]
        spacing = (0.8, 1.1)
    elif case == "conn2":
        pred, truth = random_pair(7)
        connectivity = 2
    got = assd(pred, truth, spacing, connectivity=connectivity).value
    assert got == pytest.approx(medpy_assd(pred, truth, spacing, connectivity=connectivity), abs=1e-6)


def test_matches_monai_symmetric_average_surface_distance():
    pred, truth = random_pair(2)

    def one_hot(mask):  # (B=1, C=2, Z, H, W): background and foreground channels
        return torch.from_numpy(np.stack([~mask, mask])[None].astype(np.float32))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = compute_average_surface_distance(one_hot(pred), one_hot(truth), include_background=False,
                                                     symmetric=True, spacing=SPACING)
    assert assd(pred, truth, SPACING).value == pytest.approx(float(reference), rel=1e-5)


# ---------------------------------------------------------------- empty masks
def test_empty_masks_are_flagged_never_inf():
    empty = np.zeros((4, 5, 6), bool)
    full = empty.copy()
    full[1:3, 1:4, 2:5] = True
    assert dice(empty, full) == 0.0 and dice(full, empty) == 0.0
    assert math.isnan(dice(empty, empty))
    cases = [(empty, full, "empty_prediction"), (full, empty, "empty_truth"), (empty, empty, "both_empty")]
    for pred, truth, status in cases:
        result = assd(pred, truth, SPACING)
        assert result.status == status and math.isnan(result.value) and result.unit == "mm"
    assert assd(full, full, SPACING) == SurfaceDistance(0.0, "mm", "pooled", "ok")
    with pytest.raises(ValueError, match="pred is empty"):
        surface_distances(empty, full, SPACING)


# ---------------------------------------------------------------- per organ
def test_score_volume_per_organ():
    truth = np.zeros((6, 12, 12), np.uint8)
    truth[1:5, 1:6, 1:6] = ORGAN_LABELS["liver"]
    truth[2:4, 7:10, 2:4] = ORGAN_LABELS["right_kidney"]
    truth[2:4, 7:10, 8:11] = ORGAN_LABELS["left_kidney"]  # spleen absent from this volume
    pred = truth.copy()
    pred[pred == ORGAN_LABELS["left_kidney"]] = 0  # the left kidney is missed
    pred[1:5, 1:6, 6] = ORGAN_LABELS["liver"]  # the liver leaks one column to the right
    scores = score_volume(pred, truth, SPACING)
    assert list(scores) == list(ORGAN_LABELS)
    liver = scores["liver"]
    assert liver.dice == pytest.approx(2 * 100 / (120 + 100))
    assert liver.assd == pytest.approx(assd(pred == 1, truth == 1, SPACING).value)
    assert (liver.status, liver.assd_unit, liver.pred_voxels, liver.truth_voxels) == ("ok", "mm", 120, 100)
    assert scores["right_kidney"].dice == 1.0 and scores["right_kidney"].assd == 0.0
    left = scores["left_kidney"]
    assert left.status == "empty_prediction" and left.dice == 0.0 and math.isnan(left.assd)
    assert left.as_dict()["assd"] is None and left.as_dict()["dice"] == 0.0
    spleen = scores["spleen"]
    assert spleen.status == "both_empty" and spleen.as_dict()["dice"] is None
    voxel = score_volume(pred, truth, unit="voxel")
    assert voxel["liver"].assd_unit == "voxel"
    assert voxel["liver"].assd == pytest.approx(medpy_assd(pred == 1, truth == 1))


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


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, message", [
    (lambda m: dice(m, m[:-1]), "shape"),
    (lambda m: dice(m[None], m[None]), "2D or 3D"),
    (lambda m: dice(m * 2, m), "not binary"),
    (lambda m: assd(m, m), "spacing .* is required"),
    (lambda m: assd(m, m, (1.0, 1.0)), "3 positive finite"),
    (lambda m: assd(m, m, (1.0, -1.0, 1.0)), "3 positive finite"),
    (lambda m: assd(m, m, SPACING, unit="cm"), "unit="),
    (lambda m: assd(m, m, SPACING, mode="hausdorff"), "mode="),
    (lambda m: assd(m, m, SPACING, connectivity=0), "connectivity=0"),
    (lambda m: score_volume(m.astype(float), m, SPACING), "integer label"),
])
def test_bad_input_is_refused_with_a_clear_message(call, message):
    mask = np.zeros((4, 5, 6), np.uint8)
    mask[1:3, 1:4, 1:5] = 1
    with pytest.raises(ValueError, match=message):
        call(mask)


def test_voxel_unit_warns_that_spacing_has_no_effect():
    mask = blobs((6, 10, 10), seed=1)
    with pytest.warns(UserWarning, match="ignores spacing"):
        result = assd(mask, mask, SPACING, unit="voxel")
    assert result.unit == "voxel"
