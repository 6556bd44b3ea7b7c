"""Specification of exsim.units: exact conversion, exact formatting, directed rounding."""

from __future__ import annotations

import doctest
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from exsim import units
from exsim.errors import InputError, OffGridError, SpecError
from exsim.units import (
    ATOMS_PER_UNIT,
    RATE_SCALE,
    atoms_per_tick_lot,
    ceil_div,
    floor_div,
    format_atoms,
    format_lots,
    format_rate_e8,
    format_scaled,
    format_ticks,
    mul_div_ceil,
    mul_div_floor,
    parse_decimal,
    rate_ceil,
    rate_floor,
    to_atoms,
    to_int,
    to_lots,
    to_rate_e8,
    to_ticks,
)

TICKS = [Decimal(t) for t in ("0.1", "0.01", "0.05", "0.00001", "0.0001", "1", "5", "10", "0.25")]
big_ints = st.integers(min_value=-(10**20), max_value=10**20)


class TestDoctests:
    def test_module_doctests_pass(self) -> None:
        """Every doctest in exsim.units passes (the docstrings are executable examples)."""
        result = doctest.testmod(units)
        assert result.attempted > 20
        assert result.failed == 0


class TestConstants:
    def test_scales(self) -> None:
        """One atom is 1e-8 of the settlement asset and rates are parts per 1e8."""
        assert ATOMS_PER_UNIT == 10**8
        assert RATE_SCALE == 10**8
        assert to_rate_e8("0.004", field="mmr") == 400_000


class TestParseDecimal:
    @pytest.mark.parametrize(
        "text,expected",
        [
            ("61590.3", Decimal("61590.3")),
            ("-0.5", Decimal("-0.5")),
            (".5", Decimal("0.5")),
            ("5.", Decimal("5")),
            ("1e5", Decimal("100000")),
            ("6.15903E4", Decimal("61590.3")),
            ("1e-8", Decimal("0.00000001")),
        ],
    )
    def test_accepts_decimal_literals(self, text: str, expected: Decimal) -> None:
        """A minus sign, a bare leading/trailing point and exponents parse to the exact value."""
        assert parse_decimal(text, field="x") == expected

    def test_accepts_decimal_and_int(self) -> None:
        """A finite Decimal or an int passes through unchanged in value."""
        assert parse_decimal(Decimal("1.25"), field="x") == Decimal("1.25")
        assert parse_decimal(7, field="x") == Decimal(7)

    @pytest.mark.parametrize(
        "text",
        ["", " ", "nan", "NaN", "inf", "-Infinity", "sNaN", " 1", "1 ", "1_000", "1.2.3",
         "0x10", "1e", "e5", ".", "+", "--1", "1,5", "١٢", "12abc", "1e5.0", "+2", "+10", "1_0", "²", "6180².0",
         "１２", "1e+５"],
    )
    def test_rejects_junk(self, text: str) -> None:
        """Empty, non-finite, whitespace-padded, underscored, plus-signed, non-ASCII-digit or
        otherwise malformed text is refused (units.py's rule: ASCII digits only)."""
        with pytest.raises(InputError):
            parse_decimal(text, field="price")

    @pytest.mark.parametrize("text", ["+10", "1_0", "²", "١٢", "１２", "-1", "1.0", "1e3", "", " 1", "9" * 61])
    def test_plain_int_is_ascii_digits_only(self, text: str) -> None:
        """``to_int(plain=True)`` (counts, ids, epoch times) takes ASCII digits only, at most 60."""
        with pytest.raises(InputError, match="is not a whole number in ASCII digits"):
            to_int(text, field="id", plain=True)

    def test_plain_int_reads_digits(self) -> None:
        """``to_int(plain=True)`` reads plain digits (leading zeros allowed) and passes an int through."""
        assert to_int("0042", field="id", plain=True) == 42
        assert to_int("9" * 60, field="id", plain=True) == 10**60 - 1
        assert to_int(7, field="id", plain=True) == 7

    def test_rejects_float_and_bool(self) -> None:
        """Floats (inexact) and bools are refused with a hint to pass a string."""
        with pytest.raises(InputError, match="floats are inexact"):
            parse_decimal(0.1, field="price")  # type: ignore[arg-type]
        with pytest.raises(InputError):
            parse_decimal(True, field="price")

    def test_rejects_non_finite_decimal(self) -> None:
        """A NaN or infinite Decimal is refused."""
        for bad in (Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")):
            with pytest.raises(InputError):
                parse_decimal(bad, field="price")

    def test_rejects_huge_exponent(self) -> None:
        """An absurd exponent is refused instead of allocating a gigantic integer."""
        with pytest.raises(InputError, match="out of range"):
            to_ticks("1e999999999", Decimal("0.1"))

    def test_rejects_overlong_text(self) -> None:
        """A very long literal is refused before any big-integer arithmetic."""
        with pytest.raises(InputError, match="too long"):
            to_ticks("0." + "0" * 10**6 + "1", Decimal("0.1"))

    def test_error_names_where_field_value(self) -> None:
        """The error carries where, field and the offending text."""
        with pytest.raises(InputError) as info:
            parse_decimal("abc", field="qty", where="replays/x.csv:7")
        assert str(info.value) == "replays/x.csv:7: field 'qty': 'abc' is not a decimal number"
        assert info.value.where == "replays/x.csv:7"
        assert info.value.field == "qty"


class TestToTicks:
    def test_exact_conversion(self) -> None:
        """On-grid prices convert to the exact tick count."""
        assert to_ticks("61590.3", Decimal("0.1")) == 615903
        assert to_ticks("61590.30000", Decimal("0.1")) == 615903
        assert to_ticks("6.15903e4", Decimal("0.1")) == 615903
        assert to_ticks("0.25", Decimal("0.05")) == 5
        assert to_ticks("30", Decimal("10")) == 3
        assert to_ticks(Decimal("1.5"), "0.5") == 3

    def test_int_is_a_price_not_ticks(self) -> None:
        """An int argument is a price in quote units, not an already-scaled tick count."""
        assert to_ticks(61590, Decimal("0.1")) == 615900

    def test_off_grid_message(self) -> None:
        """Off-grid text is refused with where, field, value and tick in the message."""
        with pytest.raises(OffGridError) as info:
            to_ticks("61590.35", Decimal("0.1"), where="replays/x.csv:1412")
        assert str(info.value) == (
            "replays/x.csv:1412: field 'price': '61590.35' is not a multiple of tick 0.1"
        )
        assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)

    def test_off_grid_never_rounds(self) -> None:
        """Values a hair off the grid, on either side, are refused rather than rounded."""
        for text in ("61590.30000001", "61590.29999999", "-0.05", "5"):
            with pytest.raises(OffGridError):
                to_ticks(text, Decimal("0.1") if text != "5" else Decimal("10"))

    def test_tick_printed_plain(self) -> None:
        """The tick in the message is a plain decimal, never scientific notation."""
        with pytest.raises(OffGridError, match=r"tick 0\.00001$"):
            to_ticks("0.000001", Decimal("1E-5"), field="bid")
        with pytest.raises(OffGridError, match=r"tick 10$"):
            to_ticks("15", Decimal("1E+1"))

    def test_negative_allowed(self) -> None:
        """Negative prices convert (the caller checks the sign)."""
        assert to_ticks("-12.3", Decimal("0.1")) == -123
        assert to_ticks("-0", Decimal("0.1")) == 0

    @pytest.mark.parametrize("tick", ["0", "-0.1", "abc", "nan"])
    def test_bad_tick_is_spec_error(self, tick: str) -> None:
        """A tick size that is not a positive finite number is a SpecError."""
        with pytest.raises(SpecError):
            to_ticks("1", tick)


