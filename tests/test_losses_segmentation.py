"""Weighted cross-entropy, Dice and L_seg (eq. 12-14): hand-worked values, the class weights, MONAI cross-checks
where the definitions coincide, empty classes, bad inputs."""
import math

import pytest
import torch
from monai.losses import DiceCELoss, DiceLoss
from torch.nn import functional as nnf

from ctl.losses import class_weights, dice_loss, segmentation_loss, weighted_cross_entropy


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_class_weights_by_hand():
    target = torch.tensor([[[0, 0], [0, 1]]])  # 3 background pixels, 1 of class 1, none of class 2
    torch.testing.assert_close(class_weights(target, 3), torch.tensor([0.25, 0.75, 1.0]))


def test_weighted_cross_entropy_by_hand():
    # uniform logits: every pixel has -log p = log 2; w = (0.25, 0.75) for 3 + 1 pixels
    # L = (3 * 0.25 * log 2 + 0.75 * log 2) / 4 = 0.375 log 2
    target = torch.tensor([[[0, 0], [0, 1]]])
    logits = torch.zeros(1, 2, 2, 2)
    assert weighted_cross_entropy(logits, target).item() == pytest.approx(0.375 * math.log(2))


def test_weighted_cross_entropy_by_hand_uneven_probabilities():
    # pixel 1: p = (0.75, 0.25), truth 0 -> -log 0.75; pixel 2: p = (0.5, 0.5), truth 1 -> log 2; w = (0.5, 0.5)
    # L = (0.5 * 0.2876821 + 0.5 * 0.6931472) / 2 = 0.2452073
    logits = torch.tensor([[math.log(3), 0.0], [0.0, 0.0]]).T.reshape(1, 2, 1, 2)
    target = torch.tensor([[[0, 1]]])
    assert weighted_cross_entropy(logits, target).item() == pytest.approx(0.2452073, abs=1e-6)


def test_weighted_cross_entropy_divides_by_pixels_not_by_weights():
    logits, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    w = class_weights(target, 3)
    torch_mean = nnf.cross_entropy(logits, target, weight=w)  # divides by sum_i w_{y_i}
    ours = weighted_cross_entropy(logits, target)
    torch.testing.assert_close(ours * target.numel() / w[target].sum(), torch_mean)


def test_weighted_cross_entropy_with_balanced_classes_matches_monai():
    # every class equally frequent -> all w_c = 1 - 1/K: L_wce = (1 - 1/K) * plain cross-entropy
    target = torch.arange(4).repeat(2, 4, 1)  # (2, 4, 4), 8 pixels of each of 4 classes per image
    logits = torch.randn(2, 4, 4, 4)
    monai_ce = DiceCELoss(to_onehot_y=True, softmax=True, lambda_dice=0.0, lambda_ce=1.0)(logits, target[:, None])
    assert weighted_cross_entropy(logits, target).item() == pytest.approx(0.75 * monai_ce.item(), rel=1e-5)


def test_dice_loss_by_hand():
    # target (0, 1); p(class 0) = (0.8, 0.4), p(class 1) = (0.2, 0.6)
    # class 0: 2 * 0.8 / (0.64 + 0.16 + 1) = 0.888889; class 1: 2 * 0.6 / (0.04 + 0.36 + 1) = 0.857143
    # L = 1 - (0.888889 + 0.857143) / 2 = 0.1269841
    probs = torch.tensor([[0.8, 0.4], [0.2, 0.6]]).reshape(1, 2, 1, 2)
    target = torch.tensor([[[0, 1]]])
    assert dice_loss(probs, target).item() == pytest.approx(0.1269841, abs=1e-6)


def test_dice_loss_is_0_for_a_perfect_one_hot_and_1_for_a_disjoint_prediction():
    target = torch.randint(0, 3, (2, 5, 5))
    perfect = nnf.one_hot(target, 3).permute(0, 3, 1, 2).float()
    assert dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-7)
    disjoint = nnf.one_hot((target + 1) % 3, 3).permute(0, 3, 1, 2).float()
    assert dice_loss(disjoint, target).item() == pytest.approx(1.0, abs=1e-7)


def test_dice_loss_counts_a_class_absent_from_prediction_and_truth_as_perfect():
    target = torch.tensor([[[0, 1], [1, 0]]])  # class 2 nowhere
    perfect = nnf.one_hot(target, 3).permute(0, 3, 1, 2).float()  # and never predicted
    assert dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-7)


def test_dice_loss_matches_monai_squared_batch_dice():
    target = torch.randint(0, 4, (2, 8, 8))
    probs = torch.softmax(torch.randn(2, 4, 8, 8), dim=1)
    monai = DiceLoss(to_onehot_y=True, squared_pred=True, batch=True, smooth_nr=0.0, smooth_dr=0.0)
    torch.testing.assert_close(dice_loss(probs, target), monai(probs, target[:, None]))


def test_segmentation_loss_is_the_sum_and_has_gradients():
    logits = torch.randn(2, 5, 8, 8, requires_grad=True)
    target = torch.randint(0, 5, (2, 8, 8))
    loss = segmentation_loss(logits, target)
    expected = weighted_cross_entropy(logits, target) + dice_loss(torch.softmax(logits, 1), target)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("loss", [weighted_cross_entropy, dice_loss, segmentation_loss])
def test_bad_targets_are_refused(loss):
    scores = torch.rand(1, 3, 4, 4)
    with pytest.raises(ValueError, match=r"class ids in \[0, 3\] but .* has 3 classes"):
        loss(scores, torch.tensor([[[0, 1, 2, 3]] * 4]))
    with pytest.raises(TypeError, match="integer class ids"):
        loss(scores, torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match=r"target must be \(B, H, W\)"):
        loss(scores, torch.zeros(1, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"must be \(B, K, H, W\)"):
        loss(torch.rand(3, 4, 4), torch.zeros(1, 4, 4, dtype=torch.long))
