"""The normalized market-data row every reader yields (exsim's own event format).

Readers turn a venue's file into a stream of :class:`Row` tuples, ordered by ``ts_ns``.
A row keeps the source's decimal *text* for prices, quantities and rates: the reader
validates that the text is a decimal, but conversion to integer ticks/lots/rates happens
once, in :mod:`exsim.replay.market`, against the instrument's grid — so a reader never
rounds and ``exsim convert`` writes exactly what the source said.

Kinds (``Row.kind``) and the fields each one uses:

============== ==== ======================================================================
kind           code fields
============== ==== ======================================================================
``trade``      0    ``side`` = aggressor (BUY/SELL), ``price``, ``qty`` ('' = size unknown:
                    a bar's price path; it fills every user order it reaches)
``level``      1    ``side``, ``price``, ``qty`` = new absolute replayed size ('0' deletes)
``clear``      2    ``side`` (BUY, SELL or ANY): drop that side's replayed size (a snapshot
                    follows as ``level`` rows)
``quote``      3    ``side``, ``price``, ``qty``: best bid (BUY) or best ask (SELL) and size
``mark``       4    ``price`` = mark price
``index``      5    ``price`` = index price
``funding``    6    ``rate`` = funding rate settled at ``ts_ns`` (decimal, e.g. '0.0001')
``liquidation`` 7   ``side`` = side of the venue's forced order, ``price``, ``qty`` (replayed
                    like a trade: an anonymous taker)
``gap``        8    a break in a diff-depth sequence; ``rate`` holds the reader's message
``premium``    9    ``rate`` = the venue's premium index (used by computed funding)
============== ==== ======================================================================

``where`` is ``"path:line"`` of the row's source, carried so that a later conversion error
(an off-grid price) still names the file, line and field.
"""

from __future__ import annotations

from typing import NamedTuple

from exsim.book.orders import BUY, SELL

ANY = -1  # side of a row that has none (mark, index, funding) or spans both (clear)

TRADE = 0
LEVEL = 1
CLEAR = 2
QUOTE = 3
MARK = 4
INDEX = 5
FUNDING = 6
LIQUIDATION = 7
GAP = 8
PREMIUM = 9

KIND_NAMES: tuple[str, ...] = (
    "trade",
    "level",
    "clear",
    "quote",
    "mark",
    "index",
    "funding",
    "liquidation",
    "gap",
    "premium",
)
KIND_CODES: dict[str, int] = {name: code for code, name in enumerate(KIND_NAMES)}
SIDE_NAMES: dict[int, str] = {BUY: "buy", SELL: "sell", ANY: ""}
SIDE_CODES: dict[str, int] = {"buy": BUY, "sell": SELL, "": ANY}


class Row(NamedTuple):
    """One normalized market-data event (see the module doc for the kinds)."""

    ts_ns: int
    kind: int
    symbol: str
    side: int = ANY
    price: str = ""
    qty: str = ""
    rate: str = ""
    where: str = ""


__all__ = [
    "ANY",
    "CLEAR",
    "FUNDING",
    "GAP",
    "INDEX",
    "KIND_CODES",
    "KIND_NAMES",
    "LEVEL",
    "LIQUIDATION",
    "MARK",
    "PREMIUM",
    "QUOTE",
    "Row",
    "SIDE_CODES",
    "SIDE_NAMES",
    "TRADE",
]
