"""Specification of funding (``exsim.margin.funding``, MARGIN-SPEC §6).

Schedule on the 00:00/08:00/16:00 UTC grid; premium index rounded toward zero; the premium
average of each interval (linear or equal weights) against a from-scratch reference; the
rate ``P + clamp(I - P, ±0.05 %)`` with its cap; and settlement: positive rate, longs pay;
every amount is the floor of its exact value, so payers pay at least and receivers get at
most what they owe / are owed, and ``sum(amounts) + dust == 0`` with ``0 <= dust < m``.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from exsim.errors import StateError
from exsim.margin.funding import (
    DEFAULT_CLAMP_E8,
    DEFAULT_INTEREST_E8,
    EQUAL,
    LINEAR,
    FundingSettlement,
    PremiumAverager,
    funding_payments,
    funding_rate_e8,
    next_funding_time_ns,
    premium_index_e8,
)
from exsim.units import NS_PER_HOUR, NS_PER_SECOND, RATE_SCALE, to_rate_e8

H = NS_PER_HOUR
S = NS_PER_SECOND


def utc_ns(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Nanoseconds since the epoch of a UTC wall-clock time."""
    wall = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    return int(wall.timestamp()) * S


# --------------------------------------------------------------------------- schedule


class TestNextFundingTime:
    def test_utc_grid(self) -> None:
        """An 8 h interval anchored at the epoch funds at 00:00, 08:00 and 16:00 UTC."""
        assert next_funding_time_ns(utc_ns(2024, 3, 5, 5, 17), 8 * H) == utc_ns(2024, 3, 5, 8)
        assert next_funding_time_ns(utc_ns(2024, 3, 5, 8, 0, 1), 8 * H) == utc_ns(2024, 3, 5, 16)
        assert next_funding_time_ns(utc_ns(2024, 3, 5, 23, 59), 8 * H) == utc_ns(2024, 3, 6)

    def test_on_a_funding_time(self) -> None:
        """At a funding time the next one is an interval later, unless inclusive."""
        t = utc_ns(2024, 3, 5, 16)
        assert next_funding_time_ns(t, 8 * H) == t + 8 * H
        assert next_funding_time_ns(t, 8 * H, inclusive=True) == t
        assert next_funding_time_ns(t - 1, 8 * H, inclusive=True) == t

    def test_anchor_and_negative_times(self) -> None:
        """The grid is anchor + k * interval for every integer k, before the epoch too."""
        assert next_funding_time_ns(5 * H, 4 * H, anchor_ns=2 * H) == 6 * H
        assert next_funding_time_ns(-1, 8 * H) == 0
        assert next_funding_time_ns(-8 * H, 8 * H) == 0

    @given(st.integers(-(10**19), 10**19), st.integers(1, 10**14), st.integers(-(10**15), 10**15))
    def test_smallest_grid_point_after(self, ts: int, interval: int, anchor: int) -> None:
        """The result is on the grid, after ts, and less than one interval after it."""
        t = next_funding_time_ns(ts, interval, anchor)
        assert (t - anchor) % interval == 0 and ts < t <= ts + interval
        ti = next_funding_time_ns(ts, interval, anchor, inclusive=True)
        assert (ti - anchor) % interval == 0 and ts <= ti < ts + interval


# --------------------------------------------------------------------------- premium


