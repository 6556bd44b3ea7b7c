"""Specification of exsim.margin.liquidation: exact liquidation and bankruptcy prices.

MARGIN-SPEC §1–4's worked examples, tier consistency against a "try every bracket"
reference, hedge mode, the integer trigger against a binary search over ticks, and the
cross bankruptcy split leaving the pool at exactly zero.
"""

from __future__ import annotations

import doctest
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exsim.errors import InputError
from exsim.instruments import BracketTable, get_instrument
from exsim.margin import liquidation as liq_module
from exsim.margin.liquidation import (
    CROSS,
    ISOLATED,
    LONG,
    SHORT,
    STATUS_ALWAYS,
    STATUS_NEVER,
    STATUS_PRICE,
    FixedBracket,
    Position,
    as_fraction,
    bankruptcy_price,
    cross_bankruptcy_prices,
    format_price,
    is_liquidatable,
    isolated_trigger_ticks,
    liquidation_price,
    maint_margin,
    to_decimal,
    unrealized_pnl,
)
from exsim.units import ATOMS_PER_UNIT, RATE_SCALE

F = Fraction
BTC_TABLE = get_instrument("BTCUSDT").brackets
ETH_TABLE = get_instrument("ETHUSDT").brackets
TABLES = {"BTCUSDT": BTC_TABLE, "ETHUSDT": ETH_TABLE}

# MARGIN-SPEC §3's worked example (Binance's own), with the table's fixed brackets.
WB = "1535443.01"
BTC_FIXED = FixedBracket("0.025", "16300")
ETH_FIXED = FixedBracket("0.10", "135365")


def btc(mark: bool = True) -> Position:
    """The example's BTCUSDT long."""
    return Position(LONG, "109.488", "32481.98", BTC_FIXED, mark_price="31967.27" if mark else None)


def eth(mark: bool = True) -> Position:
    """The example's ETHUSDT long."""
    return Position(LONG, "3683.979", "1456.84", ETH_FIXED, mark_price="1335.18" if mark else None)


def cents(value: Fraction | None) -> Fraction:
    """``value`` rounded to the cent (half-even), as the spec quotes prices."""
    assert value is not None
    return F(round(value, 2))


def older_btc_table() -> BracketTable:
    """MARGIN-SPEC §1's older BTCUSDT table, cum derived."""
    return BracketTable.from_tiers(
        [
            ("0", "50000", "0.004", 125),
            ("50000", "250000", "0.005", 100),
            ("250000", "1000000", "0.01", 50),
        ]
    )


def tier_rows(table: BracketTable) -> list[tuple[Fraction, Fraction | None, Fraction, Fraction, int]]:
    """``(floor, cap or None for the open last one, mmr, cum, number)`` in USDT."""
    rows = []
    for i, b in enumerate(table.brackets):
        cap = None if i == len(table.brackets) - 1 else F(b.cap_atoms, ATOMS_PER_UNIT)
        rows.append(
            (
                F(b.floor_atoms, ATOMS_PER_UNIT),
                cap,
                F(b.mmr_e8, RATE_SCALE),
                F(b.cum_atoms, ATOMS_PER_UNIT),
                b.bracket,
            )
        )
    return rows


def bracket_containing(table: BracketTable, notional: Fraction) -> tuple[Fraction, Fraction, int]:
    """``(mmr, cum, number)`` of the bracket whose ``[floor, cap)`` holds ``notional``."""
    for floor, cap, mmr, cum, number in tier_rows(table):
        if floor <= notional and (cap is None or notional < cap):
            return mmr, cum, number
    raise AssertionError("no bracket")  # pragma: no cover


def reference_one_way_lp(
    side: int, qty: Fraction, entry: Fraction, wallet: Fraction, table: BracketTable,
    tmm1: Fraction = F(0), upnl1: Fraction = F(0),
) -> set[Fraction]:
    """MARGIN-SPEC §3 literally: the formula per bracket, kept where ``Q*LP`` is inside."""
    found = set()
    for floor, cap, mmr, cum, _ in tier_rows(table):
        den = qty * mmr - side * qty
        if den == 0:
            continue
        lp = (wallet - tmm1 + upnl1 + cum - side * qty * entry) / den
        n = qty * lp
        if lp > 0 and floor <= n and (cap is None or n < cap):
            found.add(lp)
    return found


