"""Command line: ``python -m ctl <command> ...`` (also installed as ``ctl``). ``python -m ctl -h`` lists them."""
from __future__ import annotations

import argparse
import errno
import sys
import time
import warnings
import zipfile
from pathlib import Path

import torch

from ctl import __version__
from ctl.data.archives import unpack_used
from ctl.data.download import BTCV_STEPS, CHAOS_TRAIN, ChecksumMismatch, DownloadError, download
from ctl.data.prepared import prepare
from ctl.data.write import generate_phantom
from ctl.evaluate import EvalConfig, evaluate_folder
from ctl.methods import METHODS
from ctl.presets import PRESETS, get_preset
from ctl.series import (MissingExtra, NotebookFailed, NotebooksNotFound, demo, locate_notebooks, refresh_outputs,
                        run_series)
from ctl.training import AlreadyTrained, TrainingDiverged, checkpoints, read_summary, train
from ctl.training.loop import resolve_device
from ctl.training.reference import train_reference

# `demo`, `run-notebooks` and `refresh-outputs` run the notebook series (ctl.series), the other commands call the
# library (ctl.data, ctl.training, ctl.evaluate). Like every library module, this one never imports ctl.teach.

# Failures a user causes and can fix (a bad argument; a missing, damaged or foreign file; a full disk; no
# permission; a run folder in use; a GPU out of memory). main() turns each into one paragraph on stderr and exit
# code 2, never a traceback; the library's messages name the file and say what to do. (json.JSONDecodeError is a
# ValueError; FileNotFoundError, PermissionError and the busy run folder are OSErrors.)
EXPECTED_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, torch.cuda.OutOfMemoryError)
HINTS = {errno.ENOSPC: "The disk is full: free some space and run the command again (`train` continues with "
                       "--resume)",
         errno.EACCES: "No permission to write there: choose another --out, or fix the folder's permissions",
         errno.EPERM: "No permission to write there: choose another --out, or fix the folder's permissions",
         errno.EROFS: "That file system is read-only: choose another --out"}


def _series(run) -> int:
    """Run a notebook series command: 1 with the failing notebook and cell named, 2 when notebooks or the
    ``[notebooks]`` extra are missing, 0 otherwise."""
    try:
        run()
    except NotebookFailed as err:
        print(f"NOTEBOOK FAILED: {err}", file=sys.stderr)
        return 1
    except (MissingExtra, NotebooksNotFound) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _demo(args: argparse.Namespace) -> int:
    return _series(lambda: demo(locate_notebooks(args.notebooks), preset=args.preset, runs_root=Path(args.runs),
                                data_dir=Path(args.data), seed=args.seed))


def _run_notebooks(args: argparse.Namespace) -> int:
    out = Path(args.out).resolve()
    run_dir = Path(args.run).resolve() if args.run else out / "run"
    return _series(lambda: run_series(args.preset, out, data_dir=Path(args.data).resolve(), run_dir=run_dir,
                                      notebook_dir=locate_notebooks(args.notebooks), seed=args.seed,
                                      cell_timeout_s=args.cell_timeout, only=args.only))


def _refresh_outputs(args: argparse.Namespace) -> int:
    return _series(lambda: refresh_outputs(args.preset, locate_notebooks(args.notebooks),
                                           cell_timeout_s=args.cell_timeout, only=args.only or ()))


def _download(args: argparse.Namespace) -> int:
    to = Path(args.to or f"data/real/{args.dataset}")
    if args.dataset == "btcv":
        print(BTCV_STEPS.format(to=to))
        return 1  # nothing was downloaded
    try:
        archive = download(CHAOS_TRAIN, to, url=args.url)
        if not args.no_unpack:
            unpack_used(archive, "chaos", to)
    except (DownloadError, ChecksumMismatch, FileExistsError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"CHAOS in {to} (verified archive: {archive.name}); prepare it with BTCV: ctl download btcv")
    return 0


def _train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.resume and out.is_dir() and not checkpoints(out) and not (out / "final.pt").exists():
        print(f"--resume: no checkpoint in {out}; starting from iteration 0")
    try:  # train() checks the arguments and compares them with the run's config.json before it writes anything
        train(args.method, Path(args.data), get_preset(args.preset), out, seed=args.seed, device=args.device,
              resume=args.resume)
    except AlreadyTrained as done:
        print(done)
        return 0
    except TrainingDiverged as err:
        print(f"DIVERGED: {err}", file=sys.stderr)
        return 1
    summary = read_summary(out)
    print(f"trained {args.method}: {summary['iterations']} iterations in {summary['seconds']:.0f} s on "
          f"{summary['device']}; weights in {out / 'final.pt'}")
    return 0


