"""The fast OrderBook against the naive reference book on random operation streams.

Every operation is applied to both books; the return value, the fills (as ``(maker order
id or 'anon', maker account, price, qty)``), self-trade cancels, best bid/ask, every
level's full queue, the resting order set and every tracked order's open size must agree,
and ``OrderBook._check()`` must pass, after *every* operation. Prices live in a narrow
band so that crossing, level emptying and level re-use happen all the time.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from exsim.book import CONSERVATIVE, QUEUE_MODELS, Order, OrderBook
from exsim.book.orders import (
    ANONYMOUS,
    BUY,
    SELL,
    STP_EXPIRE_BOTH,
    STP_EXPIRE_MAKER,
    STP_EXPIRE_TAKER,
    STP_NONE,
)

# tests/book has no __init__.py, so pytest puts this folder on sys.path (rootdir "prepend" mode)
from naive_book import NaiveBook  # noqa: E402  (isort: skip)

STP_MODES = (STP_NONE, STP_EXPIRE_TAKER, STP_EXPIRE_MAKER, STP_EXPIRE_BOTH)
ACCOUNTS = (1, 2, 3)
LOW_PX, HIGH_PX = 95, 105  # the narrow band most operations use
ALL_LEVELS = 1 << 30  # depth(n) large enough to list every level


def comparable(fills: list) -> list[tuple]:
    """Fills of either book as ``(maker order id or 'anon', maker account, price, qty)``."""
    return [(m.order_id or "anon", m.account_id, px, q) for m, px, q in fills]


def fast_queues(book: OrderBook, side: int) -> list[tuple]:
    """Every live level of ``side``, best first, as the naive book's ``queues`` lists it."""
    return [
        (lv.price_ticks, [(o.order_id or "anon", o.account_id, o.leaves_lots) for o in lv.live()])
        for lv in book.levels(side)
    ]


