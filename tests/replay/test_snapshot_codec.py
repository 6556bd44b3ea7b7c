"""The snapshot codec (:mod:`exsim.replay.snapshot_codec`): a graph of exsim objects goes to
plain JSON data and back, shared objects shared and cycles kept; a payload naming anything
outside its fixed tables (a module's function, a method, an unknown tag) is refused and
nothing it names is imported or called."""

from __future__ import annotations

import functools
import json
import os
from collections import deque
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from sortedcontainers import SortedList

from exsim.book.orders import Order
from exsim.exchange import Exchange, NewOrder, ReplayedTrade
from exsim.instruments import get_instrument
from exsim.replay.snapshot_codec import ENTITY_CLASSES, Refused, Unsaveable, decode, encode
from exsim.replay.strategy import Strategy


class Keeper(Strategy):
    """A strategy with state of every plain kind."""

    def __init__(self) -> None:
        self.count = 3
        self.history: list[Any] = []


def round_trip(attributes: dict[str, Any], strategy: Any = None) -> dict[str, Any]:
    """Encoded, through JSON text, decoded (the strategy decodes into a fresh object of its class)."""
    text = json.dumps(encode(attributes, replay=None, strategy=strategy))
    target = type(strategy)() if strategy is not None else None
    return decode(json.loads(text), replay=None, strategy=target)


def payload(classes: list[Any], *state: Any) -> dict[str, Any]:
    """A hand-made payload: a class table and ``name, value, ...`` attributes."""
    return {"classes": classes, "state": list(state)}


def order_class() -> list[Any]:
    return ["exsim.book.orders:Order", "slots", list(Order.__slots__)]


class TestRoundTrip:
    """What is written comes back equal, with its sharing and its cycles."""

    def test_plain_values_come_back_equal(self) -> None:
        """Numbers, text, containers, Decimal, Fraction, sorted lists and paths decode equal and of their type."""
        values = {
            "n": -(10**30), "f": 0.1, "s": "x\u2028y", "none": None, "yes": True,
            "l": [1, [2, 3]], "t": (1, ("a", None)), "d": {(1, "BTCUSDT"): {2: 3}}, "st": {1, 2}, "fs": frozenset({"a"}),
            "q": deque([1, 2], maxlen=5), "dec": Decimal("61801.25"), "frac": Fraction(7, 3),
            "sl": SortedList([5, 1, 3]), "path": Path("runs/a"),
        }  # fmt: skip
        back = round_trip(values)
        assert back == values
        assert [type(back[k]) for k in values] == [type(v) for v in values.values()]
        assert back["q"].maxlen == 5

    def test_an_object_referenced_twice_comes_back_shared(self) -> None:
        """One Order in a list and a dict is one object after decoding."""
        order = Order(7, 1, 0, 600_000, 3, client_order_id="s1")
        back = round_trip({"queue": deque([order]), "by_id": {7: order}})
        assert back["queue"][0] is back["by_id"][7]
        assert back["queue"][0].client_order_id == "s1" and back["queue"][0].leaves_lots == 3

    def test_cycles_come_back(self) -> None:
        """A list holding itself decodes to a list holding itself."""
        loop: list[Any] = [1]
        loop.append(loop)
        back = round_trip({"loop": loop})
        assert back["loop"][1] is back["loop"]

    def test_messages_types_and_methods_come_back(self) -> None:
        """Named-tuple commands, command classes as dict keys and an exchange's bound methods decode to the same."""
        exchange = Exchange([get_instrument("BTCUSDT")])
        trade = ReplayedTrade(1, "BTCUSDT", 0, 600_001, 2)
        back = round_trip({"exchange": exchange, "queued": [trade], "table": {NewOrder: exchange.submit}})
        assert back["queued"] == [trade] and type(back["queued"][0]) is ReplayedTrade
        method = back["table"][NewOrder]
        assert method.__self__ is back["exchange"] and method.__func__ is Exchange.submit
        assert back["exchange"]._handlers[ReplayedTrade].__self__ is back["exchange"]

    def test_the_strategy_comes_back_as_its_attributes_on_the_resumes_object(self) -> None:
        """The strategy's attributes are set on the object given to decode; its class is never read from the payload."""
        keeper = Keeper()
        keeper.count = 9
        keeper.history.append(("fill", 3))
        data = json.loads(json.dumps(encode({"strategy": keeper}, replay=None, strategy=keeper)))
        target = Keeper()
        back = decode(data, replay=None, strategy=target)
        assert back["strategy"] is target and target.count == 9 and target.history == [("fill", 3)]
        assert "Keeper" not in json.dumps(data)

    def test_fields_are_read_from_the_class(self) -> None:
        """The class table lists a slotted class's own slots: a field renamed in the code needs no change in the codec."""
        data = encode({"o": Order(1, 1, 0, 5, 1)}, replay=None, strategy=None)
        assert data["classes"] == [order_class()]


