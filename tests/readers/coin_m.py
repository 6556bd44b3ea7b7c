"""What the COIN-M reader tests share: an inverse instrument and a replay config with a coin wallet."""

from __future__ import annotations

from typing import Any

from exsim.instruments import BracketTable, Instrument
from exsim.replay import ReplayConfig

#: test brackets in BTC (floor, cap, MMR, leverage); the shipped ones come from exsim.instruments
TEST_TIERS = [("0", "5", "0.004", 125), ("5", "10", "0.005", 100), ("10", "20", "0.01", 50), ("20", "50", "0.025", 20)]


def inverse(symbol: str = "BTCUSD_PERP", tick: str = "0.1", contract: str = "100") -> Instrument:
    """An inverse COIN-M instrument (contracts of ``contract`` USD, lot 1 contract)."""
    table = BracketTable.from_tiers(TEST_TIERS, symbol=symbol, source="test tiers")
    return Instrument.create(symbol=symbol, tick_size=tick, lot_size="1", inverse=True, contract_size=contract, brackets=table)


def coin_config(symbol: str = "BTCUSD_PERP", **kw: Any) -> ReplayConfig:
    """A replay of ``symbol`` whose account starts with 0.05 of the run's home asset (the
    contract's coin: BTC for BTCUSD_PERP)."""
    coin = symbol.split("_", 1)[0].removesuffix("USD")
    return ReplayConfig(symbol=symbol, deposits=(f"0.05{coin}",), **kw)
