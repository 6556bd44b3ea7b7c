"""trades.csv: round trips cut where a position leaves and returns to zero, with exact figures."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exsim.cli import main
from exsim.results.schema import TRADE_FIELDS


def trades(run: Path) -> list[dict[str, str]]:
    with open(run / "trades.csv", newline="") as f:
        return list(csv.DictReader(f))


class TestPinned:
    def test_header_is_the_schema(self, pinned_run: Path) -> None:
        """The columns are exsim.results.schema.TRADE_FIELDS, in order."""
        assert (pinned_run / "trades.csv").read_text().splitlines()[0].split(",") == list(TRADE_FIELDS)

    def test_a_flip_ends_one_trip_and_starts_the_next(self, pinned_run: Path) -> None:
        """The 13m buy of 10 against short 4: B closes with 4 lots and 4/10 of the fee (0.444), C opens with 6 and 0.666."""
        b, c = trades(pinned_run)[1:3]
        assert (b["side"], b["exit_qty"], b["avg_exit_price"], b["fees"], b["realized_pnl"]) == ("short", "4", "111.00000000", "0.88400000", "-4.00000000")
        assert (c["side"], c["entry_qty"], c["avg_entry_price"], c["entry_time_utc"]) == ("long", "6", "111.00000000", b["exit_time_utc"])
        assert Decimal(b["fees"]) - Decimal("0.44") + Decimal(c["fees"]) - Decimal("0.57") == Decimal("1.11")  # the flip's fee, whole

    def test_how_each_trip_ended(self, pinned_run: Path) -> None:
        """A and B by market orders, C by its stop, D open at the end."""
        assert [t["exit_reason"] for t in trades(pinned_run)] == ["market", "market", "stop", "open"]
        assert [t["open_at_end"] for t in trades(pinned_run)] == ["False", "False", "False", "True"]

    def test_funding_goes_to_the_trip_open_when_it_is_paid(self, pinned_run: Path) -> None:
        """C pays 0.63 at 25m, D receives 0.50 at 50m."""
        assert [t["funding"] for t in trades(pinned_run)] == ["0.00000000", "0.00000000", "-0.63000000", "0.50000000"]

    def test_an_open_trip_is_valued_at_the_last_mark(self, pinned_run: Path) -> None:
        """D: short 5 from 100, the last mark 97: unrealized 15, exit price shown as the mark."""
        d = trades(pinned_run)[3]
        assert (d["avg_exit_price"], d["unrealized_pnl"], d["net_pnl"], d["exit_qty"]) == ("97.00000000", "15.00000000", "15.00000000", "0")

    def test_trips_add_up_to_the_account(self, pinned_run: Path, pinned_summary: dict[str, Any]) -> None:
        """Σ net PnL of the trips = the account's PnL (equity - deposit), to the atom."""
        total = sum(Decimal(t["net_pnl"]) for t in trades(pinned_run))
        acct = pinned_summary["accounts"][0]
        assert total == Decimal(acct["remaining_balance"]) - Decimal(acct["deposit"])


class TestLiquidation:
    def test_a_liquidated_position_ends_by_liquidation(self, tmp_path: Path) -> None:
        """one-position: the 10x long is liquidated at 947.368: one trip, net -52.632, ended by liquidation."""
        assert main(["scenario", "one-position", "--out", str(tmp_path / "run")]) == 0
        (t,) = trades(tmp_path / "run")
        assert (t["side"], t["avg_entry_price"], t["avg_exit_price"], t["net_pnl"], t["exit_reason"]) == (
            "long", "1000.00000000", "947.36800000", "-52.63200000", "liquidation"
        )

    def test_every_cascade_trip_adds_up_per_account(self, tmp_path: Path) -> None:
        """cascade (300 accounts, fund takeovers): each account's trips sum to its realised PnL, fees and funding."""
        assert main(["scenario", "cascade", "--out", str(tmp_path / "run")]) == 0
        rows = trades(tmp_path / "run")
        assert {t["exit_reason"] for t in rows} == {"liquidation", "open"}
        liquidated = sum(1 for t in rows if t["exit_reason"] == "liquidation")
        summary = json.loads((tmp_path / "run" / "summary.json").read_text())
        assert liquidated == summary["liquidations"]


@pytest.mark.parametrize("strategy", ["holder", "market_maker", "grid", "passive"])
def test_shipped_strategies_on_the_capture_write_trips_that_add_up(strategy: str, tmp_path: Path) -> None:
    """Each shipped strategy on the shared ETH capture: the trips' net PnL sums to the run's PnL to the atom."""
    data = Path(__file__).parents[2] / ".." / "shared" / "data" / "hftbacktest-binance-20240808" / "usdm_ethusdt_20240808.gz"
    out = tmp_path / "run"
    assert main(["replay", str(data), "--strategy", strategy, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = trades(out)
    assert sum(Decimal(t["net_pnl"]) for t in rows) == Decimal(summary["account"]["pnl"])
    assert sum(Decimal(t["realized_pnl"]) for t in rows) == Decimal(summary["account"]["realized_pnl"])
    assert sum(Decimal(t["fees"]) for t in rows) == Decimal(summary["account"]["fees"])
    assert summary["statistics"]["trades"] == sum(1 for t in rows if t["open_at_end"] == "False")
