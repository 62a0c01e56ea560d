"""ctl.series: the papermill runner names the failing notebook and cell; the series is located explicitly
(never beside the installed package) and a missing one or a missing [notebooks] extra is explained; progress is
streamed (each cell as it starts, the kernel's output, the training loop's progress as plain lines); the run
summary collects recorded results."""
import io
import json
from pathlib import Path

import nbformat
import pytest

import ctl.series as series
from ctl import RELEASE, REPOSITORY
from ctl.teach.context import setup_notebook
from ctl.series import (Echo, MissingExtra, NotebookFailed, NotebooksNotFound, cell_announcer, cell_timeout,
                              execute_notebook, locate_notebooks, notebook_paths, require_notebook_tools, write_summary)

ROOT = Path(__file__).resolve().parent.parent
cc, md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell


def _write(path: Path, cells: list) -> Path:
    params = cc("X = 1")
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params] + cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_a_raising_cell_fails_with_notebook_and_cell_named(tmp_path):
    path = _write(tmp_path / "09_broken.ipynb", [cc("y = X + 1"), cc("raise ValueError(f'bad value {y}')")])
    with pytest.raises(NotebookFailed,
                       match=r"09_broken.ipynb failed in cell 3 .*raise ValueError.*ValueError: bad value 3"):
        execute_notebook(path, tmp_path / "out", {"X": 2}, cell_timeout_s=60, env_preset="ci",
                         terminal=io.StringIO())
    assert (tmp_path / "out" / "09_broken.ipynb").exists()  # the executed copy is kept for inspection


def test_cells_output_and_training_progress_are_streamed_as_they_run(tmp_path):
    progress = ("from ctl.training.loop import progress_bar\n"
                "for i in progress_bar(40, 0, 'ours', True, iterable=range(40)):\n    pass")
    path = _write(tmp_path / "08_stream.ipynb", [md("## 1. Greeting"), cc("# a comment first\nprint('hello', X)"),
                                                 md("## 2. Training"), cc(progress)])
    terminal = io.StringIO()
    execute_notebook(path, tmp_path / "out", {"X": 7}, cell_timeout_s=120, env_preset="ci", terminal=terminal)
    lines = terminal.getvalue().splitlines()
    assert lines[0] == "  cell 1/5: X = 1"  # the parameters cell; papermill's injected cell is not counted
    assert "  cell 3/5 [1. Greeting]: # a comment first" in lines and "    hello 7" in lines
    assert "  cell 5/5 [2. Training]: from ctl.training.loop import progress_bar" in lines
    bars = [line for line in lines if line.startswith("    ours:")]
    # one plain line per 5 % (every 2 of 40 iterations; tqdm repeats the last when it closes), each with the
    # count, the rate and the time left
    assert [line.split("|")[2].split()[0] for line in bars] == [f"{n}/40" for n in range(0, 41, 2)] + ["40/40"]
    assert all("it/s" in line and "<" in line for line in bars[1:])
    assert (tmp_path / "out" / "08_stream.stdout.txt").read_text() == "hello 7\n"


def test_echo_shows_complete_lines_and_turns_redraws_into_lines():
    file, terminal = io.StringIO(), io.StringIO()
    echo = Echo(file, terminal, prefix="> ")
    for chunk in ["a 10%", "\ra 20%", "\ra 30%\n", "half", " a line\n\n", "tail"]:
        echo.write(chunk)
    assert terminal.getvalue() == "> a 10%\n> a 20%\n> a 30%\n> half a line\n"
    echo.close_line()
    assert terminal.getvalue().endswith("> tail\n")
    assert file.getvalue() == "a 10%\ra 20%\ra 30%\nhalf a line\n\ntail"  # the file gets exactly what came


def test_the_cell_announcer_counts_every_cell_but_the_injected_one():
    terminal = io.StringIO()
    announce = cell_announcer(5, terminal)
    injected = cc("X = 2")
    injected.metadata["tags"] = ["injected-parameters"]
    for index, cell in enumerate([md("# 00 · Title\ntext"), cc("X = 1"), injected, md("## 1. Data"), cc(""),
                                  cc("\n\nload()  # why")]):
        announce(cell=cell, cell_index=index)
    assert terminal.getvalue() == "  cell 2/5 [00 · Title]: X = 1\n  cell 5/5 [1. Data]: load()  # why\n"


