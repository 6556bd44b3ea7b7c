"""Seeded random command streams over two instruments and five accounts, and an auditor.

Standalone on purpose (it imports only ``exsim``): ``test_determinism`` runs it in a
separate interpreter with ``sys.path`` pointing here.

:class:`RandomDriver` draws every command kind: orders of every type and time in force
(a few with one invalid field), cancels and amends aimed mostly at real open orders (some
at other accounts' orders, stop orders or unknown ids), STP mode changes, replayed levels
(some crossing the simulated book), replayed trades and mark prices. Prices stay in a
narrow band around each instrument's base so crossing, level emptying and trigger firing
happen all the time. It reads the exchange only to pick targets, in deterministic order.

:class:`Auditor` is a sink that re-derives, from the events alone, every order's open
size and filled size, the L2 book and the fees, and checks them against the exchange
after every command.
"""

from __future__ import annotations

import random
from typing import Any

import attrs

from exsim.book.orders import (
    BUY,
    FOK,
    GTC,
    GTX,
    IOC,
    LIMIT,
    MARKET,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
    TRIGGER_LAST,
    TRIGGER_MARK,
    Order,
)
from exsim.exchange import (
    AmendOrder,
    BookDelta,
    CancelOrder,
    Exchange,
    Fill,
    MarkPriceUpdated,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    ReplayedTrade,
    SetMarkPrice,
    SetReplayedLevel,
    SetSelfTradePrevention,
)
from exsim.exchange.triggers import RISING, direction_of, fires
from exsim.instruments import Instrument, get_instrument
from exsim.units import rate_ceil

SYMBOLS = ("BTCUSDT", "ETHUSDT")
BASE_TICKS = {"BTCUSDT": 600_000, "ETHUSDT": 300_000}
BAND = 12  # prices are drawn from base +- BAND ticks
ACCOUNTS = (1, 2, 3, 4, 5)
STOP_TYPES = (STOP_MARKET, STOP_LIMIT, TAKE_PROFIT_MARKET, TAKE_PROFIT_LIMIT)
LIMIT_TYPES = (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT)
ALL_KINDS = ("new", "cancel", "amend", "stp", "level", "trade", "mark")
NO_AMEND_KINDS = tuple(k for k in ALL_KINDS if k != "amend")
KIND_WEIGHTS = (50, 8, 10, 2, 14, 6, 8)


def stress_instruments() -> list[Instrument]:
    """BTCUSDT without a minimum notional (tiny orders) and ETHUSDT as shipped (20 USDT min)."""
    return [attrs.evolve(get_instrument("BTCUSDT"), min_notional_atoms=0), get_instrument("ETHUSDT")]


