"""Wiring a venue profile into a run (``--venue``, a scenario's ``venue``): one place for
``exsim replay``, ``exsim scenario`` and ``exsim compare``.

A run under a venue converts its instruments first (``profile.instruments``: the venue's
tiers, maintenance-margin basis, fees, funding interval, partial flag, clearance fee), then
builds the ledger and the exchange on them, passing the profile to the exchange. Binance
is today's path exactly: its profile returns the instruments themselves and the exchange
is built without a ``venue`` argument, so every golden state hash holds.

The venue's rules themselves live in :mod:`exsim.venues.profile`; this module only says
what a run cannot do under a venue, in one line naming the option and the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from exsim.errors import InputError
from exsim.venues.profile import VENUE_NAMES, VENUES, VenueProfile, get_venue

if TYPE_CHECKING:
    from exsim.instruments import Instrument

__all__ = ["MULTI_ASSETS_VENUES", "RULE_KEYS", "check_collateral_mode", "exchange_venue", "rule_lines", "run_venue",
           "venue_instruments"]

#: the rules shown beside a run, in this order (``VenueProfile.rules`` keys)
RULE_KEYS = ("trigger", "order", "clearance", "fund", "adl")

#: the venues whose accounts can pool several assets' wallets as margin (multi-assets mode):
#: :attr:`VenueProfile.multi_assets`
MULTI_ASSETS_VENUES = tuple(v.name for v in VENUES.values() if v.multi_assets)


def run_venue(name: str | None, *, where: str = "", field: str = "--venue") -> VenueProfile:
    """The profile named ``name`` (None: Binance); an unknown name is one line naming the
    option (and the file, when it came from one)."""
    if name is None:
        return get_venue(None)
    try:
        return get_venue(name)
    except InputError:
        raise InputError(f"{name!r} is not a venue; expected one of {', '.join(VENUE_NAMES)}", where=where,
                         field=field) from None


def venue_instruments(venue: VenueProfile, instruments: Iterable["Instrument"], *, where: str = "",
                      option: str = "--venue", notes: list[str] | None = None) -> list["Instrument"]:
    """``instruments`` under ``venue``'s terms; a contract the venue does not list (an
    inverse one on Hyperliquid or dYdX) is one line naming ``option`` and ``where`` (the
    file that holds it).

    An asset the venue ships no margin tiers for (a made-up ``DEMOUSDT`` on Hyperliquid)
    gets one tier at the instrument's own maximum leverage (its first bracket's), as
    ``exsim liq-price --max-leverage`` does; ``notes`` receives a line saying so.
    """
    out = []
    for inst in instruments:
        try:
            out.append(venue.instrument(inst))
            continue
        except InputError as exc:
            error = InputError(exc.message, where=where or exc.where, field=option)
            if inst.inverse:
                raise error from None
        lev = inst.brackets.brackets[0].max_leverage
        try:
            out.append(venue.instrument(inst, max_leverage=lev))
        except InputError:
            raise error from None
        if notes is not None:
            notes.append(f"{inst.symbol}: {venue.title} ships no margin tiers for {inst.base}: one tier at the "
                         f"instrument's own maximum leverage, {lev}x")
    return out


def check_collateral_mode(venue: VenueProfile, multi_assets: bool, *, where: str = "", option: str = "--venue",
                          instead: str = "drop --collateral-mode multi-assets") -> None:
    """Multi-assets collateral under a venue that has none: one line naming the option,
    the file (``where``) and what to do ``instead``."""
    if multi_assets and not venue.multi_assets:
        raise InputError(
            f"{venue.title} has no multi-assets collateral mode (USDC alone margins its "
            f"perpetuals); {instead}, or run it under --venue {' or '.join(MULTI_ASSETS_VENUES)}",
            where=where, field=option,
        )


def exchange_venue(venue: VenueProfile) -> dict[str, Any]:
    """The ``Exchange(...)`` keyword for ``venue``: none for Binance (today's construction,
    unchanged), ``venue=`` for the others."""
    return {} if venue.is_binance else {"venue": venue}


def rule_lines(venue: VenueProfile) -> list[str]:
    """``"trigger: ..."`` lines: each of :data:`RULE_KEYS` the venue states, its sentence."""
    return [f"{key}: {venue.rule(key)}" for key in RULE_KEYS if venue.rule(key)]
