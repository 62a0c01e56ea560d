"""The papermill runner names the failing notebook and cell; the run summary collects recorded results."""
import json

import nbformat
import pytest

from ctl.notebook import setup_notebook
from ctl.run_notebooks import NotebookFailed, execute_notebook, notebook_paths, write_summary


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


def test_series_is_found_in_order():
    names = [p.name for p in notebook_paths()]
    assert names == sorted(names) and names[0] == "00_overview.ipynb"


def test_summary_collects_recorded_results(tmp_path, monkeypatch):
    monkeypatch.delenv("CTL_PRESET", raising=False)
    ctx = setup_notebook("05_demo", "ci", "phantom", str(tmp_path / "data"), str(tmp_path / "run"), 3)
    ctx.record("dice_liver", 0.8125, "fraction")
    ctx.record("assd_liver", 2.5, "mm")
    json_path, md_path = write_summary(ctx.run_dir, "ci", [{"notebook": "05_demo.ipynb", "seconds": 1.5}])
    summary = json.loads(json_path.read_text())
    assert summary["results"]["05_demo"]["dice_liver"] == {"value": 0.8125, "unit": "fraction", "preset": "ci"}
    text = md_path.read_text()
    assert "| dice_liver | 0.8125 | fraction |" in text and "| 05_demo.ipynb | 1.5 |" in text


def test_setup_refuses_an_unknown_data_source(tmp_path):
    with pytest.raises(ValueError, match="DATA_SOURCE='btcv'"):
        setup_notebook("00_x", "ci", "btcv", str(tmp_path), str(tmp_path), 0)
