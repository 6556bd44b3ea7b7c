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

__all__ = [
    "hyperliquid_table",
    "hyperliquid_tiers",
    "dydx_fractions",
    "venue_brackets",
    "bybit_table",
    "HYPERLIQUID_TIERS",
    "HYPERLIQUID_TESTNET_BTC_TIERS",
    "DYDX_LIQUIDITY_TIERS",
    "DYDX_MARKET_TIERS",
    "DYDX_TIERS",
    "BYBIT_TIERS",
    "BYBIT_INVERSE_TIERS",
    "BYBIT_BTCUSDT_V5_TIERS",
]

#: the last tier's cap (units of the settlement asset): the tables do not cap size
_TOP_UNITS: Final = 10**12
_M: Final = 1_000_000

# --------------------------------------------------------------------------- Hyperliquid

#: Hyperliquid mainnet margin tiers: ``(lower bound in USDC, max leverage)``, first bound 0.
#: Source: https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers ("Mainnet
#: Margin Tiers"; the same tables as the ``meta`` info response's ``marginTables``).
_HL_BTC: Final = ((0, 40), (150 * _M, 20))
_HL_ETH: Final = ((0, 25), (100 * _M, 15))
_HL_SOL: Final = ((0, 20), (70 * _M, 10))
_HL_XRP: Final = ((0, 20), (40 * _M, 10))
_HL_20M_10X: Final = ((0, 10), (20 * _M, 5))
_HL_3M_10X: Final = ((0, 10), (3 * _M, 5))
HYPERLIQUID_TIERS: Final[dict[str, tuple[tuple[int, int], ...]]] = {
    "BTC": _HL_BTC,
    "ETH": _HL_ETH,
    "SOL": _HL_SOL,
    "XRP": _HL_XRP,
    **{
        coin: _HL_20M_10X
        for coin in (
            "DOGE", "KPEPE", "SUI", "WLD", "TRUMP", "LTC", "ENA", "POPCAT", "WIF", "AAVE", "KBONK",
            "LINK", "CRV", "AVAX", "ADA", "UNI", "NEAR", "TIA", "APT", "BCH", "HYPE", "FARTCOIN",
        )
    },
    **{
        coin: _HL_3M_10X
        for coin in ("OP", "ARB", "LDO", "TON", "MKR", "ONDO", "JUP", "INJ", "KSHIB", "SEI", "TRX", "BNB", "DOT")
    },
}

#: Hyperliquid's testnet BTC tiers (0–10k 40x, 10–50k 25x, 50–100k 10x, 100–300k 5x,
#: >300k 3x; deductions 0, 75, 1,575, 6,575, 26,575): MARGIN-SPEC §8 and the same page,
#: "Testnet Margin Tiers". Not used for mainnet figures; kept for tests and examples.
HYPERLIQUID_TESTNET_BTC_TIERS: Final = ((0, 40), (10_000, 25), (50_000, 10), (100_000, 5), (300_000, 3))

# --------------------------------------------------------------------------- dYdX v4

#: dYdX v4 liquidity tiers: name -> ``(IMF e8, maintenance fraction e8)``; MMF = IMF ×
#: maintenance fraction. Source: the dYdX Chain governance docs, "Markets" (liquidity tier
#: table: initial_margin_ppm, maintenance_fraction_ppm),
#: https://docs.dydx.community/dydx-token-migration/dydx-chain-modules-and-parameters/governance-adjustable-parameters/markets
#: and the tiers added by governance (Isolated 4, Mid-Cap 5, FX 6; SOL moved to Mid-Cap):
#: https://dydx.forum/t/liquidity-tier-maintenance/2939
DYDX_LIQUIDITY_TIERS: Final[dict[str, tuple[int, int]]] = {
    "large-cap": (5_000_000, 60_000_000),  # id 0: IMF 5 %, MMF 3 %
    "small-cap": (10_000_000, 50_000_000),  # id 1 (was "mid-cap"): IMF 10 %, MMF 5 %
    "long-tail": (20_000_000, 50_000_000),  # id 2: IMF 20 %, MMF 10 %
    "safety": (100_000_000, 20_000_000),  # id 3: IMF 100 %, MMF 20 %
    "isolated": (5_000_000, 60_000_000),  # id 4: IMF 5 %, MMF 3 %
    "mid-cap": (5_000_000, 60_000_000),  # id 5: IMF 5 %, MMF 3 %
    "fx": (1_000_000, 50_000_000),  # id 6: IMF 1 %, MMF 0.5 %
}
#: Which markets are in which tier (BTC-USD and ETH-USD large-cap: dYdX help center,
#: "Default liquidity tiers on dYdX Chain", https://help.dydx.trade/en/articles/166975-default-liquidity-tiers-on-dydx-chain;
#: SOL-USD mid-cap: the forum proposal above). Other markets: small-cap unless
#: ``--max-leverage`` says otherwise.
DYDX_MARKET_TIERS: Final[dict[str, str]] = {"BTC": "large-cap", "ETH": "large-cap", "SOL": "mid-cap"}
_DYDX_DEFAULT_TIER: Final = "small-cap"


