"""unfreeze-core: progressive unfreezing for Keras, driven by declarative schedules.

The engine (everything importable here) is plain Python: it imports neither
TensorFlow nor Keras. The Keras driver lives in :mod:`unfreeze_core.keras`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import ConfigError, Problem, UnfreezeError, UnfreezeWarning, UnknownTypeError
from .events import EpochEnd, StageChange, StepEnd, TrainBegin
from .groupings import Auto, ByCount, ByLayers, ByPatterns, Family, Group, LayerInfo, PerLayer
from .hookspecs import hookimpl
from .loading import load_schedule
from .lr_rules import Discriminative, LRContext, Product, StageScaled, Warmup, compose
from .policies import (
    AllOf,
    AnyOf,
    AutoFreeze,
    FixedEpoch,
    FreezeOut,
    GradNorm,
    MinEpochs,
    Plateau,
    Policy,
    all_of,
    any_of,
)
from .recommended import recommended_schedule
from .schedule import Decision, EpochRecord, Schedule, ScheduleState, Transition

if TYPE_CHECKING:
    from .keras import ProgressiveUnfreezing

_LAZY = {"ProgressiveUnfreezing": "unfreeze_core.keras"}


def __getattr__(name: str) -> object:
    """Names whose modules import Keras load on first access, keeping the engine light."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'unfreeze_core' has no attribute {name!r}")


__all__ = [
    "AllOf",
    "AnyOf",
    "Auto",
    "AutoFreeze",
    "ByCount",
    "ByLayers",
    "ByPatterns",
    "ConfigError",
    "Decision",
    "Discriminative",
    "EpochEnd",
    "EpochRecord",
    "Family",
    "FixedEpoch",
    "FreezeOut",
    "GradNorm",
    "Group",
    "LRContext",
    "LayerInfo",
    "MinEpochs",
    "PerLayer",
    "Plateau",
    "Policy",
    "Problem",
    "Product",
    "ProgressiveUnfreezing",
    "Schedule",
    "ScheduleState",
    "StageChange",
    "StageScaled",
    "StepEnd",
    "TrainBegin",
    "Transition",
    "UnfreezeError",
    "UnfreezeWarning",
    "UnknownTypeError",
    "Warmup",
    "all_of",
    "any_of",
    "compose",
    "hookimpl",
    "load_schedule",
    "recommended_schedule",
]
