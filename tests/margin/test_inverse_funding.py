"""Funding of inverse (COIN-M) instruments: ``−q × face / mark × rate`` in coin, zero-sum.

:func:`instrument_funding_payments` floors each exact rational amount; the exact amounts
are linear in q and sum to zero, so the dust (to the coin's insurance fund) is in
``[0, m − 1]`` for m fractional amounts, as for linear funding.
"""

from __future__ import annotations

import random
from fractions import Fraction

from exsim.instruments import BracketTable, Instrument
from exsim.margin.funding import funding_payments, instrument_funding_payments

TABLE = BracketTable.from_tiers([("0", "1000", "0.004", 125)])
BTCUSD = Instrument.create(
    symbol="BTCUSD_PERP", tick_size="0.1", lot_size="1", brackets=TABLE, inverse=True, contract_size="100"
)
ETHUSD = Instrument.create(
    symbol="ETHUSD_PERP", tick_size="0.01", lot_size="1", brackets=TABLE, inverse=True, contract_size="10"
)


class TestInverseFunding:
    def test_long_pays_the_coin_value_times_the_rate(self) -> None:
        """100 contracts at mark 25,000 are 0.4 BTC: at 0.01 % the long pays 4,000 sat to the short."""
        s = instrument_funding_payments(BTCUSD, [(1, 100), (2, -100)], 25_000 * 10**8, 10_000)
        assert s.by_key() == {1: -4_000, 2: 4_000} and s.dust_atoms == 0

    def test_negative_rate_makes_shorts_pay(self) -> None:
        """A negative rate: the short pays the long."""
        s = instrument_funding_payments(BTCUSD, [(1, 100), (2, -100)], 25_000 * 10**8, -10_000)
        assert s.by_key() == {1: 4_000, 2: -4_000}

    def test_amount_is_the_floor_of_the_exact_rational(self) -> None:
        """Each amount is floor(−q × face × rate / (mark × 1e16)) (payers round up, receivers down)."""
        mark = 2_999_999_999_999
        s = instrument_funding_payments(BTCUSD, [(1, 7), (2, -3), (3, -4)], mark, 33_333)
        for (key, q), (_, amount) in zip(s.positions, s.amounts):
            exact = Fraction(-q * BTCUSD.inverse_atoms_e8_per_lot_subtick * 33_333, mark * 10**16)
            assert amount == exact.__floor__(), key

    def test_random_settlements_are_zero_sum_with_bounded_dust(self) -> None:
        """500 random settlements (sizes, marks, rates, both instruments): sum + dust == 0 and _check holds."""
        rng = random.Random(16)
        for _ in range(500):
            inst = rng.choice([BTCUSD, ETHUSD])
            longs = [rng.randrange(1, 10_000) for _ in range(rng.randrange(1, 6))]
            shorts = []
            left = sum(longs)
            while left:
                q = rng.randrange(1, left + 1)
                shorts.append(-q)
                left -= q
            legs = [(i, q) for i, q in enumerate(longs + shorts)]
            s = instrument_funding_payments(inst, legs, rng.randrange(10**8, 10**14), rng.randrange(-750_000, 750_000))
            s._check()
            assert sum(a for _, a in s.amounts) + s.dust_atoms == 0 and s.dust_atoms >= 0

    def test_linear_instruments_settle_as_before(self) -> None:
        """instrument_funding_payments on a linear instrument is funding_payments on its lot."""
        btcusdt = Instrument.create(symbol="BTCUSDT", tick_size="0.1", lot_size="0.001", brackets=TABLE)
        legs = [(1, 3), (2, -1), (3, -2)]
        assert instrument_funding_payments(btcusdt, legs, 6_000_012_345_678, 10_001) == funding_payments(
            legs, 6_000_012_345_678, btcusdt.lot_size_e8, 10_001
        )
