"""Running a scenario: accounts and positions set up, the price path pushed through them.

One run, in order:

1. **Set up** at the start time: each account deposits; each position is opened *through
   the book* — a one-off replayed level at the position's price meets the account's IOC
   order, so the position, its margin and its fee are booked by the exchange as for any
   fill — then an isolated bucket gets the extra margin asked for. A setup step the venue
   refuses (too much leverage for the bracket, not enough margin) stops the run with an
   error naming the scenario line.
2. **Book**: a synthetic ladder per instrument, ``levels`` deep each side, ``step_ticks``
   apart, ``depth`` of notional per level; best bid = mark − ``spread_ticks`` // 2, best
   ask = best bid + ``spread_ticks``. With ``follow_mark`` it is re-centred on every mark
   of the path *before* the mark is applied (liquidations then meet a book at the new
   price); without it, it is built once and only trades move it. ``[[book.shocks]]``
   change the depth and spread over time (:meth:`BookSpec.figures_at`, a step or a ramp):
   every re-centring takes the figures of its time, and at a shock's start and its ramp's
   end every ladder is re-set around its mark (:class:`BookStep`, before that instant's
   orders).
3. **Timeline** through the :class:`~exsim.loop.EventLoop`: the path's marks (priority of a
   mark), the accounts' orders and margin moves (commands), funding every interval.
   ``mark = "book"`` makes the book's mid the mark after every command: a liquidation
   that sells into a thin book moves the mid, the new mark may liquidate the next
   accounts — a cascade, each round a *generation*.

**Multi-asset collateral** (:mod:`exsim.scenario.collateral`): at setup each
``[collateral.ASSET]`` sends its rule and first index point before any deposit, and a
multi-assets account is switched after its deposits; on the timeline a collateral index
that is an instrument's mark is sent right after each of its marks, an index path of its
own and the ``[[haircut_schedule]]`` changes at a mark's priority after the marks of that
instant (``CollateralIndex``, ``SetCollateralRule``).

Everything the exchange emits goes to :class:`~exsim.scenario.record.ScenarioRecorder`.
With ``check_every_event`` the ledger's and the exchange's ``_check()`` run after every
command (money conserved, no negative balance, books uncrossed, trigger index exact).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import attrs

from exsim.book.orders import BUY, IOC, LIMIT, SELL
from exsim.errors import InputError
from exsim.exchange import (
    AdjustIsolatedMargin,
    CollateralIndex,
    CommandRejected,
    Deposit,
    Exchange,
    Liquidation,
    NewOrder,
    OrderRejected,
    SetCollateralMode,
    SetCollateralRule,
    SetLeverage,
    SetMarginMode,
    SetMarkPrice,
    SetReplayedLevels,
    SettleFunding,
    Withdraw,
)
from exsim.ledger import Ledger
from exsim.ledger.collateral import MULTI_ASSETS, SINGLE_ASSET
from exsim.loop import PRIORITY, EventLoop
from exsim.loop.event_loop import PRIORITY_MARK, PRIORITY_MARKET_DATA
from exsim.replay.venue import check_collateral_mode, exchange_venue, run_venue, venue_instruments
from exsim.scenario.population import draw_population
from exsim.scenario.record import ScenarioRecorder
from exsim.scenario.collateral import check_multi_assets_deposits
from exsim.scenario.spec import MODE_CODES, RUN_MODES, AccountSpec, Scenario
from exsim.units import floor_div, mul_div_floor


class MarkStep(NamedTuple):
    """A point of a price path: move the synthetic book (if it follows), then the mark.

    Path points are on the tick grid (the synthetic book is built around them); the mark
    command carries them in subticks (:attr:`Instrument.subticks_per_tick` each)."""

    ts_ns: int
    symbol: str
    mark_price_ticks: int


class IndexStep(NamedTuple):
    """A point of a collateral index path (``[collateral.ASSET.index]``), in ``index_usd_e8``.
    Same-time order: a mark's priority; the marks of that instant come first."""

    ts_ns: int
    asset: str
    index_usd_e8: int


class BookStep(NamedTuple):
    """A liquidity shock's start or its ramp's end (``[[book.shocks]]``): every ladder is
    re-set around its current mark with the depth and spread in force. Same-time order:
    market data's, before the orders and the marks of that instant."""

    ts_ns: int


class RegimeStep(NamedTuple):
    """The instant a correlation regime takes over the generated paths (``[[generator.regimes]]``):
    nothing changes in the market; the accounts are sampled (``why = "regime"``) after the
    marks of that instant, so the switch shows in the time series."""

    ts_ns: int


