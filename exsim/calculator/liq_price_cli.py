"""``exsim liq-price``: liquidation and bankruptcy price of one position, from the shell.

The lead wires it into ``exsim.cli.build_parser`` with :func:`add_parser`; the command's
function is :func:`run_liq_price` (set with ``set_defaults(func=...)``), returning an exit
code. Every bad value raises :class:`~exsim.errors.InputError` naming the option
(``--qty``, ``--other #2``) and what was expected; ``exsim.cli.main`` prints it as one
``exsim: error: ...`` line and returns 2.
"""

from __future__ import annotations

import argparse
import json
import re
from fractions import Fraction
from typing import Any, Final

import attrs

from exsim.errors import InputError
from exsim.margin.liquidation import (
    CROSS,
    ISOLATED,
    LONG,
    SHORT,
    BracketSpec,
    FixedBracket,
    Position,
    format_price,
    liquidation_price,
)
from exsim.units import RATE_SCALE, parse_decimal
from exsim.venues.profile import VENUE_NAMES, VenueProfile, get_venue

__all__ = ["add_parser", "run_liq_price"]

_SIDES: Final = {"long": LONG, "short": SHORT}
_OTHER_FORMAT: Final = "SIDE:QTY:ENTRY:MARK:MMR:CUM[:SIZE]"
_HEDGE_FORMAT: Final = "SIDE:QTY:ENTRY"

_DESCRIPTION: Final = """\
Liquidation price (MARGIN-SPEC §3) and bankruptcy price (§4) of one perpetual position,
USDT-margined (linear) or coin-margined (inverse, Binance COIN-M), computed exactly
(rational arithmetic) and shown with 8 decimals rounded toward the safe side. Isolated
or cross margin, one-way or hedge mode; in cross mode other contracts can be held at
their marks.

Brackets: --symbol uses the shipped Binance leverage brackets of that instrument and
picks the bracket that holds the notional at the liquidation price (tier-consistent);
--mmr/--cum give one fixed bracket instead (as in the spec's worked example).

Inverse contracts: --symbol BTCUSD_PERP (shipped COIN-M brackets, contract size 100 USD)
or --contract-size 100 --mmr R --cum C (one fixed bracket, cum in coin). Then --qty is in
contracts, --wallet and every money figure in the coin, and the notional is
contracts x contract size / price (coin)."""

