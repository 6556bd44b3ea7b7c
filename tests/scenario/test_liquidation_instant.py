"""A scenario's liquidation instant is in its time series and reaches 100 % on its
margin-ratio plot, as a replay's does (tests/replay/test_run_record.py)."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

from exsim.cli import main
from exsim.scenario.plots import _Run, ratio_figure


def test_the_liquidated_account_has_a_row_at_the_trigger(tmp_path: Path) -> None:
    """Each liquidation of one-position is a time-series row of its account at its timestamp, ratio >= 1."""
    assert main(["scenario", "one-position", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    liqs = [(a["account"], x) for a in summary["accounts"] for x in a["liquidations"]]
    assert liqs
    with open(tmp_path / "timeseries.csv", newline="") as f:
        series = list(csv.DictReader(f))
    for account, x in liqs:
        at = [r for r in series if r["ts_ns"] == str(x["ts_ns"]) and r["why"] == "liquidation"]
        assert [r["account"] for r in at] == [str(account)]
        assert Decimal(at[0]["margin_ratio"]) >= 1


def test_the_margin_ratio_plot_reaches_100_percent_and_other_lines_stay_whole(tmp_path: Path) -> None:
    """The liquidated account's ratio line reaches 100 %; no account's line has a gap at the liquidation's row."""
    import matplotlib.pyplot as plt

    assert main(["scenario", "one-position", "--out", str(tmp_path)]) == 0
    run = _Run(tmp_path)
    fig = ratio_figure(run)
    try:
        lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label() in {name for _, name, _ in run.accounts}]
        assert lines and max(max(ln.get_ydata()) for ln in lines) >= 100
        for aid, _, _ in run.accounts:
            values = run.values(aid, "equity")
            first = next(k for k, v in enumerate(values) if v == v)
            assert all(v == v for v in values[first:])  # no NaN after the account's first sample
    finally:
        plt.close(fig)
