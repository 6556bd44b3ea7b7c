"""A bad-input corpus for every reader (DESIGN §7 "Bad input"), table-driven.

Each format has a small *good* file written here (:data:`LAYOUTS`); each corpus entry
(:data:`CORPUS`) spoils it in one way and says what must happen:

* the reader (or, for values only the instrument's grid can judge, the replay) raises
  :class:`~exsim.errors.InputError` — never another exception — whose ``where`` is
  ``path:line`` and whose ``field`` names the field, saying what was wrong;
* ``exsim replay FILE --symbol BTCUSDT --no-progress`` prints exactly one line
  ``exsim: error: FILE:LINE: field 'F': ...`` on stderr, nothing on stdout, exits 2;
* with ``--skip-bad-rows`` the run completes, ``summary.json`` counts the line in
  ``bad_rows`` (naming it) and the run is the run of the file without the bad line — all
  of it: every row the line gives (both sides of a quote, a bar's four points, a ticker's
  mark and index) is left out: the same final state hash, the same event log
  (``--log-book``: every book change) and the same trades, book updates and marks seen by
  a strategy (:class:`Observer`). A bad *depth* line (a diff or snapshot) cannot just be
  left out — the book would miss an update — so it is a break in the depth sequence: the
  run is that of the file with a gap row in the line's place and no depth after it until
  the next snapshot, as when a reader finds a break (:func:`depth_gap_run`).
  :func:`test_a_missing_row_shows_in_the_trace` shows that this oracle does see a
  missing row, format by format.

File-level damage — a compressed stream cut in the middle (gzip, zstd, zip), an empty
file, 5 MB of printable or binary garbage — is checked for every format too: each fails
on the first line it cannot read, naming it and a field, reading little, never with a
traceback; a truncated file stops the replay even with ``--skip-bad-rows``.

A missing ``premiumIndexKlines`` line changes the run too: replayed premium rows are
the premium index of computed funding (the book's own samples are not mixed in).

To add a case: append a :class:`Bad` to :data:`CORPUS` (or a format to :data:`LAYOUTS`).

Duplicate ids, decided per format (what the corpus asserts):

=================================== ===================================================
format                              a repeated id
=================================== ===================================================
binance-trades / aggTrades          error: ``id`` / ``agg_trade_id`` must increase
                                    (a repeated print would be replayed twice)
binance-bookTicker                  accepted: a quote is a state; the same quote again
                                    changes nothing (asserted: the same run)
binance kline kinds                 error: a repeated bar starts before the previous
                                    one ended (``open_time``)
binance-fundingRate                 error: ``calc_time`` must increase (a repeated row
                                    would settle funding twice)
binance-ws trade / aggTrade         error: an id (``t`` / ``a``) below the stream's
                                    previous one, or the previous message again
binance-ws depth                    a diff whose ``u`` is not after the last applied
                                    one is stale: dropped and counted (Binance's rules;
                                    asserted: the same run)
tardis-trades / liquidations        error: the same non-empty ``id`` as the previous
                                    row of the same symbol (ids are venue text, not
                                    ordered, so only a repeat is detectable)
tardis incremental_book_L2,         accepted: absolute sizes set again (the same final
book_snapshot                       state; the book changes are logged again)
tardis quotes, derivative_ticker    accepted: the same run
ohlcv                               error: a repeated bar overlaps (``timestamp``)
exsim-csv / jsonl                   no ids: not in the corpus (two equal ``trade`` rows
                                    are two trades, as the format says)
=================================== ===================================================
"""

from __future__ import annotations

import gzip
import io
import json
import random
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from exsim.cli import main
from exsim.errors import InputError
from exsim.readers import detect_format, open_rows
from exsim.readers.rows import ANY, CLEAR, LEVEL, Row
from exsim.readers.rows import GAP as GAP_ROW  # (GAP: the corpus stage)
from exsim.replay import Strategy

T0_MS = 1_723_161_600_000  # 2024-08-09 00:00:00 UTC
T0_US = T0_MS * 1_000
T0_NS = T0_MS * 1_000_000
ROWS = 8  # data rows in a good file (a second or more apart: each one is seen by the run)


# =========================================================================== good files
def _px(k: int) -> str:
    """A BTCUSDT price on the 0.1 grid, moving with ``k``."""
    dimes = 618_000 + (k * 7) % 23
    return f"{dimes // 10}.{dimes % 10}"


def _side(k: int, a: str = "true", b: str = "false") -> str:
    return a if k % 2 else b


def binance_trades(n: int) -> list[str]:
    lines = ["id,price,qty,quote_qty,time,is_buyer_maker"]
    for k in range(n):
        lines.append(f"{5_000_000 + k},{_px(k)},0.0{10 + k % 7},618.0,{T0_MS + 1_000 * k},{_side(k)}")
    return lines


def binance_agg_trades(n: int) -> list[str]:
    lines = ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"]
    for k in range(n):
        lines.append(f"{2_000_000 + k},{_px(k)},0.0{10 + k % 7},{9_000 + 2 * k},{9_001 + 2 * k},{T0_MS + 1_000 * k},{_side(k)}")
    return lines


def binance_book_ticker(n: int) -> list[str]:
    lines = ["update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time"]
    for k in range(n):
        bid = _px(k)
        ask = f"{float(bid) + 0.1:.1f}"
        lines.append(f"{7_000_000 + 3 * k},{bid},1.{k % 9}00,{ask},2.{k % 7}00,{T0_MS + 1_000 * k},{T0_MS + 1_000 * k + 2}")
    return lines


KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)


def _klines(n: int, volume: str) -> list[str]:
    lines = [KLINE_HEADER]
    for k in range(n):
        o, c = _px(k), _px(k + 1)
        hi, lo = max(o, c, key=float), min(o, c, key=float)
        hi, lo = f"{float(hi) + 0.5:.1f}", f"{float(lo) - 0.5:.1f}"
        start = T0_MS + 60_000 * k
        lines.append(f"{start},{o},{hi},{lo},{c},{volume},{start + 59_999},0,60,0,0,0")
    return lines


def binance_klines(n: int) -> list[str]:
    return _klines(n, "12.345")


def binance_price_klines(n: int) -> list[str]:
    return _klines(n, "0")


def binance_premium_klines(n: int) -> list[str]:
    """Two-hour bars: a replay of eight of them crosses funding times, where they count."""
    lines = [KLINE_HEADER]
    for k in range(n):
        start = T0_MS + 7_200_000 * k
        close = f"-0.00{10 + 3 * k}0000"  # beyond the funding clamp: the rate moves with it
        lines.append(f"{start},-0.00100000,0.00020000,-0.00200000,{close},0,{start + 7_199_999},0,12,0,0,0")
    return lines


def binance_funding(n: int) -> list[str]:
    lines = ["calc_time,funding_interval_hours,last_funding_rate"]
    for k in range(n):
        lines.append(f"{T0_MS + 8 * 3_600_000 * k},8,0.000{k % 9}1000")
    return lines


