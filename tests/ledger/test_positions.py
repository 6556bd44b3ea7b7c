"""Positions through the exchange: exact entry cost, realized PnL, fees, isolated buckets.

Every number is worked by hand in the comments (BTCUSDT: ``notional = px * lots * 10_000``
atoms, taker fee ``px * lots * 5``, maker fee ``px * lots * 2``; see ``harness.py``).
The counterparty is replayed liquidity (the EXTERNAL account, which pays no fee) unless
a test is about the maker side. Every command is followed by ``check_all`` (conservation
identity, no negative wallet, positions net to zero, holds consistent).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from exsim.book.orders import IOC
from exsim.exchange import PositionChanged, RejectReason
from exsim.ledger import BOTH, EXTERNAL, ISOLATED, LONG, SHORT, Reason

from .harness import (
    ALICE,
    BOB,
    BUY,
    CAROL,
    ETH,
    P,
    SELL,
    SYM,
    USDT,
    LedgerHarness,
    RealizedFromEvents,
    of_type,
    reasons,
    taker_fee,
)

W0 = 10_000 * USDT  # every account starts with 10,000 USDT


def funded(*instruments: Any, accounts: tuple[int, ...] = (ALICE,), liquidations: bool = True) -> LedgerHarness:
    h = LedgerHarness(*instruments, exchange_kwargs={"liquidations": liquidations})
    for a in accounts:
        h.deposit(a, W0)
    return h


def take(h: LedgerHarness, account: int, side: int, qty: int, px: int, pside: int = BOTH, symbol: str = SYM) -> list[Any]:
    """``account`` takes exactly ``qty`` lots at ``px`` from replayed liquidity (IOC)."""
    h.level(side ^ 1, px, qty, symbol=symbol)
    events = h.new(account, side, qty, px, tif=IOC, pside=pside, symbol=symbol)
    assert not reasons(events), reasons(events)
    return events


def position_event(events: list[Any], account: int) -> PositionChanged:
    (ev,) = [e for e in of_type(events, PositionChanged) if e.account_id == account]
    return ev


class TestOneWayCross:
    def test_open_keeps_exact_entry_cost(self) -> None:
        """Opening a long stores the exact cost price*lots*atpl and charges only the taker fee."""
        h = funded()
        events = take(h, ALICE, BUY, 10, P)
        pos = h.pos(ALICE)
        assert pos is not None and not pos.isolated
        # 600_000 ticks * 10 lots * 10_000 atoms = 60,000,000,000 atoms (600 USDT)
        assert (pos.qty_lots, pos.cost_atoms, pos.realized_pnl_atoms) == (10, 60_000_000_000, 0)
        # taker fee 600_000 * 10 * 5 = 30,000,000 (0.30 USDT); a cross open moves no margin
        assert h.wallet(ALICE) == W0 - 30_000_000
        ev = position_event(events, ALICE)
        assert (ev.qty_lots, ev.cost_atoms, ev.margin_atoms, ev.realized_pnl_atoms, ev.wallet_atoms) == (
            10, 60_000_000_000, 0, 0, W0 - 30_000_000,
        )

    def test_increase_adds_cost_and_derives_exact_average(self) -> None:
        """An increase adds its exact value to the cost; the average entry is an exact fraction."""
        h = funded()
        take(h, ALICE, BUY, 10, P)
        take(h, ALICE, BUY, 5, 601_000)
        pos = h.pos(ALICE)
        assert pos is not None
        # 60,000,000,000 + 601_000 * 5 * 10_000 = 90,050,000,000
        assert (pos.qty_lots, pos.cost_atoms) == (15, 90_050_000_000)
        # 90,050,000,000 / (15 * 10_000) = 600,333 1/3 ticks
        assert pos.entry_price_ticks(10_000) == Fraction(1_801_000, 3)

    def test_partial_close_realizes_floor_of_cost_share(self) -> None:
        """A partial close realizes exit value minus floor(cost * closed / size); the residue stays."""
        h = funded()
        take(h, ALICE, BUY, 10, P)
        take(h, ALICE, BUY, 5, 601_000)
        wallet = h.wallet(ALICE)
        events = take(h, ALICE, SELL, 4, 610_000)
        pos = h.pos(ALICE)
        assert pos is not None
        # share = 90,050,000,000 * 4 // 15 = 24,013,333,333 (exact 24,013,333,333.33)
        # exit  = 610_000 * 4 * 10_000   = 24,400,000,000  -> pnl = +386,666,667
        assert pos.realized_pnl_atoms == 386_666_667
        assert (pos.qty_lots, pos.cost_atoms) == (11, 90_050_000_000 - 24_013_333_333)  # 66,036,666,667
        # cross: the pnl goes to the wallet, the fee 610_000 * 4 * 5 = 12,200,000 leaves it
        assert h.wallet(ALICE) == wallet + 386_666_667 - 12_200_000
        assert position_event(events, ALICE).realized_pnl_atoms == 386_666_667

    def test_full_close_realizes_exact_total(self) -> None:
        """Over a position's life the realized PnL is exactly Σ sells − Σ buys (no rounding loss)."""
        h = funded()
        take(h, ALICE, BUY, 10, P)
        take(h, ALICE, BUY, 5, 601_000)
        take(h, ALICE, SELL, 4, 610_000)
        events = take(h, ALICE, SELL, 11, 590_000)
        # last close: 590_000 * 11 * 10_000 = 64,900,000,000 - 66,036,666,667 = -1,136,666,667
        # total: 386,666,667 - 1,136,666,667 = -750,000,000
        #      = (24,400,000,000 + 64,900,000,000) - 90,050,000,000 sold minus bought
        assert h.pos(ALICE) is None
        assert h.acct(ALICE).realized_pnl_atoms == -750_000_000
        ev = position_event(events, ALICE)
        assert (ev.qty_lots, ev.cost_atoms, ev.realized_pnl_atoms) == (0, 0, -750_000_000)
        fees = taker_fee(P, 10) + taker_fee(601_000, 5) + taker_fee(610_000, 4) + taker_fee(590_000, 11)
        assert h.wallet(ALICE) == W0 - 750_000_000 - fees
        assert h.acct(ALICE).fees_atoms == fees

    def test_short_round_trip_profits_from_a_fall(self) -> None:
        """A short opened at P and bought back 1,000 USDT lower realizes +10 lots * 10,000 ticks."""
        h = funded()
        take(h, ALICE, SELL, 10, P)
        pos = h.pos(ALICE)
        assert pos is not None and (pos.qty_lots, pos.cost_atoms) == (-10, 60_000_000_000)
        take(h, ALICE, BUY, 10, 590_000)
        # (600_000 - 590_000) * 10 * 10_000 = 1,000,000,000 (10 USDT)
        assert h.acct(ALICE).realized_pnl_atoms == 1_000_000_000
        assert h.wallet(ALICE) == W0 + 1_000_000_000 - taker_fee(P, 10) - taker_fee(590_000, 10)

    def test_flip_long_to_short_through_zero(self) -> None:
        """Selling more than the long closes it at its full cost and opens the rest short at the fill."""
        h = funded()
        take(h, ALICE, BUY, 10, P)
        events = take(h, ALICE, SELL, 25, 610_000)
        pos = h.pos(ALICE)
        assert pos is not None
        # close 10: (610_000 - 600_000) * 10 * 10_000 = +1,000,000,000; rest 15 short at 610_000:
        # cost 610_000 * 15 * 10_000 = 91,500,000,000
        assert (pos.qty_lots, pos.cost_atoms, pos.realized_pnl_atoms) == (-15, 91_500_000_000, 1_000_000_000)
        assert h.wallet(ALICE) == W0 + 1_000_000_000 - taker_fee(P, 10) - taker_fee(610_000, 25)
        ev = position_event(events, ALICE)
        assert (ev.qty_lots, ev.realized_pnl_atoms) == (-15, 1_000_000_000)

    def test_flip_short_to_long_through_zero(self) -> None:
        """Buying more than the short closes it and opens the rest long at the fill price."""
        h = funded()
        take(h, ALICE, SELL, 10, P)
        take(h, ALICE, BUY, 13, 605_000)
        pos = h.pos(ALICE)
        assert pos is not None
        # close 10: (600_000 - 605_000) * 10 * 10_000 = -500,000,000; open 3 at 605_000:
        # cost 605_000 * 3 * 10_000 = 18,150,000,000
        assert (pos.qty_lots, pos.cost_atoms, pos.realized_pnl_atoms) == (3, 18_150_000_000, -500_000_000)

    def test_counterparty_mirrors_the_position(self) -> None:
        """The replayed side is booked to EXTERNAL with the opposite size and the same cost."""
        h = funded()
        take(h, ALICE, BUY, 10, P)
        ext = h.ledger.external.positions[(SYM, BOTH)]
        assert (ext.qty_lots, ext.cost_atoms) == (-10, 60_000_000_000)
        assert h.ledger.external.fees_atoms == 0


