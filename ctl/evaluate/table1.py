"""Table 1 of the paper: its printed numbers, our per-volume scores aggregated the same way, both side by side.

The paper's Table 1 gives, per method and organ (Spleen, Left Kidney, Right Kidney, Liver), the mean and the
standard deviation across the MR test volumes of the 3D Dice (in %) and the ASSD, and a Mean column. For the
rows M1-M4 the printed Mean is the mean of the four printed organ means (to rounding), so we compute ours the same
way: the mean of the four organ means, not the mean over all (volume, organ) pairs.

Inputs are per-volume, per-organ records as written by the evaluation (``metrics.OrganScore.as_dict()``
plus ``"subject"``, and ``"method"`` / ``"seed"`` where there are several). Dice is a fraction in the records
and a percentage in the table, as in the paper. Standard deviations use ``ddof=0`` (the spread of the volumes
themselves; the paper does not say which it used). With several seeds every (test volume, seed) pair is one
sample, so the STD mixes the spread across volumes with that across seeds, as the table's notes say.

Missing values. A Dice is missing only when an organ is absent from both truth and prediction; an ASSD whenever
either mask is empty (a missed organ, or an invented one). Missing values are left out of the organ's mean and
STD and the cell counts what it covers, e.g. ``3.2 (1.1) [4/6]``; the Mean column counts the (volume, organ)
pairs of the four organs, e.g. ``2.31 [7/8]``; an organ without any value reads ``n/a``. Leaving out a miss
flatters the method (its ASSD covers only what it found), hence the count everywhere. ``assd_miss_penalty``
counts a miss instead: ``"diagonal"`` as its volume's diagonal (in the record's unit; no real error exceeds
it), a number as that distance; the cells then say how many values are penalties, e.g. ``9.80 (8.10) [1 pen.]``.

Use (notebook 05 and ``ctl.evaluate.runs``)::

    records = [dict(score.as_dict(), subject=subject_id, method=name, seed=seed)
               for score in score_volume(pred, truth, spacing).values()]   # per test volume
    results = summarize_all(records)
    print(table1(results, data_label="this run: phantom, cpu preset").to_markdown())
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from ctl.organs import ORGAN_ORDER, ORGAN_TITLES


@dataclass(frozen=True)
class PaperRow:
    """One row of Table 1 AS PRINTED IN THE PAPER (Zeng, Fan et al., ICASSP 2022): real CT -> CHAOS MR data."""

    key: str  # the paper's label: "M1".."M4" or "Ours"
    name: str  # the method it cites
    method: str  # the ``ctl.methods`` name of our re-implementation
    dice: tuple[tuple[float, float], ...]  # (mean, std) in %, in ctl.organs.ORGAN_ORDER
    dice_mean: float  # as printed
    assd: tuple[tuple[float, float], ...]  # (mean, std), unit not stated in the paper, in ORGAN_ORDER
    assd_mean: float  # as printed


# Copied from the paper's Table 1 and labelled as such wherever shown. Do not edit to "fix" it: see paper_notes().
PAPER_TABLE1: tuple[PaperRow, ...] = (
    PaperRow("M1", "CycleGAN [4]", "cyclegan", ((37.9, 10.8), (65.8, 3.2), (59.2, 8.0), (66.5, 4.8)), 57.4,
             ((7.1, 1.3), (4.5, 1.4), (5.0, 1.5), (3.8, 0.6)), 5.0),
    PaperRow("M2", "SynSeg-Net [2]", "synseg", ((49.7, 12.6), (76.9, 3.8), (76.7, 5.9), (77.8, 4.7)), 70.3,
             ((7.0, 2.2), (4.4, 1.1), (1.9, 1.0), (3.5, 0.6)), 4.2),
    PaperRow("M3", "AdaptSegNet [7]", "adaptseg", ((84.2, 7.4), (80.3, 4.6), (84.7, 6.3), (66.2, 4.9)), 78.9,
             ((1.4, 1.4), (3.2, 1.8), (1.6, 1.8), (4.3, 0.8)), 2.6),
    PaperRow("M4", "SIFA [11]", "sifa", ((75.1, 8.7), (88.3, 1.5), (85.3, 6.3), (68.1, 4.5)), 79.2,
             ((3.3, 0.4), (2.0, 2.2), (3.0, 1.6), (1.8, 1.0)), 2.5),
    PaperRow("Ours", "(contrastive translation)", "ours",
             ((76.6, 10.5), (76.6, 10.5), (83.3, 5.5), (83.4, 1.2)), 82.3,
             ((3.5, 2.7), (2.1, 0.4), (2.1, 1.7), (2.4, 0.5)), 2.5),
)
PAPER_ASSD_UNIT = "not stated"
# Our methods that are not in the paper's table: the bounds, shown as extra rows after the compared methods.
BOUNDS = {"source_only": "lower bound: U trained on CT only", "oracle": "upper bound: U trained on MR labels"}


def paper_notes(tolerance: float = 0.1) -> list[str]:
    """Where a printed Mean differs from the mean of the printed organ values by more than rounding allows.

    Each printed value is rounded to 0.1, so the two can differ by up to 0.05 + 0.05 = ``tolerance``.
    """
    notes = []
    for row in PAPER_TABLE1:
        for metric, values, printed in (("Dice", row.dice, row.dice_mean), ("ASSD", row.assd, row.assd_mean)):
            computed = sum(mean for mean, _ in values) / len(values)
            if abs(computed - printed) > tolerance + 1e-9:
                notes.append(f"paper, {row.key} {metric}: the printed Mean {printed} is not the mean of the "
                             f"printed organ values ({computed:.2f})")
    if PAPER_TABLE1[-1].dice[0] == PAPER_TABLE1[-1].dice[1]:
        notes.append("paper, Ours Dice: Spleen and Left Kidney are printed identically, 76.6 (10.5); one of them "
                     "is probably a typesetting error")
    return notes


@dataclass(frozen=True)
class Stat:
    """Mean and standard deviation of one metric for one organ across volumes."""

    mean: float  # NaN only when n == 0
    std: float
    n: int  # volumes with a defined value (penalties included)
    n_missing: int  # volumes left out (empty masks; see the module docstring)
    n_penalised: int = 0  # of the n values, how many are the miss penalty


@dataclass(frozen=True)
class MethodResult:
    """One method's Table 1 row: per-organ Dice (%) and ASSD statistics across test volumes."""

    method: str
    dice: dict[str, Stat]
    assd: dict[str, Stat]
    assd_unit: str
    subjects: tuple[str, ...]
    seeds: tuple = (None,)  # the seeds pooled (None: records without a seed)
    assd_miss_penalty: str | float | None = None  # how missed organs entered the ASSD (see the module docstring)

    @property
    def dice_mean(self) -> float:
        """Mean of the four organ means, as the paper's Mean column; NaN if an organ has no value."""
        return float(np.mean([self.dice[o].mean for o in ORGAN_ORDER]))

    @property
    def assd_mean(self) -> float:
        """Mean of the four organ ASSD means; read it with ``assd_counts`` (misses are left out unless penalised)."""
        return float(np.mean([self.assd[o].mean for o in ORGAN_ORDER]))

    @property
    def dice_counts(self) -> tuple[int, int, int]:
        """(defined, total, penalised) (volume, organ) pairs behind ``dice_mean``."""
        return _counts(self.dice)

    @property
    def assd_counts(self) -> tuple[int, int, int]:
        """(defined, total, penalised) (volume, organ) pairs behind ``assd_mean`` (defined < total: left out)."""
        return _counts(self.assd)

    def missed(self) -> dict[str, tuple[int, int]]:
        """Organ -> (volumes where it was missed or invented, volumes), for organs with any. An organ absent from
        truth and prediction is no miss: its Dice is missing too (Dice is undefined only then)."""
        counts = {o: (s.n_missing + s.n_penalised - self.dice[o].n_missing, s.n + s.n_missing)
                  for o, s in self.assd.items()}
        return {o: kn for o, kn in counts.items() if kn[0]}


