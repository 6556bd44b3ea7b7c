"""Leverage brackets ("notional and leverage brackets", "risk limit tiers").

A bracket table maps a position's notional (in atoms) to its maintenance margin rate,
maintenance amount ``cum`` and maximum leverage (MARGIN-SPEC §1)::

    MM = notional * MMR_k - cum_k        k = the bracket whose [floor_k, cap_k) holds notional

Every table is validated when it is built (:func:`validate_brackets`): first floor 0 with
cum 0, contiguous brackets, MMR non-decreasing, max leverage non-increasing, and
``cum_k = cum_{k-1} + floor_k * (MMR_k - MMR_{k-1})`` **exactly** (in atoms and e8, no
tolerance), which makes MM continuous in notional. Every one of the 2,805 tiers of the
2024-10-24 Binance snapshot satisfies these exactly.

:func:`load_binance_brackets` reads the ccxt/freqtrade ``binance_leverage_tiers.json``
format, using only the exact strings in each tier's ``info`` (never the float fields).
"""

from __future__ import annotations

import json
import os
import re
from bisect import bisect_right
from functools import cache
from importlib import resources
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import attrs

from exsim.errors import InputError, SpecError
from exsim.units import (
    ATOMS_E8_PER_ATOM,
    ATOM_PLACES,
    RATE_PLACES,
    RATE_SCALE,
    ValueText,
    format_atoms,
    ceil_div,
    format_rate_e8,
    format_scaled,
    to_atoms,
    to_int,
    to_rate_e8,
)

__all__ = [
    "Bracket",
    "BracketTable",
    "BracketTables",
    "BINANCE_FIELD_NAMES",
    "derive_cum_atoms",
    "validate_brackets",
    "short_symbol",
    "symbol_aliases",
    "parse_binance_brackets",
    "load_binance_brackets",
    "COINM_FIELD_NAMES",
    "parse_binance_coinm_brackets",
    "BRACKETS_FILE",
    "COINM_BRACKETS_FILE",
    "shipped_brackets",
    "shipped_coinm_brackets",
]