def slack(result_inputs: tuple[Sequence[Position], Fraction, Fraction, Fraction], price: Fraction) -> Fraction:
    """Margin balance minus maintenance margin with the solved legs at ``price``."""
    legs, wallet, tmm1, upnl1 = result_inputs
    mb = wallet + upnl1 + sum((p.unrealized_pnl(price) for p in legs), F(0))
    mm = tmm1 + sum((p.maint_margin(price) for p in legs), F(0))
    return mb - mm


# --------------------------------------------------------------------------- §1


class TestBrackets:
    def test_level_3_maintenance_amount_is_1300(self) -> None:
        """§1: the older table's level-3 cum is 250,000 x (1% - 0.5%) + 50 = 1,300 USDT."""
        table = older_btc_table()
        pos = Position(LONG, 10, 30000, table)
        result = liquidation_price(pos, 51200)  # LP notional 10 x 25,000 = 250,000 exactly
        assert result.liquidation_price == 25000
        assert (result.bracket, result.mmr, result.cum) == (3, F("0.01"), 1300)
        assert result.maint_margin_at_lp == 1200

    def test_maintenance_margin_is_continuous_at_floors(self) -> None:
        """At a bracket floor both neighbouring brackets give the same maintenance margin."""
        table = older_btc_table()
        assert maint_margin(250000, table) == 250000 * F("0.005") - 50 == 1200
        assert maint_margin(50000, table) == 50000 * F("0.004") == 200

    def test_fixed_bracket_is_unclamped(self) -> None:
        """A fixed bracket applies the spec's linear formula at every notional, even below 0."""
        assert maint_margin(100000, BTC_FIXED) == 2500 - 16300

    def test_negative_notional_is_a_caller_bug(self) -> None:
        """Maintenance margin takes the absolute notional."""
        with pytest.raises(ValueError):
            maint_margin(-1, BTC_TABLE)


# --------------------------------------------------------------------------- §3


class TestSpecWorkedExample:
    def test_maintenance_margins_and_pnls_exact(self) -> None:
        """§3: MM_BTC, UPNL_BTC, MM_ETH and UPNL_ETH equal the spec's figures exactly."""
        assert btc().maint_margin() == F("71200.811444")
        assert btc().unrealized_pnl() == F("-56354.56848")
        assert eth().maint_margin() == F("356512.508122")
        assert eth().unrealized_pnl() == F("-448192.88514")
        assert unrealized_pnl(LONG, "109.488", "32481.98", "31967.27") == F("-56354.56848")

    def test_cross_btc(self) -> None:
        """§3: cross LP of BTC with ETH at its mark is 26,316.89."""
        r = liquidation_price(btc(False), WB, mode=CROSS, others=[eth()])
        assert cents(r.liquidation_price) == F("26316.89")
        assert r.other_maint_margin == F("356512.508122")
        assert r.other_upnl == F("-448192.88514")

    def test_cross_eth(self) -> None:
        """§3: cross LP of ETH with BTC at its mark is 1,153.26."""
        r = liquidation_price(eth(False), WB, mode=CROSS, others=[btc()])
        assert cents(r.liquidation_price) == F("1153.26")

    def test_isolated_btc(self) -> None:
        """§3: isolated LP of BTC with WB 1,535,443.01 as its bucket is 18,778.73."""
        r = liquidation_price(btc(False), WB)
        assert cents(r.liquidation_price) == F("18778.73")

    def test_isolated_eth(self) -> None:
        """§3: isolated LP of ETH with WB 1,535,443.01 as its bucket is 1,114.78."""
        r = liquidation_price(eth(False), WB, mode=ISOLATED)
        assert cents(r.liquidation_price) == F("1114.78")

    def test_matches_spec_formula_exactly(self) -> None:
        """With a fixed bracket the result is exactly (WB - TMM1 + UPNL1 + cum - sQEP)/(QMMR - sQ)."""
        q, ep = F("109.488"), F("32481.98")
        want = (F(WB) - eth().maint_margin() + eth().unrealized_pnl() + 16300 - q * ep) / (
            q * F("0.025") - q
        )
        r = liquidation_price(btc(False), WB, mode=CROSS, others=[eth()])
        assert r.liquidation_price == want

    def test_isolated_closed_forms(self) -> None:
        """§3's isolated long/short formulas hold exactly."""
        q, ep, wb, mmr, cum = F(3), F(2000), F(500), F("0.01"), F(7)
        fixed = FixedBracket(mmr, cum)
        long_lp = liquidation_price(Position(LONG, q, ep, fixed), wb).liquidation_price
        short_lp = liquidation_price(Position(SHORT, q, ep, fixed), wb).liquidation_price
        assert long_lp == (q * ep - wb - cum) / (q * (1 - mmr))
        assert short_lp == (q * ep + wb + cum) / (q * (1 + mmr))

    @pytest.mark.parametrize("mode", [ISOLATED, CROSS])
    def test_margin_balance_equals_maintenance_at_lp(self, mode: str) -> None:
        """At the liquidation price margin balance equals maintenance margin exactly."""
        others = [eth()] if mode == CROSS else []
        r = liquidation_price(btc(False), WB, mode=mode, others=others)
        assert r.margin_balance_at_lp == r.maint_margin_at_lp
        assert r.status == STATUS_PRICE and r.direction == -1

    def test_explain_names_bracket_and_balances(self) -> None:
        """explain() says which bracket, margin balance and maintenance margin, and the BP."""
        text = liquidation_price(btc(False), WB, mode=CROSS, others=[eth()]).explain()
        assert "liquidation price 26316.89326452" in text
        assert "fixed bracket, MMR 2.5 %, cum 16300" in text
        assert "margin balance 412247.10836565 = maintenance margin 412247.10836565" in text
        assert "bankruptcy price 25807.84569544" in text

    def test_explain_with_table_names_bracket_number(self) -> None:
        """With a table, explain() names the bracket number."""
        r = liquidation_price(Position(LONG, 1, 60000, BTC_TABLE), 6000, symbol="BTCUSDT")
        assert r.bracket == 2
        assert "bracket 2, MMR 0.5 %, cum 50" in r.explain()