_EPILOG: Final = """\
what the numbers mean:
  margin balance      wallet + unrealized PnL at the price (cross: of every cross
                      position); isolated: the bucket's margin + this position's PnL
  maintenance margin  MM = notional x MMR - cum, notional = qty x price (inverse:
                      contracts x contract size / price, in coin), with the MMR and cum
                      of the bracket that holds the notional (cross: summed over every
                      cross position)
  liquidation price   the price at which margin balance = maintenance margin. A long is
                      liquidated when the mark falls to or below it (shown rounded UP),
                      a short when it rises to or above it (shown rounded DOWN): the
                      shown price is reached no later than the true one. "--" / null:
                      no positive price liquidates (or every price already does)
  bankruptcy price    where the position's margin is used up: isolated, entry - side x
                      wallet / qty (inverse: 1/BP = 1/entry + side x wallet / (contracts x
                      contract size)); cross, where its share (by maintenance margin) of the
                      margin left at the liquidation price is used up (§4). It is the
                      liquidation order's limit. Rounded up for a long, down for a short
  bracket, mmr, cum   the position's bracket at the liquidation price (bracket number
                      only with --symbol); mmr is a fraction (0.025 = 2.5 %), cum in the
                      settlement asset (USDT, or the coin for an inverse contract)

examples:
  exsim liq-price --side long --qty 1 --entry 60000 --wallet 6000 --symbol BTCUSDT
  exsim liq-price --side long --qty 109.488 --entry 32481.98 --wallet 1535443.01 \\
      --mode cross --mmr 0.025 --cum 16300 \\
      --other long:3683.979:1456.84:1335.18:0.10:135365
  exsim liq-price --side long --qty 2 --entry 60000 --wallet 10000 --mode cross \\
      --symbol BTCUSDT --hedge-leg short:1:61000 --json
  exsim liq-price --side long --qty 100 --entry 25000 --wallet 0.04 \\
      --contract-size 100 --mmr 0.004 --cum 0 --asset BTC
  exsim liq-price --side long --qty 2000 --entry 30000 --wallet 1 --mode cross \\
      --symbol BTCUSD_PERP --other short:500:31000:30500:0.004:0 --json

other venues (docs/venues.md):
  exsim liq-price --venue bybit --side long --qty 1 --entry 20000 --leverage 50 \\
      --mmr 0.005 --cum 0 --mode isolated
  exsim liq-price --venue bybit --symbol BTCUSD --side long --qty 10000 --entry 8000 \\
      --wallet 0.5 --mode cross --taker-fee 0.00075
  exsim liq-price --venue hyperliquid --symbol BTC --side long --qty 0.00077 \\
      --entry 62739 --margin 24.137992 --leverage 2 --mode isolated --json
  exsim liq-price --venue dydx --symbol BTC --side long --qty 1 --entry 50000 \\
      --margin 750 --mark 50000"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``liq-price`` subcommand on ``subparsers`` (from ``add_subparsers``)."""
    p = subparsers.add_parser(
        "liq-price",
        help="liquidation and bankruptcy price of a position (isolated/cross, brackets)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--side", metavar="long|short", help="the position's side (required)"
    )
    p.add_argument(
        "--qty",
        metavar="Q",
        help="absolute position size in base units, e.g. 0.5 (BTC); inverse: in contracts, "
        "e.g. 100 (required)",
    )
    p.add_argument(
        "--entry",
        metavar="EP",
        help="average entry price in the quote per base unit, e.g. USDT per BTC (inverse: "
        "the harmonic average entry, USD per coin) (required)",
    )
    p.add_argument(
        "--wallet",
        metavar="WB",
        help="margin backing the position, in the settlement asset (USDT; the coin for an "
        "inverse contract): the isolated bucket's margin, or the cross wallet balance "
        "(without unrealized PnL) (required, unless --margin or --leverage gives an isolated margin)",
    )
    p.add_argument(
        "--mode",
        metavar="isolated|cross",
        default=ISOLATED,
        help="isolated: only this position's margin (default); cross: the wallet backs "
        "every cross position (needed for --other and --hedge-leg)",
    )
    p.add_argument(
        "--symbol",
        metavar="SYM",
        help="use the shipped leverage brackets of SYM (BTCUSDT or BTC/USDT:USDT; inverse "
        "BTCUSD_PERP or BTC/USD:BTC, which also gives the contract size)",
    )
    p.add_argument(
        "--contract-size",
        metavar="S",
        help="an inverse (coin-margined) contract with one fixed bracket: its face value in "
        "the quote, e.g. 100 (USD per BTCUSD contract); needs --mmr and --cum (cum in coin)",
    )
    p.add_argument(
        "--asset",
        metavar="COIN",
        help="with --contract-size: the coin the money is in, a label for the output (e.g. BTC)",
    )
    p.add_argument(
        "--mmr",
        metavar="R",
        help="one fixed bracket instead of --symbol: maintenance margin rate as a "
        "fraction (0.025 = 2.5 %%); needs --cum",
    )
    p.add_argument(
        "--cum",
        metavar="C",
        help="the fixed bracket's maintenance amount in the settlement asset, USDT (inverse: "
        "coin) (MM = notional x R - C)",
    )
    p.add_argument(
        "--other",
        metavar=_OTHER_FORMAT,
        action="append",
        default=[],
        help="another cross contract held at its mark (repeatable; --mode cross): side, "
        "size, entry, mark price, and its fixed MMR and cum; it adds its maintenance "
        "margin and unrealized PnL at the mark to the account. Inverse: another contract "
        "of the same coin, size in contracts, cum in coin, and SIZE its contract size "
        "(default the position's)",
    )
    p.add_argument(
        "--hedge-leg",
        metavar=_HEDGE_FORMAT,
        help="hedge mode (--mode cross): the opposite-side position in the same contract; "
        "both legs move with the price, each in the bracket of its own notional",
    )
    p.add_argument(
        "--venue",
        metavar="|".join(VENUE_NAMES),
        help="whose rules: binance (default; today's formulas), bybit (MM at entry; inverse "
        "cross counts the fee to close), hyperliquid (MMR = 1/(2 x max leverage), tiers), "
        "dydx (TMMR > TNC; fillable and bankruptcy prices at --mark). docs/venues.md",
    )
    p.add_argument(
        "--margin",
        metavar="M",
        help="isolated collateral of the position, in the settlement asset (USDT/USDC; the "
        "coin for an inverse contract); the same as --wallet in isolated mode",
    )
    p.add_argument(
        "--leverage",
        metavar="L",
        help="the position's leverage; with neither --margin nor --wallet the isolated margin "
        "is the entry notional / L (every venue); Bybit: IM = Q x EP / L",
    )
    p.add_argument(
        "--max-leverage",
        metavar="N",
        help="hyperliquid/dydx: the asset's maximum leverage, overriding the shipped tiers "
        "(one tier: Hyperliquid MMR = 1/(2N); dYdX IMF = 1/N) or serving a made-up asset",
    )
    p.add_argument(
        "--mark",
        metavar="P",
        help="hyperliquid/dydx: the mark (oracle) price now, default the entry; Hyperliquid "
        "solves from it; dYdX shows TNC, TMMR, the fillable and bankruptcy prices there",
    )
    p.add_argument(
        "--taker-fee",
        metavar="F",
        help="bybit inverse cross: the taker fee rate counted to close, as a fraction "
        "(0.00075 = 0.075 %%; default the profile's)",
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON object instead of text"
    )
    p.set_defaults(func=run_liq_price)


# --------------------------------------------------------------------------- parsing


def _number(text: str, where: str, expected: str, *, field: str = "", minimum: str = "") -> Fraction:
    """``text`` as an exact Fraction; InputError naming ``where`` and what was expected.

    ``minimum`` is ``">0"``, ``">=0"`` or ``""`` (any sign).
    """
    try:
        value = Fraction(parse_decimal(text, field=field, where=where))
    except InputError as exc:
        raise InputError(f"{exc.message}; expected {expected}", where=where, field=field) from None
    if (minimum == ">0" and value <= 0) or (minimum == ">=0" and value < 0):
        sign = "> 0" if minimum == ">0" else ">= 0"
        raise InputError(f"{text!r} must be {sign}; expected {expected}", where=where, field=field)
    return value


def _side(text: str, where: str, field: str = "") -> int:
    side = _SIDES.get(text.strip().lower())
    if side is None:
        raise InputError(f"{text!r}; expected 'long' or 'short'", where=where, field=field)
    return side


def _required(args: argparse.Namespace, name: str, expected: str) -> str:
    value = getattr(args, name)
    if value is None:
        raise InputError(f"missing; expected {expected}", where=f"--{name}")
    assert isinstance(value, str)
    return value


def _mmr_cum(
    mmr_text: str, cum_text: str, where: str, mmr_field: str = "", cum_field: str = "", *, coin: bool = False
) -> FixedBracket:
    mmr = _number(
        mmr_text, where, "a maintenance margin rate as a fraction in [0, 1], e.g. 0.025",
        field=mmr_field, minimum=">=0",
    )
    if mmr > 1:
        raise InputError(
            f"{mmr_text!r} is above 1; expected a fraction in [0, 1] (0.025 = 2.5 %)",
            where=where, field=mmr_field,
        )
    cum = _number(
        cum_text, where if cum_field else "--cum",
        "a maintenance amount in coin (>= 0), e.g. 0.56" if coin
        else "a maintenance amount in USDT (>= 0), e.g. 16300",
        field=cum_field, minimum=">=0",
    )
    return FixedBracket(mmr, cum)


