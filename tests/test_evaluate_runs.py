"""ctl.evaluate.runs on the hand-made prepared folder of conftest.py, whose expected scores are worked out by hand:
records, metrics.json / metrics.csv, Table 1 from the records, the MR test split read once per subject, the
methods of Table 1, run folders of methods that have no segmenter; misses shown beside every mean or penalised by
the volume's diagonal; weights that are not the run folder's refused.

The segmenter double ``LabelReader`` predicts the label the test wrote into the image (label = 4 x intensity),
so each MR test volume's prediction is chosen here, voxel by voxel.
"""
import csv
import json
import math
import shutil

import pytest

import ctl.data
from conftest import SPACING, LabelReader, organs
from ctl.evaluate import (EvalConfig, comparison, evaluate_folder, evaluate_segmenter, find_runs, read_metrics,
                          records_in_unit, table_methods, write_metrics)
from ctl.evaluate.runs import volume_diagonal
from ctl.methods import METHODS
from ctl.presets import PRESETS
from ctl.training import TrainConfig, train


# Hand-worked values for mr0001 (spacing 3.0 x 0.8 x 0.8 mm):
# - left kidney: truth a 4x4x4 block (64 voxels, 56 on its surface), prediction its lower half 4x4x2 (32 voxels,
#   all on its surface). Dice = 2*32/96. Prediction -> truth: the 4 inner voxels of the upper predicted slice are
#   0.8 mm (one voxel in-plane) from the truth's surface, the rest 0. Truth -> prediction: 12 rim voxels of truth
#   slice 3 are 3 mm away, the 16 voxels of truth slice 4 are 6 mm away. Pooled ASSD = (4*0.8 + 12*3 + 16*6) / 88;
#   in voxels (4 + 12 + 32) / 88; mean of the directed means 0.5 * (3.2/32 + 132/56).
LEFT_ASSD_MM = (4 * 0.8 + 12 * 3 + 16 * 6) / 88
LEFT_ASSD_VOXEL = (4 + 12 + 32) / 88
LEFT_ASSD_MEAN_OF_MEANS = 0.5 * (3.2 / 32 + 132 / 56)
# - right kidney: two one-voxel sheets one slice apart: Dice 0; every surface voxel is 3 mm (1 voxel) away.


def by(records, subject, organ, unit="mm"):
    [record] = [r for r in records if r["subject"] == subject and r["organ"] == organ and r["assd_unit"] == unit]
    return record


def test_records_hold_the_hand_worked_scores(scored_prepared):
    ev = evaluate_segmenter(LabelReader(), scored_prepared, method="reader", seed=7, device="cpu")
    assert ev.subjects == ["mr0001", "mr0002"] and ev.spacing["mr0001"] == SPACING
    assert len(ev.records) == 2 * 4 * 2  # subjects x organs x units
    r = ev.records
    assert by(r, "mr0001", "liver")["dice"] == 1.0 and by(r, "mr0001", "liver")["assd"] == 0.0
    assert by(r, "mr0001", "right_kidney")["dice"] == 0.0
    assert by(r, "mr0001", "right_kidney")["assd"] == pytest.approx(3.0, abs=1e-12)
    assert by(r, "mr0001", "right_kidney", "voxel")["assd"] == pytest.approx(1.0, abs=1e-12)
    assert by(r, "mr0001", "left_kidney")["dice"] == pytest.approx(2 / 3)
    assert by(r, "mr0001", "left_kidney")["assd"] == pytest.approx(LEFT_ASSD_MM, abs=1e-9)
    assert by(r, "mr0001", "left_kidney", "voxel")["assd"] == pytest.approx(LEFT_ASSD_VOXEL, abs=1e-9)
    spleen = by(r, "mr0001", "spleen")
    assert (spleen["dice"], spleen["assd"], spleen["status"]) == (0.0, None, "empty_prediction")
    assert spleen["pred_voxels"] == 0 and spleen["truth_voxels"] == 18
    assert all(x["dice"] == 1.0 and x["assd"] == 0.0 for x in r if x["subject"] == "mr0002")
    assert {(x["method"], x["seed"], x["assd_mode"]) for x in r} == {("reader", 7, "pooled")}
    assert (ev.predictions["mr0001"] == organs(spleen=False, right_z=3, left_z=(1, 3))).all()


def test_mean_of_means_mode_gives_the_other_hand_value(scored_prepared):
    ev = evaluate_segmenter(LabelReader(), scored_prepared, method="reader", config=EvalConfig(units=("mm",),
                                                                                      mode="mean_of_means"))
    assert by(ev.records, "mr0001", "left_kidney")["assd"] == pytest.approx(LEFT_ASSD_MEAN_OF_MEANS, abs=1e-9)
    assert {x["assd_unit"] for x in ev.records} == {"mm"}


