"""What the liquidation engine may ask of the exchange it runs in.

The :class:`~exsim.liquidation.engine.LiquidationEngine` closes a failed isolated bucket
or cross pool inside the command that found it. It reads and moves money in the ledger
itself (the ledger is below both), and asks the exchange only what this interface lists:

- **cancel in scope**: :meth:`~ExchangeForLiquidation.cancel_in_scope` cancels one of the
  account's open orders (reason ``LIQUIDATION``), releasing its margin; which orders are
  in the scope is the engine's choice (it may look at them with ``open_order``);
- **submit a liquidation order**:
  :meth:`~ExchangeForLiquidation.submit_liquidation_order` sends a reduce-only IOC order
  (a limit at the bankruptcy price, or a market order) into the book on the exchange's
  own path — accepted, matched, filled, fees booked and events emitted as any order's —
  and says what it filled; the insurance fund's unwinding uses it too;
- **take over, deleverage**: the engine books the transfer of a position to the
  insurance fund or to an auto-deleveraged account in the ledger (no book, no fee) and
  :meth:`~ExchangeForLiquidation.report_transfer` reports both sides (their
  ``PositionChanged`` events; a deleveraged account's resting closing orders trimmed to
  what it still holds);
- **say what happened**: :meth:`~ExchangeForLiquidation.emit_liquidation` (the one
  ``Liquidation`` event that explains it all), :meth:`~ExchangeForLiquidation.emit_auto_exchange`
  (a multi-assets account's conversions), ``set_fund_seen`` (the insurance fund's change
  is recorded in its history by the engine, so the exchange does not record it again);
- **read**: the ``ledger``, an ``instrument`` by symbol, the ``previous_mark_subticks``
  (Hyperliquid's ADL price) and ``command_seq`` (the ADL queue is ranked once per command).

:class:`exsim.exchange.Exchange` implements it (the block at the end of the class, each
method delegating to the step the exchange's own order path uses). The exchange creates
the engine, so it imports :mod:`exsim.liquidation.engine`; this module imports nothing of
the exchange, not even for its types, so the dependency goes one way
(``docs/architecture.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from exsim.instruments import Instrument
    from exsim.ledger import Ledger, Position
    from exsim.ledger.ledger import AssetBook


class OpenOrder(Protocol):
    """What the engine reads of an open order (resting, or a stop waiting for its trigger)."""

    @property
    def position_side(self) -> int: ...


class MarketView(Protocol):
    """The part of an exchange market the engine reads (:meth:`LiquidationEngine.unwind_fund`)."""

    @property
    def instrument(self) -> Instrument: ...


class ExchangeForLiquidation(Protocol):
    """The exchange as the liquidation engine sees it (see the module docstring)."""

    @property
    def ledger(self) -> Ledger | None:
        """The accounts, positions and insurance funds (None: no margin, no liquidation)."""
        ...

    @property
    def command_seq(self) -> int:
        """Commands submitted so far: the same value for every step of one command."""
        ...

    def instrument(self, symbol: str) -> Instrument:
        """The instrument the exchange trades under ``symbol``."""
        ...

    def previous_mark_subticks(self, symbol: str) -> int:
        """The mark before the last one (0: none yet)."""
        ...

    def open_order(self, symbol: str, order_id: int) -> OpenOrder | None:
        """The open order (resting, or waiting for its trigger), None if not open."""
        ...

    def cancel_in_scope(self, ts: int, symbol: str, order_id: int) -> None:
        """Cancel an open order of the liquidated scope: reason ``LIQUIDATION``, its margin
        released, its client id freed, ``OrderCancelled`` (and the book delta) emitted."""
        ...

    def submit_liquidation_order(
        self,
        ts: int,
        symbol: str,
        account_id: int,
        side: int,
        qty_lots: int,
        limit_ticks: int | None,
        position_side: int = 0,
        label: str = "LIQUIDATION",
        liquidation: bool = True,
    ) -> tuple[int, int, list[tuple[int, int]]]:
        """Send a reduce-only IOC order for ``qty_lots`` at limit ``limit_ticks`` (None: a
        market order) through the book, with no margin check; what did not fill expires.
        Returns ``(order id, lots filled, each fill's (price ticks, lots) in match order)``.

        ``label`` shows in ``OrderAccepted``'s client-order-id field; ``liquidation``
        marks the taker's fills as a liquidation's in the ledger (False for the fund's
        unwinding). Self-trade prevention expires the maker.
        """
        ...

    def report_transfer(self, ts: int, liquidated: Position, counterparty: Position) -> None:
        """Report a transfer the engine booked in the ledger (a takeover by the insurance
        fund, or ADL): both positions' ``PositionChanged``; a deleveraged account's resting
        closing orders are trimmed to the position left."""
        ...

    def emit_auto_exchange(self, ts: int, conversion: tuple[int, str, int, str, int, str]) -> None:
        """Emit one auto-exchange conversion the ledger made: ``(account, from asset, from
        atoms, to asset, to atoms, reason)``, with both balances' changes."""
        ...

    def emit_liquidation(self, ts: int, *fields: object) -> None:
        """Emit the ``Liquidation`` event: ``ts`` and its other fields, in order."""
        ...

    def set_fund_seen(self, book: AssetBook) -> None:
        """``book``'s insurance fund balance is recorded in its history (by the engine)."""
        ...


__all__ = ["ExchangeForLiquidation", "MarketView", "OpenOrder"]
