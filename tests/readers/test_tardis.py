"""Tardis CSV readers (exsim.readers.tardis) on the NautilusTrader Tardis fixtures in
shared/data, and on small files written here for the layouts without a fixture
(derivative_ticker, liquidations) and for the edge cases."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.readers.opening import head_lines
from exsim.readers.rows import ANY, CLEAR, FUNDING, INDEX, LEVEL, LIQUIDATION, MARK, QUOTE, TRADE, Row
from exsim.readers.tardis import HEADERS, READERS, sniff

from .checks import assert_names_place

FIXTURES = Path(__file__).parents[3] / "shared" / "data" / "nautilus-fixtures" / "tardis"
US = 1_000  # ns per µs


@pytest.fixture
def fixtures() -> Path:
    if not FIXTURES.parent.parent.is_dir():
        pytest.skip("shared/data is not beside the repository")
    return FIXTURES


def write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class TestFixtures:
    def test_bitmex_trades(self, fixtures: Path) -> None:
        """BitMEX trades: aggressor side, price and amount text, time = local_timestamp in ns."""
        path = fixtures / "bitmex_trades_XBTUSD.csv"
        rows = list(READERS["tardis-trades"](path, None))
        assert len(rows) == 10
        assert rows[0] == Row(1583020803307160 * US, TRADE, "XBTUSD", SELL, "8531.5", "2152", "", f"{path}:2")
        assert rows[1] == Row(1583020803336743 * US, TRADE, "XBTUSD", SELL, "8531.5", "1", "", f"{path}:3")
        assert [r.where for r in rows] == [f"{path}:{n}" for n in range(2, 12)]

    def test_deribit_incremental_snapshot(self, fixtures: Path) -> None:
        """A file that starts with a snapshot run gives one clear, then a level per row."""
        path = fixtures / "deribit_incremental_book_L2_BTC-PERPETUAL.csv"
        rows = list(READERS["tardis-incremental_book_L2"](path, None))
        ts = 1585699200355684 * US
        assert rows[0] == Row(ts, CLEAR, "BTC-PERPETUAL", ANY, "", "", "", f"{path}:2")
        assert rows[1] == Row(ts, LEVEL, "BTC-PERPETUAL", SELL, "6421.5", "18640", "", f"{path}:2")
        assert rows[-1] == Row(ts, LEVEL, "BTC-PERPETUAL", SELL, "6428.5", "39950", "", f"{path}:16")
        assert [r.kind for r in rows] == [CLEAR] + [LEVEL] * 15

    @pytest.mark.parametrize(("name", "depth"), [("binance-futures_book_snapshot_5_BTCUSDT.csv", 5), ("binance-futures_book_snapshot_25_BTCUSDT.csv", 25)])
    def test_book_snapshots(self, fixtures: Path, name: str, depth: int) -> None:
        """Each snapshot line is a clear, then its bids best first, then its asks best first."""
        path = fixtures / name
        rows = list(READERS["tardis-book_snapshot"](path, None))
        per_line = 1 + 2 * depth
        assert len(rows) == 10 * per_line
        first = rows[:per_line]
        ts = 1598918403810979 * US
        assert first[0] == Row(ts, CLEAR, "BTCUSDT", ANY, "", "", "", f"{path}:2")
        assert first[1:4] == [
            Row(ts, LEVEL, "BTCUSDT", BUY, "11657.07", "10.896", "", f"{path}:2"),
            Row(ts, LEVEL, "BTCUSDT", BUY, "11656.97", "0.2", "", f"{path}:2"),
            Row(ts, LEVEL, "BTCUSDT", BUY, "11655.78", "0.2", "", f"{path}:2"),
        ]
        assert first[1 + depth : 3 + depth] == [
            Row(ts, LEVEL, "BTCUSDT", SELL, "11657.08", "1.714", "", f"{path}:2"),
            Row(ts, LEVEL, "BTCUSDT", SELL, "11657.54", "5.4", "", f"{path}:2"),
        ]
        assert [r.side for r in first[1:]] == [BUY] * depth + [SELL] * depth
        assert rows[per_line].ts_ns > ts and rows[per_line].kind == CLEAR

    def test_huobi_quotes(self, fixtures: Path) -> None:
        """Each quotes line gives the bid (BUY) then the ask (SELL) with their amounts."""
        path = fixtures / "huobi-dm-swap_quotes_BTC-USD.csv"
        rows = list(READERS["tardis-quotes"](path, None))
        ts = 1588291201234268 * US
        assert rows[:2] == [
            Row(ts, QUOTE, "BTC-USD", BUY, "8629.2", "806", "", f"{path}:2"),
            Row(ts, QUOTE, "BTC-USD", SELL, "8629.3", "5494", "", f"{path}:2"),
        ]
        assert len(rows) == 20 and [r.side for r in rows] == [BUY, SELL] * 10

    def test_gzip_same_rows(self, fixtures: Path, tmp_path: Path) -> None:
        """A gzipped Tardis file (as Tardis ships them) gives the rows of the plain one."""
        plain = fixtures / "bitmex_trades_XBTUSD.csv"
        packed = tmp_path / "bitmex_trades_2020-03-01_XBTUSD.csv.gz"
        with open(plain, "rb") as src, gzip.open(packed, "wb") as dst:
            shutil.copyfileobj(src, dst)
        strip = lambda rows: [(*r[:7], r.where.rsplit(":", 1)[1]) for r in rows]  # noqa: E731
        assert strip(READERS["tardis-trades"](packed, None)) == strip(READERS["tardis-trades"](plain, None))

    @pytest.mark.parametrize(
        ("name", "fmt"),
        [
            ("bitmex_trades_XBTUSD.csv", "tardis-trades"),
            ("deribit_incremental_book_L2_BTC-PERPETUAL.csv", "tardis-incremental_book_L2"),
            ("binance-futures_book_snapshot_5_BTCUSDT.csv", "tardis-book_snapshot"),
            ("binance-futures_book_snapshot_25_BTCUSDT.csv", "tardis-book_snapshot"),
            ("huobi-dm-swap_quotes_BTC-USD.csv", "tardis-quotes"),
        ],
    )
    def test_sniff_fixtures(self, fixtures: Path, name: str, fmt: str) -> None:
        """Each fixture is recognised from its header (and, for trades, its name)."""
        assert sniff(name, head_lines(fixtures / name)) == fmt


class TestIncrementalBook:
    HEADER = HEADERS["tardis-incremental_book_L2"]

    def test_clear_before_each_snapshot_run(self, tmp_path: Path) -> None:
        """A clear comes before the first snapshot run and before a later one, not before updates."""
        path = write(
            tmp_path,
            "binance-futures_incremental_book_L2_2020-09-01_BTCUSDT.csv",
            [
                self.HEADER,
                "binance-futures,BTCUSDT,1598918403696000,1598918403810979,true,bid,11657.07,10.896",
                "binance-futures,BTCUSDT,1598918403696000,1598918403810979,true,ask,11657.08,1.714",
                "binance-futures,BTCUSDT,1598918403888000,1598918403894256,false,ask,11657.08,1.476",
                "binance-futures,BTCUSDT,1598918403930000,1598918403935479,false,bid,11657.07,0",
                "binance-futures,BTCUSDT,1598918500001000,1598918500005000,true,bid,11660.00,3.2",
                "binance-futures,BTCUSDT,1598918500001000,1598918500005000,true,ask,11660.10,0.5",
            ],
        )
        rows = list(READERS["tardis-incremental_book_L2"](path, None))
        assert [(r.kind, r.side, r.price, r.qty) for r in rows] == [
            (CLEAR, ANY, "", ""),
            (LEVEL, BUY, "11657.07", "10.896"),
            (LEVEL, SELL, "11657.08", "1.714"),
            (LEVEL, SELL, "11657.08", "1.476"),
            (LEVEL, BUY, "11657.07", "0"),
            (CLEAR, ANY, "", ""),
            (LEVEL, BUY, "11660.00", "3.2"),
            (LEVEL, SELL, "11660.10", "0.5"),
        ]
        assert rows[5].ts_ns == 1598918500005000 * US

    def test_symbol_filter_keeps_that_symbols_runs(self, tmp_path: Path) -> None:
        """In a multi-symbol file, the symbol argument keeps that symbol's rows and clears only."""
        path = write(
            tmp_path,
            "binance-futures_incremental_book_L2_2020-09-01_PERPETUALS.csv",
            [
                self.HEADER,
                "binance-futures,BTCUSDT,1598918403696000,1598918403810979,true,bid,11657.07,10.896",
                "binance-futures,ETHUSDT,1598918403700000,1598918403811000,true,bid,433.21,51.2",
                "binance-futures,BTCUSDT,1598918403888000,1598918403894256,false,ask,11657.08,1.476",
                "binance-futures,ETHUSDT,1598918403890000,1598918403894300,true,ask,433.22,12.9",
            ],
        )
        eth = list(READERS["tardis-incremental_book_L2"](path, "ETHUSDT"))
        assert [(r.kind, r.symbol, r.price) for r in eth] == [(CLEAR, "ETHUSDT", ""), (LEVEL, "ETHUSDT", "433.21"), (LEVEL, "ETHUSDT", "433.22")]
        everything = list(READERS["tardis-incremental_book_L2"](path, None))
        assert [r.kind for r in everything] == [CLEAR, LEVEL, CLEAR, LEVEL, LEVEL, LEVEL]


