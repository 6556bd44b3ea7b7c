"""Order entities and the small integer codes the book and exchange share.

Codes are plain ``int`` constants rather than ``enum`` members on purpose: the matching
loop compares them millions of times a second and an ``IntEnum`` comparison costs several
times a plain int one. The ``*_NAMES`` tuples give the text used in events and logs.
"""

from __future__ import annotations

from typing import Final

# -- side -------------------------------------------------------------------------------
BUY: Final = 0
SELL: Final = 1
SIDE_NAMES: Final = ("BUY", "SELL")
SIDE_SIGN: Final = (1, -1)  # +1 long / -1 short, for position arithmetic

# -- order type -------------------------------------------------------------------------
LIMIT: Final = 0
MARKET: Final = 1
STOP_MARKET: Final = 2
STOP_LIMIT: Final = 3
TAKE_PROFIT_MARKET: Final = 4
TAKE_PROFIT_LIMIT: Final = 5
#: a stop that follows the price at a callback distance (rate or ticks) and fires a
#: market order; see :mod:`exsim.exchange.trailing`
TRAILING_STOP_MARKET: Final = 6
ORDER_TYPE_NAMES: Final = (
    "LIMIT",
    "MARKET",
    "STOP_MARKET",
    "STOP_LIMIT",
    "TAKE_PROFIT_MARKET",
    "TAKE_PROFIT_LIMIT",
    "TRAILING_STOP_MARKET",
)

# -- time in force ----------------------------------------------------------------------
GTC: Final = 0  # rests until filled or cancelled
IOC: Final = 1  # fills what it can now, the rest expires
FOK: Final = 2  # fills completely now or not at all
GTX: Final = 3  # post-only: rejected if any part would take liquidity (Binance "GTX")
TIF_NAMES: Final = ("GTC", "IOC", "FOK", "GTX")

# -- self-trade prevention (per account) ------------------------------------------------
STP_NONE: Final = 0
STP_EXPIRE_TAKER: Final = 1  # the incoming order's remainder expires; the resting one stays
STP_EXPIRE_MAKER: Final = 2  # the resting own order is cancelled; matching goes on
STP_EXPIRE_BOTH: Final = 3  # both the resting own order and the taker's remainder go
STP_NAMES: Final = ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH")

# -- trigger reference for stop / take-profit orders ------------------------------------
TRIGGER_LAST: Final = 0
TRIGGER_MARK: Final = 1
TRIGGER_NAMES: Final = ("LAST", "MARK")

#: account id of anonymous replayed liquidity (size set from L2 data, trades from the tape)
ANONYMOUS: Final = 0


def code_of(names: tuple[str, ...], text: str, *, what: str) -> int:
    """Return the code whose name is ``text`` (case-insensitive); ``ValueError`` if none.

    >>> code_of(SIDE_NAMES, "sell", what="side")
    1
    """
    up = text.strip().upper()
    try:
        return names.index(up)
    except ValueError:
        raise ValueError(f"unknown {what} {text!r}; expected one of {', '.join(names)}") from None


class Order:
    """A resting order, or a chunk of anonymous replayed size, in a price level's FIFO.

    Mutable entity, slotted, identity-hashed. Fields are trusted (validated at the
    exchange boundary). Units: ``price_ticks`` ticks, ``*_lots`` lots, ``ts_ns`` ns.

    ``leaves_lots`` is what is still open; ``0`` marks an entry the book has removed but
    not yet dropped from its queue (lazy deletion, see :class:`~exsim.book.OrderBook`).
    Anonymous chunks have ``order_id == 0`` and ``account_id == ANONYMOUS``.

    The exchange's plain-order path sets these slots itself instead of calling
    ``__init__`` (``Exchange._on_new_order``): a slot added here is set there too
    (tests/exchange/test_plain_path.py fails until it is).
    """

    __slots__ = (
        "order_id",
        "account_id",
        "side",
        "price_ticks",
        "leaves_lots",
        "qty_lots",
        "tif",
        "client_order_id",
        "ts_ns",
        "reduce_only",
        "position_side",
    )

    def __init__(
        self,
        order_id: int,
        account_id: int,
        side: int,
        price_ticks: int,
        leaves_lots: int,
        qty_lots: int = 0,
        tif: int = GTC,
        client_order_id: str | None = None,
        ts_ns: int = 0,
        reduce_only: bool = False,
        position_side: int = 0,
    ) -> None:
        self.order_id = order_id
        self.account_id = account_id
        self.side = side
        self.price_ticks = price_ticks
        self.leaves_lots = leaves_lots
        self.qty_lots = qty_lots or leaves_lots
        self.tif = tif
        self.client_order_id = client_order_id
        self.ts_ns = ts_ns
        self.reduce_only = reduce_only
        self.position_side = position_side  # the exchange's: which position it trades

    @property
    def filled_lots(self) -> int:
        """Lots filled so far (``qty_lots - leaves_lots`` while the order is open)."""
        return self.qty_lots - self.leaves_lots

    @property
    def is_anonymous(self) -> bool:
        """True for replayed L2 size that belongs to no simulated account."""
        return self.order_id == 0

    def __repr__(self) -> str:
        return (
            f"Order(id={self.order_id}, acct={self.account_id}, {SIDE_NAMES[self.side]} "
            f"{self.leaves_lots}/{self.qty_lots} @ {self.price_ticks})"
        )