def _dydx_e8(tier: str) -> tuple[int, int]:
    imf, fraction = DYDX_LIQUIDITY_TIERS[tier]
    return imf, imf * fraction // RATE_SCALE


#: per coin: ``(IMF e8, MMF e8)`` (large-cap 5 % / 3 %), from the two tables above
DYDX_TIERS: Final[dict[str, tuple[int, int]]] = {coin: _dydx_e8(t) for coin, t in DYDX_MARKET_TIERS.items()}
_DYDX_DEFAULT: Final = _dydx_e8(_DYDX_DEFAULT_TIER)

# --------------------------------------------------------------------------- Bybit

#: Bybit risk-limit tiers, linear USDT: ``(risk limit cap in USDT, MMR e8, max leverage)``.
#: BTCUSDT: base value 2,000,000 USDT and a step of 2,000,000; MMR 0.5 % + 0.5 % a step;
#: IMR 1 % + 0.75 % a step (so 4,000,000 is MMR 1 %, IMR 1.75 %, 57.14x). Source: Bybit's
#: notice "Details of Risk Limit Adjustment" (BTCUSDT, ETHUSDT), mirrored at
#: https://mobie.io/details-of-risk-limit-adjustment-by-bybit ; the rule (dynamic leverage,
#: laddered liquidation down the tiers):
#: https://www.bybit.com/en/help-center/article/Risk-Limit-Perpetual-and-Futures
#: Max leverage = 1 / IMR rounded down to a whole number (a bracket holds an integer).
#: The deductions are derived (continuous MM), as Bybit's v5 API ``mmDeduction`` is.
BYBIT_TIERS: Final[dict[str, tuple[tuple[int, int, int], ...]]] = {
    "BTC": tuple(
        (2 * _M * n, 500_000 * n, RATE_SCALE // (1_000_000 + 750_000 * (n - 1))) for n in range(1, 11)
    ),
}
#: Every other linear symbol: not a published Bybit table; exsim's stand-in with Bybit's
#: shape (a 1 % maintenance base, as Bybit states for ETH, EOS and XRP), for scenarios.
_BYBIT_DEFAULT: Final = ((200_000, 1_000_000, 50), (400_000, 1_500_000, 40), (600_000, 2_000_000, 33))

#: Bybit inverse BTCUSD (caps in BTC): base 150 BTC, a step of 150 BTC, MMR 0.5 % + 0.5 %,
#: IMR 1 % + 0.5 % a step. Source: Bybit help center, Risk Limit (Inverse Contract),
#: https://www.bybit.com/en/help-center/article/Risk-Limit-Inverse-Contract ("the
#: maintenance margin base rate is 0.5 % for BTC and 1 % for ETH, EOS and XRP").
BYBIT_INVERSE_TIERS: Final[dict[str, tuple[tuple[int, int, int], ...]]] = {
    "BTC": tuple((150 * n, 500_000 * n, RATE_SCALE // (1_000_000 + 500_000 * (n - 1))) for n in range(1, 9)),
}
_BYBIT_INVERSE_DEFAULT: Final = BYBIT_INVERSE_TIERS["BTC"]

#: Bybit's current lowest BTCUSDT tiers as its v5 API ``/v5/market/risk-limit`` answers
#: them (2026): ``(risk limit USDT, MMR e8, IMR e8, mmDeduction USDT)``. The API lists a
#: deduction per tier; exsim derives it (MARGIN-SPEC §1), and ``tests/venues/test_tiers.py``
#: checks the two agree. Kept as data for that check, not used by default.
BYBIT_BTCUSDT_V5_TIERS: Final = (
    (300_000, 330_000, 660_000, 0),
    (2_000_000, 500_000, 1_000_000, 510),
    (2_600_000, 560_000, 1_120_000, 1_710),
)


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


def hyperliquid_tiers(coin: str, *, max_leverage: int | None = None) -> tuple[tuple[int, int], ...]:
    """The Hyperliquid tiers of ``coin`` (``BTC``, ``BTCUSDT``, ``BTC/USDC:USDC``: the base),
    or one tier at ``max_leverage`` when given (an override, or a made-up asset).
    :class:`InputError` naming ``--max-leverage`` when neither is known."""
    if max_leverage is not None:
        return ((0, max_leverage),)
    tiers = HYPERLIQUID_TIERS.get(coin.upper())
    if tiers is None:
        raise InputError(
            f"no shipped Hyperliquid margin tiers for {coin} (shipped: {', '.join(sorted(HYPERLIQUID_TIERS))}); "
            "give its maximum leverage (--max-leverage N)",
            field="venue",
        )
    return tiers


def dydx_fractions(coin: str, *, max_leverage: int | None = None) -> tuple[int, int]:
    """``(IMF e8, MMF e8)`` of ``coin`` on dYdX: its liquidity tier's, or with
    ``max_leverage`` IMF = 1 / max leverage (rounded up to 1e-8) and MMF = IMF × the tier's
    maintenance fraction."""
    tier = DYDX_MARKET_TIERS.get(coin.upper(), _DYDX_DEFAULT_TIER)
    imf, mmf = _dydx_e8(tier)
    if max_leverage is not None:
        imf = ceil_div(RATE_SCALE, max_leverage)
        mmf = ceil_div(imf * DYDX_LIQUIDITY_TIERS[tier][1], RATE_SCALE)
    return imf, mmf


def bybit_table(base: str, *, inverse: bool, symbol: str = "", max_leverage: int | None = None) -> BracketTable:
    """Bybit's risk-limit tiers of ``base`` (linear: caps in USDT; inverse: in the coin),
    deductions derived; ``max_leverage`` caps every tier's."""
    if inverse:
        tiers = BYBIT_INVERSE_TIERS.get(base.upper(), _BYBIT_INVERSE_DEFAULT)
    else:
        tiers = BYBIT_TIERS.get(base.upper(), _BYBIT_DEFAULT)
    rows = []
    floor = 0
    for i, (cap, mmr, lev) in enumerate(tiers):
        cap_atoms = (cap if i + 1 < len(tiers) else _TOP_UNITS) * ATOMS_PER_UNIT
        rows.append((floor, cap_atoms, mmr, lev if max_leverage is None else min(lev, max_leverage)))
        floor = cap_atoms
    return _table(rows, symbol or base, "bybit risk limits")


def venue_brackets(venue: str, inst: "Instrument", *, max_leverage: int | None = None) -> BracketTable:
    """The margin tiers of ``inst`` on ``venue`` (bybit, hyperliquid, dydx)."""
    base = inst.base.upper()
    symbol = inst.symbol
    if venue == "hyperliquid":
        return hyperliquid_table(hyperliquid_tiers(base, max_leverage=max_leverage), symbol)
    if venue == "dydx":
        imf, mmf = dydx_fractions(base, max_leverage=max_leverage)
        return _table([(0, _TOP_UNITS * ATOMS_PER_UNIT, mmf, RATE_SCALE // imf)], symbol, "dydx liquidity tier")
    if venue == "bybit":
        return bybit_table(base, inverse=inst.inverse, symbol=symbol, max_leverage=max_leverage)
    raise ValueError(f"no tiers for venue {venue!r}")