def _counts(stats: Mapping[str, Stat]) -> tuple[int, int, int]:
    chosen = [stats[o] for o in ORGAN_ORDER]
    return sum(s.n for s in chosen), sum(s.n + s.n_missing for s in chosen), sum(s.n_penalised for s in chosen)


def _stat(values: list, ddof: int, penalised: int = 0) -> Stat:
    defined = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not defined:
        return Stat(float("nan"), float("nan"), 0, len(values))
    std = float(np.std(defined, ddof=ddof)) if len(defined) > ddof else float("nan")
    return Stat(float(np.mean(defined)), std, len(defined), len(values) - len(defined), penalised)


MISS_STATUSES = ("empty_prediction", "empty_truth")  # a missed organ, an invented one: ASSD undefined, penalisable


def _penalty(record: Mapping, assd_miss_penalty: str | float) -> float:
    if assd_miss_penalty != "diagonal":  # a fixed distance
        return float(assd_miss_penalty)
    if record.get("volume_diagonal") is None:
        raise ValueError(f"assd_miss_penalty='diagonal' needs each record's volume_diagonal, which records of "
                         f"{record.get('subject')!r} lack (evaluated by an older ctl); evaluate the run again")
    return float(record["volume_diagonal"])


def summarize(records: Iterable[Mapping], method: str, *, ddof: int = 0,
              assd_miss_penalty: str | float | None = None) -> MethodResult:
    """Aggregate one method's per-volume, per-organ records into mean/std per organ.

    Args:
        records: dicts with "subject", "organ", "dice" (fraction or None), "assd" (or None), "assd_unit",
            "status", and optionally "method" and "seed"; records of other methods are skipped. Records of
            several seeds are pooled: each (subject, seed) pair counts as one volume.
        method: the method to aggregate.
        ddof: of the standard deviation (0: population).
        assd_miss_penalty: None leaves the ASSD of a missed (or invented) organ out, counted; "diagonal" counts it
            as the record's "volume_diagonal" (in the record's unit); a number as that distance.
    Raises:
        ValueError: no records for the method; a (subject, seed, organ) twice; an organ missing for a subject;
            mixed ASSD units; a bad penalty, or "diagonal" with records that lack the diagonal.
    """
    if not (assd_miss_penalty in (None, "diagonal")
            or isinstance(assd_miss_penalty, (int, float)) and 0 <= assd_miss_penalty < math.inf):
        raise ValueError(f"assd_miss_penalty={assd_miss_penalty!r}; use None (leave misses out, counted), "
                         f"'diagonal' or a distance >= 0 in the records' unit")
    rows = [r for r in records if r.get("method", method) == method and r["organ"] in ORGAN_ORDER]
    if not rows:
        raise ValueError(f"no records for method {method!r} and organs {ORGAN_ORDER}")
    units = {r["assd_unit"] for r in rows}
    if len(units) != 1:
        raise ValueError(f"records of {method!r} mix ASSD units {sorted(units)}; evaluate them in one unit")
    seen: dict[str, set] = defaultdict(set)
    for r in rows:
        volume = (r["subject"], r.get("seed"))
        if volume in seen[r["organ"]]:
            raise ValueError(f"{method!r}: subject {r['subject']!r} (seed {r.get('seed')}) scored twice for "
                             f"{r['organ']}; each test volume must appear once")
        seen[r["organ"]].add(volume)
    volumes = set().union(*seen.values())
    for organ in ORGAN_ORDER:
        if seen[organ] != volumes:
            raise ValueError(f"{method!r}: {organ} is missing for {sorted(map(str, volumes - seen[organ]))}")

    def dice_stat(organ: str) -> Stat:
        return _stat([None if r["dice"] is None else 100.0 * r["dice"] for r in rows if r["organ"] == organ], ddof)

    def assd_stat(organ: str) -> Stat:
        column = [r for r in rows if r["organ"] == organ]
        if assd_miss_penalty is None:
            return _stat([r["assd"] for r in column], ddof)
        # An organ absent from truth and prediction stays missing; only a missed or invented organ is penalised.
        missed = [r.get("status") in MISS_STATUSES for r in column]
        values = [_penalty(r, assd_miss_penalty) if miss else r["assd"] for r, miss in zip(column, missed)]
        return _stat(values, ddof, penalised=sum(missed))

    return MethodResult(method=method, dice={o: dice_stat(o) for o in ORGAN_ORDER},
                        assd={o: assd_stat(o) for o in ORGAN_ORDER}, assd_unit=units.pop(),
                        subjects=tuple(sorted({s for s, _ in volumes})),
                        seeds=tuple(sorted({seed for _, seed in volumes}, key=str)),
                        assd_miss_penalty=assd_miss_penalty)


