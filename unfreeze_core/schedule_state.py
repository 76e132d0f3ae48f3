"""The records a running schedule produces: its state, its decisions, its transitions,
and the epochs of a dry run. Plain frozen data; the state is saved as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .errors import ConfigError, Problem
from .fields import shown

__all__ = ["Decision", "EpochRecord", "ScheduleState", "Transition"]


@attrs.frozen
class Transition:
    """One stage change at ``step`` (during or at the end of ``epoch``): ``before`` -> ``after``
    groups trainable."""

    epoch: int
    step: int
    before: int
    after: int


@attrs.frozen
class ScheduleState:
    """Everything a running schedule remembers; plain data, saved with :meth:`to_dict`.

    Attributes:
        n_groups: number of groups.
        stage: how many groups are trainable (the top ``stage`` of them for every
            policy that neither chooses its sets nor re-freezes).
        stage_index: how many advances have been made.
        epoch: epochs completed.
        step: optimizer steps completed.
        unfrozen_at: per group (input side first), the step count when it became
            trainable (``0`` for the initial ones), ``-1`` while frozen.
        policy_state: the policy's own state.
        stopped: a final-stage stop was decided.
        best, best_epoch: best value of the schedule's monitor so far, and its epoch.
        transitions: every stage change so far.
        nan_hold: the last epoch ended with a NaN or infinite loss or monitored metric
            (with ``on_nan="hold"``): no stage change or stop until an epoch ends with
            finite values.
        refrozen: groups ``0..refrozen-1`` were re-frozen from the bottom by a
            re-freezing policy (``AutoFreeze``, ``FreezeOut``): they do not train
            whatever ``unfrozen_at`` says, and no later advance releases them.
    """

    n_groups: int
    stage: int
    stage_index: int
    epoch: int
    step: int
    unfrozen_at: tuple[int, ...]
    policy_state: Any
    stopped: bool = False
    best: float | None = None
    best_epoch: int | None = None
    transitions: tuple[Transition, ...] = ()
    nan_hold: bool = False
    refrozen: int = 0

    @property
    def trainable(self) -> tuple[int, ...]:
        """Indices of the trainable groups: unfrozen and above the re-frozen prefix (the
        top ``stage`` of them, a suffix, for every policy that does not choose its sets).
        """
        return tuple(
            g for g, at in enumerate(self.unfrozen_at) if at >= 0 and g >= self.refrozen
        )

    @property
    def trainable_mask(self) -> tuple[bool, ...]:
        """Per group (input side first): whether it trains now."""
        return tuple(at >= 0 and g >= self.refrozen for g, at in enumerate(self.unfrozen_at))

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible data (policy state included) for checkpoints."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScheduleState:
        """The state that :meth:`to_dict` wrote.

        Raises:
            ConfigError: ``data`` is not such a state (every problem listed).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"not a saved schedule state: a table is needed, got {shown(data)}")
        problems: list[Problem] = []
        known = {f.name for f in attrs.fields(cls)}
        problems += [Problem(str(k), "unknown key") for k in data if k not in known]
        kwargs: dict[str, Any] = {}
        for field in attrs.fields(cls):
            if field.name not in data:
                if field.default is attrs.NOTHING:
                    problems.append(Problem(field.name, "missing"))
                continue
            value, message = _STRUCTURE[field.name](data[field.name])
            if message:
                problems.append(Problem(field.name, f"{message}, got {shown(data[field.name])}"))
            kwargs[field.name] = value
        if problems:
            raise ConfigError(problems, source="not a saved schedule state")
        return cls(**kwargs)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int(v: Any) -> tuple[Any, str | None]:
    return v, None if _is_int(v) else "must be an integer"


def _optional(read: Any) -> Any:
    return lambda v: (None, None) if v is None else read(v)


def _float(v: Any) -> tuple[Any, str | None]:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        try:
            return float(v), None
        except OverflowError:
            pass
    return v, "must be a number"


def _ints(v: Any) -> tuple[Any, str | None]:
    if isinstance(v, (list, tuple)) and all(_is_int(x) for x in v):
        return tuple(v), None
    return v, "must be a list of integers"


def _bool(v: Any) -> tuple[Any, str | None]:
    return v, None if isinstance(v, bool) else "must be true or false"


def _transitions(v: Any) -> tuple[Any, str | None]:
    names = [f.name for f in attrs.fields(Transition)]
    if isinstance(v, (list, tuple)) and all(
        isinstance(t, Mapping) and set(t) == set(names) and all(_is_int(t[n]) for n in names)
        for t in v
    ):
        return tuple(Transition(**t) for t in v), None
    return v, f"must be a list of tables with integer {', '.join(names)}"


_STRUCTURE: dict[str, Any] = {
    "n_groups": _int,
    "stage": _int,
    "stage_index": _int,
    "epoch": _int,
    "step": _int,
    "unfrozen_at": _ints,
    "policy_state": lambda v: (v, None),
    "stopped": _bool,
    "best": _optional(_float),
    "best_epoch": _optional(_int),
    "transitions": _transitions,
    "nan_hold": _bool,
    "refrozen": _int,
}


@attrs.frozen
class Decision:
    """What the schedule decided on one event.

    ``advanced`` is true when the trainable set changed: groups were unfrozen
    (``newly_trainable`` lists them, input side first) or re-frozen (``refrozen`` lists
    them); ``stop`` asks training to end (a final-stage stop), with the
    best epoch of the schedule's monitor in ``best_epoch``. ``held`` is true when the
    schedule did not act on a ready policy because the epoch's loss or monitored
    metric was NaN or infinite (see ``Schedule(on_nan=...)``).
    """

    stage: int
    previous: int
    advanced: bool = False
    newly_trainable: tuple[int, ...] = ()
    stop: bool = False
    best: float | None = None
    best_epoch: int | None = None
    held: bool = False
    refrozen: tuple[int, ...] = ()


@attrs.frozen
class EpochRecord:
    """One epoch of a dry run.

    ``stage``, ``trainable`` and ``lr_multipliers`` (each group's multiplier of the base
    rate, input side first, ``0.0`` when frozen) describe the epoch's first step;
    ``lr_multipliers_end`` its last step. ``stage_after`` is the stage once the epoch
    has ended (larger than ``stage`` when the epoch's end or one of its steps advanced).
    ``refrozen`` lists the groups a re-freezing policy froze again during the epoch or
    at its end.
    """

    epoch: int
    stage: int
    trainable: tuple[int, ...]
    lr_multipliers: tuple[float, ...]
    lr_multipliers_end: tuple[float, ...]
    stage_after: int
    newly_trainable: tuple[int, ...]
    stop: bool
    logs: Mapping[str, float]
    refrozen: tuple[int, ...] = ()