# --------------------------------------------------------------------------- tiers

sides = st.sampled_from([LONG, SHORT])
qtys = st.integers(1, 3_000_000).map(lambda n: F(n, 1000))  # 0.001 .. 3000
entries = st.integers(1, 2_000_000).map(lambda n: F(n, 10))  # 0.1 .. 200,000
wallet_fracs = st.integers(0, 20_000).map(lambda n: F(n, 10_000))  # 0 .. 2 x notional


class TestTierConsistency:
    @settings(max_examples=300, deadline=None)
    @given(sides, qtys, entries, wallet_fracs, st.sampled_from(sorted(TABLES)))
    def test_lp_is_self_consistent_with_shipped_brackets(
        self, side: int, qty: Fraction, entry: Fraction, wfrac: Fraction, symbol: str
    ) -> None:
        """At the LP, margin balance equals MM computed with the bracket holding Q*LP, exactly."""
        table = TABLES[symbol]
        wallet = wfrac * qty * entry
        r = liquidation_price(Position(side, qty, entry, table), wallet)
        ref = reference_one_way_lp(side, qty, entry, wallet, table)
        if r.status != STATUS_PRICE:
            assert ref == set()
            assert (side == LONG and r.status == STATUS_NEVER) or wallet == 0
            return
        lp = r.liquidation_price
        assert lp is not None and lp > 0
        mmr, cum, number = bracket_containing(table, qty * lp)
        assert (r.mmr, r.cum, r.bracket) == (mmr, cum, number)
        margin_balance = wallet + side * qty * (lp - entry)
        assert margin_balance == qty * lp * mmr - cum == r.maint_margin_at_lp
        assert ref == {lp}  # unique, and the same as "try every bracket"
        assert r.bankruptcy_price == (entry - side * wallet / qty if entry - side * wallet / qty > 0 else None)

    @settings(max_examples=150, deadline=None)
    @given(sides, qtys, entries, wallet_fracs, st.lists(st.tuples(sides, qtys, entries), max_size=3))
    def test_cross_one_way_matches_reference(
        self,
        side: int,
        qty: Fraction,
        entry: Fraction,
        wfrac: Fraction,
        others_raw: list[tuple[int, Fraction, Fraction]],
    ) -> None:
        """Cross with other contracts at their marks agrees with the per-bracket formula."""
        others = [
            Position(s, q, e, ETH_TABLE, mark_price=e * F(9, 10)) for s, q, e in others_raw
        ]
        wallet = wfrac * qty * entry + sum((o.qty * o.entry_price for o in others), F(0)) / 10
        r = liquidation_price(Position(side, qty, entry, BTC_TABLE), wallet, mode=CROSS, others=others)
        tmm1 = sum((o.maint_margin() for o in others), F(0))
        upnl1 = sum((o.unrealized_pnl() for o in others), F(0))
        ref = reference_one_way_lp(side, qty, entry, wallet, BTC_TABLE, tmm1, upnl1)
        if r.status == STATUS_PRICE:
            assert ref == {r.liquidation_price}
            assert r.margin_balance_at_lp == r.maint_margin_at_lp
        else:
            assert ref == set()

    def test_entry_bracket_gives_wrong_answer_that_is_recomputed(self) -> None:
        """An LP computed with the entry notional's bracket is replaced by the consistent one."""
        # 10 BTC @ 60,000: entry notional 600,000 is bracket 3 (0.65 %); the LP is below
        # 60,000 x ... in bracket 2.
        table = BTC_TABLE
        r = liquidation_price(Position(LONG, 10, 60000, table), 10000)
        entry_bracket = bracket_containing(table, F(600000))
        assert entry_bracket[2] == 3
        naive = (10 * 60000 - 10000 - entry_bracket[1]) / (10 * (1 - entry_bracket[0]))
        assert bracket_containing(table, 10 * naive)[2] == 2
        assert r.bracket == 2 and r.liquidation_price != naive

    def test_boundary_lp_reports_the_upper_bracket(self) -> None:
        """An LP exactly on a floor belongs to the bracket starting there ([floor, cap))."""
        r = liquidation_price(Position(LONG, 10, 30000, older_btc_table()), 51200)
        assert r.liquidation_price is not None and 10 * r.liquidation_price == 250000
        assert r.bracket == 3