def summarize_all(records: Iterable[Mapping], **options) -> dict[str, MethodResult]:
    """``summarize`` for every method named in the records' "method" field, in order of first appearance."""
    records = list(records)
    methods = list(dict.fromkeys(r["method"] for r in records))
    return {m: summarize(records, m, **options) for m in methods}


def _flags(n: int, total: int, penalised: int) -> str:
    """' [n/total]' when values were left out, ' [k pen.]' when k values are the miss penalty, else ''."""
    return (f" [{n}/{total}]" if n < total else "") + (f" [{penalised} pen.]" if penalised else "")


def _cell(stat: Stat, digits: int) -> str:
    """'76.6 (10.5)', with '[n/total]' when volumes were left out (or 'n/a [0/total]'), '[k pen.]' when penalised."""
    flags = _flags(stat.n, stat.n + stat.n_missing, stat.n_penalised)
    if stat.n == 0:
        return "n/a" + flags
    std = "n/a" if math.isnan(stat.std) else f"{stat.std:.{digits}f}"
    return f"{stat.mean:.{digits}f} ({std}){flags}"


def _mean_cell(value: float, counts: tuple[int, int, int], digits: int) -> str:
    """The Mean column: the value, with the (volume, organ) pairs it covers when some were left out or penalised."""
    return ("n/a" if math.isnan(value) else f"{value:.{digits}f}") + _flags(*counts)