class TestToLotsAtomsRates:
    def test_lots(self) -> None:
        """Quantities convert to exact lots and off-grid ones name the lot."""
        assert to_lots("1.5", Decimal("0.001")) == 1500
        assert to_lots("3", Decimal("1")) == 3
        with pytest.raises(OffGridError) as info:
            to_lots("0.0015", Decimal("0.001"), where="cmd#4")
        assert str(info.value) == "cmd#4: field 'qty': '0.0015' is not a multiple of lot 0.001"

    def test_atoms_exact_at_1e8(self) -> None:
        """Money is exact to 1e-8 and a ninth decimal is refused."""
        assert to_atoms("1300", field="cum") == 130_000_000_000
        assert to_atoms("0.00000001", field="fee") == 1
        assert to_atoms("-2.5", field="pnl") == -250_000_000
        assert to_atoms("1.000000010", field="fee") == 100_000_001
        with pytest.raises(OffGridError, match="atom 0.00000001"):
            to_atoms("0.000000015", field="fee", where="f.json")

    def test_rate_exact_at_1e8(self) -> None:
        """Rates are exact parts per 1e8; 0.4 % is 400_000 and finer steps are refused."""
        assert to_rate_e8("0.004", field="mmr") == 400_000
        assert to_rate_e8("0.0065", field="mmr") == 650_000
        assert to_rate_e8("1", field="mmr") == RATE_SCALE
        assert to_rate_e8("-0.00000001", field="funding") == -1
        with pytest.raises(OffGridError, match="rate step"):
            to_rate_e8("0.000000001", field="funding")

    def test_to_int(self) -> None:
        """Whole numbers parse in any exact spelling; fractions are refused."""
        assert to_int("125", field="lev") == 125
        assert to_int("125.0", field="lev") == 125
        assert to_int("1.25e2", field="lev") == 125
        with pytest.raises(OffGridError):
            to_int("12.5", field="lev")


