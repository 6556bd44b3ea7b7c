"""Scale (issue 7): a million resting orders and a million open positions in one process.

Run: ``pytest benchmarks/test_bench_scale.py --benchmark-only -s`` (``-s`` prints the
table). Each test builds its million three times through the real
:class:`~exsim.exchange.Exchange` and :class:`~exsim.ledger.Ledger`: under
:mod:`tracemalloc` (the exact bytes, then dropped), in a fresh interpreter (the VmRSS
delta, which in this process would reuse memory freed by the builds before it), and
plainly for the latency runs. Slow: 15 minutes on the project's 2-core machine when it
is quiet (18–30 under load), most of it under tracemalloc, which makes a build 5–10
times slower (it hooks every allocation).

* **Resting orders.** 1,000,000 limit orders from 100,000 funded accounts, spread over
  ±2 % of the mid on three instruments (most near the touch, thinning out to the band's
  edge), each holding its initial margin and worst-case fee. Memory: the tracemalloc
  delta of placing them (order entity, book queue slot, book index, level share, margin
  hold and its index, the account's open-order index, the ints they own), divided by the
  count (``bytes_per_resting_order_with_ledger`` in ``extra_info``, issue 21's target
  <= 400 B); the VmRSS delta beside it. Latency, in CPU time (wall beside it): one
  fixed, seeded workload of new orders, cancels and market orders near the touch (1,000
  accounts trading with each other) runs on a book with 1,000 and one with 1,000,000
  background orders, in alternating segments; the background sits at least
  ``TOP_TICKS`` from the mid, so the book near the top has the same shape in both.
* **Open positions.** Built as ``test_bench_mark_tick.py`` builds them (fills booked
  straight into the ledger against EXTERNAL, 80 % of accounts isolated, 20 % cross),
  in the realistic layout (100,000 accounts × 10 instruments) and the worst one
  (1,000,000 accounts × 1 instrument, so each position carries a whole account). Memory:
  the tracemalloc delta of the build, accounts, settings, positions and risk-index
  entries included, divided by the positions. Latency, against the same layout at 10,000
  positions (alternating batches, same accounts and commands): a mark tick, a resting
  new order (and its cancel), and a market order that fills and re-files the position.

Targets: at most 400 B per resting order (issue 21), under 1 KB per open position, per-event latency
flat from 1k to 1M resting orders and 10k to 1M positions. Asserted: the bytes per open
position (as ``test_memory_per_resting_order`` asserts its bytes per order, book alone).
Reported only: the bytes per resting order with the margin hold and the account's order
index counted (535 B before issue 21, 388 B since the hold became one packed int), and
every latency. Figures go to ``extra_info`` and the printed table.
"""

from __future__ import annotations

import gc
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from test_bench_mark_tick import full_scan
from timing import record

from exsim.book.orders import BUY, GTC, IOC, LIMIT, MARKET, SELL
from exsim.exchange import CancelOrder, Deposit, Exchange, NewOrder, SetMarkPrice
from exsim.exchange.events import Fill
from exsim.instruments import Instrument, get_instrument
from exsim.ledger import BOTH, CROSS, EXTERNAL, ISOLATED, Ledger
from exsim.sinks import CountingSink

USDT = 10**8  # atoms
TS0 = 1_723_161_240_000_000_000  # 2024-08-09 in ns: timestamps the size real ones are
#: rows of the printed table, collected over the session: (what, figure, target, met)
TABLE: list[tuple[str, str, str, str]] = []


def rss_bytes() -> int:
    """This process's resident set size (VmRSS), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def with_rss(build: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``build``: ``(result, growth of VmRSS over it)``. Counts what the allocators
    round up and fragment; reuses (does not count) memory the process freed before."""
    gc.collect()
    rss0 = rss_bytes()
    result = build()
    gc.collect()
    return result, rss_bytes() - rss0


def in_fresh_process(fn: Callable[..., int], *args: Any) -> int:
    """``fn(*args)`` (a function of this module returning an int) run in a new interpreter.

    For RSS deltas: this process has freed (and would reuse) the memory of earlier
    builds, which would make its deltas too small.
    """
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
        f"import test_bench_scale as m; print(m.{fn.__name__}(*{args!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(done.stdout.split()[-1])


