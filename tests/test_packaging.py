"""The package as a wheel installs it: one source of the version number, everything read at run time shipped as
package data (no module looks for files beside the checkout), the Makefile's choice of torch build. The wheel
itself is built here from the checkout; .ci/wheel_check installs one in a fresh environment and runs it."""
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import ctl
from ctl.__main__ import main
from ctl.teach.measurements import measured_dir, read_records, seed_spread

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_has_one_source(capsys):
    assert "version" not in PYPROJECT["project"] and PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ctl.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", ctl.__version__)
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"ctl {ctl.__version__}\n"


def test_no_module_of_the_package_looks_beside_itself_for_files():
    """An installed ctl sits in site-packages: notebooks/ and benchmarks/ are not next to it."""
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "ctl").rglob("*.py")
                 if "__file__" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_every_measurement_record_is_package_data_and_readable():
    shipped = PYPROJECT["tool"]["setuptools"]["package-data"]["ctl.teach"]
    assert shipped == ["measured/*.json"]
    files = sorted(p.name for p in Path(str(measured_dir())).iterdir())
    assert files and all(name.endswith(".json") for name in files), files
    assert {r["preset"] for r in read_records("notebook_times")} >= {"ci", "cpu"}
    assert read_records("training_step")[0]["results"]


def test_read_records_names_a_broken_file(tmp_path, monkeypatch):
    (tmp_path / "notebook_times_x.json").write_text("{not json")
    monkeypatch.setattr("ctl.teach.measurements.measured_dir", lambda: tmp_path)
    with pytest.raises(ValueError, match="notebook_times_x.json .* is not valid JSON"):
        read_records("notebook_times")


def test_seed_spread_reads_the_summary_of_the_presets_heldout_record(tmp_path, monkeypatch):
    summary = {"ours": {"dice_mean": {"mean": 88.6, "std": 0.4, "n": 3}, "ssim_body": {"mean": 0.5, "std": 0, "n": 3}},
               "oracle": {"dice_mean": {"mean": 96.0, "std": 0.2, "n": 3}}}
    (tmp_path / "heldout_cpu.json").write_text(json.dumps({"preset": "cpu", "phantom_seeds": [101], "seeds": [0, 1, 2],
                                                           "date": "2026-11-30", "runs": {}, "summary": summary}))
    (tmp_path / "heldout_gpu.json").write_text(json.dumps({"preset": "gpu", "runs": {}}))  # stopped: no summary
    monkeypatch.setattr("ctl.teach.measurements.measured_dir", lambda: tmp_path)
    spread = seed_spread("cpu")
    assert spread["methods"] == {"ours": {"mean": 88.6, "std": 0.4, "n": 3}, "oracle": {"mean": 96.0, "std": 0.2, "n": 3}}
    assert spread["phantom_seeds"] == [101] and spread["seeds"] == [0, 1, 2]
    assert seed_spread("gpu") is None and seed_spread("paper") is None


@pytest.mark.parametrize("script", ["notebook_times.py", "training_step.py", "heldout.py"])
def test_the_benchmarks_read_by_notebooks_write_into_the_package_data(script):
    spec = importlib.util.spec_from_file_location(script[:-3], ROOT / "benchmarks" / script)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "benchmarks"))  # training_step imports its sibling step_timing
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    written = module.MEASURED if script == "heldout.py" else module.RESULTS  # heldout.py: the preset's own record
    assert written.resolve() == Path(str(measured_dir())).resolve()


@pytest.mark.slow
def test_the_wheel_holds_the_package_data_and_no_checkout_files(tmp_path):
    # the setuptools of this environment if it is recent enough for pyproject.toml, else pip's own build environment
    recent = int(importlib.metadata.version("setuptools").split(".")[0]) >= 77
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:  # a clean copy: no stale build/ output of an earlier build gets into the wheel
        if (ROOT / name).is_file():
            (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tmp_path / "src" / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path),
                    *(["--no-build-isolation"] if recent else []), str(tmp_path / "src")], check=True, cwd=tmp_path)
    wheel = next(tmp_path.glob("ctl-*.whl"))
    assert wheel.name.startswith(f"ctl-{ctl.__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    for record in Path(str(measured_dir())).iterdir():
        assert f"ctl/teach/measured/{record.name}" in names
    assert "ctl/data/download.py" in names and "ctl/__main__.py" in names
    assert not [n for n in names if n.startswith(("notebooks/", "benchmarks/", "tests/"))]
    entry_points = [n for n in names if n.endswith("entry_points.txt")]
    assert "ctl = ctl.__main__:main" in zipfile.ZipFile(wheel).read(entry_points[0]).decode()


def _pip_line(**variables) -> str:
    """The line of `make venv` that installs torch, with make's variables set (a dry run: nothing runs)."""
    assignments = [f"{k}={v}" for k, v in variables.items()]
    # not the variables of a make that runs these tests (`make test TORCH_INDEX=` passes them on in MAKEFLAGS)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "TORCH_INDEX")}
    out = subprocess.run(["make", "-n", "venv", "VENV=/nonexistent/venv", *assignments], capture_output=True,
                         text=True, check=True, cwd=ROOT, env=env).stdout
    return next(line for line in out.splitlines() if "torch" in line)


def test_the_makefile_installs_cpu_torch_without_an_nvidia_gpu():
    assert _pip_line(HAS_NVIDIA="").endswith('"torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu')
    assert _pip_line(HAS_NVIDIA="yes").rstrip().endswith('"torch==2.13.0"')
    assert _pip_line(HAS_NVIDIA="", TORCH_INDEX="").rstrip().endswith('"torch==2.13.0"')  # what CI uses
    assert _pip_line(TORCH_INDEX="https://example.org/cu126").endswith("--index-url https://example.org/cu126")


def test_ci_keeps_torch_on_the_default_index_and_checks_the_wheel():
    run = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "\nmake test " in readme  # the README's test command, which CI runs as written
    assert "\nexport TORCH_INDEX=\n" in run and "\nmake test\n" in run and "\nmake wheel-check\n" in run
    check = (ROOT / ".ci" / "wheel_check").read_text()
    assert "pip wheel" in check and '"$wheel[notebooks]"' in check and "-e " not in check
    assert 'demo --preset ci --notebooks "$repo/notebooks"' in check and "00_overview.ipynb" in check
