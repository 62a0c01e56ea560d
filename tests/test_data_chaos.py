"""ctl.data.chaos: the phantom's MR read back through the CHAOS loader, slice order from geometry, folders,
DICOM and PNG problems."""
import shutil

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from conftest import PHANTOM_SEED, PHANTOM_SIZE
from ctl.data.chaos import find_chaos_root, list_chaos_cases, load_chaos_case, sorted_series
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
    with pytest.raises(ValueError, match="the mask of .* is"):
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