class TestHedgeMode:
    def hedged(self) -> LedgerHarness:
        h = funded()
        h.hedge(ALICE)
        take(h, ALICE, BUY, 10, P, pside=LONG)
        take(h, ALICE, SELL, 6, 601_000, pside=SHORT)
        return h

    def test_long_and_short_legs_coexist(self) -> None:
        """In hedge mode a LONG and a SHORT leg of one instrument are two positions."""
        h = self.hedged()
        long_, short = h.pos(ALICE, pside=LONG), h.pos(ALICE, pside=SHORT)
        assert long_ is not None and short is not None
        assert (long_.qty_lots, long_.cost_atoms) == (10, 60_000_000_000)
        # 601_000 * 6 * 10_000 = 36,060,000,000
        assert (short.qty_lots, short.cost_atoms) == (-6, 36_060_000_000)
        assert h.pos(ALICE, pside=BOTH) is None

    def test_closing_one_leg_leaves_the_other(self) -> None:
        """Selling on the LONG side reduces only the LONG leg and realizes its PnL."""
        h = self.hedged()
        events = take(h, ALICE, SELL, 4, 610_000, pside=LONG)
        long_, short = h.pos(ALICE, pside=LONG), h.pos(ALICE, pside=SHORT)
        assert long_ is not None and short is not None
        # share 60,000,000,000 * 4 // 10 = 24,000,000,000; exit 24,400,000,000 -> +400,000,000
        assert (long_.qty_lots, long_.cost_atoms, long_.realized_pnl_atoms) == (6, 36_000_000_000, 400_000_000)
        assert (short.qty_lots, short.cost_atoms, short.realized_pnl_atoms) == (-6, 36_060_000_000, 0)
        assert position_event(events, ALICE).position_side == LONG

    def test_closing_the_short_leg_realizes_its_pnl(self) -> None:
        """Buying on the SHORT side closes the short at its own cost."""
        h = self.hedged()
        take(h, ALICE, BUY, 6, 591_000, pside=SHORT)
        # (601_000 - 591_000) * 6 * 10_000 = +600,000,000
        assert h.pos(ALICE, pside=SHORT) is None
        assert h.acct(ALICE).realized_pnl_atoms == 600_000_000
        assert h.pos(ALICE, pside=LONG) is not None

    def test_close_exceeding_the_leg_is_refused(self) -> None:
        """A hedge close larger than its leg is refused; exactly the leg is accepted."""
        h = self.hedged()
        assert reasons(h.new(ALICE, SELL, 11, 610_000, pside=LONG)) == [Reason.REDUCE_ONLY_WOULD_INCREASE]
        assert reasons(h.new(ALICE, BUY, 7, 590_000, pside=SHORT)) == [Reason.REDUCE_ONLY_WOULD_INCREASE]
        assert reasons(h.new(ALICE, SELL, 10, 610_000, pside=LONG)) == []
        assert reasons(h.new(ALICE, BUY, 6, 590_000, pside=SHORT)) == []

    def test_close_without_a_leg_is_refused(self) -> None:
        """Buying on the SHORT side with no short leg would open, not close: refused."""
        h = funded()
        h.hedge(ALICE)
        assert reasons(h.new(ALICE, BUY, 2, P, pside=SHORT)) == [Reason.REDUCE_ONLY_WOULD_INCREASE]
        assert reasons(h.new(ALICE, SELL, 2, P, pside=LONG)) == [Reason.REDUCE_ONLY_WOULD_INCREASE]

    def test_position_side_must_match_the_mode(self) -> None:
        """BOTH is refused in hedge mode and LONG/SHORT in one-way mode."""
        h = funded(accounts=(ALICE, BOB))
        h.hedge(ALICE)
        assert reasons(h.new(ALICE, BUY, 2, P)) == [Reason.POSITION_SIDE_MISMATCH]
        assert reasons(h.new(BOB, BUY, 2, P, pside=LONG)) == [Reason.POSITION_SIDE_MISMATCH]

    def test_resting_close_cannot_turn_a_leg_negative(self) -> None:
        """A resting LONG close that outlives its leg (closed by another order) never makes the LONG leg short."""
        h = funded(accounts=(ALICE, BOB))
        h.hedge(ALICE)
        take(h, ALICE, BUY, 10, P, pside=LONG)
        assert not reasons(h.new(ALICE, SELL, 10, 610_000, pside=LONG))  # close, resting above
        take(h, ALICE, SELL, 10, 599_900, pside=LONG)  # the leg is closed by another order
        assert h.pos(ALICE, pside=LONG) is None
        h.new(BOB, BUY, 10, 610_000)  # Bob lifts the stale close
        leg = h.pos(ALICE, pside=LONG)
        assert leg is None or leg.qty_lots >= 0, f"LONG leg went short: {leg!r}"
        short = h.pos(ALICE, pside=SHORT)
        assert short is None, "a LONG-side close opened a short"


