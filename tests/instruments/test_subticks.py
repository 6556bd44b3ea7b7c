"""An instrument's fine-price scale: subticks per tick and the lot in 1e-8 of the base."""

from __future__ import annotations

import pytest

from exsim.errors import SpecError
from exsim.instruments import get_instrument
from exsim.instruments.brackets import BracketTable
from exsim.instruments.instrument import Instrument


class TestSubtickFields:
    def test_derived_from_tick_and_lot(self) -> None:
        """BTCUSDT (tick 0.1, lot 0.001): 1e7 subticks a tick, lot 100,000 e-8 BTC; XRPUSDT (0.0001): 10,000."""
        btc, xrp = get_instrument("BTCUSDT"), get_instrument("XRPUSDT")
        assert (btc.subticks_per_tick, btc.lot_size_e8, btc.tick_places) == (10_000_000, 100_000, 1)
        assert (xrp.subticks_per_tick, xrp.tick_places) == (10_000, 4)

    def test_notional_at_a_subtick_mark_is_exact_in_1e_8_atoms(self) -> None:
        """1,000 XRP (10,000 lots) at 0.52345 is 523.45 USDT = 523.45e8 atoms = 523.45e16 e-8 atoms."""
        xrp = get_instrument("XRPUSDT")
        assert xrp.notional_atoms_e8(xrp.subticks("0.52345"), 10_000) == 52_345 * 10**14

    def test_mark_str_keeps_the_fine_digits(self) -> None:
        """A mark on the tick shows like a price; a finer one shows every digit it has."""
        xrp = get_instrument("XRPUSDT")
        assert xrp.mark_str(52_340_000) == "0.5234" and xrp.mark_str(52_345_000) == "0.52345"

    def test_a_tick_finer_than_a_subtick_is_refused(self) -> None:
        """An instrument whose tick is not a whole number of subticks cannot be built (SpecError on tick_size)."""
        with pytest.raises(SpecError, match="tick_size"):
            Instrument.create(
                symbol="TINYUSDT", tick_size="0.000000001", lot_size="100000000",
                brackets=BracketTable.from_tiers([("0", "1000", "0.05", 20)]),
            )  # fmt: skip