class TestFormatting:
    def test_format_ticks_uses_tick_decimals(self) -> None:
        """Ticks format with exactly the tick's decimals, no exponent, sign preserved."""
        assert format_ticks(615903, Decimal("0.1")) == "61590.3"
        assert format_ticks(615900, Decimal("0.1")) == "61590.0"
        assert format_ticks(0, Decimal("0.01")) == "0.00"
        assert format_ticks(-5, Decimal("0.05")) == "-0.25"
        assert format_ticks(1, Decimal("0.00001")) == "0.00001"
        assert format_ticks(3, Decimal("1E+1")) == "30"
        assert format_ticks(7, Decimal("0.10")) == "0.7"

    def test_format_lots(self) -> None:
        """Lots format with the lot's decimals."""
        assert format_lots(1500, Decimal("0.001")) == "1.500"
        assert format_lots(-3, Decimal("1")) == "-3"

    def test_format_atoms_is_exact(self) -> None:
        """Atoms format exactly; places is a minimum and digits are never dropped."""
        assert format_atoms(130_000_000_000) == "1300.00000000"
        assert format_atoms(130_000_000_000, places=0) == "1300"
        assert format_atoms(150_000_000, places=2) == "1.50"
        assert format_atoms(150_000_001, places=2) == "1.50000001"
        assert format_atoms(-1) == "-0.00000001"
        assert format_atoms(0, places=0) == "0"
        assert format_atoms(5, places=10) == "0.0000000500"

    def test_format_rate(self) -> None:
        """Rates format as minimal exact fractions."""
        assert format_rate_e8(400_000) == "0.004"
        assert format_rate_e8(0) == "0"
        assert format_rate_e8(-1) == "-0.00000001"
        assert format_rate_e8(50_000, places=6) == "0.000500"

    def test_format_scaled(self) -> None:
        """format_scaled shows n * 10**-scale exactly."""
        assert format_scaled(13 * 10**19, 16) == "13000"
        assert format_scaled(1, 16) == "0.0000000000000001"

    @given(n=big_ints, tick=st.sampled_from(TICKS))
    def test_ticks_round_trip_from_int(self, n: int, tick: Decimal) -> None:
        """to_ticks(format_ticks(n)) == n for every tick count and tick size."""
        assert to_ticks(format_ticks(n, tick), tick) == n

    @given(n=big_ints, tick=st.sampled_from(TICKS))
    def test_ticks_round_trip_from_text(self, n: int, tick: Decimal) -> None:
        """A canonical price string survives format(to(x)) unchanged and equals the Decimal value."""
        text = format_ticks(n, tick)
        assert format_ticks(to_ticks(text, tick), tick) == text
        assert Decimal(text) == n * tick

    @given(n=big_ints, lot=st.sampled_from([Decimal("0.001"), Decimal("0.1"), Decimal("1")]))
    def test_lots_round_trip(self, n: int, lot: Decimal) -> None:
        """Lots round-trip through their string form."""
        text = format_lots(n, lot)
        assert to_lots(text, lot) == n
        assert format_lots(to_lots(text, lot), lot) == text

    @given(n=big_ints, places=st.integers(0, 12))
    @example(n=-1, places=0)
    def test_atoms_round_trip(self, n: int, places: int) -> None:
        """Atoms round-trip for every minimum-places setting and equal the exact value."""
        text = format_atoms(n, places)
        assert to_atoms(text, field="x") == n
        assert Decimal(text) == Decimal(n).scaleb(-8)
        if places <= 8:
            assert format_atoms(to_atoms(text, field="x"), places) == text

    @given(n=st.integers(-(10**12), 10**12))
    def test_rate_round_trip(self, n: int) -> None:
        """Rates round-trip through their string form."""
        text = format_rate_e8(n)
        assert to_rate_e8(text, field="r") == n
        assert format_rate_e8(to_rate_e8(text, field="r")) == text


