"""Shared harness for the liquidation tests: an Exchange with a Ledger, checked after every command.

Units by hand (``MARGIN-SPEC.md`` §4–5 on integers):

* BTCUSDT: tick 0.1 USDT, lot 0.001 BTC, ``atoms_per_tick_lot = 10_000``; so ``q`` lots at
  ``px`` ticks are ``px * q * 10_000`` atoms of notional (20 lots at 500_000 = 1,000 USDT);
* ETHUSDT: tick 0.01 USDT, lot 0.001 ETH, ``atoms_per_tick_lot = 1_000``
  (500 lots at 200_000 = 1,000 USDT);
* 1 USDT = ``10**8`` atoms; rates are e8 (1 % = 1_000_000).

:func:`fixed` makes an instrument with one bracket (a fixed maintenance rate), no fees
and no minimum notional, so every figure in a test is plain arithmetic.

:class:`LiqHarness` submits each command at the next nanosecond, then runs
``Ledger._check()`` (conservation, no negative wallet or fund, positions net to zero),
the risk index's and ``Exchange._check()`` (books never crossed, client-id index), and
:func:`check_liquidation_events` on the events the command produced.
"""

from __future__ import annotations

from typing import Any

import attrs

from exsim.book.orders import BUY, GTC, LIMIT, MARKET, SELL, TRIGGER_LAST
from exsim.exchange import (
    AdjustIsolatedMargin,
    CancelOrder,
    Deposit,
    Exchange,
    Fill,
    Liquidatable,
    Liquidation,
    NewOrder,
    OrderAccepted,
    OrderCancelled,
    SetLeverage,
    SetMarginMode,
    SetMarkPrice,
    SetPositionMode,
    SetReplayedLevel,
)
from exsim.instruments import Instrument, get_instrument
from exsim.instruments.brackets import BracketTable
from exsim.ledger import BOTH, CROSS, INSURANCE_FUND, ISOLATED, Ledger, Position
from exsim.sinks import MemorySink
from exsim.venues import BINANCE, VenueProfile
from exsim.venues.profile import ADL_AT_BANKRUPTCY, MARKET as MARKET_LIQUIDATION

USDT = 10**8  # atoms per USDT
BTC_SYM = "BTCUSDT"
ETH_SYM = "ETHUSDT"
MM = 9  # the market maker's account in the hand-written scenarios


def fixed(symbol: str = BTC_SYM, mmr: str = "0.05", max_leverage: int = 10, **changes: Any) -> Instrument:
    """The shipped instrument with a single bracket (maintenance rate ``mmr``), fees 0, no min notional."""
    brackets = BracketTable.from_tiers([("0", "100000000", mmr, str(max_leverage))], symbol="TEST")
    spec: dict[str, Any] = dict(
        brackets=brackets, min_notional_atoms=0, taker_fee_e8=0, maker_fee_e8=0, clearance_fee_e8=0
    )
    spec.update(changes)
    return attrs.evolve(get_instrument(symbol), **spec)


def of_type(events: list[Any], cls: type) -> list[Any]:
    """The events of exactly ``cls``, in order."""
    return [e for e in events if type(e) is cls]