# --------------------------------------------------------------------------- hedge


class TestHedgeMode:
    def test_both_legs_move_and_balance_at_lp(self) -> None:
        """Hedge: both legs priced at the LP, each in its own bracket, MB == MM."""
        long_ = Position(LONG, 2, 60000, BTC_TABLE)
        short = Position(SHORT, 1, 61000, BTC_TABLE)
        r = liquidation_price(long_, 10000, mode=CROSS, hedge_leg=short)
        lp = r.liquidation_price
        assert lp is not None and r.direction == -1
        assert [leg.bracket for leg in r.legs] == [2, 1]
        assert slack(([long_, short], F(10000), F(0), F(0)), lp) == 0
        assert r.margin_balance_at_lp == r.maint_margin_at_lp

    def test_matches_spec_hedge_formula_with_fixed_brackets(self) -> None:
        """Fixed bracket: LP = (WB + cumL + cumS - QL*EPL + QS*EPS)/(QL*MMR + QS*MMR - QL + QS)."""
        fixed = FixedBracket("0.01", "0.5")
        ql, el, qs, es, wb = F(3), F(100), F(1), F(110), F(50)
        r = liquidation_price(
            Position(LONG, ql, el, fixed), wb, mode=CROSS, hedge_leg=Position(SHORT, qs, es, fixed)
        )
        want = (wb + F("0.5") + F("0.5") - ql * el + qs * es) / (ql * F("0.01") + qs * F("0.01") - ql + qs)
        assert r.liquidation_price == want

    def test_flat_hedge_is_liquidated_by_a_rise(self) -> None:
        """Equal legs: MM grows with price, so the liquidation is at or above the LP."""
        r = liquidation_price(
            Position(LONG, 1, 100, BTC_TABLE),
            1,
            mode=CROSS,
            hedge_leg=Position(SHORT, 1, 100, BTC_TABLE),
        )
        assert r.direction == 1 and r.liquidation_price is not None
        assert r.liquidation_price == 125  # 1 = 2 x 0.004 x P

    def test_net_long_with_second_region_above(self) -> None:
        """A net long whose short leg's MM outgrows it is also liquidated far above."""
        long_ = Position(LONG, 2, 60000, BTC_TABLE)
        short = Position(SHORT, 1, 61000, BTC_TABLE)
        r = liquidation_price(long_, 10000, mode=CROSS, hedge_leg=short)
        high = r.other_liquidation_price
        assert high is not None and r.liquidation_price is not None
        inputs = ([long_, short], F(10000), F(0), F(0))
        assert slack(inputs, high) == 0
        mid = (r.liquidation_price + high) / 2
        assert slack(inputs, mid) > 0 and slack(inputs, high * 2) < 0
        assert "also liquidated at or above" in r.explain()

    def test_same_side_hedge_leg_rejected(self) -> None:
        """A hedge leg must be the opposite side."""
        with pytest.raises(InputError, match="opposite side"):
            liquidation_price(
                Position(LONG, 1, 100, BTC_TABLE), 10, mode=CROSS,
                hedge_leg=Position(LONG, 1, 100, BTC_TABLE),
            )

    def test_isolated_rejects_hedge_and_others(self) -> None:
        """Isolated mode uses only the position's own margin."""
        with pytest.raises(InputError, match="hedge_leg"):
            liquidation_price(
                Position(LONG, 1, 100, BTC_TABLE), 10, hedge_leg=Position(SHORT, 1, 100, BTC_TABLE)
            )
        with pytest.raises(InputError, match="others"):
            liquidation_price(btc(False), WB, others=[eth()])

    @settings(max_examples=150, deadline=None)
    @given(qtys, entries, qtys, entries, wallet_fracs)
    def test_hedge_lp_is_a_boundary(
        self, ql: Fraction, el: Fraction, qs: Fraction, es: Fraction, wfrac: Fraction
    ) -> None:
        """Hedge: the LP is a root and the account is liquidated just beyond it, safe just inside."""
        long_ = Position(LONG, ql, el, ETH_TABLE)
        short = Position(SHORT, qs, es, ETH_TABLE)
        wallet = wfrac * (ql * el + qs * es)
        r = liquidation_price(long_, wallet, mode=CROSS, hedge_leg=short)
        inputs = ([long_, short], wallet, F(0), F(0))
        if r.status != STATUS_PRICE:
            return
        lp = r.liquidation_price
        assert lp is not None
        assert slack(inputs, lp) == 0
        eps = lp / 10**9
        outside, inside = lp + r.direction * eps, lp - r.direction * eps
        assert slack(inputs, outside) <= 0
        assert slack(inputs, inside) > 0 or (r.other_liquidation_price is not None)