def test_metrics_json_and_csv(scored_prepared, tmp_path):
    ev = evaluate_segmenter(LabelReader(), scored_prepared, method="reader", seed=0)
    json_path, csv_path = write_metrics(tmp_path / "run", ev, {"preset": "ci"})
    stored = read_metrics(tmp_path / "run")
    assert stored["records"] == ev.records and stored["preset"] == "ci" and stored["split"] == "mr/test"
    assert stored["subjects"] == ["mr0001", "mr0002"] and stored["spacing_mm"]["mr0001"] == list(SPACING)
    assert "NaN" not in json_path.read_text()
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == len(ev.records)
    spleen = [x for x in rows if x["subject"] == "mr0001" and x["organ"] == "spleen" and x["assd_unit"] == "mm"][0]
    assert spleen["assd"] == "" and spleen["status"] == "empty_prediction" and float(spleen["dice"]) == 0.0
    left = [x for x in rows if x["subject"] == "mr0001" and x["organ"] == "left_kidney" and x["assd_unit"] == "voxel"]
    assert float(left[0]["assd"]) == pytest.approx(LEFT_ASSD_VOXEL)
    with pytest.raises(FileNotFoundError, match="evaluate the run first"):
        read_metrics(tmp_path)


def test_table_from_the_records(scored_prepared):
    ev = evaluate_segmenter(LabelReader(), scored_prepared, method="ours", seed=0)
    results, table = comparison(ev.records, "mm", data_label="test")
    ours = results["ours"]
    assert ours.dice["liver"].mean == 100.0 and ours.dice["right_kidney"].mean == 50.0
    assert ours.dice["left_kidney"].mean == pytest.approx(100 * (2 / 3 + 1) / 2)
    assert (ours.assd["spleen"].n, ours.assd["spleen"].n_missing, ours.assd["spleen"].mean) == (1, 1, 0.0)
    assert ours.assd["left_kidney"].mean == pytest.approx(LEFT_ASSD_MM / 2)
    row = [r for r in table.rows if r[0] == "ours"][0]
    assert row[1] == "test" and row[2] == "50.0 (50.0)" and row[7] == "0.00 (0.00) [1/2]"
    assert table.header[7] == "ASSD mm (STD): Spleen"
    _, voxel_table = comparison(ev.records, "voxel", data_label="test")
    assert voxel_table.header[7] == "ASSD voxel (STD): Spleen"
    with pytest.raises(ValueError, match="choose one of"):
        records_in_unit(ev.records, "cm")
    with pytest.raises(ValueError, match="no record has ASSD in 'voxel'"):
        records_in_unit([r for r in ev.records if r["assd_unit"] == "mm"], "voxel")


def test_only_the_mr_test_split_is_read_each_subject_once(scored_prepared, monkeypatch):
    reads = []
    load_volume = ctl.data.load_volume

    def spy(folder, domain, subject):
        reads.append((domain, subject))
        return load_volume(folder, domain, subject)

    def no_paired(*args):
        raise AssertionError("evaluation of a segmenter must not read paired MR")

    monkeypatch.setattr(ctl.data, "load_volume", spy)
    monkeypatch.setattr(ctl.data, "load_paired_mr", no_paired)
    evaluate_segmenter(LabelReader(), scored_prepared, method="reader")
    assert reads == [("mr", "mr0001"), ("mr", "mr0002")]


def test_the_ct_test_split_is_scored_on_request_only(scored_prepared, monkeypatch):
    reads = []
    load_volume = ctl.data.load_volume
    monkeypatch.setattr(ctl.data, "load_volume", lambda folder, domain, subject: (
        reads.append((domain, subject)), load_volume(folder, domain, subject))[1])
    ev = evaluate_segmenter(LabelReader(), scored_prepared, method="reader", domain="ct")
    assert reads == [("ct", "ct0001")] and ev.subjects == ["ct0001"]
    with pytest.raises(ValueError, match="domain must be"):
        evaluate_segmenter(LabelReader(), scored_prepared, method="reader", domain="paired_mr")


@pytest.mark.parametrize("test_ids, message", [([], "no MR test subject"), (["mr0001", "mr0001"], "twice")])
def test_a_bad_split_is_refused(scored_prepared, test_ids, message):
    split = json.loads((scored_prepared / "split.json").read_text())
    split["mr"]["test"] = test_ids
    (scored_prepared / "split.json").write_text(json.dumps(split))
    with pytest.raises(ValueError, match=message):
        evaluate_segmenter(LabelReader(), scored_prepared, method="reader")


