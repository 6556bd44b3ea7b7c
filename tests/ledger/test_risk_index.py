"""The risk index against a naive full scan: same scopes flagged, at the same tick.

``DESIGN.md`` §6 / ``exsim/ledger/risk_index.py``: a mark tick pops only the isolated
buckets and cross pools whose trigger it crossed. Here :class:`NaiveRisk` recomputes,
independently from the :class:`Position` fields and the bracket tables (its own bracket
lookup, its own UPnL and maintenance-margin arithmetic, the marks this test submitted),
the margin balance and maintenance margin of *every* scope after every command, and the
tests assert that

* the scopes for which a ``Liquidatable`` event was emitted and that have not recovered
  since are exactly the naively liquidatable ones (``margin balance <= MM``), at every
  tick, and the ledger's own ``liquidatable`` listing agrees;
* a ``MarginCall`` is given only at a tick where the naive ratio is in [80 %, 100 %), the
  first alert of each scope comes at the first tick its naive ratio reaches 80 %, and
  no scope is warned twice without having recovered below 80 % in between;
* event figures (margin balance, maintenance margin) equal the naive ones.

Positions are built by booking fills straight into the ledger (``Ledger.apply_fill`` for
the trader and its EXTERNAL mirror), which re-files them; the marks then go through the
exchange. The exchange runs with ``liquidations=False``: these tests are about detection,
and a liquidation would close the very scopes being compared.

Metamorphic checks: a higher maintenance rate (brackets with MMR × 1.5) never liquidates
later, and more margin never liquidates earlier, on the same positions and price path.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import attrs
import pytest

from exsim.book.orders import BUY, IOC, SELL
from exsim.exchange import (
    AdjustIsolatedMargin,
    Deposit,
    Exchange,
    Liquidatable,
    MarginCall,
    SetMarkPrice,
    Withdraw,
)
from exsim.instruments import BracketTable, Instrument
from exsim.ledger import BOTH, EXTERNAL, ISOLATED, LONG, SHORT, Account, Ledger, Position
from exsim.sinks import MemorySink

from .harness import BTC, ETH, P, SOL, USDT, LedgerHarness, check_all, of_type

E8 = 10**8
WARN_E8 = 80_000_000
BASE = {"BTCUSDT": P, "ETHUSDT": 300_000, "SOLUSDT": 150_000}  # 60,000 / 3,000 / 150 USDT
PER_TICK = {i.symbol: i.subticks_per_tick for i in (BTC, ETH, SOL)}  # subticks (1e-8 USDT) per tick

Key = tuple  # ("I", account, symbol, position_side) or ("C", account)


# ---------------------------------------------------------------------- the naive reference
class NaiveRisk:
    """Full scan of every scope from Position fields, bracket tables and submitted marks.

    Independent of the ledger's margin helpers: its own bracket search (a linear scan),
    ``MM = max(0, ceil(N * MMR / 1e8) - cum)`` on the exact notional at the mark, UPnL from
    the signed size and exact cost. Marks are in subticks (1e-8 USDT, finer than the tick),
    so the notional and the margin balance are exact in 1e-8 atoms ("e8" below).
    """

    def __init__(self, instruments: tuple[Instrument, ...]) -> None:
        self.lot_e8 = {i.symbol: i.lot_size_e8 for i in instruments}
        self.tables = {
            i.symbol: [(b.floor_atoms, b.mmr_e8, b.cum_atoms) for b in reversed(i.brackets.brackets)]
            for i in instruments
        }
        self.marks: dict[str, int] = {}  # subticks

    def mm(self, symbol: str, notional_e8: int) -> int:
        for floor, mmr, cum in self.tables[symbol]:
            if notional_e8 >= floor * E8:
                return max(0, -(-notional_e8 * mmr // (E8 * E8)) - cum)
        raise AssertionError("no bracket")

    def figures(self, ledger: Ledger) -> dict[Key, tuple[int, int]]:
        """``{scope: (margin balance in 1e-8 atoms, maintenance margin in atoms)}`` for every
        isolated bucket and cross pool."""
        out: dict[Key, tuple[int, int]] = {}
        marks, lot_e8 = self.marks, self.lot_e8
        for acct in ledger.accounts.values():
            balance = acct.wallet_atoms * E8
            mm_sum = 0
            cross = False
            for (symbol, pside), pos in acct.positions.items():
                q = pos.qty_lots
                value = q * marks[symbol] * lot_e8[symbol]  # signed, 1e-8 atoms
                cost = pos.cost_atoms * E8
                upnl = value - cost if q > 0 else cost + value
                mm = self.mm(symbol, abs(value))
                if pos.isolated:
                    out[("I", acct.account_id, symbol, pside)] = (pos.margin_atoms * E8 + upnl, mm)
                else:
                    cross = True
                    balance += upnl
                    mm_sum += mm
            if cross:
                out[("C", acct.account_id)] = (balance, mm_sum)
        return out


def liquidatable(fig: tuple[int, int]) -> bool:
    """Margin balance (1e-8 atoms) at or below maintenance margin (atoms), exactly."""
    return fig[0] <= fig[1] * E8


def warned(fig: tuple[int, int]) -> bool:
    return WARN_E8 * fig[0] <= E8 * fig[1] * E8


def in_atoms(fig: tuple[int, int]) -> tuple[int, int]:
    """The figures as an alert carries them: the balance rounded down to the atom."""
    return fig[0] // E8, fig[1]


def fine(symbol: str, ticks: int) -> int:
    """A mark near ``ticks`` at subtick resolution, as a venue publishes it: a deterministic
    offset inside the tick (so the same path gives the same marks in every world)."""
    per = PER_TICK[symbol]
    return ticks * per + (ticks * 7_919) % per


def event_key(ev: Any) -> Key:
    if ev.scope == "CROSS":
        return ("C", ev.account_id)
    assert ev.scope == "ISOLATED", ev
    return ("I", ev.account_id, ev.symbol, ev.position_side)


def scope_key(scope: Account | Position) -> Key:
    if type(scope) is Position:
        return ("I", scope.account_id, scope.symbol, scope.position_side)
    return ("C", scope.account_id)


class Watcher:
    """Checks the alerts of every command against the naive scan (see the module docstring)."""

    def __init__(self, ledger: Ledger, naive: NaiveRisk) -> None:
        self.ledger = ledger
        self.naive = naive
        self.flagged: set[Key] = set()  # Liquidatable emitted, not recovered since
        self.ever_alerted: set[Key] = set()
        self.alerted_since_ok: set[Key] = set()  # alerted, and not below 80 % since
        self.first_liquidatable: dict[Key, int] = {}
        self.counts = {"liquidatable": 0, "margin_call": 0, "recovered": 0}
        self.tick = 0

    def after(self, events: list[Any], what: str = "") -> None:
        self.tick += 1
        figs = self.naive.figures(self.ledger)
        now_liq = {k for k, f in figs.items() if liquidatable(f)}
        now_warn = {k for k, f in figs.items() if warned(f)}
        liq_events = of_type(events, Liquidatable)
        mc_events = of_type(events, MarginCall)
        where = f"tick {self.tick} ({what})"
        liq_keys = [event_key(e) for e in liq_events]
        mc_keys = [event_key(e) for e in mc_events]
        assert len(set(liq_keys)) == len(liq_keys), f"{where}: duplicate Liquidatable {liq_keys}"
        assert len(set(mc_keys)) == len(mc_keys), f"{where}: duplicate MarginCall {mc_keys}"
        for ev, key in zip(liq_events + mc_events, liq_keys + mc_keys):
            assert key in figs, f"{where}: alert for unknown scope {key}"
            assert (ev.margin_balance_atoms, ev.maint_margin_atoms) == in_atoms(figs[key]), (
                f"{where}: {type(ev).__name__} {key} reports {(ev.margin_balance_atoms, ev.maint_margin_atoms)}, "
                f"naive {figs[key]}"
            )
        still = self.flagged & now_liq
        repeated = still & set(liq_keys)
        assert not repeated, f"{where}: Liquidatable repeated for still-flagged scopes {sorted(repeated)}"
        self.counts["recovered"] += len(self.flagged - now_liq)
        self.flagged = still | set(liq_keys)
        missed = now_liq - self.flagged
        extra = self.flagged - now_liq
        assert not missed and not extra, (
            f"{where}: naive liquidatable but never reported (or reported before recovering and not again): "
            f"{sorted(missed)[:5]} ({len(missed)}); reported but not liquidatable: {sorted(extra)[:5]} ({len(extra)})"
            + "".join(f"\n  {k}: balance/MM {figs[k]}" for k in sorted(missed | extra)[:5])
        )
        listed = {scope_key(s) for s in self.ledger.liquidatable.values()}
        assert listed == now_liq, (
            f"{where}: ledger.liquidatable lists {sorted(listed - now_liq)[:5]} not liquidatable, "
            f"misses {sorted(now_liq - listed)[:5]}"
        )
        for key in mc_keys:
            assert key in now_warn and key not in now_liq, (
                f"{where}: MarginCall {key} at naive {figs[key]} (ratio not in [80 %, 100 %))"
            )
            assert key not in self.alerted_since_ok, f"{where}: second MarginCall for {key} without recovery"
        alerts = set(mc_keys) | set(liq_keys)
        late = (now_warn - self.ever_alerted) - alerts
        assert not late, (
            f"{where}: naive ratio reached 80 % but no MarginCall/Liquidatable: {sorted(late)[:5]}"
            + "".join(f"\n  {k}: balance/MM {figs[k]}" for k in sorted(late)[:5])
        )
        self.ever_alerted |= alerts
        self.alerted_since_ok = (self.alerted_since_ok & now_warn) | alerts
        for key in liq_keys:
            self.first_liquidatable.setdefault(key, self.tick)
        self.counts["liquidatable"] += len(liq_keys)
        self.counts["margin_call"] += len(mc_keys)


# ---------------------------------------------------------------------- building a world
INSTRUMENTS = (BTC, ETH, SOL)


def scaled_mmr(inst: Instrument, factor: str) -> Instrument:
    """The instrument with every bracket's MMR multiplied by ``factor`` (cum re-derived)."""
    f = Decimal(factor)
    tiers = [
        (
            Decimal(b.floor_atoms) / USDT,
            Decimal(b.cap_atoms) / USDT,
            Decimal(b.mmr_e8) * f / E8,
            b.max_leverage,
        )
        for b in inst.brackets.brackets
    ]
    table = BracketTable.from_tiers(tiers, symbol=inst.symbol)
    for old, new in zip(inst.brackets.brackets, table.brackets):
        assert new.mmr_e8 >= old.mmr_e8 and new.cum_atoms >= old.cum_atoms
    return attrs.evolve(inst, brackets=table)