class TestQuotesAndPrints:
    def test_empty_quote_side_is_skipped(self, tmp_path: Path) -> None:
        """A quotes line with an empty bid gives only the ask."""
        path = write(
            tmp_path,
            "huobi-dm-swap_quotes_2020-05-01_BTC-USD.csv",
            [HEADERS["tardis-quotes"], "huobi-dm-swap,BTC-USD,1588291201099000,1588291201234268,5494,8629.3,,"],
        )
        assert [(r.side, r.price, r.qty) for r in READERS["tardis-quotes"](path, None)] == [(SELL, "8629.3", "5494")]

    def test_liquidations(self, tmp_path: Path) -> None:
        """Liquidation rows keep the forced order's side, price and amount."""
        path = write(
            tmp_path,
            "binance-futures_liquidations_2020-09-01_BTCUSDT.csv",
            [
                HEADERS["tardis-liquidations"],
                "binance-futures,BTCUSDT,1598918410453000,1598918410458730,,sell,11641.96,0.004",
                "binance-futures,BTCUSDT,1598918452127000,1598918452132998,,buy,11668.33,0.082",
            ],
        )
        assert sniff(path.name, head_lines(path)) == "tardis-liquidations"
        assert list(READERS["tardis-liquidations"](path, None)) == [
            Row(1598918410458730 * US, LIQUIDATION, "BTCUSDT", SELL, "11641.96", "0.004", "", f"{path}:2"),
            Row(1598918452132998 * US, LIQUIDATION, "BTCUSDT", BUY, "11668.33", "0.082", "", f"{path}:3"),
        ]

    def test_exponent_amount(self, tmp_path: Path) -> None:
        """A tiny amount written in exponent form (as JavaScript prints it) is kept verbatim."""
        path = write(tmp_path, "t_trades.csv", [HEADERS["tardis-trades"], "deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,1,buy,6421.5,1e-7"])
        assert [r.qty for r in READERS["tardis-trades"](path, None)] == ["1e-7"]


