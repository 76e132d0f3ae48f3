"""Splitting a schedule's LR rules into the part fixed for a stage and the per-step rest.

The driver puts only the step-dependent rules into its compiled step
(:func:`split_by_step`); the fixed part is a constant per stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .lr_rules.base import LRRule

__all__ = ["split_by_step"]


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
    where it is evaluated as usual. Multiplication is commutative, so the product of
    the fixed part and the remaining rules equals the product of all the rules up to
    rounding; the driver uses this to put only the step-dependent part of the rates
    into the compiled step.

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
