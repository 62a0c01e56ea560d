"""LSGAN losses (eq. 2-3) on hand-worked scores, their gradients, and bad inputs."""
import pytest
import torch

from ctl.losses import lsgan_discriminator_loss, lsgan_generator_loss


def test_generator_loss_by_hand():
    # (D - 1)^2 for scores 0.5, 1, 0, 2: 0.25, 0, 1, 1 -> mean 0.5625
    d_fake = torch.tensor([0.5, 1.0, 0.0, 2.0]).view(1, 1, 2, 2)
    assert lsgan_generator_loss(d_fake).item() == pytest.approx(0.5625)


def test_discriminator_loss_by_hand():
    # fakes 0.5, -1 -> D^2 = 0.25, 1 -> mean 0.625; reals 1, 0, 3 -> (D - 1)^2 = 0, 1, 4 -> mean 5/3
    d_fake = torch.tensor([0.5, -1.0])
    d_real = torch.tensor([1.0, 0.0, 3.0])
    assert lsgan_discriminator_loss(d_fake, d_real).item() == pytest.approx(0.625 + 5 / 3)


def test_ideal_and_fooled_discriminator():
    ones, zeros = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    assert lsgan_discriminator_loss(zeros, ones).item() == 0.0  # fakes 0, reals 1: perfect D
    assert lsgan_discriminator_loss(ones, zeros).item() == 2.0  # the opposite
    assert lsgan_generator_loss(ones).item() == 0.0  # D takes every fake for real


def test_generator_gradient_does_not_saturate():
    # the squared loss pulls a confidently rejected fake (score -3) harder than a nearly accepted one (0.9):
    # d/dD (D - 1)^2 = 2 (D - 1), here per element of a mean over 2 scores: (D - 1)
    d_fake = torch.tensor([-3.0, 0.9], requires_grad=True)
    lsgan_generator_loss(d_fake).backward()
    torch.testing.assert_close(d_fake.grad, torch.tensor([-4.0, -0.1]))


def test_bad_scores_are_refused():
    with pytest.raises(ValueError, match="empty"):
        lsgan_generator_loss(torch.zeros(0))
    with pytest.raises(TypeError, match="floating-point"):
        lsgan_discriminator_loss(torch.zeros(2, dtype=torch.long), torch.zeros(2))
