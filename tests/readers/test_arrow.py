"""Specification of exsim.readers.arrow: freqtrade's and NautilusTrader's Parquet/Feather
files, on the real files in shared/data (freqtrade's XRPUSDT perpetual test data and
Nautilus's Binance BTC/USDT spot fixtures), and of the one-line refusals of binary files
exsim does not read.

The XRPUSDT files are from 2021, when the contract's tick was 0.00001 (the prices carry
five decimals); the replays here pass that instrument explicitly, as a user would with an
instruments file.
"""

from __future__ import annotations

import pickle
import sqlite3
import sys
from pathlib import Path

import pytest

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.instruments import Instrument
from exsim.instruments.registry import shipped_brackets
from exsim.readers import detect_format, open_rows
from exsim.readers.rows import FUNDING, MARK, QUOTE, TRADE
from exsim.replay import Replay, ReplayConfig
from exsim_examples.passive import Passive

from .checks import one_line_error

DATA = Path(__file__).parents[3] / "shared" / "data"
FREQTRADE = DATA / "freqtrade-futures"
NAUTILUS = DATA / "nautilus-fixtures" / "binance"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data folder {DATA} is absent")
MS = 1_000_000
S = 1_000_000_000
T_2021_11_17_01 = 1_637_110_800_000 * MS  # 2021-11-17 01:00 UTC
T_2021_11_18 = 1_637_193_600_000 * MS  # 2021-11-18 00:00 UTC


def xrp_2021() -> Instrument:
    """XRPUSDT as the freqtrade files' prices show it in 2021: tick 0.00001."""
    return Instrument.create(
        symbol="XRPUSDT", tick_size="0.00001", lot_size="0.1", min_notional="5", brackets=shipped_brackets()["XRPUSDT"]
    )


def replay_xrp(*names: str) -> dict:
    """A replay of freqtrade files with the default strategy (passive) on XRPUSDT; sampled
    (time series, computed marks) every minute: the files span days to a month."""
    files = [FREQTRADE / n for n in names]
    config = ReplayConfig(sample_interval_ns=60 * S, mark_interval_ns=60 * S)
    return Replay(files, Passive(symbol="XRPUSDT"), config, instruments={"XRPUSDT": xrp_2021()}).run()


