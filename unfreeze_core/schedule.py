"""``Schedule``: a policy, LR rules and options, and the pure state machine that runs them.

A schedule is immutable configuration. Running it is a pure function over explicit
state: :meth:`Schedule.start` gives a :class:`ScheduleState`, :meth:`Schedule.update`
takes one event and returns the next state and a :class:`Decision`. The Keras driver
and the dry run are two ways of feeding it events. Reading a schedule from a config is
:func:`~unfreeze_core.load_schedule`; this module never reads configs nor loads plugins.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs
import numpy as np

from .dry_run import dry_run as _dry_run
from .errors import ConfigError, Problem, UnfreezeWarning, checked_multiplier, checked_update
from .events import EpochEnd, Event, StageChange, TrainBegin
from .fields import REQUIRED, arg, ge, one_of
from .groupings import Auto, Grouping, to_grouping
from .lr_rules.base import LRContext, LRRule
from .monitoring import improved, infer_mode, is_finite
from .policies.base import Policy
from .policies.refreezing import refreezes
from .policy_tree import find_monitor, nested_set_chooser, walk
from .schedule_moves import advance, advances_left, has_next_stage, refreeze, stage_sets
from .schedule_rates import split_by_step
from .schedule_state import Decision, EpochRecord, ScheduleState, Transition
from .unstructure import FORMAT_VERSION, NameLookup, unstructure_fields

__all__ = [
    "Decision",
    "EpochRecord",
    "Schedule",
    "ScheduleState",
    "Transition",
    "split_by_step",
]


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
        groups: how the driver splits the model into groups: a grouping, or a short
            form: ``"auto"``, a count (``4``), a list of patterns, a list of lists of
            layer names.
        batchnorm: how the driver treats BatchNorm layers: ``"frozen"`` (inference
            mode, statistics fixed), ``"follow"`` (as their group) or ``"train"``.
        on_nan: when an epoch ends with a NaN or infinite ``loss`` or monitored
            metric: ``"hold"`` (default) makes no stage change (nor stop) at that epoch's
            end and warns; ``"advance"`` lets the policy decide alone.

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
    groups: Grouping = arg(
        Auto(), kind="grouping", converter=to_grouping, doc="How the driver splits the model."
    )
    batchnorm: Literal["frozen", "follow", "train"] = arg(
        "frozen", one_of("frozen", "follow", "train"), doc="BatchNorm handling."
    )
    on_nan: Literal["hold", "advance"] = arg(
        "hold",
        one_of("hold", "advance"),
        doc="At a NaN/infinite loss or monitor: 'hold' (no stage change, a warning).",
    )

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        if not isinstance(self.policy, Policy):
            problems.append(
                Problem("policy", f"must have init() and update(state, event), got {self.policy!r}")
            )
        for i, rule in enumerate(self.rules):
            if not callable(rule):
                problems.append(
                    Problem(f"rules[{i}]", f"must be an LR rule (a callable), got {rule!r}")
                )
        refreezer = next(
            (w for w, p in walk(self.policy) if w != "policy" and refreezes(p)), None
        )
        if refreezer is not None and not problems:
            problems.append(
                Problem(
                    refreezer,
                    "re-freezes groups, so it must be the schedule's policy itself; put "
                    "the policy that unfreezes into its 'unfreeze' argument instead",
                )
            )
        nested = nested_set_chooser(self.policy) if not problems else None
        if nested is not None:
            problems.append(
                Problem(
                    nested,
                    "defines trainable_sets() (it chooses which groups train), so it must be "
                    "the schedule's policy itself, not part of a combination; give it a "
                    "trigger of its own instead",
                )
            )
        if problems:
            raise ConfigError(problems, source="Schedule")

    # --- config ----------------------------------------------------------------------

    def to_config(self, registry: NameLookup | None = None) -> dict[str, Any]:
        """Plain data that :func:`~unfreeze_core.load_schedule` turns back into an
        equal schedule. Components are written under their ``type_name``; a registry
        is consulted only when passed. Never loads plugins."""
        return {"version": FORMAT_VERSION, **unstructure_fields(self, registry)}

    # --- running ---------------------------------------------------------------------

    @property
    def resolved_monitor(self) -> str:
        if self.monitor is not None:
            return self.monitor
        found = find_monitor(self.policy)
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
        held = state.nan_hold  # a NaN epoch holds every event until a finite epoch end
        if isinstance(event, EpochEnd):
            changes["epoch"] = event.epoch + 1
            changes.update(self._track_best(state, event))
            held = changes["nan_hold"] = self.on_nan == "hold" and self._warn_nonfinite(event)
        elif isinstance(event, TrainBegin):  # the policy learns how far the schedule goes
            left = advances_left(state, self.stage_sets(state.n_groups), self.advance_by)
            event = attrs.evolve(event, advances_left=left)
        policy_state, ready = checked_update(
            self.policy, self.policy.update(state.policy_state, event)
        )
        wanted = None
        if refreezes(self.policy):
            policy_state, wanted = self.policy.refreeze(  # type: ignore[attr-defined]
                policy_state, state.trainable, state.n_groups
            )
        changes["policy_state"] = policy_state
        state = attrs.evolve(state, **changes)
        if isinstance(event, TrainBegin) or not (ready or (wanted or 0) > state.refrozen):
            return state, none
        if held:
            return state, attrs.evolve(none, held=True)
        return self._move(state, event, ready, wanted)

    def _warn_nonfinite(self, event: EpochEnd) -> bool:
        """Whether the epoch's loss or monitored metric is NaN or infinite (warns if so)."""
        names = dict.fromkeys(("loss", self.resolved_monitor))
        bad = [n for n in names if n in event.logs and not is_finite(event.logs[n])]
        if bad:
            values = ", ".join(f"{n} = {event.logs[n]}" for n in bad)
            warnings.warn(
                f"Epoch {event.epoch + 1}: {values}; the schedule makes no stage change "
                "until an epoch ends with finite values (on_nan='hold')",
                UnfreezeWarning,
                stacklevel=3,
            )
        return bool(bad)

    def stage_sets(self, n_groups: int) -> list[tuple[int, ...]] | None:
        """The trainable set of every stage, for a policy that defines them.

        A policy may define ``trainable_sets(n_groups)`` to take groups in another
        order than top-down, refreezing included (chain-thaw does). Such a policy is
        *not monotonic*: its stages need not be suffixes, nor grow. ``None`` for the
        usual top-down progression governed by ``initial`` and ``advance_by`` (also
        when ``trainable_sets`` returns ``None``).
        """
        return stage_sets(self.policy, n_groups)

    @property
    def all_rules(self) -> tuple[LRRule, ...]:
        """The LR rules applied: ``rules``, then the policy's own (``FreezeOut``'s
        annealing), multiplied in this order."""
        make = getattr(self.policy, "lr_rule", None)
        own = make() if callable(make) else None
        return (*self.rules, own) if own is not None else tuple(self.rules)

    def _move(
        self, state: ScheduleState, event: Event, ready: bool, wanted: int | None
    ) -> tuple[ScheduleState, Decision]:
        """Re-freeze what the policy wants frozen, then advance if it is ready."""
        decision = Decision(stage=state.stage, previous=state.stage)
        if wanted is not None:
            state, refrozen = refreeze(state, event, wanted)
            decision = refrozen or decision
        sets = self.stage_sets(state.n_groups)
        if not ready:
            return state, decision
        if has_next_stage(state, sets):
            state, moved = advance(self.policy, state, event, sets, self.advance_by)
            return state, attrs.evolve(
                moved, previous=decision.previous, refrozen=decision.refrozen + moved.refrozen
            )
        if self.final == "stop":
            state = attrs.evolve(state, stopped=True)
            return state, attrs.evolve(
                decision, stop=True, best=state.best, best_epoch=state.best_epoch
            )
        return state, decision

    def _track_best(self, state: ScheduleState, event: EpochEnd) -> dict[str, Any]:
        monitor = self.resolved_monitor
        value = event.logs.get(monitor)
        if value is None or not is_finite(value):
            return {}
        mode = infer_mode(monitor) if self.mode == "auto" else self.mode
        if improved(float(value), state.best, mode, 0.0):
            return {"best": float(value), "best_epoch": event.epoch}
        return {}

    def lr_multipliers(self, state: ScheduleState, *, step: int | None = None) -> tuple[float, ...]:
        """Each group's multiplier of the base rate at optimizer step ``step``: the
        product of the rules, ``0.0`` where frozen.

        ``step`` defaults to the next step to be taken (``state.step``). Groups are
        listed input side first.
        """
        step = state.step if step is None else step
        n = state.n_groups
        unfrozen = np.asarray(state.unfrozen_at, dtype=np.float64)
        trains = np.asarray(state.trainable_mask, dtype=bool)
        depth = np.arange(n - 1, -1, -1, dtype=np.float64)
        ctx = LRContext(
            depth=depth,
            since=step - unfrozen,
            stage=state.stage,
            stage_index=state.stage_index,
            step=float(step),
            n_groups=n,
            xp=np,
        )
        result: Any = np.ones_like(depth)
        for rule in self.all_rules:
            result = result * checked_multiplier(rule, rule(ctx))
        values = np.where(trains, result, np.zeros_like(depth))
        return tuple(float(v) for v in np.broadcast_to(values, (n,)))

    def dry_run(
        self,
        n_groups: int,
        history: Mapping[str, Sequence[float]],
        *,
        steps_per_epoch: int = 1,
        grad_norms: Sequence[Sequence[float] | None] | None = None,
        epochs: int | None = None,
    ) -> list[EpochRecord]:
        """Replay the schedule over a recorded history, without training.

        Args:
            n_groups: number of groups.
            history: a Keras ``History.history``-style dict of per-epoch metric lists;
                the run lasts as many epochs as the longest list.
            steps_per_epoch: optimizer steps per epoch (for warmups and step counts).
            grad_norms: optional per-step per-group gradient norms (for ``GradNorm``).
            epochs: the epoch budget the policy is told, as the Keras driver tells it
                ``fit``'s ``epochs`` (a policy with a deadline paces its stages by it);
                ``None``: unknown, as when a policy is fed without a budget.

        Returns:
            One :class:`EpochRecord` per epoch, ending early at a final-stage stop.
        """
        return _dry_run(
            self, n_groups, history, steps_per_epoch=steps_per_epoch, grad_norms=grad_norms,
            epochs=epochs,
        )
