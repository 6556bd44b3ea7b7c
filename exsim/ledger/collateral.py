"""Multi-asset collateral: what an asset's balance is worth to an account, in USD, exactly.

In ``multi-assets`` collateral mode (Binance Multi-Assets Mode; Bybit's unified account
values collateral the same way with tiers) a trader's wallets in every asset form one
pool. Each asset ``a`` has

* an **index price** ``index_usd_e8`` (USD per whole coin × 1e8; USDⓈ default to 1 USD);
* a **bid buffer** and an **ask buffer** (e8): ``bid rate = index × (1 − bid buffer)``,
  ``ask rate = index × (1 + ask buffer)``;
* **collateral value ratios by quantity tier**, applied marginally (Bybit-style: the
  first 10 BTC at 0.98, the next 10 at 0.95, ...): ``tiers`` is a tuple of
  ``(upto_atoms, value_ratio_e8)`` with increasing bounds and a last bound of ``None``
  (no cap). The default is one tier at ratio 1; a Binance asset has only buffers.

The rules (https://www.binance.com/en/support/faq/multi-assets-mode, the worked example
``examples/accounts/binance-multi-assets-faq.toml`` reproduces):

* asset equity ``E_a`` = wallet + unrealized PnL of the asset's contracts;
* its value: ``E_a × bid rate`` through the tiers when ``E_a ≥ 0`` (a haircut on what you
  have), ``E_a × ask rate`` when ``E_a < 0`` (a premium on what you owe) — the smaller of
  the two, as the FAQ writes it;
* account equity = Σ values; requirements (initial and maintenance margin, order holds)
  are converted at the ask rate;
* available for order = account equity − Σ initial margin × ask rate, per asset ÷ its ask
  rate; account margin ratio = Σ MM × ask rate ÷ account equity; at 100 % the whole
  account is liquidated.

Units. Every value here is an exact integer in ``usd_e40`` (1e-40 USD):
``E_a`` is in 1e-8 atoms (1e-16 coin, exact at subtick marks), rates are ``_e24`` (USD
per coin × 1e24: index e8 × buffer e8 × tier ratio e8), and 1e-16 × 1e-24 = 1e-40. A
requirement in atoms is scaled by 1e8 first. Decisions compare these integers; rounding
happens only where a figure becomes atoms of an asset (:func:`usd_e40_to_atoms_floor`).

This module is pure: no ledger, no instruments. The ledger, the ``exsim margin``
calculator and the scenario tools all call it, so they agree to the last unit.
"""

from __future__ import annotations

from typing import Final, Iterable, Mapping, NamedTuple

from exsim.errors import InputError
from exsim.units import ATOMS_E8_PER_ATOM, RATE_SCALE, ceil_div, floor_div, format_rate_e8, to_atoms, to_rate_e8, to_subticks

#: collateral modes of an account (Binance: ``multiAssetsMargin`` false / true)
SINGLE_ASSET: Final = "single-asset"
MULTI_ASSETS: Final = "multi-assets"
COLLATERAL_MODES: Final = (SINGLE_ASSET, MULTI_ASSETS)

#: 1 USD in usd_e40
USD_E40_PER_USD: Final = 10**40
#: usd_e40 per usd_e8 (1e-8 USD, the unit events report USD figures in)
USD_E40_PER_USD_E8: Final = 10**32
INDEX_SCALE: Final = 10**8  # index_usd_e8 of 1 USD per coin
#: Binance's autoExchangeThreshold: a USDⓈ margin balance below −10,000 USD is auto-exchanged
#: (https://www.binance.com/en/support/faq/f80415bea8124f6494566f23c0bf9c38, question 1)
AUTO_EXCHANGE_THRESHOLD_USD_E8: Final = -10_000 * 10**8


class CollateralTier(NamedTuple):
    """One quantity tier: the balance up to ``upto_atoms`` (None: no cap) counts at ``value_ratio_e8``."""

    upto_atoms: int | None
    value_ratio_e8: int


ONE_TIER: Final = (CollateralTier(None, RATE_SCALE),)


