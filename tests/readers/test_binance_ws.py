"""Specification of exsim.readers.binance_ws: raw Binance WebSocket captures to rows.

The key checks rebuild the order book from the snapshot and the diffs and compare it
with every bookTicker of the same capture. bookTicker and depth are separate streams:
a bookTicker's update id ``u`` mostly falls *inside* a diff's ``U..u`` range (a top of
book the depth stream never shows, because a diff reports only the end state of its
range), so the book can be checked exactly only against bookTickers whose ``u`` equals
a diff's final ``u``. Measured on the shipped captures (quote rows, one per side):

=============================== ========== ============= ================= ==================
capture                         raw price  raw price+size id-aligned exact  id "between" price
=============================== ========== ============= ================= ==================
usdm_btcusdt_20240808           0.638      0.116          1258/1258 = 1.0   0.629
usdm_ethusdt_20240808           0.607      0.125          1102/1102 = 1.0   0.605
cryptofeed SUSHIUSDT (100 ms)   0.606      0.267          24/24 = 1.0       0.602
=============================== ========== ============= ================= ==================

*raw*: the quote against the rebuilt book at the quote's receive time (98% of the
bookTickers arrive before the diff that contains their update). *exact*: the quote
against the book right after the diff whose final ``u`` equals the quote's ``u``.
*between*: quotes whose ``u`` lies strictly between two diffs' final ids, against the
book after the earlier diff; every one of them lies inside the later diff's ``U..u``
(checked on the BTCUSDT capture: 0 of 65,460 fall in the id gap between diffs), so they
are intermediate states and their mismatches are expected, not errors.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from functools import lru_cache
from itertools import islice
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exsim.book.order_book import OrderBook
from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.instruments import get_instrument
from exsim.readers import detect_format, open_rows
from exsim.readers.binance_ws import (
    CRYPTOFEED,
    HFTBACKTEST,
    READERS,
    BinanceWsReader,
    read_cryptofeed,
    read_hftbacktest,
    seconds_text_to_ns,
    sniff,
)
from exsim.readers.opening import head_lines
from exsim.readers.rows import ANY, CLEAR, GAP, LEVEL, QUOTE, TRADE, Row

DATA = Path(__file__).parents[3] / "shared" / "data"
HFT = DATA / "hftbacktest-binance-20240808"
CF = DATA / "cryptofeed-samples"

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data folder {DATA} is absent")


# ---------------------------------------------------------------------- helpers
def replay_and_compare(rows: Iterable[Row], book: Any, to_px: Any, to_qty: Any) -> dict[str, Any]:
    """Replay ``rows`` into ``book`` (one pass, streaming) and measure the bookTicker match rates.

    ``book`` has ``set(side, px, qty)``, ``clear()``, ``top(side) -> (px, qty)`` and
    ``crossed()``. Returns counters ``raw_*``, ``exact_*``, ``between_*`` (``n``, ``px`` =
    price matches, ``both`` = price and size matches), ``crossed_rows``, ``rows`` by kind,
    ``symbols`` and ``ts_ordered``.
    """
    diff_ids: list[int] = []  # final u of each diff, in order
    diff_tops: list[tuple[tuple[Any, Any], tuple[Any, Any]]] = []  # top of book after it
    quotes: list[tuple[int, int, Any, Any]] = []
    c: dict[str, Any] = dict.fromkeys(
        ("raw_n", "raw_px", "raw_both", "exact_n", "exact_px", "exact_both", "between_n", "between_px", "between_both", "crossed_rows"), 0
    )
    kinds: Counter[int] = Counter()
    symbols: set[str] = set()
    ts_ordered = True
    last_ts = 0
    open_diff = ""  # rate (update id) of the diff whose LEVEL rows are being applied

    def close_diff() -> None:
        diff_ids.append(int(open_diff))
        diff_tops.append((book.top(BUY), book.top(SELL)))

    for r in rows:
        kinds[r.kind] += 1
        symbols.add(r.symbol)
        ts_ordered = ts_ordered and r.ts_ns >= last_ts
        last_ts = r.ts_ns
        if open_diff and (r.kind != LEVEL or r.rate != open_diff):
            close_diff()
            open_diff = ""
        if r.kind == CLEAR:
            book.clear()
        elif r.kind == LEVEL:
            book.set(r.side, to_px(r.price), to_qty(r.qty))
            c["crossed_rows"] += book.crossed()
            open_diff = r.rate
        elif r.kind == QUOTE:
            px, qty = to_px(r.price), to_qty(r.qty)
            quotes.append((int(r.rate), r.side, px, qty))
            if diff_ids:
                top_px, top_qty = book.top(r.side)
                c["raw_n"] += 1
                c["raw_px"] += top_px == px
                c["raw_both"] += top_px == px and top_qty == qty
    if open_diff:
        close_diff()
    for u, side, px, qty in quotes:
        j = bisect.bisect_right(diff_ids, u) - 1
        if j < 0 or j == len(diff_ids) - 1:  # before the book is synced, or after the last diff
            continue
        kind = "exact" if diff_ids[j] == u else "between"
        top_px, top_qty = diff_tops[j][side]
        c[f"{kind}_n"] += 1
        c[f"{kind}_px"] += top_px == px
        c[f"{kind}_both"] += top_px == px and top_qty == qty
    c.update(rows=kinds, symbols=symbols, ts_ordered=ts_ordered)
    return c


class ExsimBook:
    """exsim's OrderBook driven by replayed levels (integer ticks and lots)."""

    def __init__(self) -> None:
        self.book = OrderBook("conservative")

    def set(self, side: int, px: int, lots: int) -> None:
        self.book.set_anonymous_lots(side, px, lots)

    def clear(self) -> None:
        for side in (BUY, SELL):
            for level in list(self.book.levels(side)):
                self.book.set_anonymous_lots(side, level.price_ticks, 0)

    def top(self, side: int) -> tuple[int | None, int]:
        px = self.book.best_bid() if side == BUY else self.book.best_ask()
        return px, (self.book.level_lots(side, px) if px is not None else 0)

    def crossed(self) -> bool:
        bid, ask = self.book.best_bid(), self.book.best_ask()
        return bid is not None and ask is not None and bid >= ask


