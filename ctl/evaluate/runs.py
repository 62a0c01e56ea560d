"""Evaluate trained methods on the MR test volumes: per-volume, per-organ Dice and ASSD, metrics files, Table 1.

What the paper's Table 1 reports, computed the way SIFA and SynSeg-Net (the works it compares with) do:

1. every MR **test** subject is read once (``ctl.data.subject_ids(prepared, "mr", "test")``); no training
   subject, no CT, and no paired MR is read here;
2. its axial slices go through the method's ``segmenter`` (``ctl.evaluate.inference.predict_volume``) and the
   predicted slices are stacked back in their order into a label volume (Z, H, W);
3. Dice and ASSD of each organ are computed on that 3D volume at the volume's spacing (``ctl.evaluate.metrics``):
   ASSD in mm (the table's unit) and in voxels (the unit of SIFA's public evaluation; the paper names none);
4. the per-volume records of every method and seed are aggregated by ``ctl.evaluate.table1`` (mean and std across
   volumes, pooled across seeds, Mean = mean of the four organ means) and laid out beside the paper's rows.

Misses. When a method predicts nothing for an organ in a volume its ASSD there is undefined; by default it is
left out and every mean says how many values it covers ("[7/8]"); ``EvalConfig(assd_miss_penalty="diagonal")``
(``ctl evaluate --assd-miss-penalty``) counts it as the volume's diagonal instead (each record carries
``volume_diagonal`` in its ASSD unit). The weights evaluated are checked to be the run folder's
(``ctl.training.checkpoints.load_final``).

Files. ``evaluate_run`` writes into the run folder of one trained method (made by ``ctl train`` or
``ctl.training.load_or_train``)::

    RUN/metrics.json   {"method", "seed", "preset", "data", "subjects", "assd_mode", "records": [...]}
    RUN/metrics.csv    the same records, one row per (subject, organ, ASSD unit)

and ``evaluate_folder`` (``python -m ctl evaluate --run DIR --data PREPARED``) does it for every run folder under
DIR of a method of Table 1 (runs of the translation-only methods of notebook 02 have no segmenter and are
skipped), then writes ``DIR/table1.md`` (Table 1 in mm and in voxels) and ``DIR/table1.csv`` (mean, std, n per
method, metric, organ and unit).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import torch

from ctl import data
from ctl.evaluate.inference import predict_volume
from ctl.evaluate.metrics import ASSD_MODES, UNITS, score_volume
from ctl.evaluate.table1 import BOUNDS, PAPER_TABLE1, MethodResult, Table1, summarize_all, summary_records, table1
from ctl.methods import METHODS, Method, method_class
from ctl.presets import Preset
from ctl.training import TrainConfig, load_or_train, read_run_config

METRICS_FILE = "metrics.json"
METRICS_CSV = "metrics.csv"
RECORD_FIELDS = ("method", "seed", "subject", "organ", "label", "dice", "assd", "assd_unit", "assd_mode", "status",
                 "pred_voxels", "truth_voxels", "volume_diagonal")
MISS_PENALTIES = (None, "diagonal")  # EvalConfig.assd_miss_penalty: leave misses out (counted), or the diagonal


@dataclass(frozen=True)
class EvalConfig:
    """How the test volumes are scored."""

    units: tuple[str, ...] = ("mm", "voxel")  # mm for Table 1; voxels as SIFA's public evaluation (both kept)
    mode: str = "pooled"  # medpy >= 0.5.2 / MONAI symmetric ASSD; "mean_of_means" is medpy <= 0.4's definition
    batch: int = 16  # slices per forward pass of the segmenter; changes memory use only
    assd_miss_penalty: str | None = None  # None: a missed organ's ASSD is left out of the mean and counted
    # ([n/N], the choice that keeps every mean a mean of real distances); "diagonal": the volume's diagonal

    def __post_init__(self):
        if self.assd_miss_penalty not in MISS_PENALTIES:
            raise ValueError(f"assd_miss_penalty={self.assd_miss_penalty!r}; choose one of {MISS_PENALTIES}")
        if not self.units or any(u not in UNITS for u in self.units) or len(set(self.units)) != len(self.units):
            raise ValueError(f"units={self.units!r}: give distinct units from {UNITS}")
        if self.mode not in ASSD_MODES:
            raise ValueError(f"mode={self.mode!r}; choose one of {ASSD_MODES}")
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")


@dataclass
class Evaluation:
    """One trained segmenter scored on the MR test volumes."""

    method: str
    seed: int | None
    records: list[dict]  # one per (subject, organ, unit): ``OrganScore.as_dict()`` + method, seed, subject
    predictions: dict[str, np.ndarray] = field(repr=False)  # subject -> predicted label volume (Z, H, W) uint8
    spacing: dict[str, tuple[float, float, float]]  # subject -> (z, y, x) mm

    @property
    def subjects(self) -> list[str]:
        return list(self.predictions)


# --- scoring -------------------------------------------------------------------------------------------------
def evaluate_segmenter(segmenter: torch.nn.Module, prepared: Path | str, *, method: str, seed: int | None = None,
                       device: torch.device | str | None = None, config: EvalConfig = EvalConfig(),
                       domain: str = "mr") -> Evaluation:
    """Segment every MR test volume of ``prepared`` slice by slice and score each organ in 3D.

    Args:
        segmenter: maps slices (B, 1, H, W) in [0, 1] to logits (B, n_classes, H, W), on ``device``.
        prepared: a prepared data folder (CONTRIBUTING.md, "Prepared data").
        method, seed: stored in every record (Table 1 pools seeds per method).
        domain: "mr" (Table 1); "ct" scores the CT test volumes instead (notebook 01: does a CT-trained model
            work on CT at all?).
    Returns:
        ``Evaluation``; its records hold Dice (a fraction) and ASSD in each of ``config.units``.
    Raises:
        ValueError: the split lists no MR test subject or one subject twice, or a volume's image and label differ
            in shape.
    """
    if domain not in ("mr", "ct"):
        raise ValueError(f"domain must be 'mr' or 'ct', got {domain!r}")
    subjects = data.subject_ids(prepared, domain, "test")
    if not subjects:
        raise ValueError(f"{prepared}/split.json lists no {domain.upper()} test subject: nothing to evaluate")
    if len(set(subjects)) != len(subjects):
        raise ValueError(f"{prepared}/split.json lists an {domain.upper()} test subject twice: {subjects}")
    records, predictions, spacings = [], {}, {}
    for subject in subjects:
        volume = data.load_volume(prepared, domain, subject)  # image (Z, H, W) in [0, 1], label, spacing (z, y, x)
        if volume.image.shape != volume.label.shape:
            raise ValueError(f"{domain.upper()} {subject}: image {volume.image.shape} and label "
                             f"{volume.label.shape} differ")
        # slices in their order -> labels (Z, H, W): the 3D volume Table 1 scores
        prediction = predict_volume(segmenter, volume.image, device, config.batch)
        spacing = tuple(float(s) for s in np.ravel(volume.spacing))
        for unit in config.units:
            diagonal = volume_diagonal(volume.image.shape, spacing if unit == "mm" else None)
            for score in score_volume(prediction, volume.label, spacing, unit=unit, mode=config.mode).values():
                records.append(dict(method=method, seed=seed, subject=subject, **score.as_dict(),
                                    volume_diagonal=round(diagonal, 4)))
        predictions[subject], spacings[subject] = prediction, spacing
    return Evaluation(method, seed, records, predictions, spacings)


def volume_diagonal(shape: tuple[int, ...], spacing: tuple[float, ...] | None = None) -> float:
    """The diagonal of a volume of ``shape`` voxels: in mm at ``spacing`` (z, y, x), in voxels without. No two
    points of the volume are farther apart, so it bounds any surface distance: the ASSD penalty of a miss."""
    extent = np.asarray(shape, dtype=float) * (1.0 if spacing is None else np.asarray(spacing, dtype=float))
    return float(np.sqrt((extent ** 2).sum()))


def records_in_unit(records: Iterable[Mapping], unit: str) -> list[dict]:
    """The records whose ASSD is in ``unit`` ("mm" or "voxel"), for ``ctl.evaluate.table1`` (one unit per table)."""
    if unit not in UNITS:
        raise ValueError(f"unit={unit!r}; choose one of {UNITS}")
    chosen = [dict(r) for r in records if r["assd_unit"] == unit]
    if not chosen:
        raise ValueError(f"no record has ASSD in {unit!r}; evaluate with EvalConfig(units=(..., {unit!r}))")
    return chosen


# --- files ---------------------------------------------------------------------------------------------------
def write_metrics(folder: Path | str, evaluation: Evaluation, info: Mapping | None = None) -> tuple[Path, Path]:
    """``metrics.json`` (records plus ``info``) and ``metrics.csv`` (records) in ``folder``; returns both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    content = {"method": evaluation.method, "seed": evaluation.seed, **(info or {}),
               "split": "mr/test", "subjects": evaluation.subjects,
               "spacing_mm": {s: list(v) for s, v in evaluation.spacing.items()},
               "dice_unit": "fraction (x 100 in Table 1)", "records": evaluation.records}
    json_path, csv_path = folder / METRICS_FILE, folder / METRICS_CSV
    json_path.write_text(json.dumps(content, indent=1, allow_nan=False))  # NaN is None in records: refuse any other
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RECORD_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: ("" if r.get(k) is None else r[k]) for k in RECORD_FIELDS} for r in evaluation.records)
    return json_path, csv_path


