"""The haircut-squeeze built-in (``exsim compare haircut-squeeze --modes isolated,cross,multi-assets``):
a 20x ETH long backed by USDT and BTC, whose BTC haircut the venue raises during the
drawdown. Every figure is worked out by hand in the docstrings; each run checks the ledger
and the exchange after every command.

Setup, no fees: ETHUSDT long 5 ETH at 2,000 (10,000 USDT) at 20x, initial margin 500; MMR
0.4 %, cum 0, so MM = 0.004 × 5 × P = 0.02 P. Wallets 500 USDT and 0.05 BTC; the BTC index
is 40,000 throughout, its value ratio 0.95 (haircut 5 %) until the ramp: 0.88333334 at
30m, 0.81666667 at 40m, 0.75 at 50m. Marks 2,000, 1,905 (10m), 1,800, 1,700, 1,650,
1,604 (50m), 1,580 (60m), 1,700, 1,900, 2,000 (90m).

Multi-assets: account equity = 500 + 0.05 × 40,000 × ratio + 5 (P − 2,000); liquidated
when it is <= 0.02 P, i.e. P <= (9,500 − 2,000 × ratio) / 4.98.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from exsim.scenario.cli import resolve
from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import load_scenario


def run(mode: str, **changes: Any) -> dict[str, Any]:
    scenario = load_scenario(resolve("haircut-squeeze"))
    return ScenarioRun(attrs.evolve(scenario, **changes), margin_mode=mode, check_every_event=True).run()["accounts"][0]


@pytest.fixture(scope="module")
def multi() -> dict[str, Any]:
    return run("multi-assets")


@pytest.fixture(scope="module")
def unchanged() -> dict[str, Any]:
    """The same run with the haircut left at 5 % (no schedule)."""
    return run("multi-assets", rule_steps=())


class TestMultiAssets:
    def test_the_haircut_rise_liquidates_at_50m(self, multi: dict[str, Any]) -> None:
        """At 50m the mark 1,604 is above (9,500 − 2,000 × 0.81666667) / 4.98 = 1,579.65, but the
        ratio then drops to 0.75 and the threshold rises to 8,000 / 4.98 = 1,606.43: liquidated."""
        (liq,) = multi["liquidations"]
        assert (liq["after_s"], liq["scope"], liq["marks"], liq["positions"]) == (
            "3000", "multi_assets", ["1604.00"], ["ETHUSDT long 5.000"])

    def test_the_trigger_figures(self, multi: dict[str, Any]) -> None:
        """Equity 500 + 1,500 + 5 × (1,604 − 2,000) = 20 USD; MM 0.02 × 1,604 = 32.08 USD; ratio 160.40 %."""
        (liq,) = multi["liquidations"]
        assert (liq["margin_balance"], liq["maint_margin"]) == ("20.00000000", "32.08000000")
        assert multi["highest_margin_ratio"] == "1.60400000"

    def test_the_explanation_is_the_engines_itemized_one(self, multi: dict[str, Any]) -> None:
        """It names the account margin ratio, each asset's equity and the BTC haircut lost:
        0.05 BTC is worth 2,000 USD at the index, 1,500 at ratio 0.75 (haircut 500)."""
        text = multi["liquidations"][0]["explanation"]
        assert "margin ratio 160.40 %" in text
        assert "BTC equity 0.05000000 BTC worth 1500.00 USD (haircut 500.00 USD)" in text
        assert "liquidation price 1606.42570281" in text

    def test_the_loss_is_covered_from_the_btc(self, multi: dict[str, Any]) -> None:
        """Sold at 1,604: −1,980 USDT, the USDT wallet 500 − 1,980 = −1,480; the auto-exchange
        sells 1,480 / 40,000 = 0.037 BTC (no bid buffer) for it: 0 USDT and 0.013 BTC left."""
        assert multi["realised_loss"] == "1980.00000000"
        assert (multi["assets"]["USDT"]["wallet"], multi["assets"]["BTC"]["wallet"]) == ("0.00000000", "0.01300000")

    def test_what_is_left_in_usd(self, multi: dict[str, Any]) -> None:
        """0.013 BTC: 520 USD at the index, 390 USD as collateral at ratio 0.75 (haircut 130)."""
        assert (multi["asset"], multi["remaining_balance"], multi["usd_value"]["remaining_balance"]) == (
            "USD", "390.00000000", "520.00000000")
        assert multi["portfolio"]["haircut_usd"] == {"USDT": "0.00000000", "BTC": "130.00000000"}


class TestTheHaircutUnchanged:
    def test_the_same_path_liquidates_nothing(self, unchanged: dict[str, Any]) -> None:
        """At ratio 0.95 the threshold is 7,600 / 4.98 = 1,526.10, below the low 1,580: no liquidation."""
        assert unchanged["liquidations"] == [] and unchanged["open_positions"] == ["ETHUSDT long 5.000"]

    def test_its_highest_margin_ratio_is_at_the_low(self, unchanged: dict[str, Any]) -> None:
        """At 1,580: equity 500 + 1,900 + 5 × (−420) = 300 USD, MM 31.60: ratio 10.533334 % (rounded up)."""
        assert (unchanged["highest_margin_ratio"], unchanged["lowest_headroom_after_s"]) == ("0.10533334", "3600")

    def test_it_ends_where_it_started(self, unchanged: dict[str, Any]) -> None:
        """Back at 2,000: 500 USDT + 0.05 BTC = 2,400 USD after the 5 % haircut (100 USD)."""
        assert unchanged["remaining_balance"] == "2400.00000000"
        assert unchanged["portfolio"]["haircut_usd"]["BTC"] == "100.00000000"


@pytest.mark.parametrize("mode", ["isolated", "cross"])
class TestSingleAsset:
    def test_the_btc_backs_nothing_and_the_first_dip_liquidates(self, mode: str) -> None:
        """Only the 500 USDT backs the long: P <= 9,500 / 4.98 = 1,907.63, so 1,905 at 10m
        liquidates it; sold there, it keeps 500 − 5 × 95 = 25 USDT, and the BTC sits idle."""
        a = run(mode)
        assert (a["first_liquidation_after_s"], a["liquidation_marks"], a["remaining_balance"]) == (
            "600", ["1905.00"], "25.00000000")
        assert (a["collateral_mode"], a["idle_collateral"]) == ("single-asset", ["0.05000000 BTC"])
