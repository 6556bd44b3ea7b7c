#!/usr/bin/env python3
"""Build exsim's shipped Binance COIN-M data (inverse perpetuals) from dated facts.

Writes two files into ``exsim/instruments/data/`` (sources: ``PROVENANCE.md`` there):

* ``binance_coinm_specs_2021-07-22.json`` — contract specs of the 36 symbols of Binance
  ``GET /dapi/v1/exchangeInfo`` as captured by cryptofeed on 2021-07-22 (read here from
  ``../shared/data/cryptofeed-samples/BINANCE_DELIVERY.0``): contract size, margin asset,
  tick size, lot size, min/max quantity, ``liquidationFee``, contract type. Only these
  fields are taken, as the dump's exact decimal text.
* ``binance_coinm_leverage_brackets_2021.json`` — leverage brackets in the shape of
  ``GET /dapi/v2/leverageBracket`` (``qtyFloor``/``qtyCap`` in coin, ``maintMarginRatio``,
  ``cum`` in coin, ``initialLeverage``) for the symbols whose complete table Binance
  published (:data:`TABLES`). ``cum`` is derived exactly from floors and rates
  (MARGIN-SPEC §1), never typed in.

Run from the repository root::

    python tools/build_coinm_data.py            # rewrites both files
    python tools/build_coinm_data.py --check    # exit 1 if a shipped file differs

Only the standard library is used; numbers stay exact (``decimal``).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "exsim" / "instruments" / "data"
SPECS_OUT = DATA / "binance_coinm_specs_2021-07-22.json"
BRACKETS_OUT = DATA / "binance_coinm_leverage_brackets_2021.json"
CAPTURE = ROOT.parent / "shared" / "data" / "cryptofeed-samples" / "BINANCE_DELIVERY.0"

SPEC_SOURCE = "cryptofeed-dapi-2021-07-22"
BRACKET_SOURCE = "binance-coinm-faq-2021"

FEE_SOURCE = (
    "exsim default (assumed, not from a COIN-M source): maker 0.02 % / taker 0.05 %, the "
    "USDⓈ-M VIP 0 rates; exchangeInfo carries no fees"
)

#: Per symbol: (floor, cap, maintenance margin rate, max initial leverage), floors and caps
#: in coin. Facts from Binance's COIN-M pages (PROVENANCE.md, "binance-coinm-faq-2021"):
#: floors and leverages from "Leverage and Margin in Coin-Margined Futures Contracts"
#: (FAQ be2c7d9d95b04a7e8044ed02dd7dfe5c), rates and the last cap from the "before
#: adjustment" column of the 2021-04 announcement 9c6a1766be424fccacd2549db3d61a3f, checked
#: against the worked figures of FAQ ceccfcfb4e3a45e3b48b0b1bb1a8ae46 (BTCUSD level 5
#: maintenance amount 1.81 BTC; 300 BTC at 12.5 % with 11.81 BTC).
TABLES: dict[str, list[tuple[str, str, str, int]]] = {
    "BTCUSD_PERP": [
        ("0", "10", "0.004", 125),
        ("10", "20", "0.005", 100),
        ("20", "30", "0.01", 50),
        ("30", "50", "0.025", 20),
        ("50", "100", "0.05", 10),
        ("100", "200", "0.1", 5),
        ("200", "400", "0.125", 4),
        ("400", "1000", "0.15", 3),
        ("1000", "1500", "0.25", 2),
    ],
    "ETHUSD_PERP": [
        ("0", "100", "0.005", 100),
        ("100", "500", "0.0065", 75),
        ("500", "1000", "0.01", 50),
        ("1000", "2000", "0.025", 20),
        ("2000", "4000", "0.05", 10),
        ("4000", "6000", "0.1", 5),
        ("6000", "8000", "0.125", 4),
        ("8000", "10000", "0.15", 3),
        ("10000", "15000", "0.25", 2),
    ],
}


def _read_capture() -> tuple[str, dict]:
    line = CAPTURE.read_text(encoding="utf-8").splitlines()[0]
    url, rest = line.split(" -> ", 1)
    assert url.endswith("/dapi/v1/exchangeInfo"), url
    ts, body = rest.split(": ", 1)
    return ts, json.loads(body, parse_float=str, parse_int=str)


def _ccxt(symbol: str, base: str, quote: str, margin: str, delivery_ms: str, ctype: str) -> str:
    unified = f"{base}/{quote}:{margin}"
    if ctype == "PERPETUAL":
        return unified
    day = datetime.fromtimestamp(int(delivery_ms) // 1000, tz=timezone.utc).strftime("%y%m%d")
    return f"{unified}-{day}"


def build_specs() -> dict:
    ts, info = _read_capture()
    captured = datetime.fromtimestamp(int(Decimal(ts)), tz=timezone.utc)
    symbols: dict[str, dict] = {}
    for s in info["symbols"]:
        f = {x["filterType"]: x for x in s["filters"]}
        symbols[s["symbol"]] = {
            "ccxt": _ccxt(s["symbol"], s["baseAsset"], s["quoteAsset"], s["marginAsset"], s["deliveryDate"], s["contractType"]),
            "base": s["baseAsset"],
            "quote": s["quoteAsset"],
            "margin_asset": s["marginAsset"],
            "contract_type": s["contractType"],
            "contract_size": s["contractSize"],
            "brackets": BRACKET_SOURCE if s["symbol"] in TABLES else None,
            "specs": [
                {
                    "from": captured.strftime("%Y-%m-%d"),
                    "source": SPEC_SOURCE,
                    "tick_size": f["PRICE_FILTER"]["tickSize"],
                    "lot_size": f["LOT_SIZE"]["stepSize"],
                    "min_qty": f["LOT_SIZE"]["minQty"],
                    "max_qty": f["LOT_SIZE"]["maxQty"],
                    "min_notional": "0",
                    "liquidation_fee": s["liquidationFee"],
                    "maker_fee": "0.0002",
                    "taker_fee": "0.0005",
                }
            ],
        }
    return {
        "about": "Binance COIN-M (inverse) contract specs; built by tools/build_coinm_data.py (see PROVENANCE.md)",
        "fee_source": FEE_SOURCE,
        "sources": {
            SPEC_SOURCE: {
                "what": f"Binance GET /dapi/v1/exchangeInfo, raw capture ({len(symbols)} symbols)",
                "repository": "https://github.com/bmoscon/cryptofeed",
                "path": "sample_data/BINANCE_DELIVERY.0",
                "commit": "f60e83950af25be1d51d1aa85a5fd85e12598eff",
                "captured_utc": captured.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "captured_ns": int(Decimal(ts) * 10**9),
                "licence": "XFree86-1.1-style (cryptofeed); facts only",
            },
            BRACKET_SOURCE: {
                "what": "Binance COIN-M leverage and margin tables (support FAQ and announcement pages, 2021)",
                "file": BRACKETS_OUT.name,
            },
        },
        "symbols": symbols,
    }


def _num(text: str) -> Decimal:
    return Decimal(text)


def build_brackets() -> list:
    out = []
    for symbol, rows in TABLES.items():
        brackets = []
        cum = Decimal(0)
        prev_mmr = None
        for i, (floor, cap, mmr, lev) in enumerate(rows):
            if prev_mmr is not None:
                cum += _num(floor) * (_num(mmr) - prev_mmr)
            prev_mmr = _num(mmr)
            brackets.append(
                {
                    "bracket": i + 1,
                    "initialLeverage": lev,
                    "qtyCap": _num(cap),
                    "qtyFloor": _num(floor),
                    "maintMarginRatio": _num(mmr),
                    "cum": cum.normalize() if cum else Decimal("0.0"),
                }
            )
        out.append({"symbol": symbol, "brackets": brackets})
    return out


def _dump_brackets(data: list) -> str:
    # JSON numbers written from Decimal text (the API sends numbers); no float on the way.
    def num(d: Decimal) -> str:
        return format(d, "f")
    lines = ["["]
    for si, entry in enumerate(data):
        lines.append("  {")
        lines.append(f'    "symbol": "{entry["symbol"]}",')
        lines.append('    "brackets": [')
        for bi, b in enumerate(entry["brackets"]):
            body = ", ".join(
                f'"{k}": {v if isinstance(v, int) else num(v)}' for k, v in b.items()
            )
            lines.append("      {" + body + "}" + ("," if bi + 1 < len(entry["brackets"]) else ""))
        lines.append("    ]")
        lines.append("  }" + ("," if si + 1 < len(data) else ""))
    lines.append("]")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the shipped files instead of writing")
    args = ap.parse_args(argv)
    outputs = {
        SPECS_OUT: json.dumps(build_specs(), indent=1, ensure_ascii=False) + "\n",
        BRACKETS_OUT: _dump_brackets(build_brackets()),
    }
    bad = 0
    for path, text in outputs.items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                print(f"{path.relative_to(ROOT)} differs from a fresh build", file=sys.stderr)
                bad = 1
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return bad


if __name__ == "__main__":
    sys.exit(main())