class DecimalBook:
    """A plain dict book keyed by Decimal price (for symbols exsim ships no grid for)."""

    def __init__(self) -> None:
        self.sides: tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]] = ({}, {})

    def set(self, side: int, px: Decimal, qty: Decimal) -> None:
        if qty:
            self.sides[side][px] = qty
        else:
            self.sides[side].pop(px, None)

    def clear(self) -> None:
        self.sides[BUY].clear()
        self.sides[SELL].clear()

    def top(self, side: int) -> tuple[Decimal | None, Decimal | None]:
        levels = self.sides[side]
        if not levels:
            return None, None
        px = max(levels) if side == BUY else min(levels)
        return px, levels[px]

    def crossed(self) -> bool:
        bids, asks = self.sides
        return bool(bids and asks and max(bids) >= min(asks))


#: synthetic captures' times are offsets from this (the readers accept 2009-01-01 .. 2100-01-01)
T0 = 1_723_161_600_000_000_000


def hft_line(ts_ns: int, obj: dict[str, Any]) -> str:
    """A capture line at ``T0 + ts_ns``."""
    return f"{T0 + ts_ns} {json.dumps(obj, separators=(',', ':'))}"


def depth(first: int, final: int, prev: int, bids: list[list[str]] | None = None, asks: list[list[str]] | None = None) -> dict[str, Any]:
    data = {"e": "depthUpdate", "E": 1, "T": 1, "s": "BTCUSDT", "U": first, "u": final, "pu": prev}
    data["b"] = bids if bids is not None else [["100.0", "1.500"]]
    data["a"] = asks if asks is not None else [["100.6", "0.000"]]
    return {"stream": "btcusdt@depth@0ms", "data": data}


def snapshot(last_update_id: int) -> dict[str, Any]:
    return {"lastUpdateId": last_update_id, "E": 1, "T": 1, "bids": [["100.0", "1.000"], ["99.9", "3.000"]], "asks": [["100.5", "2.000"]]}