class CollateralRule:
    """How one asset converts to USD at this instant. Mutable (the ledger replaces the
    fields when an index price or a haircut changes); slotted."""

    __slots__ = ("asset", "index_usd_e8", "bid_buffer_e8", "ask_buffer_e8", "tiers")

    def __init__(
        self,
        asset: str,
        index_usd_e8: int = 0,
        bid_buffer_e8: int = 0,
        ask_buffer_e8: int = 0,
        tiers: tuple[CollateralTier, ...] = ONE_TIER,
    ) -> None:
        self.asset = asset
        self.index_usd_e8 = index_usd_e8  # 0: no index price known yet
        self.bid_buffer_e8 = bid_buffer_e8
        self.ask_buffer_e8 = ask_buffer_e8
        self.tiers = tiers

    def copy(self) -> "CollateralRule":
        return CollateralRule(self.asset, self.index_usd_e8, self.bid_buffer_e8, self.ask_buffer_e8, self.tiers)

    # ------------------------------------------------------------------ rates
    def bid_rate_e24(self, value_ratio_e8: int = RATE_SCALE) -> int:
        """``index × (1 − bid buffer) × tier ratio``, USD per coin × 1e24. Exact."""
        return self.index_usd_e8 * (RATE_SCALE - self.bid_buffer_e8) * value_ratio_e8

    def ask_rate_e24(self) -> int:
        """``index × (1 + ask buffer)``, USD per coin × 1e24. Exact."""
        return self.index_usd_e8 * (RATE_SCALE + self.ask_buffer_e8) * RATE_SCALE

    def sell_rate_e24(self) -> int:
        """The rate an auto-exchange sells this asset at: ``index × (1 − bid buffer)``
        (tiers value collateral, they are not a price). Exact."""
        return self.index_usd_e8 * (RATE_SCALE - self.bid_buffer_e8) * RATE_SCALE

    # ------------------------------------------------------------------ values
    def value_usd_e40(self, equity_atoms_e8: int) -> int:
        """What an asset equity (1e-8 atoms, signed) is worth to the account, usd_e40.

        ``E ≥ 0``: through the tiers at the bid rate, marginally; ``E < 0``: at the ask
        rate. O(tiers). Exact.

        >>> r = CollateralRule("USDT", 99_000_000, 1_000_000, 500_000)
        >>> r.value_usd_e40(200 * 10**16) * 100 // USD_E40_PER_USD   # 200 USDT at 0.99 × 0.99
        19602
        >>> r.value_usd_e40(-10**16) * 10**5 // USD_E40_PER_USD    # −1 USDT at 0.99 × 1.005
        -99495
        """
        if equity_atoms_e8 < 0:
            return equity_atoms_e8 * self.ask_rate_e24()
        index_bid = self.index_usd_e8 * (RATE_SCALE - self.bid_buffer_e8)
        total = 0
        lower = 0
        for upto, ratio in self.tiers:
            if upto is None:
                total += (equity_atoms_e8 - lower) * ratio
                break
            top = upto * ATOMS_E8_PER_ATOM
            if equity_atoms_e8 <= top:
                total += (equity_atoms_e8 - lower) * ratio
                break
            total += (top - lower) * ratio
            lower = top
        return total * index_bid

    def full_value_usd_e40(self, equity_atoms_e8: int) -> int:
        """``E × index`` with no buffer and no tier: what the haircut is measured from."""
        return equity_atoms_e8 * self.index_usd_e8 * RATE_SCALE * RATE_SCALE

    def requirement_usd_e40(self, atoms: int) -> int:
        """A requirement (IM, MM, a hold) of ``atoms`` converted at the ask rate, usd_e40."""
        return atoms * ATOMS_E8_PER_ATOM * self.ask_rate_e24()

    def check(self, where: str = "") -> None:
        """Raise :class:`InputError` naming the field when the rule is not a valid one."""
        at = f"{where}: " if where else ""
        if self.index_usd_e8 < 0:
            raise InputError(f"{at}{self.asset}: index price {self.index_usd_e8} is negative")
        if RATE_SCALE - self.bid_buffer_e8 > RATE_SCALE + self.ask_buffer_e8:
            raise InputError(
                f"{at}{self.asset}: bid_buffer {format_rate_e8(self.bid_buffer_e8)} and ask_buffer "
                f"{format_rate_e8(self.ask_buffer_e8)} make the bid rate above the ask rate"
            )
        if not 0 <= self.bid_buffer_e8 <= RATE_SCALE:
            raise InputError(f"{at}{self.asset}: bid_buffer must be in [0, 1]")
        if not 0 <= self.ask_buffer_e8 <= RATE_SCALE:
            raise InputError(f"{at}{self.asset}: ask_buffer must be in [0, 1]")
        check_tiers(self.tiers, f"{at}{self.asset}")


