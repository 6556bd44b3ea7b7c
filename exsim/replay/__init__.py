"""Replay: tick files and a strategy through the exchange (see :mod:`exsim.replay.runner`)."""

from exsim.replay.runner import Replay, ReplayConfig
from exsim.replay.strategy import (
    ACCOUNT_ID,
    BracketHandle,
    Context,
    OrderHandle,
    OrderType,
    OwnFill,
    PositionSide,
    PositionView,
    Side,
    Strategy,
    TimeInForce,
    Trail,
    Trigger,
)

__all__ = [
    "ACCOUNT_ID",
    "BracketHandle",
    "Context",
    "OrderHandle",
    "OrderType",
    "OwnFill",
    "PositionSide",
    "PositionView",
    "Replay",
    "ReplayConfig",
    "Side",
    "Strategy",
    "TimeInForce",
    "Trail",
    "Trigger",
]
