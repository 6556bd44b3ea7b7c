"""A month of 1-minute bars (issue 12): peak memory and output size of ``exsim replay`` and
``exsim report``.

The data: ``../shared/data/nautilus-fixtures/btc-perp-20211231-20220201_1m.csv`` (45,031
BTC perpetual bars, 2021-12-31 23:01 → 2022-02-01 05:31 UTC; 180,124 rows once each bar
is a 4-point path). It holds a few quarter-dollar prices that BTCUSDT's 0.1 tick refuses,
so the replay runs with ``--skip-bad-rows`` (they are counted, not rounded).

Each command runs in a child process; its peak RSS is read with
``resource.getrusage(RUSAGE_CHILDREN)`` in a small wrapper process of its own, so the
figure is that command's alone. Target: under 200 MB RSS for the replay and for the
report; output under ~100 MB with the default sampling. Before the streaming run record
(main at 945ef24), the same replay (holder strategy) peaked at 617 MB RSS and wrote
606 MB; ``report`` on it peaked at 4.0 GB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MONTH = ROOT.parent / "shared" / "data" / "nautilus-fixtures" / "btc-perp-20211231-20220201_1m.csv"
TARGET_RSS_MB = 200
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.stderr.write(r.stderr)\n"
    "sys.exit(r.returncode)\n"
)


def peak_rss_mb(argv: list[str]) -> float:
    """Run ``argv`` in a child process; its peak resident set size in MB (ru_maxrss is KiB on Linux)."""
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def exsim(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from exsim.cli import main; sys.exit(main(sys.argv[1:]))", *args]


def test_month_of_bars_replay_and_report(benchmark: Any, tmp_path: Path) -> None:
    if not MONTH.is_file():
        pytest.skip(f"{MONTH} not found (the team's shared/ folder)")
    out = tmp_path / "run"

    def run() -> tuple[float, float]:
        replay = peak_rss_mb(
            exsim("replay", str(MONTH), "--symbol", "BTCUSDT", "--skip-bad-rows", "--strategy", "holder",
                  "--out", str(out), "--no-progress")
        )
        report = peak_rss_mb(exsim("report", str(out)))
        return replay, report

    replay_mb, report_mb = benchmark.pedantic(run, rounds=1, iterations=1)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] > 180_000 and summary["account"]["liquidations"] == 1
    assert all((out / name).is_file() for name in ("price.png", "equity.png", "margin_ratio.png"))
    sizes = {p.name: p.stat().st_size for p in out.iterdir() if p.is_file()}
    output_mb = sum(size for name, size in sizes.items() if not name.endswith(".png")) / 1e6
    benchmark.extra_info.update(
        rows=summary["rows"],
        bad_rows_skipped=summary["bad_rows"],
        timeseries_rows=summary["sampling"]["rows"],
        replay_peak_rss_mb=round(replay_mb, 1),
        report_peak_rss_mb=round(report_mb, 1),
        output_mb=round(output_mb, 1),
        files_mb={name: round(size / 1e6, 1) for name, size in sorted(sizes.items())},
        rss_target_met=replay_mb < TARGET_RSS_MB and report_mb < TARGET_RSS_MB,
    )
    print(json.dumps(benchmark.extra_info, indent=1))
