"""Gaps in the market data (issue 13, item 2): the periodic samplers — the computed mark's
index sampler, the time series, computed funding — walk the first six hours
(``MAX_WALKED_GAP_NS``) of a gap between two market rows and jump the rest, so a far-off
row inside the readers' time window costs hours of samples, not decades of them."""

from __future__ import annotations

import csv

from pathlib import Path
from typing import Any

from exsim.replay import Replay, ReplayConfig, Strategy
from exsim.replay.runner import MAX_WALKED_GAP_NS

T0 = 1_723_161_600_000_000_000  # 2024-08-09 00:00:00 UTC, a funding time
S = 1_000_000_000
HOUR = 3_600 * S
DAY = 24 * HOUR
YEAR = 365 * DAY


def write_trades(path: Path, times: list[int]) -> Path:
    """Trades at ``times`` (ns), alternating sides, one price."""
    lines = ["ts_ns,kind,symbol,side,price,qty,rate"]
    lines += [f"{t},trade,BTCUSDT,{'buy' if k % 2 else 'sell'},61800.0,0.010," for k, t in enumerate(times)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(path: Path, **config: Any) -> Replay:
    """Replay ``path`` into a run directory beside it, a time-series row at every sample."""
    options = {"sample_interval_ns": HOUR, "mark_interval_ns": 60 * S, "sample_all": True, **config}
    replay = Replay([path], Strategy(), ReplayConfig(**options), out_dir=path.with_name(path.stem + "-run"))
    replay.run()
    return replay


def sample_times(replay: Replay) -> list[int]:
    """The times of the periodic rows of the run's timeseries.csv."""
    with open(Path(replay.recorder.out_dir) / "timeseries.csv", newline="") as f:
        return [int(r["ts_ns"]) for r in csv.DictReader(f) if r["why"] == "sample"]


class TestGaps:
    def test_fifty_years_without_data_are_jumped(self, tmp_path: Path) -> None:
        """Two rows 50 years apart: the time series holds six hours of hourly samples after
        the first row, then resumes at the second one (it would hold 438,000 samples walked)."""
        last = T0 + 50 * YEAR
        replay = run(write_trades(tmp_path / "gap.csv", [T0, T0 + S, last]))
        times = sample_times(replay)
        assert replay.gaps_jumped == 3  # the index sampler, computed funding and the time series
        assert max(t for t in times if t < last) <= T0 + S + MAX_WALKED_GAP_NS
        assert len(times) <= MAX_WALKED_GAP_NS // HOUR + 2

    def test_the_samplers_resume_on_their_grid_at_the_next_row(self, tmp_path: Path) -> None:
        """After a jump the samples keep their grid: the first one after the gap is the
        first grid time at or after the next row."""
        nxt = T0 + 10 * DAY + 1_234 * S
        replay = run(write_trades(tmp_path / "gap.csv", [T0, nxt, nxt + 3 * HOUR]))
        after = [t for t in sample_times(replay) if t >= nxt]
        assert after[:3] == [T0 + 10 * DAY + HOUR, T0 + 10 * DAY + 2 * HOUR, T0 + 10 * DAY + 3 * HOUR]
        assert all(t % HOUR == 0 for t in sample_times(replay))

    def test_a_gap_within_the_limit_is_walked(self, tmp_path: Path) -> None:
        """Five hours without data: every hourly sample is taken, nothing is jumped."""
        assert MAX_WALKED_GAP_NS > 5 * HOUR + S
        replay = run(write_trades(tmp_path / "gap.csv", [T0, T0 + 5 * HOUR + S]))
        assert replay.gaps_jumped == 0
        assert sample_times(replay) == [T0 + k * HOUR for k in range(1, 6)]

    def test_a_jump_is_told_in_the_summary(self, tmp_path: Path) -> None:
        """``summary.json`` counts the gaps jumped; a run without one does not carry the key."""
        jumped = run(write_trades(tmp_path / "a.csv", [T0, T0 + 3 * DAY]))
        walked = run(write_trades(tmp_path / "b.csv", [T0, T0 + HOUR]))
        assert jumped.recorder.summary()["gaps_jumped"] == jumped.gaps_jumped > 0
        assert "gaps_jumped" not in walked.recorder.summary()

    def test_computed_funding_jumps_too(self, tmp_path: Path, monkeypatch: Any) -> None:
        """Computed funding (every 8 h) is settled at the funding times of the walked part of
        a 30-day gap and at those after it, not at the 88 in between."""
        settled: list[int] = []
        original = Replay._settle_funding

        def counting(self: Replay, symbol: str, loop: Any, ts: int) -> None:
            settled.append(ts)
            original(self, symbol, loop, ts)

        monkeypatch.setattr(Replay, "_settle_funding", counting)
        start = T0 + 4 * HOUR  # the first funding time (08:00) falls in the walked part
        replay = run(write_trades(tmp_path / "gap.csv", [start, T0 + 30 * DAY, T0 + 30 * DAY + 5 * HOUR]), funding="computed")
        assert replay.funding_mode == "computed" and start + MAX_WALKED_GAP_NS < T0 + 16 * HOUR
        assert settled == [T0 + 8 * HOUR, T0 + 30 * DAY]

    def test_a_run_resumed_inside_a_gap_ends_as_an_uninterrupted_one(self, tmp_path: Path) -> None:
        """Snapshots taken on both sides of a jumped gap resume to the same final state
        and the same samples as the run without a stop."""
        import shutil

        from exsim_examples.holder import Holder

        times = [T0 + k * S for k in range(12)] + [T0 + 3 * DAY + k * S for k in range(12)]
        path = write_trades(tmp_path / "gap.csv", times)
        config = ReplayConfig(sample_interval_ns=HOUR, mark_interval_ns=60 * S)
        plain = Replay([path], Holder(qty="0.01", leverage=10), config)
        plain_summary = plain.run()
        kept: list[Path] = []

        def keep(info: dict[str, Any]) -> None:
            kept.append(shutil.copyfile(info["path"], tmp_path / f"{len(kept)}.snapshot"))

        Replay([path], Holder(qty="0.01", leverage=10), config, checkpoint_every=6, checkpoint_dir=tmp_path / "ck",
               on_checkpoint=keep).run()
        assert len(kept) >= 3
        for snapshot in kept:
            resumed = Replay([path], Holder(qty="0.01", leverage=10), config, resume=snapshot)
            summary = resumed.run()
            assert summary["state_hash"] == plain_summary["state_hash"]
            assert resumed.gaps_jumped == plain.gaps_jumped > 0
            assert (resumed.recorder.rows_written, resumed.recorder.samples_left_out) == (
                plain.recorder.rows_written, plain.recorder.samples_left_out)