class TestRefusedPayloads:
    """A payload naming what is not in the codec's tables is refused; nothing it names runs."""

    @pytest.fixture(autouse=True)
    def no_system(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """os.system fails the test if anything calls it."""

        def called(*args: Any) -> None:
            raise AssertionError(f"os.system was called with {args}")

        monkeypatch.setattr(os, "system", called)

    @pytest.mark.parametrize(
        "classes, state, phrase",
        [
            ([["os:system", "slots", []]], ["x", ["o", 0, []]], "names the class 'os:system'"),
            ([["builtins:eval", "dict", None]], ["x", ["O", 0, []]], "names the class 'builtins:eval'"),
            ([], ["x", ["t", "os:system"]], "names the class ['os:system']"),
            ([], ["x", ["f", "os:system"]], "names the function ['os:system']"),
            ([], ["x", ["p", ["f", "os:system"], ["touch {marker}"]]], "names the function ['os:system']"),
            ([], ["x", ["m", ["R"], "system"]], "names the method"),
            ([], ["x", ["m", ["L", []], "append"]], "names the method list.append"),
            ([], ["x", ["P"]], "a malformed path"),
            ([], ["x", ["exec", "print(1)"]], "an unknown tag 'exec'"),
            ([], ["x", ["r", 4]], "a reference [4] to an object not made yet"),
            ([], ["x", {"__reduce__": "os.system"}], "a JSON object where a tagged value belongs"),
            ([], ["__class__", ["L", []]], "the attribute name '__class__'"),
            ([order_class()[:2] + [["order_id"]]], ["x", ["o", 0, [1]]], "its exsim.book.orders:Order has fields ['order_id']"),
        ],
    )
    def test_a_name_outside_the_tables_is_refused(self, classes: list[Any], state: list[Any], phrase: str, tmp_path: Path) -> None:
        """Classes, functions and methods of other modules, unknown tags, bad references and renamed fields."""
        marker = tmp_path / "marker"
        state = json.loads(json.dumps(state).replace("{marker}", str(marker)))
        with pytest.raises(Refused) as info:
            decode(payload(classes, *state), replay=None, strategy=None)
        assert phrase in str(info.value)
        assert not marker.exists()

    def test_an_exchange_method_outside_the_allowed_names_is_refused(self) -> None:
        """An exsim object's method that is no handler or timer callback (``Exchange.book``) is refused."""
        classes = [["exsim.exchange.exchange:Exchange", "dict", None]]
        with pytest.raises(Refused, match=r"names the method Exchange\.book"):
            decode(payload(classes, "x", ["m", ["O", 0, []], "book"]), replay=None, strategy=None)

    def test_an_attribute_hiding_a_method_is_refused(self) -> None:
        """An exchange whose ``submit`` attribute would hide its method is refused."""
        classes = [["exsim.exchange.exchange:Exchange", "dict", None]]
        with pytest.raises(Refused, match="'submit' of a Exchange would hide its method"):
            decode(payload(classes, "x", ["O", 0, ["submit", 1]]), replay=None, strategy=None)

    def test_deep_nesting_is_refused(self) -> None:
        """100,000 nested lists: refused, no RecursionError escapes."""
        node: Any = 1
        for _ in range(100_000):
            node = ["L", [node]]
        with pytest.raises(Refused, match="nested too deeply"):
            decode(payload([], "x", node), replay=None, strategy=None)

    def test_a_strategy_in_a_payload_without_one_is_refused(self) -> None:
        """A strategy node when the resume has no strategy object to set is refused."""
        with pytest.raises(Refused, match="a second strategy object"):
            decode(payload([], "x", ["s", []]), replay=None, strategy=None)

    def test_the_allowlist_holds_only_exsim_classes(self) -> None:
        """Every class a snapshot may hold is exsim's own."""
        assert all(name.startswith("exsim.") for name in ENTITY_CLASSES)


class TestUnsaveable:
    """What the codec does not write is named, with where it was."""

    def test_a_generator_in_the_strategy_is_named_with_its_attribute(self) -> None:
        """A generator kept by the strategy: the error names its type and ``strategy.source``."""
        keeper = Keeper()
        keeper.source = (i for i in range(3))  # type: ignore[attr-defined]
        with pytest.raises(Unsaveable) as info:
            encode({"strategy": keeper}, replay=None, strategy=keeper)
        assert str(info.value) == "a builtins.generator object at strategy.source"

    def test_an_object_of_another_class_is_named_with_its_place(self) -> None:
        """An object of a class outside the tables, in a list in a dict: its class and its path."""

        class Mine:
            pass

        with pytest.raises(Unsaveable, match=r"Mine object at x\['k'\]\[1\]"):
            encode({"x": {"k": [1, Mine()]}}, replay=None, strategy=None)

    def test_a_partial_of_a_function_outside_the_tables_is_not_written(self) -> None:
        """functools.partial(os.system, ...) is not written."""
        with pytest.raises(Unsaveable, match="the built-in 'system'"):
            encode({"x": functools.partial(os.system, "true")}, replay=None, strategy=None)