def check_tiers(tiers: tuple[CollateralTier, ...], where: str) -> None:
    """Tiers: non-empty, bounds strictly increasing and positive, the last one open,
    every ratio in [0, 1]; raises :class:`InputError` naming the tier."""
    if not tiers:
        raise InputError(f"{where}: tiers: at least one tier is needed")
    last = 0
    for i, (upto, ratio) in enumerate(tiers, 1):
        if not 0 <= ratio <= RATE_SCALE:
            raise InputError(f"{where}: tier {i}: value_ratio must be in [0, 1] (a haircut outside [0, 1])")
        if upto is None:
            if i != len(tiers):
                raise InputError(f"{where}: tier {i}: only the last tier may be open-ended")
            continue
        if upto <= last:
            raise InputError(f"{where}: tier {i}: upto must be greater than the tier before (tiers not increasing)")
        last = upto
    if tiers[-1].upto_atoms is not None:
        raise InputError(f"{where}: tiers: the last tier must have no upper bound")


def default_rule(asset: str, usd_assets: Iterable[str]) -> CollateralRule:
    """A USD stablecoin at 1 USD with no buffer; any other asset with no index price yet."""
    return CollateralRule(asset, INDEX_SCALE if asset in set(usd_assets) else 0)


def haircut_shifted(rule: CollateralRule, points_e8: int) -> CollateralRule:
    """The rule with every tier's haircut raised by ``points_e8`` (ratios lowered, floored at 0).

    >>> haircut_shifted(CollateralRule("BTC", 10**8, tiers=ONE_TIER), 5_000_000).tiers
    (CollateralTier(upto_atoms=None, value_ratio_e8=95000000),)
    """
    out = rule.copy()
    out.tiers = tuple(CollateralTier(u, max(0, min(RATE_SCALE, r - points_e8))) for u, r in rule.tiers)
    return out


# ---------------------------------------------------------------------- account level
class AssetFigures(NamedTuple):
    """One asset of a multi-assets account. Money in the asset: 1e-8 atoms for the equity
    (exact at subtick marks), atoms for requirements; values in usd_e40."""

    asset: str
    equity_atoms_e8: int  # wallet + UPnL of the asset's contracts
    initial_margin_atoms: int  # Σ IM of its cross positions (each rounded up) + order holds
    maint_margin_atoms: int
    value_usd_e40: int  # the equity converted (bid through the tiers, or ask when negative)
    haircut_usd_e40: int  # full value − value (≥ 0 when E ≥ 0; the premium when E < 0)
    initial_usd_e40: int  # IM at the ask rate
    maint_usd_e40: int  # MM at the ask rate


class AccountFigures(NamedTuple):
    """The whole multi-assets account, usd_e40. ``assets`` in the ledger's asset order."""

    assets: tuple[AssetFigures, ...]
    equity_usd_e40: int
    initial_usd_e40: int
    maint_usd_e40: int

    @property
    def available_usd_e40(self) -> int:
        """Account equity − Σ initial margin at the ask rate (may be negative)."""
        return self.equity_usd_e40 - self.initial_usd_e40

    def margin_ratio_e8(self) -> int:
        """``Σ MM × ask ÷ account equity`` in e8, rounded up; equity ≤ 0 reads as a huge ratio."""
        if self.equity_usd_e40 <= 0:
            return 1 << 62
        return ceil_div(self.maint_usd_e40 * RATE_SCALE, self.equity_usd_e40)

    def liquidatable(self, ratio_e8: int = RATE_SCALE) -> bool:
        """``ratio × equity ≤ MM`` (the margin ratio has reached ``ratio``). Exact."""
        return ratio_e8 * self.equity_usd_e40 <= RATE_SCALE * self.maint_usd_e40


