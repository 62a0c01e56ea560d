"""ctl.evaluate.inference: a segmenter over a volume slice by slice (worked out by hand per pixel), a translator
over a CT volume, and which methods translate."""
import numpy as np
import pytest
import torch
from torch import nn

from ctl.evaluate import predict_volume, translate_volume, translator_of


class Threshold(nn.Module):
    """Logits whose argmax is floor(4 * x) clipped to 0..3, worked out by hand per pixel."""

    def forward(self, x):  # (B, 1, H, W) -> (B, 4, H, W)
        centres = torch.tensor([0.125, 0.375, 0.625, 0.875]).view(1, 4, 1, 1)
        return -(x - centres).abs()


def test_predict_volume_segments_slice_by_slice():
    image = np.array([[[0.0, 0.3], [0.6, 0.9]], [[0.26, 0.74], [1.0, 0.1]], [[0.5, 0.5], [0.5, 0.5]]])  # (3, 2, 2)
    expected = np.array([[[0, 1], [2, 3]], [[1, 2], [3, 0]], [[1, 1], [1, 1]]], dtype=np.uint8)
    net = Threshold().train()
    for batch in (1, 2, 16):
        labels = predict_volume(net, image, device="cpu", batch=batch)
        np.testing.assert_array_equal(labels, expected)
        assert labels.dtype == np.uint8 and labels.shape == image.shape
    assert net.training  # mode restored


@pytest.mark.parametrize("image, match", [(np.zeros((4, 4)), r"expected a volume \(Z, H, W\)"),
                                          (np.full((1, 4, 4), 255.0), "values span"),
                                          (np.zeros((1, 4, 4)), "batch must be")])
def test_predict_volume_refuses_bad_input(image, match):
    with pytest.raises(ValueError, match=match):
        predict_volume(Threshold(), image, device="cpu", batch=0 if "batch" in match else 4)


def test_translate_volume_checks_the_translator():
    volume = np.random.default_rng(0).random((5, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(translate_volume(lambda x: 1 - x, volume, batch=2), 1 - volume)
    with pytest.raises(ValueError, match="must map"):
        translate_volume(lambda x: x[:, :, :4], volume)
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        translate_volume(lambda x: 2 * x + 1, volume)

    class Stub:  # what translator_of asks of a method: its generator
        generator = None
        translate = staticmethod(lambda ct: ct)

    assert translator_of(Stub()) is None
    Stub.generator = nn.Identity()
    assert translator_of(Stub()) is Stub.translate