class TestPremiumIndex:
    def test_examples(self) -> None:
        """Premium from the bid side, discount from the ask side, zero inside the spread."""
        assert premium_index_e8(60_006, 60_008, 60_000) == 10_000
        assert premium_index_e8(59_990, 59_994, 60_000) == -10_000
        assert premium_index_e8(59_999, 60_001, 60_000) == 0

    def test_rounds_toward_zero(self) -> None:
        """1/3 and -1/3 truncate to 33333333 and -33333333 e8."""
        assert premium_index_e8(4, 5, 3) == 33_333_333
        assert premium_index_e8(1, 2, 3) == -33_333_333

    def test_scale_free(self) -> None:
        """Scaling all three prices by the same factor does not change the premium."""
        assert premium_index_e8(60_006 * 37, 60_008 * 37, 60_000 * 37) == 10_000

    def test_bad_index_raises(self) -> None:
        """The index must be positive."""
        with pytest.raises(ValueError, match="must be > 0"):
            premium_index_e8(1, 2, 0)

    @given(st.integers(1, 10**9), st.integers(-(10**6), 10**6), st.integers(0, 10**6))
    def test_exact_within_one_toward_zero_and_symmetric(
        self, index: int, d: int, spread: int
    ) -> None:
        """The result truncates the exact premium, and a mirrored book gives its negation."""
        bid, ask = index + d, index + d + spread
        assume(bid > 0 and 2 * index - bid > 0)
        got = premium_index_e8(bid, ask, index)
        exact = Fraction(max(0, bid - index) - max(0, index - ask), index) * RATE_SCALE
        assert got == int(exact)  # int() truncates toward zero
        assert premium_index_e8(2 * index - ask, 2 * index - bid, index) == -got


