"""The statistics of the pinned scenario (tests/results/pinned.toml), worked out by hand.

The run, one cross account of 10,000 USDT on DEMOUSDT (tick 1, lot 1, taker fee 0.1 %);
market orders fill on the ladder: a buy at mark + 1, a sell at the mark.

=====  ============================================  ========  =======  ========  =========
trip   fills                                         realized  fees     funding   net
=====  ============================================  ========  =======  ========  =========
A      1m buy 10 @ 101 (fee 1.01); 11m sell 10 @ 110  +90       2.11     0         +87.89
       (fee 1.10), mark 110 since 10m
B      12m sell 4 @ 110 (0.44); 13m buy 10 @ 111       -4        0.884    0         -4.884
       closes 4 (fee 1.11 x 4/10 = 0.444)
C      the flip's other 6 @ 111 (fee 0.666); stop      -96       1.236    -0.63     -97.866
       fires at the 30m mark 95: sell 6 @ 95 (0.57);
       funding at 25m: pays 6 x 105 x 0.1 % = 0.63
D      41m sell 5 @ 100 (0.50); funding at 50m          0        0.50     +0.50     +15 (open:
       receives 5 x 100 x 0.1 %; open at the 60m mark            unrealized 5 x (100 - 97) = 15)
       97
=====  ============================================  ========  =======  ========  =========

Totals: realized -10, fees 4.73, funding -0.13, unrealized +15; equity at the end
10,000 - 10 - 4.73 - 0.13 + 15 = 10,000.14.

Equity samples (the scenario samples at every mark): 0m 10,000; 10m 10,088.99 (wallet
9,998.99 + 10 x 9); 20m 10,046.34 (wallet 10,082.34 - 6 x 6); 30m 9,985.14; 40m 9,985.14;
60m 10,000.14.
"""

from __future__ import annotations

import math
import statistics as pystats
from fractions import Fraction
from typing import Any


def stats(summary: dict[str, Any]) -> dict[str, Any]:
    return summary["accounts"][0]["statistics"]


class TestTrades:
    def test_return_is_the_equity_change_over_the_deposit(self, pinned_summary: dict[str, Any]) -> None:
        """Return = (10,000.14 - 10,000) / 10,000 = 0.000014."""
        assert stats(pinned_summary)["return"] == "0.000014"
        assert stats(pinned_summary)["pnl"] == "0.14000000"

    def test_win_rate_counts_closed_trips_by_net_pnl(self, pinned_summary: dict[str, Any]) -> None:
        """A wins, B and C lose, D is open and not counted: 1 / 3."""
        s = stats(pinned_summary)
        assert (s["trades"], s["open_trades"], s["wins"], s["losses"]) == (3, 1, 1, 2)
        assert s["win_rate"] == "0.33333333"

    def test_profit_factor_is_gross_wins_over_gross_losses(self, pinned_summary: dict[str, Any]) -> None:
        """87.89 / (4.884 + 97.866) = 87.89 / 102.75 = 0.855377128..."""
        assert stats(pinned_summary)["profit_factor"] == "0.85537713"

    def test_average_win_loss_and_expectancy(self, pinned_summary: dict[str, Any]) -> None:
        """Average win 87.89; average loss -102.75 / 2 = -51.375; expectancy -14.86 / 3 = -4.953333.. (to the atom)."""
        s = stats(pinned_summary)
        assert (s["average_win"], s["average_loss"], s["expectancy"]) == ("87.89000000", "-51.37500000", "-4.95333333")

    def test_exits_are_counted_by_how_they_ended(self, pinned_summary: dict[str, Any]) -> None:
        """A and B ended by market orders, C by its stop."""
        assert stats(pinned_summary)["exits"] == {"market": 2, "stop": 1}


