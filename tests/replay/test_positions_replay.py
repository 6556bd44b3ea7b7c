"""positions.csv, depth.csv and positions_risk of replays on real data (the hftbacktest
Binance capture of 2024-08-08 and the shipped 2022-01-21 crash): the strategy account's
positions at every written time-series row, attributed by the ledger's own figures.

BTCUSDT's and ETHUSDT's first brackets (the shipped tiers): MMR 0.4 %, cum 0.
"""

from __future__ import annotations

import csv
import json
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

from exsim.replay import Replay, ReplayConfig, Strategy
from exsim_examples.holder import Holder

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "hftbacktest-binance-20240808"
BTC = DATA / "usdm_btcusdt_20240808.gz"
ETH = DATA / "usdm_ethusdt_20240808.gz"
CRASH = ROOT / "replays" / "btc-perp-20220121-1m.csv"


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class Pair(Strategy):
    """Buys 0.1 BTC and sells 1 ETH at market once both have a book (cross, 20x), and holds."""

    def __init__(self) -> None:
        self.sent: set[str] = set()

    def on_start(self, ctx: Any) -> None:
        ctx.set_leverage("BTCUSDT", 20)
        ctx.set_leverage("ETHUSDT", 20)

    def on_book(self, ctx: Any, update: Any) -> None:
        for symbol, qty, send in (("BTCUSDT", "0.1", ctx.buy), ("ETHUSDT", "1", ctx.sell)):
            if symbol not in self.sent and ctx.best_bid(symbol) is not None and ctx.best_ask(symbol) is not None:
                self.sent.add(symbol)
                send(symbol, ctx.qty_lots(symbol, qty))


@pytest.fixture(scope="module")
def holder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("holder")
    return out, Replay([BTC], Holder(qty="0.4", leverage=50), ReplayConfig(balance="10000"), out_dir=out).run()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("pair")
    return out, Replay([BTC, ETH], Pair(), ReplayConfig(balance="10000"), out_dir=out).run()


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("crash")
    holder = Holder(qty="0.4", leverage=125, margin_mode="isolated", enter_after_s=3600)
    return out, Replay([CRASH], holder, ReplayConfig(balance="1000", symbol="BTCUSDT"), out_dir=out).run()


def toward_zero(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)


class TestOnePosition:
    def test_a_row_per_written_time_series_row_with_the_same_figures(self, holder: tuple[Path, dict[str, Any]]) -> None:
        """Each row of an open position is the time series' row at its instant (not a
        liquidation trigger row): mark, signed size, entry, scope figures, liquidation price.
        Before the first mark the position is valued at its entry price, which ``mark`` shows."""
        out, _ = holder
        series = {r["ts_ns"]: r for r in rows(out / "timeseries.csv") if r["why"] != "liquidation"}
        pos = rows(out / "positions.csv")
        assert len(pos) > 300
        for p in pos:
            s = series[p["ts_ns"]]
            assert (p["symbol"], p["qty"], p["entry_price"], p["liquidation_price"]) == (
                s["symbol"], s["position_qty"], s["entry_price"], s["liquidation_price"])
            assert Decimal(p["mark"]) == Decimal(s["mark"] or p["entry_price"])
            assert (p["scope_margin_balance"], p["scope_maint_margin"], p["scope_margin_ratio"]) == (
                s["margin_balance"], s["maint_margin"], s["margin_ratio"])
        held = [s for s in series.values() if s["position_qty"] != "0.000"]
        assert len(pos) == len(held)

    def test_maint_margin_is_the_first_bracket_at_the_mark(self, holder: tuple[Path, dict[str, Any]]) -> None:
        """0.4 BTC at the mark × 0.4 %, rounded up to 1e-8 (exact here: the mark is on 0.01);
        the pool's only position carries all of it."""
        out, _ = holder
        for p in rows(out / "positions.csv"):
            assert Decimal(p["maint_margin"]) == Decimal("0.4") * Decimal(p["mark"]) * Decimal("0.004")
            assert p["maint_margin"] == p["scope_maint_margin"] and p["margin_mode"] == "cross"

    def test_distance_is_exact_toward_zero(self, holder: tuple[Path, dict[str, Any]]) -> None:
        """distance_fraction = (liquidation − mark) / mark, cut at 8 decimals toward zero."""
        out, _ = holder
        for p in rows(out / "positions.csv"):
            liq, mark = Decimal(p["liquidation_price"]), Decimal(p["mark"])
            assert Decimal(p["distance_fraction"]) == toward_zero((liq - mark) / mark) < 0

    def test_drawdown_is_below_the_best_so_far(self, holder: tuple[Path, dict[str, Any]]) -> None:
        """drawdown = the highest unrealized PnL so far − the PnL now (>= 0); positions_risk's
        max_drawdown and worst_unrealized_pnl are the file's extremes."""
        out, s = holder
        best = None
        dds, pnls = [], []
        for p in rows(out / "positions.csv"):
            pnl = Decimal(p["unrealized_pnl"])
            best = pnl if best is None else max(best, pnl)
            assert Decimal(p["drawdown"]) == best - pnl >= 0
            dds.append(best - pnl)
            pnls.append(pnl)
        (risk,) = s["account"]["positions_risk"]
        assert (Decimal(risk["max_drawdown"]), Decimal(risk["worst_unrealized_pnl"])) == (max(dds), min(pnls))
        assert (risk["symbol"], risk["margin_mode"], risk["open_at_end"], risk["share_of_pool_maint_margin"]) == (
            "BTCUSDT", "cross", "0.400", "1.00000000")

    def test_positions_risk_worst_point_is_the_highest_ratio_row(self, holder: tuple[Path, dict[str, Any]]) -> None:
        """The worst point is the first row with the highest scope margin ratio: its MM and PnL."""
        out, s = holder
        pos = rows(out / "positions.csv")
        worst = max(pos, key=lambda p: Decimal(p["scope_margin_ratio"]))
        (risk,) = s["account"]["positions_risk"]
        assert (str(risk["worst_point_ts_ns"]), risk["maint_margin"], risk["unrealized_pnl"], risk["scope_margin_ratio"]) == (
            worst["ts_ns"], worst["maint_margin"], worst["unrealized_pnl"], worst["scope_margin_ratio"])
        assert json.loads((out / "summary.json").read_text())["account"]["positions_risk"] == s["account"]["positions_risk"]

    def test_generation_is_zero(self, holder: tuple[Path, dict[str, Any]]) -> None:
        """A replay has no cascade rounds: generation 0 in positions.csv and depth.csv, and
        its time series has no generation column."""
        out, _ = holder
        assert {p["generation"] for p in rows(out / "positions.csv")} == {"0"}
        assert {d["generation"] for d in rows(out / "depth.csv")} == {"0"}
        assert "generation" not in rows(out / "timeseries.csv")[0]