@attrs.frozen
class _Contract:
    """What the position trades: brackets, label, settlement asset, contract size (inverse)."""

    brackets: BracketSpec
    symbol: str
    asset: str
    contract_size: Fraction | None


def _contract(args: argparse.Namespace) -> _Contract:
    """The position's contract from --symbol, or --mmr/--cum (with --contract-size: inverse)."""
    fixed = args.mmr is not None or args.cum is not None
    if args.symbol is not None and fixed:
        raise InputError(
            "give either --symbol SYM (shipped brackets) or --mmr R --cum C (one fixed "
            "bracket), not both",
            where="--symbol",
        )
    if args.symbol is not None:
        from exsim.instruments import get_instrument

        try:
            inst = get_instrument(args.symbol)
        except InputError as exc:
            raise InputError(exc.message, where="--symbol") from None
        if args.contract_size is not None:
            if inst.inverse:
                msg = (
                    f"{inst.symbol}'s contract size is shipped ({inst.contract_size} "
                    f"{inst.quote}); drop --contract-size, or give --contract-size with "
                    "--mmr/--cum instead of --symbol"
                )
            else:
                msg = (
                    f"{inst.symbol} is a linear (USDⓈ-M) contract, sized in {inst.base}; "
                    "--contract-size is for inverse (COIN-M) contracts: use --symbol "
                    f"{inst.base}USD_PERP, or --contract-size with --mmr/--cum"
                )
            raise InputError(msg, where="--contract-size")
        if args.asset is not None:
            raise InputError(
                f"{inst.symbol} names its settlement asset ({inst.margin_asset}); drop --asset",
                where="--asset",
            )
        size = Fraction(inst.contract_size) if inst.inverse else None
        return _Contract(inst.brackets, inst.symbol, inst.margin_asset, size)
    if not fixed:
        raise InputError(
            "missing; expected --symbol SYM (shipped brackets, e.g. BTCUSDT or BTCUSD_PERP) "
            "or --mmr R --cum C (one fixed bracket)",
            where="--symbol",
        )
    inverse = args.contract_size is not None
    unit = "coin, e.g. 0.56" if inverse else "USDT, e.g. 16300"
    if args.mmr is None:
        raise InputError("--cum needs --mmr R (the maintenance margin rate, e.g. 0.025)", where="--mmr")
    if args.cum is None:
        raise InputError(f"--mmr needs --cum C (the maintenance amount in {unit})", where="--cum")
    if args.asset is not None and not inverse:
        raise InputError(
            "--asset names the coin of an inverse contract; it needs --contract-size "
            "(a linear fixed bracket is in USDT)",
            where="--asset",
        )
    size = None
    if inverse:
        size = _number(
            args.contract_size, "--contract-size",
            "the contract's face value in the quote (> 0), e.g. 100 (USD)", minimum=">0",
        )
    asset = "" if not inverse else (args.asset.strip().upper() if args.asset else "")
    if inverse and args.asset is not None and not asset:
        raise InputError(f"{args.asset!r} is empty; expected a coin name, e.g. BTC", where="--asset")
    bracket = _mmr_cum(args.mmr, args.cum, "--mmr", coin=inverse)
    return _Contract(bracket, "", asset if inverse else "USDT", size)


def _other(text: str, n: int, contract_size: Fraction | None) -> Position:
    where = f"--other #{n}"
    parts = text.split(":")
    inverse = contract_size is not None
    if len(parts) not in ((6, 7) if inverse else (6,)):
        if inverse:
            expected = (
                f"{_OTHER_FORMAT}, six or seven fields separated by ':' (size in contracts, "
                "cum in coin, SIZE the contract size), e.g. short:500:31000:30500:0.004:0"
            )
        elif len(parts) == 7:
            expected = (
                "SIDE:QTY:ENTRY:MARK:MMR:CUM for a linear position (SIZE, the seventh field, "
                "is for inverse contracts: --symbol BTCUSD_PERP or --contract-size)"
            )
        else:
            expected = (
                "SIDE:QTY:ENTRY:MARK:MMR:CUM, six fields separated by ':', e.g. "
                "long:3683.979:1456.84:1335.18:0.10:135365"
            )
        raise InputError(f"{text!r} has {len(parts)} field(s); expected {expected}", where=where)
    side_t, qty_t, entry_t, mark_t, mmr_t, cum_t = parts[:6]
    size = contract_size
    if len(parts) == 7:
        size = _number(parts[6], where, "a contract size in the quote (> 0), e.g. 100", field="size", minimum=">0")
    return Position(
        _side(side_t, where, "side"),
        _number(
            qty_t, where, "a size in contracts (> 0)" if inverse else "a size in base units (> 0)",
            field="qty", minimum=">0",
        ),
        _number(entry_t, where, "an entry price (> 0)", field="entry", minimum=">0"),
        _mmr_cum(mmr_t, cum_t, where, "mmr", "cum", coin=inverse),
        mark_price=_number(mark_t, where, "a mark price (> 0)", field="mark", minimum=">0"),
        contract_size=size,
    )


def _hedge(text: str, brackets: BracketSpec, side: int, contract_size: Fraction | None) -> Position:
    where = "--hedge-leg"
    parts = text.split(":")
    if len(parts) != 3:
        raise InputError(
            f"{text!r} has {len(parts)} field(s); expected {_HEDGE_FORMAT}, e.g. short:1:61000",
            where=where,
        )
    leg_side = _side(parts[0], where, "side")
    if leg_side == side:
        raise InputError(
            f"{parts[0]!r} is the same side as --side; expected the opposite side "
            "(hedge mode holds one LONG and one SHORT position per contract)",
            where=where,
            field="side",
        )
    unit = "a size in contracts (> 0)" if contract_size is not None else "a size in base units (> 0)"
    return Position(
        leg_side,
        _number(parts[1], where, unit, field="qty", minimum=">0"),
        _number(parts[2], where, "an entry price (> 0)", field="entry", minimum=">0"),
        brackets,
        contract_size=contract_size,
    )