class TestRisk:
    def test_max_drawdown_from_the_peak_equity(self, pinned_summary: dict[str, Any]) -> None:
        """Peak 10,088.99 at 10m, low 9,985.14 at 30m: 103.85, 103.85 / 10,088.99 = 0.010293399..."""
        s = stats(pinned_summary)
        assert s["max_drawdown"] == "103.85000000"
        assert s["max_drawdown_fraction"] == "0.0102934"

    def test_drawdown_duration_runs_to_the_end_when_never_recovered(self, pinned_summary: dict[str, Any]) -> None:
        """Under the 10m peak until the end at 60m: 3,000 s."""
        assert stats(pinned_summary)["max_drawdown_duration_s"] == "3000"

    def test_sharpe_and_sortino_on_the_minute_grid(self, pinned_summary: dict[str, Any]) -> None:
        """60 minute returns (the hour grid has only one): all 0 but at 10m (+0.8899 %), 20m
        (10,046.34 / 10,088.99 - 1), 30m (9,985.14 / 10,046.34 - 1) and 60m (10,000.14 / 9,985.14 - 1).
        Sharpe = mean / sample stdev x sqrt(525,600 minutes a year) = 0.652216..; Sortino =
        mean / sqrt(Σ min(r, 0)² / 60) x sqrt(525,600) = 1.036074..; checked here against an
        independent float computation too."""
        s = stats(pinned_summary)
        assert s["returns_sampled"] == "equity at every 1m UTC boundary (60 returns)"
        assert (s["sharpe"], s["sortino"]) == ("0.65221625", "1.0360743")
        e = [Fraction(10_000)] * 10 + [Fraction("10088.99")] * 10 + [Fraction("10046.34")] * 10 + [Fraction("9985.14")] * 30
        e.append(Fraction("10000.14"))
        r = [float(b / a - 1) for a, b in zip(e, e[1:])]
        year = math.sqrt(365 * 24 * 60)
        assert math.isclose(float(s["sharpe"]), pystats.mean(r) / pystats.stdev(r) * year, rel_tol=1e-7)
        downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / len(r))
        assert math.isclose(float(s["sortino"]), pystats.mean(r) / downside * year, rel_tol=1e-7)

    def test_no_calmar_for_a_run_of_an_hour(self, pinned_summary: dict[str, Any]) -> None:
        """Calmar scales the return to a year: from one hour (0.000014 x 8,760 = 0.12264) it is not given."""
        assert stats(pinned_summary)["calmar"] is None

    def test_exposure_is_the_time_with_a_position_open(self, pinned_summary: dict[str, Any]) -> None:
        """Open 1m-11m, 12m-13m, 13m-30m, 41m-60m: 47 of 60 minutes."""
        assert stats(pinned_summary)["exposure"] == "0.78333333"

    def test_turnover_is_the_traded_notional(self, pinned_summary: dict[str, Any]) -> None:
        """1,010 + 1,100 + 440 + 1,110 + 570 + 500 = 4,730: 0.473 x the deposit."""
        s = stats(pinned_summary)
        assert (s["turnover"], s["turnover_multiple"]) == ("4730.00000000", "0.473")

    def test_fees_and_funding_as_a_share_of_gross_pnl(self, pinned_summary: dict[str, Any]) -> None:
        """Gross PnL = realized -10 + unrealized 15 = 5; fees 4.73 / 5 = 0.946; funding -0.13 / 5 = -0.026."""
        s = stats(pinned_summary)
        assert (s["gross_pnl"], s["fees"], s["funding"]) == ("5.00000000", "4.73000000", "-0.13000000")
        assert (s["fees_share_of_gross_pnl"], s["funding_share_of_gross_pnl"]) == ("0.946", "-0.026")

    def test_worst_margin_ratio_and_distance_to_liquidation(self, pinned_summary: dict[str, Any]) -> None:
        """At 10m: maintenance 5 % x 10 x 110 = 55 over margin balance 10,088.99 = 0.00545149 (rounded up)."""
        s = stats(pinned_summary)
        assert (s["worst_margin_ratio"], s["closest_to_liquidation"]) == ("0.00545149", "0.99454851")
        assert (s["liquidations"], s["margin_calls"], s["adl"]) == (0, 0, 0)


def test_a_run_of_minutes_gives_no_sharpe_or_sortino() -> None:
    """Five minutes of equity from a whole minute give 5 one-minute returns: fewer than 30, so Sharpe and Sortino are null and the summary says why."""
    from exsim.results.stats import EquityCurve, statistics
    from exsim.results.trips import AccountTally

    curve = EquityCurve()
    minute = 60 * 10**9
    for i, equity in enumerate((100, 101, 99, 102, 100, 103)):
        curve.add(1_699_999_980 * 10**9 + i * minute, equity * 10**8)
    s = statistics(curve, AccountTally(), 100 * 10**8, 103 * 10**8, 0, 0, 0, None, None)
    assert (s["sharpe"], s["sortino"]) == (None, None)
    assert s["returns_sampled"] == "equity at every 1m UTC boundary (5 returns; fewer than 30: no Sharpe or Sortino)"
    assert s["return"] == "0.03"


def test_calmar_is_the_linearly_annualized_return_over_the_drawdown() -> None:
    """30 days, equity 100 -> 110 (day 10) -> 99 (day 20) -> 105 (day 30): return 5 %, x 365/30 =
    0.6083333..; the drawdown 110 -> 99 is 10 %; Calmar 6.0833333.."""
    from exsim.results.stats import EquityCurve, statistics
    from exsim.results.trips import AccountTally

    curve = EquityCurve()
    day = 86_400 * 10**9
    for d, equity in ((0, 100), (10, 110), (20, 99), (30, 105)):
        curve.add(19_000 * day + d * day, equity * 10**8)
    s = statistics(curve, AccountTally(), 100 * 10**8, 105 * 10**8, 0, 0, 0, None, None)
    assert (s["return"], s["max_drawdown_fraction"], s["calmar"]) == ("0.05", "0.1", "6.08333333")