class TestDerivativeTicker:
    HEADER = HEADERS["tardis-derivative_ticker"]
    FUNDING_0800_US = 1598947200000000  # 2020-09-01 08:00 UTC
    FUNDING_1600_US = 1598976000000000

    def lines(self, third_local_us: int) -> list[str]:
        f0, f1 = self.FUNDING_0800_US, self.FUNDING_1600_US
        return [
            self.HEADER,
            f"binance-futures,BTCUSDT,1598947198000000,1598947198012345,{f0},0.00010000,,31245.123,11890.01,11885.32,11889.51",
            f"binance-futures,BTCUSDT,1598947199000000,1598947199011111,{f0},0.00010000,,31245.123,11890.50,11885.32,11889.77",
            f"binance-futures,BTCUSDT,1598947199500000,{third_local_us},{f0},0.00012000,,31245.123,11890.50,11885.40,11889.77",
            f"binance-futures,BTCUSDT,1598947201000000,1598947201005000,{f1},0.00009000,,31250.001,11891.00,11885.40,11890.02",
        ]

    def test_mark_index_on_change_and_funding_when_the_time_advances(self, tmp_path: Path) -> None:
        """Mark/index rows only when their value changes; funding at the previous funding time with the last rate."""
        path = write(tmp_path, "binance-futures_derivative_ticker_2020-09-01_BTCUSDT.csv", self.lines(1598947199900000))
        rows = list(READERS["tardis-derivative_ticker"](path, None))
        w = f"{path}:"
        assert rows == [
            Row(1598947198012345 * US, MARK, "BTCUSDT", ANY, "11889.51", "", "", w + "2"),
            Row(1598947198012345 * US, INDEX, "BTCUSDT", ANY, "11885.32", "", "", w + "2"),
            Row(1598947199011111 * US, MARK, "BTCUSDT", ANY, "11889.77", "", "", w + "3"),
            Row(1598947199900000 * US, INDEX, "BTCUSDT", ANY, "11885.40", "", "", w + "4"),
            Row(self.FUNDING_0800_US * US, FUNDING, "BTCUSDT", ANY, "", "", "0.00012000", w + "5"),
            Row(1598947201005000 * US, MARK, "BTCUSDT", ANY, "11890.02", "", "", w + "5"),
        ]

    def test_funding_is_never_emitted_into_the_past(self, tmp_path: Path) -> None:
        """When lines after the funding time came before the advance, the funding row takes the previous line's time."""
        path = write(tmp_path, "binance-futures_derivative_ticker_2020-09-01_BTCUSDT.csv", self.lines(1598947200100000))
        rows = list(READERS["tardis-derivative_ticker"](path, None))
        funding = [r for r in rows if r.kind == FUNDING]
        assert [(r.ts_ns, r.rate) for r in funding] == [(1598947200100000 * US, "0.00012000")]
        assert [r.ts_ns for r in rows] == sorted(r.ts_ns for r in rows)

    def test_funding_time_going_back_is_an_error(self, tmp_path: Path) -> None:
        """A funding_timestamp earlier than the previous one is refused, naming the line."""
        lines = self.lines(1598947199900000)
        lines[4] = lines[4].replace(str(self.FUNDING_1600_US), str(self.FUNDING_0800_US - 28_800_000_000))
        path = write(tmp_path, "d.csv", lines)
        with pytest.raises(InputError) as info:
            list(READERS["tardis-derivative_ticker"](path, None))
        assert (info.value.where, info.value.field) == (f"{path}:5", "funding_timestamp")


