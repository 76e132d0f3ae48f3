"""Groups of a real model under a schedule, inspectable before training.

:func:`resolve` turns a model and a schedule's ``groups`` spec into groups of live
layers (the driver uses it at train begin); :func:`plan` describes them for people:
group names, their layers, parameter counts, and when each unfreezes. :meth:`Plan.format`
is the one rendering of a plan, for Python users and for ``unfreeze plan --model``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import ConfigError, Problem
from ..groupings import Auto, Family, Group, describe, many_groups_note
from ..plugins import get_registry
from ..policies.fixed_epoch import FixedEpoch
from ..policy_tree import leaves, walk
from ..replay import first_epochs
from ..schedule import Schedule
from ..schedule_shape import n_stages as stage_count
from .advice import unreached_layers
from .layers import LayerRecord, flatten_layers

__all__ = [
    "Plan", "PlannedGroup", "Resolution", "check_advances", "installed_families", "n_stages",
    "plan", "resolve", "shorten",
]


@attrs.frozen(eq=False)
class Resolution:
    """A model split into groups.

    Attributes:
        records: every layer that owns weights, forward order.
        groups: the groups, input side first.
        members: per group, its layer records.
        batchnorm: BatchNormalization layers handled by the schedule's ``batchnorm``
            mode rather than by a group (all of them unless the mode is ``"follow"``).
        ungrouped: other weighted layers in no group (``ByLayers`` leaves them frozen).
        rule: which rule grouped the model and why (``"recognised as ResNet
            (keras.applications): 6 groups: conv1..conv5, head"``).
    """

    records: tuple[LayerRecord, ...]
    groups: tuple[Group, ...]
    members: tuple[tuple[LayerRecord, ...], ...]
    batchnorm: tuple[LayerRecord, ...]
    ungrouped: tuple[LayerRecord, ...]
    rule: str = ""


def installed_families() -> list[Family]:
    """The model families the installed plugins register (the built-ins first), in the
    order ``Auto`` tries them."""
    return [e.factory for e in get_registry() if isinstance(e.factory, Family)]


def resolve(model: Any, schedule: Schedule) -> Resolution:
    """Split ``model`` into the groups of ``schedule.groups``.

    BatchNormalization layers take part in the grouping only with ``batchnorm="follow"``;
    otherwise the mode alone decides them (``Auto`` would else make each one a group of
    its own that never trains).

    Raises:
        ConfigError: the spec matches no layer or names a missing one (the message lists
            the available layer paths), or the model has no weighted layer.
    """
    records = tuple(flatten_layers(model))
    follow = schedule.batchnorm == "follow"
    candidates = [r for r in records if follow or not r.info.is_batchnorm]
    infos = [r.info for r in candidates]
    if isinstance(schedule.groups, Auto):
        choice = schedule.groups.choose(infos, installed_families())
        groups, rule = choice.groups, choice.reason
    else:
        groups = schedule.groups.resolve(infos)
        rule = describe(schedule.groups, groups)
    by_path = {r.path: r for r in records}
    members = tuple(tuple(by_path[p] for p in g.layers) for g in groups)
    grouped = {p for g in groups for p in g.layers}
    bn = tuple(r for r in records if r.info.is_batchnorm and not follow)
    ungrouped = tuple(
        r for r in records if r.path not in grouped and not (r.info.is_batchnorm and not follow)
    )
    if not isinstance(schedule.groups, Auto) and not groups:
        raise ConfigError([Problem("groups", "the grouping produced no group")])
    return Resolution(records, tuple(groups), members, bn, ungrouped, rule)


def n_stages(schedule: Schedule, n_groups: int) -> int:
    """How many stages a run over ``n_groups`` groups can have."""
    sets = schedule.stage_sets(n_groups)
    if sets is not None:
        return len(sets)
    return 1 + math.ceil(max(n_groups - schedule.initial, 0) / schedule.advance_by)


def check_advances(schedule: Schedule, n_groups: int) -> None:
    """Reject a schedule that asks for more advances than the groups allow.

    Raises:
        ConfigError: ``initial`` exceeds the group count, or a ``FixedEpoch(at=...)``
            timetable lists more advances than there are stages left to reach.
    """
    if schedule.initial > n_groups:
        raise ConfigError(
            [
                Problem(
                    "initial",
                    f"must be <= the number of groups ({n_groups}), got {schedule.initial}; "
                    "lower it or split the model into more groups (groups=...)",
                )
            ]
        )
    most = n_stages(schedule, n_groups) - 1
    for _, p in walk(schedule.policy):
        at = getattr(p, "at", None)
        if isinstance(p, FixedEpoch) and at is not None and len(at) > most:
            raise ConfigError(
                [
                    Problem(
                        "policy.at",
                        f"lists {len(at)} advances ({list(at)}) but {n_groups} groups with "
                        f"initial={schedule.initial}, advance_by={schedule.advance_by} allow "
                        f"at most {most}; drop {len(at) - most} entries or split the model "
                        "into more groups",
                    )
                ]
            )


@attrs.frozen
class PlannedGroup:
    """One group of a :class:`Plan`.

    Attributes:
        index: 0 for the group nearest the input.
        name: the group's name.
        layers: its layers' paths.
        n_params: parameters that can train in it.
        stage_index: advances made when it first trains (0: from the start), ``None``
            when no stage includes it.
        epoch: 0-based epoch from which it trains under a fixed timetable (``FixedEpoch``
            only, and only when ``epochs`` is given); ``None`` otherwise.
    """

    index: int
    name: str
    layers: tuple[str, ...]
    n_params: int
    stage_index: int | None
    epoch: int | None


def shorten(name: str, width: int) -> str:
    """``name`` in at most ``width`` characters, cut from the middle so that both ends
    (the backbone and the block number) stay readable.

    Example:
        >>> shorten("bert_backbone/transformer_layer_11", 24)
        'bert_backbon…er_layer_11'
    """
    if len(name) <= width:
        return name
    tail = (width - 1) // 2
    return name[: width - 1 - tail] + "…" + name[len(name) - tail :]


@attrs.frozen
class Plan:
    """What the driver will do with a model: its groups and when each unfreezes.

    Attributes:
        rule: which rule grouped the model and why.
        unreached: per group index, its layers no output of the model depends on
            (they never receive a gradient).
    """

    groups: tuple[PlannedGroup, ...]
    n_stages: int
    total_params: int
    batchnorm: str
    batchnorm_layers: tuple[str, ...]
    ungrouped: tuple[str, ...]
    rule: str = ""
    unreached: Mapping[int, tuple[str, ...]] = attrs.field(factory=dict)

    def format(self, width: int = 100) -> str:
        """A plain-text table, one group per line, head last, within ``width`` columns
        where the group names allow (a longer name is shortened in the middle)."""
        fixed = 3 + 2 + 1 + 6 + 1 + 12 + 2 + 5 + 2 + 5
        longest = max((len(g.name) for g in self.groups), default=5)
        col = max(5, min(longest, max(width - fixed, 24)))
        lines = [
            f"{len(self.groups)} group{'s' * (len(self.groups) != 1)}, "
            f"{self.n_stages} stage{'s' * (self.n_stages != 1)}, "
            f"{self.total_params:,} parameters that can train; batchnorm={self.batchnorm!r}",
        ]
        if self.rule:
            lines.append(f"grouping: {self.rule}")
        lines.append(
            f"{'#':>3}  {'group':<{col}} {'layers':>6} {'params':>12}  {'stage':>5}  {'epoch':>5}"
        )
        for g in self.groups:
            stage = "-" if g.stage_index is None else str(g.stage_index + 1)
            epoch = "-" if g.epoch is None else str(g.epoch + 1)
            lines.append(
                f"{g.index:>3}  {shorten(g.name, col):<{col}} {len(g.layers):>6} "
                f"{g.n_params:>12,}  {stage:>5}  {epoch:>5}"
            )
        if self.batchnorm_layers:
            lines.append(f"{len(self.batchnorm_layers)} BatchNormalization layers follow "
                         f"batchnorm={self.batchnorm!r}")
        if self.ungrouped:
            lines.append(f"{len(self.ungrouped)} weighted layers in no group stay frozen: "
                         + ", ".join(self.ungrouped[:10]))
        for i, layers in sorted(self.unreached.items()):
            lines.append(
                f"note: no output depends on {', '.join(layers[:5])}"
                f"{', ...' if len(layers) > 5 else ''} (group {self.groups[i].name!r}): "
                "it never receives a gradient"
            )
        many = many_groups_note(len(self.groups))
        if many:
            lines.append(f"note: {many}")
        return "\n".join(lines)

    def with_first_epochs(self, first: Mapping[int, int]) -> Plan:
        """This plan with each group's ``epoch`` taken from ``first`` (group index ->
        0-based epoch, as :func:`unfreeze_core.replay.first_epochs` gives; a group
        missing from it gets ``None``)."""
        groups = tuple(attrs.evolve(g, epoch=first.get(g.index)) for g in self.groups)
        return attrs.evolve(self, groups=groups)


def plan(model: Any, schedule: Schedule, *, epochs: int | None = None) -> Plan:
    """The groups of ``model`` under ``schedule`` and the stage at which each unfreezes.

    Args:
        model: a built Keras model.
        schedule: the schedule (its ``groups``, ``initial``, ``advance_by`` and policy).
        epochs: with a ``FixedEpoch`` timetable, also give the epoch from which each
            group trains within this many epochs.

    Returns:
        A :class:`Plan`; ``print(plan(...).format())`` shows it as a table.

    Example:
        >>> import keras
        >>> from unfreeze_core import Schedule, FixedEpoch
        >>> from unfreeze_core.keras.plan import plan
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"),
        ...                       keras.layers.Dense(2, name="b")])
        >>> p = plan(m, Schedule(FixedEpoch(every=2)), epochs=4)
        >>> [(g.name, g.n_params, g.stage_index, g.epoch) for g in p.groups]
        [('a', 15, 1, 2), ('b', 8, 0, 0)]
    """
    res = resolve(model, schedule)
    n = len(res.groups)
    check_advances(schedule, n)
    sets = schedule.stage_sets(n)
    stage_of: list[int | None] = []
    for g in range(n):
        if sets is not None:
            stage_of.append(next((k for k, s in enumerate(sets) if g in s), None))
        elif g >= n - schedule.initial:
            stage_of.append(0)
        else:
            stage_of.append(math.ceil((n - schedule.initial - g) / schedule.advance_by))
    groups = tuple(
        PlannedGroup(i, g.name, g.layers, g.n_params, stage_of[i], None)
        for i, g in enumerate(res.groups)
    )
    dead = unreached_layers(model)
    unreached = {i: tuple(p for p in g.layers if p in dead) for i, g in enumerate(res.groups)}
    planned = Plan(
        groups=groups,
        n_stages=stage_count(schedule, n),  # re-freezes included, as the driver counts
        total_params=sum(g.n_params for g in res.groups)
        + (sum(r.info.n_params for r in res.batchnorm) if schedule.batchnorm == "train" else 0),
        batchnorm=schedule.batchnorm,
        batchnorm_layers=tuple(r.path for r in res.batchnorm),
        ungrouped=tuple(r.path for r in res.ungrouped),
        rule=res.rule,
        unreached={i: ps for i, ps in unreached.items() if ps},
    )
    # a timetable whose triggers are all FixedEpoch reads no metric: a dry run over any
    # history gives its epochs exactly
    if epochs is not None and all(isinstance(p, FixedEpoch) for p in leaves(schedule.policy)):
        planned = planned.with_first_epochs(
            first_epochs(schedule.dry_run(n, {"loss": [0.0] * epochs}))
        )
    return planned
