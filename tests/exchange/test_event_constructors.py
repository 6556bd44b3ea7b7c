"""Every event class has two constructors that build the same object: ``Cls(...)`` with the
``NamedTuple`` signature (keywords, defaults) and ``Cls._of(fields)``, the hot path's, from
one tuple of all fields in order (events.py)."""

from __future__ import annotations

import copy
import pickle

import pytest

from exsim.exchange import events
from exsim.exchange.events import BalanceChanged, BookDelta, Fill, fast_constructor

EVENT_CLASSES = [c for c in vars(events).values() if isinstance(c, type) and c.__module__ == events.__name__
                 and issubclass(c, tuple) and hasattr(c, "_of")]


def test_every_emitted_event_class_has_the_quick_constructor() -> None:
    names = {c.__name__ for c in EVENT_CLASSES}
    assert {"OrderAccepted", "Fill", "BookDelta", "OrderCancelled", "OrderExpired", "PositionChanged"} <= names
    assert len(EVENT_CLASSES) == 22


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_both_constructors_build_the_same_event(cls: type) -> None:
    fields = tuple(range(len(cls._fields)))  # type: ignore[attr-defined]
    quick = cls._of(fields)  # type: ignore[attr-defined]
    slow = cls(*fields)
    assert type(quick) is type(slow) is cls
    assert quick == slow == fields
    assert cls(**dict(zip(cls._fields, fields))) == quick  # type: ignore[attr-defined]
    assert fast_constructor(cls)(fields) == quick
    for name, value in zip(cls._fields, fields):  # type: ignore[attr-defined]
        assert getattr(quick, name) == value


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_pickle_and_copy_keep_the_class_and_fields(cls: type) -> None:
    ev = cls._of(tuple(range(len(cls._fields))))  # type: ignore[attr-defined]
    for back in (pickle.loads(pickle.dumps(ev)), copy.copy(ev), copy.deepcopy(ev)):
        assert type(back) is cls and back == ev


def test_namedtuple_api_kept() -> None:
    d = BookDelta(5, "BTCUSDT", 0, 1000, 3)
    assert d._replace(lots=9) == (5, "BTCUSDT", 0, 1000, 9) and type(d._replace(lots=9)) is BookDelta
    assert BookDelta._make([1, "X", 1, 2, 3]) == (1, "X", 1, 2, 3)
    assert d._asdict() == {"ts_ns": 5, "symbol": "BTCUSDT", "side": 0, "price_ticks": 1000, "lots": 3}
    assert repr(d) == "BookDelta(ts_ns=5, symbol='BTCUSDT', side=0, price_ticks=1000, lots=3)"
    assert BalanceChanged(1, 2, "DEPOSIT", 3, 4).asset == ""  # a default
    f = Fill._of(tuple(range(14)))
    assert f.taker().order_id == 6 and f.maker().order_id == 10  # methods kept
    with pytest.raises(TypeError):
        BookDelta(1, "X")  # missing fields are refused, as by a NamedTuple
