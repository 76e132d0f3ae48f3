"""The training events a policy watches.

The driver (or a dry run) turns ``model.fit`` into a stream of these small records.
``epoch`` is 0-based as in Keras callbacks (printed as ``Epoch epoch+1``) and ``step``
counts optimizer steps since the run began (Keras' ``optimizer.iterations``).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = ["EpochEnd", "Event", "StageChange", "StepEnd", "TrainBegin"]


@attrs.frozen
class TrainBegin:
    """``fit`` starts (or resumes) at ``epoch`` with ``step`` optimizer steps done.

    ``epochs`` and ``steps_per_epoch`` are the run's budget, as ``fit`` was given it
    (Keras' ``epochs``, counted from epoch 0, and ``steps``), ``None`` when unknown.
    ``advances_left`` is filled in by the schedule: how many advances it can still make
    (``None`` when a policy is fed without a schedule). A policy with a deadline
    (``Plateau``, ``GradNorm``) paces its stages by them.
    """

    epoch: int = 0
    step: int = 0
    epochs: int | None = None
    steps_per_epoch: int | None = None
    advances_left: int | None = None


@attrs.frozen
class StepEnd:
    """One optimizer step finished.

    ``grad_norms`` holds one L2 norm per group, input side first (frozen groups are
    ``0.0``), when the driver measured them at this step, else ``None``. The driver
    measures them only at the steps a :class:`~unfreeze_core.GradNorm` policy reads.
    """

    epoch: int
    step: int
    grad_norms: tuple[float, ...] | None = None


@attrs.frozen
class EpochEnd:
    """Epoch ``epoch`` finished; ``logs`` is the Keras logs dict (metrics, val metrics)."""

    epoch: int
    step: int
    logs: Mapping[str, float] = attrs.field(factory=dict)


@attrs.frozen
class StageChange:
    """The schedule just advanced: ``stage`` groups are trainable from now on.

    Policies reset their per-stage counters (patience, gradient-norm reference) here.
    A policy's own readiness after this event is ignored for this event.
    ``advances_left`` is how many advances the schedule can still make after this one
    (``None`` when unknown).
    """

    epoch: int
    step: int
    stage: int
    previous: int
    advances_left: int | None = None


Event = TrainBegin | StepEnd | EpochEnd | StageChange
