"""ctl.data.archives: BTCV and CHAOS read straight from their zip archives. Only the used members come out
(not BTCV's Testing/, not CHAOS's CT or T1-DUAL); unpacking for good refuses folders it did not make; unsafe
member names are refused; and `prepare` on the zipped phantom gives exactly the arrays it gives on the folders."""
import json
import zipfile

import numpy as np
import pytest

from ctl.__main__ import main
from ctl.data.archives import extract_used, is_zip, unpack_used, unpacked, used_members
from ctl.data.prepared import prepare


def test_only_the_used_members_are_chosen(phantom_zips, written_phantom):
    btcv, chaos = phantom_zips
    names = [m.filename for m in used_members(btcv, "btcv")]
    assert names == ["RawData/Training/img/img0001.nii.gz", "RawData/Training/img/img0002.nii.gz",
                     "RawData/Training/label/label0001.nii.gz", "RawData/Training/label/label0002.nii.gz"]
    chaos_names = [m.filename for m in used_members(chaos, "chaos")]
    on_disk = sorted(p for p in (written_phantom / "chaos").rglob("*") if p.is_file())
    assert sorted(chaos_names) == sorted(f"Train_Sets/{p.relative_to(written_phantom / 'chaos').as_posix()}"
                                         for p in on_disk)
    assert not [n for n in chaos_names if "T1DUAL" in n or "/CT/" in n]


def test_wrong_or_unsafe_archives_are_refused(phantom_zips, tmp_path):
    btcv, chaos = phantom_zips
    with pytest.raises(ValueError, match="holds no BTCV img/imgNNNN.nii.gz .* is it the right archive"):
        used_members(chaos, "btcv")
    (tmp_path / "notes.zip").write_text("not a zip")
    assert not is_zip(tmp_path / "notes.zip") and is_zip(btcv) and not is_zip(tmp_path)
    with pytest.raises(ValueError, match="notes.zip is not a readable zip archive"):
        used_members(tmp_path / "notes.zip", "chaos")
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("../../MR/1/T2SPIR/Ground/x.png", b"x")
    with pytest.raises(ValueError, match="would be written outside the target folder"):
        extract_used(tmp_path / "evil.zip", "chaos", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="kind must be one of"):
        used_members(btcv, "ct")


def test_unpacked_gives_a_temporary_folder_for_an_archive_and_the_folder_itself_otherwise(phantom_zips, tmp_path,
                                                                                         written_phantom):
    with unpacked(phantom_zips[1], "chaos", tmp_path) as folder:
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        assert folder.parent == tmp_path and len(files) == len(used_members(phantom_zips[1], "chaos"))
        assert all(f.startswith("Train_Sets/MR/") and "/T2SPIR/" in f for f in files)
    assert list(tmp_path.iterdir()) == []  # removed afterwards
    with unpacked(written_phantom / "chaos", "chaos") as folder:
        assert folder == written_phantom / "chaos"


def test_unpack_for_good_once_and_refuse_what_it_did_not_make(phantom_zips, tmp_path, capsys):
    chaos = phantom_zips[1]
    assert unpack_used(chaos, "chaos", tmp_path / "chaos") == tmp_path / "chaos"
    members = used_members(chaos, "chaos")
    with zipfile.ZipFile(chaos) as zf:
        for m in members:
            assert (tmp_path / "chaos" / m.filename).read_bytes() == zf.read(m)
    assert sorted(p.name for p in (tmp_path / "chaos").iterdir()) == ["Train_Sets"]  # no scratch folder left
    assert sorted(p.name for p in (tmp_path / "chaos" / "Train_Sets").iterdir()) == ["MR"]
    capsys.readouterr()
    unpack_used(chaos, "chaos", tmp_path / "chaos")
    assert "already unpacked" in capsys.readouterr().out
    (tmp_path / "other" / "Train_Sets").mkdir(parents=True)
    (tmp_path / "other" / "Train_Sets" / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="Train_Sets'\\] exist but do not hold the .* left as they are"):
        unpack_used(chaos, "chaos", tmp_path / "other")
    assert [p.name for p in (tmp_path / "other" / "Train_Sets").iterdir()] == ["mine.txt"]


def test_prepare_reads_the_archives_and_gives_the_same_arrays(phantom_zips, written_phantom, tmp_path):
    from_folders = prepare(written_phantom / "btcv", written_phantom / "chaos", tmp_path / "folders", 16,
                           paired_dir=written_phantom / "paired_mr", test_fraction=0.5, progress=False)
    assert main(["prepare", "--btcv", str(phantom_zips[0]), "--chaos", str(phantom_zips[1]),
                 "--paired", str(written_phantom / "paired_mr"), "--out", str(tmp_path / "zips"), "--size", "16",
                 "--test-fraction", "0.5"]) == 0
    from_zips = tmp_path / "zips"
    files = sorted(p.relative_to(from_folders) for p in from_folders.rglob("*.npz"))
    assert len(files) == 2 + 2 + 2 and files == sorted(p.relative_to(from_zips) for p in from_zips.rglob("*.npz"))
    for name in files:
        with np.load(from_folders / name) as a, np.load(from_zips / name) as b:
            assert sorted(a.files) == sorted(b.files) == ["image", "label", "spacing"]
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key])
    assert (from_folders / "split.json").read_text() == (from_zips / "split.json").read_text()
    meta = json.loads((from_zips / "meta.json").read_text())
    assert meta["btcv_dir"] == str(phantom_zips[0]) and meta["chaos_dir"] == str(phantom_zips[1])
    assert meta["subjects"] == json.loads((from_folders / "meta.json").read_text())["subjects"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folders", "zips"]  # the temporary folders are gone
