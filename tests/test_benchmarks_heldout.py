"""benchmarks/heldout.py: the spread over training seeds, per phantom seed and pooled, and the issue's checks."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def heldout():
    spec = importlib.util.spec_from_file_location("heldout", ROOT / "benchmarks" / "heldout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _runs(**dice_per_phantom):
    """{phantom: {method: {seed: {"dice_mean": d}}}} from keyword lists of Dice per training seed."""
    runs = {}
    for key, values in dice_per_phantom.items():
        phantom, method = key.split("_", 1)
        runs.setdefault(phantom[1:], {})[method] = {str(i): {"dice_mean": d} for i, d in enumerate(values)}
    return runs


def test_summary_pools_the_training_seed_spread_over_phantom_seeds(heldout):
    # phantom 101: ours 88, 90 (mean 89, std 1); phantom 202: ours 84, 84 (mean 84, std 0)
    by_phantom, summary = heldout.summarise(_runs(p101_ours=[88.0, 90.0], p202_ours=[84.0, 84.0]))
    assert by_phantom["101"]["ours"]["dice_mean"] == {"mean": 89.0, "std": 1.0, "n": 2}
    assert by_phantom["202"]["ours"]["dice_mean"] == {"mean": 84.0, "std": 0.0, "n": 2}
    pooled = summary["ours"]["dice_mean"]
    assert pooled["mean"] == pytest.approx(86.5)  # the mean of the two phantoms' means
    assert pooled["std"] == pytest.approx(0.5 ** 0.5)  # root of the mean variance (1 + 0) / 2, not the 2.6 of all four
    assert (pooled["n"], pooled["phantoms"]) == (2, 2)


def test_one_phantom_seed_summary_is_that_phantoms_spread(heldout):
    by_phantom, summary = heldout.summarise(_runs(p101_ours=[88.0, 90.0, 89.0]))
    only = by_phantom["101"]["ours"]["dice_mean"]
    assert summary["ours"]["dice_mean"] == {**only, "phantoms": 1}
    assert only["std"] == pytest.approx((2 / 3) ** 0.5)


def test_a_phantom_seed_that_fails_is_not_hidden_by_the_pooled_means(heldout):
    runs = _runs(p101_ours=[89.0, 89.0], p101_oracle=[96.0, 96.0], p101_source_only=[50.0, 50.0],
                 p202_ours=[84.0, 84.0], p202_oracle=[95.0, 95.0], p202_source_only=[50.0, 50.0])
    by_phantom, summary = heldout.summarise(runs)
    pooled = heldout.issue_checks(summary)  # ours 86.5 >= 0.9 x 95.5 = 85.95
    assert pooled["ours >= 0.9 x oracle"] and pooled["ours >= source_only + 30"]
    assert pooled["oracle >= every adapted method"]
    alone = heldout.issue_checks(by_phantom["202"], prefix="phantom 202: ")  # 84 < 0.9 x 95 = 85.5
    assert alone == {"phantom 202: ours >= 0.9 x oracle": False, "phantom 202: ours >= source_only + 30": True,
                     "phantom 202: oracle >= every adapted method": True}


def test_the_reference_weights_are_checked_per_phantom_seed(heldout):
    references = {"101": {"ours": {"content_dice": 85.1, "ssim_body": 0.604}},
                  "202": {"ours": {"content_dice": 84.9, "ssim_body": 0.61}}}
    checks = heldout.issue_checks({}, references)
    assert checks == {"phantom 101: content Dice of the reference ours >= 85": True,
                      "phantom 101: SSIM of the reference ours >= 0.60": True,
                      "phantom 202: content Dice of the reference ours >= 85": False,
                      "phantom 202: SSIM of the reference ours >= 0.60": True}
