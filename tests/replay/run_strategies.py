"""Strategies for the run-directory tests that drive ``exsim`` in a subprocess (loaded
with ``--strategy tests/replay/run_strategies.py:Name``). Each waits on a file, so a test
can act while the run is surely in progress."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from exsim.replay import Context, Strategy


class WaitForGo(Strategy):
    """Writes ``$EXSIM_TEST_SIGNALS/started`` at the start, then holds the run until
    ``$EXSIM_TEST_SIGNALS/go`` exists (60 s at most)."""

    def on_start(self, ctx: Context) -> None:
        signals = Path(os.environ["EXSIM_TEST_SIGNALS"])
        (signals / "started").write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while not (signals / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.02)


class Slow(Strategy):
    """Takes 20 ms over every replayed trade: a run long enough to be interrupted."""

    def on_trade(self, ctx: Context, trade: Any) -> None:
        time.sleep(0.02)
