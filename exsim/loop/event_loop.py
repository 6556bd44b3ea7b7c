"""The event loop: merges timestamped inputs into one deterministic stream of commands.

Every queued item has the heap key ``(ts_ns, priority, seq)``: time first, then the
same-timestamp priority below, then ``seq``, a counter value taken when the item enters
the queue, so ties inside a priority keep input order. A command is dispatched with
``exchange.submit(command)``; a timer calls ``callback(loop, ts_ns)``.

Same-timestamp order (:data:`PRIORITY`; a smaller number runs first)
----------------------------------------------------------------------

======== ========================================= =====================================
priority what                                      commands / sources
======== ========================================= =====================================
0        market data: book deltas, tape trades     ``SetReplayedLevel``, ``SetReplayedLevels``,
                                                   ``ClearReplayedLevels``, ``ReplayedTrade``
1        user / strategy commands                  ``NewOrder``, ``CancelOrder``,
                                                   ``AmendOrder``, ``NewOco``, ``NewBracket``,
                                                   ``SetSelfTradePrevention``,
                                                   ``Deposit``, ``Withdraw``, ``SetLeverage``,
                                                   ``SetMarginMode``, ``SetPositionMode``,
                                                   ``AdjustIsolatedMargin``, ``SetCollateralMode``
2        mark price / index updates, then trigger  ``SetMarkPrice``, ``SetIndexPrice``,
                                                   ``CollateralIndex``, ``SetCollateralRule`` (the exchange runs the
         checks, then liquidations                 trigger checks and liquidations it
                                                   causes inside that one ``submit``)
3        funding settlement                        ``SettleFunding``, funding timers
4        strategy timers                           ``call_at`` / ``call_every`` default
======== ========================================= =====================================

So at one timestamp the book first takes the replayed market data, then the user's
orders meet that book, then the new mark price is applied (stops trigger, positions are
liquidated against the book as it now stands), then funding settles, and last the
strategy wakes up and sees the result.

Ties inside a priority keep input order: ``seq`` is the order in which items entered the
queue. ``schedule`` and the timer calls enqueue at once. A source's items enter the queue
when the loop reaches their timestamp, sources in the order they were added (and, inside
a source, in the source's own order).

Sources are lazy
----------------
:meth:`EventLoop.add_source` takes any ts-ordered iterable (a reader over a 10 GB tick
file, a generator) and never materializes it. The heap holds one *marker* per source,
keyed ``(next_ts_ns, -1, source_number)``; a marker sorts before every item of its
timestamp. When it is popped the loop reads the source's items of that timestamp (usually
one), queues them by their own priority, and pushes the marker of the next timestamp.
Reading a whole timestamp rather than one item is what lets a single source that mixes
kinds (a scenario with an order and a mark price at the same ``ts_ns``) still follow the
priority table; memory is one marker per source plus the items of the current timestamp,
whatever the length of the source. A source whose ``ts_ns`` goes backwards stops the run
with an :class:`~exsim.errors.InputError` naming the source, the item index and the field.

Items scheduled from inside the run (by a timer callback) at the *current* timestamp
with a smaller priority than the one running are dispatched next: the loop never goes
back in time, and the table orders what is queued when the loop reaches each item.

Checkpoints
-----------
A loop is saved between two dispatches (from a timer callback, say; a replay's snapshot
writes it as plain data through ``__getstate__``, :mod:`exsim.replay.snapshot_codec`): the
queue, the clock, the ``seq`` counter and each source's read state, *except the sources'
iterators*, which cannot be saved (a generator over a file). :meth:`EventLoop.sources` says
how many items each source had read; after restoring, :meth:`EventLoop.reattach_source` gives each one an
iterator over the same items advanced past those (a deterministic source re-read from its
start and fast-forwarded), and the run continues exactly as it would have.
"""

from __future__ import annotations

import math
from heapq import heappop, heappush
from itertools import count
from types import MappingProxyType
from typing import Any, Callable, Final, Iterable, Iterator, Mapping, Protocol

