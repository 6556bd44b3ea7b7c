"""The margin hold of an open order, packed into one int, and the ledger's index of open orders.

A venue may carry a million resting orders, each holding margin: the hold is kept as
small as it can be. Each is one ``int`` in :attr:`OpenOrders.held` (order id -> packed
hold) that carries every figure of the hold in fixed-width fields, the owner's account
id on top (the one field without a bound)::

    bits   0-5    flags: side (bit 0: BUY 0, SELL 1), position side (bits 1-2),
                  reduce-only (bit 3), closing (bit 4: it holds the fee only),
                  may rest (bit 5: not an order that executes at once)
    bits   6-21   the instrument, as its index in :attr:`OpenOrders.symbols`
    bits  22-85   open lots (what the hold is for; falls as the order fills)
    bits  86-165  held atoms
    bits 166-245  worst-case notional atoms (for the leverage brackets)
    bits 246-     the account id

That is 60 bytes per order for the ledger's hold, where an object with an int per figure
took 144; a figure that does not fit its field is refused by the ledger
(:func:`fits`) — 2^64 lots, 2^80 atoms (12 million billion USDT) are beyond any venue's
limits. The fields are read by the shifts and masks below; :class:`OrderHold` unpacks one
into attributes, for inspection and tests (never stored).

An account lists its open orders (resting or waiting for a trigger) by id in arrival
order in :attr:`~exsim.ledger.Account.order_list`, a plain list that the ledger appends
to and prunes lazily: an id whose order has left stays until the list is more than
twice the account's open orders (:func:`prune`), so leaving is O(1) amortized.
"""

from __future__ import annotations

from typing import Final

#: flag bits (the side is bit 0: BUY 0, SELL 1; the position side bits 1-2)
HOLD_SIDE: Final = 1
HOLD_PSIDE_SHIFT: Final = 1
HOLD_REDUCE_ONLY: Final = 8
HOLD_CLOSING: Final = 16
HOLD_MAY_REST: Final = 32
FLAG_MASK: Final = 63

SYMBOL_SHIFT: Final = 6
SYMBOL_MASK: Final = (1 << 16) - 1
LOTS_SHIFT: Final = 22
LOTS_MASK: Final = (1 << 64) - 1
HELD_SHIFT: Final = 86
HELD_MASK: Final = (1 << 80) - 1
NOTIONAL_SHIFT: Final = 166
NOTIONAL_MASK: Final = (1 << 80) - 1
ACCOUNT_SHIFT: Final = 246
#: the most instruments a ledger can index (the symbol field's width)
MAX_SYMBOLS: Final = SYMBOL_MASK + 1


def hold_flags(side: int, position_side: int, reduce_only: bool, closing: bool, may_rest: bool = True) -> int:
    """The flag bits of a hold."""
    return (
        side
        | position_side << HOLD_PSIDE_SHIFT
        | (HOLD_REDUCE_ONLY if reduce_only else 0)
        | (HOLD_CLOSING if closing else 0)
        | (HOLD_MAY_REST if may_rest else 0)
    )


def fits(open_lots: int, held_atoms: int, notional_atoms: int) -> bool:
    """Whether the figures fit their fields (every real order's do)."""
    return 0 <= open_lots <= LOTS_MASK and 0 <= held_atoms <= HELD_MASK and 0 <= notional_atoms <= NOTIONAL_MASK


def pack(account_id: int, symbol_index: int, flags: int, open_lots: int, held_atoms: int, notional_atoms: int) -> int:
    """One hold as one int (the figures must :func:`fit`)."""
    return (
        account_id << ACCOUNT_SHIFT
        | notional_atoms << NOTIONAL_SHIFT
        | held_atoms << HELD_SHIFT
        | open_lots << LOTS_SHIFT
        | symbol_index << SYMBOL_SHIFT
        | flags
    )


