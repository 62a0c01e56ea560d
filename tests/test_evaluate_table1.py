"""ctl.evaluate.table1: the paper's printed numbers, aggregation across volumes, the layout of the table."""
import math

import numpy as np
import pytest

from ctl.evaluate.metrics import score_volume
from ctl.evaluate.table1 import (BOUNDS, PAPER_TABLE1, Stat, paper_notes, summarize, summarize_all, summary_records,
                                 table1)
from ctl.organs import ORGAN_LABELS, ORGAN_ORDER


def record(subject, organ, dice, assd, method="ours", status="ok", unit="mm", **extra):
    return {"method": method, "subject": subject, "organ": organ, "dice": dice, "assd": assd,
            "assd_unit": unit, "status": status, **extra}


def full_records(method, dices, assds, subjects=("mr1", "mr2")):
    """dices/assds: organ -> one value per subject."""
    return [record(s, o, dices[o][i], assds[o][i], method) for o in ORGAN_ORDER for i, s in enumerate(subjects)]


DICES = {"spleen": (0.5, 0.7), "left_kidney": (0.8, 0.9), "right_kidney": (0.6, 0.6), "liver": (0.9, 0.95)}
ASSDS = {"spleen": (4.0, 2.0), "left_kidney": (1.0, 1.5), "right_kidney": (3.0, 3.0), "liver": (2.0, 1.0)}


# ---------------------------------------------------------------- the paper's numbers
def test_paper_rows_are_the_printed_table():
    assert [r.key for r in PAPER_TABLE1] == ["M1", "M2", "M3", "M4", "Ours"]
    assert [r.method for r in PAPER_TABLE1] == ["cyclegan", "synseg", "adaptseg", "sifa", "ours"]
    m1, ours = PAPER_TABLE1[0], PAPER_TABLE1[-1]
    assert m1.dice[0] == (37.9, 10.8) and m1.dice_mean == 57.4 and m1.assd[3] == (3.8, 0.6)  # spleen, liver
    assert ours.dice[3] == (83.4, 1.2) and ours.dice_mean == 82.3 and ours.assd_mean == 2.5
    assert [r.dice_mean for r in PAPER_TABLE1] == [57.4, 70.3, 78.9, 79.2, 82.3]  # also given in Section 4
    assert [r.assd_mean for r in PAPER_TABLE1] == [5.0, 4.2, 2.6, 2.5, 2.5]


def test_paper_notes_flag_only_the_inconsistent_row():
    # M1-M4 Means equal the mean of their organ values to rounding; Ours' Dice Mean 82.3 does not (79.975).
    notes = paper_notes()
    assert len(notes) == 2 and all(note.startswith("paper, Ours Dice") for note in notes)
    assert "79.97" in notes[0]


# ---------------------------------------------------------------- aggregation
def test_summarize_by_hand():
    result = summarize(full_records("ours", DICES, ASSDS), "ours")
    assert result.dice["spleen"] == Stat(mean=pytest.approx(60.0), std=pytest.approx(10.0), n=2, n_missing=0)
    assert result.assd["spleen"].mean == 3.0 and result.assd["spleen"].std == 1.0
    # Mean column: mean of the organ means (60, 85, 60, 92.5) and (3, 1.25, 3, 1.5).
    assert result.dice_mean == pytest.approx((60 + 85 + 60 + 92.5) / 4)
    assert result.assd_mean == pytest.approx((3 + 1.25 + 3 + 1.5) / 4)
    assert result.assd_unit == "mm" and result.subjects == ("mr1", "mr2")
    sample = summarize(full_records("ours", DICES, ASSDS), "ours", ddof=1)
    assert sample.dice["spleen"].std == pytest.approx(10.0 * math.sqrt(2))


def test_missing_values_are_left_out_and_counted():
    records = full_records("ours", DICES, ASSDS, subjects=("a", "b"))
    records += [record("c", o, 0.7, 2.0) for o in ORGAN_ORDER if o != "spleen"]
    records.append(record("c", "spleen", 0.0, None, status="empty_prediction"))
    result = summarize(records, "ours")
    assert result.dice["spleen"].n == 3 and result.dice["spleen"].mean == pytest.approx(40.0)  # 0 % counts
    assert result.assd["spleen"] == Stat(3.0, 1.0, 2, 1)
    penalised = summarize(records, "ours", assd_miss_penalty=30.0)
    assert penalised.assd["spleen"].mean == pytest.approx((4 + 2 + 30) / 3) and penalised.assd["spleen"].n == 3
    assert penalised.assd["spleen"].n_penalised == 1 and penalised.assd_counts == (12, 12, 1)
    # An organ absent from truth and prediction: Dice and ASSD missing, never penalised.
    records[-1] = record("c", "spleen", None, None, status="both_empty")
    absent = summarize(records, "ours", assd_miss_penalty=30.0)
    assert absent.dice["spleen"] == Stat(pytest.approx(60.0), pytest.approx(10.0), 2, 1)
    assert absent.assd["spleen"].n_missing == 1