class ScenarioRun:
    """One run of a scenario in one margin mode. Build it, then :meth:`run` (once)."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        margin_mode: str | None = None,
        out_dir: str | Path | None = None,
        check_every_event: bool = False,
        venue: str | None = None,
    ) -> None:
        #: the run's mode: isolated, cross or multi-assets (cross margin, multi-assets collateral)
        self.mode = margin_mode or scenario.margin_mode
        if self.mode not in RUN_MODES:
            raise InputError(f"{self.mode!r} is not one of {', '.join(RUN_MODES)}", field="margin_mode")
        #: the venue whose rules the run follows: ``venue`` (``--venue``) wins over the file's;
        #: ``venue_from`` says which named it ("--venue", "file" or "default": Binance)
        self.venue_from = "--venue" if venue is not None else ("file" if scenario.venue is not None else "default")
        option = "venue" if self.venue_from == "file" else "--venue"
        where = scenario.venue_where if self.venue_from == "file" else scenario.source
        self.venue = run_venue(venue if venue is not None else scenario.venue, where=where, field=option)
        #: what the run had to decide about the venue's terms (an asset it ships no tiers for)
        self.venue_notes: list[str] = []
        if not self.venue.is_binance:  # the instruments under the venue's terms (Binance's: the file's, untouched)
            scenario = attrs.evolve(scenario, instruments=tuple(
                venue_instruments(self.venue, scenario.instruments, where=where, option=option, notes=self.venue_notes)))
        self.scenario = scenario
        #: the margin mode of positions that do not fix one
        self.margin_mode = "cross" if self.mode == MULTI_ASSETS else self.mode
        accounts: list[AccountSpec] = list(scenario.accounts)
        if scenario.population is not None:
            pop = scenario.population
            accounts += draw_population(pop, scenario.instrument(pop.symbol), len(accounts) + 1, self.margin_mode)
        self.accounts = accounts
        #: each account's collateral mode in this run (see :meth:`collateral_mode_of`)
        self.collateral_modes = {a.account_id: self.collateral_mode_of(a) for a in accounts}
        check_collateral_mode(self.venue, MULTI_ASSETS in self.collateral_modes.values(), where=where, option=option,
                              instead="run it in isolated or cross margin with single-asset accounts (--mode, the file's "
                              "margin_mode and collateral_mode)")
        self.check_every_event = check_every_event
        extra = scenario.collateral_assets  # (a book for each asset only given as collateral)
        self.ledger = (Ledger(scenario.instruments, insurance_fund_atoms=scenario.insurance_fund_atoms, assets=extra)
                       if extra else Ledger(scenario.instruments, insurance_fund_atoms=scenario.insurance_fund_atoms))
        #: symbol -> the collateral assets whose index is its mark (``index = "path:SYMBOL"``)
        self.index_follows: dict[str, list[str]] = {}
        for asset, c in sorted(scenario.collateral.items()):
            if c.follows:
                self.index_follows.setdefault(c.follows, []).append(asset)
        self.recorder = ScenarioRecorder(self, out_dir)
        self.exchange = Exchange(scenario.instruments, sinks=[self._on_events], ledger=self.ledger, emit_book_deltas=False,
                                 **exchange_venue(self.venue))
        priorities = dict(PRIORITY)
        priorities[MarkStep] = PRIORITY_MARK
        priorities[IndexStep] = PRIORITY_MARK
        priorities[BookStep] = PRIORITY_MARKET_DATA
        priorities[RegimeStep] = PRIORITY_MARK
        self.loop = EventLoop(self, priorities=priorities)
        self.ladder: dict[str, dict[tuple[int, int], int]] = {s.symbol: {} for s in scenario.instruments}
        self.setup_errors: list[str] = []
        self.in_setup = False
        self.generation = 0  # cascade round of the mark being applied (book-driven marks)
        self.commands = 0
        self.fund_atoms = scenario.insurance_fund_atoms

    def collateral_mode_of(self, acct: AccountSpec) -> str:
        """The account's own ``collateral_mode`` if it fixes one; else multi-assets in a
        multi-assets run, unless a position of it is fixed isolated (it keeps single-asset,
        as a position that fixes its margin mode keeps it); else single-asset."""
        if acct.collateral_mode is not None:
            return acct.collateral_mode
        if self.mode == MULTI_ASSETS and not any(p.margin_mode == "isolated" for p in acct.positions):
            return MULTI_ASSETS
        return SINGLE_ASSET

    # ------------------------------------------------------------------ running
    def run(self) -> dict[str, Any]:
        sc = self.scenario
        t0 = sc.start_ns
        self._setup(t0)
        self.recorder.sample(t0, "opened")  # positions valued at their entry prices (no mark yet)
        for symbol, path in sc.paths.items():
            self._mark_step(MarkStep(t0, symbol, path[0][1]))
        self.recorder.sample(t0, "start")
        self.loop.add_source(self._timeline(), name=f"scenario {sc.name}")
        self.loop.run()
        return self.recorder.finish()

    def _timeline(self) -> list[Any]:
        sc = self.scenario
        t0 = sc.start_ns
        items: list[Any] = []
        if sc.mark_source == "path":
            for symbol, path in sc.paths.items():
                items += [MarkStep(t0 + t, symbol, ticks) for t, ticks in path[1:]]
        items += [RegimeStep(t0 + r.at_ns) for r in sc.regime_switches]  # (after the marks of that instant)
        items += [BookStep(t0 + t) for t in sorted({t for x in sc.book.shocks for t in (x.at_ns, x.end_ns)})]
        for asset, c in sorted(sc.collateral.items()):  # (an index that follows a mark is sent with it)
            if not c.follows:
                items += [IndexStep(t0 + t, asset, e8) for t, e8 in c.index_path[1:]]
        if sc.rule_steps:
            items += [SetCollateralRule(t0 + r.at_ns, r.asset, r.bid_buffer_e8, r.ask_buffer_e8, r.tiers)
                      for r in sc.rule_steps]
        for acct in self.accounts:
            for o in acct.orders:
                items.append(
                    NewOrder(t0 + o.at_ns, acct.account_id, o.symbol, o.side, o.qty_lots, o.price_ticks, o.order_type, o.tif,
                             None, o.reduce_only, o.trigger_ticks, o.trigger_by)
                )
            for a in acct.actions:
                t = t0 + a.at_ns
                home = a.asset in ("", self.ledger.home_asset)  # (the home asset's as before: linear runs unchanged)
                if a.kind == "deposit":
                    items.append(Deposit(t, acct.account_id, a.amount_atoms) if home
                                 else Deposit(t, acct.account_id, a.amount_atoms, a.asset))
                elif a.kind == "withdraw":
                    items.append(Withdraw(t, acct.account_id, a.amount_atoms) if home
                                 else Withdraw(t, acct.account_id, a.amount_atoms, a.asset))
                else:
                    sign = 1 if a.kind == "add_margin" else -1
                    items.append(AdjustIsolatedMargin(t, acct.account_id, a.symbol, 0, sign * a.amount_atoms))
        if sc.funding_interval_ns:
            end = sc.end_ns
            k = 1
            while k * sc.funding_interval_ns <= end:
                for symbol in sorted(sc.funding_rates_e8):
                    items.append(SettleFunding(t0 + k * sc.funding_interval_ns, symbol, sc.funding_rates_e8[symbol]))
                k += 1
        items.sort(key=lambda c: c.ts_ns)  # stable: same-time items keep this order; the loop applies priorities
        return items

    def submit(self, command: Any) -> None:
        """The loop's target: a path point, or a command for the exchange."""
        if type(command) is MarkStep:
            self._mark_step(command)
            self.recorder.sample(command.ts_ns, "mark")
            return
        self.generation = 0
        if type(command) is RegimeStep:
            self.recorder.sample(command.ts_ns, "regime")
            return
        if type(command) is BookStep:
            self._book_step(command.ts_ns)
            return
        if type(command) is IndexStep:
            self._index(command.ts_ns, command.asset, command.index_usd_e8)
            self.recorder.sample(command.ts_ns, "index")
            return
        self._send(command)
        if type(command) is SetCollateralRule:
            self.recorder.on_collateral(command.ts_ns, command.asset, "rule")
            self.recorder.sample(command.ts_ns, "rule")
        if self.scenario.mark_source == "book":
            self._marks_from_book(command.ts_ns)

    def _send(self, command: Any) -> None:
        self.commands += 1
        self.exchange.submit(command)
        fund = self.ledger.insurance_fund_atoms
        if fund != self.fund_atoms:  # takeovers, fees, unwinding: the fund's whole path
            self.fund_atoms = fund
            self.recorder.fund_path.append((command.ts_ns, self.generation, fund))
        if self.check_every_event:
            self.ledger._check()
            self.exchange._check()

    # ------------------------------------------------------------------ setup
    def _setup(self, t0: int) -> None:
        self.in_setup = True
        if self.scenario.collateral:
            for asset, c in sorted(self.scenario.collateral.items()):  # rules and indexes before any deposit
                self._setup_step(SetCollateralRule(t0, asset, c.bid_buffer_e8, c.ask_buffer_e8, c.tiers), c.where,
                                 f"collateral.{asset}")
                self._index(t0, asset, c.index_path[0][1])
        for acct in self.accounts:
            first = acct.positions[0] if acct.positions else None
            home = self.ledger.home_asset
            for asset, atoms in acct.deposit_list(home):  # (the home asset's Deposit as before: linear runs unchanged)
                deposit = Deposit(t0, acct.account_id, atoms) if asset == home else Deposit(t0, acct.account_id, atoms, asset)
                self._setup_step(deposit, first.where if first else "",
                                 f"{first.field.rsplit('.', 1)[0]}.deposit" if first and first.field else "deposit")
            if self.collateral_modes[acct.account_id] == MULTI_ASSETS:  # (after the deposits: they open the account)
                field = f"{acct.field}.collateral_mode" if acct.field else "collateral_mode"
                check_multi_assets_deposits(acct.deposit_list(home), self.scenario.collateral, acct.where, field)
                self._setup_step(SetCollateralMode(t0, acct.account_id, MULTI_ASSETS), acct.where, field)
            for p in acct.positions:
                mode = p.margin_mode or self.margin_mode
                inst = self.scenario.instrument(p.symbol)
                aid = acct.account_id
                self._setup_step(SetMarginMode(t0, aid, p.symbol, MODE_CODES[mode]), p.where, f"{p.field}.margin_mode")
                self._setup_step(SetLeverage(t0, aid, p.symbol, p.leverage), p.where, f"{p.field}.leverage")
                other = SELL if p.side == BUY else BUY
                self._send(SetReplayedLevels(t0, p.symbol, ((other, p.price_ticks, p.qty_lots),)))
                self._setup_step(NewOrder(t0, aid, p.symbol, p.side, p.qty_lots, p.price_ticks, LIMIT, IOC), p.where,
                                 f"{p.field}.qty")
                left = self.exchange.book(p.symbol).anonymous_lots(other, p.price_ticks)
                if left:  # the order did not take it all: say why, leave no stray liquidity
                    self._send(SetReplayedLevels(t0, p.symbol, ((other, p.price_ticks, 0),)))
                    raise InputError(
                        f"the position could not be opened ({inst.qty_str(left)} of {inst.qty_str(p.qty_lots)} left)",
                        where=p.where, field="qty",
                    )
                if p.margin_atoms is not None and mode == "isolated":
                    pos = self.ledger.account_for(aid, p.symbol).positions[(p.symbol, 0)]
                    extra = p.margin_atoms - pos.margin_atoms
                    if extra > 0:
                        self._setup_step(AdjustIsolatedMargin(t0, aid, p.symbol, 0, extra), p.where, f"{p.field}.margin")
        self.in_setup = False

    def _setup_step(self, command: Any, where: str, field: str) -> None:
        """Send a setup command; the venue's refusal stops the run, naming the scenario's field."""
        self.setup_errors.clear()
        self._send(command)
        if self.setup_errors:
            under = "" if self.venue.is_binance else f" (under {self.venue.title}'s rules and tiers: --venue {self.venue.name})"
            raise InputError(f"the exchange refused {type(command).__name__}: {self.setup_errors[0]}{under}", where=where,
                             field=field or "setup")

    # ------------------------------------------------------------------ the book and the mark
    def _mark_step(self, step: MarkStep) -> None:
        if self.scenario.book.follow_mark or not self.ladder[step.symbol]:
            self._move_ladder(step.ts_ns, step.symbol, step.mark_price_ticks)
        self.generation = 0
        per_tick = self.scenario.instrument(step.symbol).subticks_per_tick
        self._send(SetMarkPrice(step.ts_ns, step.symbol, step.mark_price_ticks * per_tick))
        self._follow_mark(step.ts_ns, step.symbol)
        if self.scenario.mark_source == "book":
            self._marks_from_book(step.ts_ns)

    def _follow_mark(self, ts: int, symbol: str) -> None:
        """The collateral indexes that are ``symbol``'s mark (``index = "path:SYMBOL"``) move
        with it, right after it: a mark in subticks (1e-8 of its price) is ``index_usd_e8``."""
        assets = self.index_follows.get(symbol)
        if assets:
            mark = self.exchange.mark_price_subticks(symbol)
            for asset in assets:
                self._index(ts, asset, mark)

    def _index(self, ts: int, asset: str, index_usd_e8: int) -> None:
        """A collateral index tick (the exchange's ``CollateralIndex``), recorded."""
        self._send(CollateralIndex(ts, asset, index_usd_e8))
        self.recorder.on_collateral(ts, asset, "index")

    def _book_step(self, ts: int) -> None:
        """A liquidity shock: every ladder re-set around its current mark (rounded down to a
        tick) with the figures in force at ``ts``; then sampled (``why = "book"``)."""
        for symbol in self.scenario.paths:
            mark = self.exchange.mark_price_subticks(symbol)
            if mark:
                self._move_ladder(ts, symbol, floor_div(mark, self.scenario.instrument(symbol).subticks_per_tick))
        self.recorder.sample(ts, "book")
        if self.scenario.mark_source == "book":
            self._marks_from_book(ts)

    def _move_ladder(self, ts: int, symbol: str, mark: int) -> None:
        """Set the synthetic ladder around ``mark``, with the depth and spread in force at
        ``ts`` (``[book]``, then its shocks): only the levels that change are sent."""
        book_spec = self.scenario.book
        inst = self.scenario.instrument(symbol)
        depth_atoms, spread_ticks = book_spec.figures_at(ts - self.scenario.start_ns)
        bid = mark - spread_ticks // 2
        ask = bid + spread_ticks
        want: dict[tuple[int, int], int] = {}
        for k in range(book_spec.levels):
            for side, px in ((BUY, bid - k * book_spec.step_ticks), (SELL, ask + k * book_spec.step_ticks)):
                if px >= 1:  # depth: notional per level in the instrument's margin asset (coin for an inverse one)
                    if inst.inverse:
                        want[(side, px)] = max(1, mul_div_floor(depth_atoms, px, inst.inverse_atoms_per_lot_tick))
                    else:
                        want[(side, px)] = max(1, floor_div(depth_atoms, px * inst.atoms_per_tick_lot))
        book = self.exchange.book(symbol)
        old = self.ladder[symbol]
        changes = [(side, px, 0) for (side, px) in old if (side, px) not in want]
        changes += [(side, px, lots) for (side, px), lots in want.items() if book.anonymous_lots(side, px) != lots]
        self.ladder[symbol] = want
        if changes:
            self._send(SetReplayedLevels(ts, symbol, tuple(changes)))

    def book_mark_ticks(self, symbol: str) -> int | None:
        """The book's mid (rounded down to a tick); the last trade when a side is empty (a swept book)."""
        book = self.exchange.book(symbol)
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None:
            return floor_div(bid + ask, 2)
        return self.exchange.last_price(symbol) or bid or ask

    def _marks_from_book(self, ts: int) -> None:
        """Mark = the book's mid, re-applied while it moves (a cascade).

        Each application is one generation: its liquidations sell (or buy) into the book,
        and what the insurance fund took over is unwound into the book on the next one
        (the exchange unwinds the fund on every mark). It ends when neither the mid nor
        the fund's position moves any more.
        """
        first = self.generation
        for symbol in self.scenario.paths:
            self.generation = first  # each instrument's rounds count from the command
            per_tick = self.scenario.instrument(symbol).subticks_per_tick
            while True:
                mid = self.book_mark_ticks(symbol)
                fund_lots = self._fund_lots(symbol)
                if mid is None or (mid * per_tick == self.exchange.mark_price_subticks(symbol) and not fund_lots):
                    break
                self.generation += 1
                self._send(SetMarkPrice(ts, symbol, mid * per_tick))
                self._follow_mark(ts, symbol)
                self.recorder.sample(ts, "book mark")
                if mid == self.book_mark_ticks(symbol) and self._fund_lots(symbol) == fund_lots:
                    break  # nothing moved: the fund's remainder has no bids to go to

    def _fund_lots(self, symbol: str) -> int:
        pos = self.ledger.fund_of(symbol).positions.get((symbol, 0))
        return pos.qty_lots if pos is not None else 0

    # ------------------------------------------------------------------ events
    def _on_events(self, events: list[Any]) -> None:
        rec = self.recorder
        for e in events:
            t = type(e)
            if t is Liquidation:
                rec.on_liquidation(e, self.generation)
            elif t is OrderRejected or t is CommandRejected:
                if self.in_setup:
                    self.setup_errors.append(e.reason)
                else:
                    rec.on_rejected(e)
        rec.log(events)
