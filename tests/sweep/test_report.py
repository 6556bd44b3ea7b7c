"""``exsim sweep report`` and ``exsim sweep rerun`` on a real sweep of the shipped crash bars:
the summary's figures are the rows', the plots are drawn, the best cells are ranked by the
metric, a rerun gives the row's run again, and bad input is one line naming it."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from rich.console import Console

from exsim.cli import main
from exsim.errors import InputError
from exsim.sweep.cells import grid
from exsim.sweep.engine import run_sweep
from exsim.sweep.report import (
    PLOT_NAMES,
    REPORT_DIR,
    best_cells,
    cell_means,
    groups,
    heatmap_figure,
    load_table,
    plot_axes,
    report,
    rerun,
)
from exsim.sweep.spec import load_sweep

REPO = Path(__file__).resolve().parents[2]
CRASH = REPO / "replays" / "btc-perp-20220121-1m.csv"
EXAMPLE = REPO / "examples" / "sweeps" / "crash-leverage.toml"
XRP_EXAMPLE = REPO / "examples" / "sweeps" / "xrp-week.toml"
XRP_CANDLES = REPO.parent / "shared" / "data" / "freqtrade-futures" / "XRP_USDT_USDT-5m-futures.feather"
HERE = Path(__file__).resolve().parent

# 12 cells: a long holder with 20 % of 1,000 USDT as margin through the 2022-01-21 slide;
# the 125x isolated cells are liquidated, the 10x ones are not, and one cell fails
SWEEP = f"""
name = "report-test"
[inputs]
files = ["{CRASH}"]
symbol = "BTCUSDT"
[strategy]
name = "{HERE / "failing_holder.py"}:FailingHolder"
params = {{ margin_fraction = "0.2", fail_in = "10/cross/3600" }}
[config]
balance = "1000"
[axes]
leverage = [10, 125]
margin_mode = ["isolated", "cross"]
[axes.param]
enter_after_s = [0, 3600, 7200]
"""

# one axis with more than one value besides margin_mode: line plots
SWEEP_ONE_AXIS = f"""
name = "report-line"
[inputs]
files = ["{CRASH}"]
symbol = "BTCUSDT"
[strategy]
name = "holder"
params = {{ margin_fraction = "0.2", enter_after_s = "3600" }}
[config]
balance = "1000"
[axes]
leverage = [20, 125]
margin_mode = ["isolated", "cross"]
"""


# a scenario sweep: two built-in scenarios (the input groups) under two venues' rules
SWEEP_SCENARIOS = """
name = "report-scenarios"
[inputs]
scenarios = ["one-position", "cascade"]
[axes]
margin_mode = ["isolated", "cross"]
venue = ["binance", "bybit"]
"""


def _run(tmp: Path, text: str) -> Path:
    source = tmp / "sweep.toml"
    source.write_text(text)
    out = tmp / "out"
    run_sweep(load_sweep(source), out, jobs=1, progress=False)
    return out


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 12-cell sweep, run once through the engine for the whole module."""
    return _run(tmp_path_factory.mktemp("sweep"), SWEEP)


@pytest.fixture(scope="module")
def swept_one_axis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("line"), SWEEP_ONE_AXIS)


@pytest.fixture(scope="module")
def swept_scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("scenarios"), SWEEP_SCENARIOS)


def raw_rows(out: Path) -> list[dict[str, Any]]:
    """The rows as the engine appended them (rows.jsonl), read apart from the report's reader."""
    return [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]


def console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=200, color_system=None), buf


def run_report(out: Path, **kw: Any) -> str:
    con, buf = console()
    args = {"x": None, "y": None, "metric": "pnl", "top": 10} | kw
    assert report(out, console=con, **args) == 0
    return buf.getvalue()


