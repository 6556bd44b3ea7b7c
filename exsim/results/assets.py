"""Amounts of several settlement assets: how a user writes them, and their USD value.

A run may hold money in several assets (USDT for linear ``BTCUSDT``, BTC for the
coin-margined ``BTCUSD_PERP``). Every amount stays in its own asset, in atoms (1e-8 of
it); nothing is added across assets. For reading, an amount is also shown at its USD
value, and the value says which price converted it:

* a stablecoin settlement asset (:data:`USD_ASSETS`: USDT, USDC, …) is counted at 1 USD;
* a coin at the mark of an instrument of the run that prices it in USD: first an inverse
  instrument settling in it (``BTCUSD_PERP``: its mark *is* USD per BTC), else a linear one
  whose base it is and whose quote is a stablecoin (``BTCUSDT``);
* otherwise it has no USD value (shown as ``-``), never a guess.

USD values are display figures, rounded down to 1e-8 USD (:func:`exsim.units.mul_div_floor`);
the exact amounts are the per-asset ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from exsim.errors import InputError
from exsim.instruments.instrument import USD_ASSETS
from exsim.units import format_atoms, mul_div_floor, to_atoms

__all__ = ["USD_ASSETS", "AssetAmount", "deposit_assets", "parse_asset_amount", "parse_deposits", "tells_assets", "UsdPricer"]

#: settlement assets counted at 1 USD each (stated wherever a USD value is shown)
# USD_ASSETS (the stablecoins counted at 1 USD) is defined once, beside the instruments

_AMOUNT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]{2}[A-Za-z0-9]*)?\s*$")

AssetAmount = tuple[str, int]  # (asset, atoms > 0)


def parse_asset_amount(text: str, *, home_asset: str, assets: Sequence[str], field: str, where: str = "") -> AssetAmount:
    """``"0.05BTC"``, ``"0.05 BTC"``, ``"1000USDT"`` or a bare ``"1000"`` (the home asset) as
    ``(asset, atoms)``; the amount > 0 with at most 8 decimals (never rounded), the asset one
    of ``assets`` (the ones the run's instruments settle in). Asset names are upper-cased.

    >>> parse_asset_amount("0.05BTC", home_asset="USDT", assets=("USDT", "BTC"), field="--deposit")
    ('BTC', 5000000)
    >>> parse_asset_amount("1000", home_asset="USDT", assets=("USDT", "BTC"), field="--deposit")
    ('USDT', 100000000000)
    """
    m = _AMOUNT.match(text) if isinstance(text, str) else None
    if m is None:
        raise InputError(
            f"{text!r} is not an amount like 1000, 1000USDT or 0.05BTC (a positive decimal number, then the asset)",
            where=where, field=field,
        )
    asset = (m.group(2) or home_asset).upper()
    if asset not in assets:
        raise InputError(
            f"{text!r}: no instrument of this run settles in {asset} (they settle in {', '.join(assets)})",
            where=where, field=field,
        )
    atoms = to_atoms(m.group(1), field=field, where=where)
    if atoms <= 0:
        raise InputError(f"{text!r} is not an amount > 0", where=where, field=field)
    return asset, atoms


def deposit_assets(texts: Iterable[str], home_asset: str) -> list[str]:
    """The assets amounts name, in order, once each (a bare amount: the home asset); texts
    that are not amounts are left to :func:`parse_deposits` to refuse.

    >>> deposit_assets(["1000", "0.5btc", "2BTC"], "USDT")
    ['USDT', 'BTC']
    """
    out: list[str] = []
    for text in texts:
        m = _AMOUNT.match(text) if isinstance(text, str) else None
        if m is not None:
            asset = (m.group(2) or home_asset).upper()
            if asset not in out:
                out.append(asset)
    return out


def parse_deposits(texts: Iterable[str], *, home_asset: str, assets: Sequence[str], field: str,
                   where: str = "") -> dict[str, int]:
    """Several amounts, at most one per asset: ``{asset: atoms}`` in the order given."""
    out: dict[str, int] = {}
    for text in texts:
        asset, atoms = parse_asset_amount(text, home_asset=home_asset, assets=assets, field=field, where=where)
        if asset in out:
            raise InputError(f"{text!r}: {asset} is given twice (one amount per asset)", where=where, field=field)
        out[asset] = atoms
    return out


def tells_assets(assets: Sequence[str]) -> bool:
    """Whether a run's outputs must name assets and USD values: some money is not in one
    USD stablecoin (several assets, or a coin such as BTC). A run with only USDT (or only
    USDC) writes what it always wrote.

    >>> tells_assets(["USDT"]), tells_assets(["BTC"]), tells_assets(["USDT", "BTC"])
    (False, True, True)
    """
    return len(assets) > 1 or (len(assets) == 1 and assets[0] not in USD_ASSETS)


class UsdPricer:
    """USD values of amounts of the run's assets, at the marks of its instruments.

    ``instruments``: the run's (``Instrument`` objects); ``mark_subticks(symbol)``: the
    current mark in subticks (0 or None: no mark yet). O(1) per value after building.
    """

    def __init__(self, instruments: Iterable[Any], mark_subticks: Any) -> None:
        self.mark_subticks = mark_subticks
        self.source: dict[str, Any] = {}  # asset -> the instrument whose mark converts it
        insts = list(instruments)
        for inst in insts:  # an inverse contract is quoted in USD: its own mark converts its coin
            if inst.inverse and inst.margin_asset not in self.source:
                self.source[inst.margin_asset] = inst
        for inst in insts:
            if not inst.inverse and inst.quote in USD_ASSETS and inst.base not in self.source:
                self.source[inst.base] = inst

    def how(self, asset: str) -> str:
        """How ``asset`` is converted: ``"1 USD"``, ``"BTCUSD_PERP mark"`` or ``"-"`` (it is not)."""
        if asset in USD_ASSETS:
            return f"1 {asset} = 1 USD"
        inst = self.source.get(asset)
        return f"{inst.symbol} mark" if inst is not None else "-"

    def price(self, asset: str) -> Fraction | None:
        """USD per unit of ``asset`` now, or None (no instrument prices it, or no mark yet)."""
        if asset in USD_ASSETS:
            return Fraction(1)
        inst = self.source.get(asset)
        if inst is None:
            return None
        mark = self.mark_subticks(inst.symbol)
        if not mark:
            return None
        return Fraction(Decimal(inst.mark_str(mark)))

    def price_text(self, asset: str) -> str | None:
        """The USD price as its mark's exact text (``"36500.0"``), ``"1"`` for a stablecoin,
        None when not priced."""
        if asset in USD_ASSETS:
            return "1"
        inst = self.source.get(asset)
        mark = self.mark_subticks(inst.symbol) if inst is not None else None
        return inst.mark_str(mark) if mark else None

    def usd_atoms(self, asset: str, atoms: int) -> int | None:
        """``atoms`` of ``asset`` in USD atoms (1e-8 USD), rounded down; None if not priced."""
        p = self.price(asset)
        if p is None:
            return None
        return mul_div_floor(atoms, p.numerator, p.denominator)

    def usd_text(self, asset: str, atoms: int) -> str:
        """The USD value as exact 8-decimal text, or ``""`` when not priced (CSV cells)."""
        v = self.usd_atoms(asset, atoms)
        return "" if v is None else format_atoms(v)