# --------------------------------------------------------------------------- no price


class TestNoPositivePrice:
    def test_long_fully_covered_is_never_liquidated(self) -> None:
        """A long whose margin covers a fall to zero has no LP and no positive BP."""
        r = liquidation_price(Position(LONG, 1, 60000, BTC_TABLE), 70000)
        assert r.status == STATUS_NEVER and r.liquidation_price is None
        assert r.bankruptcy_price is None and r.mmr is None and r.bracket is None
        assert "--" in r.explain()
        d = r.to_dict()
        assert d["liquidation_price"] is None and d["mmr"] is None

    def test_short_with_negative_wallet_is_always_liquidatable(self) -> None:
        """A short whose wallet is below minus its entry notional is liquidatable at every price."""
        r = liquidation_price(Position(SHORT, 1, 100, BTC_TABLE), -200)
        assert r.status == STATUS_ALWAYS and r.liquidation_price is None
        assert "every positive price" in r.explain()

    def test_fixed_bracket_kept_without_price(self) -> None:
        """With a fixed bracket the result still reports its MMR and cum."""
        r = liquidation_price(Position(LONG, 1, 100, FixedBracket("0.01", "0")), 100)
        assert r.status == STATUS_NEVER and (r.mmr, r.cum) == (F("0.01"), 0)


# --------------------------------------------------------------------------- §4