class Pair:
    """Both books side by side; every operation is applied to both and compared."""

    def __init__(self, queue_model: str) -> None:
        self.fast = OrderBook(queue_model)
        self.naive = NaiveBook(queue_model)
        #: identified orders that rested in the fast book at some point and may still be open
        self.tracked: dict[int, Order] = {}
        self.next_oid = 1
        self.ops = 0

    # ------------------------------------------------------------------ helpers
    def new_oid(self) -> int:
        oid = self.next_oid
        self.next_oid += 1
        return oid

    def resting_ids(self) -> list[int]:
        """Ids resting in the naive book, newest first (so a small pick means a recent order)."""
        return sorted(self.naive.resting_ids(), reverse=True)

    def crosses(self, side: int, price: int) -> bool:
        """Whether resting size at ``price`` on ``side`` would cross the opposite side."""
        if side == BUY:
            ask = self.naive.best_ask()
            return ask is not None and price >= ask
        bid = self.naive.best_bid()
        return bid is not None and price <= bid

    def compare_stp(self) -> None:
        f = [(m.order_id, m.account_id, lots) for m, lots in self.fast.stp_expired]
        n = [(m.order_id, m.account_id, lots) for m, lots in self.naive.stp_expired]
        assert f == n, f"stp_expired: fast {f} naive {n}"
        assert self.fast.taker_stp_expired == self.naive.taker_stp_expired

    def check(self) -> None:
        """Full comparison of the two books (O(n log n))."""
        self.ops += 1
        fast, naive = self.fast, self.naive
        fast._check()
        assert fast.best_bid() == naive.best_bid()
        assert fast.best_ask() == naive.best_ask()
        for side in (BUY, SELL):
            assert fast.depth(side, ALL_LEVELS) == naive.depth(side, ALL_LEVELS)
            assert fast_queues(fast, side) == naive.queues(side)
        naive_leaves = {e.order_id: e.leaves_lots for es in naive.entries for e in es if e.order_id}
        assert set(fast.orders) == set(naive_leaves)
        assert len(fast) == len(naive_leaves)
        for oid, order in list(self.tracked.items()):
            assert order.leaves_lots == naive_leaves.get(oid, 0), f"order {oid} leaves"
            if not order.leaves_lots:
                del self.tracked[oid]  # gone for good: stop tracking

    # ------------------------------------------------------------------ operations
    def limit(self, account: int, side: int, price: int, qty: int, stp: int) -> None:
        oid = self.new_oid()
        order = Order(oid, account, side, price, qty)
        crossing = self.fast.would_take(side, price)
        assert crossing == self.naive.would_take(side, price)
        ff: list = []
        nf: list = []
        level_total = self.fast.limit(order, stp, ff)  # the level's new total, 0 if nothing rests
        rested, n_left = self.naive.limit(oid, account, side, price, qty, stp, nf)
        assert order.leaves_lots == n_left
        assert level_total == (self.naive.level_lots(side, price) if rested else 0)
        assert comparable(ff) == comparable(nf)
        self.compare_stp()  # a limit that does not cross reports no STP outcome either
        if rested:
            self.tracked[oid] = order
        self.check()

    def post(self, account: int, side: int, price: int, qty: int) -> None:
        """A post-only order: ``rest`` when it would not take, otherwise nothing (it is rejected)."""
        if self.fast.would_take(side, price):
            assert self.naive.would_take(side, price)
            return
        oid = self.new_oid()
        order = Order(oid, account, side, price, qty)
        self.fast.rest(order)
        self.naive.rest(oid, account, side, price, qty)
        self.tracked[oid] = order
        self.check()

    def take(self, account: int, side: int, qty: int, limit_px: int | None, stp: int) -> None:
        """An IOC / market taker (``limit_px=None``) of a simulated account."""
        oid = self.new_oid()
        want = self.fast.fillable_lots(side, limit_px, account, stp, qty)
        assert want == self.naive.fillable_lots(side, limit_px, account, stp, qty)
        ff: list = []
        nf: list = []
        left = self.fast.match(oid, account, side, qty, limit_px, stp, ff)
        assert left == self.naive.match(oid, account, side, qty, limit_px, stp, nf)
        assert comparable(ff) == comparable(nf)
        assert qty - left == want, "fillable_lots disagrees with what match filled"
        self.compare_stp()
        self.check()

    def replay_trade(self, side: int, qty: int, limit_px: int | None) -> None:
        ff: list = []
        nf: list = []
        left = self.fast.match(0, ANONYMOUS, side, qty, limit_px, STP_NONE, ff)
        assert left == self.naive.replay_trade(side, qty, limit_px, nf)
        assert comparable(ff) == comparable(nf)
        self.compare_stp()
        self.check()

    def cancel(self, oid: int) -> None:
        assert self.fast.cancel(oid) == self.naive.cancel(oid)
        self.check()

    def remove(self, oid: int) -> None:
        """``OrderBook.remove`` (by object) is a cancel for the naive book."""
        order = self.fast.orders[oid]
        lots = order.leaves_lots
        level_left = self.fast.remove(order)  # the level's size afterwards
        assert self.naive.cancel(oid) == lots
        assert level_left == self.naive.level_lots(order.side, order.price_ticks)
        self.check()

    def reduce(self, oid: int, new_leaves: int) -> None:
        self.fast.reduce(self.fast.orders[oid], new_leaves)
        self.naive.reduce(oid, new_leaves)
        self.check()

    def set_anonymous(self, side: int, price: int, lots: int) -> None:
        if lots and self.crosses(side, price):
            lots = 0  # the caller's contract: non-zero replayed size never crosses
        assert self.fast.set_anonymous_lots(side, price, lots) == self.naive.set_anonymous_lots(side, price, lots)
        self.check()

    def probe(self, side: int, price: int, account: int, stp: int, want: int, pick: int) -> None:
        """Read-only views agree (fillable_lots with and without a limit, per-level sizes)."""
        fast, naive = self.fast, self.naive
        for limit_px in (price, None):
            assert fast.fillable_lots(side, limit_px, account, stp, want) == naive.fillable_lots(
                side, limit_px, account, stp, want
            )
        assert fast.would_take(side, price) == naive.would_take(side, price)
        for s in (BUY, SELL):
            assert fast.level_lots(s, price) == naive.level_lots(s, price)
            assert fast.anonymous_lots(s, price) == naive.anonymous_lots(s, price)
        n = pick % 4 + 1
        assert fast.depth(side, n) == naive.depth(side, n)
        ids = self.resting_ids()
        if ids:
            oid = ids[pick % len(ids)]
            assert fast.queue_ahead_lots(fast.orders[oid]) == naive.queue_ahead_lots(oid)
        self.check()

    # ------------------------------------------------------------------ patterns
    def burst(self, rnd: random.Random) -> None:
        """Many orders at one price, then most of them cancelled in random order (compaction)."""
        side = rnd.randrange(2)
        price = (LOW_PX - 3) if side == BUY else (HIGH_PX + 3)  # behind the band: rarely crossed
        if self.crosses(side, price):
            return
        oids = []
        for _ in range(rnd.randint(20, 60)):
            oid = self.next_oid
            self.limit(rnd.choice(ACCOUNTS), side, price, rnd.randint(1, 5), STP_NONE)
            oids.append(oid)
        rnd.shuffle(oids)
        for oid in oids[: len(oids) - rnd.randint(1, 3)]:  # survivors keep the deque from being cleared
            self.cancel(oid)

    def ladder(self, rnd: random.Random) -> None:
        """Over a hundred levels far from the band, then emptied worst-first (lazy empties, sweep)."""
        side = rnd.randrange(2)
        n = rnd.randint(70, 160)
        prices = [LOW_PX - 10 - i for i in range(n)] if side == BUY else [HIGH_PX + 10 + i for i in range(n)]
        oids = []
        for price in prices:
            oids.append(self.next_oid)
            self.limit(rnd.choice(ACCOUNTS), side, price, rnd.randint(1, 5), STP_NONE)
        keep = rnd.randint(0, 5)
        for oid, price in reversed(list(zip(oids, prices))[keep:]):
            if rnd.random() < 0.1:  # replayed size comes and goes at the level first
                self.set_anonymous(side, price, rnd.randint(1, 5))
                self.set_anonymous(side, price, 0)
            self.cancel(oid)


