"""A test strategy that fails in on_start when told to (a sweep's failing cell)."""

from __future__ import annotations

from typing import Any

from exsim.replay import Strategy


class Raising(Strategy):
    def __init__(self, fail: str = "no") -> None:
        self.fail = fail == "yes"

    def on_start(self, ctx: Any) -> None:
        if self.fail:
            raise RuntimeError("told to fail")
