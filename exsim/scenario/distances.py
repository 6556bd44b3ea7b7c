"""Liquidation distances: how far each price, and each collateral haircut, may move.

For every account of a scenario run (its population left out, as in the summary), at the
``start`` sample (positions open, the first marks applied), one row per open position
(``what`` = ``price``): its mark, the mark of its instrument at which its scope is
liquidated with every other price held (the engine's own search, as in positions.csv:
:func:`exsim.liquidation.risk.account_risk`) and ``distance_fraction`` = (liquidation −
mark) / mark, signed, e8 rounded toward zero (``-0.05230000``: the mark may fall 5.23 %).

An account in multi-assets collateral mode adds one row per collateral asset it holds
(``what`` = ``haircut``): the asset's haircut now (1 − the value ratio of its first tier)
and the haircut at which the account is liquidated with every price and index held, every
tier of the asset raised by the same points (as ``exsim margin``'s "haircuts +N pts"
shocks, :func:`exsim.ledger.collateral.haircut_shifted`); ``distance_fraction`` is the
rise in points. It is exact: the account's margin excess ``equity − MM`` (the ledger's
figures, :func:`exsim.ledger.collateral.account_figures`, usd_e40) is linear in the points
between the tiers' floors, and the root is found by ``exsim margin``'s walk
(:func:`exsim.calculator.account_cli.first_root`), then rounded down to e8 (the haircut that
liquidates is at or above it). An asset whose equity is negative is valued without a
haircut: no rise liquidates the account through it (empty ``haircut_at_liquidation``).

``exsim compare`` prints the rows of its runs as one table and writes them to
``OUT/distances.csv``; each run directory holds its own ``distances.csv``.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exsim.ledger import POSITION_SIDE_NAMES
from exsim.ledger.collateral import account_figures, haircut_shifted
from exsim.liquidation.risk import account_risk
from exsim.calculator.account_cli import first_root
from exsim.margin.liquidation import STATUS_ALWAYS, STATUS_NEVER, STATUS_PRICE
from exsim.results.positions import DISTANCE_FIELDS, distance_e8, read_distances, write_distances
from exsim.units import RATE_SCALE, floor_div, format_rate_e8

if TYPE_CHECKING:
    from exsim.ledger import Ledger
    from exsim.scenario.interfaces import ScenarioForDistances

def haircut_at_liquidation_e8(ledger: Ledger, account_id: int, asset: str) -> tuple[str, int | None]:
    """``(status, points e8)``: how many points every tier's haircut of ``asset`` may rise
    before the multi-assets account is liquidated, prices and indexes held; rounded down.
    ``status``: ``price`` (a rise does it), ``never`` (also: an account without maintenance
    margin, nothing to liquidate), or ``always`` (it is liquidatable now).
    O(tiers) evaluations of the account figures."""
    base = ledger.portfolio_figures(account_id)
    if not base.maint_usd_e40:  # nothing held: no maintenance margin to fail
        return STATUS_NEVER, None
    per_asset = [(a.asset, a.equity_atoms_e8, a.initial_margin_atoms, a.maint_margin_atoms) for a in base.assets]
    rules = dict(ledger.collateral)

    def excess(points: Fraction) -> Fraction:
        shifted = dict(rules)
        shifted[asset] = haircut_shifted(rules[asset], floor_div(points.numerator, points.denominator))
        g = account_figures(per_asset, shifted)
        return Fraction(g.equity_usd_e40 - g.maint_usd_e40)

    floors = sorted({Fraction(t.value_ratio_e8) for t in rules[asset].tiers if t.value_ratio_e8 > 0})
    status, root = first_root(excess, Fraction(0), floors, False)
    if status != STATUS_PRICE or root is None:
        return status, None
    return status, floor_div(root.numerator, root.denominator)


def run_distances(run: ScenarioForDistances) -> list[dict[str, str]]:
    """The distance rows of every (non-population) account of ``run`` now."""
    ledger = run.ledger
    rec = run.recorder
    name = rec.out_dir.name if rec.out_dir is not None else run.mode
    out: list[dict[str, str]] = []
    for spec in run.accounts:
        if spec.population:
            continue
        aid = spec.account_id
        held = [a for a, _ in rec.held_assets(aid)]
        for r in account_risk(ledger, run.exchange.liquidator, aid, held):
            inst = run.scenario.instrument(r.symbol)
            dist = distance_e8(r.mark_subticks, r.liquidation_subticks)
            out.append(_row(name, aid, spec.name, symbol=r.symbol, position_side=POSITION_SIDE_NAMES[r.position_side],
                            margin_mode=r.scope, qty=inst.qty_str(r.qty_lots),
                            mark=inst.mark_str(r.mark_subticks) if r.mark_subticks else "",
                            liquidation_price=inst.mark_str(r.liquidation_subticks) if r.liquidation_subticks else "",
                            distance_fraction="" if dist is None else format_rate_e8(dist, 8), what="price"))
        if ledger.portfolio(aid) is None:
            continue
        for asset in held:
            rule = ledger.collateral[asset]
            now_e8 = RATE_SCALE - rule.tiers[0].value_ratio_e8
            status, rise = haircut_at_liquidation_e8(ledger, aid, asset)
            if status == STATUS_ALWAYS:  # liquidatable at today's haircut
                rise = 0
            at = "" if rise is None else format_rate_e8(min(RATE_SCALE, now_e8 + rise), 8)
            out.append(_row(name, aid, spec.name, margin_mode="multi-assets", what="haircut", haircut_asset=asset,
                            haircut_now=format_rate_e8(now_e8, 8), haircut_at_liquidation=at,
                            distance_fraction="" if rise is None else format_rate_e8(rise, 8)))
    return out


def _row(run: str, account: int, name: str, **cells: str) -> dict[str, str]:
    row = dict.fromkeys(DISTANCE_FIELDS, "")
    row.update(run=run, account=str(account), name=name, **cells)
    return row


def _pct(fraction: str) -> str:
    """An e8 fraction as a signed percent with 2 decimals, toward zero (a distance never overstated)."""
    from exsim.units import div_toward_zero, format_scaled, to_rate_e8

    e8 = to_rate_e8(fraction, field="distance_fraction")
    return ("+" if e8 > 0 else "") + format_scaled(div_toward_zero(e8, 10**4), 2, 2) + " %"


def _short(text: str) -> str:
    """A decimal string without its trailing zeros, for the printed table (same value)."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def print_distances(console: Any, rows: list[dict[str, str]]) -> None:
    """The liquidation-distance table: a row per run, account and position (or haircut)."""
    from rich.table import Table

    if not rows:  # an empty table would read as "nothing can be liquidated"
        console.print("liquidation distances at the start: no named account holds a position then "
                      "(a population is reported in aggregate)")
        return
    t = Table(title="liquidation distances at the start (each price alone, the others held)",
              caption="move: how far the mark may go before the position's scope is liquidated; a haircut row: how many "
              "points the asset's haircut may rise (from now to the liquidating one)")
    for col in ("run", "account", "position", "scope", "now", "liquidated at", "move"):
        t.add_column(col, justify="right" if col in ("now", "liquidated at", "move") else "left")
    for r in rows:
        if r["what"] == "haircut":
            what = f"{r['haircut_asset']} haircut"
            now, at = r["haircut_now"], r["haircut_at_liquidation"]
        else:
            what = f"{r['symbol']} {_short(r['qty'])}" + ("" if r["position_side"] == "BOTH" else f" {r['position_side']}")
            now, at = r["mark"], r["liquidation_price"]
        move = _pct(r["distance_fraction"]) if r["distance_fraction"] else "never"
        t.add_row(r["run"], r["name"], what, r["margin_mode"], _short(now) or "-", _short(at) or "never", move)
    console.print(t)


def compare_distances(console: Any, run_dirs: dict[str, Path], path: Path) -> list[dict[str, str]]:
    """``exsim compare``: every run's distances.csv (named by its key), printed as one
    table and written to ``path``."""
    rows = [row for name, folder in run_dirs.items() for row in read_distances(folder / "distances.csv", run=name)]
    write_distances(path, rows)
    print_distances(console, rows)
    return rows


__all__ = ["DISTANCE_FIELDS", "compare_distances", "haircut_at_liquidation_e8", "print_distances", "read_distances",
           "run_distances", "write_distances"]
