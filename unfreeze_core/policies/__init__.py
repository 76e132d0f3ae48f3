"""Built-in policies: when the next group unfreezes."""

from .base import Policy
from .combinators import AllOf, AnyOf, Composable, MinEpochs, all_of, any_of
from .fixed_epoch import FixedEpoch
from .grad_norm import GradNorm
from .plateau import Plateau

__all__ = [
    "AllOf",
    "AnyOf",
    "Composable",
    "FixedEpoch",
    "GradNorm",
    "MinEpochs",
    "Plateau",
    "Policy",
    "all_of",
    "any_of",
]
