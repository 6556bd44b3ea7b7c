"""The risk index on multi-assets accounts: conservative triggers on marks and collateral
index prices, against the exact account figures (seeded random portfolios and streams).

* ``legs_at`` values legs at a mark exactly as the ledger does;
* with every mark and every collateral index strictly inside its triggers, a
  multi-assets account is never at its threshold (the triggers are conservative), and
  one at its threshold gets none;
* driven by a stream of mark ticks, index ticks, fills and haircut changes, the index
  (pop the crossed, evaluate them exactly, re-file) flags exactly the accounts a naive
  full scan finds liquidatable, after every event — through a :class:`RiskIndex` of the
  test's own (marks and index prices set on ``ledger.marks`` / ``ledger.collateral``),
  and through the ledger itself (``on_mark``, ``set_collateral_index``,
  ``set_collateral_rule``, auto-exchange, ``evaluate_pending``).

Positions are booked straight into the ledger (the trader and its EXTERNAL mirror).
"""

from __future__ import annotations

import random

import attrs

from exsim.book.orders import BUY, SELL
from exsim.instruments import Instrument, get_instrument
from exsim.ledger import BOTH, EXTERNAL, LONG, SHORT, Ledger
from exsim.ledger.accounts import Portfolio
from exsim.ledger.collateral import CollateralRule, CollateralTier, haircut_shifted
from exsim.ledger.risk_index import (
    DEFAULT_WARN_RATIO_E8,
    DOWN,
    LIQUIDATION_RATIO_E8,
    UP,
    RiskIndex,
    collateral_key,
    legs_at,
    portfolio_triggers,
)
from exsim.testing.stress import inverse_instrument

USD = 10**8  # index_usd_e8 of 1 USD
ATOM = 10**8  # atoms per coin


def instruments() -> list[Instrument]:
    return [
        get_instrument("BTCUSDT"),
        get_instrument("ETHUSDT"),
        attrs.evolve(get_instrument("BTCUSDC"), maint_margin_basis="entry"),
        inverse_instrument("BTCUSD_PERP"),
    ]


BASE = {"BTCUSDT": 600_000, "ETHUSDT": 300_000, "BTCUSDC": 600_000, "BTCUSD_PERP": 600_000}  # ticks
BTC_TIERS = (CollateralTier(10 * ATOM, 95_000_000), CollateralTier(20 * ATOM, 90_000_000), CollateralTier(None, 80_000_000))


def new_ledger(rng: random.Random) -> Ledger:
    ledger = Ledger(instruments(), default_leverage=rng.choice([5, 10, 20, 50]), assets=("BTC",))
    ledger.collateral["USDT"] = CollateralRule("USDT", rng.choice([99_000_000, USD]), 1_000_000, 500_000)
    ledger.collateral["BTC"] = CollateralRule(
        "BTC", 60_000 * USD, rng.choice([0, 2_000_000]), rng.choice([0, 1_000_000]),
        BTC_TIERS if rng.random() < 0.5 else (CollateralTier(None, 95_000_000),),
    )
    for inst in ledger.instruments.values():
        ledger.marks[inst.symbol] = BASE[inst.symbol] * inst.subticks_per_tick
    return ledger


def book(ledger: Ledger, account: int, symbol: str, side: int, lots: int, price_ticks: int, pside: int = BOTH) -> None:
    """A fill of ``lots`` at ``price_ticks`` between ``account`` and the EXTERNAL mirror."""
    ledger.account_for(account, symbol)  # the wallet of the settlement asset (a portfolio links it)
    ledger.apply_fill(account, 0, symbol, side, lots, price_ticks, 0, pside)
    ledger.apply_fill(EXTERNAL, 0, symbol, side ^ 1, lots, price_ticks, 0, BOTH)


