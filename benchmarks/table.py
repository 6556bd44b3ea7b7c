#!/usr/bin/env python3
"""The targets table of ``benchmarks/README.md``, generated from the JSON of benchmark runs.

    python3 benchmarks/table.py RUN.json [RUN2.json]                       # print it
    python3 benchmarks/table.py RUN.json RUN2.json --readme benchmarks/README.md
    python3 benchmarks/table.py BOOK.json,REPLAY.json,SCALE.json         # one run, file by file

``RUN.json`` is what ``pytest benchmarks/ --benchmark-only --benchmark-json=RUN.json``
wrote; a run measured file by file is given as its files joined by commas (their
benchmarks taken together; the first file's date and commit name the run). A benchmark names a figure in its ``extra_info`` with four keys (``timing.record``
writes them): ``NAME`` (the value), ``NAME_target`` (``">= 0.5"``, ``"<= 10"``, or
``"report"`` for a figure that is reported, not judged), ``NAME_met`` (true / false /
null) and, for a timed figure, ``NAME_spread`` (worst round over best). Every such
figure becomes a row: figure, target, its value in each run, met in both runs, and the
spreads. A parametrized benchmark's figures carry its parameter (``NAME[cross]``). Issue
21's targets come first, in the issue's order, then the other figures in the order the
runs list them.

With ``--readme``, the table replaces what stands between the ``<!-- table:begin -->``
and ``<!-- table:end -->`` lines of that file (both must be there); otherwise it is printed.
Only the standard library is used: the script runs without exsim installed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- table:begin -->", "<!-- table:end -->"
#: issue 21's figures, in the issue's order: their rows come first
ISSUE_21 = (
    "marginal_market_order_us",
    "marginal_orders_per_cpu_s",
    "exchange_vs_straightforward",
    "book_vs_tuned",
    "aggtrades_full_vs_parse",
    "bytes_per_resting_order_with_ledger",
)
SUFFIXES = ("_target", "_met", "_spread")


class Figure:
    """One figure of one run: its value, target, verdict and spread (None when absent)."""

    def __init__(self, value: float, target: str, met: bool | None, spread: float | None) -> None:
        self.value = value
        self.target = target
        self.met = met
        self.spread = spread


def figures(run: dict[str, Any]) -> dict[str, Figure]:
    """Every figure of a run's JSON by its row name (``NAME`` or ``NAME[param]``), in order."""
    out: dict[str, Figure] = {}
    for bench in run.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        param = bench.get("param")
        for key, target in info.items():
            if not key.endswith("_target"):
                continue
            name = key[: -len("_target")]
            if name not in info:
                continue
            row = f"{name}[{param}]" if param not in (None, "") else name
            if row in out:  # two benchmarks name the same figure: the second says which it is
                row = f"{row} ({bench.get('name', '?')})"
            out[row] = Figure(info[name], str(target), info.get(f"{name}_met"), info.get(f"{name}_spread"))
    return out


def order(names: list[str]) -> list[str]:
    """Issue 21's figures first (in the issue's order, each parameter in run order), then the rest."""

    def base(row: str) -> str:
        return row.split("[", 1)[0]

    first = [n for fig in ISSUE_21 for n in names if base(n) == fig]
    return first + [n for n in names if n not in first]


def shown(value: Any) -> str:
    """A value as the table shows it: thousands separated, at most 3 decimals."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def verdict(figs: list[Figure | None]) -> str:
    """Met in every run: yes / no; ``—`` for a reported figure; no when a run lacks it."""
    present = [f for f in figs if f is not None]
    if present and all(f.target == "report" for f in present):
        return "—"
    if len(present) < len(figs):
        return "no (missing in a run)"
    return "yes" if all(f.met is True for f in present) else "no"


def table(runs: list[dict[str, Any]]) -> str:
    """The markdown table of the runs' figures (a header line naming each run above it)."""
    per_run = [figures(r) for r in runs]
    names: list[str] = []
    for figs in per_run:
        names += [n for n in figs if n not in names]
    cols = [f"run {i + 1}" for i in range(len(runs))]
    lines = []
    for i, run in enumerate(runs):
        info = run.get("commit_info") or {}
        commit = (info.get("id") or "?")[:10] + (" (uncommitted changes)" if info.get("dirty") else "")
        when = str(run.get("datetime", "?"))[:16].replace("T", " ")
        lines.append(f"- run {i + 1}: {when} UTC, commit {commit}")
    lines.append("")
    lines.append("| figure | target | " + " | ".join(cols) + " | met in " + ("both" if len(runs) == 2 else "all") + " | spread (" + " / ".join(cols) + ") |")
    lines.append("|---|---|" + "---|" * len(cols) + "---|---|")
    for name in order(names):
        figs = [p.get(name) for p in per_run]
        target = next(f.target for f in figs if f is not None)
        values = [shown(f.value) if f is not None else "missing" for f in figs]
        spreads = [shown(f.spread) if f is not None else "—" for f in figs]
        lines.append(f"| `{name}` | {target} | " + " | ".join(values)
                     + f" | {verdict(figs)} | " + " / ".join(spreads) + " |")
    return "\n".join(lines) + "\n"


def load_run(arg: str) -> dict[str, Any]:
    """A run's JSON; ``A.json,B.json``: the benchmarks of several files as one run."""
    parts = [json.loads(Path(p).read_text()) for p in arg.split(",")]
    run = dict(parts[0])
    run["benchmarks"] = [b for part in parts for b in part.get("benchmarks", [])]
    return run


def rewrite(readme: Path, text: str) -> None:
    """Replace what stands between the markers of ``readme`` with ``text``."""
    old = readme.read_text()
    begin, end = old.find(BEGIN), old.find(END)
    if begin < 0 or end < begin:
        raise SystemExit(f"table.py: {readme} has no {BEGIN} ... {END} section")
    readme.write_text(old[: begin + len(BEGIN)] + "\n" + text + old[end:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="The targets table from benchmark runs' JSON.")
    ap.add_argument("runs", nargs="+", help="pytest-benchmark JSON files (--benchmark-json); A.json,B.json: one run in several files")
    ap.add_argument("--readme", type=Path, help="rewrite this file's marked section instead of printing")
    a = ap.parse_args(argv)
    runs = [load_run(r) for r in a.runs]
    text = table(runs)
    if a.readme is None:
        sys.stdout.write(text)
    else:
        rewrite(a.readme, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
