"""The event loop: one deterministic stream of commands and timers, by (ts_ns, priority, seq)."""

from exsim.loop.event_loop import (
    PRIORITY,
    PRIORITY_COMMAND,
    PRIORITY_FUNDING,
    PRIORITY_MARK,
    PRIORITY_MARKET_DATA,
    PRIORITY_TIMER,
    EventLoop,
    Timer,
)

__all__ = [
    "PRIORITY",
    "PRIORITY_COMMAND",
    "PRIORITY_FUNDING",
    "PRIORITY_MARK",
    "PRIORITY_MARKET_DATA",
    "PRIORITY_TIMER",
    "EventLoop",
    "Timer",
]
