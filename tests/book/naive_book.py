"""A deliberately simple reference order book, written from the semantics of ``OrderBook``.

Nothing here is fast and nothing is lazy: each side is one plain list of live resting
entries (identified orders and anonymous chunks of replayed size) in arrival order, and
every question is answered by scanning it. Priority is "better price first, then earlier
arrival", found by a linear scan with :meth:`NaiveBook._priority`; an entry's place in
time is its arrival sequence number, which never changes (a reduced order or a grown
anonymous chunk keeps it). Removed entries leave the list at once.

Semantics it pins (the contract of :class:`exsim.book.OrderBook`):

* ``match`` consumes the opposite side from the best entry on, whoever it belongs to, up
  to ``limit_px`` (``None`` = no limit), and reports ``(maker, price_ticks, qty_lots)``
  per maker touched. A resting entry of the taker's own account is met by ``stp_mode``:
  ``STP_EXPIRE_TAKER`` stops there (the entry stays), ``STP_EXPIRE_MAKER`` cancels it and
  goes on, ``STP_EXPIRE_BOTH`` cancels it and stops. A replayed trade is a ``match`` by
  ``ANONYMOUS`` with ``STP_NONE``.
* ``limit`` is ``match`` then ``rest`` of the remainder, unless STP expired the taker.
* ``set_anonymous_lots`` moves a level's anonymous total to the new value: an increase
  grows the level's last entry if that is an anonymous chunk, else joins the back as a
  new chunk; a decrease comes from the back-most chunks (``CONSERVATIVE``) or, for
  ``PROPORTIONAL``, each chunk first loses ``floor(decrease * chunk / anonymous total)``
  and what is left of the decrease comes from the back.
* ``fillable_lots`` is what a dry run of ``match`` would fill.

Entries are the naive book's own objects (:class:`Entry`), never the ``Order`` objects a
test hands to the fast book, so the two books cannot share state by accident.
"""

from __future__ import annotations

from exsim.book.order_book import CONSERVATIVE, PROPORTIONAL, QUEUE_MODELS
from exsim.book.orders import (
    ANONYMOUS,
    BUY,
    SELL,
    STP_EXPIRE_BOTH,
    STP_EXPIRE_MAKER,
    STP_EXPIRE_TAKER,
    STP_NONE,
)

#: a naive fill: (maker entry, price_ticks, qty_lots)
NaiveFill = tuple["Entry", int, int]


class Entry:
    """One live resting entry: an identified order (``order_id > 0``) or an anonymous chunk."""

    __slots__ = ("order_id", "account_id", "side", "price_ticks", "leaves_lots", "seq")

    def __init__(self, order_id: int, account_id: int, side: int, price_ticks: int, leaves_lots: int, seq: int) -> None:
        self.order_id = order_id
        self.account_id = account_id
        self.side = side
        self.price_ticks = price_ticks
        self.leaves_lots = leaves_lots
        self.seq = seq

    @property
    def is_anonymous(self) -> bool:
        """True for a chunk of replayed size."""
        return self.order_id == 0

    def __repr__(self) -> str:
        who = "anon" if self.order_id == 0 else f"#{self.order_id}/acct {self.account_id}"
        return f"Entry({who}, side {self.side}, {self.leaves_lots} @ {self.price_ticks}, seq {self.seq})"