class TestDepth:
    def test_one_row_per_written_time_series_row(self, holder: tuple[Path, dict[str, Any]]) -> None:
        """depth.csv rows are at the written time-series rows' instants (liquidation rows aside)."""
        out, _ = holder
        series = [(r["ts_ns"], r["symbol"]) for r in rows(out / "timeseries.csv") if r["why"] != "liquidation"]
        assert [(d["ts_ns"], d["symbol"]) for d in rows(out / "depth.csv")] == series

    def test_levels_are_the_replayed_book_best_first(self, holder: tuple[Path, dict[str, Any]]) -> None:
        """At most 10 levels a side on the 0.1 tick and 0.001 lot, bids falling, asks rising,
        the best bid under the best ask."""
        out, _ = holder
        for d in rows(out / "depth.csv"):
            bids = [tuple(Decimal(x) for x in lv.split(":")) for lv in d["bids"].split(";")]
            asks = [tuple(Decimal(x) for x in lv.split(":")) for lv in d["asks"].split(";")]
            assert 1 <= len(bids) <= 10 and 1 <= len(asks) <= 10
            assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
            assert [p for p, _ in asks] == sorted(p for p, _ in asks)
            assert bids[0][0] < asks[0][0]
            assert all(p % Decimal("0.1") == 0 and q % Decimal("0.001") == 0 and q > 0 for p, q in bids + asks)


class TestCrossPair:
    def test_the_pool_is_split_between_btc_and_eth(self, pair: tuple[Path, dict[str, Any]]) -> None:
        """Each sample with both legs open: Σ maint_margin = scope_maint_margin; BTC's is 0.1 ×
        mark × 0.4 %, ETH's 1 × mark × 0.4 %."""
        out, _ = pair
        by_ts: dict[str, list[dict[str, str]]] = {}
        for p in rows(out / "positions.csv"):
            by_ts.setdefault(p["ts_ns"], []).append(p)
        both = [legs for legs in by_ts.values() if {p["symbol"] for p in legs} == {"BTCUSDT", "ETHUSDT"}]
        assert len(both) > 100
        for legs in both:
            btc, eth = sorted(legs, key=lambda p: p["symbol"])
            assert sum(Decimal(p["maint_margin"]) for p in legs) == Decimal(btc["scope_maint_margin"])
            assert Decimal(btc["maint_margin"]) == Decimal("0.1") * Decimal(btc["mark"]) * Decimal("0.004")
            assert Decimal(eth["maint_margin"]) == Decimal(eth["mark"]) * Decimal("0.004")
            assert (btc["margin_mode"], eth["qty"]) == ("cross", "-1.000")

    def test_positions_risk_shares_add_up_to_the_pool(self, pair: tuple[Path, dict[str, Any]]) -> None:
        """positions_risk: one entry per leg; BTC's share is 0.1 × BTC / (0.1 × BTC + ETH) at
        the worst point, about 6,180 / 8,860 = 0.70 at these prices; the shares (rounded down)
        sum to 1 within 2e-8."""
        _, s = pair
        btc, eth = sorted(s["account"]["positions_risk"], key=lambda r: r["symbol"])
        shares = Decimal(btc["share_of_pool_maint_margin"]) + Decimal(eth["share_of_pool_maint_margin"])
        assert Decimal("0.99999998") <= shares <= 1
        assert Decimal("0.6") < Decimal(btc["share_of_pool_maint_margin"]) < Decimal("0.7")


class TestLiquidated:
    def test_the_liquidated_position_closes_with_a_zero_row(self, crash: tuple[Path, dict[str, Any]]) -> None:
        """The 125x isolated long is liquidated in the crash: no position row at the trigger
        row's instant before the `after liquidation` row, which writes qty 0, and none after."""
        out, s = crash
        assert s["account"]["liquidations"] == 1
        pos = rows(out / "positions.csv")
        closing = [p for p in pos if p["qty"] == "0.000"]
        assert len(closing) == 1 and closing[0] == pos[-1]
        after = next(r for r in rows(out / "timeseries.csv") if r["why"] == "after liquidation")
        assert closing[0]["ts_ns"] == after["ts_ns"]
        (risk,) = s["account"]["positions_risk"]
        assert (risk["margin_mode"], risk["open_at_end"], risk["end_maint_margin"]) == ("isolated", "0.000", "0.00000000")
        assert Decimal(risk["scope_margin_ratio"]) < 1  # (the samples: the trigger's ratio >= 1 is the engine's, not a sample's)
