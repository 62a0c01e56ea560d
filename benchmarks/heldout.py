"""Does the method visibly work at a preset? Every method trained on phantom seeds no notebook or test uses,
with several training seeds, and the numbers that decide it (mean and standard deviation over training seeds).

Usage:
    python benchmarks/heldout.py --preset cpu --phantom-seeds 101 --seeds 0 1 2            # everything
    python benchmarks/heldout.py --preset cpu --phantom-seeds 101 --seeds 0 --methods ours oracle source_only
    python benchmarks/heldout.py --preset cpu --seeds 0 --methods ours --iterations 10000   # the reference recipe
    python benchmarks/heldout.py --preset cpu --seeds 0 1 2 --references   # everything, and the shipped weights
    # the committed record (ctl/teach/measured/heldout_cpu.json): two phantom seeds, 7 methods x 3 training seeds
    python benchmarks/heldout.py --preset cpu --phantom-seeds 101 202 --seeds 0 1 2 --references

For each phantom seed the preset's phantom is generated and prepared under DATA (default build/heldout/data);
each (method, training seed) is trained into RUNS/<phantom seed>/ (``ctl.training.parallel.train_many``: several
runs side by side on a CPU with more than one core, the longest first; an interrupted measurement resumes where
it stopped) and scored on the MR test volumes (``ctl.evaluate``: Dice in %
and ASSD in mm per organ and volume). Each translating method's G is also scored on the CT test volumes
(``ctl.evaluate.translation_fidelity``): SSIM to the paired MR truth inside the body and the content Dice (the
oracle of the same phantom seed and training seed segmenting G(CT), against the CT labels).

Written to ctl/teach/measured/heldout_<preset>.json (package data: notebook 05 reads the spread over training
seeds; with --iterations N to benchmarks/results/heldout_<preset>_<N>.json): per phantom seed, method and
training seed the scores; per phantom seed and method the mean and standard deviation over training seeds
(``by_phantom``); per method over all phantom seeds (``summary``, see ``summarise``); with --references the
shipped reference weights' scores; and the checks of the issue that asked for this benchmark (``issue_checks``),
on each phantom seed and over all of them:
  ours >= 0.9 x oracle and >= source_only + 30 (mean Dice); oracle >= every adapted method;
  content Dice of ours >= 85 % and its SSIM >= 0.60 (the student's run, and the shipped reference weights).
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import date
from pathlib import Path

import numpy as np

from ctl.data import ensure_phantom_prepared
from ctl.evaluate import evaluate_segmenter
from ctl.evaluate.table1 import ORGAN_ORDER
from ctl.evaluate.translation_fidelity import translation_fidelity
from ctl.methods import METHODS
from ctl.presets import get_preset
from ctl.training import load_or_train, read_summary
from ctl.training.parallel import TrainingJob, train_many
from ctl.training.reference import REFERENCE_DIR, load_reference

RESULTS = Path(__file__).resolve().parent / "results"  # runs at other iterations than the preset's
# the preset's own measurement is package data: notebook 05's discussion reads its spread over training seeds
MEASURED = Path(__file__).resolve().parents[1] / "ctl" / "teach" / "measured"
TABLE_METHODS = [name for name, cls in METHODS.items() if cls.in_table1]
# the methods by their step time at the cpu preset, longest first (ctl/teach/measured/training_step_cpu.json: sifa
# 284 ms ... oracle 62 ms): workers that start with the longest runs end at about the same time
LONGEST_FIRST = ["sifa", "cyclegan", "synseg", "ours", "adaptseg", "source_only", "oracle"]


def scores(method, prepared: Path, seed: int) -> dict:
    """Mean Dice (%) and ASSD (mm) per organ over the MR test volumes, and their means over the organs."""
    evaluation = evaluate_segmenter(method.segmenter, prepared, method=method.name, seed=seed)
    records = [r for r in evaluation.records if r["assd_unit"] == "mm"]
    dice = {o: 100 * float(np.mean([r["dice"] or 0.0 for r in records if r["organ"] == o])) for o in ORGAN_ORDER}
    assd = {o: [r["assd"] for r in records if r["organ"] == o and r["assd"] is not None] for o in ORGAN_ORDER}
    missed = sum(len([r for r in records if r["organ"] == o]) - len(assd[o]) for o in ORGAN_ORDER)
    return {"dice": dice, "dice_mean": float(np.mean(list(dice.values()))),
            "assd": {o: float(np.mean(v)) if v else None for o, v in assd.items()},
            "assd_mean": float(np.mean([np.mean(v) for v in assd.values() if v])), "assd_missed": missed}


def train_all(preset, run_preset, prepared: Path, runs: Path, methods: list[str], seeds: list[int], suffix: str,
              workers: int | None) -> None:
    """Every (method, training seed) run of one phantom seed, and the preset's oracle of each seed (for the content
    Dice), trained where not yet finished: ``methods`` for ``run_preset``'s iterations, the oracle for ``preset``'s."""
    def jobs(names, folder_suffix):
        return {f"{m} seed {s}": TrainingJob(m, runs / f"{m}-seed{s}{folder_suffix}", s)
                for m in sorted(names, key=LONGEST_FIRST.index) for s in seeds}
    if suffix:  # other iterations than the preset's: the oracle that scores them is still the preset's own
        train_many(jobs(methods, suffix), prepared, run_preset, device="cpu", workers=workers)
        train_many(jobs(["oracle"], ""), prepared, preset, device="cpu", workers=workers)
    else:  # methods holds the oracle
        train_many(jobs(methods, ""), prepared, preset, device="cpu", workers=workers)


def run_one(preset, prepared: Path, runs: Path, method: str, seed: int, oracle, suffix: str = "") -> dict:
    run = runs / f"{method}-seed{seed}{suffix}"
    trained = load_or_train(method, prepared, preset, run, seed=seed, device="cpu")
    summary = read_summary(run)  # seconds on which device and threads: runs trained side by side get one each
    row = {"seconds": summary["seconds"], "device": summary.get("device"), **scores(trained, prepared, seed)}
    if trained.generator is not None:
        report = translation_fidelity({method: trained.translate}, prepared, oracle.segmenter,
                                      data_source="phantom", references=False)[method].summary()
        row.update(ssim_body=report["ssim_body"], content_dice=report["content_dice"])
    return row


def score_references(preset, prepared: Path, oracle) -> dict:
    """The shipped reference weights of the preset (``ctl/reference/<method>-<preset>.pt``, trained on the
    notebooks' phantom) scored on this phantom seed's test volumes: Dice/ASSD of their segmenter where they have
    one, content Dice (this phantom's oracle) and SSIM of their G."""
    rows = {}
    for path in sorted(REFERENCE_DIR.glob(f"*-{preset.name}.pt")):
        reference = load_reference(path.stem.removesuffix(f"-{preset.name}"), preset.name, path=path)
        method, row = reference.method, {"iterations": reference.record["iterations"]}
        if method.in_table1:  # a segmenting method (the translation-only ones have no segmenter)
            row.update(scores(method, prepared, seed=0))
        report = translation_fidelity({method.name: method.translate}, prepared, oracle.segmenter,
                                      data_source="phantom", references=False)[method.name].summary()
        rows[method.name] = {**row, "ssim_body": report["ssim_body"], "content_dice": report["content_dice"]}
    return rows


def issue_checks(summary: dict, references: dict | None = None, prefix: str = "") -> dict[str, bool]:
    """The criteria of "the method visibly works" on the means over training seeds (and, when scored, on the
    shipped reference weights of ``ours`` on each phantom seed). ``prefix`` starts every check's name."""
    dice = {m: summary[m]["dice_mean"]["mean"] for m in summary}
    adapted = [m for m in dice if m not in ("oracle", "source_only")]
    checks = {}
    if {"ours", "oracle", "source_only"} <= set(dice):
        checks[f"{prefix}ours >= 0.9 x oracle"] = dice["ours"] >= 0.9 * dice["oracle"]
        checks[f"{prefix}ours >= source_only + 30"] = dice["ours"] >= dice["source_only"] + 30
    if "oracle" in dice and adapted:
        checks[f"{prefix}oracle >= every adapted method"] = all(dice["oracle"] >= dice[m] for m in adapted)
    if "ours" in summary and "content_dice" in summary["ours"]:
        checks[f"{prefix}content Dice of ours >= 85"] = summary["ours"]["content_dice"]["mean"] >= 85
        checks[f"{prefix}SSIM of ours >= 0.60"] = summary["ours"]["ssim_body"]["mean"] >= 0.60
    for phantom_seed, rows in (references or {}).items():
        if "ours" in rows:
            shipped = rows["ours"]
            checks[f"phantom {phantom_seed}: content Dice of the reference ours >= 85"] = shipped["content_dice"] >= 85
            checks[f"phantom {phantom_seed}: SSIM of the reference ours >= 0.60"] = shipped["ssim_body"] >= 0.60
    return checks


def spread(values: list[float]) -> dict:
    """Mean and (population) standard deviation of ``values``, and how many there are."""
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)}


