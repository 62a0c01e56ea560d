"""ctl.evaluate.fidelity: paired truth, label-based content score and kernel distance at their ideal and worst cases."""
import itertools
import math

import numpy as np
import pytest
import torch

from ctl.evaluate.fidelity import (FeatureConfig, RandomFeatures, body_mask, content_score, image_features,
                                   kernel_distance, masked_psnr, mmd2_unbiased, paired_fidelity)
from ctl.organs import ORGAN_LABELS

SPACING = (4.0, 1.5, 1.5)
MR_INTENSITY = {0: 0.35, 1: 0.3, 2: 0.6, 3: 0.6, 4: 0.8}  # body, liver, kidneys, spleen


def tiny_subject(z=4, size=40, seed=0, with_spleen=True):
    """A body disk holding four organ disks; the 'MR' is a fixed intensity per tissue plus fine texture."""
    yy, xx = np.mgrid[:size, :size]
    disk = lambda cy, cx, r: (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2  # noqa: E731
    labels = np.zeros((z, size, size), np.uint8)
    body = np.broadcast_to(disk(size / 2, size / 2, size / 2 - 2), labels.shape)
    organs = {"liver": (16, 13, 7), "right_kidney": (27, 12, 3), "left_kidney": (27, 28, 3), "spleen": (15, 28, 5)}
    for organ, (cy, cx, r) in organs.items():
        if organ != "spleen" or with_spleen:
            labels[:, disk(cy, cx, r)] = ORGAN_LABELS[organ]
    truth = np.where(body, MR_INTENSITY[0], 0.0)
    for label in range(1, 5):
        truth = np.where(labels == label, MR_INTENSITY[label], truth)
    texture = 0.05 * np.random.default_rng(seed).standard_normal(labels.shape)
    return np.clip(truth + texture * body, 0, 1).astype(np.float32), labels


# ---------------------------------------------------------------- paired truth
def test_body_mask_fills_holes_and_drops_specks():
    image = np.zeros((2, 20, 20))
    image[:, 3:17, 3:17] = 0.5
    image[:, 8:12, 8:12] = 0.0  # dark inside the body (gas): still body
    image[:, 0, 19] = 0.9  # a bright speck outside: not body
    mask = body_mask(image)
    assert mask[:, 3:17, 3:17].all() and mask.sum() == 2 * 14 * 14
    with pytest.raises(ValueError, match="threshold"):
        body_mask(np.zeros((2, 5, 5)))


def test_masked_psnr_by_hand():
    truth, _ = tiny_subject()
    mask = np.ones(truth.shape, bool)
    assert masked_psnr(truth, truth, mask) == math.inf
    assert masked_psnr(np.full(truth.shape, 0.2), np.full(truth.shape, 0.1), mask) == pytest.approx(20.0)  # MSE 0.01
    binary = (np.indices(truth.shape).sum(0) % 2).astype(float)
    assert masked_psnr(1 - binary, binary, mask) == pytest.approx(0.0, abs=1e-12)  # every voxel off by L
    with pytest.raises(ValueError, match="empty"):
        masked_psnr(truth, truth, ~mask)


def test_paired_fidelity_ideal_translation_scores_one():
    truth, labels = tiny_subject()
    report = paired_fidelity(truth, truth, labels)
    assert list(report) == ["body", *ORGAN_LABELS]
    for region in report.values():
        assert region["ssim"] == pytest.approx(1.0, abs=1e-12) and region["psnr_db"] == math.inf
    assert report["body"]["voxels"] == body_mask(truth).sum()


def test_paired_fidelity_worst_translations():
    truth, labels = tiny_subject()
    everywhere = np.ones(truth.shape, bool)
    # On a fine checkerboard (structure in every window): a structureless grey output gives SSIM ~ 0, the
    # contrast-inverted output SSIM -1 and PSNR 0 dB (every voxel off by the full range).
    checker = (np.indices(truth.shape)[1:].sum(0) % 2).astype(np.float32)
    grey = paired_fidelity(np.full_like(checker, 0.5), checker, labels, body=everywhere)
    assert grey["body"]["ssim"] == pytest.approx(0.0, abs=0.01)
    assert grey["body"]["psnr_db"] == pytest.approx(10 * math.log10(1 / 0.25))
    inverted = paired_fidelity(1 - checker, checker, labels, body=everywhere)
    assert inverted["body"]["ssim"] == pytest.approx(-1.0, abs=0.01)
    assert inverted["body"]["psnr_db"] == pytest.approx(0.0, abs=1e-12)
    # On the phantom-like subject: grey < halfway to grey < ideal, in every region.
    body = body_mask(truth)
    flat = paired_fidelity(np.full_like(truth, truth[body].mean()), truth, labels, body=body)
    half = paired_fidelity(0.5 * truth + 0.5 * truth[body].mean(), truth, labels, body=body)
    for region in flat:
        assert flat[region]["ssim"] < half[region]["ssim"] < 1.0
        assert flat[region]["psnr_db"] < half[region]["psnr_db"] < math.inf


def test_paired_fidelity_absent_organ_is_none_not_nan():
    truth, labels = tiny_subject(with_spleen=False)
    report = paired_fidelity(truth, truth, labels)
    assert report["spleen"] == {"ssim": None, "psnr_db": None, "voxels": 0}
    with pytest.raises(ValueError, match="must be volumes"):
        paired_fidelity(truth[0], truth[0], labels[0])


# ---------------------------------------------------------------- content score
def test_content_score_is_one_for_a_perfect_and_zero_for_a_blind_segmenter():
    truth, labels = tiny_subject()
    perfect = content_score(truth, labels, lambda volume: labels.copy(), SPACING)
    assert all(s.dice == 1.0 and s.assd == 0.0 for s in perfect.values())
    blind = content_score(truth, labels, lambda volume: np.zeros(volume.shape, np.int64), SPACING)
    assert all(s.dice == 0.0 and s.status == "empty_prediction" for s in blind.values())
    with pytest.raises(ValueError, match="one label per voxel"):
        content_score(truth, labels, lambda volume: labels[0], SPACING)


# ---------------------------------------------------------------- kernel distance
def test_mmd2_unbiased_matches_the_formula_by_loops():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3)), rng.normal(1.0, 1.0, size=(5, 3))
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(4), 2)) / (4 * 3)
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(5), 2)) / (5 * 4)
    xy = sum(k(a, b) for a in x for b in y) / (4 * 5)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        mmd2_unbiased(x[:1], y)


