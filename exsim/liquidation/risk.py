"""Per-position risk of an account: what each position of a pooled scope carries.

Under cross margin one pool (the account's wallet in one asset) backs every cross
position, and under multi-assets collateral the whole account does; the pool's margin
ratio says nothing about *which* position brings it near liquidation. This module
attributes the scope's figures to its positions, with the ledger's own numbers:

* each position's **maintenance margin** is its own bracket's
  (:meth:`Ledger.position_figures_e8`, the figure the pool's is the sum of), and its
  **unrealized PnL** at the mark (rounded down to the atom, as everywhere shown);
* the **share** of the scope's maintenance margin it carries (e8, rounded down): an
  isolated bucket's is all of it; a cross position's ``MM_i / Σ MM``; a multi-assets
  position's its MM at its asset's ask rate over the account's (USD, exact e40);
* its **liquidation price**: the mark of its instrument at which its scope is liquidated
  with every other price held (the engine's own search,
  :meth:`LiquidationEngine.liquidation_prices` and
  :func:`~exsim.liquidation.engine.portfolio_liquidation_subticks`: the prices replays
  show), 0 when no price liquidates it.

The attribution is checked every time it is made: the positions' maintenance margins
add up to the scope's, exactly (:class:`AttributionError` otherwise, a broken invariant).
Cost: O(positions) figures, plus the liquidation-price searches (one per isolated bucket,
one per cross position, one bisection per multi-assets position).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from exsim.ledger import Account, Position
from exsim.ledger.collateral import usd_e40_to_usd_e8_floor
from exsim.liquidation.engine import portfolio_liquidation_subticks
from exsim.units import RATE_SCALE, ceil_div, floor_div

if TYPE_CHECKING:
    from exsim.ledger import Ledger
    from exsim.liquidation.engine import LiquidationEngine

#: the scopes a position can be in (``margin_mode`` of positions.csv)
ISOLATED_SCOPE = "isolated"
CROSS_SCOPE = "cross"
MULTI_ASSETS_SCOPE = "multi-assets"
#: 1e-8 USD per usd_e40 unit (a multi-assets scope's figures are USD e8)
_USD_E40_PER_USD_E8 = 10**32


class AttributionError(AssertionError):
    """The positions' maintenance margins do not add up to their scope's (a broken invariant)."""


class PositionRisk(NamedTuple):
    """One open position and its scope, at the marks now.

    Money in atoms of the position's margin asset, but the ``scope_*`` figures of a
    multi-assets scope: 1e-8 USD (the account equity rounded down, its maintenance
    margin rounded up)."""

    symbol: str
    position_side: int
    scope: str  # ISOLATED_SCOPE, CROSS_SCOPE or MULTI_ASSETS_SCOPE
    qty_lots: int  # signed
    cost_atoms: int  # the exact entry cost
    mark_subticks: int
    upnl_atoms: int  # at the mark, rounded down
    maint_margin_atoms: int  # this position's own (its bracket's), rounded up as the ledger does
    scope_balance_atoms: int  # the scope's margin balance, rounded down
    scope_maint_atoms: int  # the scope's maintenance margin
    share_e8: int  # this position's share of the scope's maintenance margin, rounded down
    liquidation_subticks: int  # 0: no price of this instrument liquidates the scope


def position_liquidation_subticks(ledger: Ledger, engine: LiquidationEngine | None, acct: Account, pos: Position) -> int:
    """``pos``'s liquidation price in subticks with every other price held, 0 for none.

    Isolated: the bucket's threshold; cross: the pool's, the other cross positions at their
    marks; multi-assets (the account is the scope): the account's. O(positions) searches."""
    if not pos.qty_lots or engine is None:
        return 0
    if pos.isolated:
        return engine.liquidation_prices(acct, [pos], True)[0]
    pf = ledger.portfolio(pos.account_id)
    if pf is not None:
        return portfolio_liquidation_subticks(ledger, pf, pos)
    cross = [p for p in acct.positions.values() if not p.isolated and p.qty_lots]
    return engine.liquidation_prices(acct, cross, False)[cross.index(pos)]


def account_risk(ledger: Ledger, engine: LiquidationEngine | None, account_id: int, assets: list[str]) -> list[PositionRisk]:
    """Every open position of ``account_id`` in ``assets`` (in that order, then the
    ledger's position order), attributed. Raises :class:`AttributionError` when the
    maintenance margins do not add up to their scope's."""
    out: list[PositionRisk] = []
    pf = ledger.portfolio(account_id)
    figures = ledger.portfolio_figures(account_id) if pf is not None else None
    portfolio_mm_e40 = 0
    for asset in assets:
        acct = ledger.find_account(account_id, asset)
        if acct is None:
            continue
        open_positions = [p for p in acct.positions.values() if p.qty_lots]
        if not open_positions:
            continue
        cross = [p for p in open_positions if not p.isolated]
        cross_prices: list[int] = []
        if cross and figures is None:
            cross_prices = engine.liquidation_prices(acct, cross, False) if engine is not None else [0] * len(cross)
            pool_balance, pool_mm = ledger.cross_margin_balance(acct)
        rate_e40 = ledger.collateral[asset].requirement_usd_e40(1) if figures is not None else 0
        cross_mm = 0
        for pos in open_positions:
            _, upnl, mm = ledger.position_figures(pos)
            mark = ledger.mark_subticks(pos.symbol, pos)
            if pos.isolated:
                balance, scope_mm = ledger.isolated_margin_balance(pos)
                scope, share = ISOLATED_SCOPE, RATE_SCALE if scope_mm else 0
                liq = engine.liquidation_prices(acct, [pos], True)[0] if engine is not None else 0
            elif figures is not None:
                assert pf is not None
                balance = usd_e40_to_usd_e8_floor(figures.equity_usd_e40)
                scope_mm = ceil_div(figures.maint_usd_e40, _USD_E40_PER_USD_E8)
                portfolio_mm_e40 += mm * rate_e40
                share = floor_div(mm * rate_e40 * RATE_SCALE, figures.maint_usd_e40) if figures.maint_usd_e40 else 0
                scope = MULTI_ASSETS_SCOPE
                liq = portfolio_liquidation_subticks(ledger, pf, pos) if engine is not None else 0
            else:
                balance, scope_mm = pool_balance, pool_mm
                cross_mm += mm
                share = floor_div(mm * RATE_SCALE, pool_mm) if pool_mm else 0
                scope = CROSS_SCOPE
                liq = cross_prices[cross.index(pos)]
            out.append(PositionRisk(pos.symbol, pos.position_side, scope, pos.qty_lots, pos.cost_atoms, mark, upnl, mm,
                                    balance, scope_mm, share, liq))
        if cross and figures is None and cross_mm != pool_mm:
            raise AttributionError(f"account {account_id} {asset} cross pool: the positions' maintenance margins add up "
                                   f"to {cross_mm} atoms, the pool's is {pool_mm}")
    if figures is not None and portfolio_mm_e40 != figures.maint_usd_e40:
        raise AttributionError(f"account {account_id} multi-assets: the positions' maintenance margins add up to "
                               f"{portfolio_mm_e40} usd_e40, the account's is {figures.maint_usd_e40}")
    return out
