"""What a schedule does over a number of groups whatever the metrics: how many stages it
has, and whether its replay depends on the optimizer steps per epoch.

:mod:`unfreeze_core.replay` and the Keras driver's plan count stages with
:func:`n_stages`; ``unfreeze plan`` asks :func:`depends_on_steps` before it replays a
history that does not record its steps per epoch.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

from .policies.refreezing import refreezes
from .schedule import Schedule

__all__ = ["depends_on_steps", "n_stages"]


def n_stages(schedule: Schedule, n_groups: int) -> int:
    """How many stages a run over ``n_groups`` groups can have (at most: a re-freezing
    policy may freeze several groups at once, each group below the head once).

    Example:
        >>> from unfreeze_core import FixedEpoch, FreezeOut, Schedule
        >>> n_stages(Schedule(FixedEpoch(every=1), initial=2, advance_by=2), 7)
        4
        >>> n_stages(Schedule(FreezeOut(total_steps=100)), 7)
        7
    """
    refreezes_at_most = n_groups - 1 if refreezes(schedule.policy) else 0
    sets = schedule.stage_sets(n_groups)
    if sets is not None:
        return len(sets) + refreezes_at_most
    advances = math.ceil(max(n_groups - schedule.initial, 0) / schedule.advance_by)
    return 1 + advances + refreezes_at_most


def depends_on_steps(schedule: Schedule, n_groups: int, history: Mapping[str, Any]) -> bool:
    """Whether the replay over ``history`` changes with the steps per epoch (a warmup,
    a rule or policy that counts steps): replayed with 1 and with 2 steps per epoch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = schedule.dry_run(n_groups, history, steps_per_epoch=1)
        two = schedule.dry_run(n_groups, history, steps_per_epoch=2)
    return [(r.trainable, r.lr_multipliers_end) for r in one] != [
        (r.trainable, r.lr_multipliers_end) for r in two
    ]
