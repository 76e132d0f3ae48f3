"""Resuming a run: from the driver's backup, where an earlier ``fit`` stopped, or at
a later ``initial_epoch``.

The backup itself (files, atomic writes) is :class:`~.checkpoint.Backup`; this module
decides what a checkpoint means for the run: the groups must be the same, the weights
and the full optimizer state are loaded, the schedule continues from the saved state,
and ``fit`` is told to start after the last completed epoch.

Without a backup, a ``fit(initial_epoch=E)`` with ``E > 0`` either continues the same
callback's previous ``fit`` (when that one completed exactly ``E`` epochs: its last
state is taken up, no stage is frozen again), or starts a schedule fast-forwarded
through the ``E`` skipped epochs with no metrics (:func:`fast_forward`): an epoch
timetable (``FixedEpoch``) is where its formula says; a policy that watches a metric
or gradient norms cannot be replayed and starts counting at epoch ``E + 1``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import attrs

from ..events import EpochEnd, TrainBegin
from ..policy_tree import find_monitor, step_readers
from ..schedule import Schedule, ScheduleState
from . import internals
from .checkpoint import Backup

__all__ = [
    "Finished", "Restored", "fast_forward", "payload", "release", "replays_exactly", "restore",
    "start_problem", "train_begin",
]


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


def train_begin(epoch: int, step: int, params: dict[str, Any] | None) -> TrainBegin:
    """The event that starts (or resumes) the run at ``epoch``, with ``fit``'s budget
    from the callback's ``params`` (``epochs``, ``steps``; ``None`` where Keras does
    not know them, as for a dataset of unknown length)."""
    params = params or {}

    def count(key: str) -> int | None:
        value = params.get(key)
        return int(value) if isinstance(value, int) and value > 0 else None

    return TrainBegin(epoch, step, epochs=count("epochs"), steps_per_epoch=count("steps"))


@attrs.frozen
class Finished:
    """How a ``fit`` ended, for the next ``fit`` on the same callback to continue it."""

    state: ScheduleState
    epochs_done: int
    timeline: tuple[tuple[int, int], ...]
    groups: tuple[str, ...]

    def continues(self, initial_epoch: int, groups: Sequence[str]) -> bool:
        """Whether a ``fit`` from ``initial_epoch`` over ``groups`` continues this one."""
        return initial_epoch == self.epochs_done > 0 and tuple(groups) == self.groups


def replays_exactly(schedule: Schedule) -> bool:
    """Whether epochs without metrics replay ``schedule`` exactly (no policy in it watches
    a metric or reads gradient norms)."""
    policy = schedule.policy
    return find_monitor(policy) is None and not step_readers(policy)


def fast_forward(
    schedule: Schedule, state: ScheduleState, epochs: int, step: int
) -> ScheduleState:
    """``state`` after ``epochs`` epochs that ended with no metrics, all at ``step``.

    An epoch timetable advances as its formula says; a policy that watches a metric sees
    none (its warnings about the missing metric are silenced here), so it starts
    counting from the first real epoch.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(epochs):
            state, decision = schedule.update(state, EpochEnd(epoch, step, {}))
            if decision.stop:
                break
    return state