def trade(px: str = "100.5", qty: str = "0.010", maker_is_buyer: bool = False) -> dict[str, Any]:
    data = {"e": "trade", "E": 1, "T": 1, "s": "BTCUSDT", "t": 1, "p": px, "q": qty, "X": "MARKET", "m": maker_is_buyer}
    return {"stream": "btcusdt@trade", "data": data}


def book_ticker(u: int) -> dict[str, Any]:
    data = {"e": "bookTicker", "u": u, "s": "BTCUSDT", "b": "100.0", "B": "1.500", "a": "100.5", "A": "2.000", "T": 1, "E": 1}
    return {"stream": "btcusdt@bookTicker", "data": data}


def write_hft(tmp_path: Path, lines: list[str], name: str = "usdm_btcusdt_20240808") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def assert_ts_ordered(rows: list[Row]) -> None:
    assert all(a.ts_ns <= b.ts_ns for a, b in zip(rows, rows[1:]))


# ---------------------------------------------------------------------- real captures
@pytest.fixture(
    scope="module",
    params=[("usdm_btcusdt_20240808.gz", "BTCUSDT"), ("usdm_ethusdt_20240808.gz", "ETHUSDT")],
    ids=["btcusdt", "ethusdt"],
)
def hft_replay(request: pytest.FixtureRequest) -> tuple[dict[str, Any], BinanceWsReader, str]:
    """One streaming pass over a capture: its book replay counters, the reader (stats) and symbol."""
    if not DATA.is_dir():
        pytest.skip(f"shared data folder {DATA} is absent")
    file_name, symbol = request.param
    inst = get_instrument(symbol)
    reader = read_hftbacktest(HFT / file_name)
    ticks, lots = lru_cache(maxsize=None)(inst.ticks), lru_cache(maxsize=None)(inst.lots)  # prices repeat
    return replay_and_compare(reader, ExsimBook(), ticks, lots), reader, symbol


