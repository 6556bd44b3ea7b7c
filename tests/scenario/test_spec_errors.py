"""A bad-input corpus for scenario files: every mistake is one clear InputError at file:line, field.

Each case applies one mutation to a small valid scenario (built from the built-in
one-position and correlated-crash scenarios), writes it to a temporary folder and loads
it. The error must be an :class:`~exsim.errors.InputError` whose ``where`` is
``"<file>:<line>"`` — the line found by searching the mutated text, never a hard-coded
number — whose ``field`` is the field's path and whose message says what was wrong. The
last tests check that ``exsim scenario`` / ``exsim compare`` print such an error as one
line, exit 2 and show no traceback.
"""

from __future__ import annotations

import random
import re
import string
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Callable

import pytest

from exsim.cli import main
from exsim.errors import InputError, OffGridError, SpecError
from exsim.scenario.cli import BUILTIN_ORDER
from exsim.scenario.spec import load_scenario
from exsim.toml_fields import LineMap, Source

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
# The bad-input corpus's valid scenario: each case breaks it in one place.
[scenario]
name = "corpus"
description = "one-position and correlated-crash in one small file"
margin_mode = "isolated"
start = "2024-01-01T00:00:00Z"
insurance_fund = "1000"

[[instruments]]
symbol = "DEMOUSDT"
tick_size = "0.001"
lot_size = "0.001"
brackets = [{ cap = "10000000", mmr = "0.05", max_leverage = 20 }]
maker_fee = "0"
taker_fee = "0"
clearance_fee = "0"

[[instruments]]
symbol = "BTCUSDT"
maker_fee = "0"
taker_fee = "0"

[funding]
interval = "8h"
rate = "0.0001"

[[accounts]]
name = "trader"
deposit = "1000"

[[accounts.positions]]
symbol = "DEMOUSDT"
side = "long"
qty = "1"
price = "1000"
leverage = 10

[[accounts.orders]]
at = "5m"
symbol = "DEMOUSDT"
side = "buy"
type = "limit"
qty = "0.5"
price = "990"

[[accounts.actions]]
at = "10m"
kind = "add_margin"
symbol = "DEMOUSDT"
amount = "50"

[[accounts]]
name = "btc trader"
deposit = "5000"

[[accounts.positions]]
symbol = "BTCUSDT"
side = "short"
qty = "0.1"
price = "60000"
leverage = 5
margin_mode = "isolated"
margin = "1500"

[paths.DEMOUSDT]
marks = [
  ["0s", "1000"],
  ["10m", "980"],
  ["20m", "950"],
]

[paths.BTCUSDT]
marks = [["0s", "60000"], ["10m", "59000"], ["20m", "58000"]]
"""

BTC_MARKS = 'marks = [["0s", "60000"], ["10m", "59000"], ["20m", "58000"]]'
BTC_PATH = f"[paths.BTCUSDT]\n{BTC_MARKS}\n"
BRACKETS = 'brackets = [{ cap = "10000000", mmr = "0.05", max_leverage = 20 }]'
GENERATOR = '\n[generator]\nseed = 1\nstep = "5m"\nduration = "20m"\n'
POPULATION = """
[population]
symbol = "BTCUSDT"
accounts = 10
seed = 3
price = "60000"
notional_min = "1000"
notional_max = "5000"
leverages = [10, 20]
long_share = "0.5"
mostly = "0.8"
"""
CSV_OK = "time,mark\n0s,60000\n10m,59000\n20m,58000\n"

Mutation = Callable[[str], str]


def sub(old: str, new: str) -> Mutation:
    """Replace ``old``, which must occur exactly once in the text, by ``new``."""

    def apply(text: str) -> str:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in the base text"
        return text.replace(old, new)

    return apply


def both(*mutations: Mutation) -> Mutation:
    def apply(text: str) -> str:
        for m in mutations:
            text = m(text)
        return text

    return apply


def append(block: str) -> Mutation:
    return lambda text: text + block


def generated(generator_table: str, block: str = GENERATOR) -> Mutation:
    """BTCUSDT's path as ``generator = {...}``, with ``block`` (the [generator] table) appended."""
    return both(sub(BTC_MARKS, f"generator = {generator_table}"), append(block))


def regime(*bodies: str) -> Mutation:
    """BTCUSDT's path generated, with one ``[[generator.regimes]]`` table per body after [generator]."""
    return generated('{ start = "60000", volatility = "0.01" }',
                     GENERATOR + "".join(f"\n[[generator.regimes]]\n{b}\n" for b in bodies))


def shock(*bodies: str) -> Mutation:
    """A ``[book]`` with one ``[[book.shocks]]`` table per body (the base scenario ends at 20m)."""
    return append("\n[book]\nlevels = 5\n" + "".join(f"\n[[book.shocks]]\n{b}\n" for b in bodies))


def csv_path(name: str = "btc.csv") -> Mutation:
    return sub(BTC_MARKS, f'csv = "{name}"')


