"""Funding (MARGIN-SPEC §6): schedule, premium index, rate, and zero-sum settlement.

Pieces, each usable alone:

- :func:`next_funding_time_ns`: the funding grid (00:00 / 08:00 / 16:00 UTC for 8 h).
- :func:`premium_index_e8`: one premium-index sample from impact bid/ask and index.
- :class:`PremiumAverager`: streaming, constant-memory average of the premium index over
  each funding interval (Binance's linearly weighted average by default).
- :func:`funding_rate_e8`: ``F = P + clamp(I - P, -0.05 %, +0.05 %)``, then the per-symbol cap.
- :func:`funding_payments`: each position's payment ``Q * MP * rate`` in atoms, rounded so
  the settlement is exactly zero-sum with a non-negative dust residual
  (:class:`FundingSettlement`).

Rates are parts per 1e8 (``_e8``): 0.01 % = ``10_000``, 0.05 % = ``50_000``,
0.75 % = ``750_000``. A positive rate means longs pay shorts.

Binance's interest component is 0.03 % a day, i.e. 0.01 % per 8 h; for a symbol with
another funding interval pass the matching ``interest_e8`` (0.005 % = ``5_000`` for 4 h).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Final, Generic, TypeVar

import attrs

from exsim.errors import InputError, StateError
from exsim.units import (
    NS_PER_SECOND,
    RATE_SCALE,
    ceil_div,
    floor_div,
    mul_div_ceil,
    mul_div_floor,
    ATOMS_E8_PER_ATOM,
    rate_floor_e8,
)

if TYPE_CHECKING:
    from exsim.instruments import Instrument

__all__ = [
    "DEFAULT_INTEREST_E8",
    "DEFAULT_CLAMP_E8",
    "DEFAULT_PREMIUM_SAMPLE_INTERVAL_NS",
    "LINEAR",
    "EQUAL",
    "FundingSettlement",
    "PremiumAverager",
    "funding_payments",
    "funding_rate_e8",
    "instrument_funding_payments",
    "next_funding_time_ns",
    "premium_index_e8",
]

#: Interest component I: 0.01 % per 8 h interval (Binance: 0.03 % a day).
DEFAULT_INTEREST_E8: Final[int] = 10_000
#: Half-width of the clamp on ``I - P``: 0.05 %.
DEFAULT_CLAMP_E8: Final[int] = 50_000
#: Premium index sampling (Binance: every 5 s, 5,760 samples per 8 h).
DEFAULT_PREMIUM_SAMPLE_INTERVAL_NS: Final[int] = 5 * NS_PER_SECOND

#: :class:`PremiumAverager` weighting: the i-th sample of an interval weighs i (Binance).
LINEAR: Final = "linear"
#: :class:`PremiumAverager` weighting: every sample weighs 1 (plain mean).
EQUAL: Final = "equal"

K = TypeVar("K", bound=Hashable)


# --------------------------------------------------------------------------- schedule


def next_funding_time_ns(
    ts_ns: int, interval_ns: int, anchor_ns: int = 0, *, inclusive: bool = False
) -> int:
    """The first funding time strictly after ``ts_ns`` (at or after it if ``inclusive``).

    Funding times are ``anchor_ns + k * interval_ns`` for every integer k; with the epoch
    anchor and an 8 h interval they are 00:00, 08:00 and 16:00 UTC. Exact, O(1).

    >>> H = 3_600_000_000_000
    >>> next_funding_time_ns(0, 8 * H) // H, next_funding_time_ns(1, 8 * H) // H
    (8, 8)
    >>> next_funding_time_ns(8 * H, 8 * H) // H
    16
    >>> next_funding_time_ns(8 * H, 8 * H, inclusive=True) // H
    8
    >>> next_funding_time_ns(23 * H, 8 * H) // H  # the next day's 00:00
    24
    >>> next_funding_time_ns(5 * H, 4 * H, anchor_ns=2 * H) // H
    6
    """
    if interval_ns <= 0:
        raise InputError(f"{interval_ns} must be > 0", field="interval_ns")
    if inclusive:
        return anchor_ns + ceil_div(ts_ns - anchor_ns, interval_ns) * interval_ns
    return anchor_ns + (floor_div(ts_ns - anchor_ns, interval_ns) + 1) * interval_ns


# --------------------------------------------------------------------------- premium


def premium_index_e8(impact_bid_subticks: int, impact_ask_subticks: int, index_subticks: int) -> int:
    """Premium index ``(max(0, IB - I) - max(0, I - IA)) / I`` in parts per 1e8,
    **rounded toward zero**.

    Toward zero because the premium feeds a payment between longs and shorts: truncation
    never overstates it in either direction and treats a premium and the equal discount
    alike (``premium(-x) == -premium(x)``).

    The ratio is scale-free, so any common unit works; the exchange passes subticks (the
    index is finer than the tick; the book's impact prices are converted exactly).
    Impact prices are average fill prices and rarely on any grid: a caller can pass them
    exactly as notionals together with the index scaled to the same size.
    ``index_subticks`` must be > 0. O(1).

    >>> premium_index_e8(60_006, 60_008, 60_000)     # bid above index: +0.01 %
    10000
    >>> premium_index_e8(59_990, 59_994, 60_000)     # ask below index: -0.01 %
    -10000
    >>> premium_index_e8(59_999, 60_001, 60_000)     # index inside the spread
    0
    >>> premium_index_e8(7, 8, 3), premium_index_e8(1, 2, 3)  # 4/3 and -1/3, truncated
    (133333333, -33333333)
    """
    if index_subticks <= 0:
        raise InputError(f"{index_subticks} must be > 0", field="index_subticks")
    num = max(0, impact_bid_subticks - index_subticks) - max(0, index_subticks - impact_ask_subticks)
    if num >= 0:
        return mul_div_floor(num, RATE_SCALE, index_subticks)
    return mul_div_ceil(num, RATE_SCALE, index_subticks)


def _toward_zero_div(num: int, den: int) -> int:
    """``num / den`` rounded toward zero, ``den > 0`` (via the units helpers)."""
    return floor_div(num, den) if num >= 0 else ceil_div(num, den)


class PremiumAverager:
    """Average premium index P of each funding interval, streaming, constant memory.

    **Sampling.** Samples sit on the grid ``anchor_ns + k * sample_interval_ns`` (the
    funding grid refined; ``sample_interval_ns`` must divide ``interval_ns``). The sample
    stamped ``t`` is the premium index in force just before ``t`` (the latest
    :meth:`on_premium` with timestamp ``< t``, carried forward across grid points with no
    update), i.e. the close of the bucket ``[t - sample_interval, t)``. A funding interval
    ``(T - interval, T]`` owns the samples stamped in it, so its buckets tile
    ``[T - interval, T)`` exactly: 5,760 samples per 8 h at the 5 s default. Grid points
    before the first :meth:`on_premium` have no sample.

    **Weighting.** ``LINEAR`` (default, Binance's "time-weighted average" of its premium
    samples): the i-th sample of the interval weighs i, so later samples count more,
    ``P = sum(i * p_i) / sum(i)``. ``EQUAL``: the plain mean. Only three running integers
    are kept (count, weighted sum, total weight); the weight of a run of ``n`` equal
    samples is added in closed form, so a long gap costs O(1) per interval it spans.

    **Rounding.** P is the exact weighted mean rounded **toward zero** to parts per 1e8 (as
    :func:`premium_index_e8`).

    **Source.** ``replayed`` False (default): the owner feeds its own samples (the
    exchange: one from its book at each index update, :func:`premium_index_e8`). True:
    the premium index is the venue's, replayed (Binance ``premiumIndexKlines``), and only
    those values are fed — a book sample taken a moment after a replayed one would replace
    it, and the average would be the book's whatever the file says.

    Feed in timestamp order (non-decreasing ``ts_ns``; going back raises ``ValueError``).
    At each funding time ``T`` call :meth:`settle` to get P of the interval ending at
    ``T``; if a boundary passes without :meth:`settle` the interval is closed anyway and
    its P kept until the next one closes (so :meth:`settle` may come late by less than one
    interval).
    """

    __slots__ = (
        "interval_ns",
        "sample_interval_ns",
        "anchor_ns",
        "weighting",
        "replayed",
        "_spp",
        "_linear",
        "_ts_ns",
        "_premium_e8",
        "_next_k",
        "_period_end_k",
        "_count",
        "_wsum",
        "_wtotal",
        "_last_end_k",
        "_last_avg_e8",
    )

    def __init__(
        self,
        interval_ns: int,
        *,
        sample_interval_ns: int = DEFAULT_PREMIUM_SAMPLE_INTERVAL_NS,
        anchor_ns: int = 0,
        weighting: str = LINEAR,
    ) -> None:
        """``interval_ns``: the funding interval; ``sample_interval_ns`` must divide it;
        ``anchor_ns``: a funding time; ``weighting``: ``LINEAR`` or ``EQUAL``."""
        for name, value in (
            ("interval_ns", interval_ns),
            ("sample_interval_ns", sample_interval_ns),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InputError(f"{value!r} must be a positive int (ns)", field=name)
        if interval_ns % sample_interval_ns:
            raise InputError(
                f"{sample_interval_ns} does not divide interval_ns {interval_ns}",
                field="sample_interval_ns",
            )
        if weighting not in (LINEAR, EQUAL):
            raise InputError(f"{weighting!r} is not {LINEAR!r} or {EQUAL!r}", field="weighting")
        self.interval_ns: Final = interval_ns
        self.sample_interval_ns: Final = sample_interval_ns
        self.anchor_ns: Final = anchor_ns
        self.weighting: Final = weighting
        #: the premium index comes from replayed rows: owners feed no samples of their own
        self.replayed = False
        self._spp: Final = interval_ns // sample_interval_ns  # samples per interval
        self._linear: Final = weighting == LINEAR
        self._ts_ns: int | None = None
        self._premium_e8: int | None = None
        self._next_k: int | None = None  # grid index of the next sample
        self._period_end_k: int | None = None  # grid index of the open interval's end
        self._count = 0  # samples in the open interval
        self._wsum = 0  # sum of weight * premium_e8
        self._wtotal = 0  # sum of weights
        self._last_end_k: int | None = None  # the last closed interval: its end ...
        self._last_avg_e8: int | None = None  # ... and its P (None if it had no sample)

    def _close(self) -> None:
        """Close the open interval: remember its P, start empty."""
        self._last_end_k = self._period_end_k
        self._last_avg_e8 = (
            _toward_zero_div(self._wsum, self._wtotal) if self._count else None
        )
        self._period_end_k = None
        self._count = self._wsum = self._wtotal = 0

    def _advance(self, ts_ns: int) -> None:
        """Take every pending sample stamped ``<= ts_ns`` (state before ``ts_ns``'s update).

        O(1 + number of interval boundaries crossed)."""
        prev = self._ts_ns
        if prev is not None and ts_ns < prev:
            raise InputError(
                f"timestamp {ts_ns} is before the previous update at {prev}", field="ts_ns"
            )
        self._ts_ns = ts_ns
        k = self._next_k
        if k is None:
            return
        last_k = floor_div(ts_ns - self.anchor_ns, self.sample_interval_ns)
        if k > last_k:
            return
        v = self._premium_e8
        assert v is not None
        spp = self._spp
        linear = self._linear
        while k <= last_k:
            end_k = ceil_div(k, spp) * spp  # the interval that owns sample k ends there
            if self._period_end_k != end_k:
                if self._period_end_k is not None:
                    self._close()
                self._period_end_k = end_k
            hi = last_k if last_k < end_k else end_k
            n = hi - k + 1
            c = self._count
            # weights c+1 .. c+n (linear) or n ones (equal)
            w = n * c + n * (n + 1) // 2 if linear else n
            self._wsum += w * v
            self._wtotal += w
            self._count = c + n
            k = hi + 1
        self._next_k = k

    def on_premium(self, ts_ns: int, premium_e8: int) -> None:
        """A new premium index value (parts per 1e8) in force from ``ts_ns``.

        O(1 + number of funding boundaries crossed since the previous call)."""
        self._advance(ts_ns)
        if self._next_k is None:
            self._next_k = floor_div(ts_ns - self.anchor_ns, self.sample_interval_ns) + 1
        self._premium_e8 = premium_e8

    def estimate_e8(self, ts_ns: int) -> int | None:
        """P of the samples taken so far in the open interval (the running estimate behind
        a "predicted funding rate"), rounded toward zero; None if it has none yet.
        Advances the clock to ``ts_ns``. O(1 + boundaries crossed)."""
        self._advance(ts_ns)
        if not self._count:
            return None
        return _toward_zero_div(self._wsum, self._wtotal)

    def settle(self, funding_ts_ns: int) -> int | None:
        """Close the interval ending at the funding time ``funding_ts_ns`` and return its P
        (parts per 1e8, toward zero), or None if it holds no sample.

        ``funding_ts_ns`` must be on the funding grid and not older than the last interval
        already closed; calling it again for the same time returns the same P. Advances
        the clock to ``funding_ts_ns``. O(1 + boundaries crossed).
        """
        off = funding_ts_ns - self.anchor_ns
        if off % self.interval_ns:
            raise InputError(
                f"{funding_ts_ns} is not a funding time (anchor {self.anchor_ns}, "
                f"interval {self.interval_ns})",
                field="funding_ts_ns",
            )
        end_k = off // self.sample_interval_ns
        if self._last_end_k is not None and end_k < self._last_end_k:
            raise InputError(
                f"the interval ending at {funding_ts_ns} was closed and replaced by a "
                "later one; settle each funding time before the next one passes",
                field="funding_ts_ns",
            )
        if self._ts_ns is None or funding_ts_ns >= self._ts_ns:
            self._advance(funding_ts_ns)
        if self._period_end_k == end_k:
            self._close()
        if self._last_end_k == end_k:
            return self._last_avg_e8
        # No sample of that interval exists (nothing fed before it ended): record it as
        # closed and empty so that a repeated call answers the same.
        self._last_end_k, self._last_avg_e8 = end_k, None
        return None

    @property
    def sample_count(self) -> int:
        """Samples in the open interval as of the latest timestamp seen."""
        return self._count

    def _check(self) -> None:
        """Running sums match the sample count and weighting; the clock is consistent. O(1)."""
        c = self._count
        if not 0 <= c <= self._spp:
            raise StateError(f"{c} samples in an interval of {self._spp}")
        want = c * (c + 1) // 2 if self._linear else c
        if self._wtotal != want:
            raise StateError(f"total weight {self._wtotal} != {want} for {c} samples")
        if c == 0 and self._wsum != 0:
            raise StateError(f"weighted sum {self._wsum} with no sample")
        if (self._next_k is None) != (self._premium_e8 is None):
            raise StateError("sampling clock and premium disagree on having started")
        if self._next_k is not None:
            assert self._ts_ns is not None
            want_k = floor_div(self._ts_ns - self.anchor_ns, self.sample_interval_ns) + 1
            if self._next_k != want_k:
                raise StateError(f"next sample {self._next_k} != {want_k} at {self._ts_ns}")
        end_k = self._period_end_k
        if end_k is not None:
            if end_k % self._spp:
                raise StateError(f"interval end {end_k} is not on the funding grid")
            if c == 0:
                raise StateError("an open interval without samples")
            assert self._next_k is not None
            last_taken = self._next_k - 1
            if not end_k - self._spp < last_taken <= end_k:
                raise StateError(f"last sample {last_taken} outside interval ending {end_k}")
            if c > last_taken - (end_k - self._spp):
                raise StateError(f"{c} samples but only {last_taken - end_k + self._spp} slots")
        elif c:
            raise StateError(f"{c} samples with no open interval")
        if self._last_end_k is not None and end_k is not None and self._last_end_k >= end_k:
            raise StateError("the last closed interval is not before the open one")


# --------------------------------------------------------------------------- rate


def funding_rate_e8(
    premium_avg_e8: int,
    interest_e8: int = DEFAULT_INTEREST_E8,
    clamp_e8: int = DEFAULT_CLAMP_E8,
    cap_e8: int | None = None,
    floor_e8: int | None = None,
    premium_divisor: int = 1,
) -> int:
    """Funding rate ``F = P + clamp(I - P, -clamp, +clamp)``, then capped into
    ``[floor, cap]``; parts per 1e8. Exact (integers only, nothing to round). O(1).

    ``cap_e8`` is the per-symbol cap (None: no cap); ``floor_e8`` defaults to ``-cap_e8``.
    With the defaults (I = 0.01 %, clamp 0.05 %) any P in [-0.04 %, +0.06 %] gives F = I.
    ``premium_divisor``: an hourly venue pays an eighth of the 8-hour rate each hour
    (Hyperliquid, dYdX): P is divided by 8 (rounded toward zero) and ``interest_e8`` /
    ``clamp_e8`` are given per hour already.

    >>> hourly = dict(interest_e8=1_250, clamp_e8=6_250, premium_divisor=8)
    >>> funding_rate_e8(8_000, **hourly), funding_rate_e8(80_000, **hourly)  # (0.08 % − 0.05 %) / 8
    (1250, 3750)

    >>> funding_rate_e8(10_000)                    # P 0.01 %: F = I = 0.01 %
    10000
    >>> funding_rate_e8(-40_000), funding_rate_e8(60_000)   # the edges of F = I
    (10000, 10000)
    >>> funding_rate_e8(200_000, cap_e8=750_000)   # P 0.2 %: 0.2 % - 0.05 % = 0.15 %
    150000
    >>> funding_rate_e8(1_000_000, cap_e8=750_000)  # P 1 %: 0.95 %, capped at 0.75 %
    750000
    >>> funding_rate_e8(-200_000), funding_rate_e8(-1_000_000, cap_e8=750_000)
    (-150000, -750000)
    """
    if clamp_e8 < 0:
        raise InputError(f"{clamp_e8} must be >= 0", field="clamp_e8")
    if floor_e8 is None and cap_e8 is not None:
        floor_e8 = -cap_e8
    if cap_e8 is not None and floor_e8 is not None and floor_e8 > cap_e8:
        raise InputError(f"floor {floor_e8} is above cap {cap_e8}", field="floor_e8")
    if premium_divisor != 1:
        premium_avg_e8 = _toward_zero_div(premium_avg_e8, premium_divisor)
    diff = interest_e8 - premium_avg_e8
    if diff > clamp_e8:
        diff = clamp_e8
    elif diff < -clamp_e8:
        diff = -clamp_e8
    rate = premium_avg_e8 + diff
    if cap_e8 is not None and rate > cap_e8:
        rate = cap_e8
    if floor_e8 is not None and rate < floor_e8:
        rate = floor_e8
    return rate


# --------------------------------------------------------------------------- settlement


@attrs.frozen(slots=True)
class FundingSettlement(Generic[K]):
    """The outcome of one funding settlement of one instrument. Immutable message.

    - ``amounts``: ``(key, amount_atoms)`` per input position, in input order; the amount
      is the signed change to that account's (or isolated bucket's) balance: negative =
      pays, positive = receives, 0 for a flat position or a zero rate.
    - ``dust_atoms`` (>= 0): what rounding kept back; the caller credits it to the
      insurance fund. ``sum(amounts) + dust_atoms == 0``.
    - ``paid_atoms`` / ``received_atoms``: totals of the payers and the receivers
      (``paid - received == dust``).
    - ``positions``, ``mark_subticks``, ``lot_size_e8``, ``rate_e8``: the inputs, so
      :meth:`_check` can verify every amount.
    """

    rate_e8: int
    mark_subticks: int
    lot_size_e8: int
    positions: tuple[tuple[K, int], ...]
    amounts: tuple[tuple[K, int], ...]
    dust_atoms: int
    paid_atoms: int
    received_atoms: int
    #: inverse instruments: the face of a lot × 1e24 (the coin value of a lot at a subtick
    #: price p is ``face / p`` 1e-8 atoms; ``lot_size_e8`` is then unused); 0 for linear
    inverse_face_e8: int = 0

    def by_key(self) -> dict[K, int]:
        """``{key: amount_atoms}`` in input order. O(n)."""
        return dict(self.amounts)

    def _check(self) -> None:
        """Zero-sum, every amount within one atom below its exact value, dust bounded. O(n).

        Exact value of position q: ``-q * mark * lot_size_e8 * rate / 1e16`` atoms
        (inverse: ``-q * face / mark * rate / 1e16``).
        """
        if len(self.amounts) != len(self.positions):
            raise StateError(f"{len(self.amounts)} amounts for {len(self.positions)} positions")
        total = paid = received = fractional = 0
        if self.inverse_face_e8:
            unit = self.inverse_face_e8 * self.rate_e8
            den = RATE_SCALE * ATOMS_E8_PER_ATOM * self.mark_subticks
        else:
            unit = self.mark_subticks * self.lot_size_e8 * self.rate_e8
            den = RATE_SCALE * ATOMS_E8_PER_ATOM
        for (key, qty), (akey, amount) in zip(self.positions, self.amounts):
            if key != akey:
                raise StateError(f"amount for {akey!r} where {key!r} was expected")
            exact = Fraction(-qty * unit, den)
            if not exact - 1 < amount <= exact:
                raise StateError(f"{key!r}: amount {amount} is not floor of exact {exact}")
            if exact.denominator != 1:
                fractional += 1
            total += amount
            if amount < 0:
                paid -= amount
            else:
                received += amount
        if total + self.dust_atoms != 0:
            raise StateError(f"sum of amounts {total} + dust {self.dust_atoms} != 0")
        if (paid, received) != (self.paid_atoms, self.received_atoms):
            raise StateError(
                f"totals paid {self.paid_atoms} received {self.received_atoms}, "
                f"recomputed {paid} and {received}"
            )
        if not 0 <= self.dust_atoms <= max(0, fractional - 1):
            raise StateError(
                f"dust {self.dust_atoms} outside [0, {max(0, fractional - 1)}] for "
                f"{fractional} fractional amounts"
            )


def funding_payments(
    positions: Sequence[tuple[K, int]],
    mark_subticks: int,
    lot_size_e8: int,
    rate_e8: int,
) -> FundingSettlement[K]:
    """Settle funding on every position of one instrument: ``Q * MP * rate`` in atoms.

    ``positions``: ``(key, signed_qty_lots)`` pairs, long > 0, short < 0, each key once
    (hedge mode: key the LONG and SHORT legs separately, e.g. ``(account, side)``). They
    must be **every** position of the instrument, including the anonymous external market
    account, so that they net to zero (longs == shorts); otherwise payers' and receivers'
    totals differ by more than rounding and ``ValueError`` is raised.

    **Sign.** A positive rate: longs pay shorts; a negative rate: shorts pay longs. The
    exact change to a position's balance is ``e = -qty * mark * lot_size_e8 * rate / 1e16``
    atoms (the mark in subticks, 1e-8 of the quote asset: the notional at the venue's
    mark is exact in 1e-8 atoms, and only the booked payment is rounded).

    **Rounding.** Every amount is ``floor(e)`` (:func:`exsim.units.rate_floor_e8`): a payer
    pays ``ceil(|e|)``, a receiver gets ``floor(e)``; rounding never favours a trader.

    **Zero-sum and the dust bound.** ``dust = -sum(floor(e_i)) = sum(e_i - floor(e_i))``
    because ``sum(e_i) = 0`` when the quantities net to zero. Each term is in
    ``[0, 1)`` and is 0 when ``e_i`` is a whole number of atoms, so with ``m`` the number
    of fractional ``e_i``, ``0 <= dust < m``; dust is an integer, hence
    ``0 <= dust <= max(0, m - 1)`` — fewer atoms than there are positions, e.g. at most
    one atom when two positions settle. (A tighter bound in the receivers' count alone
    does not exist: payers' rounding up contributes too.) The caller credits the dust to
    the insurance fund, so ``sum(amounts) + dust == 0`` and no atom is created or lost.

    ``mark_subticks`` (the mark at the funding time: settlement runs at priority 3, after
    that timestamp's mark update, DESIGN §4) and ``lot_size_e8`` must be > 0. O(n).

    >>> s = funding_payments([("A", 3), ("B", -1), ("C", -2)], 3, 100_000_000, 33_333_333)
    >>> s.amounts, s.dust_atoms        # exact: -3, +1, +2 times 0.99999999
    ((('A', -3), ('B', 0), ('C', 1)), 2)
    >>> # BTC 60,000.0, 1 lot = 0.001 BTC = 60 USDT, rate 0.01 %: 0.006 USDT
    >>> funding_payments([("long", 1), ("short", -1)], 6_000_000_000_000, 100_000, 10_000).amounts
    (('long', -600000), ('short', 600000))
    >>> # XRP at the fine mark 0.52345 (lot 0.1): 1000 XRP long pays 0.052345 USDT, exact
    >>> funding_payments([("long", 10_000), ("short", -10_000)], 52_345_000, 10_000_000, 10_000).amounts
    (('long', -5234500), ('short', 5234500))
    """
    if mark_subticks <= 0:
        raise InputError(f"{mark_subticks} must be > 0", field="mark_subticks")
    if lot_size_e8 <= 0:
        raise InputError(f"{lot_size_e8} must be > 0", field="lot_size_e8")
    return _settle(positions, mark_subticks, lot_size_e8, rate_e8, 0)


def instrument_funding_payments(
    inst: "Instrument", positions: Sequence[tuple[K, int]], mark_subticks: int, rate_e8: int
) -> FundingSettlement[K]:
    """:func:`funding_payments` for one instrument, linear or inverse; amounts in atoms of
    its margin asset. O(n).

    Linear: ``Q × MP × rate`` (as :func:`funding_payments`). Inverse (Binance COIN-M,
    https://www.binance.com/en/support/faq/introduction-to-binance-futures-funding-rates-360033525031:
    "Funding Amount = Nominal Value of Positions × Funding Rate", the nominal value of a
    COIN-M position being ``contracts × contract size / mark price`` in coin): the exact
    change is ``e = −q × face / mark × rate`` with ``face`` the face value of a lot
    (:attr:`Instrument.inverse_atoms_e8_per_lot_subtick`, so ``face / mark`` is the lot's
    value :meth:`Instrument.value_atoms_e8` before its rounding). Each amount is
    ``floor(e)`` of that exact rational, not of the margin valuation rounded up: exact
    values are linear in q, so they sum to zero and the zero-sum and dust bound of
    :func:`funding_payments` hold word for word (values rounded up per position would
    not sum to zero). The dust goes to the fund of the margin asset.

    >>> from exsim.instruments.brackets import BracketTable
    >>> from exsim.instruments import Instrument
    >>> t = BracketTable.from_tiers([("0", "50", "0.004", 125)])
    >>> btcusd = Instrument.create(symbol="BTCUSD_PERP", tick_size="0.1", lot_size="1", brackets=t,
    ...                            inverse=True, contract_size="100")
    >>> # 100 contracts (0.4 BTC) at mark 25,000, rate 0.01 %: 0.00004 BTC = 4000 sat
    >>> instrument_funding_payments(btcusd, [("long", 100), ("short", -100)], 25_000 * 10**8, 10_000).amounts
    (('long', -4000), ('short', 4000))
    """
    if not inst.inverse:
        return funding_payments(positions, mark_subticks, inst.lot_size_e8, rate_e8)
    if mark_subticks <= 0:
        raise InputError(f"{mark_subticks} must be > 0", field="mark_subticks")
    return _settle(positions, mark_subticks, inst.lot_size_e8, rate_e8, inst.inverse_atoms_e8_per_lot_subtick)


def _settle(
    positions: Sequence[tuple[K, int]], mark_subticks: int, lot_size_e8: int, rate_e8: int, inverse_face_e8: int
) -> FundingSettlement[K]:
    """The loop of :func:`funding_payments` / :func:`instrument_funding_payments`. O(n)."""
    if inverse_face_e8:
        # floor(-q × face × rate / (mark × 1e16)): the exact value of each payment, floored
        unit = inverse_face_e8 * rate_e8
        den = RATE_SCALE * ATOMS_E8_PER_ATOM * mark_subticks
    else:
        lot_notional = mark_subticks * lot_size_e8  # 1e-8 atoms per lot at the mark
    seen: set[K] = set()
    net = paid = received = 0
    rows: list[tuple[K, int]] = []
    append = rows.append
    floor_rate = rate_floor_e8  # hot loop over every position: locals bound
    for key, qty in positions:
        if key in seen:
            raise InputError(
                f"key {key!r} appears twice; give each position once", field="positions"
            )
        seen.add(key)
        net += qty
        amount = floor_div(-qty * unit, den) if inverse_face_e8 else floor_rate(-qty * lot_notional, rate_e8)
        if amount < 0:
            paid -= amount
        else:
            received += amount
        append((key, amount))
    if net:
        raise InputError(
            f"positions net to {net} lots, expected 0 (longs == shorts): pass every "
            "position of the instrument, including the external market account",
            field="positions",
        )
    return FundingSettlement(
        rate_e8=rate_e8,
        mark_subticks=mark_subticks,
        lot_size_e8=lot_size_e8,
        positions=tuple(positions),
        amounts=tuple(rows),
        dust_atoms=paid - received,
        paid_atoms=paid,
        received_atoms=received,
        inverse_face_e8=inverse_face_e8,
    )
