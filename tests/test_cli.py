"""ctl.__main__, the command line: its commands and options, and each command end to end on tiny data (phantom
and prepare; train and --resume on the stand-in ``Toy``; evaluate on run folders of the stand-in ``Reader``)."""
import csv
import json

import pytest

from conftest import Toy, history_rows
from ctl.__main__ import build_parser, main
from ctl.evaluate import evaluate_folder, find_runs, read_metrics
from ctl.presets import PRESETS


def test_the_commands_and_their_options():
    commands = build_parser()._subparsers._group_actions[0].choices
    options = {name: sorted(o for action in parser._actions for o in action.option_strings if o not in ("-h", "--help"))
               for name, parser in commands.items()}
    assert options == {
        "demo": ["--data", "--preset", "--runs", "--seed"],
        "run-notebooks": ["--cell-timeout", "--data", "--only", "--out", "--preset", "--run", "--seed"],
        "phantom": ["--n-ct", "--n-mr", "--out", "--seed", "--size", "--verbose"],
        "prepare": ["--btcv", "--chaos", "--out", "--paired", "--seed", "--size", "--split", "--test-fraction"],
        "train": ["--data", "--device", "--method", "--out", "--preset", "--resume", "--seed"],
        "evaluate": ["--data", "--device", "--no-paper", "--preset", "--run"],
    }


def test_phantom_and_prepare_commands(tmp_path, capsys):
    assert main(["phantom", "--out", str(tmp_path / "ph"), "--n-ct", "2", "--n-mr", "2", "--size", "24"]) == 0
    assert main(["prepare", "--btcv", str(tmp_path / "ph/btcv"), "--chaos", str(tmp_path / "ph/chaos"),
                 "--paired", str(tmp_path / "ph/paired_mr"), "--out", str(tmp_path / "prep"), "--size", "16",
                 "--test-fraction", "0.5"]) == 0
    assert (tmp_path / "prep/meta.json").exists() and (tmp_path / "prep/paired_mr/ct0001.npz").exists()
    assert main(["prepare", "--btcv", str(tmp_path / "none"), "--chaos", str(tmp_path / "ph/chaos"),
                 "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["phantom", "--out", str(tmp_path / "bad"), "--n-ct", "0"]) == 2


def test_ctl_train_command(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CTL_PRESET", "ci")
    args = ["train", "--method", "toy", "--data", str(toy), "--preset", "ci", "--out", str(tmp_path / "run"),
            "--device", "cpu"]
    assert main(args) == 0
    assert "trained toy: 6 iterations" in capsys.readouterr().out
    assert len(history_rows(tmp_path / "run")) == PRESETS["ci"].iterations
    assert main(args) == 0
    assert "already trained" in capsys.readouterr().out
    assert main(args[:-4] + ["--out", str(tmp_path / "other"), "--method", "nope"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err


def test_ctl_train_resume_flag(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CTL_PRESET", "ci")
    original, calls = Toy.train_step, {"n": 0}

    def interrupted(self, batch):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Toy, "train_step", interrupted)
    args = ["train", "--method", "toy", "--data", str(toy), "--preset", "ci", "--out", str(tmp_path / "run"),
            "--device", "cpu"]
    with pytest.raises(KeyboardInterrupt):
        main(args)
    monkeypatch.setattr(Toy, "train_step", original)
    assert main(args) == 2
    assert "pass resume=True (--resume)" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0
    assert "resuming toy from iteration 3" in capsys.readouterr().out
    assert [r["iteration"] for r in history_rows(tmp_path / "run")] == list(range(1, 7))


def test_evaluate_command_end_to_end(scored_prepared, reader, tmp_path, capsys):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        train = ["train", "--method", "reader", "--data", str(scored_prepared), "--preset", "ci", "--seed", str(seed),
                 "--out", str(runs / "train" / f"reader-ci-seed{seed}"), "--device", "cpu"]
        assert main(train) == 0
    capsys.readouterr()
    assert main(["evaluate", "--run", str(runs), "--data", str(scored_prepared), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "Table 1 (ASSD in mm; Dice in %)" in out and "Table 1 (ASSD in voxel; Dice in %)" in out
    assert "ASSD mm (STD): Spleen" in out and "M1 CycleGAN [4]" in out
    assert "this run: phantom, ci preset, 2 MR test vol. x 2 seed(s)" in out
    assert find_runs(runs) == [runs / "train" / "reader-ci-seed0", runs / "train" / "reader-ci-seed1"]
    for seed in (0, 1):
        stored = read_metrics(runs / "train" / f"reader-ci-seed{seed}")
        assert stored["seed"] == seed and stored["preset"] == "ci" and len(stored["records"]) == 16
        assert (runs / "train" / f"reader-ci-seed{seed}" / "metrics.csv").exists()
    table = (runs / "table1.md").read_text()
    assert "## Table 1, ASSD in mm" in table and "## Table 1, ASSD in voxel" in table
    row = [line for line in table.splitlines() if line.startswith("| reader |")][0]
    assert "| 50.0 (50.0) |" in row and "0.00 (0.00) [2/4]" in row  # spleen: seeds pooled, 4 volumes
    summary = list(csv.DictReader(open(runs / "table1.csv")))
    assert {(r["metric"], r["unit"]) for r in summary} == {("dice", "%"), ("assd", "mm"), ("assd", "voxel")}
    assert len(summary) == 4 * 3


def test_evaluate_command_explains_what_is_wrong(scored_prepared, reader, tmp_path, capsys):
    assert main(["evaluate", "--run", str(tmp_path / "nothing"), "--data", str(scored_prepared)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text(json.dumps({"method": "reader", "seed": 0, "preset": {"name": "ci"}}))
    assert main(["evaluate", "--run", str(unfinished), "--data", str(scored_prepared)]) == 2
    assert "has no final.pt" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(unfinished), "--data", str(scored_prepared), "--preset", "cpu"]) == 2
    assert "no run of preset 'cpu'" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="no run folder"):
        evaluate_folder(scored_prepared, scored_prepared)
