"""What every notebook does in its second cell: resolve the preset, pick the device, seed, make folders.

Used by every notebook in ``notebooks/`` (the cell right after ``parameters``). Results and figures a notebook
records here are what ``make demo`` collects into the run's summary (``ctl.series``).

The environment variable ``CTL_RUN_DIR`` overrides the notebook's ``RUN_DIR``, as ``CTL_PRESET`` overrides its
``PRESET``: the Colab setup cell sets it to a folder on Google Drive when asked (``ctl.teach.colab``), so that a
run survives a lost runtime.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ctl.data import check_data_source
from ctl.device import describe_device, pick_device
from ctl.presets import Preset, get_preset
from ctl.training import seed_everything

RUN_DIR_ENV_VAR = "CTL_RUN_DIR"


@dataclass
class NotebookContext:
    """Settings for one notebook run. ``record`` and ``save_figure`` write into ``run_dir``."""

    notebook: str
    preset: Preset
    data_source: str
    data_dir: Path
    run_dir: Path
    seed: int
    device: torch.device

    @property
    def figures_dir(self) -> Path:
        return self.run_dir / "figures"

    @property
    def results_file(self) -> Path:
        return self.run_dir / "results" / f"{self.notebook}.json"

    def record(self, key: str, value, unit: str = "") -> None:
        """Store a number this run computed, for the run summary (``runs/<stamp>/summary.md``)."""
        if isinstance(value, (np.floating, np.integer)):
            value = value.item()
        if isinstance(value, torch.Tensor):
            value = value.item()
        self.results_file.parent.mkdir(parents=True, exist_ok=True)
        results = json.loads(self.results_file.read_text()) if self.results_file.exists() else {}
        results[key] = {"value": value, "unit": unit, "preset": self.preset.name}
        self.results_file.write_text(json.dumps(results, indent=2))

    def save_figure(self, fig, name: str, dpi: int = 80) -> Path:
        """Save a matplotlib figure as ``figures/<notebook>-<name>.png`` (small: committed outputs stay light)."""
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        path = self.figures_dir / f"{self.notebook}-{name}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        return path


def setup_notebook(notebook: str, preset: str, data_source: str, data_dir: str, run_dir: str, seed: int,
                   device: str | None = None) -> NotebookContext:
    """Resolve the parameters cell of ``notebook`` into a ``NotebookContext`` and print what was chosen.

    Raises:
        ValueError: for an unknown preset or data source.
    """
    check_data_source(data_source, name="DATA_SOURCE")
    override = os.environ.get(RUN_DIR_ENV_VAR, "").strip()
    if override and override != run_dir:
        print(f"{RUN_DIR_ENV_VAR}={override} overrides RUN_DIR {run_dir!r}")
        run_dir = override
    chosen = get_preset(preset)
    if data_source == "phantom" and chosen.data_source == "real":
        print(f"note: preset {chosen.name!r} is meant for real data; running it on the phantom")
    ctx = NotebookContext(
        notebook=notebook, preset=chosen, data_source=data_source,
        data_dir=Path(data_dir).expanduser().resolve(), run_dir=Path(run_dir).expanduser().resolve(),
        seed=int(seed), device=pick_device(device),
    )
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(ctx.seed)
    print(f"preset      : {chosen.name}")
    print(f"data source : {data_source}  ({ctx.data_dir})")
    print(f"run folder  : {ctx.run_dir}")
    print(f"device      : {describe_device(ctx.device)}")
    print(f"seed        : {ctx.seed}")
    return ctx