@dataclass(frozen=True)
class Table1:
    """Table 1 as text cells: ``header`` names every column, ``rows`` hold the cells, ``notes`` go below."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...]

    def to_markdown(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines + [""] + [f"- {note}" for note in self.notes])

    def to_text(self) -> str:
        table = [self.header, *self.rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(self.header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines + [""] + [f"* {note}" for note in self.notes])

    def __str__(self) -> str:
        return self.to_text()


def table1(results: Mapping[str, MethodResult], *, data_label: str, include_paper: bool = True,
           dice_digits: int = 1, assd_digits: int = 2) -> Table1:
    """Lay out Table 1 as the paper does, with our rows beside the paper's and the bounds as extra rows.

    Rows: for each of the paper's M1, M2, M3, M4, Ours: the paper's printed row, then our re-implementation's
    row if ``results`` has it; then any other method of ours; then the ``source_only`` and ``oracle`` bounds.

    Args:
        results: method name -> ``MethodResult`` (from ``summarize_all``).
        data_label: says where our numbers come from, e.g. "this run: phantom, cpu preset".
        include_paper: False leaves the paper's rows out.
        dice_digits, assd_digits: decimals shown (the paper shows 1 for both).
    Raises:
        ValueError: when our results mix ASSD units.
    """
    units = {r.assd_unit for r in results.values()}
    if len(units) > 1:
        raise ValueError(f"results mix ASSD units {sorted(units)}; build one table per unit")
    unit = units.pop() if units else ""
    organs = [ORGAN_TITLES[o] for o in ORGAN_ORDER] + ["Mean"]
    assd_title = f"ASSD {unit} (STD)" if unit else "ASSD (STD)"
    header = ("Approach", "Data", *(f"Dice % (STD): {o}" if i == 0 else o for i, o in enumerate(organs)),
              *(f"{assd_title}: {o}" if i == 0 else o for i, o in enumerate(organs)))

    def ours(name: str, label: str) -> tuple[str, ...]:
        r = results[name]
        return (label, data_label, *(_cell(r.dice[o], dice_digits) for o in ORGAN_ORDER),
                _mean_cell(r.dice_mean, r.dice_counts, dice_digits),
                *(_cell(r.assd[o], assd_digits) for o in ORGAN_ORDER),
                _mean_cell(r.assd_mean, r.assd_counts, assd_digits))

    rows, placed = [], set()
    for paper in PAPER_TABLE1:
        if include_paper:
            rows.append((f"{paper.key} {paper.name}", "paper (real CT->MR)",
                         *(f"{m:.1f} ({s:.1f})" for m, s in paper.dice), f"{paper.dice_mean:.1f}",
                         *(f"{m:.1f} ({s:.1f})" for m, s in paper.assd), f"{paper.assd_mean:.1f}"))
        if paper.method in results:
            rows.append(ours(paper.method, paper.method if paper.key == "Ours" else f"{paper.method} ({paper.key})"))
            placed.add(paper.method)
    for name in results:
        if name not in placed and name not in BOUNDS:
            rows.append(ours(name, name))
    for name, role in BOUNDS.items():
        if name in results:
            rows.append(ours(name, f"{name} ({role})"))

    seeds = max((len(r.seeds) for r in results.values()), default=1)
    spread = ("across test volumes" if seeds == 1 else
              f"across (test volume, seed) pairs: each volume scored once per seed ({seeds} seeds), so the STD mixes "
              f"the spread across volumes with the spread across seeds")
    notes = [f"Dice in %, mean (standard deviation, ddof 0) {spread}; Mean = mean of the four organ "
             f"means. Our ASSD in {unit or '(no rows of ours)'}; the paper's ASSD unit is {PAPER_ASSD_UNIT}."]
    if any(s.n_missing for r in results.values() for s in (*r.dice.values(), *r.assd.values())):
        notes.append("[n/N]: only n of N test volumes had a defined value (an empty prediction or truth leaves "
                     "ASSD undefined; an organ absent from both leaves Dice undefined); mean and STD are over those n. "
                     "In the Mean column n/N counts (volume, organ) pairs over the four organs. An ASSD that leaves "
                     "out a missed organ flatters the method: it covers only what was found.")
    penalties = {r.assd_miss_penalty for r in results.values()} - {None}
    if penalties:
        what = "the volume's diagonal" if penalties == {"diagonal"} else f"{', '.join(map(str, penalties))} {unit}"
        notes.append(f"[k pen.]: k of the ASSD values are a missed (or invented) organ counted as {what}, the "
                     f"penalty chosen for misses.")
    if include_paper:
        notes += paper_notes()
    return Table1(tuple(header), tuple(rows), tuple(notes))


def summary_records(results: Mapping[str, MethodResult]) -> list[dict]:
    """Flat rows (method, metric, organ, mean, std, n, n_missing, n_penalised, unit) for a CSV; NaN becomes None."""
    rows = []
    for r in results.values():
        for metric, stats, unit in (("dice", r.dice, "%"), ("assd", r.assd, r.assd_unit)):
            for organ in ORGAN_ORDER:
                s = stats[organ]
                rows.append({"method": r.method, "metric": metric, "organ": organ, "unit": unit,
                             "mean": None if math.isnan(s.mean) else s.mean,
                             "std": None if math.isnan(s.std) else s.std, "n": s.n, "n_missing": s.n_missing,
                             "n_penalised": s.n_penalised})
    return rows
