"""ASSD speed: ctl.evaluate.metrics.assd against medpy's assd on one 256x256x40 label-volume pair, same results checked.

Usage: python benchmarks/assd_speed.py [--repeats 5] [--size 256] [--slices 40]
Writes benchmarks/results/assd_speed.json. The pair is built here: four organ-like smooth ellipsoids (truth) and
a prediction that is shifted, grown or shrunk and has a false-positive blob, at MR-like spacing. Each organ is
timed on its own (medpy works on the whole array, ctl on the masks' joint bounding box), and a last case puts
two masks that span the whole volume (the crop then saves nothing) to show the floor of the speed-up.
Timings are the median of ``--repeats`` runs; the JSON records the machine and whether it was idle.
"""
import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path

import numpy as np
from medpy.metric.binary import assd as medpy_assd
from scipy.ndimage import gaussian_filter

from ctl.evaluate.metrics import assd
from ctl.organs import ORGAN_LABELS

RESULTS = Path(__file__).resolve().parent / "results"
SPACING = (7.0, 1.5, 1.5)  # (z, y, x) mm: a CHAOS T2-SPIR-like MR volume (256x256 in-plane, thick slices)

# organ -> (centre (z, y, x) as fractions of the volume, semi-axes in mm (z, y, x))
ELLIPSOIDS = {
    "liver": ((0.5, 0.45, 0.32), (60.0, 80.0, 70.0)),
    "right_kidney": ((0.55, 0.62, 0.30), (35.0, 25.0, 20.0)),
    "left_kidney": ((0.55, 0.62, 0.70), (35.0, 25.0, 20.0)),
    "spleen": ((0.45, 0.45, 0.75), (45.0, 35.0, 25.0)),
}


def ellipsoid(shape, centre, axes_mm, rng, wobble=0.15):
    """A smooth, randomly dented ellipsoid as a boolean mask on a grid of SPACING."""
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, SPACING)], indexing="ij")
    radius = sum(((g - c * n * s) / a) ** 2 for g, c, n, s, a in zip(grids, centre, shape, SPACING, axes_mm))
    dents = gaussian_filter(rng.standard_normal(shape), sigma=(1, 12, 12))
    return radius < 1.0 + wobble * dents / (dents.std() + 1e-12)


def build_pair(shape, seed):
    """(pred, truth) label volumes (uint8) with the four organs; the prediction is plausibly wrong."""
    rng = np.random.default_rng(seed)
    truth = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    for organ, (centre, axes) in ELLIPSOIDS.items():
        truth[ellipsoid(shape, centre, axes, rng)] = ORGAN_LABELS[organ]
        moved = tuple(c + d for c, d in zip(centre, rng.uniform(-0.02, 0.02, 3)))
        pred[ellipsoid(shape, moved, tuple(a * rng.uniform(0.9, 1.1) for a in axes), rng)] = ORGAN_LABELS[organ]
    pred[shape[0] // 3: shape[0] // 3 + 3, 20:30, shape[2] // 2: shape[2] // 2 + 12] = ORGAN_LABELS["spleen"]
    return pred, truth


def timed(function, repeats):
    """Median seconds of ``repeats`` calls, and the last result."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def compare(pred, truth, repeats):
    medpy_s, reference = timed(lambda: medpy_assd(pred, truth, SPACING), repeats)
    ctl_s, ours = timed(lambda: assd(pred, truth, SPACING).value, repeats)
    return {"voxels_pred": int(pred.sum()), "voxels_truth": int(truth.sum()), "medpy_s": medpy_s, "ctl_s": ctl_s,
            "speedup": medpy_s / ctl_s, "assd_mm_medpy": reference, "assd_mm_ctl": ours,
            "abs_difference": abs(reference - ours)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=256, help="in-plane size (pixels)")
    parser.add_argument("--slices", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="e.g. 'shared machine, 3 other jobs running'")
    args = parser.parse_args()
    shape = (args.slices, args.size, args.size)
    pred, truth = build_pair(shape, args.seed)
    cases = {organ: compare(pred == label, truth == label, args.repeats) for organ, label in ORGAN_LABELS.items()}
    # Floor: masks spanning the whole volume, so the joint bounding box is the whole array.
    body = ellipsoid(shape, (0.5, 0.5, 0.5), (200.0, 110.0, 110.0), np.random.default_rng(args.seed + 1))
    cases["whole_volume"] = compare(body, np.roll(body, 2, axis=2), args.repeats)
    total_medpy = sum(c["medpy_s"] for c in cases.values() if c is not cases["whole_volume"])
    total_ctl = sum(c["ctl_s"] for c in cases.values() if c is not cases["whole_volume"])
    record = {
        "shape": list(shape), "spacing_mm": list(SPACING), "repeats": args.repeats, "date": date.today().isoformat(),
        "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(), "note": args.note,
        "four_organs": {"medpy_s": total_medpy, "ctl_s": total_ctl, "speedup": total_medpy / total_ctl},
        "max_abs_difference": max(c["abs_difference"] for c in cases.values()),
        "cases": cases,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "assd_speed.json"
    out.write_text(json.dumps(record, indent=2))
    for name, case in cases.items():
        print(f"{name:>13}: medpy {case['medpy_s'] * 1e3:7.1f} ms  ctl {case['ctl_s'] * 1e3:6.1f} ms  "
              f"x{case['speedup']:5.1f}  |diff| {case['abs_difference']:.1e} mm")
    print(f"four organs: x{record['four_organs']['speedup']:.1f}; wrote {out}")


if __name__ == "__main__":
    main()