def account_figures(
    per_asset: Iterable[tuple[str, int, int, int]], rules: Mapping[str, CollateralRule]
) -> AccountFigures:
    """Account figures from ``(asset, equity_atoms_e8, initial_margin_atoms,
    maint_margin_atoms)`` per asset. O(assets × tiers). Exact.

    The Binance FAQ account (USDT 200 at index 0.99, bid 0.01, ask 0.005; USDC 220):

    >>> rules = {"USDT": CollateralRule("USDT", 99_000_000, 1_000_000, 500_000), "USDC": CollateralRule("USDC", 10**8)}
    >>> f = account_figures([("USDT", 200 * 10**16, 0, 0), ("USDC", 220 * 10**16, 0, 0)], rules)
    >>> format_usd_e40(f.equity_usd_e40, 2)
    '416.02'
    """
    out = []
    eq = im = mm = 0
    for asset, equity, initial, maint in per_asset:
        rule = rules[asset]
        value = rule.value_usd_e40(equity)
        iv = rule.requirement_usd_e40(initial)
        mv = rule.requirement_usd_e40(maint)
        out.append(AssetFigures(asset, equity, initial, maint, value, rule.full_value_usd_e40(equity) - value, iv, mv))
        eq += value
        im += iv
        mm += mv
    return AccountFigures(tuple(out), eq, im, mm)


def usd_e40_to_atoms_floor(value_usd_e40: int, rule: CollateralRule) -> int:
    """A USD value as atoms of the rule's asset at its ask rate, rounded down (what the
    account may still use in that asset). 0 when the asset has no index price."""
    ask = rule.ask_rate_e24()
    if ask <= 0:
        return 0
    return floor_div(value_usd_e40, ask * ATOMS_E8_PER_ATOM)


def usd_e40_to_usd_e8_floor(value_usd_e40: int) -> int:
    """usd_e40 → 1e-8 USD, rounded down (what events and alerts carry)."""
    return floor_div(value_usd_e40, USD_E40_PER_USD_E8)


def format_usd_e40(value_usd_e40: int, places: int = 8) -> str:
    """A usd_e40 value as a plain decimal string, truncated toward zero at ``places``.

    >>> format_usd_e40(-15 * 10**39, 2), format_usd_e40(10**40 // 3, 4)
    ('-1.50', '0.3333')
    """
    neg = value_usd_e40 < 0
    scaled = abs(value_usd_e40) // 10 ** (40 - places)
    whole, frac = divmod(scaled, 10**places)
    text = f"{whole}.{frac:0{places}d}" if places else str(whole)
    return "-" + text if neg and scaled else text


# ---------------------------------------------------------------------- auto-exchange
def exchange_amounts(need_atoms: int, source_atoms: int, source: CollateralRule, target: CollateralRule) -> tuple[int, int]:
    """``(sold, bought)``: atoms of ``source`` sold and atoms of ``target`` bought to cover
    ``need_atoms`` of target from a wallet of ``source_atoms`` (Binance auto-exchange).

    The source is sold at ``index × (1 − bid buffer)``, the target bought at ``index ×
    (1 + ask buffer)``; the trader pays the rounding: the amount sold is rounded up, or,
    when the wallet runs out first, the amount bought is rounded down. ``(0, 0)`` when
    nothing can be bought (no price, an empty wallet). O(1).

    >>> usdt = CollateralRule("USDT", 10**8, 0, 500_000); btc = CollateralRule("BTC", 20_000 * 10**8, 1_000_000)
    >>> exchange_amounts(1000 * 10**8, 2 * 10**8, btc, usdt)  # 1,000 × 1.005 / 19,800 BTC, rounded up
    (5075758, 100000000000)
    """
    sell = source.sell_rate_e24()
    ask = target.ask_rate_e24()
    if need_atoms <= 0 or source_atoms <= 0 or sell <= 0 or ask <= 0:
        return 0, 0
    sold = ceil_div(need_atoms * ask, sell)
    if sold <= source_atoms:
        return sold, need_atoms
    bought = floor_div(source_atoms * sell, ask)
    return (source_atoms, bought) if bought > 0 else (0, 0)


def exchange_sources(assets: Iterable[str], target: str) -> list[str]:
    """The other assets auto-exchange may sell for ``target``, in the given (ledger) order."""
    return [a for a in assets if a != target]


