"""Scenario files with multi-asset collateral: ``[collateral.ASSET]`` (rule and index path),
``[[haircut_schedule]]`` (steps and ramps), ``collateral_mode`` per account, and every bad
input as one error naming the file, the line (found by searching the text, never a
hard-coded number) and the field.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exsim.errors import InputError
from exsim.ledger.collateral import CollateralTier
from exsim.scenario.spec import Scenario, parse_scenario
from exsim.toml_fields import Source

BASE = """\
[scenario]
name = "collateral"
margin_mode = "multi-assets"

[[instruments]]
symbol = "BTCUSDT"
maker_fee = "0"
taker_fee = "0"

[collateral.BTC]
index = "path:BTCUSDT"
bid_buffer = "0.01"
ask_buffer = "0.005"
tiers = [{ upto = "10", haircut = "0.02" }, { haircut = "0.05" }]

[collateral.ETH]
index = "2000"

[[accounts]]
name = "trader"
deposit = { USDT = "500", BTC = "0.1" }

[[accounts.positions]]
symbol = "BTCUSDT"
side = "long"
qty = "0.25"
price = "40000"
leverage = 20

[paths.BTCUSDT]
marks = [["0s", "40000"], ["10m", "38000"], ["20m", "36000"], ["60m", "40000"]]

[[haircut_schedule]]
asset = "BTC"
at = "10m"
bid_buffer = "0.05"

[[haircut_schedule]]
asset = "ETH"
at = "20m"
until = "50m"
every = "10m"
haircut = "0.25"
"""


def load(text: str, name: str = "c.toml") -> Scenario:
    return parse_scenario(Source(name, text, None))


def line_of(text: str, needle: str, after: str = "") -> int:
    """The 1-based line of the first line holding ``needle`` at or after the first holding ``after``."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i + 1 for i in range(start, len(lines)) if needle in lines[i])


