"""Writing the phantom as BTCV/CHAOS and reading it back: round trip, orientation, PNG decoding, bad input."""
import shutil

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from ctl.__main__ import main
from ctl.data.btcv import find_btcv_root, list_btcv_cases, load_btcv_case, read_nifti_lps
from ctl.data.chaos import find_chaos_root, list_chaos_cases, load_chaos_case, sorted_series
from ctl.data.labels import btcv_to_classes, decode_chaos_png
from ctl.data.render import render_subject
from ctl.data.write import generate_phantom, phantom_is_complete

SEED, SIZE = 4, 32


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    return generate_phantom(tmp_path_factory.mktemp("phantom"), n_ct=2, n_mr=2, seed=SEED, size=SIZE)


@pytest.fixture
def copy(phantom, tmp_path):
    """A scratch copy of the phantom that a test may break."""
    return shutil.copytree(phantom, tmp_path / "copy")


def test_layout_is_btcv_and_chaos(phantom):
    assert (phantom / "btcv/img/img0001.nii.gz").exists() and (phantom / "btcv/label/label0002.nii.gz").exists()
    dicoms = sorted((phantom / "chaos/MR/1/T2SPIR/DICOM_anon").glob("*.dcm"))
    pngs = sorted((phantom / "chaos/MR/1/T2SPIR/Ground").glob("*.png"))
    assert len(dicoms) == len(pngs) > 5 and [d.stem for d in dicoms] == [p.stem for p in pngs]
    assert (phantom / "paired_mr/img/img0002.nii.gz").exists()
    assert phantom_is_complete(phantom, 2, 2, SEED, SIZE) and not phantom_is_complete(phantom, 2, 2, SEED + 1, SIZE)
    assert set(np.unique(np.asarray(Image.open(pngs[len(pngs) // 2])))) <= {0, 63, 126, 189, 252}


def test_ct_round_trip_through_the_btcv_loader(phantom):
    for number in (1, 2):
        truth = render_subject(SEED, "ct", number, size=SIZE)
        ct = load_btcv_case(find_btcv_root(phantom / "btcv"), number)
        assert ct.subject == f"ct{number:04d}" and ct.domain == "ct"
        assert np.array_equal(ct.image, np.rint(truth.image))  # stored as int16 HU
        assert np.array_equal(ct.label, btcv_to_classes(truth.label))
        assert np.allclose(ct.spacing, truth.grid.spacing, rtol=1e-6)


def test_mr_round_trip_through_the_chaos_loader(phantom):
    for number in (1, 2):
        truth = render_subject(SEED, "mr", number, size=SIZE)
        mr = load_chaos_case(find_chaos_root(phantom / "chaos"), number)
        assert mr.subject == f"mr{number:04d}"
        assert np.array_equal(mr.image, np.clip(np.rint(truth.image), 0, 65535))  # stored as uint16
        assert np.array_equal(mr.label, btcv_to_classes(truth.label))
        assert np.allclose(mr.spacing, truth.grid.spacing, rtol=1e-5)


def test_dicom_files_are_numbered_from_the_head_but_stacked_from_the_feet(phantom):
    folder = phantom / "chaos/MR/1/T2SPIR/DICOM_anon"
    by_geometry = sorted_series(folder)
    assert [p.name for p in by_geometry] == sorted(p.name for p in folder.glob("*.dcm"))[::-1]


def test_flipped_and_permuted_nifti_give_the_same_volume(phantom, tmp_path):
    path = phantom / "btcv/img/img0001.nii.gz"
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


def test_reversed_dicom_names_and_mirrored_rows_give_the_same_volume(copy):
    reference = load_chaos_case(copy / "chaos", 1)
    folder = copy / "chaos/MR/1/T2SPIR"
    files = sorted((folder / "DICOM_anon").glob("*.dcm"))
    n = len(files)
    # 1) rename every file (and its mask) so that name order runs the other way
    for f in files:
        f.rename(f.with_name("tmp-" + f.name))
        (folder / "Ground" / (f.stem + ".png")).rename(folder / "Ground" / ("tmp-" + f.stem + ".png"))
    for i, f in enumerate(files):
        new = f"IMG-0001-{n - i:05d}"
        (f.with_name("tmp-" + f.name)).rename(f.with_name(new + ".dcm"))
        (folder / "Ground" / ("tmp-" + f.stem + ".png")).rename(folder / "Ground" / (new + ".png"))
    renamed = load_chaos_case(copy / "chaos", 1)
    assert np.array_equal(renamed.image, reference.image) and np.array_equal(renamed.label, reference.label)
    # 2) store every slice mirrored left-right, with the row direction reversed in the header to match
    reader, writer = sitk.ImageFileReader(), sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for f in sorted((folder / "DICOM_anon").glob("*.dcm")):
        reader.SetFileName(str(f))
        img = reader.Execute()
        pixels = sitk.GetArrayFromImage(img)[0]  # (H, W)
        spacing_x = img.GetSpacing()[0]
        mirrored = sitk.GetImageFromArray(np.ascontiguousarray(pixels[:, ::-1]))
        mirrored.SetSpacing(img.GetSpacing()[:2])
        for key in reader.GetMetaDataKeys():
            mirrored.SetMetaData(key, reader.GetMetaData(key))
        x, y, z = (float(v) for v in reader.GetMetaData("0020|0032").split("\\"))
        mirrored.SetMetaData("0020|0032", f"{x + spacing_x * (pixels.shape[1] - 1):.4f}\\{y:.4f}\\{z:.4f}")
        mirrored.SetMetaData("0020|0037", "-1\\0\\0\\0\\1\\0")
        writer.SetFileName(str(f))
        writer.Execute(mirrored)
        png = folder / "Ground" / (f.stem + ".png")
        Image.fromarray(np.asarray(Image.open(png))[:, ::-1].copy()).save(png)
    mirrored_volume = load_chaos_case(copy / "chaos", 1)
    assert np.array_equal(mirrored_volume.image, reference.image)
    assert np.array_equal(mirrored_volume.label, reference.label)


@pytest.mark.parametrize("grey,expected", [
    (0, 0), (56, 1), (63, 1), (70, 1), (111, 2), (126, 2), (135, 2), (176, 3), (189, 3), (200, 3),
    (241, 4), (252, 4), (255, 4),
])
def test_chaos_png_decoding_at_the_edges_of_each_range(grey, expected):
    assert decode_chaos_png(np.full((2, 3), grey, np.uint8)).tolist() == [[expected] * 3] * 2


@pytest.mark.parametrize("grey", [1, 55, 71, 110, 136, 175, 201, 240])
def test_chaos_png_values_outside_the_ranges_are_errors(grey):
    with pytest.raises(ValueError, match=f"grey values \\[{grey}\\]"):
        decode_chaos_png(np.array([[0, grey]], np.uint8), source="x.png")


def test_btcv_label_mapping():
    label = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])
    assert btcv_to_classes(label).tolist() == [0, 4, 2, 3, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="not BTCV ids"):
        btcv_to_classes(np.array([0, 14]))


def test_loaders_accept_the_folders_above(copy):
    (copy / "RawData").mkdir()
    shutil.move(copy / "btcv", copy / "RawData" / "Training")
    assert find_btcv_root(copy) == copy / "RawData" / "Training"
    shutil.move(copy / "chaos", copy / "Train_Sets")
    assert find_chaos_root(copy) == copy / "Train_Sets"
    assert find_chaos_root(copy / "Train_Sets" / "MR") == copy / "Train_Sets"
    assert list_btcv_cases(copy / "RawData" / "Training") == [1, 2] and list_chaos_cases(copy / "Train_Sets") == [1, 2]


def test_missing_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_btcv_root(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no img/ folder"):
        find_btcv_root(tmp_path)
    with pytest.raises(FileNotFoundError, match="no MR/ folder"):
        find_chaos_root(tmp_path)


def test_image_without_label_and_label_without_image(copy):
    (copy / "btcv/label/label0002.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="images without a label.*img0002"):
        list_btcv_cases(copy / "btcv")
    shutil.copy(copy / "btcv/label/label0001.nii.gz", copy / "btcv/label/label0002.nii.gz")
    shutil.copy(copy / "btcv/label/label0001.nii.gz", copy / "btcv/label/label0007.nii.gz")
    with pytest.raises(FileNotFoundError, match="labels without an image.*label0007"):
        list_btcv_cases(copy / "btcv")


def test_mismatched_shapes_geometry_and_unknown_labels(copy):
    label_path = copy / "btcv/label/label0001.nii.gz"
    label = nib.load(str(label_path))
    data = np.asanyarray(label.dataobj)
    nib.save(nib.Nifti1Image(data[:, :, :-1], label.affine), str(label_path))
    with pytest.raises(ValueError, match="img0001.nii.gz has shape .* but label0001.nii.gz has"):
        load_btcv_case(copy / "btcv", 1)
    shifted = label.affine.copy()
    shifted[0, 3] += 5.0
    nib.save(nib.Nifti1Image(data, shifted), str(label_path))
    with pytest.raises(ValueError, match="different affines"):
        load_btcv_case(copy / "btcv", 1)
    bad = data.copy()
    bad[0, 0, 0] = 20
    nib.save(nib.Nifti1Image(bad, label.affine), str(label_path))
    with pytest.raises(ValueError, match=r"label values \[20\] are not BTCV ids"):
        load_btcv_case(copy / "btcv", 1)


def test_empty_and_mixed_dicom_folders(copy):
    folder1, folder2 = copy / "chaos/MR/1/T2SPIR/DICOM_anon", copy / "chaos/MR/2/T2SPIR/DICOM_anon"
    shutil.copy(sorted(folder2.glob("*.dcm"))[0], folder1 / "IMG-9999-00001.dcm")
    with pytest.raises(ValueError, match="mixes 2 DICOM series"):
        load_chaos_case(copy / "chaos", 1)
    for f in folder2.glob("*.dcm"):
        f.unlink()
    with pytest.raises(FileNotFoundError, match="no DICOM files"):
        load_chaos_case(copy / "chaos", 2)


def test_duplicate_and_missing_slices(copy):
    folder = copy / "chaos/MR/1/T2SPIR/DICOM_anon"
    files = sorted(folder.glob("*.dcm"))
    files[3].unlink()
    with pytest.raises(ValueError, match="unevenly spaced"):
        sorted_series(folder)
    shutil.copy(files[4], folder / "IMG-0001-99999.dcm")
    with pytest.raises(ValueError, match="share a slice position"):
        sorted_series(folder)


def test_png_count_size_and_names(copy):
    ground = copy / "chaos/MR/1/T2SPIR/Ground"
    pngs = sorted(ground.glob("*.png"))
    pngs[0].unlink()
    with pytest.raises(ValueError, match=f"holds {len(pngs) - 1} PNG masks but the series has {len(pngs)}"):
        load_chaos_case(copy / "chaos", 1)
    Image.fromarray(np.zeros((SIZE, SIZE + 1), np.uint8)).save(pngs[0])
    with pytest.raises(ValueError, match="the mask of .* is"):
        load_chaos_case(copy / "chaos", 1)
    Image.fromarray(np.full((SIZE, SIZE), 100, np.uint8)).save(pngs[0])
    with pytest.raises(ValueError, match=r"grey values \[100\]"):
        load_chaos_case(copy / "chaos", 1)


def test_png_names_that_differ_are_paired_in_name_order_with_a_warning(copy):
    reference = load_chaos_case(copy / "chaos", 1)
    for png in (copy / "chaos/MR/1/T2SPIR/Ground").glob("*.png"):
        png.rename(png.with_name("mask_" + png.stem.split("-")[-1] + ".png"))
    with pytest.warns(UserWarning, match="pairing them in file-name order"):
        again = load_chaos_case(copy / "chaos", 1)
    assert np.array_equal(again.label, reference.label)


def test_command_line(tmp_path, capsys):
    assert main(["phantom", "--out", str(tmp_path / "ph"), "--n-ct", "2", "--n-mr", "2", "--size", "24"]) == 0
    assert main(["prepare", "--btcv", str(tmp_path / "ph/btcv"), "--chaos", str(tmp_path / "ph/chaos"),
                 "--paired", str(tmp_path / "ph/paired_mr"), "--out", str(tmp_path / "prep"), "--size", "16",
                 "--test-fraction", "0.5"]) == 0
    assert (tmp_path / "prep/meta.json").exists() and (tmp_path / "prep/paired_mr/ct0001.npz").exists()
    assert main(["prepare", "--btcv", str(tmp_path / "none"), "--chaos", str(tmp_path / "ph/chaos"),
                 "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["phantom", "--out", str(tmp_path / "bad"), "--n-ct", "0"]) == 2