# --------------------------------------------------------------------------- command


def run_liq_price(args: argparse.Namespace) -> int:
    """Run ``liq-price``: parse and validate, solve, print text or one JSON object; 0."""
    venue = get_venue(getattr(args, "venue", None))
    if not venue.is_binance:
        return _run_venue(venue, args)
    for name, venues in _VENUE_ONLY.items():
        if getattr(args, name, None) is not None:
            raise InputError(
                f"is for --venue {venues}, not Binance's formulas (drop it, or name the venue)",
                where="--" + name.replace("_", "-"),
            )
    side = _side(_required(args, "side", "'long' or 'short'"), "--side")
    # Presence first, in option order; the units (and so the messages) of the numbers
    # depend on the contract: base units and USDT, or contracts and the coin.
    qty_raw = _required(args, "qty", "the position size in base units (e.g. 0.5), or in contracts (e.g. 100) for an inverse contract")
    entry_raw = _required(args, "entry", "the entry price, e.g. 60000")
    wallet_raw = _wallet_source(args)
    contract = _contract(args)
    inverse = contract.contract_size is not None
    coin = contract.asset or "coin"
    qty_text = (
        "the position size in contracts (> 0), e.g. 100" if inverse
        else "the position size in base units (> 0), e.g. 0.5"
    )
    qty = _number(qty_raw, "--qty", qty_text, minimum=">0")
    entry_text = (
        "the entry price in USD per coin (> 0), e.g. 25000" if inverse
        else "the entry price in USDT (> 0), e.g. 60000"
    )
    entry = _number(entry_raw, "--entry", entry_text, minimum=">0")
    mode = str(args.mode).strip().lower()
    if mode not in (ISOLATED, CROSS):
        raise InputError(f"{args.mode!r}; expected 'isolated' or 'cross'", where="--mode")
    wallet = _wallet(args, wallet_raw, mode, qty, entry, contract.contract_size, coin)
    if mode == ISOLATED:
        if args.other:
            raise InputError(
                "other contracts share the cross wallet; expected --mode cross (isolated "
                "mode uses only this position's margin)",
                where="--other #1",
            )
        if args.hedge_leg is not None:
            raise InputError(
                "in isolated mode each hedge leg is its own bucket (compute each leg "
                "alone); expected --mode cross for a hedge leg sharing the wallet",
                where="--hedge-leg",
            )
    others = [_other(text, i + 1, contract.contract_size) for i, text in enumerate(args.other)]
    hedge = (
        None if args.hedge_leg is None
        else _hedge(args.hedge_leg, contract.brackets, side, contract.contract_size)
    )
    result = liquidation_price(
        Position(side, qty, entry, contract.brackets, contract_size=contract.contract_size),
        wallet,
        mode=mode,
        hedge_leg=hedge,
        others=others,
        symbol=contract.symbol,
        asset=contract.asset,
    )
    named = getattr(args, "venue", None) is not None
    if args.json:
        out: dict[str, Any] = result.to_dict()
        if named:
            out["venue"] = venue.name
            out["formula"] = (
                "margin balance = maintenance margin (MARGIN-SPEC §3), MM = notional at the "
                "price x MMR - cum of the bracket there (tier-consistent)"
            )
        print(json.dumps(out, indent=2))
    else:
        text = result.explain()
        print(f"{venue.title}: {text}" if named else text)
    return 0


# --------------------------------------------------------------------------- margin sources


def _wallet_source(args: argparse.Namespace) -> str | None:
    """Which of --wallet / --margin / --leverage gives the margin (presence only): the raw
    --wallet or --margin text, or None when --leverage alone sets it. One line naming the
    option when none or two are given."""
    wallet = getattr(args, "wallet", None)
    margin = getattr(args, "margin", None)
    if wallet is not None and margin is not None:
        raise InputError(
            "give --wallet (the cross wallet, or the isolated bucket's margin) or --margin "
            "(the isolated collateral), not both",
            where="--margin",
        )
    if wallet is None and margin is None and getattr(args, "leverage", None) is None:
        raise InputError(
            "missing; expected the margin backing the position, e.g. 6000 (USDT) or 0.04 "
            "(coin, inverse), or --margin M, or --leverage L (isolated margin = entry "
            "notional / L)",
            where="--wallet",
        )
    return wallet if wallet is not None else margin


def _leverage(args: argparse.Namespace) -> Fraction | None:
    if getattr(args, "leverage", None) is None:
        return None
    return _number(args.leverage, "--leverage", "a leverage (> 0), e.g. 20", minimum=">0")


def _wallet(
    args: argparse.Namespace,
    raw: str | None,
    mode: str,
    qty: Fraction,
    entry: Fraction,
    contract_size: Fraction | None,
    coin: str,
) -> Fraction:
    """The wallet (cross) or the bucket's margin (isolated): --wallet, --margin, or the entry
    notional / --leverage (isolated only)."""
    inverse = contract_size is not None
    if raw is not None:
        where = "--wallet" if getattr(args, "wallet", None) is not None else "--margin"
        if where == "--margin" and mode == CROSS:
            raise InputError(
                "--margin is an isolated position's collateral; in cross mode give the cross "
                "wallet balance with --wallet",
                where="--margin",
            )
        text = (
            f"the {coin} backing the position (>= 0), e.g. 0.04" if inverse
            else "the USDT backing the position (>= 0), e.g. 6000"
        )
        return _number(raw, where, text, minimum=">=0")
    if mode == CROSS:
        raise InputError(
            "sets an isolated margin (entry notional / L); in cross mode give the wallet "
            "balance with --wallet",
            where="--leverage",
        )
    lev = _leverage(args)
    assert lev is not None
    notional = qty * entry if contract_size is None else qty * contract_size / entry
    return notional / lev



# --------------------------------------------------------------------------- other venues

_VENUE_ONLY: Final = {"max_leverage": "hyperliquid|dydx", "mark": "hyperliquid|dydx", "taker_fee": "bybit"}


