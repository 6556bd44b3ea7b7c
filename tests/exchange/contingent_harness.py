"""A margin exchange for the contingent-order tests: ALICE trades, BOB and CAROL make the
market; last price P (60,000.0 in BTCUSDT ticks of 0.1)."""

from __future__ import annotations

from typing import Any

from ledger.harness import USDT, LedgerHarness

from exsim.book.orders import LIMIT, MARKET, STOP_MARKET
from exsim.exchange import NewBracket, NewOco, NewOrder

from .harness import ALICE, BOB, BUY, CAROL, SELL, SYM, P


def market_with_liquidity() -> LedgerHarness:
    """Three funded accounts and a last price of P."""
    h = LedgerHarness()
    for acct in (ALICE, BOB, CAROL):
        h.deposit(acct, 1_000_000 * USDT)
    h.tape(BUY, P, 1)
    return h


def order(side: int, qty: int, price: int = 0, otype: int | None = None, *, trigger: int = 0, coid: str | None = None,
          **kw: Any) -> NewOrder:
    """A NewOrder of ALICE (ts 0: the harness stamps commands, and legs take the command's time)."""
    if otype is None:
        otype = LIMIT if price else MARKET
    return NewOrder(0, ALICE, SYM, side, qty, price, otype, client_order_id=coid, trigger_price_ticks=trigger, **kw)


def stop(side: int, qty: int, trigger: int, **kw: Any) -> NewOrder:
    return order(side, qty, 0, STOP_MARKET, trigger=trigger, **kw)


def of(events: list[Any], cls: type) -> list[Any]:
    return [e for e in events if type(e) is cls]




def send_oco(h: LedgerHarness, *legs: NewOrder) -> list[Any]:
    """Submit a NewOco of ALICE's ``legs`` (stamped with the command's time)."""
    ts = h.ts + 1
    return h.submit(NewOco(ts, ALICE, SYM, tuple(leg._replace(ts_ns=ts) for leg in legs)))


def send_bracket(h: LedgerHarness, entry: NewOrder, *exits: NewOrder) -> list[Any]:
    """Submit a NewBracket of ALICE (entry and exits stamped with the command's time)."""
    ts = h.ts + 1
    return h.submit(NewBracket(ts, ALICE, SYM, entry._replace(ts_ns=ts), tuple(x._replace(ts_ns=ts) for x in exits)))


__all__ = ["ALICE", "BOB", "BUY", "CAROL", "P", "SELL", "SYM", "market_with_liquidity", "of", "order", "send_bracket", "send_oco", "stop"]
