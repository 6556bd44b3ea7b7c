"""Each venue's margin tiers as a :class:`~exsim.instruments.brackets.BracketTable`.

One shape serves every venue: a tier is ``[floor, cap)`` of notional in the settlement
asset, a maintenance margin rate, a maximum leverage and a maintenance amount (Binance's
``cum``, Bybit's and Hyperliquid's "deduction") continuous at every floor:
``deduction(n) = deduction(n−1) + floor(n) × (mmr(n) − mmr(n−1))``.

- **Bybit**: risk-limit tiers (MMR and IMR per tier; max leverage = 1 / IMR).
- **Hyperliquid**: margin tiers by maximum leverage; ``MMR = 1 / (2 × max leverage)``
  (a rate that is not a whole number of 1e-8 is rounded **up**: 1/6 → 0.16666667).
- **dYdX v4**: one tier per liquidity tier: ``IMF`` (max leverage = 1 / IMF) and
  ``MMF = IMF × maintenance fraction``.

Sources: ``docs/venues.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from exsim.errors import InputError
from exsim.instruments.brackets import Bracket, BracketTable, derive_cum_atoms
from exsim.units import ATOMS_PER_UNIT, RATE_SCALE, ceil_div

if TYPE_CHECKING:
    from exsim.instruments import Instrument

__all__ = ["hyperliquid_table", "venue_brackets", "HYPERLIQUID_TIERS", "DYDX_TIERS", "BYBIT_TIERS"]

#: the last tier's cap (units of the settlement asset): the tables do not cap size
_TOP_UNITS: Final = 10**12

#: Hyperliquid margin tiers per coin: ``(lower bound in USDC, max leverage)``, first bound 0
#: (https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers)
HYPERLIQUID_TIERS: Final[dict[str, tuple[tuple[int, int], ...]]] = {
    "BTC": ((0, 40), (150_000_000, 20)),
    "ETH": ((0, 25), (100_000_000, 15)),
    "SOL": ((0, 20), (70_000_000, 10)),
    "XRP": ((0, 20), (40_000_000, 10)),
    "DOGE": ((0, 10), (20_000_000, 5)),
}

#: dYdX v4 liquidity tiers: ``(IMF e8, MMF e8)`` per coin (large-cap 5 % / 3 %)
#: (https://docs.dydx.exchange/concepts/trading/margin)
DYDX_TIERS: Final[dict[str, tuple[int, int]]] = {
    "BTC": (5_000_000, 3_000_000),
    "ETH": (5_000_000, 3_000_000),
}
_DYDX_DEFAULT: Final = (10_000_000, 5_000_000)  # mid-cap: IMF 10 %, MMF 5 %

#: Bybit risk-limit tiers per coin: ``(risk limit cap in the settlement asset, MMR e8, max leverage)``
#: (https://www.bybit.com/en/help-center/article/Risk-Limit-Perpetual-and-Futures)
BYBIT_TIERS: Final[dict[str, tuple[tuple[int, int, int], ...]]] = {
    "BTC": ((2_000_000, 500_000, 100), (2_600_000, 1_000_000, 66), (3_200_000, 1_500_000, 50),
            (3_800_000, 2_000_000, 40), (4_400_000, 2_500_000, 33)),
    "ETH": ((1_000_000, 500_000, 100), (1_500_000, 1_000_000, 66), (2_000_000, 1_500_000, 50),
            (2_500_000, 2_000_000, 40), (3_000_000, 2_500_000, 33)),
}
_BYBIT_DEFAULT: Final = ((200_000, 1_000_000, 50), (400_000, 1_500_000, 40), (600_000, 2_000_000, 33))
#: inverse contracts: caps in coin (BTCUSD: 150 BTC a tier)
_BYBIT_INVERSE: Final = ((150, 500_000, 100), (300, 1_000_000, 66), (450, 1_500_000, 50), (600, 2_000_000, 40))


def _table(rows: list[tuple[int, int, int, int]], symbol: str, source: str) -> BracketTable:
    """``(floor atoms, cap atoms, mmr e8, max leverage)`` rows with the deductions derived."""
    cums = derive_cum_atoms([r[0] for r in rows], [r[2] for r in rows], symbol=symbol, source=source)
    return BracketTable(
        tuple(Bracket(i + 1, fl, cap, mmr, cum, lev) for i, ((fl, cap, mmr, lev), cum) in enumerate(zip(rows, cums))),
        symbol=symbol,
        source=source,
    )


def hyperliquid_table(tiers: tuple[tuple[int, int], ...], symbol: str = "") -> BracketTable:
    """Hyperliquid's tiers ``(lower bound USDC, max leverage)`` as brackets: MMR = 1 / (2 × L)
    rounded up to 1e-8, deductions derived."""
    rows = []
    for i, (floor, lev) in enumerate(tiers):
        cap = tiers[i + 1][0] if i + 1 < len(tiers) else _TOP_UNITS
        rows.append((floor * ATOMS_PER_UNIT, cap * ATOMS_PER_UNIT, ceil_div(RATE_SCALE, 2 * lev), lev))
    return _table(rows, symbol, "hyperliquid margin tiers")


def venue_brackets(venue: str, inst: "Instrument", *, max_leverage: int | None = None) -> BracketTable:
    """The margin tiers of ``inst`` on ``venue`` (bybit, hyperliquid, dydx)."""
    base = inst.base.upper()
    symbol = inst.symbol
    if venue == "hyperliquid":
        if max_leverage is not None:
            return hyperliquid_table(((0, max_leverage),), symbol)
        tiers = HYPERLIQUID_TIERS.get(base)
        if tiers is None:
            raise InputError(
                f"no shipped Hyperliquid margin tiers for {base} (shipped: {', '.join(sorted(HYPERLIQUID_TIERS))}); "
                "give its maximum leverage (--max-leverage)",
                field="venue",
            )
        return hyperliquid_table(tiers, symbol)
    if venue == "dydx":
        imf, mmf = DYDX_TIERS.get(base, _DYDX_DEFAULT)
        if max_leverage is not None:
            imf = ceil_div(RATE_SCALE, max_leverage)
        return _table([(0, _TOP_UNITS * ATOMS_PER_UNIT, mmf, RATE_SCALE // imf)], symbol, "dydx liquidity tier")
    if venue == "bybit":
        tiers = _BYBIT_INVERSE if inst.inverse else BYBIT_TIERS.get(base, _BYBIT_DEFAULT)
        rows = []
        floor = 0
        for i, (cap, mmr, lev) in enumerate(tiers):
            cap_atoms = (cap if i + 1 < len(tiers) else _TOP_UNITS) * ATOMS_PER_UNIT
            rows.append((floor, cap_atoms, mmr, lev if max_leverage is None else min(lev, max_leverage)))
            floor = cap_atoms
        return _table(rows, symbol, "bybit risk limits")
    raise ValueError(f"no tiers for venue {venue!r}")
