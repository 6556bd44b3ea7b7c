"""Accounts and positions: mutable, slotted entities holding integer money and sizes.

Units: sizes in lots (signed: + long, - short), money in atoms (1e-8 of the settlement
asset), leverage a plain int. A position keeps its **exact entry cost** — the sum of
``price_ticks * lots * atoms_per_tick_lot`` over the size still open — never an average;
:meth:`Position.entry_price_ticks` derives the average for display.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final, NoReturn

if TYPE_CHECKING:
    from exsim.ledger.holds import OpenOrders

# order sides, numbered as the exchange passes them (``exsim.book.orders.BUY`` / ``SELL``;
# the ledger imports nothing from the book, so it names them itself)
BUY: Final = 0
SELL: Final = 1

# margin modes
CROSS: Final = 0
ISOLATED: Final = 1
MARGIN_MODE_NAMES: Final = ("CROSS", "ISOLATED")

# position sides: one-way mode keeps one BOTH position per instrument; hedge mode keeps a
# LONG and a SHORT position per instrument (Binance's positionSide)
BOTH: Final = 0
LONG: Final = 1
SHORT: Final = 2
POSITION_SIDE_NAMES: Final = ("BOTH", "LONG", "SHORT")

#: the insurance fund's account: its wallet is the fund's balance; it takes over positions
#: that liquidation could not close within the bankruptcy price, and unwinds them
INSURANCE_FUND: Final = -1

#: the account that stands for the world outside the simulation: it takes the other side
#: of every fill against replayed (anonymous) liquidity, so positions net to zero and
#: money is conserved. Its wallet may go negative; it pays no fees.
EXTERNAL: Final = 0

#: the venue's exchange desk in each asset: the other side of every auto-exchange
#: conversion of multi-assets mode (sells the trader's BTC, buys it USDT), so money is
#: converted, never created or lost. Its wallet may go negative.
CONVERSION_DESK: Final = -2


class SharedMap(dict[Any, Any]):
    """A read-only ``dict`` that several accounts may hold at once (copy-on-write).

    Every new :class:`Account` starts with the one shared empty instance,
    :data:`NO_ENTRIES`, in place of each of its three dicts; the
    :class:`~exsim.ledger.Ledger`, their only writer, gives an account a dict of its own
    at its first write (it tests ``type(d) is not dict``). Without this a million accounts
    would carry three million dicts (64 B each empty), most of which never get an entry
    (``leverages``; ``positions`` of accounts that only place orders). ``margin_modes``
    stays shared: the ledger replaces it, on each change, with the one ``SharedMap`` it
    keeps for that set of modes (184 B less per account with one isolated instrument).
    Reads behave as on any dict; writes raise ``TypeError``, never a change that other
    accounts would see.
    """

    __slots__ = ()

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a SharedMap is read-only: the ledger gives the account a dict of its own before writing")

    __setitem__ = __delitem__ = setdefault = update = pop = popitem = clear = __ior__ = _read_only

    def __reduce__(self) -> tuple[Any, ...]:
        return (SharedMap, (dict(self),))  # pickles as its entries (``dict``'s would write them one by one)


#: the empty mapping every new account starts with (see :class:`SharedMap`)
NO_ENTRIES: Final = SharedMap()
#: the empty order list every new account starts with: an empty tuple, so a write to it
#: fails (the ledger gives the account a list of its own at its first order)
NO_ORDERS: Final = ()


class Position:
    """One position of one account on one instrument (and, in hedge mode, one side).

    ``qty_lots`` is signed (+ long, − short; a hedge-mode LONG is never negative, a SHORT
    never positive). ``cost_atoms >= 0`` is the exact entry cost of the open size.
    ``margin_atoms`` is the isolated bucket (0 for a cross position).
    """

    __slots__ = (
        "account_id",
        "symbol",
        "position_side",
        "isolated",
        "leverage",
        "qty_lots",
        "cost_atoms",
        "margin_atoms",
        "realized_pnl_atoms",
        "fees_atoms",
        "funding_atoms",
        "risk_seq",
        "wait_until_ns",
    )

    def __init__(self, account_id: int, symbol: str, position_side: int, isolated: bool, leverage: int) -> None:
        self.account_id = account_id
        self.symbol = symbol
        self.position_side = position_side
        self.isolated = isolated
        self.leverage = leverage
        self.qty_lots = 0
        self.cost_atoms = 0
        self.margin_atoms = 0
        self.realized_pnl_atoms = 0  # closed trades' PnL (fees and funding not included)
        self.fees_atoms = 0  # fees paid (a negative total means net rebates)
        self.funding_atoms = 0  # funding received (negative: paid)
        self.risk_seq = 0  # the risk index's number for this scope, 0 while it is not watched
        #: a liquidation left it open on purpose until this time (a venue's chunk cooldown
        #: or retry; :attr:`LiquidationEngine.waiting`); 0: not waiting
        self.wait_until_ns = 0

    def notional_atoms(self, price_ticks: int, atoms_per_tick_lot: int) -> int:
        """``|qty| * price`` in atoms (exact)."""
        q = self.qty_lots
        return (q if q >= 0 else -q) * price_ticks * atoms_per_tick_lot

    def upnl_atoms(self, price_ticks: int, atoms_per_tick_lot: int) -> int:
        """Unrealized PnL at ``price_ticks``: exact, signed. O(1)."""
        q = self.qty_lots
        if q >= 0:
            return q * price_ticks * atoms_per_tick_lot - self.cost_atoms
        return self.cost_atoms + q * price_ticks * atoms_per_tick_lot

    def entry_price_ticks(self, atoms_per_tick_lot: int) -> Fraction | None:
        """Average entry price in ticks (exact rational), None when flat. For display."""
        q = abs(self.qty_lots)
        if not q:
            return None
        return Fraction(self.cost_atoms, q * atoms_per_tick_lot)

    def __repr__(self) -> str:
        kind = "isolated" if self.isolated else "cross"
        return (
            f"Position(acct={self.account_id} {self.symbol} {POSITION_SIDE_NAMES[self.position_side]} "
            f"{kind} qty={self.qty_lots} cost={self.cost_atoms} margin={self.margin_atoms})"
        )


class Account:
    """A trading account's wallet in one settlement asset: the cross wallet, the
    per-instrument settings and the positions of the instruments margined in that asset.

    A trader with USDT and BTC holds two of these (the same ``account_id``, ``asset``
    ``"USDT"`` and ``"BTC"``), as Binance keeps a USDⓈ-M and a COIN-M wallet: each is its
    own cross pool (a BTC wallet backs every BTC-margined cross position), watched by the
    risk index as one scope. ``asset`` is ``""`` only for an account built outside a ledger.

    ``wallet_atoms`` is the cross wallet: deposits − withdrawals + realized PnL of cross
    positions − fees ± funding of cross positions − margin moved into isolated buckets +
    margin released from them. ``held_atoms`` is the part of it held for open orders.
    """

    __slots__ = (
        "account_id",
        "asset",
        "wallet_atoms",
        "held_atoms",
        "hedge_mode",
        "margin_modes",
        "leverages",
        "positions",
        "order_list",
        "order_count",
        "orders_index",
        "deposited_atoms",
        "withdrawn_atoms",
        "realized_pnl_atoms",
        "fees_atoms",
        "funding_atoms",
        "risk_seq",
        "wait_until_ns",
        "cross_positions",
        "closing_holds",
    )

    def __init__(self, account_id: int, asset: str = "") -> None:
        self.account_id = account_id
        self.asset = asset  # the settlement asset of this wallet (atoms are 1e-8 of it)
        self.wallet_atoms = 0
        self.held_atoms = 0
        self.hedge_mode = False
        # the three dicts start as the shared empty NO_ENTRIES; the ledger, their only
        # writer, gives the account its own at the first write (see SharedMap)
        self.margin_modes: dict[str, int] = NO_ENTRIES  # symbol -> CROSS / ISOLATED (default CROSS)
        self.leverages: dict[str, int] = NO_ENTRIES  # symbol -> leverage (default: the ledger's)
        #: (symbol, position_side) -> Position; flat positions are removed
        self.positions: dict[tuple[str, int], Position] = NO_ENTRIES
        #: the ids of its open orders (resting or waiting) in arrival order, and of some
        #: that have left (pruned lazily by the ledger, its only writer; see
        #: :mod:`exsim.ledger.holds`): read :attr:`order_ids` instead
        self.order_list: list[int] = NO_ORDERS  # type: ignore[assignment]
        self.order_count = 0  # how many open orders it has
        #: the ledger's index of open orders (their holds and symbols); None until the first order
        self.orders_index: OpenOrders | None = None
        self.deposited_atoms = 0
        self.withdrawn_atoms = 0
        self.realized_pnl_atoms = 0  # over every position, closed ones included
        self.fees_atoms = 0
        self.funding_atoms = 0  # received (negative: paid)
        self.risk_seq = 0  # the risk index's number for its cross pool, 0 while not watched
        self.wait_until_ns = 0  # as Position.wait_until_ns, for the cross pool
        #: how many of :attr:`positions` are cross (kept by the ledger as positions open and
        #: close): the cross pool's "is there anything to watch" is O(1), not a walk
        self.cross_positions = 0
        #: how many of its open orders' holds are closing ones (kept by the ledger): the
        #: exchange trims closing orders after a fill only for an account that has some
        self.closing_holds = 0

    @property
    def order_ids(self) -> dict[int, str]:
        """Order id -> symbol of every open order (resting or waiting), in arrival order: a
        new dict, built from :attr:`order_list` (:data:`NO_ENTRIES` when there is none).
        O(open orders of the account)."""
        index = self.orders_index
        if not self.order_count or index is None:
            return NO_ENTRIES
        return index.listing(self.order_list)

    @property
    def open_orders(self) -> dict[str, int]:
        """Symbol -> number of open orders (resting or waiting); derived from :attr:`order_ids`."""
        counts: dict[str, int] = {}
        for symbol in self.order_ids.values():
            counts[symbol] = counts.get(symbol, 0) + 1
        return counts

    def __repr__(self) -> str:
        return (
            f"Account({self.account_id}{' ' + self.asset if self.asset else ''}, wallet={self.wallet_atoms}, held={self.held_atoms}, "
            f"positions={len(self.positions)})"
        )


class Portfolio:
    """A trader in ``multi-assets`` collateral mode: its wallets in every asset form one
    pool, watched by the risk index as one scope and liquidated at once.

    ``accounts`` is the ledger's live view (asset -> that asset's :class:`Account` of the
    trader, in the ledger's asset order); the figures are computed by
    :meth:`~exsim.ledger.Ledger.portfolio_figures` with :mod:`exsim.ledger.collateral`.
    Every position of a portfolio is cross (isolated margin is refused in this mode).
    """

    __slots__ = ("account_id", "accounts", "risk_seq")

    def __init__(self, account_id: int, accounts: dict[str, Account]) -> None:
        self.account_id = account_id
        self.accounts = accounts
        self.risk_seq = 0  # the risk index's number for this scope, 0 while not watched

    @property
    def positions(self) -> dict[tuple[str, int], Position]:
        """Every position of the trader, all assets (a fresh dict: symbols are unique across assets)."""
        out: dict[tuple[str, int], Position] = {}
        for acct in self.accounts.values():
            out.update(acct.positions)
        return out

    def __repr__(self) -> str:
        return f"Portfolio({self.account_id}, assets={list(self.accounts)})"
