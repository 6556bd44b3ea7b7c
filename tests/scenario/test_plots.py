"""Scenario plots (exsim.scenario.plots) from hand-written run directories."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from exsim.errors import InputError
from exsim.replay.recorder import utc_text
from exsim.scenario.plots import compare_figure, write_compare_plot, write_scenario_plots
from exsim.scenario.record import MARK_FIELDS, SERIES_FIELDS

T0 = 1_723_161_309_000_000_000  # 2024-08-08T23:55:09Z
MIN = 60_000_000_000
SYMBOLS = {"BTCUSDT": 60_000.0, "ETHUSDT": 2_600.0}


def _write(d: Path, series: list[tuple], marks: list[tuple], summary: dict) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "timeseries.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(SERIES_FIELDS)
        for ts, aid, name, eq, ratio, why in series:
            w.writerow((ts, utc_text(ts), aid, name, eq, eq, eq, "0", ratio, why))
    with open(d / "marks.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(MARK_FIELDS)
        for row in marks:
            w.writerow((row[0], utc_text(row[0]), *row[1:]))
    (d / "summary.json").write_text(json.dumps(summary, indent=1))
    (d / "events.jsonl").write_text("")
    return d


def _liq(ts: int, symbol: str) -> dict:
    return {"ts_ns": ts, "after_s": str((ts - T0) // 1_000_000_000), "scope": "isolated", "positions": [f"{symbol} long 1"]}


def make_run(d: Path, mode: str, population: int = 0, steps: int = 20) -> Path:
    """Two explicit accounts (the trader is liquidated at step 12 in isolated, 15 in cross), two symbols."""
    liq_step = 12 if mode == "isolated" else 15
    series, marks = [], []
    for k in range(steps + 1):
        ts = T0 + k * MIN
        why = "start" if k == 0 else "end" if k == steps else "mark"
        for sym, p0 in SYMBOLS.items():
            mark = p0 * (1 - 0.01 * k)
            bid, ask = (f"{mark - 1:.1f}", f"{mark + 1:.1f}") if k % 3 else ("", "")
            marks.append((ts, sym, f"{mark:.1f}", bid, ask, 0))
        liquidated = k >= liq_step
        trader_eq = 0 if liquidated else 1000 - 60 * k
        trader_ratio = 0 if liquidated else min(100.0, 0.1 + 0.07 * k)
        series.append((ts, 1, "trader", f"{trader_eq:.2f}", f"{trader_ratio:.8f}", why))
        series.append((ts, 2, "hedger", f"{5000 + 20 * k:.2f}", f"{0.05 + 0.001 * k:.8f}", why))
        for j in range(population):
            gone = k >= 8 + j % 10
            ratio = 0 if gone else 0.2 + 0.03 * k + 0.01 * j
            series.append((ts, 100 + j, f"pop-{j + 1}", f"{0 if gone else 2_000 - 50 * k:.2f}", f"{ratio:.8f}", why))
    summary = {
        "scenario": "flash-crash",
        "margin_mode": mode,
        "start": utc_text(T0),
        "accounts": [
            {"account": 1, "name": "trader", "liquidations": [_liq(T0 + liq_step * MIN, "BTCUSDT")]},
            {"account": 2, "name": "hedger", "liquidations": []},
        ],
        "cascade": {"depth": 1},
    }
    if population:
        summary["population"] = {"accounts": population, "liquidated": population}
    return _write(d, series, marks, summary)


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG"), path
    assert len(data) > 10_000, (path, len(data))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("population", [0, 30])
def test_scenario_plots(tmp_path: Path, population: int) -> None:
    run = make_run(tmp_path / "run", "isolated", population)
    paths = write_scenario_plots(run)
    assert [p.name for p in paths] == ["price.png", "equity.png", "margin_ratio.png"]
    for p in paths:
        assert p.parent == run
        assert_png(p)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("population", [0, 30])
def test_compare_plot(tmp_path: Path, population: int) -> None:
    runs = {mode: make_run(tmp_path / mode, mode, population) for mode in ("isolated", "cross")}
    out = write_compare_plot(runs, tmp_path / "compare.png")
    assert out == tmp_path / "compare.png"
    assert_png(out)

    fig = compare_figure(runs)
    try:
        assert fig._suptitle is not None and fig._suptitle.get_text() == "flash-crash: isolated vs cross"
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        for want in ("isolated · trader", "isolated · hedger", "cross · trader", "cross · hedger",
                     "liquidation (isolated)", "liquidation (cross)"):
            assert want in labels, labels
        pop_labels = [lab for lab in labels if "population" in lab]
        assert len(pop_labels) == (2 if population else 0), labels  # one aggregate line per mode, not 30
        if population:
            assert pop_labels == ["isolated · population (30): total equity", "cross · population (30): total equity"]
        top, bottom = fig.axes[0], fig.axes[1]
        colours = {line.get_label(): line.get_color() for line in top.get_lines()} | {
            line.get_label(): line.get_color() for ax in fig.axes[2:] for line in ax.get_lines()}
        assert colours["isolated · trader"] == colours["isolated · hedger"] != colours["cross · trader"]
        ratio_labels = [t.get_text() for t in bottom.get_legend().get_texts()]
        assert "liquidation (100 %)" in ratio_labels and "cross · trader" in ratio_labels
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_population_equity_on_its_own_axis(tmp_path: Path) -> None:
    """30 accounts of 2000 (60k in total) against accounts of ~5k: >10x apart, so a right-hand axis."""
    from exsim.scenario.plots import _Run, equity_figure

    fig = equity_figure(_Run(make_run(tmp_path / "run", "cross", population=30)))
    try:
        assert len(fig.axes) == 2
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert labels == ["trader", "hedger", "liquidation", "population (30 accounts): total equity"]
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


@pytest.mark.filterwarnings("error")
def test_single_sample_without_positions(tmp_path: Path) -> None:
    summary = {"scenario": "idle", "margin_mode": "cross", "start": utc_text(T0),
               "accounts": [{"account": 1, "name": "idle", "liquidations": []}], "cascade": {}}
    run = _write(tmp_path / "run", [(T0, 1, "idle", "100", "0", "end")], [], summary)
    for p in write_scenario_plots(run):
        assert p.read_bytes().startswith(b"\x89PNG")
    assert write_compare_plot({"isolated": run, "cross": run}, tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")


def test_missing_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        write_scenario_plots(tmp_path)
