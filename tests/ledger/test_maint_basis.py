"""Maintenance margin held at its entry value (``maint_margin_basis="entry"``, MARGIN-SPEC §8).

The example instrument ``TESTUSDT``: tick 0.001, lot 0.001 (``atoms_per_tick_lot = 100``),
one bracket with MMR 5 % and cum 0, no fees. A 1,000 USDT account, isolated at 10x, long
1 unit (1,000 lots) at 1000.000 (1,000,000 ticks): entry notional 1,000 USDT = 1e11 atoms,
bucket 100 USDT, MM at entry 50 USDT.

* basis "mark": MM = 5 % of the notional at mark; ``100 + (P − 1000) = 0.05 P`` gives
  P = 947.368421…: liquidated at marks <= 947.368 on the tick grid (short: >= 1047.620).
  Marks are finer than the tick (subticks, 1e-8 USDT): at a mark of p subticks the
  notional is exactly p atoms and MM = ceil(p / 20) atoms, so the long is liquidatable iff
  ``p − 9e10 <= ceil(p / 20)``, i.e. p <= 94_736_842_106 (947.36842106); the short iff
  ``1.1e11 − p <= ceil(p / 20)``, i.e. p >= 104_761_904_761 (1047.61904761).
* basis "entry": MM stays 50 USDT; ``100 + (P − 1000) = 50`` gives exactly 950.000
  (short: 1050.000), Bybit's ``LP = EP − (IM − MM)/Q``.
"""

from __future__ import annotations

import json
import random
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from liquidation.harness import CROSS, ISOLATED, MM, SELL, USDT, LiqHarness, liquidations

from exsim.book.orders import BUY
from exsim.errors import SpecError
from exsim.exchange.events import event_to_dict
from exsim.instruments import Instrument
from exsim.instruments.brackets import BracketTable
from exsim.ledger import Ledger, Position
from exsim.ledger.risk_index import (
    DOWN,
    LIQUIDATION_RATIO_E8,
    UP,
    at_or_past_e8,
    isolated_threshold_subticks,
)
from exsim.replay.explain import explain

SYM = "TESTUSDT"
ENTRY = 1_000_000  # 1000.000 in ticks
PER_TICK = 100_000  # subticks (1e-8 USDT) per tick of 0.001
UNIT = 1_000  # 1 unit in lots
TRADER = 1


def instrument(basis: str = "entry", **changes: Any) -> Instrument:
    """TESTUSDT: tick 0.001, lot 0.001, one bracket (MMR 5 %, cum 0, 20x), no fees."""
    spec: dict[str, Any] = dict(
        symbol=SYM,
        tick_size="0.001",
        lot_size="0.001",
        brackets=BracketTable.from_tiers([("0", "100000000", "0.05", 20)]),
        maker_fee="0",
        taker_fee="0",
        clearance_fee="0",
        maint_margin_basis=basis,
    )
    spec.update(changes)
    return Instrument.create(**spec)


def opened(basis: str, *, long: bool = True, mode: int = ISOLATED, usdt: int = 1_000, inst: Instrument | None = None) -> LiqHarness:
    """The example: ``TRADER`` with ``usdt`` at 10x in ``mode`` holds 1 unit at 1000.000
    against the market maker ``MM``; the mark is at the entry."""
    h = LiqHarness(inst or instrument(basis), fund=10_000 * USDT)
    h.mark(ENTRY)
    h.account(MM, 1_000_000, leverage=10)
    h.account(TRADER, usdt, leverage=10, mode=mode)
    if long:
        h.trade(TRADER, MM, UNIT, ENTRY)
    else:
        h.trade(MM, TRADER, UNIT, ENTRY)
    assert h.pos(TRADER).qty_lots == (UNIT if long else -UNIT)
    return h


def liquidated_at(h: LiqHarness, mark_ticks: int) -> bool:
    """Move the mark; whether the trader was liquidated by that command."""
    return bool(liquidations(h.mark(mark_ticks), TRADER))


