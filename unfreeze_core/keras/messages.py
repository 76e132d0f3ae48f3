"""What the driver prints, in the style of Keras callbacks (``Epoch 7: ...``).

Plain functions from the run's numbers to one line each; the callback decides when to
print them (``verbose=1``: stage changes and stops; ``verbose=2``: also one short line
per epoch, :func:`epoch`) and prints them with :func:`say`. The words are the epoch
logs' and ``unfreeze plan``'s: "stage 2/5" is the stage number, and groups are counted
as "2 of 5 groups".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..schedule import Decision, Schedule, ScheduleState
from ..schedule_shape import n_stages as count_stages
from ..timeline import human, plural
from . import internals
from .epoch_logs import group_rates

__all__ = [
    "Narrator", "advanced", "epoch", "fast_forwarded", "params", "resumed", "say", "setup", "stage",
    "stopped",
]


def say(message: str) -> None:
    """Print ``message`` as Keras' own callbacks do."""
    internals.print_msg(message)


def _names(groups: Sequence[Any], indices: Sequence[int]) -> str:
    return ", ".join(repr(groups[g].name) for g in indices)


def params(trainable: int, total: int) -> str:
    """``"1.5K of 14.9M parameters trainable"``."""
    return f"{human(trainable)} of {human(total)} parameters trainable"


def stage(state: ScheduleState, groups: Sequence[Any], n_stages: int, counts: str) -> str:
    """``"stage 2/4 trains 2 of 4 groups ('b', 'head'), ..."``."""
    n = state.n_groups
    names = _names(groups, state.trainable) if len(state.trainable) <= 4 else "..."
    return (
        f"stage {state.stage_index + 1}/{n_stages} trains {len(state.trainable)} of {n} "
        f"groups ({names}), {counts}"
    )


def setup(state: ScheduleState, groups: Sequence[Any], n_stages: int, counts: str) -> str:
    """The line printed at train begin."""
    return (
        f"ProgressiveUnfreezing: {plural(len(groups), 'group')}, {plural(n_stages, 'stage')}; "
        f"{stage(state, groups, n_stages, counts)}"
    )


def advanced(
    decision: Decision,
    state: ScheduleState,
    groups: Sequence[Any],
    *,
    epoch: int,
    mid_epoch: bool,
    last_epoch: bool,
    n_stages: int,
    counts: str,
) -> str:
    """The line printed when the schedule advanced at ``epoch`` (0-based).

    ``last_epoch``: the decision came at the end of the run's last epoch, so no epoch
    of this ``fit`` trains the new stage; a later ``fit`` continues with it.
    """
    when = f"Epoch {epoch + 1} (step {state.step})" if mid_epoch else f"Epoch {epoch + 2}"
    numbers = f"stage {state.stage_index + 1}/{n_stages}, {counts}"
    newly = decision.newly_trainable
    if newly:
        noun = "group" if len(newly) == 1 else "groups"
        names = _names(groups, newly)
        if last_epoch and not mid_epoch:
            return (
                f"Epoch {epoch + 1}: the schedule advanced after the last epoch; {noun} "
                f"{names} will train if training continues ({numbers})"
            )
        return f"{when}: unfreezing {noun} {names} ({numbers})"
    if decision.refrozen:
        noun = "group" if len(decision.refrozen) == 1 else "groups"
        return f"{when}: re-freezing {noun} {_names(groups, decision.refrozen)} ({numbers})"
    return f"{when}: training groups {_names(groups, state.trainable)} ({numbers})"


