"""The statistics a trader reads first (docs/results.md gives every formula).

Money stays exact (int atoms, written as decimal text); ratios are computed exactly
(fractions) or in :mod:`decimal` at 50 significant digits (square roots) and written as
decimal text rounded half-even to 8 decimals (:data:`RATIO_PLACES`). No float anywhere.

Returns for Sharpe and Sortino are sampled on a **fixed UTC grid**: the equity in force
at each multiple of the period (the last sample at or before it). The period is the
coarsest of 1 day, 1 hour and 1 minute that gives at least :data:`MIN_RETURNS` returns
over the run (so a month is read in days, a day in hours, a short run in minutes); the
summary says which. A fixed grid, because event-time samples (fills, liquidations) would
weight busy moments more than quiet ones, and a return per period is what the
annualization assumes. Annualization: crypto trades every day, so a year is 365 days —
``sqrt(periods per 365-day year)`` for Sharpe and Sortino (365, 8,760 or 525,600
periods); Calmar divides the return scaled linearly to a 365-day year by the maximum
drawdown fraction, for a run of at least :data:`MIN_CALMAR_SPAN_NS` (30 days) only.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import attrs

from exsim.units import div_half_even, format_atoms, format_scaled

RATIO_PLACES = 8
MIN_RETURNS = 30
NS_PER_DAY = 86_400 * 10**9
YEAR_NS = 365 * NS_PER_DAY
#: the shortest run whose return is annualized for Calmar (a month; Calmar is usually read over years)
MIN_CALMAR_SPAN_NS = 30 * NS_PER_DAY
#: the grids, coarsest first: (name, period in ns)
GRIDS: tuple[tuple[str, int], ...] = (("1d", NS_PER_DAY), ("1h", 3_600 * 10**9), ("1m", 60 * 10**9))
_PREC = 50
_SUM_PREC = 80  # digits of the return sums (sharpe_sortino)


def ratio_text(x: Fraction | Decimal | int | None) -> str | None:
    """A ratio as decimal text, rounded half-even to 8 decimals (None stays None).

    >>> ratio_text(Fraction(1, 3)), ratio_text(Fraction(-2, 3)), ratio_text(Decimal("1.5")), ratio_text(None)
    ('0.33333333', '-0.66666667', '1.5', None)
    """
    if x is None:
        return None
    with localcontext() as ctx:
        ctx.prec = _PREC
        d = Decimal(x.numerator) / Decimal(x.denominator) if isinstance(x, Fraction) else Decimal(x)
        q = d.quantize(Decimal(1).scaleb(-RATIO_PLACES))  # (the context rounds half-even)
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@attrs.define(slots=True, eq=False)
class EquityCurve:
    """Equity samples in time order, kept as running figures: peak, maximum drawdown
    (money, and as a fraction of its peak), the longest time under a previous peak, and the
    equity in force at each multiple of each grid period. O(1) per sample; memory: the
    grid values (a finer grid is dropped once a coarser one has enough)."""

    first_ts_ns: int | None = None
    last_ts_ns: int = 0
    first_atoms: int = 0
    last_atoms: int = 0
    peak_atoms: int = 0
    peak_ts_ns: int = 0
    max_drawdown_atoms: int = 0
    max_drawdown_peak_atoms: int = 0
    max_drawdown_ts_ns: int = 0
    longest_underwater_ns: int = 0
    grid_values: list[list[int] | None] = attrs.Factory(lambda: [[] for _ in GRIDS])
    next_boundary_ns: list[int] = attrs.Factory(lambda: [0 for _ in GRIDS])

    def add(self, ts_ns: int, equity_atoms: int) -> None:
        if self.first_ts_ns is None:
            self.first_ts_ns = self.last_ts_ns = self.peak_ts_ns = ts_ns
            self.first_atoms = self.last_atoms = self.peak_atoms = equity_atoms
            for g, (_, period) in enumerate(GRIDS):
                self.next_boundary_ns[g] = -(-ts_ns // period) * period
            return
        self._fill(ts_ns, False)
        self.last_ts_ns, self.last_atoms = ts_ns, equity_atoms
        if equity_atoms >= self.peak_atoms:
            self.longest_underwater_ns = max(self.longest_underwater_ns, ts_ns - self.peak_ts_ns)
            self.peak_atoms, self.peak_ts_ns = equity_atoms, ts_ns
        elif self.peak_atoms - equity_atoms > self.max_drawdown_atoms:
            self.max_drawdown_atoms = self.peak_atoms - equity_atoms
            self.max_drawdown_peak_atoms = self.peak_atoms
            self.max_drawdown_ts_ns = ts_ns

    def _fill(self, ts_ns: int, inclusive: bool) -> None:
        """Grid points before ``ts_ns`` (up to it with ``inclusive``) take the equity in force."""
        values, nexts = self.grid_values, self.next_boundary_ns
        for g, (_, period) in enumerate(GRIDS):
            vals = values[g]
            if vals is None:
                continue
            b = nexts[g]
            while b < ts_ns or (inclusive and b == ts_ns):
                vals.append(self.last_atoms)
                b += period
            nexts[g] = b
            if g > 0 and values[g - 1] is not None and len(values[g - 1]) > MIN_RETURNS:  # type: ignore[arg-type]
                values[g] = None  # the coarser grid has enough: this one will not be used

    def underwater_ns(self) -> int:
        """The longest time equity stayed under a previous peak (the run's end closes an
        unrecovered one)."""
        open_one = self.last_ts_ns - self.peak_ts_ns if self.last_atoms < self.peak_atoms else 0
        return max(self.longest_underwater_ns, open_one)

    def returns(self) -> tuple[str | None, list[Fraction]]:
        """``(grid name, simple returns)`` on the coarsest grid with >= MIN_RETURNS
        returns (else the finest with any), the grid filled up to the last sample."""
        self._fill(self.last_ts_ns, True)
        chosen: tuple[str | None, list[int]] = (None, [])
        for (name, _), vals in zip(GRIDS, self.grid_values):
            if vals is None:
                continue
            if len(vals) - 1 >= MIN_RETURNS:
                chosen = (name, vals)
                break
            if len(vals) >= 2:
                chosen = (name, vals)
        name, vals = chosen
        out = []
        for a, b in zip(vals, vals[1:]):
            if a <= 0:
                break  # no return is defined from nothing
            out.append(Fraction(b - a, a))
        return name, out


def _sqrt(x: Fraction) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = _PREC
        return (Decimal(x.numerator) / Decimal(x.denominator)).sqrt()


def sharpe_sortino(returns: list[Fraction], period_ns: int) -> tuple[Decimal | None, Decimal | None]:
    """Sharpe ``mean / sample stdev * sqrt(periods a year)`` and Sortino ``mean /
    downside deviation * sqrt(periods a year)`` (downside deviation ``sqrt(Σ min(r, 0)² / n)``,
    target 0; risk-free rate 0). None when undefined (fewer than 2 returns, no variation,
    no losing period).

    Daily returns 1 %, -1 %, 2 %: mean 0.02/3; sample variance 0.0014/3/2 = 0.000233..,
    stdev 0.0152753; 0.0066667 / 0.0152753 = 0.436436, times sqrt(365) = 19.104973: 8.338094.
    Downside deviation sqrt(0.0001 / 3) = 0.0057735; 1.1547005 x 19.104973 = 22.060523.

    >>> s, so = sharpe_sortino([Fraction(1, 100), Fraction(-1, 100), Fraction(2, 100)], NS_PER_DAY)
    >>> ratio_text(s), ratio_text(so)
    ('8.33809388', '22.06052281')
    """
    n = len(returns)
    if n < 2:
        return None, None
    flat = all(r == returns[0] for r in returns)  # (exact: no variation, whatever the sums' digits)
    # The sums in _SUM_PREC-digit decimals, not Fractions: each return has its own
    # denominator (the previous equity), so an exact sum's grows with every term (a day of
    # minute returns took 10 s of gcds). 80 digits keep the ratios' 8 decimals exact but
    # where the true value lies within ~1e-70 of a rounding boundary.
    with localcontext() as ctx:
        ctx.prec = _SUM_PREC
        rs = [Decimal(r.numerator) / r.denominator for r in returns]
        mean = sum(rs, Decimal(0)) / n
        var = Decimal(0) if flat else sum(((r - mean) ** 2 for r in rs), Decimal(0)) / (n - 1)
        down = sum((r * r for r in rs if r < 0), Decimal(0)) / n
    year = _sqrt(Fraction(YEAR_NS, period_ns))
    with localcontext() as ctx:
        ctx.prec = _PREC
        sharpe = mean / var.sqrt() * year if var else None
        sortino = mean / down.sqrt() * year if down else None
    return sharpe, sortino


def statistics(
    curve: EquityCurve,
    tally: Any,
    deposit_atoms: int,
    end_equity_atoms: int,
    unrealized_atoms: int,
    exposed_ns: int,
    open_trips: int,
    worst_margin_ratio: Fraction | None,
    worst_margin_ratio_ts_ns: int | None,
) -> dict[str, Any]:
    """The run's statistics for one account (see docs/results.md for each formula).

    ``tally`` is the account's :class:`~exsim.results.trips.AccountTally`; money in atoms;
    ``worst_margin_ratio`` the highest maintenance margin / margin balance seen (1 or more
    is liquidation).
    """
    first = curve.first_ts_ns or 0
    span_ns = max(0, curve.last_ts_ns - first)
    pnl = end_equity_atoms - deposit_atoms
    total_return = Fraction(pnl, deposit_atoms) if deposit_atoms > 0 else None
    closed = tally.closed
    dd_fraction = Fraction(curve.max_drawdown_atoms, curve.max_drawdown_peak_atoms) if curve.max_drawdown_peak_atoms > 0 else None
    grid, rets = curve.returns()
    period = dict(GRIDS).get(grid or "", 0)
    # fewer than MIN_RETURNS returns (a run of minutes): an annualized ratio of so few is noise, not given
    sharpe, sortino = sharpe_sortino(rets, period) if period and len(rets) >= MIN_RETURNS else (None, None)
    annual = total_return * Fraction(YEAR_NS, span_ns) if total_return is not None and span_ns else None
    # Calmar annualizes the run's return linearly: from less than MIN_CALMAR_SPAN_NS that is an extrapolation, not given
    calmar = annual / dd_fraction if annual is not None and dd_fraction and span_ns >= MIN_CALMAR_SPAN_NS else None
    gross = tally.realized_atoms + unrealized_atoms
    fees_total = tally.fees_atoms + tally.clearance_atoms
    return {
        "return": ratio_text(total_return),
        "pnl": format_atoms(pnl),
        "trades": closed,
        "open_trades": open_trips,
        "wins": tally.wins,
        "losses": tally.losses,
        "win_rate": ratio_text(Fraction(tally.wins, closed)) if closed else None,
        "profit_factor": ratio_text(Fraction(tally.win_atoms, -tally.loss_atoms)) if tally.loss_atoms < 0 else None,
        "average_win": format_atoms(div_half_even(tally.win_atoms, tally.wins)) if tally.wins else None,
        "average_loss": format_atoms(div_half_even(tally.loss_atoms, tally.losses)) if tally.losses else None,
        "expectancy": format_atoms(div_half_even(tally.net_atoms, closed)) if closed else None,
        "exits": dict(sorted(tally.by_reason.items())),
        "max_drawdown": format_atoms(curve.max_drawdown_atoms),
        "max_drawdown_fraction": ratio_text(dd_fraction) if dd_fraction is not None else "0",
        "max_drawdown_duration_s": format_scaled(curve.underwater_ns(), 9),
        "returns_sampled": (
            f"equity at every {grid} UTC boundary ({len(rets)} returns"
            + ("" if len(rets) >= MIN_RETURNS else f"; fewer than {MIN_RETURNS}: no Sharpe or Sortino")
            + ")"
        ) if grid else "no whole period",
        "sharpe": ratio_text(sharpe),
        "sortino": ratio_text(sortino),
        "calmar": ratio_text(calmar),
        "annualization": "365-day year: sqrt(periods a year) for Sharpe and Sortino; return x (365 d / span) for Calmar",
        "exposure": ratio_text(Fraction(exposed_ns, span_ns)) if span_ns else None,
        "turnover": format_atoms(tally.traded_atoms),
        "turnover_multiple": ratio_text(Fraction(tally.traded_atoms, deposit_atoms)) if deposit_atoms > 0 else None,
        "gross_pnl": format_atoms(gross),
        "fees": format_atoms(fees_total),
        "funding": format_atoms(tally.funding_atoms),
        "fees_share_of_gross_pnl": ratio_text(Fraction(fees_total, abs(gross))) if gross else None,
        "funding_share_of_gross_pnl": ratio_text(Fraction(tally.funding_atoms, abs(gross))) if gross else None,
        "liquidations": tally.liquidations,
        "margin_calls": tally.margin_calls,
        "adl": tally.adl,
        "worst_margin_ratio": ratio_text(worst_margin_ratio),
        "worst_margin_ratio_ts_ns": worst_margin_ratio_ts_ns,
        "closest_to_liquidation": ratio_text(1 - worst_margin_ratio) if worst_margin_ratio is not None else None,
    }