def read_metrics(folder: Path | str) -> dict:
    """``metrics.json`` of an evaluated run folder."""
    path = Path(folder) / METRICS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: evaluate the run first (python -m ctl evaluate --run ...)")
    return json.loads(path.read_text())


# --- run folders ---------------------------------------------------------------------------------------------
def is_run_folder(folder: Path) -> bool:
    """A folder written by ``ctl.training.train``: its config.json names a method, or is damaged in a folder
    that holds a run's other files (so that ``find_runs`` names it instead of skipping it)."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        return False
    try:
        return "method" in json.loads(path.read_text())
    except (ValueError, TypeError):
        return any((Path(folder) / name).exists() for name in ("checkpoints", "final.pt", "history.json"))


def find_runs(root: Path | str) -> list[Path]:
    """``root`` itself if it is a run folder, else every run folder below it (sorted).

    Raises:
        FileNotFoundError: ``root`` is missing or holds no run folder.
        ValueError: a run folder's config.json is damaged (named; ``read_run_config`` says what to do).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder; pass a run folder made by `ctl train` or a folder of them")
    runs = [root] if is_run_folder(root) else sorted(p.parent for p in root.rglob("config.json")
                                                     if is_run_folder(p.parent))
    for run in runs:
        read_run_config(run)  # a damaged config.json raises, naming the file
    if not runs:
        raise FileNotFoundError(f"no run folder (config.json with a method, from `ctl train`) in or below {root}")
    return runs


