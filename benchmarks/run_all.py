"""Run every benchmark of this folder once, one after the other, with its default settings (``make bench``).

Usage: python benchmarks/run_all.py [--only assd_speed training_step ...]
Each script writes its own JSON into ``benchmarks/results/``; this runner only starts them and stops at the
first one that fails. Run it on an otherwise idle machine: the scripts record the load average, and on a
2-core CPU one other busy process slows torch several times over.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# script -> its arguments; notebook_times runs the ci preset here (the cpu preset takes about an hour)
BENCHMARKS = {
    "assd_speed": [],
    "phantom_generation": [],
    "translation_step": ["--reference", "--schedule", "both", "--precisions", "float32", "auto", "--channels-last"],
    "training_step": [],
    "parallel_training": [],
    "notebook_times": ["--preset", "ci"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run these benchmarks only")
    args = parser.parse_args()
    for name in args.only or BENCHMARKS:
        command = [sys.executable, str(HERE / f"{name}.py"), *BENCHMARKS[name]]
        print(f"== {' '.join(command[1:])}", flush=True)
        start = time.perf_counter()
        result = subprocess.run(command)
        if result.returncode != 0:
            sys.exit(f"benchmarks/{name}.py failed (exit {result.returncode}); the ones before it wrote their JSON")
        print(f"== {name}: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
