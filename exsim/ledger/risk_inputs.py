"""What the risk index reads of the ledger: the inputs of a scope's trigger prices.

:mod:`exsim.ledger.risk_index` computes, for each watched isolated bucket, cross pool
and multi-assets account, the mark (and index) prices at which it must be evaluated
again. The :class:`~exsim.ledger.ledger.Ledger` owns the index (``ledger.risk``) and
files scopes in it, so the ledger imports the index; the index asks the ledger back only
what :class:`RiskInputs` lists, and imports nothing of :mod:`exsim.ledger.ledger`, not
even for its types, so the dependency goes one way (``docs/architecture.md``):

- **the instruments** by symbol (grids, lot sizes, brackets, inverse or linear);
- **the collateral rules** by asset (multi-assets accounts: index, haircut tiers, buffers);
- **the price a position is valued at**, :meth:`~RiskInputs.mark_subticks` (the mark,
  else its entry price);
- **the exact figures** the ledger decides with: a position's notional, UPnL and
  maintenance margin (:meth:`~RiskInputs.position_figures_e8`) and a multi-assets
  account's figures over every asset (:meth:`~RiskInputs.portfolio_figures`).

Everything here is a read: the index never moves money, and a trigger computed from these
figures is only ever a hint for when to evaluate exactly (see the index's docstring).
:class:`~exsim.ledger.ledger.Ledger` implements it structurally (no import of this
module); ``tests/test_interfaces.py`` checks that the index's source uses nothing else
of the ledger and that the ledger has every member with the same parameters.
"""

from __future__ import annotations

from typing import Mapping, Protocol

from exsim.instruments import Instrument
from exsim.ledger.accounts import Position
from exsim.ledger.collateral import AccountFigures, CollateralRule


class RiskInputs(Protocol):
    """The ledger as the risk index sees it (see the module docstring)."""

    @property
    def instruments(self) -> dict[str, Instrument]:
        """Every instrument of the ledger, by symbol (read only)."""
        ...

    @property
    def collateral(self) -> Mapping[str, CollateralRule]:
        """Per asset, how it converts to USD in multi-assets mode."""
        ...

    def mark_subticks(self, symbol: str, pos: Position) -> int:
        """The price positions of ``symbol`` are valued at, in subticks: the mark, else
        (no mark yet) ``pos``'s entry price."""
        ...

    def position_figures_e8(self, pos: Position) -> tuple[int, int, int]:
        """``(notional_atoms_e8, upnl_atoms_e8, maint_margin_atoms)`` at the mark, exact."""
        ...

    def portfolio_figures(self, account_id: int) -> AccountFigures:
        """A multi-assets trader's account figures over every asset (exact, usd_e40)."""
        ...


__all__ = ["RiskInputs"]
