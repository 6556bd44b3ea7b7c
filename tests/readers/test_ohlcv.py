"""The OHLCV bars reader (exsim.readers.ohlcv) on the month of 1-minute BTC perp bars in
shared/data, and on small files written here for the timestamp forms and bad input."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import pytest

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.readers.ohlcv import READERS, read_ohlcv, sniff
from exsim.readers.opening import head_lines
from exsim.readers.rows import TRADE, Row

from .checks import assert_names_place

BARS = Path(__file__).parents[3] / "shared" / "data" / "nautilus-fixtures" / "btc-perp-20211231-20220201_1m.csv"
S = 1_000_000_000  # ns per second
T0 = 1_640_991_660 * S  # 2021-12-31 23:01:00 UTC
HEADER = "timestamp,open,high,low,close,volume"


@pytest.fixture
def bars() -> Path:
    if not BARS.parent.parent.parent.is_dir():
        pytest.skip("shared/data is not beside the repository")
    return BARS


def write(tmp_path: Path, lines: list[str], name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class TestRealFile:
    def test_first_bars_exact(self, bars: Path) -> None:
        """The first bar becomes open, low, high (an up bar), close; the bar length is inferred as 1 min."""
        rows = read_ohlcv(bars, "BTC-PERP")
        first = [next(rows) for _ in range(8)]
        w = f"{bars}:"
        assert first[:4] == [
            Row(T0, TRADE, "BTC-PERP", BUY, "46319.0", "", "", w + "2"),
            Row(T0 + 20 * S, TRADE, "BTC-PERP", BUY, "46319.0", "", "", w + "2"),  # low = open: unchanged
            Row(T0 + 40 * S, TRADE, "BTC-PERP", BUY, "46385.0", "", "", w + "2"),
            # the close carries the bar itself (for on_bar), its volume as the file wrote it
            Row(T0 + 60 * S - 1, TRADE, "BTC-PERP", SELL, "46377.0", "", f"bar:{T0}:60000000000:46319.0:46385.0:46319.0:46377.0:2300413.7295:", w + "2"),
        ]
        assert [(r.ts_ns - T0, r.price) for r in first[4:]] == [
            (60 * S, "46377.0"),
            (80 * S, "46377.0"),
            (100 * S, "46411.0"),
            (120 * S - 1, "46411.0"),
        ]

    def test_whole_month_is_ordered_and_complete(self, bars: Path) -> None:
        """All 45,031 bars give four rows each, in non-decreasing time, each inside its bar's minute."""
        n = 0
        last_ts = 0
        for row in read_ohlcv(bars, "BTC-PERP"):
            assert row.ts_ns >= last_ts
            last_ts = row.ts_ns
            n += 1
        assert n == 4 * 45_031
        assert last_ts == 1_643_693_460 * S + 60 * S - 1  # the close of the 2022-02-01 05:31 bar

    def test_gzip_same_rows(self, bars: Path, tmp_path: Path) -> None:
        """A gzipped copy of the first lines gives the same rows as the plain lines."""
        lines = head_lines(bars, 50)
        plain = write(tmp_path, lines)
        packed = tmp_path / "bars.csv.gz"
        with gzip.open(packed, "wt", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        assert [r[:7] for r in read_ohlcv(packed, "BTC-PERP")] == [r[:7] for r in read_ohlcv(plain, "BTC-PERP")]

    def test_sniff(self, bars: Path) -> None:
        """The file is recognised by its header."""
        assert sniff(bars.name, head_lines(bars)) == "ohlcv"


class TestTimestamps:
    @pytest.mark.parametrize(
        "stamps",
        [
            ["1640991660", "1640991720"],  # s
            ["1640991660000", "1640991720000"],  # ms
            ["1640991660000000", "1640991720000000"],  # µs
            ["1640991660000000000", "1640991720000000000"],  # ns
            ["2021-12-31 23:01:00", "2021-12-31 23:02:00"],
            ["2021-12-31T23:01:00Z", "2021-12-31T23:02:00.000000000+00:00"],
        ],
    )
    def test_forms_agree(self, tmp_path: Path, stamps: list[str]) -> None:
        """Epoch s/ms/µs/ns and UTC date-times all give the same ns times."""
        path = write(tmp_path, [HEADER] + [f"{t},46319.0,46385.0,46319.0,46377.0,2300413.7295" for t in stamps])
        assert [r.ts_ns - T0 for r in read_ohlcv(path, "BTC-PERP")] == [0, 20 * S, 40 * S, 60 * S - 1, 60 * S, 80 * S, 100 * S, 120 * S - 1]

    def test_fraction_is_exact(self, tmp_path: Path) -> None:
        """A nine-digit fraction of a second is kept to the nanosecond."""
        path = write(tmp_path, [HEADER, "2021-12-31 23:01:00.123456789,1,1,1,1,0"])
        assert next(read_ohlcv(path, "X", bar_ns=60 * S)).ts_ns == T0 + 123_456_789

    def test_bar_length_from_the_smallest_early_gap(self, tmp_path: Path) -> None:
        """A missing bar between the first two does not stretch the inferred bar length."""
        path = write(
            tmp_path,
            [HEADER, "1640991660000,10,10,10,10,1", "1640991780000,10,10,10,10,1", "1640991840000,10,10,10,10,1"],
        )
        assert [r.ts_ns - T0 for r in read_ohlcv(path, "X")][::4] == [0, 120 * S, 180 * S]
        assert [r.ts_ns - T0 for r in read_ohlcv(path, "X")][1] == 20 * S

    def test_bar_ns_argument(self, tmp_path: Path) -> None:
        """A single bar needs bar_ns, which sets the points' times."""
        path = write(tmp_path, [HEADER, "1640991660000,46319.0,46385.0,46300.0,46310.0,1"])
        with pytest.raises(InputError) as info:
            list(read_ohlcv(path, "BTC-PERP"))
        assert info.value.where == f"{path}:2" and "bar_ns" in str(info.value)
        rows = list(READERS["ohlcv"](path, "BTC-PERP", bar_ns=300 * S))  # type: ignore[call-arg]
        assert [(r.ts_ns - T0, r.price, r.side) for r in rows] == [
            (0, "46319.0", BUY),
            (100 * S, "46300.0", SELL),  # the low is nearer the open (19 vs 66): first
            (200 * S, "46385.0", BUY),
            (300 * S - 1, "46310.0", SELL),
        ]


class TestBadInput:
    @pytest.mark.parametrize(
        ("lines", "line_no", "field", "says"),
        [
            ([HEADER, "2021-12-31 23:01:00,46319.0,46370.0,46319.0,46377.0,1", "2021-12-31 23:02:00,1,1,1,1,1"], 2, "high", "below max"),
            ([HEADER, "2021-12-31 23:01:00,46319.0,46385.0,46320.0,46377.0,1", "2021-12-31 23:02:00,1,1,1,1,1"], 2, "low", "above min"),
            ([HEADER, "2021-12-31 23:01:00,46319.0,46385.0,46319.0,46377.0", "2021-12-31 23:02:00,1,1,1,1,1"], 2, "row", "expected 6"),
            ([HEADER, "2021-12-31 23:01,46319.0,46385.0,46319.0,46377.0,1", "2021-12-31 23:02:00,1,1,1,1,1"], 2, "timestamp", "YYYY-mm-dd"),
            ([HEADER, "2021-02-30 23:01:00,1,1,1,1,1", "2021-12-31 23:02:00,1,1,1,1,1"], 2, "timestamp", "calendar date"),
            ([HEADER, "1640991660000,1,1,1,1,1", "1640991720000,1,1,1,1,1", "1640991690000,1,1,1,1,1"], 4, "timestamp", "time order"),
            ([HEADER, "1640991720000,1,1,1,1,1", "1640991660000,1,1,1,1,1"], 3, "timestamp", "time order"),
            ([HEADER, "1640991660000,1,1,1,1,1", "1640991720000,1,1,1,one,1"], 3, "close", "unsigned decimal"),
            ([HEADER, "1640991660000,1,1,1,1,1", "1640991720000,1,1,1,1,-1"], 3, "volume", "unsigned decimal"),
            (["time,o,h,l,c,v", "1640991660000,1,1,1,1,1"], 1, "header", "is not 'timestamp,open,high,low,close,volume'"),
            (["1640991660000,1,1,1,1,1", "1640991720000,1,1,1,1,1"], 1, "header", "is not 'timestamp,open,high,low,close,volume'"),
        ],
    )
    def test_error_names_file_line_and_field(self, tmp_path: Path, lines: list[str], line_no: int, field: str, says: str) -> None:
        """A malformed bar raises InputError naming the file, the line, the field and what was expected."""
        path = write(tmp_path, lines)
        with pytest.raises(InputError) as info:
            list(read_ohlcv(path, "BTC-PERP"))
        assert_names_place(info.value, path, line_no, field, says)

    def test_overlapping_bars(self, tmp_path: Path) -> None:
        """A bar that opens before the previous one (of length bar_ns) ends is refused."""
        path = write(tmp_path, [HEADER, "1640991660000,1,1,1,1,1", "1640991690000,1,1,1,1,1"])
        with pytest.raises(InputError) as info:
            list(read_ohlcv(path, "BTC-PERP", bar_ns=60 * S))
        assert (info.value.where, info.value.field) == (f"{path}:3", "timestamp")
        assert "before the previous bar ends" in str(info.value)

    def test_symbol_is_required(self, tmp_path: Path) -> None:
        """Without a symbol argument the reader refuses the file (OHLCV files name none)."""
        path = write(tmp_path, [HEADER, "1640991660000,1,1,1,1,1"])
        with pytest.raises(InputError) as info:
            list(read_ohlcv(path, None))
        assert info.value.field == "symbol" and "bars.csv" in str(info.value)

    def test_compares_as_decimal(self, tmp_path: Path) -> None:
        """high '46385' equals close '46385.000' as a number, so the bar is valid (no text or float compare)."""
        path = write(tmp_path, [HEADER, "1640991660000,46319.5,46385,46319.5,46385.000,1"])
        assert [r.price for r in read_ohlcv(path, "X", bar_ns=60 * S)] == ["46319.5", "46319.5", "46385", "46385.000"]
        assert Decimal("46385") == Decimal("46385.000")


class TestSniff:
    @pytest.mark.parametrize(
        ("head", "fmt"),
        [
            ([HEADER], "ohlcv"),
            (["Date,Open,High,Low,Close,Volume"], "ohlcv"),
            (["timestamp,open,high,low,close"], None),
            (["1640991660000,1,1,1,1,1"], None),
            ([], None),
        ],
    )
    def test_sniff(self, head: list[str], fmt: str | None) -> None:
        """Only a header naming the six columns is taken for OHLCV."""
        assert sniff("bars.csv", head) == fmt
