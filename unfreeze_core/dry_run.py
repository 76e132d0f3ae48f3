"""Replaying a schedule over a recorded history, without training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from .errors import ConfigError
from .events import EpochEnd, Event, StepEnd, TrainBegin
from .schedule_state import Decision, EpochRecord, ScheduleState

__all__ = ["dry_run"]


class _Runs(Protocol):
    """What the dry run needs of a :class:`~unfreeze_core.Schedule`."""

    def start(self, n_groups: int) -> ScheduleState: ...

    def update(self, state: ScheduleState, event: Event) -> tuple[ScheduleState, Decision]: ...

    def lr_multipliers(self, state: ScheduleState) -> tuple[float, ...]: ...


def dry_run(
    schedule: _Runs,
    n_groups: int,
    history: Mapping[str, Sequence[float]],
    *,
    steps_per_epoch: int = 1,
    grad_norms: Sequence[Sequence[float] | None] | None = None,
    epochs: int | None = None,
) -> list[EpochRecord]:
    """What :meth:`Schedule.dry_run <unfreeze_core.Schedule.dry_run>` does (see there)."""
    if steps_per_epoch < 1:
        raise ConfigError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
        raise ConfigError(f"epochs must be an integer >= 1 or None, got {epochs!r}")
    n_epochs = max((len(v) for v in history.values()), default=0)
    state = schedule.start(n_groups)
    state, _ = schedule.update(state, TrainBegin(0, 0, epochs, steps_per_epoch))
    records = []
    for epoch in range(n_epochs):
        stage, trainable = state.stage, state.trainable
        lr_first = lr_last = schedule.lr_multipliers(state)
        newly: tuple[int, ...] = ()
        refrozen: tuple[int, ...] = ()
        stop = False
        for _ in range(steps_per_epoch):
            lr_last = schedule.lr_multipliers(state)
            step = state.step + 1
            norms = None
            if grad_norms is not None and step - 1 < len(grad_norms):
                g = grad_norms[step - 1]
                norms = tuple(g) if g is not None else None
            state, decision = schedule.update(state, StepEnd(epoch, step, norms))
            newly += decision.newly_trainable
            refrozen += decision.refrozen
            stop = stop or decision.stop
        logs = {k: float(v[epoch]) for k, v in history.items() if epoch < len(v)}
        if not stop:
            state, decision = schedule.update(state, EpochEnd(epoch, state.step, logs))
            newly += decision.newly_trainable
            refrozen += decision.refrozen
            stop = decision.stop
        records.append(
            EpochRecord(
                epoch=epoch,
                stage=stage,
                trainable=trainable,
                lr_multipliers=lr_first,
                lr_multipliers_end=lr_last,
                stage_after=state.stage,
                newly_trainable=tuple(sorted(newly)),
                stop=stop,
                logs=logs,
                refrozen=tuple(sorted(set(refrozen))),
            )
        )
        if stop:
            break
    return records
