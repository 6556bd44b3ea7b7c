"""The liquidation engine: through the book, clearance fee, insurance fund, takeover, ADL.

It asks the exchange only what :class:`~exsim.liquidation.interface.ExchangeForLiquidation`
lists (``docs/architecture.md``).
"""

from exsim.liquidation.engine import AdlFill, LiquidatedPosition, LiquidationEngine

__all__ = ["AdlFill", "LiquidatedPosition", "LiquidationEngine"]
