"""Specification of exsim.readers.nautilus: NautilusTrader's flattened Binance depth CSV,
on Nautilus's real BTCUSDT snapshot and update files (shared/data) and on small files
written here for the chaining rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from exsim.book.orders import BUY, SELL
from exsim.errors import InputError
from exsim.readers import detect_format, open_rows
from exsim.readers.nautilus import HEADER
from exsim.readers.rows import ANY, CLEAR, GAP, LEVEL
from exsim.replay import Replay
from exsim_examples.passive import Passive
from .checks import assert_names_place

DATA = Path(__file__).parents[3] / "shared" / "data" / "nautilus-fixtures" / "binance"
SNAP = DATA / "btcusdt-depth-snap.csv"
UPDATE = DATA / "btcusdt-depth-update.csv"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data folder {DATA} is absent")
MS = 1_000_000


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "depth.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def snap(last_id: int, side: str, price: str, qty: str, ts: int = 1_667_346_579_146) -> str:
    return f"BTCUSDT,{ts},{last_id},{last_id},{side},snap,{price},{qty},-1"


def diff(first: int, last: int, pu: int, side: str, price: str, qty: str, ts: int = 1_667_346_580_000) -> str:
    return f"BTCUSDT,{ts},{first},{last},{side},set,{price},{qty},{pu}"


@needs_data
class TestRealFiles:
    def test_both_files_are_detected(self) -> None:
        """The header names the format."""
        assert detect_format(SNAP) == detect_format(UPDATE) == "nautilus-binance-depth"

    def test_snapshot_is_a_clear_then_its_levels_at_its_time(self) -> None:
        """The snapshot file is one clear and 100 level rows at 2022-11-01 23:49:39.146."""
        rows = list(open_rows(SNAP)[1])
        assert len(rows) == 101 and rows[0].kind == CLEAR and {r.kind for r in rows[1:]} == {LEVEL}
        assert {r.ts_ns for r in rows} == {1_667_346_579_146 * MS}
        assert (rows[1].side, rows[1].price, rows[1].qty, rows[1].rate) == (BUY, "20377.00", "1.770", "2098021528332")

    def test_update_file_alone_is_a_gap(self) -> None:
        """Updates without a snapshot before them cannot rebuild a book: one gap, no levels."""
        rows = list(open_rows(UPDATE)[1])
        assert [r.kind for r in rows] == [GAP]
        assert "no depth snapshot before this diff" in rows[0].rate and rows[0].where.endswith(":2")

    def test_snapshot_and_updates_ten_minutes_apart_do_not_chain(self, tmp_path: Path) -> None:
        """Concatenated (snapshot first), the first update does not bridge the snapshot: a gap."""
        joined = tmp_path / "btcusdt-depth.csv"
        joined.write_text(SNAP.read_text() + "".join(UPDATE.read_text().splitlines(keepends=True)[1:]))
        rows = list(open_rows(joined)[1])
        assert [r.kind for r in rows[:101]] == [CLEAR] + [LEVEL] * 100
        assert [r.kind for r in rows[101:]] == [GAP]
        assert "lastUpdateId=2098021528332" in rows[101].rate and "U=2098041693435" in rows[101].rate

    def test_snapshot_file_replays(self) -> None:
        """The snapshot replays with the default strategy: depth replayed, no gap."""
        summary = Replay([SNAP], Passive()).run()
        assert summary["rows_by_kind"] == {"level": 100, "clear": 1} and summary["depth_gaps"] == 0
        assert summary["market_model"]["depth"].startswith("replayed")

    def test_update_file_replays_and_reports_the_gap(self) -> None:
        """The update file replays with the default strategy and reports its depth gap."""
        summary = Replay([UPDATE], Passive()).run()
        assert summary["depth_gaps"] == 1


class TestChaining:
    def test_a_bridging_diff_then_a_chained_one_apply(self, tmp_path: Path) -> None:
        """U <= L <= u bridges the snapshot; then pu = previous u chains; deletions come first."""
        path = write(
            tmp_path,
            [
                snap(100, "b", "10.0", "1"),
                snap(100, "a", "11.0", "1"),
                diff(99, 105, 90, "b", "10.5", "2"),
                diff(99, 105, 90, "a", "11.0", "0"),
                diff(106, 110, 105, "a", "11.5", "3"),
            ],
        )
        rows = list(open_rows(path)[1])
        assert [(r.kind, r.side, r.price, r.qty) for r in rows] == [
            (CLEAR, ANY, "", ""),
            (LEVEL, BUY, "10.0", "1"),
            (LEVEL, SELL, "11.0", "1"),
            (LEVEL, SELL, "11.0", "0"),  # the deletion first
            (LEVEL, BUY, "10.5", "2"),
            (LEVEL, SELL, "11.5", "3"),
        ]

    def test_stale_diffs_are_dropped(self, tmp_path: Path) -> None:
        """A diff that ends before the snapshot's id adds nothing."""
        path = write(tmp_path, [snap(100, "b", "10.0", "1"), diff(90, 99, 80, "b", "9.0", "5")])
        assert [r.kind for r in open_rows(path)[1]] == [CLEAR, LEVEL]

    def test_a_pu_break_is_one_gap_and_depth_waits_for_a_snapshot(self, tmp_path: Path) -> None:
        """pu that is not the previous u: one gap row, later diffs dropped until a snapshot."""
        path = write(
            tmp_path,
            [
                snap(100, "b", "10.0", "1"),
                diff(99, 105, 90, "b", "10.5", "2"),
                diff(120, 125, 119, "b", "10.6", "2"),
                diff(126, 130, 125, "b", "10.7", "2"),
                snap(200, "b", "10.0", "4", ts=1_667_346_581_000),
            ],
        )
        rows = list(open_rows(path)[1])
        assert [r.kind for r in rows] == [CLEAR, LEVEL, LEVEL, GAP, CLEAR, LEVEL]
        assert "expected pu=105" in rows[3].rate and rows[3].where.endswith(":4")

    @pytest.mark.parametrize(
        ("line", "field", "says"),
        [
            (diff(1, 2, 0, "x", "10.0", "1"), "side", "is not 'b' (bid) or 'a' (ask)"),
            (diff(1, 2, 0, "b", "-10.0", "1"), "price", "is not an unsigned decimal"),
            ("BTCUSDT,1667346580000,1,2,b,upd,10.0,1,0", "update_type", "is not 'snap' or 'set'"),
            ("BTCUSDT,16673465800xx,1,2,b,set,10.0,1,0", "timestamp", "is not a whole number"),
            ("BTCUSDT,1667346580000,1,2,b,set,10.0,1", "row", "8 fields; expected 9"),
        ],
    )
    def test_bad_line_names_line_and_field(self, line: str, field: str, says: str, tmp_path: Path) -> None:
        """A bad value is an error naming the file, the line and the field."""
        path = write(tmp_path, [snap(0, "b", "10.0", "1"), line])
        with pytest.raises(InputError) as info:
            list(open_rows(path)[1])
        assert_names_place(info.value, path, 3, field, says)
