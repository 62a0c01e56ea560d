"""Several methods trained one after the other on every core, against side by side in processes of their own
(``ctl.training.parallel``): the wall-clock time of the same short runs both ways.

Usage: python benchmarks/parallel_training.py [--preset cpu] [--iterations 150]
                                              [--methods sifa cyclegan synseg adaptseg] [--workers N]
Writes results/parallel_training_<preset>.json.

Both ways train the same methods, for ``--iterations`` iterations at the preset's sizes, on the preset's phantom
(data seed 0, prepared under --data, default ``data`` as the notebooks do) into fresh temporary run folders:
first one after the other in this process with torch's default thread count, then with
``load_or_train_many`` (``--workers``, default: what ``parallel_workers`` picks on this machine). Each
method's own seconds (its ``summary.json``) are kept beside the totals. The ratio is what the notebooks gain
where they train several methods in one cell. Run it on an otherwise idle machine (the JSON records the load
average before and after).
"""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from step_timing import machine_record  # benchmarks/step_timing.py

from ctl.data import ensure_phantom_prepared
from ctl.presets import get_preset
from ctl.training import TrainConfig, load_or_train, read_summary
from ctl.training.parallel import load_or_train_many, parallel_workers, usable_cores

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--methods", nargs="+", default=["sifa", "cyclegan", "synseg", "adaptseg"])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--data", default="data")
    args = parser.parse_args()
    preset = get_preset(args.preset, env={}).replace(iterations=args.iterations,
                                                     checkpoint_every=args.iterations)
    prepared = ensure_phantom_prepared(args.data, get_preset(args.preset, env={}), seed=0)
    quiet, device = TrainConfig(progress=False), torch.device("cpu")
    workers = args.workers or parallel_workers(len(args.methods), device)
    load_before = os.getloadavg()[0]
    ways = {}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {way: {m: Path(tmp) / way / m for m in args.methods} for way in ("sequential", "parallel")}
        tic = time.perf_counter()
        for method, folder in folders["sequential"].items():
            load_or_train(method, prepared, preset, folder, device=device, config=quiet)
        ways["sequential"] = {"workers": 1, "threads_each": torch.get_num_threads(),
                              "seconds": round(time.perf_counter() - tic, 1)}
        tic = time.perf_counter()
        threads = max(1, usable_cores() // workers)
        load_or_train_many(folders["parallel"], prepared, preset, device=device, config=quiet, workers=workers,
                           threads=threads)
        ways["parallel"] = {"workers": workers, "threads_each": threads,
                            "seconds": round(time.perf_counter() - tic, 1)}
        for way, runs in folders.items():
            ways[way]["method_seconds"] = {m: read_summary(f)["seconds"] for m, f in runs.items()}
    speedup = ways["sequential"]["seconds"] / ways["parallel"]["seconds"]
    record = {**machine_record(device), "usable_cores": usable_cores(), "preset": args.preset,
              "iterations": args.iterations, "methods": args.methods, **ways, "speedup": round(speedup, 3),
              "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
              "note": "wall-clock seconds including process start-up and data loading; the parallel way trains "
                      "the methods in the order given, longest first"}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"parallel_training_{args.preset}.json"
    out.write_text(json.dumps(record, indent=2))
    print(f"sequential {ways['sequential']['seconds']} s, parallel ({workers} workers) "
          f"{ways['parallel']['seconds']} s: {speedup:.2f}x; wrote {out}")


if __name__ == "__main__":
    main()
