"""``recommended_schedule``: the schedule the docs recommend when you do not want to tune one.

Gradual unfreezing on a timetable fitted to the epoch budget (ULMFiT's gradual
unfreezing, section 3.2 of Howard & Ruder 2018), with discriminative rates (their
section 3.1) and, when the steps per epoch are known, a warm-up of each group's rate
from the moment it unfreezes. It is an ordinary :class:`~unfreeze_core.Schedule`:
printable, comparable, written to and read from TOML like any other.

The numbers come from the benchmark (``docs/benchmarks.md``): on the self-pretrained
Fashion-MNIST ablation (20 epochs, 5 groups) the best fixed timetable advanced every 3
epochs, so every group trained from 60% of the budget on; ``Discriminative(2.6)`` kept
the most source accuracy at the best target accuracy. They are module constants and
keyword arguments, so that a re-measurement changes one line.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import ConfigError, Problem
from .lr_rules import Discriminative, Warmup
from .policies import FixedEpoch
from .schedule import Schedule

__all__ = ["FACTOR", "MAX_SPREAD", "UNFROZEN_BY", "WARMUP_EPOCHS", "recommended_schedule"]

#: Fraction of the epoch budget by which every group trains.
UNFROZEN_BY = 0.6
#: ULMFiT's ratio between the rates of neighbouring groups.
FACTOR = 2.6
#: The head's rate over the lowest group's, at most (2.6 ** 4: ULMFiT's spread over 5
#: groups); with more groups the ratio between neighbours shrinks to keep it.
MAX_SPREAD = FACTOR**4
#: Length of each group's warm-up, in epochs (needs ``steps_per_epoch``).
WARMUP_EPOCHS = 1.0


def _timetable(epochs: int, advances: int, unfrozen_by: float) -> tuple[int, int]:
    """``(every, advance_by)``: ``advances`` spread over the first ``unfrozen_by`` of
    ``epochs``, one group per advance while the budget allows."""
    span = max(1, math.floor(unfrozen_by * epochs + 1e-9))
    if advances <= span:
        return max(1, span // max(advances, 1)), 1
    return 1, math.ceil(advances / span)


def recommended_schedule(
    epochs: int,
    n_groups: int,
    *,
    steps_per_epoch: int | None = None,
    unfrozen_by: float = UNFROZEN_BY,
    factor: float = FACTOR,
    warmup_epochs: float = WARMUP_EPOCHS,
    **schedule_args: Any,
) -> Schedule:
    """The recommended schedule for a run of ``epochs`` over ``n_groups`` groups.

    The head trains alone first; then the groups unfreeze top-down, ``advance_by`` at a
    time every ``every`` epochs, so that all of them train from ``unfrozen_by`` of the
    budget on (``FixedEpoch(every=3)`` for 20 epochs and 5 groups; one epoch per
    stage, several groups per advance when the budget is short). Each group below the
    top learns ``factor`` times slower than the one above (``Discriminative``), with
    the ratio shrunk for many groups so that the lowest group's rate is at least
    ``1 / MAX_SPREAD`` of the head's. With ``steps_per_epoch``, each group's rate also
    ramps up over ``warmup_epochs`` epochs from when it unfreezes (``Warmup``).

    Args:
        epochs: the epoch budget of the ``fit`` call.
        n_groups: the number of groups the grouping makes (``unfreeze plan`` says).
        steps_per_epoch: optimizer steps per epoch; without it, no warm-up.
        unfrozen_by: fraction of ``epochs`` by which every group trains.
        factor: ULMFiT's ratio between neighbouring groups' rates.
        warmup_epochs: length of each group's warm-up, in epochs.
        **schedule_args: passed on to :class:`~unfreeze_core.Schedule` (``groups``,
            ``final``, ``monitor``, ``batchnorm``, ``on_nan``).

    Example:
        >>> from unfreeze_core import recommended_schedule
        >>> s = recommended_schedule(epochs=20, n_groups=5, steps_per_epoch=8)
        >>> s.policy, s.advance_by
        (FixedEpoch(every=3, at=None), 1)
        >>> [type(r).__name__ for r in s.rules]
        ['Discriminative', 'Warmup']
        >>> recommended_schedule(epochs=6, n_groups=9).advance_by
        3
    """
    problems = [
        Problem(name, f"must be an integer >= 1, got {value!r}")
        for name, value in (("epochs", epochs), ("n_groups", n_groups))
        if not isinstance(value, int) or isinstance(value, bool) or value < 1
    ]
    if steps_per_epoch is not None and (
        not isinstance(steps_per_epoch, int) or steps_per_epoch < 1
    ):
        problems.append(
            Problem("steps_per_epoch", f"must be an integer >= 1, got {steps_per_epoch!r}")
        )
    if not 0 < unfrozen_by <= 1:
        problems.append(Problem("unfrozen_by", f"must be in (0, 1], got {unfrozen_by!r}"))
    if problems:
        raise ConfigError(problems, source="recommended_schedule")
    advances = n_groups - 1
    every, advance_by = _timetable(epochs, advances, unfrozen_by)
    ratio = factor if advances < 2 else min(factor, MAX_SPREAD ** (1 / advances))
    rules: list[Any] = [Discriminative(factor=round(ratio, 3))]
    if steps_per_epoch is not None and warmup_epochs > 0:
        rules.append(Warmup(steps=max(1, round(warmup_epochs * steps_per_epoch))))
    return Schedule(
        FixedEpoch(every=every), rules=rules, advance_by=advance_by, **schedule_args
    )