class NaiveAverager:
    """Reference: keeps every premium update, recomputes each interval's P from scratch."""

    def __init__(self, interval: int, step: int, anchor: int, linear: bool) -> None:
        self.interval, self.step, self.anchor, self.linear = interval, step, anchor, linear
        self.events: list[tuple[int, int]] = []
        self.settled: set[int] = set()

    def samples(self, lo_k: int, hi_k: int) -> list[int]:
        """Present samples stamped at grid indices lo_k..hi_k, in time order."""
        out = []
        for k in range(lo_k, hi_k + 1):
            t = self.anchor + k * self.step
            value = None
            for ts, p in self.events:
                if ts < t:
                    value = p
            if value is not None:
                out.append(value)
        return out

    def average(self, values: list[int]) -> int | None:
        if not values:
            return None
        weights = range(1, len(values) + 1) if self.linear else [1] * len(values)
        exact = Fraction(sum(w * v for w, v in zip(weights, values)), sum(weights))
        return int(exact)

    def settle(self, t: int) -> int | None:
        self.settled.add(t)
        spp = self.interval // self.step
        end_k = (t - self.anchor) // self.step
        return self.average(self.samples(end_k - spp + 1, end_k))

    def estimate(self, ts: int) -> int | None:
        spp = self.interval // self.step
        k_last = (ts - self.anchor) // self.step
        end_k = -(-k_last // spp) * spp
        if self.anchor + end_k * self.step in self.settled:
            return None
        return self.average(self.samples(end_k - spp + 1, k_last))


class TestPremiumAverager:
    def test_linear_weights_hand_example(self) -> None:
        """Samples 10, 20, 30, 40 weigh 1..4: P = (10 + 40 + 90 + 160) / 10 = 30."""
        a = PremiumAverager(4 * S, sample_interval_ns=S)
        for i, p in enumerate((10, 20, 30, 40)):
            a.on_premium(i * S, p)  # in force over bucket [i, i+1) s, sampled at i+1 s
            a._check()
        assert a.settle(4 * S) == 30
        a._check()

    def test_equal_weights_hand_example(self) -> None:
        """The same samples with equal weights average to 25."""
        a = PremiumAverager(4 * S, sample_interval_ns=S, weighting=EQUAL)
        for i, p in enumerate((10, 20, 30, 40)):
            a.on_premium(i * S, p)
        assert a.settle(4 * S) == 25

    def test_constant_premium(self) -> None:
        """A premium held over a whole 8 h interval (5,760 samples) averages to itself."""
        a = PremiumAverager(8 * H)
        a.on_premium(0, 1_234)
        assert a.estimate_e8(4 * H) == 1_234
        assert a.settle(8 * H) == 1_234
        assert a.sample_count == 0
        a._check()

    def test_rounds_toward_zero(self) -> None:
        """A negative weighted mean truncates toward zero: (-1*1 + -2*2) / 3 = -5/3 -> -1."""
        a = PremiumAverager(2 * S, sample_interval_ns=S)
        a.on_premium(0, -1)
        a.on_premium(S, -2)
        assert a.settle(2 * S) == -1

    def test_next_interval_starts_fresh(self) -> None:
        """After settle, the next interval's P uses only its own samples."""
        a = PremiumAverager(2 * S, sample_interval_ns=S)
        a.on_premium(0, 100)
        assert a.settle(2 * S) == 100
        assert a.estimate_e8(2 * S) is None
        a.on_premium(2 * S, 40)
        assert a.estimate_e8(3 * S) == 40
        assert a.settle(4 * S) == 40
        a._check()

    def test_update_on_grid_point_counts_from_next_sample(self) -> None:
        """A premium set at exactly a sample time is not in that sample."""
        a = PremiumAverager(2 * S, sample_interval_ns=S, weighting=EQUAL)
        a.on_premium(0, 10)
        a.on_premium(S, 30)  # sample at 1 s is 10, at 2 s is 30
        assert a.settle(2 * S) == 20

    def test_late_settle_and_repeat(self) -> None:
        """Settling after the next interval began, and settling twice, give the same P."""
        a = PremiumAverager(2 * S, sample_interval_ns=S)
        a.on_premium(0, 7)
        a.on_premium(3 * S, 9)  # interval (0, 2] closed automatically at the 3 s sample
        assert a.settle(2 * S) == 7
        assert a.settle(2 * S) == 7
        a._check()

    def test_too_late_settle_raises(self) -> None:
        """Settling an interval older than the last closed one is refused."""
        a = PremiumAverager(2 * S, sample_interval_ns=S)
        a.on_premium(0, 7)
        a.on_premium(5 * S, 9)  # closes (0, 2] and (2, 4]
        with pytest.raises(ValueError, match="closed and replaced"):
            a.settle(2 * S)
        assert a.settle(4 * S) == 7

    def test_off_grid_settle_raises(self) -> None:
        """settle takes funding times only."""
        a = PremiumAverager(8 * H, anchor_ns=0)
        with pytest.raises(ValueError, match="not a funding time"):
            a.settle(3 * H)

    def test_empty_interval(self) -> None:
        """An interval with no premium yet has no average."""
        a = PremiumAverager(8 * H)
        assert a.settle(8 * H) is None
        a.on_premium(9 * H, 5)
        assert a.estimate_e8(9 * H) is None  # no grid point after 9 h reached yet
        a._check()

    def test_gap_over_several_intervals(self) -> None:
        """A long gap closes the intervals it crosses; the latest one settles correctly."""
        a = PremiumAverager(8 * H)  # 5 s samples: 5,760 per interval
        a.on_premium(0, 3_000)
        a.on_premium(100 * H, 4_000)
        assert a.settle(96 * H) == 3_000
        # (96 h, 104 h]: samples 1..2880 are 3,000, samples 2881..5760 are 4,000
        weights = range(1, 5_761)
        exact = Fraction(sum(w * (3_000 if w <= 2_880 else 4_000) for w in weights), sum(weights))
        assert a.settle(104 * H) == int(exact) == 3_749
        a._check()

    def test_bad_parameters_raise(self) -> None:
        """The sample interval must divide the funding interval; weighting must be known."""
        with pytest.raises(ValueError, match="does not divide"):
            PremiumAverager(10, sample_interval_ns=3)
        with pytest.raises(ValueError, match="weighting"):
            PremiumAverager(10, sample_interval_ns=5, weighting="exp")

    def test_time_going_back_raises(self) -> None:
        """Premiums must come in non-decreasing time."""
        a = PremiumAverager(8 * H)
        a.on_premium(10, 1)
        with pytest.raises(ValueError, match="before the previous update"):
            a.on_premium(9, 1)

    def test_check_detects_corruption(self) -> None:
        """_check notices a total weight that does not match the sample count."""
        a = PremiumAverager(8 * H)
        a.on_premium(0, 1)
        a.estimate_e8(H)
        a._wtotal += 1
        with pytest.raises(StateError):
            a._check()

    @settings(max_examples=200)
    @given(
        st.lists(
            st.tuples(
                st.one_of(st.just(0), st.integers(1, 12), st.integers(0, 60)),
                st.sampled_from(["premium", "premium", "estimate", "settle"]),
                st.integers(-(10**6), 10**6),
            ),
            max_size=50,
        ),
        st.sampled_from([(12, 3), (12, 1), (6, 6), (20, 4)]),
        st.integers(-7, 7),
        st.sampled_from([LINEAR, EQUAL]),
    )
    def test_matches_reference(
        self, ops: list[tuple[int, str, int]], sizes: tuple[int, int], anchor: int, weighting: str
    ) -> None:
        """On random streams estimates and settlements equal the from-scratch reference."""
        interval, step = sizes
        a = PremiumAverager(
            interval, sample_interval_ns=step, anchor_ns=anchor, weighting=weighting
        )
        ref = NaiveAverager(interval, step, anchor, weighting == LINEAR)
        ts = 0
        last_settled = None
        for dt, kind, value in ops:
            ts += dt
            if kind == "premium":
                a.on_premium(ts, value)
                ref.events.append((ts, value))
            elif kind == "estimate":
                assert a.estimate_e8(ts) == ref.estimate(ts)
            else:
                t = next_funding_time_ns(ts, interval, anchor, inclusive=True)
                if t != ts:
                    t -= interval  # the latest funding time <= ts
                if last_settled is not None and t < last_settled:
                    continue
                assert a.settle(t) == ref.settle(t)
                last_settled = t
            a._check()


# --------------------------------------------------------------------------- rate


class TestFundingRate:
    def test_defaults_are_binance(self) -> None:
        """I = 0.01 % and the clamp is 0.05 % (parts per 1e8)."""
        assert DEFAULT_INTEREST_E8 == to_rate_e8("0.0001", field="I") == 10_000
        assert DEFAULT_CLAMP_E8 == to_rate_e8("0.0005", field="clamp") == 50_000

    def test_premium_equal_to_interest(self) -> None:
        """Premium 0.01 % gives rate 0.01 %."""
        assert funding_rate_e8(10_000) == 10_000

    def test_dead_band(self) -> None:
        """Any premium within 0.05 % of I gives exactly I; just outside, P -/+ 0.05 %."""
        assert funding_rate_e8(-40_000) == funding_rate_e8(60_000) == 10_000
        assert funding_rate_e8(60_001) == 10_001
        assert funding_rate_e8(-40_001) == 9_999

    def test_large_premium_under_cap(self) -> None:
        """Premium 0.2 % with cap 0.75 %: rate 0.2 % - 0.05 % = 0.15 %."""
        assert funding_rate_e8(200_000, cap_e8=750_000) == 150_000

    def test_capped(self) -> None:
        """Premium 1 % would give 0.95 %; the cap 0.75 % binds."""
        assert funding_rate_e8(1_000_000, cap_e8=750_000) == 750_000

    def test_negative_premiums(self) -> None:
        """Premium -0.2 % gives -0.15 %; -1 % is floored at -cap."""
        assert funding_rate_e8(-200_000) == -150_000
        assert funding_rate_e8(-1_000_000, cap_e8=750_000) == -750_000
        assert funding_rate_e8(-1_000_000, cap_e8=750_000, floor_e8=-300_000) == -300_000

    def test_zero_interest_symbol(self) -> None:
        """With I = 0 (BNB-style contracts), a small premium gives 0."""
        assert funding_rate_e8(30_000, interest_e8=0) == 0
        assert funding_rate_e8(80_000, interest_e8=0) == 30_000

    def test_bad_arguments_raise(self) -> None:
        """A negative clamp or a floor above the cap is refused."""
        with pytest.raises(ValueError):
            funding_rate_e8(0, clamp_e8=-1)
        with pytest.raises(ValueError):
            funding_rate_e8(0, cap_e8=100, floor_e8=200)

    @given(st.integers(-(10**7), 10**7), st.integers(-(10**7), 10**7), st.integers(0, 10**6))
    def test_monotone_and_bounded(self, p: int, q: int, cap: int) -> None:
        """The rate never decreases as the premium grows, stays within clamp of P and in the cap."""
        lo, hi = min(p, q), max(p, q)
        assert funding_rate_e8(lo) <= funding_rate_e8(hi)
        assert abs(funding_rate_e8(p) - p) <= DEFAULT_CLAMP_E8
        assert -cap <= funding_rate_e8(p, cap_e8=cap) <= cap


# --------------------------------------------------------------------------- settlement


def exact_change(qty: int, mark: int, aptl: int, rate: int) -> Fraction:
    """Exact balance change in atoms: ``-qty * mark * aptl * rate / 1e8``."""
    return Fraction(-qty * mark * aptl * rate, RATE_SCALE)


@st.composite
def books(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Positions keyed 0..n, netting to zero (the last one is the external account)."""
    qtys = draw(st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=25))
    qtys.append(-sum(qtys))
    return list(enumerate(qtys))


MARKS = st.integers(1, 10**9)
#: funding_payments takes the mark in subticks and the lot as ``lot_size_e8`` (1e-8 atoms of
#: notional per lot per subtick): ``x * E8`` below is a lot worth ``x`` atoms per unit of mark
E8 = 10**8
TICK_LOTS = st.integers(1, 10**6)
RATES = st.integers(-3 * 10**6, 3 * 10**6)


class TestFundingPayments:
    def test_positive_rate_long_pays(self) -> None:
        """With a positive rate the long pays and the short receives."""
        s = funding_payments([("long", 1), ("short", -1)], 600_000, 10_000 * E8, 10_000)
        assert s.by_key() == {"long": -600_000, "short": 600_000}
        assert (s.dust_atoms, s.paid_atoms, s.received_atoms) == (0, 600_000, 600_000)
        s._check()

    def test_negative_rate_short_pays(self) -> None:
        """With a negative rate the short pays and the long receives."""
        s = funding_payments([("long", 1), ("short", -1)], 600_000, 10_000 * E8, -10_000)
        assert s.by_key() == {"long": 600_000, "short": -600_000}

    def test_worked_btc_example(self) -> None:
        """2 BTC long at mark 61,590.3, rate 0.01 %: pays 12.31806 USDT to two shorts of 1 BTC."""
        # tick 0.1, lot 0.001 -> 10_000 atoms per tick-lot; 2 BTC = 2,000 lots
        s = funding_payments([(1, 2_000), (2, -1_000), (3, -1_000)], 615_903, 10_000 * E8, 10_000)
        assert s.amounts == ((1, -1_231_806_000), (2, 615_903_000), (3, 615_903_000))
        assert s.dust_atoms == 0

    def test_rounding_makes_dust(self) -> None:
        """Exact -2.99999997, +0.99999999, +1.99999998: pay 3, get 0 and 1, dust 2."""
        s = funding_payments([("A", 3), ("B", -1), ("C", -2)], 3, 1 * E8, 33_333_333)
        assert s.amounts == (("A", -3), ("B", 0), ("C", 1))
        assert (s.dust_atoms, s.paid_atoms, s.received_atoms) == (2, 3, 1)
        s._check()

    def test_zero_rate_and_flat_positions(self) -> None:
        """A zero rate moves nothing; a flat position gets 0 at any rate."""
        s = funding_payments([(1, 5), (2, -5), (3, 0)], 100, 7 * E8, 0)
        assert [a for _, a in s.amounts] == [0, 0, 0] and s.dust_atoms == 0
        s = funding_payments([(1, 5), (2, -5), (3, 0)], 100, 7 * E8, 12_345)
        assert s.by_key()[3] == 0

    def test_hedge_mode_legs(self) -> None:
        """Hedge-mode legs of one account are separate keys, each settled on its own."""
        legs = [((1, "LONG"), 3), ((1, "SHORT"), -1), ((2, "SHORT"), -2)]
        s = funding_payments(legs, 1_000_000, 1 * E8, 10_000)  # 100 atoms per lot
        assert s.by_key() == {(1, "LONG"): -300, (1, "SHORT"): 100, (2, "SHORT"): 200}

    def test_not_net_zero_raises(self) -> None:
        """Positions that do not net to zero are refused: the caller left someone out."""
        with pytest.raises(ValueError, match="net to 2 lots"):
            funding_payments([(1, 3), (2, -1)], 100, 1 * E8, 10_000)

    def test_duplicate_key_raises(self) -> None:
        """Each key may appear once."""
        with pytest.raises(ValueError, match="twice"):
            funding_payments([(1, 3), (1, -3)], 100, 1 * E8, 10_000)

    def test_bad_mark_raises(self) -> None:
        """The mark and the tick-lot size must be positive."""
        with pytest.raises(ValueError):
            funding_payments([], 0, 1 * E8, 1)
        with pytest.raises(ValueError):
            funding_payments([], 1, 0 * E8, 1)

    def test_empty_book(self) -> None:
        """No positions: nothing paid, no dust."""
        s: FundingSettlement[int] = funding_payments([], 100, 1 * E8, 10_000)
        assert s.amounts == () and s.dust_atoms == 0
        s._check()

    def test_check_detects_broken_settlement(self) -> None:
        """_check refuses a settlement whose amounts and dust do not sum to zero."""
        bad: FundingSettlement[str] = FundingSettlement(
            rate_e8=10_000, mark_subticks=100, lot_size_e8=E8,
            positions=(("a", 1), ("b", -1)), amounts=(("a", -1), ("b", 1)),
            dust_atoms=1, paid_atoms=1, received_atoms=1,
        )
        with pytest.raises(StateError):
            bad._check()

    @settings(max_examples=400)
    @given(books(), MARKS, TICK_LOTS, RATES)
    def test_zero_sum_and_never_favours_a_trader(
        self, positions: list[tuple[int, int]], mark: int, aptl: int, rate: int
    ) -> None:
        """sum + dust == 0; payers pay >= exact, receivers get <= exact, each within one atom;
        0 <= dust <= m - 1 for m fractional amounts."""
        s = funding_payments(positions, mark, aptl * E8, rate)
        s._check()
        assert sum(a for _, a in s.amounts) + s.dust_atoms == 0
        fractional = 0
        for (key, qty), (akey, amount) in zip(positions, s.amounts):
            assert key == akey
            e = exact_change(qty, mark, aptl, rate)
            if e < 0:
                assert -amount >= -e  # a payer pays at least what it owes
            else:
                assert 0 <= amount <= e  # a receiver gets at most what it is owed
            assert e - 1 < amount <= e
            fractional += e.denominator != 1
        assert 0 <= s.dust_atoms <= max(0, fractional - 1)
        assert s.dust_atoms < max(1, sum(1 for _, q in positions if q))

    @given(books(), MARKS, TICK_LOTS, st.integers(1, 3 * 10**6))
    def test_sign_convention(
        self, positions: list[tuple[int, int]], mark: int, aptl: int, rate: int
    ) -> None:
        """With a positive rate no long receives and no short pays; a negative rate mirrors it."""
        pos = funding_payments(positions, mark, aptl * E8, rate)
        neg = funding_payments(positions, mark, aptl * E8, -rate)
        for (_, qty), (_, a), (_, b) in zip(positions, pos.amounts, neg.amounts):
            if qty > 0:
                assert a <= 0 <= b
            elif qty < 0:
                assert b <= 0 <= a

    @given(books(), MARKS, TICK_LOTS, RATES)
    def test_negating_rate_equals_flipping_sides(
        self, positions: list[tuple[int, int]], mark: int, aptl: int, rate: int
    ) -> None:
        """Settling at -rate is the same as settling every position flipped at +rate."""
        flipped = [(k, -q) for k, q in positions]
        assert (
            funding_payments(positions, mark, aptl * E8, -rate).amounts
            == funding_payments(flipped, mark, aptl * E8, rate).amounts
        )

    @pytest.mark.parametrize("seed", range(3))
    def test_seeded_many_small_positions(self, seed: int) -> None:
        """Thousands of tiny positions: dust stays below their count and the checks hold."""
        rng = random.Random(seed)
        qtys = [rng.randrange(-50, 51) for _ in range(3_000)]
        qtys.append(-sum(qtys))
        positions = [(i, q) for i, q in enumerate(qtys)]
        s = funding_payments(positions, rng.randrange(1, 10**6), (rng.randrange(1, 100)) * E8,
                             rng.randrange(-3 * 10**6, 3 * 10**6))
        s._check()
        assert 0 <= s.dust_atoms < len(positions)
