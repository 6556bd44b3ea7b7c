"""A restricted object-graph codec for replay snapshots: plain JSON data, never code.

A replay's state is a graph of exsim objects (books, orders, accounts, the event loop's
queue and timers, ...) with shared references and cycles. :func:`encode` walks it from a
root and gives a JSON-ready value; :func:`decode` builds the same graph again. Unlike a
pickle, the file names no code: what it may hold is fixed here.

What a value may be
-------------------
* ``None``, ``bool``, ``int``, ``float``, ``str``: themselves.
* Every other value is a JSON array whose first element is a tag:

  ======================= ===================================================================
  ``["L", [v...]]``       list (``S`` set, ``Q`` deque: ``["Q", maxlen, [v...]]``)
  ``["T", [v...]]``       tuple (``F`` frozenset)
  ``["D", [k, v, ...]]``  dict, keys and values alternating (``M``: the ledger's SharedMap)
  ``["K", [v...]]``       sortedcontainers ``SortedList``; ``["KD", [k, v, ...]]`` ``SortedDict``
  ``["d", "1.5"]``        ``Decimal``; ``["q", num, den]`` ``Fraction``; ``["P", "a/b"]`` a path
  ``["o", c, [v...]]``    an instance of class ``c`` (an index into the class table) with
                          the table's fields of ``c`` in order (``["U"]``: a slot left unset)
  ``["O", c, [k, v...]]`` an instance of a class without slots: its attributes by name
  ``["G", c, [k, v...]]`` an instance of a class with its own ``__getstate__``: that state
  ``["n", c, [v...]]``    a named tuple (a command, an event) of class ``c``
  ``["t", name]``         a class, by name (dispatch tables are keyed by command type)
  ``["f", name]``         a function, by name
  ``["m", obj, name]``    a bound method; ``["g", dict]`` a dict's ``get``
  ``["p", f, [a...]]``    ``functools.partial(f, *a)``
  ``["s", [k, v...]]``    the strategy object: its attributes (its class is the resume's own)
  ``["R"]``               the replay being saved or restored
  ``["r", i]``            the ``i``-th mutable object of the walk again (shared or cyclic)
  ======================= ===================================================================

Mutable objects (lists, dicts, sets, deques, sorted containers, instances, the strategy)
are numbered in the order the walk first meets them (depth first; a mapping's keys all
before its values), so an object referenced twice is written once and comes back shared;
cycles go through them. Tuples are not numbered: one referenced twice comes back as two
equal tuples.

What a decoder does with a file
-------------------------------
It looks classes, functions and methods up in tables made here from exsim's own modules
(:data:`ENTITY_CLASSES`, :data:`MESSAGE_MODULES`, :data:`FUNCTIONS`, :data:`METHODS`): a
name the file gives is a key, never imported or called. Instances are made with
``object.__new__`` and their fields set as data (no ``__init__``, no validator); the fields
a file lists for a class must be the class's own fields (the class table is checked before
any object is made). The strategy's class is the one the resuming run was given, and the
file only gives its attributes. A tag, class, function or method name that is not in the
tables, a malformed node or a reference to an object not yet made is :class:`Refused`.

Fields are read generically (slots along the class's MRO, ``__dict__``, or the class's
``__getstate__``), so a renamed field needs no change here.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import inspect
import types
from collections import deque
from decimal import Decimal
from fractions import Fraction
from operator import attrgetter
from pathlib import Path, PurePath
from typing import Any, Callable, Final, Iterable, Iterator

from sortedcontainers import SortedDict, SortedList

#: the classes whose instances a snapshot holds, by ``module:qualname``
ENTITY_CLASSES: Final = (
    "exsim.book.order_book:Level",
    "exsim.book.order_book:OrderBook",
    "exsim.book.orders:Order",
    "exsim.exchange.exchange:Exchange",
    "exsim.exchange.contingent:Bracket",
    "exsim.exchange.contingent:Contingent",
    "exsim.exchange.contingent:OcoGroup",
    "exsim.exchange.exchange:_Market",
    "exsim.exchange.trailing:TrailingIndex",
    "exsim.exchange.trailing:TrailingStop",
    "exsim.exchange.trailing:_Side",
    "exsim.exchange.triggers:StopOrder",
    "exsim.exchange.triggers:TriggerIndex",
    "exsim.instruments.brackets:Bracket",
    "exsim.instruments.brackets:BracketTable",
    "exsim.instruments.instrument:Instrument",
    "exsim.ledger.accounts:Account",
    "exsim.ledger.accounts:Portfolio",
    "exsim.ledger.accounts:Position",
    "exsim.ledger.collateral:CollateralRule",
    "exsim.ledger.holds:OpenOrders",
    "exsim.ledger.ledger:AssetBook",
    "exsim.ledger.ledger:Ledger",
    "exsim.ledger.risk_index:RiskIndex",
    "exsim.ledger.risk_index:TriggerHeap",
    "exsim.liquidation.engine:LiquidationEngine",
    "exsim.loop.event_loop:EventLoop",
    "exsim.loop.event_loop:Timer",
    "exsim.loop.event_loop:_Source",
    "exsim.replay.bars:BarAggregator",
    "exsim.margin.funding:PremiumAverager",
    "exsim.margin.mark:MarkPriceCalculator",
    "exsim.replay.recorder:Recorder",
    "exsim.replay.recorder:SymbolRecord",
    "exsim.replay.runner:ReplayConfig",
    "exsim.replay.runner:_Ladder",
    "exsim.replay.runner:_Recorder",
    "exsim.replay.strategy:BracketHandle",
    "exsim.replay.strategy:Context",
    "exsim.replay.strategy:OrderHandle",
    "exsim.results.positions:PositionTracks",
    "exsim.results.stats:EquityCurve",
    "exsim.results.trips:AccountTally",
    "exsim.results.trips:Trip",
    "exsim.results.trips:TripBook",
    "exsim.results.trips:_Held",
    "exsim.venues.profile:VenueProfile",
)
#: modules whose named tuples (commands, events, market items: immutable messages) a
#: snapshot may hold, as values or as the keys of dispatch tables
MESSAGE_MODULES: Final = (
    "exsim.exchange.commands",
    "exsim.exchange.events",
    "exsim.ledger.collateral",
    "exsim.liquidation.engine",
    "exsim.replay.bars",
    "exsim.replay.collateral",
    "exsim.replay.market",
    "exsim.replay.strategy",
)
#: plain functions a snapshot may reference (the liquidation engine's ADL ranking)
FUNCTIONS: Final = ("exsim.liquidation.engine:binance_adl_score", "exsim.liquidation.engine:leverage_adl_score")
#: the bound methods a snapshot may hold (timer callbacks, dispatch tables, sinks), per
#: class: exact names, and name prefixes (event handlers are ``_on_*`` by convention)
METHODS: Final[dict[str, tuple[frozenset[str], tuple[str, ...]]]] = {
    "exsim.replay.runner:Replay": (
        frozenset(
            {
                "_sample_index", "_sampler", "_settle_funding", "_strategy_timer", "_strategy_start", "_checkpoint",
                "_bar_close", "_feed_bars", "_hold_first_trade",
            }
        ),
        ("_on_",),
    ),
    "exsim.exchange.exchange:Exchange": (frozenset({"submit"}), ("_on_",)),
    "exsim.replay.recorder:Recorder": (frozenset({"sample_timer"}), ()),
    "exsim.replay.runner:_Recorder": (frozenset({"sample_timer"}), ()),
    # the strategy: the hooks the replay calls
    "strategy": (frozenset(), ("on_",)),
}
_REPLAY: Final = "exsim.replay.runner:Replay"
_PRIMITIVES: Final = frozenset({type(None), bool, int, float, str})
#: class attributes an instance attribute read from a file may not hide
_CODE: Final = (types.FunctionType, property, classmethod, staticmethod)


class Unsaveable(TypeError):
    """A value the codec does not write; ``path`` says where it was (``strategy.log``)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
        self.path: list[str] = []

    def where(self) -> str:
        return "".join(reversed(self.path)).lstrip(".")

    def __str__(self) -> str:
        where = self.where()
        return f"{self.what} at {where}" if where else self.what