def _phantom(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    out = generate_phantom(Path(args.out), n_ct=args.n_ct, n_mr=args.n_mr, seed=args.seed, size=args.size,
                           progress=args.verbose)
    print(f"phantom: {args.n_ct} CT (BTCV layout) + {args.n_mr} MR (CHAOS layout), {args.size} px, seed {args.seed}, "
          f"in {time.perf_counter() - start:.1f} s -> {out}")
    return 0


def _prepare(args: argparse.Namespace) -> int:
    out = prepare(args.btcv, args.chaos, args.out, args.size, paired_dir=args.paired, split=args.split,
                  seed=args.seed, test_fraction=args.test_fraction)
    print(f"prepared data in {out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)  # a bad --device is refused before any run is loaded
    config = EvalConfig(assd_miss_penalty="diagonal" if args.assd_miss_penalty else None)
    _, text = evaluate_folder(Path(args.run), Path(args.data), device=device, preset=args.preset,
                              include_paper=not args.no_paper, config=config)
    print(text)
    return 0


def _reference(args: argparse.Namespace) -> int:
    out = train_reference(args.method, args.preset, args.iterations, seed=args.seed, data_dir=Path(args.data),
                          runs_root=Path(args.runs), device=args.device)
    print(f"reference weights of {args.method} ({args.iterations} iterations at the {args.preset} preset's sizes) "
          f"written to {out}")
    return 0


def explain(err: BaseException) -> str:
    """One paragraph for an expected failure: its message (naming the file), and for system errors what to do."""
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, OSError):
        if err.filename and str(err.filename) not in text:
            text = f"{err.filename}: {text}"
        if err.errno in HINTS:
            text += f". {HINTS[err.errno]}"
    elif isinstance(err, (EOFError, zipfile.BadZipFile)):
        text = (f"a file ended early or is damaged ({text}): a truncated download or copy among the files this "
                f"command read (its arguments name them); copy it again")
    elif isinstance(err, torch.cuda.OutOfMemoryError):
        text = "the GPU ran out of memory; use a smaller preset or --device cpu"
    return text


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)


DESCRIPTION = ("Contrastive Translation Learning (Zeng, Fan et al., ICASSP 2022), taught and replicated: run the "
               "notebook series, make or prepare data, train and evaluate the methods. `ctl COMMAND -h` describes "
               "each command.")
NOTEBOOKS_HELP = "folder of the series NN_*.ipynb (default: ./notebooks)"
CELL_TIMEOUT_HELP = ("seconds one cell may run (default: 600 at the ci preset, where a longer cell has hung; "
                     "no limit at the others, where one cell trains several methods)")


