"""Specification of the shipped collateral data (exsim.ledger.collateral_data)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from exsim.errors import InputError
from exsim.ledger.collateral_data import (
    COLLATERAL_FILES,
    collateral_rules,
    collateral_sources,
    parse_collateral_data,
)
from exsim.ledger.collateral import CollateralTier


def raw(venue: str) -> dict:
    text = resources.files("exsim.instruments").joinpath("data", COLLATERAL_FILES[venue]).read_text(encoding="utf-8")
    data: dict = json.loads(text)
    return data


class TestShippedFigures:
    """The published figures, as the sources give them."""

    def test_binance_btc_haircut(self) -> None:
        """Binance's FAQ values BTC at 95 %: bid buffer 0.05; no ask buffer published (0)."""
        btc = collateral_rules("binance")["BTC"]
        assert (btc.bid_buffer_e8, btc.ask_buffer_e8) == (5_000_000, 0)

    def test_binance_usdt_buffers(self) -> None:
        """The asset-index stream example gives USDTUSD bid and ask buffers of 0.0001."""
        usdt = collateral_rules("binance")["USDT"]
        assert (usdt.bid_buffer_e8, usdt.ask_buffer_e8) == (10_000, 10_000)

    def test_bybit_btc_tiers(self) -> None:
        """Bybit's example tiers: 0–10 BTC 0.98, 10–20 0.95, ..., above 50 BTC 0, marginal."""
        tiers = collateral_rules("bybit")["BTC"].tiers
        assert tiers[0] == CollateralTier(10 * 10**8, 98_000_000)
        assert tiers[-1] == CollateralTier(None, 0)
        assert [t.value_ratio_e8 for t in tiers] == [98_000_000, 95_000_000, 90_000_000, 85_000_000, 80_000_000, 0]

    def test_rules_have_no_index(self) -> None:
        """Rules come back with index 0: the caller sets the price."""
        assert {r.index_usd_e8 for v in COLLATERAL_FILES for r in collateral_rules(v).values()} == {0}

    def test_fresh_objects(self) -> None:
        """Each call returns new rules: setting one's index does not leak into the next call."""
        collateral_rules("bybit")["BTC"].index_usd_e8 = 1
        assert collateral_rules("bybit")["BTC"].index_usd_e8 == 0


class TestProvenance:
    """Every figure names a source with a URL and a retrieval note."""

    @pytest.mark.parametrize("venue", sorted(COLLATERAL_FILES))
    def test_every_asset_names_a_listed_source(self, venue: str) -> None:
        """Each asset's ``source`` is a key of ``sources``, which has url, retrieved, figures."""
        data = raw(venue)
        sources = collateral_sources(venue)
        for asset, table in data["assets"].items():
            src = sources[table["source"]]
            assert src["url"].startswith("https://") and src["retrieved"] and src["figures"], asset

    def test_unpublished_ask_buffer_is_left_out(self) -> None:
        """The FAQ gives no ask buffer for BTC: the file says null, not an invented number."""
        assert raw("binance")["assets"]["BTC"]["ask_buffer"] is None


class TestBadData:
    """A broken data file is refused with one line naming the file and the field."""

    def base(self) -> dict:
        return {"venue": "x", "sources": {"s": {"url": "https://e", "retrieved": "r", "figures": "f"}}, "assets": {}}

    def test_unknown_field(self) -> None:
        """An unknown field in an asset table."""
        data = self.base()
        data["assets"]["BTC"] = {"bid_buffer": "0.05", "source": "s", "haircut": "0.1"}
        with pytest.raises(InputError, match=r"x\.json: assets\.BTC: field 'haircut'"):
            parse_collateral_data(json.dumps(data), "x.json")

    def test_unlisted_source(self) -> None:
        """An asset must name a source the file lists."""
        data = self.base()
        data["assets"]["BTC"] = {"bid_buffer": "0.05", "source": "nowhere"}
        with pytest.raises(InputError, match="field 'source'"):
            parse_collateral_data(json.dumps(data), "x.json")

    def test_haircut_out_of_range(self) -> None:
        """A buffer above 1 is refused by the rule parser."""
        data = self.base()
        data["assets"]["BTC"] = {"bid_buffer": "1.5", "source": "s"}
        with pytest.raises(InputError, match="bid_buffer"):
            parse_collateral_data(json.dumps(data), "x.json")

    def test_unknown_venue(self) -> None:
        """Only the shipped venues are known."""
        with pytest.raises(InputError, match="binance, bybit"):
            collateral_rules("okx")