class RandomDriver:
    """Draws the next command from a seeded RNG and the exchange's open orders."""

    def __init__(self, exchange: Exchange, seed: int, kinds: tuple[str, ...] = ALL_KINDS) -> None:
        self.ex = exchange
        self.rng = random.Random(seed)
        self.ts = 1_700_000_000_000_000_000
        weights = dict(zip(ALL_KINDS, KIND_WEIGHTS))
        self.kinds = kinds
        self.weights = [weights[k] for k in kinds]

    def price(self, symbol: str, spread: int = BAND) -> int:
        return BASE_TICKS[symbol] + self.rng.randint(-spread, spread)

    def next_command(self) -> Any:
        rng = self.rng
        self.ts += rng.choice((0, 0, 1, 1, 1_000))  # same-timestamp runs happen often
        symbol = rng.choice(SYMBOLS)
        kind = rng.choices(self.kinds, self.weights)[0]
        return getattr(self, "_" + kind)(symbol)

    def _open_orders(self, symbol: str, stops: bool = True) -> list[Any]:
        m = self.ex.markets[symbol]
        out: list[Any] = list(m.book.orders.values())
        if stops:
            out.extend(m.triggers.orders.values())
        return out

    def _new(self, symbol: str) -> NewOrder:
        rng = self.rng
        account = rng.choice(ACCOUNTS)
        side = rng.choice((BUY, SELL))
        otype = rng.choices((LIMIT, MARKET, *STOP_TYPES), (60, 10, 8, 8, 7, 7))[0]
        qty = rng.randint(1, 20) if symbol == "BTCUSDT" else rng.randint(4, 30)  # ETH: 7 lots = 21 USDT
        price = 0
        if otype in LIMIT_TYPES:
            if rng.random() < 0.7:  # mostly passive, so the simulated book builds up
                off = rng.randint(-2, BAND)
                price = BASE_TICKS[symbol] + (-off if side == BUY else off)
            else:
                price = self.price(symbol)
        if otype in LIMIT_TYPES:
            tif = rng.choices((GTC, IOC, FOK, GTX), (55, 15, 12, 18))[0]
        else:
            tif = rng.choices((GTC, IOC, FOK), (60, 25, 15))[0]
        trigger_by = rng.choice((TRIGGER_LAST, TRIGGER_MARK))
        trigger = 0
        if otype in STOP_TYPES:
            m = self.ex.markets[symbol]
            ref = m.last_price_ticks if trigger_by == TRIGGER_LAST else m.mark_price_subticks // m.instrument.subticks_per_tick
            if ref and rng.random() < 0.85:  # mostly a trigger that does not fire at once
                away = rng.randint(1, BAND)
                trigger = ref + away if direction_of(side, otype) == RISING else ref - away
            else:
                trigger = self.price(symbol)
        coid = rng.choice(("a", "b", "c", "d", "e")) if rng.random() < 0.15 else None
        if rng.random() < 0.04:  # one invalid field
            bad = rng.randrange(6)
            if bad == 0:
                qty = rng.choice((0, -1))
            elif bad == 1:
                side = 2
            elif bad == 2:
                price = -price if price else 5
            elif bad == 3:
                tif = 9
            elif bad == 4:
                otype = 9
            else:
                account = 0
        return NewOrder(self.ts, account, symbol, side, qty, price, otype, tif, coid, False, trigger, trigger_by)

    def _target(self, symbol: str, stops: bool) -> tuple[int, int]:
        """(account, order id): mostly an open order of its owner, sometimes not."""
        rng = self.rng
        orders = self._open_orders(symbol, stops)
        r = rng.random()
        if orders and r < 0.85:
            o = rng.choice(orders)
            return o.account_id, o.order_id
        if orders and r < 0.93:
            o = rng.choice(orders)
            return rng.choice([a for a in ACCOUNTS if a != o.account_id]), o.order_id
        return rng.choice(ACCOUNTS), rng.randint(1, self.ex.next_order_id + 2)

    def _cancel(self, symbol: str) -> CancelOrder:
        account, order_id = self._target(symbol, stops=True)
        return CancelOrder(self.ts, account, symbol, order_id)

    def _amend(self, symbol: str) -> AmendOrder:
        rng = self.rng
        account, order_id = self._target(symbol, stops=rng.random() < 0.1)
        order = self.ex.open_order(symbol, order_id)
        if isinstance(order, Order) and rng.random() < 0.7:
            price = order.price_ticks + rng.choice((0, 0, -1, 1, -3, 3, -8, 8))
            qty = max(1, order.qty_lots + rng.choice((-3, -1, 0, 1, 4)))
        else:
            price, qty = self.price(symbol), rng.randint(1, 20)
        return AmendOrder(self.ts, account, symbol, order_id, price, qty)

    def _stp(self, symbol: str) -> SetSelfTradePrevention:
        mode = self.rng.choice((0, 1, 2, 3, 0, 1, 2, 3, 7))
        return SetSelfTradePrevention(self.ts, self.rng.choice(ACCOUNTS), mode)

    def _level(self, symbol: str) -> SetReplayedLevel:
        rng = self.rng
        side = rng.choice((BUY, SELL))
        if rng.random() < 0.85:  # bids below the base, asks above: mostly not crossing
            off = rng.randint(0, BAND)
            price = BASE_TICKS[symbol] + (-off if side == BUY else off)
        else:
            price = self.price(symbol)
        lots = 0 if rng.random() < 0.25 else rng.randint(1, 15)
        return SetReplayedLevel(self.ts, symbol, side, price, lots)

    def _trade(self, symbol: str) -> ReplayedTrade:
        return ReplayedTrade(self.ts, symbol, self.rng.choice((BUY, SELL)), self.price(symbol), self.rng.randint(1, 8))

    def _mark(self, symbol: str) -> SetMarkPrice:
        # a venue mark falls between ticks: a random subtick offset (1e-8 USDT)
        per_tick = self.ex.markets[symbol].instrument.subticks_per_tick
        return SetMarkPrice(self.ts, symbol, self.price(symbol, BAND + 4) * per_tick + self.rng.randrange(per_tick))


def random_commands(seed: int, n: int, kinds: tuple[str, ...] = ALL_KINDS) -> list[Any]:
    """Run ``n`` random commands on a fresh stress exchange and return them (the stream)."""
    ex = Exchange(stress_instruments())
    driver = RandomDriver(ex, seed, kinds)
    commands = []
    for _ in range(n):
        cmd = driver.next_command()
        ex.submit(cmd)
        commands.append(cmd)
    return commands


