"""What the driver adds to Keras' epoch logs (for ``History``, ``CSVLogger``, TensorBoard).

The keys are the timeline's (``unfreeze_stage``, ``unfreeze_lr/<group>``, ...), so that
``unfreeze plot`` and ``plan --history`` read what a run wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from ..schedule import Schedule, ScheduleState
from ..timeline import LOG_GRAD_NORM, LOG_LR, LOG_STAGE, LOG_STAGE_INDEX, LOG_TRAINABLE
from . import internals
from .agreement import to_float
from .tables import unwrap

__all__ = ["base_rate", "epoch_logs"]


def base_rate(optimizer: Any, step: int) -> float:
    """The optimizer's own learning rate at ``step`` (a ``LearningRateSchedule`` is
    evaluated there); NaN when it cannot be read."""
    opt = unwrap(optimizer)
    lr = internals.learning_rate_setting(opt)
    if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
        return float(keras.ops.convert_to_numpy(lr(step)))
    value = to_float(opt.learning_rate)
    return value if value is not None else float("nan")


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
        LOG_STAGE: float(state.stage),
        LOG_STAGE_INDEX: float(state.stage_index),
        LOG_TRAINABLE: float(trainable_params),
    }
    if grad_norm is not None:
        out[LOG_GRAD_NORM] = grad_norm
    if log_lr:
        last = max(step - 1, 0)
        base = base_rate(optimizer, last)
        mults = schedule.lr_multipliers(state, step=last)
        for group, m in zip(groups, mults, strict=False):
            out[LOG_LR + group.name] = base * m
    return out
