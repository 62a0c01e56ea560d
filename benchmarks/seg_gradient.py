"""Does it matter that L_seg's gradient reaches G (eq. 1 as one objective) at a preset's budget? ``ours`` trained
with ``seg_grad_to_generator`` True (the default) and False (U learns on G(CT).detach(): translation and
segmentation only share data), several training seeds each, on a held-out phantom seed.

Usage:
    python benchmarks/seg_gradient.py --preset cpu --phantom-seed 101 --seeds 0 1 2

Both variants are trained the same way, by ``ctl.teach.short_runs.train_variant`` (the training step of the method
itself, without the loop's augmentation, learning-rate decay and checkpoints), for the preset's iterations, so
they compare with each other, not with ``benchmarks/heldout.py``'s runs. Scored on the phantom's test volumes:
mean Dice on MR (Table 1's Mean) and, for G, the content Dice (the oracle of ``benchmarks/heldout.py`` for the same
phantom and training seed, segmenting G(CT), against the CT labels) and SSIM to the paired MR truth in the body.
Runs go side by side, one thread each (the oracle runs must exist: run heldout.py for this phantom seed first).

Written to benchmarks/results/seg_gradient_<preset>.json: every run, and per variant the mean and standard
deviation over training seeds. Notebook 04's exercise 3 quotes it.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {"L_seg reaches G (default)": True, "L_seg detached from G": False}


def one_run(preset_name: str, prepared: str, oracle_dir: str, seed: int, to_generator: bool) -> dict:
    """Train one variant at one seed on one thread and score it."""
    import torch

    from ctl.evaluate.translation_fidelity import translation_fidelity
    from ctl.methods import Ours, OursConfig
    from ctl.presets import get_preset
    from ctl.teach.short_runs import mean_dice, train_variant
    from ctl.training import load_or_train

    torch.set_num_threads(1)
    preset = get_preset(preset_name, env={})
    config = replace(OursConfig.from_preset(preset), seg_grad_to_generator=to_generator)
    tic = time.perf_counter()
    method, _ = train_variant(lambda: Ours(config), Path(prepared), preset, seed=seed)
    seconds = time.perf_counter() - tic
    oracle = load_or_train("oracle", Path(prepared), preset, Path(oracle_dir), seed=seed, device="cpu")
    report = translation_fidelity({"ours": method.translate}, prepared, oracle.segmenter, data_source="phantom",
                                  references=False)["ours"].summary()
    return {"seed": seed, "seg_grad_to_generator": to_generator, "seconds": round(seconds, 1),
            "dice_mean": mean_dice(method, Path(prepared)), "content_dice": report["content_dice"],
            "ssim_body": report["ssim_body"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--phantom-seed", type=int, default=101)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", default="build/heldout/data")
    parser.add_argument("--runs", default="build/heldout/runs", help="where heldout.py trained the oracles")
    args = parser.parse_args()
    prepared = Path(args.data) / "prepared" / f"phantom-{args.preset}-seed{args.phantom_seed}"
    oracles = Path(args.runs) / f"phantom{args.phantom_seed}"
    missing = [s for s in args.seeds if not (oracles / f"oracle-seed{s}" / "final.pt").exists()]
    if not prepared.is_dir() or missing:
        raise SystemExit(f"needs {prepared} and the oracle runs of seeds {missing or args.seeds} under {oracles}: run "
                         f"benchmarks/heldout.py --preset {args.preset} --phantom-seeds {args.phantom_seed} first")
    jobs = [(args.preset, str(prepared), str(oracles / f"oracle-seed{s}"), s, flag)
            for s in args.seeds for flag in VARIANTS.values()]
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        rows = pool.starmap(one_run, jobs)
    summary = {}
    for name, flag in VARIANTS.items():
        mine = [r for r in rows if r["seg_grad_to_generator"] == flag]
        summary[name] = {key: {"mean": float(np.mean([r[key] for r in mine])),
                               "std": float(np.std([r[key] for r in mine])), "n": len(mine)}
                         for key in ("dice_mean", "content_dice", "ssim_body")}
        print(f"{name:28s} " + "  ".join(f"{k} {v['mean']:.2f} +- {v['std']:.2f}" for k, v in summary[name].items()))
    record = {"preset": args.preset, "phantom_seed": args.phantom_seed, "seeds": args.seeds,
              "date": date.today().isoformat(), "trained_by": "ctl.teach.short_runs.train_variant, one thread each",
              "runs": rows, "summary": summary}
    out = RESULTS / f"seg_gradient_{args.preset}.json"
    out.write_text(json.dumps(record, indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
