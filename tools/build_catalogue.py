#!/usr/bin/env python3
"""Build ``exsim/instruments/data/catalogue.json`` from dated Binance ``exchangeInfo`` facts.

The catalogue lists every symbol of the shipped leverage-bracket snapshot
(``exsim/instruments/data/binance_leverage_tiers_2024-10-24.json``, 349 symbols) with the
contract specs found for it, one *version* per dated ``GET /fapi/v1/exchangeInfo`` dump
that lists it: tick size, lot size, min/max quantity, min notional and the venue's
``liquidationFee`` (exsim's clearance fee). Every version names its source and date.

Sources (see ``exsim/instruments/data/PROVENANCE.md``):

* ``cryptofeed-2021-07-22`` — read here from the raw capture
  ``../shared/data/cryptofeed-samples/BINANCE_FUTURES.0`` (its ``<url> -> <ts>: <json>`` line);
* ``nautilus-2022-02-19`` and ``baouih-2025-03-06`` — facts (numbers only) transcribed
  from public dumps into ``tools/catalogue_sources/*.tsv``; the TSV header names the
  repository, path and commit.

Maker/taker fees are not in ``exchangeInfo``: every version carries the VIP-0 USDⓈ-M rates
(0.02 % / 0.05 %, MARGIN-SPEC §7) and says so in ``fee_source``.

Run from the repository root::

    python tools/build_catalogue.py            # rewrites the catalogue
    python tools/build_catalogue.py --check    # exit 1 if the shipped file differs

Only the standard library is used; numbers stay the dumps' decimal strings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "exsim" / "instruments" / "data"
BRACKETS = DATA / "binance_leverage_tiers_2024-10-24.json"
OUT = DATA / "catalogue.json"
SOURCES_DIR = ROOT / "tools" / "catalogue_sources"
CRYPTOFEED = ROOT.parent / "shared" / "data" / "cryptofeed-samples" / "BINANCE_FUTURES.0"

FEE_SOURCE = "exsim default: Binance USDⓈ-M VIP 0 maker 0.02 % / taker 0.05 % (MARGIN-SPEC §7); exchangeInfo carries no fees"

SOURCES = {
    "cryptofeed-2021-07-22": {
        "what": "Binance GET /fapi/v1/exchangeInfo, raw capture (122 symbols)",
        "repository": "https://github.com/bmoscon/cryptofeed",
        "path": "sample_data/BINANCE_FUTURES.0",
        "commit": "f60e83950af25be1d51d1aa85a5fd85e12598eff",
        "captured_utc": "2021-07-22T22:25:40Z",
        "captured_ns": 1626992740175661000,
        "licence": "XFree86-1.1-style (cryptofeed); facts only",
    },
    "nautilus-2022-02-19": {
        "what": "Binance GET /fapi/v1/exchangeInfo test fixture (BTCUSDT and ETHUSDT only; serverTime 1645233611962)",
        "repository": "https://github.com/nautechsystems/nautilus_trader",
        "path": "tests/integration_tests/adapters/binance/resources/http_responses/http_futures_usdt_exchange_info.json",
        "commit": "dd9d5fe9ce1a8d55042f72a32c0f978ced8ef1e7",
        "captured_utc": "2022-02-19T01:20:11Z",
        "captured_ns": 1645233611962000000,
        "licence": "LGPL-3.0 (NautilusTrader); facts only",
    },
    "baouih-2025-03-06": {
        "what": "Binance GET /fapi/v1/exchangeInfo, full dump (serverTime 1741261103856)",
        "repository": "https://github.com/baouih/binance",
        "path": "exchange_info.json",
        "commit": "8fa2729bd83379608f8e04c4c229afb8a8c374f4",
        "captured_utc": "2025-03-06T11:38:23Z",
        "captured_ns": 1741261103856000000,
        "licence": "no licence stated; facts (numbers) only",
    },
    "freqtrade-2024-10-24": {
        "what": "Binance leverage brackets (ccxt fetch_leverage_tiers of GET /fapi/v1/leverageBracket), 349 symbols",
        "repository": "https://github.com/freqtrade/freqtrade",
        "path": "freqtrade/exchange/binance_leverage_tiers.json",
        "commit": "c9ae5e1e9ff25bb55dd61f5e5519f7c479291edb",
        "captured_utc": "2024-10-24T00:00:00Z",
        "captured_ns": 1729728000000000000,
        "licence": "GPL-3.0 (freqtrade); data file only",
    },
}
#: notional cap assumed for the one-bracket tables of symbols the bracket snapshot does not list
LEGACY_CAP = "5000000"
FIELDS = ("tick_size", "lot_size", "min_qty", "max_qty", "min_notional", "liquidation_fee")


def binance_name(ccxt: str) -> tuple[str, str, str]:
    """(Binance symbol, base, quote) of a ccxt unified symbol: ``BTC/USDT:USDT-241227`` ->
    ``BTCUSDT_241227``."""
    base, rest = ccxt.split("/")
    quote, settle = rest.split(":")
    if "-" in settle:
        return f"{base}{quote}_{settle.split('-')[1]}", base, quote
    return base + quote, base, quote


def split_name(name: str, row: dict[str, str] | None) -> tuple[str, str]:
    """(base, quote) of a Binance symbol: the dump's when it says, else the quote suffix."""
    if row and "_base" in row:
        return row["_base"], row["_quote"]
    for quote in ("USDT", "USDC", "BTC"):
        if name.endswith(quote):
            return name[: -len(quote)], quote
    raise SystemExit(f"cannot split {name!r} into base and quote")


