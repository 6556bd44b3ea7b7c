"""Links between contingent orders: OCO groups and brackets (the exchange acts on them).

Bookkeeping only: which open orders form a one-cancels-the-other group, which order is a
bracket's entry, which exits protect which position. :class:`~exsim.exchange.Exchange`
does every cancel, placement and event; this module knows no book and no ledger.

Life of the links (the exchange's side is in ``docs/orders.md``):

* :class:`OcoGroup` — the open legs of one :class:`~exsim.exchange.commands.NewOco`, or
  the exits of one bracket. The first fill or trigger of a leg *resolves* it: the other
  legs are cancelled and the group is gone.
* :class:`Bracket` — one :class:`~exsim.exchange.commands.NewBracket`: the entry order
  id, the exit templates, how much the entry has filled, and the exits' group once placed.
  It ends when an exit fires, when the position it protects goes flat, when its exits are
  all gone, or when its entry ends without a fill.

``watched`` maps every open leg and every open entry to its group or bracket, so the
exchange's fill path pays one dict lookup per fill only while such orders exist.
Links to orders that have left the exchange are dropped by :meth:`Contingent.prune`, which
the exchange calls once at the end of a command in which a linked order left (it sets
``dirty``), so a command that touched no linked order (a replayed trade, a mark) pays nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from exsim.errors import StateError

if TYPE_CHECKING:
    from exsim.exchange.commands import NewOrder


class OcoGroup:
    """Open orders of which at most one may fill. Mutable entity, slotted."""

    __slots__ = ("group_id", "account_id", "symbol", "leg_ids", "bracket")

    def __init__(self, group_id: int, account_id: int, symbol: str, leg_ids: list[int], bracket: Bracket | None) -> None:
        self.group_id = group_id
        self.account_id = account_id
        self.symbol = symbol
        self.leg_ids = leg_ids  # open legs, in placement order
        self.bracket = bracket  # the bracket these are the exits of, or None

    def __repr__(self) -> str:
        return f"OcoGroup({self.group_id}, legs={self.leg_ids})"


class Bracket:
    """An entry and the exits it places as it fills. Mutable entity, slotted.

    ``exit_side`` is the entry's other side; ``position_side`` the entry's (the position
    the exits protect). ``exits`` are the exit templates as given (their ``qty_lots`` is
    ignored). ``filled_lots``: what the entry has filled so far. ``group``: the placed
    exits, None before the first fill.
    """

    __slots__ = ("entry_id", "account_id", "symbol", "exit_side", "position_side", "exits", "filled_lots", "group")

    def __init__(
        self, entry_id: int, account_id: int, symbol: str, exit_side: int, position_side: int, exits: tuple[NewOrder, ...]
    ) -> None:
        self.entry_id = entry_id
        self.account_id = account_id
        self.symbol = symbol
        self.exit_side = exit_side
        self.position_side = position_side
        self.exits = exits
        self.filled_lots = 0
        self.group: OcoGroup | None = None

    @property
    def position_key(self) -> tuple[int, str, int]:
        return (self.account_id, self.symbol, self.position_side)

    def __repr__(self) -> str:
        return f"Bracket(entry={self.entry_id}, filled={self.filled_lots}, group={self.group})"


class Contingent:
    """Every live OCO group and bracket of one exchange."""

    __slots__ = ("groups", "brackets", "watched", "protecting", "grown", "entry_cancels", "next_group_id", "dirty")

    def __init__(self) -> None:
        self.groups: dict[int, OcoGroup] = {}
        #: live brackets by entry order id (the entry may have ended; the exits protect on)
        self.brackets: dict[int, Bracket] = {}
        #: open leg id -> its group; open entry id -> its bracket
        self.watched: dict[int, OcoGroup | Bracket] = {}
        #: (account, symbol, position side) -> brackets whose exits are placed
        self.protecting: dict[tuple[int, str, int], list[Bracket]] = {}
        #: brackets whose entry filled more in the current command (exits to place / grow)
        self.grown: list[Bracket] = []
        #: (symbol, entry order id, reason): entries of ended brackets to cancel at command end
        self.entry_cancels: list[tuple[str, int, str]] = []
        self.next_group_id = 1
        #: a linked order left the exchange in the current command: :meth:`prune` is due
        self.dirty = False

    def __bool__(self) -> bool:
        return bool(self.groups or self.brackets or self.grown or self.entry_cancels)

    # ------------------------------------------------------------------ links
    def new_group(self, account_id: int, symbol: str, leg_ids: list[int], bracket: Bracket | None = None) -> OcoGroup:
        """Link open orders as one OCO group. O(legs)."""
        group = OcoGroup(self.next_group_id, account_id, symbol, leg_ids, bracket)
        self.next_group_id += 1
        self.groups[group.group_id] = group
        for i in leg_ids:
            self.watched[i] = group
        return group

    def add_leg(self, group: OcoGroup, order_id: int) -> None:
        group.leg_ids.append(order_id)
        self.watched[order_id] = group

    def drop_group(self, group: OcoGroup) -> list[int]:
        """Unlink a group; return its legs (the caller cancels those still open). O(legs)."""
        self.groups.pop(group.group_id, None)
        legs = group.leg_ids
        group.leg_ids = []
        for i in legs:
            if self.watched.get(i) is group:
                del self.watched[i]
        bracket = group.bracket
        if bracket is not None and bracket.group is group:
            self.end_bracket(bracket)
        return legs

    def new_bracket(self, bracket: Bracket) -> None:
        self.brackets[bracket.entry_id] = bracket
        self.watched[bracket.entry_id] = bracket

    def protect(self, bracket: Bracket, group: OcoGroup) -> None:
        """The bracket's exits are placed as ``group``."""
        bracket.group = group
        self.protecting.setdefault(bracket.position_key, []).append(bracket)

    def end_bracket(self, bracket: Bracket) -> None:
        """Forget a bracket (its exit group, if any, is the caller's to drop). O(brackets on the position)."""
        if self.brackets.get(bracket.entry_id) is bracket:
            del self.brackets[bracket.entry_id]
        if self.watched.get(bracket.entry_id) is bracket:
            del self.watched[bracket.entry_id]
        group = bracket.group
        if group is not None:
            bracket.group = None
            group.bracket = None
            key = bracket.position_key
            lst = self.protecting.get(key)
            if lst is not None and bracket in lst:
                lst.remove(bracket)
                if not lst:
                    del self.protecting[key]

    # ------------------------------------------------------------------ housekeeping
    def prune(self, is_open: Callable[[str, int], bool]) -> list[Bracket]:
        """Drop links to orders that have left the exchange. Returns the brackets whose
        exits are all gone while their entry is still open (ended here; the caller leaves
        the entry as a plain order). O(groups + brackets)."""
        self.dirty = False
        watched = self.watched
        ended: list[Bracket] = []
        for group in list(self.groups.values()):
            live = [i for i in group.leg_ids if is_open(group.symbol, i)]
            if len(live) != len(group.leg_ids):
                for i in group.leg_ids:
                    if i not in live and watched.get(i) is group:
                        del watched[i]
                group.leg_ids = live
            if not live:
                bracket = group.bracket
                del self.groups[group.group_id]
                if bracket is not None:
                    self.end_bracket(bracket)
                    if is_open(bracket.symbol, bracket.entry_id):
                        ended.append(bracket)
        for bracket in list(self.brackets.values()):
            if bracket.group is None and not is_open(bracket.symbol, bracket.entry_id):
                self.end_bracket(bracket)  # the entry ended without a fill (or unprotected)
            elif watched.get(bracket.entry_id) is bracket and not is_open(bracket.symbol, bracket.entry_id):
                del watched[bracket.entry_id]  # the entry ended; its exits protect on
        return ended

    def _check(self, is_open: Callable[[str, int], bool], position_lots: Callable[[Bracket], int]) -> None:
        """No orphan exit, no stale link (call between commands). O(groups + brackets).

        Every group's legs are open orders of its account and symbol, linked to it; every
        bracket's placed exits form a live group; no exit of a group exceeds the position
        it protects, and a group protects a position that is open.
        """
        if self.grown or self.entry_cancels or self.dirty:
            raise StateError("contingent work left over from a command")
        seen: set[int] = set()
        for gid, group in self.groups.items():
            if group.group_id != gid or not group.leg_ids:
                raise StateError(f"OCO group {gid} is empty or misfiled")
            for i in group.leg_ids:
                if not is_open(group.symbol, i):
                    raise StateError(f"OCO group {gid}: leg {i} is not an open order")
                if self.watched.get(i) is not group or i in seen:
                    raise StateError(f"OCO group {gid}: leg {i} not linked to it (or twice)")
                seen.add(i)
            if group.bracket is not None and group.bracket.group is not group:
                raise StateError(f"OCO group {gid}: its bracket does not own it")
        n_protecting = 0
        for key, lst in self.protecting.items():
            for bracket in lst:
                n_protecting += 1
                group = bracket.group
                if group is None or self.groups.get(group.group_id) is not group:
                    raise StateError(f"bracket of entry {bracket.entry_id}: exits without a live group (orphans)")
                if bracket.position_key != key or self.brackets.get(bracket.entry_id) is not bracket:
                    raise StateError(f"bracket of entry {bracket.entry_id} misfiled")
                if position_lots(bracket) <= 0:
                    raise StateError(f"bracket of entry {bracket.entry_id}: exits protect a flat position")
        for entry_id, bracket in self.brackets.items():
            if bracket.group is None and not is_open(bracket.symbol, entry_id):
                raise StateError(f"bracket of entry {entry_id}: entry gone, no exits, still listed")
            if bracket.group is not None and bracket not in self.protecting.get(bracket.position_key, ()):
                raise StateError(f"bracket of entry {entry_id}: exits placed but not filed as protecting")
        if n_protecting != sum(1 for b in self.brackets.values() if b.group is not None):
            raise StateError("protecting index disagrees with the brackets")
        for i, obj in self.watched.items():
            if type(obj) is OcoGroup:
                if i not in obj.leg_ids:
                    raise StateError(f"order {i} watched for a group it is not a leg of")
            elif obj.entry_id != i or self.brackets.get(i) is not obj or not is_open(obj.symbol, i):
                raise StateError(f"order {i} watched as an entry it is not")


__all__ = ["Bracket", "Contingent", "OcoGroup"]
