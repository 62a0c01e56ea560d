"""ctl.teach.series: the papermill runner names the failing notebook and cell; the run summary collects recorded
results; the series is found in reading order."""
import json

import nbformat
import pytest

import ctl.teach.series as series
from ctl.teach.context import setup_notebook
from ctl.teach.series import NotebookFailed, execute_notebook, notebook_paths, write_summary


def test_a_raising_cell_fails_with_notebook_and_cell_named(tmp_path):
    cc = nbformat.v4.new_code_cell
    params = cc("X = 1")
    params.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[params, cc("y = X + 1"), cc("raise ValueError(f'bad value {y}')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "09_broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(NotebookFailed, match=r"09_broken.ipynb failed in cell 3 .*raise ValueError.*ValueError: bad value 3"):
        execute_notebook(path, tmp_path / "out", {"X": 2}, cell_timeout_s=60, env_preset="ci")
    assert (tmp_path / "out" / "09_broken.ipynb").exists()  # the executed copy is kept for inspection


def test_the_series_is_found_in_reading_order():
    assert [p.stem for p in notebook_paths()] == ["00_overview", "01_data_preparation", "02_lsgan_translation",
                                                  "03_patchnce_derivation", "04_segmentation_training",
                                                  "05_dice_assd_comparison"]


def test_summary_collects_recorded_results(tmp_path, monkeypatch):
    monkeypatch.delenv("CTL_PRESET", raising=False)
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
    """Notebooks run with notebooks/ as working directory: `--data data` must mean the caller's data/."""
    seen = []
    monkeypatch.setattr(series, "execute_notebook", lambda path, out, params, timeout, env_preset: seen.append(params))
    monkeypatch.chdir(tmp_path)
    series.run_series("ci", tmp_path / "out", data_dir="data", run_dir="runs/x", only=["00_"])
    assert seen[0]["DATA_DIR"] == str(tmp_path / "data") and seen[0]["RUN_DIR"] == str(tmp_path / "runs" / "x")
