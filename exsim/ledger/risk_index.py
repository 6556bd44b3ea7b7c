"""Which isolated buckets and cross pools a new mark price can put at risk, without a scan.

``DESIGN.md`` §6. Per instrument and side, a heap (:class:`TriggerHeap`) holds each
watched scope's *next threshold* price:

* an **isolated bucket** is watched at its exact threshold price: the first subtick
  (1e-8 of the quote asset: marks are finer than the tick) at which
  ``ratio × margin balance ≤ maintenance margin`` holds, on the exact integers the ledger
  decides with (margin balance in 1e-8 atoms) (ratio 80 % for the margin-call
  warning until it has been given, then 100 % for liquidation). Its inputs change only
  through fills, funding and margin moves, which re-file it.
* a **cross pool** may hold several instruments, each moving on its own. Its slack to the
  next threshold is shared among its instruments in proportion to their notional; each
  instrument gets a conservative trigger price that cannot consume more than its share.
  When any trigger is crossed, the pool is evaluated exactly (O(its positions)) and
  re-filed with fresh shares. A pool is therefore never flagged later than the exact
  condition, and is flagged only when the exact condition holds.

A mark tick pops only the entries whose price it crossed: O(log N + k).

Re-filing is the hot path (every fill of a trader re-files its pool or bucket, and a
position that goes flat drops its triggers), so a withdrawn trigger is not searched for
and removed: it is left in its heap, *stale*, and recognised as such when it comes to the
top (its scope's filing record no longer lists it). Filing is a ``heappush``, withdrawing
O(1); a heap is rebuilt from its live entries once the stale ones outnumber them
(:meth:`TriggerHeap.compact`), so it never holds more than about twice what is watched.

Conservative-trigger bound: moving instrument i's mark by d subticks against the pool
changes its equity by at most ``|q_net| × d × lot_size_e8`` (1e-8 atoms) and its
maintenance margin by at most ``Σ|q_leg| × d × lot_size_e8 × MMR(end)`` plus one atom of
rounding per position (kept out of the shares), MMR taken at the end of the move (maintenance
margin is convex in notional because bracket MMRs never decrease); on an instrument
whose maintenance margin is held at its entry value (``maint_margin_basis="entry"``)
the mark does not move it at all, so only the equity term counts. A pool whose shares
add up to at most its slack cannot cross its threshold while every instrument stays
inside its trigger.

Inverse (coin-margined) instruments, Binance COIN-M
(https://www.binance.com/en/support/faq/how-to-calculate-liquidation-price-of-coin-margined-futures-contracts-b3c689c1f50a44cabb3a84e663b81d93):
a position's notional is its coin value ``contracts × contract size / price``. Isolated
thresholds stay exact integer subticks (the same monotone search on the ledger's
figures, :func:`isolated_threshold_subticks`); a cross pool's inverse legs get their
conservative triggers in value space, where the notional is linear (it is linear in
``1/price``), mapped back to a price rounded toward the mark (:func:`_inverse_triggers`).
The heaps hold prices either way, so a mark tick stays O(log N + k) whatever the
mix of linear and inverse positions.

Multi-assets accounts (issue 17; :func:`portfolio_triggers`)
------------------------------------------------------------
A trader in ``multi-assets`` collateral mode is one scope (a ``Portfolio``) over its
wallets in every asset (:mod:`exsim.ledger.collateral`). Its inputs are the marks of every
instrument it holds (each settling in its own asset) **and** the index price of every
asset it is exposed in; the account's slack at a ratio r is

    S = r × Σ_a I_a × h_a(E_a) − 1e8 × Σ_a I_a × c_a × MM_a        (usd_e40 × e8)

where ``E_a`` is the asset's equity (wallet + UPnL of its cross positions, 1e-8 atoms),
``MM_a`` its maintenance margin (atoms), ``I_a`` its index (index_usd_e8), ``h_a(E)`` the
value of E at an index of one unit (bid rate through the tiers if E ≥ 0, ask rate if E < 0:
every rate is the index times a factor, so the value at I is exactly ``I × h_a(E)``) and
``c_a = 1e8 × (1 + ask buffer)`` per index unit. The account is at r iff S ≤ 0.

Each index price gets its own key in the heaps, :func:`collateral_key` (``"@BTC"``;
prices in index_usd_e8, DOWN / UP as for a mark), so **a collateral index tick pops only
the accounts whose band it left: O(log N + k)**, like a mark tick; an account holding BTC
collateral and BTCUSDT has entries under both ``BTCUSDT`` and ``@BTC``, and a BTC move
(both feeds ticking) pops it only if one of the two leaves its band.

*Construction.* The exact slack S (> 0, else None) is split into a marks budget and an
index budget (half each; all to the indexes when there is no position). Each asset gets
an index band ``[lo_a, hi_a]`` from its share and its sensitivity (a fall costs
``r × h_a(E_a)`` per unit when E_a > 0, a rise ``1e8 × c_a × MM_a`` plus a debt's
``r × |h_a(E_a)|``). Each instrument gets a mark band from its share of the marks budget
(by USD notional) converted into its asset at the **highest ask rate of the asset's
band** (``hi_a × c_a / 1e8``: no unit of equity or requirement is worth more than that in
the band), through the cross pool's per-instrument maths (:func:`_symbol_triggers`).
Bands always hold the current price. Heuristics only: what decides is the check below.

*Verification* (:func:`_portfolio_worst_slack`, exact integers). Per asset: the lowest
equity ``E_min`` over the marks' bands (each instrument at the worse of its two band edges
and its current valuation: UPnL is linear in a linear mark and monotone in an inverse
one; where an inverse instrument has legs of both signs, less one 1e-8 atom per leg for
the rounded values that need not move together) and the highest maintenance margin
``MM_max`` (MM is non-decreasing in the notional: a linear leg's grows with the mark, an
inverse leg's with its coin value, i.e. as the mark falls; entry-basis MM is constant).
Then, since h_a is non-decreasing, for every state in the bands the asset's part of S is
``I × (r × h_a(E_a) − 1e8 × c_a × MM_a) ≥ I × k_a`` with
``k_a = r × h_a(E_min) − 1e8 × c_a × MM_max``, which is linear in I, so its least value
over ``[lo_a, hi_a]`` is ``min(lo_a × k_a, hi_a × k_a)``. The sum W of these per-asset
bounds is a lower bound of S over the whole box (the minimum of a sum is at least the
sum of the minima). If W > 0 the bands are filed: DOWN at ``lo − 1``, UP at ``hi + 1``
(no DOWN trigger that no price reaches: marks are ≥ 1, indexes ≥ 0; no UP trigger where
a rise cannot hurt — a linear net long whose MM is held at entry, an inverse instrument
with no short leg, an asset with no position, no debt and no requirement — in which case
the check uses the lower edge alone, exact by the same monotonicity). Otherwise both
budgets are halved and the bands rebuilt; after :data:`PORTFOLIO_ATTEMPTS` failures the
function returns None and the ledger evaluates the account exactly at the next event
(which happens only within a few units of rounding of the threshold).

*Never late.* While no trigger fires, every mark of an instrument the account holds is
its current valuation or inside its band, and every index inside its band, so S ≥ W > 0:
the account is not at r. Everything else that moves S re-files the account in the
ledger: fills, fees, funding, deposits and withdrawals, auto-exchange, collateral rule
changes (a haircut or buffer change re-evaluates every holder of the asset), mode
switches. A trigger that fires pops the account for the exact evaluation, which alone
decides: it is **flagged only when the exact condition holds and never later** than it.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING, Final, Iterator

from heapq import heappop, heappush

from exsim.errors import StateError
from exsim.units import ATOMS_E8_PER_ATOM, RATE_SCALE, ceil_div, floor_div, mul_div_floor

if TYPE_CHECKING:
    from exsim.instruments import Instrument
    from exsim.ledger.accounts import Account, Portfolio, Position
    from exsim.ledger.collateral import CollateralRule
    from exsim.ledger.risk_inputs import RiskInputs

#: margin ratio (maintenance margin / margin balance) of the margin-call warning, e8
DEFAULT_WARN_RATIO_E8: Final = 80_000_000
LIQUIDATION_RATIO_E8: Final = RATE_SCALE

#: the trigger of a long that is at its threshold at every positive price (an inverse long
#: with too little margin: its balance never exceeds margin + entry value): fires at any mark
ALWAYS_SUBTICKS: Final = 1 << 80

DOWN: Final = 0  # watched for a mark at or below the trigger
UP: Final = 1  # watched for a mark at or above the trigger

#: an entry of the heaps is one int, ``key << SEQ_BITS | seq``: it sorts as the
#: pair ``(key, seq)`` would (``0 < seq < 2**SEQ_BITS``; ``key`` may be negative) and
#: costs one int object instead of a tuple holding two (about 50 B less per entry)
SEQ_BITS: Final = 48
SEQ_MASK: Final = (1 << SEQ_BITS) - 1


def at_or_past(ratio_e8: int, margin_balance_atoms: int, maint_margin_atoms: int) -> bool:
    """Whether a scope has reached a margin-ratio threshold: ``ratio × balance ≤ MM``.

    >>> at_or_past(LIQUIDATION_RATIO_E8, 100, 100), at_or_past(DEFAULT_WARN_RATIO_E8, 100, 79)
    (True, False)
    """
    return ratio_e8 * margin_balance_atoms <= RATE_SCALE * maint_margin_atoms


def at_or_past_e8(ratio_e8: int, margin_balance_atoms_e8: int, maint_margin_atoms: int) -> bool:
    """:func:`at_or_past` on an exact balance in 1e-8 atoms (at a subtick mark). Exact.

    >>> at_or_past_e8(LIQUIDATION_RATIO_E8, 100 * 10**8, 100), at_or_past_e8(LIQUIDATION_RATIO_E8, 100 * 10**8 + 1, 100)
    (True, False)
    """
    return ratio_e8 * margin_balance_atoms_e8 <= RATE_SCALE * ATOMS_E8_PER_ATOM * maint_margin_atoms


#: a heap is rebuilt when its stale entries outnumber its live ones by this many
STALE_SLACK: Final = 32


class TriggerHeap:
    """The triggers of one (instrument or collateral index, direction): a min-heap of
    entries (``key << SEQ_BITS | seq``, smallest = first to fire) that may also hold
    stale ones, and how many of its entries are live (listed in a filing record).

    An entry is live iff the filing record of its seq lists it in this heap; a scope
    has at most one entry per heap, so a live entry is known by its value.
    """

    __slots__ = ("entries", "live")

    def __init__(self) -> None:
        self.entries: list[int] = []
        self.live = 0

    def compact(self, records: dict[int, tuple]) -> None:
        """Drop the stale entries (a sorted list is a heap). O(n log n), amortized over
        the at least :data:`STALE_SLACK` withdrawals that made them stale."""
        self.entries = sorted({e for e in self.entries if _listed(records.get(e & SEQ_MASK), self, e)})

    def __len__(self) -> int:
        return self.live

    def __repr__(self) -> str:
        return f"TriggerHeap(live={self.live}, entries={len(self.entries)})"


def _withdraw(record: tuple, records: dict[int, tuple]) -> None:
    """The entries a filing record lists went stale (its scope is no longer listed with
    them in ``records``): count them out of their heaps. A heap left with no live entry
    is emptied (every entry in it is stale), one with too many stale ones compacted."""
    for i in range(1, len(record), 2):
        heap = record[i]
        live = heap.live = heap.live - 1
        if not live:
            heap.entries = []
        elif len(heap.entries) > 2 * live + STALE_SLACK:
            heap.compact(records)


def _listed(record: tuple | None, heap: TriggerHeap, entry: int) -> bool:
    """Whether a filing record lists ``entry`` in ``heap`` (the entry is live)."""
    if record is None:
        return False
    for i in range(1, len(record), 2):
        if record[i] is heap and record[i + 1] == entry:
            return True
    return False


class RiskIndex:
    """Threshold triggers of every watched scope, by instrument and direction.

    A *scope* is an isolated :class:`Position` or a cross :class:`Account`. Each watched
    scope has a ``seq`` (a per-index counter, kept on the scope as ``risk_seq``, 0 while
    not watched): the pop order is deterministic. An entry sorts as ``(key, seq)``, where
    key grows away from firing (``-price`` for DOWN, ``price`` for UP); it is stored as
    the one int ``key << SEQ_BITS | seq``. Per scope the index keeps one record,
    ``(scope, heap, entry, heap, entry, ...)``: the heaps its live entries are in (an
    entry of a heap that its scope's record does not list is stale: see the module
    docstring).
    Memory: about 190 B per scope with one trigger (a million isolated positions: 190 MB).
    """

    def __init__(self, ledger: "RiskInputs", warn_ratio_e8: int = DEFAULT_WARN_RATIO_E8) -> None:
        self.ledger = ledger
        self.warn_ratio_e8 = warn_ratio_e8
        self._lists: dict[str, tuple[TriggerHeap, TriggerHeap]] = {s: (TriggerHeap(), TriggerHeap()) for s in ledger.instruments}
        #: seq -> (scope, heap, entry, heap, entry, ...): what is filed for it
        self._records: dict[int, tuple] = {}
        self._next_seq = 1
        #: scopes that have had their margin-call warning (re-armed when they recover)
        self.warned: set[int] = set()  # seqs; membership tests only, never iterated

    # ------------------------------------------------------------------ filing
    def _seq(self, scope: "Account | Position") -> int:
        seq = scope.risk_seq
        if not seq:
            seq = scope.risk_seq = self._next_seq
            if seq > SEQ_MASK:
                raise StateError(f"risk index: more than {SEQ_MASK} scopes watched over the run")
            self._next_seq = seq + 1
            self._records[seq] = (scope,)
        return seq

    def unfile(self, scope: "Account | Position") -> None:
        """Stop watching ``scope`` (its position closed, or it is being re-filed): its
        entries stay in their heaps, stale. O(k), amortized."""
        seq = scope.risk_seq
        if not seq:
            return
        records = self._records
        record = records[seq]
        if len(record) > 1:
            records[seq] = (scope,)
            _withdraw(record, records)

    def forget(self, scope: "Account | Position") -> None:
        """Drop ``scope`` entirely (a closed position or an emptied account). O(k), amortized."""
        seq = scope.risk_seq
        if seq:
            records = self._records
            record = records.pop(seq)
            if len(record) > 1:
                _withdraw(record, records)
            if self.warned:
                self.warned.discard(seq)
            scope.risk_seq = 0

    def file(self, scope: "Account | Position", triggers: list[tuple[str, int, int]]) -> None:
        """Watch ``scope`` at ``(symbol, direction, price_subticks)`` triggers (replacing old ones)."""
        seq = scope.risk_seq
        if seq:
            self.unfile(scope)
        else:  # (a pool that reopened, a new bucket: nothing filed to withdraw)
            seq = self._seq(scope)
        if not triggers:
            return
        record: list[object] = [scope]
        lists = self._lists
        for symbol, direction, price in triggers:
            entry = (-price if direction == DOWN else price) << SEQ_BITS | seq
            pair = lists.get(symbol)
            if pair is None:  # a collateral index ("@BTC") gets its heaps at its first trigger
                pair = lists[symbol] = (TriggerHeap(), TriggerHeap())
            heap = pair[direction]
            heappush(heap.entries, entry)
            heap.live += 1
            record.append(heap)
            record.append(entry)
        self._records[seq] = tuple(record)

    def is_filed(self, scope: "Account | Position | Portfolio") -> bool:
        """Whether ``scope`` has triggers in the index now. O(1)."""
        seq = scope.risk_seq
        return bool(seq) and len(self._records.get(seq, ())) > 1

    def threshold_e8(self, scope: "Account | Position") -> int:
        """The ratio the scope is watched for next: the warning, or liquidation once warned."""
        seq = scope.risk_seq
        return LIQUIDATION_RATIO_E8 if seq and seq in self.warned else self.warn_ratio_e8

    def pop_crossed(self, symbol: str, mark_subticks: int) -> list[object]:
        """Remove and return the scopes whose trigger ``mark_subticks`` reached, in seq order.

        O(log N + k). The caller evaluates each exactly and re-files it.
        """
        pair = self._lists.get(symbol)
        if pair is None:
            return []
        down, up = pair
        downs, ups = down.entries, up.entries
        # DOWN fires when -key >= mark, i.e. key <= -mark; UP when key <= mark
        if not (downs and -(downs[0] >> SEQ_BITS) >= mark_subticks or ups and ups[0] >> SEQ_BITS <= mark_subticks):
            return []  # the common case, kept short: nothing crossed (or only a stale head)
        down_limit = -mark_subticks << SEQ_BITS | SEQ_MASK  # the largest entry with key <= -mark
        up_limit = mark_subticks << SEQ_BITS | SEQ_MASK
        popped_down = set()  # membership only
        while downs and downs[0] <= down_limit:
            popped_down.add(heappop(downs))
        popped_up = set()
        while ups and ups[0] <= up_limit:
            popped_up.add(heappop(ups))
        records = self._records
        out = []
        for seq in sorted({e & SEQ_MASK for e in popped_down} | {e & SEQ_MASK for e in popped_up}):
            record = records.get(seq)
            if record is None:
                continue  # a stale entry of a scope forgotten since
            # live iff its record lists one of the popped entries; the scope's other
            # triggers (other instruments / directions of a pool) go stale where they are
            for i in range(1, len(record), 2):
                heap, entry = record[i], record[i + 1]
                if (heap is down and entry in popped_down) or (heap is up and entry in popped_up):
                    break
            else:
                continue  # only stale entries of a scope filed elsewhere now
            records[seq] = (record[0],)
            _withdraw(record, records)
            out.append(record[0])
        return out

    def mark_warned(self, scope: "Account | Position", warned: bool) -> None:
        seq = self._seq(scope)
        if warned:
            self.warned.add(seq)
        else:
            self.warned.discard(seq)

    def __len__(self) -> int:
        """How many triggers are filed (live entries; stale ones are not counted)."""
        return sum(d.live + u.live for d, u in self._lists.values())

    def entries(self) -> Iterator[tuple[str, int, int, object]]:
        """Every ``(symbol, direction, price_subticks, scope)`` filed, in firing order per
        list, for checks and displays (stale entries left out)."""
        records = self._records
        for symbol, pair in sorted(self._lists.items()):
            for direction, heap in enumerate(pair):
                for entry in sorted({e for e in heap.entries if _listed(records.get(e & SEQ_MASK), heap, e)}):
                    key = entry >> SEQ_BITS
                    yield symbol, direction, (-key if direction == DOWN else key), records[entry & SEQ_MASK][0]

    def _check(self) -> None:
        """Heaps and filing records agree: every entry a record lists is in its heap, each
        heap counts exactly its listed entries as live and keeps the heap order, stale
        entries are at most :data:`STALE_SLACK` more than twice the live ones; each
        record's scope carries its seq. O(N)."""
        where = {id(heap): (symbol, d) for symbol, pair in self._lists.items() for d, heap in enumerate(pair)}
        listed: dict[int, int] = {}  # id(heap) -> entries its records list
        for seq, record in self._records.items():
            carried = getattr(record[0], "risk_seq", None)
            if carried != seq:
                raise StateError(f"risk index: scope {record[0]!r} filed as {seq} carries {carried}")
            seen: set[int] = set()
            for i in range(1, len(record), 2):
                heap, entry = record[i], record[i + 1]
                if id(heap) not in where or entry & SEQ_MASK != seq:
                    raise StateError(f"risk index: scope {seq} filed at {entry} in a heap not its own")
                if id(heap) in seen:
                    raise StateError(f"risk index: scope {seq} filed twice in {where[id(heap)]}")
                seen.add(id(heap))
                listed[id(heap)] = listed.get(id(heap), 0) + 1
        for symbol, pair in self._lists.items():
            for direction, heap in enumerate(pair):
                entries = heap.entries
                for i in range(1, len(entries)):
                    if entries[i] < entries[(i - 1) >> 1]:
                        raise StateError(f"risk index: {symbol} {direction} is out of heap order at {i}")
                live = {e for e in entries if _listed(self._records.get(e & SEQ_MASK), heap, e)}
                if heap.live != len(live) or heap.live != listed.get(id(heap), 0):
                    raise StateError(
                        f"risk index: {symbol} {direction} counts {heap.live} live, holds {len(live)}, "
                        f"records list {listed.get(id(heap), 0)}"
                    )
                if len(entries) > 2 * heap.live + STALE_SLACK:
                    raise StateError(f"risk index: {symbol} {direction} holds {len(entries)} entries, {heap.live} live")