class TestFees:
    def test_taker_and_maker_fees_go_to_the_fee_pool_rounded_up(self) -> None:
        """Both sides pay their fee, rounded up, from the wallet into the fee pool."""
        h = funded(ETH, accounts=(ALICE, BOB))
        h.new(BOB, SELL, 7, 300_001, symbol="ETHUSDT")  # Bob rests 0.007 ETH at 3000.01
        events = h.new(ALICE, BUY, 7, 300_001, symbol="ETHUSDT")
        assert not reasons(events)
        # ETHUSDT atpl 1_000: notional 300_001 * 7 * 1_000 = 2,100,007,000
        # taker ceil(2,100,007,000 * 50_000 / 1e8) = ceil(1,050,003.5) = 1,050,004
        # maker ceil(2,100,007,000 * 20_000 / 1e8) = ceil(420,001.4)   =   420,002
        assert h.ledger.fee_pool_atoms == 1_050_004 + 420_002
        assert h.wallet(ALICE) == W0 - 1_050_004
        assert h.wallet(BOB) == W0 - 420_002
        assert (h.acct(ALICE).fees_atoms, h.acct(BOB).fees_atoms) == (1_050_004, 420_002)
        a, b = h.pos(ALICE, "ETHUSDT"), h.pos(BOB, "ETHUSDT")
        assert a is not None and b is not None
        assert (a.fees_atoms, b.fees_atoms) == (1_050_004, 420_002)
        # fees are not PnL
        assert (a.realized_pnl_atoms, b.realized_pnl_atoms) == (0, 0)

    def test_replayed_counterparty_pays_no_fee(self) -> None:
        """Against replayed liquidity only the simulated taker pays; EXTERNAL pays nothing."""
        h = funded()
        take(h, ALICE, BUY, 10, P)
        assert h.ledger.fee_pool_atoms == taker_fee(P, 10) == 30_000_000
        assert h.ledger.external.wallet_atoms == 0

    def test_realized_pnl_excludes_fees(self) -> None:
        """A round trip at one price realizes 0 and costs exactly the two fees."""
        h = funded()
        take(h, ALICE, BUY, 10, P)
        take(h, ALICE, SELL, 10, P)
        assert h.acct(ALICE).realized_pnl_atoms == 0
        assert h.wallet(ALICE) == W0 - 2 * taker_fee(P, 10)
        assert h.ledger.fee_pool_atoms == 2 * taker_fee(P, 10)


