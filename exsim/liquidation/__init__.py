"""The liquidation engine: through the book, clearance fee, insurance fund, takeover, ADL."""

from exsim.liquidation.engine import AdlFill, LiquidatedPosition, LiquidationEngine

__all__ = ["AdlFill", "LiquidatedPosition", "LiquidationEngine"]
