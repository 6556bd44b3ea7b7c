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
