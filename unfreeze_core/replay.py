"""Replaying a schedule without training: what it would do, epoch by epoch.

:func:`replay` runs :meth:`~unfreeze_core.Schedule.dry_run` over a recorded history (a
Keras ``History`` or ``CSVLogger`` file, see ``unfreeze plan --history``) or over a number
of epochs, and keeps what a person needs to read the result: the groups, the records,
the engine's warnings as notes, and the stages the driver recorded when the history
comes from a run with it. ``unfreeze plan`` prints a :class:`Replay`; the groups it
replays over come from a model, a count, the schedule (:func:`schedule_groups`) or the
history (:func:`recorded_groups`).

Example:
    >>> from unfreeze_core import FixedEpoch, Schedule
    >>> r = replay(Schedule(FixedEpoch(every=2)), ["a", "b"], epochs=4)
    >>> [rec.stage for rec in r.records], [rec.epoch for rec in r.stage_changes()]
    ([1, 1, 2, 2], [1])
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .groupings import ByCount, ByLayers
from .policy_tree import step_readers, walk
from .schedule import EpochRecord, Schedule
from .schedule_shape import depends_on_steps, n_stages
from .timeline import (
    LOG_LR,
    LOG_STAGE,
    LOG_STEPS,
    HistoryError,
    Timeline,
    record_stage_index,
    stage_numbers,
)

__all__ = [
    "DEFAULT_EPOCHS",
    "GroupInfo",
    "Replay",
    "first_epochs",
    "recorded_groups",
    "replay",
    "schedule_groups",
    "steps_per_epoch",
    "watched_metrics",
]

DEFAULT_EPOCHS = 10
"""Epochs replayed when there is no history and no count is given."""


@attrs.frozen
class GroupInfo:
    """A group as a replay shows it; ``n_layers``/``n_params`` are known with a model."""

    name: str
    n_layers: int | None = None
    n_params: int | None = None


def watched_metrics(schedule: Schedule) -> list[str]:
    """The metrics that the schedule's policy (or any policy inside it) reads.

    Example:
        >>> from unfreeze_core import Schedule, Plateau, FixedEpoch
        >>> watched_metrics(Schedule(Plateau(monitor="val_acc") | FixedEpoch(every=9)))
        ['val_acc']
    """
    found = [getattr(p, "monitor", None) for _, p in walk(schedule.policy)]
    return list(dict.fromkeys(m for m in found if isinstance(m, str)))


def schedule_groups(schedule: Schedule) -> list[GroupInfo] | None:
    """The groups a schedule names without a model (a count or explicit lists), else
    ``None``."""
    spec = schedule.groups
    if isinstance(spec, ByCount | ByLayers):
        return [GroupInfo(name) for name in spec.group_names]  # as the driver names them
    return None


def recorded_groups(history: Mapping[str, Any]) -> list[GroupInfo] | None:
    """The groups whose rates the driver logged in ``history`` (``unfreeze_lr/<group>``),
    else ``None``."""
    names = [k[len(LOG_LR):] for k in history if k.startswith(LOG_LR)]
    return [GroupInfo(n) for n in names] if names else None


def steps_per_epoch(history: Mapping[str, Sequence[Any]]) -> int | None:
    """The optimizer steps of each epoch, from the driver's ``unfreeze_steps``; ``None``
    when the history does not record them.

    Raises:
        HistoryError: the epochs took different numbers of steps (a replay needs one).

    Example:
        >>> steps_per_epoch({"unfreeze_steps": [30, 60, 90]}), steps_per_epoch({"loss": [1]})
        (30, None)
    """
    steps = [float(s) for s in history.get(LOG_STEPS, ()) if s is not None and math.isfinite(s)]
    if not steps:
        return None
    per = {int(b - a) for a, b in itertools.pairwise(steps)} or {int(steps[0])}
    if len(per) > 1 or min(per) < 1:
        raise HistoryError(
            f"the epochs of the history took different numbers of optimizer steps "
            f"({LOG_STEPS}: {', '.join(f'{s:.0f}' for s in steps[:8])}"
            f"{', ...' if len(steps) > 8 else ''}); a replay needs one number: pass "
            "--steps-per-epoch N"
        )
    return per.pop()


def first_epochs(records: Sequence[EpochRecord]) -> dict[int, int]:
    """Group index -> the first (0-based) epoch it trains in, over dry-run ``records``.

    Example:
        >>> from unfreeze_core import FixedEpoch, Schedule
        >>> first = first_epochs(Schedule(FixedEpoch(every=2)).dry_run(3, {"loss": [0.0] * 5}))
        >>> sorted(first.items())
        [(0, 4), (1, 2), (2, 0)]
    """
    return {g: r.epoch for r in reversed(records) for g in r.trainable}


@attrs.frozen
class Replay:
    """A schedule replayed over groups and a history.

    Attributes:
        groups: the groups, input side first.
        records: one per epoch.
        stages: each record's stage number (from 1), as the verbose lines count them.
        n_stages: how many stages the schedule has over these groups.
        history: the per-epoch values replayed over (``{}`` without a history).
        monitors: the metrics the policy watches.
        steps_per_epoch: optimizer steps per epoch (for step-based rules).
        notes: what the reader should know (warnings of the engine, what a dry run
            cannot see).
        recorded: the stage number of each epoch as the driver recorded it, when the
            history holds it.
    """

    groups: tuple[GroupInfo, ...]
    records: tuple[EpochRecord, ...]
    stages: tuple[int, ...]
    n_stages: int
    history: Mapping[str, Sequence[float]]
    monitors: tuple[str, ...]
    steps_per_epoch: int
    notes: tuple[str, ...]
    recorded: tuple[float, ...] | None = None

    def stage_changes(self) -> list[EpochRecord]:
        """The records of the epochs after which more groups train."""
        return [r for r in self.records if r.newly_trainable]

    def first_epochs(self) -> dict[int, int]:
        """Group index -> the first (0-based) epoch it trains in."""
        return first_epochs(self.records)

    def recorded_stage(self, epoch: int) -> float:
        """The stage number the driver recorded for ``epoch`` (NaN when unknown)."""
        if self.recorded is None or epoch >= len(self.recorded):
            return math.nan
        return self.recorded[epoch]

    def differs_from_recorded(self) -> bool:
        """Whether a replayed stage differs from the one the driver recorded."""
        return self.recorded is not None and any(
            r.epoch < len(self.recorded) and self.recorded[r.epoch] != stage
            for r, stage in zip(self.records, self.stages, strict=True)
        )

    def to_json(self) -> dict[str, Any]:
        """Plain data: the groups, one record per epoch (1-based), the notes.

        Each epoch has its ``stage`` (numbered from 1, of ``n_stages``),
        ``groups_trainable`` (a count) and ``lr_multipliers`` at its last step, as the
        driver's logs have them.
        """
        names = [g.name for g in self.groups]
        return {
            "groups": [attrs.asdict(g) for g in self.groups],
            "steps_per_epoch": self.steps_per_epoch,
            "n_stages": self.n_stages,
            "epochs": [
                {
                    "epoch": r.epoch + 1,
                    "stage": stage,
                    "groups_trainable": len(r.trainable),
                    "trainable": [names[g] for g in r.trainable],
                    "unfreezes_after": [names[g] for g in r.newly_trainable],
                    "lr_multipliers": list(r.lr_multipliers_end),
                    "stop": r.stop,
                    "logs": {k: v for k, v in r.logs.items() if math.isfinite(v)},
                }
                for r, stage in zip(self.records, self.stages, strict=True)
            ],
            "notes": list(self.notes),
        }

    def timeline(self, source: str = "") -> Timeline:
        """The replay as a :class:`~unfreeze_core.timeline.Timeline` (to draw it).

        Raises:
            HistoryError: there is no epoch.
        """
        if not self.records:
            raise HistoryError("there is no epoch to draw")
        params = [g.n_params for g in self.groups]
        monitor = self.monitors[0] if self.monitors and self.monitors[0] in self.history else None
        return Timeline.from_dry_run(
            self.records, [g.name for g in self.groups],
            history=self.history or None,
            group_params=[int(p) for p in params if p is not None]
            if all(p is not None for p in params) else None,
            monitor=monitor,
            source=source,
        )


def replay(
    schedule: Schedule,
    groups: Sequence[GroupInfo | str],
    history: Mapping[str, Sequence[float]] | None = None,
    *,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    source: str = "the history",
) -> Replay:
    """Replay ``schedule`` over ``groups``, over ``history`` when given.

    Args:
        schedule: the schedule.
        groups: the groups (or their names), input side first.
        history: per-epoch metrics of a recorded run; without it, nothing the policy
            watches is ever seen, so only timetables act.
        epochs: how many epochs (default: the history's length, else
            :data:`DEFAULT_EPOCHS`); at most the history's length.
        steps_per_epoch: optimizer steps per epoch; by default the history's (the
            driver logs ``unfreeze_steps``), else 1 when the replay does not depend on
            it (or there is no history, with a note when it does).
        source: how messages name the history (a file name).

    Raises:
        HistoryError: the history lacks a metric the policy watches, or is shorter
            than ``epochs``, or does not record the steps per epoch that the replay
            depends on (the message says to pass ``--steps-per-epoch``).
        ConfigError: the schedule does not fit this many groups.
    """
    infos = tuple(g if isinstance(g, GroupInfo) else GroupInfo(g) for g in groups)
    monitors = watched_metrics(schedule)
    if history is not None:
        missing = [m for m in monitors if m not in history]
        if missing:
            available = ", ".join(k for k in history if not k.startswith("unfreeze_"))
            raise HistoryError(
                f"{source} has no {', '.join(map(repr, missing))}, which the schedule's "
                f"policy watches; it holds: {available or '(no metrics)'}. Record the run with "
                "that metric (e.g. validation_data= in fit for 'val_loss'), or set the "
                "policy's monitor to one of these."
            )
        length = max((len(v) for v in history.values()), default=0)
        epochs = length if epochs is None else epochs
        if epochs > length:
            raise HistoryError(f"{epochs} epochs is more than the {length} epochs in {source}")
        replayed = {k: list(v[:epochs]) for k, v in history.items()}
    else:
        epochs = DEFAULT_EPOCHS if epochs is None else epochs
        replayed = {"epoch": [float(e) for e in range(epochs)]}
    steps, steps_note = _steps(schedule, len(infos), history, replayed, steps_per_epoch, source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # the budget the adaptive policies' deadline sees: the epochs replayed (a run's
        # budget when it ran to the end)
        records = schedule.dry_run(len(infos), replayed, steps_per_epoch=steps, epochs=epochs)
    notes = list(dict.fromkeys(str(w.message) for w in caught))
    if history is None:
        notes = [
            f"without a history the policy never sees {', '.join(map(repr, monitors))}, so "
            "stage changes that depend on it never come; replay a recorded run (--history) "
            "to see them"
        ] if monitors else []
    for name in dict.fromkeys(type(p).__name__ for p in step_readers(schedule.policy)):
        notes.append(
            f"{name} reads per-step gradient norms, which a history does not hold: in a dry "
            "run it never triggers" + ("; its re-freezing is decided at run time"
                                       if name == "AutoFreeze" else "")
        )
    if steps_note:
        notes.append(steps_note)
    recorded = stage_numbers(history) if history is not None and LOG_STAGE in history else None
    return Replay(
        groups=infos,
        records=tuple(records),
        stages=tuple(k + 1 for k in record_stage_index(records)),
        n_stages=n_stages(schedule, len(infos)),
        history=replayed if history is not None else {},
        monitors=tuple(monitors),
        steps_per_epoch=steps,
        notes=tuple(notes),
        recorded=recorded,
    )


def _steps(
    schedule: Schedule,
    n_groups: int,
    history: Mapping[str, Sequence[float]] | None,
    replayed: Mapping[str, Sequence[float]],
    given: int | None,
    source: str,
) -> tuple[int, str]:
    """The steps per epoch to replay with, and a note about them (or ``""``)."""
    recorded = steps_per_epoch(history) if history is not None else None
    if given is not None:
        if recorded is not None and recorded != given:
            return given, (
                f"{source} records {recorded} optimizer steps per epoch ({LOG_STEPS}); "
                f"replayed with {given} as asked"
            )
        return given, ""
    if recorded is not None:
        return recorded, ""
    if not depends_on_steps(schedule, n_groups, replayed):
        return 1, ""
    if history is not None:
        raise HistoryError(
            f"{source} does not record how many optimizer steps each epoch took, and this "
            "schedule's rates or stages depend on it (a warmup, or a policy that counts "
            "steps); pass --steps-per-epoch N (the batches per epoch of that run: "
            "ceil(samples / batch_size), or fit's steps_per_epoch). Histories written by "
            f"the driver record it as '{LOG_STEPS}'."
        )
    return 1, (
        "the rates depend on the steps per epoch (a warmup, or a policy that counts steps); "
        "this replay assumes 1: pass --steps-per-epoch N for your run's"
    )

