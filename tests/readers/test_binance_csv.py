"""Binance public-data CSV readers (exsim.readers.binance_csv) on small files written here.

The values imitate data.binance.vision USDⓈ-M files for BTCUSDT on 2024-08-08 (there is
no Binance CSV sample in shared/data): each test writes the file, with or without its
header line, plain or compressed as Binance ships it (.zip) or as users store it (.gz).
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.readers import binance_csv
from exsim.readers.binance_csv import KLINE_HEADER, READERS, sniff
from exsim.readers.rows import ANY, FUNDING, INDEX, MARK, PREMIUM, QUOTE, TRADE, Row

from .checks import assert_names_place

MS = 1_000_000  # ns per ms
T0_MS = 1_723_075_200_000  # 2024-08-08 00:00:00 UTC

AGG_HEADER = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
AGG_ROWS = [
    "2266084771,55110.10,0.002,5147081093,5147081093,1723075200022,true",
    "2266084772,55110.20,0.120,5147081094,5147081096,1723075200022,false",
    "2266084773,55110.20,0.010,5147081097,5147081097,1723075200145,false",
    "2266084774,55109.90,1.337,5147081098,5147081104,1723075200301,true",
]
TRADES_HEADER = "id,price,qty,quote_qty,time,is_buyer_maker"
TRADES_ROWS = [
    "5147081093,55110.10,0.002,110.22020,1723075200022,true",
    "5147081094,55110.20,0.050,2755.51000,1723075200022,false",
    "5147081095,55110.20,0.070,3857.71400,1723075200022,false",
]
BOOK_HEADER = "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time"
BOOK_ROWS = [
    "5062540011021,55110.10,3.614,55110.20,0.529,1723075200009,1723075200014",
    "5062540011297,55110.10,3.614,55110.20,0.412,1723075200021,1723075200026",
]
KLINE_ROWS = [  # up bar (close >= open), then down bar (close < open)
    "1723075200000,55110.10,55180.00,55080.50,55170.20,412.337,1723075259999,22733018.71560,5311,240.118,13237790.30420,0",
    "1723075260000,55170.20,55175.00,55020.00,55031.60,388.101,1723075319999,21385170.09120,4876,150.020,8265541.00380,0",
]
MARK_ROWS = [
    "1723075200000,55121.53016304,55190.10000000,55090.60000000,55180.78500000,0,1723075259999,0,60,0,0,0",
    "1723075260000,55180.78500000,55185.00000000,55031.20000000,55041.98260870,0,1723075319999,0,60,0,0,0",
]
PREMIUM_ROWS = [
    "1723075200000,-0.00016402,-0.00010512,-0.00019887,-0.00012210,0,1723075259999,0,12,0,0,0",
    "1723075260000,-0.00012210,0.00001340,-0.00014001,0.00000520,0,1723075319999,0,12,0,0,0",
]
FUNDING_HEADER = "calc_time,funding_interval_hours,last_funding_rate"
FUNDING_ROWS = [
    "1722470400000,8,0.00010000",
    "1722499200000,8,0.00006841",
    "1722528000000,8,-0.00002315",
]


def write(tmp_path: Path, name: str, lines: list[str], compression: str = "") -> Path:
    """Write ``lines`` as ``name`` (a .csv name), plain, ``zip`` (as Binance ships) or ``gz``."""
    text = "\n".join(lines) + "\n"
    if compression == "zip":
        path = tmp_path / name.replace(".csv", ".zip")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(name, text)
    elif compression == "gz":
        path = tmp_path / (name + ".gz")
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
    return path


def content(rows: list[Row]) -> list[tuple[object, ...]]:
    """Rows without the file path (kept: every field and the line number)."""
    return [(*r[:7], r.where.rsplit(":", 1)[1]) for r in rows]


class TestTrades:
    def test_agg_trades_rows(self, tmp_path: Path) -> None:
        """aggTrades rows keep the price/qty text, time in ns, aggressor SELL when the buyer made."""
        path = write(tmp_path, "BTCUSDT-aggTrades-2024-08-08.csv", [AGG_HEADER, *AGG_ROWS])
        rows = list(READERS["binance-aggTrades"](path, None))
        w = f"{path}:"
        assert rows == [
            Row(1_723_075_200_022 * MS, TRADE, "BTCUSDT", SELL, "55110.10", "0.002", "", w + "2"),
            Row(1_723_075_200_022 * MS, TRADE, "BTCUSDT", BUY, "55110.20", "0.120", "", w + "3"),
            Row(1_723_075_200_145 * MS, TRADE, "BTCUSDT", BUY, "55110.20", "0.010", "", w + "4"),
            Row(1_723_075_200_301 * MS, TRADE, "BTCUSDT", SELL, "55109.90", "1.337", "", w + "5"),
        ]

    def test_trades_rows(self, tmp_path: Path) -> None:
        """trades rows map like aggTrades, from their own column positions."""
        path = write(tmp_path, "BTCUSDT-trades-2024-08-08.csv", [TRADES_HEADER, *TRADES_ROWS])
        rows = list(READERS["binance-trades"](path, None))
        assert [(r.ts_ns, r.side, r.price, r.qty) for r in rows] == [
            (1_723_075_200_022 * MS, SELL, "55110.10", "0.002"),
            (1_723_075_200_022 * MS, BUY, "55110.20", "0.050"),
            (1_723_075_200_022 * MS, BUY, "55110.20", "0.070"),
        ]
        assert {r.kind for r in rows} == {TRADE}

    @pytest.mark.parametrize(
        ("fmt", "name", "header", "body"),
        [
            ("binance-aggTrades", "BTCUSDT-aggTrades-2024-08-08.csv", AGG_HEADER, AGG_ROWS),
            ("binance-trades", "BTCUSDT-trades-2024-08-08.csv", TRADES_HEADER, TRADES_ROWS),
            ("binance-bookTicker", "BTCUSDT-bookTicker-2024-08-08.csv", BOOK_HEADER, BOOK_ROWS),
            ("binance-klines", "BTCUSDT-1m-2024-08-08.csv", KLINE_HEADER, KLINE_ROWS),
            ("binance-premiumIndexKlines", "BTCUSDT-1m-2024-08-08.csv", KLINE_HEADER, PREMIUM_ROWS),
            ("binance-fundingRate", "BTCUSDT-fundingRate-2024-08.csv", FUNDING_HEADER, FUNDING_ROWS),
        ],
    )
    def test_header_is_optional(self, tmp_path: Path, fmt: str, name: str, header: str, body: list[str]) -> None:
        """A file without its header line gives the same rows, one line earlier."""
        (tmp_path / "h").mkdir()
        (tmp_path / "n").mkdir()
        with_header = list(READERS[fmt](write(tmp_path / "h", name, [header, *body]), None))
        without = list(READERS[fmt](write(tmp_path / "n", name, body), None))
        assert with_header and len(with_header) == len(without)
        assert [r[:7] for r in with_header] == [r[:7] for r in without]
        assert [int(r.where.rsplit(":", 1)[1]) - 1 for r in with_header] == [int(r.where.rsplit(":", 1)[1]) for r in without]

    @pytest.mark.parametrize("compression", ["zip", "gz"])
    def test_compressed_same_rows(self, tmp_path: Path, compression: str) -> None:
        """.zip and .gz files give exactly the rows of the plain file."""
        name = "BTCUSDT-aggTrades-2024-08-08.csv"
        (tmp_path / "c").mkdir()
        plain = list(READERS["binance-aggTrades"](write(tmp_path, name, [AGG_HEADER, *AGG_ROWS]), None))
        packed_path = write(tmp_path / "c", name, [AGG_HEADER, *AGG_ROWS], compression)
        packed = list(READERS["binance-aggTrades"](packed_path, None))
        assert content(packed) == content(plain)
        assert packed[0].where == f"{packed_path}:2"

    def test_microsecond_timestamps(self, tmp_path: Path) -> None:
        """A time >= 1e15 is read as µs (Binance's newer files), converted exactly to ns."""
        path = write(tmp_path, "BTCUSDT-aggTrades-2025-01-01.csv", ["3400000001,93576.00,0.004,5700000001,5700000001,1735689600000123,false"])
        assert [r.ts_ns for r in READERS["binance-aggTrades"](path, None)] == [1_735_689_600_000_123_000]

    def test_capitalised_booleans(self, tmp_path: Path) -> None:
        """'True'/'False' (as spot files write them) are read like 'true'/'false'."""
        path = write(tmp_path, "BTCUSDT-trades-2024-08-08.csv", ["5147081093,55110.10,0.002,110.22020,1723075200022,True"])
        assert [r.side for r in READERS["binance-trades"](path, None)] == [SELL]

    def test_symbol_argument_wins(self, tmp_path: Path) -> None:
        """The symbol argument overrides the one in the file name."""
        path = write(tmp_path, "BTCUSDT-aggTrades-2024-08-08.csv", AGG_ROWS)
        assert {r.symbol for r in READERS["binance-aggTrades"](path, "BTCUSDT_PERP")} == {"BTCUSDT_PERP"}

    def test_no_symbol_anywhere(self, tmp_path: Path) -> None:
        """Without a symbol argument, a file name that names no symbol is an error."""
        path = write(tmp_path, "trades.csv", AGG_ROWS)
        with pytest.raises(InputError) as info:
            list(READERS["binance-aggTrades"](path, None))
        assert info.value.field == "symbol" and "trades.csv" in str(info.value)

    def test_blank_lines_are_skipped(self, tmp_path: Path) -> None:
        """An empty line (e.g. a trailing one) yields no row and no error."""
        path = write(tmp_path, "BTCUSDT-aggTrades-2024-08-08.csv", [AGG_HEADER, AGG_ROWS[0], "", AGG_ROWS[1], ""])
        assert [r.where.rsplit(":", 1)[1] for r in READERS["binance-aggTrades"](path, None)] == ["2", "4"]


class TestBookTicker:
    def test_bid_then_ask_at_transaction_time(self, tmp_path: Path) -> None:
        """Each line gives the best bid (BUY) then the best ask (SELL) at transaction_time."""
        path = write(tmp_path, "BTCUSDT-bookTicker-2024-08-08.csv", [BOOK_HEADER, *BOOK_ROWS], "zip")
        rows = list(READERS["binance-bookTicker"](path, None))
        w = f"{path}:"
        assert rows == [
            Row(1_723_075_200_009 * MS, QUOTE, "BTCUSDT", BUY, "55110.10", "3.614", "", w + "2"),
            Row(1_723_075_200_009 * MS, QUOTE, "BTCUSDT", SELL, "55110.20", "0.529", "", w + "2"),
            Row(1_723_075_200_021 * MS, QUOTE, "BTCUSDT", BUY, "55110.10", "3.614", "", w + "3"),
            Row(1_723_075_200_021 * MS, QUOTE, "BTCUSDT", SELL, "55110.20", "0.412", "", w + "3"),
        ]


class TestKlines:
    def test_last_price_path(self, tmp_path: Path) -> None:
        """Each bar is open, the extremes at d/3 and 2d/3 (low first on an up bar), close at close_time.

        Sides follow each move: up = BUY, down = SELL, unchanged = the previous side.
        """
        path = write(tmp_path, "BTCUSDT-1m-2024-08-08.csv", [KLINE_HEADER, *KLINE_ROWS])
        rows = list(READERS["binance-klines"](path, None))
        t0, t1 = T0_MS * MS, (T0_MS + 60_000) * MS
        assert [(r.ts_ns, r.side, r.price) for r in rows] == [
            (t0, BUY, "55110.10"),  # first point of the file: BUY
            (t0 + 20_000 * MS, SELL, "55080.50"),  # up bar: low first
            (t0 + 40_000 * MS, BUY, "55180.00"),
            (t0 + 59_999 * MS, SELL, "55170.20"),
            (t1, SELL, "55170.20"),  # unchanged from the previous close
            (t1 + 20_000 * MS, BUY, "55175.00"),  # down bar: high first
            (t1 + 40_000 * MS, SELL, "55020.00"),
            (t1 + 59_999 * MS, BUY, "55031.60"),
        ]
        assert {(r.kind, r.qty, r.symbol) for r in rows} == {(TRADE, "", "BTCUSDT")}
        assert [r.where for r in rows] == [f"{path}:2"] * 4 + [f"{path}:3"] * 4

    def test_hour_bar_thirds(self, tmp_path: Path) -> None:
        """The extremes sit at exact integer thirds of d = close_time + 1 ms - open_time."""
        path = write(tmp_path, "BTCUSDT-1h-2024-08-08.csv", ["1723075200000,55110.1,55900,55000,55800,1,1723078799999,1,1,1,1,0"])
        assert [r.ts_ns - T0_MS * MS for r in READERS["binance-klines"](path, None)] == [0, 1_200_000 * MS, 2_400_000 * MS, 3_599_999 * MS]

    @pytest.mark.parametrize(("fmt", "kind"), [("binance-markPriceKlines", MARK), ("binance-indexPriceKlines", INDEX)])
    def test_mark_and_index_paths(self, tmp_path: Path, fmt: str, kind: int) -> None:
        """Mark and index klines give the same four-point path as mark / index rows, without side."""
        path = write(tmp_path, "BTCUSDT-1m-2024-08-08.csv", MARK_ROWS, "zip")
        rows = list(READERS[fmt](path, None))
        t0 = T0_MS * MS
        assert [(r.ts_ns, r.kind, r.side, r.price, r.qty) for r in rows[:4]] == [
            (t0, kind, ANY, "55121.53016304", ""),
            (t0 + 20_000 * MS, kind, ANY, "55090.60000000", ""),
            (t0 + 40_000 * MS, kind, ANY, "55190.10000000", ""),
            (t0 + 59_999 * MS, kind, ANY, "55180.78500000", ""),
        ]
        assert [r.price for r in rows[4:]] == ["55180.78500000", "55185.00000000", "55031.20000000", "55041.98260870"]

    def test_premium_close_at_close_time(self, tmp_path: Path) -> None:
        """Premium index klines give one premium row per bar: the close, as rate, at close_time."""
        path = write(tmp_path, "BTCUSDT-1m-2024-08-08.csv", [KLINE_HEADER, *PREMIUM_ROWS])
        rows = list(READERS["binance-premiumIndexKlines"](path, None))
        assert rows == [
            Row((T0_MS + 59_999) * MS, PREMIUM, "BTCUSDT", ANY, "", "", "-0.00012210", f"{path}:2"),
            Row((T0_MS + 119_999) * MS, PREMIUM, "BTCUSDT", ANY, "", "", "0.00000520", f"{path}:3"),
        ]

    @pytest.mark.parametrize(
        ("row", "field", "says"),
        [
            ("1723075200000,55110.10,55160.00,55080.50,55170.20,1,1723075259999,1,1,1,1,0", "high", "below max"),
            ("1723075200000,55110.10,55180.00,55120.00,55170.20,1,1723075259999,1,1,1,1,0", "low", "above min"),
            ("1723075200000,55110.10,55180.00,-5,55170.20,1,1723075259999,1,1,1,1,0", "low", "unsigned decimal"),
            ("1723075200000,55110.10,55180.00,55080.50,55170.20,1,1723075200000,1,1,1,1,0", "close_time", "after open_time"),
        ],
    )
    def test_bad_bar(self, tmp_path: Path, row: str, field: str, says: str) -> None:
        """A bar whose high/low do not bracket open and close, or that closes before it opens, is refused."""
        path = write(tmp_path, "BTCUSDT-1m-2024-08-08.csv", [KLINE_HEADER, row])
        with pytest.raises(InputError) as info:
            list(READERS["binance-klines"](path, None))
        assert (info.value.where, info.value.field) == (f"{path}:2", field)
        assert says in str(info.value)


class TestFunding:
    def test_funding_rows(self, tmp_path: Path) -> None:
        """Each line is a funding row at calc_time with last_funding_rate as its text."""
        path = write(tmp_path, "BTCUSDT-fundingRate-2024-08.csv", [FUNDING_HEADER, *FUNDING_ROWS], "zip")
        rows = list(READERS["binance-fundingRate"](path, None))
        assert [(r.ts_ns, r.kind, r.symbol, r.side, r.rate) for r in rows] == [
            (1_722_470_400_000 * MS, FUNDING, "BTCUSDT", ANY, "0.00010000"),
            (1_722_499_200_000 * MS, FUNDING, "BTCUSDT", ANY, "0.00006841"),
            (1_722_528_000_000 * MS, FUNDING, "BTCUSDT", ANY, "-0.00002315"),
        ]


class TestBadInput:
    @pytest.mark.parametrize(
        ("fmt", "lines", "line_no", "field", "says"),
        [
            ("binance-aggTrades", [AGG_HEADER, AGG_ROWS[0], "2266084772,55110.20,0.120,5147081094,1723075200022,false"], 3, "row", "expected 7"),
            ("binance-aggTrades", [AGG_HEADER, "2266084772,55110.20,0.120,5147081094,5147081096,1723075200.022,false"], 2, "transact_time", "integer epoch"),
            ("binance-aggTrades", [AGG_HEADER, "2266084772,55110.20,0.120,5147081094,5147081096,1723075200022,maybe"], 2, "is_buyer_maker", "'true' or 'false'"),
            ("binance-aggTrades", [AGG_HEADER, AGG_ROWS[2], AGG_ROWS[0]], 3, "transact_time", "backwards"),
            ("binance-aggTrades", [AGG_HEADER, "2266084772,55110.20,0.120,5147081094,5147081096,,false"], 2, "transact_time", "integer epoch"),
            ("binance-aggTrades", [AGG_HEADER, "2266084772,55110.2O,0.120,5147081094,5147081096,1723075200022,false"], 2, "price", "unsigned decimal"),
            ("binance-aggTrades", [AGG_HEADER, "2266084772,55110.20,1e,5147081094,5147081096,1723075200022,false"], 2, "quantity", "unsigned decimal"),
            ("binance-aggTrades", ["aggTradeId,price,qty,firstId,lastId,time,isBuyerMaker", AGG_ROWS[0]], 1, "header", "is not the binance-aggTrades header"),
            ("binance-trades", [TRADES_HEADER, "5147081093,55110.10,0.002,110.22020,1723075200022,yes"], 2, "is_buyer_maker", "'true' or 'false'"),
            ("binance-trades", [TRADES_HEADER, "5147081093,55110.10,-0.002,110.22020,1723075200022,true"], 2, "qty", "unsigned decimal"),
            ("binance-bookTicker", [BOOK_HEADER, BOOK_ROWS[1], BOOK_ROWS[0]], 3, "transaction_time", "backwards"),
            ("binance-bookTicker", [BOOK_HEADER, "5062540011021,55110.10,3.614,,0.529,1723075200009,1723075200014"], 2, "best_ask_price", "unsigned decimal"),
            ("binance-klines", [KLINE_HEADER, KLINE_ROWS[1], KLINE_ROWS[0]], 3, "open_time", "backwards"),
            ("binance-klines", [KLINE_ROWS[0] + ",0"], 1, "row", "expected 12"),
            ("binance-fundingRate", [FUNDING_HEADER, "1722470400000,8,1/10000"], 2, "last_funding_rate", "decimal rate"),
            ("binance-fundingRate", [FUNDING_HEADER, "1722470400000,8h,0.0001"], 2, "funding_interval_hours", "whole number"),
            ("binance-fundingRate", [FUNDING_HEADER, "2024-08-01,8,0.0001"], 2, "calc_time", "integer epoch"),
        ],
    )
    def test_error_names_file_line_and_field(self, tmp_path: Path, fmt: str, lines: list[str], line_no: int, field: str, says: str) -> None:
        """A malformed row raises InputError naming the file, the line, the field and what was expected."""
        path = write(tmp_path, "bad.csv", lines)
        with pytest.raises(InputError) as info:
            list(READERS[fmt](path, "BTCUSDT"))
        assert_names_place(info.value, path, line_no, field, says)


class TestSniff:
    @pytest.mark.parametrize(
        ("name", "head", "fmt"),
        [
            ("BTCUSDT-aggTrades-2024-08-08.csv", [AGG_HEADER, *AGG_ROWS], "binance-aggTrades"),
            ("x.csv", AGG_ROWS, "binance-aggTrades"),
            ("x.csv", [TRADES_HEADER, *TRADES_ROWS], "binance-trades"),
            ("x.csv", TRADES_ROWS, "binance-trades"),
            ("x.csv", [BOOK_HEADER, *BOOK_ROWS], "binance-bookTicker"),
            ("x.csv", BOOK_ROWS, "binance-bookTicker"),
            ("x.csv", [FUNDING_HEADER, *FUNDING_ROWS], "binance-fundingRate"),
            ("BTCUSDT-fundingRate-2024-08.csv", FUNDING_ROWS, "binance-fundingRate"),
            ("BTCUSDT-1m-2024-08-08.csv", [KLINE_HEADER, *KLINE_ROWS], "binance-klines"),  # volume traded
            ("BTCUSDT-1m-2024-08-08.csv", KLINE_ROWS, "binance-klines"),
            ("BTCUSDT-1m-2024-08-08.csv", MARK_ROWS, None),  # zero volume: mark, index or premium
            ("BTCUSDT-1m-2024-08-08.csv", [KLINE_HEADER, *PREMIUM_ROWS], None),
            ("data/futures/um/daily/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-08-08.zip", MARK_ROWS, "binance-markPriceKlines"),
            ("indexPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-08-08.zip", MARK_ROWS, "binance-indexPriceKlines"),
            ("BTCUSDT-premiumIndexKlines-1m-2024-08-08.csv", [KLINE_HEADER, *PREMIUM_ROWS], "binance-premiumIndexKlines"),
            ("klines/BTCUSDT/1m/BTCUSDT-1m-2024-08-08.zip", MARK_ROWS, "binance-klines"),
            ("x.csv", ["timestamp,open,high,low,close,volume", "2021-12-31 23:01:00.000000,46319.0,46385.0,46319.0,46377.0,2300413.7295"], None),
            ("x.csv", ["exchange,symbol,timestamp,local_timestamp,id,side,price,amount"], None),
            ("x.csv", ["1,2,3,4"], None),
            ("x.csv", [], None),
        ],
    )
    def test_sniff(self, name: str, head: list[str], fmt: str | None) -> None:
        """The format comes from the header, else the first line's shape; kline kinds from the name or path."""
        assert sniff(name, head) == fmt

    def test_detect_format_on_a_zip(self, tmp_path: Path) -> None:
        """The package's detection reads a zipped headerless file through this module."""
        from exsim.readers import detect_format

        assert detect_format(write(tmp_path, "BTCUSDT-aggTrades-2024-08-08.csv", AGG_ROWS, "zip")) == "binance-aggTrades"

    def test_file_symbol(self) -> None:
        """The symbol is the first part of a Binance file name, for every kind of file."""
        names = ["BTCUSDT-aggTrades-2024-08-08.zip", "BTCUSDT-1m-2024-08.zip", "BTCUSDT-fundingRate-2024-08.csv", "BTCUSDT-1mo-2024-08.zip"]
        assert {binance_csv.file_symbol(n, None) for n in names} == {"BTCUSDT"}
        with pytest.raises(InputError):
            binance_csv.file_symbol("BTCUSDT.csv", None)
