"""The arguments of the ``on_stage_change`` hook, computed from two schedule states."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..groupings import Group
    from ..schedule import Schedule, ScheduleState

__all__ = ["stage_change_arguments"]


def stage_change_arguments(
    schedule: Schedule,
    before: ScheduleState,
    after: ScheduleState,
    *,
    groups: Sequence[Group] = (),
    model: Any = None,
    logs: Mapping[str, float] | None = None,
) -> dict[str, Any] | None:
    """Every argument of ``on_stage_change`` for the change from ``before`` to ``after``
    (see :mod:`unfreeze_core.hookspecs`), or ``None`` when the stage did not change.

    Raises:
        ValueError: ``after`` comes before ``before``.
    """
    if after.stage_index == before.stage_index:
        return None
    if after.stage_index < before.stage_index or not after.transitions:
        raise ValueError(
            f"notify_stage_change: 'after' (stage_index {after.stage_index}) must come "
            f"after 'before' (stage_index {before.stage_index})"
        )
    change = after.transitions[-1]
    now, was = after.trainable, before.trainable
    return {
        "epoch": change.epoch,
        "step": change.step,
        "stage": after.stage,
        "previous": before.stage,
        "stage_index": after.stage_index,
        "trainable": now,
        "newly_trainable": tuple(g for g in now if g not in was),
        "refrozen": tuple(g for g in was if g not in now),
        "groups": tuple(groups),
        "lr_multipliers": schedule.lr_multipliers(after),
        "logs": dict(logs or {}),
        "model": model,
    }
