"""The measurements the notebooks show, shipped inside the package (``ctl/teach/measured/*.json``).

An installed ``ctl`` (a wheel, as Colab's ``pip install`` makes it) has no ``benchmarks/`` folder beside it, so
everything a notebook reads at run time is package data: the series times of notebook 00's table
(``notebook_times_<preset>.json``, written by ``benchmarks/notebook_times.py``), the training-step times of
notebook 04 and of the Colab preset advice (``training_step_<device>.json``, ``benchmarks/training_step.py``),
the spread over training seeds of notebook 05's discussion (``heldout_<preset>.json``, ``benchmarks/heldout.py``).
The benchmarks write straight into this folder of their checkout; commit the JSON with the change it measures.
"""
from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable


def measured_dir() -> Traversable:
    """The folder of measurement records inside the installed (or checked-out) package."""
    return files("ctl.teach") / "measured"


def read_records(prefix: str) -> list[dict]:
    """Every record ``<prefix>_*.json`` (e.g. ``"notebook_times"``, ``"training_step"``), sorted by file name.

    Raises:
        ValueError: a record that is not valid JSON, naming the file (it ships with the package: reinstall).
    """
    records = []
    for entry in sorted(measured_dir().iterdir(), key=lambda e: e.name):
        if not (entry.name.startswith(f"{prefix}_") and entry.name.endswith(".json")):
            continue
        try:
            records.append(json.loads(entry.read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"measurement record {entry.name} in {measured_dir()} is not valid JSON ({err}); "
                             f"reinstall ctl or re-run the benchmark that writes it") from None
    return records


def seed_spread(preset: str) -> dict | None:
    """How much each method's mean Dice moves between training seeds at ``preset``, measured by
    ``benchmarks/heldout.py`` on phantom seeds no notebook uses (``heldout_<preset>.json``), or None when no such
    record ships. Returns {"phantom_seeds", "seeds", "date", "methods": {method: {"mean", "std", "n"}}}, mean Dice
    in % and its standard deviation over the n training seeds. Notebook 05's discussion."""
    for record in read_records("heldout"):
        if record.get("preset") == preset and "summary" in record:
            methods = {m: row["dice_mean"] for m, row in record["summary"].items() if "dice_mean" in row}
            return {"phantom_seeds": record["phantom_seeds"], "seeds": record["seeds"], "date": record["date"],
                    "methods": methods}
    return None
