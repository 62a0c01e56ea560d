"""Time every notebook of the series at one preset; writes ctl/teach/measured/notebook_times_<preset>.json
(package data: notebook 00's table reads it, also from an installed wheel).

Usage: python benchmarks/notebook_times.py --preset cpu
       python benchmarks/notebook_times.py --preset cpu --data data --run runs/notebooks   # see below
Notebook 00 reads these files for its runtime table. Run on an otherwise idle machine; the JSON records the
machine's CPU count and torch's thread count beside the seconds, and the largest resident memory of any notebook
kernel or of a training process it started (on Linux: ``getrusage(RUSAGE_CHILDREN)``, the maximum over every
finished descendant; it is not the sum: while ``ctl.training.parallel`` trains two methods beside the kernel, the
three together hold more, which ``parallel_workers`` allows only where that memory is free). The data
folder must not hold this preset's phantom yet (the time includes generating it); by default both folders are
fresh temporary ones. Given the notebooks' own default folders (``data``, ``runs/notebooks``; remove this
preset's phantom and runs from them first), the timed run also leaves the trained models where ``make
refresh-outputs`` finds them, so the committed outputs can show the times just measured.
"""
import argparse
import json
import os
import platform
import resource
import tempfile
from datetime import date
from pathlib import Path

import torch

from ctl.series import run_series

# package data of the checkout this script sits in: an installed ctl reads it from there (ctl.teach.measurements)
RESULTS = Path(__file__).resolve().parents[1] / "ctl" / "teach" / "measured"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="ci")
    parser.add_argument("--data", default=None, help="data folder (default: a fresh temporary folder)")
    parser.add_argument("--run", default=None, help="run folder (default: a fresh temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "data"
        if (data / "phantom" / f"{args.preset}-seed0").exists():
            raise SystemExit(f"{data} already holds the {args.preset} phantom: the time would leave out generating "
                             f"it; move it away or choose another --data")
        records = run_series(args.preset, Path(tmp) / "out", data_dir=data,
                             run_dir=Path(args.run) if args.run else Path(tmp) / "run",
                             notebook_dir=Path(__file__).resolve().parents[1] / "notebooks")
    record = {"preset": args.preset, "date": date.today().isoformat(), "machine": platform.processor() or
              platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
              "cuda": torch.cuda.is_available(), "notebooks": records,
              # the largest resident set of any process this one started and waited for: the notebook kernels
              # (one per notebook) and the training processes they ran; Binder gives 2 GB in all
              "peak_kernel_memory_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
              "note": "includes generating the phantom for this preset from scratch"}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"notebook_times_{args.preset}.json"
    out.write_text(json.dumps(record, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
