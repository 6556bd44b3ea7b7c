"""Marks finer than the tick: replayed at the venue's precision, liquidation decided on them.

Binance computes the mark price and publishes it with up to 8 decimals: its
``markPrice`` stream sends ``"p": "11794.15000000"``-style strings, and its public
``markPriceKlines`` for XRPUSDT (tick 0.0001) carry a fifth decimal on most values (364
of 400 in the freqtrade test data). The files below are written in those formats, with
values of that shape: XRPUSDT mark klines of 2021-11-15 (XRP near 1.21) whose every price
has a fifth decimal, and a BTCUSDT ``markPrice@1s`` stream with 8-decimal marks.
"""

from __future__ import annotations

import csv

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from exsim.exchange import MarkPriceUpdated
from exsim.replay import Replay, ReplayConfig, Strategy
from exsim.units import to_subticks

T0_MS = 1_636_934_400_000  # 2021-11-15 00:00 UTC
MIN_MS = 60_000
KLINE_HEADER = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
#: one XRPUSDT mark kline a minute (open, high, low, close): every value off the 0.0001 tick
XRP_MARK_BARS = [
    ("1.21045", "1.21083", "1.20991", "1.21017"),
    ("1.21017", "1.21029", "1.20513", "1.20537"),
    ("1.20537", "1.20561", "1.20011", "1.20033"),
    ("1.20033", "1.20047", "1.19511", "1.19529"),
    ("1.19529", "1.19543", "1.19007", "1.19021"),
    ("1.19021", "1.19033", "1.18503", "1.18517"),
    ("1.18517", "1.18529", "1.17003", "1.17011"),
]


def xrp_files(tmp: Path) -> list[Path]:
    """Binance public-data files: XRPUSDT aggTrades at 1.2100 and the mark klines above."""
    trades = tmp / "aggTrades" / "XRPUSDT-aggTrades-2021-11-15.csv"
    marks = tmp / "markPriceKlines" / "XRPUSDT-1m-2021-11-15.csv"
    for p in (trades, marks):
        p.parent.mkdir(parents=True, exist_ok=True)
    lines = ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"]
    for k in range(len(XRP_MARK_BARS) * 60):  # one print a second at 1.2100
        lines.append(f"{k},1.2100,250.0,{k},{k},{T0_MS + k * 1000},{'true' if k % 2 else 'false'}")
    trades.write_text("\n".join(lines) + "\n")
    lines = [KLINE_HEADER]
    for k, (o, h, lo, c) in enumerate(XRP_MARK_BARS):
        t = T0_MS + k * MIN_MS
        lines.append(f"{t},{o},{h},{lo},{c},0,{t + MIN_MS - 1},0,60,0,0,0")
    marks.write_text("\n".join(lines) + "\n")
    return [trades, marks]


class XrpLong(Strategy):
    """Buys 1,000 XRP isolated at 50x two seconds in; keeps every mark and its liquidation price."""

    def __init__(self) -> None:
        self.marks: list[tuple[int, int]] = []
        self.liquidations: list[Any] = []
        self.lp_subticks: int | None = None
        self.entry_ts = 0

    def on_start(self, ctx: Any) -> None:
        ctx.set_margin_mode("XRPUSDT", "isolated")
        ctx.set_leverage("XRPUSDT", 50)
        ctx.call_at(ctx.now_ns + 2_000_000_000, "buy")

    def on_timer(self, ctx: Any, name: str) -> None:
        ctx.buy("XRPUSDT", ctx.qty_lots("XRPUSDT", "1000"))

    def on_fill(self, ctx: Any, fill: Any) -> None:
        if not fill.leaves_lots and not self.entry_ts:  # the entry (not the liquidation's fill)
            self.lp_subticks = ctx.liquidation_price_subticks("XRPUSDT")
            self.entry_ts = fill.ts_ns

    def on_mark(self, ctx: Any, mark: MarkPriceUpdated) -> None:
        self.marks.append((mark.ts_ns, mark.mark_price_subticks))

    def on_liquidation(self, ctx: Any, liquidation: Any) -> None:
        self.liquidations.append(liquidation)


