"""Liquidity shocks (``[[book.shocks]]``) and the liquidity-shock built-in.

The rule (docs/scenarios.md, "liquidity shocks"): before the first shock the ladder has
``[book]``'s depth and spread; from a shock's ``at`` its figures, during a ramp
``v0 + floor((v1 − v0) × (t − at) / ramp)`` (atoms, ticks). The ladder takes them at every
path point and, re-set around the current mark, at each shock's start and ramp end
(before the orders of that instant).

The built-in, worked out by hand: long 0.5 BTC at 50,000 at 20x (initial margin 1,250),
deposit 1,500, fees off, MMR 0.4 %, insurance fund 10,000. Five levels a side, 100 USDT
(1,000 ticks) apart; 10 M USDT a level, spread 1 tick (best bid = the mark) until 20m;
drained linearly until 30m to spread 6,000 ticks (best bid = mark − 300) and 4,730 USDT a
level. Marks 50,000, 49,000 (10m), 48,200 (20m), 47,900 (25m), 47,600 (30m), 47,600 (40m),
47,100 (50m), 47,100 (60m).
"""

from __future__ import annotations

import csv
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from exsim.replay.explain import liquidations_of
from exsim.scenario.runner import ScenarioRun
from exsim.scenario.spec import Scenario, load_scenario, parse_scenario
from exsim.toml_fields import Source

BUILTIN = Path(str(resources.files("exsim.scenario").joinpath("builtin", "liquidity-shock.toml")))
MIN = 60 * 10**9
ATOM = 10**8  # atoms per USDT
SHOCK = '[[book.shocks]]\nat = "20m"\nramp = "10m"\nspread_ticks = 6000\ndepth = "4730"\n'


@pytest.fixture(scope="module")
def builtin() -> Scenario:
    return load_scenario(BUILTIN)


def normal_book() -> Scenario:
    """The built-in without its shock: the normal book throughout."""
    text = BUILTIN.read_text(encoding="utf-8")
    assert text.count(SHOCK) == 1
    return parse_scenario(Source("normal.toml", text.replace(SHOCK, ""), None))


