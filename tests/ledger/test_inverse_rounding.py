"""The one rounding rule of inverse (coin-margined) money, as the ledger books it.

The rule (``exsim.units.inverse_value_floor``, ``docs/inverse.md``): a fill's coin value
``lots × contract size / price`` is rounded down to the atom ONCE per fill and booked
identically to both sides; a fill that closes part of a position and opens the rest
splits that one value (the close takes ``mul_div_floor(value, closed, filled)``, the
opening the remainder). Consequences pinned here, with hypothesis drawing the sizes,
prices and how an order is cut into partial fills:

* both sides of every fill book the same value, so the two sides' realized PnL always sums
  to zero, to the atom;
* a position opened in ``a`` fills and closed in ``b`` fills realizes exactly what one
  opening and one closing fill would, minus what the opening fills' floors dropped plus
  what the closing fills' floors dropped — each under one atom per fill, so the two differ
  by fewer than ``a + b`` atoms (at most ``a + b − 2``);
* a close-and-flip fill splits its one value and nothing else.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from exsim.book.orders import BUY, SELL
from exsim.instruments import Instrument
from exsim.instruments.brackets import BracketTable
from exsim.ledger import BOTH, EXTERNAL, Ledger
from exsim.units import inverse_value_floor, mul_div_floor

BTC = 10**8  # atoms (satoshis) per BTC


def btcusd_perp() -> Instrument:
    """A BTCUSD_PERP-like inverse perpetual: tick 0.1 USD, lot 1 contract of 100 USD,
    brackets in BTC (the first two of Binance's COIN-M table shape)."""
    brackets = BracketTable.from_tiers([("0", "5", "0.004", 125), ("5", "10", "0.005", 100), ("10", "1000", "0.05", 10)])
    return Instrument.create(
        symbol="BTCUSD_PERP", tick_size="0.1", lot_size="1", brackets=brackets, inverse=True, contract_size="100"
    )


INST = btcusd_perp()
K = INST.inverse_atoms_per_lot_tick  # atoms × ticks per lot: a fill is worth lots × K // price_ticks

#: prices from 1,000.0 to 200,000.0 USD in ticks of 0.1: most of them do not divide K
PRICES = st.integers(10_000, 2_000_000)


def cuts(total: int) -> st.SearchStrategy[list[int]]:
    """``total`` lots cut into 1..12 positive partial fills (in any order)."""

    @st.composite
    def draw(d: st.DrawFn) -> list[int]:
        n = d(st.integers(1, min(12, total)))
        points = sorted(d(st.sets(st.integers(1, total - 1), min_size=n - 1, max_size=n - 1))) if n > 1 else []
        edges = [0, *points, total]
        return [b - a for a, b in zip(edges, edges[1:])]

    return draw()


def fresh_ledger() -> Ledger:
    ledger = Ledger([INST], default_leverage=10)
    ledger.deposit(1, 1_000 * BTC, "BTC")
    return ledger


def trade(ledger: Ledger, side: int, fills: list[int], price_ticks: int) -> None:
    """Account 1 takes ``fills`` at one price against EXTERNAL (the replayed market)."""
    for lots in fills:
        ledger.apply_fill(1, 0, INST.symbol, side, lots, price_ticks, 0, BOTH)
        ledger.apply_fill(EXTERNAL, 0, INST.symbol, side ^ 1, lots, price_ticks, 0, BOTH)
        ledger._check()


def realized(ledger: Ledger, account_id: int) -> int:
    return ledger.any_account(account_id, "BTC").realized_pnl_atoms


class TestTheRule:
    def test_a_fill_is_worth_its_face_over_the_price_rounded_down(self) -> None:
        """100 contracts of 100 USD at 25,000.0 are worth 0.4 BTC; 1 at 30,000.0 is worth 0.00333333 BTC (down)."""
        assert INST.fill_value_atoms(250_000, 100) == 40_000_000
        assert INST.fill_value_atoms(300_000, 1) == 333_333

    @given(price=PRICES, total=st.integers(1, 5_000), data=st.data())
    def test_partial_fills_are_worth_at_most_one_atom_per_extra_fill_less(self, price: int, total: int, data: st.DataObject) -> None:
        """Cut into k fills, an order's fills are worth what one fill would, less under one atom per extra fill."""
        parts = data.draw(cuts(total))
        one = inverse_value_floor(total, K, price)
        many = sum(INST.fill_value_atoms(price, lots) for lots in parts)
        assert one - (len(parts) - 1) <= many <= one


class TestBothSidesBookTheSameValue:
    @settings(max_examples=60, deadline=None)
    @given(side=st.sampled_from([BUY, SELL]), total=st.integers(1, 3_000), p_open=PRICES, p_close=PRICES, data=st.data())
    def test_the_two_sides_realized_pnl_sums_to_zero(
        self, side: int, total: int, p_open: int, p_close: int, data: st.DataObject
    ) -> None:
        """Whatever the cuts, the trader's and the counterparty's realized PnL sum to zero, to the atom."""
        ledger = fresh_ledger()
        trade(ledger, side, data.draw(cuts(total)), p_open)
        trade(ledger, side ^ 1, data.draw(cuts(total)), p_close)
        assert not ledger.account(1, "BTC").positions
        assert realized(ledger, 1) + realized(ledger, EXTERNAL) == 0


class TestManyFillsRealizeWhatOneWould:
    @settings(max_examples=80, deadline=None)
    @given(side=st.sampled_from([BUY, SELL]), total=st.integers(1, 3_000), p_open=PRICES, p_close=PRICES, data=st.data())
    def test_open_and_close_in_partial_fills_realize_one_fills_pnl_up_to_the_floors_remainders(
        self, side: int, total: int, p_open: int, p_close: int, data: st.DataObject
    ) -> None:
        """Opened in a fills and closed in b, a position realizes one fill's PnL minus the opening floors' remainder
        plus the closing floors' remainder: fewer than a + b atoms apart."""
        opens, closes = data.draw(cuts(total)), data.draw(cuts(total))
        ledger = fresh_ledger()
        trade(ledger, side, opens, p_open)
        trade(ledger, side ^ 1, closes, p_close)
        one_open, one_close = INST.fill_value_atoms(p_open, total), INST.fill_value_atoms(p_close, total)
        # inverse: a long gains when the coin value of its contracts falls (entry value − exit value)
        single = one_open - one_close if side == BUY else one_close - one_open
        open_dropped = one_open - sum(INST.fill_value_atoms(p_open, x) for x in opens)
        close_dropped = one_close - sum(INST.fill_value_atoms(p_close, x) for x in closes)
        expected = single - open_dropped + close_dropped if side == BUY else single + open_dropped - close_dropped
        assert realized(ledger, 1) == expected
        assert abs(realized(ledger, 1) - single) <= len(opens) + len(closes) - 2

    @settings(max_examples=40, deadline=None)
    @given(total=st.integers(1, 3_000), p_open=PRICES, p_close=PRICES)
    def test_one_fill_each_way_realizes_the_difference_of_the_two_floored_values(
        self, total: int, p_open: int, p_close: int
    ) -> None:
        """One opening and one closing fill of a long realize floor(entry value) − floor(exit value), exactly."""
        ledger = fresh_ledger()
        trade(ledger, BUY, [total], p_open)
        trade(ledger, SELL, [total], p_close)
        assert realized(ledger, 1) == INST.fill_value_atoms(p_open, total) - INST.fill_value_atoms(p_close, total)


class TestCloseAndFlip:
    @settings(max_examples=60, deadline=None)
    @given(held=st.integers(1, 2_000), extra=st.integers(1, 2_000), p_open=PRICES, p_flip=PRICES)
    def test_a_fill_that_closes_and_opens_splits_its_one_value(self, held: int, extra: int, p_open: int, p_flip: int) -> None:
        """A sell of held + extra against a long of held: the close takes floor(value × held / fill), the short's
        entry cost is the remainder, and the realized PnL is the long's cost minus the close's share."""
        ledger = fresh_ledger()
        trade(ledger, BUY, [held], p_open)
        cost = ledger.account(1, "BTC").positions[(INST.symbol, BOTH)].cost_atoms
        trade(ledger, SELL, [held + extra], p_flip)
        value = INST.fill_value_atoms(p_flip, held + extra)
        share = mul_div_floor(value, held, held + extra)
        pos = ledger.account(1, "BTC").positions[(INST.symbol, BOTH)]
        assert (pos.qty_lots, pos.cost_atoms) == (-extra, value - share)
        assert realized(ledger, 1) == cost - share