class TestIsolatedBucket:
    def isolated(self, leverage: int) -> LedgerHarness:
        # no liquidation engine: these tests close voluntarily, some of them below bankruptcy
        h = funded(liquidations=False)
        h.margin_mode(ALICE, ISOLATED)
        h.leverage(ALICE, leverage)
        return h

    def test_open_moves_ceil_initial_margin_from_the_wallet(self) -> None:
        """Opening moves ceil(notional / leverage) from the wallet into the bucket."""
        h = self.isolated(7)
        events = take(h, ALICE, BUY, 10, P)
        pos = h.pos(ALICE)
        assert pos is not None and pos.isolated
        # 60,000,000,000 / 7 = 8,571,428,571.43 -> ceil 8,571,428,572
        assert pos.margin_atoms == 8_571_428_572
        assert h.wallet(ALICE) == W0 - 8_571_428_572 - taker_fee(P, 10)
        assert position_event(events, ALICE).margin_atoms == 8_571_428_572

    def test_increase_adds_initial_margin_of_the_increase(self) -> None:
        """An increase funds ceil(its notional / leverage) on top of the bucket."""
        h = self.isolated(7)
        take(h, ALICE, BUY, 10, P)
        take(h, ALICE, BUY, 5, 601_000)
        pos = h.pos(ALICE)
        assert pos is not None
        # 30,050,000,000 / 7 = 4,292,857,142.86 -> 4,292,857,143; bucket 12,864,285,715
        assert pos.margin_atoms == 8_571_428_572 + 4_292_857_143

    def test_partial_close_releases_floor_of_proportional_margin(self) -> None:
        """A partial close adds its PnL to the bucket and releases floor(bucket * closed / size)."""
        h = self.isolated(7)
        take(h, ALICE, BUY, 10, P)
        take(h, ALICE, BUY, 5, 601_000)
        wallet = h.wallet(ALICE)
        take(h, ALICE, SELL, 4, 610_000)
        pos = h.pos(ALICE)
        assert pos is not None
        # pnl +386,666,667 (see the cross test); bucket 12,864,285,715 + 386,666,667 = 13,250,952,382
        # release floor(13,250,952,382 * 4 / 15) = floor(3,533,587,301.87) = 3,533,587,301
        assert pos.margin_atoms == 13_250_952_382 - 3_533_587_301  # 9,717,365,081
        assert h.wallet(ALICE) == wallet + 3_533_587_301 - taker_fee(610_000, 4)
        assert pos.realized_pnl_atoms == 386_666_667

    def test_full_close_releases_the_whole_bucket(self) -> None:
        """Closing the rest releases bucket + PnL; overall the wallet moved by exactly PnL − fees."""
        h = self.isolated(7)
        take(h, ALICE, BUY, 10, P)
        take(h, ALICE, BUY, 5, 601_000)
        take(h, ALICE, SELL, 4, 610_000)
        wallet = h.wallet(ALICE)
        take(h, ALICE, SELL, 11, 590_000)
        # pnl -1,136,666,667; release 9,717,365,081 - 1,136,666,667 = 8,580,698,414
        assert h.pos(ALICE) is None
        assert h.wallet(ALICE) == wallet + 8_580_698_414 - taker_fee(590_000, 11)
        fees = taker_fee(P, 10) + taker_fee(601_000, 5) + taker_fee(610_000, 4) + taker_fee(590_000, 11)
        assert h.wallet(ALICE) == W0 - 750_000_000 - fees

    def test_loss_beyond_the_bucket_on_a_voluntary_close_is_capped_at_the_bucket(self) -> None:
        """Closing below bankruptcy loses the bucket, not the wallet: the fund takes the excess."""
        h = self.isolated(20)
        take(h, ALICE, BUY, 10, P)  # bucket 60,000,000,000 / 20 = 3,000,000,000
        pos = h.pos(ALICE)
        assert pos is not None and pos.margin_atoms == 3_000_000_000
        wallet = h.wallet(ALICE)
        fund, uncovered = h.ledger.insurance_fund_atoms, h.ledger.uncovered_loss_atoms
        take(h, ALICE, SELL, 10, 565_000)
        # pnl (565_000 - 600_000) * 10 * 10_000 = -3,500,000,000; bucket 3e9 - 3.5e9 = -500,000,000:
        # nothing comes back, and the 500,000,000 deficit is the fund's (uncovered when it is empty)
        assert h.wallet(ALICE) == wallet - taker_fee(565_000, 10)
        covered = fund - h.ledger.insurance_fund_atoms
        assert covered + (h.ledger.uncovered_loss_atoms - uncovered) == 500_000_000

    def test_partial_close_of_an_underwater_bucket_releases_nothing(self) -> None:
        """A partial close that leaves bucket + PnL <= 0 releases nothing; the final close settles it."""
        h = self.isolated(20)
        take(h, ALICE, BUY, 10, P)
        wallet = h.wallet(ALICE)
        take(h, ALICE, SELL, 5, 535_000)
        # pnl 5 * (535_000 - 600_000) * 10_000 = -3,250,000,000 -> bucket -250,000,000, release 0
        pos = h.pos(ALICE)
        assert pos is not None and pos.margin_atoms == -250_000_000
        assert h.wallet(ALICE) == wallet - taker_fee(535_000, 5)
        take(h, ALICE, SELL, 5, 535_000)
        # another -3,250,000,000: bucket -3,500,000,000 at the close; the loss is capped at the
        # 3,000,000,000 bucket (the fund takes the 3,500,000,000 deficit), the wallet pays fees only
        assert h.pos(ALICE) is None
        assert h.wallet(ALICE) == W0 - 3_000_000_000 - taker_fee(P, 10) - 2 * taker_fee(535_000, 5)

    def test_flip_releases_the_old_bucket_and_funds_the_new(self) -> None:
        """A flip releases bucket + PnL of the closed side and funds the new side's initial margin."""
        h = self.isolated(10)
        take(h, ALICE, BUY, 10, P)  # bucket 6,000,000,000
        take(h, ALICE, SELL, 25, 610_000)
        pos = h.pos(ALICE)
        assert pos is not None
        # close 10: +1,000,000,000 -> 7,000,000,000 released; open 15 short: 91,500,000,000 / 10
        assert (pos.qty_lots, pos.margin_atoms) == (-15, 9_150_000_000)
        assert h.wallet(ALICE) == (
            W0 - 6_000_000_000 + 7_000_000_000 - 9_150_000_000 - taker_fee(P, 10) - taker_fee(610_000, 25)
        )

    def test_hedge_legs_have_separate_buckets(self) -> None:
        """In hedge mode the LONG and SHORT legs each have their own bucket."""
        h = self.isolated(10)
        h.hedge(ALICE)
        take(h, ALICE, BUY, 10, P, pside=LONG)  # 6,000,000,000
        take(h, ALICE, SELL, 5, P, pside=SHORT)  # 3,000,000,000
        long_, short = h.pos(ALICE, pside=LONG), h.pos(ALICE, pside=SHORT)
        assert long_ is not None and short is not None
        assert (long_.margin_atoms, short.margin_atoms) == (6_000_000_000, 3_000_000_000)
        take(h, ALICE, SELL, 10, 590_000, pside=LONG)
        # LONG closes at -1,000,000,000: 5,000,000,000 back to the wallet; SHORT untouched
        short = h.pos(ALICE, pside=SHORT)
        assert short is not None and short.margin_atoms == 3_000_000_000
        assert h.pos(ALICE, pside=LONG) is None
        assert h.wallet(ALICE) == W0 - 1_000_000_000 - 3_000_000_000 - taker_fee(P, 15) - taker_fee(590_000, 10)

    def test_maker_opening_an_isolated_position_funds_its_bucket(self) -> None:
        """A resting isolated order that fills as maker funds the bucket from the wallet too."""
        h = funded(accounts=(ALICE, BOB))
        h.margin_mode(BOB, ISOLATED)
        h.leverage(BOB, 3)
        h.new(BOB, SELL, 10, P)
        h.new(ALICE, BUY, 10, P)
        pos = h.pos(BOB)
        assert pos is not None and pos.qty_lots == -10
        # 60,000,000,000 / 3 = 20,000,000,000; maker fee 600_000 * 10 * 2 = 12,000,000
        assert pos.margin_atoms == 20_000_000_000
        assert h.wallet(BOB) == W0 - 20_000_000_000 - 12_000_000
        assert h.held(BOB) == 0


