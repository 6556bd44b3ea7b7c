"""``exsim explain RUN_DIR [--liquidation N]``: a liquidation told in plain words and numbers.

Reads the run's ``events.jsonl`` (every ``Liquidation`` event carries the figures at the
trigger) and, for each position closed, recomputes the maintenance margin from the
instrument's brackets to show which bracket applied and why. Money is formatted from int
atoms and prices from int ticks, exactly; percentages are for reading.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Mapping

from exsim.errors import InputError
from exsim.instruments import Instrument, get_instrument, instrument_from_dict
from exsim.replay.recorder import utc_text
from exsim.units import ATOMS_E8_PER_ATOM, format_atoms, format_rate_e8, format_scaled
from exsim.venues.profile import FUND_VAULT, PARTIAL_LADDER, VenueProfile, get_venue

NS_PER_S = 1_000_000_000


def liquidations_of(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every ``Liquidation`` event of a run directory, in order.

    Each line of ``events.jsonl`` is one JSON object. A damaged line (cut short, not an
    object) is an error naming ``path:line``, whatever event it held: a liquidation line
    cut before its name would otherwise go unseen ("No liquidation"). Only the lines that
    name a liquidation are decoded; the others are checked to be ``{...}`` (a log with
    every book change has millions of lines).
    """
    path = Path(run_dir) / "events.jsonl"
    if not path.is_file():
        raise InputError("missing: is this a run directory written with --out?", where=str(path))
    out = []
    with open(path, "rb") as f:
        for line_no, line in enumerate(f, 1):
            text = line.rstrip(b"\r\n")
            if not (text.startswith(b"{") and text.endswith(b"}")):
                shown = text[:60].decode("utf-8", "replace")
                raise InputError(
                    f"damaged: {shown!r}{'...' if len(text) > 60 else ''} is not one JSON object",
                    where=f"{path}:{line_no}",
                    field="line",
                )
            if b'"Liquidation"' not in text:
                continue
            try:
                event = json.loads(text)
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
                raise InputError(f"damaged: not JSON ({exc})", where=f"{path}:{line_no}", field="line") from None
            if event.get("event") == "Liquidation":
                out.append(event)
    return out


def _usdt_text(atoms: int) -> str:
    return f"{format_atoms(atoms, 2)} USDT"


def _coin_formatter(asset: str) -> Callable[[int], str]:
    """Atoms of a coin (the margin asset of an inverse contract) with all 8 decimals."""
    return lambda atoms: f"{format_atoms(atoms, 8)} {asset}"


def _pct(rate_e8: int) -> str:
    return f"{format_rate_e8(rate_e8 * 100, 2)} %"


def _multi_assets_trigger(symbol: str) -> str:
    """What moved a multi-assets account to liquidation, from the event's ``symbol``: an
    instrument's mark, ``@ASSET`` (a collateral index tick) or ``@ASSET:rule`` (a change of
    its buffers or haircut tiers); "" when a fill or a transfer did."""
    if symbol.startswith("@"):
        asset, _, what = symbol[1:].partition(":")
        if what == "rule":
            return f"The {asset} collateral haircut (its buffers or value-ratio tiers) changed."
        return f"The {asset} collateral index price moved."
    if symbol:
        return f"The {symbol} mark price moved."
    return "A fill, fee or transfer changed the account."


