"""Measure where the phantom puts its organs, now and at an earlier commit; write the result as JSON.

    python benchmarks/phantom_anatomy.py                       # 30 CT + 20 MR subjects of seeds 0-2 at 128 px
    python benchmarks/phantom_anatomy.py --seeds 0 --n-ct 3 --n-mr 2 --size 64 --out-json /tmp/check.json

For every subject, ``ctl.data.phantom.anatomy_report`` measures on the voxels: how much of each kidney's surface
touches liver or spleen and how low that contact reaches, how much touches perirenal fat, how much of a 10 mm
shell around the kidney is liver or spleen, how much of the aorta's surface touches liver, and organ volumes.
The earlier version (``--before``, by default the commit this anatomy work started from) is checked out into a
temporary folder with ``git archive`` and voxelised there in a subprocess, so both versions are measured with
the same report. From phantom version 4 on, ``voxel_guard`` counts the label voxels that the voxel guard of
``voxelise`` changed (liver or spleen against a kidney below its upper pole, or against the aorta). Each version is also timed generating the data set (``generate_phantom``, 30 CT + 20 MR of
seed 0 at the same size) on one core.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "phantom_anatomy.json"
BEFORE = "718446b"  # the commit before the anatomy rework (phantom version 3)

# Run with an older checkout on sys.path: voxelise each subject exactly as render_subject does, save the maps.
VOXELISE = """
import json, sys, numpy as np
from ctl.data.phantom import TISSUES, sample_anatomy, sample_grid, voxelise
from ctl.data.render import DOMAIN_CODES
seeds, n_ct, n_mr, size, out = json.loads(sys.argv[1])
for seed in seeds:
    for domain, n in (("ct", n_ct), ("mr", n_mr)):
        for i in range(1, n + 1):
            rng = np.random.default_rng(np.random.SeedSequence([seed, DOMAIN_CODES[domain], i]).spawn(3)[0])
            anatomy = sample_anatomy(rng)
            grid = sample_grid(anatomy, rng, size, domain)
            tissue, label = voxelise(anatomy, grid)
            try:  # how many label voxels the voxel guard changed (phantom 4 on; -1: no guard)
                guard = int((voxelise(anatomy, grid, guard=False)[1] != label).sum())
            except TypeError:
                guard = -1
            np.savez_compressed(f"{out}/{seed}-{domain}-{i}.npz", tissue=tissue, label=label, shape=grid.shape,
                                spacing=grid.spacing, origin=grid.origin, tissues=np.array(TISSUES), guard=guard)
"""
TIME = """
import sys, time
from ctl.data.write import generate_phantom
start = time.perf_counter()
generate_phantom(sys.argv[1], 30, 20, 0, int(sys.argv[2]))
print(time.perf_counter() - start)
"""


def run(code: str, args: list[str], package_root: Path) -> str:
    """Run ``code`` in a fresh interpreter that imports ``ctl`` from ``package_root``, on one core."""
    env = dict(os.environ, PYTHONPATH=str(package_root))
    pin = ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[0])] if hasattr(os, "sched_getaffinity") else []
    done = subprocess.run(pin + [sys.executable, "-c", code, *args], env=env, cwd=package_root, capture_output=True,
                          text=True, check=False)  # cwd too: ``python -c`` puts the working directory first on sys.path
    if done.returncode:
        raise RuntimeError(f"the measurement at {package_root} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def measure(package_root: Path, seeds: list[int], n_ct: int, n_mr: int, size: int) -> dict:
    """Voxelise every subject with the ``ctl`` found at ``package_root``; report each with today's report."""
    from ctl.data.geometry import Grid
    from ctl.data.phantom import anatomy_report

    subjects = {}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run(VOXELISE, [json.dumps([seeds, n_ct, n_mr, size, tmp])], package_root)
        voxelise_s = time.perf_counter() - start
        for path in sorted(Path(tmp).glob("*.npz")):
            d = np.load(path)
            grid = Grid(tuple(int(v) for v in d["shape"]), tuple(d["spacing"]), tuple(d["origin"]))
            report = anatomy_report(d["tissue"], d["label"], grid, tuple(str(t) for t in d["tissues"]))
            subjects[path.stem] = {**report, "guard_voxels": int(d["guard"]) if d["guard"] >= 0 else None}
        timed = float(run(TIME, [str(Path(tmp) / "phantom"), str(size)], package_root).split()[-1])
    return {"subjects": subjects, "summary": summarise(subjects), "voxelise_seconds": round(voxelise_s, 1),
            "generate_30ct_20mr_seconds": round(timed, 1)}