def cryptofeed_facts(path: Path) -> dict[str, dict[str, str]]:
    """symbol -> fields, from the exchangeInfo line of a cryptofeed ``.0`` capture."""
    for line in path.read_text(encoding="utf-8").splitlines():
        url, sep, rest = line.partition(" -> ")
        if sep and "exchangeInfo" in url:
            body = json.loads(rest.partition(": ")[2])
            break
    else:
        raise SystemExit(f"{path}: no exchangeInfo line")
    out = {}
    for s in body["symbols"]:
        if s.get("contractType") not in ("PERPETUAL", "CURRENT_QUARTER", "NEXT_QUARTER"):
            continue
        f = {x["filterType"]: x for x in s["filters"]}
        out[s["symbol"]] = {
            "tick_size": f["PRICE_FILTER"]["tickSize"],
            "lot_size": f["LOT_SIZE"]["stepSize"],
            "min_qty": f["LOT_SIZE"]["minQty"],
            "max_qty": f["LOT_SIZE"]["maxQty"],
            "min_notional": f["MIN_NOTIONAL"]["notional"],
            "liquidation_fee": s["liquidationFee"],
            "_base": s["baseAsset"],
            "_quote": s["quoteAsset"],
            "_maint": s["maintMarginPercent"],
            "_required": s["requiredMarginPercent"],
        }
    return out


def tsv_facts(path: Path) -> dict[str, dict[str, str]]:
    """symbol -> fields from a transcribed TSV (symbol, status, then the six fields)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 8:
            raise SystemExit(f"{path}: expected 8 columns: {line!r}")
        out[cols[0]] = dict(zip(FIELDS, cols[2:]))
    return out


def build() -> dict[str, object]:
    tiers = json.loads(BRACKETS.read_text(encoding="utf-8"))
    facts = {
        "cryptofeed-2021-07-22": cryptofeed_facts(CRYPTOFEED),
        "nautilus-2022-02-19": tsv_facts(SOURCES_DIR / "nautilus_2022-02-19.tsv"),
        "baouih-2025-03-06": tsv_facts(SOURCES_DIR / "baouih_2025-03-06.tsv"),
    }
    symbols: dict[str, object] = {}
    names = {binance_name(ccxt)[0]: ccxt for ccxt in tiers}
    for source in facts:  # symbols of the dumps that the bracket snapshot no longer lists
        for name in facts[source]:
            names.setdefault(name, "")
    for name in sorted(names, key=lambda n: (names[n] == "", n)):
        ccxt = names[name]
        versions = []
        legacy = None
        for source in sorted(facts, key=lambda s: SOURCES[s]["captured_ns"]):
            row = facts[source].get(name)
            if row is None:
                continue
            date = SOURCES[source]["captured_utc"][:10]
            versions.append({"from": date, "source": source, **{k: v for k, v in row.items() if not k.startswith("_")},
                             "maker_fee": "0.0002", "taker_fee": "0.0005"})
            if "_maint" in row and legacy is None:
                legacy = row
        if ccxt:
            _, base, quote = binance_name(ccxt)
            brackets: object = "freqtrade-2024-10-24"
        else:
            base, quote = split_name(name, legacy)
            # no bracket table known: one bracket from the dump's legacy margin fields
            maint, required = (legacy["_maint"], legacy["_required"]) if legacy else ("2.5000", "5.0000")
            brackets = {"source": "exchangeInfo maintMarginPercent / requiredMarginPercent (one bracket)",
                        "maint_margin_percent": maint, "required_margin_percent": required, "cap": LEGACY_CAP}
            ccxt = f"{base}/{quote}:{quote}" + (f"-{name.split('_')[1]}" if "_" in name else "")
        symbols[name] = {"ccxt": ccxt, "base": base, "quote": quote, "brackets": brackets, "specs": versions}
    return {
        "about": "Binance USDⓈ-M contract specs by date; built by tools/build_catalogue.py (see PROVENANCE.md)",
        "fee_source": FEE_SOURCE,
        "sources": SOURCES,
        "symbols": symbols,
    }


def render(catalogue: dict[str, object]) -> str:
    return json.dumps(catalogue, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare with the shipped catalogue instead of writing it")
    args = p.parse_args(argv)
    text = render(build())
    if args.check:
        same = OUT.read_text(encoding="utf-8") == text
        print("catalogue is up to date" if same else f"{OUT} differs from a fresh build")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    cat = json.loads(text)
    known = sum(1 for v in cat["symbols"].values() if v["specs"])
    print(f"wrote {OUT.relative_to(ROOT)}: {len(cat['symbols'])} symbols, {known} with a spec")
    return 0


if __name__ == "__main__":
    sys.exit(main())