class TestInstrumentField:
    def test_default_is_mark(self) -> None:
        """An instrument built without the option computes MM at mark, as before."""
        inst = Instrument.create(
            symbol=SYM, tick_size="0.001", lot_size="0.001", brackets=BracketTable.from_tiers([("0", "1000", "0.05", 20)])
        )
        assert inst.maint_margin_basis == "mark"
        assert instrument("entry").maint_margin_basis == "entry"

    @pytest.mark.parametrize("bad", ["foo", "Entry", "", None, 1])
    def test_bad_value_raises_spec_error_naming_the_field(self, bad: object) -> None:
        """Anything but "mark" or "entry" is refused at construction, naming the instrument and field."""
        with pytest.raises(SpecError) as info:
            instrument(basis=bad)  # type: ignore[arg-type]
        assert info.value.field == "maint_margin_basis"
        assert "maint_margin_basis" in str(info.value) and SYM in str(info.value)
        with pytest.raises(SpecError, match="maint_margin_basis"):
            attrs.evolve(instrument("mark"), maint_margin_basis="foo")


class TestIsolatedLiquidationPrice:
    @pytest.mark.parametrize(
        ("basis", "long", "lp"),
        [
            ("entry", True, 95_000_000_000),
            ("mark", True, 94_736_842_106),
            ("entry", False, 105_000_000_000),
            ("mark", False, 104_761_904_761),
        ],
    )
    def test_example(self, basis: str, long: bool, lp: int) -> None:
        """Entry basis: LP = EP ∓ (IM − MM)/Q exactly (950.000 / 1050.000); mark basis, at subtick
        resolution: 947.36842106 / 1047.61904761 (the module docstring derives them)."""
        h = opened(basis, long=long)
        pos = h.pos(TRADER)
        assert pos.margin_atoms == 100 * USDT
        assert h.ledger.isolated_margin_balance(pos) == (100 * USDT, 50 * USDT)  # at the entry both agree
        assert isolated_threshold_subticks(h.ledger, pos, LIQUIDATION_RATIO_E8) == ((DOWN if long else UP), lp)
        assert h.ex.liquidator.liquidation_prices(h.ledger.accounts[TRADER], [pos], True) == [lp]

    def test_mm_does_not_move_with_the_mark(self) -> None:
        """With basis entry the maintenance margin at any mark is the one at entry; with mark it scales."""
        entry, mark = opened("entry"), opened("mark")
        for h in (entry, mark):
            h.mark(960_000)
        assert entry.ledger.position_figures(entry.pos(TRADER))[2] == 50 * USDT
        assert mark.ledger.position_figures(mark.pos(TRADER))[2] == 48 * USDT

    @pytest.mark.parametrize("long", [True, False])
    def test_bybit_worked_example(self, long: bool) -> None:
        """MARGIN-SPEC §8: 1 BTC @20,000, 50x, MMR 0.5 % → IM 400, MM 100, LP 19,700 (short 20,300)."""
        btc = instrument(
            "entry", tick_size="0.1", lot_size="0.001", brackets=BracketTable.from_tiers([("0", "1000000", "0.005", 125)])
        )
        h = LiqHarness(btc, fund=10_000 * USDT)
        h.mark(200_000)
        h.account(MM, 1_000_000, leverage=50)
        h.account(TRADER, 1_000, leverage=50, mode=ISOLATED)
        if long:
            h.trade(TRADER, MM, 1_000, 200_000)
        else:
            h.trade(MM, TRADER, 1_000, 200_000)
        pos = h.pos(TRADER)
        assert h.ledger.isolated_margin_balance(pos) == (400 * USDT, 100 * USDT)
        assert isolated_threshold_subticks(h.ledger, pos, LIQUIDATION_RATIO_E8) == (
            (DOWN, 19_700 * 10**8) if long else (UP, 20_300 * 10**8)
        )

    @given(
        basis=st.sampled_from(["entry", "mark"]),
        long=st.booleans(),
        size=st.integers(1, 10_000),
        entry=st.integers(1, 3_000_000),
        margin=st.integers(0, 10**12),
        ratio=st.sampled_from([LIQUIDATION_RATIO_E8, 80_000_000, 37_000_001]),
    )
    def test_threshold_is_the_exact_subtick_boundary(
        self, basis: str, long: bool, size: int, entry: int, margin: int, ratio: int
    ) -> None:
        """The solved threshold is the subtick where the exact check (ledger figures at that mark) flips, over a
        three-bracket table, for either maintenance basis."""
        table = BracketTable.from_tiers(
            [("0", "500", "0.01", 50), ("500", "2000", "0.025", 20), ("2000", "100000000", "0.1", 5)]
        )
        ledger = Ledger([instrument(basis, brackets=table)])
        pos = Position(TRADER, SYM, 0, True, 10)
        pos.qty_lots = size if long else -size
        pos.cost_atoms = entry * size * 100
        pos.margin_atoms = margin

        def at(p: int) -> bool:
            ledger.marks[SYM] = p
            return at_or_past_e8(ratio, *ledger.isolated_margin_balance_e8(pos))

        ledger.marks[SYM] = entry * PER_TICK
        hit = isolated_threshold_subticks(ledger, pos, ratio)
        if hit is None:
            assert long and not at(1)
            return
        direction, p = hit
        assert direction == (DOWN if long else UP) and p >= 1 and at(p)
        assert not at(p + 1) if long else (p == 1 or not at(p - 1))


