"""ctl.teach.colab: every notebook's Colab cell is the one setup cell, pinned to the release; the preset advice
names the measured CPU time and an estimated GPU time worked out by hand; RUN_DIR moves to Google Drive only when
asked (a stand-in for Colab's drive.mount)."""
import os
from pathlib import Path

import jupytext
import nbformat
import pytest
import torch

import ctl
import ctl.teach.colab as colab
from ctl.presets import PRESETS
from ctl.teach.colab import (INSTALL, RELEASE, REPOSITORY, SETUP_CELL, estimated_series_seconds, gpu_timing,
                             measured_series_seconds, preset_advice, relative_costs, time_step, use_drive_for_runs)
from ctl.teach.context import RUN_DIR_ENV_VAR, setup_notebook
from ctl.teach.measurements import read_records

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_opens_with_the_one_setup_cell(path):
    for nb in (nbformat.read(path, as_version=4), jupytext.read(path.with_suffix(".py"))):
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code[0].source == SETUP_CELL, f"{path.name}: copy ctl.teach.colab.SETUP_CELL into its first code cell"


def test_the_install_is_pinned_to_the_release_and_the_address_is_in_one_place():
    assert RELEASE == f"v{ctl.__version__}" and INSTALL == f"ctl @ git+{REPOSITORY}@{RELEASE}"
    assert f'"{INSTALL}"' in SETUP_CELL and "@main" not in SETUP_CELL
    assert "USE_DRIVE = False" in SETUP_CELL and "colab_setup(use_drive=USE_DRIVE)" in SETUP_CELL
    elsewhere = [str(p.relative_to(ROOT)) for p in (ROOT / "ctl").rglob("*.py")
                 if "github.com/ctl-teaching" in p.read_text(encoding="utf-8")]
    assert elsewhere == ["ctl/__init__.py"]  # the one place, beside __version__
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f'pip install "ctl[notebooks] @ git+{REPOSITORY}@{RELEASE}"' in readme
    assert f"git clone --depth 1 --branch {RELEASE} {REPOSITORY} ctl-{RELEASE}" in readme


def test_the_measured_cpu_time_of_the_series():
    record = next(r for r in read_records("notebook_times") if r["preset"] == "cpu")
    seconds = sum(row["seconds"] for row in record["notebooks"])
    assert measured_series_seconds("cpu") == (seconds, record)
    assert measured_series_seconds("nonexistent") is None
    advice = preset_advice(None)
    assert f'PRESET = "cpu" fits (measured {seconds / 60:.0f} min for the whole series on a 2-core CPU' in advice
    assert "Change runtime type" in advice


def test_relative_costs_use_the_precision_training_runs_in_when_float32_is_timed_too():
    records = [{"results": [{"preset": "cpu", "method": "ours", "seconds_per_iteration": 0.2, "amp": True},
                            {"preset": "cpu", "method": "ours", "seconds_per_iteration": 0.3, "amp": False},
                            {"preset": "cpu", "method": "sifa", "seconds_per_iteration": 0.6, "amp": False},
                            {"preset": "cpu", "method": "sifa", "seconds_per_iteration": 0.5, "amp": True}]}]
    assert relative_costs(records) == {"ours": 1.0, "sifa": 2.5}


def test_relative_costs_and_the_estimate_worked_by_hand():
    records = [{"results": [{"preset": "ci", "method": "ours", "seconds_per_iteration": 1.0},
                            {"preset": "cpu", "method": "ours", "seconds_per_iteration": 0.2},
                            {"preset": "cpu", "method": "source_only", "seconds_per_iteration": 0.1},
                            {"preset": "cpu", "method": "sifa", "seconds_per_iteration": 0.5}]}]
    assert relative_costs(records) == {"ours": 1.0, "source_only": 0.5, "sifa": 2.5}
    preset = PRESETS["ci"].replace(iterations=100, seeds=(0, 1))
    # 0.1 s per iteration of ours x (1 + 0.5 + 2.5) x 100 iterations x 2 seeds = 80 s
    assert estimated_series_seconds(0.1, preset, relative_costs(records), ["ours", "source_only", "sifa"]) == \
        pytest.approx(80.0)
    with pytest.raises(ValueError, match=r"no relative cost for \['cyclegan'\]"):
        estimated_series_seconds(0.1, preset, relative_costs(records), ["ours", "cyclegan"])
    with pytest.raises(ValueError, match="no training-step record measures 'ours'"):
        relative_costs([{"results": []}])


def test_the_gpu_advice_says_estimated_and_shows_its_arithmetic():
    timing = {"seconds_per_iteration": 0.25, "peak_memory_bytes": 6 * 2**30}
    advice = preset_advice("Tesla T4", 15 * 2**30, timing)
    gpu = PRESETS["gpu"]
    costs = relative_costs(read_records("training_step"))
    expected = 0.25 * sum(costs[m] for m in colab.table_methods()) * gpu.iterations * len(gpu.seeds)
    assert advice.startswith('GPU: Tesla T4 (15 GB, peak 6.0 GB): set PRESET = "gpu"')
    assert f"Estimated {expected / 3600:.1f} h of training for the whole series: 3 seeds x 7 methods" in advice
    assert "measured" not in advice.split("Estimated")[1].split("measured on a CPU")[0]
    assert "did not fit its memory" in preset_advice("Tiny GPU", 2 * 2**30, None)


def test_one_training_step_is_timed_on_the_cpu():
    timing = time_step("ours", PRESETS["ci"], torch.device("cpu"), steps=1, warmup=1)
    assert timing["method"] == "ours" and timing["preset"] == "ci" and timing["seconds_per_iteration"] > 0
    assert timing["peak_memory_bytes"] is None


def test_the_gpu_timing_is_cached_and_an_out_of_memory_is_no_fit(tmp_path, monkeypatch):
    calls = []

    def out_of_memory(*args):
        calls.append(args)
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(colab, "time_step", out_of_memory)
    cache = tmp_path / "timing.json"
    assert gpu_timing(torch.device("cpu"), cache) is None and cache.read_text() == "null" and len(calls) == 1
    cache.write_text('{"seconds_per_iteration": 0.5, "peak_memory_bytes": 1}')
    assert gpu_timing(torch.device("cpu"), cache)["seconds_per_iteration"] == 0.5 and len(calls) == 1


def test_run_dir_goes_to_drive_only_when_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(RUN_DIR_ENV_VAR, raising=False)
    monkeypatch.delenv("CTL_PRESET", raising=False)
    mounted = []
    drive_runs = tmp_path / "drive" / "MyDrive" / "ctl" / "runs"
    assert use_drive_for_runs(mount=mounted.append, run_dir=str(drive_runs)) == str(drive_runs)
    assert mounted == ["/content/drive"] and drive_runs.is_dir()
    ctx = setup_notebook("04_x", "ci", "phantom", str(tmp_path / "data"), "../runs/notebooks", 0)
    assert ctx.run_dir == drive_runs
    assert f"CTL_RUN_DIR={drive_runs} overrides RUN_DIR '../runs/notebooks'" in capsys.readouterr().out


def test_colab_setup_without_a_gpu_leaves_run_dir_alone(monkeypatch, capsys):
    monkeypatch.delenv(RUN_DIR_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    colab.colab_setup(use_drive=False)
    out = capsys.readouterr().out
    assert out.startswith(f"ctl {ctl.__version__} installed from {REPOSITORY} at {RELEASE}")
    assert "No GPU in this runtime" in out and "USE_DRIVE = True keeps it on Drive" in out
    assert RUN_DIR_ENV_VAR not in os.environ
