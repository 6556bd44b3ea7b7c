"""How fast hostile input is refused: a scenario file or tick file of garbage must fail at
once, not after seconds of backtracking or reading. (Correctness of the errors is tested
in tests/scenario/test_spec_errors.py and tests/readers/test_bad_input_corpus.py; the
speed targets live here, out of the test run.)
"""

from __future__ import annotations

import random
import string
import time
from pathlib import Path

import pytest

from exsim.errors import InputError
from exsim.scenario.spec import load_scenario

HOSTILE = {
    "header-spaces": "[" + " " * 200_000 + "\n",  # the line map's header pattern once took O(n^3) here
    "header-words": "[scenario]\nname = \"" + "x" * 1000 + "\n" + "[" + "a " * 100_000 + "\n",
    "deep-nesting": "a = " + "[" * 100_000 + "\n",
    "huge-integer": "[scenario]\nname = " + "9" * 5000 + "\n",
    "2mb-garbage": "".join(random.Random(20240101).choice(string.printable) for _ in range(2 * 1024 * 1024)),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_scenario_is_refused_quickly(name: str, tmp_path: Path, benchmark) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"{name}.toml"
    path.write_text(HOSTILE[name], encoding="utf-8", newline="")

    def refuse() -> float:
        t0 = time.perf_counter()
        with pytest.raises(InputError):
            load_scenario(path)
        return time.perf_counter() - t0

    seconds = benchmark.pedantic(refuse, rounds=3, iterations=1)
    benchmark.extra_info["seconds"] = round(seconds, 4)
    assert seconds < 2.0, f"{name}: refused in {seconds:.2f} s (target < 2 s)"


# --------------------------------------------------------------------------- tick files and options (issue 13)
# Each is refused in one line; the target is < 10 s to refuse (the bound), run in a
# subprocess under a 300 MB address-space cap (the memory bound is a test:
# tests/readers/test_bad_input_corpus.py::test_a_compressed_bomb_is_refused_in_bounded_memory).
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HEAD = "id,price,qty,quote_qty,time,is_buyer_maker\n" + "".join(
    f"{5_000_000 + k},61800.0,0.010,618.0,{1_723_161_600_000 + 1_000 * k},true\n" for k in range(5)
)


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (300 << 20, 300 << 20))


def _tick_file(name: str, directory: Path) -> tuple[Path, list[str]]:
    """A hostile input and the extra arguments of its replay."""
    sys.path.insert(0, str(ROOT))
    from tests.readers.bombs import BOMBS

    trades = directory / "BTCUSDT-trades-2024-08-09.csv"
    if name.startswith("bomb-"):
        how = name.removeprefix("bomb-")
        return BOMBS[how](directory / f"{trades.name}.{how}", HEAD.encode()), []
    if name == "4000-digit-time":
        trades.write_text(HEAD + f"5000005,61800.0,0.010,618.0,{'9' * 4000},true\n")
    elif name == "int64-max-time-last":
        trades.write_text(HEAD + "5000005,61800.0,0.010,618.0,9223372036854775807,true\n")
    elif name == "year-2099-last-row":  # inside the window: replayed, the samplers jump the gap
        trades.write_text(HEAD + "5000005,61800.0,0.010,618.0,4070908800000,true\n")
        return trades, []
    elif name == "sample-1ns":
        trades.write_text(HEAD)
        return trades, ["--sample", "1ns"]
    elif name == "mark-interval-1ns":
        trades.write_text(HEAD)
        return trades, ["--mark-interval", "1ns"]
    elif name == "synthetic-levels-10M":
        trades.write_text(HEAD)
        return trades, ["--synthetic-levels", "10000000", "--strategy", "market_maker"]
    return trades, []


TICK_CASES = ["bomb-gz", "bomb-zip", "bomb-zst", "4000-digit-time", "int64-max-time-last", "year-2099-last-row",
              "sample-1ns", "mark-interval-1ns", "synthetic-levels-10M"]


@pytest.mark.parametrize("name", TICK_CASES)
def test_hostile_tick_input_is_refused_quickly(name: str, tmp_path: Path, benchmark) -> None:  # type: ignore[no-untyped-def]
    path, extra = _tick_file(name, tmp_path)

    def refuse() -> float:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "exsim.cli", "replay", str(path), "--no-progress", "--out", str(tmp_path / f"run-{time.time_ns()}"), *extra],
            preexec_fn=_capped, capture_output=True, text=True, timeout=120, cwd=ROOT,
        )
        seconds = time.perf_counter() - t0
        if name == "year-2099-last-row":
            assert proc.returncode == 0, proc.stderr
        else:
            assert proc.returncode == 2 and proc.stderr.startswith("exsim: error: ") and proc.stderr.count("\n") == 1, proc.stderr
        return seconds

    seconds = benchmark.pedantic(refuse, rounds=2, iterations=1)
    benchmark.extra_info["seconds"] = round(seconds, 3)
    assert seconds < 10.0, f"{name}: {seconds:.2f} s (target < 10 s)"