def line_of(text: str, needle: str, after: str = "") -> int:
    """The 1-based line of the first line holding ``needle`` at or after the first holding ``after``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    for i in range(start, len(lines)):
        if needle in lines[i]:
            return i + 1
    raise AssertionError(f"{needle!r} not in the text (after {after!r})")


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Mutation
    needle: str | tuple[str, str]  # the line the error names: a substring, or (anchor, substring after it)
    field: str
    fragment: str
    error: type[InputError] = InputError
    files: dict[str, str | bytes] = dc_field(default_factory=dict)  # written beside the scenario
    in_file: str = ""  # the error names this side file (a CSV) instead of the scenario


CASES = [
    # ------------------------------------------------------------------ TOML itself
    Case("toml-syntax", sub('deposit = "1000"\n', 'deposit = = "1000"\n'), 'deposit = = "1000"', "toml",
         "not valid TOML: Invalid value (at line"),
    Case("toml-duplicate-key", sub('deposit = "1000"\n', 'deposit = "1000"\ndeposit = "2000"\n'), 'deposit = "2000"',
         "toml", "not valid TOML: Cannot overwrite a value"),
    Case("toml-cut-short", lambda t: t[: t.index('  ["20m", "950"]')], '["10m", "980"]', "toml",
         "(at end of document)"),
    # ------------------------------------------------------------------ unknown and missing keys
    Case("unknown-top-level-key", sub("[scenario]\n", 'colour = "red"\n\n[scenario]\n'), "colour", "colour",
         "unknown field; expected one of: scenario, instruments, accounts"),
    Case("unknown-top-level-table", sub("[funding]", "[fundng]"), "[fundng]", "fundng", "unknown field"),
    Case("account-key-typo", sub('deposit = "1000"', 'deposti = "1000"'), "deposti", "accounts[0].deposti",
         "unknown field; expected one of: name, deposit, positions, orders, actions"),
    Case("position-key-typo", sub('margin = "1500"', 'margn = "1500"'), "margn", "accounts[1].positions[0].margn",
         "unknown field"),
    Case("scenario-name-missing", sub('name = "corpus"\n', ""), "[scenario]", "scenario.name", "missing"),
    Case("account-deposit-missing", sub('deposit = "5000"\n', ""), ('amount = "50"', "[[accounts]]"), "accounts[1].deposit",
         "missing"),
    # ------------------------------------------------------------------ [scenario]
    Case("margin-mode-bad", sub('margin_mode = "isolated"\nstart', 'margin_mode = "portfolio"\nstart'), "portfolio",
         "scenario.margin_mode", "'portfolio' is not one of: isolated, cross"),
    Case("mark-source-bad", sub("[scenario]\n", '[scenario]\nmark = "midpoint"\n'), "midpoint", "scenario.mark",
         "'midpoint' is not one of: path, book"),
    Case("start-without-zone", sub('"2024-01-01T00:00:00Z"', '"2024-01-01T00:00:00"'), "start =", "scenario.start",
         "has no time zone; end it with Z for UTC"),
    Case("start-not-a-time", sub('"2024-01-01T00:00:00Z"', '"next tuesday"'), "start =", "scenario.start",
         "is not an ISO time like 2024-01-01T00:00:00Z"),
    Case("start-out-of-range", sub('"2024-01-01T00:00:00Z"', '"9999-12-31T23:59:59-23:00"'), "start =",
         "scenario.start", "is out of range"),
    Case("start-toml-datetime", sub('"2024-01-01T00:00:00Z"', "2024-01-01T00:00:00Z"), "start =", "scenario.start",
         "expected str, got datetime"),
    Case("insurance-fund-negative", sub('insurance_fund = "1000"', 'insurance_fund = "-1"'), "insurance_fund",
         "scenario.insurance_fund", "must not be negative"),
    # ------------------------------------------------------------------ money
    Case("deposit-float", sub('deposit = "1000"', "deposit = 1000.5"), "1000.5", "accounts[0].deposit",
         'write 1000.5 as a string ("1000.5") so it stays exact'),
    Case("deposit-zero", sub('deposit = "1000"', 'deposit = "0"'), 'deposit = "0"', "accounts[0].deposit",
         "'0' must be greater than 0"),
    Case("deposit-negative", sub('deposit = "1000"', 'deposit = "-5"'), 'deposit = "-5"', "accounts[0].deposit",
         "'-5' must be greater than 0"),
    Case("deposit-not-a-number", sub('deposit = "1000"', 'deposit = "abc"'), "abc", "accounts[0].deposit",
         "'abc' is not a decimal number"),
    Case("deposit-below-an-atom", sub('deposit = "1000"', 'deposit = "1000.000000001"'), "1000.000000001",
         "accounts[0].deposit", "is not a multiple of atom 0.00000001", OffGridError),
    Case("deposit-boolean", sub('deposit = "1000"', "deposit = true"), "deposit = true", "accounts[0].deposit",
         "as a string"),
    # ------------------------------------------------------------------ positions
    Case("position-price-off-grid", sub('price = "1000"\nleverage', 'price = "1000.0005"\nleverage'), "1000.0005",
         "accounts[0].positions[0].price", "'1000.0005' is not a multiple of tick 0.001", OffGridError),
    Case("position-qty-off-grid", sub('qty = "1"\n', 'qty = "1.0005"\n'), "1.0005", "accounts[0].positions[0].qty",
         "'1.0005' is not a multiple of lot 0.001", OffGridError),
    Case("position-symbol-not-listed",
         sub('[[accounts.positions]]\nsymbol = "DEMOUSDT"', '[[accounts.positions]]\nsymbol = "ETHUSDT"'), "ETHUSDT",
         "accounts[0].positions[0].symbol", "'ETHUSDT' is not an instrument of this scenario (listed: DEMOUSDT, BTCUSDT)"),
    Case("position-side-bad", sub('side = "long"', 'side = "up"'), 'side = "up"', "accounts[0].positions[0].side",
         "'up' is not one of: long, short"),
    Case("position-qty-and-notional", sub('qty = "1"\n', 'qty = "1"\nnotional = "1000"\n'), 'qty = "1"',
         "accounts[0].positions[0].qty", "give qty (in base units) or notional (in the quote asset), one of them"),
    Case("position-neither-qty-nor-notional", sub('qty = "1"\n', ""), ("[[accounts]]", "[[accounts.positions]]"),
         "accounts[0].positions[0].qty", "one of them"),
    Case("position-notional-not-whole-lots", sub('qty = "1"\n', 'notional = "1000.5"\n'), "notional",
         "accounts[0].positions[0].notional", "1000.5 is not a whole number of lots (0.001) at price 1000"),
    Case("position-leverage-above-200", sub("leverage = 10", "leverage = 201"), "leverage = 201",
         "accounts[0].positions[0].leverage", "201 is above the maximum 200"),
    Case("position-leverage-zero", sub("leverage = 10", "leverage = 0"), "leverage = 0",
         "accounts[0].positions[0].leverage", "0 is below the minimum 1"),
    Case("position-leverage-string", sub("leverage = 10", 'leverage = "10"'), 'leverage = "10"',
         "accounts[0].positions[0].leverage", "expected int, got a string '10'"),
    Case("position-margin-below-initial", sub('margin = "1500"', 'margin = "1000"'), 'margin = "1000"',
         "accounts[1].positions[0].margin", "1000 is below the initial margin 1200.00000000 (notional / leverage 5)"),
    Case("position-margin-on-cross", sub('margin_mode = "isolated"\nmargin', 'margin_mode = "cross"\nmargin'),
         'margin = "1500"', "accounts[1].positions[0].margin", "an isolated bucket allocation on a cross position"),
    Case("position-margin-mode-bad", sub('margin_mode = "isolated"\nmargin', 'margin_mode = "portfolio"\nmargin'),
         "portfolio", "accounts[1].positions[0].margin_mode", "'portfolio' is not one of: isolated, cross"),
    Case("two-positions-one-symbol",
         sub("[paths.DEMOUSDT]", '[[accounts.positions]]\nsymbol = "BTCUSDT"  # the same symbol again\nside = "long"\n'
             'qty = "0.1"\nprice = "60000"\nleverage = 5\n\n[paths.DEMOUSDT]'),
         "# the same symbol again", "accounts[1].positions[1].symbol", "one position per instrument (one-way mode)"),
    Case("account-name-twice", sub('name = "btc trader"', 'name = "trader"  # again'), "# again", "accounts[1].name",
         "'trader' is used twice"),
    # ------------------------------------------------------------------ orders
    Case("limit-order-without-price", sub('price = "990"\n', ""), "[[accounts.orders]]", "accounts[0].orders[0].price",
         "missing: a limit order needs a price"),
    Case("market-order-with-price", sub('type = "limit"', 'type = "market"'), 'price = "990"',
         "accounts[0].orders[0].price", "a market order takes no price"),
    Case("stop-market-without-trigger", sub('type = "limit"\nqty = "0.5"\nprice = "990"\n', 'type = "stop_market"\nqty = "0.5"\n'),
         "[[accounts.orders]]", "accounts[0].orders[0].trigger", "missing: a stop_market order needs a trigger price"),
    Case("limit-order-with-trigger", sub('price = "990"\n', 'price = "990"\ntrigger = "980"\n'), 'trigger = "980"',
         "accounts[0].orders[0].trigger", "a limit order takes no trigger"),
    Case("order-type-unknown", sub('type = "limit"', 'type = "stop_limit"'), "stop_limit", "accounts[0].orders[0].type",
         "'stop_limit' is not one of: limit, market, stop_market, take_profit_market"),
    Case("order-at-not-a-duration", sub('at = "5m"', 'at = "5 minutes"'), "5 minutes", "accounts[0].orders[0].at",
         "'5 minutes' is not a duration like \"90s\""),
    Case("order-at-below-a-nanosecond", sub('at = "5m"', 'at = "1.5ns"'), "1.5ns", "accounts[0].orders[0].at",
         "is not a whole number of nanoseconds"),
    Case("order-price-off-grid", sub('price = "990"', 'price = "990.0001"'), "990.0001", "accounts[0].orders[0].price",
         "is not a multiple of tick 0.001", OffGridError),
    # ------------------------------------------------------------------ actions
    Case("action-kind-unknown", sub('kind = "add_margin"', 'kind = "transfer"'), "transfer",
         "accounts[0].actions[0].kind", "'transfer' is not one of: add_margin, remove_margin, deposit, withdraw"),
    Case("add-margin-without-symbol", sub('kind = "add_margin"\nsymbol = "DEMOUSDT"\n', 'kind = "add_margin"\n'),
         "[[accounts.actions]]", "accounts[0].actions[0].symbol", "missing"),
    Case("deposit-action-with-symbol", sub('kind = "add_margin"', 'kind = "deposit"'), ("[[accounts.actions]]", "symbol"),
         "accounts[0].actions[0].symbol", "a deposit is for the account, not an instrument"),
    # ------------------------------------------------------------------ funding
    Case("funding-rate-and-rates", sub('rate = "0.0001"\n', 'rate = "0.0001"\nrates = { BTCUSDT = "0.0002" }\n'),
         'rate = "0.0001"', "funding.rate", "give rate (every instrument) or rates (a table by symbol), one of them"),
    Case("funding-rates-unknown-symbol", sub('rate = "0.0001"\n', 'rates = { BTCUSDT = "0.0001", XRPUSDT = "0.0002" }\n'),
         "rates =", "funding.rates.XRPUSDT", "'XRPUSDT' is not an instrument of this scenario"),
    Case("funding-rate-float", sub('rate = "0.0001"', "rate = 0.0001"), "rate = 0.0001", "funding.rate",
         'write 0.0001 as a string ("0.0001")'),
    Case("funding-interval-zero", sub('interval = "8h"', 'interval = "0h"'), "interval", "funding.interval",
         "must be longer than 0"),
    # ------------------------------------------------------------------ inline marks
    Case("marks-not-starting-at-0s", sub('["0s", "1000"]', '["1m", "1000"]'), ("[paths.DEMOUSDT]", "marks"),
         "paths.DEMOUSDT.marks", "the path must start at the scenario's start (time \"0s\")"),
    Case("marks-times-not-increasing", sub('["20m", "950"]', '["5m", "950"]'), ("[paths.DEMOUSDT]", "marks"),
         "paths.DEMOUSDT.marks", "times must increase"),
    Case("marks-row-not-a-pair", sub('["10m", "980"]', '["10m", "980", "970"]'), ("[paths.DEMOUSDT]", "marks"),
         "paths.DEMOUSDT.marks[1]", 'expected ["<time>", "<price>"] like ["10m", "960"], got [\'10m\', \'980\', \'970\']'),
    Case("marks-row-float-price", sub('["10m", "980"]', '["10m", 980.5]'), ("[paths.DEMOUSDT]", "marks"),
         "paths.DEMOUSDT.marks[1]", 'expected ["<time>", "<price>"]'),
    Case("marks-price-zero", sub('["10m", "980"]', '["10m", "0"]'), ("[paths.DEMOUSDT]", "marks"),
         "paths.DEMOUSDT.marks[1]", "price '0' must be greater than 0"),
    Case("marks-price-negative", sub('["10m", "980"]', '["10m", "-980"]'), ("[paths.DEMOUSDT]", "marks"),
         "paths.DEMOUSDT.marks[1]", "price '-980' must be greater than 0"),
    Case("marks-price-off-grid", sub('["10m", "980"]', '["10m", "980.0001"]'), ("[paths.DEMOUSDT]", "marks"),
         "paths.DEMOUSDT.marks[1]", "'980.0001' is not a multiple of tick 0.001", OffGridError),
    Case("marks-empty", sub(BTC_MARKS, "marks = []"), "marks = []", "paths.BTCUSDT.marks", "the path has no points"),
    # ------------------------------------------------------------------ paths
    Case("path-for-unknown-symbol", append('\n[paths.ETHUSDT]\nmarks = [["0s", "3000"]]\n'), "[paths.ETHUSDT]",
         "paths.ETHUSDT", "'ETHUSDT' is not an instrument of this scenario"),
    Case("path-with-two-sources", sub(BTC_MARKS, f'{BTC_MARKS}\ncsv = "btc.csv"'), ("[paths.BTCUSDT]", "marks"),
         "paths.BTCUSDT.marks", "give exactly one of marks, csv, replay or generator", files={"btc.csv": CSV_OK}),
    Case("path-without-source", sub(BTC_MARKS, 'every = "1m"'), "[paths.BTCUSDT]", "paths.BTCUSDT.marks",
         "give exactly one of marks, csv, replay or generator"),
    Case("path-missing", sub(BTC_PATH, ""), ('symbol = "DEMOUSDT"', "[[instruments]]"), "paths.BTCUSDT",
         "no price path for BTCUSDT (give [paths.BTCUSDT], or mark = \"book\")"),
    Case("mark-book-without-path", both(sub("[scenario]\n", '[scenario]\nmark = "book"\n'), sub(BTC_PATH, "")),
         ('symbol = "DEMOUSDT"', "[[instruments]]"), "paths.BTCUSDT", "no starting price for BTCUSDT"),
    Case("replay-file-missing", sub(BTC_MARKS, 'replay = "no-such-replay.csv"'), "replay =", "paths.BTCUSDT.replay",
         "'no-such-replay.csv' not found"),
    Case("every-on-a-marks-path", sub(BTC_MARKS, f'{BTC_MARKS}\nevery = "1m"'), "every =", "paths.BTCUSDT.every",
         "only a replay path is sampled"),
    # ------------------------------------------------------------------ generator
    Case("generator-path-without-generator-table", sub(BTC_MARKS, 'generator = { start = "60000", volatility = "0.01" }'),
         "generator = {", "generator", "missing: a generated path needs [generator] with seed, step and duration"),
    Case("generator-duration-not-whole-steps",
         generated('{ start = "60000" }', '\n[generator]\nseed = 1\nstep = "7m"\nduration = "20m"\n'), "duration =",
         "generator.duration", "must be a whole number of steps"),
    Case("generator-step-zero", generated('{ start = "60000" }', '\n[generator]\nseed = 1\nstep = "0s"\nduration = "20m"\n'),
         "step =", "generator.step", "'0s' must be longer than 0"),
    Case("generator-jump-off-grid", generated('{ start = "60000", jumps = [{ at = "7m", size = "-0.1" }] }'),
         "generator = {", "paths.BTCUSDT.generator.jumps[0].at", "must fall on a step after the start and within the duration"),
    Case("generator-correlation-1.5", generated('{ start = "60000", correlation = "1.5" }'), "generator = {",
         "paths.BTCUSDT.generator.correlation", "must be between -1 and 1"),
    Case("generator-reversion-2", generated('{ start = "60000", reversion = "2" }'), "generator = {",
         "paths.BTCUSDT.generator.reversion", "must be between 0 and 1"),
    Case("generator-drift-minus-100pc", generated('{ start = "60000", drift = "-1" }'), "generator = {",
         "paths.BTCUSDT.generator.drift", "a total return of -100 % or less has no log path"),
    Case("generator-key-typo", generated('{ start = "60000", volatilty = "0.01" }'), "generator = {",
         "paths.BTCUSDT.generator.volatilty", "unknown field"),
    Case("generator-start-missing", generated('{ volatility = "0.01" }'), "generator = {", "paths.BTCUSDT.generator.start",
         "missing"),
    # ------------------------------------------------------------------ numbers and times out of range (issue 13)
    Case("start-year-9999", sub('start = "2024-01-01T00:00:00Z"', 'start = "9999-01-01T00:00:00Z"'), "start =",
         "scenario.start", "is out of range (years 1970 to 2099 in UTC)"),
    Case("order-at-past-year-9999", sub('at = "5m"', 'at = "100000000d"'), 'at = "100000000d"', "accounts[0].orders[0].at",
         "is out of range: at most 36500d"),
    Case("order-at-superscript-digit", sub('at = "5m"', 'at = "5²m"'), 'at = "5²m"', "accounts[0].orders[0].at",
         "is not a duration"),
    Case("order-at-fullwidth-digit", sub('at = "5m"', 'at = "５m"'), 'at = "５m"', "accounts[0].orders[0].at",
         "is not a duration"),
    Case("order-at-4000-digits", sub('at = "5m"', 'at = "' + "9" * 4000 + 'm"'), 'at = "999', "accounts[0].orders[0].at",
         "is not a duration"),
    Case("order-price-at-the-no-price-key", sub('price = "990"', 'price = "4611686018427387.904"'), 'price = "4611686018427387.904"',
         "accounts[0].orders[0].price", "prices must be below 2^61 ticks"),
    Case("order-qty-past-2-pow-61-lots", sub('qty = "0.5"', 'qty = "2305843009213693.952"'), 'qty = "2305843009213693.952"',
         "accounts[0].orders[0].qty", "sizes must be below 2^61 lots"),
    Case("order-price-plus-sign", sub('price = "990"', 'price = "+990"'), 'price = "+990"', "accounts[0].orders[0].price",
         "is not a decimal number"),
    Case("order-price-underscore", sub('price = "990"', 'price = "9_90"'), 'price = "9_90"', "accounts[0].orders[0].price",
         "is not a decimal number"),
    Case("mark-at-the-book-sentinel", sub('["20m", "58000"]', '["20m", "461168601842738790.4"]'), ("[paths.BTCUSDT]", "marks"),
         "paths.BTCUSDT.marks[2]", "below 2^61 ticks"),
    # ------------------------------------------------------------------ csv paths
    Case("csv-file-missing", csv_path("nope.csv"), "csv =", "paths.BTCUSDT.csv", "'nope.csv' not found"),
    # files outside the scenario's folder are refused before anything is read (issue 13, item 4)
    Case("csv-etc-passwd", csv_path("/etc/passwd"), "csv =", "paths.BTCUSDT.csv", "is outside the scenario's folder"),
    Case("csv-proc-environ", csv_path("/proc/self/environ"), "csv =", "paths.BTCUSDT.csv", "pass --allow-path DIR"),
    Case("replay-proc-environ", sub(BTC_MARKS, 'replay = "/proc/self/environ"'), "replay =", "paths.BTCUSDT.replay",
         "is outside the scenario's folder"),
    Case("csv-mark-plus-sign", csv_path(), "10m,+59000", "mark", "the mark is not a decimal number",
         files={"btc.csv": "time,mark\n0s,60000\n10m,+59000\n"}, in_file="btc.csv"),
    Case("csv-mark-at-the-book-sentinel", csv_path(), "10m,4611", "mark", "below 2^61 ticks",
         files={"btc.csv": "time,mark\n0s,60000\n10m,461168601842738790.4\n"}, in_file="btc.csv"),
    Case("csv-time-arabic-digits", csv_path(), "١٠m", "time", "the time is not a duration",
         files={"btc.csv": "time,mark\n0s,60000\n١٠m,59000\n"}, in_file="btc.csv"),
    Case("csv-bad-header", csv_path(), "t,price", "header", "expected time,mark",
         files={"btc.csv": "t,price\n0s,60000\n"}, in_file="btc.csv"),
    Case("csv-empty", csv_path(), "", "header", "empty file; expected a header time,mark", files={"btc.csv": ""},
         in_file="btc.csv"),
    Case("csv-three-columns", csv_path(), "59000,1", "columns", "3 columns; expected 2 (time,mark)",
         files={"btc.csv": "time,mark\n0s,60000\n10m,59000,1\n"}, in_file="btc.csv"),
    Case("csv-mark-not-a-number", csv_path(), "abc", "mark", "the mark is not a decimal number",
         files={"btc.csv": "time,mark\n0s,60000\n10m,abc\n"}, in_file="btc.csv"),
    Case("csv-mark-off-grid", csv_path(), "59000.05", "mark", "the mark is not a multiple of tick 0.1",
         OffGridError, files={"btc.csv": "time,mark\n0s,60000\n10m,59000.05\n"}, in_file="btc.csv"),
    Case("csv-mark-zero", csv_path(), "10m,0", "mark", "the mark must be greater than 0",
         files={"btc.csv": "time,mark\n0s,60000\n10m,0\n"}, in_file="btc.csv"),
    Case("csv-times-backwards", csv_path(), "5m,", "time", "time goes backwards (or repeats)",
         files={"btc.csv": "time,mark\n0s,60000\n10m,59000\n5m,58000\n"}, in_file="btc.csv"),
    Case("csv-time-not-a-duration", csv_path(), "ten", "time", "the time is not a duration",
         files={"btc.csv": "time,mark\n0s,60000\nten minutes,59000\n"}, in_file="btc.csv"),
    Case("csv-iso-time-without-zone", csv_path(), "00:10:00,", "time", "has no time zone",
         files={"btc.csv": "time,mark\n2024-01-01T00:00:00Z,60000\n2024-01-01T00:10:00,59000\n"}, in_file="btc.csv"),
    Case("csv-iso-time-out-of-range", csv_path(), "9999", "time", "is out of range",
         files={"btc.csv": "time,mark\n2024-01-01T00:00:00Z,60000\n9999-12-31T23:59:59-23:00,59000\n"}, in_file="btc.csv"),
    Case("csv-not-starting-at-0s", csv_path(), "csv =", "paths.BTCUSDT.csv", "must start at the scenario's start",
         files={"btc.csv": "time,mark\n1m,60000\n"}),
    Case("csv-not-utf8", csv_path(), "10m", "file", "not UTF-8 text",
         files={"btc.csv": b"time,mark\n0s,60000\n10m,59\xff000\n"}, in_file="btc.csv"),
    Case("csv-unclosed-quote", csv_path(), '"59000', "csv", "not valid CSV",
         files={"btc.csv": 'time,mark\n0s,60000\n10m,"59000\n'}, in_file="btc.csv"),
    Case("csv-huge-field", csv_path(), "10m,999", "csv", "not valid CSV: field larger than field limit",
         files={"btc.csv": "time,mark\n0s,60000\n10m," + "9" * 200_000 + "\n"}, in_file="btc.csv"),
    # ------------------------------------------------------------------ instruments and brackets
    Case("instrument-missing-lot-size", sub('lot_size = "0.001"\n', ""), "[[instruments]]", "instruments[0].lot_size",
         "missing: 'DEMOUSDT' is not a shipped instrument"),
    Case("instrument-missing-tick-size", sub('tick_size = "0.001"\n', ""), "[[instruments]]", "instruments[0].tick_size",
         "missing: 'DEMOUSDT' is not a shipped instrument"),
    Case("shipped-instrument-with-brackets-only", sub('symbol = "BTCUSDT"\nmaker_fee', 'symbol = "BTCUSDT"\nbrackets_from = "ETHUSDT"\nmaker_fee'),
         ('symbol = "DEMOUSDT"', "[[instruments]]"), "instruments[1].tick_size", "'BTCUSDT' with its own sizes or brackets"),
    Case("instrument-listed-twice", sub('symbol = "BTCUSDT"\nmaker_fee', 'symbol = "DEMOUSDT"  # twice\nmaker_fee'),
         "# twice", "instruments[1].symbol", "'DEMOUSDT' is listed twice"),
    Case("instrument-key-typo", sub('taker_fee = "0"\nclearance_fee', 'taker_fe = "0"\nclearance_fee'), "taker_fe =",
         "instruments[0].taker_fe", "unknown field"),
    Case("instrument-tick-size-zero", sub('tick_size = "0.001"', 'tick_size = "0"'), "tick_size",
         "instruments[0].tick_size", "'0' must be greater than 0"),
    Case("instrument-tick-times-lot-below-an-atom", sub('tick_size = "0.001"', 'tick_size = "0.0000000001"'), "tick_size",
         "instruments[0].tick_size", "is not a whole number of atoms"),
    Case("instrument-fee-float", sub('maker_fee = "0"\ntaker_fee = "0"\nclearance', 'maker_fee = 0.0002\ntaker_fee = "0"\nclearance'),
         "0.0002", "instruments[0].maker_fee", "as a string"),
    Case("instrument-maint-margin-basis-bad", sub(BRACKETS, f'{BRACKETS}\nmaint_margin_basis = "average"'), "average",
         "instruments[0].maint_margin_basis", "'average' is not one of: mark, entry"),
    Case("brackets-and-brackets-from", sub(BRACKETS, f'{BRACKETS}\nbrackets_from = "BTCUSDT"'), "brackets = [",
         "instruments[0].brackets", "give brackets or brackets_from, not both"),
    Case("brackets-from-unknown", sub(BRACKETS, 'brackets_from = "NOPEUSDT"'), "brackets_from",
         "instruments[0].brackets_from", "'NOPEUSDT' is not in the shipped bracket file"),
    Case("brackets-empty", sub(BRACKETS, "brackets = []"), "brackets = []", "instruments[0].brackets",
         "give at least one bracket"),
    Case("brackets-mmr-zero", sub('mmr = "0.05"', 'mmr = "0"'), "brackets = [", "instruments[0].brackets[0].mmr",
         "'0' must be greater than 0"),
    Case("brackets-mmr-above-1", sub('mmr = "0.05"', 'mmr = "2"'), "brackets = [", "instruments[0].brackets[0].mmr",
         "MMR 2 is outside [0, 1]", SpecError),
    Case("brackets-caps-not-increasing",
         sub(BRACKETS, 'brackets = [{ cap = "1000000", mmr = "0.05", max_leverage = 20 },\n'
             '            { cap = "500000", mmr = "0.1", max_leverage = 10 }]'),
         "brackets = [", "instruments[0].brackets[1].cap", "cap 500000 is not above floor 1000000", SpecError),
    Case("brackets-mmr-decreasing",
         sub(BRACKETS, 'brackets = [{ cap = "1000000", mmr = "0.05", max_leverage = 20 },\n'
             '            { cap = "5000000", mmr = "0.01", max_leverage = 10 }]'),
         "brackets = [", "instruments[0].brackets[1].mmr", "MMR must be non-decreasing", SpecError),
    Case("brackets-max-leverage-increasing",
         sub(BRACKETS, 'brackets = [{ cap = "1000000", mmr = "0.05", max_leverage = 20 },\n'
             '            { cap = "5000000", mmr = "0.1", max_leverage = 50 }]'),
         "brackets = [", "instruments[0].brackets[1].max_leverage", "max leverage must be non-increasing", SpecError),
    Case("brackets-key-typo", sub("max_leverage = 20", "max_lev = 20"), "brackets = [",
         "instruments[0].brackets[0].max_lev", "unknown field"),
    # ------------------------------------------------------------------ population
    Case("population-leverage-string", append(POPULATION.replace("[10, 20]", '[10, "20"]')), "leverages",
         "population.leverages", "expected a list of integers from 1 to 200"),
    Case("population-leverage-above-bracket", append(POPULATION.replace("[10, 20]", "[10, 150]")), "leverages",
         "population.leverages", "150x is above BTCUSDT's maximum leverage"),
    Case("population-notional-max-below-min", append(POPULATION.replace('notional_max = "5000"', 'notional_max = "500"')),
         "notional_max", "population.notional_max", "below notional_min"),
    Case("population-mostly-1.5", append(POPULATION.replace('mostly = "0.8"', 'mostly = "1.5"')), "mostly",
         "population.mostly", "a share above 1"),
    Case("population-accounts-zero", append(POPULATION.replace("accounts = 10", "accounts = 0")), "accounts = 0",
         "population.accounts", "0 is below the minimum 1"),
    Case("population-price-off-grid", append(POPULATION.replace('price = "60000"', 'price = "60000.05"')), "60000.05",
         "population.price", "is not a multiple of tick 0.1", OffGridError),
    # ------------------------------------------------------------------ book
    Case("book-levels-zero", append("\n[book]\nlevels = 0\n"), "levels = 0", "book.levels", "0 is below the minimum 1"),
    Case("book-key-typo", append("\n[book]\ndepht = \"1000\"\n"), "depht", "book.depht", "unknown field"),
    # ------------------------------------------------------------------ correlation regimes (issue 19)
    Case("regime-correlation-1.5", regime('correlation = "1.5"\nat = "10m"'), "correlation =",
         "generator.regimes[0].correlation", "must be between -1 and 1"),
    Case("regime-correlation-float", regime('correlation = 0.95\nat = "10m"'), "correlation =",
         "generator.regimes[0].correlation", 'write 0.95 as a string ("0.95")'),
    Case("regime-correlation-missing", regime('at = "10m"'), "[[generator.regimes]]", "generator.regimes[0].correlation",
         "missing"),
    Case("regime-without-trigger", regime('correlation = "0.95"'), "[[generator.regimes]]", "generator.regimes[0].at",
         "give exactly one trigger: at, when_below or when_above"),
    Case("regime-with-two-triggers",
         regime('correlation = "0.95"\nat = "10m"\nwhen_below = { symbol = "BTCUSDT", price = "59000" }'),
         ("[[generator.regimes]]", 'at = "10m"'),
         "generator.regimes[0].at", "give exactly one trigger"),
    Case("regime-at-off-the-steps", regime('correlation = "0.95"\nat = "7m"'), 'at = "7m"', "generator.regimes[0].at",
         "must fall on a step after the start and before the end"),
    Case("regime-at-the-end", regime('correlation = "0.95"\nat = "20m"'), 'at = "20m"', "generator.regimes[0].at",
         "must fall on a step after the start and before the end"),
    Case("regime-at-the-start", regime('correlation = "0.95"\nat = "0s"'), 'at = "0s"', "generator.regimes[0].at",
         "must fall on a step after the start and before the end"),
    Case("regime-key-typo", regime('corelation = "0.95"\nat = "10m"'), "corelation", "generator.regimes[0].corelation",
         "unknown field; expected one of: correlation, at, when_below, when_above"),
    Case("regime-level-on-a-path-not-generated",
         regime('correlation = "0.95"\nwhen_below = { symbol = "DEMOUSDT", price = "900" }'), "when_below",
         "generator.regimes[0].when_below.symbol", "the path of DEMOUSDT is not generated"),
    Case("regime-level-on-an-unknown-symbol",
         regime('correlation = "0.95"\nwhen_above = { symbol = "ETHUSDT", price = "3000" }'), "when_above",
         "generator.regimes[0].when_above.symbol", "'ETHUSDT' is not an instrument of this scenario"),
    Case("regime-level-price-off-grid",
         regime('correlation = "0.95"\nwhen_below = { symbol = "BTCUSDT", price = "59000.05" }'), "when_below",
         "generator.regimes[0].when_below.price", "'59000.05' is not a multiple of tick 0.1", OffGridError),
    Case("regime-level-price-zero",
         regime('correlation = "0.95"\nwhen_below = { symbol = "BTCUSDT", price = "0" }'), "when_below",
         "generator.regimes[0].when_below.price", "'0' must be greater than 0"),
    Case("regime-level-price-missing", regime('correlation = "0.95"\nwhen_below = { symbol = "BTCUSDT" }'), "when_below",
         "generator.regimes[0].when_below.price", "missing"),
    Case("regime-level-key-typo",
         regime('correlation = "0.95"\nwhen_below = { symbol = "BTCUSDT", level = "59000" }'), "when_below",
         "generator.regimes[0].when_below.level", "unknown field; expected one of: symbol, price"),
    Case("regime-level-not-a-table", regime('correlation = "0.95"\nwhen_below = "59000"'), "when_below",
         "generator.regimes[0].when_below", "expected a table"),
    Case("regimes-not-tables", generated('{ start = "60000" }', GENERATOR + 'regimes = "calm"\n'), "regimes =",
         "generator.regimes", "expected a list of tables ([[generator.regimes]])"),
    Case("regimes-more-than-100",
         generated('{ start = "60000" }', GENERATOR + '\n[[generator.regimes]]\ncorrelation = "0.5"\nat = "5m"\n' * 101),
         "[generator]", "generator.regimes", "more than 100 regimes"),
    # ------------------------------------------------------------------ liquidity shocks (issue 19)
    Case("shock-on-a-book-that-does-not-follow-the-mark",
         append('\n[book]\nfollow_mark = false\n\n[[book.shocks]]\nat = "10m"\ndepth = "1000"\n'),
         ("[[book.shocks]]", 'at = "10m"'),
         "book.shocks[0].at", "it needs follow_mark = true"),
    Case("shock-without-figures", shock('at = "10m"\nramp = "5m"'), "[[book.shocks]]", "book.shocks[0].depth",
         "missing: a shock changes depth, spread_ticks or both"),
    Case("shock-at-missing", shock('depth = "1000"'), "[[book.shocks]]", "book.shocks[0].at", "missing"),
    Case("shock-depth-zero", shock('at = "10m"\ndepth = "0"'), 'depth = "0"', "book.shocks[0].depth",
         "'0' must be greater than 0"),
    Case("shock-depth-float", shock('at = "10m"\ndepth = 1000.5'), "depth = 1000.5", "book.shocks[0].depth",
         'write 1000.5 as a string ("1000.5")'),
    Case("shock-depth-below-an-atom", shock('at = "10m"\ndepth = "0.000000001"'), "depth =", "book.shocks[0].depth",
         "is not a multiple of atom 0.00000001", OffGridError),
    Case("shock-spread-zero", shock('at = "10m"\nspread_ticks = 0'), "spread_ticks = 0", "book.shocks[0].spread_ticks",
         "0 is below the minimum 1"),
    Case("shock-spread-string", shock('at = "10m"\nspread_ticks = "50"'), "spread_ticks =", "book.shocks[0].spread_ticks",
         "expected int, got a string '50'"),
    Case("shock-ramp-not-a-duration", shock('at = "10m"\ndepth = "1000"\nramp = "5 minutes"'), "ramp =",
         "book.shocks[0].ramp", "'5 minutes' is not a duration"),
    Case("shock-key-typo", shock('at = "10m"\ndepth = "1000"\nrmap = "5m"'), "rmap", "book.shocks[0].rmap",
         "unknown field; expected one of: at, depth, spread_ticks, ramp"),
    Case("shocks-out-of-order", shock('at = "10m"\ndepth = "1000"', 'at = "5m"\ndepth = "2000"'),
         ("[[book.shocks]]", 'at = "5m"'),
         "book.shocks[1].at", "is before the shock before it has ended"),
    Case("shocks-overlapping-a-ramp", shock('at = "5m"\nramp = "10m"\ndepth = "1000"', 'at = "10m"\ndepth = "2000"'),
         ('ramp = "10m"', 'at = "10m"'), "book.shocks[1].at", "is before the shock before it has ended"),
    Case("shock-after-the-end", shock('at = "30m"\ndepth = "1000"'), 'at = "30m"', "book.shocks[0].at",
         "the shock ends after the scenario's end (20m)"),
    Case("shock-ramp-past-the-end", shock('at = "15m"\nramp = "10m"\ndepth = "1000"'), 'ramp = "10m"',
         "book.shocks[0].ramp", "the shock ends after the scenario's end (20m)"),
    Case("shocks-not-tables", append('\n[book]\nshocks = "thin"\n'), "shocks =", "book.shocks",
         "expected a list of tables ([[book.shocks]])"),
]


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


def test_base_scenario_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "base.toml"
    path.write_text(BASE, encoding="utf-8")
    scenario = load_scenario(path)
    assert [a.name for a in scenario.accounts] == ["trader", "btc trader"]
    assert set(scenario.paths) == {"DEMOUSDT", "BTCUSDT"}


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    text = case.mutate(BASE)
    assert text != BASE
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    for name, content in case.files.items():
        _write(tmp_path / name, content)
    with pytest.raises(InputError) as info:
        load_scenario(str(path))
    exc = info.value
    assert isinstance(exc, case.error), f"{type(exc).__name__} is not a {case.error.__name__}: {exc}"
    if case.in_file:
        side = case.files[case.in_file]
        side_text = side.decode("utf-8", "replace") if isinstance(side, bytes) else side
        line = line_of(side_text, case.needle) if case.needle else 1  # type: ignore[arg-type]
        expected_where = f"{(tmp_path / case.in_file).resolve()}:{line}"
    else:
        needle, after = (case.needle[1], case.needle[0]) if isinstance(case.needle, tuple) else (case.needle, "")
        expected_where = f"{path}:{line_of(text, needle, after)}"
    assert (exc.where, exc.field) == (expected_where, case.field), str(exc)
    assert case.fragment in exc.message, str(exc)
    assert str(exc).startswith(f"{exc.where}: field {exc.field!r}: ")


# --------------------------------------------------------------------------- whole files
def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert (info.value.where, info.value.field) == (str(path), "file")
    assert "cannot read" in info.value.message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("")
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert (info.value.where, info.value.field, info.value.message) == (f"{path}:1", "scenario", "missing")


def test_only_comments(tmp_path: Path) -> None:
    path = tmp_path / "comments.toml"
    path.write_text("# nothing here\n\n# still nothing\n")
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert (info.value.where, info.value.field) == (f"{path}:1", "scenario")


@pytest.mark.parametrize(
    "content, line",
    [
        (b"\xff\xfe[\x00s\x00c\x00e\x00n\x00a\x00r\x00i\x00o\x00]\x00", 1),  # UTF-16 with its byte-order mark
        (BASE.encode() + b"# caf\xe9 in Latin-1\n", BASE.count("\n") + 1),
    ],
    ids=["utf16", "latin1-comment"],
)
def test_not_utf8(content: bytes, line: int, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert (info.value.where, info.value.field, info.value.message) == (f"{path}:{line}", "file", "not UTF-8 text")


def test_two_megabytes_of_garbage_is_a_toml_error(tmp_path: Path) -> None:
    rng = random.Random(20240101)
    alphabet = string.printable
    text = "".join(rng.choice(alphabet) for _ in range(2 * 1024 * 1024))
    path = tmp_path / "garbage.toml"
    path.write_text(text, encoding="utf-8", newline="")
    with pytest.raises(InputError) as info:
        load_scenario(path)
    exc = info.value
    assert exc.field == "toml" and exc.message.startswith("not valid TOML: ")
    with pytest.raises(tomllib.TOMLDecodeError) as raw:
        tomllib.loads(text)
    line = re.search(r"\(at line (\d+), column \d+\)", str(raw.value))
    assert line is not None and exc.where == f"{path}:{line.group(1)}"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[" + " " * 200_000 + "\n", "not valid TOML: "),  # the header pattern once took O(n^3) here
        ("[scenario]\nname = \"" + "x" * 1000 + "\n" + "[" + "a " * 100_000 + "\n", "not valid TOML: "),
        ("a = " + "[" * 100_000 + "\n", "not valid TOML: nested too deeply"),  # tomllib recurses per level
        ("[scenario]\nname = " + "9" * 5000 + "\n", "not valid TOML: Exceeds the limit (4300 digits)"),
    ],
    ids=["header-spaces", "header-words", "deep-nesting", "huge-integer"],
)
def test_adversarial_toml_is_a_toml_error(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "adversarial.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert info.value.field == "toml" and info.value.message.startswith(message), str(info.value)
    assert re.fullmatch(re.escape(str(path)) + r":\d+", info.value.where)


# --------------------------------------------------------------------------- line map
NESTED = """\
[scenario]
name = "two accounts"

