"""The market feed of ``exsim serve`` (exsim.serve.market): Binance's public endpoints and
market streams built from exsim's state, checked through the real venue (a stepped
:class:`~exsim.serve.venue.Venue` with only the market feed) on the shipped real replays.
The server's stream hub is a recorder here: it says which streams have subscribers and
keeps what the feed publishes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from exsim.book.orders import BUY, MARKET, SELL
from exsim.exchange import NewOrder, SetLeverage, SetMarginMode
from exsim.exchange.events import FundingSettled, Liquidation
from exsim.ledger import ISOLATED
from exsim.replay import Replay, ReplayConfig
from exsim.replay.strategy import Strategy
from exsim.replay.cli import SHIPPED_REPLAYS
from exsim.serve import market as M
from exsim.serve.binance import ENDPOINTS, BinanceError, Params
from exsim.serve.venue import ServeConfig, Venue

CAPTURE = SHIPPED_REPLAYS / "binance-usdm-btcusdt-20240808.gz"  # 6 min of Binance BTCUSDT, real depth
CRASH = SHIPPED_REPLAYS / "btc-perp-20220121-1m.csv"  # 4 h of 1-minute bars: synthetic depth
MS = 1_000_000


class StandIn:
    """A stepped venue with the market feed, and the stream hub's part the feed sees."""

    def __init__(self, path: Path, subscribed: tuple[str, ...] = (), deposit: str = "10000", **replay: Any) -> None:
        if path == CRASH:
            replay.setdefault("symbol", "BTCUSDT")
        self.v = Venue(
            [str(path)], [("key", "secret")], ServeConfig(speed="step", deposit=deposit, replay=ReplayConfig(**replay)),
            components=[("market", M.MarketFeed)],
        )
        self.subscribed = set(subscribed)
        self.published: list[tuple[str, Any]] = []
        self.v.wants_sink = self.subscribed.__contains__
        self.v.market_sink = lambda stream, payload: self.published.append((stream, payload))
        self.liquidations: list[Any] = []
        self.v.exchange.sinks.append(lambda events: self.liquidations.extend(e for e in events if type(e) is Liquidation))

    def __getattr__(self, name: str) -> Any:  # the venue's attributes (exchange, market, now_ns ...)
        return getattr(self.v, name)

    def advance(self, until_ns: int) -> None:
        """Run the replay to ``until_ns`` and tell the feed the clock is there."""
        self.v.replay.advance(until_ns)
        self.v.market.on_clock(until_ns)

    def run_to_end(self) -> None:
        asyncio.run(self.v.advance(10**12))
        assert self.v.ended and not self.v.component_errors

    def send(self, make: Any) -> Any:
        return asyncio.run(self.v.send(make))

    def of(self, stream: str) -> list[Any]:
        return [p for s, p in self.published if s == stream]


def call(venue: Any, path: str, account_id: int | None = None, **params: Any) -> Any:
    return ENDPOINTS[("GET", path)].handler(venue, account_id, Params({k: str(v) for k, v in params.items()}))


def first_ts(venue: StandIn) -> int:
    return venue.now_ns  # (the venue starts at the data's first timestamp)


def whole_book(venue: StandIn, symbol: str = "BTCUSDT") -> tuple[dict[str, str], dict[str, str]]:
    book = venue.exchange.book(symbol)
    inst = venue.instruments[symbol]
    return tuple({inst.price_str(p): inst.qty_str(q) for p, q in book.depth(side, 1 << 30)} for side in (BUY, SELL))  # type: ignore[return-value]


