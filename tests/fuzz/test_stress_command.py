"""``exsim stress``: clean runs, same seed same hash, and a checker that catches breakage.

The command is run in-process (:func:`exsim.testing.stress.main`) for 20,000 events per run. A
checker that never fails proves nothing, so the last tests break the engine on purpose
mid-run (an extra atom in a wallet, the liquidation engine switched off) and pin that
the run stops with exit status 1, naming the event and the invariant.

:class:`TestLiquidationFiresStops` is the regression test of the bug the 10M-event run
found: a liquidation's fills moved the last price through a waiting stop order's trigger
and the stop did not fire in that command. :class:`TestReducingAnOrderIsNeverRefused` is
the second: reducing a resting order (the exchange trimming a closing order to a smaller
position, or an amend that only reduces) was refused by the ledger when the account's
room for holds was below zero, its leverage had been lowered or its position had grown
into a higher bracket — the exchange's assertion stopped the run, or the order's margin
hold no longer matched the order.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from exsim.testing import stress
from exsim.book.orders import BUY, FOK, GTC, IOC, LIMIT, SELL, STOP_MARKET, TRIGGER_LAST
from exsim.exchange import (
    AmendOrder,
    Deposit,
    Exchange,
    Liquidation,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    OrderTriggered,
    SetLeverage,
    SetMarkPrice,
    SetPositionMode,
)
from exsim.instruments import get_instrument
from exsim.ledger import Ledger
from exsim.sinks import MemorySink
from exsim.testing.stress import InvariantViolation, StressChecker, StressRun, WatchedLedger, main, watch

USDT = 10**8
EVENTS = 20_000
BTC_PER_TICK = get_instrument("BTCUSDT").subticks_per_tick  # marks are in subticks (1e-8 USDT)


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``main`` with ``args``; returns (exit status, stdout, stderr)."""
    code = main(["--no-progress", *args])
    out, err = capsys.readouterr()
    return code, out, err


def state_hash(out: str) -> str:
    match = re.search(r"final state hash\s+([0-9a-f]{32})", out)
    assert match, out
    return match.group(1)