from exsim.errors import InputError, StateError
from exsim.exchange.commands import (
    AdjustIsolatedMargin,
    AmendOrder,
    CancelOrder,
    Deposit,
    NewBracket,
    NewOco,
    NewOrder,
    ClearReplayedLevels,
    SetReplayedLevels,
    ReplayedTrade,
    SetMarkPrice,
    SetReplayedLevel,
    SetLeverage,
    SetMarginMode,
    SetPositionMode,
    SetIndexPrice,
    SetSelfTradePrevention,
    SetCollateralMode,
    CollateralIndex,
    SetCollateralRule,
    SettleFunding,
    Withdraw,
)

PRIORITY_MARKET_DATA: Final = 0
PRIORITY_COMMAND: Final = 1
PRIORITY_MARK: Final = 2
PRIORITY_FUNDING: Final = 3
PRIORITY_TIMER: Final = 4

#: Same-timestamp priority of each command type (smaller runs first); see the module
#: docstring for the whole table. Read-only; pass ``priorities=`` to :class:`EventLoop`
#: to extend it (e.g. for a funding command type).
PRIORITY: Final[Mapping[type, int]] = MappingProxyType(
    {
        SetReplayedLevel: PRIORITY_MARKET_DATA,
        ClearReplayedLevels: PRIORITY_MARKET_DATA,
        SetReplayedLevels: PRIORITY_MARKET_DATA,
        ReplayedTrade: PRIORITY_MARKET_DATA,
        NewOrder: PRIORITY_COMMAND,
        CancelOrder: PRIORITY_COMMAND,
        AmendOrder: PRIORITY_COMMAND,
        NewOco: PRIORITY_COMMAND,
        NewBracket: PRIORITY_COMMAND,
        SetSelfTradePrevention: PRIORITY_COMMAND,
        Deposit: PRIORITY_COMMAND,
        Withdraw: PRIORITY_COMMAND,
        SetLeverage: PRIORITY_COMMAND,
        SetMarginMode: PRIORITY_COMMAND,
        SetPositionMode: PRIORITY_COMMAND,
        AdjustIsolatedMargin: PRIORITY_COMMAND,
        SetMarkPrice: PRIORITY_MARK,
        SetIndexPrice: PRIORITY_MARK,
        SetCollateralMode: PRIORITY_COMMAND,
        CollateralIndex: PRIORITY_MARK,
        SetCollateralRule: PRIORITY_MARK,
        SettleFunding: PRIORITY_FUNDING,
    }
)

# Heap entries are 5-tuples (ts_ns, priority, seq, kind, payload). ``seq`` is unique
# among entries of priority >= 0 and a marker's ``seq`` is its source's number (one
# marker per source, priority -1), so tuple comparison never reaches ``kind``/``payload``.
_COMMAND: Final = 0
_TIMER: Final = 1
_MARKER: Final = 2
_MARKER_PRIORITY: Final = -1

_END: Final[Any] = object()  # a source with nothing more to read
_UNSTARTED: Final[Any] = object()  # a source not read yet


class SupportsSubmit(Protocol):
    """What the loop needs of an exchange."""

    def submit(self, command: Any) -> None: ...


TimerCallback = Callable[["EventLoop", int], object]


class Timer:
    """Handle of a timer from :meth:`EventLoop.call_at` / :meth:`EventLoop.call_every`.

    ``ts_ns`` is when it fires next; ``interval_ns`` is 0 for a one-shot timer.
    """

    __slots__ = ("callback", "ts_ns", "interval_ns", "priority", "active", "_loop")

    def __init__(
        self, loop: EventLoop, callback: TimerCallback, ts_ns: int, interval_ns: int, priority: int
    ) -> None:
        self._loop = loop
        self.callback = callback
        self.ts_ns = ts_ns
        self.interval_ns = interval_ns
        self.priority = priority
        self.active = True  # queued and not cancelled

    def cancel(self) -> None:
        """Stop the timer: it does not fire again (a no-op if it already ended). O(1)."""
        if self.active:
            self.active = False
            self._loop._cancelled += 1  # its queued entry is dropped when popped

    def __repr__(self) -> str:
        every = f", every {self.interval_ns} ns" if self.interval_ns else ""
        state = "" if self.active else ", ended"
        return f"Timer(at {self.ts_ns}{every}, priority {self.priority}{state})"