def cover_negative(
    wallets: dict[str, int], target: str, rules: Mapping[str, CollateralRule]
) -> list[tuple[str, int, int]]:
    """Buy back ``wallets[target] < 0`` with the other positive wallets, **in proportion to
    each one's value** at its sell rate, as Binance does ("converted ... according to the
    proportion of each asset",
    https://www.binance.com/en/futures/trading-rules/perpetual/multi-asset-info); when
    they are worth less than the debt, all of them are sold. Updates ``wallets``; returns
    ``(from_asset, sold, bought)`` per conversion, in wallet order. Amounts by
    :func:`exchange_amounts` (the trader pays the rounding; a share that rounding leaves
    uncovered is taken from the sources in order). O(assets).

    >>> w = {"USDT": -1000 * 10**8, "USDC": 1000 * 10**8, "BTC": 10**8}
    >>> r = {"USDT": CollateralRule("USDT", 10**8), "USDC": CollateralRule("USDC", 10**8), "BTC": CollateralRule("BTC", 3000 * 10**8)}
    >>> cover_negative(w, "USDT", r)  # USDC is 1/4 of the value: 250 from it, 750 from BTC
    [('USDC', 25000000000, 25000000000), ('BTC', 25000000, 75000000000)]
    """
    target_rule = rules[target]
    out: list[tuple[str, int, int]] = []
    sources = [a for a in exchange_sources(wallets, target) if wallets[a] > 0 and rules[a].sell_rate_e24() > 0]
    if wallets[target] >= 0 or not sources or target_rule.ask_rate_e24() <= 0:
        return out
    values = {a: wallets[a] * rules[a].sell_rate_e24() for a in sources}
    total = sum(values.values())
    need = -wallets[target]
    parts: dict[str, int] = {}
    if total <= need * target_rule.ask_rate_e24():
        parts = {a: need for a in sources}  # worth less than the debt: every source sold out
    else:
        given = 0
        for a in sources[:-1]:
            parts[a] = need * values[a] // total
            given += parts[a]
        parts[sources[-1]] = need - given
    sold_of: dict[str, list[int]] = {}
    for a in sources:
        want = min(parts[a], -wallets[target])
        sold, bought = exchange_amounts(want, wallets[a], rules[a], target_rule)
        if sold:
            wallets[a] -= sold
            wallets[target] += bought
            sold_of[a] = [sold, bought]
    for a in sources:  # what rounding left uncovered, from the sources in order
        if wallets[target] >= 0:
            break
        sold, bought = exchange_amounts(-wallets[target], wallets[a], rules[a], target_rule)
        if sold:
            wallets[a] -= sold
            wallets[target] += bought
            acc = sold_of.setdefault(a, [0, 0])
            acc[0] += sold
            acc[1] += bought
    return [(a, sold_of[a][0], sold_of[a][1]) for a in sources if a in sold_of]


def account_ltv_e8(wallets: Mapping[str, int], rules: Mapping[str, CollateralRule]) -> int | None:
    """Loan to value of idle wallets: the debts (at the ask rate) over the collateral (at
    the bid rate through the tiers), e8, rounded up; None with no debt; a huge value with
    debt and no collateral."""
    debt = collateral = 0
    for a, w in wallets.items():
        v = rules[a].value_usd_e40(w * ATOMS_E8_PER_ATOM)
        if v < 0:
            debt -= v
        else:
            collateral += v
    if not debt:
        return None
    return ceil_div(debt * RATE_SCALE, collateral) if collateral > 0 else 1 << 62


def plan_auto_exchange(
    wallets: Mapping[str, int],
    rules: Mapping[str, CollateralRule],
    *,
    idle: bool,
    usd_assets: Iterable[str],
    threshold_usd_e8: int = AUTO_EXCHANGE_THRESHOLD_USD_E8,
) -> list[tuple[str, int, str, int, str]]:
    """What Binance's auto-exchange does to these wallets now (``wallets``: asset -> atoms,
    in ledger order): ``(from_asset, sold, to_asset, bought, reason)`` per conversion.

    Triggers (https://www.binance.com/en/futures/trading-rules/perpetual/multi-asset-info):
    a USDⓈ wallet worth less than ``threshold_usd_e8`` (−10,000 USD at its ask rate:
    ``THRESHOLD``); with no position and no open order (``idle``), a loan to value
    (:func:`account_ltv_e8`) of 1 or more (``NEGATIVE_BALANCE``: every negative wallet is
    bought back as far as the others go). The third trigger, a liquidation's deficit, is
    the engine's. The same function the ledger books with. O(assets²).
    """
    usd = set(usd_assets)
    left = dict(wallets)
    out: list[tuple[str, int, str, int, str]] = []
    ltv = account_ltv_e8(left, rules) if idle else None
    for asset in list(left):
        if left[asset] >= 0:
            continue
        if ltv is not None and ltv >= RATE_SCALE:
            reason = "NEGATIVE_BALANCE"
        elif asset in usd and floor_div(rules[asset].value_usd_e40(left[asset] * ATOMS_E8_PER_ATOM), USD_E40_PER_USD_E8) < threshold_usd_e8:
            reason = "THRESHOLD"
        else:
            continue
        for name, sold, bought in cover_negative(left, asset, rules):
            out.append((name, sold, asset, bought, reason))
    return out