def traced_bytes(build: Callable[[], Any]) -> tuple[int, float]:
    """Run ``build`` with tracemalloc on, drop what it returned: ``(bytes it left
    allocated, seconds)``. Exact (requested sizes, allocator overhead not counted)."""
    gc.collect()
    t0 = time.perf_counter()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    seconds = time.perf_counter() - t0
    del result
    gc.collect()
    return after - before, seconds


def count(n: int) -> str:
    """``1M``, ``10k``, ``1,234``: a count for a table label."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1_000}k" if n % 1_000 == 0 else f"{n:,}"


def report(rows: list[tuple[str, str, str, str]]) -> None:
    """Add rows to the session's table and print it (visible with ``-s``)."""
    TABLE.extend(rows)
    width = max(len(r[0]) for r in TABLE)
    fig = max(len(r[1]) for r in TABLE)
    print(f"\n{'scale figures (issue 7)':<{width}}  {'measured':>{fig}}  target / met")
    for what, figure, target, met in TABLE:
        print(f"{what:<{width}}  {figure:>{fig}}  {target}{' / ' + met if met else ''}")


def alternate(runs: dict[str, Callable[[int], float]], n: int) -> dict[str, list[float]]:
    """Call each run on batch 0..n-1, alternating which goes first; its results by name.

    Both states live in this process and take turns, so a change in the machine's load
    (other jobs on its two cores) falls on both alike.
    """
    out: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for i in range(n):
        for name in names if i % 2 == 0 else reversed(names):
            gc.collect()
            out[name].append(runs[name](i))
    return out


# ---------------------------------------------------------------------- resting orders
ORDER_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
MIDS = {"BTCUSDT": 600_000, "ETHUSDT": 300_000, "SOLUSDT": 150_000}  # 60,000.0 / 3,000.00 / 150.000
TOP_TICKS = 200  # the background keeps this far from the mid; the workload trades inside
RESTING_ORDERS = 1_000_000
BACKGROUND_ACCOUNTS = 100_000
SEGMENTS, SEGMENT_EVENTS = 6, 30_000
WORKLOAD_ACCOUNTS = range(1, 1_001)
BACKGROUND_ACCOUNT0 = 1_001


def order_exchange() -> Exchange:
    """Three instruments, a ledger, the workload's 1,000 accounts funded (10M USDT each)."""
    instruments = [get_instrument(s) for s in ORDER_SYMBOLS]
    ex = Exchange(instruments, ledger=Ledger(instruments), emit_book_deltas=False)
    for symbol, mid in MIDS.items():
        ex.submit(SetMarkPrice(TS0, symbol, mid * ex.markets[symbol].instrument.subticks_per_tick))  # subticks
    for a in WORKLOAD_ACCOUNTS:
        ex.submit(Deposit(TS0, a, 10_000_000 * USDT))
    return ex


