"""Built-in policies: when the next group unfreezes."""

from .autofreeze import AutoFreeze
from .base import Policy
from .combinators import AllOf, AnyOf, Composable, MinEpochs, all_of, any_of
from .fixed_epoch import FixedEpoch
from .freezeout import FreezeOut
from .grad_norm import GradNorm
from .plateau import Plateau

__all__ = [
    "AllOf",
    "AnyOf",
    "AutoFreeze",
    "Composable",
    "FixedEpoch",
    "FreezeOut",
    "GradNorm",
    "MinEpochs",
    "Plateau",
    "Policy",
    "all_of",
    "any_of",
]