class TestBankruptcy:
    def test_spec_long_and_short(self) -> None:
        """§4: 1 BTC @ 60,000 with WB 6,000: long 54,000, short 66,000."""
        assert bankruptcy_price(LONG, 1, 60000, 6000) == 54000
        assert bankruptcy_price(SHORT, "1", "60000", Decimal("6000")) == 66000

    def test_spec_example_through_liquidation_result(self) -> None:
        """§4's example is also the result's bankruptcy price, with brackets or fixed."""
        for brackets in (BTC_TABLE, FixedBracket("0.005", "0")):
            assert liquidation_price(Position(LONG, 1, 60000, brackets), 6000).bankruptcy_price == 54000
            assert liquidation_price(Position(SHORT, 1, 60000, brackets), 6000).bankruptcy_price == 66000

    def test_cross_split_reduces_to_isolated_for_one_position(self) -> None:
        """§4: for one position the MM-proportional split is EP - s*WB/Q."""
        for side in (LONG, SHORT):
            pos = Position(side, 1, 60000, BTC_TABLE, mark_price=57000)
            assert cross_bankruptcy_prices(6000, [pos]) == (bankruptcy_price(side, 1, 60000, 6000),)

    def test_cross_lp_bp_is_the_split_at_lp(self) -> None:
        """The cross result's BP is §4's split evaluated with every contract at the liquidation moment."""
        r = liquidation_price(btc(False), WB, mode=CROSS, others=[eth()])
        assert r.liquidation_price is not None
        at_lp = Position(LONG, "109.488", "32481.98", BTC_FIXED, mark_price=r.liquidation_price)
        assert cross_bankruptcy_prices(WB, [at_lp, eth()])[0] == r.bankruptcy_price

    def test_spec_example_pool_closes_to_zero(self) -> None:
        """§3's two positions closed at their §4 BPs leave the pool at exactly 0."""
        positions = [btc(), eth()]
        bps = cross_bankruptcy_prices(WB, positions)
        assert F(WB) + sum(p.unrealized_pnl(bp) for p, bp in zip(positions, bps)) == 0

    @settings(max_examples=200, deadline=None)
    @given(
        st.integers(-10**9, 10**10).map(lambda n: F(n, 100)),
        st.lists(
            st.tuples(sides, qtys, entries, st.integers(50, 150), st.booleans()),
            min_size=1,
            max_size=5,
        ),
    )
    def test_closing_every_position_at_its_bp_leaves_zero(
        self, wallet: Fraction, raw: list[tuple[int, Fraction, Fraction, int, bool]]
    ) -> None:
        """Cross: closing every position at its BP leaves the pool's margin balance exactly 0."""
        positions = [
            Position(s, q, e, BTC_TABLE if table else ETH_FIXED, mark_price=e * F(m, 100))
            for s, q, e, m, table in raw
        ]
        if sum(p.maint_margin() for p in positions) == 0:
            return
        bps = cross_bankruptcy_prices(wallet, positions)
        assert wallet + sum(p.unrealized_pnl(bp) for p, bp in zip(positions, bps)) == 0

    def test_zero_total_mm(self) -> None:
        """With no maintenance margin the split is undefined unless nothing is left to split."""
        zero = FixedBracket(0, 0)
        pos = Position(LONG, 1, 100, zero, mark_price=90)
        assert cross_bankruptcy_prices(-(-10), [pos]) == (F(90),)  # TNC = 10 - 10 = 0
        with pytest.raises(ValueError, match="undefined"):
            cross_bankruptcy_prices(11, [pos])

    def test_needs_marks(self) -> None:
        """Every cross position needs a mark price."""
        with pytest.raises(InputError, match="position #1"):
            cross_bankruptcy_prices(1, [btc(False)])


# --------------------------------------------------------------------------- display