class Refused(ValueError):
    """The payload is not a snapshot this exsim can decode (the message says what)."""


# ---------------------------------------------------------------------- the tables
def _name(obj: Any) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def _resolve(name: str) -> Any:
    module, _, qualname = name.partition(":")
    obj: Any = importlib.import_module(module)  # (exsim's own modules, named above)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


@functools.cache
def _tables() -> tuple[dict[str, type], dict[str, type], dict[str, Callable[..., Any]]]:
    """``(entity classes, message classes, functions)`` by name."""
    entities = {name: _resolve(name) for name in ENTITY_CLASSES}
    messages: dict[str, type] = {}
    for module_name in MESSAGE_MODULES:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, tuple) and hasattr(value, "_fields") and value.__module__ == module_name:
                messages[_name(value)] = value
    functions = {name: _resolve(name) for name in FUNCTIONS}
    return entities, messages, functions


def _slots(cls: type) -> tuple[str, ...] | None:
    """The slots of ``cls`` along its MRO (None when its instances have a ``__dict__``)."""
    names: list[str] = []
    for k in reversed(cls.__mro__):
        if k is object:
            continue
        if "__slots__" not in vars(k):
            return None
        slots = vars(k)["__slots__"]
        for s in (slots,) if isinstance(slots, str) else slots:
            if s == "__dict__":
                return None
            if s != "__weakref__" and s not in names:
                names.append(s)
    return tuple(names)


