"""Execute the notebook series in order with papermill: the engine of ``make demo`` and ``make test``.

``python -m ctl run-notebooks --preset ci --out build/notebooks`` (tests) and ``python -m ctl demo`` (main job)
both end here. A notebook that raises stops the series with the notebook and the failing cell named.
"""
from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Iterable

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def notebook_paths(notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """The series in reading order: ``NN_name.ipynb`` sorted by its number."""
    paths = sorted(p for p in notebook_dir.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks named NN_*.ipynb in {notebook_dir}")
    return paths


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names the notebook, the cell and the error."""


def _source_cell(executed: Path, index: int) -> tuple[int, str]:
    """Number (from 1, in the source notebook: papermill's injected-parameters cell not counted) and first line
    of the executed notebook's cell ``index``."""
    import nbformat  # here, not at the top: the [notebooks] extra may be missing where ctl is only imported

    cells = [c for c in nbformat.read(executed, as_version=4).cells  # papermill adds an error banner on top
             if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    injected = sum("injected-parameters" in c.metadata.get("tags", []) for c in cells[:index])
    first_line = (cells[index].source.strip().splitlines() or [""])[0][:80]
    return index - injected + 1, first_line


def execute_notebook(path: Path, out_dir: Path, parameters: dict, cell_timeout_s: int, env_preset: str) -> Path:
    """Run one notebook with papermill into ``out_dir``; stdout/stderr go to ``<name>.stdout/.stderr.txt``."""
    import papermill  # here, not at the top: the [notebooks] extra may be missing where ctl is only imported
    from papermill.exceptions import PapermillExecutionError

    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / path.name
    os.environ["CTL_PRESET"] = env_preset  # the kernel inherits it: same preset as the parameters say
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend embeds the figures in the executed copy
    with open(out_dir / f"{path.stem}.stdout.txt", "w") as stdout, \
            open(out_dir / f"{path.stem}.stderr.txt", "w") as stderr:
        try:
            papermill.execute_notebook(
                str(path), str(out_path), parameters=parameters, cwd=str(path.parent),
                execution_timeout=cell_timeout_s, progress_bar=False, stdout_file=stdout, stderr_file=stderr,
                kernel_name="python3",
            )
        except PapermillExecutionError as err:
            number, first_line = _source_cell(out_path, err.cell_index)
            raise NotebookFailed(
                f"{path.name} failed in cell {number} (counting all cells from 1; it starts `{first_line}`): "
                f"{err.ename}: {err.evalue}\n  executed copy: {out_path}\n  stderr: {stderr.name}"
            ) from None
    return out_path


def run_series(preset: str, out_dir: Path, data_dir: Path, run_dir: Path, seed: int = 0,
               cell_timeout_s: int = 900, only: list[str] | None = None) -> list[dict]:
    """Execute every notebook in order; return one record (name, seconds) per notebook.

    ``data_dir`` and ``run_dir`` are made absolute here: each notebook runs with ``notebooks/`` as its working
    directory, where a relative path would point somewhere else than the caller meant."""
    data_dir, run_dir = Path(data_dir).resolve(), Path(run_dir).resolve()
    records = []
    for path in notebook_paths():
        if only and not any(key in path.name for key in only):
            continue
        params = {"PRESET": preset, "DATA_SOURCE": "phantom", "DATA_DIR": str(data_dir),
                  "RUN_DIR": str(run_dir), "SEED": seed}
        start = time.perf_counter()
        print(f"running {path.name} (preset {preset}) ...", flush=True)
        execute_notebook(path, out_dir, params, cell_timeout_s, env_preset=preset)
        seconds = time.perf_counter() - start
        print(f"  done in {seconds:.0f} s", flush=True)
        records.append({"notebook": path.name, "seconds": round(seconds, 1)})
    return records


def write_summary(run_dir: Path, preset: str, records: list[dict]) -> tuple[Path, Path]:
    """Collect every notebook's recorded results into ``summary.json`` and ``summary.md`` in ``run_dir``."""
    results = {}
    for path in sorted((run_dir / "results").glob("*.json")):
        results[path.stem] = json.loads(path.read_text())
    figures = sorted(p.relative_to(run_dir).as_posix() for p in (run_dir / "figures").glob("*.png"))
    summary = {"preset": preset, "created": datetime.now().isoformat(timespec="seconds"),
               "notebooks": records, "results": results, "figures": figures}
    json_path = run_dir / "summary.json"
    json_path.write_text(json.dumps(summary, indent=2))
    lines = [f"# ctl run summary (preset `{preset}`)", "", "Every number below was computed in this run.", "",
             "## Notebooks", "", "| notebook | time (s) |", "|---|---|"]
    lines += [f"| {r['notebook']} | {r['seconds']} |" for r in records]
    table1 = run_dir / "table1.md"  # written by notebook 05 (ctl.evaluate.write_tables): the run's headline
    if table1.exists():
        lines += ["", "# Table 1 of this run (notebook 05)", "", table1.read_text().strip()]
    for notebook, values in results.items():
        lines += ["", f"## {notebook}", "", "| result | value | unit |", "|---|---|---|"]
        for key, entry in values.items():
            value = entry["value"]
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            lines.append(f"| {key} | {shown} | {entry['unit']} |")
    if figures:
        lines += ["", "## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures]
    md_path = run_dir / "summary.md"
    md_path.write_text("\n".join(lines) + "\n")
    return json_path, md_path


def refresh_outputs(preset: str, cell_timeout_s: int = 1800, only: Iterable[str] = ()) -> None:
    """Execute every committed notebook in place on a fresh kernel, in order, with its own default parameters
    and ``CTL_PRESET=preset``, so that ``notebooks/*.ipynb`` carry the outputs of a real run (``make
    refresh-outputs``). No parameters are injected, so each notebook stays paired with its jupytext script.
    ``only``: notebook stems (e.g. "05_dice_assd_comparison") to refresh instead of all of them."""
    import nbformat  # here, not at the top: the [notebooks] extra may be missing where ctl is only imported
    from nbclient import NotebookClient

    os.environ["CTL_PRESET"] = preset
    os.environ.pop("MPLBACKEND", None)
    paths = notebook_paths()
    unknown = set(only) - {p.stem for p in paths}
    if unknown:
        raise ValueError(f"no notebook called {sorted(unknown)}; choose from {[p.stem for p in paths]}")
    for path in [p for p in paths if not only or p.stem in only]:
        print(f"refreshing {path.name} at preset {preset} ...", flush=True)
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=cell_timeout_s, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        nbformat.write(nb, path)


def demo(preset: str = "cpu", runs_root: Path = REPO_ROOT / "runs", data_dir: Path = REPO_ROOT / "data",
         seed: int = 0) -> Path:
    """The main job: run the whole series into ``runs/<timestamp>/`` and write its summary."""
    run_dir = runs_root / datetime.now().strftime("%Y%m%d-%H%M%S")
    records = run_series(preset, run_dir / "notebooks", data_dir=data_dir, run_dir=run_dir, seed=seed)
    _, md_path = write_summary(run_dir, preset, records)
    print(f"\nresults are in {run_dir}\n  summary: {md_path}\n  executed notebooks: {run_dir / 'notebooks'}")
    return run_dir