class OrderHold:
    """One packed hold unpacked into attributes: a read-only copy, for inspection and
    tests. The ledger stores the packed int, never this."""

    __slots__ = ("account_id", "symbol", "held_atoms", "open_lots", "notional_atoms", "flags")

    def __init__(
        self,
        account_id: int,
        symbol: str,
        held_atoms: int,
        open_lots: int,
        closing: bool,
        side: int,
        reduce_only: bool,
        position_side: int,
        notional_atoms: int = 0,
        may_rest: bool = True,
    ) -> None:
        self.account_id = account_id
        self.symbol = symbol
        self.held_atoms = held_atoms
        self.open_lots = open_lots
        self.notional_atoms = notional_atoms  # worst-case notional (for brackets)
        self.flags = hold_flags(side, position_side, reduce_only, closing, may_rest)

    @classmethod
    def unpack(cls, packed: int, symbols: list[str]) -> OrderHold:
        hold = cls.__new__(cls)
        hold.account_id = packed >> ACCOUNT_SHIFT
        hold.symbol = symbols[packed >> SYMBOL_SHIFT & SYMBOL_MASK]
        hold.held_atoms = packed >> HELD_SHIFT & HELD_MASK
        hold.open_lots = packed >> LOTS_SHIFT & LOTS_MASK
        hold.notional_atoms = packed >> NOTIONAL_SHIFT & NOTIONAL_MASK
        hold.flags = packed & FLAG_MASK
        return hold

    @property
    def side(self) -> int:
        return self.flags & HOLD_SIDE

    @property
    def position_side(self) -> int:
        return self.flags >> HOLD_PSIDE_SHIFT & 3

    @property
    def reduce_only(self) -> bool:
        return bool(self.flags & HOLD_REDUCE_ONLY)

    @property
    def closing(self) -> bool:
        """Whether it only closes a position (it holds the fee only)."""
        return bool(self.flags & HOLD_CLOSING)

    @property
    def may_rest(self) -> bool:
        """False for an order that executes at once (IOC, FOK, market)."""
        return bool(self.flags & HOLD_MAY_REST)

    def __eq__(self, other: object) -> bool:
        return type(other) is OrderHold and all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    def __repr__(self) -> str:
        return (
            f"OrderHold(acct={self.account_id} {self.symbol} held={self.held_atoms} open={self.open_lots} "
            f"notional={self.notional_atoms} flags={self.flags:#x})"
        )


class OpenOrders:
    """The ledger's open orders: the packed holds of the orders that hold margin (book
    orders), the symbols of those that wait for a trigger (stops hold nothing yet), and
    the instruments by index. Every account with an open order refers to it, to list its
    orders (:attr:`~exsim.ledger.Account.order_ids`)."""

    __slots__ = ("held", "waiting", "symbols")

    def __init__(self, symbols: list[str]) -> None:
        if len(symbols) > MAX_SYMBOLS:
            raise ValueError(f"a ledger indexes at most {MAX_SYMBOLS} instruments, got {len(symbols)}")
        self.held: dict[int, int] = {}  # order id -> packed hold
        self.waiting: dict[int, str] = {}  # order id -> symbol, of an order waiting for its trigger
        self.symbols = symbols

    def symbol_of(self, order_id: int) -> str | None:
        """The symbol of an open order, None if it is not open."""
        packed = self.held.get(order_id)
        if packed is not None:
            return self.symbols[packed >> SYMBOL_SHIFT & SYMBOL_MASK]
        return self.waiting.get(order_id)

    def listing(self, order_list: list[int]) -> dict[int, str]:
        """Order id -> symbol of the open orders among ``order_list``, in arrival order.

        An id can be in the list twice: a stop that triggered left the waiting orders and
        came back as a book order, which counts as arriving again (the last place wins).
        O(len(order_list))."""
        held = self.held
        waiting = self.waiting
        symbols = self.symbols
        out: dict[int, str] = {}
        for oid in order_list:
            packed = held.get(oid)
            if packed is not None:
                symbol = symbols[packed >> SYMBOL_SHIFT & SYMBOL_MASK]
            else:
                symbol = waiting.get(oid)  # type: ignore[assignment]
                if symbol is None:
                    continue  # it left: pruned later
            if oid in out:
                del out[oid]  # it arrived again
            out[oid] = symbol
        return out


__all__ = ["OpenOrders", "OrderHold", "fits", "hold_flags", "pack"]