def epoch(
    epoch: int,
    logs: Mapping[str, Any],
    state: ScheduleState,
    groups: Sequence[Any],
    *,
    n_stages: int,
    rates: Sequence[float] | None,
    metrics: Sequence[str] = ("loss", "val_loss"),
    most: int = 3,
) -> str:
    """The ``verbose=2`` line of one epoch: a few metrics, the stage, and the rates of
    the trainable groups, head first (``most`` of them, then how many more).

    Example:
        >>> from unfreeze_core import FixedEpoch, Schedule
        >>> from types import SimpleNamespace as G
        >>> sched = Schedule(FixedEpoch(every=1))
        >>> s = sched.start(3)
        >>> epoch(6, {"loss": 0.31234, "val_loss": 0.4}, s, [G(name=n) for n in "abc"],
        ...       n_stages=3, rates=[0.0, 0.0, 1e-3])
        'Epoch 7: loss 0.3123, val_loss 0.4000; stage 1/3, 1 of 3 groups trainable; lr c 1.0e-03'
    """
    shown = [f"{m} {logs[m]:.4f}" for m in metrics if m in logs and _finite(logs[m])]
    line = f"Epoch {epoch + 1}: " + (", ".join(shown) + "; " if shown else "")
    line += (
        f"stage {state.stage_index + 1}/{n_stages}, {len(state.trainable)} of "
        f"{len(groups)} groups trainable"
    )
    if rates:
        top = [(groups[g].name, rates[g]) for g in sorted(state.trainable, reverse=True)]
        text = ", ".join(f"{name.rsplit('/', 1)[-1]} {r:.1e}" for name, r in top[:most])
        more = f" (+{len(top) - most} more)" if len(top) > most else ""
        line += f"; lr {text}{more}"
    return line


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def stopped(decision: Decision, *, epoch: int, monitor: str | None, restored: bool) -> str:
    """The line printed when the final stage is done and training stops."""
    best = ""
    if decision.best_epoch is not None and decision.best is not None:
        note = "; restored its weights" if restored else ""
        best = (
            f" (best {monitor} {decision.best:.4g} at epoch {decision.best_epoch + 1}{note})"
        )
    return f"Epoch {epoch + 1}: final stage done, stopping{best}"


def resumed(epoch: int, continuing: bool, stage_text: str) -> str:
    """The line printed when ``fit`` starts at ``initial_epoch=epoch > 0`` without a
    backup: continuing the previous ``fit``, or fast-forwarded."""
    how = (
        "continuing the previous fit"
        if continuing
        else f"fit starts at initial_epoch={epoch} without a backup; the schedule was "
        f"fast-forwarded through epochs 1-{epoch} with no metrics"
    )
    return f"Epoch {epoch + 1}: {how}; {stage_text}"


def fast_forwarded(epoch: int) -> str:
    """The warning when a fast-forward cannot replay a policy that watches a metric."""
    return (
        f"ProgressiveUnfreezing: fit starts at initial_epoch={epoch} without a backup; the "
        f"schedule was fast-forwarded through epochs 1-{epoch} with no metrics, so its "
        f"policies that watch a metric or gradient norms start counting at epoch {epoch + 1}. "
        "To resume where a run stopped, use ProgressiveUnfreezing(schedule, backup_dir=...)"
    )


class Narrator:
    """What a callback with ``verbose`` (0, 1 or 2) says about ``schedule``'s run.

    ``counts`` arguments are called only when a line is printed (counting the
    trainable parameters walks the model's variables).
    """

    def __init__(self, schedule: Schedule, verbose: int):
        self.schedule = schedule
        self.verbose = verbose

    def _n(self, groups: Sequence[Any]) -> int:
        return count_stages(self.schedule, len(groups))

    def setup(self, state: ScheduleState, groups: Sequence[Any], counts: Callable[[], str]) -> None:
        if self.verbose:
            say(setup(state, groups, self._n(groups), counts()))

    def resumed(
        self, epoch: int, continuing: bool, state: ScheduleState, groups: Sequence[Any],
        counts: Callable[[], str],
    ) -> None:
        if self.verbose:
            say(resumed(epoch, continuing, stage(state, groups, self._n(groups), counts())))

    def advanced(
        self, decision: Decision, state: ScheduleState, groups: Sequence[Any], *, epoch: int,
        mid_epoch: bool, epochs: int, counts: Callable[[], str],
    ) -> None:
        """``epochs``: the epochs of this ``fit`` (0 when unknown)."""
        if self.verbose:
            say(advanced(
                decision, state, groups, epoch=epoch, mid_epoch=mid_epoch,
                last_epoch=epoch + 1 >= epochs > 0, n_stages=self._n(groups), counts=counts(),
            ))

    def stopped(self, decision: Decision, *, epoch: int, restored: bool) -> None:
        if self.verbose:
            monitor = self.schedule.resolved_monitor
            say(stopped(decision, epoch=epoch, monitor=monitor, restored=restored))

    def epoch(
        self, epoch_: int, logs: Mapping[str, Any], state: ScheduleState,
        groups: Sequence[Any], *, optimizer: Any, step: int,
    ) -> None:
        """At ``verbose=2``: the epoch's line (:func:`epoch`)."""
        if self.verbose < 2:
            return
        rates = group_rates(self.schedule, state, len(groups), optimizer=optimizer, step=step)
        metrics = [m for m in dict.fromkeys(("loss", self.schedule.resolved_monitor)) if m]
        say(epoch(epoch_, logs, state, groups, n_stages=self._n(groups), rates=rates,
                  metrics=metrics))