@attrs.frozen
class _VenueResult:
    """One position's prices under a venue's rules (exact), with the figures behind them.

    ``figures``: ``(key, value, round_up)`` rows; a Fraction is shown with 8 places rounded
    up or down as ``round_up`` says (requirements up, what is available down), a ``str``,
    ``int``, ``bool`` or None as is.
    """

    venue: VenueProfile
    formula: str
    mode: str
    side: int
    qty: Fraction
    entry: Fraction
    symbol: str
    asset: str
    contract_size: Fraction | None
    liquidation_price: Fraction | None
    bankruptcy_price: Fraction | None
    bankruptcy_rule: str
    figures: tuple[tuple[str, object, bool], ...]
    lines: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        long = self.side == LONG
        lp = self.liquidation_price
        out: dict[str, object] = {
            "venue": self.venue.name,
            "formula": self.formula,
            "rule": self.venue.rule("trigger"),
            "symbol": self.symbol or None,
            "asset": self.asset or None,
            "inverse": self.contract_size is not None,
            "contract_size": None if self.contract_size is None else _exact(self.contract_size),
            "mode": self.mode,
            "side": "long" if long else "short",
            "qty": _exact(self.qty),
            "entry_price": _exact(self.entry),
            "status": "price" if lp is not None else "never",
            "liquidation_price": None if lp is None else format_price(lp, round_up=long),
            "liquidation_price_exact": None if lp is None else _exact(lp),
            "liquidated_when": None if lp is None else ("mark <= liquidation_price" if long else "mark >= liquidation_price"),
            "bankruptcy_price": None if self.bankruptcy_price is None else format_price(self.bankruptcy_price, round_up=long),
            "bankruptcy_price_exact": None if self.bankruptcy_price is None else _exact(self.bankruptcy_price),
            "bankruptcy_rule": self.bankruptcy_rule,
        }
        for key, value, up in self.figures:
            out[key] = _shown(value, up)
        return out

    def explain(self) -> str:
        long = self.side == LONG
        size = "" if self.contract_size is None else f" contracts x {_exact(self.contract_size)}"
        what = f"{'long' if long else 'short'} {_exact(self.qty)}{size}"
        if self.symbol:
            what += f" {self.symbol}"
        head = f"{self.venue.title}: {what} @ {_exact(self.entry)}, {self.mode} margin"
        lines = [head, f"rule: {self.venue.rule('trigger')}", f"formula: {self.formula}"]
        lp = self.liquidation_price
        if lp is None:
            lines.append("liquidation price: -- (no positive price liquidates the position)")
        else:
            lines.append(
                f"liquidation price {format_price(lp, round_up=long)}: liquidated when the mark "
                f"{'falls to or below' if long else 'rises to or above'} it (rounded "
                f"{'up' if long else 'down'}, toward the safe side)"
            )
        for key, value, up in self.figures:
            if isinstance(value, dict):
                continue
            shown = _shown(value, up)
            lines.append(f"  {key.replace('_', ' ')}: {'--' if shown is None else shown}")
        lines.extend(self.lines)
        bp = self.bankruptcy_price
        lines.append(
            "bankruptcy price: -- (not positive)" if bp is None
            else f"bankruptcy price {format_price(bp, round_up=long)}: {self.bankruptcy_rule}"
        )
        return "\n".join(lines)


def _exact(value: Fraction) -> str:
    """An exact decimal when ``value`` has one (up to 18 places), else ``num/den``."""
    for places in range(0, 19):
        scaled = value * 10**places
        if scaled.denominator == 1:
            text = str(abs(scaled.numerator)).rjust(places + 1, "0")
            body = text if places == 0 else f"{text[:-places]}.{text[-places:]}"
            return ("-" if value < 0 else "") + body
    return f"{value.numerator}/{value.denominator}"


def _shown(value: object, round_up: bool) -> object:
    if isinstance(value, Fraction):
        return format_price(value, round_up=round_up)
    if isinstance(value, dict):
        return {k: _shown(v, round_up) for k, v in value.items()}
    return value


def _run_venue(venue: VenueProfile, args: argparse.Namespace) -> int:
    """``liq-price --venue bybit|hyperliquid|dydx``."""
    for name, venues in _VENUE_ONLY.items():
        if getattr(args, name, None) is not None and venue.name not in venues.split("|"):
            raise InputError(f"is for --venue {venues}, not {venue.name}", where="--" + name.replace("_", "-"))
    if args.hedge_leg is not None:
        raise InputError(
            f"hedge mode is Binance's; --venue {venue.name} takes one position per contract "
            "(drop --hedge-leg, or use --venue binance)",
            where="--hedge-leg",
        )
    side = _side(_required(args, "side", "'long' or 'short'"), "--side")
    qty_raw = _required(args, "qty", "the position size in base units (e.g. 0.5), or in contracts for an inverse contract")
    entry_raw = _required(args, "entry", "the entry price, e.g. 60000")
    raw = _wallet_source(args)
    mode = str(args.mode).strip().lower()
    if mode not in (ISOLATED, CROSS):
        raise InputError(f"{args.mode!r}; expected 'isolated' or 'cross'", where="--mode")
    if mode == ISOLATED and args.other:
        raise InputError(
            "other contracts share the cross wallet; expected --mode cross (isolated "
            "mode uses only this position's margin)",
            where="--other #1",
        )
    if venue.name == "bybit":
        result = _bybit(venue, args, side, qty_raw, entry_raw, raw, mode)
    else:
        result = _hl_or_dydx(venue, args, side, qty_raw, entry_raw, raw, mode)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.explain())
    return 0


def _pos_int(text: str, where: str, expected: str) -> int:
    value = _number(text, where, expected, minimum=">0")
    if value.denominator != 1:
        raise InputError(f"{text!r} is not a whole number; expected {expected}", where=where)
    return int(value)


