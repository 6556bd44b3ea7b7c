"""The run record a user can trust: every symbol of a multi-symbol run reported on its own
(summary, time series, fills, price panels), the liquidation instant in the time series,
the summary and the margin-ratio plot, the run ending at the last row of the price data,
and a time series that stays small on long runs."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exsim.cli import main
from exsim.replay import Replay, ReplayConfig, Strategy
from exsim.replay.report import MinMax, figures
from exsim_examples.holder import Holder

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "hftbacktest-binance-20240808"
BTC = DATA / "usdm_btcusdt_20240808.gz"
ETH = DATA / "usdm_ethusdt_20240808.gz"
CRASH = ROOT / "replays" / "btc-perp-20220121-1m.csv"


class ShortEth(Strategy):
    """Sells 0.5 ETH at market once ETH has a book, and holds."""

    def __init__(self) -> None:
        self.sent = False

    def on_start(self, ctx: Any) -> None:
        ctx.set_leverage("ETHUSDT", 20)

    def on_book(self, ctx: Any, update: Any) -> None:
        if not self.sent and ctx.best_bid("ETHUSDT") is not None and ctx.best_ask("ETHUSDT") is not None:
            self.sent = True
            ctx.sell("ETHUSDT", ctx.qty_lots("ETHUSDT", "0.5"))


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def two_symbols(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("btc-eth")
    summary = Replay([BTC, ETH], ShortEth(), ReplayConfig(balance="10000"), out_dir=out).run()
    return out, summary


class TestMultiSymbol:
    def test_the_summary_reports_the_eth_short_not_btc_only(self, two_symbols: tuple[Path, dict[str, Any]]) -> None:
        """summary.json has a position entry per symbol: ETH short 0.5 with its entry and liquidation price."""
        _, s = two_symbols
        by = {p["symbol"]: p for p in s["positions"]}
        assert set(by) == {"BTCUSDT", "ETHUSDT"}
        eth = by["ETHUSDT"]
        assert eth["open_position"] == "-0.500" and by["BTCUSDT"]["open_position"] == "0.000"
        assert eth["fills"] >= 1 and by["BTCUSDT"]["fills"] == 0
        # a short's liquidation price is above its entry
        assert Decimal(eth["liquidation_price"]) > Decimal(eth["entry_price"]) > 0
        assert "ETHUSDT -0.500" in s["account"]["open_position"]

    def test_the_symbols_pnl_add_up_to_the_accounts(self, two_symbols: tuple[Path, dict[str, Any]]) -> None:
        """Per-symbol PnL (realized + unrealized - fees + funding) sums to the account's PnL exactly."""
        _, s = two_symbols
        assert sum(Decimal(p["pnl"]) for p in s["positions"]) == Decimal(s["account"]["pnl"])
        eth = next(p for p in s["positions"] if p["symbol"] == "ETHUSDT")
        assert Decimal(eth["pnl"]) == Decimal(eth["unrealized_pnl"]) - Decimal(eth["fees"]) + Decimal(eth["funding"])

    def test_the_time_series_has_rows_of_each_symbol(self, two_symbols: tuple[Path, dict[str, Any]]) -> None:
        """timeseries.csv rows carry their symbol; ETH's end row holds the short and the summary's liquidation price."""
        out, s = two_symbols
        series = rows(out / "timeseries.csv")
        assert {r["symbol"] for r in series} == {"BTCUSDT", "ETHUSDT"}
        eth_end = [r for r in series if r["symbol"] == "ETHUSDT" and r["why"] == "end"]
        btc_end = [r for r in series if r["symbol"] == "BTCUSDT" and r["why"] == "end"]
        assert len(eth_end) == len(btc_end) == 1
        eth = next(p for p in s["positions"] if p["symbol"] == "ETHUSDT")
        assert eth_end[0]["position_qty"] == "-0.500"
        assert eth_end[0]["liquidation_price"] == eth["liquidation_price"]
        assert Decimal(eth_end[0]["mark"]) < 5000 < Decimal(btc_end[0]["mark"])  # each row priced in its own market
        assert btc_end[0]["position_qty"] == "0.000" and btc_end[0]["liquidation_price"] == ""

    def test_fills_name_their_symbol(self, two_symbols: tuple[Path, dict[str, Any]]) -> None:
        """fills.csv holds the ETH sell at an ETH price."""
        out, _ = two_symbols
        fills = rows(out / "fills.csv")
        assert fills and {f["symbol"] for f in fills} == {"ETHUSDT"}
        assert all(f["side"] == "sell" and Decimal(f["price"]) < 5000 for f in fills)

    def test_each_symbol_has_its_own_price_panel_with_its_own_fills(self, two_symbols: tuple[Path, dict[str, Any]]) -> None:
        """price.png has one panel per symbol; the ETH fill is drawn on the ETH panel, none on BTC's."""
        import matplotlib.pyplot as plt

        out, _ = two_symbols
        figs = figures(out)
        try:
            axes = figs["price.png"].axes
            assert [ax.get_title() for ax in axes] == ["BTCUSDT", "ETHUSDT"]
            fill_points = {ax.get_title(): [tuple(o) for c in ax.collections if c.get_label() == "sell fill" for o in c.get_offsets()]
                           for ax in axes}
            assert fill_points["BTCUSDT"] == []
            assert fill_points["ETHUSDT"] and all(y < 5000 for _, y in fill_points["ETHUSDT"])
            low, high = axes[1].get_ylim()
            assert 1000 < low < high < 5000  # ETH's axis is in ETH's price range
        finally:
            for f in figs.values():
                plt.close(f)


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("crash")
    holder = Holder(qty="0.4", leverage=125, margin_mode="isolated", enter_after_s=3600)
    return out, Replay([CRASH], holder, ReplayConfig(balance="1000", symbol="BTCUSDT"), out_dir=out).run()