def _own_getstate(cls: type) -> bool:
    """Whether ``cls`` saves itself through ``__getstate__``/``__setstate__`` (not attrs' own)."""
    for k in cls.__mro__:
        if "__getstate__" in vars(k):
            return k is not object and "__attrs_attrs__" not in vars(k) and "__setstate__" in vars(k)
    return False


def _method_allowed(rules: tuple[frozenset[str], tuple[str, ...]], name: str) -> bool:
    exact, prefixes = rules
    return not name.startswith("__") and (name in exact or name.startswith(prefixes))


# ---------------------------------------------------------------------- encoding
class _Encoder:
    """One walk of a graph (see the module doc). Not reusable."""

    def __init__(self, replay: Any, strategy: Any, skip: Callable[[Any], bool]) -> None:
        entities, messages, functions = _tables()
        self.replay = replay
        self.strategy = strategy
        self.skip = skip  # objects written as None (the run's open files)
        self.memo: dict[int, int] = {}
        self.classes: list[list[Any]] = []  # [name, kind, fields]
        self.class_index: dict[type, int] = {}
        self.entities = {cls: name for name, cls in entities.items()}
        self.messages = {cls: name for name, cls in messages.items()}
        self.functions = {id(f): name for name, f in functions.items()}
        self.getters: dict[type, Callable[[Any], Any]] = {}
        self.by_type: dict[type, Callable[[Any], Any]] = {
            list: self._list,
            tuple: self._tuple,
            dict: self._dict,
            set: self._set,
            frozenset: self._frozenset,
            deque: self._deque,
            SortedList: self._sorted_list,
            SortedDict: self._sorted_dict,
            Decimal: lambda v: ["d", str(v)],
            Fraction: lambda v: ["q", v.numerator, v.denominator],
            types.MethodType: self._method,
            types.BuiltinMethodType: self._builtin_method,
            functools.partial: self._partial,
            types.FunctionType: self._function,
            type: self._type,
        }
        for cls in self.messages:  # classes with a metaclass of their own (the events')
            self.by_type.setdefault(type(cls), self._type)

    def enc(self, v: Any) -> Any:
        t = type(v)
        if t in _PRIMITIVES:
            return v
        f = self.by_type.get(t)
        if f is not None:
            return f(v)
        return self._other(v)

    def _seen(self, v: Any) -> list[Any] | None:
        """A reference to ``v`` if the walk met it before; else number it."""
        i = self.memo.get(id(v))
        if i is not None:
            return ["r", i]
        self.memo[id(v)] = len(self.memo)
        return None

    # The walk's hot loops are comprehensions (a Python loop with appends costs about twice
    # as much); where one fails, the enumerate it consumed tells which element it was.
    def _items(self, values: Any) -> list[Any]:
        enc, prim = self.enc, _PRIMITIVES
        it = enumerate(values)
        try:
            return [v if type(v) in prim else enc(v) for _, v in it]
        except Unsaveable as exc:
            exc.path.append(f"[{_failed_at(it, len(values))}]")
            raise

    def _pairs(self, items: Any) -> list[Any]:
        """A mapping's keys and values, alternating (all keys are walked first, then the values)."""
        enc, prim = self.enc, _PRIMITIVES
        keys = list(items.keys())
        it = enumerate(keys)
        try:
            out = [k if type(k) in prim else enc(k) for _, k in it]
        except Unsaveable as exc:
            exc.path.append(f" (a key at {_failed_at(it, len(keys))})")
            raise
        it = enumerate(items.values())
        try:
            values = [v if type(v) in prim else enc(v) for _, v in it]
        except Unsaveable as exc:
            exc.path.append(f"[{keys[_failed_at(it, len(keys))]!r}]")
            raise
        both: list[Any] = [None] * (2 * len(out))
        both[::2] = out
        both[1::2] = values
        return both

    def _fields(self, names: Any, values: Any) -> list[Any]:
        """Attributes by name, alternating (instances without slots, the strategy)."""
        names = list(names)
        values = list(values)
        enc, prim = self.enc, _PRIMITIVES
        it = enumerate(values)
        try:
            encoded = [v if type(v) in prim else enc(v) for _, v in it]
        except Unsaveable as exc:
            exc.path.append(f".{names[_failed_at(it, len(values))]}")
            raise
        both: list[Any] = [None] * (2 * len(names))
        both[::2] = names
        both[1::2] = encoded
        return both

    def _list(self, v: list[Any]) -> list[Any]:
        return self._seen(v) or ["L", self._items(v)]

    def _tuple(self, v: tuple[Any, ...]) -> list[Any]:
        return ["T", self._items(v)]

    def _dict(self, v: dict[Any, Any]) -> list[Any]:
        return self._seen(v) or ["D", self._pairs(v)]

    def _set(self, v: set[Any]) -> list[Any]:
        return self._seen(v) or ["S", self._items(v)]

    def _frozenset(self, v: frozenset[Any]) -> list[Any]:
        return ["F", self._items(v)]

    def _deque(self, v: deque[Any]) -> list[Any]:
        return self._seen(v) or ["Q", v.maxlen, self._items(v)]

    def _sorted_list(self, v: SortedList) -> list[Any]:
        return self._seen(v) or ["K", self._items(v)]

    def _sorted_dict(self, v: SortedDict) -> list[Any]:
        if v.key is not None:
            raise Unsaveable("a SortedDict with a key function")
        return self._seen(v) or ["KD", self._pairs(v)]

    def _method(self, v: types.MethodType) -> list[Any]:
        owner = v.__self__
        name = v.__func__.__name__
        if owner is self.strategy:
            rules = METHODS["strategy"]
            what = "the strategy"
        elif owner is self.replay and self.replay is not None:
            rules = METHODS[_REPLAY]
            what = "the replay"
        else:
            cls_name = _name(type(owner))
            rules = METHODS.get(cls_name)  # type: ignore[assignment]
            what = cls_name
        if rules is None or not _method_allowed(rules, name) or getattr(type(owner), name, None) is not v.__func__:
            raise Unsaveable(f"the bound method {what}.{name} (not one a snapshot may hold)")
        return ["m", self.enc(owner), name]

    def _builtin_method(self, v: Any) -> list[Any]:
        owner = getattr(v, "__self__", None)
        if type(owner) is dict and v.__name__ == "get":
            return ["g", self._dict(owner)]
        raise Unsaveable(f"the built-in {getattr(v, '__qualname__', v)!r}")

    def _partial(self, v: functools.partial[Any]) -> list[Any]:
        if v.keywords:
            raise Unsaveable("a functools.partial with keyword arguments")
        return ["p", self.enc(v.func), self._items(v.args)]

    def _function(self, v: types.FunctionType) -> list[Any]:
        name = self.functions.get(id(v))
        if name is None:
            raise Unsaveable(f"the function {_name(v)}")
        return ["f", name]

    def _type(self, v: type) -> list[Any]:
        name = self.entities.get(v) or self.messages.get(v)
        if name is None:
            raise Unsaveable(f"the class {_name(v)}")
        return ["t", name]

    def _other(self, v: Any) -> Any:
        if v is self.replay:
            return ["R"]
        if v is self.strategy:
            ref = self._seen(v)
            if ref is not None:
                return ref
            state = dict(vars(v)) if hasattr(v, "__dict__") else {}
            for k in type(v).__mro__:  # (a strategy with slots: those too)
                slots = vars(k).get("__slots__", ())
                for name in (slots,) if isinstance(slots, str) else slots:
                    if name not in ("__dict__", "__weakref__") and hasattr(v, name):
                        state[name] = getattr(v, name)
            return ["s", self._fields(state.keys(), state.values())]
        t = type(v)
        if isinstance(v, PurePath):
            return ["P", str(v)]
        if self.skip(v):
            return None
        if t.__name__ == "SharedMap" and t.__module__ == "exsim.ledger.accounts":
            return self._seen(v) or ["M", self._pairs(v)]
        if t in self.messages:
            self.by_type[t] = self._message
            return self._message(v)
        if t in self.entities:
            self.by_type[t] = self._entity
            return self._entity(v)
        if t.__module__.startswith("exsim."):  # (for exsim's developers: a new class in the run's state)
            raise Unsaveable(
                f"a {t.__module__}.{t.__qualname__} object, of a class not in ENTITY_CLASSES of exsim/replay/snapshot_codec.py"
            )
        raise Unsaveable(f"a {t.__module__}.{t.__qualname__} object")

    def _class(self, t: type) -> int:
        i = self.class_index.get(t)
        if i is None:
            if t in self.messages:
                kind, fields = "tuple", list(t._fields)  # type: ignore[attr-defined]
            elif _own_getstate(t):
                kind, fields = "state", None
            else:
                slots = _slots(t)
                kind, fields = ("slots", list(slots)) if slots is not None else ("dict", None)
                if slots is not None:
                    self.getters[t] = attrgetter(*slots) if len(slots) > 1 else (lambda o, g=attrgetter(slots[0]): (g(o),))
            i = self.class_index[t] = len(self.classes)
            self.classes.append([self.messages.get(t) or self.entities[t], kind, fields])
        return i

    def _message(self, v: Any) -> list[Any]:
        return ["n", self._class(type(v)), self._items(v)]

    def _entity(self, v: Any) -> list[Any]:
        ref = self._seen(v)
        if ref is not None:
            return ref
        t = type(v)
        c = self._class(t)
        kind = self.classes[c][1]
        if kind == "slots":
            try:
                values = self.getters[t](v)
            except AttributeError:  # a slot left unset
                values = tuple(getattr(v, s, _UNSET) for s in self.classes[c][2])
            enc, prim = self.enc, _PRIMITIVES
            it = enumerate(values)
            try:
                out = [x if type(x) in prim else (_UNSET_NODE if x is _UNSET else enc(x)) for _, x in it]
            except Unsaveable as exc:
                exc.path.append(f".{self.classes[c][2][_failed_at(it, len(values))]}")
                raise
            return ["o", c, out]
        state = v.__getstate__() if kind == "state" else vars(v)
        if type(state) is not dict:
            raise Unsaveable(f"a {t.__qualname__} whose state is not a dict")
        return ["G" if kind == "state" else "O", c, self._fields(state.keys(), state.values())]