# raw WebSocket captures: a snapshot, diffs that bridge it, and trades, quotes and marks
def _ws_messages(n: int) -> list[tuple[int, dict[str, Any]]]:
    """``(receive ns, message)``: line 1 the REST snapshot, then per step a trade, a diff,
    a bookTicker, two trades and a markPrice (see :data:`WS_TRADE`)."""
    snap = {"lastUpdateId": 100, "E": 1, "T": 1, "bids": [["61800.0", "1.000"], ["61799.9", "3.000"]], "asks": [["61800.1", "2.000"]]}
    out: list[tuple[int, dict[str, Any]]] = [(T0_NS, snap)]
    u = 100
    for k in range(max(1, n // 5 + 1)):
        t = T0_NS + 1_000_000_000 * (k + 1)
        first, final, prev = (95, 105, 94) if k == 0 else (u + 1, u + 5, u)
        u = final
        diff = {"e": "depthUpdate", "E": 1, "T": 1, "s": "BTCUSDT", "U": first, "u": final, "pu": prev,
                "b": [["61800.0", f"1.{k % 9}00"]], "a": [["61800.2", "0.500"]]}
        out.append((t, {"stream": "btcusdt@depth@0ms", "data": diff}))
        tick = {"e": "bookTicker", "u": final, "s": "BTCUSDT", "b": "61800.0", "B": f"1.{k % 9}00", "a": "61800.1", "A": "2.000", "T": 1, "E": 1}
        out.append((t + 1, {"stream": "btcusdt@bookTicker", "data": tick}))
        for j in range(2):
            trade = {"e": "trade", "E": 1, "T": 1, "s": "BTCUSDT", "t": 300 + 2 * k + j, "p": "61800.1", "q": f"0.0{10 + j}",
                     "X": "MARKET", "m": bool(j)}
            out.append((t + 2 + j, {"stream": "btcusdt@trade", "data": trade}))
        mark = {"e": "markPriceUpdate", "E": 1, "s": "BTCUSDT", "p": "61800.0", "i": "61799.9", "r": "0.0001", "T": 1}
        out.append((t + 5, {"stream": "btcusdt@markPrice@1s", "data": mark}))
    return out


WS_TRADE = 4  # a trade message's line in both captures (line 1: the snapshot or the header)


def hftbacktest(n: int) -> list[str]:
    return [f"{t} {json.dumps(m, separators=(',', ':'))}" for t, m in _ws_messages(n)[: 1 + n]]


def _seconds(ns: int) -> str:
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}".rstrip("0").rstrip(".")


def cryptofeed(n: int) -> list[str]:
    msgs = _ws_messages(n)[1 : 1 + n]
    lines = [f"wss://fstream.binance.com/stream?streams=btcusdt@depth@0ms/btcusdt@trade <-> {_seconds(T0_NS)}"]
    return lines + [f"{_seconds(t)}: {json.dumps(m)}" for t, m in msgs]


def cryptofeed_http(directory: Path) -> None:
    snap = _ws_messages(1)[0][1]
    url = "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
    (directory / "BINANCE_FUTURES.http.0.0").write_text(f"{url} -> {_seconds(T0_NS + 5_000_000)}: {json.dumps(snap)}\n")


TARDIS = "exchange,symbol,timestamp,local_timestamp"


def tardis_prints(n: int) -> list[str]:
    lines = [TARDIS + ",id,side,price,amount"]
    for k in range(n):
        t = T0_US + 1_000_000 * k
        lines.append(f"binance-futures,BTCUSDT,{t - 3},{t},{800_000 + k},{_side(k, 'sell', 'buy')},{_px(k)},0.0{10 + k % 7}")
    return lines


def tardis_l2(n: int) -> list[str]:
    lines = [TARDIS + ",is_snapshot,side,price,amount"]
    for k in range(n):
        t = T0_US + (0 if k < 2 else 1_000_000 * k)
        snap = "true" if k < 2 else "false"
        side, px = ("bid", "61800.0") if k % 2 == 0 else ("ask", "61800.1")
        lines.append(f"binance-futures,BTCUSDT,{t - 3},{t},{snap},{side},{px},{1 + k % 4}.500")
    return lines


def tardis_snapshot(n: int) -> list[str]:
    cols = ",".join(f"{s}[{i}].{w}" for i in range(2) for s, w in (("asks", "price"), ("asks", "amount"), ("bids", "price"), ("bids", "amount")))
    lines = [f"{TARDIS},{cols}"]
    for k in range(n):
        t = T0_US + 1_000_000 * k
        lines.append(f"binance-futures,BTCUSDT,{t - 3},{t},61800.1,{1 + k % 3}.000,61800.0,2.000,61800.2,0.500,61799.9,4.{k % 9}00")
    return lines


def tardis_quotes(n: int) -> list[str]:
    lines = [TARDIS + ",ask_amount,ask_price,bid_price,bid_amount"]
    for k in range(n):
        t = T0_US + 1_000_000 * k
        bid = _px(k)
        lines.append(f"binance-futures,BTCUSDT,{t - 3},{t},2.{k % 7}00,{float(bid) + 0.1:.1f},{bid},1.500")
    return lines


def tardis_ticker(n: int) -> list[str]:
    lines = [TARDIS + ",funding_timestamp,funding_rate,predicted_funding_rate,open_interest,last_price,index_price,mark_price"]
    for k in range(n):
        t = T0_US + 1_000_000 * k
        lines.append(f"binance-futures,BTCUSDT,{t - 3},{t},{T0_US + 28_800_000_000},0.0001,0.0001,80000.5,{_px(k)},{_px(k + 1)},{_px(k + 2)}")
    return lines


OHLCV_HEADER = "timestamp,open,high,low,close,volume"


def ohlcv(n: int) -> list[str]:
    return [OHLCV_HEADER] + [line.split(",", 1)[0] + "," + ",".join(line.split(",")[1:6]) for line in binance_klines(n)[1:]]


def exsim_csv(n: int) -> list[str]:
    lines = ["ts_ns,kind,symbol,side,price,qty,rate"]
    for k in range(n):
        t = T0_NS + 1_000_000_000 * k
        if k % 4 == 1:
            lines.append(f"{t},mark,BTCUSDT,,{_px(k)},,")
        else:
            lines.append(f"{t},trade,BTCUSDT,{_side(k, 'sell', 'buy')},{_px(k)},0.0{10 + k % 7},")
    return lines


def exsim_jsonl(n: int) -> list[str]:
    out = []
    for line in exsim_csv(n)[1:]:
        ts, kind, sym, side, px, qty, _ = line.split(",")
        obj: dict[str, Any] = {"ts_ns": int(ts), "kind": kind, "symbol": sym}
        obj.update({k: v for k, v in (("side", side), ("price", px), ("qty", qty)) if v})
        out.append(json.dumps(obj))
    return out


def prices_before(directory: Path) -> list[str]:
    """A good aggTrades file whose prints come before ``T0``: a price for funding to value
    positions at and for the premium to be sampled against (without one, funding settles
    nothing: :func:`test_funding_rows_without_any_price`); and one print after the funding
    and premium rows, since a replay spans its price data (rows of other series past it
    are left out)."""
    path = directory / "prices" / "BTCUSDT-aggTrades-2024-08-08.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = binance_agg_trades(5)
    times = [T0_MS - 1_000 * (4 - k) for k in range(4)] + [T0_MS + 8 * 3_600_000 * ROWS]
    lines[1:] = [",".join([*r.split(",")[:5], str(t), r.split(",")[6]]) for t, r in zip(times, lines[1:])]
    path.write_text("\n".join(lines) + "\n")
    return [str(path)]


@dataclass(frozen=True)
class Layout:
    """A format's good file: its name, its lines, and its columns (CSV layouts)."""

    fmt: str
    file_name: str
    lines: Callable[[int], list[str]]
    cols: dict[str, int] = field(default_factory=dict)  # price, qty, time, id, symbol -> column
    names: dict[str, str] = field(default_factory=dict)  # the same -> the field an error names
    siblings: Callable[[Path], None] | None = None  # files the reader reads beside it
    replay_with: Callable[[Path], list[str]] | None = None  # files a replay needs beside it
    options: tuple[str, ...] = ()  # replay options it needs (hours of data: coarse sampling)

    def write(self, directory: Path, lines: list[str], name: str | None = None) -> Path:
        path = directory / (name or self.file_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        if self.siblings is not None:
            self.siblings(directory)
        return path


def _csv(price: int, qty: int | None, time_: int, **names: str) -> dict[str, Any]:
    cols = {"price": price, "time": time_} | ({"qty": qty} if qty is not None else {})
    return {"cols": cols, "names": names}


LAYOUTS: dict[str, Layout] = {
    lay.fmt: lay
    for lay in (
        Layout("binance-trades", "BTCUSDT-trades-2024-08-09.csv", binance_trades,
               cols={"price": 1, "qty": 2, "time": 4, "id": 0}, names={"price": "price", "qty": "qty", "time": "time", "id": "id"}),
        Layout("binance-aggTrades", "BTCUSDT-aggTrades-2024-08-09.csv", binance_agg_trades,
               cols={"price": 1, "qty": 2, "time": 5, "id": 0},
               names={"price": "price", "qty": "quantity", "time": "transact_time", "id": "agg_trade_id"}),
        Layout("binance-bookTicker", "BTCUSDT-bookTicker-2024-08-09.csv", binance_book_ticker,
               cols={"price": 1, "qty": 2, "time": 5}, names={"price": "best_bid_price", "qty": "best_bid_qty", "time": "transaction_time"}),
        Layout("binance-klines", "BTCUSDT-1m-2024-08-09.csv", binance_klines,
               cols={"price": 1, "time": 0}, names={"price": "open", "time": "open_time"}),
        Layout("binance-markPriceKlines", "markPriceKlines/BTCUSDT-1m-2024-08-09.csv", binance_price_klines,
               cols={"price": 1, "time": 0}, names={"price": "open", "time": "open_time"}),
        Layout("binance-indexPriceKlines", "indexPriceKlines/BTCUSDT-1m-2024-08-09.csv", binance_price_klines,
               cols={"price": 1, "time": 0}, names={"price": "open", "time": "open_time"}),
        Layout("binance-premiumIndexKlines", "premiumIndexKlines/BTCUSDT-2h-2024-08-09.csv", binance_premium_klines,
               cols={"price": 4, "time": 0}, names={"price": "close", "time": "open_time"},
               replay_with=prices_before, options=("--sample", "3600s", "--mark-interval", "3600s")),
        Layout("binance-fundingRate", "BTCUSDT-fundingRate-2024-08.csv", binance_funding,
               cols={"price": 2, "time": 0}, names={"price": "last_funding_rate", "time": "calc_time"},
               replay_with=prices_before, options=("--sample", "3600s", "--mark-interval", "3600s")),
        Layout("binance-ws-hftbacktest", "usdm_btcusdt_20240809", hftbacktest),
        Layout("binance-ws-cryptofeed", "BINANCE_FUTURES.ws.1.0", cryptofeed, siblings=cryptofeed_http),
        Layout("tardis-trades", "binance-futures_trades_2024-08-09_BTCUSDT.csv", tardis_prints,
               cols={"price": 6, "qty": 7, "time": 3, "id": 4, "symbol": 1},
               names={"price": "price", "qty": "amount", "time": "local_timestamp", "id": "id", "symbol": "symbol"}),
        Layout("tardis-incremental_book_L2", "binance-futures_incremental_book_L2_2024-08-09_BTCUSDT.csv", tardis_l2,
               cols={"price": 6, "qty": 7, "time": 3, "symbol": 1},
               names={"price": "price", "qty": "amount", "time": "local_timestamp", "symbol": "symbol"}),
        Layout("tardis-book_snapshot", "binance-futures_book_snapshot_2_2024-08-09_BTCUSDT.csv", tardis_snapshot,
               cols={"price": 4, "qty": 5, "time": 3, "symbol": 1},
               names={"price": "asks[0].price", "qty": "asks[0].amount", "time": "local_timestamp", "symbol": "symbol"}),
        Layout("tardis-quotes", "binance-futures_quotes_2024-08-09_BTCUSDT.csv", tardis_quotes,
               cols={"price": 6, "qty": 7, "time": 3, "symbol": 1},
               names={"price": "bid_price", "qty": "bid_amount", "time": "local_timestamp", "symbol": "symbol"}),
        Layout("tardis-derivative_ticker", "binance-futures_derivative_ticker_2024-08-09_BTCUSDT.csv", tardis_ticker,
               cols={"price": 10, "time": 3, "symbol": 1},
               names={"price": "mark_price", "time": "local_timestamp", "symbol": "symbol"}),
        Layout("tardis-liquidations", "binance-futures_liquidations_2024-08-09_BTCUSDT.csv", tardis_prints,
               cols={"price": 6, "qty": 7, "time": 3, "id": 4, "symbol": 1},
               names={"price": "price", "qty": "amount", "time": "local_timestamp", "id": "id", "symbol": "symbol"}),
        Layout("ohlcv", "bars.csv", ohlcv, cols={"price": 1, "time": 0}, names={"price": "open", "time": "timestamp"}),
        Layout("exsim-csv", "events.csv", exsim_csv,
               cols={"price": 4, "qty": 5, "time": 0, "symbol": 2},
               names={"price": "price", "qty": "qty", "time": "ts_ns", "symbol": "symbol"}),
        Layout("exsim-jsonl", "events.jsonl", exsim_jsonl),
    )
}
FORMATS = list(LAYOUTS)


# =========================================================================== spoiling a file
BAD = 5  # the line a case spoils: the 4th data row of a CSV; a trade message in the captures
Spoil = Callable[[list[str]], tuple[list[str], int]]  # good lines -> (bad lines, the bad line's number)


def _cells(line: str) -> list[str]:
    return line.split(",")


def cell(col: int, value: str | Callable[[str], str], line: int = BAD) -> Spoil:
    """Column ``col`` of ``line`` replaced by ``value`` (or ``value(old)``)."""

    def spoil(lines: list[str]) -> tuple[list[str], int]:
        out = list(lines)
        parts = _cells(out[line - 1])
        parts[col] = value(parts[col]) if callable(value) else value
        out[line - 1] = ",".join(parts)
        return out, line

    return spoil


def cell_from(col: int, src: int, line: int = BAD) -> Spoil:
    """Column ``col`` of ``line`` copied from line ``src`` (an earlier time: backwards)."""
    return lambda lines: cell(col, _cells(lines[src - 1])[col], line)(lines)


def drop_last_cell(line: int = BAD) -> Spoil:
    def spoil(lines: list[str]) -> tuple[list[str], int]:
        out = list(lines)
        out[line - 1] = out[line - 1].rsplit(",", 1)[0]
        return out, line

    return spoil


def repeat_previous(line: int = BAD) -> Spoil:
    """Line ``line - 1`` again at ``line``: a duplicated row or message."""

    def spoil(lines: list[str]) -> tuple[list[str], int]:
        return [*lines[: line - 1], lines[line - 2], *lines[line - 1 :]], line

    return spoil


def _split_json(text: str) -> tuple[str, Any]:
    """``(prefix, object)`` of a capture line (``<ts> {...}`` or ``<ts>: {...}``) or a JSON line."""
    brace = text.index("{")
    return text[:brace], json.loads(text[brace:])


def message(edit: Callable[[Any], None], line: int = BAD) -> Spoil:
    """``edit`` applied to the JSON object of ``line`` (a capture's ``data``, else the object)."""

    def spoil(lines: list[str]) -> tuple[list[str], int]:
        out = list(lines)
        prefix, obj = _split_json(out[line - 1])
        edit(obj["data"] if "data" in obj else obj)
        out[line - 1] = prefix + json.dumps(obj)
        return out, line

    return spoil


def setter(key: str, value: Any) -> Callable[[Any], None]:
    return lambda obj: obj.__setitem__(key, value)


def deleter(key: str) -> Callable[[Any], None]:
    return lambda obj: obj.__delitem__(key)


def time_from(src: int, line: int = BAD) -> Spoil:
    """The receive time (the prefix) of a capture line copied from line ``src``."""

    def spoil(lines: list[str]) -> tuple[list[str], int]:
        out = list(lines)
        out[line - 1] = _split_json(lines[src - 1])[0] + out[line - 1][len(_split_json(out[line - 1])[0]) :]
        return out, line

    return spoil


def plus(delta: str) -> Callable[[str], str]:
    """Text plus ``delta`` (exact): ``plus('0.05')`` puts a price off a 0.1 grid."""
    from decimal import Decimal

    return lambda text: str(Decimal(text) + Decimal(delta))


def unchanged(lines: list[str]) -> tuple[list[str], int]:
    """The good file as it is (the case is in its name: :attr:`Bad.file_name`)."""
    return list(lines), 0


# =========================================================================== the corpus
READ = "read"  # the reader refuses the line
GRID = "grid"  # the reader keeps the text; the replay refuses it against the instrument's grid
SYMBOL = "symbol"  # the replay refuses the symbol (no such instrument)
GAP = "gap"  # a depth sequence break: a gap row, reported in the summary
SAME = "same"  # accepted, and harmless: the state is that of the file without the line


@dataclass(frozen=True)
class Bad:
    """One spoiled file and what must happen (see the module doc)."""

    fmt: str
    case: str
    spoil: Spoil
    field: str = ""  # the field the error names
    says: str = ""  # a phrase of the error's message
    stage: str = READ
    file_name: str = ""  # another name for the file (default: the layout's)
    args: tuple[str, ...] = ("--symbol", "BTCUSDT")  # replay options
    exact: bool = True  # SAME: the whole run is the same (else only the final state: a re-applied state)

    @property
    def id(self) -> str:
        return f"{self.fmt}:{self.case}"


#: a repeated row of these is applied again: the same final state, but book changes are logged again
REAPPLIED = {"tardis-incremental_book_L2", "tardis-book_snapshot"}


def csv_cases(fmt: str, *, size: bool = True, sign_field: str = "", dup: tuple[str, str, str] | None = None,
              grid_price: str = "price", extra: tuple[Bad, ...] = (), numeric: str = "is not an unsigned decimal number",
              n_fields: int = 0, back: str = "back", fine: bool = False) -> list[Bad]:  # fmt: skip
    """The usual cases of a CSV layout, from its columns (see :class:`Layout`).

    ``fine``: the price is a mark or index price, read at the venue's precision (up to 8
    decimals, finer than the tick): off its grid means a ninth decimal."""
    lay = LAYOUTS[fmt]
    c, n = lay.cols, lay.names
    out = [
        Bad(fmt, "wrong_column_count", drop_last_cell(), "row", f"fields; expected {n_fields}" if n_fields else "fields; expected"),
        Bad(fmt, "non_numeric", cell(c["price"], "61800.O"), n["price"], numeric),
        Bad(fmt, "time_backwards", cell_from(c["time"], BAD - 2), n["time"], back),
    ]
    if grid_price and fine:
        out.append(Bad(fmt, "off_grid_price", cell(c["price"], plus("0.000000005")), grid_price,
                       "is not a multiple of subtick 0.00000001", GRID))  # fmt: skip
    elif grid_price:
        out.append(Bad(fmt, "off_grid_price", cell(c["price"], plus("0.05")), grid_price, "is not a multiple of tick 0.1", GRID))
    if size:
        out.append(Bad(fmt, "off_grid_size", cell(c["qty"], plus("0.0005")), "qty", "is not a multiple of lot 0.001", GRID))
        out.append(Bad(fmt, "negative_size", cell(c["qty"], "-0.010"), n["qty"], "unsigned decimal"))
    elif sign_field:
        out.append(Bad(fmt, "negative_price", cell(c["price"], "-61800.0"), sign_field, "unsigned decimal"))
    if dup is not None:
        field_, says, stage = dup
        out.append(Bad(fmt, "duplicate_id", repeat_previous(), field_, says, stage, exact=fmt not in REAPPLIED))
    if "symbol" in c:
        out.append(Bad(fmt, "unknown_symbol", cell(c["symbol"], "NOSUCHUSDT"), "symbol", "unknown symbol 'NOSUCHUSDT'", SYMBOL, args=()))
    return out + list(extra)


def _binance_symbol(fmt: str) -> Bad:
    name = LAYOUTS[fmt].file_name
    folder, _, base = name.rpartition("/")
    return Bad(fmt, "unknown_symbol", unchanged, "symbol", "unknown symbol 'NOSUCHUSDT'", SYMBOL,
               file_name=(folder + "/" if folder else "") + base.replace("BTCUSDT", "NOSUCHUSDT"), args=())  # fmt: skip


def ws_cases(fmt: str) -> list[Bad]:
    ts_field = "local_receive_ts_ns" if fmt.endswith("hftbacktest") else "receive_ts"
    return [
        Bad(fmt, "wrong_column_count", message(deleter("q")), "trade.q", "missing field 'q'"),
        Bad(fmt, "non_numeric", message(setter("p", "61800.O")), "trade.p", "is not decimal text"),
        Bad(fmt, "off_grid_price", message(setter("p", "61800.15")), "price", "is not a multiple of tick 0.1", GRID),
        Bad(fmt, "off_grid_size", message(setter("q", "0.0105")), "qty", "is not a multiple of lot 0.001", GRID),
        Bad(fmt, "off_grid_depth_level", message(setter("a", [["61800.25", "0.500"]]), line=7), "price",
            "is not a multiple of tick 0.1", GRID),  # fmt: skip
        Bad(fmt, "negative_size", message(setter("q", "-0.010")), "trade.q", "is not decimal text"),
        Bad(fmt, "time_backwards", time_from(BAD - 2), ts_field, "goes back in time"),
        Bad(fmt, "duplicate_id", repeat_previous(), "trade.t", "duplicate print"),
        Bad(fmt, "duplicate_trade_id_going_back", message(setter("t", 299)), "trade.t", "goes back"),
        Bad(fmt, "duplicate_depth_diff", repeat_previous(line=8), stage=SAME),  # stale by Binance's rules: dropped, counted
        Bad(fmt, "unknown_symbol", message(setter("s", "NOSUCHUSDT")), "symbol", "unknown symbol 'NOSUCHUSDT'", SYMBOL, args=()),
        Bad(fmt, "depth_gap", message(setter("pu", 99), line=7), says="expected pu=105 (the previous diff's u), found pu=99",
            stage=GAP),  # fmt: skip
    ]


KLINE_CASES = dict(size=False, sign_field="open", dup=("open_time", "time goes backwards", READ))
CORPUS: list[Bad] = [
    *csv_cases("binance-trades", dup=("id", "repeats the previous row's id", READ), n_fields=6),
    _binance_symbol("binance-trades"),
    *csv_cases("binance-aggTrades", dup=("agg_trade_id", "repeats the previous row's agg_trade_id", READ), n_fields=7),
    _binance_symbol("binance-aggTrades"),
    *csv_cases("binance-bookTicker", dup=("", "", SAME), n_fields=7),
    _binance_symbol("binance-bookTicker"),
    *csv_cases("binance-klines", **KLINE_CASES, n_fields=12),  # type: ignore[arg-type]
    _binance_symbol("binance-klines"),
    *csv_cases("binance-markPriceKlines", **KLINE_CASES, grid_price="mark price", n_fields=12, fine=True),  # type: ignore[arg-type]
    *csv_cases("binance-indexPriceKlines", **KLINE_CASES, grid_price="index price", n_fields=12, fine=True),  # type: ignore[arg-type]
    *csv_cases("binance-premiumIndexKlines", size=False, dup=("open_time", "time goes backwards", READ), grid_price="",
               numeric="is not a decimal number", n_fields=12,
               extra=(Bad("binance-premiumIndexKlines", "off_grid_rate", cell(4, "-0.000012345"), "rate",
                          "is not a multiple of rate step 0.00000001", GRID),)),  # fmt: skip
    *csv_cases("binance-fundingRate", size=False, dup=("calc_time", "repeats the previous row's calc_time", READ), grid_price="",
               numeric="is not a decimal rate", n_fields=3,
               extra=(Bad("binance-fundingRate", "off_grid_rate", cell(2, "0.000100001"), "rate",
                          "is not a multiple of rate step 0.00000001", GRID),
                      Bad("binance-fundingRate", "negative_interval", cell(1, "-8"), "funding_interval_hours",
                          "is not a whole number of hours"))),  # fmt: skip
    *ws_cases("binance-ws-hftbacktest"),
    *ws_cases("binance-ws-cryptofeed"),
    *csv_cases("tardis-trades", dup=("id", "repeats the previous row's id", READ), n_fields=8),
    *csv_cases("tardis-liquidations", dup=("id", "repeats the previous row's id", READ), n_fields=8),
    *csv_cases("tardis-incremental_book_L2", dup=("", "", SAME), n_fields=8),
    *csv_cases("tardis-book_snapshot", dup=("", "", SAME), n_fields=12),
    *csv_cases("tardis-quotes", dup=("", "", SAME), n_fields=8),
    *csv_cases("tardis-derivative_ticker", size=False, sign_field="mark_price", dup=("", "", SAME), grid_price="mark price",
               n_fields=11, fine=True),  # fmt: skip
    *csv_cases("ohlcv", size=False, sign_field="open", dup=("timestamp", "bars must be in time order", READ), n_fields=6,
               back="bars must be in time order"),  # fmt: skip
    Bad("ohlcv", "unknown_symbol", unchanged, "symbol", "unknown symbol 'NOSUCHUSDT'", SYMBOL, args=("--symbol", "NOSUCHUSDT")),
    *csv_cases("exsim-csv", n_fields=7),
    Bad("exsim-jsonl", "wrong_column_count", message(setter("venue", "binance")), "venue", "unknown field(s) ['venue']"),
    Bad("exsim-jsonl", "non_numeric", message(setter("price", "61800.O")), "price", "is not an unsigned decimal number"),
    Bad("exsim-jsonl", "off_grid_price", message(setter("price", "61800.15")), "price", "is not a multiple of tick 0.1", GRID),
    Bad("exsim-jsonl", "off_grid_size", message(setter("qty", "0.0105")), "qty", "is not a multiple of lot 0.001", GRID),
    Bad("exsim-jsonl", "negative_size", message(setter("qty", "-0.010")), "qty", "is negative"),
    Bad("exsim-jsonl", "time_backwards", message(setter("ts_ns", T0_NS)), "ts_ns", "goes back in time"),
    Bad("exsim-jsonl", "unknown_symbol", message(setter("symbol", "NOSUCHUSDT")), "symbol", "unknown symbol 'NOSUCHUSDT'",
        SYMBOL, args=()),  # fmt: skip
]


# --------------------------------------------------------------------------- hostile values (issue 13)
# What an adversarial probe found, generated for every layout with the column: times out of
# the readers' window or not written in ASCII digits, numbers past Python's int-string limit,
# prices and sizes at the values the book reserves, JSON nested past the recursion limit,
# symbols that are not text. Each is a bad row: one line naming file:line:field, and
# --skip-bad-rows leaves it out (the generic tests above run on every one).
WINDOW = "outside the accepted time window 2009-01-01 .. 2100-01-01 UTC"


def _century_later(old: str) -> str:
    """The same epoch text 100 years later (a '2124' typo), in the text's own unit."""
    return str(int(old) + 100 * 365 * 86_400 * 10 ** (len(old) - 10))


HOSTILE_TIMES: dict[str, tuple[str | Callable[[str], str], str]] = {  # case -> (new text, a phrase of the error)
    "time_int64_max": ("9223372036854775807", WINDOW),
    "time_2_pow_64": ("18446744073709551616", WINDOW),
    "time_year_2124_typo": (_century_later, WINDOW),
    "time_1990": (lambda old: str(int(old) - 34 * 365 * 86_400 * 10 ** (len(old) - 10)), WINDOW),
    "time_4000_digits": ("9" * 4000, "(4,000 characters)"),
    "time_superscript_digit": (lambda old: old[:-1] + "²", ""),
    "time_arabic_indic_digits": (lambda old: old.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")), ""),
    "time_fullwidth_digits": (lambda old: old.translate(str.maketrans("0123456789", "０１２３４５６７８９")), ""),
    "time_plus_sign": (lambda old: "+" + old, ""),
    "time_underscore": (lambda old: old[:4] + "_" + old[4:], ""),
}
#: layouts whose price and size go to the instrument's grid unchanged (the GRID stage)
GRID_LAYOUTS = ("binance-trades", "binance-aggTrades", "binance-bookTicker", "tardis-trades", "tardis-incremental_book_L2",
                "tardis-quotes", "tardis-liquidations", "exsim-csv")
HOSTILE_PRICES = {  # case -> (column, new text, the field at the grid, a phrase of the error)
    "price_4400_digits": ("price", "9" * 4400, "price", "is too long"),
    "price_at_the_no_price_key": ("price", "461168601842738790.4", "price", "prices must be below 2^61 ticks"),
    "price_just_below_the_limit": ("price", "230584300921369395.2", "price", "prices must be below 2^61 ticks"),
    "size_at_the_unknown_size": ("qty", "4611686018427387.904", "qty", "sizes must be below 2^61 lots"),
    "size_100_digits": ("qty", "9" * 100, "qty", "is out of range"),
}


def hostile_csv_cases(fmt: str) -> list[Bad]:
    lay = LAYOUTS[fmt]
    out = [Bad(fmt, case, cell(lay.cols["time"], text), lay.names["time"], says) for case, (text, says) in HOSTILE_TIMES.items()]
    if fmt in GRID_LAYOUTS:
        out += [Bad(fmt, case, cell(lay.cols[col], text), field_, says, GRID) for case, (col, text, field_, says) in HOSTILE_PRICES.items()]
    return out


def raw_message(text: str, line: int = BAD) -> Spoil:
    """The JSON of ``line`` replaced by ``text`` (its time prefix kept)."""

    def spoil(lines: list[str]) -> tuple[list[str], int]:
        out = list(lines)
        out[line - 1] = _split_json(out[line - 1])[0] + text
        return out, line

    return spoil


def capture_time(new: str | Callable[[str], str], line: int = BAD) -> Spoil:
    """The receive time of a capture line replaced (``new(old)`` or ``new``)."""

    def spoil(lines: list[str]) -> tuple[list[str], int]:
        out = list(lines)
        prefix = _split_json(out[line - 1])[0]
        old = prefix.rstrip(": ")
        sep = prefix[len(old):]
        whole, dot, frac = old.partition(".")
        text = new(whole) if callable(new) else new
        out[line - 1] = text + (dot + frac if callable(new) else "") + sep + out[line - 1][len(prefix):]
        return out, line

    return spoil


DEEP = "[" * 100_000 + "]" * 100_000


def hostile_json_cases(fmt: str) -> list[Bad]:
    if fmt == "exsim-jsonl":
        return [
            Bad(fmt, "json_nested_deep", raw_message(DEEP), "line", "nested too deep"),
            Bad(fmt, "json_integer_past_4300_digits", raw_message('{"ts_ns": ' + "9" * 5000 + "}"), "line", "not JSON"),
            Bad(fmt, "symbol_a_number", message(setter("symbol", 5)), "symbol", "is not a symbol"),
            Bad(fmt, "symbol_a_list", message(setter("symbol", ["BTCUSDT"])), "symbol", "is not a symbol"),
            Bad(fmt, "time_2_pow_64", message(setter("ts_ns", 2**64)), "ts_ns", WINDOW),
            Bad(fmt, "time_year_2124_typo", message(setter("ts_ns", T0_NS + 100 * 365 * 86_400 * 10**9)), "ts_ns", WINDOW),
            Bad(fmt, "time_superscript_digit", message(setter("ts_ns", f"{T0_NS}²")), "ts_ns", "is not a whole number"),
            Bad(fmt, "price_plus_sign", message(setter("price", "+61800.0")), "price", "is not an unsigned decimal number"),
            Bad(fmt, "price_at_the_no_price_key", message(setter("price", "461168601842738790.4")), "price",
                "prices must be below 2^61 ticks", GRID),
        ]
    ts_field = "local_receive_ts_ns" if fmt.endswith("hftbacktest") else "receive_ts"
    scale = 1 if fmt.endswith("hftbacktest") else 10**9  # ns, or seconds with a fraction
    return [
        Bad(fmt, "json_nested_deep", raw_message(DEEP), "json", "nested too deep"),
        Bad(fmt, "json_integer_past_4300_digits", raw_message('{"stream":"btcusdt@trade","data":{"t":' + "9" * 5000 + "}}"),
            "json", "not JSON"),
        Bad(fmt, "symbol_a_number", message(setter("s", 5)), "trade.s", "is not a symbol"),
        Bad(fmt, "symbol_a_list", message(setter("s", ["BTCUSDT"])), "trade.s", "is not a symbol"),
        Bad(fmt, "stream_a_list", raw_message('{"stream":["x"],"data":{}}'), "stream", "is not a stream name"),
        Bad(fmt, "time_2_pow_64", capture_time(str(2**64) if scale == 1 else str(2**64 // 10**9)), ts_field, ""),
        Bad(fmt, "time_year_2124_typo", capture_time(_century_later), ts_field, WINDOW),
        Bad(fmt, "time_4000_digits", capture_time("9" * 4000), ts_field, "(4,000 characters)"),
        Bad(fmt, "time_superscript_digit", capture_time(lambda old: old[:-1] + "²"), ts_field, ""),
        Bad(fmt, "price_at_the_no_price_key", message(setter("p", "461168601842738790.4")), "price",
            "prices must be below 2^61 ticks", GRID),
        Bad(fmt, "trade_id_past_2_pow_63", message(setter("t", 2**70)), "trade.t", "", READ),
    ]


CORPUS += [
    *(bad for fmt in FORMATS if LAYOUTS[fmt].cols for bad in hostile_csv_cases(fmt)),
    *(bad for fmt in ("binance-ws-hftbacktest", "binance-ws-cryptofeed", "exsim-jsonl") for bad in hostile_json_cases(fmt)),
]
CASES = {bad.id: bad for bad in CORPUS}
assert len(CASES) == len(CORPUS), "two corpus entries with one id"


# =========================================================================== helpers
def write_case(directory: Path, bad: Bad, drop_bad_line: bool = False) -> tuple[Path, int]:
    """The spoiled file (or, ``drop_bad_line``, the same file without its bad line) and
    the number of the bad line."""
    lay = LAYOUTS[bad.fmt]
    lines, line = bad.spoil(lay.lines(ROWS))
    if drop_bad_line:
        del lines[line - 1]
    return lay.write(directory, lines, bad.file_name or None), line


def read_all(path: Path, fmt: str) -> list[Any]:
    """Every row of ``path`` read as ``fmt`` (an OHLCV file names no symbol: BTCUSDT)."""
    return list(open_rows(path, fmt, "BTCUSDT" if fmt == "ohlcv" else None)[1])


def replay(path: Path, fmt: str, *options: str, args: tuple[str, ...] = ("--symbol", "BTCUSDT")) -> list[str]:
    """``exsim replay`` argv for ``path`` (with the files its replay needs beside it)."""
    lay = LAYOUTS[fmt]
    others = lay.replay_with(path.parent.parent) if lay.replay_with is not None else []
    return ["replay", str(path), *others, *args, "--no-progress", *lay.options, *options]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``exsim ARGV`` in-process: (exit code, stdout, stderr). Any exception but the
    documented exits fails the test (a traceback is never an answer)."""
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line_error(rc: int, out: str, err: str, *phrases: str) -> None:
    """Exit 2, nothing on stdout, exactly one line ``exsim: error: ...`` holding ``phrases``."""
    assert rc == 2, (rc, out, err)
    assert out == ""
    assert err.startswith("exsim: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in err, (phrase, err)


def summary_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "summary.json").read_text())  # type: ignore[no-any-return]


class Observer(Strategy):
    """What a run lets a strategy see of the market — every replayed trade, venue book
    update and mark, in order — kept for the test to compare (it places no order)."""

    last: Observer | None = None

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []
        Observer.last = self

    def on_trade(self, ctx: Any, trade: Any) -> None:
        self.seen.append(("trade", *trade))

    def on_book(self, ctx: Any, update: Any) -> None:
        self.seen.append(("book", *update))

    def on_mark(self, ctx: Any, mark: Any) -> None:
        self.seen.append(("mark", *mark))


@dataclass
class Run:
    """One observed ``exsim replay``: its summary, its event log (with every book change)
    and what the strategy saw."""

    summary: dict[str, Any]
    events: list[str]
    seen: list[tuple[Any, ...]]
    printed: str  # the summary as printed

    def trace(self) -> tuple[str, list[str], list[tuple[Any, ...]]]:
        """Everything the bad row could have touched: the final state, every event, every market update seen."""
        return self.summary["state_hash"], self.events, self.seen


def observed_run(path: Path, bad: Bad, run_dir: Path, capsys: pytest.CaptureFixture[str], *options: str) -> Run:
    """``exsim replay`` of ``path`` with :class:`Observer` and ``--log-book``; it must succeed."""
    argv = replay(path, bad.fmt, "--strategy", f"{__name__}:Observer", "--log-book", "--out", str(run_dir), *options, args=bad.args)
    rc, out, err = run_cli(argv, capsys)
    assert (rc, err) == (0, ""), err
    assert Observer.last is not None
    events = (run_dir / "events.jsonl").read_text().splitlines()
    return Run(summary_of(run_dir), events, Observer.last.seen, out)


def is_depth_line(path: Path, bad: Bad, line: int) -> bool:
    """Whether line ``line`` of ``path`` gives depth rows (a diff's or a snapshot's levels)."""
    where = f"{path}:{line}"
    return any(r.where == where and r.kind in (LEVEL, CLEAR) for r in read_all(path, bad.fmt))


def depth_gap_run(
    path: Path, bad: Bad, line: int, run_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Run:
    """What a skipped bad depth line must give: the run of ``path`` (same format, same
    options) whose reader gives, in the line's place, one ``gap`` row and then no ``level``
    row of its symbol until the next snapshot (a ``clear`` row) — what a reader does at a
    break in a diff sequence."""
    from exsim.replay import runner

    where = f"{path}:{line}"

    def with_a_gap(rows: Iterator[Row]) -> Iterator[Row]:
        gapped = waiting = False
        for r in rows:
            if r.where == where:
                if not gapped:
                    gapped = waiting = True
                    yield r._replace(kind=GAP_ROW, side=ANY, price="", qty="", rate="a break in the depth")
                continue
            if waiting and r.kind == LEVEL:
                continue
            if r.kind == CLEAR:
                waiting = False
            yield r

    real = runner.open_rows

    def open_with_a_gap(p: Any, fmt: str | None = None, symbol: str | None = None) -> tuple[str, Iterator[Row]]:
        fmt, rows = real(p, fmt, symbol)
        return fmt, (with_a_gap(rows) if str(p) == str(path) else rows)

    with monkeypatch.context() as patch:
        patch.setattr(runner, "open_rows", open_with_a_gap)
        return observed_run(path, bad, run_dir, capsys)


def corpus(*stages: str) -> list[Any]:
    return [pytest.param(b, id=b.id) for b in CORPUS if b.stage in stages]


# =========================================================================== good files stay good
@pytest.mark.parametrize("fmt", FORMATS)
def test_good_file_is_detected_read_and_replayed(fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The corpus's base files are valid: each spoiled file differs from one by its spoil only."""
    lay = LAYOUTS[fmt]
    path = lay.write(tmp_path / "data", lay.lines(ROWS))
    assert detect_format(path) == fmt
    assert read_all(path, fmt)
    rc, out, err = run_cli(replay(path, fmt), capsys)
    assert (rc, err) == (0, "") and "state hash" in out


# =========================================================================== row cases
@pytest.mark.parametrize("bad", corpus(READ))
def test_reader_error_names_file_line_and_field(bad: Bad, tmp_path: Path) -> None:
    """The reader raises InputError (no other type) naming path:line, the field and the fault."""
    path, line = write_case(tmp_path / "data", bad)
    with pytest.raises(InputError) as info:
        read_all(path, bad.fmt)
    err = info.value
    assert (err.where, err.field) == (f"{path}:{line}", bad.field), str(err)
    assert str(err).startswith(f"{path}:{line}: field {bad.field!r}: ") and bad.says in str(err)


@pytest.mark.parametrize("bad", corpus(GRID, SYMBOL, SAME, GAP))
def test_reader_keeps_what_only_the_replay_can_judge(bad: Bad, tmp_path: Path) -> None:
    """Off-grid text, an unknown symbol, a stale diff, a gap: the reader passes them on as rows
    (text verbatim: a reader knows no instrument), each row still naming its line."""
    path, line = write_case(tmp_path / "data", bad)
    rows = read_all(path, bad.fmt)
    assert rows and all(r.where.rpartition(":")[0] == str(path) or ".http." in r.where for r in rows)
    if bad.stage in (GRID, SYMBOL, GAP) and line:
        assert any(r.where == f"{path}:{line}" for r in rows)


@pytest.mark.parametrize("bad", corpus(READ, GRID))
def test_replay_stops_with_one_line(bad: Bad, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`exsim replay FILE --symbol BTCUSDT`: one `exsim: error:` line naming file:line and field; exit 2."""
    path, line = write_case(tmp_path / "data", bad)
    rc, out, err = run_cli(replay(path, bad.fmt, args=bad.args), capsys)
    assert_one_line_error(rc, out, err, f"exsim: error: {path}:{line}: field {bad.field!r}: ", bad.says)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_missing_row_shows_in_the_trace(fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The oracle of the --skip-bad-rows tests is not blind: a file without line BAD runs
    differently (state, events or what the strategy saw) from the whole file."""
    bad = Bad(fmt, "none", lambda lines: (list(lines), BAD))
    whole, _ = write_case(tmp_path / "whole", bad)
    less, _ = write_case(tmp_path / "less", bad, drop_bad_line=True)
    traces = [observed_run(p, bad, tmp_path / f"run-{i}", capsys).trace() for i, p in enumerate((whole, less))]
    assert traces[0] != traces[1]


@pytest.mark.parametrize("bad", corpus(READ, GRID))
def test_skip_bad_rows_counts_the_row_and_leaves_no_trace(
    bad: Bad, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--skip-bad-rows: the run completes, summary.json counts the line (naming it), and the
    run is that of the file without the line (every row of it): the same final state hash,
    the same events (every book change included) and the same market updates seen by the
    strategy. A bad depth line is a break in the depth instead (:func:`depth_gap_run`)."""
    path, line = write_case(tmp_path / "data", bad)
    skipped = observed_run(path, bad, tmp_path / "run", capsys, "--skip-bad-rows")
    assert skipped.summary["bad_rows"] == 1 and "bad rows skipped: 1" in skipped.printed
    assert skipped.summary["bad_row_examples"][0].startswith(f"{path}:{line}: field {bad.field!r}: ")
    if bad.stage == GRID and is_depth_line(path, bad, line):
        assert skipped.summary["depth_gaps"] == 1 and "depth gaps: 1" in skipped.printed
        notes = [n["text"] for n in skipped.summary["notes"]]
        assert any(f"{path}:{line}: bad depth line skipped (field {bad.field!r}: " in n and "depth dropped" in n for n in notes), notes
        reference = depth_gap_run(path, bad, line, tmp_path / "gap-run", capsys, monkeypatch)
        assert reference.summary["depth_gaps"] == 1
    else:
        assert skipped.summary["depth_gaps"] == 0
        clean, _ = write_case(tmp_path / "clean", bad, drop_bad_line=True)
        reference = observed_run(clean, bad, tmp_path / "clean-run", capsys)
    assert reference.summary["bad_rows"] == 0
    assert skipped.trace() == reference.trace()


@pytest.mark.parametrize("bad", corpus(SAME))
def test_harmless_repeat_is_accepted_and_changes_nothing(bad: Bad, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A repeated state (a quote, a level, a mark, a stale depth diff) is no error and the
    run is that of the file without it."""
    path, _ = write_case(tmp_path / "data", bad)
    clean, _ = write_case(tmp_path / "clean", bad, drop_bad_line=True)
    runs = [observed_run(p, bad, tmp_path / f"run-{i}", capsys) for i, p in enumerate((path, clean))]
    assert [(r.summary["bad_rows"], r.summary["depth_gaps"]) for r in runs] == [(0, 0), (0, 0)]
    if bad.exact:
        assert runs[0].trace() == runs[1].trace()
    else:  # the repeated levels are set again to the same sizes
        assert runs[0].summary["state_hash"] == runs[1].summary["state_hash"]
        assert runs[0].events != runs[1].events


@pytest.mark.parametrize("bad", corpus(SYMBOL))
@pytest.mark.parametrize("skip", [False, True], ids=["stop", "skip-bad-rows"])
def test_unknown_symbol_is_one_line(bad: Bad, skip: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A symbol no instrument has stops the run (also with --skip-bad-rows: the run's instruments
    come from the data), one line naming the field and the symbol, with suggestions."""
    path, _ = write_case(tmp_path / "data", bad)
    options = ("--skip-bad-rows",) if skip else ()
    rc, out, err = run_cli(replay(path, bad.fmt, *options, args=bad.args), capsys)
    assert_one_line_error(rc, out, err, "field 'symbol': ", bad.says, "shipped: ")


@pytest.mark.parametrize("bad", [b for b in corpus(SYMBOL) if not b.values[0].file_name and not b.values[0].args])  # a row's symbol
def test_unknown_symbol_names_its_first_row(bad: Bad, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The unknown symbol's error names the row it came from, like every other bad value."""
    path, line = write_case(tmp_path / "data", bad)
    rc, out, err = run_cli(replay(path, bad.fmt, args=bad.args), capsys)
    assert_one_line_error(rc, out, err, f"exsim: error: {path}:{line}: field 'symbol': unknown symbol 'NOSUCHUSDT'")


@pytest.mark.parametrize("bad", corpus(GAP))
def test_depth_gap_is_reported_not_repaired(bad: Bad, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A `pu` that does not follow the previous diff's `u`: one gap row; the depth stops (no
    level row after it: nothing is patched over); the summary counts it and says why."""
    path, line = write_case(tmp_path / "data", bad)
    reader = open_rows(path, bad.fmt)[1]
    rows = list(reader)
    gaps = [i for i, r in enumerate(rows) if r.kind == GAP_ROW]
    assert len(gaps) == 1 and rows[gaps[0]].where == f"{path}:{line}" and bad.says in rows[gaps[0]].rate
    assert not [r for r in rows[gaps[0] :] if r.kind == LEVEL]  # no level row after the gap
    assert reader.stats.gaps == 1  # type: ignore[attr-defined]
    rc, out, err = run_cli(replay(path, bad.fmt, "--out", str(tmp_path / "run"), args=bad.args), capsys)
    assert (rc, err) == (0, "")
    assert "depth gaps: 1" in out
    summary = summary_of(tmp_path / "run")
    assert summary["depth_gaps"] == 1 and summary["bad_rows"] == 0
    notes = [n["text"] for n in summary["notes"]]
    assert any(f"{path}:{line}" in n and bad.says in n and "depth dropped" in n for n in notes), notes


# =========================================================================== damaged files
def _compress(data: bytes, how: str) -> bytes:
    if how == "gz":
        return gzip.compress(data, mtime=0)
    if how == "zst":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.csv", data)
    return buf.getvalue()


def truncated(fmt: str, how: str, directory: Path) -> Path:
    """A good file of a thousand rows and more, compressed, cut in the middle (a valid
    header and the first half of the stream: an interrupted download)."""
    lay = LAYOUTS[fmt]
    packed = _compress("".join(line + "\n" for line in lay.lines(1_200)).encode(), how)
    path = directory / f"{lay.file_name}.{how}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(packed[: len(packed) // 2])
    if lay.siblings is not None:
        lay.siblings(path.parent)
    return path


@pytest.mark.parametrize("how", ["gz", "zst", "zip"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_compressed_file_names_the_first_unread_line(fmt: str, how: str, tmp_path: Path) -> None:
    """Rows come up to the cut, then an InputError naming the first line that cannot be read,
    the 'compression' field and the truncation; never a silently shorter file (zstd's
    reader ends quietly inside a frame: exsim checks the frame is complete)."""
    path = truncated(fmt, how, tmp_path / "data")
    rows: list[Any] = []
    with pytest.raises(InputError) as info:
        rows.extend(open_rows(path, fmt, "BTCUSDT" if fmt == "ohlcv" else None)[1])
    err = info.value
    name, _, line = err.where.rpartition(":")
    assert name == str(path) and line.isdigit() and err.field == "compression", str(err)
    if how == "zip":  # a zip's directory is at its end: nothing can be read
        assert line == "1" and "cannot open" in str(err)
    else:  # gzip yields what it decoded before the cut; zstd whole blocks (here the cut is inside the first)
        assert int(line) > (100 if how == "gz" else 0) and "truncated" in str(err)
        assert all(int(r.where.rpartition(":")[2]) < int(line) for r in rows if r.where.startswith(str(path)))


@pytest.mark.parametrize("skip", [False, True], ids=["stop", "skip-bad-rows"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_gzip_stops_the_replay(fmt: str, skip: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One line naming file:line and 'compression'; exit 2 — also with --skip-bad-rows: a
    truncated file is not a bad row to pass over."""
    path = truncated(fmt, "gz", tmp_path / "data")
    coarse = ["--sample", "3600s", "--mark-interval", "3600s"] if not LAYOUTS[fmt].options else []  # hours of bars: fewer samples
    rc, out, err = run_cli(replay(path, fmt, *coarse, *(["--skip-bad-rows"] if skip else [])), capsys)
    assert_one_line_error(rc, out, err, f"exsim: error: {path}:", "field 'compression': ", "truncated")


EMPTY = {"empty": b"", "empty-gzip": gzip.compress(b"", mtime=0)}


@pytest.mark.parametrize("kind", list(EMPTY))
@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_file(fmt: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The reader (format given) and the replay (format detected) both refuse it, naming line 1."""
    lay = LAYOUTS[fmt]
    path = lay.write(tmp_path / "data", [], lay.file_name + (".gz" if kind == "empty-gzip" else ""))
    path.write_bytes(EMPTY[kind])
    with pytest.raises(InputError) as info:
        read_all(path, fmt)
    assert (info.value.where, info.value.field) == (f"{path}:1", "line") and "the file is empty" in str(info.value)
    rc, out, err = run_cli(replay(path, fmt), capsys)
    assert_one_line_error(rc, out, err, f"exsim: error: {path}:1: field 'line': the file is empty")


GARBAGE_BYTES = 5 << 20


@pytest.fixture(scope="module")
def garbage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """5 MB of seeded random bytes: printable (with line breaks), printable on one line, binary."""
    rng = random.Random(7)
    raw = rng.randbytes(GARBAGE_BYTES)
    printable = bytes(range(32, 127)) + b"\t\n\r"
    one_line = bytes(range(32, 127))
    folder = tmp_path_factory.mktemp("garbage")
    out = {}
    for kind, data in (
        ("printable", bytes(printable[b % len(printable)] for b in raw[: 1 << 16]) * (GARBAGE_BYTES >> 16)),
        ("printable-one-line", bytes(one_line[b % len(one_line)] for b in raw[: 1 << 16]) * (GARBAGE_BYTES >> 16)),
        ("binary", raw),
    ):
        (folder / kind).write_bytes(data)
        out[kind] = folder / kind
    return out


class _CountingRaw(io.RawIOBase):
    """A file read in binary, counting the bytes read from it."""

    def __init__(self, path: Any, counter: list[int]) -> None:
        super().__init__()
        self._f = open(path, "rb", buffering=0)  # noqa: SIM115 - closed with this stream
        self._counter = counter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._f.readinto(buffer) or 0
        self._counter[0] += n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Bytes exsim's readers read from plain files (``exsim.readers.opening``'s ``open`` counted)."""
    from exsim.readers import opening

    counter = [0]

    def counting_open(path: Any, mode: str = "r", encoding: str | None = None, newline: str | None = None) -> Any:
        buffered = io.BufferedReader(_CountingRaw(path, counter))
        return buffered if "b" in mode else io.TextIOWrapper(buffered, encoding=encoding, newline=newline)

    monkeypatch.setattr(opening, "open", counting_open, raising=False)
    return counter


@pytest.mark.parametrize("kind", ["printable", "printable-one-line", "binary"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_garbage_fails_fast_on_its_first_line(
    fmt: str, kind: str, garbage: dict[str, Path], bytes_read: list[int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """5 MB of garbage under a format's file name: an InputError on line 1 naming a field,
    after reading a small part of the file (no hang, no memory blow-up); the replay too."""
    lay = LAYOUTS[fmt]
    path = tmp_path / "data" / lay.file_name
    path.parent.mkdir(parents=True)
    path.symlink_to(garbage[kind])
    if lay.siblings is not None:
        lay.siblings(path.parent)
    with pytest.raises(InputError) as info:
        read_all(path, fmt)
    assert bytes_read[0] <= (1 << 20) + (1 << 17), bytes_read[0]  # at most the first line's limit, and a buffer
    err = info.value
    assert err.where == f"{path}:1" and err.field, str(err)
    bytes_read[0] = 0
    rc, out, err_text = run_cli(replay(path, fmt), capsys)
    assert_one_line_error(rc, out, err_text, f"exsim: error: {path}:1: field ")
    assert bytes_read[0] <= (1 << 20) + (1 << 17)


# =========================================================================== funding before any price
def test_funding_rows_without_any_price(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Funding rows and no price at all: nothing can have filled, so no position is open and
    each settlement pays nothing — a no-op, as on a venue (see
    tests/exchange/test_funding_without_price.py); the run completes without a word."""
    lay = LAYOUTS["binance-fundingRate"]
    path = lay.write(tmp_path / "data", lay.lines(ROWS))
    rc, out, err = run_cli(["replay", str(path), "--symbol", "BTCUSDT", "--no-progress", "--out", str(tmp_path / "run")], capsys)
    assert (rc, err) == (0, "") and "state hash" in out
    summary = summary_of(tmp_path / "run")
    assert summary["rows_by_kind"] == {"funding": ROWS} and summary["bad_rows"] == 0
    assert summary["account"]["funding_payments"] == 0
    events = (tmp_path / "run" / "events.jsonl").read_text()
    assert '"Funding' not in events


# =========================================================================== hostile files (issue 13)
LONG_LINE = 7  # past the first lines format detection reads


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_long_line_anywhere_is_refused_naming_it(fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The 1 MiB line limit covers every line of every format, not only the first five: a
    2 MiB seventh line is refused, naming it and the 'line' field, before it is read whole."""
    lay = LAYOUTS[fmt]
    lines = lay.lines(ROWS)
    lines[LONG_LINE - 1] = "7" * (2 << 20)
    path = lay.write(tmp_path / "data", lines)
    with pytest.raises(InputError) as info:
        read_all(path, fmt)
    assert (info.value.where, info.value.field) == (f"{path}:{LONG_LINE}", "line")
    rc, out, err = run_cli(replay(path, fmt), capsys)
    assert_one_line_error(rc, out, err, f"exsim: error: {path}:{LONG_LINE}: field 'line': longer than 1,048,576 characters")


def test_a_line_at_the_limit_is_read(tmp_path: Path) -> None:
    """A line of exactly 1 MiB (its line break not counted, CRLF or LF) is a line like any other."""
    from exsim.readers.opening import MAX_LINE_CHARS, numbered_lines

    path = tmp_path / "x.txt"
    path.write_text("a\r\n" + "b" * MAX_LINE_CHARS + "\r\n" + "c" * MAX_LINE_CHARS + "\nd", newline="")
    assert [(n, len(text)) for n, text in numbered_lines(path)] == [(1, 1), (2, MAX_LINE_CHARS), (3, MAX_LINE_CHARS), (4, 1)]


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A Binance trades file as .gz, .zip and .zst: a header, five rows, then a 1 GiB line
    (tests/readers/bombs.py makes them without writing the gigabyte)."""
    from tests.readers.bombs import BOMBS

    directory = tmp_path_factory.mktemp("bombs")
    head = "".join(line + "\n" for line in binance_trades(5)).encode()
    return {how: make(directory / f"BTCUSDT-trades-2024-08-09.csv.{how}", head) for how, make in BOMBS.items()}


MEMORY_CAP = 300 << 20  # bytes of address space the refusing process may use


def _capped() -> None:  # (runs in the child, before exec)
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.mark.parametrize("how", ["gz", "zip", "zst"])
def test_a_compressed_bomb_is_refused_in_bounded_memory(how: str, bombs: dict[str, Path], tmp_path: Path) -> None:
    """A 1 MB .gz/.zip or 33 KB .zst whose seventh line is 1 GiB long: `exsim replay` in a
    process limited to 300 MB of address space prints one line naming line 7 and exits 2
    (before: read whole, 2.1 GB; the .zst reader held whole decompressed chunks)."""
    import subprocess
    import sys

    path = bombs[how]
    assert path.stat().st_size < (40_000 if how == "zst" else 1_100_000)
    proc = subprocess.run(
        [sys.executable, "-m", "exsim.cli", "replay", str(path), "--no-progress", "--out", str(tmp_path / "run")],
        preexec_fn=_capped, capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
    )
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr[-2000:]
    assert proc.stderr == (f"exsim: error: {path}:7: field 'line': longer than 1,048,576 characters without a line break: "
                           "not a line-oriented text data file\n")


def _zst(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize("trailer", [b"garbage!", b"\x28\xb5\x2f\xfd", b"\x00" * 3])
def test_zst_trailing_bytes_name_the_line_after_the_last(trailer: bytes, tmp_path: Path) -> None:
    """Bytes after the last zstd frame (garbage, a cut frame header): every line is read,
    then an error naming the line after the last one and 'compression' (it once named line 1)."""
    lines = exsim_csv(ROWS)
    path = tmp_path / "events.csv.zst"
    path.write_bytes(_zst("".join(line + "\n" for line in lines).encode()) + trailer)
    rows: list[Row] = []
    with pytest.raises(InputError) as info:
        rows.extend(open_rows(path, "exsim-csv")[1])
    assert (info.value.where, info.value.field) == (f"{path}:{len(lines) + 1}", "compression")
    assert len(rows) == ROWS


def test_zst_of_many_frames_and_a_skippable_frame_is_read_whole(tmp_path: Path) -> None:
    """Several frames (as `zstd` writes for concatenated files) and a skippable frame read
    as one stream: the frame walk accepts what the format allows."""
    lines = [line + "\n" for line in exsim_csv(ROWS)]
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    path = tmp_path / "events.csv.zst"
    path.write_bytes(_zst("".join(lines[:4]).encode()) + skippable + _zst("".join(lines[4:]).encode()))
    assert len(list(open_rows(path, "exsim-csv")[1])) == ROWS


def test_an_encrypted_zip_member_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An encrypted zip member (which zipfile would refuse with a RuntimeError) is an
    error naming line 1 and 'compression'."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("BTCUSDT-trades-2024-08-09.csv", "\n".join(binance_trades(ROWS)) + "\n")
    data = bytearray(buf.getvalue())
    data[6] |= 1  # the "encrypted" flag, in the local header and in the central directory
    data[data.rfind(b"PK\x01\x02") + 8] |= 1
    path = tmp_path / "BTCUSDT-trades-2024-08-09.csv.zip"
    path.write_bytes(bytes(data))
    rc, out, err = run_cli(["replay", str(path), "--no-progress"], capsys)
    assert_one_line_error(rc, out, err, f"exsim: error: {path}:1: field 'compression': ", "is encrypted")


def test_a_bom_before_the_exsim_csv_header_is_ignored(tmp_path: Path) -> None:
    """exsim-csv, like the venue CSV readers, reads a file saved with a UTF-8 byte-order mark."""
    lay = LAYOUTS["exsim-csv"]
    plain = lay.write(tmp_path / "a", lay.lines(ROWS))
    marked = lay.write(tmp_path / "b", ["\ufeff" + lay.lines(ROWS)[0], *lay.lines(ROWS)[1:]])
    assert detect_format(marked) == "exsim-csv"
    assert [r[:7] for r in read_all(marked, "exsim-csv")] == [r[:7] for r in read_all(plain, "exsim-csv")]


def test_a_plus_signed_size_is_not_called_negative(tmp_path: Path) -> None:
    """'+61801.0' is refused as not an unsigned decimal (it once said "is negative")."""
    lay = LAYOUTS["exsim-jsonl"]
    lines, line = message(setter("qty", "+0.010"))(lay.lines(ROWS))
    path = lay.write(tmp_path / "data", lines)
    with pytest.raises(InputError) as info:
        read_all(path, "exsim-jsonl")
    assert "is not an unsigned decimal number" in str(info.value) and "negative" not in str(info.value)
