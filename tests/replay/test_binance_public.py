"""Binance public-data files merged in one replay: aggTrades (synthetic depth), mark-price
klines (replayed marks) and the funding-rate history (replayed funding)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exsim.replay import Replay, ReplayConfig, Strategy

T0_MS = 1_723_161_300_000  # 2024-08-08 23:55:00 UTC; funding at 2024-08-09 00:00
MIN_MS = 60_000
KLINE_HEADER = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"


def write_files(tmp: Path, mark_closes: list[str]) -> list[Path]:
    trades = tmp / "aggTrades" / "BTCUSDT-aggTrades-2024-08-08.csv"
    marks = tmp / "markPriceKlines" / "BTCUSDT-1m-2024-08-08.csv"
    funding = tmp / "fundingRate" / "BTCUSDT-fundingRate-2024-08.csv"
    for p in (trades, marks, funding):
        p.parent.mkdir(parents=True, exist_ok=True)
    lines = ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"]
    for k in range(600):  # one print a second for 10 minutes, at 61000.0
        lines.append(f"{k},61000.0,0.010,{k},{k},{T0_MS + k * 1000},{'true' if k % 2 else 'false'}")
    trades.write_text("\n".join(lines) + "\n")
    lines = [KLINE_HEADER]
    for k, close in enumerate(mark_closes):
        o = T0_MS + k * MIN_MS
        lines.append(f"{o},{close},{close},{close},{close},0,{o + MIN_MS - 1},0,0,0,0,0")
    marks.write_text("\n".join(lines) + "\n")
    funding.write_text("calc_time,funding_interval_hours,last_funding_rate\n1723161600000,8,0.00010000\n")
    return [trades, marks, funding]


class Long(Strategy):
    """Buys 1 BTC at 10x cross right away and keeps it."""

    def __init__(self) -> None:
        self.funding: list[Any] = []
        self.liquidations: list[Any] = []

    def on_start(self, ctx: Any) -> None:
        ctx.call_at(ctx.now_ns + 1_500_000_000, "buy")

    def on_timer(self, ctx: Any, name: str) -> None:
        ctx.buy("BTCUSDT", ctx.qty_lots("BTCUSDT", "1"))

    def on_funding(self, ctx: Any, payment: Any) -> None:
        self.funding.append(payment)

    def on_liquidation(self, ctx: Any, liquidation: Any) -> None:
        self.liquidations.append(liquidation)


def test_replayed_marks_and_funding_from_public_files(tmp_path: Path) -> None:
    files = write_files(tmp_path, ["61000.0"] * 10)
    s = Long()
    summary = Replay(files, s, ReplayConfig(balance="10000", leverage=10)).run()
    formats = [i["format"] for i in summary["inputs"]]
    assert formats == ["binance-aggTrades", "binance-markPriceKlines", "binance-fundingRate"]
    assert summary["market_model"]["mark"].startswith("replayed")
    assert summary["market_model"]["funding"].startswith("replayed")
    assert "synthetic" in summary["market_model"]["depth"]
    # a long pays 0.01 % of its notional at the mark at 00:00: 1 BTC x 61000.0 x 0.0001 = 6.1 USDT
    assert [p.amount_atoms for p in s.funding] == [-610_000_000]
    assert summary["account"]["funding"] == "-6.10000000"


def test_a_replayed_mark_crash_liquidates_a_cross_long(tmp_path: Path) -> None:
    # the mark falls 20 % in the 4th minute while trades stay put: the venue's mark decides
    files = write_files(tmp_path, ["61000.0"] * 3 + ["48800.0"] * 7)
    s = Long()
    summary = Replay(files, s, ReplayConfig(balance="10000", leverage=10), out_dir=tmp_path / "run").run()
    assert len(s.liquidations) == 1
    liq = s.liquidations[0]
    assert liq.ts_ns == (T0_MS + 3 * MIN_MS) * 1_000_000  # the first 48800.0 mark point
    assert liq.positions[0].mark_price_subticks == 4_880_000_000_000  # 48800.0 in 1e-8 USDT
    assert summary["account"]["liquidations"] == 1
    # the trades (and so the synthetic depth) stayed at 61000.0 while the mark fell: the
    # liquidation sells through the ladder one tick under the last trade, far above the mark
    from exsim.replay.explain import explain_run

    text = explain_run(tmp_path / "run")
    assert "cross margin pool (BTCUSDT)" in text
    assert "through the book: 1.000 at an average 60999.90000000 (12199.90000000 better than the mark, 2500.0 bp)" in text
