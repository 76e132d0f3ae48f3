"""Built-in LR rules: how fast each group learns."""

from .base import LRContext, LRRule, piecewise
from .discriminative import Discriminative
from .freezeout import FreezeOutRate
from .product import Multipliable, Product, compose
from .stage_scaled import StageScaled
from .warmup import Warmup

__all__ = [
    "Discriminative",
    "FreezeOutRate",
    "LRContext",
    "LRRule",
    "Multipliable",
    "Product",
    "StageScaled",
    "Warmup",
    "compose",
    "piecewise",
]
