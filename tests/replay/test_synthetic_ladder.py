"""The synthetic ladder of trade-only data, as the book shows it after each refresh.

Spec (exsim.replay.runner): without replayed depth, each symbol's book holds
``synthetic_levels`` levels a side, ``synthetic_step_ticks`` apart, each of
``synthetic_qty``: around the last trade (one step off it each side) or from the quoted
tops (which keep their quoted size). It is rebuilt before every mark / index sample and
every trader's order, once a trade or quote moved it: levels that trades or orders ate
are whole again, levels the ladder left are gone. The refresh compares the ladder's
shape first and rebuilds the wanted levels only when it moved (issue 21): these tests
hold the book to the spec both when it moved and when it did not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exsim.book.orders import BUY, SELL
from exsim.replay import Replay, ReplayConfig, Strategy

T0 = 1_723_161_600_000_000_000  # 2024-08-09 00:00:00 UTC
S = 1_000_000_000


def write_csv(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    with open(path, "w") as f:
        f.write("ts_ns,kind,symbol,side,price,qty,rate\n")
        for r in rows:
            f.write(",".join(str(x) for x in r) + "\n")
    return path


def spec_ladder(bid: int, ask: int, first: int, levels: int, step: int, qty: int,
                bid_lots: int = 0, ask_lots: int = 0) -> dict[int, list[tuple[int, int]]]:
    """The book the spec wants: each side's (price_ticks, lots), best first."""
    bids = [(bid - (first + k) * step, qty) for k in range(levels)]
    asks = [(ask + (first + k) * step, qty) for k in range(levels)]
    if bid_lots:
        bids[0] = (bid, bid_lots)
    if ask_lots:
        asks[0] = (ask, ask_lots)
    return {BUY: bids, SELL: asks}


class Watcher(Strategy):
    """Looks at the book one nanosecond after each whole second (after that second's
    samples refreshed the ladder) and sends the market orders it is told to."""

    def __init__(self, orders: dict[int, int]) -> None:
        self.orders = orders  # second -> lots to buy (negative: sell) a nanosecond after it
        self.seen: dict[int, dict[int, list[tuple[int, int]]]] = {}

    def on_start(self, ctx: Any) -> None:
        for k in range(1, 11):
            ctx.call_at(T0 + k * S + 1, str(k))

    def on_timer(self, ctx: Any, name: str) -> None:
        k = int(name)
        book = ctx.book("BTCUSDT")
        self.seen[k] = {BUY: book.depth(BUY, 50), SELL: book.depth(SELL, 50)}
        lots = self.orders.get(k)
        if lots:
            (ctx.buy if lots > 0 else ctx.sell)("BTCUSDT", abs(lots))


def run(tmp_path: Path, rows: list[tuple[Any, ...]], orders: dict[int, int], **config: Any) -> Watcher:
    path = write_csv(tmp_path / "rows.csv", rows)
    w = Watcher(orders)
    Replay([path], w, ReplayConfig(balance="1000000", leverage=10, synthetic_qty="1.000", **config)).run()
    return w


class TestLadderAroundTrades:
    def test_eaten_levels_come_back_when_the_price_stays(self, tmp_path: Path) -> None:
        # a trade at 61000.0 every second; a market buy of 2.5 at 3 s eats 61000.1, .2 and
        # half of .3: the next trade, at the same price, leaves the ladder's shape as it was
        rows = [(T0 + k * S + S // 2, "trade", "BTCUSDT", "sell", "61000.0", "0.001", "") for k in range(11)]
        w = run(tmp_path, rows, {3: 2500}, synthetic_levels=5)
        want = spec_ladder(610000, 610000, 1, 5, 1, 1000)
        assert w.seen[3] == want
        assert w.seen[4] == want  # whole again, though the ladder did not move

    def test_the_ladder_follows_the_last_trade(self, tmp_path: Path) -> None:
        # up 0.3 a second, with a sell eating bids on the way: levels left are gone, new ones whole
        rows = []
        for k in range(11):
            px = 610000 + 3 * k
            rows.append((T0 + k * S + S // 2, "trade", "BTCUSDT", "buy", f"{px // 10}.{px % 10}", "0.400", ""))
        w = run(tmp_path, rows, {5: -1700}, synthetic_levels=4, synthetic_step_ticks=2)
        for k in range(1, 11):
            last = 610000 + 3 * (k - 1)
            assert w.seen[k] == spec_ladder(last, last, 1, 4, 2, 1000), k


class TestLadderFromQuotes:
    def test_a_quoted_top_keeps_its_size_and_comes_back_after_a_trade(self, tmp_path: Path) -> None:
        rows: list[tuple[Any, ...]] = []
        for k in range(11):
            ts = T0 + k * S + S // 2
            rows.append((ts, "quote", "BTCUSDT", "buy", "61000.0", "0.300", ""))
            rows.append((ts, "quote", "BTCUSDT", "sell", "61000.1", "0.200", ""))
            if k in (2, 6):  # a print at the ask eats part of the quoted top; the quotes stay
                rows.append((ts + 1, "trade", "BTCUSDT", "buy", "61000.1", "0.150", ""))
        w = run(tmp_path, rows, {8: 1200}, synthetic_levels=3)
        want = spec_ladder(610000, 610001, 0, 3, 1, 1000, bid_lots=300, ask_lots=200)
        for k in range(1, 11):
            assert w.seen[k] == want, k