class TestXrpMarkKlines:
    def test_fifth_decimal_marks_are_replayed_exactly(self, tmp_path: Path) -> None:
        """Every mark of the kline file reaches the exchange at its own precision, none refused or rounded to the tick."""
        s = XrpLong()
        summary = Replay(xrp_files(tmp_path), s, ReplayConfig(balance="1000")).run()
        assert summary["market_model"]["mark"].startswith("replayed")
        published = {to_subticks(v) for bar in XRP_MARK_BARS for v in bar}
        seen = {m for _, m in s.marks}
        assert seen and seen <= published
        assert all(m % 10_000 for m in seen)  # off the 0.0001 tick: 10,000 subticks

    def test_isolated_long_is_liquidated_at_the_first_fine_mark_at_or_below_its_liquidation_price(
        self, tmp_path: Path
    ) -> None:
        """The liquidation comes with the first replayed mark at or below the liquidation price (subticks), not before."""
        s = XrpLong()
        summary = Replay(xrp_files(tmp_path), s, ReplayConfig(balance="1000"), out_dir=tmp_path / "run").run()
        assert s.lp_subticks is not None and s.lp_subticks % 10_000  # the liquidation price is finer than the tick too
        (liq,) = s.liquidations
        held = [(ts, m) for ts, m in s.marks if ts >= s.entry_ts]
        crossing = [(ts, m) for ts, m in held if m <= s.lp_subticks]
        assert crossing and crossing[0][0] == liq.ts_ns
        assert all(m > s.lp_subticks for ts, m in held if ts < liq.ts_ns)
        (pos,) = liq.positions
        assert pos.mark_price_subticks == crossing[0][1] and pos.liquidation_price_subticks == s.lp_subticks
        shown = summary["liquidations"][0]["positions"][0]
        assert shown["mark_price"] == f"{crossing[0][1] / 10**8:.5f}"  # five decimals, as published
        assert len(shown["liquidation_price"].split(".")[1]) > 4

    def test_time_series_shows_the_marks_with_their_fifth_decimal(self, tmp_path: Path) -> None:
        """timeseries.csv writes each sampled mark exactly as the venue published it."""
        Replay(xrp_files(tmp_path), XrpLong(), ReplayConfig(balance="1000"), out_dir=tmp_path / "run").run()
        with open(tmp_path / "run" / "timeseries.csv", newline="") as f:
            marks = {Decimal(r["mark"]) for r in csv.DictReader(f) if r["mark"]}
        published = {Decimal(v) for bar in XRP_MARK_BARS for v in bar}
        assert marks and marks <= published


class Recorder(Strategy):
    def __init__(self) -> None:
        self.marks: list[int] = []

    def on_mark(self, ctx: Any, mark: MarkPriceUpdated) -> None:
        self.marks.append(mark.mark_price_subticks)


class TestBtcMarkPriceStream:
    @staticmethod
    def capture(tmp: Path, n: int = 30) -> tuple[Path, list[str]]:
        """An hftbacktest-style capture: one trade and one ``markPrice@1s`` update a second,
        the marks and index with 8 decimals as Binance sends them."""
        t0 = 1_723_161_600_000_000_000
        lines, marks = [], []
        for k in range(n):
            t = t0 + k * 1_000_000_000
            trade = {"e": "trade", "E": 1, "T": 1, "s": "BTCUSDT", "t": 1000 + k, "p": "61800.1", "q": "0.010",
                     "X": "MARKET", "m": bool(k % 2)}  # fmt: skip
            lines.append(f"{t} {json.dumps({'stream': 'btcusdt@trade', 'data': trade}, separators=(',', ':'))}")
            p = f"61793.{63_104_562 + 7_919 * k:08d}"
            marks.append(p)
            mark = {"e": "markPriceUpdate", "E": 1, "s": "BTCUSDT", "p": p, "i": "61784.62659091", "P": "61784.25641265",
                    "r": "0.00010000", "T": 1_723_190_400_000}  # fmt: skip
            lines.append(f"{t + 5} {json.dumps({'stream': 'btcusdt@markPrice@1s', 'data': mark}, separators=(',', ':'))}")
        path = tmp / "usdm_btcusdt_20240809"
        path.write_text("\n".join(lines) + "\n")
        return path, marks

    def test_eight_decimal_marks_reach_the_strategy_exactly(self, tmp_path: Path) -> None:
        """Each ``p`` of the stream is the mark the exchange applies, to the last of its 8 decimals."""
        path, published = self.capture(tmp_path)
        s = Recorder()
        Replay([path], s, ReplayConfig(balance="1000")).run()
        assert s.marks == [to_subticks(p) for p in published]

    def test_summary_and_series_print_the_eight_decimals(self, tmp_path: Path) -> None:
        """The run's time series shows the mark as published (61793.63104562), not a tick (61793.6)."""
        path, published = self.capture(tmp_path)
        Replay([path], Recorder(), ReplayConfig(balance="1000"), out_dir=tmp_path / "run").run()
        with open(tmp_path / "run" / "timeseries.csv", newline="") as f:
            marks = [r["mark"] for r in csv.DictReader(f)]
        assert {Decimal(m) for m in marks} <= {Decimal(p) for p in published}  # exact, zeros trimmed
        assert marks[0] == "61793.63104562"