def _bybit_symbol(text: str) -> tuple[str, bool]:
    """``(base, inverse)`` from a Bybit name: BTCUSDT or BTC/USDT:USDT (linear), BTCUSD or
    BTC/USD:BTC (inverse, 1 USD contracts)."""
    t = text.strip().upper()
    m = re.fullmatch(r"([A-Z0-9]{1,20})/(USDT|USD):([A-Z0-9]{1,20})", t)
    if m:
        return m.group(1), m.group(2) == "USD"
    m = re.fullmatch(r"([A-Z0-9]{1,20}?)(USDT|USD)", t)
    if m and m.group(1):
        return m.group(1), m.group(2) == "USD"
    raise InputError(
        f"{text!r} is not a Bybit perpetual; expected BTCUSDT (linear) or BTCUSD (inverse, "
        "1 USD contracts), or BTC/USDT:USDT / BTC/USD:BTC",
        where="--symbol",
    )


def _bybit(
    venue: VenueProfile, args: argparse.Namespace, side: int, qty_raw: str, entry_raw: str, raw: str | None, mode: str
) -> _VenueResult:
    from exsim.venues import prices
    from exsim.venues.tiers import bybit_table

    fixed = args.mmr is not None or args.cum is not None
    if args.symbol is not None and fixed:
        raise InputError(
            "give either --symbol SYM (Bybit's shipped risk-limit tiers) or --mmr R --cum C "
            "(one tier: MMR and deduction), not both",
            where="--symbol",
        )
    base = ""
    table = None
    if args.symbol is not None:
        base, inverse = _bybit_symbol(args.symbol)
        if args.contract_size is not None:
            raise InputError(
                "Bybit's contracts are sized by the symbol (linear: in the coin; inverse: 1 USD); "
                "drop --contract-size, or give it with --mmr/--cum instead of --symbol",
                where="--contract-size",
            )
        size: Fraction | None = Fraction(1) if inverse else None
        table = bybit_table(base, inverse=inverse)
        symbol = f"{base}USD" if inverse else f"{base}USDT"
        asset = base if inverse else "USDT"
    elif not fixed:
        raise InputError(
            "missing; expected --symbol SYM (Bybit's risk-limit tiers, e.g. BTCUSDT or BTCUSD) "
            "or --mmr R --cum C (one tier: MMR and deduction)",
            where="--symbol",
        )
    else:
        inverse = args.contract_size is not None
        if args.mmr is None:
            raise InputError("--cum needs --mmr R (the maintenance margin rate, e.g. 0.005)", where="--mmr")
        if args.cum is None:
            raise InputError("--mmr needs --cum C (the tier's maintenance deduction, e.g. 0)", where="--cum")
        size = None
        if inverse:
            size = _number(args.contract_size, "--contract-size", "the contract's face value in USD (> 0), e.g. 1", minimum=">0")
        symbol = ""
        asset = (args.asset.strip().upper() if args.asset else "") if inverse else "USDT"
    coin = asset or "coin"
    qty = _number(qty_raw, "--qty", "the position size in contracts (> 0), e.g. 10000" if inverse else "the position size in base units (> 0), e.g. 0.5", minimum=">0")
    entry = _number(entry_raw, "--entry", "the entry price (> 0), e.g. 20000", minimum=">0")
    face = qty if size is None else qty * size
    value = face * entry if size is None else face / entry  # position value at entry
    tier_no: int | None = None
    if table is not None:
        value_atoms = value * 10**8
        bracket = next(b for b in table if b.floor_atoms <= value_atoms < b.cap_atoms or b is table.brackets[-1])
        tier_no = bracket.bracket
        mmr = Fraction(bracket.mmr_e8, RATE_SCALE)
        deduction = Fraction(bracket.cum_atoms, 10**8)
    else:
        fb = _mmr_cum(args.mmr, args.cum, "--mmr", coin=inverse)
        mmr, deduction = fb.mmr, fb.cum
    lev = _leverage(args)
    im = None if lev is None else value / lev
    mm = value * mmr - deduction
    figures: list[tuple[str, object, bool]] = [
        ("position_value_at_entry", value, True),
        ("tier", tier_no, True),
        ("mmr", _exact(mmr), True),
        ("deduction", deduction, False),
        ("maint_margin", mm, True),
        ("initial_margin", im, True),
    ]
    lines: list[str] = []
    if mode == ISOLATED:
        if raw is not None:
            where = "--wallet" if args.wallet is not None else "--margin"
            margin = _number(raw, where, f"the {coin} backing the position (>= 0)", minimum=">=0")
        else:
            assert im is not None
            margin = im
        figures.append(("position_margin", margin, False))
        if inverse:
            lp = prices.bybit_inverse_liquidation_price(side, face, entry, margin, mmr, deduction)
            bp = prices.bybit_inverse_bankruptcy_price(side, face, entry, margin)
            formula = "LP = contracts / (value + side x (position margin - MM)), value = contracts / EP, MM = value x MMR - deduction (at entry)"
        else:
            lp = prices.bybit_liquidation_price(side, qty, entry, margin, mmr, deduction)
            bp = prices.bybit_bankruptcy_price(side, qty, entry, margin)
            formula = "LP = EP - side x (position margin - MM) / Q, MM = Q x EP x MMR - deduction (value at entry); position margin = IM + margin added"
        rule = "the position margin is used up (EP x (1 -/+ IMR) without margin added)"
    else:
        if raw is None or args.wallet is None:
            _wallet(args, raw, mode, qty, entry, size, coin)  # raises the one-line message
        wallet = _number(raw, "--wallet", f"the cross wallet balance in {coin} (>= 0)", minimum=">=0")  # type: ignore[arg-type]
        if args.other:
            raise InputError(
                "Bybit's cross formulas are for one position; --venue bybit takes no other "
                "contracts (use --venue binance for several)",
                where="--other #1",
            )
        figures.append(("wallet", wallet, False))
        if inverse:
            if deduction != 0:
                raise InputError("the inverse cross equation has no deduction; expected --cum 0 (or a first-tier position)", where="--cum")
            taker = (
                Fraction(venue.taker_fee_e8 or 0, RATE_SCALE) if args.taker_fee is None
                else _number(args.taker_fee, "--taker-fee", "a fee rate as a fraction, e.g. 0.00075", minimum=">=0")
            )
            if taker >= 1:
                raise InputError(f"{args.taker_fee!r} is 1 or more; expected a fraction, e.g. 0.00075", where="--taker-fee")
            bp = prices.bybit_inverse_cross_bankruptcy_price(side, face, entry, wallet, taker)
            lp = prices.bybit_inverse_cross_liquidation_price(side, face, entry, wallet, mmr, taker)
            figures.append(("taker_fee", _exact(taker), True))
            if bp is not None:
                figures.append(("fee_to_close_at_bankruptcy", face * taker / bp, True))
            formula = (
                "side x Q x (1/EP - 1/LP) = -(balance - order margin - Q/EP x MMR - Q x taker / BP), "
                "BP = (1 +/- taker) x Q / (Q/EP +/- (balance - order margin)) (help page, inverse cross)"
            )
            rule = "the balance is used up, the taker fee to close counted: (1 +/- taker) x Q / (Q/EP +/- balance)"
            lines.append(
                "  note: Bybit's help page prints 5,739.50 for its own example; its equation gives "
                "5,739.08, which is what is solved here (docs/venues.md)"
            )
        else:
            lp = prices.bybit_liquidation_price(side, qty, entry, wallet, mmr, deduction)
            bp = prices.bybit_bankruptcy_price(side, qty, entry, wallet)
            formula = "LP = EP - side x (available balance + IM - MM) / Q = EP - side x (wallet - MM) / Q, MM at entry"
            rule = "IM + available balance (the wallet) is used up"
    return _VenueResult(
        venue, formula, mode, side, qty, entry, symbol, asset, size, lp, bp, rule,
        tuple(f for f in figures if f[1] is not None), tuple(lines),
    )