class TestLiquidationInstant:
    def test_the_series_has_the_trigger_at_a_ratio_of_100_percent_or_more(self, crash: tuple[Path, dict[str, Any]]) -> None:
        """The shipped crash's liquidation is a time-series row at its timestamp, ratio >= 1, the position still held."""
        out, s = crash
        liq_ts = str(s["liquidations"][0]["ts_ns"])
        at = [r for r in rows(out / "timeseries.csv") if r["ts_ns"] == liq_ts and r["why"] == "liquidation"]
        assert len(at) == 1
        assert Decimal(at[0]["margin_ratio"]) >= 1 and at[0]["position_qty"] == "0.400"
        assert at[0]["liquidation_price"] == s["liquidations"][0]["positions"][0]["liquidation_price"]

    def test_the_minimum_headroom_is_the_liquidation_at_zero_or_below(self, crash: tuple[Path, dict[str, Any]]) -> None:
        """The summary's minimum headroom is at the liquidation's timestamp and <= 0."""
        _, s = crash
        hs = s["account"]["min_margin_headroom"]
        assert hs["ts_ns"] == s["liquidations"][0]["ts_ns"] and hs["headroom"] <= 0
        assert s["positions"][0]["min_margin_headroom"]["headroom"] <= 0

    def test_the_margin_ratio_plot_reaches_100_percent(self, crash: tuple[Path, dict[str, Any]]) -> None:
        """margin_ratio.png's line reaches the 100 % line at the liquidation."""
        import matplotlib.pyplot as plt

        out, _ = crash
        figs = figures(out)
        try:
            ax = figs["margin_ratio.png"].axes[0]
            line = next(ln for ln in ax.get_lines() if "margin ratio" in str(ln.get_label()))
            assert max(line.get_ydata()) >= 100
        finally:
            for f in figs.values():
                plt.close(f)


