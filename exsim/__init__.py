"""exsim: an event-driven exchange matching and liquidation simulator for crypto perpetuals.

Data flows one way: readers and strategies → :class:`~exsim.loop.EventLoop` →
:class:`~exsim.exchange.Exchange` (validate → :class:`~exsim.book.OrderBook` → events) →
sinks. State is integers with units in their names (ticks, lots, atoms, e8 rates, ns);
see :mod:`exsim.units`.
"""

__version__ = "0.1.0"