def _coin(text: str, venue: VenueProfile) -> str:
    """The coin of --symbol for Hyperliquid/dYdX: BTC, BTC-USD, BTCUSDT, BTCUSDC, BTC/USDC:USDC."""
    t = text.strip().upper()
    settled_in_coin = re.fullmatch(r"[A-Z0-9]+/USD:([A-Z0-9]+)", t)
    if t.endswith("_PERP") or (settled_in_coin and settled_in_coin.group(1) not in ("USD", "USDC", "USDT")):
        raise InputError(
            f"{venue.title} lists no inverse (coin-margined) contracts; {text!r} is one "
            "(use a linear name such as BTC, or --venue binance|bybit)",
            where="--symbol",
        )
    m = re.fullmatch(r"([A-Z0-9]{1,20})(?:/(?:USDC|USDT|USD)(?::(?:USDC|USDT|USD))?|-USD|USDT|USDC)?", t)
    if not m or not m.group(1):
        raise InputError(f"{text!r} is not a coin name; expected e.g. BTC, BTC-USD or BTCUSDT", where="--symbol")
    coin = m.group(1)
    for suffix in ("USDT", "USDC"):
        if coin.endswith(suffix) and len(coin) > len(suffix):
            coin = coin[: -len(suffix)]
    return coin


