"""``StageScaled``: one learning-rate multiplier per stage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from ..errors import ConfigError, Problem
from ..fields import arg, each, finite, gt, non_empty
from .base import LRContext, piecewise
from .product import Multipliable

__all__ = ["StageScaled"]


@attrs.frozen
class StageScaled(Multipliable):
    """Scale every group's rate by a value that depends on the stage.

    ``scales[k]`` applies after ``k`` advances (the first stage uses ``scales[0]``;
    stages past the end of the list keep the last value). ``factor=f`` is the
    geometric spelling: ``f ** k``.

    The recipe that goes 1e-5 -> 5e-5 -> 1e-4 is a base rate of 1e-4 with
    ``StageScaled(scales=[0.1, 0.5, 1.0])``.

    Example:
        >>> import numpy as np
        >>> from unfreeze_core import StageScaled
        >>> from unfreeze_core.lr_rules import LRContext
        >>> ctx = LRContext(depth=np.array([1.0, 0.0]), since=np.zeros(2), stage=2,
        ...                 stage_index=1, step=10, n_groups=2, xp=np)
        >>> float(StageScaled(scales=[0.1, 0.5, 1.0])(ctx))
        0.5
    """

    type_name: ClassVar[str] = "stage_scaled"

    scales: Sequence[float] | None = arg(
        None, non_empty, each(gt(0), finite), doc="Multiplier of each stage, in order."
    )
    factor: float | None = arg(None, gt(0), finite, doc="Geometric growth per stage.")

    def __attrs_post_init__(self) -> None:
        if (self.scales is None) == (self.factor is None):
            raise ConfigError(
                [Problem("scales", "give exactly one of 'scales' or 'factor'")],
                source="StageScaled",
            )

    def __call__(self, ctx: LRContext) -> Any:
        if self.scales is not None:
            return piecewise(ctx.xp, ctx.stage_index, self.scales)
        return ctx.xp.power(self.factor, ctx.stage_index * 1.0)
