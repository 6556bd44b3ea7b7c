"""Specification of the fine-price part of exsim.units: subticks (1e-8 of the quote asset)
for marks and index prices, and 1e-8 atoms for money valued at them."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exsim.errors import OffGridError, SpecError
from exsim.units import (
    ATOMS_E8_PER_ATOM,
    SUBTICKS_PER_UNIT,
    atoms_e8_ceil,
    atoms_e8_floor,
    div_half_even,
    format_subticks,
    lot_size_e8,
    rate_floor_e8,
    subticks_ceil_ticks,
    subticks_floor_ticks,
    subticks_nearest_ticks,
    subticks_per_tick,
    to_subticks,
)

TICKS = ("0.1", "0.01", "0.0001", "0.00001", "1", "10", "0.25", "0.00000001")
prices = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("10000000"), places=8)


class TestToSubticks:
    @given(prices)
    def test_round_trips_any_eight_decimal_price(self, price: Decimal) -> None:
        """Any price with up to 8 decimals converts exactly and formats back to the same value."""
        n = to_subticks(str(price))
        assert Fraction(n, SUBTICKS_PER_UNIT) == Fraction(price)
        assert Decimal(format_subticks(n)) == price

    def test_binance_published_marks_convert_exactly(self) -> None:
        """A fifth-decimal XRPUSDT mark and an 8-decimal markPrice stream value are exact integers."""
        assert to_subticks("0.52345") == 52_345_000
        assert to_subticks("11793.63104562") == 1_179_363_104_562

    def test_a_ninth_decimal_is_an_error_naming_the_field(self) -> None:
        """Beyond 1e-8 the value is refused, never rounded; the error names where and the field."""
        with pytest.raises(OffGridError, match=r"marks.csv:7: field 'index price': '1.000000001' is not a multiple of subtick"):
            to_subticks("1.000000001", field="index price", where="marks.csv:7")

    def test_trailing_zeros_beyond_eight_decimals_are_exact(self) -> None:
        """'61800.1000000000' is on the subtick grid (zeros are not digits of precision)."""
        assert to_subticks("61800.1000000000") == 6_180_010_000_000


class TestFormatSubticks:
    def test_shows_the_tick_decimals_and_more_when_finer(self) -> None:
        """At least the tick's places; the fine digits are kept, never rounded away."""
        assert format_subticks(52_340_000, 4) == "0.5234"
        assert format_subticks(52_345_000, 4) == "0.52345"
        assert format_subticks(1_179_363_104_562, 1) == "11793.63104562"
        assert format_subticks(6_000_000_000_000, 1) == "60000.0"


class TestScales:
    @pytest.mark.parametrize("tick", TICKS)
    def test_subticks_per_tick_is_the_tick_over_1e_8(self, tick: str) -> None:
        """subticks_per_tick(t) × 1e-8 == t exactly, for every shipped-like tick."""
        assert Fraction(subticks_per_tick(tick), SUBTICKS_PER_UNIT) == Fraction(Decimal(tick))

    def test_a_tick_finer_than_a_subtick_is_a_spec_error(self) -> None:
        """A tick of 1e-9 cannot hold whole subticks: SpecError naming tick_size."""
        with pytest.raises(SpecError, match="tick_size"):
            subticks_per_tick("0.000000001")

    def test_lot_size_e8_is_the_lot_in_1e_8_of_the_base(self) -> None:
        """0.001 BTC is 100,000 e-8 BTC; a lot finer than 1e-8 is a SpecError."""
        assert lot_size_e8("0.001") == 100_000 and lot_size_e8("1") == ATOMS_E8_PER_ATOM
        with pytest.raises(SpecError, match="lot_size"):
            lot_size_e8("0.000000001")


class TestDirectedRounding:
    @given(st.integers(1, 10**15), st.sampled_from([1, 10, 10_000, 10_000_000]))
    def test_floor_and_ceil_ticks_bracket_the_mark(self, mark: int, per_tick: int) -> None:
        """floor ≤ mark ≤ ceil in ticks, equal when the mark is on the tick, one apart otherwise."""
        lo, hi = subticks_floor_ticks(mark, per_tick), subticks_ceil_ticks(mark, per_tick)
        assert lo * per_tick <= mark <= hi * per_tick
        assert hi - lo == (0 if mark % per_tick == 0 else 1)
        assert subticks_nearest_ticks(mark, per_tick) in (lo, hi)

    @given(st.integers(-(10**18), 10**18), st.integers(1, 10**9))
    def test_half_even_is_the_nearest_with_ties_to_even(self, a: int, b: int) -> None:
        """|a/b − q| ≤ 1/2, and at exactly 1/2 the even neighbour is chosen."""
        q = div_half_even(a, b)
        diff = Fraction(a, b) - q
        assert abs(diff) <= Fraction(1, 2)
        if abs(diff) == Fraction(1, 2):
            assert q % 2 == 0

    @given(st.integers(-(10**30), 10**30))
    def test_atoms_e8_floor_and_ceil(self, x: int) -> None:
        """floor ≤ x / 1e8 ≤ ceil, one apart unless x is whole atoms."""
        lo, hi = atoms_e8_floor(x), atoms_e8_ceil(x)
        assert lo * ATOMS_E8_PER_ATOM <= x <= hi * ATOMS_E8_PER_ATOM
        assert hi - lo == (0 if x % ATOMS_E8_PER_ATOM == 0 else 1)

    @given(st.integers(-(10**25), 10**25), st.integers(-(10**7), 10**7))
    def test_funding_payment_rounds_down(self, notional_e8: int, rate_e8: int) -> None:
        """rate_floor_e8 is floor(notional × rate / 1e16): a payer pays the ceiling, a receiver gets the floor."""
        got = rate_floor_e8(notional_e8, rate_e8)
        exact = Fraction(notional_e8 * rate_e8, 10**16)
        assert got <= exact < got + 1