def _hl_or_dydx(
    venue: VenueProfile, args: argparse.Namespace, side: int, qty_raw: str, entry_raw: str, raw: str | None, mode: str
) -> _VenueResult:
    from exsim.venues import prices
    from exsim.venues.tiers import dydx_fractions, hyperliquid_tiers

    hl = venue.name == "hyperliquid"
    if args.contract_size is not None:
        raise InputError(
            f"{venue.title} lists no inverse (coin-margined) contracts; drop --contract-size "
            "(or use --venue binance|bybit)",
            where="--contract-size",
        )
    if args.asset is not None:
        raise InputError(f"{venue.title} settles in USDC; drop --asset", where="--asset")
    coin = None if args.symbol is None else _coin(args.symbol, venue)
    max_lev = None if args.max_leverage is None else _pos_int(args.max_leverage, "--max-leverage", "a whole maximum leverage (> 0), e.g. 40")
    if hl:
        if args.mmr is not None or args.cum is not None:
            raise InputError(
                "Hyperliquid's MMR is 1 / (2 x max leverage) of the tier; give --max-leverage N "
                "or --symbol COIN instead of --mmr/--cum",
                where="--mmr" if args.mmr is not None else "--cum",
            )
        if coin is None and max_lev is None:
            raise InputError(
                "missing; expected the asset's maximum leverage (e.g. 40), or --symbol COIN "
                "for its shipped margin tiers",
                where="--max-leverage",
            )
        try:
            tiers = hyperliquid_tiers(coin or "", max_leverage=max_lev)
        except InputError as exc:
            raise InputError(exc.message, where="--symbol") from None
        mmf = None
    else:
        if args.cum is not None and _number(args.cum, "--cum", "0 (dYdX has no maintenance deduction)", minimum=">=0") != 0:
            raise InputError(f"{args.cum!r}: dYdX has no maintenance deduction; expected 0 or no --cum", where="--cum")
        if args.mmr is not None:
            mmf = _mmr_cum(args.mmr, "0", "--mmr").mmr
        elif coin is None and max_lev is None:
            raise InputError(
                "missing; expected --symbol COIN (its liquidity tier, e.g. BTC), --mmr R (the "
                "maintenance margin fraction, e.g. 0.03) or --max-leverage N",
                where="--symbol",
            )
        else:
            mmf = Fraction(dydx_fractions(coin or "", max_leverage=max_lev)[1], RATE_SCALE)
        tiers = ()
    qty = _number(qty_raw, "--qty", "the position size in base units (> 0), e.g. 0.5", minimum=">0")
    entry = _number(entry_raw, "--entry", "the entry price in USDC (> 0), e.g. 60000", minimum=">0")
    mark = entry if args.mark is None else _number(args.mark, "--mark", "the mark (oracle) price (> 0), e.g. 60000", minimum=">0")
    s = side
    others = [_other(text, i + 1, None) for i, text in enumerate(args.other)]
    o_upnl = sum((p.unrealized_pnl() for p in others), Fraction(0))
    o_mm = sum((p.maint_margin() for p in others), Fraction(0))
    if mode == ISOLATED:
        collateral = _wallet(args, raw, mode, qty, entry, None, "USDC")
    else:
        if args.wallet is None:
            _wallet(args, raw, mode, qty, entry, None, "USDC")  # raises: cross needs --wallet
        collateral = _number(args.wallet, "--wallet", "the cross account's USDC balance without unrealized PnL (>= 0)", minimum=">=0")
    upnl = s * qty * (mark - entry)
    figures: list[tuple[str, object, bool]] = [("mark_price", mark, False)]
    lines: list[str] = []
    if hl:
        value_at_mark = collateral + upnl + o_upnl
        sol = prices.hyperliquid_liquidation_price(s, qty, mark, value_at_mark, tiers, other_maint_margin=o_mm)
        k = prices.hyperliquid_tier_index(tiers, qty * mark)
        mm_here = prices.hyperliquid_maint_margin(qty * mark, tiers)
        figures += [
            ("isolated_margin_at_mark" if mode == ISOLATED else "account_value_at_mark", value_at_mark, False),
            ("tier_at_mark", k + 1, True),
            ("max_leverage_at_mark", tiers[k][1], True),
            ("maint_margin_required_at_mark", mm_here + o_mm, True),
            ("margin_available_at_mark", value_at_mark - mm_here - o_mm, False),
        ]
        if sol.price is not None:
            assert sol.tier is not None and sol.mmr is not None and sol.deduction is not None
            figures += [
                ("tier", sol.tier + 1, True),
                ("max_leverage", tiers[sol.tier][1], True),
                ("mmr", _exact(sol.mmr), True),
                ("deduction", sol.deduction, False),
            ]
        if others:
            figures += [("other_contracts_maint_margin", o_mm, True), ("other_contracts_upnl", o_upnl, False)]
        lp = sol.price
        formula = (
            "LP = mark - side x margin_available / Q / (1 - l x side), l = MMR = 1/(2 x max leverage "
            "of the tier at LP), margin_available = "
            + ("isolated margin" if mode == ISOLATED else "account value")
            + " - MM required (tier-consistent)"
        )
        if mode == ISOLATED:
            bp = entry - s * collateral / qty
            bp = bp if bp > 0 else None
            rule = "the isolated margin is used up: entry - side x margin / Q"
        else:
            bp = mark - s * value_at_mark / qty
            bp = bp if bp > 0 else None
            rule = "the account value reaches 0, other positions held at their marks"
        return _VenueResult(venue, formula, mode, s, qty, entry, coin or "", "USDC", None, lp, bp, rule, tuple(figures), tuple(lines))
    assert mmf is not None
    lp = prices.dydx_liquidation_price(
        s, qty, entry, collateral, mmf, other_net_collateral=o_upnl, other_maint_requirement=o_mm
    )
    tnc = collateral + upnl + o_upnl
    pmmr = qty * mark * mmf
    tmmr = pmmr + o_mm
    liquidatable = prices.dydx_is_liquidatable(tnc, tmmr)
    long = s == LONG
    at_mark: dict[str, object] = {
        "oracle_price": _exact(mark),
        "total_net_collateral": format_price(tnc, round_up=False),
        "total_maint_requirement": format_price(tmmr, round_up=True),
        "liquidatable": liquidatable,
    }
    fp = bq = None
    if tmmr > 0:
        abr = prices.dydx_adjusted_bankruptcy_rating(tnc, tmmr)
        fp = prices.dydx_fillable_price(s, qty, mark, tnc, pmmr, tmmr)
        bq = prices.dydx_bankruptcy_price(s, qty, mark, tnc, pmmr, tmmr)
        at_mark["adjusted_bankruptcy_rating"] = _exact(abr)
        at_mark["fillable_price"] = None if fp is None else format_price(fp, round_up=long)
        at_mark["bankruptcy_price"] = None if bq is None else format_price(bq, round_up=long)
    figures += [
        ("mmf", _exact(mmf), True),
        ("maint_margin_at_entry", qty * entry * mmf, True),
        ("unrealized_pnl_at_mark", upnl, False),
    ]
    if others:
        figures += [("other_contracts_maint_margin", o_mm, True), ("other_contracts_upnl", o_upnl, False)]
    bp = None
    if lp is not None:
        p_lp = qty * lp * mmf
        t_lp = p_lp + o_mm
        if t_lp > 0:
            tnc_lp = collateral + s * qty * (lp - entry) + o_upnl
            bp = prices.dydx_bankruptcy_price(s, qty, lp, tnc_lp, p_lp, t_lp)
    figures.append(("at_mark", at_mark, s == LONG))
    liq = "LIQUIDATABLE (TMMR > TNC)" if liquidatable else "not liquidatable (TMMR <= TNC)"
    lines.append(
        f"  at the oracle {_exact(mark)}: TNC {at_mark['total_net_collateral']}, TMMR "
        f"{at_mark['total_maint_requirement']}: {liq}"
    )
    if tmmr > 0:
        lines.append(
            f"  there: fillable price {at_mark['fillable_price'] or '--'} (the liquidation order's "
            f"limit, ABR {at_mark['adjusted_bankruptcy_rating']}), bankruptcy price "
            f"{at_mark['bankruptcy_price'] or '--'} (closing it all)"
        )
    formula = (
        "TNC(P) = TMMR(P): collateral + side x Q x (P - EP) + others = Q x P x MMF + others' MMR; "
        "MMF = IMF x maintenance fraction; liquidatable when TMMR > TNC"
    )
    rule = "quote = -DNNV - TNC x |DMMR| / TMMR at the liquidation price, closing it all"
    return _VenueResult(venue, formula, mode, s, qty, entry, coin or "", "USDC", None, lp, bp, rule, tuple(figures), tuple(lines))
