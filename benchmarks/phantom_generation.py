"""Time ``python -m ctl phantom`` (generation and writing) on ONE CPU core; write the result as JSON.

    python benchmarks/phantom_generation.py                      # the default: 30 CT + 20 MR at 256 px
    python benchmarks/phantom_generation.py --n-ct 2 --n-mr 2 --size 64 --out-json /tmp/check.json

The target: the default counts at 256 px in under a minute on one core. The process is pinned to one
core (where the OS allows) and numerical libraries to one thread before they are imported.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"):
    os.environ[var] = "1"

RESULTS = Path(__file__).resolve().parent / "results" / "phantom_generation.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-ct", type=int, default=30)
    parser.add_argument("--n-mr", type=int, default=20)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-json", default=str(RESULTS))
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    # imported here, after the pinning above, so that the numerical libraries size their thread pools for one core
    from ctl.data.write import generate_phantom

    with tempfile.TemporaryDirectory() as tmp:
        start, cpu_start = time.perf_counter(), time.process_time()
        out = generate_phantom(Path(tmp) / "phantom", args.n_ct, args.n_mr, args.seed, args.size)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
        files = sum(1 for p in out.rglob("*") if p.is_file())
    result = {
        "benchmark": "phantom_generation", "n_ct": args.n_ct, "n_mr": args.n_mr, "size": args.size,
        "seed": args.seed, "wall_seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
        "seconds_per_subject": round(seconds / (args.n_ct + args.n_mr), 3), "files": files,
        "megabytes_written": round(size_mb, 1), "cores": 1, "target_seconds": 60,
        "python": platform.python_version(), "machine": platform.machine(), "processor": platform.processor(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "date": datetime.now().isoformat(timespec="seconds"),
    }
    Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_json).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