# ---------------------------------------------------------------------- (b) seeded stress
def random_op(pair: Pair, rnd: random.Random) -> None:
    """One random operation over the narrow band."""
    u = rnd.random()
    side = rnd.randrange(2)
    price = rnd.randint(LOW_PX, HIGH_PX)
    account = rnd.choice(ACCOUNTS)
    stp = rnd.choice(STP_MODES)
    if u < 0.32:
        pair.limit(account, side, price, rnd.randint(1, 10), stp)
    elif u < 0.36:
        pair.post(account, side, price, rnd.randint(1, 10))
    elif u < 0.44:
        pair.take(account, side, rnd.randint(1, 25), rnd.choice((price, None)), stp)
    elif u < 0.62:
        ids = pair.resting_ids()
        oid = rnd.choice(ids) if ids and rnd.random() < 0.95 else rnd.randint(1, pair.next_oid + 5)
        if oid in pair.fast.orders and rnd.random() < 0.3:
            pair.remove(oid)
        else:
            pair.cancel(oid)
    elif u < 0.68:
        ids = pair.resting_ids()
        if ids:
            oid = rnd.choice(ids)
            pair.reduce(oid, rnd.randint(1, pair.fast.orders[oid].leaves_lots))
    elif u < 0.84:
        pair.set_anonymous(side, price, rnd.choice((0, rnd.randint(1, 8), rnd.randint(1, 40))))
    elif u < 0.92:
        pair.replay_trade(side, rnd.randint(1, 20), rnd.choice((price, price, None)))
    elif u < 0.995:
        pair.probe(side, price, account, stp, rnd.randint(1, 40), rnd.randrange(1 << 20))
    elif u < 0.9985:
        pair.burst(rnd)
    else:
        pair.ladder(rnd)