class TestThroughTheExchange:
    @pytest.mark.parametrize(
        ("basis", "long", "lp", "safe_marks"),
        [
            ("entry", True, 950_000, [960_000, 950_001]),
            ("mark", True, 947_368, [950_001, 950_000, 947_369]),
            ("entry", False, 1_050_000, [1_040_000, 1_049_999]),
            ("mark", False, 1_047_620, [1_040_000, 1_047_619]),
        ],
    )
    def test_liquidated_at_the_exact_tick_and_wallet_ends_at_lp(
        self, basis: str, long: bool, lp: int, safe_marks: list[int]
    ) -> None:
        """No liquidation one tick short of the LP; at the LP a close against a quote there leaves the wallet at
        exactly 1000 − |LP − 1000| USDT (no fees, no clearance fee). The event's liquidation price is the exact
        subtick boundary (TestIsolatedLiquidationPrice), inside the tick that liquidated."""
        h = opened(basis, long=long)
        h.rest(MM, BUY if long else SELL, UNIT, lp)  # the maker quotes at the LP
        for m in safe_marks:
            assert not liquidated_at(h, m), m
            assert h.pos(TRADER).qty_lots
        events = h.mark(lp)
        (liq,) = liquidations(events, TRADER)
        (lpos,) = liq.positions
        lp_subticks = lpos.liquidation_price_subticks
        assert (lp_subticks // PER_TICK if long else -(-lp_subticks // PER_TICK)) == lp
        assert lpos.filled_lots == UNIT and lpos.taken_over_lots == 0
        assert lpos.fill_notional_atoms == lp * UNIT * 100
        assert liq.clearance_fee_atoms == 0
        if basis == "entry":
            assert liq.maint_margin_atoms == 50 * USDT
        assert h.pos(TRADER) is None
        assert h.wallet(TRADER) == 1_000 * USDT - abs(lp - ENTRY) * UNIT * 100
        if basis == "entry":
            assert h.wallet(TRADER) == 950 * USDT
        elif long:
            assert h.wallet(TRADER) == 947_368 * 10**5  # 947.368 USDT

    @pytest.mark.parametrize("basis", ["entry", "mark"])
    def test_random_marks_liquidate_at_the_first_mark_meeting_the_exact_condition(self, basis: str) -> None:
        """Isolated, seeded random mark walk: liquidated at the first mark where bucket + UPnL <= MM, never before."""
        rng = random.Random(7)
        for _ in range(3):
            long = rng.random() < 0.5
            h = opened(basis, long=long)
            mark = ENTRY
            for _ in range(200):
                mark += rng.randint(-3_000, 3_000) * (1 if long else -1) - (500 if long else -500)
                mm = 50 * USDT if basis == "entry" else -(-mark * UNIT * 100 * 5 // 100)
                upnl = (mark - ENTRY) * UNIT * 100 * (1 if long else -1)
                due = 100 * USDT + upnl <= mm
                assert liquidated_at(h, mark) == due, (mark, long)
                if due:
                    break
            else:
                raise AssertionError("the walk never reached the liquidation price")


class TestCross:
    """Cross pool, one position: 150 USDT wallet, long 1 unit at 1000.000, 10x.

    Entry basis: ``150 + (P − 1000) <= 50`` iff P <= 900.000; mark basis:
    ``150 + (P − 1000) <= 0.05 P`` iff P <= 894.736842…, i.e. 894.736 on the tick grid and,
    at a mark of p subticks (MM = ceil(p / 20) atoms), ``p − 8.5e10 <= ceil(p / 20)`` iff
    p <= 89_473_684_211 (894.73684211).
    """

    @pytest.mark.parametrize("basis", ["entry", "mark"])
    def test_pool_liquidated_at_the_exact_tick(self, basis: str) -> None:
        """The pool survives every mark above the threshold (walked in steps that cross its conservative triggers)
        and is liquidated at exactly the tick where wallet + UPnL <= MM."""
        lp = 900_000 if basis == "entry" else 894_736
        lp_subticks = 90_000_000_000 if basis == "entry" else 89_473_684_211
        h = opened(basis, mode=CROSS, usdt=150)
        pos = h.pos(TRADER)
        assert h.ledger.cross_margin_balance(h.ledger.accounts[TRADER]) == (150 * USDT, 50 * USDT)
        assert h.ex.liquidator.liquidation_prices(h.ledger.accounts[TRADER], [pos], False) == [lp_subticks]
        h.rest(MM, BUY, UNIT, lp)
        for m in [*range(ENTRY, lp, -5_000), lp + 1]:
            assert not liquidated_at(h, m), m
        if basis == "mark":
            assert not liquidated_at(h, 900_000)  # where the entry basis would already liquidate
        (liq,) = liquidations(h.mark(lp), TRADER)
        assert liq.scope == "CROSS" and liq.positions[0].liquidation_price_subticks == lp_subticks
        if basis == "entry":
            assert liq.maint_margin_atoms == 50 * USDT and liq.margin_balance_atoms == 50 * USDT
        assert h.wallet(TRADER) == 150 * USDT - (ENTRY - lp) * UNIT * 100
        assert h.wallet(TRADER) == (50 * USDT if basis == "entry" else 4_473_600_000)  # 44.736

    def test_jump_straight_to_the_threshold(self) -> None:
        """One mark jump from the entry to 900.000 liquidates the pool; one to 900.001 does not."""
        h = opened("entry", mode=CROSS, usdt=150)
        assert not liquidated_at(h, 900_001)
        h.mark(ENTRY)
        assert liquidated_at(h, 900_000)

    def test_entry_basis_triggers_are_conservative(self) -> None:
        """The pool's filed trigger is never past the exact threshold (a trigger may fire early, never late)."""
        h = opened("entry", mode=CROSS, usdt=150)
        acct = h.ledger.accounts[TRADER]
        for m in range(ENTRY, 900_000, -7_919):
            h.mark(m)
            (trigger,) = [p for s, d, p, scope in h.ledger.risk.entries() if scope is acct and d == DOWN]
            assert 900_000 * PER_TICK <= trigger < m * PER_TICK  # subticks


class TestPartialLiquidation:
    def test_entry_basis_reduces_the_entry_cost_to_the_bracket_below(self) -> None:
        """Brackets [0, 500) 1 % and [500, …) 5 % (cum 20): the long of entry notional 1,000 is in bracket 2 by its
        entry cost (MM 30, LP 930.000); the partial liquidation leaves an entry cost under 500 USDT, so MM drops to
        bracket 1's rate and the bucket survives."""
        table = BracketTable.from_tiers([("0", "500", "0.01", 50), ("500", "100000000", "0.05", 20)])
        inst = attrs.evolve(instrument("entry", brackets=table), partial_liquidation=True)
        h = opened("entry", inst=inst)
        pos = h.pos(TRADER)
        assert h.ledger.isolated_margin_balance(pos) == (100 * USDT, 30 * USDT)
        assert isolated_threshold_subticks(h.ledger, pos, LIQUIDATION_RATIO_E8) == (DOWN, 930_000 * PER_TICK)
        h.rest(MM, BUY, UNIT, 930_000)
        assert not liquidated_at(h, 930_001)
        (liq,) = liquidations(h.mark(930_000), TRADER)
        assert liq.partial
        pos = h.pos(TRADER)
        assert pos.cost_atoms < 500 * USDT and table.bracket_for(pos.cost_atoms).bracket == 1
        # keep = floor((5e10 − 1 − 1000) × 1000 / 1e11) = 499 lots; their cost is exactly 499 USDT
        assert (pos.qty_lots, pos.cost_atoms) == (499, 499 * USDT)
        balance, mm = h.ledger.isolated_margin_balance(pos)
        assert mm == 499 * 10**6 and balance > mm  # 1 % of 499 USDT


class TestExplain:
    def test_explain_says_mm_was_on_the_entry_notional(self) -> None:
        """`exsim explain` given the run's instrument says the maintenance margin was computed on the entry notional."""
        h = opened("entry")
        h.rest(MM, BUY, UNIT, 950_000)
        (liq,) = liquidations(h.mark(950_000), TRADER)
        event = json.loads(json.dumps(event_to_dict(liq)))
        text = explain(event, 1, 1, instruments={SYM: h.instruments[0]})
        assert "computed on the entry notional" in text and "50.00 USDT" in text
        mark_text = explain(event, 1, 1, instruments={SYM: instrument("mark")})
        assert "entry notional" not in mark_text and "in bracket 1" in mark_text
