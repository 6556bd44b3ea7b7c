"""``exsim sweep``: run a sweep file, report on its table, rerun one of its cells.

    exsim sweep SWEEP.toml [--jobs N] [--ray [ADDRESS]] [--out DIR] [--no-cache] [--force]
    exsim sweep report DIR [--x AXIS] [--y AXIS] [--metric NAME] [--top N]
    exsim sweep rerun DIR CELL [--out RUN_DIR]

The sweep file is read and checked whole (:func:`exsim.sweep.spec.load_sweep`) before
any cell runs; the engines are :mod:`exsim.sweep.engine` (local processes) and
:mod:`exsim.sweep.ray_engine`; the report and rerun are :mod:`exsim.sweep.report`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from exsim.errors import InputError

ACTIONS = ("report", "rerun")
#: the options each form takes (the others are refused: an option that would be ignored is an error)
_RUN_OPTIONS = ("jobs", "ray", "no_cache", "force", "out")
_REPORT_OPTIONS = ("x", "y", "metric", "top")
_RERUN_OPTIONS = ("out",)
_DEFAULTS = {"jobs": None, "ray": False, "no_cache": False, "force": False, "out": None, "x": None, "y": None,
             "metric": "pnl", "top": 10}
_FLAGS = {"jobs": "--jobs", "ray": "--ray", "no_cache": "--no-cache", "force": "--force", "out": "--out", "x": "--x",
          "y": "--y", "metric": "--metric", "top": "--top"}


def _positive(text: str) -> int:
    from exsim.units import whole_arg

    n = whole_arg(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return n


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a grid of replays or scenarios (strategy parameters x leverage x margin mode x ...) on every core or "
        "on Ray, resumable, into one result table; report on it; rerun a cell",
        description=(
            "exsim sweep SWEEP.toml runs every cell of the sweep file's grid (format: docs/sweeps.md) on local "
            "processes (--jobs, default: every core) or on Ray (--ray), appending a row per cell to OUT/rows.jsonl as "
            "it ends; the same command again resumes (cells already written are skipped). At the end: "
            "OUT/results.parquet (or results.csv without pyarrow). "
            "exsim sweep report DIR prints the table's summary and draws heatmaps of liquidation rate and PnL over "
            "two axes, one panel per margin mode (DIR/report/). "
            "exsim sweep rerun DIR CELL runs one cell alone with its full run directory. "
            "Example: exsim sweep examples/sweeps/crash-leverage.toml; exsim sweep report runs/sweeps/crash-leverage"
        ),
    )
    p.add_argument("target", metavar="SWEEP.toml|report|rerun", help="a sweep file to run, or report / rerun")
    p.add_argument("more", nargs="*", metavar="DIR [CELL]", help="report DIR; rerun DIR CELL")
    p.add_argument("--jobs", type=_positive, default=None, help="worker processes (default: every core, os.cpu_count())")
    p.add_argument("--ray", nargs="?", const=True, default=False, metavar="ADDRESS",
                   help="run the cells on Ray: alone, start a local Ray with --jobs CPUs; with ADDRESS, join that "
                   "cluster (needs the ray extra: pip install 'exsim[ray]')")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="the sweep's folder (default runs/sweeps/NAME); rerun: the cell's run directory "
                   "(default DIR/cells/CELL)")
    p.add_argument("--no-cache", action="store_true",
                   help="each cell reads its input files itself (default: each input is parsed once into OUT/cache "
                   "and every cell replays from it)")
    p.add_argument("--force", action="store_true",
                   help="run into an OUT holding another sweep's rows: exsim's files there are replaced")
    p.add_argument("--x", default=None, metavar="AXIS", help="report: the heatmaps' x axis (default: the first axis "
                   "with several values other than margin_mode)")
    p.add_argument("--y", default=None, metavar="AXIS", help="report: the heatmaps' y axis (default: the next one)")
    p.add_argument("--metric", default="pnl", help="report: rank the best cells by this column (default pnl)")
    p.add_argument("--top", type=_positive, default=10, help="report: how many best cells to list (default 10)")
    p.set_defaults(func=cmd_sweep)


def _only(args: argparse.Namespace, allowed: tuple[str, ...], form: str) -> None:
    for name, default in _DEFAULTS.items():
        if name not in allowed and getattr(args, name) != default:
            raise InputError(f"is not an option of {form}", field=_FLAGS[name])


def cmd_sweep(args: argparse.Namespace) -> int:
    from rich.console import Console

    console = Console()
    if args.target == "report":
        if len(args.more) != 1:
            raise InputError("exsim sweep report DIR: give one sweep folder", field="DIR")
        _only(args, _REPORT_OPTIONS, "exsim sweep report")
        from exsim.sweep.report import report

        return report(Path(args.more[0]), x=args.x, y=args.y, metric=args.metric, top=args.top, console=console)
    if args.target == "rerun":
        if len(args.more) != 2:
            raise InputError("exsim sweep rerun DIR CELL: give the sweep folder and a cell id", field="CELL")
        _only(args, _RERUN_OPTIONS, "exsim sweep rerun")
        from exsim.sweep.report import rerun

        run_dir = Path(args.out) if args.out else None
        return rerun(Path(args.more[0]), args.more[1], run_dir=run_dir, console=console)
    if args.more:
        raise InputError(f"unexpected {' '.join(args.more)!r}: exsim sweep SWEEP.toml takes one file "
                         f"(or: exsim sweep report DIR, exsim sweep rerun DIR CELL)", field="SWEEP.toml")
    _only(args, _RUN_OPTIONS, "exsim sweep SWEEP.toml")
    from exsim.sweep.spec import load_sweep

    sweep = load_sweep(args.target)  # (every bad input refused here, before an engine starts)
    from exsim.sweep.engine import SweepInterrupted, run_sweep

    out = Path(args.out) if args.out else Path("runs") / "sweeps" / sweep.name
    jobs = args.jobs or os.cpu_count() or 1
    try:
        table = run_sweep(sweep, out, jobs=jobs, ray_address=args.ray, use_cache=not args.no_cache, force=args.force)
    except SweepInterrupted as stop:  # Ctrl-C: the rows done are kept
        print(f"exsim: {stop.line()}", file=sys.stderr)
        return 130
    console.print(f"results: {table}; exsim sweep report {out} summarises it")
    return 0
