"""ctl.data.write: the phantom written in BTCV's and CHAOS's layouts (the loaders read it back in
test_data_btcv.py and test_data_chaos.py); it writes only into new, empty or its own folders."""
import numpy as np
import pytest
from PIL import Image

import ctl.data.write as write
from conftest import PHANTOM_SEED, PHANTOM_SIZE
from ctl.data.write import generate_phantom, made_by_generate_phantom, phantom_is_complete


def test_layout_is_btcv_and_chaos(written_phantom):
    phantom = written_phantom
    assert (phantom / "btcv/img/img0001.nii.gz").exists() and (phantom / "btcv/label/label0002.nii.gz").exists()
    dicoms = sorted((phantom / "chaos/MR/1/T2SPIR/DICOM_anon").glob("*.dcm"))
    pngs = sorted((phantom / "chaos/MR/1/T2SPIR/Ground").glob("*.png"))
    assert len(dicoms) == len(pngs) > 5 and [d.stem for d in dicoms] == [p.stem for p in pngs]
    assert (phantom / "paired_mr/img/img0002.nii.gz").exists()
    assert phantom_is_complete(phantom, 2, 2, PHANTOM_SEED, PHANTOM_SIZE)
    assert not phantom_is_complete(phantom, 2, 2, PHANTOM_SEED + 1, PHANTOM_SIZE)
    assert set(np.unique(np.asarray(Image.open(pngs[len(pngs) // 2])))) <= {0, 63, 126, 189, 252}


def test_generate_phantom_writes_only_into_its_own_folders(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    (mine / "btcv").mkdir(parents=True)
    (mine / "btcv" / "my_scan.nii.gz").write_text("x")
    (mine / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"refusing to replace .*mine: it is not empty \(it holds btcv/, notes.txt\)"):
        generate_phantom(mine, n_ct=1, n_mr=1, size=16)
    assert sorted(str(p.relative_to(mine)) for p in mine.rglob("*")) == ["btcv", "btcv/my_scan.nii.gz", "notes.txt"]
    monkeypatch.chdir(mine)
    with pytest.raises(ValueError, match="current folder or holds it"):
        generate_phantom(".", n_ct=1, n_mr=1, size=16)
    monkeypatch.chdir(tmp_path)
    out = generate_phantom(tmp_path / "ph", n_ct=1, n_mr=1, seed=0, size=16)
    assert made_by_generate_phantom(out) and phantom_is_complete(out, 1, 1, 0, 16)
    generate_phantom(out, n_ct=1, n_mr=1, seed=1, size=16)  # its own folder: replaced
    assert phantom_is_complete(out, 1, 1, 1, 16)


def test_an_interrupted_phantom_leaves_the_previous_one_and_no_temporary_folder(tmp_path, monkeypatch):
    out = generate_phantom(tmp_path / "ph", n_ct=1, n_mr=1, seed=0, size=16)

    def broken(seed, domain, number, **kwargs):
        raise KeyboardInterrupt  # a user's Ctrl-C in the middle of rendering

    monkeypatch.setattr(write, "render_subject", broken)
    with pytest.raises(KeyboardInterrupt):
        generate_phantom(out, n_ct=1, n_mr=1, seed=5, size=16)
    assert [p.name for p in tmp_path.iterdir()] == ["ph"]
    assert phantom_is_complete(out, 1, 1, 0, 16)