def test_an_organ_without_any_value_gives_nan_mean_and_na_cells():
    records = [record(s, o, 0.8, None if o == "spleen" else 1.0,
                      status="empty_prediction" if o == "spleen" else "ok") for s in ("a", "b") for o in ORGAN_ORDER]
    result = summarize(records, "ours")
    assert result.assd["spleen"].n == 0 and math.isnan(result.assd_mean)
    row = table1({"ours": result}, data_label="test", include_paper=False).rows[0]
    assert row[7] == "n/a [0/2]" and row[11] == "n/a [6/8]"  # the Mean column counts (volume, organ) pairs
    assert summary_records({"ours": result})[4]["mean"] is None  # assd, spleen


def test_several_seeds_are_pooled_per_volume():
    records = [dict(r, seed=seed) for seed in (0, 1) for r in full_records("ours", DICES, ASSDS)]
    result = summarize(records, "ours")
    assert result.dice["spleen"].n == 4 and result.subjects == ("mr1", "mr2")


@pytest.mark.parametrize("change, message", [
    (lambda rs: rs + [rs[0]], "scored twice"),
    (lambda rs: [r for r in rs if not (r["organ"] == "liver" and r["subject"] == "mr2")], "liver is missing"),
    (lambda rs: rs[:-1] + [dict(rs[-1], assd_unit="voxel")], "mix ASSD units"),
    (lambda rs: [dict(r, method="other") for r in rs], "no records"),
])
def test_bad_records_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        summarize(change(full_records("ours", DICES, ASSDS)), "ours")


def test_from_score_volume_records():
    truth = np.zeros((4, 10, 10), np.uint8)
    for organ, label in ORGAN_LABELS.items():
        truth[1:3, 2 * label - 1: 2 * label + 1, 2:6] = label
    pred = truth.copy()
    pred[pred == ORGAN_LABELS["liver"]] = 0
    pred[1:3, 1:3, 2:4] = ORGAN_LABELS["liver"]  # half the liver
    records = []
    for subject, p in (("a", truth), ("b", pred)):
        records += [dict(s.as_dict(), subject=subject, method="m")
                    for s in score_volume(p, truth, (2.0, 1.0, 1.0)).values()]
    result = summarize_all(records)["m"]
    half = 100 * 2 * 8 / (8 + 16)  # 8 of the 16 liver voxels predicted, nothing else
    assert result.dice["liver"].mean == pytest.approx((100 + half) / 2)
    assert result.dice["spleen"] == Stat(100.0, 0.0, 2, 0)


# ---------------------------------------------------------------- layout
def test_header_has_the_paper_order_and_the_unit():
    result = summarize(full_records("ours", DICES, ASSDS), "ours")
    table = table1({"ours": result}, data_label="phantom")
    organs = ["Spleen", "Left Kidney", "Right Kidney", "Liver", "Mean"]
    assert table.header[:2] == ("Approach", "Data")
    assert table.header[2] == "Dice % (STD): Spleen" and list(table.header[3:7]) == organs[1:]
    assert table.header[7] == "ASSD mm (STD): Spleen" and list(table.header[8:12]) == organs[1:]
    assert any("paper's ASSD unit is not stated" in note for note in table.notes)