def min_lots(inst: Instrument, price_ticks: int) -> int:
    """The fewest lots that meet the instrument's minimum notional at ``price_ticks``."""
    return -(-inst.min_notional_atoms // (price_ticks * inst.atoms_per_tick_lot))


def background_orders(n: int, n_accounts: int, seed: int = 7) -> Iterator[NewOrder]:
    """``n`` resting limit orders from ``n_accounts`` accounts, ``TOP_TICKS`` to 2 % from the mid.

    Distance from the mid: ``TOP_TICKS`` + exponential with mean 0.3 % of the mid, drawn
    again uniformly over the band when beyond 2 %; sizes 1–5× the minimum notional.
    Generated lazily: each order's ints belong to it, as with orders read from a feed.
    """
    rng = random.Random(seed)
    instruments = [get_instrument(s) for s in ORDER_SYMBOLS]
    accounts = list(range(BACKGROUND_ACCOUNT0, BACKGROUND_ACCOUNT0 + n_accounts))
    for i in range(n):
        inst = instruments[i % 3]
        mid = MIDS[inst.symbol]
        band = mid // 50
        off = TOP_TICKS + int(rng.expovariate(1 / (mid * 0.003)))
        if off > band:
            off = TOP_TICKS + rng.randrange(band - TOP_TICKS)
        side = rng.getrandbits(1)
        px = mid - off if side == BUY else mid + off
        qty = min_lots(inst, px) * rng.randint(1, 5)
        yield NewOrder(TS0 + i * 1_000, accounts[rng.randrange(n_accounts)], inst.symbol, side, qty, px, LIMIT, GTC)


def funded_exchange(n_accounts: int) -> Exchange:
    """:func:`order_exchange` with ``n_accounts`` background accounts funded (1M USDT each)."""
    ex = order_exchange()
    for a in range(BACKGROUND_ACCOUNT0, BACKGROUND_ACCOUNT0 + n_accounts):
        ex.submit(Deposit(TS0, a, 1_000_000 * USDT))
    return ex


def rss_of_background(n: int, n_accounts: int) -> int:
    """VmRSS growth of resting ``n`` background orders (the accounts already funded)."""
    ex = funded_exchange(n_accounts)
    _, rss = with_rss(lambda: place_background(ex, n, n_accounts))
    assert resting(ex) == n
    return rss


def add_background(ex: Exchange, n: int, n_accounts: int) -> None:
    """Fund ``n_accounts`` background accounts (1M USDT each), then rest ``n`` orders from them."""
    submit = ex.submit
    for a in range(BACKGROUND_ACCOUNT0, BACKGROUND_ACCOUNT0 + n_accounts):
        submit(Deposit(TS0, a, 1_000_000 * USDT))
    place_background(ex, n, n_accounts)


def place_background(ex: Exchange, n: int, n_accounts: int) -> None:
    submit = ex.submit
    for cmd in background_orders(n, n_accounts):
        submit(cmd)


def resting(ex: Exchange) -> int:
    return sum(len(m.book) for m in ex.markets.values())


class Workload:
    """A seeded stream of new orders, cancels and market orders near the touch.

    Recorded once on a scratch exchange (which says which orders are still resting when
    it picks one to cancel), then re-targeted to each exchange under test: order ids are
    the recording's, shifted by where that exchange's ids start. Every exchange starts
    the stream from the same state near the top of the book, so each accepts, fills and
    cancels exactly what the recording did (the test checks it).

    Mix: 55 % new limit orders 1 + Exp(mean 10) ticks from a fixed mid (5 % at or through
    it), 35 % cancels of a random resting workload order, 10 % market orders of 1–3×
    the minimum size; the number resting is steered towards ``live_target`` per
    instrument. Before the stream, a ladder of 5 orders on each of the 100 ticks next to
    the mid on both sides of each instrument.
    """

    def __init__(self, n_events: int, seed: int = 11, live_target: int = 2_000) -> None:
        ex = order_exchange()
        self.base = ex.next_order_id
        self.ladder = list(self._ladder())
        for cmd in self.ladder:
            ex.submit(cmd)
        self.events = self._record(ex, n_events, random.Random(seed), live_target)

    @staticmethod
    def _ladder() -> Iterator[NewOrder]:
        rng = random.Random(5)
        for symbol in ORDER_SYMBOLS:
            inst = get_instrument(symbol)
            mid = MIDS[symbol]
            for off in range(1, 101):
                for side, px in ((BUY, mid - off), (SELL, mid + off)):
                    for _ in range(5):
                        account = WORKLOAD_ACCOUNTS[rng.randrange(len(WORKLOAD_ACCOUNTS))]
                        qty = min_lots(inst, px) * rng.randint(1, 4)
                        yield NewOrder(TS0, account, symbol, side, qty, px, LIMIT, GTC)

    def _record(self, ex: Exchange, n: int, rng: random.Random, live_target: int) -> list[Any]:
        instruments = [get_instrument(s) for s in ORDER_SYMBOLS]
        live: dict[str, list[tuple[int, int]]] = {s: [] for s in ORDER_SYMBOLS}  # (order id, account)
        for symbol in ORDER_SYMBOLS:
            for oid, o in ex.book(symbol).orders.items():
                live[symbol].append((oid, o.account_id))
        out: list[Any] = []
        for i in range(n):
            inst = instruments[i % 3]
            symbol = inst.symbol
            book = ex.book(symbol)
            mine = live[symbol]
            r = rng.random()
            if len(mine) > 1.2 * live_target:
                r = 0.6 + 0.35 * rng.random()  # too many resting: cancel
            elif len(mine) < 0.8 * live_target and 0.55 <= r < 0.9:
                r = 0.55 * rng.random()  # too few: place instead of cancelling
            ts = TS0 + 10**12 + i * 1_000
            if r < 0.9 and (r < 0.55 or not mine):
                side = rng.getrandbits(1)
                off = 1 + int(rng.expovariate(0.1)) if rng.random() >= 0.05 else -rng.randrange(3)
                px = MIDS[symbol] - off if side == BUY else MIDS[symbol] + off
                account = WORKLOAD_ACCOUNTS[rng.randrange(len(WORKLOAD_ACCOUNTS))]
                cmd: Any = NewOrder(ts, account, symbol, side, min_lots(inst, px) * rng.randint(1, 4), px, LIMIT, GTC)
                oid = ex.next_order_id
                ex.submit(cmd)
                if oid in book.orders:
                    mine.append((oid, account))
            elif r < 0.9:
                while mine:
                    k = rng.randrange(len(mine))
                    oid, account = mine[k]
                    mine[k] = mine[-1]
                    mine.pop()
                    if oid in book.orders:
                        break
                else:
                    continue
                cmd = CancelOrder(ts, account, symbol, oid)
                ex.submit(cmd)
            else:
                side = rng.getrandbits(1)
                account = WORKLOAD_ACCOUNTS[rng.randrange(len(WORKLOAD_ACCOUNTS))]
                qty = min_lots(inst, MIDS[symbol]) * rng.randint(1, 3)
                cmd = NewOrder(ts, account, symbol, side, qty, 0, MARKET, IOC)
                ex.submit(cmd)
            out.append(cmd)
        return out

    def for_exchange(self, ex: Exchange) -> tuple[list[NewOrder], list[Any]]:
        """``(ladder, stream)`` with order ids as ``ex`` will assign them (call before the ladder)."""
        shift = ex.next_order_id - self.base
        stream = [c if type(c) is not CancelOrder else c._replace(order_id=c.order_id + shift) for c in self.events]
        return self.ladder, stream


def run_segment(ex: Exchange, cmds: list[Any], walls: list[float]) -> float:
    """Submit ``cmds``; the CPU seconds it took (its wall seconds appended to ``walls``)."""
    submit = ex.submit
    w0, c0 = time.perf_counter(), time.process_time()
    for c in cmds:
        submit(c)
    c1, w1 = time.process_time(), time.perf_counter()
    walls.append(w1 - w0)
    return c1 - c0


def test_million_resting_orders(benchmark: Any) -> None:
    """Bytes per resting order at 1M (margin holds included), and per-event cost at 1M vs 1k resting."""
    n, n_accounts = RESTING_ORDERS, BACKGROUND_ACCOUNTS
    segments, seg_len = SEGMENTS, SEGMENT_EVENTS
    workload = Workload(segments * seg_len)

    small = order_exchange()
    add_background(small, 1_000, 1_000)
    # the accounts exist before each measurement: only what the orders add is counted
    traced_ex = funded_exchange(n_accounts)
    traced, build_s = traced_bytes(lambda: place_background(traced_ex, n, n_accounts))
    assert resting(traced_ex) == n  # every background order rests (funded, inside the band, none crossing)
    del traced_ex
    rss = in_fresh_process(rss_of_background, n, n_accounts)
    big = funded_exchange(n_accounts)
    place_background(big, n, n_accounts)
    per_order, rss_per_order = traced / n, rss / n

    streams = {}
    sinks = {}
    for name, ex in (("1k", small), ("1M", big)):
        ladder, stream = workload.for_exchange(ex)
        for cmd in ladder:
            ex.submit(cmd)
        sinks[name] = CountingSink()
        ex.sinks.append(sinks[name])
        streams[name] = stream
    background = {"1k": resting(small) - 1_000, "1M": resting(big) - n}
    assert background["1k"] == background["1M"]  # the same ladder rests on both

    walls: dict[str, list[float]] = {"1k": [], "1M": []}

    def segment(name: str, ex: Exchange) -> Callable[[int], float]:
        return lambda i: run_segment(ex, streams[name][i * seg_len : (i + 1) * seg_len], walls[name])

    times: dict[str, list[float]] = {}  # CPU seconds per segment

    def run() -> None:
        times.update(alternate({"1k": segment("1k", small), "1M": segment("1M", big)}, segments))

    benchmark.pedantic(run, rounds=1, iterations=1)

    # end state: both ran the same stream to the same outcome, and never reached the background
    assert sinks["1k"].counts == sinks["1M"].counts and sinks["1M"][Fill] > 0
    assert resting(small) - 1_000 == resting(big) - n
    bg = range(BACKGROUND_ACCOUNT0, BACKGROUND_ACCOUNT0 + n_accounts)
    assert not any(big.ledger.accounts[a].positions for a in bg if a in big.ledger.accounts)  # type: ignore[union-attr]
    for ex in (small, big):
        ex._check()
        ex.ledger._check()  # type: ignore[union-attr]

    events = segments * seg_len
    us_small = sum(times["1k"]) / events * 1e6  # CPU
    us_big = sum(times["1M"]) / events * 1e6
    seg_ratios = [b / s for b, s in zip(times["1M"], times["1k"])]
    wall_ratio = sum(walls["1M"]) / sum(walls["1k"])
    target_line = record(benchmark.extra_info, "bytes_per_resting_order_with_ledger", per_order, "<= 400", None, digits=1)
    print(f"\n{target_line} (tracemalloc, exact: no spread)")
    benchmark.extra_info.update(
        cost_ratio_1m_over_1k_wall=round(wall_ratio, 3),
        segment_ratio_spread=round(max(seg_ratios) / min(seg_ratios), 3),
        resting_orders=n,
        accounts=n_accounts,
        build_s_traced=round(build_s, 1),
        bytes_per_resting_order=round(per_order, 1),
        rss_bytes_per_resting_order=round(rss_per_order, 1),
        workload_events=events,
        workload_fills=sinks["1M"][Fill],
        us_per_event_1k_resting=round(us_small, 2),
        us_per_event_1m_resting=round(us_big, 2),
        cost_ratio_1m_over_1k=round(us_big / us_small, 3),
        segment_ratio_median=round(statistics.median(seg_ratios), 3),
    )
    report(
        [
            (f"resting orders: bytes/order at {count(n)} (tracemalloc; {count(n_accounts)} accounts)",
             f"{per_order:.0f} B", "<= 400 B", "yes" if per_order <= 400 else "no"),
            (f"resting orders: RSS delta/order at {count(n)}", f"{rss_per_order:.0f} B", "(for honesty)", ""),
            ("workload CPU us/event, 1k resting", f"{us_small:.2f} us", "", ""),
            (f"workload CPU us/event, {count(n)} resting", f"{us_big:.2f} us", "", ""),
            (f"workload cost ratio {count(n)} / 1k, CPU (median segment; wall)",
             f"{us_big / us_small:.3f} ({statistics.median(seg_ratios):.3f}; {wall_ratio:.3f})", "flat (~1)", ""),
        ]
    )


# ---------------------------------------------------------------------- open positions
USD_PRICE = {
    "ADAUSDT": "0.35", "AVAXUSDT": "25", "BNBUSDT": "550", "BTCUSDT": "60000", "DOGEUSDT": "0.1",
    "ETHUSDT": "3000", "LINKUSDT": "12", "LTCUSDT": "70", "SOLUSDT": "150", "XRPUSDT": "0.5",
}
ALL_SYMBOLS = tuple(sorted(USD_PRICE))
MAKER = 90_000_000  # the market maker of the latency tests (an id above every population)
OPEN_POSITIONS = 1_000_000
SMALL_POSITIONS = 10_000


def mark_of(inst: Instrument) -> int:
    return int(Decimal(USD_PRICE[inst.symbol]) / inst.tick_size)


def build_positions(n_accounts: int, symbols: tuple[str, ...], seed: int = 1) -> tuple[Exchange, Ledger]:
    """``n_accounts`` accounts, each with one position per instrument of ``symbols``.

    As ``test_bench_mark_tick.build``: every fifth account cross, the others isolated;
    100–2,000 USDT a position, long or short, at the mark, 5x, booked straight into the
    ledger in matched pairs against EXTERNAL; nobody near a threshold. Accounts are
    drawn in id order from one seeded stream, so the first accounts are the same
    whatever ``n_accounts`` is.
    """
    instruments = [get_instrument(s) for s in symbols]
    ledger = Ledger(instruments, default_leverage=5)
    ex = Exchange(instruments, ledger=ledger, emit_book_deltas=False)
    marks = {i.symbol: mark_of(i) for i in instruments}
    for symbol, mark in marks.items():
        ex.submit(SetMarkPrice(TS0, symbol, mark * ex.markets[symbol].instrument.subticks_per_tick))  # subticks
    rng = random.Random(seed)
    deposit, set_mode, fill = ledger.deposit, ledger.set_margin_mode, ledger.apply_fill
    for account_id in range(1, n_accounts + 1):
        mode = ISOLATED if account_id % 5 else CROSS
        deposit(account_id, 10_000 * USDT)
        for inst in instruments:
            symbol = inst.symbol
            set_mode(account_id, symbol, mode)
            side = BUY if rng.random() < 0.5 else SELL
            mark = marks[symbol]
            lots = max(1, rng.randint(100, 2_000) * USDT // (mark * inst.atoms_per_tick_lot))
            fill(account_id, 0, symbol, side, lots, mark, 0, BOTH)
            fill(EXTERNAL, 0, symbol, side ^ 1, lots, mark, 0, BOTH)
    assert not ledger.pending
    return ex, ledger


def rss_of_positions(n_accounts: int, symbols: tuple[str, ...]) -> int:
    """VmRSS growth of :func:`build_positions`."""
    return with_rss(lambda: build_positions(n_accounts, symbols))[1]


def add_maker(ex: Exchange) -> None:
    """A market maker quoting BTCUSDT: 50 levels a side next to the mark, 20 BTC on each."""
    mark_subticks = ex.mark_price_subticks("BTCUSDT")
    assert mark_subticks is not None
    mark = mark_subticks // ex.markets["BTCUSDT"].instrument.subticks_per_tick  # on the tick here
    ex.submit(Deposit(TS0, MAKER, 10**9 * USDT))
    for k in range(1, 51):
        ex.submit(NewOrder(TS0, MAKER, "BTCUSDT", BUY, 20_000, mark - k, LIMIT, GTC))
        ex.submit(NewOrder(TS0, MAKER, "BTCUSDT", SELL, 20_000, mark + k, LIMIT, GTC))


def per_op_us(ex: Exchange, cmds: list[Any]) -> list[float]:
    """Submit each command alone, timing it; microseconds each."""
    submit = ex.submit
    clock = time.perf_counter_ns
    out = []
    for c in cmds:
        t0 = clock()
        submit(c)
        out.append((clock() - t0) / 1_000)
    return out


def position_latencies(
    states: dict[str, Exchange], n_sample: int, batches: int = 6
) -> dict[str, dict[str, list[float]]]:
    """Mark ticks, resting new orders and their cancels, filling market orders, per state.

    The same accounts (ids 1..n_sample, which hold the same positions in every state)
    send the same commands to every state, batch by batch, alternating states.
    """
    mark = {name: ex.mark_price_subticks("BTCUSDT") for name, ex in states.items()}
    assert len(set(mark.values())) == 1
    btc_subticks = mark["10k"]
    assert btc_subticks is not None
    per_tick = next(iter(states.values())).markets["BTCUSDT"].instrument.subticks_per_tick
    btc = btc_subticks // per_tick  # ticks, for the orders
    out: dict[str, dict[str, list[float]]] = {n: {"tick": [], "new": [], "cancel": [], "fill": []} for n in states}
    rng = random.Random(3)
    accounts = [1 + rng.randrange(n_sample) for _ in range(batches * 200)]

    def run(name: str) -> Callable[[int], float]:
        ex = states[name]
        figures = out[name]

        def batch(i: int) -> float:
            ticks = [SetMarkPrice(TS0, "BTCUSDT", (btc + (1 if k % 2 else -1)) * per_tick) for k in range(500)]
            figures["tick"] += per_op_us(ex, ticks)
            for a in accounts[i * 200 : (i + 1) * 200]:
                oid = ex.next_order_id
                figures["new"] += per_op_us(ex, [NewOrder(TS0, a, "BTCUSDT", BUY, 3, btc - 600, LIMIT, GTC)])
                figures["cancel"] += per_op_us(ex, [CancelOrder(TS0, a, "BTCUSDT", oid)])
                side = BUY if i % 2 == 0 else SELL  # even batches buy, odd ones sell back
                figures["fill"] += per_op_us(ex, [NewOrder(TS0, a, "BTCUSDT", side, 2, 0, MARKET, IOC)])
            ex.submit(SetMarkPrice(TS0, "BTCUSDT", btc_subticks))
            return 0.0

        return batch

    alternate({name: run(name) for name in states}, batches)
    return out


def positions_case(benchmark: Any, label: str, n_accounts: int, symbols: tuple[str, ...]) -> None:
    """Memory per open position at 1M and latency at 10k vs 1M, for one layout."""
    per_account = len(symbols)
    n = n_accounts * per_account
    small_ex, small_ledger = build_positions(SMALL_POSITIONS // per_account, symbols)
    traced, build_s = traced_bytes(lambda: build_positions(n_accounts, symbols))
    rss = in_fresh_process(rss_of_positions, n_accounts, symbols)
    big_ex, big_ledger = build_positions(n_accounts, symbols)
    positions = sum(len(a.positions) for a in big_ledger.accounts.values())
    assert positions == n and len(big_ledger.risk) >= n * 0.8  # every isolated bucket watched
    per_pos, rss_per_pos = traced / n, rss / n
    for ex in (small_ex, big_ex):
        add_maker(ex)
    states = {"10k": small_ex, "1M": big_ex}
    figures: dict[str, dict[str, list[float]]] = {}

    def run() -> None:
        figures.update(position_latencies(states, SMALL_POSITIONS // per_account))

    benchmark.pedantic(run, rounds=1, iterations=1)

    # end state: nobody liquidatable, by the index and by a full scan; every structure sound
    for ledger in (small_ledger, big_ledger):
        assert not ledger.liquidatable and not ledger.pending
        assert full_scan(ledger) == 0
        ledger._check()
        ledger.risk._check()
    small_ex._check()
    big_ex._check()
    med = {name: {op: statistics.median(v) for op, v in f.items()} for name, f in figures.items()}
    ratio = {op: med["1M"][op] / med["10k"][op] for op in med["1M"]}
    benchmark.extra_info.update(
        layout=label,
        positions=n,
        accounts=n_accounts,
        build_s_traced=round(build_s, 1),
        bytes_per_open_position=round(per_pos, 1),
        rss_bytes_per_open_position=round(rss_per_pos, 1),
        risk_index_entries=len(big_ledger.risk),
        **{f"{op}_us_median_{name}": round(med[name][op], 2) for name in med for op in med[name]},
        **{f"{op}_ratio_1m_over_10k": round(r, 3) for op, r in ratio.items()},
    )
    names = {"tick": "mark tick", "new": "new order (rests)", "cancel": "its cancel", "fill": "market order, fills"}
    report(
        [
            (f"positions ({label}): bytes/position at {count(n)} (tracemalloc)", f"{per_pos:.0f} B", "< 1024 B",
             "yes" if per_pos < 1024 else "no"),
            (f"positions ({label}): RSS delta/position at {count(n)}", f"{rss_per_pos:.0f} B", "(for honesty)", ""),
        ]
        + [
            (f"positions ({label}): {names[op]} us, {count(SMALL_POSITIONS)} -> {count(n)} (ratio)",
             f"{med['10k'][op]:.1f} -> {med['1M'][op]:.1f} ({ratio[op]:.2f})", "flat (~1)", "")
            for op in ("tick", "new", "cancel", "fill")
        ]
    )
    assert per_pos < 1024


def test_million_positions_realistic(benchmark: Any) -> None:
    """1M open positions as 100,000 accounts × 10 instruments: bytes per position, latency at 10k vs 1M."""
    positions_case(benchmark, "100k accounts x 10 instruments", OPEN_POSITIONS // 10, ALL_SYMBOLS)


def test_million_positions_worst_case(benchmark: Any) -> None:
    """1M open positions as 1,000,000 accounts × 1 instrument (an account per position): the same figures."""
    positions_case(benchmark, "1M accounts x 1 instrument", OPEN_POSITIONS, ("BTCUSDT",))