@needs_data
class TestHftbacktestCaptures:
    def test_rebuilt_book_matches_every_id_aligned_book_ticker(self, hft_replay: tuple[dict[str, Any], BinanceWsReader, str]) -> None:
        """Snapshot + diffs rebuild a book whose top equals every bookTicker with the same update id."""
        c, _, _ = hft_replay
        # measured: BTCUSDT 1258/1258, ETHUSDT 1102/1102 (price and size)
        assert c["exact_n"] > 1000
        assert c["exact_both"] == c["exact_px"] == c["exact_n"]
        # measured raw price match: BTCUSDT 0.638, ETHUSDT 0.607 (sizes 0.116 / 0.125); between: 0.629 / 0.605.
        # Both are intermediate tops the depth stream never shows (see the module doc), not errors.
        assert c["raw_px"] / c["raw_n"] > 0.55
        assert c["between_px"] / c["between_n"] > 0.55

    def test_rebuilt_book_is_never_crossed_after_any_row(self, hft_replay: tuple[dict[str, Any], BinanceWsReader, str]) -> None:
        """Deletions come first within a diff, so no row leaves the book crossed."""
        assert hft_replay[0]["crossed_rows"] == 0

    def test_rows_are_ts_ordered_and_carry_the_symbol(self, hft_replay: tuple[dict[str, Any], BinanceWsReader, str]) -> None:
        """Rows come out in receive-time order, each with Binance's upper-case symbol."""
        c, _, symbol = hft_replay
        assert c["ts_ordered"] and c["symbols"] == {symbol}

    def test_every_diff_is_applied_or_stale(self, hft_replay: tuple[dict[str, Any], BinanceWsReader, str]) -> None:
        """One snapshot, bridged; every diff is applied or stale; no gap; two quote rows per bookTicker."""
        c, reader, _ = hft_replay
        stats = reader.stats
        depth_messages = stats.messages["depth@0ms"]
        assert (stats.snapshots, stats.snapshots_applied, stats.gaps, stats.diffs_unsynced) == (1, 1, 0, 0)
        assert stats.diffs_applied + stats.diffs_stale == depth_messages
        assert c["rows"][QUOTE] == 2 * stats.messages["bookTicker"] and c["rows"][TRADE] == stats.messages["trade"]
        assert c["rows"][CLEAR] == 1

    def test_counts_follow_the_readme(self, hft_replay: tuple[dict[str, Any], BinanceWsReader, str]) -> None:
        """Messages by channel match the capture folder's README."""
        _, reader, symbol = hft_replay
        readme = {"BTCUSDT": {"depth@0ms": 6551, "bookTicker": 66089, "trade": 21313, "snapshot": 1},
                  "ETHUSDT": {"depth@0ms": 6586, "bookTicker": 53992, "trade": 14076, "snapshot": 1}}  # fmt: skip
        assert reader.stats.messages == readme[symbol]

    def test_snapshot_takes_effect_with_the_diff_that_bridges_it(self) -> None:
        """Diffs received before the snapshot (line 55) wait for it; the one bridging it (line 42) and
        the later buffered ones (line 50) are applied at the snapshot's receive time, after its rows."""
        rows = list(islice(read_hftbacktest(HFT / "usdm_btcusdt_20240808.gz"), 3000))
        clear = next(i for i, r in enumerate(rows) if r.kind == CLEAR)
        snapshot_ts = 1723161255319702566  # line 55's receive time
        assert rows[clear].where.endswith(":55") and rows[clear].rate == "5123107852948" and rows[clear].ts_ns == snapshot_ts
        assert [r.rate for r in rows[clear + 1 : clear + 2001]] == ["5123107852948"] * 2000
        applied = [r for r in rows[clear + 2001 :] if r.kind == LEVEL]
        assert applied[0].where.endswith(":42") and applied[0].rate == "5123107853551" and applied[0].ts_ns == snapshot_ts
        assert [r for r in applied if r.where.endswith(":50")][0].ts_ns == snapshot_ts
        assert not any(r.kind in (LEVEL, CLEAR) for r in rows[:clear])

    def test_symbol_argument_keeps_that_symbol_only(self) -> None:
        """Asking for another symbol yields nothing; asking for the file's yields everything."""
        assert list(read_hftbacktest(HFT / "usdm_ethusdt_20240808.gz", "BTCUSDT")) == []
        first = list(islice(read_hftbacktest(HFT / "usdm_ethusdt_20240808.gz", "ethusdt"), 3000))
        assert len(first) == 3000 and {r.symbol for r in first} == {"ETHUSDT"}

    def test_detected_and_opened_through_the_package(self) -> None:
        """open_rows detects the format and returns the reader, which is a real iterator."""
        fmt, rows = open_rows(HFT / "usdm_btcusdt_20240808.gz")
        assert fmt == HFTBACKTEST and isinstance(rows, BinanceWsReader)
        first = next(rows)
        assert first.kind == TRADE or first.kind == QUOTE  # depth waits for the snapshot
        assert detect_format(CF / "BINANCE_FUTURES.ws.1.0") == CRYPTOFEED


@needs_data
class TestCryptofeedCaptures:
    def test_sushiusdt_book_matches_id_aligned_book_tickers(self) -> None:
        """SUSHIUSDT rebuilt from the http snapshot and @100ms diffs matches its aligned bookTickers."""
        reader = read_cryptofeed(CF / "BINANCE_FUTURES.ws.1.0", "SUSHIUSDT")
        c = replay_and_compare(reader, DecimalBook(), Decimal, Decimal)
        assert c["ts_ordered"] and c["symbols"] == {"SUSHIUSDT"}
        assert c["exact_n"] == 24 and c["exact_both"] == 24  # measured: 24/24
        assert c["raw_px"] / c["raw_n"] > 0.55  # measured 367/606 = 0.606 (sizes 0.267)
        assert c["crossed_rows"] == 0
        assert (reader.stats.snapshots, reader.stats.snapshots_applied, reader.stats.gaps) == (1, 1, 0)

    def test_snapshot_rows_name_the_http_file_and_every_symbol_syncs(self) -> None:
        """All four symbols' snapshots come from the sibling http file and are bridged; klines are counted."""
        reader = read_cryptofeed(CF / "BINANCE_FUTURES.ws.1.0")
        rows = list(reader)
        assert_ts_ordered(rows)
        clears = [r for r in rows if r.kind == CLEAR]
        assert sorted(r.symbol for r in clears) == ["AKROUSDT", "CTKUSDT", "KEEPUSDT", "SUSHIUSDT"]
        assert all("BINANCE_FUTURES.http.0.0:" in r.where for r in clears)
        stats = reader.stats
        assert stats.messages == {"bookTicker": 613, "depth@100ms": 764, "aggTrade": 91, "kline_1m": 67, "snapshot": 4}
        assert stats.ignored == {"kline_1m": 67}
        assert (stats.snapshots_applied, stats.gaps, stats.diffs_applied + stats.diffs_stale) == (4, 0, 764)

    def test_coin_m_capture_syncs_all_ten_books(self) -> None:
        """The COIN-M capture's ten symbols all sync from their snapshots without a gap."""
        reader = read_cryptofeed(CF / "BINANCE_DELIVERY.ws.1.0")
        rows = list(reader)
        assert_ts_ordered(rows)
        assert (reader.stats.snapshots_applied, reader.stats.gaps) == (10, 0)

    def test_first_line_is_converted_to_exact_nanoseconds(self) -> None:
        """The first ws line's '1626992741.06217' becomes 1626992741062170000 ns exactly."""
        first = next(iter(read_cryptofeed(CF / "BINANCE_FUTURES.ws.1.0")))
        assert first.ts_ns == 1626992741062170000 and first.kind == QUOTE and first.rate == "600859600576"