def preset_of(config: Mapping) -> Preset:
    """The ``Preset`` a run was trained with, rebuilt from its config.json (lists back to tuples)."""
    return Preset(**{k: tuple(v) if isinstance(v, list) else v for k, v in config["preset"].items()})


def load_trained(run_dir: Path | str, prepared: Path | str, device: torch.device | str | None = None) -> Method:
    """The finished method of ``run_dir`` (eval mode), loaded with ``ctl.training.load_or_train``.

    Raises:
        FileNotFoundError: the run has no final.pt (not finished: continue it with ``ctl train --resume``).
        ValueError: ``prepared`` is not the data the run was trained on, or the files disagree.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "final.pt").exists():
        raise FileNotFoundError(f"{run_dir} has no final.pt: training did not finish; continue it with "
                                f"`python -m ctl train ... --out {run_dir} --resume`")
    config = read_run_config(run_dir)
    train = TrainConfig(progress=False, **config.get("train", {}))
    # load_or_train checks config.json against the data and final.pt's stored configuration against config.json
    return load_or_train(config["method"], Path(prepared), preset_of(config), run_dir, seed=config["seed"],
                         device=device, config=train)


def evaluate_method(method: Method, prepared: Path | str, *, seed: int | None, run_dir: Path | str | None = None,
                    device: torch.device | str | None = None, config: EvalConfig = EvalConfig(),
                    info: Mapping | None = None) -> Evaluation:
    """Score a trained ``ctl.methods.Method`` (its ``segmenter`` only) and, given ``run_dir``, write its metrics."""
    evaluation = evaluate_segmenter(method.segmenter, prepared, method=method.name, seed=seed, device=device,
                                    config=config)
    if run_dir is not None:
        write_metrics(run_dir, evaluation, {"data": str(Path(prepared).resolve()), "assd_mode": config.mode,
                                            "uses_target_labels": bool(method.uses_target_labels), **(info or {})})
    return evaluation


def evaluate_run(run_dir: Path | str, prepared: Path | str, device: torch.device | str | None = None,
                 config: EvalConfig = EvalConfig()) -> Evaluation:
    """Load the method trained in ``run_dir``, evaluate it, and write metrics.json / metrics.csv there."""
    trained = read_run_config(run_dir)
    method = load_trained(run_dir, prepared, device)
    return evaluate_method(method, prepared, seed=trained["seed"], run_dir=run_dir, device=device, config=config,
                           info={"preset": trained["preset"]["name"]})


# --- Table 1 -------------------------------------------------------------------------------------------------
def table_methods() -> list[str]:
    """The registered methods of Table 1 (``in_table1``) in its order: the paper's M1-M4 and ours, any other,
    then the two bounds."""
    rows = [name for name, cls in METHODS.items() if cls.in_table1]
    compared = [row.method for row in PAPER_TABLE1 if row.method in rows]
    others = [m for m in rows if m not in compared and m not in BOUNDS]
    return compared + others + [m for m in BOUNDS if m in rows]


def comparison(records: Iterable[Mapping], unit: str, *, data_label: str, include_paper: bool = True,
               assd_miss_penalty: str | None = None) -> tuple[dict[str, MethodResult], Table1]:
    """Aggregate the records in ``unit`` per method (seeds pooled) and lay out Table 1 beside the paper's rows.
    ``assd_miss_penalty`` as ``EvalConfig``'s (None: misses left out and counted)."""
    results = summarize_all(records_in_unit(records, unit), assd_miss_penalty=assd_miss_penalty)
    return results, table1(results, data_label=data_label, include_paper=include_paper)