class TestBadInput:
    TRADE = "bitmex,XBTUSD,1583020803145000,1583020803307160,ccc3c1fa-212c-e8b0-1706-9b9c4f3d5ecf,sell,8531.5,2152"

    @pytest.mark.parametrize(
        ("fmt", "lines", "line_no", "field", "says"),
        [
            ("tardis-trades", [HEADERS["tardis-trades"], TRADE.replace(",sell,", ",unknown,")], 2, "side", "aggressor"),
            ("tardis-trades", [HEADERS["tardis-trades"], TRADE, TRADE + ",1"], 3, "row", "expected 8"),
            ("tardis-trades", [HEADERS["tardis-trades"], TRADE.replace("1583020803307160", "1583020803.307160")], 2, "local_timestamp", "microseconds"),
            ("tardis-trades", [HEADERS["tardis-trades"], TRADE, TRADE.replace("1583020803307160", "1583020803307159")], 3, "local_timestamp", "backwards"),
            ("tardis-trades", [HEADERS["tardis-trades"], TRADE.replace("1583020803307160", "")], 2, "local_timestamp", "microseconds"),
            ("tardis-quotes", [HEADERS["tardis-quotes"], "huobi-dm-swap,BTC-USD,1588291201099000,,5494,8629.3,8629.2,806"], 2, "local_timestamp", "microseconds"),
            ("tardis-trades", [HEADERS["tardis-trades"], TRADE.replace(",8531.5,", ",8531.5.0,")], 2, "price", "unsigned decimal"),
            ("tardis-trades", ["exchange,symbol,timestamp,local_timestamp,side,id,price,amount", TRADE], 1, "header", "is not the tardis-trades header"),
            ("tardis-trades", [TRADE], 1, "header", "is not the tardis-trades header"),
            ("tardis-liquidations", [HEADERS["tardis-trades"], TRADE.replace(",sell,", ",short,")], 2, "side", "'buy' or 'sell'"),
            ("tardis-incremental_book_L2", [HEADERS["tardis-incremental_book_L2"], "deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,yes,ask,6421.5,18640"], 2, "is_snapshot", "'true' or 'false'"),
            ("tardis-incremental_book_L2", [HEADERS["tardis-incremental_book_L2"], "deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,sell,6421.5,18640"], 2, "side", "'bid' or 'ask'"),
            ("tardis-incremental_book_L2", [HEADERS["tardis-incremental_book_L2"], "deribit,BTC-PERPETUAL,1585699200245000,1585699200355684,true,ask,6421.5,"], 2, "amount", "unsigned decimal"),
            ("tardis-quotes", [HEADERS["tardis-quotes"], "huobi-dm-swap,BTC-USD,1588291201099000,1588291201234268,5494,,8629.2,806"], 2, "ask_price", "unsigned decimal"),
            ("tardis-book_snapshot", ["exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount", "binance-futures,BTCUSDT,1598918403696000,1598918403810979,11657.08,,11657.07,10.896"], 2, "asks[0].amount", "unsigned decimal"),
            ("tardis-book_snapshot", ["exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[1].price,bids[1].amount"], 1, "header", "book_snapshot_N header"),
            ("tardis-derivative_ticker", [HEADERS["tardis-derivative_ticker"], "binance-futures,BTCUSDT,1598947198000000,1598947198012345,1598947200000000,0.0001,,31245.123,11890.01,11885.32,n/a"], 2, "mark_price", "unsigned decimal"),
        ],
    )
    def test_error_names_file_line_and_field(self, tmp_path: Path, fmt: str, lines: list[str], line_no: int, field: str, says: str) -> None:
        """A malformed row raises InputError naming the file, the line, the field and what was expected."""
        path = write(tmp_path, "bad.csv", lines)
        with pytest.raises(InputError) as info:
            list(READERS[fmt](path, None))
        assert_names_place(info.value, path, line_no, field, says)


class TestSniff:
    @pytest.mark.parametrize(
        ("name", "head", "fmt"),
        [
            ("binance-futures_liquidations_2020-09-01_BTCUSDT.csv.gz", [HEADERS["tardis-trades"]], "tardis-liquidations"),
            ("deribit_trades_2020-04-01_BTC-PERPETUAL.csv.gz", [HEADERS["tardis-trades"]], "tardis-trades"),
            ("export.csv", [HEADERS["tardis-trades"]], None),  # trades and liquidations share the layout
            ("x.csv", [HEADERS["tardis-derivative_ticker"]], "tardis-derivative_ticker"),
            ("x.csv", [HEADERS["tardis-quotes"]], "tardis-quotes"),
            ("x.csv", ["exchange,symbol,timestamp,local_timestamp,type,strike_price,expiration"], None),
            ("x.csv", ["id,price,qty,quote_qty,time,is_buyer_maker"], None),
            ("x.csv", [], None),
        ],
    )
    def test_sniff(self, name: str, head: list[str], fmt: str | None) -> None:
        """Tardis layouts are told by their exact header; the shared trades layout also needs the name."""
        assert sniff(name, head) == fmt