# ---------------------------------------------------------------------- input
def parse_rule(asset: str, table: Mapping[str, object], where: str) -> CollateralRule:
    """A rule from a TOML/JSON table: ``index`` (USD per coin), ``bid_buffer``,
    ``ask_buffer`` (decimals in [0, 1]), ``tiers`` (a list of ``{upto = coins | absent,
    value_ratio = ...}``, or ``haircut = ...`` in place of ``value_ratio``). Unknown keys,
    off-grid numbers, a haircut outside [0, 1], tiers not increasing and a bid rate above
    the ask rate are refused with one line naming ``where`` and the field.
    """
    known = {"index", "bid_buffer", "ask_buffer", "tiers"}
    for key in table:
        if key not in known:
            raise InputError(f"{where}: {asset}: unknown field {key!r} (expected one of {', '.join(sorted(known))})")
    index = table.get("index", None)
    # an index is a price in USD: exact 1e-8 units, like any reference price (to_subticks)
    index_e8 = 0 if index is None else _non_negative(to_subticks(index, field=f"{asset}.index", where=where), index, f"{asset}.index", where)  # type: ignore[arg-type]
    bid = to_rate_e8(table.get("bid_buffer", "0"), field=f"{asset}.bid_buffer", where=where)  # type: ignore[arg-type]
    ask = to_rate_e8(table.get("ask_buffer", "0"), field=f"{asset}.ask_buffer", where=where)  # type: ignore[arg-type]
    tiers = parse_tiers(table.get("tiers"), f"{where}: {asset}") if "tiers" in table else ONE_TIER
    rule = CollateralRule(asset, index_e8, bid, ask, tiers)
    rule.check(where)
    return rule


def parse_tiers(raw: object, where: str) -> tuple[CollateralTier, ...]:
    """Tiers from a list of tables ``{upto = "10", value_ratio = "0.98"}`` (``haircut`` =
    1 − value_ratio is accepted instead); the last without ``upto``."""
    if not isinstance(raw, list) or not raw:
        raise InputError(f"{where}: tiers must be a non-empty list of tables")
    tiers = []
    for i, t in enumerate(raw, 1):
        if not isinstance(t, Mapping):
            raise InputError(f"{where}: tier {i} must be a table")
        extra = set(t) - {"upto", "value_ratio", "haircut"}
        if extra:
            raise InputError(f"{where}: tier {i}: unknown field {sorted(extra)[0]!r}")
        if ("value_ratio" in t) == ("haircut" in t):
            raise InputError(f"{where}: tier {i}: give exactly one of value_ratio and haircut")
        if "value_ratio" in t:
            ratio = to_rate_e8(t["value_ratio"], field=f"tier {i} value_ratio", where=where)
        else:
            ratio = RATE_SCALE - to_rate_e8(t["haircut"], field=f"tier {i} haircut", where=where)
        upto = None if t.get("upto") is None else _non_negative(to_atoms(t["upto"], field=f"tier {i} upto", where=where), t["upto"], f"tier {i} upto", where)
        tiers.append(CollateralTier(upto, ratio))
    out = tuple(tiers)
    check_tiers(out, where)
    return out


def _non_negative(value: int, text: object, field: str, where: str) -> int:
    if value < 0:
        raise InputError(f"{where}: {field}: {text!r} is negative")
    return value


__all__ = [
    "AUTO_EXCHANGE_THRESHOLD_USD_E8",
    "COLLATERAL_MODES",
    "MULTI_ASSETS",
    "SINGLE_ASSET",
    "AccountFigures",
    "AssetFigures",
    "CollateralRule",
    "CollateralTier",
    "account_figures",
    "default_rule",
    "account_ltv_e8",
    "cover_negative",
    "exchange_amounts",
    "exchange_sources",
    "plan_auto_exchange",
    "format_usd_e40",
    "haircut_shifted",
    "parse_rule",
    "parse_tiers",
    "usd_e40_to_atoms_floor",
    "usd_e40_to_usd_e8_floor",
]
