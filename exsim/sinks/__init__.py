"""Sinks: callables the exchange hands each batch of events to. They never mutate state.

A sink receives a ``list`` of events after each command and must not keep that list (the
exchange reuses it); it may copy from it.
"""

from exsim.sinks.jsonl import JsonlSink
from exsim.sinks.memory import CountingSink, MemorySink
from exsim.sinks.state_hash import StateHasher, hash_events

__all__ = ["CountingSink", "JsonlSink", "MemorySink", "StateHasher", "hash_events"]
