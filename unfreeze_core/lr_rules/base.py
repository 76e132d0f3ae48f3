"""The LR-rule protocol: a multiplier of the base learning rate, per group.

A rule is any callable ``rule(ctx) -> multiplier`` where ``ctx`` is an
:class:`LRContext`. The result broadcasts to one value per group (a scalar applies to
every group). Rules compose by multiplication, in order. A rule that can be written in
a config declares its name there as a class attribute ``type_name`` (``"warmup"``).

Rules are written as array math over ``ctx.xp``, an array namespace: NumPy in the
engine and dry runs, ``keras.ops`` inside the driver's compiled train step. So a rule
is evaluated in-graph from step counters and per-group vectors, with no Python per
batch. Use only the functions both namespaces share: ``minimum``, ``maximum``,
``clip``, ``where``, ``power``, ``cos``, ``exp``, ``log``, ``sqrt``, ``ones_like``,
``zeros_like``, and arithmetic operators. :func:`piecewise` picks from a list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

__all__ = ["LRContext", "LRRule", "piecewise"]


@attrs.frozen
class LRContext:
    """What a rule may depend on. Arrays are per group, input side first.

    Attributes:
        depth: each group's depth from the top: ``n_groups - 1 - index`` (the head is 0).
        since: optimizer steps each group has taken since it unfroze (``0`` on its
            first step; negative or meaningless for frozen groups, which get 0 anyway).
        stage: how many groups are trainable.
        stage_index: how many advances have been made (0 in the first stage).
        step: optimizer steps taken before this one (Keras ``optimizer.iterations``).
        n_groups: the number of groups (a Python int, also in the compiled step).
        xp: the array namespace to compute with.
    """

    depth: Any
    since: Any
    stage: Any
    stage_index: Any
    step: Any
    n_groups: int
    xp: Any


@runtime_checkable
class LRRule(Protocol):
    """What an LR rule implements: any callable of an :class:`LRContext`."""

    def __call__(self, ctx: LRContext) -> Any: ...


def piecewise(xp: Any, index: Any, values: Sequence[float]) -> Any:
    """``values[min(index, len(values) - 1)]`` for a (possibly traced) integer index.

    Built from nested ``where`` so it runs in NumPy and in a compiled Keras step alike,
    and returns the listed values exactly.
    """
    result: Any = values[-1]
    for k in range(len(values) - 2, -1, -1):
        result = xp.where(index <= k, values[k], result)
    return result
