"""Instrument specifications and leverage brackets; the shipped catalogue, dated specs.

>>> from exsim.instruments import get_instrument
>>> btc = get_instrument("BTCUSDT")
>>> btc.brackets.maint_margin_atoms(btc.notional_atoms(btc.ticks("60000"), btc.lots("1")))
25000000000
>>> from exsim.instruments.catalogue import ns_of_date
>>> get_instrument("BTCUSDT", ns_of_date("2021-08-01")).tick_size, len(catalogue())
(Decimal('0.01'), 370)
"""

from exsim.instruments.brackets import (
    Bracket,
    BracketTable,
    BracketTables,
    load_binance_brackets,
    parse_binance_brackets,
    short_symbol,
    symbol_aliases,
    validate_brackets,
)
from exsim.instruments.catalogue import catalogue
from exsim.instruments.instrument import Instrument, instrument_from_dict, instrument_to_dict
from exsim.instruments.loader import load_instruments_file
from exsim.instruments.registry import (
    get_instrument,
    list_symbols,
    load_brackets_file,
    shipped_brackets,
)

__all__ = [
    "Bracket",
    "BracketTable",
    "BracketTables",
    "Instrument",
    "catalogue",
    "get_instrument",
    "instrument_from_dict",
    "instrument_to_dict",
    "list_symbols",
    "load_binance_brackets",
    "load_brackets_file",
    "load_instruments_file",
    "parse_binance_brackets",
    "shipped_brackets",
    "short_symbol",
    "symbol_aliases",
    "validate_brackets",
]