SCORES = ("dice_mean", "assd_mean", "content_dice", "ssim_body")


def summarise(runs: dict) -> tuple[dict, dict]:
    """The spread over training seeds, per phantom seed and over all phantom seeds.

    Args:
        runs: {phantom seed: {method: {training seed: scores}}}, as in the record's "runs".
    Returns:
        ``by_phantom`` {phantom seed: {method: {score: spread over that phantom's training seeds}}}, and
        ``summary`` {method: {score: {"mean", "std", "n", "phantoms"}}}: the mean of the phantom seeds' means; the
        standard deviation over training seeds pooled over the phantom seeds (the root of their mean variance: how
        much a training seed alone moves a score, not how much the anatomy does); n, the fewest training seeds of
        a phantom seed; and the number of phantom seeds. With one phantom seed, ``summary`` is its ``by_phantom``.
    """
    by_phantom = {}
    for phantom_seed, per_method in runs.items():
        for method, per_seed in per_method.items():
            for key in SCORES:
                values = [row[key] for row in per_seed.values() if key in row]
                if values:
                    by_phantom.setdefault(phantom_seed, {}).setdefault(method, {})[key] = spread(values)
    summary = {}
    for method in dict.fromkeys(m for per_method in by_phantom.values() for m in per_method):
        for key in SCORES:
            spreads = [per_method[method][key] for per_method in by_phantom.values()
                       if key in per_method.get(method, {})]
            if spreads:
                summary.setdefault(method, {})[key] = {
                    "mean": float(np.mean([s["mean"] for s in spreads])),
                    "std": float(np.sqrt(np.mean([s["std"] ** 2 for s in spreads]))),
                    "n": min(s["n"] for s in spreads), "phantoms": len(spreads)}
    return by_phantom, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--phantom-seeds", type=int, nargs="+", default=[101])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--methods", nargs="+", default=TABLE_METHODS, choices=TABLE_METHODS)
    parser.add_argument("--iterations", type=int, default=None,
                        help="train the listed methods this long instead of the preset's iterations (run folders "
                             "<method>-seed<k>-it<N>; the oracle that scores the content Dice stays the preset's)")
    parser.add_argument("--references", action="store_true",
                        help="also score the shipped reference weights of the preset on each phantom seed")
    parser.add_argument("--workers", type=int, default=None,
                        help="runs trained side by side (default: as many as cores and memory allow, see "
                             "ctl.training.parallel.parallel_workers; 1: one after the other, on every core)")
    parser.add_argument("--data", default="build/heldout/data")
    parser.add_argument("--runs", default="build/heldout/runs")
    parser.add_argument("--out", default=None,
                        help="JSON file (default ctl/teach/measured/heldout_<preset>.json; with --iterations N "
                             "benchmarks/results/heldout_<preset>_<N>.json)")
    args = parser.parse_args()
    preset = get_preset(args.preset, env={})
    run_preset = preset.replace(iterations=args.iterations) if args.iterations else preset  # what the methods get
    suffix = f"-it{args.iterations}" if args.iterations else ""
    default_out = RESULTS / f"heldout_{preset.name}_{args.iterations}.json" if suffix else \
        MEASURED / f"heldout_{preset.name}.json"
    out = Path(args.out) if args.out else default_out
    record = {"preset": preset.name, "iterations": run_preset.iterations, "date": date.today().isoformat(),
              "phantom_seeds": args.phantom_seeds, "seeds": args.seeds, "runs": {}}
    # the content Dice needs the preset's oracle first; with --iterations the oracle row is trained that long too
    methods = ["oracle"] + [m for m in args.methods if m != "oracle"] if not suffix else args.methods
    for phantom_seed in args.phantom_seeds:
        prepared = ensure_phantom_prepared(args.data, preset, seed=phantom_seed)
        runs = Path(args.runs) / f"phantom{phantom_seed}"
        train_all(preset, run_preset, prepared, runs, methods, args.seeds, suffix, args.workers)
        for seed in args.seeds:  # everything is trained: load and score
            oracle = load_or_train("oracle", prepared, preset, runs / f"oracle-seed{seed}", seed=seed, device="cpu")
            for method in methods:
                tic = time.perf_counter()
                row = run_one(run_preset, prepared, runs, method, seed, oracle, suffix)
                record["runs"].setdefault(str(phantom_seed), {}).setdefault(method, {})[str(seed)] = row
                print(f"phantom {phantom_seed} {method} seed {seed}: Dice {row['dice_mean']:.1f} ASSD "
                      f"{row['assd_mean']:.2f} mm" + (f", content Dice {row['content_dice']:.1f}, SSIM "
                                                      f"{row['ssim_body']:.3f}" if "ssim_body" in row else "")
                      + f" ({time.perf_counter() - tic:.0f} s)", flush=True)
                out.write_text(json.dumps(record, indent=1))  # after every run: a stopped measurement keeps them
        if args.references:
            oracle = load_or_train("oracle", prepared, preset, runs / f"oracle-seed{args.seeds[0]}",
                                   seed=args.seeds[0], device="cpu")
            record.setdefault("references", {})[str(phantom_seed)] = score_references(preset, prepared, oracle)
            for method, row in record["references"][str(phantom_seed)].items():
                print(f"phantom {phantom_seed} reference {method} ({row['iterations']} it.): "
                      + (f"Dice {row['dice_mean']:.1f} ASSD {row['assd_mean']:.2f} mm, " if "dice_mean" in row else "")
                      + f"content Dice {row['content_dice']:.1f}, SSIM {row['ssim_body']:.3f}", flush=True)
    by_phantom, summary = summarise(record["runs"])
    record["by_phantom"], record["summary"] = by_phantom, summary
    checks = issue_checks(summary, record.get("references"))
    if len(by_phantom) > 1:  # and on each phantom seed alone
        for phantom_seed, per_method in by_phantom.items():
            checks.update(issue_checks(per_method, prefix=f"phantom {phantom_seed}: "))
    record["checks"] = checks
    out.write_text(json.dumps(record, indent=1))
    for method, row in summary.items():
        print(f"{method:12s} " + "  ".join(f"{k} {v['mean']:.2f} +- {v['std']:.2f}" for k, v in row.items()))
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")


if __name__ == "__main__":
    main()