class _Source:
    """Read state of one lazily consumed source."""

    __slots__ = ("name", "number", "next_item", "priority", "index", "last_ts", "head", "head_prio")

    def __init__(self, name: str, number: int, items: Iterator[Any], priority: int | None) -> None:
        self.name = name
        self.number = number
        self.next_item = items.__next__
        self.priority = priority  # None: from the command's type
        self.index = -1  # index of ``head`` in the source
        self.last_ts = 0  # ts_ns of ``head`` (the last item read)
        self.head: Any = _UNSTARTED  # the first item not yet queued, or _END
        self.head_prio = 0

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the iterator (see "Checkpoints"); the sentinels by name."""
        state = {name: getattr(self, name) for name in self.__slots__ if name != "next_item"}
        if self.head is _UNSTARTED or self.head is _END:
            state["head"] = "_UNSTARTED" if self.head is _UNSTARTED else "_END"
            state["sentinel"] = True
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.pop("sentinel", False):
            state["head"] = _UNSTARTED if state["head"] == "_UNSTARTED" else _END
        for name, value in state.items():
            setattr(self, name, value)
        self.next_item = self._detached

    def _detached(self) -> Any:
        raise StateError(f"source {self.name!r} was restored from a checkpoint but not reattached (EventLoop.reattach_source)")


class EventLoop:
    """Merge sources, single commands and timers by ``(ts_ns, priority, seq)``.

    ``exchange`` is anything with ``submit(command)``; ``priorities`` replaces the
    default same-timestamp table :data:`PRIORITY` (command type -> priority, 0..).
    ``now_ns`` starts at ``start_ns`` and only moves forward.
    """

    __slots__ = ("_exchange", "_priority_of", "_heap", "_next_seq", "_now_ns", "_cancelled", "_sources")

    def __init__(
        self,
        exchange: SupportsSubmit,
        *,
        priorities: Mapping[type, int] | None = None,
        start_ns: int = 0,
    ) -> None:
        table = PRIORITY if priorities is None else priorities
        for cls, prio in table.items():
            _check_priority(prio, where=f"priority of {cls.__name__}")
        self._exchange = exchange
        self._priority_of = dict(table).get
        self._heap: list[tuple[int, int, int, int, Any]] = []
        self._next_seq = count().__next__
        self._now_ns = start_ns
        self._cancelled = 0  # cancelled timers whose entries are still in the heap
        self._sources = 0

    # -- queries ------------------------------------------------------------------------

    @property
    def now_ns(self) -> int:
        """Timestamp of the item running or last run (or the ``until_ns`` reached), ns."""
        return self._now_ns

    def pending(self) -> int:
        """Entries waiting in the queue. O(1).

        Scheduled commands and live timers count one each; a source that is not exhausted
        counts one (its marker) plus the items it has already queued for the current
        timestamp: the rest of a source is not read yet, so it is not counted.
        """
        return len(self._heap) - self._cancelled

    # -- feeding ------------------------------------------------------------------------

    def add_source(
        self, items: Iterable[Any], *, name: str, priority: int | None = None
    ) -> None:
        """Merge a ts-ordered stream of commands into the run, reading it lazily.

        ``items`` must be ordered by ``ts_ns`` (equal stamps allowed) and start no earlier
        than ``now_ns``; the run raises :class:`~exsim.errors.InputError` naming ``name``,
        the item index and ``'ts_ns'`` otherwise. ``priority`` overrides the table for
        every item of the source. Nothing is read until the loop runs. O(log n).
        """
        if priority is not None:
            _check_priority(priority, where=f"source {name!r}")
        src = _Source(name, self._sources, iter(items), priority)
        src.last_ts = self._now_ns
        self._sources += 1
        heappush(self._heap, (self._now_ns, _MARKER_PRIORITY, src.number, _MARKER, src))

    def schedule(self, command: Any, *, priority: int | None = None) -> None:
        """Queue one command at its own ``command.ts_ns`` (>= ``now_ns``). O(log n).

        ``priority`` overrides the table. Raises :class:`~exsim.errors.InputError` (a
        ``ValueError``) for a time in the past or a command type with no priority.
        """
        try:
            ts = command[0]
        except (TypeError, IndexError, KeyError):
            ts = None
        if priority is None:
            priority = self._priority_of(type(command))
        # one combined test: schedule() is called per order by strategies
        if type(ts) is not int or ts < self._now_ns or type(priority) is not int or priority < 0:
            raise self._bad_command(command, ts, priority)
        heappush(self._heap, (ts, priority, self._next_seq(), _COMMAND, command))

    def call_at(
        self, ts_ns: int, callback: TimerCallback, *, priority: int = PRIORITY_TIMER
    ) -> Timer:
        """Call ``callback(loop, ts_ns)`` once at ``ts_ns`` (>= ``now_ns``). O(log n).

        The callback may ``schedule`` commands and timers at ``ts_ns`` or later.
        """
        return self._add_timer(ts_ns, 0, callback, priority, "call_at")

    def call_every(
        self,
        start_ns: int,
        interval_ns: int,
        callback: TimerCallback,
        *,
        priority: int = PRIORITY_TIMER,
    ) -> Timer:
        """Call ``callback(loop, ts_ns)`` at ``start_ns``, ``start_ns + interval_ns``, ...

        Runs until the returned :class:`Timer` is cancelled (so bound such a run with
        ``until_ns`` or ``max_events``). ``interval_ns`` > 0. O(log n) per firing.
        """
        if type(interval_ns) is not int or interval_ns <= 0:
            raise InputError(
                f"expected a positive int number of ns, got {interval_ns!r}",
                where="call_every",
                field="interval_ns",
            )
        return self._add_timer(start_ns, interval_ns, callback, priority, "call_every")

    # -- running ------------------------------------------------------------------------

    def run(self, until_ns: int | None = None, max_events: int | None = None) -> int:
        """Dispatch queued items in ``(ts_ns, priority, seq)`` order; return how many ran.

        Stops when the queue is empty, before the first item later than ``until_ns``
        (items *at* ``until_ns`` run, and ``now_ns`` then becomes ``until_ns``), after
        ``max_events`` commands and timer calls, or after a :func:`stop_run` timer (the
        clock then stays at its time). A later ``run`` continues where this one stopped.
        O(log n) per item.
        """
        if max_events is not None and (type(max_events) is not int or max_events < 0):
            raise ValueError(f"max_events must be a non-negative int, got {max_events!r}")
        if until_ns is not None and type(until_ns) is not int:
            raise ValueError(f"until_ns must be an int number of ns, got {until_ns!r}")
        # Hot loop: everything it touches is bound to a local first; markers (one per
        # source timestamp) and timers take the slower branches.
        heap = self._heap
        pop = heappop
        submit = self._exchange.submit
        read_source = self._read_source
        until = math.inf if until_ns is None else until_ns
        stop_at = -1 if max_events is None else max_events
        ran = 0
        stopped = False
        while ran != stop_at and heap:
            entry = pop(heap)
            ts = entry[0]
            if ts > until:
                heappush(heap, entry)
                break
            kind = entry[3]
            if kind == _TIMER and not entry[4].active:  # cancelled while queued: drop, the clock stays
                self._cancelled -= 1
                continue
            self._now_ns = ts
            if kind == _COMMAND:
                submit(entry[4])
                ran += 1
            elif kind == _MARKER:
                command = read_source(entry[4], ts)
                if command is not None:  # a lone item that is next anyway: run it now
                    submit(command)
                    ran += 1
            else:
                timer = entry[4]
                ran += 1
                if timer.interval_ns:
                    # queue the next firing first, so the callback can cancel it
                    nxt = ts + timer.interval_ns
                    timer.ts_ns = nxt
                    heappush(heap, (nxt, timer.priority, self._next_seq(), _TIMER, timer))
                else:
                    timer.active = False
                timer.callback(self, ts)
                if timer.callback is stop_run:  # (timers are the slow branch: commands pay nothing for it)
                    stopped = True
                    break
        if not stopped and until_ns is not None and until_ns > self._now_ns and (not heap or heap[0][0] > until_ns):
            self._now_ns = until_ns  # everything up to until_ns has run: the clock reaches it
        return ran

    # -- checkpoints --------------------------------------------------------------------

    def sources(self) -> list[tuple[int, str, int]]:
        """``(number, name, items read)`` of each source still being read, by number. O(n).

        Sources are numbered from 0 in the order they were added; an exhausted source is
        not listed (nothing of it is left to read). See "Checkpoints" in the module doc.
        """
        found = [e[4] for e in self._heap if e[3] == _MARKER]
        return sorted((src.number, src.name, src.index + 1) for src in found)

    def reattach_source(self, number: int, items: Iterator[Any]) -> None:
        """Continue source ``number`` of a restored loop with ``items``. O(n).

        ``items`` must yield what the original source would have yielded after the items
        it had read (:meth:`sources`): the loop already holds the last of those as the
        source's next item to queue. Raises ``KeyError`` for a source not being read.
        """
        for entry in self._heap:
            if entry[3] == _MARKER and entry[4].number == number:
                entry[4].next_item = iter(items).__next__
                return
        raise KeyError(f"no source {number} is being read")

    def source_head(self, number: int) -> Any:
        """The last item source ``number`` read (queued next), or None before its first. O(n)."""
        for entry in self._heap:
            if entry[3] == _MARKER and entry[4].number == number:
                head = entry[4].head
                return None if head is _UNSTARTED or head is _END else head
        raise KeyError(f"no source {number} is being read")

    def __getstate__(self) -> dict[str, Any]:
        # the seq counter is saved as its next value (itertools.count is not data); reading it consumes that value, so the counter is rebuilt at it
        next_seq = self._next_seq()
        self._next_seq = count(next_seq).__next__
        state = {name: getattr(self, name) for name in self.__slots__ if name != "_next_seq"}
        state["next_seq"] = next_seq
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._next_seq = count(state.pop("next_seq")).__next__
        for name, value in state.items():
            setattr(self, name, value)

    # -- internals ----------------------------------------------------------------------

    def _read_source(self, src: _Source, ts: int) -> Any:
        """Queue ``src``'s items stamped ``ts`` and push its next marker.

        Returns the item instead of queueing it when it is the source's only item at
        ``ts`` and nothing queued would run before it (the common case of a replay: it
        saves a heap push and pop per item). O(log n) per item read.
        """
        heap = self._heap
        first = src.head
        if first is _UNSTARTED:
            self._advance(src)
            first = src.head
            if first is _END:
                return None
            if src.last_ts > ts:  # the first item lies ahead: wait for it
                heappush(heap, (src.last_ts, _MARKER_PRIORITY, src.number, _MARKER, src))
                return None
        first_prio = src.head_prio
        # Read the item after ``first``: this is _advance() inlined, as it runs once per
        # replayed item; anything unusual goes to _advance's error path via _bad_item.
        try:
            item = src.next_item()
        except StopIteration:
            src.head = _END
        else:
            src.index += 1
            try:
                nts = item[0]
            except (TypeError, IndexError, KeyError):
                nts = None
            prio = src.priority
            if prio is None:
                prio = self._priority_of(type(item))
            if type(nts) is not int or nts < ts or prio is None:
                raise _bad_item(src, item, nts, prio)
            src.head = item
            src.head_prio = prio
            src.last_ts = nts
            if nts == ts:  # several items at ts: queue them all, by their own priorities
                next_seq = self._next_seq
                heappush(heap, (ts, first_prio, next_seq(), _COMMAND, first))
                while src.head is not _END and src.last_ts == ts:
                    heappush(heap, (ts, src.head_prio, next_seq(), _COMMAND, src.head))
                    self._advance(src)
                if src.head is not _END:
                    heappush(heap, (src.last_ts, _MARKER_PRIORITY, src.number, _MARKER, src))
                return None
            heappush(heap, (nts, _MARKER_PRIORITY, src.number, _MARKER, src))
        if heap:
            top = heap[0]
            if top[0] == ts and top[1] <= first_prio:  # something queued runs first
                heappush(heap, (ts, first_prio, self._next_seq(), _COMMAND, first))
                return None
        return first

    def _advance(self, src: _Source) -> None:
        """Read the next item of ``src`` into ``src.head`` (``_END`` when exhausted)."""
        try:
            item = src.next_item()
        except StopIteration:
            src.head = _END
            return
        src.index += 1
        try:
            ts = item[0]
        except (TypeError, IndexError, KeyError):
            ts = None
        prio = src.priority
        if prio is None:
            prio = self._priority_of(type(item))
        # one combined test on the hot path; _bad_item says what exactly is wrong
        if type(ts) is not int or ts < src.last_ts or prio is None:
            raise _bad_item(src, item, ts, prio)
        src.head = item
        src.head_prio = prio
        src.last_ts = ts

    def _add_timer(
        self, ts_ns: int, interval_ns: int, callback: TimerCallback, priority: int, what: str
    ) -> Timer:
        if type(ts_ns) is not int:
            raise InputError(
                f"expected an int number of ns, got {ts_ns!r}", where=what, field="ts_ns"
            )
        self._check_not_past(ts_ns, what)
        _check_priority(priority, where=what)
        timer = Timer(self, callback, ts_ns, interval_ns, priority)
        heappush(self._heap, (ts_ns, priority, self._next_seq(), _TIMER, timer))
        return timer

    def _bad_command(self, command: Any, ts: Any, priority: Any) -> InputError:
        """The error for a command that failed :meth:`schedule`'s test."""
        where = f"schedule({type(command).__name__})"
        if ts is None and not (isinstance(command, tuple) and command):
            return InputError(
                f"expected a command whose first field is ts_ns, got {command!r}",
                where=where,
                field="ts_ns",
            )
        if type(ts) is not int:
            return InputError(
                f"expected an int number of ns, got {ts!r} ({type(ts).__name__})",
                where=where,
                field="ts_ns",
            )
        if ts < self._now_ns:
            return InputError(
                f"{ts} is before the loop's current time {self._now_ns}", where=where, field="ts_ns"
            )
        if priority is None:
            return _no_priority(command, where)
        return InputError(
            f"expected a priority int >= 0, got {priority!r}", where=where, field="priority"
        )

    def _check_not_past(self, ts_ns: int, where: str) -> None:
        if ts_ns < self._now_ns:
            raise InputError(
                f"{ts_ns} is before the loop's current time {self._now_ns}",
                where=where,
                field="ts_ns",
            )

    def _check(self) -> None:
        """Check the queue's invariants (O(n)); raises ``StateError`` if one is broken."""
        heap = self._heap
        for i in range(1, len(heap)):
            if heap[(i - 1) // 2][:3] > heap[i][:3]:
                raise StateError(f"heap order broken at entry {i}")
        markers = [e[4].number for e in heap if e[3] == _MARKER]
        if len(markers) != len(set(markers)):
            raise StateError("a source has two markers in the queue")
        seqs = [e[2] for e in heap if e[3] != _MARKER]
        if len(seqs) != len(set(seqs)):
            raise StateError("two queued items share a seq")
        if any(e[0] < self._now_ns for e in heap):
            raise StateError("an item is queued before now_ns")
        dead = sum(1 for e in heap if e[3] == _TIMER and not e[4].active)
        if dead != self._cancelled:
            raise StateError(f"{dead} cancelled timers queued, counter says {self._cancelled}")


def stop_run(loop: EventLoop, ts_ns: int) -> None:
    """A timer callback that ends the :meth:`EventLoop.run` it fires in, as if nothing
    were queued after it (``loop.call_at(ts, stop_run, priority=...)``): the clock stays
    at ``ts_ns`` whatever the run's ``until_ns``, the rest of the queue waits for the next
    run. (A replay served by ``exsim serve`` stops so at the data's end.)"""


def _bad_item(src: _Source, item: Any, ts: Any, prio: int | None) -> InputError:
    """The error for a source item that failed :meth:`EventLoop._advance`'s test."""
    index = src.index
    where = f"source {src.name!r} item {index}"
    if ts is None and not (isinstance(item, tuple) and item):
        return InputError(
            f"expected a command whose first field is ts_ns, got {item!r}", where=where, field="ts_ns"
        )
    if type(ts) is not int:
        return InputError(
            f"expected an int number of ns, got {ts!r} ({type(ts).__name__})",
            where=where,
            field="ts_ns",
        )
    if ts < src.last_ts:
        if index == 0:
            expected = f"the loop's current time {src.last_ts}"
        else:
            expected = f"{src.last_ts} of item {index - 1}"
        return InputError(
            f"{ts} is before {expected}; a source must be ordered by ts_ns",
            where=where,
            field="ts_ns",
        )
    return _no_priority(item, where)


def _check_priority(priority: object, *, where: str) -> None:
    if type(priority) is not int or priority < 0:
        raise InputError(
            f"expected a priority int >= 0, got {priority!r}", where=where, field="priority"
        )


def _no_priority(command: object, where: str) -> InputError:
    return InputError(
        f"no same-timestamp priority for {type(command).__name__}; "
        "pass priority= or add the type to the loop's priorities",
        where=where,
        field="priority",
    )
