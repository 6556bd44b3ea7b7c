"""Venue profiles (Binance, Bybit, Hyperliquid, dYdX): one engine, each venue's rules.

See :mod:`exsim.venues.profile` and ``docs/venues.md``.
"""

from exsim.venues.profile import BINANCE, BYBIT, DYDX, HYPERLIQUID, VENUE_NAMES, VENUES, VenueProfile, get_venue

__all__ = ["BINANCE", "BYBIT", "DYDX", "HYPERLIQUID", "VENUE_NAMES", "VENUES", "VenueProfile", "get_venue"]
