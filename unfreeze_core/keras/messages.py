"""What the driver prints, in the style of Keras callbacks (``Epoch 7: ...``).

Plain functions from the run's numbers to one line each; the callback decides when to
print them (``verbose=1``) and prints them with :func:`say`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..schedule import Decision, ScheduleState
from ..timeline import human
from . import internals

__all__ = [
    "advanced", "fast_forwarded", "params", "resumed", "say", "setup", "stage", "stopped",
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
        f"ProgressiveUnfreezing: {len(groups)} groups, {n_stages} stages; "
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
    return f"{when}: training groups {_names(groups, state.trainable)} ({numbers})"


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
