"""The collateral-crash built-in (``exsim compare collateral-crash --modes isolated,cross,multi-assets``):
wrong-way risk. A BTC long backed by BTC loses on the position and on the collateral as
BTC falls; the same long backed by USDT of the same start value does not. Every figure is
worked out by hand in the docstrings; each run checks the ledger and the exchange after
every command.

Setup, no fees: both accounts BTCUSDT long 0.25 BTC at 40,000 (10,000 USDT) at 20x,
initial margin 500; MMR 0.4 %, cum 0, so MM = 0.001 P. ``btc-backed``: 500 USDT and
0.1 BTC, the BTC index = BTCUSDT's mark, value ratio 0.95. ``usdt-backed``: 4,300 USDT
(500 + 3,800, the other's value at the start). Marks 40,000, 38,100 (10m), 36,000,
32,000, 29,000, 27,600 (50m), 26,000, 24,000 (70m), 30,000, 40,000 (90m).
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from exsim.scenario.cli import resolve
from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import load_scenario


def run(mode: str, scenario: Any = None) -> dict[str, dict[str, Any]]:
    scenario = scenario or load_scenario(resolve("collateral-crash"))
    summary = ScenarioRun(scenario, margin_mode=mode, check_every_event=True).run()
    return {a["name"]: a for a in summary["accounts"]}


@pytest.fixture(scope="module")
def multi() -> dict[str, dict[str, Any]]:
    return run("multi-assets")


class TestMultiAssets:
    def test_the_btc_backed_long_is_liquidated_at_27_600(self, multi: dict[str, dict[str, Any]]) -> None:
        """Equity 500 + 0.25 (P − 40,000) + 0.1 × 0.95 P = 0.345 P − 9,500 <= 0.001 P for
        P <= 9,500 / 0.344 = 27,616.28: 29,000 holds (equity 505), 27,600 does not."""
        (liq,) = multi["btc-backed"]["liquidations"]
        assert (liq["after_s"], liq["scope"], liq["marks"]) == ("3000", "multi_assets", ["27600.0"])

    def test_the_collateral_tick_is_the_trigger(self, multi: dict[str, dict[str, Any]]) -> None:
        """The mark 27,600 comes first with BTC still at 29,000 (equity 500 − 3,100 + 2,755 = 155);
        the BTC index then follows to 27,600: equity 0.345 × 27,600 − 9,500 = 22 USD against MM
        27.60 USD, ratio 125.454546 % (rounded up)."""
        (liq,) = multi["btc-backed"]["liquidations"]
        assert (liq["margin_balance"], liq["maint_margin"]) == ("22.00000000", "27.60000000")
        assert multi["btc-backed"]["highest_margin_ratio"] == "1.25454546"

    def test_the_btc_pays_the_usdt_loss_at_the_crashed_price(self, multi: dict[str, dict[str, Any]]) -> None:
        """Sold at 27,600: −3,100 USDT, wallet −2,600; auto-exchange 2,600 / 27,600 = 0.0942028985…
        BTC, rounded up (the trader pays the rounding) to 0.09420290: 0.00579710 BTC left."""
        a = multi["btc-backed"]
        assert (a["realised_loss"], a["assets"]["USDT"]["wallet"], a["assets"]["BTC"]["wallet"]) == (
            "3100.00000000", "0.00000000", "0.00579710")

    def test_what_is_left_after_the_rebound(self, multi: dict[str, dict[str, Any]]) -> None:
        """At 40,000 again: 0.0057971 × 40,000 = 231.884 USD, 220.2898 after the 5 % haircut."""
        a = multi["btc-backed"]
        assert (a["remaining_balance"], a["usd_value"]["remaining_balance"]) == ("220.28980000", "231.88400000")

    def test_the_usdt_backed_long_holds(self, multi: dict[str, dict[str, Any]]) -> None:
        """4,300 + 0.25 (P − 40,000) <= 0.001 P only below 5,700 / 0.249 = 22,891.57; at the low
        24,000 equity 300, MM 24: ratio 8 %."""
        a = multi["usdt-backed"]
        assert (a["liquidations"], a["highest_margin_ratio"], a["remaining_balance"]) == (
            [], "0.08000000", "4300.00000000")

    def test_with_the_btc_index_held_flat_the_btc_backed_long_holds_too(self) -> None:
        """Wrong-way risk is the index falling with the position: at a flat 40,000 the BTC is a
        fixed 3,800 USD, the threshold 5,700 / 0.249 = 22,891.57, and the path never gets there."""
        scenario = load_scenario(resolve("collateral-crash"))
        btc = scenario.collateral["BTC"]
        flat = attrs.evolve(scenario, collateral={"BTC": attrs.evolve(btc, index_source="price",
                                                                      index_path=((0, 40_000 * 10**8),))})
        a = run("multi-assets", flat)["btc-backed"]
        assert (a["liquidations"], a["remaining_balance"]) == ([], "4300.00000000")


class TestSingleAsset:
    def test_isolated_liquidates_both_buckets_at_the_first_dip(self) -> None:
        """Each bucket holds 500: 500 + 0.25 (P − 40,000) <= 0.001 P below 9,500 / 0.249 = 38,152.61;
        sold at 38,100 each keeps 500 − 475 = 25 of it: 25 USDT and 3,825 USDT."""
        r = run("isolated")
        assert [(a["first_liquidation_after_s"], a["remaining_balance"]) for a in r.values()] == [
            ("600", "25.00000000"), ("600", "3825.00000000")]

    def test_cross_liquidates_only_the_account_whose_btc_backs_nothing(self) -> None:
        """Cross single-asset: btc-backed has only its 500 USDT (38,152.61: liquidated at 10m,
        0.1 BTC idle); usdt-backed's 4,300 hold to 22,891.57."""
        r = run("cross")
        btc, usdt = r["btc-backed"], r["usdt-backed"]
        assert (btc["first_liquidation_after_s"], btc["remaining_balance"], btc["idle_collateral"]) == (
            "600", "25.00000000", ["0.10000000 BTC"])
        assert (usdt["liquidations"], usdt["remaining_balance"]) == ([], "4300.00000000")
