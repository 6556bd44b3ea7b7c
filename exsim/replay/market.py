"""Market model: normalized rows in, exchange commands out.

The second stage of the replay pipeline (readers → **market model** → event loop →
exchange → strategy and recorder). Here, and only here, the decimal text of a row meets
an instrument's grid: prices become ticks and sizes lots through :mod:`exsim.units`
(off-grid text is an error naming file, line and field, never rounded).

What each row kind becomes:

=============== ==================================================================
row             command
=============== ==================================================================
``trade``       :class:`~exsim.exchange.ReplayedTrade` — an anonymous taker up to the
                print's price. A print of unknown size (a bar's price path) sweeps
                everything it reaches (:data:`UNKNOWN_SIZE_LOTS`).
                A bar path's last point also gives :class:`ReplayedBar` (the file's
                bar, for ``on_bar``: :mod:`exsim.replay.bars`), after the trade.
``liquidation`` the same: the venue's forced order was a taker on its book.
``level``       :class:`~exsim.exchange.SetReplayedLevels`: the consecutive level rows of
                one venue update, in order (depth replay)
``clear``       :class:`~exsim.exchange.ClearReplayedLevels` (a snapshot follows)
(update id)     a ``level`` row whose ``rate`` carries a new venue update id is preceded
                by :class:`DepthUpdateId`, which lets the replay compare the venue's
                quotes with the rebuilt book at the same update id
``quote``       :class:`ReplayedQuote` (both sides of one message): with replayed depth it is only checked against
                the rebuilt book (the match rate is in the run summary); without
                depth it centres the synthetic liquidity (``exsim.replay.runner``).
``mark``        :class:`~exsim.exchange.SetMarkPrice` when marks are replayed
``index``       :class:`~exsim.exchange.SetIndexPrice`
``funding``     :class:`~exsim.exchange.SettleFunding` with the replayed rate, when
                funding is replayed
``premium``     :class:`ReplayedPremium` (feeds computed funding's premium average)
``gap``         :class:`ReplayedGap` (counted and reported; depth is not trusted until
                the reader's next snapshot). With ``skip_bad_rows`` a depth line left
                out as bad becomes one too (:meth:`MarketModel.whole_lines`)
=============== ==================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from exsim.book.order_book import NO_PRICE_KEY
from exsim.errors import InputError
from exsim.exchange import (
    ClearReplayedLevels,
    ReplayedTrade,
    SetIndexPrice,
    SetMarkPrice,
    SetReplayedLevels,
    SettleFunding,
)
from exsim.instruments import Instrument
from exsim.readers.rows import (
    ANY,
    CLEAR,
    FUNDING,
    GAP,
    INDEX,
    KIND_NAMES,
    LEVEL,
    LIQUIDATION,
    MARK,
    PREMIUM,
    QUOTE,
    TRADE,
    Row,
    parse_bar_marker,
)
from exsim.replay.bars import Bar, interval_text
from exsim.units import div_half_even, to_rate_e8, to_subticks

#: the size of a print whose size the source does not know (bars, klines): large enough to
#: reach every order at or through its price
UNKNOWN_SIZE_LOTS = 1 << 62

#: the largest price (ticks) and size (lots) a row may give, exclusive: half the values the
#: book and this model reserve (2^62 ticks is the book's "no price" key, 2^62 lots the size
#: of a print of unknown size), so no replayed value can collide with them. 2^61 ticks of
#: 0.1 is 2.3e17 USDT: far past any real price.
MAX_PRICE_TICKS = NO_PRICE_KEY >> 1
MAX_SIZE_LOTS = UNKNOWN_SIZE_LOTS >> 1

_CACHE_LIMIT = 1 << 16  # distinct price / size strings remembered per instrument
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


class ReplayedQuote(NamedTuple):
    """The venue's best bid and ask with their sizes (0 ticks: that side is not quoted).

    A venue's quote message gives both sides; the reader's two ``quote`` rows of one
    message (same time, symbol and update id) come back together here.
    """

    ts_ns: int
    symbol: str
    bid_ticks: int
    bid_lots: int
    ask_ticks: int
    ask_lots: int
    update_id: int  # the venue's update id when the source has one, else 0


class DepthUpdateId(NamedTuple):
    """The venue's update id of the depth rows that follow (a new diff or snapshot starts):
    the rows before it are complete, so the book now stands at the previous id."""

    ts_ns: int
    symbol: str
    update_id: int


class IndexQuote(NamedTuple):
    """A quote of the index proxy (e.g. the spot market's best bid/ask mid) in subticks
    (1e-8 of the quote asset): at the spot market's own precision, which is often finer
    than the perpetual's tick (BTCUSDT spot on 0.01 against the perpetual's 0.1)."""

    ts_ns: int
    symbol: str
    index_subticks: int


def index_quotes(rows: Iterable[Row], instruments: dict[str, Instrument]) -> Iterator[IndexQuote]:
    """An index proxy from another market's quotes: the mid of its best bid and ask.

    Used with a spot capture standing in for the venue's index (Binance's index is a
    weighted basket of spot venues, Binance spot the largest). Only ``quote`` rows count;
    the others are skipped. Prices are read exactly in subticks (1e-8; more decimals are
    an error naming the row); the mid, which can fall on half a subtick, is rounded to the
    nearest subtick, ties to even (the index is a computed reference price, not a payment).
    """
    best: dict[tuple[str, int], int] = {}
    for row in rows:
        if row.kind != QUOTE:
            continue
        if row.symbol not in instruments:
            raise InputError(
                f"index file symbol {row.symbol!r} is not one of the replayed symbols {sorted(instruments)}",
                where=row.where,
                field="symbol",
            )
        best[(row.symbol, row.side)] = to_subticks(row.price, field="index price", where=row.where)
        bid, ask = best.get((row.symbol, 0)), best.get((row.symbol, 1))
        if bid is not None and ask is not None:
            yield IndexQuote(row.ts_ns, row.symbol, div_half_even(bid + ask, 2))


class ReplayedPremium(NamedTuple):
    """A replayed premium-index sample, as a rate in parts per 1e8."""

    ts_ns: int
    symbol: str
    premium_e8: int


class ReplayedBar(NamedTuple):
    """A bar of a bar file, at its close time (after its four path trades): ``bar`` goes
    to the strategy's ``on_bar`` as it is (``from_file`` True)."""

    ts_ns: int
    bar: Bar