class TestFormatting:
    def test_long_lp_rounds_up_short_lp_rounds_down(self) -> None:
        """Displayed LPs round toward the safe side: up for a long, down for a short."""
        long_r = liquidation_price(Position(LONG, 3, 100, FixedBracket("0.01", 0)), 10)
        short_r = liquidation_price(Position(SHORT, 3, 100, FixedBracket("0.01", 0)), 10)
        lp_l, lp_s = long_r.liquidation_price, short_r.liquidation_price
        assert lp_l is not None and lp_s is not None
        assert (lp_l * 10**8).denominator != 1 and (lp_s * 10**8).denominator != 1
        assert F(long_r.to_dict()["liquidation_price"]) > lp_l  # type: ignore[arg-type]
        assert F(short_r.to_dict()["liquidation_price"]) < lp_s  # type: ignore[arg-type]

    def test_exactly_eight_places(self) -> None:
        """format_price always shows exactly 8 decimals."""
        assert format_price(F(54000), round_up=True) == "54000.00000000"
        assert format_price(F(-1, 3), round_up=False) == "-0.33333334"
        assert to_decimal(F(1, 3), round_up=True) == Decimal("0.33333334")

    def test_json_dict_numbers_are_strings(self) -> None:
        """to_dict carries decimal strings with 8 places (or None)."""
        d = liquidation_price(btc(False), WB, mode=CROSS, others=[eth()]).to_dict()
        for key in ("liquidation_price", "bankruptcy_price", "mmr", "cum", "margin_balance_at_lp"):
            value = d[key]
            assert isinstance(value, str) and len(value.split(".")[1]) == 8

    def test_floats_refused(self) -> None:
        """Floats are inexact and refused at the edge."""
        with pytest.raises(InputError, match="float"):
            as_fraction(0.1)
        with pytest.raises(InputError, match="float"):
            Position(LONG, 0.5, 100, BTC_TABLE)  # type: ignore[arg-type]

    def test_bad_position_fields(self) -> None:
        """Position validates side, positive qty/entry and its brackets."""
        with pytest.raises(InputError, match="side"):
            Position(2, 1, 100, BTC_TABLE)
        with pytest.raises(InputError, match="qty"):
            Position(LONG, 0, 100, BTC_TABLE)
        with pytest.raises(InputError, match="brackets"):
            Position(LONG, 1, 100, "BTCUSDT")  # type: ignore[arg-type]
        with pytest.raises(InputError, match="mmr"):
            FixedBracket("1.5", 0)


# --------------------------------------------------------------------------- engine API


def steep_table() -> BracketTable:
    """A table with large MMR steps (up to 90 %) to stress bracket crossings."""
    return BracketTable.from_tiers(
        [
            ("0", "1000", "0.01", 100),
            ("1000", "5000", "0.2", 5),
            ("5000", "20000", "0.5", 2),
            ("20000", "100000", "0.9", 1),
        ]
    )


INT_TABLES = [BTC_TABLE, ETH_TABLE, steep_table()]


