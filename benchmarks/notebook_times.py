"""Time every notebook of the series at one preset; writes ctl/teach/measured/notebook_times_<preset>.json
(package data: notebook 00's table reads it, also from an installed wheel).

Usage: python benchmarks/notebook_times.py --preset cpu
Notebook 00 reads these files for its runtime table. Run on an otherwise idle machine; the JSON records the
machine's CPU count and torch's thread count beside the seconds.
"""
import argparse
import json
import os
import platform
import tempfile
from datetime import date
from pathlib import Path

import torch

from ctl.teach.series import run_series

# package data of the checkout this script sits in: an installed ctl reads it from there (ctl.teach.measurements)
RESULTS = Path(__file__).resolve().parents[1] / "ctl" / "teach" / "measured"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="ci")
    parser.add_argument("--data", default=None, help="data folder (default: a fresh temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "data"
        records = run_series(args.preset, Path(tmp) / "out", data_dir=data, run_dir=Path(tmp) / "run",
                             notebook_dir=Path(__file__).resolve().parents[1] / "notebooks")
    record = {"preset": args.preset, "date": date.today().isoformat(), "machine": platform.processor() or
              platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
              "cuda": torch.cuda.is_available(), "notebooks": records,
              "note": "includes generating the phantom for this preset from scratch"}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"notebook_times_{args.preset}.json"
    out.write_text(json.dumps(record, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