class TestCleanRuns:
    def test_two_seeds_run_clean_and_the_same_seed_gives_the_same_hash(self, capsys: pytest.CaptureFixture[str]) -> None:
        """20,000 events on seeds 1 and 2 exit 0; seed 1 again (checked every 7th event) gives the same hash."""
        code1, out1, err1 = run_main(capsys, "--events", str(EVENTS), "--seed", "1")
        assert code1 == 0, out1 + err1
        assert "clean: every invariant held" in out1
        assert re.search(r"events\s+20,000", out1)
        assert "after every event: 20,000 full checks" in out1
        code2, out2, err2 = run_main(capsys, "--events", str(EVENTS), "--seed", "2")
        assert code2 == 0, out2 + err2
        code3, out3, err3 = run_main(capsys, "--events", str(EVENTS), "--seed", "1", "--check-every", "7")
        assert code3 == 0, out3 + err3
        assert "after every 7 events (and the last): 2,858 full checks" in out3
        assert state_hash(out1) == state_hash(out3)
        assert state_hash(out1) != state_hash(out2)

    def test_the_report_counts_every_command_kind_and_the_liquidations(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The summary lists each command kind of exsim.exchange.commands and the liquidation figures."""
        code, out, err = run_main(capsys, "--events", "6000", "--seed", "5", "--accounts", "12")
        assert code == 0, out + err
        for kind in (
            "NewOrder", "CancelOrder", "AmendOrder", "SetSelfTradePrevention", "SetReplayedLevels",
            "ClearReplayedLevels", "ReplayedTrade", "SetMarkPrice", "SetIndexPrice", "SettleFunding", "Deposit",
            "Withdraw", "SetLeverage", "SetMarginMode", "SetPositionMode", "AdjustIsolatedMargin",
        ):
            assert re.search(rf"^\s+{kind}\s+[\d,]+$", out, re.M), kind
        for label in ("events/s", "fills", "liquidations isolated", "liquidations cross", "ADL", "fund takeovers",
                      "uncovered loss", "final state hash"):
            assert label in out, label

    def test_bad_arguments_exit_with_status_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An unknown symbol is refused with a message, not a traceback."""
        code, out, err = run_main(capsys, "--events", "10", "--seed", "1", "--symbols", "NOPEUSDT")
        assert code == 2
        assert "unknown symbol 'NOPEUSDT'" in err
        with pytest.raises(SystemExit):
            main(["--events", "0", "--seed", "1"])


class TestTheCheckerCatchesBreakage:
    def test_an_atom_out_of_nowhere_stops_the_run_at_that_event(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A deposit that credits one atom more than it records breaks conservation: exit 1 at that event."""
        original = WatchedLedger.deposit
        broken_at: list[int] = []
        runs: list[StressRun] = []
        init = StressRun.__init__

        def remember(self: StressRun, **kw: Any) -> None:
            init(self, **kw)
            runs.append(self)

        def deposit(self: Ledger, account_id: int, atoms: int, asset: str | None = None) -> str | None:
            reason = original(self, account_id, atoms, asset)
            run = runs[-1]
            if reason is None and run.submitted >= 5_000 and not broken_at:
                self.account(account_id, asset).wallet_atoms += 1  # money out of nowhere
                broken_at.append(run.submitted)
            return reason

        monkeypatch.setattr(StressRun, "__init__", remember)
        monkeypatch.setattr(WatchedLedger, "deposit", deposit)
        code, out, err = run_main(capsys, "--events", str(EVENTS), "--seed", "3")
        assert code == 1
        assert broken_at
        assert f"FAILED: event {broken_at[0]} (Deposit(" in err
        assert "invariant 'ledger _check()' broken: StateError: money not conserved" in err
        assert "INVARIANT BROKEN" in out
        assert re.search(rf"events\s+{broken_at[0]:,}", out)

    def test_a_field_corrupted_between_commands_is_found_by_the_sweep(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A fee pool changed behind the ledger's back is found within one sweep of every structure."""
        run = StressRun(seed=4)
        original = StressRun.submit

        def submit(self: StressRun, command: Any) -> None:
            if self.submitted == 3_000:
                self.ledger.fee_pool_atoms -= 1
            original(self, command)

        monkeypatch.setattr(StressRun, "submit", submit)
        result = run.run(10_000)
        assert result.violation_invariant == "ledger _check()"
        assert 3_001 <= result.violation_event <= 3_001 + stress.SWEEP_EVERY
        assert "money not conserved" in (result.violation or "")

    def test_liquidations_switched_off_leave_liquidatable_scopes_that_are_reported(self) -> None:
        """Without its liquidation engine the exchange leaves liquidatable scopes open: the run fails."""
        run = StressRun(seed=6)
        run.exchange.liquidator = None
        result = run.run(EVENTS)
        assert result.violation is not None
        assert result.violation_invariant in (
            "nothing left pending or liquidatable", "no liquidatable scope left open (full scan)",
        )
        assert f"event {result.violation_event} (" in result.violation


# ------------------------------------------------------------------ regressions
class Engine:
    """BTCUSDT as shipped on a watched exchange and ledger; every command fully checked."""

    def __init__(self) -> None:
        btc = get_instrument("BTCUSDT")
        self.ledger = Ledger([btc], insurance_fund_atoms=10_000 * USDT)
        self.sink = MemorySink()
        self.ex = Exchange([btc], sinks=[self.sink], ledger=self.ledger, emit_book_deltas=False)
        watch(self.ex, self.ledger)
        self.checker = StressChecker(self.ex, self.ledger)
        self.ex.sinks.append(self.checker.on_events)
        self.ts = 0

    def submit(self, cmd: Any) -> list[Any]:
        """Run ``cmd`` at the next nanosecond, check everything, return its events."""
        self.ts += 1
        start = len(self.sink.events)
        self.ex.submit(cmd._replace(ts_ns=self.ts))
        self.checker.after_command(True, cmd)
        return self.sink.events[start:]

    def order(self, account: int, side: int, qty: int, price: int, tif: int = GTC, **kw: Any) -> list[Any]:
        return self.submit(NewOrder(0, account, "BTCUSDT", side, qty, price, LIMIT, tif, **kw))


def accepted(events: list[Any]) -> int:
    """The id of the order these events accepted."""
    ids = [e.order_id for e in events if type(e) is OrderAccepted]
    assert len(ids) == 1, events
    return ids[0]


def liquidation_through_a_stop(eng: Engine) -> list[Any]:
    """Account 1 goes long 0.1 BTC at 60,000 with 1,000 USDT; a maker bids 59,000 and 58,000;
    account 3 waits with a sell stop on the last price at 59,500; the mark falls to 50,100,
    where account 1's cross pool is liquidated by selling into the 59,000 bid. Returns the
    events of that last (mark) command."""
    eng.submit(SetMarkPrice(0, "BTCUSDT", 600_000 * BTC_PER_TICK))
    eng.submit(Deposit(0, 1, 1_000 * USDT))
    eng.submit(Deposit(0, 2, 1_000_000 * USDT))
    eng.submit(Deposit(0, 3, 10_000 * USDT))
    eng.order(2, SELL, 100, 600_000)
    eng.order(1, BUY, 100, 600_000)
    assert eng.ledger.accounts[1].positions  # long 0.1 BTC
    eng.order(2, BUY, 100, 590_000)
    eng.order(2, BUY, 50, 580_000)
    eng.submit(NewOrder(0, 3, "BTCUSDT", SELL, 10, 0, STOP_MARKET, GTC, None, False, 595_000, TRIGGER_LAST))
    assert len(eng.ex.markets["BTCUSDT"].triggers) == 1
    return eng.submit(SetMarkPrice(0, "BTCUSDT", 501_000 * BTC_PER_TICK))


class TestTheCheckerOnLiquidationEvents:
    def test_a_liquidation_fill_past_the_bankruptcy_price_is_reported(self) -> None:
        """A Liquidation event whose fills are worse than its bankruptcy price breaks the run."""
        eng = Engine()
        events = liquidation_through_a_stop(eng)
        fills = [e for e in events if type(e).__name__ == "Fill" and e.taker_account_id == 1]
        liq = next(e for e in events if type(e) is Liquidation)
        bad = liq.positions[0]._replace(bankruptcy_price_ticks=fills[0].price_ticks + 1)  # a sell below it
        eng.checker._liqs.append(liq._replace(positions=(bad,)))
        eng.checker._fills.extend(fills)
        with pytest.raises(InvariantViolation, match="liquidation fills within the bankruptcy price"):
            eng.checker.after_command(False)

    def test_a_cross_liquidation_that_leaves_a_cross_position_is_reported(self) -> None:
        """A CROSS Liquidation event after which the account still holds a cross position breaks the run."""
        eng = Engine()
        events = liquidation_through_a_stop(eng)
        liq = next(e for e in events if type(e) is Liquidation)
        eng.order(2, SELL, 5, 600_000)
        eng.order(1, BUY, 5, 600_000)  # the account (re)opens a cross position afterwards
        eng.checker._liqs.append(liq)
        with pytest.raises(InvariantViolation, match="cross liquidation is all at once"):
            eng.checker.after_command(False)


class TestLiquidationFiresStops:
    def test_a_liquidation_that_trades_through_a_stop_trigger_fires_the_stop_in_the_same_command(self) -> None:
        """The stop waiting at 59,500 on the last price fires when the liquidation's sale at 59,000 prints.

        Before the fix the exchange fired stops only after the command's own orders, never
        after the liquidation orders it sends at the end of the command, so the stop kept
        waiting with the last price through its trigger (found by ``exsim stress``,
        seed 1, event 3,589: "stop orders fire when their trigger is reached").
        """
        eng = Engine()
        events = liquidation_through_a_stop(eng)
        liqs = [e for e in events if type(e) is Liquidation]
        assert [(liq.account_id, liq.scope) for liq in liqs] == [(1, "CROSS")]
        assert liqs[0].positions[0].filled_lots == 100
        assert eng.ex.last_price("BTCUSDT") <= 590_000
        triggered = [e for e in events if type(e) is OrderTriggered]
        assert [(e.account_id, e.trigger_price_ticks) for e in triggered] == [(3, 595_000)]
        assert events.index(triggered[0]) > events.index(liqs[0])  # after the liquidation, not inside it
        assert not eng.ex.markets["BTCUSDT"].triggers.orders
        assert eng.ledger.accounts[3].positions[("BTCUSDT", 0)].qty_lots == -10  # sold into the 58,000 bid
        eng.checker.check_state()


class TestReducingAnOrderIsNeverRefused:
    def test_trimming_a_closing_order_after_a_losing_close_leaves_the_room_below_zero(self) -> None:
        """A closing order trimmed to the smaller position holds less: accepted even when the
        account's room for holds is below zero.

        Account 1 (hedge mode, cross, 20x, 1,000 USDT) is short 0.1 BTC at 60,000 with two
        resting closing buys (0.06 at 59,000, then 0.04 at 58,000). The mark rises to
        66,000; it buys back 0.03 with a FOK order that fills at 75,000, far above the mark:
        the realized loss leaves ``wallet + min(0, UPnL) − IM − held`` below zero. The
        position (0.07) is now smaller than its closing orders, so the exchange trims the
        newest to 0.01 — a smaller hold. Before the fix ``Ledger.rehold_order`` compared
        the (negative) change with the negative room and refused it, and the exchange's
        ``assert reason is None`` stopped the run (seed 1, event 525,489).
        """
        eng = Engine()
        ledger = eng.ledger
        short = 2  # position side SHORT
        eng.submit(SetMarkPrice(0, "BTCUSDT", 600_000 * BTC_PER_TICK))
        eng.submit(Deposit(0, 1, 1_000 * USDT))
        eng.submit(Deposit(0, 2, 1_000_000 * USDT))
        eng.submit(SetPositionMode(0, 1, True))
        eng.order(2, BUY, 100, 600_000)
        eng.order(1, SELL, 100, 600_000, IOC, position_side=short)
        assert ledger.accounts[1].positions[("BTCUSDT", short)].qty_lots == -100
        first = accepted(eng.order(1, BUY, 60, 590_000, position_side=short))
        second = accepted(eng.order(1, BUY, 40, 580_000, position_side=short))
        eng.submit(SetMarkPrice(0, "BTCUSDT", 660_000 * BTC_PER_TICK))
        eng.order(2, SELL, 30, 750_000)
        events = eng.order(1, BUY, 30, 750_000, FOK, position_side=short)
        acct = ledger.accounts[1]
        assert acct.positions[("BTCUSDT", short)].qty_lots == -70
        upnl, im, _ = ledger.cross_figures(acct)
        assert acct.wallet_atoms + min(0, upnl) - im - acct.held_atoms < 0  # no room for any new hold
        amended = [e for e in events if type(e) is OrderAmended]
        assert [(e.order_id, e.leaves_lots, e.kept_priority) for e in amended] == [(second, 10, True)]
        assert eng.ex.book("BTCUSDT").orders[first].leaves_lots == 60
        assert ledger.holds[second].open_lots == 10

    def test_reducing_an_order_after_the_position_grew_into_a_higher_bracket(self) -> None:
        """An amend that only reduces an order keeps its hold equal to its new size even when
        the position has since grown past what the account's leverage allows for new exposure.

        Account 1 (125x on BTCUSDT, first bracket up to 50,000 USDT) rests a buy of 0.3 at
        59,000, then buys 0.5 at 60,000. Amending the resting order down to 0.2 re-sizes its
        hold; the ledger re-ran the new-exposure limits on it (position + orders now above
        50,000: LEVERAGE_ABOVE_BRACKET_MAX) and refused, the exchange reduced the order
        anyway, and the hold stayed for 0.3 (the stress run's "margin holds match the
        resting orders", seed 1, event 17,643).
        """
        eng = Engine()
        ledger = eng.ledger
        eng.submit(SetMarkPrice(0, "BTCUSDT", 600_000 * BTC_PER_TICK))
        eng.submit(Deposit(0, 1, 100_000 * USDT))
        eng.submit(Deposit(0, 2, 1_000_000 * USDT))
        eng.submit(SetLeverage(0, 1, "BTCUSDT", 125))
        resting = accepted(eng.order(1, BUY, 300, 590_000))
        eng.order(2, SELL, 500, 600_000)
        eng.order(1, BUY, 500, 600_000, IOC)
        assert ledger.accounts[1].positions[("BTCUSDT", 0)].qty_lots == 500
        held_before = ledger.holds[resting].held_atoms
        events = eng.submit(AmendOrder(0, 1, "BTCUSDT", resting, 590_000, 200))
        assert [(e.leaves_lots, e.kept_priority) for e in events if type(e) is OrderAmended] == [(200, True)]
        hold = ledger.holds[resting]
        assert (hold.open_lots, hold.held_atoms) == (200, -(-held_before * 200 // 300))
        assert ledger.accounts[1].held_atoms == hold.held_atoms

    def test_reducing_an_order_after_the_leverage_was_lowered(self) -> None:
        """An amend that only reduces an order placed at 25x keeps a pro-rata hold after the
        account lowered its leverage to 1x (re-holding at 1x needed more than it had: the
        ledger refused with INSUFFICIENT_MARGIN and the hold stayed for the old size; the
        stress run, seed 3, event 11,491)."""
        eng = Engine()
        ledger = eng.ledger
        eng.submit(SetMarkPrice(0, "BTCUSDT", 600_000 * BTC_PER_TICK))
        eng.submit(Deposit(0, 1, 1_000 * USDT))
        eng.submit(SetLeverage(0, 1, "BTCUSDT", 25))
        resting = accepted(eng.order(1, BUY, 300, 590_000))
        held_before = ledger.holds[resting].held_atoms  # 17,700 / 25 + taker fee: 716.85 USDT
        assert held_before == 70_800_000_000 + 885_000_000
        assert not [e for e in eng.submit(SetLeverage(0, 1, "BTCUSDT", 1)) if type(e).__name__ == "CommandRejected"]
        events = eng.submit(AmendOrder(0, 1, "BTCUSDT", resting, 590_000, 200))
        assert [(e.leaves_lots, e.kept_priority) for e in events if type(e) is OrderAmended] == [(200, True)]
        hold = ledger.holds[resting]
        assert (hold.open_lots, hold.held_atoms) == (200, -(-held_before * 200 // 300))