@pytest.mark.parametrize("options, message", [({"units": ("cm",)}, "units="), ({"units": ()}, "units="),
                                              ({"mode": "max"}, "mode="), ({"batch": 0}, "batch"),
                                              ({"assd_miss_penalty": "max"}, "assd_miss_penalty=")])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        EvalConfig(**options)


def test_table_methods_are_the_rows_of_table_1_in_its_order():
    assert table_methods() == ["cyclegan", "synseg", "adaptseg", "sifa", "ours", "source_only", "oracle"]


def test_runs_of_translation_only_methods_are_skipped(ci_prepared, tmp_path, capsys):
    runs = tmp_path / "runs"
    preset = PRESETS["ci"].replace(iterations=2, checkpoint_every=2)
    train("lsgan", ci_prepared, preset, runs / "train" / "lsgan-ci-seed0", device="cpu",
          config=TrainConfig(progress=False))
    with pytest.raises(ValueError, match="no run of a method of Table 1"):
        evaluate_folder(runs, ci_prepared, device="cpu")
    assert "skipped" in capsys.readouterr().out and not (runs / "table1.md").exists()
    assert "lsgan" in METHODS and "lsgan" not in table_methods()


# mr0001 and mr0002 are 6 x 32 x 32 voxels at (3.0, 0.8, 0.8) mm: diagonals by hand
DIAGONAL_MM = math.sqrt((6 * 3.0) ** 2 + 2 * (32 * 0.8) ** 2)  # sqrt(324 + 2 x 655.36) = 40.43 mm
DIAGONAL_VOXEL = math.sqrt(6 ** 2 + 2 * 32 ** 2)  # 45.65 voxels


def test_a_missed_organ_is_shown_beside_every_mean_or_penalised(scored_prepared):
    assert volume_diagonal((6, 32, 32), SPACING) == pytest.approx(DIAGONAL_MM)
    assert volume_diagonal((6, 32, 32)) == pytest.approx(DIAGONAL_VOXEL)
    ev = evaluate_segmenter(LabelReader(), scored_prepared, method="ours", seed=0)
    assert {(r["assd_unit"], r["volume_diagonal"]) for r in ev.records} == {
        ("mm", round(DIAGONAL_MM, 4)), ("voxel", round(DIAGONAL_VOXEL, 4))}
    # mr0001's spleen is missed: left out by default, and the Mean column says it covers 7 of 8 values
    results, table = comparison(ev.records, "mm", data_label="test", include_paper=False)
    row = table.rows[0]
    assert row[7] == "0.00 (0.00) [1/2]" and row[11].endswith(" [7/8]")
    assert results["ours"].assd_counts == (7, 8, 0)
    assert any("In the Mean column n/N counts (volume, organ) pairs" in note for note in table.notes)
    # with the penalty the miss counts as mr0001's diagonal: spleen (40.43 + 0) / 2
    results, table = comparison(ev.records, "mm", data_label="test", include_paper=False,
                                assd_miss_penalty="diagonal")
    spleen = results["ours"].assd["spleen"]
    assert spleen.mean == pytest.approx(DIAGONAL_MM / 2) and (spleen.n, spleen.n_penalised) == (2, 1)
    assert table.rows[0][7] == f"{DIAGONAL_MM / 2:.2f} ({DIAGONAL_MM / 2:.2f}) [1 pen.]"
    assert table.rows[0][11].endswith(" [1 pen.]") and any("the volume's diagonal" in n for n in table.notes)
    _, voxels = comparison(ev.records, "voxel", data_label="test", assd_miss_penalty="diagonal")
    assert voxels.rows[-1][7].startswith(f"{DIAGONAL_VOXEL / 2:.2f} ")


def test_evaluation_refuses_weights_that_are_not_the_run_folders(scored_prepared, reader, tmp_path):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        train("reader", scored_prepared, PRESETS["ci"], runs / f"reader-seed{seed}", seed=seed, device="cpu",
              config=TrainConfig(progress=False))
    shutil.copy(runs / "reader-seed1" / "final.pt", runs / "reader-seed0" / "final.pt")
    with pytest.raises(ValueError, match=r"reader-seed0/final.pt holds the weights of another run \(method 'reader', "
                                         r"seed 1\)"):
        evaluate_folder(runs, scored_prepared, device="cpu")
    assert not (runs / "reader-seed0" / "metrics.json").exists()
    (runs / "reader-seed1" / "config.json").write_text("")  # damaged: named, not skipped
    with pytest.raises(ValueError, match=r"reader-seed1/config.json is empty or damaged"):
        find_runs(runs)
