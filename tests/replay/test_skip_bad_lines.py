"""``skip_bad_rows``: a source line with a bad value goes whole, and a bad depth line is a gap.

The corpus (``tests/readers/test_bad_input_corpus.py``) checks one bad line per format
through the command line; here: the market model on its own, files merged by time (a
bar's points interleaved with another file's prints), several bad lines in one file, and
bad lines past the re-read limit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exsim.exchange import ClearReplayedLevels, ReplayedTrade, SetReplayedLevels
from exsim.instruments import get_instrument
from exsim.readers.rows import ANY, CLEAR, LEVEL, QUOTE, TRADE, Row
from exsim.replay import Replay, ReplayConfig, Strategy
from exsim.replay import runner
from exsim.replay.market import MarketModel, ReplayedGap, ReplayedQuote

T0_MS = 1_723_161_600_000  # 2024-08-09 00:00:00 UTC
T0 = T0_MS * 1_000_000
S = 1_000_000_000
BTC = get_instrument("BTCUSDT")


def model() -> MarketModel:
    return MarketModel([BTC], marks_replayed=True, funding_replayed=True, skip_bad_rows=True)


def kinds(commands: list[Any]) -> list[str]:
    return [type(c).__name__ for c in commands]


# ---------------------------------------------------------------------- the market model
def test_a_quote_with_one_bad_side_goes_whole() -> None:
    m = model()
    rows = [
        Row(T0, QUOTE, "BTCUSDT", 0, "61800.0", "1.000", "", "q.csv:2"),
        Row(T0, QUOTE, "BTCUSDT", 1, "61800.1", "2.000", "", "q.csv:2"),
        Row(T0 + S, QUOTE, "BTCUSDT", 0, "61800.05", "1.000", "", "q.csv:3"),  # off the 0.1 grid
        Row(T0 + S, QUOTE, "BTCUSDT", 1, "61800.2", "2.000", "", "q.csv:3"),  # good, but of a bad line
        Row(T0 + 2 * S, QUOTE, "BTCUSDT", 0, "61800.1", "1.000", "", "q.csv:4"),
        Row(T0 + 2 * S, QUOTE, "BTCUSDT", 1, "61800.2", "1.500", "", "q.csv:4"),
    ]
    out = list(m.commands(rows))
    assert out == [
        ReplayedQuote(T0, "BTCUSDT", 618000, 1000, 618001, 2000, 0),
        ReplayedQuote(T0 + 2 * S, "BTCUSDT", 618001, 1000, 618002, 1500, 0),
    ]
    assert m.bad_rows == 1 and m.bad_row_examples == ["q.csv:3: field 'price': '61800.05' is not a multiple of tick 0.1"]


def test_a_bar_with_one_bad_point_goes_whole() -> None:
    m = model()
    good = [Row(T0 + k * S, TRADE, "BTCUSDT", 0, p, "", "", "b.csv:2") for k, p in enumerate(("61800.0", "61801.0", "61799.0", "61800.5"))]
    bad = [Row(T0 + (4 + k) * S, TRADE, "BTCUSDT", 1, p, "", "", "b.csv:3") for k, p in enumerate(("61800.5", "61802.0", "61799.95", "61801.0"))]
    out = list(m.commands(good + bad))
    assert kinds(out) == ["ReplayedTrade"] * 4 and [c.price_ticks for c in out] == [618000, 618010, 617990, 618005]
    assert m.bad_rows == 1 and m.bad_row_examples[0].startswith("b.csv:3: field 'price': '61799.95'")


def test_a_bad_depth_line_is_a_gap_until_the_next_snapshot() -> None:
    """A diff with one bad level: none of its levels, a gap in its place, and no level of
    the symbol after it until a snapshot (a clear row) — the book would miss an update."""
    m = model()
    rows = [
        Row(T0, CLEAR, "BTCUSDT", ANY, "", "", "", "d:1"),
        Row(T0, LEVEL, "BTCUSDT", 0, "61800.0", "1.000", "", "d:1"),
        Row(T0, LEVEL, "BTCUSDT", 1, "61800.1", "1.000", "", "d:1"),
        Row(T0 + S, LEVEL, "BTCUSDT", 0, "61800.0", "2.000", "", "d:2"),
        Row(T0 + S, LEVEL, "BTCUSDT", 1, "61800.1", "2.0005", "", "d:2"),  # off the 0.001 lot
        Row(T0 + 2 * S, TRADE, "BTCUSDT", 0, "61800.1", "0.010", "", "t:2"),  # prints go on
        Row(T0 + 3 * S, LEVEL, "BTCUSDT", 0, "61800.0", "3.000", "", "d:3"),  # not trusted: dropped
        Row(T0 + 4 * S, CLEAR, "BTCUSDT", ANY, "", "", "", "d:4"),  # the next snapshot
        Row(T0 + 4 * S, LEVEL, "BTCUSDT", 0, "61800.0", "4.000", "", "d:4"),
    ]
    out = list(m.commands(rows))
    assert out == [
        ClearReplayedLevels(T0, "BTCUSDT", ANY),
        SetReplayedLevels(T0, "BTCUSDT", ((0, 618000, 1000), (1, 618001, 1000))),
        ReplayedGap(T0 + S, "BTCUSDT", "d:2: bad depth line skipped (field 'qty': '2.0005' is not a multiple of lot 0.001)"),
        ReplayedTrade(T0 + 2 * S, "BTCUSDT", 0, 618001, 10),
        ClearReplayedLevels(T0 + 4 * S, "BTCUSDT", ANY),
        SetReplayedLevels(T0 + 4 * S, "BTCUSDT", ((0, 618000, 4000),)),
    ]
    assert m.bad_rows == 1
    assert m.ignored == {"level rows after a skipped bad depth line (until the next snapshot)": 1}


def test_without_skip_bad_rows_the_first_bad_value_stops() -> None:
    m = MarketModel([BTC], marks_replayed=True, funding_replayed=True)
    rows = [Row(T0, TRADE, "BTCUSDT", 0, "61800.05", "0.010", "", "t.csv:7")]
    with pytest.raises(Exception, match=r"t.csv:7: field 'price': '61800.05' is not a multiple of tick 0.1"):
        list(m.commands(rows))


# ---------------------------------------------------------------------- replays of files
KLINE_HEADER = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"


def _px(k: int) -> str:
    dimes = 618_000 + (k * 7) % 23
    return f"{dimes // 10}.{dimes % 10}"


def klines(n: int) -> list[str]:
    lines = [KLINE_HEADER]
    for k in range(n):
        o, c = _px(k), _px(k + 1)
        hi = f"{max(float(o), float(c)) + 0.5:.1f}"
        lo = f"{min(float(o), float(c)) - 0.5:.1f}"
        start = T0_MS + 60_000 * k
        lines.append(f"{start},{o},{hi},{lo},{c},12.345,{start + 59_999},0,60,0,0,0")
    return lines


def prints(n: int) -> list[str]:
    """exsim-csv prints every 7 s: between a bar's points once merged by time."""
    lines = ["ts_ns,kind,symbol,side,price,qty,rate"]
    for k in range(n):
        lines.append(f"{T0 + 7 * S * k + 1},trade,BTCUSDT,{'buy' if k % 2 else 'sell'},{_px(k + 3)},0.010,")
    return lines