def explain(
    event: dict[str, Any], number: int, of: int, instruments: Mapping[str, Instrument] | None = None,
    venue: VenueProfile | None = None,
) -> str:
    """The story of one ``Liquidation`` event (a dict from events.jsonl).

    Instruments are looked up in ``instruments`` (by symbol; the run's own specs, e.g. one
    whose maintenance margin is held at its entry value), else among the shipped ones.
    ``venue``: the rules the run followed (None or Binance: Binance's story, as it always
    was); another venue's story names, at each step, the venue's rule behind it.
    """
    insts = instruments or {}
    other = venue is not None and not venue.is_binance

    def instrument_of(symbol: str) -> Instrument:
        return insts[symbol] if symbol in insts else get_instrument(symbol)

    scope = "isolated bucket" if event["scope"] == "ISOLATED" else "cross margin pool"
    # a scope's money is in one asset: an inverse (COIN-M) scope's in its coin, shown to the satoshi
    first = instrument_of(event["positions"][0]["symbol"]) if event["positions"] else None
    _usdt = _coin_formatter(first.margin_asset) if first is not None and first.inverse else _usdt_text
    when = utc_text(event["ts_ns"])[:23].replace("T", " ")
    if event["scope"] == "MULTI_ASSETS":  # the whole multi-assets account: figures in USD (1e-8 USD)
        lines = [
            f"Liquidation {number} of {of}: account {event['account_id']}, the multi-assets account (every asset's "
            f"wallet as one pool), {when} UTC",
            "",
            f"Trigger. {_multi_assets_trigger(event['symbol'])} The account equity (each asset's equity at "
            f"its collateral rate, haircuts taken) was {format_scaled(event['margin_balance_atoms'], 8, 2)} USD, at or "
            f"below its maintenance margin of {format_scaled(event['maint_margin_atoms'], 8, 2)} USD (at the ask "
            "rates): the venue takes every position of the account over at once. Money below is in each position's "
            "settlement asset.",
        ]
    else:
        lines = [
            f"Liquidation {number} of {of}: account {event['account_id']}, {scope} "
            f"({event['symbol']}), {when} UTC"
            + ((" — partial: " + (_partial_step(venue) + "; the rest stays open" if venue is not None and other
                                  else "reduced to a lower bracket, the scope survives")) if event["partial"] else ""),
            "",
            f"Trigger. The {event['symbol']} mark price moved. The {scope}'s margin balance (its margin "
            f"plus unrealized PnL at the marks) was {_usdt(event['margin_balance_atoms'])}, "
            + (f"below its maintenance margin of {_usdt(event['maint_margin_atoms'])}" if other and not venue.liquidatable_at_equality
               else f"at or below its maintenance margin of {_usdt(event['maint_margin_atoms'])}")
            + ": the venue takes the position(s) over.",
        ]
    if other:
        lines.insert(1, f"Venue: {venue.title}. {_rule(venue, 'trigger')}")
    for p in event["positions"]:
        if "mark_price_subticks" not in p:  # an events.jsonl of an exsim that kept marks in ticks
            raise InputError(
                "this run was written by an older exsim (marks in ticks, no mark_price_subticks); "
                "replay it again to explain it", field="positions",
            )
        inst = instrument_of(p["symbol"])
        px = inst.price_str
        mpx = inst.mark_str  # marks and liquidation prices are subticks, finer than the tick
        qty = p["qty_lots"]
        size = abs(qty)
        side = "long" if qty > 0 else "short"
        mark = p["mark_price_subticks"]
        if inst.inverse:
            # the coin value contracts x contract size / mark, rounded up to 1e-16 of the coin
            notional_e8 = inst.value_atoms_e8(mark, size)
            notional_text = f"{format_scaled(notional_e8, 16, 8)} {inst.margin_asset}"
            size_text = f"{inst.qty_str(size)} contracts x {inst.contract_size} {inst.quote} /"
        else:
            notional_e8 = size * mark * inst.lot_size_e8  # exact, in 1e-8 atoms
            notional_text = f"{format_scaled(notional_e8, 16, 2)} USDT"
            size_text = f"{inst.qty_str(size)} x"
        lines += ["", f"{p['symbol']} {side} {inst.qty_str(size)} (position side {p['position_side']}):"]
        if inst.maint_margin_basis == "entry":
            # the event carries no entry cost to recompute it from: say which notional it is
            # on, and its amount when the scope's figure is this position's alone
            only = f": {_usdt(event['maint_margin_atoms'])}" if len(event["positions"]) == 1 else ""
            lines.append(
                f"  maintenance margin: computed on the entry notional (held at its entry value, "
                f"Bybit-style), not on the notional at the mark {mpx(mark)} ({notional_text}){only}"
            )
        else:
            b = inst.brackets.bracket_for(notional_e8 // ATOMS_E8_PER_ATOM)
            mm = inst.brackets.maint_margin_atoms_e8(notional_e8)
            cap = "and up" if b is inst.brackets.brackets[-1] else f"to {_usdt(b.cap_atoms)}"
            lines.append(
                f"  maintenance margin: notional {size_text} {mpx(mark)} = {notional_text}, in bracket "
                f"{b.bracket} (notional from {_usdt(b.floor_atoms)} {cap}; MMR {_pct(b.mmr_e8)}, maintenance "
                f"amount {_usdt(b.cum_atoms)}, max leverage {b.max_leverage}x): {notional_text} x {_pct(b.mmr_e8)} "
                f"- {_usdt(b.cum_atoms)} = {_usdt(mm)}"
            )
        if p["liquidation_price_subticks"]:
            lines.append(
                f"  liquidation price {mpx(p['liquidation_price_subticks'])}: where its margin balance met the "
                f"maintenance margin; the mark was {mpx(mark)}"
            )
        if other:
            lines.append(f"  bankruptcy price {px(p['bankruptcy_price_ticks'])}: where its margin balance is zero; the "
                         f"liquidation order, under the venue's rule: {venue.rule('order')}")
        else:
            lines.append(
                f"  bankruptcy price {px(p['bankruptcy_price_ticks'])}: where its margin balance is zero; the "
                f"liquidation order is a reduce-only IOC at that price"
            )
        filled = p["filled_lots"]
        if filled:
            # the average fill, exact as a fraction of ticks, shown to 8 places for reading
            # (the size over the coin value for an inverse contract: the harmonic average)
            avg_ticks = inst.entry_price_ticks(filled, p["fill_notional_atoms"]) or Fraction(0)
            mark_ticks = Fraction(mark, inst.subticks_per_tick)  # the (finer) mark, exactly
            worse = (mark_ticks - avg_ticks) if qty > 0 else (avg_ticks - mark_ticks)  # > 0: worse than the mark
            tick = Fraction(str(inst.tick_size))
            lines.append(
                f"  through the book: {inst.qty_str(filled)} at an average {_dec(avg_ticks * tick)}"
                + (
                    " (exactly the mark)"
                    if worse == 0
                    else f" ({_dec(worse * tick)} {'worse' if worse > 0 else 'better'} than the mark, "
                    f"{float(abs(worse) / mark_ticks) * 1e4:.1f} bp)"
                )
            )
        elif other:
            lines.append("  through the book: nothing")
        else:
            lines.append("  through the book: nothing (no liquidity at or better than the bankruptcy price)")
        if p["taken_over_lots"]:
            taker = "the liquidator vault" if other and venue.fund == FUND_VAULT else "the insurance fund"
            lines.append(
                f"  taken over by {taker}: {inst.qty_str(p['taken_over_lots'])} at the bankruptcy "
                f"price {px(p['bankruptcy_price_ticks'])}"
                + (f" ({venue.rule('fund')})" if other else "")
            )
        if p["adl_lots"]:
            lines.append(f"  auto-deleveraged against profitable opposite positions: {inst.qty_str(p['adl_lots'])}")
    for a in event.get("adl", []):
        inst = instrument_of(a["symbol"])
        lines.append(
            f"  ADL #{a['rank']}: account {a['account_id']} closed {inst.qty_str(abs(a['qty_lots']))} at "
            f"{inst.price_str(a['price_ticks'])} (ranking score {format_rate_e8(a['score_e8'], 4)})"
        )
    if other:
        fund_name = "liquidator vault" if venue.fund == FUND_VAULT else "insurance fund"
        vault_took = venue.fund == FUND_VAULT and any(p["taken_over_lots"] for p in event["positions"])
        if event["partial"]:
            why = "a partial step: the bucket or pool keeps its margin"
        elif vault_took:
            why = "the margin left at the bankruptcy price went over with the positions; no clearance fee"
        else:
            why = _rule(venue, "clearance")
        lines += ["", f"To the {fund_name}: {_usdt(event['clearance_fee_atoms'])} ({why})"]
        if event.get("adl"):
            lines.append(f"Deleveraging: {_rule(venue, 'adl')}")
    else:
        lines += [
            "",
            f"Clearance fee: {_usdt(event['clearance_fee_atoms'])} (the instrument's rate on the liquidated notional, "
            "capped by the margin left above the bankruptcy price; it goes to the insurance fund, and the account "
            "keeps whatever margin is left after it).",
        ]
    fund_word = "Liquidator vault" if other and venue.fund == FUND_VAULT else "Insurance fund"
    lines += [
        f"{fund_word}: {'+' if event['insurance_fund_change_atoms'] >= 0 else ''}"
        f"{_usdt(event['insurance_fund_change_atoms'])}, now {_usdt(event['insurance_fund_atoms'])}."
        + (f" Uncovered loss: {_usdt(event['uncovered_loss_atoms'])}." if event["uncovered_loss_atoms"] else ""),
        "",
        f"In one line: {event['explanation']}",
    ]
    return "\n".join(lines)


def _partial_step(venue: VenueProfile) -> str:
    """What one partial step is under ``venue`` (from its profile)."""
    if venue.partial == PARTIAL_LADDER:
        return "laddered, one risk-limit tier lower"
    if venue.chunk_above_atoms:
        return (f"a {format_rate_e8(venue.chunk_e8 * 100, 0)} % chunk of a position above "
                f"{format_atoms(venue.chunk_above_atoms, 0)} of notional, then a {venue.cooldown_ns // 10**9} s cooldown")
    return "one step"


def _rule(venue: VenueProfile, key: str) -> str:
    """The venue's rule ``key`` as a sentence (capitalised, with a full stop)."""
    text = venue.rule(key)
    return (text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else ""


def run_venue_of(run_dir: str | Path) -> VenueProfile | None:
    """The venue a run directory's ``summary.json`` names (None: it names none, or has no summary: Binance)."""
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_bytes())
    except ValueError:
        return None  # (exsim report says a damaged summary; the story needs only the events)
    name = summary.get("venue") if isinstance(summary, dict) else None
    if name is None:
        return None
    return get_venue(name, where=f"{path}: venue")


def _dec(value: Fraction) -> str:
    """A non-negative rational for reading: its magnitude to 8 decimal places."""
    return str((Decimal(abs(value.numerator)) / Decimal(value.denominator)).quantize(Decimal("0.00000001")))


def run_instruments(run_dir: str | Path) -> dict[str, Instrument]:
    """The instruments a run directory recorded in ``instruments.json`` (scenario runs), by symbol."""
    path = Path(run_dir) / "instruments.json"
    if not path.is_file():
        return {}
    try:
        records = json.loads(path.read_text())
    except ValueError as exc:
        raise InputError(f"not JSON: {exc}", where=str(path), field="instruments") from exc
    if not isinstance(records, list):
        raise InputError("expected a list of instruments", where=str(path), field="instruments")
    out = {}
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise InputError("expected an instrument record", where=f"{path}: entry {i + 1}", field="instruments")
        inst = instrument_from_dict(r, where=f"{path}: entry {i + 1}")
        out[inst.symbol] = inst
    return out


def explain_run(
    run_dir: str | Path, number: int | None = None, instruments: Mapping[str, Instrument] | None = None
) -> str:
    """Every liquidation of the run (or only the ``number``-th, 1-based), explained.

    ``instruments``: the run's instruments by symbol when they are not the shipped ones.
    """
    events = liquidations_of(run_dir)
    if instruments is None:
        instruments = run_instruments(run_dir)
    if not events:
        return f"No liquidation in {run_dir}."
    venue = run_venue_of(run_dir)
    if number is not None:
        if not 1 <= number <= len(events):
            raise InputError(f"{number}: the run has {len(events)} liquidation(s)", field="--liquidation")
        return explain(events[number - 1], number, len(events), instruments, venue)
    return "\n\n".join(explain(e, i, len(events), instruments, venue) for i, e in enumerate(events, 1))