# ---------------------------------------------------------------------- synthetic captures
class TestDepthSync:
    def test_pu_break_gives_one_gap_and_stops_depth(self, tmp_path: Path) -> None:
        """Stale diffs are dropped, the bridging diff applies the snapshot, a pu break gives one gap and no more levels."""
        path = write_hft(
            tmp_path,
            [
                hft_line(1000, depth(90, 95, 89)),  # stale once the snapshot (100) is known
                hft_line(2000, trade()),
                hft_line(3000, snapshot(100)),
                hft_line(4000, depth(96, 99, 95)),  # stale: u < lastUpdateId
                hft_line(5000, depth(99, 105, 99)),  # bridges: U <= 100 <= u
                hft_line(6000, depth(106, 110, 105)),
                hft_line(7000, depth(115, 120, 112)),  # pu 112 != 110: gap
                hft_line(8000, depth(121, 125, 120)),
                hft_line(9000, book_ticker(125)),
                hft_line(9500, trade(maker_is_buyer=True)),
            ],
        )
        reader = read_hftbacktest(path)
        rows = list(reader)
        assert_ts_ordered(rows)
        kinds = [(r.ts_ns - T0, r.kind) for r in rows]
        assert kinds == [
            (2000, TRADE),
            (5000, CLEAR), (5000, LEVEL), (5000, LEVEL), (5000, LEVEL),  # snapshot, at the bridging diff's time
            (5000, LEVEL), (5000, LEVEL),  # the bridging diff: the deletion first
            (6000, LEVEL), (6000, LEVEL),
            (7000, GAP),
            (9000, QUOTE), (9000, QUOTE),
            (9500, TRADE),
        ]  # fmt: skip
        gap = rows[9]
        assert gap.symbol == "BTCUSDT" and gap.side == ANY and gap.where.endswith(":7")
        assert "expected pu=110" in gap.rate and "found pu=112" in gap.rate
        assert [r.rate for r in rows[1:5]] == ["100"] * 4 and rows[1].where.endswith(":3")
        assert rows[5].qty == "0.000" and rows[5].rate == "105" and rows[5].where.endswith(":5")
        assert rows[10].rate == "125" and (rows[10].side, rows[11].side) == (BUY, SELL)
        assert (rows[0].side, rows[-1].side) == (BUY, SELL)  # m false: buyer took; m true: seller took
        s = reader.stats
        assert (s.diffs_stale, s.diffs_applied, s.gaps, s.snapshots_applied, s.diffs_unsynced) == (2, 2, 1, 1, 2)

    def test_buffered_diff_bridging_a_later_snapshot_applies_at_the_snapshot(self, tmp_path: Path) -> None:
        """A diff received before the snapshot it bridges is applied at the snapshot's receive time."""
        path = write_hft(tmp_path, [hft_line(1000, depth(95, 105, 94)), hft_line(2000, snapshot(100)), hft_line(3000, depth(106, 107, 105))])
        rows = list(read_hftbacktest(path))
        assert [(r.ts_ns - T0, r.kind, r.where.rsplit(":", 1)[1]) for r in rows] == [
            (2000, CLEAR, "2"), (2000, LEVEL, "2"), (2000, LEVEL, "2"), (2000, LEVEL, "2"),
            (2000, LEVEL, "1"), (2000, LEVEL, "1"),
            (3000, LEVEL, "3"), (3000, LEVEL, "3"),
        ]  # fmt: skip

    def test_snapshot_nothing_bridges_is_a_gap_and_a_new_snapshot_resumes(self, tmp_path: Path) -> None:
        """A first newer diff starting after lastUpdateId is a gap; the next snapshot it bridges resumes depth."""
        path = write_hft(
            tmp_path,
            [
                hft_line(1000, snapshot(100)),
                hft_line(2000, depth(120, 130, 119)),  # U > 100: nothing bridges the snapshot
                hft_line(3000, depth(131, 140, 130)),  # buffered while waiting
                hft_line(4000, snapshot(125)),  # bridged by the buffered diff 120..130
                hft_line(5000, depth(141, 150, 140)),
            ],
        )
        reader = read_hftbacktest(path)
        rows = list(reader)
        gaps = [r for r in rows if r.kind == GAP]
        assert len(gaps) == 1 and gaps[0].ts_ns == T0 + 2000 and "lastUpdateId=100" in gaps[0].rate and "U=120" in gaps[0].rate
        assert [r.ts_ns - T0 for r in rows if r.kind == CLEAR] == [4000]
        assert [r.rate for r in rows if r.kind == LEVEL][-6:] == ["130", "130", "140", "140", "150", "150"]
        assert (reader.stats.snapshots, reader.stats.snapshots_applied, reader.stats.diffs_applied) == (2, 1, 3)

    def test_duplicate_diff_is_stale_not_a_gap(self, tmp_path: Path) -> None:
        """A diff already applied (u not above the last applied u) is dropped, not a break."""
        lines = [hft_line(1000, snapshot(100)), hft_line(2000, depth(99, 105, 98)), hft_line(3000, depth(99, 105, 98))]
        path = write_hft(tmp_path, [*lines, hft_line(4000, depth(106, 110, 105))])
        reader = read_hftbacktest(path)
        assert not any(r.kind == GAP for r in reader)
        assert (reader.stats.diffs_applied, reader.stats.diffs_stale, reader.stats.gaps) == (2, 1, 0)

    def test_spot_diffs_chain_by_first_id(self, tmp_path: Path) -> None:
        """Spot diffs (no pu) bridge lastUpdateId+1 and chain by U = previous u + 1."""

        def spot(first: int, final: int) -> dict[str, Any]:
            msg = depth(first, final, 0)
            del msg["data"]["pu"]
            return msg

        lines = [hft_line(1000, snapshot(100))]
        lines += [hft_line(ts, spot(u0, u1)) for ts, u0, u1 in ((2000, 90, 100), (3000, 101, 105), (4000, 106, 108), (5000, 110, 111))]
        path = write_hft(tmp_path, lines)
        reader = read_hftbacktest(path)
        gaps = [r for r in reader if r.kind == GAP]
        assert len(gaps) == 1 and "expected U=109" in gaps[0].rate
        assert (reader.stats.diffs_stale, reader.stats.diffs_applied) == (1, 2)

    def test_mark_index_and_liquidation_rows(self, tmp_path: Path) -> None:
        """markPriceUpdate gives mark and index (no funding); forceOrder gives a liquidation of the filled size."""
        mark_data = {"e": "markPriceUpdate", "E": 1, "s": "BTCUSDT", "p": "61800.12345678", "i": "61790.5", "P": "61795", "r": "0.0001", "T": 2}
        mark = {"stream": "btcusdt@markPrice@1s", "data": mark_data}
        order = {"s": "BTCUSDT", "S": "SELL", "o": "LIMIT", "f": "IOC", "q": "0.020", "p": "61000.0", "ap": "61500.0", "X": "FILLED"}
        order.update(l="0.014", z="0.014", T=1)
        force = {"stream": "btcusdt@forceOrder", "data": {"e": "forceOrder", "E": 1, "o": order}}
        kline = {"stream": "btcusdt@kline_1m", "data": {"e": "kline"}}
        reader = read_hftbacktest(write_hft(tmp_path, [hft_line(1, mark), hft_line(2, force), hft_line(3, kline)]))
        rows = list(reader)
        assert [(r.kind, r.side, r.price, r.qty) for r in rows] == [
            (4, ANY, "61800.12345678", ""),  # mark
            (5, ANY, "61790.5", ""),  # index
            (7, SELL, "61000.0", "0.014"),  # liquidation
        ]
        assert reader.stats.ignored == {"kline_1m": 1}
        assert reader.stats.messages == {"markPrice@1s": 1, "forceOrder": 1, "kline_1m": 1}