def check_liquidation_events(ledger: Ledger, events: list[Any], venue: VenueProfile = BINANCE) -> None:
    """Invariants of the liquidations one command produced.

    * every Fill whose taker is a liquidation order is at or better than that position's
      bankruptcy price (a sell at or above it, a buy at or below it) — except a venue's
      market-order liquidation (Hyperliquid), which takes what the book offers;
    * every ADL fill is at the bankruptcy price of the position it closed (Hyperliquid:
      at the previous mark);
    * a full (non-partial) CROSS liquidation left the account without any cross position;
    * a MULTI_ASSETS liquidation left the trader without any position in any asset.
    """
    liqs = of_type(events, Liquidation)
    if not liqs:
        return
    bp_of: dict[int, tuple[int, bool]] = {}  # liquidation order id -> (bankruptcy price, closing a long)
    for liq in liqs:
        for lp in liq.positions:
            bp_of[lp.order_id] = (lp.bankruptcy_price_ticks, lp.qty_lots > 0)
        symbols_bp: dict[str, set[int]] = {}  # a hedge-mode pool can hold two legs of a symbol
        for lp in liq.positions:
            symbols_bp.setdefault(lp.symbol, set()).add(lp.bankruptcy_price_ticks)
        for a in liq.adl:
            if venue.adl_price != ADL_AT_BANKRUPTCY:
                continue
            assert a.price_ticks in symbols_bp[a.symbol], f"ADL fill {a} not at a bankruptcy price {symbols_bp}"
        if liq.scope == "CROSS" and not getattr(liq, "partial", False):
            acct = ledger.accounts[liq.account_id]
            left = [p for p in acct.positions.values() if not p.isolated]
            assert not left, f"cross liquidation of account {liq.account_id} left cross positions {left}"
        if liq.scope == "MULTI_ASSETS":  # the whole account, every asset
            left = [p for a in ledger.all_accounts() if a.account_id == liq.account_id for p in a.positions.values()]
            assert not left, f"multi-assets liquidation of account {liq.account_id} left positions {left}"
    if venue.liquidation_order == MARKET_LIQUIDATION:
        return
    for e in of_type(events, Fill):
        hit = bp_of.get(e.taker_order_id)
        if hit is None:
            continue
        bp, long = hit
        if long:
            assert e.aggressor_side == SELL and e.price_ticks >= bp, f"liquidation sell {e} below bankruptcy {bp}"
        else:
            assert e.aggressor_side == BUY and e.price_ticks <= bp, f"liquidation buy {e} above bankruptcy {bp}"


def check_state(ex: Exchange, ledger: Ledger) -> None:
    """The O(state) structural checks: ledger (conservation, wallets >= 0), risk index, books."""
    ledger._check()
    ledger.risk._check()
    ex._check()