def test_rows_put_ours_beside_the_paper_and_bounds_last():
    methods = ["oracle", "ours", "source_only", "sifa", "cyclegan", "extra"]
    results = {m: summarize(full_records(m, DICES, ASSDS), m) for m in methods}
    table = table1(results, data_label="phantom")
    labels = [row[0] for row in table.rows]
    assert labels == ["M1 CycleGAN [4]", "cyclegan (M1)", "M2 SynSeg-Net [2]", "M3 AdaptSegNet [7]",
                      "M4 SIFA [11]", "sifa (M4)", "Ours (contrastive translation)", "ours", "extra",
                      f"source_only ({BOUNDS['source_only']})", f"oracle ({BOUNDS['oracle']})"]
    assert [row[1] for row in table.rows].count("phantom") == 6
    ours = table.rows[labels.index("ours")]
    assert ours[2:7] == ("60.0 (10.0)", "85.0 (5.0)", "60.0 (0.0)", "92.5 (2.5)", "74.4")
    assert ours[7] == "3.00 (1.00)" and ours[11] == "2.19"
    paper = table.rows[0]
    assert paper[2] == "37.9 (10.8)" and paper[6] == "57.4" and paper[11] == "5.0"
    alone = table1(results, data_label="phantom", include_paper=False)
    assert [row[0] for row in alone.rows][:2] == ["cyclegan (M1)", "sifa (M4)"]
    assert "| Approach | Data |" in table.to_markdown() and "cyclegan (M1)" in table.to_text()


def test_table_refuses_mixed_units():
    results = {"a": summarize(full_records("a", DICES, ASSDS), "a"),
               "b": summarize([dict(r, assd_unit="voxel") for r in full_records("b", DICES, ASSDS)], "b")}
    with pytest.raises(ValueError, match="one table per unit"):
        table1(results, data_label="x")


def test_the_mean_column_counts_what_it_covers():
    records = full_records("ours", DICES, ASSDS)
    records[1] = dict(records[1], dice=0.0, assd=None, status="empty_prediction")  # spleen missed in mr2
    result = summarize(records, "ours")
    assert result.assd_counts == (7, 8, 0) and result.dice_counts == (8, 8, 0)
    assert result.assd_mean == pytest.approx((4.0 + 1.25 + 3.0 + 1.5) / 4)  # spleen's mean is mr1's 4.0 alone
    assert result.missed() == {"spleen": (1, 2)}
    row = table1({"ours": result}, data_label="x", include_paper=False).rows[0]
    assert row[6] == "65.6" and row[7] == "4.00 (0.00) [1/2]"  # Dice Mean (25 + 85 + 60 + 92.5) / 4
    assert row[11] == "2.44 [7/8]"  # ASSD Mean (4 + 1.25 + 3 + 1.5) / 4 = 2.4375, over 7 of the 8 values
    penalised = summarize([dict(r, volume_diagonal=40.0) for r in records], "ours", assd_miss_penalty="diagonal")
    assert penalised.assd["spleen"] == Stat(22.0, 18.0, 2, 0, 1) and penalised.assd_counts == (8, 8, 1)
    assert penalised.missed() == {"spleen": (1, 2)}
    row = table1({"ours": penalised}, data_label="x", include_paper=False).rows[0]
    assert row[7] == "22.00 (18.00) [1 pen.]" and row[11] == f"{(22 + 1.25 + 3 + 1.5) / 4:.2f} [1 pen.]"


def test_penalty_options_are_checked():
    records = full_records("ours", DICES, ASSDS)
    records[1] = dict(records[1], assd=None, status="empty_prediction")
    with pytest.raises(ValueError, match="needs each record's volume_diagonal, which records of 'mr2' lack"):
        summarize(records, "ours", assd_miss_penalty="diagonal")
    for bad in ("max", -1.0, float("inf")):
        with pytest.raises(ValueError, match="assd_miss_penalty="):
            summarize(records, "ours", assd_miss_penalty=bad)


def test_the_notes_say_when_the_std_spans_seeds():
    one = table1({"ours": summarize(full_records("ours", DICES, ASSDS), "ours")}, data_label="x")
    assert "(standard deviation, ddof 0) across test volumes;" in one.notes[0]
    records = [dict(r, seed=seed) for seed in (0, 1) for r in full_records("ours", DICES, ASSDS)]
    result = summarize(records, "ours")
    assert result.seeds == (0, 1)
    two = table1({"ours": result}, data_label="x")
    assert ("across (test volume, seed) pairs: each volume scored once per seed (2 seeds), so the STD mixes the "
            "spread across volumes with the spread across seeds") in two.notes[0]


def test_an_organ_absent_from_truth_and_prediction_is_no_miss():
    records = full_records("ours", DICES, ASSDS)
    records[1] = dict(records[1], dice=None, assd=None, status="both_empty")  # no spleen in mr2, none predicted
    result = summarize(records, "ours")
    assert result.assd_counts == (7, 8, 0) and result.dice_counts == (7, 8, 0) and result.missed() == {}