def error_of(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        load(text)
    return info.value


def sub(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


class TestCollateralTables:
    def test_a_rule_is_read_with_its_buffers_and_marginal_tiers(self) -> None:
        """bid 0.01, ask 0.005; the first 10 BTC at 0.98, the rest at 0.95 (haircut = 1 − value ratio)."""
        c = load(BASE).collateral["BTC"]
        assert (c.bid_buffer_e8, c.ask_buffer_e8) == (1_000_000, 500_000)
        assert c.tiers == (CollateralTier(10 * 10**8, 98_000_000), CollateralTier(None, 95_000_000))

    def test_an_index_that_follows_an_instrument_is_its_mark_in_index_usd_e8(self) -> None:
        """``path:BTCUSDT``: the index points are the mark path's, 40,000 → 4,000,000,000,000 e8."""
        c = load(BASE).collateral["BTC"]
        assert c.follows == "BTCUSDT"
        assert c.index_path == ((0, 40_000 * 10**8), (600 * 10**9, 38_000 * 10**8), (1200 * 10**9, 36_000 * 10**8),
                                (3600 * 10**9, 40_000 * 10**8))

    def test_a_price_index_is_constant(self) -> None:
        """``index = "2000"`` is one point at the start; ETH has no table rule: one tier at 1."""
        c = load(BASE).collateral["ETH"]
        assert (c.index_source, c.index_path, c.tiers) == ("price", ((0, 2000 * 10**8),), (CollateralTier(None, 10**8),))

    def test_an_index_path_of_its_own_is_read_like_a_mark_path(self) -> None:
        """``[collateral.ETH.index] marks``: exact points on a grid of 1e-8 USD."""
        text = sub('[collateral.ETH]\nindex = "2000"\n',
                   '[collateral.ETH.index]\nmarks = [["0s", "2000"], ["30m", "1999.12345678"]]\n')
        c = load(text).collateral["ETH"]
        assert (c.index_source, c.index_path) == ("marks", ((0, 2000 * 10**8), (1800 * 10**9, 199_912_345_678)))

    def test_a_generated_index_shares_the_generator_and_is_reproducible(self) -> None:
        """A generated index starts at its ``start`` and draws the same path on every load."""
        text = sub('[collateral.ETH]\nindex = "2000"\n',
                   '[collateral.ETH.index]\ngenerator = { start = "2000", volatility = "0.01" }\n') + \
            '\n[generator]\nseed = 7\nstep = "10m"\nduration = "60m"\n'
        a, b = load(text).collateral["ETH"], load(text).collateral["ETH"]
        assert a.index_path == b.index_path and a.index_path[0] == (0, 2000 * 10**8) and len(a.index_path) == 7

    def test_the_scenario_ends_with_its_last_index_point(self) -> None:
        """An index path longer than the marks makes the scenario longer."""
        text = sub('[collateral.ETH]\nindex = "2000"\n', '[collateral.ETH.index]\nmarks = [["0s", "2000"], ["90m", "1900"]]\n')
        assert load(text).end_ns == 90 * 60 * 10**9

    def test_a_collateral_only_asset_gets_a_book_of_its_own(self) -> None:
        """BTC and ETH back USDT contracts: they are the collateral assets, USDT the settlement one."""
        sc = load(BASE)
        assert (sc.assets, sc.collateral_assets) == (("USDT",), ("BTC", "ETH"))

    def test_a_stablecoin_needs_no_index(self) -> None:
        """``[collateral.USDC]`` with buffers only counts USDC at 1 USD."""
        c = load(BASE + '\n[collateral.USDC]\nbid_buffer = "0.001"\n').collateral["USDC"]
        assert c.index_path == ((0, 10**8),) and c.bid_buffer_e8 == 100_000


class TestSchedule:
    def test_a_step_changes_only_the_fields_it_gives(self) -> None:
        """``bid_buffer = "0.05"`` at 10m: one change, ask buffer and tiers kept (None)."""
        step = next(s for s in load(BASE).rule_steps if s.asset == "BTC")
        assert (step.at_ns, step.bid_buffer_e8, step.ask_buffer_e8, step.tiers) == (600 * 10**9, 5_000_000, None, None)

    def test_a_ramp_moves_linearly_rounded_toward_the_value_in_force(self) -> None:
        """ETH value ratio 1 → 0.75 over 20m–50m every 10m: 0.91666667, 0.83333334, 0.75 (never past the target)."""
        steps = [s for s in load(BASE).rule_steps if s.asset == "ETH"]
        assert [(s.at_ns // 60 // 10**9, s.tiers) for s in steps] == [
            (30, (CollateralTier(None, 91_666_667),)),
            (40, (CollateralTier(None, 83_333_334),)),
            (50, (CollateralTier(None, 75_000_000),)),
        ]

    def test_changes_come_in_time_order(self) -> None:
        """The steps of every entry are sorted by time."""
        times = [s.at_ns for s in load(BASE).rule_steps]
        assert times == sorted(times) and len(times) == 4

    def test_a_ramp_of_tiers_keeps_the_bounds_in_force(self) -> None:
        """A BTC ramp to one open tier from two tiers is refused: the ratios of the tiers in force move."""
        text = BASE + '\n[[haircut_schedule]]\nasset = "BTC"\nat = "20m"\nuntil = "40m"\nhaircut = "0.3"\n'
        exc = error_of(text)
        assert (exc.where, exc.field) == (f"c.toml:{line_of(text, '0.3')}", "haircut_schedule[2].haircut")
        assert "same tier bounds (10, open)" in exc.message


class TestAccounts:
    def test_an_account_may_fix_its_collateral_mode(self) -> None:
        """``collateral_mode = "single-asset"`` is kept on the account."""
        text = sub('name = "trader"\n', 'name = "trader"\ncollateral_mode = "single-asset"\n')
        assert load(text).accounts[0].collateral_mode == "single-asset"

    def test_deposits_may_be_in_a_collateral_asset(self) -> None:
        """``{ USDT = "500", BTC = "0.1" }``: BTC is no instrument's asset but a collateral one."""
        assert load(BASE).accounts[0].deposits == (("USDT", 500 * 10**8), ("BTC", 10**7))

    def test_the_run_mode_may_be_multi_assets(self) -> None:
        """``margin_mode = "multi-assets"`` is a run mode (cross margin, multi-assets collateral)."""
        assert load(BASE).margin_mode == "multi-assets"


# One mutation of BASE per case: (id, old, new, the text on the error's line, field, a fragment of the message)
BAD = [
    ("unknown-asset-in-schedule", 'asset = "ETH"', 'asset = "SOL"', 'asset = "SOL"', "haircut_schedule[1].asset",
     "unknown asset 'SOL'"),
    ("unknown-asset-deposit", 'BTC = "0.1" }', 'BTC = "0.1", DOGE = "5" }', "DOGE", "accounts[0].deposit.DOGE",
     "DOGE"),
    ("haircut-above-1", '{ haircut = "0.05" }]', '{ haircut = "1.5" }]', "1.5", "collateral.BTC.tiers[1].haircut",
     "haircut outside [0, 1]"),
    ("haircut-below-0-in-schedule", 'haircut = "0.25"', 'haircut = "-0.1"', '"-0.1"', "haircut_schedule[1].haircut",
     "haircut outside [0, 1]"),
    ("tiers-not-increasing", '{ upto = "10", haircut = "0.02" }, { haircut = "0.05" }',
     '{ upto = "10", haircut = "0.02" }, { upto = "5", haircut = "0.03" }, { haircut = "0.05" }', "upto = \"5\"",
     "collateral.BTC.tiers[1].upto", "tiers not increasing"),
    ("bid-above-ask", 'bid_buffer = "0.01"', 'bid_buffer = "-0.01"', 'bid_buffer = "-0.01"',
     "collateral.BTC.bid_buffer", "bid rate above the ask rate"),
    ("buffer-above-1", 'ask_buffer = "0.005"', 'ask_buffer = "1.5"', 'ask_buffer = "1.5"', "collateral.BTC.ask_buffer",
     "[0, 1]"),
    ("float-buffer", 'bid_buffer = "0.05"', "bid_buffer = 0.05", "bid_buffer = 0.05", "haircut_schedule[0].bid_buffer",
     "as a string"),
    ("schedule-after-the-end", 'at = "10m"', 'at = "61m"', 'at = "61m"', "haircut_schedule[0].at",
     "after the scenario's end (60m)"),
    ("ramp-after-the-end", 'until = "50m"', 'until = "70m"', 'until = "70m"', "haircut_schedule[1].until",
     "after the scenario's end"),
    ("ramp-steps-uneven", 'every = "10m"', 'every = "7m"', 'every = "7m"', "haircut_schedule[1].every",
     "whole number of steps"),
    ("index-of-unknown-instrument", 'index = "path:BTCUSDT"', 'index = "path:ETHUSDT"', "path:ETHUSDT",
     "collateral.BTC.index", "'ETHUSDT' is not an instrument"),
    ("no-index", 'index = "2000"\n', '', "[collateral.ETH]", "collateral.ETH.index", "ETH needs an index price"),
    ("unknown-rule-field", 'index = "2000"', 'index = "2000"\nhaircutt = "0.1"', 'haircutt', "collateral.ETH.haircutt",
     "unknown field"),
    ("bad-collateral-mode", 'name = "trader"', 'name = "trader"\ncollateral_mode = "multi"', 'collateral_mode',
     "accounts[0].collateral_mode", "not one of: single-asset, multi-assets"),
    ("isolated-in-multi-assets", 'leverage = 20', 'leverage = 20\nmargin_mode = "isolated"', 'margin_mode = "isolated"',
     "accounts[0].positions[0].margin_mode", "cross margin only"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_names_file_line_and_field(case: tuple[str, str, str, str, str, str]) -> None:
    """Each mistake is one InputError at the line that holds it, naming the field and what was wrong."""
    _, old, new, needle, field, fragment = case
    text = sub(old, new)
    if case[0] == "isolated-in-multi-assets":  # (the account fixes multi-assets: its positions are cross)
        text = sub('name = "trader"\n', 'name = "trader"\ncollateral_mode = "multi-assets"\n', text)
    exc = error_of(text)
    assert (exc.where, exc.field) == (f"c.toml:{line_of(text, needle)}", field), str(exc)
    assert fragment in exc.message, str(exc)


def test_the_command_line_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    """``exsim compare`` on a scenario with a haircut outside [0, 1]: one line on stderr, exit 2, no traceback."""
    text = sub('{ haircut = "0.05" }]', '{ haircut = "1.5" }]')
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "exsim.cli", "compare", str(path), "--modes", "cross,multi-assets"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"exsim: error: {path}:{line_of(text, '1.5')}: field 'collateral.BTC.tiers[1].haircut'")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stdout + proc.stderr


def test_a_csv_index_path_is_read_beside_the_scenario(tmp_path: Path) -> None:
    """``[collateral.ETH.index] csv = "eth.csv"``: a ``time,mark`` file, exact on the 1e-8 USD grid."""
    (tmp_path / "eth.csv").write_text("time,mark\n0s,2000\n15m,1950.5\n", encoding="utf-8")
    text = sub('[collateral.ETH]\nindex = "2000"\n', '[collateral.ETH.index]\ncsv = "eth.csv"\n')
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    from exsim.scenario.spec import load_scenario

    c = load_scenario(path).collateral["ETH"]
    assert (c.index_source, c.index_path) == ("csv", ((0, 2000 * 10**8), (900 * 10**9, 195_050_000_000)))


class TestCollateralModeOfARun:
    def test_a_multi_assets_run_puts_every_account_in_multi_assets(self) -> None:
        """``--mode multi-assets``: an account that fixes nothing is multi-assets, its positions cross."""
        from exsim.scenario.runner import ScenarioRun

        run = ScenarioRun(load(BASE), margin_mode="multi-assets")
        assert (run.collateral_modes, run.margin_mode) == ({1: "multi-assets"}, "cross")

    def test_an_account_that_fixes_single_asset_keeps_it(self) -> None:
        """``collateral_mode = "single-asset"`` holds in a multi-assets run."""
        from exsim.scenario.runner import ScenarioRun

        text = sub('name = "trader"\n', 'name = "trader"\ncollateral_mode = "single-asset"\n')
        assert ScenarioRun(load(text), margin_mode="multi-assets").collateral_modes == {1: "single-asset"}

    def test_a_position_fixed_isolated_keeps_its_account_single_asset(self) -> None:
        """As a position that fixes its margin mode keeps it in every run, its account stays single-asset."""
        from exsim.scenario.runner import ScenarioRun

        text = sub("leverage = 20\n", 'leverage = 20\nmargin_mode = "isolated"\n')
        assert ScenarioRun(load(text), margin_mode="multi-assets").collateral_modes == {1: "single-asset"}

    def test_single_asset_runs_keep_every_account_single_asset(self) -> None:
        """isolated and cross runs: single-asset unless the account fixes multi-assets."""
        from exsim.scenario.runner import ScenarioRun

        assert [ScenarioRun(load(BASE), margin_mode=m).collateral_modes for m in ("isolated", "cross")] == [
            {1: "single-asset"}, {1: "single-asset"}]