class TestSummary:
    def test_liquidation_rate_per_margin_mode_is_the_rows_count(self, swept: Path) -> None:
        """Each margin mode's liquidated count and rate are those of its cells that ran, from the rows."""
        rows = raw_rows(swept)
        for g in groups(load_table(swept)):
            ran = [r for r in rows if r["margin_mode"] == g.label and r["status"] == "ok"]
            hit = sum(1 for r in ran if int(r["liquidations"]) >= 1)
            assert (g.ok, g.liquidated) == (len(ran), hit)
            assert Fraction(str(g.liquidation_rate)) == Fraction(hit, len(ran))

    def test_the_sweep_has_liquidated_and_surviving_cells_in_each_mode(self, swept: Path) -> None:
        """The test grid is not trivial: 125x isolated is always liquidated, 10x isolated never."""
        rows = [r for r in raw_rows(swept) if r["status"] == "ok" and r["margin_mode"] == "isolated"]
        assert {int(r["liquidations"]) >= 1 for r in rows if r["leverage"] == 125} == {True}
        assert {int(r["liquidations"]) >= 1 for r in rows if r["leverage"] == 10} == {False}

    def test_median_and_mean_pnl_are_exact(self, swept: Path) -> None:
        """The median PnL per margin mode is the rows' exact one; the mean is their exact mean to 34 digits."""
        rows = raw_rows(swept)
        for g in groups(load_table(swept)):
            pnls = sorted(Fraction(r["pnl"]) for r in rows if r["margin_mode"] == g.label and r["status"] == "ok")
            n = len(pnls)
            exact = sum(pnls) / n
            assert abs(Fraction(str(g.pnl_mean)) - exact) <= abs(exact) / 10**33
            want = pnls[n // 2] if n % 2 else (pnls[n // 2 - 1] + pnls[n // 2]) / 2
            assert Fraction(str(g.pnl_median)) == want

    def test_the_worst_headroom_is_the_lowest_of_the_mode(self, swept: Path) -> None:
        """The worst min_headroom of a mode is the smallest of its rows', with that row's cell."""
        rows = raw_rows(swept)
        for g in groups(load_table(swept)):
            heads = [(Fraction(r["min_headroom"]), r["cell"]) for r in rows if r["margin_mode"] == g.label and r["min_headroom"] != ""]
            assert (Fraction(str(g.worst_headroom)), g.worst_headroom_cell) == min(heads)

    def test_a_failed_cell_is_counted_and_its_error_printed(self, swept: Path) -> None:
        """The cell told to fail is the one failed cell; the summary says so with its error line."""
        text = run_report(swept)
        failed = [r for r in raw_rows(swept) if r["status"] == "error"]
        assert len(failed) == 1 and failed[0]["leverage"] == 10 and failed[0]["margin_mode"] == "cross"
        assert "11 ok, 1 failed" in text
        assert f"failed {failed[0]['cell']}: " in text and "told to fail in 10/cross/3600" in text
        assert [g.failed for g in groups(load_table(swept))] == [0, 1]

    def test_a_sweep_not_finished_is_read_from_its_journal(self, swept: Path, tmp_path: Path) -> None:
        """A folder with rows.jsonl but no table yet (a sweep running or stopped): the report counts its rows."""
        for name in ("sweep.json", "rows.jsonl"):
            (tmp_path / name).write_bytes((swept / name).read_bytes())
        text = run_report(tmp_path)
        assert f"12 cells in {tmp_path / 'rows.jsonl'} (the sweep has not finished): 11 ok, 1 failed" in text

    def test_the_printed_rates_are_the_groups(self, swept: Path) -> None:
        """The summary prints each mode's liquidation rate in percent."""
        text = run_report(swept)
        for g in groups(load_table(swept)):
            pct = Fraction(g.liquidated * 100, g.ok)
            assert f"{float(pct):.1f} %" in text


class TestBestCells:
    def test_best_cells_by_pnl_are_highest_first(self, swept: Path) -> None:
        """By pnl the best cells come in decreasing PnL, the top one the table's highest."""
        best = best_cells(load_table(swept), "pnl", 5)
        pnls = [Fraction(r["pnl"]) for r in best]
        assert len(best) == 5 and pnls == sorted(pnls, reverse=True)
        assert pnls[0] == max(Fraction(r["pnl"]) for r in raw_rows(swept) if r["status"] == "ok")

    def test_a_cost_ranks_lowest_first(self, swept: Path) -> None:
        """By max_drawdown (a cost) the best cells come in increasing drawdown."""
        best = best_cells(load_table(swept), "max_drawdown", 11)
        drawdowns = [Fraction(r["max_drawdown"]) for r in best]
        assert drawdowns == sorted(drawdowns)

    def test_failed_cells_are_not_ranked(self, swept: Path) -> None:
        """Asking for more cells than ran lists every cell that ran, and no failed one."""
        best = best_cells(load_table(swept), "pnl", 100)
        assert len(best) == 11 and all(r["status"] == "ok" for r in best)

    def test_the_printed_best_cells_carry_their_ids(self, swept: Path) -> None:
        """The report's best-cells table lists the top cells' ids in order."""
        text = run_report(swept, metric="return", top=3)
        ids = [r["cell"] for r in best_cells(load_table(swept), "return", 3)]
        positions = [text.index(i) for i in ids]
        assert positions == sorted(positions) and "best 3 cells by return (highest first)" in text


    def test_cell_ids_are_never_cut_on_a_narrow_console(self, swept: Path) -> None:
        """On a 40-column console the best cells' ids are printed whole (they are copied into rerun)."""
        buf = io.StringIO()
        report(swept, x=None, y=None, metric="pnl", top=3, console=Console(file=buf, width=40, color_system=None))
        for r in best_cells(load_table(swept), "pnl", 3):
            assert r["cell"] in buf.getvalue()


class TestPlots:
    def test_the_heatmaps_are_written_with_ink(self, swept: Path) -> None:
        """Both heatmaps are PNGs in DIR/report with far more than a blank page's coloured pixels."""
        text = run_report(swept)
        for name in PLOT_NAMES.values():
            path = swept / REPORT_DIR / name
            assert str(path) in text
            img = Image.open(path).convert("RGB")
            assert img.width >= 1000 and img.height >= 400
            colours = img.getcolors(maxcolors=1 << 20) or []
            ink = sum(n for n, rgb in colours if rgb != (255, 255, 255))
            assert ink > img.width * img.height // 10

    def test_the_default_axes_skip_margin_mode(self, swept: Path) -> None:
        """Without --x/--y the plots are over leverage and the entry delay, margin mode in panels."""
        assert plot_axes(load_table(swept), None, None) == ("leverage", "param.enter_after_s")

    def test_one_panel_per_margin_mode(self, swept: Path) -> None:
        """The PnL heatmap has a panel for isolated and one for cross (and a colour bar)."""
        import matplotlib.pyplot as plt

        fig = heatmap_figure(load_table(swept), "pnl", "leverage", "param.enter_after_s")
        try:
            titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
            assert titles == ["isolated", "cross"] and len(fig.axes) == 3
        finally:
            plt.close(fig)

    def test_a_square_is_the_mean_over_the_other_axes(self, swept: Path) -> None:
        """A heatmap square's PnL is the mean of its cells' PnL over the entry delays (exact to 34 digits)."""
        rows = raw_rows(swept)
        means = cell_means(load_table(swept), "leverage", "margin_mode", None)
        for lev in (10, 125):
            for mode in ("isolated", "cross"):
                pnls = [Fraction(r["pnl"]) for r in rows if (r["leverage"], r["margin_mode"], r["status"]) == (lev, mode, "ok")]
                rate, mean, n = means[(str(lev), mode)]
                exact = sum(pnls) / len(pnls)
                assert n == len(pnls) and abs(Fraction(str(mean)) - exact) <= abs(exact) / 10**33

    def test_one_varied_axis_draws_lines(self, swept_one_axis: Path) -> None:
        """A sweep whose only varied axis besides margin mode is leverage gets line plots, with ink."""
        text = run_report(swept_one_axis)
        assert "plots over leverage (one axis: lines)" in text
        img = Image.open(swept_one_axis / REPORT_DIR / PLOT_NAMES["pnl"]).convert("RGB")
        colours = img.getcolors(maxcolors=1 << 20) or []
        assert sum(n for n, rgb in colours if rgb != (255, 255, 255)) > img.width * img.height // 50

    def test_chosen_axes_are_drawn(self, swept: Path) -> None:
        """--x margin_mode --y leverage is one panel of every cell over those two axes."""
        text = run_report(swept, x="margin_mode", y="leverage")
        assert "plots over margin_mode × leverage" in text


class TestRerun:
    def test_rerun_gives_the_rows_state_hash(self, swept: Path) -> None:
        """A liquidated cell run again writes a full run directory whose state hash is the row's."""
        row = next(r for r in raw_rows(swept) if r["leverage"] == 125 and r["margin_mode"] == "isolated")
        con, buf = console()
        assert rerun(swept, row["cell"], run_dir=None, console=con) == 0
        target = swept / "cells" / row["cell"]
        summary = json.loads((target / "summary.json").read_text())
        assert summary["state_hash"] == row["state_hash"]
        for name in ("timeseries.csv", "events.jsonl", "fills.csv", "price.png", "equity.png"):
            assert (target / name).is_file(), name
        assert "the same as the sweep's row" in buf.getvalue()

    def test_rerun_into_a_chosen_folder(self, swept: Path, tmp_path: Path) -> None:
        """--out puts the run directory where asked; exsim report reads it."""
        row = next(r for r in raw_rows(swept) if r["status"] == "ok" and r["margin_mode"] == "cross")
        con, _ = console()
        assert rerun(swept, row["cell"], run_dir=tmp_path / "run", console=con) == 0
        assert json.loads((tmp_path / "run" / "summary.json").read_text())["state_hash"] == row["state_hash"]
        assert main(["report", str(tmp_path / "run")]) == 0

    def test_a_changed_row_hash_is_an_error(self, swept: Path, tmp_path: Path) -> None:
        """A table whose row hash is not what the cell gives again: exit 1 and an error line."""
        copy = tmp_path / "copy"
        copy.mkdir()
        (copy / "sweep.json").write_text((swept / "sweep.json").read_text())
        rows = raw_rows(swept)
        victim = next(r for r in rows if r["status"] == "ok")
        with (copy / "results.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, list(rows[0]))
            w.writeheader()
            for r in rows:
                w.writerow(dict(r, state_hash="0" * 32) if r is victim else r)
        con, buf = console()
        assert rerun(copy, victim["cell"], run_dir=tmp_path / "run", console=con) == 1
        assert f"exsim: error: cell {victim['cell']}: state hash " in buf.getvalue()


class TestScenarioSweep:
    def test_the_inputs_are_the_second_plot_axis(self, swept_scenarios: Path) -> None:
        """With one varied axis and two scenarios, the heatmaps are venue x scenario."""
        text = run_report(swept_scenarios)
        assert "plots over venue × input" in text
        assert all((swept_scenarios / REPORT_DIR / name).is_file() for name in PLOT_NAMES.values())

    def test_a_scenario_cell_reruns_to_its_hash(self, swept_scenarios: Path) -> None:
        """A scenario cell run again gives a run directory with the row's state hash."""
        row = next(r for r in raw_rows(swept_scenarios) if r["input"] == "one-position" and r["venue"] == "bybit")
        con, _ = console()
        assert rerun(swept_scenarios, row["cell"], run_dir=None, console=con) == 0
        summary = json.loads((swept_scenarios / "cells" / row["cell"] / "summary.json").read_text())
        assert summary["state_hash"] == row["state_hash"]


class TestBadInput:
    def test_a_folder_without_results(self, tmp_path: Path) -> None:
        """An empty folder: one error naming it and the files looked for."""
        con, _ = console()
        with pytest.raises(InputError, match="no sweep results here.*results.parquet, results.csv or rows.jsonl") as e:
            report(tmp_path, x=None, y=None, metric="pnl", top=10, console=con)
        assert str(tmp_path) in str(e.value)

    def test_a_missing_folder(self, tmp_path: Path) -> None:
        """A folder that does not exist: one error naming it."""
        con, _ = console()
        with pytest.raises(InputError, match="no such folder"):
            report(tmp_path / "nope", x=None, y=None, metric="pnl", top=10, console=con)

    def test_a_malformed_sweep_json(self, swept: Path, tmp_path: Path) -> None:
        """A sweep.json that is not the engine's (no axes list): one error naming the file."""
        (tmp_path / "rows.jsonl").write_bytes((swept / "rows.jsonl").read_bytes())
        (tmp_path / "sweep.json").write_text('{"axes": 3}')
        with pytest.raises(InputError, match="sweep.json: field 'axes': not the sweep.json exsim writes"):
            load_table(tmp_path)

    def test_an_unknown_axis_names_the_choices(self, swept: Path) -> None:
        """--x that is no axis: the error lists the sweep's axes."""
        con, _ = console()
        with pytest.raises(InputError, match=r"unknown axis 'stop'; choose one of: leverage, margin_mode, param.enter_after_s, input"):
            report(swept, x="stop", y=None, metric="pnl", top=10, console=con)

    def test_an_unknown_metric_names_the_choices(self, swept: Path) -> None:
        """--metric that is no numeric column (or a text column): the error lists the numeric ones."""
        con, _ = console()
        for bad in ("profit", "state_hash"):
            with pytest.raises(InputError, match=rf"unknown metric '{bad}'; choose one of: pnl, return, end_equity"):
                report(swept, x=None, y=None, metric=bad, top=10, console=con)

    def test_the_same_axis_twice(self, swept: Path) -> None:
        """--x and --y the same axis is refused."""
        with pytest.raises(InputError, match="both 'leverage'"):
            plot_axes(load_table(swept), "leverage", "leverage")

    def test_an_unknown_cell_names_the_nearest(self, swept: Path) -> None:
        """A mistyped cell id: the error names the ids that begin with it."""
        cell = raw_rows(swept)[4]["cell"]
        con, _ = console()
        with pytest.raises(InputError, match=rf"no cell '{cell[:6]}' in the sweep; nearest: {cell}"):
            rerun(swept, cell[:6], run_dir=None, console=con)

    def test_the_command_line_says_one_line(self, swept: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """exsim sweep report with an unknown metric: exit 2 and one line on stderr."""
        assert main(["sweep", "report", str(swept), "--metric", "nope"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("exsim: error: ") and "'nope'" in err[0]


class TestShippedExample:
    def test_the_example_loads_with_its_documented_grid(self) -> None:
        """examples/sweeps/crash-leverage.toml: 7 leverages x 2 modes x 13 entry delays = 182 cells."""
        sweep = load_sweep(EXAMPLE)
        sizes = {a.name: len(a.values) for a in sweep.axes}
        assert sizes == {"leverage": 7, "margin_mode": 2, "param.enter_after_s": 13}
        assert len(grid(sweep, sweep.inputs)) == 182
        assert "182" in (EXAMPLE.parent / "README.md").read_text()

    @pytest.mark.skipif(not XRP_CANDLES.is_file(), reason="needs ../shared/data (freqtrade's XRPUSDT candles)")
    def test_the_real_data_example_loads_with_its_documented_grid(self) -> None:
        """examples/sweeps/xrp-week.toml reads the real XRPUSDT candles: 3 x 2 x 2 x 3 = 36 cells."""
        sweep = load_sweep(XRP_EXAMPLE)
        assert [Path(f).resolve() for g in sweep.inputs for f in g.files] == [XRP_CANDLES.resolve()]
        assert len(grid(sweep, sweep.inputs)) == 36
        assert "36 cells" in (EXAMPLE.parent / "README.md").read_text()