def brute_trigger(
    side: int, qty: int, cost: int, margin: int, table: BracketTable, aptl: int
) -> int | None:
    """Reference: binary search over ticks on the monotone integer condition."""

    def liq(p: int) -> bool:
        return is_liquidatable(side, qty, cost, margin, table, aptl, p)

    hi = 1 << 80
    if side == LONG:
        if not liq(1):
            return None
        lo = 1  # liq(lo) and not liq(hi)
        assert not liq(hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if liq(mid):
                lo = mid
            else:
                hi = mid
        return lo
    if liq(1):
        return 1
    lo = 1  # not liq(lo) and liq(hi)
    assert liq(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if liq(mid):
            hi = mid
        else:
            lo = mid
    return hi


class TestIntegerTrigger:
    @settings(max_examples=400, deadline=None)
    @given(
        sides,
        st.integers(1, 10**7),
        st.integers(1, 2 * 10**6),
        st.integers(0, 30_000),
        st.integers(-5, 5),
        st.sampled_from(range(len(INT_TABLES))),
        st.sampled_from([1, 10, 1000, 10_000]),
    )
    def test_agrees_with_binary_search(
        self, side: int, qty: int, entry_ticks: int, margin_bp: int, noise: int, t: int, aptl: int
    ) -> None:
        """The trigger equals a binary search over ticks and is_liquidatable flips exactly at it."""
        table = INT_TABLES[t]
        cost = entry_ticks * qty * aptl + noise * (entry_ticks % 7)
        cost = max(cost, 1)
        margin = cost * margin_bp // 10_000
        got = isolated_trigger_ticks(side, qty, cost, margin, table, aptl)
        assert got == brute_trigger(side, qty, cost, margin, table, aptl)
        if got is None:
            assert side == LONG and not is_liquidatable(side, qty, cost, margin, table, aptl, 1)
            return
        assert is_liquidatable(side, qty, cost, margin, table, aptl, got)
        beyond = got + 1 if side == LONG else got - 1
        if beyond >= 1:
            assert not is_liquidatable(side, qty, cost, margin, table, aptl, beyond)

    @settings(max_examples=200, deadline=None)
    @given(sides, st.integers(1, 10**6), st.integers(10, 10**6), st.integers(1, 20_000))
    def test_close_to_the_rational_lp(self, side: int, qty: int, entry_ticks: int, margin_bp: int) -> None:
        """The trigger is the rational LP moved at most a tick toward earlier liquidation."""
        inst = get_instrument("BTCUSDT")
        aptl = inst.atoms_per_tick_lot
        cost = entry_ticks * qty * aptl
        margin = cost * margin_bp // 10_000
        got = isolated_trigger_ticks(side, qty, cost, margin, inst.brackets, aptl)
        tick, lot = F(inst.tick_size), F(inst.lot_size)
        r = liquidation_price(
            Position(side, qty * lot, entry_ticks * tick, inst.brackets), F(margin, ATOMS_PER_UNIT)
        )
        if r.liquidation_price is None:
            assert got is None
            return
        lp_ticks = r.liquidation_price / tick
        if got is None:  # a positive LP below the first tick
            assert side == LONG and lp_ticks < 1
            return
        if side == LONG:  # MM rounds up: liquidated no later than the rational LP
            assert lp_ticks - 1 < got <= lp_ticks + 1
        else:
            assert lp_ticks - 1 <= got < lp_ticks + 1

    def test_spec_example_triggers(self) -> None:
        """1 BTC @ 60,000 with 6,000 margin: long 54,221.1, short 65,721.4 (BTC table)."""
        inst = get_instrument("BTCUSDT")
        cost = inst.notional_atoms(inst.ticks("60000"), inst.lots("1"))
        args = (1000, cost, 6000 * ATOMS_PER_UNIT, inst.brackets, inst.atoms_per_tick_lot)
        assert isolated_trigger_ticks(LONG, *args) == inst.ticks("54221.1")
        assert isolated_trigger_ticks(SHORT, *args) == inst.ticks("65721.4")

    def test_long_never_liquidated(self) -> None:
        """A long whose margin covers its cost has no trigger."""
        assert isolated_trigger_ticks(LONG, 1, 1000, 1001, BTC_TABLE, 1) is None

    def test_short_always_liquidated(self) -> None:
        """A short with no margin left to speak of triggers at the lowest tick."""
        assert isolated_trigger_ticks(SHORT, 1, 5, -10, BTC_TABLE, 1) == 1

    def test_full_mmr_top_bracket_long_raises(self) -> None:
        """A long liquidatable at every price (100 % MMR on top) has no highest tick."""
        table = BracketTable.from_tiers([("0", "1", "0.5", 2), ("1", "2", "1", 1)])
        with pytest.raises(ValueError, match="every price"):
            isolated_trigger_ticks(LONG, 1, 10**9, 0, table, 1)

    def test_higher_mmr_liquidates_no_later(self) -> None:
        """Metamorphic: a table with higher MMRs gives a long trigger no lower."""
        low = BracketTable.from_tiers([("0", "1000000", "0.004", 125)])
        high = BracketTable.from_tiers([("0", "1000000", "0.04", 25)])
        args = (LONG, 1000, 600_000_000_000_000, 60_000_000_000_000)
        a = isolated_trigger_ticks(*args, low, 1000)
        b = isolated_trigger_ticks(*args, high, 1000)
        assert a is not None and b is not None and b >= a

    def test_bad_arguments(self) -> None:
        """Side and sizes are checked."""
        with pytest.raises(ValueError):
            isolated_trigger_ticks(0, 1, 1, 1, BTC_TABLE, 1)
        with pytest.raises(ValueError):
            isolated_trigger_ticks(LONG, 0, 1, 1, BTC_TABLE, 1)


class TestDoctests:
    def test_module_doctests(self) -> None:
        """The module's examples run."""
        failures, _ = doctest.testmod(liq_module)
        assert failures == 0