# ---------------------------------------------------------------------- trigger prices
def isolated_threshold_subticks(ledger: "RiskInputs", pos: "Position", ratio_e8: int) -> tuple[int, int] | None:
    """``(direction, price_subticks)`` where an isolated position first meets ``ratio`` exactly.

    Long: the highest subtick p with ``ratio × (margin + UPnL(p)) ≤ 1e8 × MM(p)`` (fires
    when the mark is at or below p); short: the lowest such p (fires at or above). None
    when no positive price reaches it. Margin balance in 1e-8 atoms, exactly as the
    ledger's check (:meth:`Ledger.isolated_margin_balance_e8`). The condition is monotone
    in p (a long's margin balance falls one-for-one with price while its MM falls at rate
    MMR < 1), so a search over integer subticks finds the exact boundary with the same
    integer arithmetic the exact check uses: it gallops out from the linear root of the
    bracket the position is in (the MM's rounding up to the atom moves the boundary by at
    most an atom's worth of price), then bisects. O(log distance) evaluations.

    With the instrument's ``maint_margin_basis`` ``"entry"`` the MM is the constant
    ``MM0 = MM(entry cost)`` and the condition is linear in p: the boundary is solved
    directly (:func:`_entry_threshold`) and checked with the same predicate. O(1).

    **Inverse** (COIN-M) positions use the same search on the ledger's own figures: the
    value ``V(p) = ceil(Q × face / p)`` (:meth:`Instrument.value_atoms_e8`, 1e-8 atoms of
    the coin), a long's balance ``M + C − V(p)``, a short's ``M + V(p) − C``, MM on V.
    Still monotone, so still an exact integer threshold:

    * V is non-increasing in p (a ceiling of a decreasing function) and MM(V) is
      non-decreasing in V (ceil of ``V·mmr − cum`` with continuous ``cum``).
    * long: ``f(p) = r(M + C − V(p)) − 1e8·MM(V(p))``; as p falls V rises, the first term
      falls and the second rises, so f is non-decreasing in p: hits (f ≤ 0) are exactly
      ``p ≤ boundary`` — the long fires DOWN, as a linear long does (in value space it is
      a linear *short*: p = face / N).
    * short: ``g(V) = r(M + V − C) − 1e8·MM(V)`` grows with V at rate at least ``r − mmr``
      > 0 per unit of V between MM jumps (the linear long's condition, same assumption
      MMR < ratio), and V falls as p rises, so hits are exactly ``p ≥ boundary`` (UP).
    * as for a linear position, the MM's rounding up to the atom is the one place where
      either function can step back (by at most one atom of MM); the bracket and the
      search work on the same integers as the ledger's check.

    The gallop starts from the value-space root (:func:`_inverse_threshold_guess`).
    """
    inst = ledger.instruments[pos.symbol]
    le8 = inst.lot_size_e8
    # the maintenance margin of a notional in 1e-8 atoms, as Brackets.maint_margin_atoms_e8
    # computes it (its bracket by the floor to the atom, rounded up once by units.ceil_div,
    # never below 0), the bracket lookup inlined in the predicate below: the closed form
    # evaluates it twice, the fallback search some twenty times
    steps = inst.brackets.brackets
    floors = inst.brackets.floors
    q = pos.qty_lots
    size = q if q > 0 else -q
    e8 = ATOMS_E8_PER_ATOM
    cost = pos.cost_atoms * e8
    margin = pos.margin_atoms * e8
    scale = RATE_SCALE * e8

    entry = inst.maint_margin_basis == "entry"
    mm_entry = inst.brackets.maint_margin_atoms(pos.cost_atoms) if entry else 0

    guess: int | None
    if inst.inverse:
        value = inst.value_atoms_e8
        long = q > 0

        def hit(p: int) -> bool:
            # inst.upnl_atoms_e8(q, cost, p) with the value computed once: long cost − V, short V − cost
            n = value(p, size)
            upnl = cost - n if long else n - cost
            if entry:
                mm = mm_entry
            else:
                b = steps[bisect_right(floors, n // e8) - 1]
                mm = ceil_div(n * b.mmr_e8, scale) - b.cum_atoms
                if mm < 0:
                    mm = 0
            return ratio_e8 * (margin + upnl) <= scale * mm

        guess = _inverse_threshold_guess(
            long, size * inst.inverse_atoms_e8_per_lot_subtick, cost, margin,
            mm_entry * e8 if entry else None, inst.brackets.brackets, ratio_e8,
        )
    else:

        def hit(p: int) -> bool:
            n = size * p * le8
            upnl = n - cost if q > 0 else cost - n
            if entry:
                mm = mm_entry
            else:
                b = steps[bisect_right(floors, n // e8) - 1]
                mm = ceil_div(n * b.mmr_e8, scale) - b.cum_atoms
                if mm < 0:
                    mm = 0
            return ratio_e8 * (margin + upnl) <= scale * mm

        if entry:
            guess = None  # the root is exact; the search below is only a fallback
            if ratio_e8 > 0:
                root = _entry_threshold(q > 0, size * le8, cost, margin, mm_entry * e8, ratio_e8)
                if q > 0:
                    if root < 1:
                        return None  # no positive price reaches it
                    if hit(root) and not hit(root + 1):
                        return DOWN, root
                elif hit(root) and (root == 1 or not hit(root - 1)):
                    return UP, root
        else:
            guess = _threshold_guess(q > 0, size, cost, margin, inst.brackets.brackets, le8, ratio_e8)
            if guess is not None and guess >= 1 and ratio_e8 > 0:
                # the common case in two evaluations: solve for the boundary with the MM held
                # at its value at the guess, and check it on the exact predicate (hit there,
                # not one subtick further); the condition is monotone, so a boundary that
                # checks is the one the search would find. It fails to check only where the
                # MM steps (an atom of rounding, a bracket) between the guess and the
                # boundary: the search below then decides.
                n = size * guess * le8
                b = steps[bisect_right(floors, n // e8) - 1]
                mm = ceil_div(n * b.mmr_e8, scale) - b.cum_atoms
                root = _entry_threshold(q > 0, size * le8, cost, margin, (mm if mm > 0 else 0) * e8, ratio_e8)
                if q > 0:
                    if root >= 1 and hit(root) and not hit(root + 1):
                        return DOWN, root
                elif hit(root) and (root == 1 or not hit(root - 1)):
                    return UP, root
    start = guess if guess is not None and guess >= 1 else max(1, ledger.mark_subticks(pos.symbol, pos))
    if q > 0:  # highest p that hits; hits are p <= boundary
        if hit(start):
            lo, step = start, 1
            while hit(lo + step):
                lo += step
                step *= 2
                if step > ALWAYS_SUBTICKS:
                    # an inverse long whose margin + entry value cannot cover even the
                    # maintenance margin of a worthless position hits at every price (its
                    # balance is bounded above by M + C as the price grows): no boundary
                    return DOWN, ALWAYS_SUBTICKS
            hi = lo + step  # hit(lo) and not hit(hi)
        else:
            # not hit(start): gallop down to a hit. Hits are p <= boundary, so none at all
            # when the lowest price misses: asked first, as a well-backed long (a cross
            # pool's stand-in, the recorder's liquidation price each sample) has no
            # boundary, and galloping down to 1 to learn it costs ~log2(start) evaluations
            if not hit(1):
                return None
            hi, step = start, 1
            while True:
                lo = hi - step
                if lo <= 1:
                    lo = 1  # (hit: asked above)
                    break
                if hit(lo):
                    break
                hi = lo
                step *= 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if hit(mid):
                lo = mid
            else:
                hi = mid
        return DOWN, lo
    # short: lowest p that hits; hits are p >= boundary
    if hit(start):
        hi, step = start, 1
        while hi - step >= 1 and hit(hi - step):
            hi -= step
            step *= 2
        lo = max(0, hi - step)  # not hit(lo) (or 0), hit(hi)
    else:
        lo, step = start, 1
        while not hit(lo + step):
            lo += step
            step *= 2
            if step > 1 << 80:
                return None
        hi = lo + step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if hit(mid):
            hi = mid
        else:
            lo = mid
    return UP, hi


def _entry_threshold(long: bool, per_subtick: int, cost: int, margin: int, mm_entry: int, ratio_e8: int) -> int:
    """The exact threshold subtick when the maintenance margin is the constant ``mm_entry``.

    All money in 1e-8 atoms. With ``n = p × per_subtick`` (notional) and ``r = ratio_e8 > 0``:
    long hits iff ``r(M + n − C) ≤ 1e8·MM0`` iff ``n ≤ (1e8·MM0 + r(C − M)) / r``, so the
    highest such subtick is ``floor(floor(num / r) / per_subtick)`` (< 1: none);
    short hits iff ``r(M + C − n) ≤ 1e8·MM0`` iff ``n ≥ (r(M + C) − 1e8·MM0) / r``, so the
    lowest is ``ceil(ceil(num / r) / per_subtick)``, at least 1. Exact: n is a whole
    number, so the inner rounding loses nothing.

    >>> # long 1 unit @1000 (lot 1: per subtick 1e8), bucket 100, MM0 50 USDT: LP 950
    >>> e16 = 10**16
    >>> _entry_threshold(True, 10**8, 1000 * e16, 100 * e16, 50 * e16, RATE_SCALE)
    95000000000
    >>> _entry_threshold(False, 10**8, 1000 * e16, 100 * e16, 50 * e16, RATE_SCALE)
    105000000000
    """
    scale = RATE_SCALE
    if long:
        return floor_div(floor_div(scale * mm_entry + ratio_e8 * (cost - margin), ratio_e8), per_subtick)
    p = ceil_div(ceil_div(ratio_e8 * (margin + cost) - scale * mm_entry, ratio_e8), per_subtick)
    return p if p > 1 else 1


def _threshold_guess(
    long: bool, size: int, cost: int, margin: int, brackets: tuple, lot_size_e8: int, ratio_e8: int
) -> int | None:
    """The threshold price (subticks, floored) from the linear solution in the consistent bracket.

    Money in 1e-8 atoms. Long: ``r(M + n − C) = n·mmr − 1e8·cum`` →
    ``n = (r(C − M) − 1e8·cum) / (r − mmr)``; short: ``r(M + C − n) = n·mmr − 1e8·cum`` →
    ``n = (r(M + C) + 1e8·cum) / (r + mmr)``, with p = n / (size × lot_size_e8). None when
    no bracket is self-consistent (the caller then searches from the mark).
    """
    n_floor = _notional_root(long, cost, margin, brackets, ratio_e8)
    return None if n_floor is None else floor_div(n_floor, size * lot_size_e8)


def _notional_root(long: bool, cost: int, margin: int, brackets: tuple, ratio_e8: int) -> int | None:
    """The notional (1e-8 atoms, floored) at which a position whose margin balance moves
    *with* the notional (``long``: ``M + n − C``) or *against* it (``M + C − n``) meets
    ``ratio``, in the first bracket that holds its own root; None if none does. O(brackets).
    """
    scale = RATE_SCALE
    e8 = ATOMS_E8_PER_ATOM
    for b in brackets:
        cum = b.cum_atoms * e8
        if long:
            den = ratio_e8 - b.mmr_e8
            if den <= 0:
                continue
            num = ratio_e8 * (cost - margin) - scale * cum
        else:
            den = ratio_e8 + b.mmr_e8
            num = ratio_e8 * (margin + cost) + scale * cum
        if num <= 0:
            continue
        n_floor = floor_div(num, den)
        if b.floor_atoms * e8 <= n_floor and (n_floor < b.cap_atoms * e8 or b is brackets[-1]):
            return n_floor
    return None


def _inverse_threshold_guess(
    long: bool, face_e8: int, cost: int, margin: int, mm_entry: int | None, brackets: tuple, ratio_e8: int
) -> int | None:
    """A starting subtick for the threshold search of an inverse position (money in 1e-8 atoms).

    An inverse position is a linear one in **value space**: its coin value is
    ``N(p) = face / p`` (``face_e8`` = contracts × face × 1e24, so N is in 1e-8 atoms) and a
    long's margin balance is ``M + C − N`` (it falls as N rises, like a linear *short*'s),
    a short's ``M + N − C`` (like a linear long's). The linear root in N
    (:func:`_notional_root` with the side swapped, or :func:`_entry_threshold` in N when
    the maintenance margin is the constant ``mm_entry``) maps back to ``p = face / N``.
    Only a guess: the caller's gallop and bisection on the exact predicate decide. None
    when no root exists (the caller starts from the mark).
    """
    if mm_entry is None:
        n = _notional_root(not long, cost, margin, brackets, ratio_e8)
    elif ratio_e8 > 0:
        n = _entry_threshold(not long, 1, cost, margin, mm_entry, ratio_e8)
    else:
        return None
    if n is None or n < 1:
        return None
    return face_e8 // n


def cross_triggers(ledger: "RiskInputs", acct: "Account", ratio_e8: int) -> list[tuple[str, int, int]] | None:
    """Conservative per-instrument triggers (subticks) for a cross pool, or None if it is
    already at ``ratio``.

    Slack ``S = ratio × margin balance − 1e8 × MM`` (balance exact in 1e-8 atoms, S in
    1e-8 atoms × 1e8) is shared in proportion to each instrument's notional; instrument i
    may move ``d_i`` subticks against the pool where ``rate_i × d_i ≤ share_i`` (see the
    module docstring). O(positions).
    """
    e8 = ATOMS_E8_PER_ATOM
    instruments = ledger.instruments
    if acct.cross_positions == 1 and len(acct.positions) == 1:
        # the common pool of one position: its whole slack is that instrument's share
        # (the general path's ``slack × w / w``), figures computed once
        for pos in acct.positions.values():
            _, upnl, mm = ledger.position_figures_e8(pos)
            scale = RATE_SCALE * e8
            slack = ratio_e8 * (acct.wallet_atoms * e8 + upnl) - scale * mm
            if slack <= 0:
                return None
            inst = instruments[pos.symbol]
            slack -= scale + 2 * RATE_SCALE if inst.inverse else scale
            if slack <= 0:
                return None
            triggers: list[tuple[str, int, int]] = []
            _symbol_triggers(inst, [pos], ledger.mark_subticks(pos.symbol, pos), slack, ratio_e8, triggers, True)
            return triggers
    return _pool_triggers(ledger, acct, ratio_e8)


def _pool_triggers(ledger: "RiskInputs", acct: "Account", ratio_e8: int) -> list[tuple[str, int, int]] | None:
    """:func:`cross_triggers` over any number of cross positions: the slack shared by
    notional. O(positions)."""
    e8 = ATOMS_E8_PER_ATOM
    instruments = ledger.instruments
    per: dict[str, list["Position"]] = {}
    upnl = mm = inverse_legs = 0
    for pos in acct.positions.values():
        if pos.isolated or not pos.qty_lots:
            continue
        per.setdefault(pos.symbol, []).append(pos)
        if instruments[pos.symbol].inverse:
            inverse_legs += 1
        _, u, m = ledger.position_figures_e8(pos)
        upnl += u
        mm += m
    if not per:
        return []
    balance = acct.wallet_atoms * e8 + upnl
    scale = RATE_SCALE * e8
    slack = ratio_e8 * balance - scale * mm
    if slack <= 0:
        return None
    # keep one atom of maintenance-margin rounding per position out of the shares (and,
    # per inverse leg, the value's rounding up to 1e-8 atom: see _inverse_triggers)
    slack -= scale * sum(len(v) for v in per.values())
    if inverse_legs:
        slack -= 2 * RATE_SCALE * inverse_legs
    if slack <= 0:
        return None
    weights: dict[str, int] = {}
    for symbol, legs in per.items():
        weights[symbol] = sum(ledger.position_figures_e8(p)[0] for p in legs) or 1
    total_w = sum(weights.values())
    triggers: list[tuple[str, int, int]] = []
    for symbol in sorted(per):  # sorted: deterministic filing order
        legs = per[symbol]
        mark = ledger.mark_subticks(symbol, legs[0])
        share = mul_div_floor(slack, weights[symbol], total_w)  # floor: shares never exceed the slack
        _symbol_triggers(ledger.instruments[symbol], legs, mark, share, ratio_e8, triggers, True)
    return triggers


def _symbol_triggers(
    inst: "Instrument",
    legs: list["Position"],
    mark: int,
    share: int,
    ratio_e8: int,
    out: list[tuple[str, int, int]],
    at_par: bool = False,
) -> None:
    """Append the conservative DOWN / UP triggers (subticks) of one instrument's legs in a
    cross pool that may use ``share`` of the pool's slack (units of ratio × 1e-8 atoms of
    the settlement asset): moving the mark from ``mark`` to a price strictly inside them
    changes ``ratio × balance − 1e8 × MM`` by less than ``share``, up to one atom of MM
    rounding per leg (and, inverse, the 1e-8 atom valuation rounding), which the caller
    keeps out of the share. No trigger in a direction with no adverse exposure.
    O(legs + brackets).

    ``at_par``: the equity and the MM are counted in one asset at par (a single-asset
    cross pool, not a multi-assets account's haircut collateral against its MM at the
    ask rate), so a move that adds at least as much ratio × equity as MM cannot hurt:
    no trigger that way for a linear pool whose legs are all on the winning side.
    """
    e8 = ATOMS_E8_PER_ATOM
    symbol = inst.symbol
    if inst.inverse:
        if mark > 0:  # (no mark and no cost: nothing to value)
            _inverse_triggers(inst, legs, mark, share, ratio_e8, out)
        return
    le8 = inst.lot_size_e8
    q_net = gross = short = 0  # net, gross and short lots of the legs
    for p in legs:
        q = p.qty_lots
        q_net += q
        if q < 0:
            gross -= q
            short -= q
        else:
            gross += q
    entry = inst.maint_margin_basis == "entry"
    # a notional's bracket as BracketTable.bracket_for finds it (notionals here are >= 0),
    # the lookup inlined: the fixed point below makes up to one per bracket
    steps = inst.brackets.brackets
    floors = inst.brackets.floors
    mmr_now = -1  # the MMR at the mark: looked up only by a move that grows the MM
    # legs all long: a rise adds ratio × q to the equity term for every MM term it adds,
    # at most MMR × q (MMR at most the table's last): with MMR <= ratio it never eats the
    # slack. Legs all short: a fall adds equity and lowers every leg's notional. Either
    # way, no trigger in that direction (the MM's rounding is kept out of the share).
    safe_up = at_par and not short and not entry and inst.brackets.brackets[-1].mmr_e8 <= ratio_e8
    safe_down = at_par and short == gross and not entry
    for direction in (DOWN, UP):
        if direction == UP:
            if safe_up:
                continue
            adverse_equity = -q_net if q_net < 0 else 0
        else:
            if safe_down:
                continue
            adverse_equity = q_net if q_net > 0 else 0
        if entry:
            # MM held at its entry value: the mark does not move it, only equity
            rate = ratio_e8 * adverse_equity * le8
            d = share // rate if rate > 0 else -1
        elif not (gross if direction == UP else short):
            # a fall with no short leg grows no MM: the equity alone bounds the move (what
            # the fixed point below comes to, without its bracket lookups)
            rate = ratio_e8 * adverse_equity * le8
            d = share // rate if rate > 0 else -1
        else:
            # MM growth bound: MMR at the far end of the move (iterate to a fixed point);
            # a fall grows the MM of the short legs only, a rise that of every leg
            growing = gross if direction == UP else short
            if mmr_now < 0:
                mmr_now = steps[bisect_right(floors, gross * mark * le8 // e8) - 1].mmr_e8
            mmr = mmr_now
            d = 0
            for _ in range(len(steps) + 1):
                rate = (ratio_e8 * adverse_equity + growing * mmr) * le8
                if rate <= 0:
                    d = -1  # no adverse exposure in this direction: no trigger needed
                    break
                d = share // rate  # floor
                if direction == UP:
                    end = mark + d
                else:
                    end = mark - d if mark - d > 1 else 1
                end_mmr = steps[bisect_right(floors, gross * end * le8 // e8) - 1].mmr_e8
                if end_mmr <= mmr:
                    break
                mmr = end_mmr
        if d < 0:
            continue
        price = mark + d if direction == UP else mark - d
        if direction == DOWN and price < 1:
            continue  # cannot be reached by a positive price
        out.append((symbol, direction, price))


def _inverse_triggers(
    inst: "Instrument", legs: list["Position"], mark: int, share: int, ratio_e8: int, out: list[tuple[str, int, int]]
) -> None:
    """Append conservative DOWN / UP triggers (subticks) for a cross pool's inverse legs
    on one instrument, which may use ``share`` of the pool's slack (units of ratio × 1e-8
    atoms). O(legs + brackets).

    The notional of an inverse leg is linear in ``1/p``, not in p: with ``w = face / p``
    the coin value of one lot (1e-8 atoms), a leg's value is ``|q| × w``. So the share is
    spent in value space: a move of w by ``δ`` against the pool costs at most
    ``(ratio × adverse + 1e8·MM rate) × δ`` where ``adverse`` is the net size that loses
    as w moves that way (longs when w rises, i.e. the price falls; shorts when it falls)
    and the MM rate is ``gross × MMR`` at the far end (both directions counted: it only
    makes the trigger earlier). ``δ = floor(share / rate)``, then mapped back to a price,
    rounded toward the mark:

    * price falls (DOWN): safe while ``w ≤ w0 + δ``, i.e. ``p ≥ face·m / (face + δ·m)``;
      the trigger ``ceil(face·m / (face + δ·m)) − 1`` fires at or below it, so every
      mark above it is within the share;
    * price rises (UP): safe while ``w ≥ w0 − δ``, i.e. ``p ≤ face·m / (face − δ·m)``
      (no trigger if ``δ·m ≥ face``: no price takes that much); the trigger
      ``floor(face·m / (face − δ·m)) + 1``.

    The ledger values a leg at ``ceil(|q| × w)``, within 1e-8 atom of ``|q| × w``: moving
    from one valuation to the other changes equity by at most ``ratio × 1`` and the MM
    (through its one ceiling, already reserved per position) by at most ``mmr × 1``, so
    :func:`cross_triggers` reserves ``2 × 1e8`` more per inverse leg.
    """
    e8 = ATOMS_E8_PER_ATOM
    face = inst.inverse_atoms_e8_per_lot_subtick  # w(p) = face / p
    symbol = inst.symbol
    brackets = inst.brackets
    q_net = gross = 0
    for p in legs:
        q_net += p.qty_lots
        gross += p.qty_lots if p.qty_lots > 0 else -p.qty_lots
    entry = inst.maint_margin_basis == "entry"
    value_now = inst.value_atoms_e8(mark, gross)  # 1e-8 atoms, gross legs at the mark
    for direction in (DOWN, UP):
        adverse = max(0, q_net) if direction == DOWN else max(0, -q_net)
        if entry:
            rate = ratio_e8 * adverse
            if rate <= 0:
                continue
            delta = floor_div(share, rate)
        else:
            mmr = brackets.bracket_for(value_now // e8).mmr_e8
            delta = 0
            for _ in range(len(brackets.brackets) + 1):
                rate = ratio_e8 * adverse + gross * mmr
                if rate <= 0:
                    break
                delta = floor_div(share, rate)
                if direction == UP:
                    break  # the value falls: MMR at the mark bounds the whole move
                end_mmr = brackets.bracket_for((value_now + gross * delta) // e8).mmr_e8
                if end_mmr <= mmr:
                    break
                mmr = end_mmr
            if rate <= 0:
                continue
        if direction == DOWN:
            price = ceil_div(face * mark, face + delta * mark) - 1
            if price < 1:
                continue  # cannot be reached by a positive price
        else:
            den = face - delta * mark
            if den <= 0:
                continue
            price = floor_div(face * mark, den) + 1
        out.append((symbol, direction, price))


def collateral_key(asset: str) -> str:
    """The risk index key of a collateral asset's index price (prices in ``index_usd_e8``)."""
    return "@" + asset


#: how many times :func:`portfolio_triggers` halves its budgets before it gives up and
#: asks for an exact evaluation at the next tick instead (returns None)
PORTFOLIO_ATTEMPTS: Final = 30


def portfolio_triggers(ledger: "RiskInputs", pf: "Portfolio", ratio_e8: int) -> list[tuple[str, int, int]] | None:
    """Conservative triggers for a multi-assets account (one scope over every asset of a
    trader), or None if it is at ``ratio`` (or so close that no band could be verified:
    the ledger then evaluates it exactly at the next event, as it does a scope at ratio).

    Keys are instrument symbols (prices in subticks, as for a cross pool) and
    :func:`collateral_key` of each asset the account is exposed in (prices in
    ``index_usd_e8``). Every filed band is **verified exactly** (:func:`_portfolio_worst_slack`):
    with every mark and every collateral index strictly inside its triggers the account
    is not at ``ratio``. The proof and the construction are in the module docstring
    (*Multi-assets accounts*). O(A × (positions + assets × tiers)) with A ≤
    :data:`PORTFOLIO_ATTEMPTS` attempts, 1 in the common case.
    """
    figures = ledger.portfolio_figures(pf.account_id)
    if figures.liquidatable(ratio_e8):
        return None
    slack = ratio_e8 * figures.equity_usd_e40 - RATE_SCALE * figures.maint_usd_e40  # > 0
    rules = ledger.collateral
    instruments = ledger.instruments
    by_asset = {f.asset: f for f in figures.assets}
    # one record per asset the account is exposed in (equity or requirement not zero, or
    # positions): (asset, rule, E in 1e-8 atoms, MM in atoms, symbol -> cross legs)
    live: list[tuple[str, "CollateralRule", int, int, dict[str, list["Position"]]]] = []
    for asset, acct in pf.accounts.items():
        f = by_asset.get(asset)
        equity, mm = (f.equity_atoms_e8, f.maint_margin_atoms) if f is not None else (acct.wallet_atoms * ATOMS_E8_PER_ATOM, 0)
        per: dict[str, list["Position"]] = {}
        for pos in acct.positions.values():
            if pos.qty_lots and not pos.isolated:
                per.setdefault(pos.symbol, []).append(pos)
        if equity or mm or per:
            live.append((asset, rules[asset], equity, mm, per))
    if not live:
        return []
    # the current valuation of every instrument: its mark (entry while it has none), the
    # legs' exact UPnL and MM there, and the USD weight that splits the marks' budget
    legs_now: dict[str, tuple[int, int, int]] = {}  # symbol -> (mark, Σ UPnL e8, Σ MM)
    weights: dict[str, int] = {}
    for asset, rule, _, _, per in live:
        ask = rule.ask_rate_e24()
        for symbol, legs in per.items():
            upnl = mm_sum = notional = 0
            for pos in legs:
                n, u, m = ledger.position_figures_e8(pos)
                notional += n
                upnl += u
                mm_sum += m
            legs_now[symbol] = (ledger.mark_subticks(symbol, legs[0]), upnl, mm_sum)
            weights[symbol] = notional * ask or 1
    total_w = sum(weights.values())
    # budgets add up to less than the slack (a loss of exactly the budget must still leave some)
    budget_marks = (slack - 1) // 2 if weights else 0
    budget_index = slack - 1 - budget_marks
    for attempt in range(PORTFOLIO_ATTEMPTS):
        index_bands = _index_bands(live, budget_index >> attempt, ratio_e8)
        mark_bands: dict[str, tuple[int, int | None]] = {}
        for asset, rule, _, _, per in live:
            if not per:
                continue
            hi_index = index_bands[asset][1]
            assert hi_index is not None  # an asset with positions always has an upper bound
            ask_top = hi_index * (RATE_SCALE + rule.ask_buffer_e8) * RATE_SCALE  # the highest ask rate in its band
            for symbol, legs in per.items():
                mark = legs_now[symbol][0]
                share = mul_div_floor(budget_marks >> attempt, weights[symbol], total_w * ask_top) if ask_top else 0
                mark_bands[symbol] = _mark_band(instruments[symbol], legs, mark, share, ratio_e8)
        if _portfolio_worst_slack(instruments, live, legs_now, mark_bands, index_bands, ratio_e8) > 0:
            return _band_triggers(mark_bands, index_bands)
    return None


def _index_bands(
    live: list[tuple[str, "CollateralRule", int, int, dict[str, list["Position"]]]], budget: int, ratio_e8: int
) -> dict[str, tuple[int, int | None]]:
    """A candidate band ``[lo, hi]`` of index prices (index_usd_e8; hi None: no upper
    bound) per asset, from ``budget`` (units of the slack) shared in proportion to each
    asset's sensitivity. A heuristic: :func:`_portfolio_worst_slack` decides.

    At a fixed equity E and MM an index move of δ changes the account's slack by
    ``δ × (ratio × h(E) − 1e8 × MM × 1e8 × ask per index unit)``, where ``h(E)`` is the
    value of E at an index of one unit: a fall costs ``ratio × h(E)`` per unit when E > 0,
    a rise costs the requirement's ``1e8 × MM × …`` and a debt's ``ratio × |h(E)|``.
    """
    e8 = ATOMS_E8_PER_ATOM
    rates: list[tuple[str, int, int, int, bool]] = []
    total_w = 0
    for asset, rule, equity, mm, per in live:
        h = _unit_value_usd_e40(rule, equity)
        ask_unit = (RATE_SCALE + rule.ask_buffer_e8) * RATE_SCALE
        down = ratio_e8 * h if h > 0 else 0
        up = RATE_SCALE * mm * e8 * ask_unit + (ratio_e8 * -h if h < 0 else 0)
        index = rule.index_usd_e8
        w = (down + up) * index or 1
        rates.append((asset, index, down, up, bool(per)))
        total_w += w
    out: dict[str, tuple[int, int | None]] = {}
    for asset, index, down, up, has_positions in rates:
        share = mul_div_floor(budget, (down + up) * index or 1, total_w)
        lo = max(0, index - floor_div(share, down)) if down > 0 else 0
        if up > 0:
            hi: int | None = index + floor_div(share, up)
        else:
            # nothing owed and nothing required: a rise only adds value (no bound), unless
            # positions could turn it into a debt or a requirement (then a band of 2x)
            hi = 2 * index + 1 if has_positions else None
        out[asset] = (lo, hi)
    return out


def _unit_value_usd_e40(rule: "CollateralRule", equity_atoms_e8: int) -> int:
    """``h(E)``: the value of an asset equity at an index of one unit (1e-8 USD per coin),
    usd_e40; the value at index I is exactly ``I × h(E)`` (every rate is the index times a
    factor), and h is non-decreasing in E with ``h(0) = 0``. O(tiers)."""
    unit = rule.copy()
    unit.index_usd_e8 = 1
    return unit.value_usd_e40(equity_atoms_e8)


def _mark_band(inst: "Instrument", legs: list["Position"], mark: int, share: int, ratio_e8: int) -> tuple[int, int | None]:
    """A candidate band ``[lo, hi]`` of marks (subticks; hi None: no upper bound) around
    ``mark`` for one instrument's legs that may use ``share`` (units of ratio × 1e-8 atoms
    of its asset), from the cross pool's per-instrument maths (:func:`_symbol_triggers`).
    Always holds the current mark; no upper bound only where a rise cannot hurt (see
    :func:`_up_is_harmless`). O(legs + brackets)."""
    if mark <= 0:  # no price to value at yet: any first mark re-evaluates
        return 1, 0
    found: list[tuple[str, int, int]] = []
    _symbol_triggers(inst, legs, mark, share, ratio_e8, found)
    lo, hi = 1, None
    for _, direction, price in found:
        if direction == DOWN:
            lo = min(price + 1, mark)
        else:
            hi = max(price - 1, mark)
    if hi is None and not _up_is_harmless(inst, legs):
        hi = mark
    return max(1, lo), hi


def _up_is_harmless(inst: "Instrument", legs: list["Position"]) -> bool:
    """Whether a rising mark can only raise the legs' equity and never their MM: a linear
    instrument with net size ≥ 0 whose MM is held at entry; an inverse one with no short leg
    (its longs gain ``cost − value`` as the value falls, and MM falls with the value)."""
    if inst.inverse:
        return all(p.qty_lots > 0 for p in legs)
    return inst.maint_margin_basis == "entry" and sum(p.qty_lots for p in legs) >= 0


def legs_at(inst: "Instrument", legs: list["Position"], price_subticks: int) -> tuple[int, int]:
    """``(Σ UPnL in 1e-8 atoms, Σ MM in atoms)`` of the legs at one mark, exactly as
    :meth:`Ledger.position_figures_e8` values them at that mark. O(legs × log brackets)."""
    upnl = mm = 0
    brackets = inst.brackets
    entry = inst.maint_margin_basis == "entry"
    for pos in legs:
        q = pos.qty_lots
        size = q if q >= 0 else -q
        cost = pos.cost_atoms * ATOMS_E8_PER_ATOM
        if inst.inverse:
            if price_subticks <= 0:
                n = 0
            else:
                n = inst.value_atoms_e8(price_subticks, size)
                upnl += cost - n if q >= 0 else n - cost
        else:
            n = size * price_subticks * inst.lot_size_e8
            upnl += n - cost if q >= 0 else cost - n
        mm += brackets.maint_margin_atoms(pos.cost_atoms) if entry else brackets.maint_margin_atoms_e8(n)
    return upnl, mm


def _portfolio_worst_slack(
    instruments: dict[str, "Instrument"],
    live: list[tuple[str, "CollateralRule", int, int, dict[str, list["Position"]]]],
    legs_now: dict[str, tuple[int, int, int]],
    mark_bands: dict[str, tuple[int, int | None]],
    index_bands: dict[str, tuple[int, int | None]],
    ratio_e8: int,
) -> int:
    """A lower bound of ``ratio × account equity − 1e8 × account MM`` (usd_e40 × e8) over
    every state the bands allow: each instrument's mark at its current value or anywhere
    in its band, each asset's index anywhere in its band. Exact integers; O(positions ×
    log brackets + assets × tiers).

    Per asset: the lowest equity ``E_min`` (each instrument's legs at the worse of the
    band's two edges and the current mark — UPnL is linear in a linear mark and monotone
    in an inverse one, less one 1e-8 atom per leg where an inverse instrument has legs of
    both signs, whose rounded values need not move together — plus what does not move)
    and the highest MM ``MM_max`` (MM is non-decreasing in the notional, so the largest
    of the same candidates); then ``ratio × min(lo × h(E_min), hi × h(E_min)) − 1e8 ×
    MM_max × 1e8 × hi × (1 + ask buffer)``. Returns a non-positive number when a band has
    no upper bound where it would need one.
    """
    e8 = ATOMS_E8_PER_ATOM
    total = 0
    for asset, rule, equity, mm, per in live:
        e_min, mm_max = equity, mm
        for symbol, legs in per.items():
            inst = instruments[symbol]
            _, upnl_now, mm_now = legs_now[symbol]
            lo, hi = mark_bands[symbol]
            worst_upnl, worst_mm = upnl_now, mm_now
            for price in (lo, hi):
                if price is None or price < 1 or (hi is not None and lo > hi):
                    continue
                u, m = legs_at(inst, legs, price)
                if u < worst_upnl:
                    worst_upnl = u
                if m > worst_mm:
                    worst_mm = m
            if inst.inverse and any(p.qty_lots > 0 for p in legs) and any(p.qty_lots < 0 for p in legs):
                worst_upnl -= len(legs)
            e_min += worst_upnl - upnl_now
            mm_max += worst_mm - mm_now
        # the asset's part of the slack at index I is at least I × k: linear in I, so its
        # least over the band is at an edge
        k = ratio_e8 * _unit_value_usd_e40(rule, e_min) - RATE_SCALE * mm_max * e8 * (RATE_SCALE + rule.ask_buffer_e8) * RATE_SCALE
        lo_index, hi_index = index_bands[asset]
        if hi_index is None:
            if k < 0:
                return 0  # a rise would cost without bound: not verified
            total += lo_index * k
        else:
            total += min(lo_index * k, hi_index * k)
    return total


def _band_triggers(
    mark_bands: dict[str, tuple[int, int | None]], index_bands: dict[str, tuple[int, int | None]]
) -> list[tuple[str, int, int]]:
    """The triggers that fire as soon as a mark or an index leaves its band: DOWN at
    ``lo − 1`` (none when no price reaches it: marks are ≥ 1, indexes ≥ 0), UP at ``hi + 1``
    (none when unbounded). Sorted by key: a deterministic filing order."""
    out: list[tuple[str, int, int]] = []
    for symbol in sorted(mark_bands):
        lo, hi = mark_bands[symbol]
        if lo - 1 >= 1:
            out.append((symbol, DOWN, lo - 1))
        if hi is not None:
            out.append((symbol, UP, hi + 1))
    for asset in sorted(index_bands):
        lo, hi = index_bands[asset]
        key = collateral_key(asset)
        if lo - 1 >= 0:
            out.append((key, DOWN, lo - 1))
        if hi is not None:
            out.append((key, UP, hi + 1))
    return out
