"""Augmentations: hand-worked values, image and label deformed together, and never a left-right flip."""
import pytest
import torch

from ctl.data.augment import (AugmentConfig, adjust_brightness_contrast, adjust_sharpness, augment_slice,
                              elastic_deform, random_displacement)


def test_sharpness_by_hand():
    image = torch.zeros(1, 5, 5)
    image[0, 2, 2] = 1.0
    assert torch.equal(adjust_sharpness(image, 1.0), image)
    blurred = adjust_sharpness(image, 0.0)
    assert blurred[0, 2, 2].item() == pytest.approx(5 / 13) and blurred[0, 1, 1].item() == pytest.approx(1 / 13)
    sharper = adjust_sharpness(image * 0.5, 2.0)  # 5/26 + 2 * (0.5 - 5/26) = 0.8077
    assert sharper[0, 2, 2].item() == pytest.approx(5 / 26 + 2 * (0.5 - 5 / 26))
    constant = torch.full((1, 6, 6), 0.4)
    assert torch.allclose(adjust_sharpness(constant, 1.7), constant)


def test_brightness_contrast_by_hand():
    image = torch.tensor([[[0.2, 0.4]]])  # mean 0.3
    out = adjust_brightness_contrast(image, brightness=0.1, contrast=2.0)
    assert out.flatten().tolist() == pytest.approx([0.2, 0.6])  # (x - 0.3) * 2 + 0.3 + 0.1
    assert adjust_brightness_contrast(image, 1.0, 1.0).max().item() == 1.0  # clipped


def test_elastic_with_no_displacement_is_the_identity():
    image = torch.rand(1, 8, 9)
    label = torch.randint(0, 5, (8, 9))
    out, lab = elastic_deform(image, label, torch.zeros(2, 8, 9))
    assert torch.allclose(out, image, atol=1e-6) and torch.equal(lab, label)


def test_elastic_moves_image_and_label_together():
    image = torch.arange(48, dtype=torch.float32).reshape(1, 6, 8)
    label = (torch.arange(48).reshape(6, 8) % 5)
    shift = torch.zeros(2, 6, 8)
    shift[1] = 1.0  # output(y, x) = input(y, x + 1): content moves one column to the left
    out, lab = elastic_deform(image, label, shift)
    assert torch.allclose(out[0, :, :-1], image[0, :, 1:], atol=1e-4) and torch.equal(lab[:, :-1], label[:, 1:])
    assert torch.allclose(out[0, :, -1], image[0, :, -1], atol=1e-4)  # the border repeats
    down = torch.zeros(2, 6, 8)
    down[0] = -2.0  # output(y, x) = input(y - 2, x): content moves two rows down
    out, lab = elastic_deform(image, label, down)
    assert torch.allclose(out[0, 2:], image[0, :-2], atol=1e-4) and torch.equal(lab[2:], label[:-2])


def test_random_displacement_is_smooth_and_seeded():
    a = random_displacement(64, 64, 4, 0.02, torch.Generator().manual_seed(1))
    b = random_displacement(64, 64, 4, 0.02, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (2, 64, 64)
    assert a.abs().max() < 64 * 0.02 * 6  # a few sd at most
    assert (a[:, 1:] - a[:, :-1]).abs().max() < 0.5 and (a[:, :, 1:] - a[:, :, :-1]).abs().max() < 0.5


def test_augmentation_never_flips_left_right():
    """A slice whose 'liver' (1) lies on the image's left and 'spleen' (4) on its right keeps them there."""
    image = torch.full((1, 48, 48), 0.3)
    label = torch.zeros(48, 48, dtype=torch.int64)
    label[14:34, 4:20], label[16:30, 34:44] = 1, 4
    image[0][label == 1], image[0][label == 4] = 0.6, 0.8
    config = AugmentConfig(p_sharpness=1.0, p_brightness_contrast=1.0, p_elastic=1.0)
    generator = torch.Generator().manual_seed(0)
    for _ in range(30):
        out, lab = augment_slice(image, label, config, generator)
        assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1
        assert set(torch.unique(lab).tolist()) <= {0, 1, 4}
        assert torch.nonzero(lab == 1)[:, 1].float().mean() < 24 < torch.nonzero(lab == 4)[:, 1].float().mean()


def test_augment_slice_uses_torch_seeding():
    image, label = torch.rand(1, 16, 16), torch.randint(0, 5, (16, 16))
    config = AugmentConfig(p_sharpness=0.5, p_brightness_contrast=0.5, p_elastic=0.5)
    torch.manual_seed(7)
    first = [augment_slice(image, label, config)[0] for _ in range(5)]
    torch.manual_seed(7)
    second = [augment_slice(image, label, config)[0] for _ in range(5)]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    off = AugmentConfig(p_sharpness=0.0, p_brightness_contrast=0.0, p_elastic=0.0)
    out, lab = augment_slice(image, label, off)
    assert torch.equal(out, image) and torch.equal(lab, label)
