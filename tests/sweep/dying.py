"""A test strategy whose process dies (SIGKILL, as the kernel's OOM killer does) in
on_start when told to: a sweep's worker that never returns its row."""

from __future__ import annotations

import os
import signal
from typing import Any

from exsim.replay import Strategy


class Dying(Strategy):
    def __init__(self, die: str = "no") -> None:
        self.die = die == "yes"

    def on_start(self, ctx: Any) -> None:
        if self.die:
            os.kill(os.getpid(), signal.SIGKILL)
