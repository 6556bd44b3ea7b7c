"""What a run with multi-asset collateral writes and prints: ``exsim compare --modes
isolated,cross,multi-assets`` side by side, the account figures in USD, the haircut lost
per asset, ``collateral.csv`` and ``collateral.png``; a run without collateral writes what
it wrote before.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import pytest

from exsim.cli import main
from exsim.scenario.record import COLLATERAL_SERIES_FIELDS


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The three runs of haircut-squeeze and what compare printed (a wide console: one line per row)."""
    out = tmp_path_factory.mktemp("squeeze")
    buf = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(buf):
        mp.setenv("COLUMNS", "240")
        assert main(["compare", "haircut-squeeze", "--modes", "isolated,cross,multi-assets", "--out", str(out)]) == 0
    return out, buf.getvalue()


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class TestCompare:
    def test_three_modes_side_by_side(self, compared: tuple[Path, str]) -> None:
        """One column per mode, in the order given; the multi-assets run keeps its liquidation at 50m."""
        _, text = compared
        assert "haircut-squeeze: isolated vs cross vs multi-assets" in text
        row = next(line for line in text.splitlines() if "time to first liquidation" in line)
        assert [c.strip() for c in row.split("│")[3:6]] == ["10m", "10m", "50m"]

    def test_it_says_that_the_btc_backs_nothing_in_single_asset_modes(self, compared: tuple[Path, str]) -> None:
        """A note per single-asset run names the idle BTC wallet."""
        _, text = compared
        flat = " ".join(text.split())
        for mode in ("isolated", "cross"):
            assert f"note: {mode}: btc-backed's 0.05000000 BTC backs nothing in single-asset collateral mode" in flat

    def test_one_plot_of_the_three_runs(self, compared: tuple[Path, str]) -> None:
        """compare.png is drawn from the three run directories."""
        out, _ = compared
        assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
        assert all((out / m / "summary.json").is_file() for m in ("isolated", "cross", "multi-assets"))


class TestRunDirectory:
    def test_a_multi_assets_account_is_told_in_usd_with_its_haircut(self, compared: tuple[Path, str]) -> None:
        """At the start: equity 2,400 USD (500 + 0.05 × 40,000 × 0.95), wallets 2,500 at the index, haircut 100 on BTC."""
        out, _ = compared
        first = rows(out / "multi-assets" / "timeseries.csv")[0]
        assert (first["asset"], first["equity"], first["wallet"], first["collateral_mode"], first["haircut_usd"]) == (
            "USD", "2400.00000000", "2500.00000000", "multi-assets", "USDT=0.00000000;BTC=100.00000000")

    def test_the_liquidation_row_has_the_account_trigger_figures(self, compared: tuple[Path, str]) -> None:
        """The trigger row: margin balance 20 USD, maintenance 32.08 USD, ratio 1.604."""
        out, _ = compared
        liq = next(r for r in rows(out / "multi-assets" / "timeseries.csv") if r["why"] == "liquidation")
        assert (liq["margin_balance"], liq["maint_margin"], liq["margin_ratio"]) == ("20.00000000", "32.08000000", "1.60400000")

    def test_collateral_csv_holds_the_index_and_every_rule_change(self, compared: tuple[Path, str]) -> None:
        """One start row at 40,000 and ratio 0.95, then the ramp's three changes."""
        out, _ = compared
        got = [(r["asset"], r["index"], r["tiers"], r["why"]) for r in rows(out / "multi-assets" / "collateral.csv")]
        assert got == [("BTC", "40000.00000000", "0.95000000", "index"), ("BTC", "40000.00000000", "0.88333334", "rule"),
                       ("BTC", "40000.00000000", "0.81666667", "rule"), ("BTC", "40000.00000000", "0.75000000", "rule")]

    def test_the_summary_has_the_collateral_and_the_account(self, compared: tuple[Path, str]) -> None:
        """``collateral.BTC`` tells the index source and the changes; the account its figures at the end."""
        out, _ = compared
        s = json.loads((out / "multi-assets" / "summary.json").read_text())
        assert s["collateral"]["BTC"]["rule_changes"] == 3 and s["collateral"]["BTC"]["index_from"] == "price"
        assert s["accounts"][0]["portfolio"]["highest_margin_ratio"] == "1.60400000"

    def test_a_collateral_plot_is_drawn(self, compared: tuple[Path, str]) -> None:
        """collateral.png is written beside the other plots."""
        out, _ = compared
        assert (out / "multi-assets" / "collateral.png").read_bytes()[:4] == b"\x89PNG"

    def test_a_run_without_collateral_has_no_collateral_columns(self, tmp_path: Path) -> None:
        """one-position writes its timeseries as before, and no collateral.csv."""
        assert main(["scenario", "one-position", "--out", str(tmp_path)]) == 0
        header = (tmp_path / "timeseries.csv").read_text().splitlines()[0].split(",")
        assert not set(COLLATERAL_SERIES_FIELDS) & set(header) and not (tmp_path / "collateral.csv").exists()


def test_modes_outside_the_three_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """``--modes cross,portfolio``: exit 2, naming the three modes."""
    assert main(["compare", "one-position", "--modes", "cross,portfolio"]) == 2
    assert "expected modes from isolated, cross, multi-assets" in capsys.readouterr().err


def test_an_index_that_follows_the_book_mark_moves_with_it() -> None:
    """``mark = "book"`` and ``index = "path:BTCUSDT"``: a market sell moves the mid, and the BTC
    index takes every mark the book gives (each ``collateral.csv`` index is a mark of the run)."""
    from exsim.scenario.runner import ScenarioRun
    from exsim.scenario.spec import parse_scenario
    from exsim.toml_fields import Source

    text = """
[scenario]
name = "book-index"
mark = "book"
margin_mode = "multi-assets"
[[instruments]]
symbol = "BTCUSDT"
[book]
levels = 50
step_ticks = 100
depth = "2000"
follow_mark = false
[collateral.BTC]
index = "path:BTCUSDT"
[paths.BTCUSDT]
marks = [["0s", "40000"]]
[[accounts]]
name = "holder"
deposit = { USDT = "100", BTC = "1" }
[[accounts]]
name = "seller"
deposit = "100000"
[[accounts.orders]]
at = "1m"
symbol = "BTCUSDT"
side = "sell"
type = "market"
qty = "1"
"""
    run = ScenarioRun(parse_scenario(Source("b.toml", text, None)), check_every_event=True)
    run.run()
    marks = {m[2] for m in run.recorder.marks}
    indexes = [r[2] for r in run.recorder.collateral_rows]
    assert len(indexes) >= 2 and set(indexes) <= marks and indexes[-1] == run.exchange.mark_price_subticks("BTCUSDT")
    assert indexes[-1] < 40_000 * 10**8
