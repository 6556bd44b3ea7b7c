"""Shared harness for the ledger tests: an Exchange driving a Ledger, checked after every command.

Hand arithmetic in the tests uses BTCUSDT around ``P = 600_000`` ticks (60,000.0 USDT);
a lot is 0.001 BTC and ``atoms_per_tick_lot = 10_000``, so

* notional of ``q`` lots at ``px`` ticks = ``px * q * 10_000`` atoms (1 lot at P = 60 USDT),
* taker fee (0.05 %) = ``ceil(notional * 50_000 / 1e8)`` = ``px * q * 5`` atoms,
* maker fee (0.02 %) = ``px * q * 2`` atoms,
* 1 USDT = ``10**8`` atoms.

:func:`check_all` is the O(state) check run after every command: the ledger's own
``_check()`` (conservation, no negative wallet, positions net to zero, held == Σ holds),
the risk index's and the exchange's, plus two cross-checks between the ledger and the
exchange that neither makes alone (every resting order holds margin and every hold
belongs to a resting order; each account's open-order count equals the orders it has
resting or waiting for a trigger).
"""

from __future__ import annotations

from typing import Any

from exchange.harness import ALICE, BOB, BTC, CAROL, DAVE, ETH, P, SYM, Harness, maker_fee, taker_fee

from exsim.book.orders import BUY, SELL
from exsim.exchange import (
    AdjustIsolatedMargin,
    CommandRejected,
    Deposit,
    Exchange,
    OrderRejected,
    PositionChanged,
    SetLeverage,
    SetMarginMode,
    SetPositionMode,
    Withdraw,
)
from exsim.instruments import Instrument, get_instrument
from exsim.ledger import BOTH, Ledger, Position

SOL = get_instrument("SOLUSDT")
USDT = 10**8  # atoms per USDT


def check_all(ex: Exchange, ledger: Ledger) -> None:
    """Every structural invariant of the ledger, its risk index and the exchange. O(state)."""
    ledger._check()
    ledger.risk._check()
    ex._check()
    resting: set[int] = set()
    counts: dict[tuple[int, str], int] = {}
    for symbol, market in ex.markets.items():
        for oid, order in market.book.orders.items():
            if order.account_id > 0:  # traders (not replayed size, not the insurance fund)
                resting.add(oid)
                key = (order.account_id, symbol)
                counts[key] = counts.get(key, 0) + 1
        for stop in market.triggers.orders.values():
            key = (stop.account_id, symbol)
            counts[key] = counts.get(key, 0) + 1
    assert set(ledger.holds) == resting, (
        f"holds without a resting order: {sorted(set(ledger.holds) - resting)}; "
        f"resting orders without a hold: {sorted(resting - set(ledger.holds))}"
    )
    for acct in ledger.accounts.values():
        for symbol in ex.markets:
            got = acct.open_orders.get(symbol, 0)
            want = counts.get((acct.account_id, symbol), 0)
            assert got == want, f"account {acct.account_id} {symbol}: open_orders {got} != {want} open"
            assert acct.open_orders.get(symbol, 1) != 0, "zero counts are removed"


class RealizedFromEvents:
    """A sink that re-derives each account's realized PnL from ``PositionChanged`` events alone.

    ``PositionChanged.realized_pnl_atoms`` is the position's cumulative realized PnL; a
    flat position is gone, so the next event of that (account, symbol, side) starts a new
    position. The sum of the deltas per account must equal ``Account.realized_pnl_atoms``.
    """

    def __init__(self) -> None:
        self.last: dict[tuple[int, str, int], int] = {}
        self.total: dict[int, int] = {}

    def __call__(self, events: list[Any]) -> None:
        for e in events:
            if type(e) is PositionChanged:
                key = (e.account_id, e.symbol, e.position_side)
                delta = e.realized_pnl_atoms - self.last.get(key, 0)
                self.total[e.account_id] = self.total.get(e.account_id, 0) + delta
                if e.qty_lots:
                    self.last[key] = e.realized_pnl_atoms
                else:
                    self.last.pop(key, None)

    def check(self, ledger: Ledger) -> None:
        for acct in ledger.accounts.values():
            got = self.total.get(acct.account_id, 0)
            assert got == acct.realized_pnl_atoms, (
                f"account {acct.account_id}: PositionChanged events account for {got} atoms of realized PnL, "
                f"the ledger has {acct.realized_pnl_atoms}"
            )


def reasons(events: list[Any]) -> list[str]:
    """The reject reasons among ``events`` (OrderRejected and CommandRejected)."""
    return [e.reason for e in events if type(e) in (OrderRejected, CommandRejected)]


def of_type(events: list[Any], cls: type) -> list[Any]:
    return [e for e in events if type(e) is cls]


class LedgerHarness(Harness):
    """An exchange with a ledger and a memory sink; :func:`check_all` after every command.

    Each helper submits one command at the next timestamp and returns the events that
    command produced (orders, cancels, amends and market data as in the exchange tests'
    harness). ``exchange_kwargs`` go to :class:`Exchange` (``liquidations=False`` for tests
    of voluntary trading below bankruptcy, which a liquidation would preempt).
    """

    def __init__(self, *instruments: Instrument, exchange_kwargs: dict[str, Any] | None = None, **ledger_kwargs: Any) -> None:
        instruments = instruments or (BTC,)
        self.ledger = Ledger(instruments, **ledger_kwargs)
        super().__init__(*instruments, ledger=self.ledger, **(exchange_kwargs or {}))

    def check(self) -> None:
        check_all(self.ex, self.ledger)

    # -- account commands
    def deposit(self, account: int, atoms: int) -> list[Any]:
        return self.submit(Deposit(0, account, atoms))

    def withdraw(self, account: int, atoms: int) -> list[Any]:
        return self.submit(Withdraw(0, account, atoms))

    def leverage(self, account: int, leverage: int, symbol: str = SYM) -> list[Any]:
        return self.submit(SetLeverage(0, account, symbol, leverage))

    def margin_mode(self, account: int, mode: int, symbol: str = SYM) -> list[Any]:
        return self.submit(SetMarginMode(0, account, symbol, mode))

    def hedge(self, account: int, on: bool = True) -> list[Any]:
        return self.submit(SetPositionMode(0, account, on))

    def adjust(self, account: int, delta: int, symbol: str = SYM, pside: int = BOTH) -> list[Any]:
        return self.submit(AdjustIsolatedMargin(0, account, symbol, pside, delta))

    # -- views
    def acct(self, account: int) -> Any:
        return self.ledger.accounts[account]

    def wallet(self, account: int) -> int:
        return self.ledger.accounts[account].wallet_atoms

    def held(self, account: int) -> int:
        return self.ledger.accounts[account].held_atoms

    def pos(self, account: int, symbol: str = SYM, pside: int = BOTH) -> Position | None:
        return self.ledger.accounts[account].positions.get((symbol, pside))

    def last_order_id(self) -> int:
        return self.ex.next_order_id - 1


__all__ = [
    "ALICE",
    "BOB",
    "BTC",
    "BUY",
    "CAROL",
    "DAVE",
    "ETH",
    "LedgerHarness",
    "P",
    "RealizedFromEvents",
    "SELL",
    "SOL",
    "SYM",
    "USDT",
    "check_all",
    "maker_fee",
    "of_type",
    "reasons",
    "taker_fee",
]