def test_random_features_are_fixed_by_the_seed():
    slices = torch.rand(3, 1, 32, 32)
    a, b = RandomFeatures(FeatureConfig(seed=1)), RandomFeatures(FeatureConfig(seed=1))
    other = RandomFeatures(FeatureConfig(seed=2))
    assert list(a(slices)) == ["scale1", "scale2", "scale3", "scale4"]
    assert a(slices)["scale4"].shape == (3, 64, 2, 2)
    assert all(torch.equal(a(slices)[n], b(slices)[n]) for n in a.stages)
    assert not torch.equal(a(slices)["scale1"], other(slices)["scale1"])
    assert not any(p.requires_grad for p in a.parameters())
    features = image_features(slices[:, 0].numpy())
    assert {n: f.shape for n, f in features.items()} == {"scale1": (3, 32), "scale2": (3, 64), "scale3": (3, 128),
                                                         "scale4": (3, 128)}
    with pytest.raises(ValueError, match="expected slices"):
        image_features(np.zeros((2, 3, 8, 8)))


def test_kernel_distance_is_zero_for_one_distribution_and_grows_with_a_shift():
    slices = np.concatenate([tiny_subject(z=30, seed=s)[0] for s in range(4)])  # 120 slices
    vectors = lambda images: np.concatenate(list(image_features(images).values()), axis=1)  # noqa: E731
    real = vectors(slices[:60])
    same = kernel_distance(real, vectors(slices[60:]), subsets=20, subset_size=50)
    itself = kernel_distance(real, real, subsets=20, subset_size=50)
    # Shift the appearance step by step: darker and lower-contrast images.
    shifted = [kernel_distance(vectors(np.clip(slices[60:] * (1 - a) + 0.1 * a, 0, 1)), real, subsets=20,
                               subset_size=50).mean for a in (0.1, 0.3, 0.6)]
    assert shifted == sorted(shifted)
    assert abs(itself.mean) < 0.05 * shifted[0] and abs(same.mean) < 0.05 * shifted[0]
    assert itself.subset_size == 50 and kernel_distance(real[:5], real, subset_size=50).subset_size == 5
    with pytest.raises(ValueError, match="at least 2 slices"):
        kernel_distance(real[:1], real)
