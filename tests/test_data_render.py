"""ctl.data.render: CT Hounsfield values per tissue, the MR signal model and its contrast, the paired MR."""
import numpy as np
import pytest

from ctl.data.phantom import T, sample_anatomy, sample_grid, voxelise
from ctl.data.render import mr_relative, render_ct, render_mr, render_subject, spin_echo_signal


def test_asking_for_the_paired_mr_does_not_change_the_ct():
    with_pair, without = render_subject(1, "ct", 1, size=32), render_subject(1, "ct", 1, paired=False, size=32)
    assert without.paired_mr is None
    assert np.array_equal(with_pair.image, without.image)


@pytest.mark.parametrize("tissue,low,high", [
    ("liver", 84, 164), ("spleen", 82, 162), ("kidney", 117, 237), ("aorta", 124, 244),
    ("subcutaneous_fat", -130, -70), ("muscle", 20, 80), ("bone_cortex", 300, 1100), ("air", -1024, -950),
])
def test_ct_hounsfield_values_per_tissue(rendered_subjects, tissue, low, high):
    checked = 0
    for _, _, tissues, _, ct, _ in rendered_subjects:
        values = ct[tissues == T[tissue]]
        if values.size < 30:  # too few voxels of this tissue in this subject for a stable median
            continue
        assert low <= np.median(values) <= high, f"{tissue}: median {np.median(values):.0f} HU"
        checked += 1
    assert checked, f"no subject has 30 voxels of {tissue}: nothing was checked"


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


def test_mr_contrast_differs_from_ct(rendered_subjects):
    for _, _, tissues, _, ct, mr in rendered_subjects:
        med = {t: (np.median(ct[tissues == T[t]]), np.median(mr[tissues == T[t]]))
               for t in ("liver", "spleen", "kidney")}
        assert abs(med["spleen"][0] - med["liver"][0]) < 45, "liver and spleen look alike in CT"
        assert med["spleen"][1] / med["liver"][1] > 1.5, "the spleen is much brighter than the liver in T2 MR"
        assert med["kidney"][1] / med["liver"][1] > 2.0
        fat_ct, fat_mr = np.median(ct[tissues == T["subcutaneous_fat"]]), np.median(mr[tissues == T["subcutaneous_fat"]])
        assert fat_ct < -50 and fat_mr < med["spleen"][1] / 2


def test_mr_is_non_negative_and_has_a_bias_field(rendered_subjects):
    for _, _, tissues, _, _, mr in rendered_subjects:
        assert (mr >= 0).all()
        liver = mr[tissues == T["liver"]]
        assert np.percentile(liver, 90) / np.percentile(liver, 10) > 1.1  # bias and noise spread the liver


def test_vessels_are_bright_in_ct_and_dark_in_mr(subjects):
    checked = 0
    for _, _, tissues, _, ct, mr in subjects:
        vessel, liver = tissues == T["liver_vessel"], tissues == T["liver"]
        if vessel.sum() < 10:
            continue
        checked += 1
        assert np.median(ct[vessel]) > np.median(ct[liver]) + 15, "portal-venous CT: veins enhance above the liver"
        assert np.median(mr[vessel]) < 0.7 * np.median(mr[liver]), "T2 spin echo: flow void"
    assert checked >= 2, "too few subjects show liver vessels at this size to check them"


def test_kidney_enhances_nearly_uniformly_in_ct(subjects):
    for _, _, tissues, _, ct, _ in subjects:
        cortex, medulla = ct[tissues == T["kidney"]], ct[tissues == T["renal_medulla"]]
        assert medulla.size > 10 and abs(np.median(cortex) - np.median(medulla)) < 40


def test_anatomical_texture_enters_ct_and_mr_alike():
    rng = np.random.default_rng(0)
    anatomy = sample_anatomy(rng)
    grid = sample_grid(anatomy, rng, 48, "ct")
    tissue, _ = voxelise(anatomy, grid)
    texture = anatomy.texture(*grid.axes())
    liver = tissue == T["liver"]
    for render, weight in ((render_ct, 5.0), (render_mr, None)):
        plain = render(tissue, grid, np.random.default_rng(1))
        textured = render(tissue, grid, np.random.default_rng(1), texture=texture)
        diff = (textured - plain)[liver]
        assert np.corrcoef(diff, texture[liver])[0, 1] > 0.8  # the same field, blurred a little
        if weight:
            assert np.std(diff) == pytest.approx(weight * np.std(texture[liver]), rel=0.25)  # 5 HU per unit
