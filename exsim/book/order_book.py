"""One instrument's price-time-priority limit order book, in integer ticks and lots.

The book knows nothing of accounts' money: it matches, rests, cancels and reports fills.
The :class:`~exsim.exchange.Exchange` decides what may be sent to it.

Layout
------
Each side keeps a ``dict`` *key → Level*, where the key is the price for asks and the
negated price for bids. Keys therefore grow *away from the touch* on both sides, so one
matching loop serves buyers and sellers alike; the best key is cached in ``_best``. The
side's ``SortedList`` holds the keys *negated*, so the best level is its last element:
levels come and go near the touch, and a ``SortedList`` inserts and pops near its end
without shifting the rest of a sublist (near its start it moves up to a whole sublist).

A :class:`Level` is one FIFO (``deque``) of :class:`~exsim.book.orders.Order` entries:
identified orders of simulated accounts *and* anonymous chunks of replayed size
(``order_id == 0``), in arrival order. An aggressive order consumes the FIFO from the
front whoever the entries belong to, so a simulated order placed at a level waits behind
the replayed size that was there first.

Two kinds of laziness keep the hot path short, and ``_check()`` pins both down:

* removed entries stay in their deque with ``leaves_lots == 0`` until they reach the
  front (cancel is O(1)); a level whose deque holds far more dead than live entries is
  compacted;
* an emptied level that is not the best stays in the dict/SortedList (so the next order
  at that price skips a SortedList insert). The best level of each side is always live;
  empty levels are swept once they outnumber live ones.

Replayed liquidity
------------------
:meth:`OrderBook.set_anonymous_lots` sets the replayed size of a level as L2 data reports
it. An increase joins the back of the queue. A decrease is taken according to the
queue model: ``CONSERVATIVE`` takes it from the back (cancels happen behind simulated
orders, so their queue position only advances through trades); ``PROPORTIONAL`` spreads
it over every anonymous chunk in proportion to its size (the expected value of a uniformly
random cancel), so the size ahead of a simulated order also shrinks. A replayed trade is
an anonymous taker: :meth:`match` with ``taker_account == ANONYMOUS``.
"""

from __future__ import annotations

from collections import deque
from typing import Final, Iterator

from sortedcontainers import SortedList

from exsim.book.orders import (
    ANONYMOUS,
    BUY,
    SELL,
    STP_EXPIRE_BOTH,
    STP_EXPIRE_MAKER,
    STP_EXPIRE_TAKER,
    STP_NONE,
    Order,
)
from exsim.errors import StateError

#: a key past any real price: the "best" of an empty side, the limit of a market order
NO_PRICE_KEY: Final = 1 << 62

CONSERVATIVE: Final = "conservative"
PROPORTIONAL: Final = "proportional"
QUEUE_MODELS: Final = (CONSERVATIVE, PROPORTIONAL)

#: a fill as the book reports it: (maker entry, price_ticks, qty_lots)
Fill = tuple[Order, int, int]


class Level:
    """All resting size at one price: a FIFO of entries and its running totals.

    ``total_lots`` = sum of live entries' ``leaves_lots``; ``count`` = live entries;
    ``anon_lots`` = the part of ``total_lots`` that is anonymous replayed size.
    """

    __slots__ = ("price_ticks", "queue", "total_lots", "count", "anon_lots")

    def __init__(self, price_ticks: int) -> None:
        self.price_ticks = price_ticks
        self.queue: deque[Order] = deque()
        self.total_lots = 0
        self.count = 0
        self.anon_lots = 0

    def live(self) -> Iterator[Order]:
        """Live entries in queue order (O(len(queue)))."""
        return (o for o in self.queue if o.leaves_lots)