def random_trader(ledger: Ledger, rng: random.Random, account: int) -> Portfolio:
    """A multi-assets trader: USDT / USDC / BTC wallets (some empty), a few cross
    positions (BTCUSDT, ETHUSDT, BTCUSDC, BTCUSD_PERP), hedge legs sometimes."""
    hedge = rng.random() < 0.2
    for asset, unit in (("USDT", 10**8), ("USDC", 10**8), ("BTC", 10**8)):
        ledger.account(account, asset)  # every wallet exists (some stay empty)
        if hedge:
            ledger.set_position_mode(account, True, asset)
        if rng.random() < 0.7:
            amount = rng.randrange(1, 50_000) * unit if asset != "BTC" else rng.randrange(1, 40 * ATOM)
            ledger.deposit(account, amount, asset)
    for symbol in rng.sample(list(BASE), rng.randrange(0, 4)):
        inst = ledger.instruments[symbol]
        px = BASE[symbol] + rng.randrange(-30_000, 30_000)
        if inst.inverse:
            lots = rng.randrange(1, 3_000)  # contracts of 100 USD
        else:
            lots = max(1, rng.randrange(100, 200_000) * 10**8 // (px * inst.atoms_per_tick_lot))
        if hedge:
            book(ledger, account, symbol, BUY, lots, px, LONG)
            if rng.random() < 0.6:
                book(ledger, account, symbol, SELL, max(1, lots * rng.randrange(1, 200) // 100), px, SHORT)
        else:
            book(ledger, account, symbol, rng.choice([BUY, SELL]), lots, px)
    return portfolio_of(ledger, account)


def portfolio_of(ledger: Ledger, account: int) -> Portfolio:
    return Portfolio(account, {a: b.accounts[account] for a, b in ledger.assets.items() if account in b.accounts})


def liquidatable_at(ledger: Ledger, pf: Portfolio, ratio: int, marks: dict[str, int], indexes: dict[str, int]) -> bool:
    """The exact condition with ``marks`` and ``indexes`` in place (restored after)."""
    saved_marks = dict(ledger.marks)
    saved_rules = {a: r.copy() for a, r in ledger.collateral.items()}
    ledger.marks.update(marks)
    for asset, index in indexes.items():
        ledger.collateral[asset].index_usd_e8 = index
    try:
        return ledger.portfolio_figures(pf.account_id).liquidatable(ratio)
    finally:
        ledger.marks.clear()
        ledger.marks.update(saved_marks)
        ledger.collateral.update(saved_rules)


def inside(rng: random.Random, now: int, lo: int | None, hi: int | None, floor: int) -> int:
    """A price strictly inside ``(lo, hi)`` (None: open), mostly next to an edge."""
    bottom = floor if lo is None else lo + 1
    top = hi - 1 if hi is not None else max(now, bottom) * 8
    if top < bottom:
        return now
    pick = rng.random()
    if pick < 0.3:
        return bottom
    if pick < 0.6:
        return top
    if pick < 0.7:
        return now if bottom <= now <= top else bottom
    return rng.randrange(bottom, top + 1)


class TestLegsAt:
    def test_legs_at_the_mark_are_the_ledgers_figures(self) -> None:
        """``legs_at`` at the current mark gives the ledger's Σ UPnL and Σ MM of the legs, for
        linear, entry-basis and inverse instruments, one-way and hedge legs."""
        rng = random.Random(17)
        compared = 0
        for account in range(1, 60):
            ledger = new_ledger(rng)
            pf = random_trader(ledger, rng, account)
            for acct in pf.accounts.values():
                per: dict[str, list] = {}
                for pos in acct.positions.values():
                    per.setdefault(pos.symbol, []).append(pos)
                for symbol, legs in per.items():
                    want_u = sum(ledger.position_figures_e8(p)[1] for p in legs)
                    want_m = sum(ledger.position_figures_e8(p)[2] for p in legs)
                    assert legs_at(ledger.instruments[symbol], legs, ledger.marks[symbol]) == (want_u, want_m)
                    compared += 1
        assert compared > 50


class TestConservativeBands:
    def test_states_inside_the_triggers_are_never_at_the_threshold(self) -> None:
        """Random multi-assets accounts (USDT / USDC / BTC wallets, BTC tiers and buffers,
        linear, entry-basis and inverse positions): marks and collateral indexes drawn strictly
        inside every trigger (or left where they are) never bring the account to its ratio."""
        rng = random.Random(1717)
        trials = gave_up = filed = 0
        for account in range(1, 250):
            ledger = new_ledger(rng)
            pf = random_trader(ledger, rng, account)
            for symbol in BASE:  # the marks have moved since the fills
                inst = ledger.instruments[symbol]
                ledger.marks[symbol] = (BASE[symbol] + rng.randrange(-60_000, 60_000)) * inst.subticks_per_tick
            ledger.collateral["BTC"].index_usd_e8 = rng.randrange(30_000, 90_000) * USD
            for ratio in (LIQUIDATION_RATIO_E8, DEFAULT_WARN_RATIO_E8):
                triggers = portfolio_triggers(ledger, pf, ratio)
                exact = ledger.portfolio_figures(account).liquidatable(ratio)
                if triggers is None:
                    gave_up += not exact
                    continue
                assert not exact, "an account at its threshold gets no triggers"
                filed += 1
                bands: dict[str, list[int | None]] = {}
                for key, direction, price in triggers:
                    bands.setdefault(key, [None, None])[0 if direction == DOWN else 1] = price
                for _ in range(25):
                    marks = {}
                    for symbol in BASE:
                        lo, hi = bands.get(symbol, [None, None])
                        if symbol not in bands and rng.random() < 0.5:
                            continue  # an instrument the account does not hold: anything
                        marks[symbol] = inside(rng, ledger.marks[symbol], lo, hi, 1)
                    indexes = {}
                    for asset in ("USDT", "USDC", "BTC"):
                        lo, hi = bands.get(collateral_key(asset), [None, None])
                        if collateral_key(asset) in bands or rng.random() < 0.5:
                            indexes[asset] = inside(rng, ledger.collateral[asset].index_usd_e8, lo, hi, 0)
                    assert not liquidatable_at(ledger, pf, ratio, marks, indexes), (ratio, marks, indexes, triggers)
                    trials += 1
        assert filed > 300 and trials > 8_000
        assert gave_up <= filed // 50, "the verification gives up only next to the threshold"

    def test_a_collateral_only_account_is_watched_on_its_indexes_only(self) -> None:
        """A trader holding only BTC and USDT (no position) is watched on ``@BTC`` and ``@USDT``;
        with no requirement and no debt a rise cannot hurt it, so it has no UP trigger."""
        ledger = new_ledger(random.Random(3))
        ledger.deposit(1, 2 * ATOM, "BTC")
        ledger.deposit(1, 100 * 10**8, "USDT")
        triggers = portfolio_triggers(ledger, portfolio_of(ledger, 1), LIQUIDATION_RATIO_E8)
        assert triggers is not None
        assert {k for k, _, _ in triggers} <= {"@BTC", "@USDT"}
        assert all(d == DOWN for _, d, _ in triggers)

    def test_a_btc_backed_long_has_wide_bands_when_far_from_its_threshold(self) -> None:
        """2 BTC of collateral (about 114,000 USD after the haircut) backing a 0.1 BTC long
        at 20x: a 1 % move of BTC fires neither the mark nor the index trigger."""
        ledger = new_ledger(random.Random(4))
        ledger.deposit(1, 2 * ATOM, "BTC")
        ledger.account(1, "USDT")
        book(ledger, 1, "BTCUSDT", BUY, 100, 600_000)
        triggers = portfolio_triggers(ledger, portfolio_of(ledger, 1), LIQUIDATION_RATIO_E8)
        assert triggers is not None
        per_tick = ledger.instruments["BTCUSDT"].subticks_per_tick
        for key, direction, price in triggers:
            if key == "BTCUSDT":
                now = 600_000 * per_tick
            else:
                now = ledger.collateral[key[1:]].index_usd_e8
            # outside a ±1 % band on either side
            assert (price < now * 99 // 100) if direction == DOWN else (price > now * 101 // 100), (key, direction, price)


class TestAgainstNaiveScan:
    def test_streams_flag_exactly_the_liquidatable_accounts(self) -> None:
        """Seeded streams of mark ticks, collateral index ticks (drifts and crashes), fills and
        haircut changes over 40 multi-assets traders: after every event the index (pop the
        crossed, evaluate exactly, re-file) flags the accounts a full exact scan finds at
        their maintenance margin, no more and no fewer."""
        for seed in (1, 2, 3):
            rng = random.Random(seed)
            ledger = new_ledger(rng)
            risk = RiskIndex(ledger)
            pfs = {a: random_trader(ledger, rng, a) for a in range(1, 41)}
            flagged: set[int] = set()
            retry: set[int] = set()  # accounts whose band could not be verified: evaluated every event
            popped_total = 0

            def refile(a: int) -> None:
                pf = pfs[a]
                triggers = portfolio_triggers(ledger, pf, LIQUIDATION_RATIO_E8)
                risk.unfile(pf)
                flagged.discard(a)
                retry.discard(a)
                if triggers is None:
                    if ledger.portfolio_figures(a).liquidatable(LIQUIDATION_RATIO_E8):
                        flagged.add(a)
                    else:
                        retry.add(a)
                else:
                    risk.file(pf, triggers)

            for a in pfs:
                refile(a)
            for step in range(1_500):
                kind = rng.random()
                if kind < 0.45:
                    symbol = rng.choice(list(BASE))
                    inst = ledger.instruments[symbol]
                    move = rng.randrange(-40, 41) * inst.subticks_per_tick * (60 if rng.random() < 0.03 else 1)
                    ledger.marks[symbol] = max(inst.subticks_per_tick, ledger.marks[symbol] + move + rng.randrange(-999, 1000))
                    popped = risk.pop_crossed(symbol, ledger.marks[symbol])
                elif kind < 0.8:
                    asset = rng.choice(["BTC", "BTC", "USDT"])
                    rule = ledger.collateral[asset]
                    step_e8 = rule.index_usd_e8 // (20 if rng.random() < 0.03 else 2_000)
                    rule.index_usd_e8 = max(1, rule.index_usd_e8 + rng.randrange(-step_e8, step_e8 + 1))
                    popped = risk.pop_crossed(collateral_key(asset), rule.index_usd_e8)
                elif kind < 0.95:
                    a = rng.choice(list(pfs))
                    symbol = rng.choice(list(BASE))
                    inst = ledger.instruments[symbol]
                    px = ledger.marks[symbol] // inst.subticks_per_tick
                    acct = ledger.account_for(a, symbol)
                    pside = (LONG if rng.random() < 0.5 else SHORT) if acct.hedge_mode else BOTH
                    side = BUY if (pside == LONG or pside == BOTH and rng.random() < 0.5) else SELL
                    if rng.random() < 0.5 and pside != BOTH:
                        side ^= 1  # reduce a hedge leg
                        pos = acct.positions.get((symbol, pside))
                        if pos is None:
                            continue
                        lots = min(abs(pos.qty_lots), rng.randrange(1, 50))
                    else:
                        lots = rng.randrange(1, 50)
                    book(ledger, a, symbol, side, lots, px, pside)
                    popped = []
                    refile(a)
                else:
                    # a haircut change re-files every holder (the ledger's rule)
                    rule = ledger.collateral["BTC"]
                    ledger.collateral["BTC"] = haircut_shifted(rule, rng.choice([-5_000_000, 5_000_000, 10_000_000]))
                    ledger.collateral["BTC"].tiers = tuple(
                        CollateralTier(u, min(r, 10**8)) for u, r in ledger.collateral["BTC"].tiers
                    )
                    popped = []
                    for a in pfs:
                        refile(a)
                popped_total += len(popped)
                for pf in popped:
                    refile(pf.account_id)  # type: ignore[union-attr]
                for a in sorted(flagged | retry):
                    refile(a)  # a flagged account may recover; an unverified one is looked at again
                naive = {a for a in pfs if ledger.portfolio_figures(a).liquidatable(LIQUIDATION_RATIO_E8)}
                assert flagged == naive, (seed, step, sorted(flagged ^ naive))
                if step % 100 == 0:
                    risk._check()
            assert popped_total > 20  # the index did fire along the way


class TestLedgerAgainstNaiveScan:
    def test_ledger_flags_exactly_the_liquidatable_portfolios(self) -> None:
        """Through the ledger itself (``on_mark``, ``set_collateral_index``,
        ``set_collateral_rule``, fills, auto-exchange, ``evaluate_pending``): after every event
        the portfolios it lists as liquidatable are exactly those a full exact scan finds at
        their maintenance margin, over seeded streams with BTC collateral, USDT debts and
        haircut shocks; the risk index stays consistent."""
        flagged_ever = 0
        for seed in (11, 12):
            rng = random.Random(seed)
            ledger = Ledger(instruments(), default_leverage=20, assets=("BTC",))
            for inst in ledger.instruments.values():
                ledger.on_mark(inst.symbol, BASE[inst.symbol] * inst.subticks_per_tick)
            ledger.set_collateral_index("BTC", 60_000 * USD)
            ledger.set_collateral_index("USDT", 99_900_000)
            ledger.set_collateral_rule("BTC", CollateralRule("BTC", 60_000 * USD, 1_000_000, 1_000_000, BTC_TIERS))
            traders = list(range(1, 31))
            for a in traders:
                ledger.deposit(a, rng.randrange(1, 2_000) * 10**8, "USDT")
                assert ledger.set_collateral_mode(a, "multi-assets") is None
                ledger.deposit(a, rng.randrange(ATOM // 1_000, ATOM // 10), "BTC")  # 60 to 6,000 USD
                if rng.random() < 0.5:
                    ledger.deposit(a, rng.randrange(1, 2_000) * 10**8, "USDC")
                for symbol in rng.sample(list(BASE), rng.randrange(1, 4)):
                    inst = ledger.instruments[symbol]
                    lots = rng.randrange(1, 400) if inst.inverse else rng.randrange(1, 3_000)
                    book(ledger, a, symbol, rng.choice([BUY, SELL]), lots, BASE[symbol])
            ledger.evaluate_pending()
            ledger.settle_auto_exchange()
            for step in range(1_200):
                kind = rng.random()
                if kind < 0.45:
                    symbol = rng.choice(list(BASE))
                    inst = ledger.instruments[symbol]
                    mark = ledger.marks[symbol] + rng.randrange(-60, 61) * inst.subticks_per_tick * (40 if rng.random() < 0.02 else 1)
                    ledger.on_mark(symbol, max(inst.subticks_per_tick, mark + rng.randrange(-999, 1000)))
                elif kind < 0.8:
                    asset = rng.choice(["BTC", "BTC", "BTC", "USDT"])
                    index = ledger.collateral[asset].index_usd_e8
                    step_e8 = index // (15 if rng.random() < 0.02 else 300)
                    ledger.set_collateral_index(asset, max(1, index + rng.randrange(-step_e8, step_e8 + 1)))
                elif kind < 0.95:
                    a = rng.choice(traders)
                    symbol = rng.choice(list(BASE))
                    inst = ledger.instruments[symbol]
                    book(ledger, a, symbol, rng.choice([BUY, SELL]), rng.randrange(1, 100), ledger.marks[symbol] // inst.subticks_per_tick)
                else:
                    shift = rng.choice([-5_000_000, 5_000_000, 10_000_000])
                    rule = haircut_shifted(ledger.collateral["BTC"], shift)
                    rule.tiers = tuple(CollateralTier(u, min(r, 10**8)) for u, r in rule.tiers)
                    assert ledger.set_collateral_rule("BTC", rule) is None
                ledger.evaluate_pending()
                ledger.settle_auto_exchange()
                ledger.evaluate_pending()
                listed = {s.account_id for s in ledger.liquidatable.values() if isinstance(s, Portfolio)}
                naive = {
                    a for a in traders
                    if any(acct.positions for acct in ledger.portfolio(a).accounts.values())  # type: ignore[union-attr]
                    and ledger.portfolio_figures(a).liquidatable(LIQUIDATION_RATIO_E8)
                }
                assert listed == naive, (seed, step, sorted(listed ^ naive))
                flagged_ever += len(listed)
                if step % 100 == 0:
                    ledger.risk._check()
                    ledger._check()
        assert flagged_ever > 0  # the streams did bring accounts to their margin