def summarise(subjects: dict) -> dict:
    """The checks of ``tests/test_data_phantom.py`` over all subjects: medians, worst cases and failure counts."""
    kidneys = [r[side] for r in subjects.values() for side in ("right_kidney", "left_kidney") if r[side]]
    contact = np.array([k["liver_spleen_contact"] for k in kidneys])
    fat = np.array([k["perirenal_fat_contact"] for k in kidneys])
    shell = np.array([k["shell_liver_spleen"] for k in kidneys])
    lowest = np.array([k["lowest_contact"] for k in kidneys if k["lowest_contact"] is not None])
    aorta = np.array([r["aorta_liver_contact"] or 0.0 for r in subjects.values()])
    volumes = {organ: np.array([r["volume_ml"][organ] for r in subjects.values()])
               for organ in ("liver", "spleen", "right_kidney", "left_kidney")}
    ranges = {"liver": (1000, 2500), "spleen": (100, 400), "right_kidney": (100, 250), "left_kidney": (100, 250)}
    centroid = {organ: np.array([r["centroid_mm"][organ] for r in subjects.values()], dtype=float)
                for organ in ("liver", "spleen", "right_kidney", "left_kidney")}
    return {
        "subjects": len(subjects), "kidneys": len(kidneys),
        "kidney_liver_spleen_contact": {"median": round(float(np.median(contact)), 3),
                                        "max": round(float(contact.max()), 3),
                                        "kidneys_over_15pct": int((contact > 0.15).sum())},
        "kidney_lowest_contact": {"kidneys_with_contact": int(lowest.size),
                                  "min": round(float(lowest.min()), 3) if lowest.size else None,
                                  "kidneys_below_60pct_height": int((lowest < 0.6).sum())},
        "kidney_perirenal_fat_contact": {"median": round(float(np.median(fat)), 3), "min": round(float(fat.min()), 3),
                                         "kidneys_under_40pct": int((fat < 0.4).sum())},
        "kidney_shell_liver_spleen": {"median": round(float(np.median(shell)), 3), "max": round(float(shell.max()), 3)},
        "aorta_liver_contact": {"mean": round(float(aorta.mean()), 3), "max": round(float(aorta.max()), 3),
                                "subjects_with_contact": int((aorta > 0).sum())},
        "volume_ml": {organ: {"median": round(float(np.median(v)), 0), "min": round(float(v.min()), 0),
                              "max": round(float(v.max()), 0), "range": ranges[organ],
                              "outside_range": int(((v < ranges[organ][0]) | (v > ranges[organ][1])).sum())}
                      for organ, v in volumes.items()},
        "voxel_guard": None if any(r["guard_voxels"] is None for r in subjects.values()) else {
            "subjects_changed": sum(r["guard_voxels"] > 0 for r in subjects.values()),
            "max_voxels": max(r["guard_voxels"] for r in subjects.values())},
        "left_right_failures": int((centroid["liver"][:, 0] >= 0).sum() + (centroid["spleen"][:, 0] <= 0).sum()
                                   + (centroid["right_kidney"][:, 2] >= centroid["left_kidney"][:, 2]).sum()),
    }


def dump(result: dict) -> str:
    """JSON with one line per subject (their reports without centroids, which the summary has used)."""
    lines = {}
    for version in result["versions"].values():
        for name, report in version["subjects"].items():
            key = f"@@{len(lines)}@@"
            lines[key] = json.dumps({k: v for k, v in report.items() if k != "centroid_mm"})
            version["subjects"][name] = key
    text = json.dumps(result, indent=1)
    for key, line in lines.items():
        text = text.replace(f'"{key}"', line)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-ct", type=int, default=30)
    parser.add_argument("--n-mr", type=int, default=20)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--before", default=BEFORE, help="git revision to compare with")
    parser.add_argument("--out-json", default=str(RESULTS))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from ctl.data.write import PHANTOM_VERSION

    versions = {}
    with tempfile.TemporaryDirectory() as old:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before, "ctl"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        versions["before"] = {"revision": args.before, **measure(Path(old), args.seeds, args.n_ct, args.n_mr,
                                                                 args.size)}
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "ctl"], capture_output=True,
                           text=True).stdout.strip()
    versions["after"] = {"revision": head + ("+uncommitted" if dirty else ""), "phantom_version": PHANTOM_VERSION,
                         **measure(ROOT, args.seeds, args.n_ct, args.n_mr, args.size)}
    result = {
        "benchmark": "phantom_anatomy", "seeds": args.seeds, "n_ct": args.n_ct, "n_mr": args.n_mr, "size": args.size,
        "summary": {name: v["summary"] for name, v in versions.items()},
        "generate_30ct_20mr_seconds": {name: v["generate_30ct_20mr_seconds"] for name, v in versions.items()},
        "versions": versions, "cores": 1, "python": platform.python_version(), "machine": platform.machine(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "date": datetime.now().isoformat(timespec="seconds"),
    }
    Path(args.out_json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out_json).write_text(dump(result) + "\n")
    print(json.dumps(result["summary"], indent=1))
    print("generation (s):", result["generate_30ct_20mr_seconds"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