class TestCryptofeedLayout:
    def test_snapshot_from_the_http_sibling_is_merged_by_receive_time(self, tmp_path: Path) -> None:
        """The http snapshot's symbol comes from its URL and it arrives at its own receive time."""
        url = "wss://fstream.binance.com/stream?streams=btcusdt@depth@100ms/btcusdt@bookTicker"
        (tmp_path / "BINANCE_FUTURES.ws.1.0").write_text(
            f"{url} <-> 1626992740.1\n"
            f"1626992741.5: {json.dumps(depth(95, 105, 94))}\n"
            f"1626992742.25: {json.dumps(book_ticker(105))}\n"
            f"1626992743: {json.dumps(depth(106, 107, 105))}\n"
        )
        (tmp_path / "BINANCE_FUTURES.http.0.0").write_text(
            f"https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000 -> 1626992742.000000001: {json.dumps(snapshot(100))}\n\n"
        )
        path = tmp_path / "BINANCE_FUTURES.ws.1.0"
        assert sniff(path.name, head_lines(path)) == CRYPTOFEED
        rows = list(read_cryptofeed(path))
        assert rows[0].kind == CLEAR and rows[0].ts_ns == 1626992742000000001
        assert rows[0].where == f"{tmp_path / 'BINANCE_FUTURES.http.0.0'}:1"
        assert [r.ts_ns for r in rows if r.kind == QUOTE] == [1626992742250000000] * 2
        assert rows[-1].ts_ns == 1626992743000000000 and rows[-1].rate == "107"


