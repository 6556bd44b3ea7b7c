"""Venue profiles: the rules one venue applies, as data and policy over the same engine.

A :class:`VenueProfile` does not copy the book, the ledger, the risk index or the
liquidation engine. It says, rule by rule, which variant the one engine applies:

- the instrument's terms (:meth:`VenueProfile.instrument`): the venue's margin tiers
  (``exsim.venues.tiers``), the notional the maintenance margin is computed on
  (``maint_margin_basis``), default fees, funding interval, clearance fee;
- the liquidation process (:attr:`liquidation_order`, :attr:`partial`, chunks and
  cooldowns, the backstop), who gets what is left (:attr:`clearance`), and who absorbs a
  loss (:attr:`fund`, :attr:`adl`);
- what is only described (the mark price, the funding formula): :attr:`rules` holds a
  sentence and a source for every row of ``docs/venues.md``.

Every figure is an exact integer: rates in parts per 1e8 (``_e8``), money in atoms
(1e-8 of the settlement asset), times in nanoseconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Iterable

import attrs

from exsim.errors import InputError
from exsim.units import NS_PER_HOUR, NS_PER_SECOND, RATE_SCALE

if TYPE_CHECKING:
    from exsim.instruments import Instrument

__all__ = [
    "BINANCE",
    "BYBIT",
    "DYDX",
    "HYPERLIQUID",
    "VENUES",
    "VENUE_NAMES",
    "VenueProfile",
    "get_venue",
]

#: how the liquidation order is sent
BANKRUPTCY_IOC: Final = "bankruptcy-ioc"  # Binance, Bybit: IOC limit at the bankruptcy price
MARKET: Final = "market"  # Hyperliquid: market orders through the book
FILLABLE_PRICE: Final = "fillable-price"  # dYdX: IOC limit at the fillable price
LIQUIDATION_ORDERS: Final = (BANKRUPTCY_IOC, MARKET, FILLABLE_PRICE)

#: partial liquidation before a full one
PARTIAL_INSTRUMENT: Final = "instrument"  # Binance: the instrument's flag (one step to the bracket below)
PARTIAL_LADDER: Final = "ladder"  # Bybit: down the risk-limit tiers, one tier at a time, until safe
PARTIAL_NONE: Final = "none"
PARTIALS: Final = (PARTIAL_INSTRUMENT, PARTIAL_LADDER, PARTIAL_NONE)

#: what is left of the scope's margin after the close
CLEARANCE_RATE: Final = "rate"  # Binance: the instrument's clearance fee on the liquidated notional
CLEARANCE_REST: Final = "rest"  # Bybit: everything left (the close was at the bankruptcy price) to the fund
CLEARANCE_NONE: Final = "none"  # Hyperliquid: the rest stays with the trader
CLEARANCE_FILL_DELTA: Final = "fill-delta"  # dYdX: per fill, min(quote − bankruptcy quote, cap × quote)
CLEARANCES: Final = (CLEARANCE_RATE, CLEARANCE_REST, CLEARANCE_NONE, CLEARANCE_FILL_DELTA)

#: who takes over what the book did not fill
FUND_TAKEOVER: Final = "insurance-fund"  # Binance, Bybit: the fund takes it at the bankruptcy price
FUND_VAULT: Final = "liquidator-vault"  # Hyperliquid: the vault takes positions and margin (backstop)
FUND_NO_TAKEOVER: Final = "retry"  # dYdX: the rest stays open and is retried; the fund pays shortfalls
FUNDS: Final = (FUND_TAKEOVER, FUND_VAULT, FUND_NO_TAKEOVER)

#: how the auto-deleveraging queue is ordered
ADL_PNL_X_MARGIN_RATIO: Final = "pnl-x-margin-ratio"  # Binance: PnL% × margin ratio
ADL_PNL_X_LEVERAGE: Final = "pnl-x-leverage"  # Bybit, Hyperliquid: PnL% × effective leverage
ADL_RANDOM_START: Final = "random-start"  # dYdX: offsetting accounts from a pseudo-random start
ADLS: Final = (ADL_PNL_X_MARGIN_RATIO, ADL_PNL_X_LEVERAGE, ADL_RANDOM_START)

#: at which price an auto-deleveraged counterparty closes
ADL_AT_BANKRUPTCY: Final = "bankruptcy"
ADL_AT_PREVIOUS_MARK: Final = "previous-mark"


@attrs.frozen(kw_only=True)
class VenueProfile:
    """One venue's rules. Build none yourself: use :func:`get_venue` (the four shipped).

    Fields (policy):

    - ``maint_margin_basis``: ``"mark"`` (MM on the notional at the mark) or ``"entry"``
      (Bybit: on the entry value, so an isolated liquidation price is fixed at entry).
    - ``tier_from_orders``: the risk-limit tier holds max(long position + long orders,
      short position + short orders) (Bybit) instead of the position and the symbol's
      open orders together (Binance).
    - ``liquidation_order``: ``bankruptcy-ioc`` | ``market`` | ``fillable-price``.
    - ``partial``: ``instrument`` | ``ladder`` | ``none``.
    - ``chunk_above_atoms`` / ``chunk_e8`` / ``cooldown_ns``: a position whose notional is
      above the threshold (in the settlement asset) is sent ``chunk_e8`` of it at a time,
      then waits ``cooldown_ns`` (Hyperliquid: 100,000 USDC, 20 %, 30 s); 0: all at once.
    - ``backstop_num`` / ``backstop_den``: when the margin balance is below num/den of
      the maintenance margin, the vault takes the scope over instead (Hyperliquid 2/3);
      0/1: never.
    - ``clearance``, ``clearance_cap_e8`` (dYdX: the user pays at most 0.5 % of the quote).
    - ``fund``: ``insurance-fund`` | ``liquidator-vault`` | ``retry``; ``fund_may_go_negative``:
      the backstop carries a deficit in its own balance (Hyperliquid's vault) instead of
      reporting it uncovered.
    - ``adl``, ``adl_price``.
    - ``liquidatable_at_equality``: margin balance == MM liquidates (Binance, Bybit,
      Hyperliquid) or only MM > balance does (dYdX: "total maintenance margin requirement
      > total net collateral").
    - default fees ``maker_fee_e8`` / ``taker_fee_e8``, ``funding_interval_ns``,
      ``funding_interest_e8`` (per interval), ``funding_clamp_e8`` and
      ``funding_premium_divisor`` (8 for an hourly venue paying 1/8 of the 8-hour rate).
    - ``rules``: ``(rule, text, source URL)`` rows for ``docs/venues.md`` and explanations.
    """

    name: str
    title: str
    maint_margin_basis: str = "mark"
    tier_from_orders: bool = False
    liquidation_order: str = BANKRUPTCY_IOC
    partial: str = PARTIAL_INSTRUMENT
    chunk_above_atoms: int = 0
    chunk_e8: int = RATE_SCALE
    cooldown_ns: int = 0
    backstop_num: int = 0
    backstop_den: int = 1
    clearance: str = CLEARANCE_RATE
    clearance_cap_e8: int = 0
    fund: str = FUND_TAKEOVER
    fund_may_go_negative: bool = False
    adl: str = ADL_PNL_X_MARGIN_RATIO
    adl_price: str = ADL_AT_BANKRUPTCY
    liquidatable_at_equality: bool = True
    #: dYdX fillable price: spread-to-maintenance-margin ratio and bankruptcy adjustment (e8)
    smmr_e8: int = 0
    bankruptcy_adjustment_e8: int = RATE_SCALE
    maker_fee_e8: int | None = None  # None: keep the instrument's (Binance: its own data)
    taker_fee_e8: int | None = None
    funding_interval_ns: int = 8 * NS_PER_HOUR
    funding_interest_e8: int = 10_000
    funding_clamp_e8: int = 50_000
    #: hourly venues pay an eighth of the 8-hour rate: the premium is divided by this
    funding_premium_divisor: int = 1
    linear_only: bool = False
    #: the venue lets an account pool several assets' wallets as margin (Binance
    #: Multi-Assets Mode, Bybit's unified account); Hyperliquid and dYdX margin their USDC
    #: perpetuals with USDC alone
    multi_assets: bool = True
    rules: tuple[tuple[str, str, str], ...] = ()

    def __attrs_post_init__(self) -> None:
        for field, value, allowed in (
            ("liquidation_order", self.liquidation_order, LIQUIDATION_ORDERS),
            ("partial", self.partial, PARTIALS),
            ("clearance", self.clearance, CLEARANCES),
            ("fund", self.fund, FUNDS),
            ("adl", self.adl, ADLS),
            ("adl_price", self.adl_price, (ADL_AT_BANKRUPTCY, ADL_AT_PREVIOUS_MARK)),
            ("maint_margin_basis", self.maint_margin_basis, ("mark", "entry")),
        ):
            if value not in allowed:
                raise ValueError(f"venue {self.name}: {field} {value!r} is not one of {allowed}")
        if not 0 < self.chunk_e8 <= RATE_SCALE or self.backstop_den <= 0:
            raise ValueError(f"venue {self.name}: chunk or backstop out of range")

    @property
    def is_binance(self) -> bool:
        """Binance's rules: instruments unchanged, today's engine path exactly."""
        return self.name == "binance"

    def rule(self, key: str) -> str:
        """The sentence of rule ``key`` (for explanations); '' when the venue states none."""
        for k, text, _ in self.rules:
            if k == key:
                return text
        return ""

    def instrument(self, inst: "Instrument", *, max_leverage: int | None = None) -> "Instrument":
        """``inst`` under this venue's terms: its margin tiers, MM basis, fees, funding
        interval and clearance fee. Binance returns ``inst`` itself (nothing moves).

        ``max_leverage`` (Hyperliquid): one tier at that maximum leverage instead of the
        shipped tiers (a made-up asset, or an override). Raises :class:`InputError` when
        the venue lists no such contract kind (an inverse contract on Hyperliquid/dYdX).
        """
        if self.is_binance:
            return inst
        from exsim.venues.tiers import venue_brackets

        if self.linear_only and inst.inverse:
            raise InputError(
                f"{self.title} lists no inverse (coin-margined) contracts; {inst.symbol} is one "
                f"(use a linear contract such as {inst.base}USDT, or --venue binance|bybit)",
                field="venue",
            )
        changes: dict[str, object] = {
            "brackets": venue_brackets(self.name, inst, max_leverage=max_leverage),
            "maint_margin_basis": self.maint_margin_basis,
            "funding_interval_ns": self.funding_interval_ns,
            "partial_liquidation": self.partial == PARTIAL_LADDER,
            "clearance_fee_e8": 0,
        }
        if self.maker_fee_e8 is not None:
            changes["maker_fee_e8"] = self.maker_fee_e8
        if self.taker_fee_e8 is not None:
            changes["taker_fee_e8"] = self.taker_fee_e8
        return attrs.evolve(inst, **changes)

    def instruments(self, insts: Iterable["Instrument"]) -> list["Instrument"]:
        """:meth:`instrument` of each."""
        return [self.instrument(i) for i in insts]


_BINANCE_FAQ: Final = "https://www.binance.com/en/support/faq/liquidation-protocols-360033525271"
_BYBIT_LIQ: Final = "https://www.bybit.com/en/help-center/article/Liquidation-Price-USDT-Contract"
_BYBIT_INV: Final = "https://help.bybit.com/hc/en-us/articles/360039261334-How-to-calculate-Liquidation-Price-Inverse-Contract-"
_BYBIT_PROC: Final = "https://www.bybit.com/en/help-center/article/Liquidation-Process-USDT-Contract"
_BYBIT_ADL: Final = "https://www.bybit.com/en/help-center/article/Auto-Deleveraging-ADL"
_BYBIT_RISK: Final = "https://www.bybit.com/en/help-center/article/Risk-Limit-Perpetual-and-Futures"
_HL_LIQ: Final = "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/liquidations"
_HL_TIERS: Final = "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/margin-tiers"
_HL_FUND: Final = "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/funding"
_HL_ADL: Final = "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/auto-deleveraging"
_HL_FEES: Final = "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/fees"
_DYDX_LIQ: Final = "https://docs.dydx.exchange/concepts/trading/liquidations"
_DYDX_MARGIN: Final = "https://docs.dydx.exchange/concepts/trading/margin"
_DYDX_FUND: Final = "https://docs.dydx.exchange/concepts/trading/funding"

BINANCE: Final = VenueProfile(
    name="binance",
    title="Binance USDⓈ-M / COIN-M",
    rules=(
        ("trigger", "margin balance <= maintenance margin (margin ratio >= 100 %) at the mark", _BINANCE_FAQ),
        ("order", "one reduce-only IOC per position at its bankruptcy price", _BINANCE_FAQ),
        ("clearance", "clearance fee (the instrument's rate) on the liquidated notional to the insurance fund", _BINANCE_FAQ),
        ("fund", "the insurance fund takes over what the book did not fill, at the bankruptcy price", _BINANCE_FAQ),
        ("adl", "ADL by PnL% × margin ratio at the bankruptcy price when the fund cannot absorb the loss", _BINANCE_FAQ),
    ),
)

BYBIT: Final = VenueProfile(
    name="bybit",
    title="Bybit (linear USDT and inverse)",
    maint_margin_basis="entry",
    tier_from_orders=True,
    partial=PARTIAL_LADDER,
    clearance=CLEARANCE_REST,
    adl=ADL_PNL_X_LEVERAGE,
    maker_fee_e8=20_000,  # 0.02 %
    taker_fee_e8=55_000,  # 0.055 %
    rules=(
        ("trigger", "the mark reaches the liquidation price: position margin <= MM, MM = value × MMR − deduction with the value at entry", _BYBIT_LIQ),
        ("order", "laddered: the risk-limit tier is lowered one tier at a time (a reduce-only IOC at the bankruptcy price each) until the position is safe; at the first tier, the whole position at the bankruptcy price", _BYBIT_PROC),
        ("clearance", "closed at the bankruptcy price: the margin left goes to the insurance fund", _BYBIT_PROC),
        ("fund", "the insurance fund takes over what the book did not fill, at the bankruptcy price", _BYBIT_PROC),
        ("adl", "ADL by PnL% × effective leverage at the bankruptcy price when the fund cannot absorb the loss", _BYBIT_ADL),
    ),
)

HYPERLIQUID: Final = VenueProfile(
    name="hyperliquid",
    title="Hyperliquid",
    liquidation_order=MARKET,
    partial=PARTIAL_NONE,
    chunk_above_atoms=100_000 * 10**8,
    chunk_e8=20_000_000,
    cooldown_ns=30 * NS_PER_SECOND,
    backstop_num=2,
    backstop_den=3,
    clearance=CLEARANCE_NONE,
    fund=FUND_VAULT,
    fund_may_go_negative=True,
    adl=ADL_PNL_X_LEVERAGE,
    adl_price=ADL_AT_PREVIOUS_MARK,
    maker_fee_e8=15_000,  # 0.015 %
    taker_fee_e8=45_000,  # 0.045 %
    funding_interval_ns=NS_PER_HOUR,
    funding_interest_e8=1_250,  # 0.01 % per 8 h, paid hourly: 0.00125 %
    funding_clamp_e8=6_250,  # the 8 h clamp of 0.05 %, paid hourly
    funding_premium_divisor=8,
    linear_only=True,
    multi_assets=False,
    rules=(
        ("trigger", "account value (isolated: the position's margin) < maintenance margin, MMR = 1 / (2 × max leverage of the tier)", _HL_LIQ),
        ("order", "market orders through the book; a position above 100,000 USDC goes 20 % at a time, then a 30 s cooldown", _HL_LIQ),
        ("clearance", "no clearance fee: what is left stays with the trader", _HL_LIQ),
        ("fund", "below 2/3 of the maintenance margin the liquidator vault takes the positions and their margin over (cross: every cross position)", _HL_LIQ),
        ("adl", "ADL at the previous mark, ranked by unrealized PnL and leverage, when the vault cannot carry the loss", _HL_ADL),
    ),
)

DYDX: Final = VenueProfile(
    name="dydx",
    title="dYdX v4",
    liquidation_order=FILLABLE_PRICE,
    partial=PARTIAL_NONE,
    clearance=CLEARANCE_FILL_DELTA,
    clearance_cap_e8=500_000,  # 0.5 %
    fund=FUND_NO_TAKEOVER,
    adl=ADL_RANDOM_START,
    liquidatable_at_equality=False,
    smmr_e8=10_000_000,  # 0.1
    bankruptcy_adjustment_e8=RATE_SCALE,  # 1
    maker_fee_e8=10_000,  # 0.01 %
    taker_fee_e8=50_000,  # 0.05 %
    funding_interval_ns=NS_PER_HOUR,
    funding_interest_e8=0,
    funding_clamp_e8=RATE_SCALE,
    funding_premium_divisor=8,
    linear_only=True,
    multi_assets=False,
    rules=(
        ("trigger", "total maintenance margin requirement > total net collateral", _DYDX_LIQ),
        ("order", "an IOC at the fillable price (oracle ∓ ABR × SMMR × PMMR)", _DYDX_LIQ),
        ("clearance", "per fill, the insurance fund gets quote received − bankruptcy quote, at most 0.5 % of the quote (it pays a shortfall)", _DYDX_LIQ),
        ("fund", "no takeover: an unfilled rest stays open and is retried; the insurance fund pays shortfalls", _DYDX_LIQ),
        ("adl", "deleveraging at the bankruptcy price from a pseudo-random start among offsetting accounts, only when the fund cannot pay", _DYDX_LIQ),
    ),
)

VENUES: Final[dict[str, VenueProfile]] = {v.name: v for v in (BINANCE, BYBIT, HYPERLIQUID, DYDX)}
VENUE_NAMES: Final = tuple(VENUES)


def get_venue(name: str | None, *, where: str = "--venue") -> VenueProfile:
    """The profile named ``name`` (case-insensitive; None: Binance); InputError otherwise."""
    if name is None:
        return BINANCE
    key = str(name).strip().lower()
    venue = VENUES.get(key)
    if venue is None:
        raise InputError(f"{name!r} is not a venue; expected one of {', '.join(VENUE_NAMES)}", where=where)
    return venue
