"""The phantom: determinism, anatomy, CT Hounsfield values, MR contrast (ctl.data.phantom, ctl.data.render)."""
import numpy as np
import pytest

from ctl.data.geometry import Grid, SmoothField
from ctl.data.labels import btcv_to_classes
from ctl.data.phantom import LIVER_ID, LKIDNEY_ID, RKIDNEY_ID, SPLEEN_ID, T, sample_anatomy, sample_grid, voxelise
from ctl.data.render import mr_relative, render_ct, render_mr, render_subject, spin_echo_signal

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def subjects():
    """Three CT subjects (with the paired MR) at 64 px, and their anatomies on the same grids."""
    out = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        anatomy = sample_anatomy(rng)
        grid = sample_grid(anatomy, rng, 64, "ct")
        tissue, label = voxelise(anatomy, grid)
        out.append((anatomy, grid, tissue, label, render_ct(tissue, grid, rng), render_mr(tissue, grid, rng)))
    return out


def test_same_seed_same_subject_bit_for_bit():
    a, b = render_subject(5, "ct", 2, size=32), render_subject(5, "ct", 2, size=32)
    assert a.grid == b.grid
    assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)
    assert np.array_equal(a.paired_mr, b.paired_mr)
    c = render_subject(5, "ct", 3, size=32)
    assert c.grid != a.grid or not np.array_equal(c.label, a.label)


def test_asking_for_the_paired_mr_does_not_change_the_ct():
    with_pair, without = render_subject(1, "ct", 1, size=32), render_subject(1, "ct", 1, paired=False, size=32)
    assert without.paired_mr is None
    assert np.array_equal(with_pair.image, without.image)


def test_mr_and_ct_subjects_are_different_people():
    ct, mr = render_subject(0, "ct", 1, size=32), render_subject(0, "mr", 1, size=32)
    assert ct.grid.spacing[0] < 5.01 < 5.5 <= mr.grid.spacing[0]  # CT slices 2.5-5 mm, MR 5.5-9 mm


def centroid_mm(mask: np.ndarray, grid: Grid) -> np.ndarray:
    """(x, y, z) LPS centroid of a mask in mm."""
    zs, ys, xs = grid.axes()
    k, j, i = np.nonzero(mask)
    return np.array([xs[i].mean(), ys[j].mean(), zs[k].mean()])


def test_organs_sit_where_anatomy_puts_them(subjects):
    for _, grid, _, label, _, _ in subjects:
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


def test_organs_stay_inside_the_body(subjects):
    for anatomy, grid, _, label, _, _ in subjects:
        zs, ys, xs = grid.axes()
        b = anatomy.body
        taper = 1.0 + 0.0006 * (zs[:, None, None] - 50.0)
        inner = (np.abs(xs[None, None, :] / (b["a"] * taper - b["fat"])) ** b["exponent"]
                 + np.abs((ys[None, :, None] - b["y_shift"]) / (b["b"] * taper - b["fat"])) ** b["exponent"]) < 1
        organs = np.isin(label, [LIVER_ID, SPLEEN_ID, RKIDNEY_ID, LKIDNEY_ID])
        assert organs.any()
        assert (organs & ~inner).sum() <= 0.01 * organs.sum(), "organs must stay inside the subcutaneous fat"


def test_each_organ_covers_a_plausible_height(subjects):
    for _, grid, _, label, _, _ in subjects:
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


@pytest.mark.parametrize("tissue,low,high", [
    ("liver", 84, 164), ("spleen", 82, 162), ("kidney", 117, 237), ("aorta", 124, 244),
    ("subcutaneous_fat", -130, -70), ("muscle", 20, 80), ("bone_cortex", 300, 1100), ("air", -1024, -950),
])
def test_ct_hounsfield_values_per_tissue(subjects, tissue, low, high):
    for _, _, tissues, _, ct, _ in subjects:
        values = ct[tissues == T[tissue]]
        if values.size < 30:
            continue
        assert low <= np.median(values) <= high, f"{tissue}: median {np.median(values):.0f} HU"


def test_spin_echo_signal_by_hand():
    # liver at 3 T (T1 809 ms, T2 34 ms), TE 80 ms, TR 1600 ms: (1 - e^-1.97775)(e^-2.35294) = 0.86162 * 0.09509
    assert spin_echo_signal(809, 34, 80, 1600) == pytest.approx(0.08193, abs=1e-5)
    rel = mr_relative()
    assert rel["liver"] == pytest.approx(1.0)
    assert rel["spleen"] == pytest.approx(2.30, abs=0.01)
    assert rel["kidney"] == pytest.approx(3.21, abs=0.01)
    assert rel["muscle"] == pytest.approx(0.64, abs=0.01)
    assert rel["subcutaneous_fat"] == pytest.approx(0.1 * 3.707, abs=0.01)  # fat 3.71 before SPIR
    with pytest.raises(ValueError, match="positive"):
        spin_echo_signal(0, 34, 80, 1600)


def test_mr_contrast_differs_from_ct(subjects):
    for _, _, tissues, _, ct, mr in subjects:
        med = {t: (np.median(ct[tissues == T[t]]), np.median(mr[tissues == T[t]]))
               for t in ("liver", "spleen", "kidney")}
        assert abs(med["spleen"][0] - med["liver"][0]) < 45, "liver and spleen look alike in CT"
        assert med["spleen"][1] / med["liver"][1] > 1.5, "the spleen is much brighter than the liver in T2 MR"
        assert med["kidney"][1] / med["liver"][1] > 2.0
        fat_ct, fat_mr = np.median(ct[tissues == T["subcutaneous_fat"]]), np.median(mr[tissues == T["subcutaneous_fat"]])
        assert fat_ct < -50 and fat_mr < med["spleen"][1] / 2


def test_mr_is_non_negative_and_has_a_bias_field(subjects):
    for _, _, tissues, _, _, mr in subjects:
        assert (mr >= 0).all()
        liver = mr[tissues == T["liver"]]
        assert np.percentile(liver, 90) / np.percentile(liver, 10) > 1.1  # bias and noise spread the liver


def test_smooth_field_is_defined_in_millimetres():
    field = SmoothField(np.random.default_rng(0), spacing_mm=20.0)
    zs, ys, xs = (np.linspace(-100, 100, 41, dtype=np.float32),) * 3
    full = field(zs, ys, xs)
    part = field(zs[10:20], ys[::2], xs[5:7])
    assert np.allclose(full[10:20, ::2, 5:7], part, atol=1e-5)
    assert 0.5 < full.std() < 1.5
    with pytest.raises(ValueError, match="leave the field's box"):
        field(np.array([900.0], np.float32), ys, xs)


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


def test_labels_map_to_our_classes(subjects):
    classes = btcv_to_classes(subjects[0][3])
    assert set(np.unique(classes)) == {0, 1, 2, 3, 4}
