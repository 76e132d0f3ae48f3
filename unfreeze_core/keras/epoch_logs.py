"""What the driver adds to Keras' epoch logs (for ``History``, ``CSVLogger``, TensorBoard).

The keys are the timeline's (``unfreeze_stage``, ``unfreeze_lr/<group>``, ...), so that
``unfreeze plot`` and ``plan --history`` read what a run wrote, and use the verbose
lines' words: ``unfreeze_stage`` is the stage number of "stage 2/5" (from 1),
``unfreeze_groups_trainable`` the count of groups that train.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from ..schedule import Schedule, ScheduleState
from ..timeline import LOG_GRAD_NORM, LOG_GROUPS, LOG_LR, LOG_STAGE, LOG_STEPS, LOG_TRAINABLE
from . import internals
from .agreement import to_float
from .tables import unwrap

__all__ = ["base_rate", "epoch_logs", "group_rates"]


def base_rate(optimizer: Any, step: int) -> float:
    """The optimizer's own learning rate at ``step`` (a ``LearningRateSchedule`` is
    evaluated there); NaN when it cannot be read."""
    opt = unwrap(optimizer)
    lr = internals.learning_rate_setting(opt)
    if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
        return float(keras.ops.convert_to_numpy(lr(step)))
    value = to_float(opt.learning_rate)
    return value if value is not None else float("nan")


def group_rates(
    schedule: Schedule, state: ScheduleState, n_groups: int, *, optimizer: Any, step: int
) -> list[float]:
    """Each group's effective rate at the last step of an epoch that ended at optimizer
    step ``step`` (0 while frozen): the convention of the logs, the plot and ``plan``."""
    last = max(step - 1, 0)
    base = base_rate(optimizer, last)
    return [base * m for m in schedule.lr_multipliers(state, step=last)][:n_groups]


def epoch_logs(
    schedule: Schedule,
    state: ScheduleState,
    groups: Sequence[Any],
    *,
    optimizer: Any,
    step: int,
    trainable_params: int,
    grad_norm: float | None,
    log_lr: bool,
) -> dict[str, float]:
    """The entries for one epoch that ended at optimizer step ``step``.

    ``grad_norm``: the last gradient-norm reading (``None``: no policy reads them).
    Each group's rate is the one at the epoch's last step, 0 while frozen.
    """
    out = {
        LOG_STAGE: float(state.stage_index + 1),
        LOG_GROUPS: float(len(state.trainable)),
        LOG_TRAINABLE: float(trainable_params),
        LOG_STEPS: float(step),
    }
    if grad_norm is not None:
        out[LOG_GRAD_NORM] = grad_norm
    if log_lr:
        rates = group_rates(schedule, state, len(groups), optimizer=optimizer, step=step)
        for group, rate in zip(groups, rates, strict=False):
            out[LOG_LR + group.name] = rate
    return out
