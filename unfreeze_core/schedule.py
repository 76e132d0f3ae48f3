"""``Schedule``: a policy, LR rules and options, and the pure state machine that runs them.

A schedule is immutable configuration. Running it is a pure function over explicit
state: :meth:`Schedule.start` gives a :class:`ScheduleState`, :meth:`Schedule.update`
takes one event and returns the next state and a :class:`Decision`. The Keras driver
and the dry run are two ways of feeding it events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs
import numpy as np

from .config import FORMAT_VERSION, structure_fields, unstructure_fields
from .errors import ConfigError, Problem
from .events import EpochEnd, Event, StageChange, StepEnd, TrainBegin
from .fields import REQUIRED, arg, ge, one_of
from .groupings import Auto, Grouping
from .lr_rules.base import LRContext, LRRule
from .policies.base import Policy
from .policies.plateau import improved, infer_mode
from .registry import Registry

__all__ = [
    "Decision",
    "EpochRecord",
    "Schedule",
    "ScheduleState",
    "Transition",
    "compute_multipliers",
    "split_by_step",
]


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
        stage: how many groups (from the top) are trainable.
        stage_index: how many advances have been made.
        epoch: epochs completed.
        step: optimizer steps completed.
        unfrozen_at: per group (input side first), the step count when it became
            trainable (``0`` for the initial ones), ``-1`` while frozen.
        policy_state: the policy's own state.
        stopped: a final-stage stop was decided.
        best, best_epoch: best value of the schedule's monitor so far, and its epoch.
        transitions: every stage change so far.
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

    @property
    def trainable(self) -> tuple[int, ...]:
        """Indices of the trainable groups: the top ``stage`` of them (a suffix) for
        every monotonic policy."""
        return tuple(g for g, at in enumerate(self.unfrozen_at) if at >= 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible data (policy state included) for checkpoints."""
        return _converter.unstructure(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScheduleState:
        try:
            return _converter.structure(dict(data), cls)
        except Exception as exc:  # cattrs raises a group of errors
            raise ConfigError(f"not a saved schedule state: {exc}") from None


_converter = cattrs.Converter()


@attrs.frozen
class Decision:
    """What the schedule decided on one event.

    ``advanced`` is true when groups were unfrozen (``newly_trainable`` lists them,
    input side first); ``stop`` asks training to end (a final-stage stop), with the
    best epoch of the schedule's monitor in ``best_epoch``.
    """

    stage: int
    previous: int
    advanced: bool = False
    newly_trainable: tuple[int, ...] = ()
    stop: bool = False
    best: float | None = None
    best_epoch: int | None = None


@attrs.frozen
class EpochRecord:
    """One epoch of a dry run.

    ``stage``, ``trainable`` and ``lr_multipliers`` (each group's multiplier of the base
    rate, input side first, ``0.0`` when frozen) describe the epoch's first step;
    ``lr_multipliers_end`` its last step. ``stage_after`` is the stage once the epoch
    has ended (larger than ``stage`` when the epoch's end or one of its steps advanced).
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


def compute_multipliers(
    rules: Sequence[LRRule],
    *,
    depth: Any,
    since: Any,
    trainable: Any,
    stage: Any,
    stage_index: Any,
    step: Any,
    n_groups: int,
    xp: Any,
) -> Any:
    """Each group's multiplier of the base rate: the product of ``rules``, 0 where frozen.

    All arguments may be NumPy values or tensors of a compiled step (``xp`` is then
    ``keras.ops``); ``trainable`` is a per-group boolean (or 0/1) vector.
    """
    ctx = LRContext(
        depth=depth,
        since=since,
        stage=stage,
        stage_index=stage_index,
        step=step,
        n_groups=n_groups,
        xp=xp,
    )
    result: Any = xp.ones_like(depth)
    for rule in rules:
        result = result * rule(ctx)
    return xp.where(trainable, result, xp.zeros_like(depth))


class _StepRead(Exception):
    """Raised by :class:`_StageOnlyContext` when a rule reads ``step`` or ``since``."""


class _StageOnlyContext:
    """An :class:`LRContext` stand-in without the step: reading ``step`` or ``since`` raises."""

    __slots__ = ("depth", "n_groups", "stage", "stage_index", "xp")

    def __init__(self, depth: Any, stage: Any, stage_index: Any, n_groups: int):
        self.depth, self.stage, self.stage_index = depth, stage, stage_index
        self.n_groups, self.xp = n_groups, np

    @property
    def step(self) -> Any:
        raise _StepRead

    @property
    def since(self) -> Any:
        raise _StepRead


def split_by_step(
    rules: Sequence[LRRule], *, stage: float, stage_index: float, n_groups: int
) -> tuple[np.ndarray, tuple[LRRule, ...]]:
    """The rules whose value is fixed for a whole stage, folded; and the others.

    Returns the product (float32, per group) of the rules that read neither
    ``ctx.step`` nor ``ctx.since`` (so they depend only on the stage and the groups),
    computed once with NumPy, and the remaining rules in order, which must be evaluated
    at every step. A rule that fails without the step is kept among the remaining ones,
    where it is evaluated as usual. Multiplication is commutative, so
    ``product * compute_multipliers(remaining, ...)`` is ``compute_multipliers(rules,
    ...)`` up to rounding; the driver uses this to put only the step-dependent part of
    the rates into the compiled step.

    Example:
        >>> from unfreeze_core import Discriminative, Warmup
        >>> fixed, rest = split_by_step(
        ...     [Discriminative(factor=2.0), Warmup(steps=10)], stage=3, stage_index=2, n_groups=3
        ... )
        >>> fixed.tolist(), [type(r).__name__ for r in rest]
        ([0.25, 0.5, 1.0], ['Warmup'])
    """
    depth = np.arange(n_groups - 1, -1, -1, dtype=np.float32)
    ctx = _StageOnlyContext(depth, np.float32(stage), np.float32(stage_index), n_groups)
    fixed = np.ones(n_groups, np.float32)
    remaining: list[LRRule] = []
    for rule in rules:
        try:
            value = rule(ctx)  # type: ignore[arg-type]
        except Exception:  # _StepRead, or a rule that needs a real LRContext
            remaining.append(rule)
            continue
        fixed = fixed * np.broadcast_to(np.asarray(value, np.float32), (n_groups,))
    return fixed.astype(np.float32), tuple(remaining)


@attrs.frozen
class Schedule:
    """When each group unfreezes and how fast every group learns.

    Args:
        policy: decides when to advance (a built-in, a combination, or any object with
            ``init()`` and ``update(state, event)``).
        rules: LR rules, multiplied in order (none: every trainable group gets the
            optimizer's base rate).
        initial: groups trainable at the start, from the top (1: the head).
        advance_by: groups unfrozen per advance.
        final: once every group is trainable and the policy is ready again:
            ``"continue"`` training, or ``"stop"`` it (stage-aware early stopping).
        monitor: metric whose best epoch is tracked and reported at a stop; ``None``
            takes the policy's ``monitor`` if it has one, else ``"val_loss"``.
        mode: ``"auto"``, ``"min"`` or ``"max"`` for ``monitor``.
        groups: how the driver splits the model into groups.
        batchnorm: how the driver treats BatchNorm layers: ``"frozen"`` (inference
            mode, statistics fixed), ``"follow"`` (as their group) or ``"train"``.

    Example:
        >>> from unfreeze_core import Schedule, FixedEpoch, StageScaled
        >>> s = Schedule(FixedEpoch(every=5), rules=[StageScaled(scales=[0.1, 0.5, 1.0])])
        >>> [r.stage for r in s.dry_run(3, {"loss": [1.0] * 12})][::5]
        [1, 2, 3]
    """

    policy: Policy = arg(REQUIRED, kind="policy", doc="When to advance.")
    rules: Sequence[LRRule] = arg((), kind="rules", doc="LR rules, multiplied in order.")
    initial: int = arg(1, ge(1), doc="Groups trainable at the start, from the top.")
    advance_by: int = arg(1, ge(1), doc="Groups unfrozen per advance.")
    final: Literal["continue", "stop"] = arg(
        "continue", one_of("continue", "stop"), doc="What happens once all are trainable."
    )
    monitor: str | None = arg(None, doc="Metric whose best epoch is reported.")
    mode: Literal["auto", "min", "max"] = arg(
        "auto", one_of("auto", "min", "max"), doc="Direction of `monitor`; 'auto' infers it."
    )
    groups: Grouping = arg(Auto(), kind="grouping", doc="How the driver splits the model.")
    batchnorm: Literal["frozen", "follow", "train"] = arg(
        "frozen", one_of("frozen", "follow", "train"), doc="BatchNorm handling."
    )

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.policy, Policy):
            raise ConfigError(
                [
                    Problem(
                        "policy", f"must have init() and update(state, event), got {self.policy!r}"
                    )
                ],
                source="Schedule",
            )
        for i, rule in enumerate(self.rules):
            if not callable(rule):
                raise ConfigError(
                    [Problem(f"rules[{i}]", f"must be an LR rule (a callable), got {rule!r}")],
                    source="Schedule",
                )
        nested = _nested_stage_setter(self.policy, "policy", root=True)
        if nested is not None:
            raise ConfigError(
                [
                    Problem(
                        nested,
                        "defines trainable_sets() (it chooses which groups train), so it must be "
                        "the schedule's policy itself, not part of a combination; give it a "
                        "trigger of its own instead",
                    )
                ],
                source="Schedule",
            )

    # --- config ----------------------------------------------------------------------

    def to_config(self, registry: Registry | None = None) -> dict[str, Any]:
        """Plain data that :meth:`from_config` turns back into an equal schedule."""
        return {"version": FORMAT_VERSION, **unstructure_fields(self, registry)}

    @classmethod
    def from_config(cls, data: Mapping[str, Any], *, registry: Registry | None = None) -> Schedule:
        """Build a schedule from plain data; every problem is reported with its location."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"a schedule must be a table, got {type(data).__name__}")
        params = dict(data)
        version = params.pop("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ConfigError(
                [
                    Problem(
                        "version",
                        f"must be {FORMAT_VERSION} (the format this version reads), "
                        f"got {version!r}",
                    )
                ]
            )
        schedule: Schedule = structure_fields(cls, params, "", registry)
        return schedule

    @classmethod
    def load(cls, source: Mapping[str, Any] | str | Path) -> Schedule:
        """Same as :func:`~unfreeze_core.load_schedule`."""
        from .config import load_schedule

        return load_schedule(source)

    # --- running ---------------------------------------------------------------------

    @property
    def resolved_monitor(self) -> str:
        if self.monitor is not None:
            return self.monitor
        found = _find_monitor(self.policy)
        return found if found is not None else "val_loss"

    def start(self, n_groups: int, *, epoch: int = 0, step: int = 0) -> ScheduleState:
        """The state at the start of a run over ``n_groups`` groups."""
        if not isinstance(n_groups, int) or n_groups < 1:
            raise ConfigError(f"the number of groups must be an integer >= 1, got {n_groups!r}")
        if self.initial > n_groups:
            raise ConfigError(
                [
                    Problem(
                        "initial",
                        f"must be <= the number of groups ({n_groups}), got {self.initial}",
                    )
                ]
            )
        sets = self.stage_sets(n_groups)
        first = set(sets[0]) if sets is not None else set(range(n_groups - self.initial, n_groups))
        unfrozen = tuple(step if g in first else -1 for g in range(n_groups))
        return ScheduleState(
            n_groups=n_groups,
            stage=len(first),
            stage_index=0,
            epoch=epoch,
            step=step,
            unfrozen_at=unfrozen,
            policy_state=self.policy.init(),
        )

    def update(self, state: ScheduleState, event: Event) -> tuple[ScheduleState, Decision]:
        """Feed one event; the next state and what was decided."""
        none = Decision(stage=state.stage, previous=state.stage)
        if state.stopped:
            return state, none
        if isinstance(event, StageChange):
            raise ConfigError("StageChange events are made by the schedule, not fed to it")
        changes: dict[str, Any] = {"step": max(state.step, event.step)}
        if isinstance(event, EpochEnd):
            changes["epoch"] = event.epoch + 1
            changes.update(self._track_best(state, event))
        policy_state, ready = self.policy.update(state.policy_state, event)
        changes["policy_state"] = policy_state
        state = attrs.evolve(state, **changes)
        if not ready or isinstance(event, TrainBegin):
            return state, none
        if self._has_next_stage(state):
            return self._advance(state, event)
        if self.final == "stop":
            state = attrs.evolve(state, stopped=True)
            return state, Decision(
                stage=state.stage,
                previous=state.stage,
                stop=True,
                best=state.best,
                best_epoch=state.best_epoch,
            )
        return state, none

    def stage_sets(self, n_groups: int) -> list[tuple[int, ...]] | None:
        """The trainable set of every stage, for a policy that defines them.

        A policy may define ``trainable_sets(n_groups)`` to take groups in another
        order than top-down, refreezing included (chain-thaw does). Such a policy is
        *not monotonic*: its stages need not be suffixes, nor grow. ``None`` for the
        usual top-down progression governed by ``initial`` and ``advance_by``.
        """
        make = getattr(self.policy, "trainable_sets", None)
        if make is None:
            return None
        sets = [tuple(sorted(set(s))) for s in make(n_groups)]
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
            raise ConfigError(problems, source=type(self.policy).__name__)
        return sets

    def _has_next_stage(self, state: ScheduleState) -> bool:
        sets = self.stage_sets(state.n_groups)
        if sets is None:
            return state.stage < state.n_groups
        return state.stage_index + 1 < len(sets)

    def _advance(self, state: ScheduleState, event: Event) -> tuple[ScheduleState, Decision]:
        n = state.n_groups
        sets = self.stage_sets(n)
        if sets is None:
            target = set(range(n - min(state.stage + self.advance_by, n), n))
        else:
            target = set(sets[state.stage_index + 1])
        after = len(target)
        newly = tuple(g for g in sorted(target) if state.unfrozen_at[g] < 0)
        unfrozen = tuple(
            (state.step if at < 0 else at) if g in target else -1
            for g, at in enumerate(state.unfrozen_at)
        )
        change = StageChange(epoch=event.epoch, step=state.step, stage=after, previous=state.stage)
        policy_state, _ = self.policy.update(state.policy_state, change)
        new = attrs.evolve(
            state,
            stage=after,
            stage_index=state.stage_index + 1,
            unfrozen_at=unfrozen,
            policy_state=policy_state,
            transitions=(
                *state.transitions,
                Transition(event.epoch, state.step, state.stage, after),
            ),
        )
        return new, Decision(
            stage=after, previous=state.stage, advanced=True, newly_trainable=newly
        )

    def _track_best(self, state: ScheduleState, event: EpochEnd) -> dict[str, Any]:
        monitor = self.resolved_monitor
        value = event.logs.get(monitor)
        if value is None:
            return {}
        mode = infer_mode(monitor) if self.mode == "auto" else self.mode
        if improved(float(value), state.best, mode, 0.0):
            return {"best": float(value), "best_epoch": event.epoch}
        return {}

    def lr_multipliers(self, state: ScheduleState, *, step: int | None = None) -> tuple[float, ...]:
        """Each group's multiplier of the base rate at optimizer step ``step``.

        ``step`` defaults to the next step to be taken (``state.step``). Groups are
        listed input side first; frozen groups get ``0.0``.
        """
        step = state.step if step is None else step
        n = state.n_groups
        unfrozen = np.asarray(state.unfrozen_at, dtype=np.float64)
        values = compute_multipliers(
            self.rules,
            depth=np.arange(n - 1, -1, -1, dtype=np.float64),
            since=step - unfrozen,
            trainable=unfrozen >= 0,
            stage=state.stage,
            stage_index=state.stage_index,
            step=float(step),
            n_groups=n,
            xp=np,
        )
        return tuple(float(v) for v in np.broadcast_to(values, (n,)))

    def dry_run(
        self,
        n_groups: int,
        history: Mapping[str, Sequence[float]],
        *,
        steps_per_epoch: int = 1,
        grad_norms: Sequence[Sequence[float] | None] | None = None,
    ) -> list[EpochRecord]:
        """Replay the schedule over a recorded history, without training.

        Args:
            n_groups: number of groups.
            history: a Keras ``History.history``-style dict of per-epoch metric lists;
                the run lasts as many epochs as the longest list.
            steps_per_epoch: optimizer steps per epoch (for warmups and step counts).
            grad_norms: optional per-step per-group gradient norms (for ``GradNorm``).

        Returns:
            One :class:`EpochRecord` per epoch, ending early at a final-stage stop.
        """
        if steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        n_epochs = max((len(v) for v in history.values()), default=0)
        state = self.start(n_groups)
        state, _ = self.update(state, TrainBegin(0, 0))
        records = []
        for epoch in range(n_epochs):
            stage, trainable = state.stage, state.trainable
            lr_first = self.lr_multipliers(state)
            newly: tuple[int, ...] = ()
            stop = False
            for _ in range(steps_per_epoch):
                lr_last = self.lr_multipliers(state)
                step = state.step + 1
                norms = None
                if grad_norms is not None and step - 1 < len(grad_norms):
                    g = grad_norms[step - 1]
                    norms = tuple(g) if g is not None else None
                state, decision = self.update(state, StepEnd(epoch, step, norms))
                newly += decision.newly_trainable
                stop = stop or decision.stop
            logs = {k: float(v[epoch]) for k, v in history.items() if epoch < len(v)}
            if not stop:
                state, decision = self.update(state, EpochEnd(epoch, state.step, logs))
                newly += decision.newly_trainable
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
                )
            )
            if stop:
                break
        return records


def _nested_stage_setter(policy: Any, path: str, *, root: bool = False) -> str | None:
    """Where a policy with ``trainable_sets`` sits below the root, if anywhere."""
    if not root and hasattr(policy, "trainable_sets"):
        return path
    for i, child in enumerate(getattr(policy, "policies", ())):
        found = _nested_stage_setter(child, f"{path}.policies[{i}]")
        if found is not None:
            return found
    return None


def _find_monitor(policy: Any) -> str | None:
    monitor = getattr(policy, "monitor", None)
    if isinstance(monitor, str):
        return monitor
    for child in getattr(policy, "policies", ()):
        found = _find_monitor(child)
        if found is not None:
            return found
    return None
