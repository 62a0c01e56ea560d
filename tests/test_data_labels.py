"""ctl.data.labels: BTCV ids and CHAOS grey levels mapped onto the classes of ctl.organs."""
import numpy as np
import pytest

from ctl.data.labels import btcv_to_classes, decode_chaos_png, encode_chaos_png, mask_grey_8bit


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


def test_encoding_chaos_png_gives_each_organ_its_grey_level_and_decodes_back():
    label = np.array([[0, 1, 2], [3, 4, 0]], np.uint8)  # background, liver, right kidney; left kidney, spleen
    grey = encode_chaos_png(label)
    assert grey.tolist() == [[0, 63, 126], [189, 252, 0]] and grey.dtype == np.uint8
    assert decode_chaos_png(grey).tolist() == label.tolist()


def test_16_bit_mask_levels_are_scaled_back_to_8_bits():
    eight = np.array([[0, 63, 126], [189, 252, 0]], np.uint8)
    sixteen = eight.astype(np.uint16) * 257  # how a 16-bit PNG stores 8-bit level g: 257 g (65535 / 255)
    assert sixteen.tolist() == [[0, 16191, 32382], [48573, 64764, 0]]
    assert mask_grey_8bit(sixteen).tolist() == eight.tolist()
    assert decode_chaos_png(mask_grey_8bit(sixteen)).tolist() == [[0, 1, 2], [3, 4, 0]]  # not all spleen
    assert mask_grey_8bit(eight) is eight
    assert mask_grey_8bit(np.array([[0, 63]], np.int32)).tolist() == [[0, 63]]  # 8-bit levels in a wider type
    with pytest.raises(ValueError, match=r"x.png: a CHAOS mask holds 8- or 16-bit grey levels, got float32"):
        mask_grey_8bit(np.array([[0.5]], np.float32), source="x.png")
