"""The adaptive policies' deadline: every group trains by ``unfrozen_by`` of the budget.

A policy that waits for a plateau or a settled gradient norm needs at least an epoch
per stage and does not know how long the run is, so on a short run it reaches only some
of the stages. When the driver says the epoch budget
(:class:`~unfreeze_core.events.TrainBegin`'s ``epochs``) and the schedule how many
advances are left (``advances_left`` of ``TrainBegin`` and
:class:`~unfreeze_core.events.StageChange`), :class:`~unfreeze_core.Plateau` and
:class:`~unfreeze_core.GradNorm` are also ready once the current stage has had its fair
share of the epochs left before the deadline:

.. code-block:: text

    deadline = max(1, floor(unfrozen_by * epochs))        (recommended_schedule's)
    share    = max(1, floor((deadline - start) / advances_left))
    due      = the stage's epochs (since epoch `start`) >= share, at an epoch's end

A stage's share is fixed when it begins (a stage that begins in the middle of an epoch,
as a ``GradNorm`` with an integer ``window`` may start one, counts from the next epoch),
so stages that the policy's own test ended early leave more epochs to the later ones;
on a long run where that test fires first, nothing changes. The state is a small dict
kept under the policy's ``"deadline"`` key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..events import EpochEnd, Event, StageChange, TrainBegin
from ..fields import arg, gt, le

__all__ = ["deadline_epoch", "fair_share", "init", "unfrozen_by_arg", "update"]


def unfrozen_by_arg() -> Any:
    """The ``unfrozen_by`` field of a policy with a deadline (default 0.6; None: off)."""
    return arg(
        0.6,
        gt(0),
        le(1),
        doc="Fraction of the epoch budget by which every group trains (a deadline, "
        "when the budget is known); None: no deadline.",
    )


def init() -> dict[str, Any]:
    """The deadline's state: the budget, the advances left, where the stage began, how
    many epochs are done, and whether the stage is due."""
    return {"epochs": None, "left": None, "start": 0, "done": 0, "due": False}


def deadline_epoch(epochs: int, unfrozen_by: float) -> int:
    """The epoch by which every group trains (at least 1).

    Example:
        >>> deadline_epoch(20, 0.6), deadline_epoch(6, 0.6), deadline_epoch(1, 0.6)
        (12, 3, 1)
    """
    return max(1, math.floor(unfrozen_by * epochs + 1e-9))


def fair_share(epochs: int, unfrozen_by: float, start: int, left: int) -> int:
    """Epochs a stage that begins after ``start`` epochs, with ``left`` advances to
    come, may last before the deadline makes the policy ready (at least 1).

    Example:
        >>> fair_share(20, 0.6, 0, 4), fair_share(20, 0.6, 2, 3), fair_share(6, 0.6, 0, 4)
        (3, 3, 1)
    """
    return max(1, (deadline_epoch(epochs, unfrozen_by) - start) // max(left, 1))


def update(
    state: Mapping[str, Any] | None, event: Event, unfrozen_by: float | None, *, judged: bool
) -> dict[str, Any]:
    """The deadline's state after ``event``; ``judged`` says whether an epoch end may
    make the stage due (``False`` for an epoch the policy does not count: a NaN value)."""
    new = {**init(), **(state or {})}
    if isinstance(event, TrainBegin):
        new.update(epochs=event.epochs, left=event.advances_left, done=event.epoch, due=False)
    elif isinstance(event, StageChange):
        # counted from the next epoch boundary: a stage that begins in the middle of
        # an epoch has the rest of it for free
        new.update(left=event.advances_left, start=event.epoch + 1, due=False)
    elif isinstance(event, EpochEnd):
        new["done"] = event.epoch + 1
        epochs, left = new["epochs"], new["left"]
        new["due"] = bool(
            judged
            and unfrozen_by is not None
            and epochs is not None
            and left is not None
            and left > 0
            and new["done"] - new["start"] >= fair_share(epochs, unfrozen_by, new["start"], left)
        )
    return new
