"""ctl.__main__, the command line: its commands and options, and each command end to end on tiny data (phantom
and prepare; train and --resume on the stand-in ``Toy``; evaluate on run folders of the stand-in ``Reader``;
download from a server on 127.0.0.1; demo and refresh-outputs on small notebooks), and every expected
failure (corrupt input, foreign folders, full disk, no permission, a busy or foreign run folder, a bad
device) as one paragraph on stderr with exit code 2, never a traceback."""
import csv
import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
import torch

import ctl.__main__ as cli
import ctl.series as series
from conftest import Toy, history_rows, hold_run_lock
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
        "evaluate": ["--assd-miss-penalty", "--data", "--device", "--no-paper", "--preset", "--run"],
        "reference": ["--data", "--device", "--iterations", "--method", "--preset", "--runs", "--seed"],
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


# ---------------------------------------------------------------- every expected failure: one paragraph, no traceback
def one_paragraph(capsys, *expected):
    """stderr holds no traceback and exactly one line "error: ..." (beside training's progress bar), containing
    every ``expected`` piece; returns it."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "Traceback" not in err and len(lines) == 1, err
    for piece in expected:
        assert piece in lines[0], (piece, lines[0])
    return lines[0]


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


@pytest.mark.parametrize("damage, named, said", [
    (lambda ph: _truncate(ph / "btcv/img/img0002.nii.gz"), "img0002.nii.gz", "cannot be read (EOFError"),
    (lambda ph: (ph / "btcv/label/label0001.nii.gz").write_bytes(b""), "label0001.nii.gz", "Empty file"),
    (lambda ph: _truncate(sorted((ph / "chaos/MR/2/T2SPIR/Ground").glob("*.png"))[2], 0.1), ".png (a mask of MR "
     "subject 2)", "cannot be read"),
    (lambda ph: shutil.copy(ph / "btcv/label/label0001.nii.gz", ph / "btcv/img/img0001.nii.gz"), "img0001.nii.gz",
     "this is a label volume, not a CT image"),
])
def test_corrupt_raw_input_is_named(phantom_copy, tmp_path, capsys, damage, named, said):
    damage(phantom_copy)
    args = ["prepare", "--btcv", str(phantom_copy / "btcv"), "--chaos", str(phantom_copy / "chaos"),
            "--out", str(tmp_path / "prep"), "--size", "16"]
    assert main(args) == 2
    one_paragraph(capsys, named, said)
    assert not (tmp_path / "prep").exists() and not list(tmp_path.glob("prep.*"))  # nothing half-written left


def test_out_folders_that_are_not_ctls_are_refused(phantom_copy, tmp_path, monkeypatch, capsys):
    (phantom_copy / "notes.txt").write_text("mine")
    raw = ["--btcv", str(phantom_copy / "btcv"), "--chaos", str(phantom_copy / "chaos"), "--size", "16"]
    assert main(["prepare", *raw, "--out", str(phantom_copy)]) == 2
    one_paragraph(capsys, f"refusing to write the prepared folder into {phantom_copy}: it holds the input data")
    assert main(["phantom", "--out", str(phantom_copy), "--n-ct", "1", "--n-mr", "1", "--size", "16"]) == 2
    one_paragraph(capsys, f"refusing to replace {phantom_copy}: ctl made it, but it also holds notes.txt")
    assert (phantom_copy / "notes.txt").read_text() == "mine" and (phantom_copy / "btcv/img/img0001.nii.gz").exists()
    monkeypatch.chdir(tmp_path)
    for command in (["prepare", *raw, "--out", "."], ["phantom", "--out", ".", "--n-ct", "1", "--n-mr", "1"],
                    ["train", "--method", "source_only", "--data", str(phantom_copy), "--out", "."]):
        assert main(command) == 2
        one_paragraph(capsys, "it is the current folder or holds it")


def test_training_failures_are_named(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CTL_PRESET", "ci")
    base = ["train", "--method", "toy", "--data", str(toy), "--preset", "ci"]
    assert main(base + ["--out", str(tmp_path / "r"), "--device", "tpu"]) == 2
    one_paragraph(capsys, "device 'tpu' is not a device torch knows")
    real_mkdir = os.mkdir

    def no_permission(path, mode=0o777, **kwargs):
        if "locked" in str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_mkdir(path, mode, **kwargs)

    monkeypatch.setattr(os, "mkdir", no_permission)
    assert main(base + ["--out", str(tmp_path / "locked" / "run"), "--device", "cpu"]) == 2
    one_paragraph(capsys, "Permission denied", "locked", "No permission to write there: choose another --out")
    monkeypatch.setattr(os, "mkdir", real_mkdir)
    real_save = torch.save

    def disk_full(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"PK half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    assert main(base + ["--out", str(tmp_path / "full"), "--device", "cpu"]) == 2
    one_paragraph(capsys, "could not write iter_0000003.pt (No space left on device", "The disk is full")
    assert list((tmp_path / "full" / "checkpoints").iterdir()) == []  # the partial file was removed


def test_a_truncated_prepared_volume_is_named(scored_prepared, tmp_path, capsys):
    victim = scored_prepared / "ct" / "ct0002.npz"  # the CT training volume, read by a real method
    _truncate(victim, 0.2)
    assert main(["train", "--method", "source_only", "--data", str(scored_prepared), "--preset", "ci",
                 "--out", str(tmp_path / "s"), "--device", "cpu"]) == 2
    one_paragraph(capsys, f"{victim} cannot be read (BadZipFile", "re-prepare it with: python -m ctl prepare")


def test_a_trained_run_folder_is_compared_before_it_is_called_done(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CTL_PRESET", "ci")
    args = ["train", "--method", "toy", "--data", str(toy), "--preset", "ci", "--out", str(tmp_path / "run"),
            "--device", "cpu"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 0
    assert "already trained (final.pt of the same configuration); nothing to do" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stopped:  # argparse's choices: before anything is read or written
        main(args[:2] + ["nope", "--data", str(tmp_path / "nowhere")] + args[5:])
    assert stopped.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err
    assert main(args + ["--seed", "3"]) == 2
    one_paragraph(capsys, "holds a run with a different configuration", "seed: 0 there, 3 asked")
    assert main(args[:4] + [str(tmp_path / "nowhere")] + args[5:]) == 2
    one_paragraph(capsys, "nowhere/meta.json not found")
    (tmp_path / "run" / "config.json").write_text("")
    assert main(args) == 2
    one_paragraph(capsys, "run/config.json is empty or damaged")


def test_a_damaged_checkpoint_is_replaced_by_the_previous_one_with_a_warning(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CTL_PRESET", "ci")
    args = ["train", "--method", "toy", "--data", str(toy), "--preset", "ci", "--out", str(tmp_path / "run"),
            "--device", "cpu"]
    assert main(args) == 0  # checkpoints at 3 and 6
    (tmp_path / "run" / "final.pt").unlink()  # as if killed between the last checkpoint and final.pt
    _truncate(tmp_path / "run" / "checkpoints" / "iter_0000006.pt")
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0
    captured = capsys.readouterr()
    assert "warning: " in captured.err and "iter_0000006.pt cannot be read" in captured.err
    assert "resuming from the previous checkpoint, iter_0000003.pt (iteration 3)" in captured.err
    assert "Traceback" not in captured.err and "resuming toy from iteration 3" in captured.out


def test_a_busy_run_folder_names_the_process(toy, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CTL_PRESET", "ci")
    holder = hold_run_lock(tmp_path / "run")
    try:
        assert main(["train", "--method", "toy", "--data", str(toy), "--preset", "ci", "--out", str(tmp_path / "run"),
                     "--device", "cpu"]) == 2
        one_paragraph(capsys, f"is being trained by process {holder.pid}")
    finally:
        holder.kill()
        holder.wait(timeout=60)


def test_evaluate_failures_are_named(scored_prepared, reader, tmp_path, capsys):
    run = tmp_path / "runs" / "reader-ci-seed0"
    assert main(["train", "--method", "reader", "--data", str(scored_prepared), "--preset", "ci", "--out", str(run),
                 "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--run", str(run), "--data", str(scored_prepared), "--device", "tpu"]) == 2
    one_paragraph(capsys, "device 'tpu' is not a device torch knows")
    assert main(["evaluate", "--run", str(run), "--data", str(scored_prepared), "--device", "cpu",
                 "--assd-miss-penalty"]) == 0
    out = capsys.readouterr().out
    assert "[1 pen.]" in out and "the volume's diagonal" in out  # mr0001's spleen is missed
    (run / "config.json").write_text("")
    assert main(["evaluate", "--run", str(tmp_path / "runs"), "--data", str(scored_prepared)]) == 2
    one_paragraph(capsys, "reader-ci-seed0/config.json is empty or damaged")
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


def test_reference_command_trains_longer_and_exports(tmp_path, monkeypatch, capsys):
    out = tmp_path / "ours-ci.pt"
    monkeypatch.setattr(cli, "train_reference", lambda *a, **k: out)  # the training itself: test_training_reference
    assert main(["reference", "--method", "ours", "--preset", "ci", "--iterations", "12", "--data",
                 str(tmp_path / "data"), "--runs", str(tmp_path / "runs")]) == 0
    assert f"written to {out}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["reference", "--method", "ours", "--preset", "ci"])  # --iterations is required

