"""ctl.data.btcv: the phantom's CT read back through the BTCV loader, NIfTI orientation, folders, bad input."""
import shutil

import nibabel as nib
import numpy as np
import pytest

from conftest import PHANTOM_SEED, PHANTOM_SIZE
from ctl.data.btcv import find_btcv_root, list_btcv_cases, load_btcv_case, obliquity_deg, read_nifti_lps
from ctl.data.labels import btcv_to_classes
from ctl.data.render import render_subject


def test_ct_round_trip_through_the_btcv_loader(written_phantom):
    for number in (1, 2):
        truth = render_subject(PHANTOM_SEED, "ct", number, size=PHANTOM_SIZE)
        ct = load_btcv_case(find_btcv_root(written_phantom / "btcv"), number)
        assert ct.subject == f"ct{number:04d}" and ct.domain == "ct"
        assert np.array_equal(ct.image, np.rint(truth.image))  # stored as int16 HU
        assert np.array_equal(ct.label, btcv_to_classes(truth.label))
        assert np.allclose(ct.spacing, truth.grid.spacing, rtol=1e-6)


def test_flipped_and_permuted_nifti_give_the_same_volume(written_phantom, tmp_path):
    path = written_phantom / "btcv/img/img0001.nii.gz"
    reference, spacing, _ = read_nifti_lps(path)
    img = nib.load(str(path))
    data, affine = np.asanyarray(img.dataobj), img.affine
    n = data.shape[0]
    flip = np.array([[-1, 0, 0, n - 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])  # new i -> old n-1-i
    swap = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])  # exchange i and j
    variants = {"flipped_x": (data[::-1], affine @ flip), "swapped_xy": (data.transpose(1, 0, 2), affine @ swap),
                "flipped_z": (data[:, :, ::-1], affine @ np.diag([1, 1, -1, 1]) + np.array(
                    [[0, 0, 0, affine[0, 2] * (data.shape[2] - 1)], [0, 0, 0, affine[1, 2] * (data.shape[2] - 1)],
                     [0, 0, 0, affine[2, 2] * (data.shape[2] - 1)], [0, 0, 0, 0]]))}
    for name, (array, new_affine) in variants.items():
        nib.save(nib.Nifti1Image(np.ascontiguousarray(array), new_affine), str(tmp_path / f"{name}.nii.gz"))
        out, out_spacing, _ = read_nifti_lps(tmp_path / f"{name}.nii.gz")
        assert np.array_equal(out, reference), name
        assert np.allclose(out_spacing, spacing), name


def test_the_loader_accepts_the_folders_above(phantom_copy):
    (phantom_copy / "RawData").mkdir()
    shutil.move(phantom_copy / "btcv", phantom_copy / "RawData" / "Training")
    assert find_btcv_root(phantom_copy) == phantom_copy / "RawData" / "Training"
    assert list_btcv_cases(phantom_copy / "RawData" / "Training") == [1, 2]


def test_missing_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_btcv_root(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no img/ folder"):
        find_btcv_root(tmp_path)


def test_image_without_label_and_label_without_image(phantom_copy):
    (phantom_copy / "btcv/label/label0002.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="images without a label.*img0002"):
        list_btcv_cases(phantom_copy / "btcv")
    shutil.copy(phantom_copy / "btcv/label/label0001.nii.gz", phantom_copy / "btcv/label/label0002.nii.gz")
    shutil.copy(phantom_copy / "btcv/label/label0001.nii.gz", phantom_copy / "btcv/label/label0007.nii.gz")
    with pytest.raises(FileNotFoundError, match="labels without an image.*label0007"):
        list_btcv_cases(phantom_copy / "btcv")


def test_mismatched_shapes_geometry_and_unknown_labels(phantom_copy):
    label_path = phantom_copy / "btcv/label/label0001.nii.gz"
    label = nib.load(str(label_path))
    data = np.asanyarray(label.dataobj)
    nib.save(nib.Nifti1Image(data[:, :, :-1], label.affine), str(label_path))
    with pytest.raises(ValueError, match="img0001.nii.gz has shape .* but label0001.nii.gz has"):
        load_btcv_case(phantom_copy / "btcv", 1)
    shifted = label.affine.copy()
    shifted[0, 3] += 5.0
    nib.save(nib.Nifti1Image(data, shifted), str(label_path))
    with pytest.raises(ValueError, match="different affines"):
        load_btcv_case(phantom_copy / "btcv", 1)
    bad = data.copy()
    bad[0, 0, 0] = 20
    nib.save(nib.Nifti1Image(bad, label.affine), str(label_path))
    with pytest.raises(ValueError, match=r"label values \[20\] are not BTCV ids"):
        load_btcv_case(phantom_copy / "btcv", 1)


@pytest.mark.parametrize("damage, match", [
    (lambda b: b[: len(b) // 2], r"cannot be read \(EOFError: Compressed file ended"),
    (lambda b: b"", r"cannot be read \(ImageFileError: Empty file"),
    (lambda b: b[:100], r"cannot be read \(ImageFileError"),
])
def test_a_truncated_or_empty_nifti_is_named(phantom_copy, damage, match):
    path = phantom_copy / "btcv/img/img0002.nii.gz"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=rf"img0002.nii.gz {match}.*truncated, empty or not NIfTI"):
        load_btcv_case(phantom_copy / "btcv", 2)


def test_a_label_volume_or_a_ct_without_air_is_not_taken_for_a_ct(phantom_copy):
    image = phantom_copy / "btcv/img/img0001.nii.gz"
    shutil.copy(phantom_copy / "btcv/label/label0001.nii.gz", image)
    with pytest.raises(ValueError, match=r"img0001.nii.gz holds only \d+ distinct values \[0.0, .*: this is a label "
                                         r"volume, not a CT image in HU"):
        load_btcv_case(phantom_copy / "btcv", 1)
    original = nib.load(str(phantom_copy / "btcv/img/img0002.nii.gz"))
    hu = np.asanyarray(original.dataobj)
    assert hu.min() < -900  # the phantom has air around the body, as every abdominal CT
    nib.save(nib.Nifti1Image(np.maximum(hu, -200).astype(hu.dtype), original.affine), str(image))  # windowed
    with pytest.raises(ValueError, match=r"img0001.nii.gz: no voxel is below -500 HU \(minimum -200\)"):
        load_btcv_case(phantom_copy / "btcv", 1)


def test_obliquity_by_hand_and_an_oblique_affine_warns_with_the_angle(phantom_copy):
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    assert obliquity_deg(np.diag([-0.8, -0.8, 3.0])) == 0.0
    assert obliquity_deg(rotation @ np.diag([0.8, 0.8, 3.0])) == pytest.approx(30.0)
    assert obliquity_deg(np.array([[1, 0, 0], [0, c, -s], [0, s, c]])) == pytest.approx(30.0)  # about x
    reference = load_btcv_case(phantom_copy / "btcv", 1)
    for name in ("img/img0001.nii.gz", "label/label0001.nii.gz"):
        path = phantom_copy / "btcv" / name
        img = nib.load(str(path))
        turned = np.eye(4)
        turned[:3, :3] = rotation
        nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj), turned @ img.affine), str(path))
    with pytest.warns(UserWarning, match=r"img0001.nii.gz: the voxel axes are oblique, up to 30.0° from the scanner "
                                         r"axes; they are snapped") as warned:
        oblique = load_btcv_case(phantom_copy / "btcv", 1)
    assert len(warned) == 1  # once per case, not again for its label
    assert np.array_equal(oblique.image, reference.image)  # snapped, not resampled