_UNSET: Final[Any] = object()
_UNSET_NODE: Final = ["U"]


def _failed_at(it: Iterable[tuple[int, Any]], length: int) -> int:
    """The index of the element whose encoding failed, from the enumerate that gave it."""
    following = next(iter(it), None)
    return length - 1 if following is None else following[0] - 1


def encode(attributes: dict[str, Any], *, replay: Any, strategy: Any, skip: Callable[[Any], bool] = lambda v: False) -> dict[str, Any]:
    """The JSON-ready form of ``replay``'s ``attributes``: ``{"classes": [...], "state":
    [name, value, ...]}``.

    ``replay`` is written as ``["R"]`` wherever it is referenced, ``strategy`` as its
    attributes; ``skip(v)`` true writes ``v`` as None (the run's open files). Raises
    :class:`Unsaveable` naming the first value it cannot write and where it is. O(size of
    the graph).
    """
    walk = _Encoder(replay, strategy, skip)
    with _no_gc():
        try:
            state = walk._fields(attributes.keys(), attributes.values())
        except RecursionError:
            raise Unsaveable("a structure nested too deeply") from None
    return {"classes": walk.classes, "state": state}


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic garbage collector off while a walk makes tens of thousands of containers
    (it would scan them all again and again, for nothing: none of them is garbage)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# ---------------------------------------------------------------------- decoding
