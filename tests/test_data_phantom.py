"""ctl.data.phantom: determinism, anatomy where it belongs, organ sizes, grids."""
import numpy as np
import pytest

from ctl.data.geometry import Grid
from ctl.data.labels import btcv_to_classes
from ctl.data.phantom import (AORTA_ID, GALLBLADDER_ID, LIVER_ID, LKIDNEY_ID, RKIDNEY_ID, SPLEEN_ID, STOMACH_ID, T,
                              TISSUES, anatomy_report, sample_anatomy, sample_grid, voxelise)
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


# --- anatomy checks over many subjects (``anatomy_report``) -------------------------------------------------------

ANATOMY_SEEDS = range(12)


@pytest.fixture(scope="module")
def anatomies():
    """Twelve subjects voxelised at 64 px: ten on CT grids, two on MR grids (5.5-9 mm slices)."""
    out = []
    for seed in ANATOMY_SEEDS:
        rng = np.random.default_rng(seed)
        anatomy = sample_anatomy(rng)
        grid = sample_grid(anatomy, rng, 64, "mr" if seed >= 10 else "ct")
        tissue, label = voxelise(anatomy, grid)
        out.append((anatomy, grid, tissue, label, anatomy_report(tissue, label, grid)))
    return out


def test_anatomy_report_by_hand():
    # 10 mm voxels: a 2x2x2 kidney (8 surface voxels, 8 ml); one liver voxel against its top layer (z index 3),
    # perirenal fat against its 4 voxels at x index 2; an aorta voxel with a liver voxel beside it
    tissue, label = np.zeros((6, 6, 6), np.uint8), np.zeros((6, 6, 6), np.uint8)
    label[2:4, 2:4, 2:4] = RKIDNEY_ID
    label[3, 2, 4] = LIVER_ID
    tissue[2:4, 2:4, 1] = T["perirenal_fat"]
    label[0, 0, 0], label[0, 0, 1] = AORTA_ID, LIVER_ID
    report = anatomy_report(tissue, label, Grid((6, 6, 6), (10.0, 10.0, 10.0), (0.0, 0.0, 0.0)))
    right = report["right_kidney"]
    assert right["liver_spleen_contact"] == pytest.approx(1 / 8)
    assert right["perirenal_fat_contact"] == pytest.approx(4 / 8)
    assert right["lowest_contact"] == pytest.approx(1.0)  # contact only in the upper layer: z = 30 of 20..30 mm
    assert right["shell_liver_spleen"] == pytest.approx(1 / 24, abs=1e-4)  # 24 face neighbours lie within 10 mm
    assert report["left_kidney"] is None
    assert report["aorta_liver_contact"] == pytest.approx(1.0)
    assert report["volume_ml"] == {"liver": 2.0, "spleen": 0.0, "right_kidney": 8.0, "left_kidney": 0.0}
    assert report["centroid_mm"]["right_kidney"] == [25.0, 25.0, 25.0]
    # an older phantom without perirenal fat is measured with its own tissue names: no fat contact
    older = tuple(name for name in TISSUES if name != "perirenal_fat")
    assert anatomy_report(tissue, label, Grid((6, 6, 6), (10.0,) * 3, (0.0,) * 3), older)[
        "right_kidney"]["perirenal_fat_contact"] == 0.0
    with pytest.raises(ValueError, match="one shape"):
        anatomy_report(tissue, label[:5], Grid((6, 6, 6), (10.0,) * 3, (0.0,) * 3))


def test_kidneys_touch_liver_or_spleen_only_at_their_upper_pole(anatomies):
    for *_, report in anatomies:
        for side in ("right_kidney", "left_kidney"):
            kidney = report[side]
            assert kidney["liver_spleen_contact"] <= 0.15, f"{side} touches liver/spleen over {kidney}"
            assert kidney["lowest_contact"] is None or kidney["lowest_contact"] >= 0.6, f"{side}: {kidney}"
            assert kidney["shell_liver_spleen"] <= 0.25, f"{side} is wrapped in liver or spleen: {kidney}"


def test_kidneys_sit_in_perirenal_fat(anatomies):
    for *_, report in anatomies:
        for side in ("right_kidney", "left_kidney"):
            assert report[side]["perirenal_fat_contact"] >= 0.4, f"{side}: {report[side]}"


def test_aorta_lies_in_front_of_the_spine_outside_the_liver(anatomies):
    for anatomy, grid, _, label, report in anatomies:
        assert report["aorta_liver_contact"] == 0.0
        x, y, _ = centroid_mm(label == AORTA_ID, grid)
        front = anatomy.spine["y"] - anatomy.spine["ry"]
        assert 0 < x < 20, "slightly left of the midline"
        assert front - 20 < y < front, "directly in front of the vertebral body"


def test_organ_volumes_are_adult(anatomies):
    """Adult volumes: liver about 1.1-2.0 l (standard liver volume from body surface area, Urata et al.,
    Hepatology 1995; Heinemann et al., Liver Transpl Surg 1999), spleen about 215 +- 75 ml on CT (Prassopoulos et
    al., Eur Radiol 1997), kidneys about 135-150 ml by ultrasound and up to ~200 ml on CT/MR (Emamian et al., AJR
    1993). The ranges below hold those with room for the phantom's spread."""
    ranges = {"liver": (1000, 2500), "spleen": (100, 400), "right_kidney": (100, 250), "left_kidney": (100, 250)}
    for *_, report in anatomies:
        for organ, (low, high) in ranges.items():
            assert low <= report["volume_ml"][organ] <= high, f"{organ}: {report['volume_ml'][organ]} ml"


def test_neighbours_sit_where_anatomy_puts_them(anatomies):
    for _, grid, _, label, report in anatomies:
        c = report["centroid_mm"]
        assert c["liver"][0] < 0 < c["spleen"][0], "liver on the patient's right, spleen on the left"
        assert c["right_kidney"][2] < c["left_kidney"][2], "the right kidney sits lower"
        stomach, aorta = centroid_mm(label == STOMACH_ID, grid), centroid_mm(label == AORTA_ID, grid)
        assert stomach[1] < c["spleen"][1], "stomach in front of the spleen"
        assert min(c["right_kidney"][1], c["left_kidney"][1]) > aorta[1], "kidneys behind the aorta (retroperitoneal)"
        assert c["spleen"][2] > c["left_kidney"][2], "spleen above the left kidney"
        xs, ys = grid.axes()[2], grid.axes()[1]
        liver = label == LIVER_ID
        left = liver & (xs[None, None, :] > 0)
        assert left.sum() >= 0.03 * liver.sum(), "the left lobe crosses the midline"
        assert ys[np.nonzero(left)[1]].mean() < aorta[1] - 20, "... in front"
        if (label == GALLBLADDER_ID).any():
            assert centroid_mm(label == GALLBLADDER_ID, grid)[2] < c["liver"][2], "gallbladder under the liver"


def test_the_voxel_guard_is_rarely_needed(anatomies):
    """Geometry keeps kidney and liver/spleen apart; the voxel guard only mends a coarse grid's lost fat layer."""
    for anatomy, grid, tissue, label, _ in anatomies:
        raw_tissue, raw_label = voxelise(anatomy, grid, guard=False)
        changed = (raw_label != label).sum()
        assert changed <= 0.002 * np.isin(label, [LIVER_ID, SPLEEN_ID]).sum() + 1
        assert np.array_equal(raw_tissue != tissue, raw_label != label)
