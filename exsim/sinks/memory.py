"""In-memory sinks: keep every event, or only count them by type."""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence


class MemorySink:
    """Keep every event, in emission order, in :attr:`events`.

    The exchange reuses the batch list it passes, so the sink copies the events out
    (``list.extend``) and never keeps the list itself. O(len(batch)) per batch.
    """

    __slots__ = ("events", "_extend")

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._extend = self.events.extend

    def __call__(self, events: Sequence[Any]) -> None:
        self._extend(events)

    def __len__(self) -> int:
        return len(self.events)

    def clear(self) -> None:
        """Forget the events kept so far (the same list object is emptied). O(n)."""
        self.events.clear()

    def of_type(self, event_type: type) -> list[Any]:
        """The kept events of exactly ``event_type``, in order. O(n)."""
        return [e for e in self.events if type(e) is event_type]

    def __repr__(self) -> str:
        return f"MemorySink({len(self.events)} events)"


class CountingSink:
    """Count events per event type: cheap enough to leave on for any run.

    ``counts`` maps event class -> count (a :class:`collections.Counter`, filled in first
    seen order); :meth:`as_dict` gives a name-sorted plain dict for reports. O(len(batch))
    per batch, in C.
    """

    __slots__ = ("counts", "_update")

    def __init__(self) -> None:
        self.counts: Counter[type] = Counter()
        self._update = self.counts.update

    def __call__(self, events: Sequence[Any]) -> None:
        self._update(map(type, events))

    def __getitem__(self, event_type: type) -> int:
        """How many events of exactly ``event_type`` were seen (0 if none)."""
        return self.counts[event_type]

    @property
    def total(self) -> int:
        """Events seen, all types together. O(number of types)."""
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        """``{event class name: count}``, sorted by name (stable across runs)."""
        return {cls.__name__: n for cls, n in sorted(self.counts.items(), key=lambda kv: kv[0].__name__)}

    def __repr__(self) -> str:
        return f"CountingSink({self.as_dict()})"
