"""The pages under test, made through the command line, and what they must show, read from
the runs' own files.

A page is made as a user makes it (``exsim compare NAME --html FILE --out DIR``, ``exsim
report DIR --html FILE``, ``exsim scenario NAME --html FILE``). What the state panel must
show at a step is worked out here from the run's ``timeseries.csv`` and the document's
``steps`` alone (the page's timeline, docs/pages.md): a run's *frame* is a run of
consecutive rows with the same ``(ts_ns, generation, why)`` and distinct accounts (a
scenario) or symbols (a replay); the k-th frame at one ``(ts_ns, generation)`` has the key
``(ts_ns, generation, k)``, and a global step's key is read off ``steps`` the same way
(its time, its generation, and how many steps before it share both). The value shown at a
step is the account's last row in a frame whose key is at or before the step's.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from exsim.cli import main
from exsim.scenario.cli import builtin_names, resolve

NS_PER_MS = 1_000_000
BUILTINS = builtin_names()  # what `exsim scenario --list` lists

Key = tuple[int, int, int]


def run_cli(*argv: str) -> str:
    """``exsim ARGV`` in this process; its standard output (exit 0 required)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    assert code == 0, f"exsim {' '.join(argv)} exited {code}:\n{out.getvalue()[-3000:]}"
    return out.getvalue()


_DATA = re.compile(r'<script type="application/json" id="exsim-data">(.*?)</script>', re.S)


def page_data(html: Path) -> dict[str, Any]:
    """The page document embedded in the page (``script#exsim-data``)."""
    found = _DATA.search(html.read_text(encoding="utf-8"))
    assert found, f'{html}: no <script type="application/json" id="exsim-data">'
    doc: dict[str, Any] = json.loads(found.group(1))
    return doc


@dataclass
class RunFiles:
    """One run of a page, as its own files say."""

    name: str
    dir: Path
    kind: str  # scenario | replay
    frames: list[tuple[Key, list[dict[str, str]]]]
    clock_ns: int  # add to a step's time since the document's t0 for this run's clock

    def row_at(self, key: Key, account: int) -> dict[str, str] | None:
        """The account's last time-series row in a frame at or before ``key`` (None before its first)."""
        found = None
        for k, rows in self.frames:
            if k > key:
                break
            for row in rows:
                if int(row.get("account") or 1) == account:
                    found = row
        return found

    def accounts(self) -> list[int]:
        return sorted({int(r.get("account") or 1) for _, rows in self.frames for r in rows})


@dataclass
class Page:
    """A page file, its document and its runs' files."""

    html: Path
    doc: dict[str, Any]
    runs: dict[str, RunFiles] = field(default_factory=dict)

    @property
    def keys(self) -> list[Key]:
        """Each global step's key ``(ns since the document's t0, generation, k)``."""
        out: list[Key] = []
        for i, (t_ms, gen, _label) in enumerate(self.doc["steps"]):
            ns = round(Decimal(repr(t_ms)) * NS_PER_MS)
            k = out[-1][2] + 1 if out and out[-1][:2] == (ns, gen) else 0
            out.append((ns, gen, k))
        return out

    def run_key(self, run: str, step: int) -> Key:
        """The step's key in ``run``'s own clock (its ``ts_ns``)."""
        ns, gen, k = self.keys[step]
        return ns + self.runs[run].clock_ns, gen, k

    def expected(self, run: str, account: int, step: int, column: str) -> str:
        """What the state panel must show in ``column`` for ``account`` of ``run`` at ``step``."""
        row = self.runs[run].row_at(self.run_key(run, step), account)
        return (row or {}).get(column) or ""


def frames_of(run_dir: Path, kind: str) -> list[tuple[Key, list[dict[str, str]]]]:
    """A run's frames from its ``timeseries.csv`` (see the module's docstring)."""
    who = "account" if kind == "scenario" else "symbol"
    frames: list[tuple[Key, list[dict[str, str]]]] = []
    count: dict[tuple[int, int], int] = {}
    with (run_dir / "timeseries.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            ts, gen = int(row["ts_ns"]), int(row.get("generation") or 0)
            if frames:
                (fts, fgen, _), rows = frames[-1]
                if (fts, fgen) == (ts, gen) and row.get("why") == rows[0].get("why") and all(r[who] != row[who] for r in rows):
                    rows.append(row)
                    continue
            k = count.get((ts, gen), 0)
            count[(ts, gen)] = k + 1
            frames.append(((ts, gen, k), [row]))
    return frames


def load_page(html: Path, dirs: list[Path] | None = None) -> Page:
    """The page at ``html`` with the files of every run it shows (or of ``dirs``, one per
    run in order: the same runs written elsewhere, when the page's own are gone)."""
    doc = page_data(html)
    page = Page(html, doc)
    for i, run in enumerate(doc["runs"]):
        run_dir = dirs[i] if dirs else Path(run["dir"])
        page.runs[run["name"]] = RunFiles(run["name"], run_dir, run["kind"], frames_of(run_dir, run["kind"]),
                                          int(run["t0_ns"]) + int(doc["t0_ns"]))
    return page


_RUN_LINE = re.compile(r"^# .*Run: exsim compare (?P<name>[\w-]+)(?P<args>(?:\s+--[\w-]+(?:\s+[^\s(-]\S*)?)*)")


def compare_args(name: str) -> list[str]:
    """The options of the compare a built-in is about, from its first line (``# Built-in
    scenario 9. Run: exsim compare haircut-squeeze --modes isolated,cross,multi-assets``):
    its natural modes or venues (none: compare's default isolated,cross)."""
    found = _RUN_LINE.match(resolve(name).read_text(encoding="utf-8").partition("\n")[0])
    assert found and found["name"] == name, f"built-in {name}: its first line does not say how to compare it"
    return found["args"].split()


def make_compare_page(name: str, folder: Path) -> Page:
    """``exsim compare NAME --html FILE --out DIR`` in the built-in's natural modes."""
    html = folder / f"{name}.html"
    run_cli("compare", name, *compare_args(name), "--out", str(folder / name), "--html", str(html))
    return load_page(html)


def rows(path: Path) -> list[dict[str, str]]:
    """A run file's rows, every value the file's own string."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def value_at(series: dict[str, Any], field: str, step: int) -> Any:
    """What a page-document series shows at a global step: its last entry at or before it."""
    shown = None
    for s, v in zip(series["step"], series[field]):
        if s > step:
            break
        shown = v
    return shown
