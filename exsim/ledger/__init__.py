"""The position ledger: accounts, positions, isolated buckets, pools; knows nothing of the book."""

from exsim.ledger.accounts import (
    BOTH,
    CONVERSION_DESK,
    CROSS,
    EXTERNAL,
    INSURANCE_FUND,
    ISOLATED,
    LONG,
    MARGIN_MODE_NAMES,
    POSITION_SIDE_NAMES,
    SHORT,
    Account,
    Portfolio,
    Position,
)
from exsim.ledger.ledger import Ledger, OrderHold, Reason

__all__ = [
    "BOTH",
    "CONVERSION_DESK",
    "CROSS",
    "EXTERNAL",
    "INSURANCE_FUND",
    "ISOLATED",
    "LONG",
    "MARGIN_MODE_NAMES",
    "POSITION_SIDE_NAMES",
    "SHORT",
    "Account",
    "Ledger",
    "OrderHold",
    "Portfolio",
    "Position",
    "Reason",
]