class Run:
    """One run into a folder: its summary, its one account, and the fills of its CSV."""

    def __init__(self, sc: Scenario, mode: str, out: Path, venue: str | None = None) -> None:
        self.summary = ScenarioRun(sc, margin_mode=mode, out_dir=out, check_every_event=True, venue=venue).run()
        (self.account,) = self.summary["accounts"]
        self.fills = list(csv.DictReader((out / "fills.csv").open()))
        self.series = list(csv.DictReader((out / "timeseries.csv").open()))
        self.events = liquidations_of(out)  # the Liquidation events, in order
        self.start_ns = sc.start_ns

    def taken_over(self) -> list[tuple[int, int, int]]:
        """Each liquidated position: (lots filled in the book, lots taken over, bankruptcy price in ticks)."""
        return [(p["filled_lots"], p["taken_over_lots"], p["bankruptcy_price_ticks"]) for e in self.events
                for p in e["positions"]]

    def fund_fills(self) -> list[tuple[int, str, str]]:
        """The insurance fund's fills: (minutes from the start, price, qty)."""
        return [((int(f["ts_ns"]) - self.start_ns) // MIN, f["price"], f["qty"]) for f in self.fills if f["account"] == "-1"]


# --------------------------------------------------------------------------- the rule
class TestFiguresAtATime:
    def test_before_the_shock_the_book_figures(self, builtin: Scenario) -> None:
        """Until 20m (and at 20m itself, 0 of the ramp elapsed): 10,000,000 USDT, 1 tick."""
        assert builtin.book.figures_at(20 * MIN - 1) == (10_000_000 * ATOM, 1)
        assert builtin.book.figures_at(20 * MIN) == (10_000_000 * ATOM, 1)

    def test_halfway_down_the_ramp(self, builtin: Scenario) -> None:
        """25m, 5 of 10 minutes: depth 10,000,000 + floor(−9,995,270 / 2) = 5,002,365;
        spread 1 + floor(5,999 / 2) = 3,000 ticks."""
        assert builtin.book.figures_at(25 * MIN) == (5_002_365 * ATOM, 3_000)

    def test_three_quarters_down_rounds_toward_minus_infinity(self, builtin: Scenario) -> None:
        """27m30s: the depth's change −9,995,270 × 0.75 = −7,496,452.5 USDT is a whole number
        of atoms (−749,645,250,000,000): 2,503,547.5; the spread's 5,999 × 0.75 = 4,499.25
        ticks rounds down to 4,499: 4,500."""
        assert builtin.book.figures_at(27 * MIN + 30 * 10**9) == (250_354_750_000_000, 4_500)

    def test_a_change_of_a_fraction_of_an_atom_rounds_down(self, builtin: Scenario) -> None:
        """One nanosecond into the ramp: −999,527,000,000,000 atoms × 1 / 600,000,000,000 ns =
        −1,665.87… atoms → −1,666 (toward minus infinity, the thinner book); the spread's
        5,999 × 1 / 6e11 ticks → 0."""
        assert builtin.book.figures_at(20 * MIN + 1) == (10_000_000 * ATOM - 1_666, 1)

    def test_after_the_ramp_the_shock_figures(self, builtin: Scenario) -> None:
        """From 30m on: 4,730 USDT a level, 6,000 ticks."""
        assert builtin.book.figures_at(30 * MIN) == builtin.book.figures_at(60 * MIN) == (4_730 * ATOM, 6_000)

    def test_a_step_then_a_shock_that_gives_one_figure(self) -> None:
        """A step at 10m to depth 500 (spread kept), then at 15m spread 9 (depth kept)."""
        sc = tiny('[[book.shocks]]\nat = "10m"\ndepth = "500"\n\n[[book.shocks]]\nat = "15m"\nspread_ticks = 9\n')
        assert [sc.book.figures_at(t * MIN) for t in (9, 10, 14, 15, 20)] == [
            (1000 * ATOM, 1), (500 * ATOM, 1), (500 * ATOM, 1), (500 * ATOM, 9), (500 * ATOM, 9)]


TINY = """\
[scenario]
name = "tiny"

[[instruments]]
symbol = "DEMOUSDT"
tick_size = "0.01"
lot_size = "1"
brackets = [{ cap = "1000000", mmr = "0.01", max_leverage = 20 }]
maker_fee = "0"
taker_fee = "0"

[book]
levels = 3
depth = "1000"

SHOCKS
[[accounts]]
deposit = "1000"

[[accounts.orders]]
at = "10m"
symbol = "DEMOUSDT"
side = "buy"
type = "market"
qty = "1"

[[accounts.orders]]
at = "12m"
symbol = "DEMOUSDT"
side = "sell"
type = "market"
qty = "1"

[paths.DEMOUSDT]
marks = [["0s", "100"], ["5m", "100"], ["11m", "100"], ["20m", "100"]]
"""


def tiny(shocks: str) -> Scenario:
    return parse_scenario(Source("tiny.toml", TINY.replace("SHOCKS", shocks), None))


class TestTheLadder:
    def test_a_step_shock_is_in_the_book_before_the_orders_of_its_instant(self, tmp_path: Path) -> None:
        """Spread 1 → 41 ticks at 10m: the buy at 10m meets the re-set ladder around the mark
        100: best bid 100 − 0.20, best ask 100 − 0.20 + 0.41 = 100.21. Without the shock it
        pays 100.01 (the best ask is one tick above the mark)."""
        shocked = Run(tiny('[[book.shocks]]\nat = "10m"\nspread_ticks = 41\n'), "cross", tmp_path / "s")
        normal = Run(tiny(""), "cross", tmp_path / "n")
        assert [f["price"] for f in shocked.fills if f["side"] == "buy"][-1] == "100.21"
        assert [f["price"] for f in normal.fills if f["side"] == "buy"][-1] == "100.01"

    def test_a_ramp_is_taken_at_each_path_point(self, tmp_path: Path) -> None:
        """Spread 1 → 101 over 10m from 5m. At 11m (6 of 10 minutes) the path point re-sets the
        ladder with spread 1 + floor(100 × 0.6) = 61: best bid 100 − 0.30 = 99.70. The sell at
        12m takes it (between points the ladder does not move)."""
        r = Run(tiny('[[book.shocks]]\nat = "5m"\nramp = "10m"\nspread_ticks = 101\n'), "cross", tmp_path)
        assert r.summary["accounts"][0]["open_positions"] == []
        assert [f["price"] for f in r.fills if f["side"] == "sell"][-1] == "99.70"

    def test_each_re_set_is_a_sample(self, tmp_path: Path) -> None:
        """A ramp from 5m to 15m: ``book`` samples at 5m and 15m."""
        r = Run(tiny('[[book.shocks]]\nat = "5m"\nramp = "10m"\nspread_ticks = 101\n'), "cross", tmp_path)
        book = sorted({(int(x["ts_ns"]) - r.start_ns) // MIN for x in r.series if x["why"] == "book"})
        assert book == [5, 15]


# --------------------------------------------------------------------------- the built-in
@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("liquidity-shock")
    sc = load_scenario(BUILTIN)
    return {"isolated": Run(sc, "isolated", base / "isolated"), "cross": Run(sc, "cross", base / "cross"),
            "normal isolated": Run(normal_book(), "isolated", base / "ni"),
            "normal cross": Run(normal_book(), "cross", base / "nc")}


class TestIsolated:
    """Liquidated when 1,250 + 0.5 (P − 50,000) <= 0.002 P: P <= 23,750 / 0.498 = 47,690.76.
    47,900 (25m) holds; 47,600 (30m) does not: balance 50, MM 95.20. Bankruptcy price
    50,000 − 1,250 / 0.5 = 47,500."""

    def test_liquidated_at_30m(self, runs: dict[str, Run]) -> None:
        """One liquidation, 30 minutes in, at the trigger figures 50 / 95.20."""
        (liq,) = runs["isolated"].account["liquidations"]
        assert (liq["after_s"], liq["marks"], liq["margin_balance"], liq["maint_margin"]) == (
            "1800", ["47600.0"], "50.00000000", "95.20000000")
        assert Decimal(23_750) / Decimal("0.498") > Decimal(47_600)

    def test_the_drained_book_fills_nothing_the_fund_takes_it_at_47500(self, runs: dict[str, Run]) -> None:
        """The best bid is 47,600 − 300 = 47,300 < 47,500: nothing fills within the bankruptcy
        price; the fund takes the 500 lots over at 47,500.0 (475,000 ticks)."""
        r = runs["isolated"]
        assert not [f for f in r.fills if f["liquidation"] == "True"]
        assert r.taken_over() == [(0, 500, 475_000)]

    def test_the_fund_unwinds_into_five_thin_levels_and_pays_200(self, runs: dict[str, Run]) -> None:
        """At 40m (mark 47,600) the fund sells into 47,300 … 46,900, floor(4,730 / (price ×
        0.001)) = 100 lots each: 0.1 × 235,500 = 23,550 for 23,750: −200; it ends at 9,800."""
        r = runs["isolated"]
        assert r.fund_fills() == [(40, p, "0.100") for p in ("47300.0", "47200.0", "47100.0", "47000.0", "46900.0")]
        assert [4_730_000 // p for p in (47_300, 47_200, 47_100, 47_000, 46_900)] == [100] * 5
        assert Decimal(r.summary["insurance_fund_end"]) == 10_000 + Decimal("0.1") * 235_500 - Decimal("0.5") * 47_500 == 9_800

    def test_the_trader_keeps_the_wallet(self, runs: dict[str, Run]) -> None:
        """The bucket is gone at the bankruptcy price: 1,500 − 1,250 = 250."""
        assert Decimal(runs["isolated"].account["remaining_balance"]) == 250

    def test_the_normal_book_would_have_returned_50(self, runs: dict[str, Run]) -> None:
        """Without the shock the 0.5 BTC sells at the mark 47,600: 1,250 − 1,200 = 50 back,
        300 kept, the fund untouched."""
        r = runs["normal isolated"]
        assert [(f["price"], f["qty"]) for f in r.fills if f["liquidation"] == "True"] == [("47600.0", "0.500")]
        assert Decimal(r.account["remaining_balance"]) == 1500 - 1250 + 50 == 300
        assert Decimal(r.summary["insurance_fund_end"]) == 10_000


class TestCross:
    """The whole 1,500: liquidated when 1,500 + 0.5 (P − 50,000) <= 0.002 P, P <= 23,500 /
    0.498 = 47,188.76: at 50m (47,100; balance 50, MM 94.20). Bankruptcy price 47,100 − 50 /
    0.5 = 47,000; best bid 46,800."""

    def test_liquidated_at_50m(self, runs: dict[str, Run]) -> None:
        """One cross liquidation at 50m, 50 / 94.20."""
        (liq,) = runs["cross"].account["liquidations"]
        assert (liq["after_s"], liq["scope"], liq["margin_balance"], liq["maint_margin"]) == (
            "3000", "cross", "50.00000000", "94.20000000")

    def test_the_fund_takes_it_at_47000_and_pays_199(self, runs: dict[str, Run]) -> None:
        """Taken over at 47,000; at 60m sold into levels of floor(4,730,000 / price) = 101 lots:
        0.101 × (46,800 + 46,700 + 46,600 + 46,500) + 0.096 × 46,400 = 23,301 for 23,500."""
        r = runs["cross"]
        assert [4_730_000 // p for p in (46_800, 46_700, 46_600, 46_500, 46_400)] == [101] * 5
        assert r.taken_over() == [(0, 500, 470_000)]
        assert r.fund_fills() == [
            (60, p, "0.101") for p in ("46800.0", "46700.0", "46600.0", "46500.0")] + [(60, "46400.0", "0.096")]
        proceeds = Decimal("0.101") * (46_800 + 46_700 + 46_600 + 46_500) + Decimal("0.096") * 46_400
        assert proceeds == 23_301
        assert Decimal(r.summary["insurance_fund_end"]) == 10_000 + proceeds - 23_500 == 9_801

    def test_the_trader_keeps_nothing_where_the_normal_book_returned_50(self, runs: dict[str, Run]) -> None:
        """Drained: 0. Normal: sold at 47,100, 50 back."""
        assert Decimal(runs["cross"].account["remaining_balance"]) == 0
        assert Decimal(runs["normal cross"].account["remaining_balance"]) == 50


class TestVenues:
    """The same book under the other venues' maintenance rules (exsim compare liquidity-shock
    --venues binance,bybit,hyperliquid,dydx), isolated."""

    def test_bybit_meets_the_drained_book_like_binance(self, tmp_path: Path, builtin: Scenario) -> None:
        """MM on the entry value, 0.5 % × 25,000 = 125: 1,250 + 0.5 (P − 50,000) <= 125 for
        P <= 47,750: at 30m, into the drained book; the fund takes it at 47,500 and pays 200."""
        r = Run(builtin, "isolated", tmp_path, venue="bybit")
        assert [x["after_s"] for x in r.account["liquidations"]] == ["1800"]
        assert Decimal(r.summary["insurance_fund_end"]) == 9_800

    def test_hyperliquid_sells_into_the_half_drained_book_at_25m(self, tmp_path: Path, builtin: Scenario) -> None:
        """MMR 1.25 %: liquidated when 1,250 + 0.5 (P − 50,000) < 0.00625 P, P < 48,734.18: at
        48,200 (20m) 350 ≥ 301.25 holds, at 47,900 (25m) 200 < 299.375 does not. A market
        order into the ladder of 25m (spread 3,000 ticks): best bid 47,900 − 150 = 47,750."""
        r = Run(builtin, "isolated", tmp_path, venue="hyperliquid")
        assert [x["after_s"] for x in r.account["liquidations"]] == ["1500"]
        assert [(f["price"], f["qty"]) for f in r.fills if f["liquidation"] == "True"] == [("47750.0", "0.500")]

    def test_dydx_liquidates_before_the_book_changes(self, tmp_path: Path, builtin: Scenario) -> None:
        """MMF 3 %: at 48,200 (20m) MM 723 > net collateral 350, filled at the mark: the shock
        starts at 20m with 0 of its ramp elapsed, so the best bid is still the mark."""
        r = Run(builtin, "isolated", tmp_path, venue="dydx")
        assert [x["after_s"] for x in r.account["liquidations"]] == ["1200"]
        assert [(f["price"], f["qty"]) for f in r.fills if f["liquidation"] == "True"] == [("48200.0", "0.500")]