@attrs.frozen
class Bracket:
    """One leverage bracket: notional ``[floor_atoms, cap_atoms)`` (atoms of the settlement
    asset), maintenance margin rate ``mmr_e8`` (parts per 1e8), maintenance amount
    ``cum_atoms`` (atoms) and the maximum initial leverage allowed in it.

    ``bracket`` is the 1-based bracket number as the venue numbers it.
    """

    bracket: int
    floor_atoms: int
    cap_atoms: int
    mmr_e8: int
    cum_atoms: int
    max_leverage: int

    def maint_margin_atoms(self, notional_atoms: int) -> int:
        """``ceil(notional * MMR / 1e8) - cum``, floored at 0, using *this* bracket's rates.

        Rounded up because it is a requirement (against the trader). ``notional_atoms``
        should lie in this bracket; use :meth:`BracketTable.maint_margin_atoms` otherwise.
        O(1).
        """
        mm = -(-(notional_atoms * self.mmr_e8) // RATE_SCALE) - self.cum_atoms
        return mm if mm > 0 else 0


#: Names of :class:`Bracket` fields as they appear in a Binance/ccxt tier, for messages.
BINANCE_FIELD_NAMES: Final[Mapping[str, str]] = {
    "bracket": "info.bracket",
    "floor_atoms": "info.notionalFloor",
    "cap_atoms": "info.notionalCap",
    "mmr_e8": "info.maintMarginRatio",
    "cum_atoms": "info.cum",
    "max_leverage": "info.initialLeverage",
}


_INT_FIELDS: Final = ("bracket", "floor_atoms", "cap_atoms", "mmr_e8", "cum_atoms", "max_leverage")


def _where(source: str, symbol: str, bracket: int | None = None) -> str:
    parts = [p for p in (source, symbol) if p]
    if bracket is not None:
        if parts:
            parts[-1] = f"{parts[-1]} bracket {bracket}"
        else:
            parts.append(f"bracket {bracket}")
    return ": ".join(parts)


def _units(atoms: int) -> str:
    """Atoms as a short exact decimal for messages (``50000``, ``7.5``)."""
    return format_atoms(atoms, places=0)


def validate_brackets(
    brackets: Sequence[Bracket],
    *,
    symbol: str = "",
    source: str = "",
    names: Mapping[str, str] | None = None,
) -> None:
    """Check MARGIN-SPEC §1's invariants exactly; raise :class:`SpecError` on the first break.

    Brackets are checked in order and, within a bracket, fields in the order ``bracket``,
    ``floor``, ``cap``, ``mmr``, ``max_leverage``, ``cum``. The error's ``where`` names
    ``source`` (file), ``symbol`` and the bracket's 1-based position (which is its number
    once numbering is valid); its ``field`` is the field's name,
    translated through ``names`` (e.g. :data:`BINANCE_FIELD_NAMES`) when given.

    Invariants: at least one bracket; every field an ``int``; numbered 1, 2, ...; first floor 0 and first cum 0;
    ``floor_k == cap_{k-1}`` (contiguous); ``cap_k > floor_k``; ``0 <= MMR <= 1`` and
    non-decreasing; ``max_leverage >= 1`` and non-increasing; and
    ``cum_k - cum_{k-1} == floor_k * (MMR_k - MMR_{k-1})`` with no tolerance, i.e. in e8
    units ``floor_atoms * (mmr_k - mmr_{k-1}) == (cum_k - cum_{k-1}) * 1e8``. O(n).
    """
    nm = names or {}

    position: int | None = None  # 1-based position of the bracket being checked

    def fail(field: str, message: str) -> SpecError:
        return SpecError(
            message, where=_where(source, symbol, position), field=nm.get(field, field)
        )

    if not brackets:
        raise fail("brackets", "no brackets; expected at least one")
    prev: Bracket | None = None
    for i, b in enumerate(brackets):
        position = i + 1
        if not isinstance(b, Bracket):
            raise fail("brackets", f"{b!r} is not a Bracket")
        for name in _INT_FIELDS:
            value = getattr(b, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise fail(name, f"{value!r} must be an int (atoms, e8 or a count)")
        if b.bracket != position:
            raise fail("bracket", f"bracket number is {b.bracket}; expected {position}")
        if prev is None:
            if b.floor_atoms != 0:
                raise fail("floor_atoms", f"first floor is {_units(b.floor_atoms)}; expected 0")
        elif b.floor_atoms != prev.cap_atoms:
            kind = "gap" if b.floor_atoms > prev.cap_atoms else "overlap"
            raise fail(
                "floor_atoms",
                f"floor is {_units(b.floor_atoms)} but bracket {prev.bracket}'s cap is "
                f"{_units(prev.cap_atoms)} ({kind}); brackets must be contiguous",
            )
        if b.cap_atoms <= b.floor_atoms:
            raise fail(
                "cap_atoms",
                f"cap {_units(b.cap_atoms)} is not above floor {_units(b.floor_atoms)}",
            )
        if not 0 <= b.mmr_e8 <= RATE_SCALE:
            raise fail("mmr_e8", f"MMR {format_rate_e8(b.mmr_e8)} is outside [0, 1]")
        if prev is not None and b.mmr_e8 < prev.mmr_e8:
            raise fail(
                "mmr_e8",
                f"MMR {format_rate_e8(b.mmr_e8)} is below bracket {prev.bracket}'s "
                f"{format_rate_e8(prev.mmr_e8)}; MMR must be non-decreasing",
            )
        if b.max_leverage < 1:
            raise fail("max_leverage", f"max leverage {b.max_leverage} is below 1")
        if prev is not None and b.max_leverage > prev.max_leverage:
            raise fail(
                "max_leverage",
                f"max leverage {b.max_leverage} is above bracket {prev.bracket}'s "
                f"{prev.max_leverage}; max leverage must be non-increasing",
            )
        if prev is None:
            if b.cum_atoms != 0:
                raise fail("cum_atoms", f"first cum is {_units(b.cum_atoms)}; expected 0")
        else:
            # Exact: floor * dMMR / 1e8 == dcum, compared in atoms*1e8 so nothing rounds.
            want_e8 = prev.cum_atoms * RATE_SCALE + b.floor_atoms * (b.mmr_e8 - prev.mmr_e8)
            if b.cum_atoms * RATE_SCALE != want_e8:
                want = format_scaled(want_e8, ATOM_PLACES + RATE_PLACES)
                raise fail(
                    "cum_atoms",
                    f"cum is {_units(b.cum_atoms)} but must be {want} = "
                    f"{_units(prev.cum_atoms)} + {_units(b.floor_atoms)} x "
                    f"({format_rate_e8(b.mmr_e8)} - {format_rate_e8(prev.mmr_e8)}) "
                    "(MARGIN-SPEC §1: maintenance margin continuous at the floor)",
                )
        prev = b


def derive_cum_atoms(
    floors_atoms: Sequence[int],
    mmrs_e8: Sequence[int],
    *,
    symbol: str = "",
    source: str = "",
) -> tuple[int, ...]:
    """The maintenance amounts ``cum_k`` (atoms) implied by floors and MMRs (MARGIN-SPEC §1).

    ``cum_1 = 0`` and ``cum_k = cum_{k-1} + floor_k * (MMR_k - MMR_{k-1})``. Raises
    :class:`SpecError` if a ``cum_k`` is not a whole number of atoms (it is never rounded).

    >>> derive_cum_atoms([0, 50_000 * 10**8, 250_000 * 10**8], [400_000, 500_000, 1_000_000])
    (0, 5000000000, 130000000000)
    """
    if len(floors_atoms) != len(mmrs_e8):
        raise ValueError("floors_atoms and mmrs_e8 must have the same length")
    cums: list[int] = []
    cum = 0
    for i, (floor, mmr) in enumerate(zip(floors_atoms, mmrs_e8)):
        if i:
            step, rem = divmod(floor * (mmr - mmrs_e8[i - 1]), RATE_SCALE)
            if rem:
                raise SpecError(
                    f"floor {_units(floor)} x MMR step gives a cum that is not a whole atom",
                    where=_where(source, symbol, i + 1),
                    field="cum_atoms",
                )
            cum += step
        cums.append(cum)
    return tuple(cums)


def _as_tuple(brackets: Iterable[Bracket]) -> tuple[Bracket, ...]:
    """attrs converter: any iterable of brackets, stored as a tuple."""
    return tuple(brackets)


@attrs.frozen
class BracketTable:
    """An instrument's validated leverage brackets, ascending by notional.

    Bracket k covers notional ``[floor_k, cap_k)``. A notional at or above the last cap
    still maps to the **last** bracket: the table does not cap position size (the
    instrument's ``max_notional_atoms`` / risk checks do). Negative notional is a caller
    bug (pass the absolute notional) and raises ``ValueError``.

    Building a table validates it (:func:`validate_brackets`); ``symbol`` and ``source``
    only label error messages and do not take part in equality.
    """

    brackets: tuple[Bracket, ...] = attrs.field(converter=_as_tuple)
    symbol: str = attrs.field(default="", eq=False)
    source: str = attrs.field(default="", eq=False, repr=False)
    _floors: tuple[int, ...] = attrs.field(init=False, repr=False, eq=False)

    @_floors.default
    def _floors_default(self) -> tuple[int, ...]:
        return tuple(b.floor_atoms for b in self.brackets)

    def __attrs_post_init__(self) -> None:
        validate_brackets(self.brackets, symbol=self.symbol, source=self.source)

    @property
    def floors(self) -> tuple[int, ...]:
        """The brackets' floors in atoms, ascending (what :meth:`bracket_for` bisects). O(1)."""
        return self._floors

    @classmethod
    def from_tiers(
        cls,
        tiers: Iterable[tuple[ValueText, ValueText, ValueText, ValueText]],
        *,
        symbol: str = "",
        source: str = "",
    ) -> BracketTable:
        """Build a table from ``(floor, cap, mmr, max_leverage)`` decimal values, deriving cum.

        Floors and caps are in units of the settlement asset (``"50000"``), MMR a fraction
        (``"0.004"``); ``cum`` is derived with :func:`derive_cum_atoms`. Parse errors raise
        :class:`SpecError` naming the bracket and field.

        >>> t = BracketTable.from_tiers([("0", "50000", "0.004", 125),
        ...                              ("50000", "250000", "0.005", 100),
        ...                              ("250000", "1000000", "0.01", 50)])
        >>> format_atoms(t.brackets[2].cum_atoms, places=0)
        '1300'
        """
        rows: list[tuple[int, int, int, int]] = []
        for i, (floor, cap, mmr, lev) in enumerate(tiers):
            where = _where(source, symbol, i + 1)
            try:
                rows.append(
                    (
                        to_atoms(floor, field="floor_atoms", where=where),
                        to_atoms(cap, field="cap_atoms", where=where),
                        to_rate_e8(mmr, field="mmr_e8", where=where),
                        to_int(lev, field="max_leverage", where=where),
                    )
                )
            except InputError as exc:
                raise SpecError(exc.message, where=exc.where, field=exc.field) from exc
        cums = derive_cum_atoms(
            [r[0] for r in rows], [r[2] for r in rows], symbol=symbol, source=source
        )
        return cls(
            tuple(
                Bracket(i + 1, fl, cap, mmr, cum, lev)
                for i, ((fl, cap, mmr, lev), cum) in enumerate(zip(rows, cums))
            ),
            symbol=symbol,
            source=source,
        )

    def bracket_for(self, notional_atoms: int) -> Bracket:
        """The bracket holding ``notional_atoms`` (>= 0); the last one at/above its cap.

        O(log n) by bisection over the floors.
        """
        if notional_atoms < 0:
            raise ValueError(f"notional must be >= 0 (absolute notional), got {notional_atoms}")
        return self.brackets[bisect_right(self._floors, notional_atoms) - 1]

    def maint_margin_atoms(self, notional_atoms: int) -> int:
        """Maintenance margin in atoms: ``ceil(N * MMR_k / 1e8) - cum_k``, never below 0.

        Rounded up (a requirement, against the trader). Because cum satisfies MARGIN-SPEC
        §1 exactly, the result is continuous at every floor: at ``floor_k`` brackets k-1
        and k give the same value, and one atom below the floor it is at most 1 atom less.
        O(log n).
        """
        if notional_atoms < 0:
            raise ValueError(f"notional must be >= 0 (absolute notional), got {notional_atoms}")
        b = self.brackets[bisect_right(self._floors, notional_atoms) - 1]
        mm = -(-(notional_atoms * b.mmr_e8) // RATE_SCALE) - b.cum_atoms
        return mm if mm > 0 else 0

    def maint_margin_atoms_e8(self, notional_atoms_e8: int) -> int:
        """Maintenance margin in atoms of a notional given in 1e-8 atoms (at a subtick mark).

        ``ceil(N * MMR_k / 1e8) - cum_k`` on the exact notional, never below 0: rounded up
        once, like :meth:`maint_margin_atoms` (equal to it when ``N`` is whole atoms). The
        bracket is the one of ``floor(N)``, which is exact because floors are whole atoms.
        O(log n).
        """
        if notional_atoms_e8 < 0:
            raise ValueError(f"notional must be >= 0 (absolute notional), got {notional_atoms_e8}")
        b = self.brackets[bisect_right(self._floors, notional_atoms_e8 // ATOMS_E8_PER_ATOM) - 1]
        mm = ceil_div(notional_atoms_e8 * b.mmr_e8, RATE_SCALE * ATOMS_E8_PER_ATOM) - b.cum_atoms
        return mm if mm > 0 else 0

    def max_leverage_for(self, notional_atoms: int) -> int:
        """Maximum initial leverage allowed at ``notional_atoms`` (its bracket's). O(log n)."""
        return self.bracket_for(notional_atoms).max_leverage

    @property
    def last_cap_atoms(self) -> int:
        """Cap of the last bracket, in atoms (the largest notional the table describes)."""
        return self.brackets[-1].cap_atoms

    def __len__(self) -> int:
        return len(self.brackets)

    def __iter__(self) -> Iterator[Bracket]:
        return iter(self.brackets)


# --------------------------------------------------------------------------- symbols

_UNIFIED_RE: Final = re.compile(r"([A-Z0-9]+)/([A-Z0-9]+):([A-Z0-9]+)", re.ASCII)
_ALIASED_QUOTES: Final = frozenset({"USDT", "USDC"})


def short_symbol(symbol: str) -> str | None:
    """Binance's short name of a ccxt unified linear perpetual, or None.

    Only USDT- and USDC-margined linear perpetuals (``BASE/Q:Q`` with ``Q`` in USDT, USDC)
    get one; dated futures (``BTC/USDT:USDT-241227``) and other settlements do not.

    >>> short_symbol("BTC/USDT:USDT"), short_symbol("ETH/BTC:BTC"), short_symbol("BTC/USDT:USDT-241227")
    ('BTCUSDT', None, None)
    """
    m = _UNIFIED_RE.fullmatch(symbol)
    if m is None:
        return None
    base, quote, settle = m.groups()
    if quote != settle or quote not in _ALIASED_QUOTES:
        return None
    return base + quote


def symbol_aliases(symbols: Iterable[str], *, source: str = "") -> dict[str, str]:
    """Map each short alias (``BTCUSDT``) to its unified symbol (``BTC/USDT:USDT``).

    Raises :class:`SpecError` if two symbols would share an alias, or an alias equals a
    symbol that is itself a key (the file would then name two tables the same way).
    """
    keys = list(symbols)
    key_set = set(keys)
    aliases: dict[str, str] = {}
    for sym in keys:
        alias = short_symbol(sym)
        if alias is None:
            continue
        if alias in key_set:
            raise SpecError(
                f"short alias {alias!r} of {sym!r} is also a symbol of its own",
                where=source,
                field="symbol",
            )
        other = aliases.get(alias)
        if other is not None:
            raise SpecError(
                f"symbols {other!r} and {sym!r} share the short alias {alias!r}",
                where=source,
                field="symbol",
            )
        aliases[alias] = sym
    return aliases


class BracketTables(Mapping[str, BracketTable]):
    """Read-only mapping of unified symbol -> :class:`BracketTable`, also keyed by alias.

    Iteration, ``len`` and ``keys()`` see the file's symbols (``BTC/USDT:USDT``) in file
    order; ``tables["BTCUSDT"]``, ``"BTCUSDT" in tables`` and ``tables.get("BTCUSDT")``
    resolve the short alias too (:func:`short_symbol`).
    """

    __slots__ = ("_tables", "aliases", "source")

    def __init__(self, tables: Mapping[str, BracketTable], *, source: str = "") -> None:
        self._tables: dict[str, BracketTable] = dict(tables)
        self.source = source
        #: short alias -> unified symbol
        self.aliases: dict[str, str] = symbol_aliases(self._tables, source=source)

    def canonical(self, symbol: str) -> str:
        """The unified symbol for ``symbol`` (itself or an alias); KeyError if unknown."""
        if symbol in self._tables:
            return symbol
        return self.aliases[symbol]

    def __getitem__(self, symbol: str) -> BracketTable:
        table = self._tables.get(symbol)
        if table is None:
            return self._tables[self.aliases[symbol]]
        return table

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._tables or symbol in self.aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def __repr__(self) -> str:
        return f"<BracketTables {len(self)} symbols from {self.source or '?'}>"


# --------------------------------------------------------------------------- loading


def _info_field(info: Mapping[str, Any], key: str, where: str) -> str:
    field = f"info.{key}"
    if key not in info:
        raise SpecError("missing", where=where, field=field)
    value = info[key]
    if not isinstance(value, str):
        raise SpecError(
            f"{value!r} is a {type(value).__name__}; expected a decimal string",
            where=where,
            field=field,
        )
    return value


def _parse_tier(tier: Any, i: int, symbol: str, source: str) -> Bracket:
    where = _where(source, symbol, i + 1)
    if not isinstance(tier, Mapping):
        raise SpecError("tier is not an object", where=where, field="tier")
    info = tier.get("info")
    if not isinstance(info, Mapping):
        raise SpecError("missing or not an object", where=where, field="info")
    try:
        bracket = to_int(_info_field(info, "bracket", where), field="info.bracket", where=where)
        floor = to_atoms(
            _info_field(info, "notionalFloor", where), field="info.notionalFloor", where=where
        )
        cap = to_atoms(
            _info_field(info, "notionalCap", where), field="info.notionalCap", where=where
        )
        mmr = to_rate_e8(
            _info_field(info, "maintMarginRatio", where),
            field="info.maintMarginRatio",
            where=where,
        )
        cum = to_atoms(_info_field(info, "cum", where), field="info.cum", where=where)
        lev = to_int(
            _info_field(info, "initialLeverage", where),
            field="info.initialLeverage",
            where=where,
        )
    except SpecError:
        raise
    except InputError as exc:
        raise SpecError(exc.message, where=exc.where, field=exc.field) from exc
    return Bracket(bracket, floor, cap, mmr, cum, lev)



def _load_json(text: str, source: str) -> Any:
    """JSON with every float as an exact ``Decimal``; SpecError naming the file and line if invalid."""
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"invalid JSON: {exc.msg} (column {exc.colno})",
            where=f"{source}:{exc.lineno}" if source else f"line {exc.lineno}",
        ) from exc

def parse_binance_brackets(text: str, *, source: str = "") -> BracketTables:
    """Parse the ccxt/freqtrade ``binance_leverage_tiers.json`` format from a string.

    Only ``info.{bracket, notionalFloor, notionalCap, maintMarginRatio, cum,
    initialLeverage}`` are read, as exact decimal strings; the float fields are ignored.
    Every table is validated (:func:`validate_brackets`); the first problem raises
    :class:`SpecError` naming ``source``, the symbol, the bracket and the file's field.
    """
    data = _load_json(text, source)  # floats as Decimal: the ignored float fields never become floats either
    if not isinstance(data, dict):
        raise SpecError("top level is not an object of symbol -> tiers", where=source)
    tables: dict[str, BracketTable] = {}
    for symbol, tiers in data.items():
        if not isinstance(tiers, list) or not tiers:
            raise SpecError(
                "expected a non-empty list of tiers", where=_where(source, symbol), field="tiers"
            )
        brackets = tuple(_parse_tier(t, i, symbol, source) for i, t in enumerate(tiers))
        validate_brackets(brackets, symbol=symbol, source=source, names=BINANCE_FIELD_NAMES)
        tables[symbol] = BracketTable(brackets, symbol=symbol, source=source)
    return BracketTables(tables, source=source)


def load_binance_brackets(path: str | os.PathLike[str]) -> BracketTables:
    """Load and validate a ``binance_leverage_tiers.json``-format file.

    Returns a read-only mapping keyed by the file's unified symbols (``BTC/USDT:USDT``)
    that also answers to the short aliases of USDT/USDC linear perpetuals (``BTCUSDT``).
    Errors are :class:`SpecError` naming the file, symbol, bracket number and field.
    """
    source = os.fspath(path)
    with open(source, encoding="utf-8") as fh:
        text = fh.read()
    return parse_binance_brackets(text, source=source)


# --------------------------------------------------------------------------- COIN-M

#: Names of :class:`Bracket` fields in a ``/dapi/v2/leverageBracket`` bracket, for messages.
COINM_FIELD_NAMES: Final[Mapping[str, str]] = {
    "bracket": "bracket",
    "floor_atoms": "qtyFloor",
    "cap_atoms": "qtyCap",
    "mmr_e8": "maintMarginRatio",
    "cum_atoms": "cum",
    "max_leverage": "initialLeverage",
}

_COINM_KEYS: Final = ("bracket", "qtyFloor", "qtyCap", "maintMarginRatio", "cum", "initialLeverage")


def _coinm_number(raw: Mapping[str, Any], key: str, where: str) -> Decimal | int | str:
    if key not in raw:
        raise SpecError("missing", where=where, field=key)
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise SpecError(f"{value!r} is a {type(value).__name__}; expected a number", where=where, field=key)
    return value


def _parse_coinm_bracket(raw: Any, i: int, symbol: str, source: str) -> Bracket:
    where = _where(source, symbol, i + 1)
    if not isinstance(raw, Mapping):
        raise SpecError("bracket is not an object", where=where, field="brackets")
    v = {key: _coinm_number(raw, key, where) for key in _COINM_KEYS}
    try:
        return Bracket(
            to_int(v["bracket"], field="bracket", where=where),
            to_atoms(v["qtyFloor"], field="qtyFloor", where=where),
            to_atoms(v["qtyCap"], field="qtyCap", where=where),
            to_rate_e8(v["maintMarginRatio"], field="maintMarginRatio", where=where),
            to_atoms(v["cum"], field="cum", where=where),
            to_int(v["initialLeverage"], field="initialLeverage", where=where),
        )
    except SpecError:
        raise
    except InputError as exc:
        raise SpecError(exc.message, where=exc.where, field=exc.field) from exc


def parse_binance_coinm_brackets(text: str, *, source: str = "") -> BracketTables:
    """Parse Binance COIN-M leverage brackets (``GET /dapi/v2/leverageBracket`` shape).

    The text is a JSON list of ``{"symbol": "BTCUSD_PERP", "brackets": [...]}`` (``/dapi/v1``
    answers ``"pair"`` instead of ``"symbol"``; both are read) whose brackets carry
    ``bracket``, ``initialLeverage``, ``qtyFloor``, ``qtyCap`` (coin notional),
    ``maintMarginRatio`` and ``cum`` (coin). Numbers are read exactly (JSON numbers as
    ``Decimal``, never ``float``) into **coin atoms**; every table is validated with the
    same invariants as USDⓈ-M tables (:func:`validate_brackets`). Keyed by the Binance
    symbol; errors are :class:`SpecError` naming ``source``, symbol, bracket and field. O(n).

    >>> t = parse_binance_coinm_brackets('[{"symbol": "BTCUSD_PERP", "brackets": ['
    ...     '{"bracket": 1, "initialLeverage": 125, "qtyCap": 10, "qtyFloor": 0, "maintMarginRatio": 0.004, "cum": 0.0},'
    ...     '{"bracket": 2, "initialLeverage": 100, "qtyCap": 20, "qtyFloor": 10, "maintMarginRatio": 0.005, "cum": 0.01}]}]')
    >>> t["BTCUSD_PERP"].brackets[1].cum_atoms
    1000000
    """
    data = _load_json(text, source)
    if not isinstance(data, list):
        raise SpecError("top level is not a list of {symbol, brackets}", where=source)
    tables: dict[str, BracketTable] = {}
    for n, entry in enumerate(data):
        if not isinstance(entry, Mapping):
            raise SpecError("entry is not an object", where=_where(source, f"entry {n + 1}"))
        symbol = entry.get("symbol", entry.get("pair"))
        if not isinstance(symbol, str) or not symbol:
            raise SpecError("missing or not a string", where=_where(source, f"entry {n + 1}"), field="symbol")
        if symbol in tables:
            raise SpecError("listed twice", where=_where(source, symbol), field="symbol")
        raw = entry.get("brackets")
        if not isinstance(raw, list) or not raw:
            raise SpecError("expected a non-empty list of brackets", where=_where(source, symbol), field="brackets")
        brackets = tuple(_parse_coinm_bracket(b, i, symbol, source) for i, b in enumerate(raw))
        validate_brackets(brackets, symbol=symbol, source=source, names=COINM_FIELD_NAMES)
        tables[symbol] = BracketTable(brackets, symbol=symbol, source=source)
    return BracketTables(tables, source=source)


# ------------------------------------------------------------------ the shipped tables
# (here, below the catalogue and the registry, which both read them)
#: Name of the shipped bracket snapshot inside ``exsim/instruments/data/``.
BRACKETS_FILE: Final = "binance_leverage_tiers_2024-10-24.json"
#: Name of the shipped COIN-M bracket tables (``/dapi/v2/leverageBracket`` shape, coin).
COINM_BRACKETS_FILE: Final = "binance_coinm_leverage_brackets_2021.json"


@cache
def shipped_brackets() -> BracketTables:
    """The shipped bracket snapshot, loaded and validated once (cached)."""
    ref = resources.files(__package__).joinpath("data", BRACKETS_FILE)
    text = ref.read_text(encoding="utf-8")
    return parse_binance_brackets(text, source=f"exsim/instruments/data/{BRACKETS_FILE}")


@cache
def shipped_coinm_brackets() -> BracketTables:
    """The shipped COIN-M bracket tables (coin atoms), loaded and validated once (cached)."""
    ref = resources.files(__package__).joinpath("data", COINM_BRACKETS_FILE)
    text = ref.read_text(encoding="utf-8")
    return parse_binance_coinm_brackets(text, source=f"exsim/instruments/data/{COINM_BRACKETS_FILE}")
