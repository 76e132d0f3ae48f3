"""Resuming a run: from the driver's backup, or where an earlier ``fit`` stopped.

The backup itself (files, atomic writes) is :class:`~.checkpoint.Backup`; this module
decides what a checkpoint means for the run: the groups must be the same, the weights
and the full optimizer state are loaded, the schedule continues from the saved state,
and ``fit`` is told to start after the last completed epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from ..schedule import ScheduleState
from . import internals
from .checkpoint import Backup

__all__ = ["Restored", "payload", "release", "restore", "start_problem"]


@attrs.frozen
class Restored:
    """What a checkpoint gives back: the schedule state, the epochs done, the timeline."""

    state: ScheduleState
    epochs_done: int
    timeline: list[tuple[int, int]]


def restore(backup: Backup, model: Any, group_names: Sequence[str]) -> Restored | None:
    """Own ``backup``'s folder and load its newest intact checkpoint into ``model``;
    ``None`` when there is none.

    The current ``fit`` is told to start after the checkpoint's last epoch.

    Raises:
        BackupError: the folder is in use by another run, or holds checkpoints of which
            none is intact, or was written for other groups or variable shapes.
    """
    backup.acquire()
    found = backup.restore(model, list(group_names))
    if found is None:
        return None
    restored = Restored(
        state=found.state, epochs_done=found.epochs_done, timeline=list(found.timeline)
    )
    internals.set_initial_epoch(model, restored.epochs_done)
    return restored


def release(model: Any) -> None:
    """Stop telling ``fit`` where to start (after a run that restored a checkpoint)."""
    internals.set_initial_epoch(model, None)


def payload(
    state: ScheduleState, group_names: Sequence[str], timeline: Sequence[tuple[int, int]]
) -> dict[str, Any]:
    """What a checkpoint records besides the weights."""
    return {
        "state": state.to_dict(),
        "groups": list(group_names),
        "timeline": [list(x) for x in timeline],
    }


def start_problem(model: Any, epoch: int, restored_epochs: int | None) -> str | None:
    """Why ``fit`` cannot start at ``epoch`` (0-based), or ``None`` when it can.

    Another callback may have moved the start: ``keras.callbacks.BackupAndRestore``
    restores the weights and the epoch but not the schedule's stage and policy state.
    """
    other = internals.initial_epoch(model)
    if restored_epochs is not None and epoch != restored_epochs:
        return (
            f"fit starts at epoch {epoch + 1} but the driver's backup ends after epoch "
            f"{restored_epochs}: another callback (keras.callbacks.BackupAndRestore?) "
            "moved the start. Keep only ProgressiveUnfreezing(backup_dir=...)"
        )
    if restored_epochs is None and other and epoch > 0:
        return (
            f"fit resumes at epoch {epoch + 1} (keras.callbacks.BackupAndRestore restored "
            "it), but the schedule's stage and policy state were not saved with it. Use "
            "ProgressiveUnfreezing(schedule, backup_dir=...) instead of BackupAndRestore"
        )
    return None
