"""The market feed of ``exsim serve`` (``exsim.serve.market``): what it costs the venue.

The shipped Binance capture (467,000 book changes, 21,313 prints) run to its end through a
stepped venue: without the feed; with the feed and nobody watching (the hot-path cost:
update ids, the depth windows' log, the L2 mirror, the tape, minute bars); with the feed
and every stream of the symbol watched (all diff and partial depth speeds, trades, klines
of every interval, tickers, marks: payloads built and handed to the hub).

Measured (2 shared cores, busy; CPU, best of 3): 3.4-3.6 s without the feed, 3.8-4.4 s with it
and nobody watching, 9.9-10.9 s with every stream watched (117,987 messages).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from exsim.replay.cli import SHIPPED_REPLAYS
from exsim.serve.market import MarketFeed
from exsim.serve.venue import ServeConfig, Venue

CAPTURE = str(SHIPPED_REPLAYS / "binance-usdm-btcusdt-20240808.gz")


def timed(components: list[Any], watch_all: bool) -> tuple[float, int, Venue]:
    v = Venue([CAPTURE], [("key", "secret")], ServeConfig(speed="step"), components=components)
    sent = [0]
    v.wants_sink = lambda stream: watch_all

    def hub(stream: str, payload: Any) -> None:
        sent[0] += 1

    v.market_sink = hub
    t0 = time.process_time()
    asyncio.run(v.advance(10**12))
    return time.process_time() - t0, sent[0], v


def test_market_feed_cost(benchmark: Any) -> None:
    plain = min(timed([], False)[0] for _ in range(3))
    idle = min(timed([("market", MarketFeed)], False)[0] for _ in range(3))
    watched, sent, venue = benchmark.pedantic(lambda: timed([("market", MarketFeed)], True), rounds=1, iterations=1)
    print(f"\ncapture: {plain:.2f} s without the feed, {idle:.2f} s nobody watching, {watched:.2f} s all watched ({sent:,} messages)")
    assert venue.ended and not venue.component_errors
    assert venue.market.symbols["BTCUSDT"].next_trade_id - 1 == 21_313 and sent > 100_000
