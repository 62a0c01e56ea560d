"""Preprocessing values worked out by hand: CT window, MR percentiles, padding, resizing, spacing."""
import numpy as np
import pytest
import torch.nn.functional as F
import torch

from ctl.data.geometry import Volume
from ctl.data.preprocess import normalise_mr, pad_to_square, preprocess_volume, resize_slices, window_ct


def test_ct_window_by_hand():
    hu = np.array([-1000.0, -200.0, -100.0, 50.0, 300.0, 1500.0])
    assert window_ct(hu).tolist() == pytest.approx([0.0, 0.0, 0.2, 0.5, 1.0, 1.0])
    assert window_ct(hu).dtype == np.float32
    with pytest.raises(ValueError, match="high > low"):
        window_ct(hu, 300, -200)


def test_mr_percentiles_by_hand():
    image = np.arange(1001, dtype=np.float32)  # percentiles 0.5 and 99.5 are 5 and 995
    out = normalise_mr(image)
    assert out[500] == pytest.approx((500 - 5) / 990)
    assert out[:6].tolist() == [0.0] * 6 and out[995:].tolist() == [1.0] * 6


def test_mr_normalisation_ignores_a_bright_outlier():
    rng = np.random.default_rng(0)
    image = rng.uniform(100, 400, size=(4, 32, 32)).astype(np.float32)
    spiked = image.copy()
    spiked[0, 0, 0] = 1e6  # one hot pixel: dividing by the maximum would crush everything else to ~0
    assert np.abs(normalise_mr(spiked)[1:] - normalise_mr(image)[1:]).max() < 0.01
    assert (image / image.max()).max() == 1.0 and (spiked / spiked.max())[1:].max() < 0.001


def test_mr_normalisation_errors():
    with pytest.raises(ValueError, match="percentiles"):
        normalise_mr(np.ones(10), (99, 1))
    with pytest.raises(ValueError, match="constant"):
        normalise_mr(np.ones((2, 4, 4)))


def test_pad_to_square_keeps_millimetre_proportions():
    padded, (top, left) = pad_to_square(np.ones((1, 2, 4)), (1.0, 1.0))
    assert padded.shape == (1, 4, 4) and (top, left) == (1, 0)
    assert padded[0, :, 0].tolist() == [0, 1, 1, 0]
    padded, (top, left) = pad_to_square(np.ones((1, 4, 4)), (2.0, 1.0))  # rows 2 mm apart: 8 mm x 4 mm
    assert padded.shape == (1, 4, 8) and (top, left) == (0, 2)


def test_resize_by_hand():
    ramp = np.tile(np.array([0.0, 1.0], np.float32), (1, 2, 1))  # (1, 2, 2): columns 0 and 1
    up = resize_slices(ramp, 4, is_label=False)
    # pixel centres of the 4-wide output map to source x = -0.25, 0.25, 0.75, 1.25 (edges clamp)
    assert up[0, 0].tolist() == pytest.approx([0.0, 0.25, 0.75, 1.0])
    label = np.array([[[1, 3], [2, 4]]], np.uint8)
    assert resize_slices(label, 4, is_label=True)[0].tolist() == [[1, 1, 3, 3], [1, 1, 3, 3], [2, 2, 4, 4], [2, 2, 4, 4]]
    constant = np.full((2, 10, 10), 0.3, np.float32)
    assert np.allclose(resize_slices(constant, 7, is_label=False), 0.3)
    with pytest.raises(ValueError, match="too small"):
        resize_slices(constant, 1, is_label=False)


def test_resize_matches_torch_reference_on_random_data():
    image = np.random.default_rng(1).random((3, 40, 40)).astype(np.float32)
    ours = resize_slices(image, 20, is_label=False)
    ref = F.interpolate(torch.from_numpy(image)[:, None], size=(20, 20), mode="bilinear", antialias=True)[:, 0]
    assert np.allclose(ours, ref.numpy())
    # downsampling by two with antialiasing keeps the mean of a smooth image
    assert ours.mean() == pytest.approx(image.mean(), abs=0.01)


def test_labels_never_take_values_that_were_not_there():
    label = np.random.default_rng(2).choice(np.array([0, 1, 3], np.uint8), size=(2, 37, 23))
    out = resize_slices(label, 16, is_label=True)
    assert set(np.unique(out)) <= {0, 1, 3} and out.dtype == np.uint8


def test_preprocess_volume_spacing_and_orientation():
    image = np.full((3, 40, 20), 50.0, np.float32)  # 50 HU everywhere
    label = np.zeros((3, 40, 20), np.uint8)
    label[:, 5:15, 2:8] = 1  # an organ in the top-left corner (anterior, patient right)
    vol = Volume(image=image, label=label, spacing=(5.0, 1.0, 1.0), subject="ct0001", domain="ct")
    out = preprocess_volume(vol, size=20)
    assert out.image.shape == (3, 20, 20) and out.spacing.tolist() == pytest.approx([5.0, 2.0, 2.0])
    # padded 40 x 20 -> 40 x 40 (10 columns each side: the organ is at columns 12-17), then halved: output
    # pixel r takes source pixel 2r + 1 (nearest to its centre), so rows 5-14 -> 2-6 and columns 12-17 -> 6-8
    rows, cols = np.nonzero(out.label[0])
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (2, 6, 6, 8)
    assert out.image[0, 10, 10] == pytest.approx(0.5) and out.image[0, 10, 0] == 0.0  # window, then air padding
    with pytest.raises(ValueError, match="domain"):
        preprocess_volume(Volume(image=image, label=label, spacing=(5, 1, 1), subject="x", domain="pet"), 20)


def test_volume_checks_its_fields():
    with pytest.raises(ValueError, match="same"):
        Volume(image=np.zeros((2, 3, 3)), label=np.zeros((2, 3, 4)), spacing=(1, 1, 1), subject="a", domain="ct")
    with pytest.raises(ValueError, match="spacing"):
        Volume(image=np.zeros((2, 3, 3)), label=np.zeros((2, 3, 3)), spacing=(1, 0, 1), subject="a", domain="ct")
