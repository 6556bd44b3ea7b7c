"""The public market of ``exsim serve``: Binance USDⓈ-M market-data endpoints and streams
built from exsim's state (issue 15, slice "market"; the contract is ``exsim.serve.binance``).

:class:`MarketFeed` follows the engine: the venue hands it every event batch
(:meth:`~MarketFeed.on_events`), every replayed print (:meth:`~MarketFeed.on_trade`: a
print that consumed only replayed size emits no event, so the tape needs the print itself),
and every clock advance (:meth:`~MarketFeed.on_clock`). From them it keeps:

* **Depth update ids.** One id per :class:`~exsim.exchange.events.BookDelta`, per symbol,
  from 1. ``GET /fapi/v1/depth`` returns the exchange's book at the venue's ``now`` with
  ``lastUpdateId`` = the id of the last delta applied. The diff streams
  (``<s>@depth@100ms``, ``<s>@depth`` = 250 ms, ``<s>@depth@500ms``) batch the deltas of
  each window ``[k·P, (k+1)·P)`` of *venue* time into one ``depthUpdate`` with ``U`` = the
  window's first id, ``u`` = its last, ``pu`` = ``U - 1`` (ids are consecutive, so that is
  the previous message's ``u`` on every speed), and each changed level's size at the end
  of the window. A client that follows Binance's "How to manage a local order book
  correctly" (buffer the stream, take ``/depth``, drop events with ``u < lastUpdateId``,
  start at the one with ``U <= lastUpdateId <= u``, then check ``pu`` = previous ``u``)
  rebuilds exactly the exchange's book. A window with no change sends nothing.
* **The tape.** Each replayed print is one trade (and one aggregate trade); each fill of a
  simulated taker (a bot's order, a liquidation order) is one trade, and the fills of one
  taker order at one price in one command are one aggregate trade. Fills of an anonymous
  taker are part of the print they belong to and are not counted twice. Trade ids are per
  symbol, from 1. The last :data:`TRADE_HISTORY` trades are kept for ``/trades``,
  ``/historicalTrades`` and ``/aggTrades``.
* **Klines.** One-minute bars of the tape (quote volume and taker-buy volumes too), a flat
  bar at the previous close for a quiet minute; the other intervals are aggregated from
  them. A print of unknown size (a bar file's price path) counts as a trade of size 0.
  ``/ticker/24hr`` is the 1-minute bars of the last 24 h of venue time (to the minute).
* **Funding** settlements (``/fundingRate``), and the last rate for ``/premiumIndex`` and
  ``@markPrice``. Marks and index prices are read from the exchange when needed.

Cost on the hot path: per event batch one type test per event; per ``BookDelta`` a
comparison, an increment, a list append and two dict stores (the log of the open depth
windows and a mirror of the L2 book, both O(1)); per print an append to the bounded tape
and an O(1) fold into the minute bar; per batch with deltas two ``venue.wants`` look-ups
(``@bookTicker``). Stream payloads are built only for streams someone watches
(``venue.wants``), at window ends; nobody watching costs nothing more.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterator
from typing import Any, Final

from exsim.book.orders import BUY, SELL
from exsim.exchange.events import BookDelta, Fill, FundingSettled, IndexPriceUpdated, Liquidation, MarkPriceUpdated
from exsim.margin.funding import DEFAULT_INTEREST_E8, next_funding_time_ns
from exsim.serve.binance import (
    BAD_INTERVAL,
    INVALID_SYMBOL,
    NONE,
    SIGNED,
    BinanceError,
    Params,
    endpoint,
    illegal,
    ms_of,
)
from exsim.units import div_half_even, floor_div, format_atoms, format_rate_e8

MS: Final = 1_000_000
MINUTE_NS: Final = 60_000 * MS
DAY_NS: Final = 1_440 * MINUTE_NS
#: trades kept per symbol for /trades, /historicalTrades and /aggTrades
TRADE_HISTORY: Final = 100_000
#: the diff-depth windows: stream suffix -> window length (ns of venue time)
DEPTH_SPEEDS: Final = (("@100ms", 100 * MS), ("", 250 * MS), ("@500ms", 500 * MS))
PARTIAL_LEVELS: Final = (5, 10, 20)
#: kline intervals served (Binance USDⓈ-M's that are a fixed length aligned to the epoch)
KLINE_INTERVALS: Final = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240, "6h": 360,
    "8h": 480, "12h": 720, "1d": 1_440,
}
#: klines pushed every 250 ms of venue time (marks every 1 s / 3 s)
KLINE_PUSH_NS: Final = 250 * MS
#: 24 h ticker pushes (Binance: every 500 ms when it changed)
TICKER_PUSH_NS: Final = 500 * MS
#: rate limits announced in exchangeInfo when the venue has no ``rate_limits`` list of its
#: own (Binance's defaults, the figures of the server's limits.py; the server sets
#: ``venue.rate_limits`` to what it enforces: market.py imports nothing of the server layer)
RATE_LIMITS: Final = (
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
)
#: a price far above any the venue trades, for PRICE_FILTER's maxPrice and LOT_SIZE's maxQty
#: when the instrument has no cap (exsim checks none): 10^9 ticks / lots
NO_CAP_UNITS: Final = 1_000_000_000
_NEVER: Final = 1 << 62  # a time no window ends at

# kline record fields (a list, mutated in place while the minute is open)
_OPEN, _O, _H, _L, _C, _VOL, _QUOTE, _COUNT, _BUY_VOL, _BUY_QUOTE, _FIRST, _LAST = range(12)


def _fold_price(bars: list[list[int]], ts_ns: int, px: int) -> None:
    """Fold one mark / index price into its minute bars ``[open_ns, o, h, l, c, updates]``
    (a quiet minute: a flat bar at the previous close, 0 updates). O(1) but for gaps."""
    minute = floor_div(ts_ns, MINUTE_NS) * MINUTE_NS
    if not bars or bars[-1][0] != minute:
        if bars:
            close = bars[-1][4]
            t = bars[-1][0] + MINUTE_NS
            while t < minute:
                bars.append([t, close, close, close, close, 0])
                t += MINUTE_NS
        bars.append([minute, px, px, px, px, 0])
    bar = bars[-1]
    if px > bar[2]:
        bar[2] = px
    elif px < bar[3]:
        bar[3] = px
    bar[4] = px
    bar[5] += 1


class _Symbol:
    """Everything the feed keeps about one symbol."""

    __slots__ = (
        "inst", "symbol", "lower", "update_id", "log", "log_first_id", "ends", "flushed", "next_flush", "mirror",
        "trades", "next_trade_id", "next_agg_id", "minutes", "first_minute_ns", "tape_seq", "fundings",
        "last_rate_e8", "ticker_pushed", "klines_pushed", "last_trade", "price_minutes", "day_cache", "day_pushed",
        "depth_streams", "book_ticker_stream", "trade_stream", "agg_trade_stream",
    )

    def __init__(self, inst: Any) -> None:
        self.inst = inst
        self.symbol: str = inst.symbol
        self.lower: str = inst.symbol.lower()
        lower = self.lower
        #: per depth speed: (diff stream, ((levels, partial stream), ...)) (names built once)
        self.depth_streams = tuple(
            (f"{lower}@depth{suffix}", tuple((n, f"{lower}@depth{n}{suffix}") for n in PARTIAL_LEVELS)) for suffix, _ in DEPTH_SPEEDS
        )
        self.book_ticker_stream = f"{lower}@bookTicker"
        self.trade_stream = f"{lower}@trade"
        self.agg_trade_stream = f"{lower}@aggTrade"
        self.update_id = 0  # the id of the last BookDelta seen
        self.log: list[BookDelta] = []  # the deltas of the open depth windows, ids log_first_id...
        self.log_first_id = 1
        self.ends = [_NEVER] * len(DEPTH_SPEEDS)  # the open window's end per speed (_NEVER: none open)
        self.flushed = [0] * len(DEPTH_SPEEDS)  # the last id sent (or skipped) per speed
        self.next_flush = -1  # min(ends), or -1 when a speed has no open window (the next delta opens it)
        self.mirror: tuple[dict[int, int], dict[int, int]] = ({}, {})  # L2 from the deltas: side -> {px: lots}
        self.trades: deque[tuple[int, int, int, int, int, bool, int]] = deque(maxlen=TRADE_HISTORY)
        self.next_trade_id = 1
        self.next_agg_id = 1
        self.minutes: list[list[int]] = []  # one kline record per minute from the first trade's
        self.first_minute_ns = 0
        self.tape_seq = 0  # trades so far (klines pushed when it moved)
        self.fundings: list[tuple[int, int, int]] = []  # (ts_ns, rate_e8, mark_subticks)
        self.last_rate_e8: int | None = None
        self.ticker_pushed: tuple[int, int, int, int] | None = None
        self.klines_pushed: dict[str, tuple[int, int]] = {}  # interval -> (bar open, tape_seq) pushed
        self.last_trade: tuple[int, int] = (0, 0)  # (price ticks, qty lots) of the last trade
        #: minute bars of the marks and of the index, subticks: [open_ns, o, h, l, c, updates]
        self.price_minutes: tuple[list[list[int]], list[list[int]]] = ([], [])
        #: the 24 h statistics of the closed minutes: ((first index, end index), figures)
        self.day_cache: tuple[tuple[int, int], Any] | None = None
        self.day_pushed = -1  # tape_seq at the last @ticker push


class MarketFeed:
    """The venue's market data (see the module doc). ``venue``: the
    :class:`~exsim.serve.binance.VenueView` (``instruments``, ``exchange``, ``now_ns``,
    ``wants``, ``publish_market``)."""

    def __init__(self, venue: Any) -> None:
        self.venue = venue
        self.symbols: dict[str, _Symbol] = {s: _Symbol(inst) for s, inst in venue.instruments.items()}
        self._next_kline_push = -1  # venue time of the next 250 ms / 1 s / 3 s push check
        self._next_mark_1s = -1
        self._next_ticker = -1
        self._next_mark_3s = -1
        self.ended = False

    # ------------------------------------------------------------------ engine input (hot path)
    def on_events(self, events: list[Any]) -> None:
        """One command's events (all at the command's ``ts_ns``). O(events); see the module
        doc. Hot path (a depth update is hundreds of deltas): the symbol, its log and its
        mirror are looked up once per run of deltas of one symbol, the window check too."""
        symbols = self.symbols
        s: _Symbol | None = None  # the symbol of the last delta
        append: Any = None
        mirror: Any = None
        for e in events:
            t = type(e)
            if t is BookDelta:
                if s is None or e.symbol != s.symbol:
                    if s is not None:
                        self._book_ticker(s)
                    s = symbols[e.symbol]
                    if e.ts_ns >= s.next_flush:  # (one command: one timestamp)
                        self._flush_depth(s, e.ts_ns)
                    append = s.log.append
                    mirror = s.mirror
                s.update_id += 1
                append(e)
                side = mirror[e.side]
                if e.lots:
                    side[e.price_ticks] = e.lots
                else:
                    side.pop(e.price_ticks, None)
            elif t is Fill:
                if e.taker_order_id:  # (an anonymous taker's fills are part of its print)
                    self._fill(e)
            elif t is MarkPriceUpdated:
                _fold_price(symbols[e.symbol].price_minutes[0], e.ts_ns, e.mark_price_subticks)
            elif t is IndexPriceUpdated:
                _fold_price(symbols[e.symbol].price_minutes[1], e.ts_ns, e.index_price_subticks)
            elif t is FundingSettled:
                f = symbols[e.symbol]
                f.fundings.append((e.ts_ns, e.rate_e8, e.mark_price_subticks))
                f.last_rate_e8 = e.rate_e8
            elif t is Liquidation:
                self._force_orders(e)
        if s is not None:
            self._book_ticker(s)
            if self.ended:  # (the clock stands still after the end: no window would close)
                for sym in symbols.values():
                    if sym.next_flush != -1:
                        self._flush_depth(sym, self.venue.now_ns, force=True)

    def on_trade(self, trade: Any) -> None:
        """A replayed print (:class:`~exsim.exchange.ReplayedTrade`), after the exchange
        took it: one trade on the tape. O(1)."""
        s = self.symbols[trade.symbol]
        qty = trade.qty_lots
        if qty >= 1 << 62:  # a print of unknown size (exsim.replay.market.UNKNOWN_SIZE_LOTS)
            qty = 0
        self._tape(s, trade.ts_ns, trade.price_ticks, qty, trade.aggressor_side == SELL, True)

    def on_clock(self, now_ns: int) -> None:
        """The venue's clock reached ``now_ns``: send the depth windows that ended, and the
        periodic pushes (klines every 250 ms, marks every 1 s / 3 s) someone watches.
        O(1) between window ends."""
        for s in self.symbols.values():
            if now_ns >= s.next_flush >= 0:
                self._flush_depth(s, now_ns)
        if now_ns >= self._next_kline_push:
            self._periodic(now_ns)

    def on_end(self, now_ns: int) -> None:
        """The data ended: send what the open windows hold. From now on the clock stands
        still, so each later command's deltas are sent at once (a window per command)."""
        self.ended = True
        for s in self.symbols.values():
            self._flush_depth(s, now_ns, force=True)
        self._periodic(now_ns)

    # ------------------------------------------------------------------ depth
    def _flush_depth(self, s: _Symbol, ts_ns: int, force: bool = False) -> None:
        """Close every depth window of ``s`` that ends at or before ``ts_ns`` (all open ones
        if ``force``), sending its diff and partial-book streams when watched; then open a
        window at ``ts_ns`` for the speeds that have none (not if ``force``: the next delta
        opens them) and trim the log. O(deltas in the closed windows) when watched, O(1)
        per speed otherwise."""
        ends = s.ends
        flushed = s.flushed
        last = s.update_id
        for k, (suffix, period) in enumerate(DEPTH_SPEEDS):
            end = ends[k]
            if end <= ts_ns or (force and end != _NEVER):
                first = flushed[k] + 1
                if first <= last:
                    self._send_depth(s, k, first, last, min(end, ts_ns))
                flushed[k] = last
                end = ends[k] = _NEVER
            if end == _NEVER and not force:
                ends[k] = (floor_div(ts_ns, period) + 1) * period  # the window the next delta falls in
        s.next_flush = -1 if _NEVER in ends else min(ends)
        keep_from = min(flushed) + 1  # the oldest id a window still needs
        drop = keep_from - s.log_first_id
        if drop > 0:
            del s.log[:drop]
            s.log_first_id = keep_from

    def _send_depth(self, s: _Symbol, speed: int, first: int, last: int, end_ns: int) -> None:
        """The diff (and the partial books) of one closed window of depth speed ``speed``,
        to the streams watched."""
        venue = self.venue
        wants = venue.wants
        diff_stream, partial_streams = s.depth_streams[speed]
        want_diff = wants(diff_stream)
        partial = [(n, name) for n, name in partial_streams if wants(name)]
        if not want_diff and not partial:
            return
        deltas = s.log[first - s.log_first_id : last - s.log_first_id + 1]
        head = {"e": "depthUpdate", "E": ms_of(end_ns), "T": ms_of(deltas[-1].ts_ns), "s": s.symbol, "U": first, "u": last, "pu": first - 1}
        price = s.inst.price_str
        qty = s.inst.qty_str
        if want_diff:
            levels: tuple[dict[int, int], dict[int, int]] = ({}, {})
            for d in deltas:
                levels[d.side][d.price_ticks] = d.lots
            bids = [[price(p), qty(levels[BUY][p])] for p in sorted(levels[BUY], reverse=True)]
            asks = [[price(p), qty(levels[SELL][p])] for p in sorted(levels[SELL])]
            venue.publish_market(diff_stream, {**head, "b": bids, "a": asks})
        if partial:
            # the partial book at the window's end: the mirror (the exchange's book may
            # already hold the next command's deltas when this runs from on_events)
            bids_m, asks_m = s.mirror
            n_max = max(n for n, _ in partial)
            top_b = heapq.nlargest(n_max, bids_m)
            top_a = heapq.nsmallest(n_max, asks_m)
            for n, name in partial:
                venue.publish_market(
                    name,
                    {**head, "b": [[price(p), qty(bids_m[p])] for p in top_b[:n]], "a": [[price(p), qty(asks_m[p])] for p in top_a[:n]]},
                )

    def depth(self, symbol: str, limit: int) -> dict[str, Any]:
        """``GET /fapi/v1/depth``: the exchange's book now, ``limit`` levels a side. O(limit)."""
        s = self._symbol(symbol)
        book = self.venue.exchange.book(symbol)
        price, qty = s.inst.price_str, s.inst.qty_str
        now_ms = ms_of(self.venue.now_ns)
        return {
            "lastUpdateId": s.update_id,
            "E": now_ms,
            "T": now_ms,
            "bids": [[price(p), qty(q)] for p, q in book.depth(BUY, limit)],
            "asks": [[price(p), qty(q)] for p, q in book.depth(SELL, limit)],
        }

    def _book_ticker(self, s: _Symbol) -> None:
        """After a batch that changed ``s``'s book: ``@bookTicker`` / ``!bookTicker`` when the
        top changed and someone watches. Two look-ups when nobody does."""
        venue = self.venue
        stream = s.book_ticker_stream
        one, every = venue.wants(stream), venue.wants("!bookTicker")
        if not one and not every:
            s.ticker_pushed = None
            return
        book = venue.exchange.book(s.symbol)
        bid, ask = book.best_bid() or 0, book.best_ask() or 0
        top = (bid, book.level_lots(BUY, bid) if bid else 0, ask, book.level_lots(SELL, ask) if ask else 0)
        if top == s.ticker_pushed:
            return
        s.ticker_pushed = top
        now_ms = ms_of(venue.now_ns)
        price, qty = s.inst.price_str, s.inst.qty_str
        payload = {
            "e": "bookTicker", "u": s.update_id, "E": now_ms, "T": now_ms, "s": s.symbol,
            "b": price(top[0]), "B": qty(top[1]), "a": price(top[2]), "A": qty(top[3]),
        }
        if one:
            venue.publish_market(stream, payload)
        if every:
            venue.publish_market("!bookTicker", payload)

    # ------------------------------------------------------------------ the tape
    def _fill(self, e: Fill) -> None:
        """A simulated taker's fill: a trade; one aggregate trade per taker order and price
        within one command."""
        s = self.symbols[e.symbol]
        trades = s.trades
        if trades:
            last = trades[-1]
            same = last[2] == e.ts_ns and last[3] == e.price_ticks and last[6] == e.taker_order_id
        else:
            same = False
        self._tape(s, e.ts_ns, e.price_ticks, e.qty_lots, e.aggressor_side == SELL, not same, e.taker_order_id)

    def _tape(self, s: _Symbol, ts_ns: int, px: int, qty: int, buyer_is_maker: bool, new_agg: bool, taker: int = 0) -> None:
        """Append one trade to the tape and its minute bar; push ``@trade``/``@aggTrade``
        when watched. O(1)."""
        trade_id = s.next_trade_id
        s.next_trade_id = trade_id + 1
        if new_agg:
            agg_id = s.next_agg_id
            s.next_agg_id = agg_id + 1
        else:
            agg_id = s.next_agg_id - 1
        s.trades.append((trade_id, agg_id, ts_ns, px, qty, buyer_is_maker, taker))
        s.tape_seq += 1
        s.last_trade = (px, qty)
        # the minute bar
        minute = floor_div(ts_ns, MINUTE_NS) * MINUTE_NS
        bars = s.minutes
        quote = px * qty * s.inst.atoms_per_tick_lot
        if not bars:
            s.first_minute_ns = minute
            bars.append([minute, px, px, px, px, 0, 0, 0, 0, 0, trade_id, trade_id])
        elif bars[-1][_OPEN] != minute:
            close = bars[-1][_C]
            t = bars[-1][_OPEN] + MINUTE_NS
            while t < minute:  # quiet minutes: flat bars at the previous close
                bars.append([t, close, close, close, close, 0, 0, 0, 0, 0, -1, -1])
                t += MINUTE_NS
            bars.append([minute, px, px, px, px, 0, 0, 0, 0, 0, trade_id, trade_id])
        bar = bars[-1]
        if px > bar[_H]:
            bar[_H] = px
        elif px < bar[_L]:
            bar[_L] = px
        bar[_C] = px
        bar[_VOL] += qty
        bar[_QUOTE] += quote
        bar[_COUNT] += 1
        if not buyer_is_maker:  # the taker bought
            bar[_BUY_VOL] += qty
            bar[_BUY_QUOTE] += quote
        if bar[_FIRST] < 0:
            bar[_FIRST] = trade_id
        bar[_LAST] = trade_id
        venue = self.venue
        want_trade = venue.wants(s.trade_stream)
        want_agg = venue.wants(s.agg_trade_stream)
        if want_trade or want_agg:
            ms = ms_of(ts_ns)
            p, q = s.inst.price_str(px), s.inst.qty_str(qty)
            if want_trade:
                venue.publish_market(
                    s.trade_stream,
                    {"e": "trade", "E": ms, "T": ms, "s": s.symbol, "t": trade_id, "p": p, "q": q, "X": "MARKET", "m": buyer_is_maker},
                )
            if want_agg:  # one message per trade; a later fill of the same aggregate repeats its id with l grown
                first = trade_id if new_agg else self._agg_first(s, agg_id)
                venue.publish_market(
                    s.agg_trade_stream,
                    {"e": "aggTrade", "E": ms, "a": agg_id, "s": s.symbol, "p": p, "q": q, "f": first, "l": trade_id, "T": ms, "m": buyer_is_maker},
                )

    @staticmethod
    def _agg_first(s: _Symbol, agg_id: int) -> int:
        first = 0
        for rec in reversed(s.trades):
            if rec[1] != agg_id:
                break
            first = rec[0]
        return first

    def _force_orders(self, e: Any) -> None:
        """``@forceOrder`` / ``!forceOrder@arr``: one message per position a liquidation
        closed by its liquidation order, when watched. The order's fills are those through
        the book and the insurance fund's take-over at the bankruptcy price (an
        auto-deleveraged rest is not the order's, as on Binance); its average price is
        rounded half-even to 1e-8."""
        venue = self.venue
        for pos in e.positions:
            s = self.symbols.get(pos.symbol)
            done = pos.filled_lots + pos.taken_over_lots
            if s is None or not done:
                continue
            stream = f"{s.lower}@forceOrder"
            one, every = venue.wants(stream), venue.wants("!forceOrder@arr")
            if not one and not every:
                continue
            inst = s.inst
            ms = ms_of(e.ts_ns)
            atpl = inst.atoms_per_tick_lot
            notional = pos.fill_notional_atoms + pos.taken_over_lots * pos.bankruptcy_price_ticks * atpl
            avg_subticks = div_half_even(notional * inst.subticks_per_tick, done * atpl)
            size = abs(pos.qty_lots)
            payload = {
                "e": "forceOrder",
                "E": ms,
                "o": {
                    "s": s.symbol, "S": "SELL" if pos.qty_lots > 0 else "BUY", "o": "LIMIT", "f": "IOC",
                    "q": inst.qty_str(size), "p": inst.price_str(pos.bankruptcy_price_ticks),
                    "ap": inst.mark_str(avg_subticks), "X": "FILLED" if done == size else "PARTIALLY_FILLED",
                    "l": inst.qty_str(done), "z": inst.qty_str(done), "T": ms,
                },
            }
            if one:
                venue.publish_market(stream, payload)
            if every:
                venue.publish_market("!forceOrder@arr", payload)

    # ------------------------------------------------------------------ klines
    def klines(self, symbol: str, interval: str, start_ms: int | None, end_ms: int | None, limit: int) -> list[list[Any]]:
        """``GET /fapi/v1/klines``: bars of ``interval`` from the 1-minute bars, oldest
        first; the latest ``limit`` up to ``end_ms`` (or now) unless ``start_ms`` is given.
        O(minutes covered)."""
        s = self._symbol(symbol)
        span = KLINE_INTERVALS.get(interval)
        if span is None:
            raise BinanceError(BAD_INTERVAL, "Invalid interval.")
        if not s.minutes:
            return []
        span_ns = span * MINUTE_NS
        out = []
        for t in _bar_opens(s.first_minute_ns, s.minutes[-1][_OPEN], span_ns, start_ms, end_ms, limit):
            bar = self._bar(s, t, span)
            if bar is not None:
                out.append(self._kline_row(s, bar, span_ns))
        return out

    def price_klines(self, symbol: str, which: int, interval: str, start_ms: int | None, end_ms: int | None, limit: int) -> list[list[Any]]:
        """``/markPriceKlines`` (``which`` 0) and ``/indexPriceKlines`` (1): bars of the
        marks / index prices exsim applied, as :meth:`klines` picks them. O(minutes covered)."""
        s = self._symbol(symbol)
        span = KLINE_INTERVALS.get(interval)
        if span is None:
            raise BinanceError(BAD_INTERVAL, "Invalid interval.")
        bars = s.price_minutes[which]
        if not bars:
            return []
        span_ns = span * MINUTE_NS
        first_minute = bars[0][0]
        out = []
        for t in _bar_opens(first_minute, bars[-1][0], span_ns, start_ms, end_ms, limit):
            i0 = max(0, (t - first_minute) // MINUTE_NS)
            part = bars[i0 : (t - first_minute) // MINUTE_NS + span]
            if not part:
                continue
            mark = s.inst.mark_str
            out.append([
                ms_of(t), mark(part[0][1]), mark(max(b[2] for b in part)), mark(min(b[3] for b in part)), mark(part[-1][4]),
                "0", ms_of(t + span_ns) - 1, "0", sum(b[5] for b in part), "0", "0", "0",
            ])
        return out

    def _bar(self, s: _Symbol, open_ns: int, span: int) -> list[int] | None:
        """The bar of ``span`` minutes opening at ``open_ns``, folded from its minutes; None
        when none of its minutes has a bar yet. O(span)."""
        bars = s.minutes
        i0 = max(0, floor_div(open_ns - s.first_minute_ns, MINUTE_NS))
        i1 = min(len(bars), floor_div(open_ns - s.first_minute_ns, MINUTE_NS) + span)
        if i0 >= i1:
            return None
        out = list(bars[i0])
        out[_OPEN] = open_ns
        for b in bars[i0 + 1 : i1]:
            if b[_H] > out[_H]:
                out[_H] = b[_H]
            if b[_L] < out[_L]:
                out[_L] = b[_L]
            out[_C] = b[_C]
            for f in (_VOL, _QUOTE, _COUNT, _BUY_VOL, _BUY_QUOTE):
                out[f] += b[f]
            if b[_FIRST] >= 0:
                if out[_FIRST] < 0:
                    out[_FIRST] = b[_FIRST]
                out[_LAST] = b[_LAST]
        return out

    def _kline_row(self, s: _Symbol, bar: list[int], span_ns: int) -> list[Any]:
        price, qty = s.inst.price_str, s.inst.qty_str
        return [
            ms_of(bar[_OPEN]), price(bar[_O]), price(bar[_H]), price(bar[_L]), price(bar[_C]), qty(bar[_VOL]),
            ms_of(bar[_OPEN] + span_ns) - 1, format_atoms(bar[_QUOTE], 0), bar[_COUNT], qty(bar[_BUY_VOL]),
            format_atoms(bar[_BUY_QUOTE], 0), "0",
        ]

    def _kline_payload(self, s: _Symbol, interval: str, bar: list[int], closed: bool, now_ms: int) -> dict[str, Any]:
        span_ns = KLINE_INTERVALS[interval] * MINUTE_NS
        row = self._kline_row(s, bar, span_ns)
        return {
            "e": "kline", "E": now_ms, "s": s.symbol,
            "k": {
                "t": row[0], "T": row[6], "s": s.symbol, "i": interval, "f": bar[_FIRST], "L": bar[_LAST],
                "o": row[1], "c": row[4], "h": row[2], "l": row[3], "v": row[5], "n": row[8], "x": closed,
                "q": row[7], "V": row[9], "Q": row[10], "B": "0",
            },
        }

    # ------------------------------------------------------------------ periodic pushes
    def _periodic(self, now_ns: int) -> None:
        """Every 250 ms of venue time: klines watched whose bar moved (and the closing push
        of a bar that ended); every 1 s / 3 s: marks watched. O(symbols × intervals)
        look-ups."""
        self._next_kline_push = (floor_div(now_ns, KLINE_PUSH_NS) + 1) * KLINE_PUSH_NS
        venue = self.venue
        now_ms = ms_of(now_ns)
        for s in self.symbols.values():
            if not s.minutes:
                continue
            for interval, span in KLINE_INTERVALS.items():
                stream = f"{s.lower}@kline_{interval}"
                if not venue.wants(stream):
                    s.klines_pushed.pop(interval, None)
                    continue
                span_ns = span * MINUTE_NS
                current = floor_div(now_ns, span_ns) * span_ns
                pushed = s.klines_pushed.get(interval)
                if pushed is not None and pushed[0] < current:  # the pushed bar has closed: its final state
                    bar = self._bar(s, pushed[0], span)
                    if bar is not None:
                        venue.publish_market(stream, self._kline_payload(s, interval, bar, True, now_ms))
                if pushed == (current, s.tape_seq):
                    continue
                bar = self._bar(s, current, span)
                if bar is None:  # (no trade yet in it and no minute bar: the previous close, flat)
                    close = s.minutes[-1][_C]
                    bar = [current, close, close, close, close, 0, 0, 0, 0, 0, -1, -1]
                venue.publish_market(stream, self._kline_payload(s, interval, bar, False, now_ms))
                s.klines_pushed[interval] = (current, s.tape_seq)
        if now_ns >= self._next_ticker:
            self._next_ticker = (floor_div(now_ns, TICKER_PUSH_NS) + 1) * TICKER_PUSH_NS
            every = venue.wants("!ticker@arr")
            every_mini = venue.wants("!miniTicker@arr")  # (ccxt's watch_ticker subscribes to @miniTicker)
            arr: list[dict[str, Any]] = []
            mini_arr: list[dict[str, Any]] = []
            for s in self.symbols.values():
                one = venue.wants(f"{s.lower}@ticker")
                mini = venue.wants(f"{s.lower}@miniTicker")
                if (one or every or mini or every_mini) and s.minutes and s.day_pushed != s.tape_seq:
                    s.day_pushed = s.tape_seq
                    event = ticker_event(s, now_ns)
                    if one:
                        venue.publish_market(f"{s.lower}@ticker", event)
                    arr.append(event)
                    small = mini_ticker_event(event)
                    if mini:
                        venue.publish_market(f"{s.lower}@miniTicker", small)
                    mini_arr.append(small)
            if arr and every:
                venue.publish_market("!ticker@arr", arr)  # type: ignore[arg-type]
            if mini_arr and every_mini:
                venue.publish_market("!miniTicker@arr", mini_arr)  # type: ignore[arg-type]
        if now_ns >= self._next_mark_1s:
            self._next_mark_1s = (floor_div(now_ns, 1_000 * MS) + 1) * 1_000 * MS
            self._push_marks(now_ns, "@1s")
        if now_ns >= self._next_mark_3s:
            self._next_mark_3s = (floor_div(now_ns, 3_000 * MS) + 1) * 3_000 * MS
            self._push_marks(now_ns, "")

    def _push_marks(self, now_ns: int, suffix: str) -> None:
        venue = self.venue
        every = venue.wants(f"!markPrice@arr{suffix}")
        arr = []
        for s in self.symbols.values():
            stream = f"{s.lower}@markPrice{suffix}"
            one = venue.wants(stream)
            if not one and not every:
                continue
            payload = self._mark_payload(s, now_ns)
            if payload is None:
                continue
            if one:
                venue.publish_market(stream, payload)
            arr.append(payload)
        if every and arr:
            venue.publish_market(f"!markPrice@arr{suffix}", arr)  # type: ignore[arg-type]

    def _mark_payload(self, s: _Symbol, now_ns: int) -> dict[str, Any] | None:
        mark, index = marks_of(self.venue.exchange, s)
        if not mark:
            return None
        inst = s.inst
        return {
            "e": "markPriceUpdate", "E": ms_of(now_ns), "s": s.symbol, "p": inst.mark_str(mark),
            "i": inst.mark_str(index), "P": inst.mark_str(index), "r": format_rate_e8(self._rate_e8(s), 8),
            "T": ms_of(next_funding_time_ns(now_ns, inst.funding_interval_ns)),
        }

    @staticmethod
    def _rate_e8(s: _Symbol) -> int:
        """The funding rate shown as current: the last settled one, else the interest rate
        (what a premium of 0 gives)."""
        return s.last_rate_e8 if s.last_rate_e8 is not None else DEFAULT_INTEREST_E8

    # ------------------------------------------------------------------ helpers
    def _symbol(self, symbol: str) -> _Symbol:
        s = self.symbols.get(symbol)
        if s is None:
            raise BinanceError(INVALID_SYMBOL, "Invalid symbol.")
        return s

    def _check(self) -> None:
        """The depth state agrees with the exchange's book and the windows are sane. O(levels)."""
        for s in self.symbols.values():
            book = self.venue.exchange.book(s.symbol)
            for side in (BUY, SELL):
                assert dict(book.depth(side, 1 << 30)) == s.mirror[side], (s.symbol, side)
            assert s.log_first_id + len(s.log) == s.update_id + 1, (s.log_first_id, len(s.log), s.update_id)
            assert all(s.log_first_id - 1 <= f <= s.update_id for f in s.flushed)
            assert s.next_flush == (-1 if _NEVER in s.ends else min(s.ends))


def _bar_opens(first_ns: int, last_ns: int, span_ns: int, start_ms: int | None, end_ms: int | None, limit: int) -> range:
    """The open times of the bars of ``span_ns`` a klines request asks for, data from
    ``first_ns`` to ``last_ns`` (minute opens): from ``start_ms`` (bars opening at or after
    it) the first ``limit``, else the last ``limit`` up to ``end_ms``, as Binance picks them."""
    lo = floor_div(first_ns, span_ns) * span_ns
    hi = floor_div(last_ns, span_ns) * span_ns
    if end_ms is not None:
        hi = min(hi, floor_div(end_ms * MS, span_ns) * span_ns)
    if start_ms is not None:
        lo = max(lo, -floor_div(-start_ms * MS, span_ns) * span_ns)
        hi = min(hi, lo + (limit - 1) * span_ns)
    else:
        lo = max(lo, hi - (limit - 1) * span_ns)
    return range(lo, hi + 1, span_ns) if lo <= hi else range(0)


# --------------------------------------------------------------------------- helpers of the handlers
def _feed(venue: Any) -> MarketFeed:
    return venue.market  # type: ignore[no-any-return]


def _limit(params: Params, default: int, most: int) -> int:
    limit = params.integer("limit", default)
    if not 1 <= limit <= most:
        raise illegal("limit", str(limit), f"1 to {most}")
    return limit


def _optional_ms(params: Params, name: str) -> int | None:
    return params.integer(name) if params.has(name) else None


def _symbols_of(venue: Any, params: Params) -> list[_Symbol]:
    """The one symbol named, or every symbol when the parameter is absent."""
    feed = _feed(venue)
    name = params.optional("symbol")
    if name is None:
        return list(feed.symbols.values())
    return [feed._symbol(name)]


def _lot_places(inst: Any) -> int:
    return len(inst.qty_str(1).partition(".")[2])


def _depth_weight(params: Params) -> int:
    """Binance's weight of ``/depth`` by ``limit`` (5-50: 2, 100: 5, 500: 10, 1000: 20)."""
    try:
        limit = int(params.values.get("limit") or 500)
    except ValueError:
        return 2
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


# --------------------------------------------------------------------------- endpoints
@endpoint("GET", "/fapi/v1/ping", security=NONE)
def ping(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """Test connectivity: ``{}``."""
    return {}


@endpoint("GET", "/fapi/v1/time", security=NONE)
def server_time(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """The venue's clock (the replay's time), ms."""
    return {"serverTime": ms_of(venue.now_ns)}


def symbol_info(inst: Any) -> dict[str, Any]:
    """One symbol of ``exchangeInfo`` from an exsim :class:`~exsim.instruments.Instrument`:
    grids, per-order limits and notional filter exactly; caps exsim does not have as
    :data:`NO_CAP_UNITS` grid units."""
    price, qty = inst.price_str, inst.qty_str
    max_qty = qty(inst.max_qty_lots or NO_CAP_UNITS)
    lot_places = _lot_places(inst)
    return {
        "symbol": inst.symbol, "pair": inst.symbol, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000, "status": "TRADING", "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": inst.base, "quoteAsset": inst.quote, "marginAsset": inst.quote,
        "pricePrecision": inst.tick_places, "quantityPrecision": lot_places, "baseAssetPrecision": 8, "quotePrecision": 8,
        "underlyingType": "COIN", "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
        "liquidationFee": format_rate_e8(inst.clearance_fee_e8, 6), "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": price(1), "maxPrice": price(NO_CAP_UNITS), "tickSize": price(1)},
            {"filterType": "LOT_SIZE", "stepSize": qty(1), "maxQty": max_qty, "minQty": qty(inst.min_qty_lots)},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": qty(1), "maxQty": max_qty, "minQty": qty(inst.min_qty_lots)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": format_atoms(inst.min_notional_atoms, 0)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


@endpoint("GET", "/fapi/v1/exchangeInfo", security=NONE)
def exchange_info(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """Symbols with their filters from exsim's instruments; the rate limits enforced."""
    quotes = sorted({inst.quote for inst in venue.instruments.values()})
    return {
        "timezone": "UTC",
        "serverTime": ms_of(venue.now_ns),
        "futuresType": "U_MARGINED",
        "rateLimits": [dict(r) for r in getattr(venue, "rate_limits", None) or RATE_LIMITS],
        "exchangeFilters": [],
        "assets": [{"asset": q, "marginAvailable": True, "autoAssetExchange": "0"} for q in quotes],
        "symbols": [symbol_info(inst) for inst in venue.instruments.values()],
    }


@endpoint("GET", "/fapi/v1/depth", security=NONE, weight=_depth_weight)
def depth(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """The book now (``limit`` levels a side, default 500, at most 1000) and its update id."""
    return _feed(venue).depth(params.text("symbol"), _limit(params, 500, 1000))


def _trade_row(s: _Symbol, rec: tuple[Any, ...]) -> dict[str, Any]:
    trade_id, _agg, ts, px, qty, maker = rec[:6]
    inst = s.inst
    return {
        "id": trade_id, "price": inst.price_str(px), "qty": inst.qty_str(qty),
        "quoteQty": format_atoms(px * qty * inst.atoms_per_tick_lot, 0), "time": ms_of(ts), "isBuyerMaker": maker,
    }


@endpoint("GET", "/fapi/v1/trades", security=NONE, weight=5)
def trades(venue: Any, account_id: int | None, params: Params) -> list[dict[str, Any]]:
    """The latest ``limit`` trades (default 500, at most 1000), oldest first."""
    s = _feed(venue)._symbol(params.text("symbol"))
    limit = _limit(params, 500, 1000)
    return [_trade_row(s, r) for r in _latest(s, limit)]


@endpoint("GET", "/fapi/v1/historicalTrades", security=NONE, weight=20)
def historical_trades(venue: Any, account_id: int | None, params: Params) -> list[dict[str, Any]]:
    """Trades from ``fromId`` (default: the latest ``limit``) within the kept history."""
    s = _feed(venue)._symbol(params.text("symbol"))
    limit = _limit(params, 500, 1000)
    if not params.has("fromId"):
        return [_trade_row(s, r) for r in _latest(s, limit)]
    from_id = params.integer("fromId")
    return [_trade_row(s, r) for r in _from_id(s, from_id, limit)]


def _latest(s: _Symbol, limit: int) -> list[tuple[Any, ...]]:
    """The last ``limit`` trades kept, oldest first. O(limit)."""
    out = list(itertools.islice(reversed(s.trades), limit))
    out.reverse()
    return out


def _from_id(s: _Symbol, from_id: int, limit: int) -> list[tuple[Any, ...]]:
    trades_ = s.trades
    if not trades_:
        return []
    start = max(0, from_id - trades_[0][0])  # trade ids are consecutive
    out = []
    for i in range(start, min(len(trades_), start + limit)):
        out.append(trades_[i])
    return out


@endpoint("GET", "/fapi/v1/aggTrades", security=NONE, weight=20)
def agg_trades(venue: Any, account_id: int | None, params: Params) -> list[dict[str, Any]]:
    """Aggregate trades by ``fromId`` or ``startTime``/``endTime`` (default: the latest),
    ``limit`` default 500, at most 1000."""
    s = _feed(venue)._symbol(params.text("symbol"))
    limit = _limit(params, 500, 1000)
    start, end = _optional_ms(params, "startTime"), _optional_ms(params, "endTime")
    from_id = params.integer("fromId") if params.has("fromId") else None
    inst = s.inst
    if from_id is None and start is None and end is None:  # the latest: walk back from the newest
        groups: list[list[tuple[Any, ...]]] = []
        for rec in reversed(s.trades):
            if groups and rec[1] == groups[-1][0][1]:
                groups[-1].append(rec)
            elif len(groups) == limit:
                break  # (the oldest group taken is whole: a new aggregate id begins here)
            else:
                groups.append([rec])
        return [_agg_row(inst, g[::-1]) for g in reversed(groups)]
    out: list[dict[str, Any]] = []
    for group in _agg_groups(s):
        first = group[0]
        if from_id is not None:
            if first[1] < from_id:
                continue
        else:
            t_ms = ms_of(first[2])
            if start is not None and t_ms < start:
                continue
            if end is not None and t_ms > end:
                break  # (the tape is in time order)
        out.append(_agg_row(inst, group))
        if len(out) == limit:
            break
    return out


def _agg_groups(s: _Symbol) -> Iterator[list[tuple[Any, ...]]]:
    """The kept trades grouped by aggregate id, oldest first, as raw records (rows are
    built only for the groups answered). O(trades kept) to walk them all."""
    group: list[tuple[Any, ...]] = []
    for rec in s.trades:
        if group and rec[1] != group[0][1]:
            yield group
            group = []
        group.append(rec)
    if group:
        yield group


def _agg_row(inst: Any, group: list[tuple[Any, ...]]) -> dict[str, Any]:
    first = group[0]
    return {
        "a": first[1], "p": inst.price_str(first[3]), "q": inst.qty_str(sum(r[4] for r in group)),
        "f": first[0], "l": group[-1][0], "T": ms_of(first[2]), "m": first[5],
    }


def _klines_handler(venue: Any, params: Params) -> list[list[Any]]:
    return _feed(venue).klines(
        params.text("symbol"), params.text("interval"), _optional_ms(params, "startTime"), _optional_ms(params, "endTime"),
        _limit(params, 500, 1500),
    )


def _klines_weight(params: Params) -> int:
    """Binance's weight of ``/klines`` by ``limit`` (<100: 1, <500: 2, <=1000: 5, more: 10)."""
    try:
        limit = int(params.values.get("limit") or 500)
    except ValueError:
        return 1
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


@endpoint("GET", "/fapi/v1/klines", security=NONE, weight=_klines_weight)
def klines(venue: Any, account_id: int | None, params: Params) -> list[list[Any]]:
    """Klines of the tape (see :meth:`MarketFeed.klines`)."""
    return _klines_handler(venue, params)


@endpoint("GET", "/fapi/v1/continuousKlines", security=NONE, weight=_klines_weight)
def continuous_klines(venue: Any, account_id: int | None, params: Params) -> list[list[Any]]:
    """The perpetual's klines by ``pair`` (``contractType`` PERPETUAL): the same bars."""
    values = dict(params.values)
    values.setdefault("symbol", params.text("pair"))
    return _klines_handler(venue, Params(values))


@endpoint("GET", "/fapi/v1/ticker/bookTicker", security=NONE, weight=2)
def book_ticker(venue: Any, account_id: int | None, params: Params) -> Any:
    """Best bid / ask now (one symbol: an object; none named: a list)."""
    rows = []
    now_ms = ms_of(venue.now_ns)
    for s in _symbols_of(venue, params):
        book = venue.exchange.book(s.symbol)
        bid, ask = book.best_bid(), book.best_ask()
        price, qty = s.inst.price_str, s.inst.qty_str
        rows.append({
            "symbol": s.symbol,
            "bidPrice": price(bid) if bid else "0", "bidQty": qty(book.level_lots(BUY, bid)) if bid else "0",
            "askPrice": price(ask) if ask else "0", "askQty": qty(book.level_lots(SELL, ask)) if ask else "0",
            "time": now_ms, "lastUpdateId": s.update_id,
        })
    return rows[0] if params.has("symbol") else rows


def _price_rows(venue: Any, params: Params) -> Any:
    rows = []
    now_ms = ms_of(venue.now_ns)
    for s in _symbols_of(venue, params):
        last = venue.exchange.last_price(s.symbol)
        rows.append({"symbol": s.symbol, "price": s.inst.price_str(last) if last else "0", "time": now_ms})
    return rows[0] if params.has("symbol") else rows


@endpoint("GET", "/fapi/v1/ticker/price", security=NONE)
def ticker_price(venue: Any, account_id: int | None, params: Params) -> Any:
    """The last trade price (one symbol: an object; none named: a list)."""
    return _price_rows(venue, params)


@endpoint("GET", "/fapi/v2/ticker/price", security=NONE)
def ticker_price_v2(venue: Any, account_id: int | None, params: Params) -> Any:
    """As ``/fapi/v1/ticker/price``."""
    return _price_rows(venue, params)


def _day_figures(bars: list[list[int]]) -> tuple[int, ...] | None:
    """(open px, open ns, first id, high, low, volume, quote, count, last id) of the bars
    that traded; None when none did. O(bars)."""
    traded = [b for b in bars if b[_COUNT]]
    if not traded:
        return None
    return (
        traded[0][_O], traded[0][_OPEN], traded[0][_FIRST], max(b[_H] for b in traded), min(b[_L] for b in traded),
        sum(b[_VOL] for b in traded), sum(b[_QUOTE] for b in traded), sum(b[_COUNT] for b in traded), traded[-1][_LAST],
    )


def _merge_day(a: tuple[int, ...] | None, b: tuple[int, ...] | None) -> tuple[int, ...] | None:
    if a is None or b is None:
        return a if b is None else b
    return (a[0], a[1], a[2], max(a[3], b[3]), min(a[4], b[4]), a[5] + b[5], a[6] + b[6], a[7] + b[7], b[8])


def ticker_24hr_of(s: _Symbol, now_ns: int) -> dict[str, Any]:
    """The 24 h statistics of ``s`` at ``now_ns``: its 1-minute bars of the last 24 h (the
    minute holding ``now - 24 h`` is the first). The closed minutes' figures are cached
    until the window moves (O(1,440) once a minute, O(1) otherwise); the weighted average
    and the percentage are rounded half-even."""
    inst = s.inst
    price, qty = inst.price_str, inst.qty_str
    bars = s.minutes
    start_ns = now_ns - DAY_NS
    i0 = max(0, floor_div(start_ns - s.first_minute_ns, MINUTE_NS)) if bars else 0
    key = (i0, len(bars) - 1)
    if s.day_cache is None or s.day_cache[0] != key:
        s.day_cache = (key, _day_figures(bars[i0 : len(bars) - 1]))
    fig = _merge_day(s.day_cache[1], _day_figures(bars[max(i0, len(bars) - 1) :]))
    if fig is None:
        return {
            "symbol": s.symbol, "priceChange": "0", "priceChangePercent": "0.000", "weightedAvgPrice": "0", "lastPrice": "0",
            "lastQty": "0", "openPrice": "0", "highPrice": "0", "lowPrice": "0", "volume": "0", "quoteVolume": "0",
            "openTime": ms_of(start_ns), "closeTime": ms_of(now_ns), "firstId": -1, "lastId": -1, "count": 0,
        }
    open_px, open_ns, first_id, high, low, volume, quote, count, last_id = fig
    last_px, last_qty = s.last_trade
    change = last_px - open_px
    pct_thousandths = div_half_even(change * 100_000, open_px)  # change / open in units of 0.001 %
    avg_subticks = div_half_even(quote * inst.subticks_per_tick, volume * inst.atoms_per_tick_lot) if volume else 0
    return {
        "symbol": s.symbol, "priceChange": price(change), "priceChangePercent": _fixed3(pct_thousandths),
        "weightedAvgPrice": inst.mark_str(avg_subticks), "lastPrice": price(last_px), "lastQty": qty(last_qty),
        "openPrice": price(open_px), "highPrice": price(high), "lowPrice": price(low), "volume": qty(volume),
        "quoteVolume": format_atoms(quote, 0), "openTime": ms_of(max(start_ns, open_ns)), "closeTime": ms_of(now_ns),
        "firstId": first_id, "lastId": last_id, "count": count,
    }


def ticker_event(s: _Symbol, now_ns: int) -> dict[str, Any]:
    """The ``@ticker`` stream's ``24hrTicker`` event: :func:`ticker_24hr_of` in the stream's
    one-letter fields."""
    t = ticker_24hr_of(s, now_ns)
    return {
        "e": "24hrTicker", "E": ms_of(now_ns), "s": s.symbol, "p": t["priceChange"], "P": t["priceChangePercent"],
        "w": t["weightedAvgPrice"], "c": t["lastPrice"], "Q": t["lastQty"], "o": t["openPrice"], "h": t["highPrice"],
        "l": t["lowPrice"], "v": t["volume"], "q": t["quoteVolume"], "O": t["openTime"], "C": t["closeTime"],
        "F": t["firstId"], "L": t["lastId"], "n": t["count"],
    }


def mini_ticker_event(ticker: dict[str, Any]) -> dict[str, Any]:
    """The ``@miniTicker`` stream's ``24hrMiniTicker`` event: the ``24hrTicker`` event's
    close, open, high, low and volumes (Binance's fields ``e E s c o h l v q``).

    >>> mini_ticker_event({"e": "24hrTicker", "E": 1, "s": "BTCUSDT", "c": "2", "o": "1", "h": "3", "l": "1",
    ...                    "v": "5", "q": "10", "p": "1"})
    {'e': '24hrMiniTicker', 'E': 1, 's': 'BTCUSDT', 'c': '2', 'o': '1', 'h': '3', 'l': '1', 'v': '5', 'q': '10'}
    """
    t = ticker
    return {"e": "24hrMiniTicker", "E": t["E"], "s": t["s"], "c": t["c"], "o": t["o"], "h": t["h"], "l": t["l"], "v": t["v"], "q": t["q"]}


def _fixed3(thousandths: int) -> str:
    """``-1234`` -> ``"-1.234"``."""
    sign = "-" if thousandths < 0 else ""
    q, r = divmod(abs(thousandths), 1000)
    return f"{sign}{q}.{r:03d}"


@endpoint("GET", "/fapi/v1/ticker/24hr", security=NONE, weight=lambda p: 1 if p.has("symbol") else 40)
def ticker_24hr(venue: Any, account_id: int | None, params: Params) -> Any:
    """24 h statistics (one symbol: an object; none named: a list)."""
    rows = [ticker_24hr_of(s, venue.now_ns) for s in _symbols_of(venue, params)]
    return rows[0] if params.has("symbol") else rows


def marks_of(exchange: Any, s: _Symbol) -> tuple[int, int]:
    """(mark, index) in subticks as the venue values positions: before the first mark the
    last trade (the ledger values positions there too), the index defaulting to the mark;
    0 before any trade."""
    mark = exchange.mark_price_subticks(s.symbol)
    if mark is None:
        last = exchange.last_price(s.symbol)
        mark = last * s.inst.subticks_per_tick if last else 0
    return mark, exchange.index_price_subticks(s.symbol) or mark


def _premium_row(venue: Any, s: _Symbol) -> dict[str, Any]:
    inst = s.inst
    mark, index = marks_of(venue.exchange, s)
    now = venue.now_ns
    return {
        "symbol": s.symbol, "markPrice": inst.mark_str(mark), "indexPrice": inst.mark_str(index),
        "estimatedSettlePrice": inst.mark_str(index), "lastFundingRate": format_rate_e8(MarketFeed._rate_e8(s), 8),
        "interestRate": format_rate_e8(DEFAULT_INTEREST_E8, 8),
        "nextFundingTime": ms_of(next_funding_time_ns(now, inst.funding_interval_ns)), "time": ms_of(now),
    }


@endpoint("GET", "/fapi/v1/premiumIndex", security=NONE)
def premium_index(venue: Any, account_id: int | None, params: Params) -> Any:
    """Mark, index and funding now (one symbol: an object; none named: a list)."""
    rows = [_premium_row(venue, s) for s in _symbols_of(venue, params)]
    return rows[0] if params.has("symbol") else rows


@endpoint("GET", "/fapi/v1/fundingRate", security=NONE)
def funding_rate(venue: Any, account_id: int | None, params: Params) -> list[dict[str, Any]]:
    """Funding settlements so far (``startTime``/``endTime`` in ms; ``limit`` default 100,
    at most 1000; oldest first: the first ``limit`` from ``startTime``, else the latest)."""
    limit = _limit(params, 100, 1000)
    start, end = _optional_ms(params, "startTime"), _optional_ms(params, "endTime")
    rows = []
    for s in _symbols_of(venue, params):
        for ts, rate, mark in s.fundings:
            ms = ms_of(ts)
            if (start is None or ms >= start) and (end is None or ms <= end):
                rows.append((ts, s.symbol, {"symbol": s.symbol, "fundingRate": format_rate_e8(rate, 8), "fundingTime": ms, "markPrice": s.inst.mark_str(mark)}))
    rows.sort(key=lambda r: (r[0], r[1]))
    picked = rows[:limit] if start is not None else rows[-limit:]
    return [r[2] for r in picked]


@endpoint("GET", "/fapi/v1/fundingInfo", security=NONE)
def funding_info(venue: Any, account_id: int | None, params: Params) -> list[dict[str, Any]]:
    """Each symbol's funding interval and rate cap (exsim's; "0" when it has none)."""
    out = []
    for symbol, inst in venue.instruments.items():
        cap = venue.exchange.markets[symbol].funding_cap_e8
        out.append({
            "symbol": symbol,
            "adjustedFundingRateCap": format_rate_e8(cap, 8) if cap is not None else "0",
            "adjustedFundingRateFloor": format_rate_e8(-cap, 8) if cap is not None else "0",
            "fundingIntervalHours": inst.funding_interval_ns // (3_600_000 * MS),
            "disclaimer": False,
        })
    return out


@endpoint("GET", "/fapi/v1/openInterest", security=NONE)
def open_interest(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """The long lots of the venue's accounts (exsim knows no replayed open interest)."""
    s = _feed(venue)._symbol(params.text("symbol"))
    lots = 0
    for acct in venue.ledger.accounts.values():
        for (symbol, _side), pos in acct.positions.items():
            if symbol == s.symbol and pos.qty_lots > 0:
                lots += pos.qty_lots
    return {"openInterest": s.inst.qty_str(lots), "symbol": s.symbol, "time": ms_of(venue.now_ns)}


def _brackets_row(inst: Any) -> dict[str, Any]:
    # Binance sends these as JSON numbers: caps and floors whole (or exact decimals), rates
    # as the shortest float that prints the exact decimal (every rate here has <= 8 digits)
    return {
        "symbol": inst.symbol,
        "notionalCoef": 1.0,
        "brackets": [
            {
                "bracket": b.bracket, "initialLeverage": b.max_leverage, "notionalCap": _number(b.cap_atoms),
                "notionalFloor": _number(b.floor_atoms), "maintMarginRatio": float(format_rate_e8(b.mmr_e8)),
                "cum": float(format_atoms(b.cum_atoms, 1)),
            }
            for b in inst.brackets
        ],
    }


def _number(atoms: int) -> int | float:
    """Atoms as a JSON number: an int when whole, else the float of the exact decimal."""
    return atoms // 100_000_000 if atoms % 100_000_000 == 0 else float(format_atoms(atoms, 0))


@endpoint("GET", "/fapi/v1/leverageBracket", security=SIGNED)
def leverage_bracket(venue: Any, account_id: int | None, params: Params) -> Any:
    """exsim's brackets per symbol (one symbol: an object; none named: a list)."""
    rows = [_brackets_row(s.inst) for s in _symbols_of(venue, params)]
    return rows[0] if params.has("symbol") else rows


@endpoint("GET", "/fapi/v1/markPriceKlines", security=NONE, weight=_klines_weight)
def mark_price_klines(venue: Any, account_id: int | None, params: Params) -> list[list[Any]]:
    """Klines of the marks exsim applied (see :meth:`MarketFeed.price_klines`)."""
    return _feed(venue).price_klines(
        params.text("symbol"), 0, params.text("interval"), _optional_ms(params, "startTime"), _optional_ms(params, "endTime"),
        _limit(params, 500, 1500),
    )


@endpoint("GET", "/fapi/v1/indexPriceKlines", security=NONE, weight=_klines_weight)
def index_price_klines(venue: Any, account_id: int | None, params: Params) -> list[list[Any]]:
    """Klines of the index prices exsim applied, by ``pair``."""
    return _feed(venue).price_klines(
        params.text("pair"), 1, params.text("interval"), _optional_ms(params, "startTime"), _optional_ms(params, "endTime"),
        _limit(params, 500, 1500),
    )


@endpoint("GET", "/sapi/v1/capital/config/getall", security=SIGNED, weight=10)
def capital_config(venue: Any, account_id: int | None, params: Params) -> list[Any]:
    """ccxt's ``load_markets`` with keys asks the spot wallet's coins first: exsim has none."""
    return []


@endpoint("GET", "/sapi/v1/margin/allPairs", security=SIGNED)
def margin_pairs(venue: Any, account_id: int | None, params: Params) -> list[Any]:
    """ccxt's ``load_markets`` with keys asks the spot margin pairs: exsim has none."""
    return []


@endpoint("GET", "/sapi/v1/system/status", security=NONE)
def system_status(venue: Any, account_id: int | None, params: Params) -> dict[str, Any]:
    """ccxt's ``fetch_status`` asks the spot API's system status: the venue is up (0,
    ``normal``) for as long as it serves, the data's end included (``/exsim/v1/state``
    says whether the data has ended)."""
    return {"status": 0, "msg": "normal"}
