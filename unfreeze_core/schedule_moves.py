"""The stage changes of a running schedule: advancing (unfreezing) and re-freezing.

:class:`~unfreeze_core.Schedule` decides *whether* to change the stage; the functions
here compute the next :class:`~unfreeze_core.ScheduleState`. A stage's trainable set
combines two things: the groups the unfreezing side has released (from the top, or
the policy's ``trainable_sets``), recorded in ``unfrozen_at``, and the prefix a
re-freezing policy has frozen again from the input side, ``refrozen``. Groups below
the prefix never train again, so an advance releases only groups above it.
"""

from __future__ import annotations

from typing import Any

import attrs

from .errors import ConfigError, Problem, checked_update
from .events import Event, StageChange
from .schedule_state import Decision, ScheduleState, Transition

__all__ = ["advance", "advances_left", "has_next_stage", "refreeze", "stage_sets"]


def stage_sets(policy: Any, n_groups: int) -> list[tuple[int, ...]] | None:
    """The trainable set of every stage, for a policy that defines them (see
    :meth:`Schedule.stage_sets <unfreeze_core.Schedule.stage_sets>`)."""
    make = getattr(policy, "trainable_sets", None)
    made = make(n_groups) if make is not None else None
    if made is None:
        return None
    sets = [tuple(sorted(set(s))) for s in made]
    problems = []
    if not sets:
        problems.append(Problem("policy", "trainable_sets() returned no stage"))
    for i, group_set in enumerate(sets):
        if not group_set or not all(0 <= g < n_groups for g in group_set):
            problems.append(
                Problem(
                    "policy",
                    f"trainable_sets()[{i}] = {list(group_set)} is not a "
                    f"non-empty set of group indices in 0..{n_groups - 1}",
                )
            )
    if problems:
        raise ConfigError(problems, source=type(policy).__name__)
    return sets


def _reached(state: ScheduleState) -> int:
    """How many groups the unfreezing side has released (re-frozen ones included)."""
    return sum(1 for at in state.unfrozen_at if at >= 0)


def has_next_stage(
    state: ScheduleState, sets: list[tuple[int, ...]] | None
) -> bool:
    """Whether an advance would release a group: a stage is left, above the prefix."""
    if sets is None:
        return state.n_groups - _reached(state) > state.refrozen
    return state.stage_index + 1 < len(sets)


def advances_left(
    state: ScheduleState, sets: list[tuple[int, ...]] | None, advance_by: int
) -> int:
    """How many advances the schedule can still make from ``state`` (0: every group that
    can train again is trainable)."""
    if sets is None:
        left = max(0, state.n_groups - _reached(state) - state.refrozen)
        return -(-left // advance_by)
    return max(0, len(sets) - state.stage_index - 1)


def _changed(
    state: ScheduleState, new: ScheduleState, event: Event
) -> tuple[ScheduleState, tuple[int, ...], tuple[int, ...]]:
    """``new`` with its stage, stage index and transition set, and what changed."""
    before, after = set(state.trainable), new.trainable
    stage = len(after)
    new = attrs.evolve(
        new,
        stage=stage,
        stage_index=state.stage_index + 1,
        transitions=(
            *state.transitions,
            Transition(event.epoch, state.step, state.stage, stage),
        ),
    )
    newly = tuple(g for g in after if g not in before)
    gone = tuple(g for g in sorted(before) if g not in set(after))
    return new, newly, gone


def advance(
    policy: Any,
    state: ScheduleState,
    event: Event,
    sets: list[tuple[int, ...]] | None,
    advance_by: int,
) -> tuple[ScheduleState, Decision]:
    """The state after one advance (the policy sees a :class:`StageChange`)."""
    n = state.n_groups
    if sets is None:
        target = set(range(n - min(_reached(state) + advance_by, n), n))
    else:
        target = set(sets[state.stage_index + 1])
    unfrozen = tuple(
        (state.step if at < 0 else at) if g in target else -1
        for g, at in enumerate(state.unfrozen_at)
    )
    new, newly, gone = _changed(state, attrs.evolve(state, unfrozen_at=unfrozen), event)
    change = StageChange(epoch=event.epoch, step=state.step, stage=new.stage,
                         previous=state.stage,
                         advances_left=advances_left(new, sets, advance_by))
    policy_state, _ = checked_update(policy, policy.update(state.policy_state, change))
    new = attrs.evolve(new, policy_state=policy_state)
    return new, Decision(
        stage=new.stage, previous=state.stage, advanced=True, newly_trainable=newly,
        refrozen=gone,
    )


def refreeze(
    state: ScheduleState, event: Event, wanted: int
) -> tuple[ScheduleState, Decision | None]:
    """The state once groups ``0..wanted-1`` are frozen again (never the head, and at
    least one group keeps training); a decision only when the trainable set changed.

    The policy sees no :class:`StageChange` for a re-freeze: the unfreezing side's
    counters (a ``FixedEpoch`` timetable, a plateau's patience) go on.
    """
    trainable = state.trainable
    cap = min(state.n_groups - 1, max(trainable, default=0))
    k = max(state.refrozen, min(int(wanted), cap))
    if k == state.refrozen:
        return state, None
    new = attrs.evolve(state, refrozen=k)
    if new.trainable == trainable:  # only groups that were not training: the floor rises
        return new, None
    new, _, gone = _changed(state, new, event)
    return new, Decision(stage=new.stage, previous=state.stage, advanced=True, refrozen=gone)