class TestSeededStress:
    """Thousands of random operations per seed, both queue models."""

    @pytest.mark.parametrize("queue_model", QUEUE_MODELS)
    @pytest.mark.parametrize("seed", [1, 7, 20261121, 424242])
    def test_random_stream_matches_naive(self, seed: int, queue_model: str) -> None:
        """Over 10k random operations per model the fast book behaves exactly like the naive one."""
        rnd = random.Random(seed)
        pair = Pair(queue_model)
        for _ in range(10_000):
            random_op(pair, rnd)
        assert pair.ops >= 10_000

    def test_patterns_compact_deques_and_sweep_empty_levels(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The burst and ladder patterns really drive the book through deque compaction and level sweeps."""
        sweeps = []
        sweep = OrderBook._sweep_empty
        monkeypatch.setattr(OrderBook, "_sweep_empty", lambda book, side: (sweeps.append(side), sweep(book, side)))
        rnd = random.Random(5)
        pair = Pair(CONSERVATIVE)
        placed_before = pair.next_oid
        pair.burst(rnd)
        placed = pair.next_oid - placed_before
        (lv,) = [lv for s in (BUY, SELL) for lv in pair.fast.levels(s)]
        assert len(lv.queue) < placed  # dead entries were dropped by compaction, not by matching
        for _ in range(4):
            pair.ladder(rnd)
        assert sweeps


# ---------------------------------------------------------------------- (a) hypothesis
sides = st.sampled_from((BUY, SELL))
prices = st.integers(99, 101)  # three levels a side: crossing and level re-use in nearly every example
accounts = st.sampled_from(ACCOUNTS)
stps = st.sampled_from(STP_MODES)
picks = st.integers(0, 1 << 16)


class BookMachine(RuleBasedStateMachine):
    """Random operation streams, shrunk to a minimal counterexample on disagreement."""

    @initialize(queue_model=st.sampled_from(QUEUE_MODELS))
    def start(self, queue_model: str) -> None:
        self.pair = Pair(queue_model)

    @rule(account=accounts, side=sides, price=prices, qty=st.integers(1, 10), stp=stps)
    def limit(self, account: int, side: int, price: int, qty: int, stp: int) -> None:
        self.pair.limit(account, side, price, qty, stp)

    @rule(account=accounts, side=sides, price=prices, qty=st.integers(1, 10))
    def post(self, account: int, side: int, price: int, qty: int) -> None:
        self.pair.post(account, side, price, qty)

    @rule(account=accounts, side=sides, qty=st.integers(1, 25), limit_px=st.none() | prices, stp=stps)
    def take(self, account: int, side: int, qty: int, limit_px: int | None, stp: int) -> None:
        self.pair.take(account, side, qty, limit_px, stp)

    @rule(side=sides, qty=st.integers(1, 20), limit_px=st.none() | prices)
    def replay_trade(self, side: int, qty: int, limit_px: int | None) -> None:
        self.pair.replay_trade(side, qty, limit_px)

    @rule(pick=picks)
    def cancel(self, pick: int) -> None:
        ids = self.pair.resting_ids()
        self.pair.cancel(ids[pick % len(ids)] if ids else pick % 5 + 1)

    @rule(oid=st.integers(1, 500))
    def cancel_any_id(self, oid: int) -> None:
        self.pair.cancel(oid)

    @precondition(lambda self: self.pair.fast.orders)
    @rule(pick=picks)
    def remove(self, pick: int) -> None:
        ids = self.pair.resting_ids()
        self.pair.remove(ids[pick % len(ids)])

    @precondition(lambda self: self.pair.fast.orders)
    @rule(pick=picks, fraction=st.floats(0, 1))
    def reduce(self, pick: int, fraction: float) -> None:
        ids = self.pair.resting_ids()
        oid = ids[pick % len(ids)]
        leaves = self.pair.fast.orders[oid].leaves_lots
        self.pair.reduce(oid, max(1, min(leaves, round(leaves * fraction))))

    @rule(side=sides, price=prices, lots=st.integers(0, 30))
    def set_anonymous(self, side: int, price: int, lots: int) -> None:
        self.pair.set_anonymous(side, price, lots)

    @rule(side=sides, price=prices, account=accounts, stp=stps, want=st.integers(1, 40), pick=picks)
    def probe(self, side: int, price: int, account: int, stp: int, want: int, pick: int) -> None:
        self.pair.probe(side, price, account, stp, want, pick)


BookMachine.TestCase.settings = settings(
    max_examples=max(200, settings.default.max_examples),  # the "long" profile asks for more
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class TestHypothesisStateful:
    """Hypothesis-driven operation streams."""

    def test_state_machine(self) -> None:
        """Random, shrinkable operation streams never make the two books disagree."""
        BookMachine.TestCase("runTest").runTest()


# ---------------------------------------------------------------------- (c) shared workload
BENCH = Path(__file__).resolve().parents[2].parent / "shared" / "bench"

M61 = (1 << 61) - 1


def book_digest(book: OrderBook) -> int:
    """``workload.book_digest`` computed from the book's live levels and queues."""
    acc = 0
    for side in (BUY, SELL):
        for lv in book.levels(side):
            level_term = (side + 1) * 1_000_003 * lv.price_ticks
            for i, o in enumerate(lv.live()):
                acc = (acc + level_term + 7919 * i + 104729 * o.order_id * o.leaves_lots + o.order_id) % M61
    return acc


class TestReferenceWorkload:
    """The shared reference workload's checksums."""

    @pytest.mark.skipif(not BENCH.is_dir(), reason=f"shared reference workload not found at {BENCH}")
    def test_reproduces_workload_checksums(self) -> None:
        """20k events of the shared workload reproduce its fill count, traded qty and final book digest."""
        sys.path.insert(0, str(BENCH))
        try:
            import workload
        finally:
            sys.path.remove(str(BENCH))
        events, _deltas, meta = workload.generate(20_000, 20261121, 100)
        book = OrderBook()
        fills: list = []
        n_fills = 0
        traded = 0
        for kind, side, price, qty, oid in events:
            if kind == 0:
                book.limit(Order(oid, 1, side, price, qty), STP_NONE, fills)
            elif kind == 1:
                assert book.cancel(oid) > 0, f"workload cancels live order {oid}"
            else:
                book.match(oid, 1, side, qty, None, STP_NONE, fills)
            if fills:
                n_fills += len(fills)
                traded += sum(f[2] for f in fills)
                fills.clear()
        book._check()
        assert n_fills == meta["fills"]
        assert traded == meta["traded_qty"]
        assert len(book) == meta["final_live_orders"]
        assert book.best_bid() == meta["final_best_bid"]
        assert book.best_ask() == meta["final_best_ask"]
        assert sum(1 for _ in book.levels(BUY)) == meta["final_bid_levels"]
        assert sum(1 for _ in book.levels(SELL)) == meta["final_ask_levels"]
        assert book_digest(book) == meta["final_book_digest"]