class NaiveBook:
    """Reference book: one list of live entries per side, O(n) scans for everything."""

    def __init__(self, queue_model: str = CONSERVATIVE) -> None:
        if queue_model not in QUEUE_MODELS:
            raise ValueError(f"queue model {queue_model!r}: expected one of {QUEUE_MODELS}")
        self.queue_model = queue_model
        self.entries: tuple[list[Entry], list[Entry]] = ([], [])
        self.seq = 0
        self.stp_expired: list[tuple[Entry, int]] = []
        self.taker_stp_expired = False

    # ------------------------------------------------------------------ ordering
    @staticmethod
    def _priority(e: Entry) -> tuple[int, int]:
        """Sort key: better price first (highest bid, lowest ask), then earlier arrival."""
        return (-e.price_ticks if e.side == BUY else e.price_ticks, e.seq)

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def _queue(self, side: int, price_ticks: int) -> list[Entry]:
        """Live entries at one price, in queue (arrival) order."""
        return sorted((e for e in self.entries[side] if e.price_ticks == price_ticks), key=lambda e: e.seq)

    def _levels(self, side: int) -> list[tuple[int, list[Entry]]]:
        """``(price, live entries in queue order)`` for every price of a side, best first."""
        by_price: dict[int, list[Entry]] = {}
        for e in sorted(self.entries[side], key=lambda e: e.seq):
            by_price.setdefault(e.price_ticks, []).append(e)
        return sorted(by_price.items(), reverse=(side == BUY))

    def _prices(self, side: int) -> list[int]:
        """Distinct live prices of a side, best first."""
        prices = {e.price_ticks for e in self.entries[side]}
        return sorted(prices, reverse=(side == BUY))

    def _front(self, side: int) -> Entry | None:
        """The entry a taker would meet first on ``side``, or None."""
        es = self.entries[side]
        return min(es, key=self._priority) if es else None

    def find(self, order_id: int) -> Entry | None:
        """The resting identified entry ``order_id``, or None."""
        for es in self.entries:
            for e in es:
                if e.order_id == order_id:
                    return e
        return None

    @staticmethod
    def _crosses(taker_side: int, limit_px: int | None, maker_px: int) -> bool:
        if limit_px is None:
            return True
        return maker_px <= limit_px if taker_side == BUY else maker_px >= limit_px

    # ------------------------------------------------------------------ matching
    def match(
        self,
        taker_order_id: int,
        taker_account: int,
        side: int,
        qty_lots: int,
        limit_px: int | None,
        stp_mode: int,
        fills: list[NaiveFill],
    ) -> int:
        """Take liquidity; append fills; return the lots left unfilled."""
        self.stp_expired = []
        self.taker_stp_expired = False
        opp = side ^ 1
        qty = qty_lots
        while qty > 0:
            m = self._front(opp)
            if m is None or not self._crosses(side, limit_px, m.price_ticks):
                break
            if stp_mode != STP_NONE and m.account_id == taker_account:
                if stp_mode == STP_EXPIRE_TAKER:
                    self.taker_stp_expired = True
                    break
                self.entries[opp].remove(m)
                self.stp_expired.append((m, m.leaves_lots))
                m.leaves_lots = 0
                if stp_mode == STP_EXPIRE_BOTH:
                    self.taker_stp_expired = True
                    break
                assert stp_mode == STP_EXPIRE_MAKER
                continue
            take = min(qty, m.leaves_lots)
            fills.append((m, m.price_ticks, take))
            m.leaves_lots -= take
            qty -= take
            if m.leaves_lots == 0:
                self.entries[opp].remove(m)
        return qty

    def replay_trade(self, taker_side: int, qty_lots: int, limit_px: int | None, fills: list[NaiveFill]) -> int:
        """A trade from the tape: an anonymous taker without self-trade prevention."""
        return self.match(0, ANONYMOUS, taker_side, qty_lots, limit_px, STP_NONE, fills)

    # ------------------------------------------------------------------ resting
    def rest(self, order_id: int, account_id: int, side: int, price_ticks: int, leaves_lots: int) -> Entry:
        """Queue a new identified order at the back of its price."""
        assert order_id > 0 and leaves_lots > 0 and self.find(order_id) is None
        e = Entry(order_id, account_id, side, price_ticks, leaves_lots, self._next_seq())
        self.entries[side].append(e)
        return e

    def limit(
        self,
        order_id: int,
        account_id: int,
        side: int,
        price_ticks: int,
        qty_lots: int,
        stp_mode: int,
        fills: list[NaiveFill],
    ) -> tuple[bool, int]:
        """Match a GTC limit order, rest the remainder unless STP expired it.

        Returns ``(rested, leaves_lots)``.
        """
        left = self.match(order_id, account_id, side, qty_lots, price_ticks, stp_mode, fills)
        if not left or self.taker_stp_expired:
            return False, left
        self.rest(order_id, account_id, side, price_ticks, left)
        return True, left

    def cancel(self, order_id: int) -> int:
        """Remove a resting order; return its open lots, 0 if it is not resting."""
        e = self.find(order_id)
        if e is None:
            return 0
        self.entries[e.side].remove(e)
        lots = e.leaves_lots
        e.leaves_lots = 0
        return lots

    def reduce(self, order_id: int, new_leaves_lots: int) -> None:
        """Lower a resting order's open size; it keeps its place in the queue."""
        e = self.find(order_id)
        assert e is not None and 0 < new_leaves_lots <= e.leaves_lots
        e.leaves_lots = new_leaves_lots

    # ------------------------------------------------------------------ replayed size
    def set_anonymous_lots(self, side: int, price_ticks: int, lots: int) -> int:
        """Set the anonymous size at one price to ``lots``; return the change."""
        assert lots >= 0
        queue = self._queue(side, price_ticks)
        chunks = [e for e in queue if e.is_anonymous]
        anon = sum(e.leaves_lots for e in chunks)
        change = lots - anon
        if change > 0:
            if queue and queue[-1].is_anonymous:
                queue[-1].leaves_lots += change
            else:
                self.entries[side].append(Entry(0, ANONYMOUS, side, price_ticks, change, self._next_seq()))
        elif change < 0:
            decrease = -change
            remaining = decrease
            if self.queue_model == PROPORTIONAL:
                shares = [decrease * e.leaves_lots // anon for e in chunks]  # all from the old sizes
                for e, share in zip(chunks, shares):
                    e.leaves_lots -= share
                remaining -= sum(shares)
            for e in reversed(chunks):
                take = min(remaining, e.leaves_lots)
                e.leaves_lots -= take
                remaining -= take
            assert remaining == 0
            for e in chunks:
                if e.leaves_lots == 0:
                    self.entries[side].remove(e)
        return change

    # ------------------------------------------------------------------ views
    def best_bid(self) -> int | None:
        prices = self._prices(BUY)
        return prices[0] if prices else None

    def best_ask(self) -> int | None:
        prices = self._prices(SELL)
        return prices[0] if prices else None

    def would_take(self, side: int, price_ticks: int) -> bool:
        m = self._front(side ^ 1)
        return m is not None and self._crosses(side, price_ticks, m.price_ticks)

    def level_lots(self, side: int, price_ticks: int) -> int:
        return sum(e.leaves_lots for e in self.entries[side] if e.price_ticks == price_ticks)

    def anonymous_lots(self, side: int, price_ticks: int) -> int:
        return sum(e.leaves_lots for e in self.entries[side] if e.price_ticks == price_ticks and e.is_anonymous)

    def depth(self, side: int, n: int = 10) -> list[tuple[int, int]]:
        return [(p, sum(e.leaves_lots for e in queue)) for p, queue in self._levels(side)[:n]]

    def queues(self, side: int) -> list[tuple[int, list[tuple[int | str, int, int]]]]:
        """Every level, best first, as ``(price, [(order_id or 'anon', account, leaves)])``."""
        return [
            (p, [("anon" if e.is_anonymous else e.order_id, e.account_id, e.leaves_lots) for e in queue])
            for p, queue in self._levels(side)
        ]

    def queue_ahead_lots(self, order_id: int) -> int:
        e = self.find(order_id)
        if e is None:
            raise KeyError(f"order {order_id} is not resting in this book")
        return sum(o.leaves_lots for o in self.entries[e.side] if o.price_ticks == e.price_ticks and o.seq < e.seq)

    def fillable_lots(self, side: int, limit_px: int | None, account_id: int, stp_mode: int, want_lots: int) -> int:
        """What ``match`` would fill now, found by running it on a copy of the book."""
        dry = self._clone()
        left = dry.match(-1, account_id, side, want_lots, limit_px, stp_mode, [])
        return want_lots - left

    def _clone(self) -> NaiveBook:
        """An independent copy (fresh entries) for dry runs."""
        twin = NaiveBook(self.queue_model)
        for side in (BUY, SELL):
            twin.entries[side].extend(
                Entry(e.order_id, e.account_id, e.side, e.price_ticks, e.leaves_lots, e.seq) for e in self.entries[side]
            )
        twin.seq = self.seq
        return twin

    def resting_ids(self) -> set[int]:
        return {e.order_id for es in self.entries for e in es if not e.is_anonymous}

    def __len__(self) -> int:
        return len(self.resting_ids())


__all__ = ["Entry", "NaiveBook", "NaiveFill"]
