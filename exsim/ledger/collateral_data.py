"""Shipped collateral rules (buffers, tiered value ratios) with their provenance.

Two dated snapshots of published figures live beside the leverage brackets, in
``exsim/instruments/data`` (the shipped data's one folder); this loader sits in the ledger,
beside :func:`~exsim.ledger.collateral.parse_rule` that reads each asset's table (the
instruments package is below the ledger and does not import it):

* ``collateral_binance_multi_assets.json`` — Binance Multi-Assets Mode: a bid buffer per
  asset (1 − the FAQ's "collateral value ratio") and, where published, an ask buffer;
* ``collateral_bybit_tiers.json`` — Bybit unified account: collateral value ratios by
  quantity tier, applied marginally.

Each file names its sources (URL, date, the figures taken) and each asset the source it
comes from. A figure no source publishes is ``null`` in the file (left out, not
invented); the loader reads a missing buffer as 0. The rules come back with index 0
(no price): the caller sets ``index_usd_e8`` (the account file, a replayed index, a
scenario path).

>>> rules = collateral_rules("bybit")
>>> rules["BTC"].tiers[1], rules["BTC"].index_usd_e8
(CollateralTier(upto_atoms=2000000000, value_ratio_e8=95000000), 0)
>>> collateral_rules("binance")["BTC"].bid_buffer_e8
5000000
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Final, Mapping

from exsim.errors import InputError
from exsim.ledger.collateral import CollateralRule, parse_rule

__all__ = ["COLLATERAL_FILES", "VENUES", "collateral_rules", "collateral_sources", "parse_collateral_data"]

#: venue -> shipped data file (in exsim/instruments/data)
COLLATERAL_FILES: Final = {
    "binance": "collateral_binance_multi_assets.json",
    "bybit": "collateral_bybit_tiers.json",
}
VENUES: Final = tuple(COLLATERAL_FILES)
_ASSET_KEYS: Final = ("bid_buffer", "ask_buffer", "tiers", "source", "note")
_TOP_KEYS: Final = ("venue", "kind", "note", "sources", "assets")


def _text(venue: str) -> tuple[str, str]:
    if venue not in COLLATERAL_FILES:
        raise InputError(f"{venue!r} is not a shipped collateral data set; expected one of: {', '.join(VENUES)}", field="haircuts")
    name = COLLATERAL_FILES[venue]
    return resources.files("exsim.instruments").joinpath("data", name).read_text(encoding="utf-8"), name


def parse_collateral_data(text: str, source: str) -> tuple[dict[str, CollateralRule], dict[str, Any]]:
    """``(rules by asset, sources by key)`` from a collateral data file's text.

    Every asset table is read by :func:`exsim.ledger.collateral.parse_rule` (buffers in
    [0, 1], tiers increasing, bid rate not above the ask rate); an unknown field, an
    asset naming a source the file does not list, or a malformed file is refused with
    one line naming ``source`` and the field. O(assets × tiers).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"not valid JSON: {exc}", where=source) from None
    if not isinstance(data, dict) or not isinstance(data.get("assets"), dict) or not isinstance(data.get("sources"), dict):
        raise InputError("expected an object with 'sources' and 'assets' tables", where=source)
    for key in data:
        if key not in _TOP_KEYS:
            raise InputError(f"unknown field; expected one of: {', '.join(_TOP_KEYS)}", where=source, field=key)
    sources: dict[str, Any] = data["sources"]
    rules: dict[str, CollateralRule] = {}
    for asset, table in data["assets"].items():
        where = f"{source}: assets.{asset}"
        if not isinstance(table, dict):
            raise InputError("expected a table", where=where)
        for key in table:
            if key not in _ASSET_KEYS:
                raise InputError(f"unknown field; expected one of: {', '.join(_ASSET_KEYS)}", where=where, field=key)
        if table.get("source") not in sources:
            raise InputError(f"names no source listed under 'sources' ({', '.join(sources)})", where=where, field="source")
        rule_table: Mapping[str, object] = {
            k: v for k, v in table.items() if k in ("bid_buffer", "ask_buffer", "tiers") and v is not None
        }
        rules[asset] = parse_rule(asset, rule_table, source)
    return rules, sources


def collateral_rules(venue: str) -> dict[str, CollateralRule]:
    """The shipped rules of ``venue`` (``"binance"`` or ``"bybit"``) by asset, index 0.

    Fresh objects on every call (a caller may set their index). O(assets × tiers).
    """
    text, name = _text(venue)
    return parse_collateral_data(text, name)[0]


def collateral_sources(venue: str) -> dict[str, Any]:
    """The ``sources`` table of ``venue``'s data file: URL, title, retrieval note, figures."""
    text, name = _text(venue)
    return parse_collateral_data(text, name)[1]
