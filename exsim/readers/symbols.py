"""Which market a contract's name says: the three market names and the COIN-M pattern.

Below the readers (a reader names its rows' market from their symbol) and below
:mod:`exsim.readers.markets`, which tells a whole file's market from its evidence and
reads files through the package to do it; :mod:`exsim.readers.markets` re-exports these.
"""

from __future__ import annotations

import re

USDM, SPOT, COINM = "usdm", "spot", "coinm"
COINM_SYMBOL = re.compile(r"[A-Z0-9]+USD_(?:PERP|\d{6})\Z")


def symbol_market(symbol: str) -> str:
    """``coinm`` for a COIN-M contract's name, else ``usdm``.

    >>> symbol_market("BTCUSD_PERP"), symbol_market("ethusd_240927"), symbol_market("BTCUSDT")
    ('coinm', 'coinm', 'usdm')
    """
    return COINM if COINM_SYMBOL.match(symbol.upper()) else USDM


__all__ = ["COINM", "COINM_SYMBOL", "SPOT", "USDM", "symbol_market"]