class TestPositionEvents:
    def test_position_changed_carries_cumulative_realized_pnl(self) -> None:
        """Each PositionChanged reports the position's realized PnL so far; the close reports qty 0."""
        h = funded()
        tracker = RealizedFromEvents()
        h.ex.sinks.append(tracker)
        take(h, ALICE, BUY, 10, P)
        take(h, ALICE, SELL, 4, 610_000)  # +400,000,000
        take(h, ALICE, SELL, 6, 590_000)  # -600,000,000
        tracker.check(h.ledger)
        assert h.acct(ALICE).realized_pnl_atoms == -200_000_000

    def test_flip_across_two_makers_reports_the_closed_pnl(self) -> None:
        """A taker sweep that closes the position on one maker and reopens it on the next still reports the closed part's realized PnL."""
        h = funded(accounts=(ALICE, BOB, CAROL))
        tracker = RealizedFromEvents()
        h.ex.sinks.append(tracker)
        take(h, ALICE, BUY, 10, P)
        h.new(BOB, BUY, 10, 599_000)
        h.new(CAROL, BUY, 10, 598_000)
        h.new(ALICE, SELL, 20, 598_000, tif=IOC)
        # first fill closes the long: 10 * (599_000 - 600_000) * 10_000 = -100,000,000;
        # the second opens a new short of 10 at 598_000
        assert h.acct(ALICE).realized_pnl_atoms == -100_000_000
        pos = h.pos(ALICE)
        assert pos is not None and (pos.qty_lots, pos.cost_atoms) == (-10, 59_800_000_000)
        tracker.check(h.ledger)

    def test_self_trade_that_closes_and_reopens_a_leg_reports_the_closed_pnl(self) -> None:
        """A hedge close that trades against the account's own resting LONG buy still reports the closed leg's realized PnL."""
        h = funded()
        tracker = RealizedFromEvents()
        h.ex.sinks.append(tracker)
        h.hedge(ALICE)
        take(h, ALICE, BUY, 10, P, pside=LONG)
        h.new(ALICE, BUY, 10, 599_000, pside=LONG)  # rests: opens more LONG when filled
        h.new(ALICE, SELL, 10, 599_000, tif=IOC, pside=LONG)  # closes the leg against it (no STP)
        # the close realizes 10 * (599_000 - 600_000) * 10_000 = -100,000,000; the maker side
        # opens a new LONG leg of 10 at 599_000
        assert h.acct(ALICE).realized_pnl_atoms == -100_000_000
        leg = h.pos(ALICE, pside=LONG)
        assert leg is not None and (leg.qty_lots, leg.cost_atoms) == (10, 59_900_000_000)
        tracker.check(h.ledger)


class TestRejects:
    def test_unknown_account_commands_are_refused(self) -> None:
        """Commands for the EXTERNAL account id are refused with INVALID_ACCOUNT."""
        h = funded()
        assert reasons(h.deposit(EXTERNAL, USDT)) == [RejectReason.INVALID_ACCOUNT]
        assert reasons(h.new(EXTERNAL, BUY, 2, P)) == [RejectReason.INVALID_ACCOUNT]
