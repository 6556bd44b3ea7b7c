"""Readers of raw Binance WebSocket captures: trades, top of book, diff depth, marks.

Two capture layouts, one decoder:

``binance-ws-hftbacktest``
    hftbacktest's collector (``usdm_btcusdt_20240808.gz``): one record a line,
    ``<local_receive_ts_ns> <json>``. The JSON is a combined-stream message
    ``{"stream": "<sym>@<channel>", "data": {...}}`` exactly as Binance sent it, plus one
    line without ``"stream"``: the REST depth snapshot the collector fetched,
    ``{"lastUpdateId", "bids", "asks", ...}``.
``binance-ws-cryptofeed``
    cryptofeed v1 raw capture (``BINANCE_FUTURES.ws.1.0``): a first line
    ``<wss url> <-> <unix_ts>``, then ``<unix_ts>: <json>`` lines. The depth snapshots
    live in the sibling ``BINANCE_FUTURES.http.*`` files, one line per REST call:
    ``<url> -> <unix_ts>: <json body>``; the symbol is the URL's ``symbol=`` parameter.
    ``<unix_ts>`` is Python's ``repr`` of a float of seconds; it is converted to
    nanoseconds by integer arithmetic on its text (:func:`seconds_text_to_ns`), never
    through a float.

Timestamps
----------
``ts_ns`` is the *local receive* time of the line, not Binance's event time ``E`` or
transaction time ``T``. The receive time is the file's order: it is non-decreasing
through the file (a line that goes back in time is an :class:`InputError`), it orders
the different streams (trades, bookTicker, depth) the way a live client saw them, and it
is what a strategy reacting to this feed could have known. Event times of different
streams are not mutually ordered in the file, and the REST snapshot has its own clock.

Channel mapping (every row carries Binance's upper-case symbol ``"s"``)
-----------------------------------------------------------------------
=================== ========================================================================
channel             rows
=================== ========================================================================
``trade``,          one ``trade``: ``price`` = ``p``, ``qty`` = ``q``, aggressor ``side`` =
``aggTrade``        SELL if ``m`` (the buyer was the maker) else BUY. A futures ``trade``
                    whose ``X`` is not ``MARKET`` (an insurance-fund or ADL transfer, not a
                    print on the book) gives no row and is counted in ``stats.ignored``.
                    The id (``t``, ``a``) may not go back on its stream, and a message
                    equal to the stream's previous one is a duplicate (its print would be
                    replayed twice): both are errors naming the line.
``bookTicker``      two ``quote`` rows: BUY = best bid ``b``/``B``, then SELL = best ask
                    ``a``/``A``. ``rate`` carries the bookTicker's update id ``u`` as text,
                    so a consumer can align quotes with the depth stream (see below).
``depth``           diff depth (``@depth``, ``@depth@100ms``, ``@depth@0ms``): ``level``
(``depthUpdate``)   rows, ``qty`` = new absolute size (``'0'`` deletes), ``rate`` = the
                    diff's final update id ``u`` as text. Deletions of both sides come
                    first, then the other bids, then the other asks: a diff's levels are
                    independent absolute sizes, so their order does not change the book it
                    leaves, and deleting first keeps the book uncrossed between rows (in
                    Binance's order, bids then asks, 3.4% of the BTCUSDT diffs here cross
                    the book for a few rows). Only after the depth sync below.
                    Partial-depth streams (``depth20``) are snapshots of the top, not
                    diffs: they are ignored and counted.
snapshot            one ``clear`` (side ANY) then one ``level`` per snapshot level, bids
                    then asks; ``rate`` = the snapshot's ``lastUpdateId`` as text.
``markPrice``       ``mark`` with ``p``; ``index`` with ``i`` when present. ``r`` is the
                    *predicted* rate of the next settlement, not a settlement: no
                    ``funding`` row comes from it.
``forceOrder``      one ``liquidation``: ``side`` = the forced order's side ``o.S``,
                    ``price`` = its limit price ``o.p`` (how far it could sweep),
                    ``qty`` = what it filled, ``o.z`` (``o.q`` when ``z`` is absent); a
                    forced order that filled nothing gives no row.
anything else       no row; counted in ``stats.ignored`` by channel (``kline_1m``, ...).
=================== ========================================================================

For ``quote`` and ``level`` rows, ``rate`` is not a rate: it is the venue's update id when
known, decimal digits so the row still round-trips through ``exsim-csv``.

Depth sync (Binance's documented rules for diff depth)
-------------------------------------------------------
Per symbol, in three states:

* *waiting*: no usable snapshot yet. Diffs are buffered (at most
  :data:`MAX_BUFFERED_DIFFS`; older ones are dropped and counted).
* *pending*: a snapshot with ``lastUpdateId`` = L is known. Diffs with ``u < L`` are
  stale and dropped. The first diff applied must bridge the snapshot: ``U <= L <= u``.
  It yields the snapshot's rows (``clear`` + ``level``) followed by its own ``level``
  rows, all at *its* timestamp: a REST snapshot often lands in the file after diffs
  newer than itself, so it takes effect only when the diff bridging it is applied (at
  the later of the snapshot's own receive time and that diff's). If the first diff not
  stale starts after L (``U > L``), nothing bridges the snapshot: a ``gap``.
* *synced*: each diff's ``pu`` must equal the previous applied diff's ``u``. A diff with
  ``u <=`` the last applied ``u`` is a duplicate: dropped and counted as stale. A ``pu``
  mismatch is a ``gap``.

Spot diff depth has no ``pu``; for it the spot rules apply (``u <= L`` stale, bridge
``U <= L+1 <= u``, then ``U`` = previous ``u`` + 1).

A ``gap`` row's ``rate`` is a message naming the expected and found ids. After a gap
the symbol's depth stops being emitted (the state goes back to *waiting*) until a new
snapshot arrives and is bridged; the consumer's book keeps its last state meanwhile.
A snapshot that arrives while the symbol is synced is not needed and only counted.
The captures here hold one snapshot per symbol, so a gap ends that symbol's depth.

Captures in parts: hftbacktest's collector starts a new file at midnight, and only the
first one has a REST snapshot (``cm_btcusd_perp_20240808.gz``, then ``..._20240809.gz``).
Read as one capture (``read_hftbacktest([part1, part2])``), the parts are one stream
(receive times may not go back across the seam, rows name their own part's lines); read
by two readers, :func:`link_parts` lets the later continue the earlier: a symbol the
later part has no snapshot for continues from the id the earlier part's book was synced
at, once that part is read to its end (the replay links consecutive inputs in the order
given; not under ``--skip-bad-rows``, which reads a file again with readers of its own). Either way the later diffs must chain on with ``pu``, else a ``gap``.

COIN-M (coin-margined) captures are read the same way; their sizes are contracts.

Symbol of a snapshot: cryptofeed's comes from the REST URL; hftbacktest's from its
``symbol`` field (COIN-M) or else from the file's depth stream names (the collector
writes one symbol per file; a snapshot seen before any stream waits for the first depth
stream; several symbols' depth streams with a symbol-less snapshot is an error).

Counters: each reader has ``stats`` (:class:`WsStats`): messages by channel, ignored
messages by reason, snapshots read/applied/not needed, diffs applied / stale / dropped
while unsynced, gaps.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, urlsplit

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.readers.opening import empty_file, numbered_lines
from exsim.readers.rows import (
    ANY,
    CLEAR,
    GAP,
    INDEX,
    LEVEL,
    LIQUIDATION,
    MARK,
    MAX_TS_NS,
    MIN_TS_NS,
    QUOTE,
    TRADE,
    Row,
    shown,
    ts_in_window,
)

_T = TypeVar("_T")

HFTBACKTEST: Final = "binance-ws-hftbacktest"
CRYPTOFEED: Final = "binance-ws-cryptofeed"

#: diffs kept per symbol while waiting for a snapshot (~8 minutes of @0ms BTCUSDT depth)
MAX_BUFFERED_DIFFS: Final = 10_000

_NS_PER_S: Final = 1_000_000_000
_new = tuple.__new__  # builds a Row without its Python-level __new__ (hot path)
_raw_decode = json.JSONDecoder().raw_decode  # decodes from an offset: no slice copy
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z").match
_KNOWN_LIMIT: Final = 1 << 16  # validated decimal strings remembered (prices repeat a lot)

# channel codes
_IGNORED, _TRADE, _BOOK_TICKER, _DEPTH, _MARK, _FORCE = range(6)
_CHANNELS: Final = {
    "trade": _TRADE,
    "aggTrade": _TRADE,
    "bookTicker": _BOOK_TICKER,
    "depth": _DEPTH,
    "markPrice": _MARK,
    "forceOrder": _FORCE,
}

# depth sync states
_WAITING, _PENDING, _SYNCED = range(3)


def seconds_text_to_ns(text: str) -> int:
    """Nanoseconds of a decimal count of seconds, exactly (integer arithmetic, no float).

    ``ValueError`` if ``text`` is not ``digits[.digits]`` with at most 9 decimals.

    >>> seconds_text_to_ns("1626992741.06217")
    1626992741062170000
    >>> seconds_text_to_ns("1626916403.8469708")
    1626916403846970800
    >>> seconds_text_to_ns("1626992740")
    1626992740000000000
    """
    whole, dot, frac = text.partition(".")
    if not (whole.isascii() and whole.isdigit() and len(whole) <= 12) or (
        dot and not (frac.isascii() and frac.isdigit() and len(frac) <= 9)
    ):
        raise ValueError(f"{shown(text)} is not a decimal number of seconds with at most 9 decimals")
    return int(whole) * _NS_PER_S + (int(frac.ljust(9, "0")) if frac else 0)


class WsStats:
    """What a reader did with its input (filled while it is iterated).

    ``messages``: stream messages by channel as named in the stream (``depth@0ms``,
    ``kline_1m``...); ``ignored``: messages that gave no row, by reason; ``snapshots``:
    depth snapshots read (of the wanted symbols); ``snapshots_applied``: bridged by a
    diff; ``snapshots_unneeded``: arrived while synced; ``diffs_applied``; ``diffs_stale``
    (older than the snapshot, or duplicates); ``diffs_unsynced``: dropped from a full
    buffer or never applied (no snapshot bridged them by the end); ``gaps``.
    """

    __slots__ = (
        "messages",
        "ignored",
        "snapshots",
        "snapshots_applied",
        "snapshots_unneeded",
        "diffs_applied",
        "diffs_stale",
        "diffs_unsynced",
        "gaps",
    )

    def __init__(self) -> None:
        self.messages: dict[str, int] = {}
        self.ignored: dict[str, int] = {}
        self.snapshots = 0
        self.snapshots_applied = 0
        self.snapshots_unneeded = 0
        self.diffs_applied = 0
        self.diffs_stale = 0
        self.diffs_unsynced = 0
        self.gaps = 0

    def as_dict(self) -> dict[str, Any]:
        """The counters as a plain dict (for reports)."""
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        return f"WsStats({self.as_dict()})"


def _restamp(rows: list[Row], ts_ns: int) -> list[Row]:
    """``rows`` with ``ts_ns`` replaced (rows built at one time, emitted at a later one)."""
    if not rows or rows[0][0] == ts_ns:
        return rows
    return [_new(Row, (ts_ns, *r[1:])) for r in rows]


class _DepthSync:
    """One symbol's diff-depth sync state (see the module doc).

    ``on_snapshot`` / ``on_diff`` take rows already built and validated at the message's
    receive time and return the rows to emit now (restamped to ``ts_ns``).
    """

    __slots__ = ("symbol", "stats", "state", "buffer", "snap_id", "snap_rows", "last_u")

    def __init__(self, symbol: str, stats: WsStats) -> None:
        self.symbol = symbol
        self.stats = stats
        self.state = _WAITING
        #: (ts_ns, where, U, u, pu, rows) of diffs received while waiting
        self.buffer: deque[tuple[int, str, int, int, int | None, list[Row]]] = deque()
        self.snap_id = 0  # lastUpdateId of the pending snapshot
        self.snap_rows: list[Row] = []
        self.last_u = 0  # u of the last applied diff

    def on_snapshot(self, ts_ns: int, last_update_id: int, rows: list[Row]) -> list[Row]:
        """A snapshot arrived: pend it and replay the buffered diffs against it."""
        if self.state == _SYNCED:
            self.stats.snapshots_unneeded += 1
            return []
        self.state = _PENDING
        self.snap_id = last_update_id
        self.snap_rows = rows
        buffered, self.buffer = self.buffer, deque()
        out: list[Row] = []
        for _, where, first_id, final_id, prev_id, diff_rows in buffered:
            # emitted now: the later of the diff's and the snapshot's receive times
            out += self.on_diff(ts_ns, where, first_id, final_id, prev_id, diff_rows)
        return out

    def continue_from(self, ts_ns: int, last_u: int) -> list[Row]:
        """The earlier part of the capture left this symbol's book synced at update id
        ``last_u``: continue from it (no snapshot needed) and replay the buffered diffs."""
        self.state = _SYNCED
        self.last_u = last_u
        buffered, self.buffer = self.buffer, deque()
        out: list[Row] = []
        for _, where, first_id, final_id, prev_id, diff_rows in buffered:
            out += self.on_diff(ts_ns, where, first_id, final_id, prev_id, diff_rows)  # emitted now
        return out

    def on_diff(
        self, ts_ns: int, where: str, first_id: int, final_id: int, prev_id: int | None, rows: list[Row]
    ) -> list[Row]:
        """A diff ``U``=first_id .. ``u``=final_id (``pu``=prev_id, None on spot) arrived."""
        state = self.state
        stats = self.stats
        if state == _SYNCED:
            last_u = self.last_u
            if final_id <= last_u:
                stats.diffs_stale += 1
                return []
            if prev_id is not None:
                if prev_id == last_u:
                    self.last_u = final_id
                    stats.diffs_applied += 1
                    return _restamp(rows, ts_ns)
                found = f"expected pu={last_u} (the previous diff's u), found pu={prev_id}"
            else:
                if first_id == last_u + 1:
                    self.last_u = final_id
                    stats.diffs_applied += 1
                    return _restamp(rows, ts_ns)
                found = f"expected U={last_u + 1} (the previous diff's u + 1), found U={first_id}"
            message = f"depth sequence break: {found} (U={first_id}, u={final_id})"
            return self._gap(ts_ns, where, first_id, final_id, prev_id, rows, message)
        if state == _WAITING:
            if len(self.buffer) >= MAX_BUFFERED_DIFFS:
                self.buffer.popleft()
                stats.diffs_unsynced += 1
            self.buffer.append((ts_ns, where, first_id, final_id, prev_id, rows))
            return []
        # pending: the first diff applied must bridge the snapshot
        snap_id = self.snap_id
        bridge_id = snap_id + 1 if prev_id is None else snap_id  # spot (no pu): U <= L+1 <= u
        if final_id < bridge_id:
            stats.diffs_stale += 1
            return []
        if first_id <= bridge_id:
            self.state = _SYNCED
            self.last_u = final_id
            stats.snapshots_applied += 1
            stats.diffs_applied += 1
            out = _restamp(self.snap_rows, ts_ns)
            self.snap_rows = []
            out += _restamp(rows, ts_ns)
            return out
        return self._gap(
            ts_ns,
            where,
            first_id,
            final_id,
            prev_id,
            rows,
            f"no diff bridges the snapshot: lastUpdateId={snap_id}, but the first newer diff "
            f"starts at U={first_id} (u={final_id}); expected U <= {bridge_id}",
        )

    def _gap(
        self, ts_ns: int, where: str, first_id: int, final_id: int, prev_id: int | None, rows: list[Row], message: str
    ) -> list[Row]:
        """Emit one gap row and wait for a new snapshot (this diff is kept for it)."""
        self.stats.gaps += 1
        self.state = _WAITING
        self.snap_rows = []
        self.buffer.append((ts_ns, where, first_id, final_id, prev_id, rows))
        return [_new(Row, (ts_ns, GAP, self.symbol, ANY, "", "", message, where))]


class BinanceWsReader:
    """Rows of one Binance WebSocket capture (``layout``: :data:`HFTBACKTEST` or
    :data:`CRYPTOFEED`); ``symbol`` given: only that symbol's rows.

    Iterate it for :class:`~exsim.readers.rows.Row` tuples in non-decreasing ``ts_ns``;
    :attr:`stats` fills as it goes. Constant memory apart from the per-symbol diff buffer
    while waiting for a snapshot. Cost: one ``json`` decode per line plus O(1) per row.
    """

    def __init__(
        self, path: str | Path | Sequence[str | Path], symbol: str | None = None, layout: str = HFTBACKTEST
    ) -> None:
        if layout not in (HFTBACKTEST, CRYPTOFEED):
            raise ValueError(f"layout {layout!r}: expected {HFTBACKTEST!r} or {CRYPTOFEED!r}")
        parts = [path] if isinstance(path, (str, Path)) else list(path)
        if not parts:
            raise ValueError("no capture file given")
        if len(parts) > 1 and layout != HFTBACKTEST:
            raise ValueError("only an hftbacktest capture is read in parts")
        #: the capture's files in order (an hftbacktest capture may be split at midnight: the
        #: later part has no snapshot and continues the earlier one's depth sequence)
        self.parts = [Path(p) for p in parts]
        self.path = self.parts[0]
        self._names = [str(p) for p in parts]  # as the caller spelled them: the 'where' of every row
        self._name = self._names[0]
        self.symbol = symbol.upper() if symbol else None
        self.layout = layout
        self.stats = WsStats()
        self._books: dict[str, _DepthSync] = {}
        #: stream name -> (channel code, channel name, symbol or None for '!...@arr' streams)
        self._routes: dict[str, tuple[int, str, str | None]] = {}
        self._orphan_snapshot: tuple[int, str, dict[str, Any]] | None = None
        self._known: set[str] = set()  # decimal strings already validated
        self._zeros: set[str] = set()  # the zero ones among them ('0', '0.000'...)
        #: the reader of the capture's earlier part, when this one continues it (:func:`link_parts`)
        self.follows: BinanceWsReader | None = None
        self.finished = False  # read to its end
        self._rows_gen = self._rows()

    def __iter__(self) -> Iterator[Row]:
        return self._rows_gen  # the generator itself: no per-row indirection

    def __next__(self) -> Row:
        return next(self._rows_gen)

    # ------------------------------------------------------------------ validation
    def _decimal(self, text: object, field: str, where: str) -> str:
        """``text`` if it is unsigned decimal text (``'61800.20'``), else InputError."""
        if type(text) is str and _DECIMAL(text):
            known = self._known
            if len(known) >= _KNOWN_LIMIT:
                known.clear()
                self._zeros.clear()
            known.add(text)
            if not text.strip("0."):
                self._zeros.add(text)
            return text
        raise InputError(f"{text!r} is not decimal text (expected e.g. '61800.20')", where=where, field=field)

    @staticmethod
    def _trade_id_error(trade_id: object, data: Any, last: tuple[int, Any] | None, channel: str, where: str) -> None:
        """Raise for a trade id that is not an int or goes back; return for an equal id
        on a message that differs (not a repeat)."""
        field = f"{channel}.{'a' if channel == 'aggTrade' else 't'}"
        if type(trade_id) is not int or not 0 <= trade_id < 1 << 63:
            raise InputError(f"{shown(trade_id)} is not an integer trade id (0 .. 2^63-1)", where=where, field=field)
        assert last is not None
        if trade_id < last[0]:
            raise InputError(
                f"{trade_id} goes back from the previous {channel} message's id {last[0]}: ids increase per stream "
                "(an old message sent again?)",
                where=where,
                field=field,
            )
        if data == last[1]:
            raise InputError(
                f"{trade_id}: the previous {channel} message again, a duplicate print (it would be replayed twice)",
                where=where,
                field=field,
            )

    @staticmethod
    def _int(value: object, field: str, where: str) -> int:
        if type(value) is not int or not 0 <= value < 1 << 63:
            raise InputError(f"{shown(value)} is not an integer id (0 .. 2^63-1)", where=where, field=field)
        return value

    @staticmethod
    def _symbol(value: object, field: str, where: str) -> str:
        """A message's symbol (``"s"``): non-empty text of at most 40 characters."""
        if value.__class__ is not str or not 0 < len(value) <= 40:  # type: ignore[arg-type]
            raise InputError(f"{shown(value)} is not a symbol (text such as 'BTCUSDT')", where=where, field=field)
        return value  # type: ignore[return-value]

    def _levels(
        self,
        deletes: list[Row],
        sets: list[Row],
        ts_ns: int,
        symbol: str,
        side: int,
        levels: object,
        rate: str,
        field: str,
        where: str,
    ) -> None:
        """One LEVEL row per ``[price, qty]`` pair of ``levels`` (validated): zero sizes
        appended to ``deletes``, the others to ``sets``."""
        known = self._known
        zeros = self._zeros
        try:
            for px, qty in levels:  # type: ignore[attr-defined]
                if px.__class__ is not str or px not in known:
                    self._decimal(px, f"{field} price", where)
                if qty.__class__ is not str or qty not in known:
                    self._decimal(qty, f"{field} qty", where)
                (deletes if qty in zeros else sets).append(_new(Row, (ts_ns, LEVEL, symbol, side, px, qty, rate, where)))
        except (TypeError, ValueError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(
                f"expected a list of [price, qty] pairs of decimal text, found {str(levels)[:80]}", where=where, field=field
            ) from None

    # ------------------------------------------------------------------ sources
    def _json(self, line: str, start: int, where: str) -> Any:
        try:
            obj, end = _raw_decode(line, start)
        except RecursionError:
            raise InputError("not JSON this reader accepts: nested too deep", where=where, field="json") from None
        except ValueError as exc:
            raise InputError(f"not JSON: {str(exc)[:200]}", where=where, field="json") from None
        if end != len(line) and line[end:].strip():
            raise InputError(f"text after the JSON value: {line[end:end + 40]!r}", where=where, field="json")
        if type(obj) is not dict:
            raise InputError(f"expected a JSON object, found {type(obj).__name__}", where=where, field="json")
        return obj

    def _hftbacktest_messages(self) -> Iterator[tuple[int, str, dict[str, Any], str | None]]:
        """``(receive ts_ns, where, message, None)`` per line of ``<ts_ns> <json>``, part after
        part (receive times may not go back, across parts either)."""
        last_ts = -1  # no line yet
        for path, name in zip(self.parts, self._names):
            lines = 0  # (the loop over lines is inline, not a generator per part: the hot path)
            for line_no, line in numbered_lines(path):
                if not line:
                    continue
                lines += 1
                where = f"{name}:{line_no}"
                sep = line.find(" ")
                ts_text = line[:sep] if sep > 0 else line[:40]
                if sep <= 0 or not (ts_text.isdigit() and ts_text.isascii() and len(ts_text) < 21):
                    raise InputError(
                        f"{shown(ts_text)} is not a whole number of nanoseconds; expected '<local_receive_ts_ns> <json>'",
                        where=where,
                        field="local_receive_ts_ns",
                    )
                ts_ns = int(ts_text)
                if not MIN_TS_NS <= ts_ns < MAX_TS_NS:
                    ts_in_window(ts_ns, ts_text, where, "local_receive_ts_ns")  # raises
                if ts_ns < last_ts:
                    before = "the previous line" if lines > 1 else "the previous part's last line"
                    raise InputError(
                        f"{ts_ns} goes back in time ({before} had {last_ts})", where=where, field="local_receive_ts_ns"
                    )
                last_ts = ts_ns
                yield ts_ns, where, self._json(line, sep + 1, where), None
            if not lines:
                raise empty_file(name, "'<local_receive_ts_ns> <json>' lines (an hftbacktest capture)")

    def _cryptofeed_messages(self) -> Iterator[tuple[int, str, dict[str, Any], str | None]]:
        """The ws file's messages, with the sibling http files' depth snapshots merged in
        at their receive times (a snapshot goes before the first ws line not older)."""
        name = self._name
        snapshots = self._cryptofeed_snapshots()
        pending = next(snapshots, None)
        last_ts = 0
        last_text = ""
        line_no = 0
        for line_no, line in numbered_lines(self.path):
            where = f"{name}:{line_no}"
            if line_no == 1:
                if " <-> " not in line:
                    raise InputError(
                        f"expected the header '<wss url> <-> <unix_ts>', found {line[:60]!r}", where=where, field="header"
                    )
                continue
            if not line:
                continue
            sep = line.find(": ")
            ts_text = line[:sep] if sep > 0 else line[:40]
            try:
                ts_ns = seconds_text_to_ns(ts_text)
            except ValueError as exc:
                raise InputError(f"{exc}; expected '<unix_ts>: <json>'", where=where, field="receive_ts") from None
            if not MIN_TS_NS <= ts_ns < MAX_TS_NS:
                ts_in_window(ts_ns, ts_text, where, "receive_ts")  # raises
            if sep <= 0:
                raise InputError("expected '<unix_ts>: <json>'", where=where, field="line")
            if ts_ns < last_ts:
                raise InputError(
                    f"{ts_text} goes back in time (the previous line had {last_text})", where=where, field="receive_ts"
                )
            last_ts, last_text = ts_ns, ts_text
            while pending is not None and pending[0] <= ts_ns:
                yield pending
                pending = next(snapshots, None)
            yield ts_ns, where, self._json(line, sep + 2, where), None
        if line_no == 0:
            raise empty_file(name, "the header '<wss url> <-> <unix_ts>' (a cryptofeed capture)")
        while pending is not None:
            yield pending
            pending = next(snapshots, None)

    def _http_files(self) -> list[Path]:
        """The ``X.http.*`` files beside ``X.ws.N.M`` (rotation order)."""
        name = self.path.name
        cut = name.find(".ws.")
        if cut < 0:
            return []
        prefix = name[:cut]

        def order(p: Path) -> list[int]:
            return [int(part) for part in p.name[len(prefix) + 6 :].split(".") if part.isascii() and part.isdigit()]

        return sorted(self.path.parent.glob(f"{prefix}.http.*"), key=order)

    def _cryptofeed_snapshots(self) -> Iterator[tuple[int, str, dict[str, Any], str | None]]:
        """``(receive ts_ns, where, snapshot, symbol)`` per ``/depth?symbol=`` REST line."""
        want = self.symbol
        for path in self._http_files():
            name = str(path)
            last_ts = 0
            for line_no, line in numbered_lines(path):
                if not line:
                    continue
                where = f"{name}:{line_no}"
                url, arrow, rest = line.partition(" -> ")
                sep = rest.find(": ")
                if not arrow or sep <= 0:
                    raise InputError("expected '<url> -> <unix_ts>: <json>'", where=where, field="line")
                if "/depth" not in urlsplit(url).path:
                    continue
                symbols = parse_qs(urlsplit(url).query).get("symbol")
                if not symbols:
                    raise InputError(f"no symbol= in the depth URL {url!r}", where=where, field="url")
                symbol = symbols[0].upper()
                if want is not None and symbol != want:
                    continue
                try:
                    ts_ns = seconds_text_to_ns(rest[:sep])
                except ValueError as exc:
                    raise InputError(str(exc), where=where, field="receive_ts") from None
                ts_in_window(ts_ns, rest[:sep], where, "receive_ts")
                if ts_ns < last_ts:
                    raise InputError(f"{rest[:sep]} goes back in time", where=where, field="receive_ts")
                last_ts = ts_ns
                offset = len(url) + len(arrow) + sep + 2
                yield ts_ns, where, self._json(line, offset, where), symbol

    # ------------------------------------------------------------------ decoding
    def _route(self, stream: object, where: str) -> tuple[int, str, str | None]:
        """Channel code, channel name and upper-case symbol of a stream name."""
        if type(stream) is not str or "@" not in stream:
            raise InputError(f"{stream!r} is not a stream name '<symbol>@<channel>'", where=where, field="stream")
        head, _, channel = stream.partition("@")
        if head.startswith("!"):  # all-market stream ('!forceOrder@arr'): symbol per item
            return _CHANNELS.get(head[1:], _IGNORED), head[1:], None
        return _CHANNELS.get(channel.partition("@")[0], _IGNORED), channel, head.upper()

    def _depth_sync(self, symbol: str) -> _DepthSync:
        sync = self._books.get(symbol)
        if sync is None:
            sync = self._books[symbol] = _DepthSync(symbol, self.stats)
        return sync

    def _snapshot_symbol(self, data: dict[str, Any], where: str) -> str | None:
        """The symbol of an hftbacktest REST snapshot (None: not known yet)."""
        symbol = data.get("symbol")
        if type(symbol) is str and symbol:
            return symbol.upper()
        routes = self._routes.values()
        candidates = {s for code, _, s in routes if code == _DEPTH and s} or {s for _, _, s in routes if s}
        if len(candidates) > 1:
            raise InputError(
                "cannot tell which symbol this depth snapshot belongs to: the file has streams of "
                + ", ".join(sorted(candidates)),
                where=where,
                field="symbol",
            )
        return candidates.pop() if candidates else None

    def _on_snapshot(self, ts_ns: int, where: str, data: dict[str, Any], symbol: str | None) -> list[Row]:
        if symbol is None:
            symbol = self._snapshot_symbol(data, where)
            if symbol is None:  # before any stream: wait for the first depth stream's symbol
                self._orphan_snapshot = (ts_ns, where, data)
                return []
        if self.symbol is not None and symbol != self.symbol:
            return []
        self.stats.snapshots += 1
        for key in ("bids", "asks"):
            if key not in data:
                raise InputError("a depth snapshot needs 'bids' and 'asks'", where=where, field=f"snapshot.{key}")
        last_update_id = self._int(data.get("lastUpdateId"), "snapshot.lastUpdateId", where)
        rate = str(last_update_id)
        rows = [_new(Row, (ts_ns, CLEAR, symbol, ANY, "", "", rate, where))]
        self._levels(rows, rows, ts_ns, symbol, BUY, data["bids"], rate, "snapshot.bids", where)
        self._levels(rows, rows, ts_ns, symbol, SELL, data["asks"], rate, "snapshot.asks", where)
        return self._depth_sync(symbol).on_snapshot(ts_ns, last_update_id, rows)

    def _rows(self) -> Iterator[Row]:
        # The hot loop: one pass per message with locals bound; the channel branches are
        # inline (not handler calls) because bookTicker and trade lines are ~90% of input.
        source = self._hftbacktest_messages() if self.layout == HFTBACKTEST else self._cryptofeed_messages()
        stats = self.stats
        messages = stats.messages
        ignored = stats.ignored
        routes = self._routes
        want = self.symbol
        known = self._known
        decimal = self._decimal
        last_trades: dict[str, tuple[int, Any]] = {}  # stream -> (id, data) of its last trade message
        for ts_ns, where, obj, snapshot_symbol in source:
            stream = obj.get("stream")
            if stream is None:
                if "lastUpdateId" not in obj:
                    raise InputError(
                        "neither a combined-stream message ('stream', 'data') nor a depth snapshot ('lastUpdateId')",
                        where=where,
                        field="stream",
                    )
                messages["snapshot"] = messages.get("snapshot", 0) + 1
                yield from self._on_snapshot(ts_ns, where, obj, snapshot_symbol)
                continue
            route = routes.get(stream) if stream.__class__ is str else None
            if route is None:
                route = routes[stream] = self._route(stream, where)
            code, channel, stream_symbol = route
            messages[channel] = messages.get(channel, 0) + 1
            if want is not None and stream_symbol is not None and stream_symbol != want:
                continue
            data = obj.get("data")
            if code == _IGNORED:
                ignored[channel] = ignored.get(channel, 0) + 1
                continue
            if type(data) is not dict and not (stream_symbol is None and type(data) is list):
                raise InputError(f"expected a JSON object, found {type(data).__name__}", where=where, field="data")
            try:
                if code == _BOOK_TICKER:
                    sym = self._symbol(data["s"], "bookTicker.s", where)
                    u = self._int(data["u"], "bookTicker.u", where)
                    bid_px, bid_qty, ask_px, ask_qty = data["b"], data["B"], data["a"], data["A"]
                    for text, field in ((bid_px, "b"), (bid_qty, "B"), (ask_px, "a"), (ask_qty, "A")):
                        if text.__class__ is not str or text not in known:
                            decimal(text, f"bookTicker.{field}", where)
                    rate = str(u)
                    yield _new(Row, (ts_ns, QUOTE, sym, BUY, bid_px, bid_qty, rate, where))
                    yield _new(Row, (ts_ns, QUOTE, sym, SELL, ask_px, ask_qty, rate, where))
                elif code == _TRADE:
                    trade_type = data.get("X", "MARKET")
                    if trade_type != "MARKET":
                        reason = f"{channel} X={trade_type}"
                        ignored[reason] = ignored.get(reason, 0) + 1
                        continue
                    trade_id = data.get("a" if channel == "aggTrade" else "t")
                    if trade_id is not None:  # ids do not go back per stream; a repeated message is a duplicate
                        last = last_trades.get(stream)
                        if type(trade_id) is not int or trade_id >> 63 or (last is not None and trade_id <= last[0]):
                            self._trade_id_error(trade_id, data, last, channel, where)
                        last_trades[stream] = (trade_id, data)
                    maker_is_buyer = data["m"]
                    if maker_is_buyer is not True and maker_is_buyer is not False:
                        raise InputError(f"{maker_is_buyer!r} is not true/false", where=where, field=f"{channel}.m")
                    px, qty = data["p"], data["q"]
                    if px.__class__ is not str or px not in known:
                        decimal(px, f"{channel}.p", where)
                    if qty.__class__ is not str or qty not in known:
                        decimal(qty, f"{channel}.q", where)
                    sym = data["s"]
                    if sym.__class__ is not str:
                        self._symbol(sym, f"{channel}.s", where)  # raises
                    yield _new(Row, (ts_ns, TRADE, sym, SELL if maker_is_buyer else BUY, px, qty, "", where))
                elif code == _DEPTH:
                    sym = self._symbol(data["s"], "depthUpdate.s", where)
                    first_id = self._int(data["U"], "depthUpdate.U", where)
                    final_id = self._int(data["u"], "depthUpdate.u", where)
                    prev_id = data.get("pu")
                    if prev_id is not None:
                        self._int(prev_id, "depthUpdate.pu", where)
                    rate = str(final_id)
                    rows: list[Row] = []  # deletions first: see the module doc
                    sets: list[Row] = []
                    self._levels(rows, sets, ts_ns, sym, BUY, data["b"], rate, "depthUpdate.b", where)
                    self._levels(rows, sets, ts_ns, sym, SELL, data["a"], rate, "depthUpdate.a", where)
                    rows += sets
                    sync = self._books.get(sym)
                    if sync is None:
                        sync = self._depth_sync(sym)
                        if self._orphan_snapshot is not None:  # an hftbacktest snapshot seen before any stream
                            snap_ts, snap_where, snap = self._orphan_snapshot
                            self._orphan_snapshot = None
                            yield from self._on_snapshot(snap_ts, snap_where, snap, sym)
                    if sync.state == _WAITING and self.follows is not None and self.follows.finished:
                        earlier = self.follows._books.get(sym)  # the earlier part's book of this symbol
                        if earlier is not None and earlier.state == _SYNCED:
                            yield from sync.continue_from(ts_ns, earlier.last_u)
                    yield from sync.on_diff(ts_ns, where, first_id, final_id, prev_id, rows)
                elif code == _MARK:
                    for item in data if type(data) is list else (data,):
                        sym = self._symbol(item["s"], "markPriceUpdate.s", where)
                        if want is not None and sym != want:
                            continue
                        mark_px = decimal(item["p"], "markPriceUpdate.p", where)
                        yield _new(Row, (ts_ns, MARK, sym, ANY, mark_px, "", "", where))
                        index_px = item.get("i")
                        if index_px:
                            index_px = decimal(index_px, "markPriceUpdate.i", where)
                            yield _new(Row, (ts_ns, INDEX, sym, ANY, index_px, "", "", where))
                else:  # _FORCE
                    for item in data if type(data) is list else (data,):
                        order = item["o"]
                        sym = self._symbol(order["s"], "forceOrder.o.s", where)
                        if want is not None and sym != want:
                            continue
                        side_text = order["S"]
                        if side_text not in ("BUY", "SELL"):
                            raise InputError(f"{side_text!r} is not BUY or SELL", where=where, field="forceOrder.o.S")
                        filled = order.get("z", order["q"])
                        decimal(filled, "forceOrder.o.z", where)
                        if not filled.strip("0."):  # filled nothing: no print
                            ignored["forceOrder unfilled"] = ignored.get("forceOrder unfilled", 0) + 1
                            continue
                        px = decimal(order["p"], "forceOrder.o.p", where)
                        yield _new(Row, (ts_ns, LIQUIDATION, sym, BUY if side_text == "BUY" else SELL, px, filled, "", where))
            except KeyError as exc:
                key = exc.args[0] if exc.args else "?"
                raise InputError(f"missing field {key!r} in a {channel} message", where=where, field=f"{channel}.{key}") from None
            except TypeError as exc:  # a field of the wrong JSON type (an object where text was expected...)
                raise InputError(f"a field has the wrong JSON type: {exc}", where=where, field=channel) from None
        for sync in self._books.values():
            stats.diffs_unsynced += len(sync.buffer)
            sync.buffer.clear()
        self.finished = True


def read_hftbacktest(path: str | Path | Sequence[str | Path], symbol: str | None = None) -> BinanceWsReader:
    """Rows of an hftbacktest Binance capture (``<ts_ns> <json>`` lines); ``path`` may list
    the capture's parts in order (``cm_btcusd_perp_20240808.gz``, ``..._20240809.gz``):
    read as one capture, the later part's diffs continue the depth the earlier part synced."""
    return BinanceWsReader(path, symbol, HFTBACKTEST)


def read_cryptofeed(path: str | Path, symbol: str | None = None) -> BinanceWsReader:
    """Rows of a cryptofeed v1 Binance capture (``X.ws.N.M``; snapshots from ``X.http.*``)."""
    return BinanceWsReader(path, symbol, CRYPTOFEED)


def link_parts(earlier: object, later: _T) -> _T:
    """Let ``later`` continue ``earlier`` when both are hftbacktest readers (a capture
    split at midnight, given in order: ``cm_btcusd_perp_20240808.gz`` then ``..._20240809.gz``);
    returns ``later``. Once ``earlier`` is read to its end, a symbol ``later`` has no
    snapshot for continues from the update id ``earlier`` left its book synced at: its
    buffered and later diffs must chain on (``pu`` = that id), else a ``gap``. Its diffs
    received before that (the replay peeks at each file's first rows before reading the
    earlier one) are applied at the time of its first diff read after the earlier part.
    Anything else (other formats, a ``later`` with its own snapshot) is left as it is.
    """
    if (
        isinstance(earlier, BinanceWsReader)
        and isinstance(later, BinanceWsReader)
        and earlier.layout == later.layout == HFTBACKTEST
        and earlier is not later
    ):
        later.follows = earlier
    return later


_HFT_HEAD = re.compile(r'[0-9]{16,20} \{"(?:stream|lastUpdateId)"')
_CRYPTOFEED_HEAD = re.compile(r"wss://[a-z0-9.]*binance[a-z0-9.]*(?::[0-9]+)?/\S* <-> [0-9]+(?:\.[0-9]+)?\Z")


def sniff(file_name: str, head: list[str]) -> str | None:
    """The format of a Binance WebSocket capture from its name and first lines, or None.

    >>> sniff("usdm_btcusdt_20240808.gz", ['1723161255030314667 {"stream":"btcusdt@depth@0ms","data":{}}'])
    'binance-ws-hftbacktest'
    >>> sniff("BINANCE_FUTURES.ws.1.0", ["wss://fstream.binance.com/stream?streams=a@b <-> 1626992740.179554"])
    'binance-ws-cryptofeed'
    """
    if not head:
        return None
    if _HFT_HEAD.match(head[0]):
        return HFTBACKTEST
    if ".ws." in file_name and _CRYPTOFEED_HEAD.match(head[0]):
        return CRYPTOFEED
    return None


READERS = {HFTBACKTEST: read_hftbacktest, CRYPTOFEED: read_cryptofeed}

__all__ = [
    "CRYPTOFEED",
    "HFTBACKTEST",
    "MAX_BUFFERED_DIFFS",
    "READERS",
    "BinanceWsReader",
    "WsStats",
    "link_parts",
    "read_cryptofeed",
    "read_hftbacktest",
    "seconds_text_to_ns",
    "sniff",
]