class TestRunSpan:
    @staticmethod
    def funding_file(tmp_path: Path) -> Path:
        """BTCUSDT funding every 8 h from 2022-01-21 00:00 for 28 days: longer than the 4 h of crash bars."""
        path = tmp_path / "fundingRate" / "BTCUSDT-fundingRate-2022-01.csv"
        path.parent.mkdir(parents=True)
        t0_ms = 1_642_723_200_000  # 2022-01-21 00:00 UTC
        lines = ["calc_time,funding_interval_hours,last_funding_rate"]
        lines += [f"{t0_ms + k * 8 * 3_600_000},8,0.00010000" for k in range(3 * 28)]
        path.write_text("\n".join(lines) + "\n")
        return path

    def test_a_longer_funding_file_does_not_stretch_the_run(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The run spans the bars, not the 28 days of funding; the summary and the printout warn, naming both spans."""
        funding = self.funding_file(tmp_path)
        out = tmp_path / "run"
        assert main(["replay", str(CRASH), str(funding), "--symbol", "BTCUSDT", "--strategy", "holder", "--out", str(out), "--no-progress"]) == 0
        s = json.loads((out / "summary.json").read_text())
        assert s["first_time_utc"].startswith("2022-01-21T20:00") and s["last_time_utc"].startswith("2022-01-21T23:59")
        assert s["simulated_s"] < 4 * 3600
        span = s["span"]
        assert span["rows_before_price_start"] == 3  # funding at 00:00, 08:00 and 16:00 on the 21st
        assert span["rows_after_price_end"] == 3 * 28 - 3
        warning = span["warning"]
        assert "btc-perp-20220121-1m.csv 2022-01-21 20:00:00 → 2022-01-21 23:59:" in warning
        assert "BTCUSDT-fundingRate-2022-01.csv 2022-01-21 00:00:00 → 2022-02-17 16:00:00" in warning
        assert "the run used 2022-01-21" in warning
        printed = capsys.readouterr().out
        assert "warning:" in printed and "cover different spans" in " ".join(printed.split())

    def test_inputs_with_one_span_get_no_warning(self, crash: tuple[Path, dict[str, Any]]) -> None:
        """A single file's run has no span warning."""
        _, s = crash
        assert s["span"]["warning"] is None and s["span"]["rows_after_price_end"] == 0


class TestBoundedOutput:
    def test_by_default_unchanged_periodic_rows_are_left_out_and_the_summary_says_how_to_get_them(
        self, crash: tuple[Path, dict[str, Any]], tmp_path: Path
    ) -> None:
        """Default sampling writes a periodic row only when it differs; --sample 1s writes them all."""
        out, s = crash
        sampling = s["sampling"]
        assert sampling["left_out"] > 0 and "--sample" in sampling["more"]
        default_rows = rows(out / "timeseries.csv")
        holder = Holder(qty="0.4", leverage=125, margin_mode="isolated", enter_after_s=3600)
        every = Replay([CRASH], holder, ReplayConfig(balance="1000", symbol="BTCUSDT", sample_all=True), out_dir=tmp_path).run()
        all_rows = rows(tmp_path / "timeseries.csv")
        assert len(all_rows) == len(default_rows) + sampling["left_out"]
        assert every["sampling"]["left_out"] == 0 and every["state_hash"] == s["state_hash"]
        # nothing but repeats was left out: the rows kept are the full series' rows
        key = ("ts_ns", "mark", "last", "equity", "position_qty", "margin_ratio", "why")
        assert {tuple(r[k] for k in key) for r in default_rows} <= {tuple(r[k] for k in key) for r in all_rows}

    def test_min_max_buckets_keep_every_extreme(self) -> None:
        """The report's reduction keeps each bucket's lowest and highest point, in time order."""
        mm = MinMax(0, 999, buckets=10)
        for t in range(1000):
            mm.add(t, 100.0 if t == 537 else (-5.0 if t == 42 else float(t % 7)))
        times, values = mm.points()
        assert max(values) == 100.0 and min(values) == -5.0
        assert len(values) <= 20 and times == sorted(times)


class TestPlots:
    def test_a_far_liquidation_price_does_not_flatten_the_price_axis(self, tmp_path: Path) -> None:
        """A 2x long's liquidation price (half the price) stays off the axis, named at its edge."""
        import matplotlib.pyplot as plt

        holder = Holder(qty="0.1", leverage=2, margin_mode="isolated", enter_after_s=0)
        s = Replay([CRASH], holder, ReplayConfig(balance="10000", symbol="BTCUSDT"), out_dir=tmp_path).run()
        lp = Decimal(s["positions"][0]["liquidation_price"])
        figs = figures(tmp_path)
        try:
            ax = figs["price.png"].axes[0]
            low, high = ax.get_ylim()
            assert lp < low and high - low < 5000  # the crash's 3,000-dollar range, not 0..38,000
            notes = [t.get_text() for t in ax.texts]
            assert any("liquidation price" in n and "off the axis" in n for n in notes)
        finally:
            for f in figs.values():
                plt.close(f)

    def test_time_axes_carry_dates_and_titles_name_the_data(self, crash: tuple[Path, dict[str, Any]]) -> None:
        """Every plot's time axis uses matplotlib's concise date formatter; titles name the file and the date."""
        import matplotlib.dates as mdates
        import matplotlib.pyplot as plt

        out, _ = crash
        figs = figures(out)
        try:
            for name, fig in figs.items():
                ax = fig.axes[-1]
                assert isinstance(ax.xaxis.get_major_formatter(), mdates.ConciseDateFormatter), name
                title = fig._suptitle.get_text() if fig._suptitle is not None else ax.get_title()
                assert "btc-perp-20220121-1m.csv" in title and "2022-01-21" in title, name
        finally:
            for f in figs.values():
                plt.close(f)