[[accounts]]
name = "a"

[[accounts.positions]]
symbol = "BTCUSDT"
qty = "0.1"

[[accounts.positions]]
symbol = "ETHUSDT"
qty = "2"

[[accounts]]   # the second account
name = "b"

[[accounts.orders]]
at = "1m"

[[accounts.positions]]
symbol = "SOLUSDT"
  qty  =  "40"
price = "150"

[ paths . BTCUSDT ]
marks = [["0s", "60000"]]
"""


def test_line_map_follows_arrays_of_tables() -> None:
    m = LineMap(NESTED)
    lines = NESTED.splitlines()

    def at(needle: str, after: str = "") -> int:
        return line_of(NESTED, needle, after)

    assert m.line_of("accounts[1].positions[0].qty") == at('qty  =  "40"')
    assert lines[m.line_of("accounts[1].positions[0].qty") - 1] == '  qty  =  "40"'
    assert m.line_of("accounts[0].positions[1].qty") == at('qty = "2"')
    assert m.line_of("accounts[0].positions[0].qty") == at('qty = "0.1"')
    assert m.line_of("accounts[1]") == at("# the second account")
    assert m.line_of("accounts[1].orders[0].at") == at('at = "1m"')
    assert m.line_of("accounts[1].positions[0]") == at("[[accounts.positions]]", 'at = "1m"')
    # a field that is not in the file is reported at its table's line
    assert m.line_of("accounts[1].positions[0].leverage") == at("[[accounts.positions]]", 'at = "1m"')
    assert m.line_of("accounts[0].positions[1].margin") == at("[[accounts.positions]]", 'qty = "0.1"')
    assert m.line_of("paths.BTCUSDT.marks") == at("marks =")
    assert m.line_of("paths.BTCUSDT.marks[3]") == at("marks =")
    assert m.line_of("nothing.here") is None


def test_source_names_file_and_line() -> None:
    src = Source("nested.toml", NESTED, None)
    assert src.data["accounts"][1]["positions"][0]["qty"] == "40"
    where = f"nested.toml:{line_of(NESTED, 'qty  =  ' + chr(34) + '40')}"
    assert src.where("accounts[1].positions[0].qty") == where
    err = src.error("accounts[1].positions[0].qty", "bad")
    assert (err.where, err.field) == (where, "accounts[1].positions[0].qty")
    assert src.where("generator") == "nested.toml:1"  # not in the file at all: line 1


# --------------------------------------------------------------------------- the command line
CLI_CASES = ["deposit-float", "position-price-off-grid", "csv-three-columns", "brackets-caps-not-increasing",
             "generator-path-without-generator-table", "toml-syntax"]


@pytest.mark.parametrize("case_id", CLI_CASES)
def test_cli_prints_one_line(case_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = next(c for c in CASES if c.id == case_id)
    path = tmp_path / "bad.toml"
    path.write_text(case.mutate(BASE), encoding="utf-8")
    for name, content in case.files.items():
        _write(tmp_path / name, content)
    with pytest.raises(InputError) as info:
        load_scenario(str(path))
    assert re.fullmatch(r".+:\d+", info.value.where), info.value.where
    for argv in (["scenario", str(path)], ["compare", str(path), "--out", str(tmp_path / "runs")]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert err.startswith("exsim: error: ") and err.count("\n") == 1, err
        assert f"{info.value.where}: field '{case.field}': " in err
        assert "Traceback" not in err + out
    assert not (tmp_path / "runs").exists()


def test_cli_subprocess_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BASE.replace('deposit = "1000"', "deposit = 1000.5"), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "exsim.cli", "scenario", str(path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    line = line_of(path.read_text(), "1000.5")
    assert proc.returncode == 2
    assert proc.stderr == (f"exsim: error: {path}:{line}: field 'accounts[0].deposit': "
                           'write 1000.5 as a string ("1000.5") so it stays exact\n')
    assert "Traceback" not in proc.stdout + proc.stderr


def test_cli_compare_bad_modes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "one-position", "--modes", "isolated,foo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("exsim: error: field '--modes': ") and "'isolated,foo'" in err and "isolated, cross" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_unknown_builtin_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "nosuchname"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("exsim: error: nosuchname: field 'FILE': ")
    assert all(name in err for name in BUILTIN_ORDER)
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_compare_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert main(["compare", str(folder), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"exsim: error: {folder}: field 'FILE': ")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------- rules added after review
def test_a_book_driven_mark_takes_only_a_starting_point(tmp_path: Path) -> None:
    text = BASE.replace("[scenario]\n", '[scenario]\nmark = "book"\n', 1)
    path = tmp_path / "book.toml"
    _write(path, text)
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.field == "paths.DEMOUSDT" and "give only the starting point" in caught.value.message
    assert caught.value.where == f"{path}:{line_of(text, '[paths.DEMOUSDT]')}"


def test_trigger_by_on_an_order_without_trigger_is_refused(tmp_path: Path) -> None:
    text = BASE.replace('type = "limit"', 'type = "limit"\ntrigger_by = "last"', 1)
    assert text != BASE
    path = tmp_path / "t.toml"
    _write(path, text)
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.field.endswith("orders[0].trigger_by") and "has no trigger" in caught.value.message


def test_a_generator_no_path_uses_is_refused(tmp_path: Path) -> None:
    text = BASE + GENERATOR
    path = tmp_path / "g.toml"
    _write(path, text)
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.field == "generator.seed" and "no path uses it" in caught.value.message


def test_a_refused_setup_step_names_the_positions_field(tmp_path: Path) -> None:
    from exsim.scenario.runner import ScenarioRun

    text = BASE.replace("leverage = 10", "leverage = 150", 1)
    assert text != BASE
    path = tmp_path / "lev.toml"
    _write(path, text)
    with pytest.raises(InputError) as caught:
        ScenarioRun(load_scenario(path)).run()
    assert caught.value.field.endswith("positions[0].leverage"), caught.value
    assert "LEVERAGE" in caught.value.message


def test_a_replay_path_counts_intervals_from_its_own_first_mark(tmp_path: Path) -> None:
    """Marks that begin later than the trades still start the path at 0s."""
    csv_file = tmp_path / "late-marks.csv"
    csv_file.write_text(
        "ts_ns,kind,symbol,side,price,qty,rate\n"
        "1704067200000000000,trade,BTCUSDT,buy,60000,0.001,\n"
        "1704067390000000000,mark,BTCUSDT,,60010,,\n"
        "1704067450000000000,mark,BTCUSDT,,60020,,\n"
    )
    text = BASE.replace(BTC_MARKS, f'replay = "{csv_file}"')
    path = tmp_path / "r.toml"
    _write(path, text)
    try:
        scenario = load_scenario(path)
    except InputError as exc:  # the native format's exact header is the reader's business
        pytest.fail(f"{exc}")
    assert scenario.paths["BTCUSDT"][0] == (0, 600100)


# --------------------------------------------------------------------------- files a scenario names (issue 13, item 4)
class TestFilesAScenarioReads:
    """A scenario reads files under its own folder (or a folder the user allows) only,
    regular files only, sizes checked before reading, and no error repeats their content."""

    SECRET = "EXSIM_SECRET=do-not-print-me"

    def _scenario(self, folder: Path, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "s.toml"
        path.write_text(csv_path(name)(BASE), encoding="utf-8")
        return path

    def test_a_file_beside_the_scenario_is_read(self, tmp_path: Path) -> None:
        """The usual case: a CSV named by a relative path beside the scenario file."""
        path = self._scenario(tmp_path / "sc", "btc.csv")
        (tmp_path / "sc" / "btc.csv").write_text(CSV_OK)
        assert load_scenario(path).paths["BTCUSDT"][1] == (600_000_000_000, 590_000)

    def test_a_relative_path_is_resolved_from_the_scenario_not_the_working_folder(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A CSV in the working folder but not beside the scenario is not found."""
        path = self._scenario(tmp_path / "sc", "btc.csv")
        (tmp_path / "btc.csv").write_text(CSV_OK)
        monkeypatch.chdir(tmp_path)
        with pytest.raises(InputError, match="'btc.csv' not found"):
            load_scenario(path)

    @pytest.mark.parametrize("name", ["../outside.csv", "{tmp}/outside.csv", "link.csv"])
    def test_a_file_outside_the_folder_is_refused_unread(self, name: str, tmp_path: Path) -> None:
        """``..``, an absolute path or a symbolic link out of the folder: refused, naming the
        field, without a word of the file."""
        outside = tmp_path / "outside.csv"
        outside.write_text(self.SECRET + "\n")
        path = self._scenario(tmp_path / "sc", name.format(tmp=tmp_path))
        (tmp_path / "sc" / "link.csv").symlink_to(outside)
        with pytest.raises(InputError) as info:
            load_scenario(path)
        assert info.value.field == "paths.BTCUSDT.csv" and "is outside the scenario's folder" in info.value.message
        assert "do-not-print-me" not in str(info.value)

    def test_allow_path_lets_a_folder_be_read(self, tmp_path: Path) -> None:
        """``--allow-path DIR`` (``allow_paths``): a file under DIR may be named."""
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "btc.csv").write_text(CSV_OK)
        path = self._scenario(tmp_path / "sc", str(tmp_path / "data" / "btc.csv"))
        with pytest.raises(InputError, match="outside"):
            load_scenario(path)
        assert load_scenario(path, [tmp_path / "data"]).paths["BTCUSDT"][-1] == (1_200_000_000_000, 580_000)

    def test_allow_path_on_the_command_line(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``exsim scenario FILE --allow-path DIR`` runs; without it, one line naming the field."""
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "btc.csv").write_text(CSV_OK)
        path = self._scenario(tmp_path / "sc", str(tmp_path / "data" / "btc.csv"))
        assert main(["scenario", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "field 'paths.BTCUSDT.csv'" in err and "--allow-path" in err
        assert main(["scenario", str(path), "--allow-path", str(tmp_path / "data")]) == 0

    def test_proc_environ_is_never_printed(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
        """The probe's case: ``csv = "/proc/self/environ"`` printed the environment."""
        monkeypatch.setenv("EXSIM_SECRET", "do-not-print-me")
        path = self._scenario(tmp_path / "sc", "/proc/self/environ")
        assert main(["scenario", str(path)]) == 2
        out, err = capsys.readouterr()
        assert "do-not-print-me" not in out + err and err.count("\n") == 1

    def test_a_bad_file_inside_the_folder_is_not_quoted(self, tmp_path: Path) -> None:
        """A header that is not ``time,mark`` is named, not repeated."""
        path = self._scenario(tmp_path / "sc", "btc.csv")
        (tmp_path / "sc" / "btc.csv").write_text(self.SECRET + "\n0s,60000\n")
        with pytest.raises(InputError) as info:
            load_scenario(path)
        assert (info.value.field, "do-not-print-me" in str(info.value)) == ("header", False)

    def test_a_replay_error_is_not_quoted(self, tmp_path: Path) -> None:
        """A replay path whose file a reader refuses: the file, line and field, not its text."""
        folder = tmp_path / "sc"
        folder.mkdir()
        (folder / "ticks.csv").write_text("ts_ns,kind,symbol,side,price,qty,rate\n1723161600000000000,trade,BTCUSDT,buy,"
                                          "do-not-print-me,0.001,\n")
        path = folder / "s.toml"
        path.write_text(BASE.replace(BTC_MARKS, 'replay = "ticks.csv"'), encoding="utf-8")
        with pytest.raises(InputError) as info:
            load_scenario(path)
        assert info.value.where == f"{(folder / 'ticks.csv').resolve()}:2" and info.value.field == "price"
        assert "do-not-print-me" not in str(info.value)

    def test_a_folder_or_fifo_is_not_read(self, tmp_path: Path) -> None:
        """Only regular files: a folder or a FIFO (which would block a read) is refused."""
        import os

        path = self._scenario(tmp_path / "sc", "fifo.csv")
        os.mkfifo(tmp_path / "sc" / "fifo.csv")
        with pytest.raises(InputError, match="is not a regular file"):
            load_scenario(path)
        path = self._scenario(tmp_path / "sc2", "folder.csv")
        (tmp_path / "sc2" / "folder.csv").mkdir()
        with pytest.raises(InputError, match="is not a regular file"):
            load_scenario(path)

    def test_a_huge_file_is_refused_by_its_size(self, tmp_path: Path) -> None:
        """A 2 GB (sparse) CSV is refused by its size, before a byte is read."""
        from exsim.scenario.paths import MAX_CSV_BYTES

        path = self._scenario(tmp_path / "sc", "big.csv")
        with open(tmp_path / "sc" / "big.csv", "wb") as f:
            f.truncate(2 << 30)
        with pytest.raises(InputError) as info:
            load_scenario(path)
        assert info.value.where.endswith("big.csv") and f"at most {MAX_CSV_BYTES:,} are read" in info.value.message


# --------------------------------------------------------------------------- TOML text (issue 13, item 14)
@pytest.mark.parametrize("separator", ["\u2028", "\u0085", "\u2029"])
def test_line_numbers_count_only_newlines(separator: str, tmp_path: Path) -> None:
    """A Unicode line or paragraph separator or NEL inside a comment does not
    shift the lines an error names (TOML ends lines at newlines only)."""
    text = BASE.replace("# The bad-input corpus", f"# A comment with a {separator} in it. The bad-input corpus")
    text = text.replace('deposit = "1000"', "deposti = 1")
    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_scenario(path)
    expected = text.split("\n").index("deposti = 1") + 1
    assert info.value.where == f"{path}:{expected}"


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """A scenario saved with a UTF-8 byte-order mark reads as without one (the readers strip it too)."""
    path = tmp_path / "s.toml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load_scenario(path).name == "corpus"


def test_a_builtin_name_wins_over_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """``exsim scenario cascade`` runs the built-in even when the working folder holds a
    folder named ``cascade``; a path is taken only when it is a file."""
    from exsim.scenario.cli import resolve

    (tmp_path / "cascade").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve("cascade").name == "cascade.toml" and resolve("cascade").is_file()
    (tmp_path / "mine").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        resolve("mine")