class TestSecondsToNs:
    @pytest.mark.parametrize(
        ("text", "ns"),
        [
            ("1626992741.06217", 1626992741062170000),
            ("1626916403.8469708", 1626916403846970800),
            ("1626992741", 1626992741000000000),
            ("0.000000001", 1),
            ("1626992741.123456789", 1626992741123456789),
        ],
    )
    def test_exact(self, text: str, ns: int) -> None:
        """Decimal seconds become nanoseconds by integer arithmetic, digit for digit."""
        assert seconds_text_to_ns(text) == ns

    def test_float_arithmetic_would_be_wrong(self) -> None:
        """Why no float: a float of seconds cannot hold these timestamps to the nanosecond."""
        assert int(float("1626916403.8469708") * 1e9) != seconds_text_to_ns("1626916403.8469708")

    @pytest.mark.parametrize("text", ["", "1.", ".5", "-1.5", "1e9", "1.0123456789", "1,5", "１.5"])
    def test_rejects(self, text: str) -> None:
        """Signs, exponents, more than 9 decimals and non-ASCII digits are refused."""
        with pytest.raises(ValueError):
            seconds_text_to_ns(text)


class TestSniff:
    @needs_data
    def test_real_heads(self) -> None:
        """Both capture layouts are recognised from their real first lines; their http sibling is not."""
        for path in (HFT / "usdm_btcusdt_20240808.gz", HFT / "spot_btcusdt_20240808.gz"):
            assert sniff(path.name, head_lines(path)) == HFTBACKTEST
        assert sniff("BINANCE_DELIVERY.ws.1.0", head_lines(CF / "BINANCE_DELIVERY.ws.1.0")) == CRYPTOFEED
        assert sniff("BINANCE_FUTURES.http.0.0", head_lines(CF / "BINANCE_FUTURES.http.0.0")) is None

    def test_other_files(self) -> None:
        """CSV files and other venues' captures are not claimed."""
        assert sniff("trades.csv", ["id,price,qty,quote_qty,time,is_buyer_maker"]) is None
        assert sniff("OKX.ws.1.0", ["wss://ws.okx.com:8443/ws/v5/public <-> 1652458996.1"]) is None
        assert sniff("x.jsonl", ['{"ts_ns": 1, "kind": "trade"}']) is None
        assert set(READERS) == {HFTBACKTEST, CRYPTOFEED}