class _Decoder:
    """One rebuild of a graph from its encoded form (see the module doc)."""

    def __init__(self, classes: Any, replay: Any, strategy: Any) -> None:
        entities, messages, functions = _tables()
        self.replay = replay
        self.strategy = strategy
        self.functions = functions
        self.types = {**entities, **messages}
        self.objects: list[Any] = []
        if type(classes) is not list:
            raise Refused("its class table is not a list")
        self.classes: list[tuple[type, str, Any]] = []
        for entry in classes:
            if type(entry) is not list or len(entry) != 3 or type(entry[0]) is not str:
                raise Refused(f"a malformed class table entry {str(entry)[:80]!r}")
            name, kind, fields = entry
            if name in messages:
                cls = messages[name]
                if kind != "tuple" or fields != list(cls._fields):  # type: ignore[attr-defined]
                    raise Refused(f"its {name} has fields {fields}; this exsim's has {list(cls._fields)}")  # type: ignore[attr-defined]
                self.classes.append((cls, kind, None))
                continue
            cls = entities.get(name)  # type: ignore[assignment]
            if cls is None:
                raise Refused(f"it names the class {name[:100]!r}, which is not one a snapshot may hold")
            slots = _slots(cls)
            if _own_getstate(cls):
                expect = ("state", None)
            elif slots is None:
                expect = ("dict", None)
            else:
                expect = ("slots", list(slots))
            if kind == expect[0] == "slots" and fields != expect[1]:
                raise Refused(f"its {name} has fields {fields}; this exsim's has {expect[1]} (a snapshot of other code)")
            if (kind, fields) != expect:
                raise Refused(f"its {name} is stored as {kind} {fields}; this exsim's is {expect[0]} {expect[1]}")
            setters = [_slot_setter(cls, s) for s in slots] if kind == "slots" and slots is not None else None
            self.classes.append((cls, kind, setters))
        self.by_tag: dict[str, Callable[[list[Any]], Any]] = {
            "L": self._list,
            "T": self._tuple,
            "D": self._dict,
            "S": self._set,
            "F": self._frozenset,
            "Q": self._deque,
            "K": self._sorted_list,
            "KD": self._sorted_dict,
            "M": self._shared_map,
            "d": self._decimal,
            "q": self._fraction,
            "P": self._path,
            "o": self._slotted,
            "O": self._with_dict,
            "G": self._with_state,
            "n": self._message,
            "t": self._type,
            "f": self._function,
            "m": self._method,
            "g": self._dict_get,
            "p": self._partial,
            "s": self._strategy,
            "R": lambda node: self.replay,
            "r": self._ref,
        }

    def dec(self, v: Any) -> Any:
        t = type(v)
        if t is list:
            if not v or type(v[0]) is not str:
                raise Refused(f"a malformed node {str(v)[:60]!r}")
            f = self.by_tag.get(v[0])
            if f is None:
                raise Refused(f"an unknown tag {v[0][:20]!r}")
            return f(v)
        if t is dict:
            raise Refused("a JSON object where a tagged value belongs")
        return v

    def _list_arg(self, node: list[Any], at: int = 1) -> list[Any]:
        if len(node) <= at or type(node[at]) is not list:
            raise Refused(f"a malformed {node[0]!r} node")
        return node[at]  # type: ignore[no-any-return]

    def _values(self, items: list[Any]) -> list[Any]:
        dec = self.dec
        return [dec(x) if type(x) is list or type(x) is dict else x for x in items]

    def _new(self, obj: Any) -> Any:
        self.objects.append(obj)
        return obj

    def _list(self, node: list[Any]) -> list[Any]:
        out: list[Any] = self._new([])
        out.extend(self._values(self._list_arg(node)))
        return out

    def _tuple(self, node: list[Any]) -> tuple[Any, ...]:
        return tuple(self._values(self._list_arg(node)))

    def _pairs_into(self, target: Any, items: list[Any]) -> Any:
        """Fill ``target`` with alternating keys and values (keys decoded first, as written)."""
        if len(items) % 2:
            raise Refused("a mapping with an odd number of keys and values")
        dec = self.dec
        keys = [dec(k) if type(k) is list or type(k) is dict else k for k in items[::2]]
        values = [dec(v) if type(v) is list or type(v) is dict else v for v in items[1::2]]
        target.update(zip(keys, values))
        return target

    def _dict(self, node: list[Any]) -> dict[Any, Any]:
        return self._pairs_into(self._new({}), self._list_arg(node))  # type: ignore[no-any-return]

    def _shared_map(self, node: list[Any]) -> Any:
        from exsim.ledger.accounts import SharedMap

        index = len(self.objects)
        self.objects.append(None)  # numbered now; made once its entries are known (it is read-only)
        entries = self._pairs_into({}, self._list_arg(node))
        self.objects[index] = shared = SharedMap(entries)
        return shared

    def _set(self, node: list[Any]) -> set[Any]:
        out: set[Any] = self._new(set())
        out.update(self._values(self._list_arg(node)))
        return out

    def _frozenset(self, node: list[Any]) -> frozenset[Any]:
        return frozenset(self._values(self._list_arg(node)))

    def _deque(self, node: list[Any]) -> deque[Any]:
        if len(node) != 3 or not (node[1] is None or (type(node[1]) is int and node[1] >= 0)):
            raise Refused("a malformed deque")
        out: deque[Any] = self._new(deque(maxlen=node[1]))
        out.extend(self._values(self._list_arg(node, 2)))
        return out

    def _sorted_list(self, node: list[Any]) -> SortedList:
        out = self._new(SortedList())
        out.update(self._values(self._list_arg(node)))
        return out

    def _sorted_dict(self, node: list[Any]) -> SortedDict:
        return self._pairs_into(self._new(SortedDict()), self._list_arg(node))

    def _decimal(self, node: list[Any]) -> Decimal:
        if len(node) != 2 or type(node[1]) is not str or len(node[1]) > 200:
            raise Refused("a malformed decimal")
        return Decimal(node[1])

    def _fraction(self, node: list[Any]) -> Fraction:
        if len(node) != 3 or type(node[1]) is not int or type(node[2]) is not int or node[2] <= 0:
            raise Refused("a malformed fraction")
        return Fraction(node[1], node[2])

    def _path(self, node: list[Any]) -> Path:
        if len(node) != 2 or type(node[1]) is not str:
            raise Refused("a malformed path")
        return Path(node[1])

    def _class_of(self, node: list[Any]) -> tuple[type, str, Any]:
        if len(node) != 3 or type(node[1]) is not int or not 0 <= node[1] < len(self.classes):
            raise Refused(f"a malformed {node[0]!r} node")
        return self.classes[node[1]]

    def _slotted(self, node: list[Any]) -> Any:
        cls, kind, setters = self._class_of(node)
        if kind != "slots":
            raise Refused(f"a {cls.__qualname__} stored as {kind} written as slots")
        values = self._list_arg(node, 2)
        if len(values) != len(setters):
            raise Refused(f"a {cls.__qualname__} with {len(values)} fields; it has {len(setters)}")
        obj = object.__new__(cls)
        self.objects.append(obj)
        dec = self.dec_slot
        for setter, x in zip(setters, [dec(x) if type(x) is list or type(x) is dict else x for x in values]):
            if x is not _UNSET:
                setter(obj, x)
        return obj

    def dec_slot(self, v: Any) -> Any:
        """:meth:`dec`, and ``["U"]`` (a slot left unset) is :data:`_UNSET`."""
        return _UNSET if v == _UNSET_NODE else self.dec(v)

    def _named_values(self, items: list[Any], cls: type) -> Iterable[tuple[str, Any]]:
        """Attribute names and values: identifiers that hide none of the class's methods."""
        if len(items) % 2:
            raise Refused("attributes with an odd number of names and values")
        dec = self.dec
        it = iter(items)
        for name in it:
            v = next(it)
            if type(name) is not str or not name.isidentifier() or name.startswith("__"):
                raise Refused(f"the attribute name {str(name)[:40]!r} of a {cls.__qualname__}")
            if isinstance(inspect.getattr_static(cls, name, None), _CODE):
                raise Refused(f"the attribute {name!r} of a {cls.__qualname__} would hide its method")
            yield name, dec(v) if type(v) is list or type(v) is dict else v

    def _with_dict(self, node: list[Any]) -> Any:
        cls, kind, _ = self._class_of(node)
        if kind != "dict":
            raise Refused(f"a {cls.__qualname__} stored as {kind} written as attributes")
        obj = self._new(object.__new__(cls))
        d = obj.__dict__
        for name, value in self._named_values(self._list_arg(node, 2), cls):
            d[name] = value
        return obj

    def _with_state(self, node: list[Any]) -> Any:
        cls, kind, _ = self._class_of(node)
        if kind != "state":
            raise Refused(f"a {cls.__qualname__} stored as {kind} written as a state")
        obj = self._new(object.__new__(cls))
        state = dict(self._named_values(self._list_arg(node, 2), cls))
        try:
            obj.__setstate__(state)  # the class's own (an exsim class of ENTITY_CLASSES)
        except (AttributeError, TypeError, ValueError) as exc:
            raise Refused(f"a {cls.__qualname__} whose state does not load ({exc})") from None
        return obj

    def _message(self, node: list[Any]) -> Any:
        cls, kind, _ = self._class_of(node)
        if kind != "tuple":
            raise Refused(f"a {cls.__qualname__} written as a named tuple")
        values = self._values(self._list_arg(node, 2))
        if len(values) != len(cls._fields):  # type: ignore[attr-defined]
            raise Refused(f"a {cls.__qualname__} with {len(values)} fields; it has {len(cls._fields)}")  # type: ignore[attr-defined]
        return tuple.__new__(cls, values)

    def _type(self, node: list[Any]) -> type:
        if len(node) != 2 or type(node[1]) is not str or node[1] not in self.types:
            raise Refused(f"it names the class {str(node[1:])[:100]}, which is not one a snapshot may hold")
        return self.types[node[1]]

    def _function(self, node: list[Any]) -> Any:
        if len(node) != 2 or type(node[1]) is not str or node[1] not in self.functions:
            raise Refused(f"it names the function {str(node[1:])[:100]}, which is not one a snapshot may hold")
        return self.functions[node[1]]

    def _method(self, node: list[Any]) -> Any:
        if len(node) != 3 or type(node[2]) is not str:
            raise Refused("a malformed method")
        owner = self.dec(node[1])
        name = node[2]
        if owner is self.strategy:
            rules = METHODS["strategy"]
        elif owner is self.replay and self.replay is not None:
            rules = METHODS[_REPLAY]
        else:
            rules = METHODS.get(_name(type(owner)))  # type: ignore[assignment]
        func = inspect.getattr_static(type(owner), name, None) if rules is not None and _method_allowed(rules, name) else None
        if type(func) is not types.FunctionType:
            raise Refused(f"it names the method {type(owner).__qualname__}.{name[:60]}, which is not one a snapshot may hold")
        return types.MethodType(func, owner)

    def _dict_get(self, node: list[Any]) -> Any:
        if len(node) != 2 or type(node[1]) is not list:
            raise Refused("a malformed dict.get")
        owner = self.dec(node[1])
        if type(owner) is not dict:
            raise Refused("a dict.get of something that is not a dict")
        return owner.get

    def _partial(self, node: list[Any]) -> functools.partial[Any]:
        if len(node) != 3:
            raise Refused("a malformed partial")
        func = self.dec(node[1])
        if type(func) is not types.MethodType:  # only partials of the methods allowed above
            raise Refused("a partial of something that is not an allowed method")
        return functools.partial(func, *self._values(self._list_arg(node, 2)))

    def _strategy(self, node: list[Any]) -> Any:
        target = self.strategy
        if target is None or any(o is target for o in self.objects):
            raise Refused("a second strategy object")
        self.objects.append(target)
        cls = type(target)
        state = list(self._named_values(self._list_arg(node), cls))
        if hasattr(target, "__dict__"):
            target.__dict__.clear()
        for name, value in state:
            object.__setattr__(target, name, value)
        return target

    def _ref(self, node: list[Any]) -> Any:
        if len(node) != 2 or type(node[1]) is not int or not 0 <= node[1] < len(self.objects):
            raise Refused(f"a reference {str(node[1:])[:40]} to an object not made yet")
        obj = self.objects[node[1]]
        if obj is None:
            raise Refused("a reference into a read-only map from inside it")
        return obj


