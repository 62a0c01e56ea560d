"""ctl.data.phantom: determinism, anatomy where it belongs, organ sizes, grids."""
import numpy as np
import pytest

from ctl.data.geometry import Grid
from ctl.data.labels import btcv_to_classes
from ctl.data.phantom import LIVER_ID, LKIDNEY_ID, RKIDNEY_ID, SPLEEN_ID, sample_anatomy, sample_grid, voxelise
from ctl.data.render import render_subject


def test_same_seed_same_subject_bit_for_bit():
    a, b = render_subject(5, "ct", 2, size=32), render_subject(5, "ct", 2, size=32)
    assert a.grid == b.grid
    assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)
    assert np.array_equal(a.paired_mr, b.paired_mr)
    c = render_subject(5, "ct", 3, size=32)
    assert c.grid != a.grid or not np.array_equal(c.label, a.label)


def test_mr_and_ct_subjects_are_different_people():
    ct, mr = render_subject(0, "ct", 1, size=32), render_subject(0, "mr", 1, size=32)
    assert ct.grid.spacing[0] < 5.01 < 5.5 <= mr.grid.spacing[0]  # CT slices 2.5-5 mm, MR 5.5-9 mm


def centroid_mm(mask: np.ndarray, grid: Grid) -> np.ndarray:
    """(x, y, z) LPS centroid of a mask in mm."""
    zs, ys, xs = grid.axes()
    k, j, i = np.nonzero(mask)
    return np.array([xs[i].mean(), ys[j].mean(), zs[k].mean()])


def test_organs_sit_where_anatomy_puts_them(rendered_subjects):
    for _, grid, _, label, _, _ in rendered_subjects:
        liver, spleen = centroid_mm(label == LIVER_ID, grid), centroid_mm(label == SPLEEN_ID, grid)
        right, left = centroid_mm(label == RKIDNEY_ID, grid), centroid_mm(label == LKIDNEY_ID, grid)
        assert liver[0] < 0, "liver on the patient's right (negative LPS x)"
        assert spleen[0] > 0 and spleen[1] > 0, "spleen on the left and posterior"
        assert right[0] < 0 < left[0], "right kidney on the right, left on the left"
        assert right[2] < left[2], "the right kidney sits lower (under the liver)"
        assert liver[2] > right[2], "liver above the kidneys"
        # in the image: patient right = low column index (radiological display)
        cols = np.nonzero(label == LIVER_ID)[2]
        assert cols.mean() < grid.shape[2] / 2


def test_organs_stay_inside_the_body(rendered_subjects):
    for anatomy, grid, _, label, _, _ in rendered_subjects:
        zs, ys, xs = grid.axes()
        b = anatomy.body
        taper = 1.0 + 0.0006 * (zs[:, None, None] - 50.0)
        inner = (np.abs(xs[None, None, :] / (b["a"] * taper - b["fat"])) ** b["exponent"]
                 + np.abs((ys[None, :, None] - b["y_shift"]) / (b["b"] * taper - b["fat"])) ** b["exponent"]) < 1
        organs = np.isin(label, [LIVER_ID, SPLEEN_ID, RKIDNEY_ID, LKIDNEY_ID])
        assert organs.any()
        assert (organs & ~inner).sum() <= 0.01 * organs.sum(), "organs must stay inside the subcutaneous fat"


def test_each_organ_covers_a_plausible_height(rendered_subjects):
    for _, grid, _, label, _, _ in rendered_subjects:
        heights = {}
        for name, lid in (("liver", LIVER_ID), ("spleen", SPLEEN_ID), ("rk", RKIDNEY_ID), ("lk", LKIDNEY_ID)):
            slices = np.flatnonzero((label == lid).any(axis=(1, 2)))
            heights[name] = (slices[-1] - slices[0] + 1) * grid.spacing[0]
            assert 0 < slices[0] and slices[-1] < grid.shape[0] - 1, f"{name} must not touch the stack's ends"
        assert 100 <= heights["liver"] <= 230
        assert 50 <= heights["spleen"] <= 160
        assert 70 <= heights["rk"] <= 160 and 70 <= heights["lk"] <= 160


def test_organ_volumes_do_not_depend_on_the_grid():
    rng = np.random.default_rng(3)
    anatomy = sample_anatomy(rng)
    coarse = Grid((50, 40, 40), (5.0, 10.0, 10.0), (-120.0, -200.0, -200.0))
    fine = Grid((125, 100, 100), (2.0, 4.0, 4.0), (-121.5, -203.0, -203.0))
    for lid in (LIVER_ID, SPLEEN_ID, RKIDNEY_ID, LKIDNEY_ID):
        volumes = [(voxelise(anatomy, g)[1] == lid).sum() * np.prod(g.spacing) for g in (coarse, fine)]
        assert volumes[0] == pytest.approx(volumes[1], rel=0.15)


def test_bad_grid_requests():
    anatomy = sample_anatomy(np.random.default_rng(0))
    with pytest.raises(ValueError, match="modality"):
        sample_grid(anatomy, np.random.default_rng(0), 64, "pet")
    with pytest.raises(ValueError, match="too small"):
        sample_grid(anatomy, np.random.default_rng(0), 8, "ct")
    with pytest.raises(ValueError, match="domain"):
        render_subject(0, "us", 1)
    with pytest.raises(ValueError, match="1-based"):
        render_subject(0, "ct", 0)


def test_labels_map_to_our_classes(rendered_subjects):
    classes = btcv_to_classes(rendered_subjects[0][3])
    assert set(np.unique(classes)) == {0, 1, 2, 3, 4}