def data_label(prepared: Path | str, preset_name: str, records: Iterable[Mapping]) -> str:
    """Where our numbers come from, for the table's Data column: source, preset, volumes x seeds."""
    records = list(records)
    subjects = {r["subject"] for r in records}
    seeds = sorted({r.get("seed") for r in records}, key=str)
    source = data.read_meta(prepared).get("source", "?")
    return f"this run: {source}, {preset_name} preset, {len(subjects)} MR test vol. x {len(seeds)} seed(s)"


def write_tables(folder: Path | str, records: list[dict], label: str, *, include_paper: bool = True,
                 assd_miss_penalty: str | None = None) -> str:
    """Write ``table1.md`` (one table per ASSD unit present) and ``table1.csv``; return the markdown."""
    folder = Path(folder)
    sections, rows = [], []
    for unit in UNITS:
        if not any(r["assd_unit"] == unit for r in records):
            continue
        results, table = comparison(records, unit, data_label=label, include_paper=include_paper,
                                    assd_miss_penalty=assd_miss_penalty)
        sections.append(f"## Table 1, ASSD in {unit}\n\n{table.to_markdown()}\n")
        first = not rows  # Dice does not depend on the ASSD unit: its rows are written once
        rows += [row for row in summary_records(results) if row["metric"] == "assd" or first]
    markdown = "\n".join(sections)
    (folder / "table1.md").write_text(markdown)
    with open(folder / "table1.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return markdown


def evaluate_folder(root: Path | str, prepared: Path | str, *, device: torch.device | str | None = None,
                    preset: str | None = None, include_paper: bool = True,
                    config: EvalConfig = EvalConfig()) -> tuple[list[dict], str]:
    """``python -m ctl evaluate``: evaluate every run folder under ``root`` (of one preset), write the tables.

    Run folders of methods that are not rows of Table 1 (the translation-only ``lsgan`` and ``cut``) are skipped
    with a note.

    Returns:
        (all records, Table 1 as text with units, one table per unit).
    Raises:
        FileNotFoundError: no run folder, or a run without final.pt.
        ValueError: runs of several presets and no ``preset`` chosen, or none of the chosen preset.
    """
    by_preset: dict[str, list[Path]] = {}
    for run in find_runs(root):
        trained = read_run_config(run)
        if not method_class(trained["method"]).in_table1:
            print(f"skipped {run}: {trained['method']!r} is not a method of Table 1 (it has no segmenter)")
            continue
        by_preset.setdefault(trained["preset"]["name"], []).append(run)
    if not by_preset:
        raise ValueError(f"no run of a method of Table 1 in {root}")
    if preset is None and len(by_preset) > 1:
        raise ValueError(f"{root} holds runs of several presets {sorted(by_preset)}; choose one with --preset")
    preset = preset or next(iter(by_preset))
    if preset not in by_preset:
        raise ValueError(f"no run of preset {preset!r} in {root}; it holds {sorted(by_preset)}")
    records = []
    for run in by_preset[preset]:
        evaluation = evaluate_run(run, prepared, device, config)
        print(f"evaluated {evaluation.method} (seed {evaluation.seed}) on {len(evaluation.subjects)} MR test "
              f"volumes -> {Path(run) / METRICS_FILE}")
        records += evaluation.records
    label = data_label(prepared, preset, records)
    out = Path(root)
    write_tables(out, records, label, include_paper=include_paper, assd_miss_penalty=config.assd_miss_penalty)
    texts = []
    for unit in config.units:
        _, table = comparison(records, unit, data_label=label, include_paper=include_paper,
                              assd_miss_penalty=config.assd_miss_penalty)
        texts.append(f"Table 1 (ASSD in {unit}; Dice in %)\n{table.to_text()}")
    texts.append(f"written: {out / 'table1.md'}, {out / 'table1.csv'}")
    return records, "\n\n".join(texts)