class OrderBook:
    """Price-time order book for one instrument.

    All prices are int ticks, all sizes int lots. Methods trust their arguments (the
    exchange validates); ``_check()`` verifies every invariant in O(n).
    """

    __slots__ = (
        "_levels",
        "_keys",
        "_best",
        "_empty",
        "orders",
        "queue_model",
        "stp_expired",
        "taker_stp_expired",
    )

    def __init__(self, queue_model: str = CONSERVATIVE) -> None:
        if queue_model not in QUEUE_MODELS:
            raise ValueError(f"queue model {queue_model!r}: expected one of {', '.join(QUEUE_MODELS)}")
        self._levels: tuple[dict[int, Level], dict[int, Level]] = ({}, {})
        self._keys: tuple[SortedList, SortedList] = (SortedList(), SortedList())
        self._best = [NO_PRICE_KEY, NO_PRICE_KEY]  # best key per side
        self._empty = [0, 0]  # emptied levels kept lazily, per side
        #: identified resting orders by order id (anonymous chunks are not in it)
        self.orders: dict[int, Order] = {}
        self.queue_model = queue_model
        #: ``(order, lots cancelled)`` for each resting order the last :meth:`match`
        #: cancelled by self-trade prevention
        self.stp_expired: list[tuple[Order, int]] = []
        #: whether the last :meth:`match` stopped because STP expired the taker
        self.taker_stp_expired = False

    # ------------------------------------------------------------------ matching
    def match(
        self,
        taker_order_id: int,
        taker_account: int,
        side: int,
        qty_lots: int,
        limit_px: int | None,
        stp_mode: int,
        fills: list[Fill],
    ) -> int:
        """Take liquidity for a ``side`` order of ``qty_lots`` up to ``limit_px``.

        ``limit_px=None`` is a market order (no limit). Appends one ``(maker, price_ticks,
        qty_lots)`` per maker touched to ``fills``, in queue order, and returns the lots
        left unfilled. Resting orders of ``taker_account`` are handled by ``stp_mode``;
        makers it cancels are listed in :attr:`stp_expired` (with the lots cancelled) and
        :attr:`taker_stp_expired` says whether the taker's remainder must expire.

        Cost: O(log L) per level emptied + O(1) per maker filled.
        """
        # Hot path: locals bound, both loops inline (see module docstring for the key trick).
        self.taker_stp_expired = False
        if self.stp_expired:
            self.stp_expired = []
        opp = side ^ 1
        best = self._best[opp]
        if limit_px is None:
            limit_key = NO_PRICE_KEY - 1
        else:
            limit_key = limit_px if side == BUY else -limit_px
        if best > limit_key or not qty_lots:
            return qty_lots
        levels = self._levels[opp]
        orders = self.orders
        fapp = fills.append
        qty = qty_lots
        check_stp = stp_mode != STP_NONE
        stop = False
        while True:
            lv = levels[best]
            q = lv.queue
            px = lv.price_ticks
            total = lv.total_lots
            count = lv.count
            while qty:
                m = q[0]
                mq = m.leaves_lots
                if not mq:  # lazily removed entry reaching the front
                    q.popleft()
                    continue
                if check_stp and m.account_id == taker_account:
                    if stp_mode == STP_EXPIRE_TAKER:
                        stop = True
                        break
                    # EXPIRE_MAKER / EXPIRE_BOTH: the resting own order is cancelled
                    m.leaves_lots = 0
                    q.popleft()
                    del orders[m.order_id]
                    total -= mq
                    count -= 1
                    self.stp_expired.append((m, mq))
                    if stp_mode == STP_EXPIRE_BOTH:
                        stop = True
                        break
                    if not count:
                        break
                    continue
                if mq <= qty:
                    qty -= mq
                    total -= mq
                    count -= 1
                    m.leaves_lots = 0
                    q.popleft()
                    if m.order_id:
                        del orders[m.order_id]
                    else:
                        lv.anon_lots -= mq
                    fapp((m, px, mq))
                    if not count:
                        break
                else:
                    m.leaves_lots = mq - qty
                    total -= qty
                    if not m.order_id:
                        lv.anon_lots -= qty
                    fapp((m, px, qty))
                    qty = 0
            lv.total_lots = total
            lv.count = count
            if count:
                break
            # the best level is empty: drop it and find the next live one
            q.clear()
            best = self._drop_best(opp)
            if stop or not qty or best > limit_key:
                break
        self._best[opp] = best
        if stop:
            self.taker_stp_expired = True
        return qty

    def _drop_best(self, side: int) -> int:
        """Remove the (empty) best level of ``side`` and any empty ones behind it.

        Returns the new best key. Amortised O(log L) per level removed.
        """
        keys = self._keys[side]  # negated keys: the best is last
        levels = self._levels[side]
        del levels[-keys.pop()]
        while keys:
            key = -keys[-1]
            if levels[key].count:
                self._best[side] = key
                return key
            keys.pop()
            del levels[key]
            self._empty[side] -= 1
        self._best[side] = NO_PRICE_KEY
        return NO_PRICE_KEY

    # ------------------------------------------------------------------ resting
    def limit(self, order: Order, stp_mode: int, fills: list[Fill]) -> int:
        """Match a good-till-cancel limit ``order`` and rest what is left.

        Returns the new total size of the level it rests at (so the caller can report the
        L2 change without a lookup), or 0 when nothing rests.

        ``order.leaves_lots`` is updated to what remains. Equivalent to :meth:`match`
        followed by :meth:`rest`, with the common case (the order does not cross) inlined:
        that is most of a book's traffic, so it is worth the few repeated lines.
        Cost: O(1) at an existing level, O(log L) for a new level, plus matching.
        """
        side = order.side
        price = order.price_ticks
        key = price if side else -price  # (side is BUY 0 or SELL 1)
        if self._best[side ^ 1] <= -key:  # crosses: take liquidity first
            left = self.match(order.order_id, order.account_id, side, order.leaves_lots, price, stp_mode, fills)
            order.leaves_lots = left
            if not left or self.taker_stp_expired:
                return 0
        elif self.taker_stp_expired or self.stp_expired:  # no match: no STP outcome either
            self.taker_stp_expired = False
            self.stp_expired = []
        lv = self._levels[side].get(key)
        if lv is None:
            lv = self._levels[side][key] = Level(price)
            self._keys[side].add(-key)
            if key < self._best[side]:
                self._best[side] = key
        else:
            # the order keeps the level's price object, not its own equal one: 32 B less per
            # resting order once the command that carried the price is gone
            order.price_ticks = lv.price_ticks
            if not lv.count:  # an emptied level kept lazily comes back to life
                self._empty[side] -= 1
        lv.queue.append(order)
        lv.count += 1
        total = lv.total_lots + order.leaves_lots
        lv.total_lots = total
        self.orders[order.order_id] = order
        return total

    def rest(self, order: Order) -> None:
        """Queue ``order`` at the back of its price level. O(1), or O(log L) for a new level.

        The caller guarantees the order does not cross the opposite side (it has been
        matched first) and that its ``order_id`` is new and non-zero.
        """
        side = order.side
        key = -order.price_ticks if side == BUY else order.price_ticks
        levels = self._levels[side]
        lv = levels.get(key)
        if lv is None:
            lv = levels[key] = Level(order.price_ticks)
            self._keys[side].add(-key)
            if key < self._best[side]:
                self._best[side] = key
        else:
            order.price_ticks = lv.price_ticks  # the level's equal price object (see limit)
            if not lv.count:  # an emptied level kept lazily comes back to life
                self._empty[side] -= 1
        lv.queue.append(order)
        lv.count += 1
        lv.total_lots += order.leaves_lots
        self.orders[order.order_id] = order

    def remove(self, order: Order) -> int:
        """Take a resting identified order out of the book (cancel, expire). O(1) amortised.

        Its ``leaves_lots`` becomes 0; read it first if you need it. Returns the lots
        still resting at its price level afterwards (the L2 size to report).
        """
        del self.orders[order.order_id]
        side = order.side
        key = order.price_ticks if side else -order.price_ticks
        lv = self._levels[side][key]
        total = lv.total_lots - order.leaves_lots
        lv.total_lots = total
        order.leaves_lots = 0
        count = lv.count - 1
        lv.count = count
        if not count or len(lv.queue) > 2 * count + 16:
            self._after_level_shrank(side, key, lv)
        return total

    def cancel(self, order_id: int) -> int:
        """Remove the resting order ``order_id``; return the lots removed (0 if unknown).

        Same as :meth:`remove` with the common case (the level keeps other orders) inlined.
        """
        order = self.orders.pop(order_id, None)
        if order is None:
            return 0
        side = order.side
        key = order.price_ticks if side else -order.price_ticks
        lv = self._levels[side][key]
        lots = order.leaves_lots
        lv.total_lots -= lots
        order.leaves_lots = 0
        count = lv.count - 1
        lv.count = count
        if not count or len(lv.queue) > 2 * count + 16:
            self._after_level_shrank(side, key, lv)
        return lots

    def reduce(self, order: Order, new_leaves_lots: int) -> None:
        """Lower a resting order's open size in place, keeping its queue priority. O(1).

        ``0 < new_leaves_lots <= order.leaves_lots`` (checked by the caller).
        """
        key = -order.price_ticks if order.side == BUY else order.price_ticks
        lv = self._levels[order.side][key]
        lv.total_lots -= order.leaves_lots - new_leaves_lots
        order.leaves_lots = new_leaves_lots

    def _after_level_shrank(self, side: int, key: int, lv: Level) -> None:
        """Bookkeeping after entries left a level: drop, keep lazily, or compact it."""
        if not lv.count:
            lv.queue.clear()
            if key == self._best[side]:
                self._drop_best(side)
            else:
                empty = self._empty[side] + 1
                self._empty[side] = empty
                if empty > 64 and 2 * empty > len(self._keys[side]):
                    self._sweep_empty(side)
        elif len(lv.queue) > 2 * lv.count + 16:
            live = [o for o in lv.queue if o.leaves_lots]
            lv.queue.clear()
            lv.queue.extend(live)

    def _sweep_empty(self, side: int) -> None:
        """Drop every lazily kept empty level of ``side``. O(L)."""
        levels = self._levels[side]
        dead = [k for k, lv in levels.items() if not lv.count]
        for k in dead:
            del levels[k]
        keys = self._keys[side]
        keys.clear()
        keys.update(-k for k in levels)
        self._empty[side] = 0

    # ------------------------------------------------------------------ replayed size
    def set_anonymous_lots(self, side: int, price_ticks: int, lots: int) -> int:
        """Set the replayed (anonymous) size at one level to ``lots``; return the change.

        An increase joins the back of the level's queue. A decrease is taken per the
        queue model (see the module docstring). The caller guarantees ``lots >= 0`` and
        that a non-zero level does not cross the opposite side.
        Cost: O(1) for an increase, O(entries at the level) for a decrease.
        """
        key = -price_ticks if side == BUY else price_ticks
        levels = self._levels[side]
        lv = levels.get(key)
        if lv is None:
            if not lots:
                return 0
            lv = levels[key] = Level(price_ticks)
            self._keys[side].add(-key)
            if key < self._best[side]:
                self._best[side] = key
        elif not lv.count and lots:  # an emptied level kept lazily comes back to life
            self._empty[side] -= 1
        change = lots - lv.anon_lots
        if change > 0:
            q = lv.queue
            while q and not q[-1].leaves_lots:
                q.pop()  # dead entries at the tail: drop them so "last" means last live
            if q and not q[-1].order_id:
                q[-1].leaves_lots += change  # the last live entry is replayed size already
            else:
                q.append(Order(0, ANONYMOUS, side, price_ticks, change))
                lv.count += 1
            lv.total_lots += change
            lv.anon_lots = lots
        elif change < 0:
            self._take_anonymous(lv, -change)
            self._after_level_shrank(side, key, lv)
        return change

    def _take_anonymous(self, lv: Level, lots: int) -> None:
        """Remove ``lots`` of anonymous size from ``lv`` per the queue model."""
        if lv.total_lots == lv.anon_lots and self.queue_model != PROPORTIONAL:
            # conservative, replayed size only (the common case): the loop below without
            # building the list of chunks — the size comes off the back
            q = lv.queue
            i = len(q) - 1
            remaining = lots
            while remaining:
                o = q[i]
                t = o.leaves_lots
                if t > remaining:
                    o.leaves_lots = t - remaining
                    break
                if t:
                    o.leaves_lots = 0
                    remaining -= t
                    lv.count -= 1
                i -= 1
            lv.total_lots -= lots
            lv.anon_lots -= lots
            return
        chunks = [o for o in lv.queue if not o.order_id and o.leaves_lots]
        if self.queue_model == PROPORTIONAL:
            anon = lv.anon_lots
            taken = 0
            for o in chunks:
                share = lots * o.leaves_lots // anon  # floor; the remainder goes from the back
                o.leaves_lots -= share
                taken += share
            remaining = lots - taken
        else:
            remaining = lots
        for o in reversed(chunks):
            if not remaining:
                break
            t = min(remaining, o.leaves_lots)
            o.leaves_lots -= t
            remaining -= t
        lv.count -= sum(1 for o in chunks if not o.leaves_lots)
        lv.total_lots -= lots
        lv.anon_lots -= lots

    # ------------------------------------------------------------------ views
    def best_bid(self) -> int | None:
        """Best bid in ticks, or ``None`` when there is no bid. O(1)."""
        best = self._best[BUY]
        return None if best == NO_PRICE_KEY else -best

    def best_ask(self) -> int | None:
        """Best ask in ticks, or ``None`` when there is no ask. O(1)."""
        best = self._best[SELL]
        return None if best == NO_PRICE_KEY else best

    def would_take(self, side: int, price_ticks: int) -> bool:
        """Whether a ``side`` limit order at ``price_ticks`` would take liquidity. O(1)."""
        limit_key = price_ticks if side == BUY else -price_ticks
        return self._best[side ^ 1] <= limit_key

    def level_lots(self, side: int, price_ticks: int) -> int:
        """Total open lots (replayed + identified) resting at one price. O(1)."""
        lv = self._levels[side].get(-price_ticks if side == BUY else price_ticks)
        return lv.total_lots if lv is not None else 0

    def anonymous_lots(self, side: int, price_ticks: int) -> int:
        """Replayed (anonymous) lots resting at one price. O(1)."""
        lv = self._levels[side].get(-price_ticks if side == BUY else price_ticks)
        return lv.anon_lots if lv is not None else 0

    def depth(self, side: int, n: int = 10) -> list[tuple[int, int]]:
        """Top ``n`` live levels of ``side`` as ``(price_ticks, lots)``, best first. O(n + empties)."""
        out: list[tuple[int, int]] = []
        levels = self._levels[side]
        for nkey in reversed(self._keys[side]):
            lv = levels[-nkey]
            if lv.count:
                out.append((lv.price_ticks, lv.total_lots))
                if len(out) >= n:
                    break
        return out

    def levels(self, side: int) -> Iterator[Level]:
        """Every live level of ``side``, best first."""
        levels = self._levels[side]
        return (levels[-k] for k in reversed(self._keys[side]) if levels[-k].count)

    def queue_ahead_lots(self, order: Order) -> int:
        """Lots queued ahead of a resting order at its level. O(entries ahead).

        ``KeyError`` if the order is not resting in this book.
        """
        if not order.order_id or self.orders.get(order.order_id) is not order:
            raise KeyError(f"order {order.order_id} is not resting in this book")
        lv = self._levels[order.side][-order.price_ticks if order.side == BUY else order.price_ticks]
        ahead = 0
        for o in lv.queue:
            if o is order:
                return ahead
            ahead += o.leaves_lots
        raise KeyError(f"order {order.order_id} is not resting in this book")

    def sweep_price(self, side: int, qty_lots: int) -> int | None:
        """The deepest price a ``side`` market order of ``qty_lots`` would reach now.

        The last level there is when the book is too thin; None when it is empty.
        O(levels walked).
        """
        opp = side ^ 1
        levels = self._levels[opp]
        got = 0
        price = None
        for nkey in reversed(self._keys[opp]):
            lv = levels[-nkey]
            if not lv.count:
                continue
            price = lv.price_ticks
            got += lv.total_lots
            if got >= qty_lots:
                break
        return price

    def fillable_lots(self, side: int, limit_px: int | None, account_id: int, stp_mode: int, want_lots: int) -> int:
        """Lots a ``side`` taker could fill now up to ``limit_px`` (capped at ``want_lots``).

        Used for fill-or-kill. Honours self-trade prevention the way :meth:`match` does.
        O(levels walked) without STP, O(entries walked) with it.
        """
        limit_key = NO_PRICE_KEY - 1 if limit_px is None else (limit_px if side == BUY else -limit_px)
        opp = side ^ 1
        levels = self._levels[opp]
        got = 0
        for nkey in reversed(self._keys[opp]):
            if -nkey > limit_key or got >= want_lots:
                break
            lv = levels[-nkey]
            if stp_mode == STP_NONE:
                got += lv.total_lots
                continue
            for o in lv.queue:
                if not o.leaves_lots:
                    continue
                if o.account_id == account_id:
                    if stp_mode == STP_EXPIRE_MAKER:
                        continue
                    return min(got, want_lots)
                got += o.leaves_lots
                if got >= want_lots:
                    break
        return min(got, want_lots)

    def __len__(self) -> int:
        """Number of identified resting orders."""
        return len(self.orders)

    # ------------------------------------------------------------------ checks
    def _check(self) -> None:
        """Verify every invariant of the book; raise :class:`StateError` on the first broken. O(n)."""
        seen: set[int] = set()
        for side in (BUY, SELL):
            levels = self._levels[side]
            keys = self._keys[side]
            keys._check()
            if {-k for k in keys} != set(levels):
                raise StateError(f"side {side}: sorted keys and level dict disagree")
            best = -keys[-1] if keys else NO_PRICE_KEY
            if self._best[side] != best:
                raise StateError(f"side {side}: cached best {self._best[side]} != {best}")
            if keys and not levels[best].count:
                raise StateError(f"side {side}: best level {best} is empty")
            empty = 0
            for key, lv in levels.items():
                price = -key if side == BUY else key
                if lv.price_ticks != price:
                    raise StateError(f"level key {key} holds price {lv.price_ticks}")
                live = [o for o in lv.queue if o.leaves_lots]
                if lv.count != len(live):
                    raise StateError(f"level {price}: count {lv.count} != {len(live)} live entries")
                if lv.total_lots != sum(o.leaves_lots for o in live):
                    raise StateError(f"level {price}: total {lv.total_lots} != sum of entries")
                if lv.anon_lots != sum(o.leaves_lots for o in live if not o.order_id):
                    raise StateError(f"level {price}: anonymous {lv.anon_lots} != sum of chunks")
                if not lv.count:
                    empty += 1
                    if lv.queue:
                        raise StateError(f"level {price}: empty but its queue holds entries")
                for o in live:
                    if o.side != side or o.price_ticks != price or o.leaves_lots < 0:
                        raise StateError(f"entry {o!r} misplaced at level {price}")
                    if o.order_id:
                        if self.orders.get(o.order_id) is not o:
                            raise StateError(f"resting {o!r} missing from the order index")
                        if o.order_id in seen:
                            raise StateError(f"order {o.order_id} queued twice")
                        seen.add(o.order_id)
            if empty != self._empty[side]:
                raise StateError(f"side {side}: {empty} empty levels, counter says {self._empty[side]}")
        if len(seen) != len(self.orders):
            raise StateError("order index holds orders that rest at no level")
        bid, ask = self.best_bid(), self.best_ask()
        if bid is not None and ask is not None and bid >= ask:
            raise StateError(f"book crossed: best bid {bid} >= best ask {ask}")