class TestInputErrors:
    def _error(self, tmp_path: Path, lines: list[str]) -> InputError:
        path = write_hft(tmp_path, lines)
        with pytest.raises(InputError) as info:
            list(read_hftbacktest(path))
        assert str(info.value).startswith(f"{path}:{info.value.where.rsplit(':', 1)[1]}:")
        return info.value

    def test_bad_json(self, tmp_path: Path) -> None:
        """A line whose JSON does not parse names the line and the 'json' field."""
        err = self._error(tmp_path, [hft_line(1, trade()), f'{T0 + 2} {{"stream":"btcusdt@trade","data":'])
        assert err.where.endswith(":2") and err.field == "json" and "not JSON" in err.message

    def test_missing_field(self, tmp_path: Path) -> None:
        """A bookTicker without its best ask names the missing field."""
        msg = book_ticker(5)
        del msg["data"]["a"]
        err = self._error(tmp_path, [hft_line(1, msg)])
        assert err.where.endswith(":1") and err.field == "bookTicker.a" and "missing" in err.message

    def test_non_integer_timestamp(self, tmp_path: Path) -> None:
        """A receive time that is not whole nanoseconds is refused, saying what was expected."""
        err = self._error(tmp_path, [hft_line(1, trade()), "1723161255.5 " + json.dumps(trade())])
        assert err.where.endswith(":2") and err.field == "local_receive_ts_ns" and "whole number of nanoseconds" in err.message

    def test_time_going_back(self, tmp_path: Path) -> None:
        """A receive time earlier than the previous line's is refused."""
        err = self._error(tmp_path, [hft_line(5, trade()), hft_line(4, trade())])
        assert err.where.endswith(":2") and err.field == "local_receive_ts_ns"

    def test_price_that_is_not_decimal_text(self, tmp_path: Path) -> None:
        """A JSON number where Binance sends decimal text is refused (no float ever enters)."""
        msg = trade()
        msg["data"]["p"] = 100.5
        err = self._error(tmp_path, [hft_line(1, msg)])
        assert err.field == "trade.p" and "decimal text" in err.message

    def test_bad_depth_ids_and_levels(self, tmp_path: Path) -> None:
        """A non-integer update id, or a level that is not a [price, qty] pair, names its field."""
        err = self._error(tmp_path, [hft_line(1, depth(1, "2", 0))])  # type: ignore[arg-type]
        assert err.field == "depthUpdate.u"
        err = self._error(tmp_path, [hft_line(1, depth(1, 2, 0, bids=[["100.0", "1.0", "x"]]))])
        assert err.field == "depthUpdate.b" and "[price, qty]" in err.message

    def test_cryptofeed_timestamp(self, tmp_path: Path) -> None:
        """A cryptofeed line whose time is not decimal seconds names the line and 'receive_ts'."""
        path = tmp_path / "BINANCE_FUTURES.ws.1.0"
        header = "wss://fstream.binance.com/stream?streams=btcusdt@trade <-> 1.5"
        path.write_text(f"{header}\n1723161600.25: {json.dumps(trade())}\nabc: {json.dumps(trade())}\n")
        with pytest.raises(InputError) as info:
            list(read_cryptofeed(path))
        assert info.value.where == f"{path}:3" and info.value.field == "receive_ts"

    def test_cryptofeed_header(self, tmp_path: Path) -> None:
        """A cryptofeed ws file must start with its '<url> <-> <ts>' header."""
        path = tmp_path / "BINANCE_FUTURES.ws.1.0"
        path.write_text(f"1.25: {json.dumps(trade())}\n")
        with pytest.raises(InputError) as info:
            list(read_cryptofeed(path))
        assert info.value.where == f"{path}:1" and info.value.field == "header"
