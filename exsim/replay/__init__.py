"""Replay: tick files and a strategy through the exchange (see :mod:`exsim.replay.runner`)."""

from exsim.replay.runner import Replay, ReplayConfig
from exsim.replay.strategy import ACCOUNT_ID, Context, OwnFill, PositionView, Strategy

__all__ = ["ACCOUNT_ID", "Context", "OwnFill", "PositionView", "Replay", "ReplayConfig", "Strategy"]
