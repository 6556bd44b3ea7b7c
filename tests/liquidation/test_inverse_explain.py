"""``exsim explain`` on an inverse (COIN-M) liquidation: money in the coin, to the satoshi.

The vector's isolated long (100 BTCUSD contracts at 25,000, 0.04 BTC at 10x, MMR 0.4 %)
liquidated through a bid at 22,800: the story names BTC amounts with 8 decimals, the coin
notional ``contracts x contract size / mark`` and the harmonic average fill price.
"""

from __future__ import annotations

import json

from exsim.book.orders import BUY
from exsim.exchange import event_to_dict
from exsim.ledger.risk_index import LIQUIDATION_RATIO_E8, isolated_threshold_subticks
from exsim.replay.explain import explain

from .harness import liquidations
from .test_inverse_liquidation import MM, isolated_run


def story() -> str:
    h = isolated_run(BUY)
    _, t = isolated_threshold_subticks(h.ledger, h.pos_in(1, "BTCUSD_PERP"), LIQUIDATION_RATIO_E8)
    h.rest(MM, BUY, 100, 228_000)
    (liq,) = liquidations(h.mark_subticks(t), 1)
    event = json.loads(json.dumps(event_to_dict(liq)))
    return explain(event, 1, 1, instruments={"BTCUSD_PERP": h.instruments[0]})


class TestInverseExplain:
    def test_money_is_in_btc_to_the_satoshi(self) -> None:
        """Balances, maintenance margin and the fund are shown in BTC with 8 decimals."""
        text = story()
        assert "0.00175299 BTC" in text and "USDT" not in text

    def test_notional_is_the_coin_value_of_the_contracts(self) -> None:
        """The maintenance line computes the notional as contracts x contract size / mark."""
        text = story()
        assert "notional 100 contracts x 100 USD / 22818.18" in text and "= 0.438247" in text

    def test_average_fill_is_the_fill_price(self) -> None:
        """One fill at 22,800: the (harmonic) average is 22,800 to the satoshi's precision."""
        assert "at an average 22800.0000" in story()