def build_parser() -> argparse.ArgumentParser:
    presets, methods = sorted(PRESETS), sorted(METHODS)  # read now: methods registered so far are listed
    parser = argparse.ArgumentParser(prog="ctl", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("demo", help="run the whole notebook series into runs/<timestamp>/")
    p.add_argument("--preset", default="cpu", choices=presets, help="sizes and iterations (default: cpu)")
    p.add_argument("--notebooks", default=None, help=NOTEBOOKS_HELP)
    p.add_argument("--runs", default="runs", help="folder that receives runs/<timestamp>/")
    p.add_argument("--data", default="data", help="data folder (phantom generated here once per preset)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_demo)

    p = commands.add_parser("run-notebooks", help="execute every notebook with papermill (used by make test)")
    p.add_argument("--preset", default="ci", choices=presets)
    p.add_argument("--notebooks", default=None, help=NOTEBOOKS_HELP)
    p.add_argument("--out", default="build/notebooks", help="executed copies and their stdout/stderr go here")
    p.add_argument("--data", default="build/data", help="data folder for this execution")
    p.add_argument("--run", default=None, help="run folder (trained models, figures); default OUT/run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cell-timeout", type=int, default=None, help=CELL_TIMEOUT_HELP)
    p.add_argument("--only", nargs="*", help="run only notebooks whose name contains one of these")
    p.set_defaults(func=_run_notebooks)

    p = commands.add_parser("refresh-outputs", help="re-execute the committed notebooks in place (their outputs)")
    p.add_argument("--preset", default="cpu", choices=presets, help="CTL_PRESET of the kernels (default: cpu)")
    p.add_argument("--notebooks", default=None, help=NOTEBOOKS_HELP)
    p.add_argument("--only", nargs="*", help="notebook names to refresh, e.g. 05_dice_assd_comparison (default: all)")
    p.add_argument("--cell-timeout", type=int, default=None, help=CELL_TIMEOUT_HELP)
    p.set_defaults(func=_refresh_outputs)

    p = commands.add_parser("download", help="download CHAOS (resumable, verified); print how to get BTCV")
    p.add_argument("dataset", choices=["chaos", "btcv"])
    p.add_argument("--to", default=None, help="folder for the archive and what is used of it "
                                              "(default: data/real/DATASET)")
    p.add_argument("--url", default=None, help="another address of the same file (the checksums still decide)")
    p.add_argument("--no-unpack", action="store_true", help="keep the archive only (ctl prepare reads it as is)")
    p.set_defaults(func=_download)

    # Commands of the other modules register themselves here, one line each.
    p = commands.add_parser("phantom", help="write the synthetic CT/MR phantom in BTCV and CHAOS layouts")
    p.add_argument("--out", required=True, help="folder for btcv/, chaos/, paired_mr/ (evaluation only): new, "
                                                "empty, or made by `ctl phantom` (then replaced)")
    p.add_argument("--n-ct", type=int, default=30, help="CT subjects (default 30, as BTCV)")
    p.add_argument("--n-mr", type=int, default=20, help="MR subjects (default 20, as CHAOS T2-SPIR)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=256, help="in-plane pixels of every slice (default 256)")
    p.add_argument("--verbose", action="store_true", help="print one line per subject")
    p.set_defaults(func=_phantom)

    p = commands.add_parser("prepare", help="preprocess BTCV + CHAOS (real or phantom) into a prepared folder")
    p.add_argument("--btcv", required=True, help="BTCV folder (holding img/ and label/, or RawData above them), "
                                                 "or RawData.zip itself")
    p.add_argument("--chaos", required=True, help="CHAOS folder (holding MR/<id>/T2SPIR, or Train_Sets above), "
                                                  "or CHAOS_Train_Sets.zip itself")
    p.add_argument("--out", required=True,
                   help="prepared folder to write: new, empty, or made by `ctl prepare` (then replaced)")
    p.add_argument("--size", type=int, default=256, help="slices are resampled to size x size (default 256)")
    p.add_argument("--paired", default=None, help="phantom only: its paired_mr/ folder (evaluation only)")
    p.add_argument("--split", default="random", choices=["random", "sifa"],
                   help="random: seeded 80/20 by subject; sifa: SIFA's fixed test subjects (real data)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random split")
    p.add_argument("--test-fraction", type=float, default=0.2, help="share of subjects held out (default 0.2)")
    p.set_defaults(func=_prepare)

    p = commands.add_parser("train", help="train one method into a run folder (checkpoints, resume, history)")
    p.add_argument("--method", required=True, choices=methods, metavar="METHOD",
                   help=f"one of {', '.join(methods)} (oracle reads MR labels; lsgan and cut train a translator "
                        f"only)")
    p.add_argument("--data", required=True, help="prepared data folder (see CONTRIBUTING.md, 'Prepared data')")
    p.add_argument("--preset", default="cpu", choices=presets, help="sizes and iterations (default: cpu)")
    p.add_argument("--out", required=True, help="run folder: config.json, checkpoints/, history.json, final.pt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best present)")
    p.set_defaults(func=_train)

    p = commands.add_parser("evaluate", help="Dice and ASSD of trained run folders on the MR test volumes; Table 1")
    p.add_argument("--run", required=True, help="a run folder made by `ctl train`, or a folder of such folders")
    p.add_argument("--data", required=True, help="the prepared data folder the runs were trained on")
    p.add_argument("--preset", default=None, choices=presets,
                   help="only the runs of this preset (needed if --run holds several)")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best present)")
    p.add_argument("--no-paper", action="store_true", help="leave the paper's printed rows out of the table")
    p.add_argument("--assd-miss-penalty", action="store_true",
                   help="count the ASSD of an organ a method missed in a volume as that volume's diagonal (mm or "
                        "voxels) instead of leaving the volume out of the mean (the table counts those, e.g. [7/8])")
    p.set_defaults(func=_evaluate)

    p = commands.add_parser("reference", help="train a method far longer and ship its weights with the package "
                                              "(ctl/reference/; the notebooks show them beside their own runs)")
    p.add_argument("--method", required=True, choices=methods, metavar="METHOD", help=f"one of {', '.join(methods)}")
    p.add_argument("--preset", default="cpu", choices=presets, help="network sizes and data (default: cpu)")
    p.add_argument("--iterations", type=int, required=True, help="training iterations (more than the preset's)")
    p.add_argument("--seed", type=int, default=0, help="training seed (the data are the preset's phantom, seed 0)")
    p.add_argument("--data", default="data", help="data folder (the phantom is generated here once)")
    p.add_argument("--runs", default="runs",
                   help="the run goes to RUNS/reference/<method>-<preset>-<iterations>-seed<s>")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best present)")
    p.set_defaults(func=_reference)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; an expected failure (``EXPECTED_ERRORS``) is one paragraph on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line  # "warning: ..." lines instead of source locations
        try:
            return args.func(args)
        except EXPECTED_ERRORS as err:
            print(f"error: {explain(err)}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
