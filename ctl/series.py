"""Execute the notebook series in order with papermill: the engine of ``ctl demo``, ``make test`` and
``ctl refresh-outputs``.

``ctl run-notebooks --preset ci --out build/notebooks`` (tests) and ``ctl demo`` (main job) both end here. The
series is found explicitly (``--notebooks DIR``, else ``./notebooks``): an installed ctl never assumes it sits in a
checkout. While a notebook runs, the terminal shows which cell runs (its section heading and first line) and the
kernel's own output as it comes, the training loop's progress lines included (``CTL_PROGRESS=lines``: one line
per 5 % with the rate and the time left). A notebook that raises stops the series with the notebook and the
failing cell named; a missing ``[notebooks]`` extra is reported before anything runs.
"""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Iterable, TextIO

from ctl import RELEASE, REPOSITORY
from ctl.training.loop import PROGRESS_ENV_VAR

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
NOTEBOOK_TOOLS = ("papermill", "nbformat", "nbclient", "ipykernel")  # what executing a notebook needs
GET_NOTEBOOKS = (f"git clone --depth 1 --branch {RELEASE} {REPOSITORY} ctl-{RELEASE}   "
                 f"(then pass --notebooks ctl-{RELEASE}/notebooks)")


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names the notebook, the cell and the error."""


class NotebooksNotFound(FileNotFoundError):
    """No notebook series where it was looked for; the message says how to get it."""


class MissingExtra(RuntimeError):
    """The packages that execute notebooks (ctl's ``[notebooks]`` extra) are not installed."""


def notebook_paths(notebook_dir: Path) -> list[Path]:
    """The series in reading order: ``NN_name.ipynb`` in ``notebook_dir`` sorted by its number.

    Raises:
        NotebooksNotFound: ``notebook_dir`` holds none.
    """
    paths = sorted(Path(notebook_dir).glob(NOTEBOOK_GLOB))
    if not paths:
        raise NotebooksNotFound(f"no notebooks named NN_*.ipynb in {notebook_dir}; the series of this version "
                                f"of ctl: {GET_NOTEBOOKS}")
    return paths


def locate_notebooks(requested: Path | str | None = None, cwd: Path | None = None) -> Path:
    """The folder of the series: ``requested`` (``--notebooks``), else ``./notebooks`` when it holds the series.

    Raises:
        NotebooksNotFound: nothing there; the message says how to get the notebooks of this version.
    """
    if requested is not None:
        folder = Path(requested).expanduser().resolve()
        notebook_paths(folder)
        return folder
    folder = (cwd or Path.cwd()) / "notebooks"
    if sorted(folder.glob(NOTEBOOK_GLOB)):
        return folder.resolve()
    raise NotebooksNotFound(f"no notebook series here ({folder} has no NN_*.ipynb). Pass --notebooks DIR (the "
                            f"notebooks/ folder of a checkout), or get the series of this version of ctl: "
                            f"{GET_NOTEBOOKS}")


def require_notebook_tools() -> None:
    """Check that the packages executing notebooks are installed, before any notebook starts.

    Raises:
        MissingExtra: naming the missing packages and the install command.
    """
    missing = [name for name in NOTEBOOK_TOOLS if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtra(f"running the notebooks needs {', '.join(missing)}, from ctl's [notebooks] extra: "
                           f"pip install \"ctl[notebooks] @ git+{REPOSITORY}@{RELEASE}\" (in a checkout: "
                           f"pip install -e \".[notebooks]\"), then run the command again")


def _source_cell(executed: Path, index: int) -> tuple[int, str]:
    """Number (from 1, in the source notebook: papermill's injected-parameters cell not counted) and first line
    of the executed notebook's cell ``index``."""
    import nbformat  # here, not at the top: the [notebooks] extra may be missing where ctl is only imported

    cells = [c for c in nbformat.read(executed, as_version=4).cells  # papermill adds an error banner on top
             if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    injected = sum("injected-parameters" in c.metadata.get("tags", []) for c in cells[:index])
    first_line = (cells[index].source.strip().splitlines() or [""])[0][:80]
    return index - injected + 1, first_line


class Echo:
    """A text file that also shows what is written to it on ``terminal``, line by line, indented: the
    kernel's stdout or stderr as papermill streams it. A carriage return (a progress bar redrawing its line)
    ends a line as a newline does, so that a log shows one line per redraw instead of a garbled one."""

    def __init__(self, file: TextIO, terminal: TextIO, prefix: str = "    "):
        self.file, self.terminal, self.prefix, self._partial = file, terminal, prefix, ""

    def write(self, text: str) -> int:
        self.file.write(text)
        *complete, self._partial = (self._partial + text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for line in complete:
            if line.strip():
                self.terminal.write(f"{self.prefix}{line.rstrip()}\n")
        self.terminal.flush()
        return len(text)

    def flush(self) -> None:
        self.file.flush()
        self.terminal.flush()

    def close_line(self) -> None:
        """Show a last line that never got its newline."""
        if self._partial.strip():
            self.terminal.write(f"{self.prefix}{self._partial.rstrip()}\n")
        self._partial = ""


def cell_announcer(total: int, terminal: TextIO):
    """An nbclient ``on_cell_start`` hook that prints each code cell as it starts: its number among all
    ``total`` cells of the source notebook (papermill's injected-parameters cell not counted, as in failure
    messages), the section it belongs to (the last markdown heading) and its first line."""
    state = {"number": 0, "section": ""}

    def announce(cell, cell_index, **_):
        if "injected-parameters" in cell.metadata.get("tags", []):
            return
        state["number"] += 1
        lines = [line.strip() for line in cell.source.splitlines() if line.strip()]
        if cell.cell_type == "markdown":
            headings = [line.lstrip("#").strip() for line in lines if line.startswith("#")]
            state["section"] = headings[-1] if headings else state["section"]
        elif cell.cell_type == "code" and lines:
            section = f" [{state['section'][:50]}]" if state["section"] else ""
            terminal.write(f"  cell {state['number']}/{total}{section}: {lines[0][:70]}\n")
            terminal.flush()

    return announce


def cell_timeout(preset: str, seconds: int | None = None) -> int | None:
    """Seconds one notebook cell may run: ``seconds`` if given; otherwise 600 at the ``ci`` preset (its longest
    cell takes well under a minute, so a cell still running after 10 minutes has hung) and no limit at the other
    presets, where one cell trains several methods for as long as that takes (about 25 minutes for notebook 04's
    baselines on a 2-core CPU at ``cpu``, hours at ``paper``)."""
    if seconds is not None:
        return seconds
    return 600 if preset == "ci" else None


def execute_notebook(path: Path, out_dir: Path, parameters: dict, cell_timeout_s: int | None, env_preset: str,
                     terminal: TextIO | None = None) -> Path:
    """Run one notebook with papermill into ``out_dir``; stdout/stderr go to ``<name>.stdout/.stderr.txt`` and,
    as they come, to ``terminal`` (default: this process's stdout) together with each code cell as it starts."""
    import nbformat  # here, not at the top: the [notebooks] extra may be missing where ctl is only imported
    import papermill
    from papermill.exceptions import PapermillExecutionError

    terminal = terminal or sys.stdout
    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / path.name
    os.environ["CTL_PRESET"] = env_preset  # the kernel inherits it: same preset as the parameters say
    os.environ[PROGRESS_ENV_VAR] = "lines"  # the training loop prints plain progress lines (streamed, below)
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend embeds the figures in the executed copy
    total = len(nbformat.read(path, as_version=4).cells)
    with open(out_dir / f"{path.stem}.stdout.txt", "w") as stdout_file, \
            open(out_dir / f"{path.stem}.stderr.txt", "w") as stderr_file:
        stdout, stderr = Echo(stdout_file, terminal), Echo(stderr_file, terminal)
        try:
            papermill.execute_notebook(
                str(path), str(out_path), parameters=parameters, cwd=str(path.parent),
                execution_timeout=cell_timeout_s, progress_bar=False, stdout_file=stdout, stderr_file=stderr,
                kernel_name="python3", on_cell_start=cell_announcer(total, terminal),
            )
        except PapermillExecutionError as err:
            number, first_line = _source_cell(out_path, err.cell_index)
            raise NotebookFailed(
                f"{path.name} failed in cell {number} (counting all cells from 1; it starts `{first_line}`): "
                f"{err.ename}: {err.evalue}\n  executed copy: {out_path}\n  stderr: {stderr_file.name}"
            ) from None
        finally:
            stdout.close_line()
            stderr.close_line()
    return out_path


def run_series(preset: str, out_dir: Path, data_dir: Path, run_dir: Path, notebook_dir: Path, seed: int = 0,
               cell_timeout_s: int | None = None, only: list[str] | None = None) -> list[dict]:
    """Execute every notebook of ``notebook_dir`` in order; return one record (name, seconds) per notebook.
    ``cell_timeout_s``: see ``cell_timeout`` (None: the preset's default).

    ``data_dir`` and ``run_dir`` are made absolute here: each notebook runs with its own folder as working
    directory, where a relative path would point somewhere else than the caller meant.

    Raises:
        MissingExtra, NotebooksNotFound: before any notebook runs. NotebookFailed: a notebook raised.
    """
    require_notebook_tools()
    data_dir, run_dir = Path(data_dir).resolve(), Path(run_dir).resolve()
    paths = [p for p in notebook_paths(notebook_dir) if not only or any(key in p.name for key in only)]
    records = []
    for number, path in enumerate(paths, start=1):
        params = {"PRESET": preset, "DATA_SOURCE": "phantom", "DATA_DIR": str(data_dir),
                  "RUN_DIR": str(run_dir), "SEED": seed}
        start = time.perf_counter()
        print(f"[{number}/{len(paths)}] {path.name} (preset {preset})", flush=True)
        execute_notebook(path, out_dir, params, cell_timeout(preset, cell_timeout_s), env_preset=preset)
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


def refresh_outputs(preset: str, notebook_dir: Path, cell_timeout_s: int | None = None,
                    only: Iterable[str] = ()) -> None:
    """Execute every committed notebook in place on a fresh kernel, in order, with its own default parameters
    and ``CTL_PRESET=preset``, so that ``notebooks/*.ipynb`` carry the outputs of a real run (``make
    refresh-outputs``, ``ctl refresh-outputs``). No parameters are injected, so each notebook stays paired with
    its jupytext script. ``only``: notebook stems (e.g. "05_dice_assd_comparison") to refresh instead of all.
    ``cell_timeout_s``: see ``cell_timeout`` (None: the preset's default).

    Raises:
        MissingExtra, NotebooksNotFound: before any notebook runs. ValueError: ``only`` names no notebook.
    """
    require_notebook_tools()
    import nbformat  # here, not at the top: the [notebooks] extra may be missing where ctl is only imported
    from nbclient import NotebookClient

    os.environ["CTL_PRESET"] = preset
    os.environ.pop("MPLBACKEND", None)
    paths = notebook_paths(notebook_dir)
    unknown = set(only) - {p.stem for p in paths}
    if unknown:
        raise ValueError(f"no notebook called {sorted(unknown)}; choose from {[p.stem for p in paths]}")
    for path in [p for p in paths if not only or p.stem in only]:
        print(f"refreshing {path.name} at preset {preset} ...", flush=True)
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=cell_timeout(preset, cell_timeout_s), kernel_name="python3",
                       on_cell_start=cell_announcer(len(nb.cells), sys.stdout),
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        nbformat.write(nb, path)


def demo(notebook_dir: Path, preset: str = "cpu", runs_root: Path = Path("runs"), data_dir: Path = Path("data"),
         seed: int = 0) -> Path:
    """The main job: run the whole series of ``notebook_dir`` into ``runs_root/<timestamp>/`` and write its
    summary (relative folders are taken from the current directory)."""
    run_dir = Path(runs_root).resolve() / datetime.now().strftime("%Y%m%d-%H%M%S")
    records = run_series(preset, run_dir / "notebooks", data_dir=data_dir, run_dir=run_dir,
                         notebook_dir=notebook_dir, seed=seed)
    _, md_path = write_summary(run_dir, preset, records)
    print(f"\nresults are in {run_dir}\n  summary: {md_path}\n  executed notebooks: {run_dir / 'notebooks'}")
    return run_dir
