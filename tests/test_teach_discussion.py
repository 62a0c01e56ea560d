"""ctl.teach.discussion (notebook 05): every sentence computed from the numbers, checked on hand-made results."""
import pytest

from ctl.evaluate.table1 import summarize
from ctl.organs import ORGAN_LABELS
from ctl.teach.discussion import discussion, gap_closed, pair_agreement


def result(method, dice_percent, assd_mm=2.0, spleen=None):
    """A MethodResult over two volumes with the same Dice for every organ (``spleen`` overrides that organ)."""
    records = [{"method": method, "subject": s, "organ": o, "assd_unit": "mm", "status": "ok", "assd": assd_mm,
                "dice": (spleen if o == "spleen" and spleen is not None else dice_percent) / 100}
               for s in ("a", "b") for o in ORGAN_LABELS]
    return summarize(records, method)


def test_pair_agreement_and_gap_by_hand():
    assert pair_agreement({"a": 1, "b": 2, "c": 3}, {"a": 3, "b": 2, "c": 1}) == (0, 3)
    assert pair_agreement({"a": 1, "b": 2, "c": 3}, {"a": 3, "b": 2, "c": 1}, same_direction=False) == (3, 3)
    assert pair_agreement({"a": 1, "b": 1, "c": 3}, {"a": 1, "b": 2, "c": 3, "d": 0}) == (2, 2)  # tie a-b skipped
    results = {"source_only": result("source_only", 40), "oracle": result("oracle", 80), "ours": result("ours", 70)}
    assert gap_closed(results) == {"ours": pytest.approx(75.0)}
    assert gap_closed({"ours": results["ours"]}) is None
    assert gap_closed(dict(results, oracle=result("oracle", 30))) is None


def test_discussion_is_computed_from_the_numbers():
    results = {m: result(m, d, assd_mm=a) for m, d, a in
               (("cyclegan", 50, 5.0), ("ours", 60, 3.0), ("sifa", 70, 4.0), ("source_only", 40, 6.0),
                ("oracle", 80, 1.0))}
    text = "\n".join(discussion(results))
    assert "`oracle` (80.0) > `sifa` (70.0) > `ours` (60.0) > `cyclegan` (50.0) > `source_only` (40.0)" in text
    assert "`ours` (82.3) > `sifa` (79.2) > `cyclegan` (57.4)" in text  # the paper's printed Means
    assert "2 of 3 pairs of these methods are ordered the same way" in text
    assert "here it ranks 2 of the 3 compared methods" in text
    assert "`sifa` 75 %, `ours` 50 %, `cyclegan` 25 %" in text
    assert "rank 9 of 10 method pairs alike. They disagree on `ours`/`sifa`:" in text  # sifa: Dice; ours: ASSD
    assert "differ by 10.0 points" in text
    ties = dict(results, ours=result("ours", 50.02), cyclegan=result("cyclegan", 49.98))
    assert "`ours` (50.0) = `cyclegan` (50.0) > `source_only`" in "\n".join(discussion(ties))
    inverted = dict(results, oracle=result("oracle", 30), ours=result("ours", 20, spleen=10))
    text = "\n".join(discussion(inverted))
    assert "is not above source_only" in text and "Hardest organ" in text
    assert "Below the lower bound" not in text
    agreeing = {m: result(m, d, assd_mm=a) for m, d, a in (("ours", 60, 3.0), ("sifa", 50, 4.0), ("oracle", 80, 1.0))}
    text = "\n".join(discussion(agreeing))
    assert "rank all 3 method pairs alike." in text and "disagree" not in text  # no clause about disagreements


def test_the_top_two_are_judged_against_the_seed_spread_measured_elsewhere():
    results = {m: result(m, d) for m, d in (("cyclegan", 55), ("ours", 60), ("oracle", 80), ("source_only", 40))}
    spread = {"phantom_seeds": [101], "seeds": [0, 1, 2], "date": "2026-11-30",
              "methods": {"ours": {"mean": 88.6, "std": 0.4, "n": 3}, "cyclegan": {"mean": 84.0, "std": 2.0, "n": 3}}}
    text = "\n".join(discussion(results, spread))
    # gap 5.0 points against 2 x max(0.4, 2.0) = 4.0
    assert "`ours` moves by a standard deviation of 0.4 points, that of `cyclegan` by 2.0" in text
    assert "The gap here, 5.0 points, is more than twice the larger" in text and "phantom seed 101; 3 and 3" in text
    assert "Averaged over those training seeds, `ours` scored 88.6 and `cyclegan` 84.0 there." in text
    two = "\n".join(discussion(results, {**spread, "phantom_seeds": [101, 202]}))
    assert "phantom seeds 101 and 202, the spread within each phantom pooled; 3 and 3 training seeds" in two
    assert "Averaged over those training seeds and phantoms, `ours` scored 88.6" in two
    wide = {**spread, "methods": {**spread["methods"], "cyclegan": {"mean": 84.0, "std": 2.6, "n": 3}}}
    assert "is not more than twice the larger of the two: another training seed could swap them" in \
        "\n".join(discussion(results, wide))  # 5.0 <= 5.2
    unmeasured = {**spread, "methods": {"ours": spread["methods"]["ours"]}}
    assert "Training seeds alone" not in "\n".join(discussion(results, unmeasured))  # cyclegan has no spread
    assert "Training seeds alone" not in "\n".join(discussion(results))


def test_the_discussion_names_missed_organs():
    records = [{"method": "sifa", "subject": s, "organ": o, "assd_unit": "mm", "dice": 0.0 if miss else 0.8,
                "assd": None if miss else 2.0, "status": "empty_prediction" if miss else "ok", "volume_diagonal": 40.0}
               for s in ("a", "b") for o in ORGAN_LABELS for miss in [s == "b" and o == "spleen"]]
    results = {"sifa": summarize(records, "sifa"), "ours": result("ours", 60)}
    text = "\n".join(discussion(results))
    assert ("Organs missed entirely (nothing predicted where the organ is, or an organ predicted where there is "
            "none): `sifa`: Spleen in 1 of 2 volume(s). Each such case is left out of its ASSD mean") in text
    penalised = {"sifa": summarize(records, "sifa", assd_miss_penalty="diagonal"), "ours": result("ours", 60)}
    assert "counted in the ASSD mean as the penalty for a miss" in "\n".join(discussion(penalised))
    assert "missed" not in "\n".join(discussion({"ours": result("ours", 60)}))
