"""Command line: ``python -m ctl <command> ...`` (also installed as ``ctl``). ``python -m ctl -h`` lists them."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    from ctl.run_notebooks import demo

    demo(preset=args.preset, runs_root=Path(args.runs), data_dir=Path(args.data), seed=args.seed)
    return 0


def _run_notebooks(args: argparse.Namespace) -> int:
    from ctl.run_notebooks import NotebookFailed, run_series

    out = Path(args.out).resolve()
    try:
        run_series(args.preset, out, data_dir=Path(args.data).resolve(), run_dir=out / "run", seed=args.seed,
                   cell_timeout_s=args.cell_timeout, only=args.only)
    except NotebookFailed as err:
        print(f"NOTEBOOK FAILED: {err}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("demo", help="run the whole notebook series into runs/<timestamp>/")
    p.add_argument("--preset", default="cpu", help="ci, cpu, gpu or paper (default: cpu)")
    p.add_argument("--runs", default="runs", help="folder that receives runs/<timestamp>/")
    p.add_argument("--data", default="data", help="data folder (phantom generated here once per preset)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_demo)

    p = commands.add_parser("run-notebooks", help="execute every notebook with papermill (used by make test)")
    p.add_argument("--preset", default="ci")
    p.add_argument("--out", default="build/notebooks", help="executed copies and their stdout/stderr go here")
    p.add_argument("--data", default="build/data", help="data folder for this execution")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cell-timeout", type=int, default=600, help="seconds one cell may run (default 600)")
    p.add_argument("--only", nargs="*", help="run only notebooks whose name contains one of these")
    p.set_defaults(func=_run_notebooks)

    # Commands of the other modules register themselves here, one line each.
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
