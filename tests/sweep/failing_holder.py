"""A test strategy: the shipped holder, failing in one chosen cell (a sweep's failed row)."""

from __future__ import annotations

from typing import Any

from exsim_examples.holder import Holder


class FailingHolder(Holder):
    """``fail_in = "LEVERAGE/MODE/ENTER_AFTER_S"``: raise at the start of that cell only."""

    def __init__(self, fail_in: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_in = fail_in
        self.enter_after_s = kwargs.get("enter_after_s", 0)

    def on_start(self, ctx: Any) -> None:
        super().on_start(ctx)
        here = f"{ctx.leverage(self.symbol)}/{ctx.margin_mode(self.symbol)}/{self.enter_after_s}"
        if here == self.fail_in:
            raise RuntimeError(f"told to fail in {here}")
