"""ctl.__main__, the command line: its commands and options, and each command end to end on tiny data (phantom
and prepare; train and --resume on the stand-in ``Toy``; evaluate on run folders of the stand-in ``Reader``;
download from a server on 127.0.0.1; demo and refresh-outputs on small notebooks)."""
import csv
import hashlib
import json
from pathlib import Path

import nbformat
import pytest

import ctl.__main__ as cli
import ctl.teach.series as series
from conftest import Toy, history_rows
from ctl import __version__
from ctl.__main__ import build_parser, main
from ctl.data.download import RemoteArchive
from ctl.evaluate import evaluate_folder, find_runs, read_metrics
from ctl.methods import METHODS
from ctl.presets import PRESETS


def test_the_commands_and_their_options():
    commands = build_parser()._subparsers._group_actions[0].choices
    options = {name: sorted(o for action in parser._actions for o in action.option_strings if o not in ("-h", "--help"))
               for name, parser in commands.items()}
    assert options == {
        "demo": ["--data", "--notebooks", "--preset", "--runs", "--seed"],
        "run-notebooks": ["--cell-timeout", "--data", "--notebooks", "--only", "--out", "--preset", "--run", "--seed"],
        "refresh-outputs": ["--cell-timeout", "--notebooks", "--only", "--preset"],
        "download": ["--no-unpack", "--to", "--url"],
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
    with pytest.raises(SystemExit) as exit_:
        main(args[:-4] + ["--out", str(tmp_path / "other"), "--method", "nope"])
    assert exit_.value.code == 2 and "argument --method: invalid choice: 'nope'" in capsys.readouterr().err


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


# --- the parser: version, choices, description ---------------------------------------------------------------
def test_help_lists_methods_and_presets_and_has_no_restructured_text(capsys):
    parser = build_parser()
    assert "``" not in parser.description and ":func:" not in parser.description
    commands = parser._subparsers._group_actions[0].choices
    method = next(a for a in commands["train"]._actions if "--method" in a.option_strings)
    assert method.choices == sorted(METHODS) and {"lsgan", "cut", "ours", "sifa"} <= set(method.choices)
    for name in ("demo", "run-notebooks", "refresh-outputs", "train", "evaluate"):
        preset = next(a for a in commands[name]._actions if "--preset" in a.option_strings)
        assert preset.choices == sorted(PRESETS), name
    with pytest.raises(SystemExit):
        main(["train", "-h"])
    help_text = capsys.readouterr().out
    assert "adaptseg, cut, cyclegan, lsgan, oracle, ours" in help_text and "{ci,cpu,gpu,paper}" in help_text


def test_a_bad_preset_is_reported_as_coming_from_the_command_line(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--method", "ours", "--data", str(tmp_path), "--out", str(tmp_path), "--preset", "huge"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "argument --preset: invalid choice: 'huge'" in err and "from PRESET" not in err


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"ctl {__version__}\n"


# --- demo and refresh-outputs: messages and exit codes, not tracebacks -----------------------------------------
def _series(folder: Path, cells: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    params = nbformat.v4.new_code_cell('PRESET = "cpu"\nDATA_SOURCE = "phantom"\nDATA_DIR = "d"\nRUN_DIR = "r"\n'
                                       'SEED = 0')
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params] + [nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "00_tiny.ipynb")
    return folder


def test_demo_without_notebooks_says_how_to_get_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--preset", "ci"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no notebook series here") and "git clone --depth 1 --branch v" in err
    assert main(["demo", "--preset", "ci", "--notebooks", str(tmp_path / "none")]) == 2
    assert "no notebooks named NN_*.ipynb" in capsys.readouterr().err


def test_demo_reports_a_failed_notebook_and_a_missing_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    notebooks = _series(tmp_path / "nb", ["print('running', PRESET)", "raise RuntimeError('broken on purpose')"])
    assert main(["demo", "--preset", "ci", "--notebooks", str(notebooks)]) == 1
    captured = capsys.readouterr()
    assert "[1/1] 00_tiny.ipynb (preset ci)" in captured.out and "    running ci" in captured.out
    assert "NOTEBOOK FAILED: 00_tiny.ipynb failed in cell 3" in captured.err
    assert "RuntimeError: broken on purpose" in captured.err
    monkeypatch.setattr(series.importlib.util, "find_spec", lambda name: None)
    assert main(["demo", "--preset", "ci", "--notebooks", str(notebooks)]) == 2
    assert "from ctl's [notebooks] extra: pip install" in capsys.readouterr().err


def test_demo_runs_a_series_and_writes_its_summary(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    notebooks = _series(tmp_path / "nb", ["print('fine')"])
    assert main(["demo", "--preset", "ci", "--notebooks", str(notebooks), "--runs", "myruns"]) == 0
    (run,) = (tmp_path / "myruns").iterdir()
    assert (run / "summary.md").exists() and (run / "notebooks" / "00_tiny.ipynb").exists()
    assert f"results are in {run}" in capsys.readouterr().out


def test_refresh_outputs_command(tmp_path, capsys):
    notebooks = _series(tmp_path / "nb", ["print(6 * 7)"])
    assert main(["refresh-outputs", "--preset", "ci", "--notebooks", str(notebooks), "--only", "01_x"]) == 2
    assert "no notebook called ['01_x']" in capsys.readouterr().err
    assert main(["refresh-outputs", "--preset", "ci", "--notebooks", str(notebooks), "--only", "00_tiny"]) == 0
    nb = nbformat.read(notebooks / "00_tiny.ipynb", as_version=4)
    assert nb.cells[1].outputs[0]["text"] == "42\n" and [c.execution_count for c in nb.cells] == [1, 2]
    assert "  cell 2/2: print(6 * 7)" in capsys.readouterr().out


# --- download --------------------------------------------------------------------------------------------------
def test_download_chaos_verifies_and_unpacks_only_t2spir(phantom_zips, http_server, tmp_path, monkeypatch, capsys):
    base, state = http_server
    data = phantom_zips[1].read_bytes()
    state["files"]["CHAOS_Train_Sets.zip"] = data
    archive = RemoteArchive("CHAOS_Train_Sets.zip", f"{base}/CHAOS_Train_Sets.zip", len(data),
                            hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest(), "test")
    monkeypatch.setattr(cli, "CHAOS_TRAIN", archive)
    to = tmp_path / "data/real/chaos"
    state["cut_after"] = 3000
    assert main(["download", "chaos", "--to", str(to)]) == 2
    assert "run the same command again: it resumes" in capsys.readouterr().err
    assert main(["download", "chaos", "--to", str(to)]) == 0
    assert state["ranges"] == [None, "bytes=3000-"]
    assert sorted(p.name for p in to.iterdir()) == ["CHAOS_Train_Sets.zip", "Train_Sets"]
    assert not list(to.rglob("*T1DUAL*")) and not (to / "Train_Sets/CT").exists()
    assert len(list(to.glob("Train_Sets/MR/*/T2SPIR/DICOM_anon/*.dcm"))) > 0
    monkeypatch.setattr(cli, "CHAOS_TRAIN", archive.__class__(**{**archive.__dict__, "sha256": "1" * 64}))
    assert main(["download", "chaos", "--to", str(tmp_path / "elsewhere")]) == 2
    assert "The download was deleted" in capsys.readouterr().err and not list((tmp_path / "elsewhere").iterdir())


def test_download_btcv_prints_the_steps(capsys):
    assert main(["download", "btcv", "--to", "data/real/btcv"]) == 1
    out = capsys.readouterr().out
    assert "https://www.synapse.org" in out and "syn3379050" in out
    assert "ctl prepare --btcv data/real/btcv/RawData.zip --chaos data/real/chaos/CHAOS_Train_Sets.zip" in out
