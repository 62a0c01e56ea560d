"""ctl.data.chaos: the phantom's MR read back through the CHAOS loader, slice order from geometry, folders,
DICOM and PNG problems."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from conftest import PHANTOM_SEED, PHANTOM_SIZE
from ctl.data.chaos import check_masks_fit, find_chaos_root, list_chaos_cases, load_chaos_case, sorted_series
from ctl.data.labels import btcv_to_classes
from ctl.data.render import render_subject


def test_mr_round_trip_through_the_chaos_loader(written_phantom):
    for number in (1, 2):
        truth = render_subject(PHANTOM_SEED, "mr", number, size=PHANTOM_SIZE)
        mr = load_chaos_case(find_chaos_root(written_phantom / "chaos"), number)
        assert mr.subject == f"mr{number:04d}"
        assert np.array_equal(mr.image, np.clip(np.rint(truth.image), 0, 65535))  # stored as uint16
        assert np.array_equal(mr.label, btcv_to_classes(truth.label))
        assert np.allclose(mr.spacing, truth.grid.spacing, rtol=1e-5)


def test_dicom_files_are_numbered_from_the_head_but_stacked_from_the_feet(written_phantom):
    folder = written_phantom / "chaos/MR/1/T2SPIR/DICOM_anon"
    by_geometry = sorted_series(folder)
    assert [p.name for p in by_geometry] == sorted(p.name for p in folder.glob("*.dcm"))[::-1]


def test_reversed_dicom_names_and_mirrored_rows_give_the_same_volume(phantom_copy):
    reference = load_chaos_case(phantom_copy / "chaos", 1)
    folder = phantom_copy / "chaos/MR/1/T2SPIR"
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
    renamed = load_chaos_case(phantom_copy / "chaos", 1)
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
    mirrored_volume = load_chaos_case(phantom_copy / "chaos", 1)
    assert np.array_equal(mirrored_volume.image, reference.image)
    assert np.array_equal(mirrored_volume.label, reference.label)


def test_the_loader_accepts_the_folders_above(phantom_copy):
    shutil.move(phantom_copy / "chaos", phantom_copy / "Train_Sets")
    assert find_chaos_root(phantom_copy) == phantom_copy / "Train_Sets"
    assert find_chaos_root(phantom_copy / "Train_Sets" / "MR") == phantom_copy / "Train_Sets"
    assert list_chaos_cases(phantom_copy / "Train_Sets") == [1, 2]


def test_a_missing_mr_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no MR/ folder"):
        find_chaos_root(tmp_path)


def test_empty_and_mixed_dicom_folders(phantom_copy):
    folder1, folder2 = phantom_copy / "chaos/MR/1/T2SPIR/DICOM_anon", phantom_copy / "chaos/MR/2/T2SPIR/DICOM_anon"
    shutil.copy(sorted(folder2.glob("*.dcm"))[0], folder1 / "IMG-9999-00001.dcm")
    with pytest.raises(ValueError, match="mixes 2 DICOM series"):
        load_chaos_case(phantom_copy / "chaos", 1)
    for f in folder2.glob("*.dcm"):
        f.unlink()
    with pytest.raises(FileNotFoundError, match="no DICOM files"):
        load_chaos_case(phantom_copy / "chaos", 2)


def test_duplicate_and_missing_slices(phantom_copy):
    folder = phantom_copy / "chaos/MR/1/T2SPIR/DICOM_anon"
    files = sorted(folder.glob("*.dcm"))
    files[3].unlink()
    with pytest.raises(ValueError, match="unevenly spaced"):
        sorted_series(folder)
    shutil.copy(files[4], folder / "IMG-0001-99999.dcm")
    with pytest.raises(ValueError, match="share a slice position"):
        sorted_series(folder)


def test_png_count_size_and_names(phantom_copy):
    ground = phantom_copy / "chaos/MR/1/T2SPIR/Ground"
    pngs = sorted(ground.glob("*.png"))
    pngs[0].unlink()
    with pytest.raises(ValueError, match=f"holds {len(pngs) - 1} PNG masks but the series has {len(pngs)}"):
        load_chaos_case(phantom_copy / "chaos", 1)
    Image.fromarray(np.zeros((PHANTOM_SIZE, PHANTOM_SIZE + 1), np.uint8)).save(pngs[0])
    with pytest.raises(ValueError, match=rf"{pngs[0].name} \(MR subject 1\) is \(32, 33\) \(rows, cols\) but its "
                                         rf"slice {pngs[0].stem}.dcm is \(32, 32\)"):
        load_chaos_case(phantom_copy / "chaos", 1)
    Image.fromarray(np.full((PHANTOM_SIZE, PHANTOM_SIZE), 100, np.uint8)).save(pngs[0])
    with pytest.raises(ValueError, match=r"grey values \[100\]"):
        load_chaos_case(phantom_copy / "chaos", 1)


def test_png_names_that_differ_are_paired_in_name_order_with_a_warning(phantom_copy):
    reference = load_chaos_case(phantom_copy / "chaos", 1)
    for png in (phantom_copy / "chaos/MR/1/T2SPIR/Ground").glob("*.png"):
        png.rename(png.with_name("mask_" + png.stem.split("-")[-1] + ".png"))
    with pytest.warns(UserWarning, match="pairing them in file-name order"):
        again = load_chaos_case(phantom_copy / "chaos", 1)
    assert np.array_equal(again.label, reference.label)


def test_16_bit_masks_decode_like_the_8_bit_ones(phantom_copy):
    reference = load_chaos_case(phantom_copy / "chaos", 1)
    for png in (phantom_copy / "chaos/MR/1/T2SPIR/Ground").glob("*.png"):
        grey = np.asarray(Image.open(png)).astype(np.uint16) * 257  # re-saved as 16 bits: liver 16191, ...
        Image.fromarray(grey).save(png)
    assert Image.open(png).mode.startswith("I;16")
    again = load_chaos_case(phantom_copy / "chaos", 1)
    assert np.array_equal(again.label, reference.label)
    assert set(np.unique(again.label)) == {0, 1, 2, 3, 4}  # liver and kidneys are not read as spleen


def test_a_truncated_png_is_named_with_the_subject(phantom_copy):
    png = max((phantom_copy / "chaos/MR/2/T2SPIR/Ground").glob("*.png"), key=lambda p: p.stat().st_size)
    png.write_bytes(png.read_bytes()[:png.stat().st_size // 2])  # the mask with most organ pixels, cut in half
    with pytest.raises(ValueError, match=rf"{png.name} \(a mask of MR subject 2\) cannot be read \(.*truncated"):
        load_chaos_case(phantom_copy / "chaos", 2)


def test_masks_paired_by_order_that_belong_elsewhere_are_refused(phantom_copy):
    ground = phantom_copy / "chaos/MR/1/T2SPIR/Ground"
    for n, png in enumerate(sorted(ground.glob("*.png"))):
        grey = np.asarray(Image.open(png))
        # another subject's masks stand-in: the organs moved by half the field of view, out of this body
        moved = np.roll(grey, (grey.shape[0] // 2, grey.shape[1] // 2), axis=(0, 1))
        Image.fromarray(moved).save(ground / f"mask_{n:03d}.png")
        png.unlink()
    with pytest.warns(UserWarning, match="pairing them in file-name order"):
        with pytest.raises(ValueError, match=r"Ground: \d+ of the \d+ organ pixels of the masks lie where the image "
                                             r"of MR subject 1 is air .*belong to another subject or another order"):
            load_chaos_case(phantom_copy / "chaos", 1)


def test_the_air_check_by_hand():
    image = np.zeros((2, 4, 4))
    image[:, 1:3, 1:3] = 100.0  # the body, in the middle; air around it
    masks = np.zeros((2, 4, 4), np.uint8)
    masks[:, 1:3, 1:2] = 1  # 4 organ pixels, all in the body
    check_masks_fit(image, masks, Path("Ground"), 7)
    masks[0, 0, :] = 2  # 4 more, in the air: 4 of 8 is not more than half
    check_masks_fit(image, masks, Path("Ground"), 7)
    masks[1, 0, 0] = 2  # 5 of 9 in the air
    with pytest.raises(ValueError, match=r"5 of the 9 organ pixels .* MR subject 7 is air \(slices \[0, 1\]"):
        check_masks_fit(image, masks, Path("Ground"), 7)
