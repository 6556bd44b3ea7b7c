"""Fixed-point units: the one module that converts, formats and rounds numbers.

State in exsim holds integers only, each with its unit in its name:

=============  ==========================================================  ==============
unit           meaning                                                     example
=============  ==========================================================  ==============
``_ticks``     price as a whole number of the instrument's tick size       ``615903`` = 61590.3 at tick 0.1
``_lots``      quantity as a whole number of the instrument's lot size     ``1500`` = 1.5 at lot 0.001
``_atoms``     money; 1 atom = 1e-8 of the settlement asset                ``100_000_000`` = 1 USDT
``_e8``        rate in parts per 1e8 (MMR, fees, funding)                  ``400_000`` = 0.4 %
``_ns``        timestamp / duration in nanoseconds since the epoch         ``8 * NS_PER_HOUR``
``_subticks``  mark / index / reference price in 1e-8 of the quote asset   ``52345000`` = 0.52345
``_atoms_e8``  money at a subtick price, in 1e-8 of an atom (exact)        ``10**8`` = 1 atom
=============  ==========================================================  ==============

Traded prices (orders, fills, the book) are ``_ticks``; prices the venue computes or
reads from elsewhere (mark, index, premium reference) are ``_subticks``, because they
are finer than the tick (see "fine prices" below: why one scale, and how it stays exact).

Decimal strings exist only at the edges: :func:`parse_decimal` and the ``to_*`` converters
turn text into integers **exactly** (off-grid input raises :class:`~exsim.errors.OffGridError`,
nothing is ever rounded on the way in) and the ``format_*`` functions turn integers back
into plain decimal strings (never an exponent, never a float).

Rounding happens only here, in helpers named by direction (:func:`floor_div`,
:func:`ceil_div`, :func:`mul_div_floor`, :func:`mul_div_ceil`, :func:`rate_floor`,
:func:`rate_ceil`). All of them are exact integer arithmetic and correct for negative
numerators. The house rule (DESIGN §3): requirements and fees round **against the trader**
(up, ``*_ceil``); payouts round **down** (``*_floor``); whatever is rounded away from one
account must be booked to another, so no atom is created or lost.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from typing import Callable, Final

from exsim.errors import InputError, OffGridError, SpecError

__all__ = [
    "ATOMS_PER_UNIT",
    "whole_arg",
    "ATOM_PLACES",
    "RATE_SCALE",
    "RATE_PLACES",
    "NS_PER_SECOND",
    "NS_PER_MINUTE",
    "NS_PER_HOUR",
    "NS_PER_DAY",
    "parse_decimal",
    "to_ticks",
    "to_lots",
    "to_atoms",
    "to_rate_e8",
    "to_int",
    "format_ticks",
    "format_lots",
    "grid_formatter",
    "format_atoms",
    "format_rate_e8",
    "format_decimal",
    "format_scaled",
    "floor_div",
    "ceil_div",
    "div_toward_zero",
    "move_fraction_e8",
    "mul_div_floor",
    "mul_div_ceil",
    "rate_floor",
    "rate_ceil",
    "atoms_per_tick_lot",
    "inverse_atoms_per_lot_tick",
    "inverse_value_floor",
    "inverse_value_e8_ceil",
    "SUBTICK_PLACES",
    "SUBTICKS_PER_UNIT",
    "ATOMS_E8_PER_ATOM",
    "subticks_per_tick",
    "lot_size_e8",
    "to_subticks",
    "format_subticks",
    "tick_places",
    "ticks_to_subticks",
    "subticks_floor_ticks",
    "subticks_ceil_ticks",
    "subticks_nearest_ticks",
    "div_half_even",
    "atoms_e8_floor",
    "atoms_e8_ceil",
    "rate_floor_e8",
]

ATOM_PLACES: Final[int] = 8
#: Atoms per unit of the settlement asset (1 atom = 1e-8 USDT, or 1 satoshi for BTC).
ATOMS_PER_UNIT: Final[int] = 100_000_000
RATE_PLACES: Final[int] = 8
#: Scale of every ``*_e8`` rate: 0.4 % = 0.004 = ``400_000`` e8.
RATE_SCALE: Final[int] = 100_000_000

NS_PER_SECOND: Final[int] = 1_000_000_000
NS_PER_MINUTE: Final[int] = 60 * NS_PER_SECOND
NS_PER_HOUR: Final[int] = 60 * NS_PER_MINUTE
NS_PER_DAY: Final[int] = 24 * NS_PER_HOUR

# A decimal literal: optional minus sign, digits with an optional point, optional exponent.
# ASCII digits only (``\d`` would accept other scripts' digits, as ``Decimal`` does, and
# ``str.isdigit`` accepts '²'), no whitespace, no underscores (``int("1_0")`` and
# ``Decimal("1_000")`` are accepted by Python), no leading '+' (``int("+10")`` is), no
# nan/inf.
_DECIMAL_RE: Final = re.compile(
    r"(-?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?", re.ASCII
)
# Bounds that keep a hostile literal ("1e999999999") from allocating a gigantic integer.
# 60 significant digits and |exponent| <= 60 are far beyond any real price or amount.
_MAX_DIGITS: Final = 60
_MAX_EXPONENT: Final = 60
_MAX_TEXT: Final = 100
# Powers of ten, precomputed: faster than ``10**k`` on the parse path and typed ``int``
# (mypy types ``int ** int`` as Any because a negative exponent gives a float).
_POW10: Final[tuple[int, ...]] = tuple(10**k for k in range(4 * _MAX_EXPONENT + 1))


def _pow10(k: int) -> int:
    """``10**k`` for ``k >= 0``."""
    return _POW10[k] if k < len(_POW10) else int(10**k)

ValueText = str | Decimal | int
"""What the ``to_*`` converters accept: a decimal string, a ``Decimal`` or an ``int``,
always as a value in the natural unit (price, quantity, USDT, fraction), never already
scaled. ``float`` and ``bool`` are refused."""


# --------------------------------------------------------------------------- parsing


def _shown(value: object) -> str:
    """The value as it should be quoted in an error message."""
    return value if isinstance(value, str) else str(value)


def _scaled(value: ValueText, field: str, where: str) -> tuple[int, int]:
    """Split ``value`` exactly into ``(n, e)`` with ``value == n * 10**e``.

    Raises :class:`InputError` for anything that is not a finite decimal number.
    """
    if isinstance(value, str):
        if len(value) > _MAX_TEXT:
            raise InputError(
                f"{value[:20]!r}... is too long ({len(value)} characters; at most {_MAX_TEXT})",
                where=where,
                field=field,
            )
        m = _DECIMAL_RE.fullmatch(value)
        if m is None or not (m.group(2) or m.group(3)):
            raise InputError(f"{value!r} is not a decimal number", where=where, field=field)
        sign, int_part, frac_part, exp_part = m.groups()
        frac_part = frac_part or ""
        digits = (int_part + frac_part).lstrip("0")
        exp = int(exp_part) if exp_part else 0
        if len(digits) > _MAX_DIGITS or abs(exp) > _MAX_EXPONENT:
            raise InputError(f"{value!r} is out of range", where=where, field=field)
        n = int(digits) if digits else 0
        return (-n if sign == "-" else n), exp - len(frac_part)
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        kind = type(value).__name__
        hint = " (floats are inexact; pass a decimal string)" if kind == "float" else ""
        raise InputError(
            f"{value!r} has type {kind}; expected str, Decimal or int{hint}",
            where=where,
            field=field,
        )
    if isinstance(value, int):
        return value, 0
    if not value.is_finite():
        raise InputError(f"{str(value)!r} is not a finite number", where=where, field=field)
    sign_bit, digit_tuple, exp_d = value.as_tuple()
    assert isinstance(exp_d, int)  # finite, so the exponent is an int
    if len(digit_tuple) > _MAX_DIGITS or abs(exp_d) > _MAX_EXPONENT:
        raise InputError(f"{str(value)!r} is out of range", where=where, field=field)
    n = int("".join(map(str, digit_tuple)))
    return (-n if sign_bit else n), exp_d


def parse_decimal(text: ValueText, *, field: str, where: str = "") -> Decimal:
    """Parse a decimal literal strictly and exactly.

    Accepts an optional sign, digits with an optional decimal point and an optional
    exponent (``"61590.3"``, ``"-0.5"``, ``".5"``, ``"6.15903E4"``); a ``Decimal`` (must be
    finite) or an ``int`` is accepted as is. Rejects, with :class:`InputError` naming
    ``where``, ``field`` and the value: the empty string, ``nan``/``inf``, surrounding
    whitespace (callers strip CSV cells themselves), underscores, any other junk, floats,
    bools, and literals longer than 100 characters, with more than 60 significant digits
    or with an exponent beyond ±60.

    >>> parse_decimal("61590.30", field="price")
    Decimal('61590.30')
    >>> parse_decimal("1e-8", field="amount")
    Decimal('1E-8')
    >>> parse_decimal("nan", field="price", where="x.csv:3")
    Traceback (most recent call last):
    ...
    exsim.errors.InputError: x.csv:3: field 'price': 'nan' is not a decimal number
    """
    _scaled(text, field, where)  # validates; raises InputError
    return text if isinstance(text, Decimal) else Decimal(text)


def to_int(value: ValueText, *, field: str, where: str = "", plain: bool = False) -> int:
    """Parse a whole number exactly (``"125"``, ``"125.0"``, ``"1.25e2"``); else InputError.

    ``plain``: only ASCII digits, at most 60 of them (a count, an id, an epoch time: no
    sign, point, exponent, underscore or other script's digit); an ``int`` is taken as is.

    >>> to_int("125", field="leverage")
    125
    >>> to_int("2.5", field="leverage")
    Traceback (most recent call last):
    ...
    exsim.errors.OffGridError: field 'leverage': '2.5' is not a whole number
    >>> to_int("+10", field="id", plain=True)
    Traceback (most recent call last):
    ...
    exsim.errors.InputError: field 'id': '+10' is not a whole number in ASCII digits
    """
    if plain:
        if type(value) is str and 0 < len(value) <= _MAX_DIGITS and value.isascii() and value.isdigit():
            return int(value)
        if type(value) is int:
            return value
        shown = value[:20] + "..." if isinstance(value, str) and len(value) > _MAX_DIGITS else value
        raise InputError(f"{shown!r} is not a whole number in ASCII digits", where=where, field=field)
    n, e = _scaled(value, field, where)
    if e >= 0:
        return n * _pow10(e)
    q, r = divmod(n, _pow10(-e))
    if r:
        raise OffGridError(f"{_shown(value)!r} is not a whole number", where=where, field=field)
    return q


# --------------------------------------------------------------------------- grids


@lru_cache(maxsize=256)
def _grid(step: Decimal) -> tuple[int, int]:
    """``(m, p)`` with ``step == m * 10**-p``, ``m > 0``, ``p >= 0`` and minimal ``p``."""
    n, e = _scaled(step, "step", "")
    while e < 0 and n % 10 == 0:  # minimal p: 0.10 -> (1, 1)
        n //= 10
        e += 1
    if e >= 0:
        return n * _pow10(e), 0
    return n, -e


def _step(step: Decimal | str, name: str) -> tuple[int, int]:
    """Validate a grid step (tick or lot size) and return its ``(m, p)``; SpecError if bad."""
    try:
        m, p = _grid(step if isinstance(step, Decimal) else parse_decimal(step, field=name))
    except InputError as exc:
        raise SpecError(exc.message, where=exc.where, field=name) from exc
    if m <= 0:
        raise SpecError(f"{_shown(step)!r} must be positive", field=name)
    return m, p


def format_decimal(value: Decimal) -> str:
    """A ``Decimal`` as a plain string without exponent or trailing zeros.

    >>> format_decimal(Decimal("1E-8")), format_decimal(Decimal("1E+1")), format_decimal(Decimal("0.10"))
    ('0.00000001', '10', '0.1')
    """
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _on_grid(
    value: ValueText, m: int, p: int, field: str, where: str, what: str
) -> int:
    """``value / (m * 10**-p)`` as an exact int, or OffGridError naming ``what``."""
    n, e = _scaled(value, field, where)
    shift = e + p
    if shift >= 0:
        num, den = n * _pow10(shift), m
    else:
        num, den = n, m * _pow10(-shift)
    q, r = divmod(num, den)
    if r:
        raise OffGridError(
            f"{_shown(value)!r} is not a multiple of {what}", where=where, field=field
        )
    return q


def to_ticks(
    value: ValueText, tick_size: Decimal | str, *, field: str = "price", where: str = ""
) -> int:
    """A price in quote units as an exact number of ticks; never rounds.

    ``value`` is a price (``"61590.3"``), not a tick count. Negative prices are converted
    (callers that need a positive price check the sign). Off-grid values raise
    :class:`OffGridError`; a bad ``tick_size`` raises :class:`SpecError`.

    >>> to_ticks("61590.3", Decimal("0.1"))
    615903
    >>> to_ticks("61590.35", Decimal("0.1"), where="replays/x.csv:1412")
    Traceback (most recent call last):
    ...
    exsim.errors.OffGridError: replays/x.csv:1412: field 'price': '61590.35' is not a multiple of tick 0.1
    """
    m, p = _step(tick_size, "tick_size")
    return _on_grid(value, m, p, field, where, f"tick {_format_fixed(m, p)}")


def to_lots(
    value: ValueText, lot_size: Decimal | str, *, field: str = "qty", where: str = ""
) -> int:
    """A quantity in base units as an exact number of lots; never rounds.

    Negative quantities are converted (callers check the sign). Off-grid values raise
    :class:`OffGridError`.

    >>> to_lots("1.5", Decimal("0.001"))
    1500
    >>> to_lots("-0.002", "0.001")
    -2
    """
    m, p = _step(lot_size, "lot_size")
    return _on_grid(value, m, p, field, where, f"lot {_format_fixed(m, p)}")


def to_atoms(value: ValueText, *, field: str, where: str = "") -> int:
    """An amount of the settlement asset as exact atoms (1e-8); never rounds.

    Negative amounts are converted (a PnL or a balance change may be negative). More than
    eight decimals of non-zero digits raise :class:`OffGridError`.

    >>> to_atoms("1300", field="cum")
    130000000000
    >>> to_atoms("0.000000001", field="fee")
    Traceback (most recent call last):
    ...
    exsim.errors.OffGridError: field 'fee': '0.000000001' is not a multiple of atom 0.00000001
    """
    return _on_grid(value, 1, ATOM_PLACES, field, where, "atom 0.00000001")


def to_rate_e8(value: ValueText, *, field: str, where: str = "") -> int:
    """A rate given as a fraction (``"0.004"`` = 0.4 %) as exact parts per 1e8; never rounds.

    Negative rates are converted (funding rates and maker rebates can be negative).

    >>> to_rate_e8("0.004", field="mmr")
    400000
    >>> to_rate_e8("-0.0001", field="funding_rate")
    -10000
    """
    return _on_grid(value, 1, RATE_PLACES, field, where, "rate step 0.00000001")


def nearest_ticks(value: Decimal, tick_size: Decimal | str) -> int:
    """The tick nearest a *generated* price (ties to even), at least 1.

    Only for prices the simulator makes up itself (a scenario's random path); a price read
    from input goes through :func:`to_ticks`, which never rounds.

    >>> nearest_ticks(Decimal("61590.349"), "0.1"), nearest_ticks(Decimal("0.01"), "0.1")
    (615903, 1)
    """
    m, p = _step(tick_size, "tick_size")
    ticks = int((value * _pow10(p) / m).to_integral_value())  # Decimal's default rounding: half even
    return max(1, ticks)


# --------------------------------------------------------------------------- formatting


def _format_fixed(n: int, places: int) -> str:
    """``n * 10**-places`` with exactly ``places`` decimals (``places >= 0``)."""
    sign = "-" if n < 0 else ""
    digits = str(-n if n < 0 else n)
    if places == 0:
        return sign + digits
    digits = digits.rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def _format_trimmed(n: int, scale_places: int, min_places: int) -> str:
    """``n * 10**-scale_places`` exactly, trailing zeros trimmed down to ``min_places``."""
    if min_places < 0:
        raise ValueError(f"places must be >= 0, got {min_places}")
    text = _format_fixed(n, scale_places)
    if min_places >= scale_places:
        if min_places > scale_places:
            text += ("" if scale_places else ".") + "0" * (min_places - scale_places)
        return text
    head, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    if len(frac) < min_places:
        frac = frac.ljust(min_places, "0")
    return f"{head}.{frac}" if frac else head


def format_scaled(n: int, scale_places: int, places: int = 0) -> str:
    """``n * 10**-scale_places`` as an exact decimal string, at least ``places`` decimals.

    Trailing zeros beyond ``places`` are trimmed; digits are never dropped (no rounding).

    >>> format_scaled(130_000_000_000_000_000_000, 16), format_scaled(-125, 2, places=3)
    ('13000', '-1.250')
    """
    if scale_places < 0:
        raise ValueError(f"scale_places must be >= 0, got {scale_places}")
    return _format_trimmed(n, scale_places, places)


def format_ticks(ticks: int, tick_size: Decimal | str) -> str:
    """A tick count as a plain price string with the tick's number of decimals. Exact.

    >>> format_ticks(615903, Decimal("0.1")), format_ticks(-5, "0.05"), format_ticks(3, "10")
    ('61590.3', '-0.25', '30')
    """
    m, p = _step(tick_size, "tick_size")
    return _format_fixed(ticks * m, p)


def format_lots(lots: int, lot_size: Decimal | str) -> str:
    """A lot count as a plain quantity string with the lot's number of decimals. Exact.

    >>> format_lots(1500, Decimal("0.001")), format_lots(7, "1")
    ('1.500', '7')
    """
    m, p = _step(lot_size, "lot_size")
    return _format_fixed(lots * m, p)


def grid_formatter(step: Decimal | str) -> Callable[[int], str]:
    """``format_ticks`` / ``format_lots`` for one grid, the step validated once: for
    formatting many counts of it (a book's levels). Exact.

    >>> f = grid_formatter("0.1"); f(615903), f(7)
    ('61590.3', '0.7')
    """
    m, p = _step(step, "step")

    def fmt(n: int) -> str:
        return _format_fixed(n * m, p)

    return fmt


def format_atoms(atoms: int, places: int = 8) -> str:
    """Atoms as an exact decimal string of the settlement asset.

    ``places`` is the *minimum* number of decimals: trailing zeros beyond it are trimmed,
    but digits are never dropped, so the string is always exact (it does not round).

    >>> format_atoms(130_000_000_000)
    '1300.00000000'
    >>> format_atoms(150_000_000, places=2), format_atoms(150_000_001, places=2), format_atoms(-5, 0)
    ('1.50', '1.50000001', '-0.00000005')
    """
    return _format_trimmed(atoms, ATOM_PLACES, places)


def format_atoms_rounded(atoms: int, places: int = 2) -> str:
    """Atoms rounded half-even to ``places`` decimals, for tables meant for reading.

    The exact figure stays in the run's files (:func:`format_atoms`); this is the "to the
    cent" view of it.

    >>> format_atoms_rounded(94_736_842_105), format_atoms_rounded(-5_263_157_895), format_atoms_rounded(50, 2)
    ('947.37', '-52.63', '0.00')
    """
    if not 0 <= places <= ATOM_PLACES:
        raise ValueError(f"places must be 0..{ATOM_PLACES}, got {places}")
    unit = _pow10(ATOM_PLACES - places)
    q, r = divmod(atoms, unit)
    if 2 * r > unit or (2 * r == unit and q % 2):
        q += 1
    return _format_fixed(q, places)


def format_rate_e8(rate_e8: int, places: int = 0) -> str:
    """A ``*_e8`` rate as an exact decimal fraction (``400_000`` -> ``"0.004"``).

    ``places`` is the minimum number of decimals (trailing zeros trimmed beyond it).

    >>> format_rate_e8(400_000), format_rate_e8(-10_000), format_rate_e8(100_000_000)
    ('0.004', '-0.0001', '1')
    """
    return _format_trimmed(rate_e8, RATE_PLACES, places)


# --------------------------------------------------------------------------- rounding


def floor_div(a: int, b: int) -> int:
    """``a / b`` rounded toward minus infinity (down). Exact; ``b != 0``.

    >>> floor_div(7, 2), floor_div(-7, 2), floor_div(7, -2), floor_div(-6, 2)
    (3, -4, -4, -3)
    """
    return a // b


def ceil_div(a: int, b: int) -> int:
    """``a / b`` rounded toward plus infinity (up). Exact; ``b != 0``.

    Use it for requirements and fees (against the trader), e.g. initial margin
    ``ceil_div(notional_atoms, leverage)``.

    >>> ceil_div(7, 2), ceil_div(-7, 2), ceil_div(7, -2), ceil_div(-6, 2)
    (4, -3, -3, -3)
    """
    return -(-a // b)


def div_toward_zero(a: int, b: int) -> int:
    """``a / b`` rounded toward zero (a magnitude never overstated, either sign). Exact; ``b != 0``.

    >>> div_toward_zero(7, 2), div_toward_zero(-7, 2), div_toward_zero(7, -2), div_toward_zero(-6, 2)
    (3, -3, -3, -3)
    """
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def move_fraction_e8(from_value: int, to_value: int) -> int:
    """``(to − from) / from`` as a signed e8 fraction rounded toward zero: how far a price
    may move (−5_230_000: it may fall 5.23 %) is never overstated. ``from_value > 0``.

    >>> move_fraction_e8(100, 95), move_fraction_e8(3, 4), move_fraction_e8(3, 2)
    (-5000000, 33333333, -33333333)
    """
    return div_toward_zero((to_value - from_value) * RATE_SCALE, from_value)


def mul_div_floor(a: int, num: int, den: int) -> int:
    """``a * num / den`` rounded down (toward minus infinity), with no intermediate loss.

    >>> mul_div_floor(10, 1, 3), mul_div_floor(-10, 1, 3)
    (3, -4)
    """
    return a * num // den


def mul_div_ceil(a: int, num: int, den: int) -> int:
    """``a * num / den`` rounded up (toward plus infinity), with no intermediate loss.

    >>> mul_div_ceil(10, 1, 3), mul_div_ceil(-10, 1, 3)
    (4, -3)
    """
    return -(-(a * num) // den)


def mul_div_half_even(a: int, num: int, den: int) -> int:
    """``a * num / den`` rounded to the nearest integer, ties to even, with no intermediate
    loss (``den > 0``). For figures meant for reading (an average price), never for money
    that is booked.

    >>> mul_div_half_even(5, 1, 2), mul_div_half_even(7, 1, 2), mul_div_half_even(-5, 1, 2), mul_div_half_even(10, 1, 3)
    (2, 4, -2, 3)
    """
    return div_half_even(a * num, den)


def rate_floor(amount_atoms: int, rate_e8: int) -> int:
    """``amount_atoms * rate_e8 / 1e8`` in atoms, rounded down (payouts, rebates).

    >>> rate_floor(12_345, 50_000), rate_floor(-12_345, 50_000)
    (6, -7)
    """
    return amount_atoms * rate_e8 // RATE_SCALE


def rate_ceil(amount_atoms: int, rate_e8: int) -> int:
    """``amount_atoms * rate_e8 / 1e8`` in atoms, rounded up (requirements, fees).

    >>> rate_ceil(12_345, 50_000), rate_ceil(-12_345, 50_000)
    (7, -6)
    """
    return -(-(amount_atoms * rate_e8) // RATE_SCALE)


# --------------------------------------------------------------------------- instruments


def atoms_per_tick_lot(tick_size: Decimal | str, lot_size: Decimal | str) -> int:
    """Atoms of notional per tick per lot: ``tick_size * lot_size / 1e-8``, exactly.

    Raises :class:`SpecError` when the product is not a whole number of atoms (notional
    and linear PnL would then not be exact integers), or when a size is not positive.

    >>> atoms_per_tick_lot(Decimal("0.1"), Decimal("0.001"))
    10000
    >>> atoms_per_tick_lot(Decimal("0.00001"), Decimal("0.0001"))
    Traceback (most recent call last):
    ...
    exsim.errors.SpecError: field 'tick_size': tick 0.00001 x lot 0.0001 = 0.000000001 is not a whole number of atoms (0.00000001)
    """
    tm, tp = _step(tick_size, "tick_size")
    lm, lp = _step(lot_size, "lot_size")
    shift = ATOM_PLACES - tp - lp
    if shift >= 0:
        return tm * lm * _pow10(shift)
    q, r = divmod(tm * lm, _pow10(-shift))
    if r:
        raise SpecError(
            f"tick {_format_fixed(tm, tp)} x lot {_format_fixed(lm, lp)} = "
            f"{_format_fixed(tm * lm, tp + lp)} is not a whole number of atoms (0.00000001)",
            field="tick_size",
        )
    return q


def inverse_atoms_per_lot_tick(contract_size: Decimal | str, lot_size: Decimal | str, tick_size: Decimal | str) -> int:
    """Inverse contracts: ``contract_size × lot_size × 1e8 / tick_size`` as an exact int.

    A fill of ``lots`` at ``price_ticks`` is worth ``lots × this / price_ticks`` atoms of
    the coin (satoshis for BTC): the face value in the quote (USD) divided by the price.
    Raises :class:`SpecError` (field ``contract_size``) when it is not a whole number,
    i.e. when the face value of a lot is not a whole number of (tick × 1e-8).

    >>> inverse_atoms_per_lot_tick("100", "1", "0.1")  # BTCUSD_PERP: 100 USD, tick 0.1
    100000000000
    >>> inverse_atoms_per_lot_tick("10", "1", "0.01")  # ETHUSD_PERP
    100000000000
    """
    cm, cp = _step(contract_size, "contract_size")
    lm, lp = _step(lot_size, "lot_size")
    tm, tp = _step(tick_size, "tick_size")
    # (cm / 10**cp) * (lm / 10**lp) * 10**8 / (tm / 10**tp)
    num = cm * lm * _pow10(ATOM_PLACES + tp)
    den = tm * _pow10(cp + lp)
    q, r = divmod(num, den)
    if r:
        raise SpecError(
            f"contract size {_format_fixed(cm, cp)} x lot {_format_fixed(lm, lp)} / tick {_format_fixed(tm, tp)} "
            "is not a whole number of atoms per tick: the coin value of a fill would not be exact to the rounding rule",
            field="contract_size",
        )
    return q


def inverse_value_floor(lots: int, atoms_per_lot_tick: int, price_ticks: int) -> int:
    """The coin value of an inverse fill, in atoms, **rounded down**: ``floor(lots × k / price)``.

    THE rounding rule of inverse money (``docs/inverse.md``): a fill's coin value is
    computed once, rounded down to the atom, and booked identically to both sides (the
    buyer's entry cost and the seller's, or the closing side's exit value), so every fill
    still nets to zero across accounts. A fill that closes part of a position and opens
    the rest splits that one value: the close takes its floor share
    (:func:`mul_div_floor`), the opening the remainder. The remainder of the floor (under
    one atom per fill) belongs to nobody: it is not money that exists. A position opened
    and closed in k fills therefore realizes what one fill of the same size would, within
    k atoms.

    >>> inverse_value_floor(100, 10**11, 250_000)  # 100 BTCUSD contracts at 25,000.0: 0.4 BTC
    40000000
    >>> inverse_value_floor(1, 10**11, 300_000)  # 1 contract at 30,000: 0.00333333 BTC
    333333
    """
    return lots * atoms_per_lot_tick // price_ticks


def inverse_value_e8_ceil(lots: int, atoms_e8_per_lot_subtick: int, price_subticks: int) -> int:
    """The coin value of ``lots`` inverse contracts at a subtick (mark) price, in
    1e-8 atoms, **rounded up**: ``ceil(lots × face × 1e24 / price_subticks)``.

    Positions are valued at the mark with this (exact to 1e-16 of the coin; the rounding
    is against a long, whose unrealized PnL is ``cost − value``). It is non-increasing in
    the price, so every threshold search on it stays exact and monotone.

    >>> inverse_value_e8_ceil(100, 100 * 10**24, 25_000 * 10**8)  # 0.4 BTC in atoms_e8
    4000000000000000
    """
    return -(-(lots * atoms_e8_per_lot_subtick) // price_subticks)


# --------------------------------------------------------------------------- fine prices
#
# Mark, index and other computed or reference prices are finer than the tick: the venue
# computes them (Binance's premiumIndex / markPrice streams publish up to 8 decimals,
# "11793.63104562"; 364 of 400 XRPUSDT mark klines carry a fifth decimal at tick 0.0001;
# a spot index on a 0.01 grid is finer than a perpetual's 0.1 tick). They are held as
# ``_subticks``: whole multiples of 1e-8 of the quote asset, one scale for every
# instrument, so a mark read from any venue file is exact and never rounded.
#
# Money valued at such a price is finer than an atom: ``qty × mark`` is a whole number of
# ``_atoms_e8`` (1e-8 of an atom), because a lot is a whole number of 1e-8 of the base
# asset (``lot_size_e8``, checked by :func:`lot_size_e8`). The ledger decides liquidation
# on these exact integers; only money that is *booked* (a funding payment) or *shown* is
# rounded to the atom, with the helpers below named by direction.

SUBTICK_PLACES: Final[int] = 8
#: Subticks per unit of the quote asset: 1 subtick = 1e-8 USDT (per unit of the base asset).
SUBTICKS_PER_UNIT: Final[int] = 100_000_000
#: ``_atoms_e8`` per atom: money valued at a subtick price is exact at 1e-8 of an atom.
ATOMS_E8_PER_ATOM: Final[int] = 100_000_000


def subticks_per_tick(tick_size: Decimal | str) -> int:
    """Subticks (1e-8 of the quote asset) per tick: ``tick_size / 1e-8``, an exact int >= 1.

    Raises :class:`SpecError` when the tick is not a whole number of subticks.

    >>> subticks_per_tick(Decimal("0.1")), subticks_per_tick("0.0001"), subticks_per_tick("10")
    (10000000, 10000, 1000000000)
    >>> subticks_per_tick("0.000000001")
    Traceback (most recent call last):
    ...
    exsim.errors.SpecError: field 'tick_size': tick 0.000000001 is not a whole number of subticks (0.00000001)
    """
    m, p = _step(tick_size, "tick_size")
    shift = SUBTICK_PLACES - p
    if shift >= 0:
        return m * _pow10(shift)
    q, r = divmod(m, _pow10(-shift))
    if r:
        raise SpecError(
            f"tick {_format_fixed(m, p)} is not a whole number of subticks (0.00000001)", field="tick_size"
        )
    return q


def lot_size_e8(lot_size: Decimal | str) -> int:
    """The lot size in 1e-8 of the base asset, an exact int >= 1.

    It is the number of ``_atoms_e8`` per lot per subtick: a notional at a subtick price
    is ``qty_lots * price_subticks * lot_size_e8`` atoms_e8, exactly. Raises
    :class:`SpecError` when the lot is finer than 1e-8.

    >>> lot_size_e8(Decimal("0.001")), lot_size_e8("1")
    (100000, 100000000)
    """
    m, p = _step(lot_size, "lot_size")
    shift = 8 - p
    if shift >= 0:
        return m * _pow10(shift)
    q, r = divmod(m, _pow10(-shift))
    if r:
        raise SpecError(f"lot {_format_fixed(m, p)} is finer than 0.00000001", field="lot_size")
    return q


def to_subticks(value: ValueText, *, field: str = "mark price", where: str = "") -> int:
    """A price in quote units as exact subticks (1e-8); never rounds.

    For marks, index and other reference prices, which are not on the tick grid. More
    than eight decimals of non-zero digits raise :class:`OffGridError` naming ``field``.

    >>> to_subticks("0.52345"), to_subticks("11793.63104562")
    (52345000, 1179363104562)
    >>> to_subticks("1.000000001", where="marks.csv:2")
    Traceback (most recent call last):
    ...
    exsim.errors.OffGridError: marks.csv:2: field 'mark price': '1.000000001' is not a multiple of subtick 0.00000001
    """
    return _on_grid(value, 1, SUBTICK_PLACES, field, where, "subtick 0.00000001")


def format_subticks(subticks: int, places: int = 0) -> str:
    """Subticks as an exact price string, at least ``places`` decimals (trailing zeros
    trimmed beyond them, digits never dropped). Pass the tick's number of decimals to
    show a mark like a traded price when it is on the tick.

    >>> format_subticks(52345000, 4), format_subticks(52340000, 4), format_subticks(6159030000000, 1)
    ('0.52345', '0.5234', '61590.3')
    """
    return _format_trimmed(subticks, SUBTICK_PLACES, places)


def tick_places(tick_size: Decimal | str) -> int:
    """The number of decimals of a tick size (``"0.0001"`` -> 4, ``"10"`` -> 0).

    >>> tick_places("0.0001"), tick_places(Decimal("0.50")), tick_places("10")
    (4, 1, 0)
    """
    return _step(tick_size, "tick_size")[1]


def ticks_to_subticks(ticks: int, per_tick: int) -> int:
    """A tick count as subticks (exact): ``ticks * subticks_per_tick``.

    >>> ticks_to_subticks(615903, 10_000_000)
    6159030000000
    """
    return ticks * per_tick


def subticks_floor_ticks(subticks: int, per_tick: int) -> int:
    """The highest tick at or below a subtick price (round down).

    A RISING trigger at tick ``t`` fires at mark ``m`` iff ``t <= subticks_floor_ticks(m)``.

    >>> subticks_floor_ticks(52345000, 10_000), subticks_floor_ticks(52340000, 10_000)
    (5234, 5234)
    """
    return subticks // per_tick


def subticks_ceil_ticks(subticks: int, per_tick: int) -> int:
    """The lowest tick at or above a subtick price (round up).

    A FALLING trigger at tick ``t`` fires at mark ``m`` iff ``t >= subticks_ceil_ticks(m)``.

    >>> subticks_ceil_ticks(52345000, 10_000), subticks_ceil_ticks(52340000, 10_000)
    (5235, 5234)
    """
    return -(-subticks // per_tick)


def subticks_nearest_ticks(subticks: int, per_tick: int) -> int:
    """The tick nearest a subtick price, ties to even (to place an order near a mark).

    >>> subticks_nearest_ticks(52345000, 10_000), subticks_nearest_ticks(52355000, 10_000), subticks_nearest_ticks(52346000, 10_000)
    (5234, 5236, 5235)
    """
    return div_half_even(subticks, per_tick)


def div_half_even(a: int, b: int) -> int:
    """``a / b`` rounded to the nearest integer, ties to even (``b > 0``). Exact.

    For prices the simulator computes (a median of rationals), never for money.

    >>> div_half_even(5, 2), div_half_even(7, 2), div_half_even(-5, 2), div_half_even(8, 3)
    (2, 4, -2, 3)
    """
    q, r = divmod(a, b)
    if 2 * r > b or (2 * r == b and q % 2):
        q += 1
    return q


def atoms_e8_floor(amount_atoms_e8: int) -> int:
    """``_atoms_e8`` as atoms, rounded down (payouts, unrealized profit shown).

    >>> atoms_e8_floor(150_000_001), atoms_e8_floor(-1)
    (1, -1)
    """
    return amount_atoms_e8 // ATOMS_E8_PER_ATOM


def atoms_e8_ceil(amount_atoms_e8: int) -> int:
    """``_atoms_e8`` as atoms, rounded up (requirements: notional for margin, fees).

    >>> atoms_e8_ceil(150_000_001), atoms_e8_ceil(-1)
    (2, 0)
    """
    return -(-amount_atoms_e8 // ATOMS_E8_PER_ATOM)


def rate_floor_e8(amount_atoms_e8: int, rate_e8: int) -> int:
    """``amount_atoms_e8 * rate_e8 / 1e8`` as atoms, rounded down (a funding payment at a
    subtick mark: payers pay it rounded up, receivers get it rounded down).

    >>> rate_floor_e8(6 * 10**17, 10_000), rate_floor_e8(-6 * 10**17 - 1, 10_000)
    (600000, -600001)
    """
    return amount_atoms_e8 * rate_e8 // (RATE_SCALE * ATOMS_E8_PER_ATOM)


def whole_arg(text: str) -> int:
    """argparse ``type`` of a whole-number option: an optional ``-`` then ASCII digits (no
    ``+``, ``_`` or another script's digit, which ``int()`` accepts: :func:`to_int` with
    ``plain``); ``ValueError`` otherwise. Named ``int``, so argparse says "invalid int value".
    The range is the caller's to check.

    >>> whole_arg("42"), whole_arg("-3")
    (42, -3)
    """
    digits = text[1:] if text.startswith("-") else text
    try:
        value = to_int(digits, field="", plain=True)
    except InputError:
        raise ValueError(text) from None
    return -value if digits is not text else value


whole_arg.__name__ = "int"