class TestRounding:
    @pytest.mark.parametrize(
        "a,b,floor,ceil",
        [(7, 2, 3, 4), (-7, 2, -4, -3), (7, -2, -4, -3), (-7, -2, 3, 4), (6, 3, 2, 2),
         (-6, 3, -2, -2), (0, 5, 0, 0), (-1, 10**8, -1, 0), (1, 10**8, 0, 1)],
    )
    def test_signed_table(self, a: int, b: int, floor: int, ceil: int) -> None:
        """floor_div rounds toward -inf and ceil_div toward +inf for every sign combination."""
        assert floor_div(a, b) == floor
        assert ceil_div(a, b) == ceil

    @given(a=big_ints, b=big_ints.filter(bool))
    def test_floor_ceil_bracket_the_quotient(self, a: int, b: int) -> None:
        """floor <= a/b <= ceil, they differ by at most one, and equal iff b divides a."""
        q = Fraction(a, b)
        lo, hi = floor_div(a, b), ceil_div(a, b)
        assert lo <= q <= hi
        assert hi - lo == (0 if a % b == 0 else 1)
        assert lo == -ceil_div(-a, b)

    @given(a=big_ints, num=big_ints, den=big_ints.filter(bool))
    def test_mul_div_exact(self, a: int, num: int, den: int) -> None:
        """mul_div_floor/ceil equal floor/ceil of the exact rational a*num/den."""
        q = Fraction(a * num, den)
        assert mul_div_floor(a, num, den) == q.__floor__()
        assert mul_div_ceil(a, num, den) == q.__ceil__()

    @given(amount=big_ints, rate=st.integers(-(10**8), 10**8))
    def test_rate_helpers(self, amount: int, rate: int) -> None:
        """rate_floor/rate_ceil are floor/ceil of amount*rate/1e8, also for negative amounts."""
        q = Fraction(amount * rate, RATE_SCALE)
        assert rate_floor(amount, rate) == q.__floor__()
        assert rate_ceil(amount, rate) == q.__ceil__()

    def test_fee_rounds_against_trader(self) -> None:
        """A fee of 0.05 % on 1 atom is 1 atom when charged (ceil) and 0 when paid out (floor)."""
        assert rate_ceil(1, 50_000) == 1
        assert rate_floor(1, 50_000) == 0
        # a credit (negative amount) rounded down is the larger debit: never in the trader's favour
        assert rate_floor(-1, 50_000) == -1


class TestAtomsPerTickLot:
    @pytest.mark.parametrize(
        "tick,lot,expected",
        [("0.1", "0.001", 10_000), ("0.01", "0.001", 1_000), ("0.00001", "1", 1_000),
         ("0.0001", "0.1", 1_000), ("10", "100", 100_000_000_000), ("0.0000001", "0.1", 1)],
    )
    def test_exact(self, tick: str, lot: str, expected: int) -> None:
        """tick*lot/1e-8 is computed exactly for real grids."""
        assert atoms_per_tick_lot(Decimal(tick), Decimal(lot)) == expected

    def test_inexact_refused(self) -> None:
        """A grid whose tick*lot is below one atom (or not a whole number of atoms) is refused."""
        with pytest.raises(SpecError, match="not a whole number of atoms"):
            atoms_per_tick_lot(Decimal("0.00001"), Decimal("0.0001"))
        with pytest.raises(SpecError):
            atoms_per_tick_lot(Decimal("0.000000015"), Decimal("1"))

    def test_non_positive_refused(self) -> None:
        """Zero or negative sizes are a SpecError naming the field."""
        with pytest.raises(SpecError) as info:
            atoms_per_tick_lot(Decimal("0.1"), Decimal("0"))
        assert info.value.field == "lot_size"


class TestTowardZero:
    @pytest.mark.parametrize("a,b,expected", [(7, 2, 3), (-7, 2, -3), (7, -2, -3), (-7, -2, 3), (6, 3, 2), (0, 5, 0)])
    def test_div_toward_zero(self, a: int, b: int, expected: int) -> None:
        """div_toward_zero drops the fraction of either sign: |result| <= |a / b|."""
        from exsim.units import div_toward_zero

        assert div_toward_zero(a, b) == expected

    def test_a_move_is_never_overstated(self) -> None:
        """move_fraction_e8: a fall of 5.2631578...% reads −5.263157 %, a rise of 1/3 +33.333333 %."""
        from exsim.units import move_fraction_e8

        assert move_fraction_e8(100_000_000_000, 94_736_842_106) == -5_263_157
        assert move_fraction_e8(3, 4) == 33_333_333 and move_fraction_e8(5, 5) == 0


class TestGridFormatter:
    @pytest.mark.parametrize("step,counts", [("0.1", [615903, 0, -5]), ("0.001", [1500, 7]), ("10", [3]), ("0.05", [-5, 3])])
    def test_same_text_as_format_ticks(self, step: str, counts: list[int]) -> None:
        """grid_formatter(step)(n) is format_ticks(n, step), for prices and sizes alike."""
        from exsim.units import format_ticks, grid_formatter

        fmt = grid_formatter(step)
        assert [fmt(n) for n in counts] == [format_ticks(n, step) for n in counts]

    def test_a_bad_step_is_refused_once(self) -> None:
        """A step that is not a positive decimal is a SpecError when the formatter is made."""
        from exsim.units import grid_formatter

        with pytest.raises(SpecError):
            grid_formatter("0")
