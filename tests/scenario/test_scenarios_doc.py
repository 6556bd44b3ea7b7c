"""docs/scenarios.md: every complete example loads and runs; every TOML fragment is TOML.

A fenced ```toml block whose first line is ``# complete`` is a whole scenario file: it must
pass :func:`~exsim.scenario.spec.parse_scenario` and run in both margin modes (as
``exsim compare`` would run it). Other ```toml blocks are fragments of a file; they must
still be valid TOML, so a reader can paste them. The error messages the doc shows must be
the ones exsim gives today, and the table of built-in scenarios must list each one with
its description.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from exsim.errors import InputError
from exsim.scenario.cli import list_builtins
from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import MODES, parse_scenario
from exsim.toml_fields import Source

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"
FENCE = re.compile(r"^```toml[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def toml_blocks() -> list[tuple[int, str]]:
    """``(line of the opening fence, block text)`` for every ```toml block of the doc."""
    text = DOC.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


def complete_blocks() -> list[tuple[int, str]]:
    return [(line, body) for line, body in toml_blocks() if body.startswith("# complete\n")]


def params(blocks: list[tuple[int, str]]) -> list[object]:
    return [pytest.param(line, body, id=f"scenarios.md:{line}") for line, body in blocks]


def test_the_doc_has_complete_examples() -> None:
    # the marker is what selects the examples below: a doc without any would pass silently
    assert len(complete_blocks()) >= 5


@pytest.mark.parametrize("line,body", params(complete_blocks()))
def test_complete_example_loads_and_runs(line: int, body: str) -> None:
    # blank lines in front of the block, so an error names the doc's own line
    scenario = parse_scenario(Source("docs/scenarios.md", "\n" * line + body, DOC.parent))
    for mode in MODES + (("multi-assets",) if scenario.collateral else ()):  # (collateral: the third mode too)
        summary = ScenarioRun(scenario, margin_mode=mode, check_every_event=bool(scenario.collateral)).run()
        assert summary["scenario"] == scenario.name
        assert summary["margin_mode"] == mode


@pytest.mark.parametrize("line,body", params(toml_blocks()))
def test_every_toml_block_is_toml(line: int, body: str) -> None:
    tomllib.loads(body)


# The "Errors" section: each bad file is the minimal example with one line changed; the
# doc must print exactly what exsim says about it.
BAD_FILES = {
    "bad-typo.toml": ("leverage = 10               # initial margin 600 USDT", "levrage = 10"),
    "bad-float.toml": ('price = "60000"             # entry price, USDT', "price = 60000.5"),
    "bad-duration.toml": ('["10m", "57000"]', '["10 min", "57000"]'),
    "bad-setup.toml": ('deposit = "1000"            # USDT', 'deposit = "600"'),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_error_examples_are_what_exsim_prints(name: str) -> None:
    minimal = complete_blocks()[0][1]
    old, new = BAD_FILES[name]
    assert minimal.count(old) == 1, old
    with pytest.raises(InputError) as caught:
        scenario = parse_scenario(Source(name, minimal.replace(old, new), None))
        ScenarioRun(scenario).run()
    doc = DOC.read_text(encoding="utf-8")
    assert f"$ exsim scenario {name}\nexsim: error: {caught.value}\n" in doc


# The collateral errors: the complete example "btc-backed-long" with one line changed.
COLLATERAL_BAD = {
    "bad-haircut.toml": ('tiers = [{ haircut = "0.05" }]', 'tiers = [{ haircut = "1.05" }]'),
    "bad-schedule.toml": ('at = "20m"', 'at = "45m"'),
    "bad-asset.toml": ('asset = "BTC"', 'asset = "ETH"'),
}


@pytest.mark.parametrize("name", sorted(COLLATERAL_BAD))
def test_collateral_error_examples_are_what_exsim_prints(name: str) -> None:
    example = next(body for _, body in complete_blocks() if 'name = "btc-backed-long"' in body)
    old, new = COLLATERAL_BAD[name]
    assert example.count(old) == 1, old
    with pytest.raises(InputError) as caught:
        parse_scenario(Source(name, example.replace(old, new), None))
    assert f"$ exsim scenario {name}\nexsim: error: {caught.value}\n" in DOC.read_text(encoding="utf-8")


def test_builtin_table_lists_every_builtin_with_its_description() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for name, description in list_builtins():
        assert f"| `{name}` | {description} |" in doc, name