class ReplayedGap(NamedTuple):
    """A reader found a break in a diff-depth sequence."""

    ts_ns: int
    symbol: str
    message: str


class _Grid:
    """One instrument's text → int conversion with a bounded cache (prices repeat a lot)."""

    __slots__ = ("inst", "ticks", "lots", "last_update_id")

    def __init__(self, inst: Instrument) -> None:
        self.inst = inst
        self.last_update_id = ""  # of the depth rows seen last (venues that give one)
        self.ticks: dict[str, int] = {}
        self.lots: dict[str, int] = {}


class MarketModel:
    """Turns rows into commands for the symbols of the run.

    ``marks_replayed`` / ``funding_replayed``: whether ``mark`` / ``funding`` rows are
    applied (otherwise they are counted and left out: the exchange computes them).
    ``skip_bad_rows``: a source line with a row whose values do not convert (off-grid,
    not a number) is counted in :attr:`bad_rows` and left out whole instead of stopping
    the run (a bad depth line also breaks the depth: see :meth:`whole_lines`); the first
    few errors are kept in :attr:`bad_row_examples`. Rows of other symbols are counted in
    :attr:`other_symbol_rows`.
    """

    def __init__(
        self,
        instruments: Iterable[Instrument],
        *,
        marks_replayed: bool,
        funding_replayed: bool,
        skip_bad_rows: bool = False,
    ) -> None:
        self.grids = {inst.symbol: _Grid(inst) for inst in instruments}
        self.marks_replayed = marks_replayed
        self.funding_replayed = funding_replayed
        self.skip_bad_rows = skip_bad_rows
        self.counts = [0] * len(KIND_NAMES)  # rows seen, by kind
        self.ignored: dict[str, int] = {}  # why -> rows left out on purpose
        self.bad_rows = 0
        self.bad_row_examples: list[str] = []
        self.other_symbol_rows = 0

    def _ignore(self, why: str) -> None:
        self.ignored[why] = self.ignored.get(why, 0) + 1

    def commands(self, rows: Iterable[Row], *, lines_checked: bool = False) -> Iterator[Any]:
        """The commands of ``rows``, lazily, in row order (one row may give none).

        Consecutive ``level`` rows of one venue update (same time, symbol and update id)
        become one :class:`~exsim.exchange.SetReplayedLevels`: the exchange applies them
        in order and a strategy hears of the update once.

        With ``skip_bad_rows`` the rows go through :meth:`whole_lines` first (a source line
        with a bad row is left out whole), unless ``lines_checked`` says the caller did
        that already (the replay does it file by file, before merging the files by time).
        """
        if self.skip_bad_rows and not lines_checked:
            rows = self.whole_lines(rows)
        return self._commands(rows)

    def whole_lines(self, rows: Iterable[Row]) -> Iterator[Row]:
        """``rows`` less every source line that holds a bad row (for ``skip_bad_rows``).

        One source line may give several rows (both sides of a quote, the four points of a
        bar, a depth diff's or snapshot's levels, the mark and index of a ticker); they
        share one :attr:`Row.where` and come one after another in their file. Each line's
        rows are checked as :meth:`commands` converts them before any is passed on
        (:meth:`lines`); if one is bad the whole line is left out, counted once in
        :attr:`bad_rows` (:meth:`bad_line`): never part of a line. A depth line left out
        (``level`` or ``clear`` rows) would leave the book missing an update, so a ``gap``
        row takes its place (:meth:`gap_row`: a :class:`ReplayedGap`, counted and
        reported, replayed depth dropped) and the ``level`` rows of its symbol that follow
        are left out until the next snapshot, a ``clear`` row (:meth:`after_gaps`), as
        after a break a reader finds itself.

        Apply it to one file's rows: merged by time with other files, a line's rows need
        not stay together. What a reader derives from a line for the next ones (a bar's
        aggressor side from the previous close) stays derived: a replay of files reads a
        file again without its bad lines instead (``exsim.replay.runner``). Cost: a list
        of one line's rows and a dict look-up per converted value.
        """
        waiting: set[str] = set()  # symbols whose depth waits for a snapshot
        for line, error in self.lines(rows):
            if error is None:
                yield from self.after_gaps(line, waiting)
            else:
                self.bad_line(error)
                gap = self.gap_row(line, error)
                if gap is not None:
                    waiting.add(gap.symbol)
                    yield gap

    def lines(self, rows: Iterable[Row]) -> Iterator[tuple[list[Row], InputError | None]]:
        """``rows`` by source line (adjacent rows of one ``where``), each line with the
        first error :meth:`commands` would raise converting its rows (None: none). Counts
        nothing (the conversions are cached)."""
        check = self._check
        line: list[Row] = []
        where: str | None = None
        error: InputError | None = None
        for row in rows:
            if row[7] != where:
                if line:
                    yield line, error
                    line = []
                    error = None
                where = row[7]
            line.append(row)
            if error is None:
                try:
                    check(row)
                except InputError as exc:
                    error = exc
        if line:
            yield line, error

    def after_gaps(self, line: list[Row], waiting: set[str]) -> Iterable[Row]:
        """The rows of a good line that go on while the depth of the symbols in ``waiting``
        waits for a snapshot: their ``level`` rows are left out (counted) until a ``clear``
        row, which ends the wait."""
        if not waiting:
            return line
        out = []
        for row in line:
            kind, symbol = row[1], row[2]
            if symbol in waiting:
                if kind == LEVEL:
                    self.counts[LEVEL] += 1  # a row read, left out on purpose
                    self._ignore("level rows after a skipped bad depth line (until the next snapshot)")
                    continue
                if kind == CLEAR:  # the next snapshot: the depth is whole again
                    waiting.discard(symbol)
            out.append(row)
        return out

    def bad_line(self, error: InputError) -> None:
        """Count a source line left out for ``error``."""
        self.bad_rows += 1
        if len(self.bad_row_examples) < 5:
            self.bad_row_examples.append(str(error))

    def gap_row(self, line: list[Row], error: InputError) -> Row | None:
        """The ``gap`` row that takes the place of a bad line left out, when it is a depth
        line of a replayed symbol (a diff or snapshot: ``level`` or ``clear`` rows); the
        depth of its symbol must then wait for a snapshot (see :meth:`after_gaps`)."""
        for r in line:
            if (r[1] == LEVEL or r[1] == CLEAR) and r[2] in self.grids:
                reason = f"field {error.field!r}: {error.message}" if error.field else error.message
                return Row(r[0], GAP, r[2], ANY, "", "", f"bad depth line skipped ({reason})", r[7])
        return None

    def _check(self, row: Row) -> None:
        """Raise the InputError :meth:`commands` would raise converting ``row`` (nothing
        for a row it does not convert); the values converted are cached for it."""
        ts, kind, symbol, side, price, qty, rate, where = row
        grid = self.grids.get(symbol)
        if grid is None:
            return
        # (a value in a grid's cache converted before: valid, but for a trade's size of 0)
        if kind == LEVEL:
            if rate and not rate.isdigit():
                self._update_id(rate, where)
            if price not in grid.ticks:
                self._ticks(grid, price, where)
            if qty not in grid.lots:
                self._lots(grid, qty, where, positive=False)
            if side != 0 and side != 1:
                self._side(side, where)
        elif kind == TRADE or kind == LIQUIDATION:
            if price not in grid.ticks:
                self._ticks(grid, price, where)
            if qty and not grid.lots.get(qty):
                self._lots(grid, qty, where, positive=True)
            if side != 0 and side != 1:
                self._side(side, where)
            if rate:
                self._file_bar(grid, symbol, rate, where)
        elif kind == QUOTE:
            if side != 0 and side != 1:
                self._side(side, where)
            if price not in grid.ticks:
                self._ticks(grid, price, where)
            if qty not in grid.lots:
                self._lots(grid, qty, where, positive=False)
            if rate and not rate.isdigit():
                self._update_id(rate, where)
        elif kind == MARK:
            if self.marks_replayed:
                self._subticks(price, where, field="mark price")
        elif kind == INDEX:
            self._subticks(price, where, field="index price")
        elif kind == FUNDING:
            if self.funding_replayed:
                to_rate_e8(rate, field="rate", where=where)
        elif kind == PREMIUM:
            to_rate_e8(rate, field="rate", where=where)

    def _commands(self, rows: Iterable[Row]) -> Iterator[Any]:
        grids = self.grids
        counts = self.counts
        batch: list[tuple[int, int, int]] = []  # the venue update being gathered, and its key:
        batch_ts, batch_symbol, batch_rate = -1, "", ""  # time, symbol, update id
        quote: list[Any] | None = None  # a quote waiting for its other side (same key)
        for row in rows:
            ts, kind, symbol, side, price, qty, rate, where = row
            counts[kind] += 1
            grid = grids.get(symbol)
            if grid is None:
                self.other_symbol_rows += 1
                continue
            if batch and (kind != LEVEL or ts != batch_ts or rate != batch_rate or symbol != batch_symbol):
                yield _new(SetReplayedLevels, (batch_ts, batch_symbol, tuple(batch)))
                batch = []
            if quote is not None and (kind != QUOTE or ts != quote[0] or rate != quote[7] or symbol != quote[1]):
                yield _new(ReplayedQuote, tuple(quote[:7]))
                quote = None
            try:
                if kind == LEVEL:
                    if rate != grid.last_update_id and rate:
                        update_id = self._update_id(rate, where)
                        grid.last_update_id = rate
                        yield DepthUpdateId(ts, symbol, update_id)
                    px = grid.ticks.get(price)
                    if px is None:
                        px = self._ticks(grid, price, where)
                    lots = grid.lots.get(qty)
                    if lots is None:
                        lots = self._lots(grid, qty, where, positive=False)
                    if side != 0 and side != 1:
                        self._side(side, where)
                    if not batch:
                        batch_ts, batch_symbol, batch_rate = ts, symbol, rate
                    batch.append((side, px, lots))
                elif kind == TRADE or kind == LIQUIDATION:
                    px = grid.ticks.get(price)
                    if px is None:
                        px = self._ticks(grid, price, where)
                    if qty:
                        lots = grid.lots.get(qty)
                        if not lots:  # not cached, or a cached 0 that a trade may not have
                            lots = self._lots(grid, qty, where, positive=True)
                    else:
                        lots = UNKNOWN_SIZE_LOTS
                    if side != 0 and side != 1:
                        self._side(side, where)
                    yield _new(ReplayedTrade, (ts, symbol, side, px, lots))
                    if rate:  # (only a bar path's last point has one: tick rows pay this test only)
                        yield ReplayedBar(ts, self._file_bar(grid, symbol, rate, where))
                elif kind == QUOTE:
                    if side != 0 and side != 1:
                        self._side(side, where)
                    px = self._ticks(grid, price, where)
                    lots = self._lots(grid, qty, where, positive=False)
                    slot = 2 + 2 * side  # bid at 2-3, ask at 4-5
                    if quote is not None and not quote[slot]:  # the other side of the same message
                        quote[slot], quote[slot + 1] = px, lots
                        yield _new(ReplayedQuote, tuple(quote[:7]))
                        quote = None
                    else:
                        if quote is not None:
                            yield _new(ReplayedQuote, tuple(quote[:7]))
                        quote = [ts, symbol, 0, 0, 0, 0, self._update_id(rate, where) if rate else 0, rate]
                        quote[slot], quote[slot + 1] = px, lots
                elif kind == CLEAR:
                    yield ClearReplayedLevels(ts, symbol, side)
                elif kind == MARK:
                    if self.marks_replayed:
                        yield SetMarkPrice(ts, symbol, self._subticks(price, where, field="mark price"))
                    else:
                        self._ignore("mark rows (marks are computed)")
                elif kind == INDEX:
                    yield SetIndexPrice(ts, symbol, self._subticks(price, where, field="index price"))
                elif kind == FUNDING:
                    if self.funding_replayed:
                        yield SettleFunding(ts, symbol, to_rate_e8(rate, field="rate", where=where))
                    else:
                        self._ignore("funding rows (funding is computed or off)")
                elif kind == PREMIUM:
                    yield ReplayedPremium(ts, symbol, to_rate_e8(rate, field="rate", where=where))
                elif kind == GAP:
                    yield ReplayedGap(ts, symbol, f"{where}: {rate}")
                else:  # pragma: no cover - readers only yield the kinds above
                    raise InputError(f"unknown row kind {kind!r}", where=where, field="kind")
            except InputError as exc:
                if not self.skip_bad_rows:
                    raise
                self.bad_rows += 1
                if len(self.bad_row_examples) < 5:
                    self.bad_row_examples.append(str(exc))
        if batch:
            yield _new(SetReplayedLevels, (batch_ts, batch_symbol, tuple(batch)))
        if quote is not None:
            yield _new(ReplayedQuote, tuple(quote[:7]))

    # ------------------------------------------------------------------ conversions
    def _file_bar(self, grid: _Grid, symbol: str, marker: str, where: str) -> Bar:
        """The :class:`~exsim.replay.bars.Bar` of a bar path's last point (its ``rate``):
        prices in ticks (on the grid, as the path's), volume in lots when it is on the lot
        grid (else None: an ``ohlcv`` file's volume in USD, a double's digits), the trade
        count when the file gives one (else 0). O(1): the prices are the path's, cached."""
        open_ns, span_ns, o, h, low, c, volume, trades = parse_bar_marker(marker, where)
        ticks = self._ticks
        lots: int | None = None
        if volume:
            try:
                lots = grid.inst.lots(volume, where=where, field="volume")
            except InputError:  # off the lot grid: unknown in lots, not an error
                lots = None
        return Bar(
            symbol, interval_text(span_ns), open_ns, open_ns + span_ns - 1, ticks(grid, o, where, "open"),
            ticks(grid, h, where, "high"), ticks(grid, low, where, "low"), ticks(grid, c, where, "close"), lots,
            trades or 0, True,
        )

    @staticmethod
    def _update_id(text: str, where: str) -> int:
        if not (text.isascii() and text.isdigit() and len(text) <= 20):
            raise InputError(f"{text!r} is not a venue update id (a whole number)", where=where, field="rate")
        return int(text)

    @staticmethod
    def _side(side: int, where: str) -> None:
        if side != 0 and side != 1:
            raise InputError(f"{side!r}: this row needs a side (buy or sell)", where=where, field="side")

    @staticmethod
    def _ticks(grid: _Grid, text: str, where: str, field: str = "price") -> int:
        px = grid.ticks.get(text)
        if px is None:
            px = grid.inst.ticks(text, where=where, field=field)
            if px <= 0:
                raise InputError(f"{text!r} is not a positive price", where=where, field=field)
            if px >= MAX_PRICE_TICKS:
                raise InputError(
                    f"{text!r} is {px:,} ticks: out of range (prices must be below 2^61 ticks)", where=where, field=field
                )
            if len(grid.ticks) >= _CACHE_LIMIT:
                grid.ticks.clear()
            grid.ticks[text] = px
        return px

    @staticmethod
    def _subticks(text: str, where: str, field: str) -> int:
        """A mark or index price at its own precision (up to 8 decimals), exact, > 0.

        Marks and index prices are computed by the venue and are finer than the tick
        (Binance publishes 8 decimals): they are never refused for being off the tick."""
        px = to_subticks(text, field=field, where=where)
        if px <= 0:
            raise InputError(f"{text!r} is not a positive price", where=where, field=field)
        return px

    @staticmethod
    def _lots(grid: _Grid, text: str, where: str, *, positive: bool) -> int:
        lots = grid.lots.get(text)
        if lots is None:
            lots = grid.inst.lots(text, where=where, field="qty")
            if len(grid.lots) >= _CACHE_LIMIT:
                grid.lots.clear()
            if lots >= 0:
                grid.lots[text] = lots
        if lots < 0 or (positive and lots == 0):
            raise InputError(f"{text!r} is not a {'positive' if positive else 'non-negative'} quantity", where=where, field="qty")
        if lots >= MAX_SIZE_LOTS:
            grid.lots.pop(text, None)
            raise InputError(f"{text!r} is {lots:,} lots: out of range (sizes must be below 2^61 lots)", where=where, field="qty")
        return lots