@attrs.define
class World:
    ex: Exchange
    ledger: Ledger
    sink: MemorySink
    naive: NaiveRisk
    ts: int = 0

    def submit(self, cmd: Any) -> list[Any]:
        self.ts += 1
        start = len(self.sink.events)
        if type(cmd) is SetMarkPrice:
            self.naive.marks[cmd.symbol] = cmd.mark_price_subticks
        self.ex.submit(cmd._replace(ts_ns=self.ts))
        check_all(self.ex, self.ledger)  # ledger, risk index and exchange _check() after every command
        return self.sink.events[start:]


def book(ledger: Ledger, account: int, symbol: str, side: int, qty: int, px: int, pside: int) -> None:
    """A matched pair of fills: the trader at ``px`` (no fee) against its EXTERNAL mirror."""
    ledger.apply_fill(account, 0, symbol, side, qty, px, 0, pside)
    ledger.apply_fill(EXTERNAL, 0, symbol, side ^ 1, qty, px, 0, BOTH)


def build_world(
    seed: int,
    *,
    n_isolated: int,
    n_cross: int,
    instruments: tuple[Instrument, ...] = INSTRUMENTS,
    extra_margin_seed: int | None = None,
) -> World:
    """About ``n_isolated`` isolated and ``n_cross`` cross positions over the instruments.

    Random sizes (log-uniform 30 USDT .. 3M USDT, so several brackets), leverage up to the
    bracket's max (skewed high), entries up to ±1 % off the mark (some start near or past
    a threshold), hedge-mode accounts with both legs, accounts mixing isolated and cross.
    The random decisions depend only on ``seed`` (never on MMRs), so worlds built with
    scaled brackets hold identical positions. ``extra_margin_seed`` then adds margin to
    every bucket and cross wallet.
    """
    rng = random.Random(seed)
    ledger = Ledger(instruments, default_leverage=20)
    sink = MemorySink()
    ex = Exchange(instruments, sinks=[sink], ledger=ledger, liquidations=False)
    world = World(ex, ledger, sink, NaiveRisk(instruments))
    for inst in instruments:
        world.submit(SetMarkPrice(0, inst.symbol, BASE[inst.symbol] * PER_TICK[inst.symbol]))
    symbols = [i.symbol for i in instruments]
    by_symbol = {i.symbol: i for i in instruments}

    def pick_leg(symbol: str) -> tuple[int, int, int]:
        """``(qty, entry, max leverage)`` of a random leg."""
        inst = by_symbol[symbol]
        mark = BASE[symbol]
        notional = int(30 * USDT * (10 ** rng.uniform(0, 5)))
        qty = max(1, notional // (mark * inst.atoms_per_tick_lot))
        entry = mark + int(mark * rng.uniform(-0.01, 0.01))
        return qty, entry, inst.brackets.max_leverage_for(qty * mark * inst.atoms_per_tick_lot)

    def open_legs(account: int, symbol: str, legs: list[tuple[int, int]]) -> None:
        """Open the legs at one leverage (the account's, per symbol), skewed high."""
        picks = [pick_leg(symbol) for _ in legs]
        max_lev = min(p[2] for p in picks)
        lev = rng.randint(max(1, max_lev // 3), max_lev) if rng.random() < 0.7 else rng.randint(1, max_lev)
        assert ledger.set_leverage(account, symbol, lev) is None
        for (side, pside), (qty, entry, _) in zip(legs, picks):
            book(ledger, account, symbol, side, qty, entry, pside)
            pos = ledger.accounts[account].positions[(symbol, pside)]
            if pos.isolated and rng.random() < 0.3:  # some extra margin in the bucket
                extra = rng.randint(1, max(1, pos.margin_atoms // 2))
                assert ledger.adjust_isolated_margin(account, symbol, pside, extra) is None

    account = 0
    isolated = crossed = 0
    # isolated accounts (some also hold a cross position, some hedge both legs)
    while isolated < n_isolated:
        account += 1
        ledger.deposit(account, 10**15)  # generous: what is not used is withdrawn below
        hedge = rng.random() < 0.15
        if hedge:
            ledger.set_position_mode(account, True)
        for symbol in rng.sample(symbols, rng.randint(1, 2)):
            ledger.set_margin_mode(account, symbol, ISOLATED)
            legs = [(BUY, LONG), (SELL, SHORT)] if hedge else [(rng.choice((BUY, SELL)), BOTH)]
            open_legs(account, symbol, legs)
            isolated += len(legs)
        free = [s for s in symbols if s not in ledger.accounts[account].margin_modes]
        if free and rng.random() < 0.2:  # and a cross position on another instrument
            legs = [(BUY, LONG)] if hedge else [(rng.choice((BUY, SELL)), BOTH)]
            open_legs(account, rng.choice(free), legs)
            crossed += 1
        _trim_wallet(ledger, account, rng)
    # cross accounts: 1..3 instruments, some hedge with both legs
    while crossed < n_cross:
        account += 1
        ledger.deposit(account, 10**15)
        hedge = rng.random() < 0.25
        if hedge:
            ledger.set_position_mode(account, True)
        for symbol in rng.sample(symbols, rng.randint(1, 3)):
            legs = [(BUY, LONG), (SELL, SHORT)] if hedge else [(rng.choice((BUY, SELL)), BOTH)]
            open_legs(account, symbol, legs)
            crossed += len(legs)
        _trim_wallet(ledger, account, rng)
    if extra_margin_seed is not None:
        more = random.Random(extra_margin_seed)
        for acct in list(ledger.accounts.values()):
            for (symbol, pside), pos in list(acct.positions.items()):
                extra = more.randint(1, max(1, pos.margin_atoms or 10 * USDT))
                ledger.deposit(acct.account_id, extra)
                upnl, im, _ = ledger.cross_figures(acct)  # margin adds need real money
                short = extra - (acct.wallet_atoms + min(0, upnl) - im - acct.held_atoms)
                if pos.isolated and short > 0:  # cross losses / IM use up part of the wallet
                    ledger.deposit(acct.account_id, short)
                if pos.isolated:
                    assert ledger.adjust_isolated_margin(acct.account_id, symbol, pside, extra) is None
    check_all(ex, ledger)
    return world


def _trim_wallet(ledger: Ledger, account: int, rng: random.Random) -> None:
    """Leave the cross wallet at a random multiple of what the cross positions need.

    Cross pools get 0.6 .. 2.5 x their initial margin at entry (some start at risk);
    isolated-only accounts keep a random small wallet.
    """
    acct = ledger.accounts[account]
    im = 0
    for pos in acct.positions.values():
        if not pos.isolated:
            im += -(-pos.cost_atoms // pos.leverage)
    target = int(im * rng.uniform(0.6, 2.5)) if im else rng.randint(0, 1_000 * USDT)
    excess = acct.wallet_atoms - target
    if excess > 0:
        # straight to the books of the ledger: Ledger.withdraw would (rightly) refuse to
        # leave a pool short; the test wants some pools to start near their threshold
        acct.wallet_atoms -= excess
        acct.withdrawn_atoms += excess
        ledger.total_out_atoms += excess
        ledger.refile(acct)


def price_path(seed: int, n: int, symbols: tuple[str, ...]) -> list[tuple[str, int]]:
    """Random walks per symbol with crashes, spikes and recoveries to the base price."""
    rng = random.Random(seed)
    marks = {s: BASE[s] for s in symbols}
    out = []
    for _ in range(n):
        s = rng.choice(symbols)
        m = marks[s]
        r = rng.random()
        if r < 0.03:
            m = int(m * (1 - rng.uniform(0.04, 0.15)))  # crash
        elif r < 0.06:
            m = int(m * (1 + rng.uniform(0.04, 0.15)))  # spike
        elif r < 0.09:
            m = BASE[s] + rng.randint(-BASE[s] // 200, BASE[s] // 200)  # recovery
        else:
            m += int(rng.gauss(0, m * 0.003))
        m = max(BASE[s] // 2, min(BASE[s] * 8 // 5, m))
        marks[s] = m
        out.append((s, m))
    return out


# ---------------------------------------------------------------------- random paths
class TestAgainstFullScan:
    @pytest.mark.parametrize("seed", [11, 12, 13])
    def test_same_scopes_flagged_at_every_tick(self, seed: int) -> None:
        """On random mark paths with crashes and recoveries, Liquidatable/MarginCall match the full scan at every tick."""
        world = build_world(seed, n_isolated=1_600, n_cross=400)
        watcher = Watcher(world.ledger, world.naive)
        kinds = [p.isolated for a in world.ledger.accounts.values() for p in a.positions.values()]
        assert len(kinds) >= 2_000 and 0.75 < sum(kinds) / len(kinds) < 0.85  # 80 % isolated
        for symbol, mark in price_path(seed, 500, tuple(BASE)):
            events = world.submit(SetMarkPrice(0, symbol, fine(symbol, mark)))
            watcher.after(events, f"mark {symbol} {mark}")
        check_all(world.ex, world.ledger)
        # the path really exercised the interesting cases
        assert watcher.counts["liquidatable"] > 100
        assert watcher.counts["margin_call"] > 50
        assert watcher.counts["recovered"] > 20

    @pytest.mark.parametrize("seed", [21, 22])
    def test_same_scopes_flagged_with_margin_moves_between_ticks(self, seed: int) -> None:
        """Deposits, withdrawals and isolated margin moves between ticks keep the index in step with the full scan."""
        world = build_world(seed, n_isolated=800, n_cross=200)
        watcher = Watcher(world.ledger, world.naive)
        rng = random.Random(seed * 7)
        ledger = world.ledger
        for i, (symbol, mark) in enumerate(price_path(seed, 300, tuple(BASE))):
            events = world.submit(SetMarkPrice(0, symbol, fine(symbol, mark)))
            watcher.after(events, f"mark {symbol} {mark}")
            for _ in range(2):
                cmd = _margin_move(ledger, rng)
                if cmd is not None:
                    events = world.submit(cmd)
                    watcher.after(events, f"{type(cmd).__name__} {cmd}")
        assert watcher.counts["liquidatable"] > 50
        assert watcher.counts["recovered"] > 10


def _margin_move(ledger: Ledger, rng: random.Random) -> Any:
    """A deposit, withdrawal or isolated margin move, aimed mostly at scopes in trouble."""
    accounts = [a for a in ledger.accounts.values() if a.positions]
    if ledger.liquidatable and rng.random() < 0.5:
        scope = rng.choice(sorted(ledger.liquidatable.values(), key=scope_key))
        acct = ledger.accounts[scope.account_id]
        target = scope
    else:
        acct = rng.choice(accounts)
        target = rng.choice(list(acct.positions.values()))
    r = rng.random()
    size = rng.randint(1, 2_000) * USDT
    if type(target) is Position and target.isolated and r < 0.6:
        if r < 0.45:
            return Deposit(0, acct.account_id, size) if acct.wallet_atoms < size else AdjustIsolatedMargin(
                0, acct.account_id, target.symbol, target.position_side, size
            )
        return AdjustIsolatedMargin(0, acct.account_id, target.symbol, target.position_side, -rng.randint(1, size))
    if r < 0.75:
        return Deposit(0, acct.account_id, size)
    return Withdraw(0, acct.account_id, rng.randint(1, max(1, acct.wallet_atoms // 4)))


# ---------------------------------------------------------------------- metamorphic
def first_liquidations(world: World, path: list[tuple[str, int]]) -> tuple[dict[Key, int], list[set[Key]]]:
    """Tick of each scope's first Liquidatable event, and the ledger's listed set after each tick."""
    first: dict[Key, int] = {}
    listed: list[set[Key]] = []
    for t, (symbol, mark) in enumerate(path):
        for ev in of_type(world.submit(SetMarkPrice(0, symbol, fine(symbol, mark))), Liquidatable):
            first.setdefault(event_key(ev), t)
        listed.append({scope_key(s) for s in world.ledger.liquidatable.values()})
    return first, listed


class TestMetamorphic:
    @pytest.mark.parametrize("seed", [31, 32])
    def test_higher_maintenance_rate_never_liquidates_later(self, seed: int) -> None:
        """With every MMR × 1.5 (same positions, same path) each scope is flagged no later, and every flagged scope stays flagged."""
        path = price_path(seed, 250, tuple(BASE))
        base = build_world(seed, n_isolated=400, n_cross=100)
        strict = build_world(seed, n_isolated=400, n_cross=100, instruments=tuple(scaled_mmr(i, "1.5") for i in INSTRUMENTS))
        first_a, listed_a = first_liquidations(base, path)
        first_b, listed_b = first_liquidations(strict, path)
        later = {k: (first_a[k], first_b.get(k)) for k in first_a if first_b.get(k, 1 << 30) > first_a[k]}
        assert not later, f"liquidated later with a higher MMR: {sorted(later.items())[:5]}"
        for t, (a, b) in enumerate(zip(listed_a, listed_b)):
            assert a <= b, f"tick {t}: flagged at the lower MMR only: {sorted(a - b)[:5]}"
        assert sum(1 for k in first_b if first_b[k] < first_a.get(k, 1 << 30)) > 0  # not vacuous

    @pytest.mark.parametrize("seed", [41, 42])
    def test_more_margin_never_liquidates_earlier(self, seed: int) -> None:
        """With extra margin in every bucket and cross wallet (same positions, same path) no scope is flagged earlier."""
        path = price_path(seed, 250, tuple(BASE))
        base = build_world(seed, n_isolated=400, n_cross=100)
        rich = build_world(seed, n_isolated=400, n_cross=100, extra_margin_seed=seed + 1)
        first_a, listed_a = first_liquidations(base, path)
        first_b, listed_b = first_liquidations(rich, path)
        earlier = {k: (first_a.get(k), first_b[k]) for k in first_b if first_b[k] < first_a.get(k, 1 << 30)}
        assert not earlier, f"liquidated earlier with more margin: {sorted(earlier.items())[:5]}"
        for t, (a, b) in enumerate(zip(listed_a, listed_b)):
            assert b <= a, f"tick {t}: flagged only with more margin: {sorted(b - a)[:5]}"
        assert len(first_b) < len(first_a)  # not vacuous: the extra margin saved someone


# ---------------------------------------------------------------------- exact boundaries
def naive_of(h: LedgerHarness, key: Key, marks: dict[str, int]) -> tuple[int, int]:
    """The naive figures at marks given in ticks (exact; balance in 1e-8 atoms)."""
    naive = NaiveRisk(tuple(m.instrument for m in h.ex.markets.values()))
    naive.marks.update({s: t * PER_TICK[s] for s, t in marks.items()})
    return naive.figures(h.ledger)[key]


def take(h: LedgerHarness, account: int, side: int, qty: int, px: int, symbol: str = "BTCUSDT", pside: int = BOTH) -> None:
    h.level(side ^ 1, px, qty, symbol=symbol)
    h.new(account, side, qty, px, tif=IOC, symbol=symbol, pside=pside)


def boundary(h: LedgerHarness, key: Key, symbol: str, marks: dict[str, int], start: int, step: int, pred: Any) -> int:
    """The first mark (walking from ``start`` by ``step`` ticks) at which the naive ``pred`` holds."""
    m = start
    trial = dict(marks)
    while True:
        trial[symbol] = m
        if pred(naive_of(h, key, trial)):
            return m
        m += step
        assert 0 < m < 10 * start, "no boundary"


def isolated_harness(side: int, leverage: int, qty: int, *, px: int = P) -> LedgerHarness:
    h = LedgerHarness(exchange_kwargs={"liquidations": False})
    h.deposit(1, 10**14)
    h.margin_mode(1, ISOLATED)
    h.leverage(1, leverage)
    h.mark(px)
    take(h, 1, side, qty, px)
    return h


class TestExactTicks:
    @pytest.mark.parametrize("side", [BUY, SELL])
    def test_isolated_margin_call_and_liquidation_at_the_exact_tick(self, side: int) -> None:
        """An isolated bucket gets its MarginCall at the first tick with ratio >= 80 % and Liquidatable at the first with balance <= MM, not a tick before."""
        h = isolated_harness(side, 100, 10)
        key = ("I", 1, "BTCUSDT", BOTH)
        step = -1 if side == BUY else 1
        warn_px = boundary(h, key, "BTCUSDT", {}, P, step * 50, warned)
        warn_px = boundary(h, key, "BTCUSDT", {}, warn_px - step * 50, step, warned)
        liq_px = boundary(h, key, "BTCUSDT", {}, warn_px, step, liquidatable)
        assert not of_type(h.mark(warn_px - step), MarginCall)
        (mc,) = of_type(h.mark(warn_px), MarginCall)
        assert (mc.margin_balance_atoms, mc.maint_margin_atoms) == in_atoms(naive_of(h, key, {"BTCUSDT": warn_px}))
        events = h.mark(liq_px - step)
        assert not of_type(events, Liquidatable) and not of_type(events, MarginCall)
        (liq,) = of_type(h.mark(liq_px), Liquidatable)
        assert (liq.margin_balance_atoms, liq.maint_margin_atoms) == in_atoms(naive_of(h, key, {"BTCUSDT": liq_px}))
        assert liq.margin_balance_atoms <= liq.maint_margin_atoms

    @pytest.mark.parametrize("side", [BUY, SELL])
    def test_liquidation_tick_in_another_bracket_than_the_entry(self, side: int) -> None:
        """A 290,000 USDT position at 20x liquidates in the bracket of its liquidation notional, exactly at the naive tick."""
        # 4_833 lots at 60,000 = 289,980 USDT: bracket 3 (MMR 0.65 %); a short's liquidation
        # notional is above 300,000 (bracket 4, MMR 1 %); a long's stays in bracket 3
        h = isolated_harness(side, 20, 4_833)
        key = ("I", 1, "BTCUSDT", BOTH)
        step = -1 if side == BUY else 1
        coarse = boundary(h, key, "BTCUSDT", {}, P, step * 100, liquidatable)
        liq_px = boundary(h, key, "BTCUSDT", {}, coarse - step * 100, step, liquidatable)
        if side == SELL:
            assert 4_833 * liq_px * 10_000 >= 300_000 * USDT  # the bracket changed on the way
        for m in range(coarse - step * 100, liq_px, step * 7):
            assert not of_type(h.mark(m), Liquidatable), m
        assert not of_type(h.mark(liq_px - step), Liquidatable)
        assert of_type(h.mark(liq_px), Liquidatable)

    def test_cross_pool_flagged_at_the_exact_tick(self) -> None:
        """A cross pool over two instruments is flagged at exactly the tick where wallet + ΣUPnL <= ΣMM."""
        h = LedgerHarness(BTC, ETH, exchange_kwargs={"liquidations": False})
        h.deposit(1, 300 * USDT)
        h.mark(P)
        h.mark(300_000, symbol="ETHUSDT")
        take(h, 1, BUY, 50, P)  # 3,000 USDT long BTC
        take(h, 1, SELL, 500, 300_000, symbol="ETHUSDT")  # 1,500 USDT short ETH
        h.mark(310_000, symbol="ETHUSDT")  # the short loses 50 USDT
        marks = {"BTCUSDT": P, "ETHUSDT": 310_000}
        key = ("C", 1)
        warn_px = boundary(h, key, "BTCUSDT", marks, P, -1, warned)
        liq_px = boundary(h, key, "BTCUSDT", marks, warn_px, -1, liquidatable)
        for m in range(P, warn_px, -97):
            assert not of_type(h.mark(m), MarginCall), m
        assert not of_type(h.mark(warn_px + 1), MarginCall)
        assert of_type(h.mark(warn_px), MarginCall)
        assert not of_type(h.mark(liq_px + 1), Liquidatable)
        (liq,) = of_type(h.mark(liq_px), Liquidatable)
        assert liq.scope == "CROSS"
        assert (liq.margin_balance_atoms, liq.maint_margin_atoms) == in_atoms(naive_of(h, key, {"BTCUSDT": liq_px, "ETHUSDT": 310_000}))

    def test_cross_pool_flagged_when_its_other_instrument_moves(self) -> None:
        """The pool's ETH leg moving against it flags the pool at the exact ETH tick."""
        h = LedgerHarness(BTC, ETH, exchange_kwargs={"liquidations": False})
        h.deposit(1, 300 * USDT)
        h.mark(P)
        h.mark(300_000, symbol="ETHUSDT")
        take(h, 1, BUY, 50, P)
        take(h, 1, SELL, 500, 300_000, symbol="ETHUSDT")
        h.mark(595_000)
        marks = {"BTCUSDT": 595_000, "ETHUSDT": 300_000}
        key = ("C", 1)
        coarse = boundary(h, key, "ETHUSDT", marks, 300_000, 100, liquidatable)
        liq_px = boundary(h, key, "ETHUSDT", marks, coarse - 100, 1, liquidatable)
        assert not of_type(h.mark(liq_px - 1, symbol="ETHUSDT"), Liquidatable)
        assert of_type(h.mark(liq_px, symbol="ETHUSDT"), Liquidatable)


class TestRecovery:
    def test_price_recovery_then_new_fall_reports_again(self) -> None:
        """A scope that recovers by price and falls again gets a new Liquidatable."""
        h = isolated_harness(BUY, 100, 10)
        key = ("I", 1, "BTCUSDT", BOTH)
        liq_px = boundary(h, key, "BTCUSDT", {}, P, -1, liquidatable)
        assert of_type(h.mark(liq_px), Liquidatable)
        assert not of_type(h.mark(liq_px - 10), Liquidatable)  # still flagged: not repeated
        h.mark(P)
        assert not h.ledger.liquidatable
        assert of_type(h.mark(liq_px), Liquidatable)

    def test_deposit_that_restores_a_pool_clears_its_flag(self) -> None:
        """A deposit that lifts a flagged cross pool above its maintenance margin unlists it (Ledger.liquidatable: 'not yet closed or recovered')."""
        h = LedgerHarness(exchange_kwargs={"liquidations": False})
        h.deposit(1, 2_000 * USDT)
        h.leverage(1, 50)
        h.mark(P)
        take(h, 1, BUY, 1_000, P)
        assert of_type(h.mark(580_000), Liquidatable)
        h.deposit(1, 10_000 * USDT)
        balance, mm = h.ledger.cross_margin_balance(h.acct(1))
        assert balance > mm
        assert not h.ledger.liquidatable, "a recovered pool is still listed liquidatable"

    def test_pool_restored_by_deposit_is_reported_again_when_it_falls(self) -> None:
        """After a deposit restores a flagged pool, the next fall through its maintenance margin emits a new Liquidatable."""
        h = LedgerHarness(exchange_kwargs={"liquidations": False})
        h.deposit(1, 2_000 * USDT)
        h.leverage(1, 50)
        h.mark(P)
        take(h, 1, BUY, 1_000, P)
        assert of_type(h.mark(580_000), Liquidatable)
        h.deposit(1, 500 * USDT)  # back above MM at 58,000 ...
        balance, mm = h.ledger.cross_margin_balance(h.acct(1))
        assert balance > mm
        events = h.mark(570_000)  # ... and below it again
        balance, mm = h.ledger.cross_margin_balance(h.acct(1))
        assert balance <= mm
        assert of_type(events, Liquidatable), "the second failure of the pool was not reported"

    def test_isolated_margin_added_then_fall_reports_again(self) -> None:
        """Margin added to a flagged bucket restores it; the next fall emits a new Liquidatable."""
        h = isolated_harness(BUY, 100, 10)
        key = ("I", 1, "BTCUSDT", BOTH)
        liq_px = boundary(h, key, "BTCUSDT", {}, P, -1, liquidatable)
        assert of_type(h.mark(liq_px), Liquidatable)
        h.adjust(1, 300_000_000)  # +3 USDT: 300 ticks of room on 10 lots
        assert not liquidatable(naive_of(h, key, {"BTCUSDT": liq_px}))
        again = boundary(h, key, "BTCUSDT", {}, liq_px, -1, liquidatable)
        assert of_type(h.mark(again), Liquidatable), "the second failure of the bucket was not reported"

    def test_margin_call_rearmed_after_recovery_below_80_percent(self) -> None:
        """RiskIndex.warned is 're-armed when they recover': a bucket back below 80 % gets a new MarginCall when it reaches 80 % again."""
        h = isolated_harness(BUY, 100, 10)
        key = ("I", 1, "BTCUSDT", BOTH)
        warn_px = boundary(h, key, "BTCUSDT", {}, P, -1, warned)
        assert of_type(h.mark(warn_px), MarginCall)
        h.mark(P)  # back to a 40 % ratio
        assert not warned(naive_of(h, key, {"BTCUSDT": P}))
        assert of_type(h.mark(warn_px), MarginCall), "no MarginCall after the ratio recovered and reached 80 % again"


class TestBeforeTheFirstMark:
    def test_trade_that_moves_the_valuation_price_checks_other_positions(self) -> None:
        """Before any mark, positions are valued at the last trade (Ledger.mark_ticks); a trade that takes a bystander's bucket to its maintenance margin flags it."""
        h = LedgerHarness(exchange_kwargs={"liquidations": False})
        for a in (1, 2, 3):
            h.deposit(a, 10_000 * USDT)
        h.margin_mode(1, ISOLATED)
        h.leverage(1, 100)
        take(h, 1, BUY, 10, P)  # bucket 6 USDT, MM at 59,400: 2.376 USDT
        h.new(2, SELL, 10, 594_000)
        events = h.new(3, BUY, 10, 594_000)  # last trade 59,400: UPnL -6 USDT, balance 0
        pos = h.pos(1)
        assert pos is not None
        balance, mm = h.ledger.isolated_margin_balance(pos)
        assert balance <= mm
        assert of_type(events, Liquidatable), "bucket at its maintenance margin not reported"


class TestStaleEntries:
    """A withdrawn trigger stays in its heap, stale, until it comes to the top or the heap
    is compacted: it never pops its scope, and a heap never holds more than
    ``2 × live + STALE_SLACK`` entries."""

    @staticmethod
    def index() -> tuple[Any, list[Position]]:
        from exsim.ledger.risk_index import RiskIndex

        risk = RiskIndex(Ledger([BTC]))
        return risk, [Position(a, "BTCUSDT", BOTH, True, 20) for a in (1, 2, 3)]

    def test_a_scope_refiled_many_times_pops_once_at_its_last_trigger(self) -> None:
        from exsim.ledger.risk_index import DOWN, STALE_SLACK

        risk, (pos, *_) = self.index()
        for price in range(1_000, 2_000):  # each filing makes the one before stale
            risk.file(pos, [("BTCUSDT", DOWN, price)])
            risk._check()
        down = risk._lists["BTCUSDT"][DOWN]
        assert len(risk) == 1 and down.live == 1
        assert len(down.entries) <= 2 + STALE_SLACK, "stale entries were never compacted"
        assert risk.pop_crossed("BTCUSDT", 1_999) == [pos], "the live trigger (1,999) did not pop at 1,999"
        risk.file(pos, [("BTCUSDT", DOWN, 500)])
        assert risk.pop_crossed("BTCUSDT", 1_000) == [], "a stale trigger (1,000..1,998) popped its scope"
        assert risk.pop_crossed("BTCUSDT", 500) == [pos]
        risk._check()

    def test_a_forgotten_scope_never_pops(self) -> None:
        from exsim.ledger.risk_index import DOWN, UP

        risk, (a, b, c) = self.index()
        risk.file(a, [("BTCUSDT", DOWN, 900), ("BTCUSDT", UP, 1_100)])
        risk.file(b, [("BTCUSDT", DOWN, 800)])
        risk.file(c, [("BTCUSDT", UP, 1_200)])
        risk.forget(a)
        risk._check()
        assert [s for *_, s in risk.entries()] == [b, c]
        assert risk.pop_crossed("BTCUSDT", 850) == [] and risk.pop_crossed("BTCUSDT", 1_150) == []
        assert risk.pop_crossed("BTCUSDT", 1_200) == [c] and risk.pop_crossed("BTCUSDT", 700) == [b]
        assert len(risk) == 0
        risk._check()

    def test_refiled_at_the_same_price_pops_once(self) -> None:
        from exsim.ledger.risk_index import DOWN, UP

        risk, (a, b, _) = self.index()
        for _ in range(3):  # the same entry value stale twice beside the live one
            risk.file(a, [("BTCUSDT", DOWN, 900), ("BTCUSDT", UP, 1_100)])
        risk.file(b, [("BTCUSDT", DOWN, 950)])
        risk._check()
        assert risk.pop_crossed("BTCUSDT", 900) == [a, b]  # in the order they were first filed (seq)
        assert len(risk) == 0, "the popped pool's other trigger (UP 1,100) is still counted"
        assert risk.pop_crossed("BTCUSDT", 1_100) == [], "the popped pool's other trigger still fires"
        risk._check()


class TestOneSidedPools:
    """A cross pool whose legs are all long cannot lose slack on a rise (the equity term
    grows by ratio × q per subtick, the MM by at most MMR × q, and every MMR of the table
    is below the ratio), and an all-short pool cannot on a fall (equity up, notional
    down): each is watched in its adverse direction only, and still flagged at the exact
    tick (the full-scan tests above)."""

    @pytest.mark.parametrize("side", [BUY, SELL])
    def test_a_lone_position_is_watched_against_itself_only(self, side: int) -> None:
        from exsim.ledger.risk_index import DOWN, UP

        h = LedgerHarness(exchange_kwargs={"liquidations": False})
        h.deposit(1, 1_000 * USDT)
        take(h, 1, side, 200, P)  # 12,000 USDT: a fall of about 8 % reaches a long's warning
        acct = h.ledger.accounts[1]
        assert BTC.brackets.brackets[-1].mmr_e8 <= WARN_E8  # the premise
        watched = [(s, d) for s, d, _, scope in h.ledger.risk.entries() if scope is acct]
        assert watched == [("BTCUSDT", DOWN if side == BUY else UP)]

    def test_a_hedged_pool_is_watched_both_ways(self) -> None:
        from exsim.ledger.risk_index import DOWN, UP

        h = LedgerHarness(exchange_kwargs={"liquidations": False})
        h.deposit(1, 1_000 * USDT)
        h.ledger.set_position_mode(1, True)
        take(h, 1, BUY, 200, P, pside=LONG)
        take(h, 1, SELL, 80, P, pside=SHORT)
        acct = h.ledger.accounts[1]
        watched = sorted((s, d) for s, d, _, scope in h.ledger.risk.entries() if scope is acct)
        assert watched == [("BTCUSDT", DOWN), ("BTCUSDT", UP)]


class TestIsolatedThreshold:
    """The isolated bucket's trigger is the exact boundary of the ledger's own check
    (``ratio × balance <= MM`` on the exact figures at a subtick mark), whether the closed
    form checks at once or the search decides: compared with a plain bisection of the
    ledger's check over every positive price, on seeded positions of many sizes,
    leverages and entry prices (across brackets)."""

    @pytest.mark.parametrize("seed", [1, 2])
    def test_the_trigger_is_the_bisected_boundary_of_the_exact_check(self, seed: int) -> None:
        from exsim.ledger.risk_index import DOWN, UP, at_or_past_e8, isolated_threshold_subticks

        rng = random.Random(seed)
        for _ in range(40):
            h = LedgerHarness(exchange_kwargs={"liquidations": False})
            h.deposit(1, 10_000_000 * USDT)
            h.margin_mode(1, ISOLATED)
            h.leverage(1, rng.choice([2, 10, 20, 50, 100, 125]))
            side = rng.choice([BUY, SELL])
            take(h, 1, side, rng.choice([2, 17, 999, 5_000, 40_000]), P + rng.randrange(-300_000, 300_000))
            ledger = h.ledger
            pos = h.pos(1)
            if pos is None:
                continue  # refused (over the bracket's leverage): nothing to watch
            for ratio in (WARN_E8, 100_000_000):

                def hit(p: int) -> bool:
                    ledger.marks["BTCUSDT"] = p
                    return at_or_past_e8(ratio, *ledger.isolated_margin_balance_e8(pos))

                lo, hi = 1, 10**16  # long: hit(lo) and not hit(hi); short: the reverse
                if side == BUY and not hit(lo):
                    assert isolated_threshold_subticks(ledger, pos, ratio) is None
                    continue
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if hit(mid) == (side == BUY):
                        lo = mid
                    else:
                        hi = mid
                expected = (DOWN, lo) if side == BUY else (UP, hi)
                assert isolated_threshold_subticks(ledger, pos, ratio) == expected

    def test_a_long_backed_past_its_cost_has_no_trigger_and_one_just_short_of_it_a_low_one(self) -> None:
        """A long whose margin covers its cost (a cross pool's stand-in backed by the rest of
        the pool, as the recorder's liquidation price asks each sample) meets the ratio at
        no positive price: None. Just short of its cost it meets it only at the lowest
        prices: the exact boundary there, as the plain bisection finds it."""
        from exsim.ledger.risk_index import DOWN, at_or_past_e8, isolated_threshold_subticks

        h = LedgerHarness(exchange_kwargs={"liquidations": False})
        h.deposit(1, 10_000_000 * USDT)
        take(h, 1, BUY, 999, P)
        pos = h.pos(1)
        ledger = h.ledger
        seen_none = seen_low = 0
        for shortfall in (-10**12, -1, 0, 1, 10**3, 10**6, 10**8, 10**9):
            stand_in = Position(pos.account_id, pos.symbol, pos.position_side, True, pos.leverage)
            stand_in.qty_lots = pos.qty_lots
            stand_in.cost_atoms = pos.cost_atoms
            stand_in.margin_atoms = pos.cost_atoms - shortfall
            for ratio in (WARN_E8, 100_000_000):

                def hit(p: int) -> bool:
                    ledger.marks["BTCUSDT"] = p
                    return at_or_past_e8(ratio, *ledger.isolated_margin_balance_e8(stand_in))

                got = isolated_threshold_subticks(ledger, stand_in, ratio)
                if not hit(1):
                    assert got is None
                    seen_none += 1
                    continue
                lo, hi = 1, 10**16
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if hit(mid):
                        lo = mid
                    else:
                        hi = mid
                assert got == (DOWN, lo)
                seen_low += lo < P
        assert seen_none and seen_low  # both cases met