class Seen(Strategy):
    """Every replayed print and book update a strategy hears of, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def on_trade(self, ctx: Any, trade: Any) -> None:
        self.seen.append(("trade", *trade))

    def on_book(self, ctx: Any, update: Any) -> None:
        self.seen.append(("book", *update))


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def trace(files: list[Path], run_dir: Path, skip: bool) -> tuple[Any, ...]:
    strategy = Seen()
    config = ReplayConfig(skip_bad_rows=skip, log_book=True, sample_interval_ns=60 * S, mark_interval_ns=60 * S)
    summary = Replay(files, strategy, config, out_dir=run_dir).run()
    events = (run_dir / "events.jsonl").read_text().splitlines()
    return summary, (summary["state_hash"], events, strategy.seen)


def spoil(lines: list[str], line: int, col: int, value: str) -> list[str]:
    out = list(lines)
    cells = out[line - 1].split(",")
    cells[col] = value
    out[line - 1] = ",".join(cells)
    return out


def test_a_bad_bar_among_another_files_prints_goes_whole(tmp_path: Path) -> None:
    """Merged by time, a bar's four points have another file's prints between them; the
    bad bar still goes whole, and the run is that of the bar file without it (the next
    bar's aggressor side included: its file is read again without the bad line)."""
    bars = klines(12)
    bad = spoil(bars, 5, 3, "61796.05")  # the low of the 4th bar, off the grid
    other = write(tmp_path / "prints.csv", prints(100))
    summary, skipped = trace([write(tmp_path / "bad" / "BTCUSDT-1m-2024-08-09.csv", bad), other], tmp_path / "run", True)
    clean = bars[:4] + bars[5:]
    reference_summary, reference = trace([write(tmp_path / "clean" / "BTCUSDT-1m-2024-08-09.csv", clean), other], tmp_path / "ref", False)
    assert summary["bad_rows"] == 1 and summary["depth_gaps"] == 0
    assert summary["bad_row_examples"][0].endswith("field 'price': '61796.05' is not a multiple of tick 0.1")
    assert skipped == reference


def test_several_bad_lines_and_a_line_the_reader_refuses(tmp_path: Path) -> None:
    bars = klines(20)
    bad = spoil(spoil(spoil(bars, 4, 1, "61800.05"), 9, 4, "61800.02"), 15, 3, "61790.01")
    bad = spoil(bad, 12, 0, "soon")  # the reader refuses this one
    summary, skipped = trace([write(tmp_path / "bad" / "BTCUSDT-1m-2024-08-09.csv", bad)], tmp_path / "run", True)
    clean = [line for i, line in enumerate(bars, 1) if i not in (4, 9, 12, 15)]
    _, reference = trace([write(tmp_path / "clean" / "BTCUSDT-1m-2024-08-09.csv", clean)], tmp_path / "ref", False)
    assert summary["bad_rows"] == 4
    assert skipped == reference


def test_bad_lines_past_the_limit_go_where_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the limit of lines a file is read again without, a bad line is left out where
    it is (still whole), and counted all the same."""
    monkeypatch.setattr(runner, "_MAX_BAD_LINES", 2)
    bars = klines(20)
    bad = bars
    for line in (4, 8, 12, 16):
        bad = spoil(bad, line, 1, "61800.05")
    summary, _ = trace([write(tmp_path / "bad" / "BTCUSDT-1m-2024-08-09.csv", bad)], tmp_path / "run", True)
    assert summary["bad_rows"] == 4
    assert summary["rows_by_kind"]["trade"] == 4 * (20 - 4)  # four points a bar, every bad bar whole


def test_a_bad_depth_line_of_a_file_is_a_gap(tmp_path: Path) -> None:
    """exsim-csv depth: a bad diff line is one gap, its depth dropped until the next snapshot."""
    lines = ["ts_ns,kind,symbol,side,price,qty,rate", f"{T0},clear,BTCUSDT,,,,"]
    for k in range(6):
        ts = T0 + k * S
        lines += [f"{ts},level,BTCUSDT,buy,61800.0,{k + 1}.000,", f"{ts + 1},trade,BTCUSDT,buy,61800.1,0.010,"]
    lines += [f"{T0 + 9 * S},clear,BTCUSDT,,,,", f"{T0 + 9 * S},level,BTCUSDT,sell,61800.1,1.000,"]
    bad = list(lines)
    bad[6] = bad[6].replace("61800.0,", "61800.01,")  # line 7: the level at T0 + 2 s
    summary, _ = trace([write(tmp_path / "depth.csv", bad)], tmp_path / "run", True)
    assert summary["bad_rows"] == 1 and summary["depth_gaps"] == 1
    notes = [n["text"] for n in summary["notes"]]
    assert any(f"{tmp_path / 'depth.csv'}:7: bad depth line skipped (field 'price': " in n for n in notes), notes
    assert summary["rows_left_out"] == {"level rows after a skipped bad depth line (until the next snapshot)": 3}
    events = [json.loads(e) for e in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    deltas = [(e["ts_ns"], e["side"], e["lots"]) for e in events if e["event"] == "BookDelta"]
    # 1.000 then 2.000 at 61800.0; the gap drops it; nothing until the snapshot at 9 s
    assert deltas == [(T0, "BUY", 1000), (T0 + S, "BUY", 2000), (T0 + 2 * S, "BUY", 0), (T0 + 9 * S, "SELL", 1000)]


def test_a_checkpointed_run_with_bad_lines_resumes_to_the_same_end(tmp_path: Path) -> None:
    """A resume reads the inputs again to where the snapshot was, bad lines and the file's
    second reading included: the same end as the run that never stopped."""
    from exsim.replay.checkpoint import SNAPSHOT_NAME
    from exsim_examples.holder import Holder

    bars = klines(40)
    bad = spoil(spoil(spoil(bars, 6, 1, "61800.05"), 21, 4, "61800.02"), 30, 0, "soon")
    path = write(tmp_path / "bars" / "BTCUSDT-1m-2024-08-09.csv", bad)
    config = ReplayConfig(skip_bad_rows=True, sample_interval_ns=60 * S, mark_interval_ns=60 * S)

    def holder() -> Holder:
        return Holder(qty="0.01", leverage=10, enter_after_s=300)

    plain = Replay([path], holder(), config, out_dir=tmp_path / "plain").run()
    assert plain["bad_rows"] == 3
    snapshots: list[Path] = []

    def keep(info: dict[str, Any]) -> None:
        kept = tmp_path / f"snapshot-{len(snapshots)}"
        kept.write_bytes((tmp_path / "ck" / SNAPSHOT_NAME).read_bytes())
        snapshots.append(kept)

    Replay([path], holder(), config, checkpoint_every=40, checkpoint_dir=tmp_path / "ck", on_checkpoint=keep).run()
    assert len(snapshots) >= 2
    for snapshot in snapshots:
        resumed = Replay([path], holder(), config, resume=snapshot).run()
        assert resumed["state_hash"] == plain["state_hash"]
        assert (resumed["bad_rows"], resumed["bad_row_examples"], resumed["rows"]) == (3, plain["bad_row_examples"], plain["rows"])