def _slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """The setter of slot ``name`` of ``cls`` (its member descriptor's ``__set__``)."""
    for k in cls.__mro__:
        d = vars(k).get(name)
        if isinstance(d, types.MemberDescriptorType):
            return d.__set__
    raise Refused(f"{cls.__qualname__} has no slot {name!r}")


def decode(data: Any, *, replay: Any, strategy: Any) -> dict[str, Any]:
    """The attributes :func:`encode` gave ``data`` for, rebuilt; ``["R"]`` becomes
    ``replay`` and ``["s", ...]`` sets the attributes of ``strategy`` (the resuming run's
    own object).

    Raises :class:`Refused` for anything that is not such a graph. Nothing named in
    ``data`` is imported or called but the classes, functions and methods of this
    module's tables, and only ``__setstate__`` of those that define it. O(size).
    """
    if type(data) is not dict or set(data) != {"classes", "state"} or type(data["state"]) is not list:
        raise Refused("its state is not a snapshot's (no class table and state)")
    try:
        walk = _Decoder(data["classes"], replay, strategy)
        with _no_gc():
            return dict(walk._named_values(data["state"], type(replay)))
    except Refused:
        raise
    except RecursionError:
        raise Refused("its state is nested too deeply") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError, StopIteration) as exc:
        raise Refused(f"its state does not load ({type(exc).__name__}: {str(exc)[:120]})") from None
