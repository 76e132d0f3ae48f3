"""The ``unfreeze demo`` experiment: real transfer learning on digits shipped in the package.

:mod:`.data`, :mod:`.strategies` and :mod:`.report` are plain Python; :mod:`.experiment`
imports Keras; :mod:`.figure` draws the ``--compare`` figure with matplotlib (imported
when it draws).
"""

from __future__ import annotations

from .data import TransferData, load_digits, make_transfer
from .strategies import (
    BASELINES,
    MONITOR,
    PROGRESSIVE,
    STRATEGIES,
    Result,
    Settings,
    Strategy,
    default_schedule,
    progressive,
    quick_schedule,
)

__all__ = [
    "BASELINES",
    "MONITOR",
    "PROGRESSIVE",
    "STRATEGIES",
    "Result",
    "Settings",
    "Strategy",
    "TransferData",
    "default_schedule",
    "load_digits",
    "make_transfer",
    "progressive",
    "quick_schedule",
]
