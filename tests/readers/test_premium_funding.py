"""Computed funding uses the premium index the data replays (Binance ``premiumIndexKlines``),
and the summary says when funding was only the interest rate.

Funding F = P + clamp(0.01 % − P, ±0.05 %) (MARGIN-SPEC §6). A replayed premium of 0.2 %
for the whole interval gives F = 0.15 %; without a replayed premium, the book's own
premium against an index that is the book's mid is inside the clamp: F = 0.01 %, the
interest rate, at every settlement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exsim.readers.binance_csv import KLINE_HEADER
from exsim.replay import Replay
from exsim_examples.holder import Holder

T0_MS = 1_723_188_600_000  # 2024-08-09 07:30 UTC: the 08:00 funding time falls inside the data
MINUTE_MS = 60_000
BARS = 40


class FundingRecorder(Holder):
    """The holder (a small long from the start), keeping each funding payment's rate."""

    def __init__(self) -> None:
        super().__init__(qty="0.01", leverage=10)
        self.rates_e8: list[int] = []

    def on_funding(self, ctx: Any, payment: Any) -> None:
        self.rates_e8.append(payment.rate_e8)


def klines(path: Path, close: str, volume: str = "12.5") -> Path:
    """1-minute klines from 07:30 for 40 minutes, every bar 61000 open/high/low, ``close``."""
    lines = [KLINE_HEADER]
    for i in range(BARS):
        t = T0_MS + i * MINUTE_MS
        lines.append(f"{t},61000.0,61000.0,61000.0,{close},{volume},{t + MINUTE_MS - 1},0,1,0,0,0")
    path.write_text("\n".join(lines) + "\n")
    return path


def premium_klines(folder: Path, premium: str) -> Path:
    """The same minutes' premiumIndexKlines (in a folder of that name, as Binance ships them)."""
    folder.mkdir()
    path = folder / "BTCUSDT-1m-2024-08-09.csv"
    lines = [KLINE_HEADER]
    for i in range(BARS):
        t = T0_MS + i * MINUTE_MS
        lines.append(f"{t},{premium},{premium},{premium},{premium},0,{t + MINUTE_MS - 1},0,12,0,0,0")
    path.write_text("\n".join(lines) + "\n")
    return path


def run(files: list[Path]) -> tuple[list[int], dict[str, Any]]:
    strategy = FundingRecorder()
    summary = Replay(files, strategy).run()
    return strategy.rates_e8, summary


def test_replayed_premium_index_sets_the_computed_rate(tmp_path: Path) -> None:
    """A replayed premium of 0.2 % settles funding at 0.15 % (not the 0.01 % floor)."""
    prices = klines(tmp_path / "BTCUSDT-1m-2024-08-09.csv", "61000.0")
    premium = premium_klines(tmp_path / "premiumIndexKlines", "0.00200000")
    rates, summary = run([prices, premium])
    assert rates == [150_000]
    assert summary["market_model"]["funding"] == (
        "computed from the replayed premium index; 1 of 1 settlements differed from the 0.01 % interest rate"
    )


def test_a_different_replayed_premium_gives_a_different_rate(tmp_path: Path) -> None:
    """The rate follows the file: a premium of -0.1 % settles at -0.05 %."""
    prices = klines(tmp_path / "BTCUSDT-1m-2024-08-09.csv", "61000.0")
    premium = premium_klines(tmp_path / "premiumIndexKlines", "-0.00100000")
    assert run([prices, premium])[0] == [-50_000]


def test_without_a_replayed_premium_the_summary_says_it_was_the_interest_floor(tmp_path: Path) -> None:
    """With the book's premium only, every settlement is the 0.01 % interest rate, and the
    summary says so."""
    rates, summary = run([klines(tmp_path / "BTCUSDT-1m-2024-08-09.csv", "61000.0")])
    assert rates == [10_000]
    assert summary["market_model"]["funding"] == (
        "computed from the book's premium index; every settlement (1) was the 0.01 % interest floor "
        "(the premium inside the ±0.05 % clamp)"
    )