def test_the_series_is_found_in_reading_order():
    assert [p.stem for p in notebook_paths(ROOT / "notebooks")] == [
        "00_overview", "01_data_preparation", "02_lsgan_translation", "03_patchnce_derivation",
        "04_segmentation_training", "05_dice_assd_comparison"]


def test_the_notebooks_are_located_explicitly_never_beside_the_package(tmp_path):
    assert locate_notebooks(cwd=ROOT) == ROOT / "notebooks"
    assert locate_notebooks(ROOT / "notebooks", cwd=tmp_path) == ROOT / "notebooks"
    with pytest.raises(NotebooksNotFound) as err:
        locate_notebooks(cwd=tmp_path)
    message = str(err.value)
    assert "no notebook series here" in message and "--notebooks DIR" in message
    assert f"git clone --depth 1 --branch {RELEASE} {REPOSITORY}" in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotebooksNotFound, match=f"no notebooks named NN_\\*.ipynb in {tmp_path / 'empty'}"):
        locate_notebooks(tmp_path / "empty")


def test_a_missing_notebooks_extra_is_named_with_the_install_command(monkeypatch):
    real = series.importlib.util.find_spec
    monkeypatch.setattr(series.importlib.util, "find_spec", lambda name: None if name == "papermill" else real(name))
    with pytest.raises(MissingExtra, match=r"needs papermill, from ctl's \[notebooks\] extra: pip install"):
        require_notebook_tools()
    with pytest.raises(MissingExtra):
        series.run_series("ci", Path("out"), Path("data"), Path("run"), notebook_dir=ROOT / "notebooks")
    monkeypatch.setattr(series.importlib.util, "find_spec", real)
    require_notebook_tools()


def test_summary_collects_recorded_results(tmp_path, monkeypatch):
    monkeypatch.delenv("CTL_PRESET", raising=False)
    monkeypatch.delenv("CTL_RUN_DIR", raising=False)
    ctx = setup_notebook("05_demo", "ci", "phantom", str(tmp_path / "data"), str(tmp_path / "run"), 3)
    ctx.record("dice_liver", 0.8125, "fraction")
    ctx.record("assd_liver", 2.5, "mm")
    (ctx.run_dir / "table1.md").write_text("## Table 1, ASSD in mm\n\n| Approach | Dice |\n|---|---|\n| ours | 73.1 |\n")
    json_path, md_path = write_summary(ctx.run_dir, "ci", [{"notebook": "05_demo.ipynb", "seconds": 1.5}])
    summary = json.loads(json_path.read_text())
    assert summary["results"]["05_demo"]["dice_liver"] == {"value": 0.8125, "unit": "fraction", "preset": "ci"}
    text = md_path.read_text()
    assert "| dice_liver | 0.8125 | fraction |" in text and "| 05_demo.ipynb | 1.5 |" in text
    assert "## Table 1, ASSD in mm\n\n| Approach | Dice |\n|---|---|\n| ours | 73.1 |" in text


def test_relative_folders_reach_the_notebooks_as_absolute_paths(tmp_path, monkeypatch):
    """Notebooks run with their own folder as working directory: `--data data` must mean the caller's data/."""
    seen = []
    monkeypatch.setattr(series, "execute_notebook", lambda path, out, params, timeout, env_preset: seen.append(params))
    monkeypatch.chdir(tmp_path)
    series.run_series("ci", tmp_path / "out", data_dir="data", run_dir="runs/x", notebook_dir=ROOT / "notebooks",
                      only=["00_"])
    assert seen[0]["DATA_DIR"] == str(tmp_path / "data") and seen[0]["RUN_DIR"] == str(tmp_path / "runs" / "x")


def test_a_cell_may_train_as_long_as_training_takes_except_at_ci():
    """At cpu, notebook 04's baseline cell trains four methods for about 25 minutes: a fixed limit would stop the
    series there; at ci a cell running 10 minutes has hung."""
    assert cell_timeout("ci") == 600
    assert cell_timeout("cpu") is None and cell_timeout("paper") is None
    assert cell_timeout("cpu", 120) == 120 and cell_timeout("ci", 30) == 30