def run_hashes(seed: int, n: int, kinds: tuple[str, ...] = ALL_KINDS) -> str:
    """``"<state hash> <event stream hash>"`` after ``n`` random commands of ``seed``."""
    from exsim.sinks import StateHasher

    hasher = StateHasher()
    ex = Exchange(stress_instruments(), sinks=[hasher])
    driver = RandomDriver(ex, seed, kinds)
    for _ in range(n):
        ex.submit(driver.next_command())
    return f"{ex.state_hash()} {hasher.hexdigest()}"


class AuditError(AssertionError):
    """The events disagree with each other or with the exchange's state."""


class Auditor:
    """Sink that tracks every order and the L2 book from events and checks the exchange.

    Per order: ``qty`` (latest accepted / amended total), ``filled`` (sum of its fills),
    ``ended`` (leaves reported by its one OrderExpired / OrderCancelled) and ``open``
    (what the events say is still open). After each command :meth:`after_command` checks
    the touched orders and levels against the exchange; :meth:`full_check` checks all.
    """

    def __init__(self, exchange: Exchange) -> None:
        self.ex = exchange
        self.qty: dict[int, int] = {}
        self.filled: dict[int, int] = {}
        self.ended: dict[int, int] = {}
        self.open: dict[int, int] = {}
        self.symbol_of: dict[int, str] = {}
        self.waiting: set[int] = set()  # stop orders not yet triggered
        self.l2: dict[tuple[str, int, int], int] = {}
        self.next_order_id = 1
        self.next_trade_id = 1
        self.touched_orders: list[int] = []
        self.touched_levels: list[tuple[str, int, int]] = []
        self.counts: dict[str, int] = {}

    def fail(self, message: str, event: Any = None) -> None:
        raise AuditError(f"{message}: {event!r}" if event is not None else message)

    def __call__(self, events: list[Any]) -> None:
        for e in events:
            name = type(e).__name__
            self.counts[name] = self.counts.get(name, 0) + 1
            getattr(self, "_on_" + name)(e)

    # -- per event
    def _on_OrderAccepted(self, e: OrderAccepted) -> None:
        if e.order_id != self.next_order_id:
            self.fail(f"order id {e.order_id}, expected {self.next_order_id}", e)
        self.next_order_id += 1
        self.qty[e.order_id] = e.qty_lots
        self.filled[e.order_id] = 0
        self.open[e.order_id] = e.qty_lots
        self.symbol_of[e.order_id] = e.symbol
        if e.order_type in STOP_TYPES:
            self.waiting.add(e.order_id)
        self.touched_orders.append(e.order_id)

    def _on_OrderRejected(self, e: OrderRejected) -> None:
        pass

    def _on_MarkPriceUpdated(self, e: MarkPriceUpdated) -> None:
        pass

    def _on_OrderTriggered(self, e: OrderTriggered) -> None:
        if e.order_id not in self.waiting:
            self.fail("triggered an order that was not waiting", e)
        self.waiting.discard(e.order_id)
        self.touched_orders.append(e.order_id)

    def _take(self, order_id: int, q: int, leaves: int, e: Fill) -> None:
        if order_id not in self.open:
            self.fail(f"fill of order {order_id}, which is not open", e)
        if order_id in self.waiting:
            self.fail(f"fill of untriggered stop order {order_id}", e)
        now = self.open[order_id] - q
        if now != leaves or now < 0:
            self.fail(f"order {order_id}: reported leaves {leaves}, tracked {now}", e)
        self.filled[order_id] += q
        if now:
            self.open[order_id] = now
        else:
            del self.open[order_id]
        self.touched_orders.append(order_id)

    def _on_Fill(self, e: Fill) -> None:
        if e.trade_id != self.next_trade_id:
            self.fail(f"trade id {e.trade_id}, expected {self.next_trade_id}", e)
        self.next_trade_id += 1
        if e.qty_lots <= 0:
            self.fail("non-positive fill", e)
        inst = self.ex.markets[e.symbol].instrument
        notional = e.price_ticks * e.qty_lots * inst.atoms_per_tick_lot
        if e.taker_order_id:
            if e.taker_fee_atoms != rate_ceil(notional, inst.taker_fee_e8):
                self.fail("taker fee", e)
            self._take(e.taker_order_id, e.qty_lots, e.taker_leaves_lots, e)
        elif (e.taker_account_id, e.taker_leaves_lots, e.taker_fee_atoms) != (0, 0, 0):
            self.fail("anonymous taker with account, leaves or fee", e)
        if e.maker_order_id:
            if e.maker_fee_atoms != rate_ceil(notional, inst.maker_fee_e8):
                self.fail("maker fee", e)
            self._take(e.maker_order_id, e.qty_lots, e.maker_leaves_lots, e)
        elif (e.maker_account_id, e.maker_leaves_lots, e.maker_fee_atoms) != (0, 0, 0):
            self.fail("anonymous maker with account, leaves or fee", e)

    def _end(self, e: OrderExpired | OrderCancelled) -> None:
        if e.order_id not in self.open:
            self.fail("end of an order that is not open", e)
        if e.leaves_lots != self.open[e.order_id] or e.leaves_lots <= 0:
            self.fail(f"ended with leaves {e.leaves_lots}, tracked {self.open[e.order_id]}", e)
        self.ended[e.order_id] = e.leaves_lots
        del self.open[e.order_id]
        self.waiting.discard(e.order_id)
        self.touched_orders.append(e.order_id)

    _on_OrderExpired = _end
    _on_OrderCancelled = _end

    def _on_OrderAmended(self, e: OrderAmended) -> None:
        oid = e.order_id
        if oid not in self.open or oid in self.waiting:
            self.fail("amend of an order that is not resting", e)
        if e.qty_lots - e.leaves_lots != self.filled[oid] or e.leaves_lots <= 0:
            self.fail(f"amended qty - leaves != filled {self.filled[oid]}", e)
        self.qty[oid] = e.qty_lots
        self.open[oid] = e.leaves_lots
        self.touched_orders.append(oid)

    def _on_BookDelta(self, e: BookDelta) -> None:
        key = (e.symbol, e.side, e.price_ticks)
        if e.lots:
            self.l2[key] = e.lots
        else:
            self.l2.pop(key, None)
        self.touched_levels.append(key)

    # -- checks against the exchange
    def _check_order(self, oid: int) -> None:
        symbol = self.symbol_of[oid]
        o = self.ex.open_order(symbol, oid)
        want = self.open.get(oid, 0)
        if want == 0:
            if o is not None:
                self.fail(f"order {oid} is closed by its events but still open in the exchange: {o!r}")
            return
        if o is None:
            self.fail(f"order {oid} is open by its events ({want} lots) but not in the exchange")
        waiting = oid in self.waiting
        if waiting != (oid in self.ex.markets[symbol].triggers.orders):
            self.fail(f"order {oid}: waiting by events = {waiting}, exchange disagrees")
        have = o.qty_lots if waiting else o.leaves_lots
        if have != want:
            self.fail(f"order {oid}: exchange has {have} lots open, events say {want}")
        if not waiting and o.qty_lots != self.qty[oid]:
            self.fail(f"order {oid}: exchange qty {o.qty_lots}, events say {self.qty[oid]}")

    def _check_triggers(self) -> None:
        """No waiting order's trigger is reached by the current last / mark price."""
        for symbol, m in self.ex.markets.items():
            per_tick = m.instrument.subticks_per_tick  # compared exactly, in subticks
            refs = (m.last_price_ticks * per_tick, m.mark_price_subticks)
            for stop in m.triggers.orders.values():
                ref = refs[stop.trigger_by]
                if ref and fires(stop.direction, stop.trigger_price_ticks * per_tick, ref):
                    self.fail(f"{symbol}: {stop!r} waits although reference price {ref} reached its trigger")

    def after_command(self) -> None:
        for oid in self.touched_orders:
            self._check_order(oid)
        for key in self.touched_levels:
            symbol, side, px = key
            if self.ex.book(symbol).level_lots(side, px) != self.l2.get(key, 0):
                self.fail(f"L2 {key}: book has {self.ex.book(symbol).level_lots(side, px)}, deltas say {self.l2.get(key, 0)}")
        self.touched_orders.clear()
        self.touched_levels.clear()
        self._check_triggers()

    def full_check(self) -> None:
        """Every order and level, and size conservation: qty = filled + ended + open."""
        for oid in self.qty:
            self._check_order(oid)
            if self.qty[oid] != self.filled[oid] + self.ended.get(oid, 0) + self.open.get(oid, 0):
                self.fail(
                    f"order {oid}: qty {self.qty[oid]} != filled {self.filled[oid]} + ended "
                    f"{self.ended.get(oid, 0)} + open {self.open.get(oid, 0)}"
                )
        open_in_exchange = set()
        for m in self.ex.markets.values():
            open_in_exchange.update(m.book.orders)
            open_in_exchange.update(m.triggers.orders)
        if open_in_exchange != set(self.open):
            self.fail(f"open orders differ: only in exchange {open_in_exchange - set(self.open)}, "
                      f"only by events {set(self.open) - open_in_exchange}")
        book_l2 = {}
        for symbol, m in self.ex.markets.items():
            for side in (BUY, SELL):
                for lv in m.book.levels(side):
                    book_l2[(symbol, side, lv.price_ticks)] = lv.total_lots
        if book_l2 != self.l2:
            diff = set(book_l2.items()) ^ set(self.l2.items())
            self.fail(f"L2 from deltas differs from the book: {sorted(diff)}")
