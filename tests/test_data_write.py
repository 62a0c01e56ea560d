"""ctl.data.write: the phantom written in BTCV's and CHAOS's layouts (the loaders read it back in
test_data_btcv.py and test_data_chaos.py)."""
import numpy as np
from PIL import Image

from conftest import PHANTOM_SEED, PHANTOM_SIZE
from ctl.data.write import phantom_is_complete


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
