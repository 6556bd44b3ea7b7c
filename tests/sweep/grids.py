"""The small sweeps the engine tests run (8 cells of the holder on the shipped crash bars),
and the table of one run of it without interruption, made once per test session."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

from exsim.sweep.cells import TIMING_FIELDS
from exsim.sweep.spec import Sweep, load_sweep

REPO = Path(__file__).resolve().parents[2]
CRASH = REPO / "replays" / "btc-perp-20220121-1m.csv"
HERE = Path(__file__).resolve().parent

#: 2 leverages x 2 margin modes x 2 entry delays: liquidated and surviving cells
HOLDER_8 = f"""
name = "holder-8"
[inputs]
files = ["{CRASH}"]
symbol = "BTCUSDT"
[strategy]
name = "holder"
params = {{ qty = "0.05" }}
[config]
balance = "1000"
[axes]
leverage = [20, 125]
margin_mode = ["isolated", "cross"]
[axes.param]
enter_after_s = [0, 3600]
"""


def strategy_sweep(strategy: str, axis: str, values: list[str]) -> str:
    """A sweep of a test strategy in this folder (``file.py:Class``): leverage 5 and 10,
    then its parameter ``axis`` (the last axis varies fastest)."""
    return f"""
[inputs]
files = ["{CRASH}"]
symbol = "BTCUSDT"
[strategy]
name = "{HERE / strategy}"
[axes]
leverage = [5, 10]
[axes.param]
{axis} = {values!r}
""".replace("'", '"')


def write_sweep(folder: Path, text: str, name: str = "sweep.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def sweep_of(folder: Path, text: str, name: str = "sweep.toml") -> Sweep:
    return load_sweep(write_sweep(folder, text, name))


def untimed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows without their timing columns: what must not differ between two runs."""
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]


@functools.cache
def _baseline(root: str) -> tuple[Path, tuple[dict[str, Any], ...]]:
    from exsim.sweep.engine import run_sweep
    from exsim.sweep.table import read_results

    out = Path(root) / "out"
    table = run_sweep(sweep_of(Path(root), HOLDER_8), out, jobs=1, progress=False)
    return table, tuple(read_results(out))


def baseline(tmp_path_factory: Any) -> list[dict[str, Any]]:
    """The table of HOLDER_8 run with one worker, from start to end (once a session)."""
    root = tmp_path_factory.getbasetemp() / "holder-8-baseline"
    return list(_baseline(str(root))[1])


def exsim_command(*args: str) -> list[str]:
    """The command line running ``exsim ARGS`` with this interpreter."""
    return [sys.executable, "-m", "exsim.cli", *args]
