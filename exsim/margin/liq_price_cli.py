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
    liquidation_price,
)
from exsim.units import parse_decimal

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
      --symbol BTCUSD_PERP --other short:500:31000:30500:0.004:0 --json"""


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
        "(without unrealized PnL) (required)",
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
    side = _side(_required(args, "side", "'long' or 'short'"), "--side")
    # Presence first, in option order; the units (and so the messages) of the numbers
    # depend on the contract: base units and USDT, or contracts and the coin.
    qty_raw = _required(args, "qty", "the position size in base units (e.g. 0.5), or in contracts (e.g. 100) for an inverse contract")
    entry_raw = _required(args, "entry", "the entry price, e.g. 60000")
    wallet_raw = _required(args, "wallet", "the margin backing the position, e.g. 6000 (USDT) or 0.04 (coin, inverse)")
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
    wallet_text = (
        f"the {coin} backing the position (>= 0), e.g. 0.04" if inverse
        else "the USDT backing the position (>= 0), e.g. 6000"
    )
    wallet = _number(wallet_raw, "--wallet", wallet_text, minimum=">=0")
    mode = str(args.mode).strip().lower()
    if mode not in (ISOLATED, CROSS):
        raise InputError(f"{args.mode!r}; expected 'isolated' or 'cross'", where="--mode")
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
    if args.json:
        out: dict[str, Any] = result.to_dict()
        print(json.dumps(out, indent=2))
    else:
        print(result.explain())
    return 0