@needs_data
class TestFreqtrade:
    def test_formats_come_from_the_file_names(self) -> None:
        """Each freqtrade candle type is its own format, told by the file name."""
        assert [detect_format(FREQTRADE / n) for n in sorted(p.name for p in FREQTRADE.glob("*.feather"))] == [
            "freqtrade-futures",
            "freqtrade-mark",
            "freqtrade-futures",
            "freqtrade-funding_rate",
            "freqtrade-mark",
        ]

    def test_futures_candles_are_the_bar_path_of_last_prices(self) -> None:
        """The first 1h bar (open 1.0801, high 1.09758, low 1.07654, close 1.07925) is four
        trade rows of unknown size: open, the low (nearer the open), the high, close."""
        fmt, rows = open_rows(FREQTRADE / "XRP_USDT_USDT-1h-futures.feather")
        first = [next(rows) for _ in range(4)]
        hour = 3_600_000 * MS
        assert fmt == "freqtrade-futures"
        assert [(r.ts_ns - T_2021_11_17_01, r.kind, r.symbol, r.side, r.price, r.qty) for r in first] == [
            (0, TRADE, "XRPUSDT", BUY, "1.0801", ""),
            (hour // 3, TRADE, "XRPUSDT", SELL, "1.07654", ""),
            (2 * hour // 3, TRADE, "XRPUSDT", BUY, "1.09758", ""),
            (hour - 1, TRADE, "XRPUSDT", SELL, "1.07925", ""),
        ]
        assert first[0].where.endswith("XRP_USDT_USDT-1h-futures.feather:1")

    def test_every_futures_row_is_read(self) -> None:
        """1,999 five-minute bars give 7,996 path points."""
        assert sum(1 for _ in open_rows(FREQTRADE / "XRP_USDT_USDT-5m-futures.feather")[1]) == 4 * 1999

    def test_mark_candles_are_mark_rows_and_their_nan_volume_is_not_read(self) -> None:
        """Mark candles (volume NaN) become mark rows of the same path, 4 per bar."""
        rows = list(open_rows(FREQTRADE / "XRP_USDT_USDT-1h-mark.feather")[1])
        assert len(rows) == 400 and {r.kind for r in rows} == {MARK}
        assert rows[0].price == "1.20932"

    def test_funding_history_rate_is_in_open_at_the_funding_time(self) -> None:
        """91 settlements, at fundingTime with its ms jitter, rate = open as decimal text."""
        rows = list(open_rows(FREQTRADE / "XRP_USDT_USDT-8h-funding_rate.feather")[1])
        assert len(rows) == 91 and {r.kind for r in rows} == {FUNDING}
        assert (rows[0].ts_ns - T_2021_11_18, rows[0].rate) == (17 * MS, "0.0001")

    def test_a_double_with_float_noise_is_read_at_fifteen_digits(self) -> None:
        """Row 50's rate is stored as -0.0021933400000000002 (writer arithmetic): read as
        -0.00219334, the 15-significant-digit text, and so on the 1e-8 rate grid."""
        rows = list(open_rows(FREQTRADE / "XRP_USDT_USDT-8h-funding_rate.feather")[1])
        assert rows[49].rate == "-0.00219334" and rows[49].where.endswith(":50")
        assert min(rows, key=lambda r: float(r.rate)).rate == "-0.00219334"

    def test_futures_file_replays(self) -> None:
        """The 1h last-price file replays with the default strategy: 100 bars, 400 rows."""
        summary = replay_xrp("XRP_USDT_USDT-1h-futures.feather")
        assert summary["rows_by_kind"] == {"trade": 400} and summary["symbols"] == ["XRPUSDT"]

    def test_futures_with_mark_and_funding_replay_them(self) -> None:
        """Futures + mark + funding files: marks and funding are replayed, not computed."""
        summary = replay_xrp(
            "XRP_USDT_USDT-5m-futures.feather", "XRP_USDT_USDT-1h-mark.feather", "XRP_USDT_USDT-8h-funding_rate.feather"
        )
        # the run spans the price data (2021-11-15 .. 11-21): 12 of the month's 91 funding rows
        # fall in it; the other 79 are read, checked and counted, not replayed
        assert summary["rows_by_kind"] == {"trade": 7996, "mark": 400, "funding": 12}
        assert summary["span"]["rows_before_price_start"] + summary["span"]["rows_after_price_end"] == 79
        assert summary["market_model"]["mark"].startswith("replayed") and summary["market_model"]["funding"].startswith("replayed")

    def test_8h_mark_file_replays(self) -> None:
        """The 8h file labelled mark replays as marks (its 0.9467000000000001 read as 0.9467)."""
        summary = replay_xrp("XRP_USDT_USDT-8h-mark.feather")
        assert summary["rows_by_kind"] == {"mark": 364}


@needs_data
class TestNautilusParquet:
    def test_trades_are_read_with_the_aggressor_side(self) -> None:
        """buyer_maker True is a SELL aggressor; the symbol is the file name's first word."""
        fmt, rows = open_rows(NAUTILUS / "btcusdt-trades.parquet")
        first = [next(rows) for _ in range(3)]
        assert fmt == "nautilus-binance-trades"
        assert [(r.symbol, r.side, r.price, r.qty) for r in first] == [
            ("BTCUSDT", SELL, "39432.48", "0.000263"),
            ("BTCUSDT", BUY, "39439.44", "0.004376"),
            ("BTCUSDT", BUY, "39439.22", "0.000311"),  # stored as 0.00031099999999999997
        ]
        assert sum(1 for _ in rows) == 2001 - 3

    def test_quotes_are_bid_then_ask_of_the_unified_symbol(self) -> None:
        """'BTC/USDT' becomes BTCUSDT; each line is a bid row then an ask row."""
        fmt, rows = open_rows(NAUTILUS / "btcusdt-quotes.parquet")
        bid, ask = next(rows), next(rows)
        assert fmt == "nautilus-binance-quotes"
        assert [(r.kind, r.symbol, r.side, r.price, r.qty) for r in (bid, ask)] == [
            (QUOTE, "BTCUSDT", BUY, "39432.99", "0.0031"),
            (QUOTE, "BTCUSDT", SELL, "39433.62", "0.066851"),
        ]

    @pytest.mark.parametrize("name", ["btcusdt-trades.parquet", "btcusdt-quotes.parquet"])
    def test_spot_parquet_is_refused_as_the_traded_market(self, name: str, capsys: pytest.CaptureFixture[str]) -> None:
        """Nautilus's Binance parquet files are spot: one line says so and names --index-file."""
        line = one_line_error(["replay", str(NAUTILUS / name), "--no-progress"], capsys)
        assert "is a spot market capture" in line and "--index-file" in line


@needs_data
class TestWithoutPyarrow:
    @pytest.mark.parametrize(
        ("path", "fmt"),
        [
            (FREQTRADE / "XRP_USDT_USDT-1h-futures.feather", "feather"),
            (NAUTILUS / "btcusdt-trades.parquet", "parquet"),
        ],
    )
    def test_the_error_says_which_extra_to_install(
        self, path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without pyarrow a Parquet/Feather file is one line naming the extra to install."""
        monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
        line = one_line_error(["replay", str(path), "--no-progress"], capsys)
        assert line.endswith(f"format {fmt} needs the optional extra: pip install 'exsim[parquet]'")


class TestBinaryFiles:
    def write_pickle(self, path: Path) -> None:
        path.write_bytes(pickle.dumps({"price": [1.0, 2.0]}, protocol=4))

    def write_hdf5(self, path: Path) -> None:
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))

    def write_sqlite(self, path: Path) -> None:
        con = sqlite3.connect(path)
        con.execute("create table t (price text)")
        con.commit()
        con.close()

    def write_garbage(self, path: Path) -> None:
        path.write_bytes(b"price\x00\x01\x02" * 100)

    @pytest.mark.parametrize(
        ("writer", "says"),
        [
            ("write_pickle", "format pickle is not supported; convert it with"),
            ("write_hdf5", "format hdf5 is not supported; convert it with"),
            ("write_sqlite", "format sqlite is not supported; convert it with"),
            ("write_garbage", "a binary file (NUL bytes) of no format exsim knows; convert it"),
        ],
    )
    def test_unsupported_binary_is_one_line_naming_the_format(
        self, writer: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A binary file exsim does not read is named by its format, with how to convert it,
        not a byte-level decode error."""
        path = tmp_path / "data.bin"
        getattr(self, writer)(path)
        line = one_line_error(["replay", str(path), "--no-progress"], capsys)
        assert line.startswith(f"exsim: error: {path}:1: field 'format': {says}")
        assert "UTF-8" not in line

    def test_a_pickle_is_never_loaded(self, tmp_path: Path) -> None:
        """Detection reads bytes only: a pickle whose loading would raise is still just named."""
        path = tmp_path / "evil.pkl"
        path.write_bytes(b"\x80\x04cbuiltins\nexit\n(tR.")  # loading it would call exit()
        with pytest.raises(InputError, match="format pickle is not supported"):
            detect_format(path)


class TestBadValues:
    def write_candles(self, path: Path, closes: list[float]) -> Path:
        import pyarrow as pa
        import pyarrow.feather as feather

        hour = 3_600_000_000_000
        n = len(closes)
        table = pa.table(
            {
                "date": pa.array([T_2021_11_17_01 + i * hour for i in range(n)], type=pa.timestamp("ns", tz="UTC")),
                "open": [1.0] * n,
                "high": [2.0] * n,
                "low": [0.5] * n,
                "close": closes,
                "volume": [1.0] * n,
            }
        )
        feather.write_feather(table, path)
        return path

    def test_nan_price_names_the_row_and_column(self, tmp_path: Path) -> None:
        """A NaN close is an error naming the file, the 1-based row and the column."""
        path = self.write_candles(tmp_path / "XRP_USDT_USDT-1h-futures.feather", [1.5, float("nan")])
        with pytest.raises(InputError) as info:
            list(open_rows(path)[1])
        assert (info.value.where, info.value.field) == (f"{path}:2", "close")

    def test_a_file_not_named_as_freqtrade_names_candles_is_told_how_to_name_it(self, tmp_path: Path) -> None:
        """Candles in a file without freqtrade's name: the error says the name to give it."""
        path = self.write_candles(tmp_path / "candles.feather", [1.5])
        with pytest.raises(InputError, match="rename it <PAIR>-<timeframe>-futures"):
            detect_format(path)