class LocalBook:
    """A client following Binance's "How to manage a local order book correctly"."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.last_update_id = snapshot["lastUpdateId"]
        self.sides = ({p: q for p, q in snapshot["bids"]}, {p: q for p, q in snapshot["asks"]})
        self.previous_u: int | None = None

    def apply(self, event: dict[str, Any]) -> None:
        if event["u"] < self.last_update_id:
            return  # older than the snapshot
        if self.previous_u is None:
            assert event["U"] <= self.last_update_id <= event["u"], (event["U"], self.last_update_id, event["u"])
        else:
            assert event["pu"] == self.previous_u, "a gap in the diff stream"
        self.previous_u = event["u"]
        for side, key in ((0, "b"), (1, "a")):
            for p, q in event[key]:
                if float(q) == 0:
                    self.sides[side].pop(p, None)
                else:
                    self.sides[side][p] = q


class TestDepth:
    def test_a_client_following_binances_procedure_rebuilds_the_book_exactly(self) -> None:
        """/depth's lastUpdateId and the 100 ms diffs rebuild exchange's book, level for level, at every check."""
        venue = StandIn(CAPTURE, subscribed=("btcusdt@depth@100ms",))
        t0 = first_ts(venue)
        venue.advance(t0 + 2_345 * MS)  # subscribe earlier, snapshot mid-window
        local = LocalBook(venue.market.depth("BTCUSDT", 1 << 30))
        seen = 0
        for k in range(1, 40):
            end = (t0 // (100 * MS) + 24 + 7 * k) * 100 * MS  # a window end, 700 ms apart
            venue.advance(end - 1)
            venue.market.on_clock(end)  # the window [end - 100 ms, end) closes
            msgs = venue.of("btcusdt@depth@100ms")
            for msg in msgs[seen:]:
                local.apply(msg)
            seen = len(msgs)
            assert local.sides == whole_book(venue), f"check {k}"
            venue.market._check()
        assert local.previous_u is not None and local.previous_u > local.last_update_id

    def test_the_public_snapshot_and_the_default_stream_keep_the_top_levels_in_sync(self) -> None:
        """GET /fapi/v1/depth (limit 1000) + <s>@depth keep the top 100 levels equal to the book's."""
        venue = StandIn(CAPTURE, subscribed=("btcusdt@depth",))
        t0 = first_ts(venue)
        venue.advance(t0 + 10_111 * MS)
        local = LocalBook(call(venue, "/fapi/v1/depth", symbol="BTCUSDT", limit=1000))
        seen = 0
        for k in range(1, 20):
            end = (t0 // (250 * MS) + 41 + 9 * k) * 250 * MS
            venue.advance(end - 1)
            venue.market.on_clock(end)
            msgs = venue.of("btcusdt@depth")
            for msg in msgs[seen:]:
                local.apply(msg)
            seen = len(msgs)
            book = call(venue, "/fapi/v1/depth", symbol="BTCUSDT", limit=100)
            top_b = sorted(local.sides[0].items(), key=lambda kv: -float(kv[0]))[:100]
            top_a = sorted(local.sides[1].items(), key=lambda kv: float(kv[0]))[:100]
            assert [list(x) for x in top_b] == book["bids"] and [list(x) for x in top_a] == book["asks"]

    def test_every_speed_is_continuous_and_batched_by_venue_time(self) -> None:
        """Each diff of a speed covers one window of venue time; U = pu + 1 and pu = the previous u."""
        streams = ("btcusdt@depth@100ms", "btcusdt@depth", "btcusdt@depth@500ms")
        venue = StandIn(CAPTURE, subscribed=streams)
        t0 = first_ts(venue)
        venue.advance(t0 + 30_000 * MS)
        for stream, period_ms in zip(streams, (100, 250, 500)):
            msgs = venue.of(stream)
            assert len(msgs) > 20
            for prev, msg in zip(msgs, msgs[1:]):
                assert msg["pu"] == prev["u"] and msg["U"] == msg["pu"] + 1 and msg["u"] >= msg["U"]
                assert msg["E"] % period_ms == 0 and msg["E"] - period_ms <= msg["T"] < msg["E"]
                assert msg["E"] > prev["E"]

    def test_the_speeds_agree_where_their_windows_end_together(self) -> None:
        """At each 500 ms boundary the 100 ms, 250 ms and 500 ms streams have sent the same last id."""
        streams = ("btcusdt@depth@100ms", "btcusdt@depth", "btcusdt@depth@500ms")
        venue = StandIn(CAPTURE, subscribed=streams)
        t0 = first_ts(venue)
        venue.advance(t0 + 20_000 * MS)
        last_u = [{m["E"]: m["u"] for m in venue.of(s)} for s in streams]
        common = set(last_u[2])
        for e in sorted(common)[:-1]:
            # the last message at or before e on each stream ends at the same id
            ids = [max((u for t, u in lu.items() if t <= e), default=None) for lu in last_u]
            assert ids[0] == ids[1] == ids[2], e

    def test_partial_book_streams_send_the_top_levels_at_each_window_end(self) -> None:
        """<s>@depth5@100ms holds the 5 best levels of the book as of the window's last id."""
        venue = StandIn(CAPTURE, subscribed=("btcusdt@depth5@100ms",))
        t0 = first_ts(venue)
        end = (t0 // (100 * MS) + 50) * 100 * MS
        venue.advance(end - 1)
        venue.market.on_clock(end)
        msg = venue.of("btcusdt@depth5@100ms")[-1]
        book = call(venue, "/fapi/v1/depth", symbol="BTCUSDT", limit=5)
        assert msg["u"] == book["lastUpdateId"] and msg["b"] == book["bids"] and msg["a"] == book["asks"]
        assert len(msg["b"]) == len(msg["a"]) == 5

    def test_nothing_is_built_for_streams_nobody_watches(self) -> None:
        """With no subscriber the feed publishes nothing, and keeps only the open windows' deltas."""
        venue = StandIn(CAPTURE)
        t0 = first_ts(venue)
        venue.advance(t0 + 60_000 * MS)
        assert venue.published == []
        s = venue.market.symbols["BTCUSDT"]
        assert s.update_id > 1000 and len(s.log) < 1000
        venue.market._check()

    def test_after_the_end_each_commands_deltas_go_out_at_once(self) -> None:
        """Once the data ended the clock stands still: an order resting after it is sent in its own diff."""
        venue = StandIn(CRASH, subscribed=("btcusdt@depth@100ms",))
        venue.run_to_end()
        sent = len(venue.of("btcusdt@depth@100ms"))
        price = venue.instruments["BTCUSDT"].ticks("30000")  # far below the book
        venue.send(lambda ts: NewOrder(ts, 1, "BTCUSDT", BUY, 10, price_ticks=price))
        msgs = venue.of("btcusdt@depth@100ms")
        # (the synthetic ladder is stood anew around the order first: its own command, its own diff)
        assert len(msgs) > sent and all(b["pu"] == a["u"] for a, b in zip(msgs, msgs[1:]))
        assert msgs[-1]["U"] == msgs[-1]["u"] and msgs[-1]["b"] == [["30000.00", "0.010"]] and msgs[-1]["E"] == venue.now_ns // MS
        book = call(venue, "/fapi/v1/depth", symbol="BTCUSDT", limit=1000)
        assert book["lastUpdateId"] == msgs[-1]["u"] and ["30000.00", "0.010"] in book["bids"]

    def test_book_ticker_follows_the_top_of_the_book(self) -> None:
        """Each @bookTicker push is the book's best bid/ask after the command that moved it."""
        venue = StandIn(CAPTURE, subscribed=("btcusdt@bookTicker",))
        t0 = first_ts(venue)
        venue.advance(t0 + 5_000 * MS)
        pushes = venue.of("btcusdt@bookTicker")
        assert len(pushes) > 50
        assert all(a["u"] < b["u"] and (a["b"], a["B"], a["a"], a["A"]) != (b["b"], b["B"], b["a"], b["A"]) for a, b in zip(pushes, pushes[1:]))
        last = pushes[-1]
        ticker = call(venue, "/fapi/v1/ticker/bookTicker", symbol="BTCUSDT")
        assert (ticker["bidPrice"], ticker["bidQty"], ticker["askPrice"], ticker["askQty"]) == (last["b"], last["B"], last["a"], last["A"])


class TestTape:
    def test_every_replayed_print_is_one_trade_with_consecutive_ids(self) -> None:
        """The capture's 21,313 prints are trades 1..21,313; /trades returns the latest, oldest first."""
        venue = StandIn(CAPTURE)
        venue.run_to_end()
        s = venue.market.symbols["BTCUSDT"]
        assert s.next_trade_id - 1 == 21_313
        latest = call(venue, "/fapi/v1/trades", symbol="BTCUSDT", limit=1000)
        assert [t["id"] for t in latest] == list(range(21_313 - 999, 21_314))
        assert latest[-1]["price"] == venue.instruments["BTCUSDT"].price_str(venue.exchange.last_price("BTCUSDT"))

    def test_historical_trades_start_at_from_id(self) -> None:
        """/historicalTrades?fromId=N returns trades N, N+1, ..."""
        venue = StandIn(CAPTURE)
        venue.advance(first_ts(venue) + 30_000 * MS)
        rows = call(venue, "/fapi/v1/historicalTrades", symbol="BTCUSDT", fromId=100, limit=5)
        assert [r["id"] for r in rows] == [100, 101, 102, 103, 104]

    def test_aggregate_trades_add_up_to_the_trades(self) -> None:
        """/aggTrades by time covers the same quantity as /trades over the same trades."""
        venue = StandIn(CAPTURE)
        venue.advance(first_ts(venue) + 20_000 * MS)
        trades = call(venue, "/fapi/v1/trades", symbol="BTCUSDT", limit=1000)
        aggs = call(venue, "/fapi/v1/aggTrades", symbol="BTCUSDT", fromId=trades[0]["id"], limit=1000)
        assert aggs[0]["f"] == trades[0]["id"]
        covered = [t for t in trades if t["id"] <= aggs[-1]["l"]]
        assert sum(float(a["q"]) for a in aggs) == pytest.approx(sum(float(t["qty"]) for t in covered))

    def test_aggregate_trades_equal_a_full_listing_cut_to_the_request(self) -> None:
        """/aggTrades (latest, by fromId, by startTime/endTime, any limit) answers what
        grouping every kept trade by aggregate id, filtering and cutting would."""
        venue = StandIn(CAPTURE)
        venue.advance(first_ts(venue) + 60_000 * MS)
        every = call(venue, "/fapi/v1/aggTrades", symbol="BTCUSDT", fromId=0, limit=1000)
        every += call(venue, "/fapi/v1/aggTrades", symbol="BTCUSDT", fromId=every[-1]["a"] + 1, limit=1000)
        every += call(venue, "/fapi/v1/aggTrades", symbol="BTCUSDT", fromId=every[-1]["a"] + 1, limit=1000)
        assert [a["a"] for a in every] == sorted({a["a"] for a in every})  # (no group twice, none split)
        assert call(venue, "/fapi/v1/aggTrades", symbol="BTCUSDT", fromId=every[-1]["a"] + 1) == []
        mid_ms = every[len(every) // 2]["T"]
        for limit in (1, 7, 500):
            assert call(venue, "/fapi/v1/aggTrades", symbol="BTCUSDT", limit=limit) == every[-limit:]
            from_id = every[100]["a"]
            assert call(venue, "/fapi/v1/aggTrades", symbol="BTCUSDT", fromId=from_id, limit=limit) == every[100:100 + limit]
            window = [a for a in every if mid_ms <= a["T"] <= mid_ms + 2_000][:limit]
            got = call(venue, "/fapi/v1/aggTrades", symbol="BTCUSDT", startTime=mid_ms, endTime=mid_ms + 2_000, limit=limit)
            assert window and got == window
            assert call(venue, "/fapi/v1/aggTrades", symbol="BTCUSDT", endTime=every[2]["T"], limit=limit) == [
                a for a in every if a["T"] <= every[2]["T"]][:limit]

    def test_trade_streams_carry_each_print(self) -> None:
        """@trade and @aggTrade push each print once, with its price, size and side."""
        venue = StandIn(CAPTURE, subscribed=("btcusdt@trade", "btcusdt@aggTrade"))
        venue.advance(first_ts(venue) + 10_000 * MS)
        pushed = venue.of("btcusdt@trade")
        rows = call(venue, "/fapi/v1/trades", symbol="BTCUSDT", limit=1000)
        by_id = {p["t"]: p for p in pushed}
        for r in rows:
            p = by_id[r["id"]]
            assert (p["p"], p["q"], p["m"], p["T"]) == (r["price"], r["qty"], r["isBuyerMaker"], r["time"])
        assert [a["a"] for a in venue.of("btcusdt@aggTrade")] == [p["t"] for p in pushed]

    def test_a_liquidation_is_on_the_tape_and_on_the_force_order_stream(self) -> None:
        """A 125x long liquidated in the January 2022 crash: @forceOrder shows its liquidation order, at the bankruptcy price."""
        venue = StandIn(CRASH, subscribed=("btcusdt@forceOrder", "!forceOrder@arr"), deposit="1000")
        venue.send(lambda ts: SetLeverage(ts, 1, "BTCUSDT", 125))
        venue.send(lambda ts: SetMarginMode(ts, 1, "BTCUSDT", ISOLATED))
        asyncio.run(venue.v.advance(3_600_000))
        venue.send(lambda ts: NewOrder(ts, 1, "BTCUSDT", BUY, 400, order_type=MARKET))
        venue.run_to_end()
        orders = venue.of("btcusdt@forceOrder")
        assert len(orders) == 1 and venue.of("!forceOrder@arr") == orders
        o = orders[0]["o"]
        assert (o["S"], o["q"], o["o"], o["f"], o["X"], o["z"]) == ("SELL", "0.400", "LIMIT", "IOC", "FILLED", "0.400")
        (liq,) = venue.liquidations
        pos = liq.positions[0]
        inst = venue.instruments["BTCUSDT"]
        # (the crash took the book below the bankruptcy price: the insurance fund took it over there)
        assert o["p"] == inst.price_str(pos.bankruptcy_price_ticks) and float(o["ap"]) == float(o["p"]) and o["T"] == liq.ts_ns // MS
        entry = [r for r in venue.market.symbols["BTCUSDT"].trades if r[6]]  # the tape's trades of simulated takers
        # the long's market buy, then the insurance fund selling what it took over, through the book
        assert [(r[4], r[5]) for r in entry] == [(400, False), (400, True)] and entry[1][2] >= liq.ts_ns


class BarTap(Strategy):
    """The replay's own 1-minute bars of the capture."""

    def __init__(self) -> None:
        self.bars: list[Any] = []

    def on_start(self, ctx: Any) -> None:
        ctx.subscribe_bars("BTCUSDT", "1m")

    def on_bar(self, ctx: Any, bar: Any) -> None:
        self.bars.append(bar)


class TestKlines:
    def test_one_minute_klines_equal_the_replays_own_bars(self) -> None:
        """/klines 1m has the OHLC, volume and trade count of the replay's aggregated 1m bars."""
        venue = StandIn(CAPTURE)
        venue.run_to_end()
        tap = BarTap()
        Replay([CAPTURE], tap, ReplayConfig()).run()
        rows = call(venue, "/fapi/v1/klines", symbol="BTCUSDT", interval="1m", limit=1500)
        inst = venue.instruments["BTCUSDT"]
        by_open = {r[0]: r for r in rows}
        assert tap.bars
        for bar in tap.bars:
            r = by_open[bar.open_ts_ns // MS]
            assert r[1:6] == [inst.price_str(bar.open_ticks), inst.price_str(bar.high_ticks), inst.price_str(bar.low_ticks),
                              inst.price_str(bar.close_ticks), inst.qty_str(bar.volume_lots)]
            assert r[8] == bar.trade_count and r[6] == bar.close_ts_ns // MS

    def test_longer_intervals_fold_the_minutes(self) -> None:
        """A 1h kline's high, low, volume and count are those of its 1m klines."""
        venue = StandIn(CRASH)
        venue.run_to_end()
        minutes = call(venue, "/fapi/v1/klines", symbol="BTCUSDT", interval="1m", limit=1500)
        hours = call(venue, "/fapi/v1/klines", symbol="BTCUSDT", interval="1h")
        assert len(minutes) == 240 and len(hours) == 4
        for h in hours:
            inside = [m for m in minutes if h[0] <= m[0] <= h[6]]
            assert len(inside) == 60
            assert h[1] == inside[0][1] and h[4] == inside[-1][4]
            assert float(h[2]) == max(float(m[2]) for m in inside) and float(h[3]) == min(float(m[3]) for m in inside)
            assert h[8] == sum(m[8] for m in inside)

    def test_the_crash_bars_come_back_as_klines(self) -> None:
        """The 1m crash file's open, high, low and close are its klines' (a bar file's path prints have no size)."""
        venue = StandIn(CRASH)
        venue.run_to_end()
        rows = call(venue, "/fapi/v1/klines", symbol="BTCUSDT", interval="1m", startTime=0, limit=3)
        lines = CRASH.read_text().splitlines()[1:4]
        for row, line in zip(rows, lines):
            _, o, h, l, c, _v = line.split(",")
            assert [float(x) for x in row[1:5]] == [float(o), float(h), float(l), float(c)]
            assert row[5] == "0.000"

    def test_start_time_and_limit_pick_the_bars(self) -> None:
        """startTime gives the bars opening at or after it, at most ``limit``."""
        venue = StandIn(CRASH)
        venue.run_to_end()
        all_rows = call(venue, "/fapi/v1/klines", symbol="BTCUSDT", interval="5m", limit=1500)
        some = call(venue, "/fapi/v1/klines", symbol="BTCUSDT", interval="5m", startTime=all_rows[3][0] - 1, limit=2)
        assert some == all_rows[3:5]
        latest = call(venue, "/fapi/v1/klines", symbol="BTCUSDT", interval="5m", limit=2)
        assert latest == all_rows[-2:]

    def test_a_kline_stream_pushes_the_open_bar_then_its_close(self) -> None:
        """@kline_1m pushes the bar in progress (x false) and, once the minute ends, its final state (x true)."""
        venue = StandIn(CAPTURE, subscribed=("btcusdt@kline_1m",))
        venue.run_to_end()
        pushes = venue.of("btcusdt@kline_1m")
        closed = [p["k"] for p in pushes if p["k"]["x"]]
        rows = {r[0]: r for r in call(venue, "/fapi/v1/klines", symbol="BTCUSDT", interval="1m")}
        assert closed
        for k in closed:
            r = rows[k["t"]]
            assert [k["o"], k["h"], k["l"], k["c"], k["v"], k["n"]] == [r[1], r[2], r[3], r[4], r[5], r[8]]

    def test_an_interval_not_served_is_refused(self) -> None:
        """/klines?interval=7m is Binance's -1120."""
        venue = StandIn(CRASH)
        with pytest.raises(BinanceError) as err:
            call(venue, "/fapi/v1/klines", symbol="BTCUSDT", interval="7m")
        assert err.value.code == -1120


class TestTickers:
    def test_the_24h_ticker_spans_the_replayed_day(self) -> None:
        """/ticker/24hr on the crash: open is the first print, high/low the file's extremes, last the last close."""
        venue = StandIn(CRASH)
        venue.run_to_end()
        t = call(venue, "/fapi/v1/ticker/24hr", symbol="BTCUSDT")
        rows = [line.split(",") for line in CRASH.read_text().splitlines()[1:]]
        assert float(t["openPrice"]) == float(rows[0][1]) and float(t["lastPrice"]) == float(rows[-1][4])
        assert float(t["highPrice"]) == max(float(r[2]) for r in rows) and float(t["lowPrice"]) == min(float(r[3]) for r in rows)
        change = float(rows[-1][4]) - float(rows[0][1])
        assert float(t["priceChange"]) == change
        assert t["priceChangePercent"] == f"{change / float(rows[0][1]) * 100:.3f}"

    def test_price_ticker_is_the_last_trade(self) -> None:
        """/ticker/price (v1 and v2) is the exchange's last trade price; without symbol, a list."""
        venue = StandIn(CAPTURE)
        venue.advance(first_ts(venue) + 3_000 * MS)
        one = call(venue, "/fapi/v1/ticker/price", symbol="BTCUSDT")
        assert one["price"] == venue.instruments["BTCUSDT"].price_str(venue.exchange.last_price("BTCUSDT"))
        assert call(venue, "/fapi/v2/ticker/price") == [one]

    def test_unknown_symbol_is_binances_invalid_symbol(self) -> None:
        """Every symbol-taking endpoint refuses an unknown symbol with -1121."""
        venue = StandIn(CAPTURE)
        for path in ("/fapi/v1/depth", "/fapi/v1/trades", "/fapi/v1/ticker/24hr", "/fapi/v1/premiumIndex", "/fapi/v1/klines"):
            with pytest.raises(BinanceError) as err:
                call(venue, path, symbol="ETHUSDT", interval="1m")
            assert err.value.code == -1121, path

    def test_a_limit_out_of_range_is_refused(self) -> None:
        """/depth?limit=5000 is -1130 naming the parameter."""
        venue = StandIn(CAPTURE)
        with pytest.raises(BinanceError) as err:
            call(venue, "/fapi/v1/depth", symbol="BTCUSDT", limit=5000)
        assert err.value.code == -1130 and "'limit'" in err.value.msg


class TestMarksAndFunding:
    def test_premium_index_is_the_exchanges_mark_and_index(self) -> None:
        """/premiumIndex shows the mark and index exsim holds, the next 8 h funding time and the rate."""
        venue = StandIn(CAPTURE)
        venue.advance(first_ts(venue) + 30_000 * MS)
        p = call(venue, "/fapi/v1/premiumIndex", symbol="BTCUSDT")
        inst = venue.instruments["BTCUSDT"]
        assert p["markPrice"] == inst.mark_str(venue.exchange.mark_price_subticks("BTCUSDT"))
        assert p["indexPrice"] == inst.mark_str(venue.exchange.index_price_subticks("BTCUSDT"))
        assert p["nextFundingTime"] == 1723161600000  # 2024-08-09 00:00 UTC
        assert p["lastFundingRate"] == "0.00010000" and p["interestRate"] == "0.00010000"

    def test_mark_price_streams_push_once_a_second_or_every_three(self) -> None:
        """@markPrice@1s pushes each second of venue time, @markPrice every 3 s, !markPrice@arr a list."""
        venue = StandIn(CAPTURE, subscribed=("btcusdt@markPrice@1s", "btcusdt@markPrice", "!markPrice@arr"))
        t0 = first_ts(venue)
        for k in range(1, 31):
            venue.advance(t0 + k * 1_000 * MS)
        ones, threes = venue.of("btcusdt@markPrice@1s"), venue.of("btcusdt@markPrice")
        assert 28 <= len(ones) <= 31 and 9 <= len(threes) <= 11
        assert all(b["E"] - a["E"] == 1_000 for a, b in zip(ones, ones[1:]))
        assert venue.of("!markPrice@arr")[-1] == [threes[-1]]
        assert ones[-1]["p"] == venue.instruments["BTCUSDT"].mark_str(venue.exchange.mark_price_subticks("BTCUSDT"))

    def test_funding_settlements_are_the_funding_rate_history(self) -> None:
        """Each FundingSettled is a /fundingRate row; the latest is premiumIndex's lastFundingRate."""
        venue = StandIn(CAPTURE)
        t0 = first_ts(venue)
        venue.market.on_events([FundingSettled(t0, "BTCUSDT", 7_500, 6_180_000_000_000, 0, 0, 0, 0)])
        venue.market.on_events([FundingSettled(t0 + 8 * 3_600_000 * MS, "BTCUSDT", -2_000, 6_190_000_000_000, 0, 0, 0, 0)])
        rows = call(venue, "/fapi/v1/fundingRate", symbol="BTCUSDT")
        assert [(r["fundingRate"], r["markPrice"]) for r in rows] == [("0.00007500", "61800.0"), ("-0.00002000", "61900.0")]
        assert call(venue, "/fapi/v1/fundingRate", symbol="BTCUSDT", startTime=rows[1]["fundingTime"]) == rows[1:]
        assert call(venue, "/fapi/v1/premiumIndex", symbol="BTCUSDT")["lastFundingRate"] == "-0.00002000"


    def test_funding_info_is_the_instruments_interval_and_cap(self) -> None:
        """/fundingInfo: every symbol with its funding interval in hours and exsim's rate cap ("0": none)."""
        venue = StandIn(CAPTURE)
        (row,) = call(venue, "/fapi/v1/fundingInfo")
        cap = venue.exchange.markets["BTCUSDT"].funding_cap_e8
        assert row["symbol"] == "BTCUSDT" and row["fundingIntervalHours"] == 8
        assert row["adjustedFundingRateCap"] == ("0" if cap is None else M.format_rate_e8(cap, 8))


class TestInstruments:
    def test_exchange_info_filters_are_the_instruments_grids_and_limits(self) -> None:
        """tickSize, stepSize, minQty and the notional filter are exsim's instrument's, as text."""
        venue = StandIn(CAPTURE)
        info = call(venue, "/fapi/v1/exchangeInfo")
        inst = venue.instruments["BTCUSDT"]
        (sym,) = info["symbols"]
        filters = {f["filterType"]: f for f in sym["filters"]}
        assert filters["PRICE_FILTER"]["tickSize"] == inst.price_str(1)
        assert filters["LOT_SIZE"]["stepSize"] == inst.qty_str(1) == filters["MARKET_LOT_SIZE"]["stepSize"]
        assert filters["LOT_SIZE"]["minQty"] == inst.qty_str(inst.min_qty_lots)
        assert filters["MIN_NOTIONAL"]["notional"] == M.format_atoms(inst.min_notional_atoms, 0)
        assert (sym["baseAsset"], sym["quoteAsset"], sym["marginAsset"], sym["contractType"]) == ("BTC", "USDT", "USDT", "PERPETUAL")

    def test_exchange_info_announces_the_limits_the_server_enforces(self) -> None:
        """Binance's default rate limits, or the venue's own list when the server set one."""
        venue = StandIn(CAPTURE)
        limits = call(venue, "/fapi/v1/exchangeInfo")["rateLimits"]
        assert [(r["rateLimitType"], r["intervalNum"], r["interval"], r["limit"]) for r in limits] == [
            ("REQUEST_WEIGHT", 1, "MINUTE", 2400), ("ORDERS", 1, "MINUTE", 1200), ("ORDERS", 10, "SECOND", 300)]
        venue.v.rate_limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 0}]
        assert call(venue, "/fapi/v1/exchangeInfo")["rateLimits"] == venue.v.rate_limits

    def test_leverage_brackets_are_the_instruments(self) -> None:
        """/leverageBracket lists exsim's brackets: leverage, caps, maintenance rates and amounts."""
        venue = StandIn(CAPTURE)
        row = call(venue, "/fapi/v1/leverageBracket", account_id=1, symbol="BTCUSDT")
        brackets = list(venue.instruments["BTCUSDT"].brackets)
        assert [b["initialLeverage"] for b in row["brackets"]] == [b.max_leverage for b in brackets]
        assert [b["notionalCap"] * 100_000_000 for b in row["brackets"]] == [b.cap_atoms for b in brackets]
        assert [round(b["maintMarginRatio"] * 100_000_000) for b in row["brackets"]] == [b.mmr_e8 for b in brackets]
        assert call(venue, "/fapi/v1/leverageBracket", account_id=1) == [row]

    def test_ping_time_and_open_interest(self) -> None:
        """/ping is {}, /time the venue clock in ms, /openInterest the accounts' long lots."""
        venue = StandIn(CAPTURE)
        t0 = first_ts(venue)
        assert call(venue, "/fapi/v1/ping") == {}
        assert call(venue, "/fapi/v1/time") == {"serverTime": t0 // MS}
        assert call(venue, "/fapi/v1/openInterest", symbol="BTCUSDT")["openInterest"] == "0.000"


class TestMoreStreams:
    def test_mark_price_klines_are_the_marks_applied(self) -> None:
        """/markPriceKlines 1m: each minute's close is the last mark of that minute; the last is the mark now."""
        venue = StandIn(CAPTURE)
        venue.advance(first_ts(venue) + 150_000 * MS)
        rows = call(venue, "/fapi/v1/markPriceKlines", symbol="BTCUSDT", interval="1m")
        inst = venue.instruments["BTCUSDT"]
        assert len(rows) >= 3 and all(r[8] > 0 for r in rows)
        assert rows[-1][4] == inst.mark_str(venue.exchange.mark_price_subticks("BTCUSDT"))
        assert all(float(r[3]) <= min(float(r[1]), float(r[4])) <= max(float(r[1]), float(r[4])) <= float(r[2]) for r in rows)
        index = call(venue, "/fapi/v1/indexPriceKlines", pair="BTCUSDT", interval="1m")
        assert index[-1][4] == inst.mark_str(venue.exchange.index_price_subticks("BTCUSDT"))

    def test_the_ticker_stream_is_the_24h_ticker(self) -> None:
        """@ticker pushes a 24hrTicker whose figures are /ticker/24hr's at that moment."""
        venue = StandIn(CAPTURE, subscribed=("btcusdt@ticker", "!ticker@arr"))
        t0 = first_ts(venue)
        venue.advance(t0 + 20_000 * MS)
        pushes = venue.of("btcusdt@ticker")
        assert pushes and all(b["E"] - a["E"] >= 500 for a, b in zip(pushes, pushes[1:]))
        t = call(venue, "/fapi/v1/ticker/24hr", symbol="BTCUSDT")
        last = pushes[-1]
        assert (last["c"], last["o"], last["h"], last["l"], last["v"], last["n"], last["L"]) == (
            t["lastPrice"], t["openPrice"], t["highPrice"], t["lowPrice"], t["volume"], t["count"], t["lastId"])
        assert venue.of("!ticker@arr")[-1] == [last]

    def test_the_mini_ticker_stream_is_the_ticker_in_short(self) -> None:
        """@miniTicker (what ccxt's watch_ticker subscribes to) pushes the 24hrTicker's close,
        open, high, low and volumes at the same moments, alone or beside @ticker."""
        venue = StandIn(CAPTURE, subscribed=("btcusdt@ticker", "btcusdt@miniTicker", "!miniTicker@arr"))
        venue.advance(first_ts(venue) + 20_000 * MS)
        full, mini = venue.of("btcusdt@ticker"), venue.of("btcusdt@miniTicker")
        assert mini and len(mini) == len(full)
        for t, m in zip(full, mini):
            assert m == {"e": "24hrMiniTicker", "E": t["E"], "s": "BTCUSDT", "c": t["c"], "o": t["o"], "h": t["h"],
                         "l": t["l"], "v": t["v"], "q": t["q"]}
        assert venue.of("!miniTicker@arr")[-1] == [mini[-1]]

    def test_marks_before_the_first_mark_are_the_last_trade(self) -> None:
        """At the venue's first instant on the crash bars, /premiumIndex shows the first print, not 0."""
        venue = StandIn(CRASH)
        p = call(venue, "/fapi/v1/premiumIndex", symbol="BTCUSDT")
        first_open = CRASH.read_text().splitlines()[1].split(",")[1]
        assert float(p["markPrice"]) == float(first_open) == float(p["indexPrice"])

    def test_ccxt_load_markets_asks_the_spot_lists_exsim_has_empty(self) -> None:
        """The two SAPI lists ccxt's load_markets asks with keys are served, empty."""
        venue = StandIn(CRASH)
        assert call(venue, "/sapi/v1/capital/config/getall", account_id=1) == []
        assert call(venue, "/sapi/v1/margin/allPairs", account_id=1) == []

    def test_ccxt_fetch_status_finds_the_venue_up(self) -> None:
        """/sapi/v1/system/status (ccxt's fetch_status) answers Binance's 'normal', public."""
        venue = StandIn(CRASH)
        assert call(venue, "/sapi/v1/system/status") == {"status": 0, "msg": "normal"}
