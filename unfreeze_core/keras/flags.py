"""From groups to Keras: which variable learns in which group, and each layer's
``trainable`` flag in a stage.

The schedule speaks of groups; Keras of layers and variables. :func:`variable_groups`
maps the variables to the groups once per run, :func:`set_flags` sets every weighted
layer's flag for a stage (a parent layer before its sublayers, since Keras' setter
recurses).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from .plan import Resolution

__all__ = ["VariableGroups", "set_flags", "variable_groups"]


@attrs.frozen
class VariableGroups:
    """The variables of a run.

    Attributes:
        group_of: ``id(variable)`` -> group index, or ``n_groups`` for "learns at the
            head's rate" (BatchNorm in ``"train"`` mode).
        controlled: ``id`` of every variable whose layer's flag the driver sets.
        candidates: the model's variables that may ever train, in the model's order.
    """

    group_of: dict[int, int]
    controlled: set[int]
    candidates: list[Any]

    @property
    def grouped(self) -> list[Any]:
        """The candidates that belong to a group (or learn at the head's rate)."""
        return [v for v in self.candidates if id(v) in self.group_of]


def variable_groups(
    res: Resolution, batchnorm: str, model_variables: Iterable[Any]
) -> VariableGroups:
    """Map the variables of ``res``'s layers to their groups, for ``batchnorm`` mode."""
    n = len(res.groups)
    group_of: dict[int, int] = {}
    for g, members in enumerate(res.members):
        for record in members:
            for v in record.variables:
                group_of[id(v)] = g
    if batchnorm == "train":
        for record in res.batchnorm:
            for v in record.variables:
                group_of[id(v)] = n
    controlled = {id(v) for r in res.records for v in r.variables}
    candidates = [v for v in model_variables if id(v) in controlled]
    return VariableGroups(group_of, controlled, candidates)


def set_flags(model: Any, res: Resolution, trainable_groups: Iterable[int], batchnorm: str) -> None:
    """Set every weighted layer's ``trainable`` flag for a stage training
    ``trainable_groups``; BatchNorm layers outside the groups follow ``batchnorm``,
    layers in no group stay frozen."""
    trainable = set(trainable_groups)
    want: dict[int, bool] = {}
    for g, members in enumerate(res.members):
        for record in members:
            want[id(record)] = g in trainable
    for record in res.batchnorm:
        want[id(record)] = batchnorm == "train"
    model.trainable = True
    # pre-order: a parent before its sublayers (Keras' setter recurses); the model's
    # own weights (last) by their variables' flags
    for record in res.records:
        record.set_trainable(want.get(id(record), False))