class LiqHarness:
    """An exchange with a ledger and a memory sink; every command is followed by the checks.

    ``fund`` seeds the insurance fund (atoms); other keyword arguments go to
    :class:`Exchange` (``fund_unwind_lots``, ``adl_score``, ...).
    """

    def __init__(self, *instruments: Instrument, fund: int = 0, default_leverage: int = 10, **exchange_kwargs: Any) -> None:
        self.instruments = instruments or (fixed(),)
        self.ledger = Ledger(self.instruments, insurance_fund_atoms=fund, default_leverage=default_leverage)
        self.sink = MemorySink()
        self.ex = Exchange(self.instruments, sinks=[self.sink], ledger=self.ledger, **exchange_kwargs)
        self.ts = 0
        self.bids: dict[tuple[int, str], int] = {}  # (account, symbol) -> the maker's current bid order id
        check_state(self.ex, self.ledger)

    @property
    def sym(self) -> str:
        return self.instruments[0].symbol

    def submit(self, command: Any, same_ts: bool = False) -> list[Any]:
        """Submit ``command`` at the next nanosecond (``same_ts``: at the previous command's),
        run every check, return its events."""
        if not same_ts:
            self.ts += 1
        start = len(self.sink.events)
        self.ex.submit(command._replace(ts_ns=self.ts))
        events = self.sink.events[start:]
        check_state(self.ex, self.ledger)
        check_liquidation_events(self.ledger, events, self.ex.venue)
        return events

    # -- accounts
    def account(self, account: int, usdt: int, leverage: int = 10, mode: int = CROSS, symbols: tuple[str, ...] | None = None,
                hedge: bool = False) -> None:
        """Deposit ``usdt`` and set leverage (and margin mode) on every instrument (or ``symbols``)."""
        self.submit(Deposit(0, account, usdt * USDT))
        if hedge:
            self.submit(SetPositionMode(0, account, True))
        for inst in self.instruments:
            if symbols is not None and inst.symbol not in symbols:
                continue
            assert not reasons(self.submit(SetLeverage(0, account, inst.symbol, leverage)))
            if mode != CROSS:
                assert not reasons(self.submit(SetMarginMode(0, account, inst.symbol, mode)))

    def adjust(self, account: int, delta_atoms: int, symbol: str | None = None, pside: int = BOTH) -> list[Any]:
        return self.submit(AdjustIsolatedMargin(0, account, symbol or self.sym, pside, delta_atoms))

    # -- orders
    def order(self, account: int, side: int, qty: int, price: int = 0, *, symbol: str | None = None,
              order_type: int | None = None, tif: int = GTC, reduce_only: bool = False, pside: int = BOTH,
              trigger: int = 0, trigger_by: int = TRIGGER_LAST, coid: str | None = None) -> list[Any]:
        """A new order (LIMIT with a price, MARKET without); returns the command's events."""
        if order_type is None:
            order_type = LIMIT if price else MARKET
        return self.submit(NewOrder(0, account, symbol or self.sym, side, qty, price, order_type, tif, coid,
                                    reduce_only, trigger, trigger_by, pside))

    def rest(self, account: int, side: int, qty: int, price: int, **kw: Any) -> int:
        """Place a resting limit order; return its id (asserts it was accepted)."""
        events = self.order(account, side, qty, price, **kw)
        accepted = of_type(events, OrderAccepted)
        assert accepted, f"order refused: {events}"
        return accepted[0].order_id

    def trade(self, buyer: int, seller: int, qty: int, price: int, symbol: str | None = None, **kw: Any) -> None:
        """``seller`` rests an ask, ``buyer`` takes it: both end with the position at ``price``."""
        self.rest(seller, SELL, qty, price, symbol=symbol, **kw.get("seller_kw", {}))
        events = self.order(buyer, BUY, qty, price, symbol=symbol, **kw.get("buyer_kw", {}))
        assert sum(f.qty_lots for f in of_type(events, Fill)) == qty, f"trade did not fill: {events}"

    def cancel(self, account: int, order_id: int, symbol: str | None = None) -> list[Any]:
        return self.submit(CancelOrder(0, account, symbol or self.sym, order_id))

    def requote_bid(self, account: int, price: int, qty: int, symbol: str | None = None) -> None:
        """The maker cancels its previous bid (if still resting) and bids ``qty`` at ``price``."""
        symbol = symbol or self.sym
        old = self.bids.pop((account, symbol), None)
        if old is not None and old in self.ex.book(symbol).orders:
            self.cancel(account, old, symbol)
        self.bids[(account, symbol)] = self.rest(account, BUY, qty, price, symbol=symbol)

    # -- market data
    def mark(self, price: int, symbol: str | None = None, same_ts: bool = False) -> list[Any]:
        """A mark on the tick ``price`` (ticks; sent in subticks)."""
        symbol = symbol or self.sym
        return self.mark_subticks(price * self.ex.markets[symbol].instrument.subticks_per_tick, symbol, same_ts)

    def mark_subticks(self, price: int, symbol: str | None = None, same_ts: bool = False) -> list[Any]:
        """A mark at ``price`` subticks (1e-8 USDT): finer than the tick, as venues publish it."""
        return self.submit(SetMarkPrice(0, symbol or self.sym, price), same_ts)

    def level(self, side: int, price: int, lots: int, symbol: str | None = None) -> list[Any]:
        return self.submit(SetReplayedLevel(0, symbol or self.sym, side, price, lots))

    # -- views
    def wallet(self, account: int) -> int:
        return self.ledger.accounts[account].wallet_atoms

    def pos(self, account: int, symbol: str | None = None, pside: int = BOTH) -> Position | None:
        return self.ledger.accounts[account].positions.get((symbol or self.sym, pside))

    @property
    def fund(self) -> int:
        return self.ledger.fund.wallet_atoms

    def fund_pos(self, symbol: str | None = None) -> Position | None:
        return self.ledger.fund.positions.get((symbol or self.sym, BOTH))


def reasons(events: list[Any]) -> list[str]:
    """Reject reasons among ``events`` (OrderRejected / CommandRejected)."""
    return [e.reason for e in events if type(e).__name__ in ("OrderRejected", "CommandRejected")]


def liquidations(events: list[Any], account: int | None = None) -> list[Liquidation]:
    return [e for e in of_type(events, Liquidation) if account is None or e.account_id == account]


def fills_of_order(events: list[Any], order_id: int) -> list[Fill]:
    return [e for e in of_type(events, Fill) if e.taker_order_id == order_id]


__all__ = [
    "BOTH",
    "BTC_SYM",
    "BUY",
    "CROSS",
    "ETH_SYM",
    "INSURANCE_FUND",
    "ISOLATED",
    "Liquidatable",
    "LiqHarness",
    "Liquidation",
    "MM",
    "OrderCancelled",
    "SELL",
    "USDT",
    "check_liquidation_events",
    "check_state",
    "fills_of_order",
    "fixed",
    "liquidations",
    "of_type",
    "reasons",
]
