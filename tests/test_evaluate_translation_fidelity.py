"""ctl.evaluate.translation_fidelity on the hand-made prepared folder of conftest.py: the ideal, a constant and an
inverted translator; real data never reads the paired MR; rank correlations by hand."""
import numpy as np
import pytest
import torch

import ctl.data
from conftest import LabelReader
from ctl.evaluate.translation_fidelity import (NO_TRANSLATION, PAIRED_TRUTH, FidelityConfig, rank_correlations,
                                               translation_fidelity)
from ctl.organs import ORGAN_LABELS


class PairedLookup:
    """The ideal translator: maps each CT slice to the paired MR slice of the same anatomy."""

    def __init__(self, ct, paired):
        self.table = {ct_slice.astype(np.float32).tobytes(): mr for ct_slice, mr in zip(ct, paired)}

    def __call__(self, x):  # (B, 1, H, W)
        return torch.stack([torch.from_numpy(self.table[s.numpy().tobytes()].astype(np.float32))[None]
                            for s in x[:, 0]])


def test_fidelity_of_the_ideal_and_of_a_constant_translator(scored_prepared):
    ct = ctl.data.load_volume(scored_prepared, "ct", "ct0001")
    paired = ctl.data.load_paired_mr(scored_prepared, "ct0001")
    ideal = PairedLookup(ct.image, paired.image)
    translators = {"ideal": ideal, "constant": lambda x: torch.full_like(x, 0.5), "inverted": lambda x: 1 - ideal(x)}
    report = translation_fidelity(translators, scored_prepared, LabelReader(), data_source="phantom",
                                  config=FidelityConfig(subsets=5))
    assert list(report) == [NO_TRANSLATION, PAIRED_TRUTH, "ideal", "constant", "inverted"]
    ideal, constant, inverted = (report[name].summary() for name in ("ideal", "constant", "inverted"))
    for region in ("body", *ORGAN_LABELS):
        assert ideal[f"ssim_{region}"] == pytest.approx(1.0, abs=1e-9)
        # no structure: covariance 0, so SSIM <= C2 / (var_truth + C2), small wherever the truth has texture
        assert constant[f"ssim_{region}"] < 0.2
        assert inverted[f"ssim_{region}"] < 0  # bright and dark swapped: negative covariance
    assert ideal["psnr_body_db"] == float("inf")  # identical inside the body
    assert ideal["content_dice"] == 100.0 and ideal["content_assd"] == 0.0  # oracle(G(x)) == y^s
    assert constant["content_dice"] < 25
    assert report[PAIRED_TRUTH].summary() == pytest.approx(ideal)  # the reference row is that ideal
    np.testing.assert_array_equal(report["ideal"].translated["ct0001"], paired.image)
    assert constant["kid"] > ideal["kid"]


def test_on_real_data_the_paired_measure_is_skipped_and_never_read(scored_prepared, monkeypatch):
    def no_paired(*args):
        raise AssertionError("real data has no paired MR")

    monkeypatch.setattr(ctl.data, "load_paired_mr", no_paired)
    report = translation_fidelity({"constant": lambda x: torch.full_like(x, 0.5)}, scored_prepared, LabelReader(),
                                  data_source="real")
    assert list(report) == [NO_TRANSLATION, "constant"]
    assert report["constant"].paired is None
    assert set(report["constant"].summary()) == {"content_dice", "content_assd", "kid", "kid_std"}
    with pytest.raises(ValueError, match="data_source"):
        translation_fidelity({}, scored_prepared, LabelReader(), data_source="Phantom")


def test_rank_correlations():
    summaries = {m: {"ssim_body": s, "kid": k, "content_dice": 50.0} for m, s, k in
                 (("a", 0.1, 3.0), ("b", 0.5, 2.0), ("c", 0.9, 1.0), (NO_TRANSLATION, 0.0, 9.0))}
    out = rank_correlations(summaries, {"a": 10.0, "b": 20.0, "c": 30.0})
    assert out["ssim_body"] == {"rho": pytest.approx(1.0), "n": 3, "methods": ["a", "b", "c"]}
    assert out["kid"]["rho"] == pytest.approx(-1.0)
    assert out["content_dice"]["rho"] is None  # constant: no ranking
    assert rank_correlations(summaries, {"a": 1.0, "b": 2.0})["ssim_body"]["rho"] is None  # two methods
