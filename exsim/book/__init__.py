"""The order book: price-time priority in integer ticks and lots; knows nothing of margin."""

from exsim.book.order_book import CONSERVATIVE, PROPORTIONAL, QUEUE_MODELS, Level, OrderBook
from exsim.book.orders import Order

__all__ = ["CONSERVATIVE", "PROPORTIONAL", "QUEUE_MODELS", "Level", "Order", "OrderBook"]
