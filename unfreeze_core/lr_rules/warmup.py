"""``Warmup``: ramp newly unfrozen groups up to their full rate."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import attrs

from ..fields import REQUIRED, arg, ge, le, one_of
from .base import LRContext
from .product import Multipliable

__all__ = ["Warmup"]


@attrs.frozen
class Warmup(Multipliable):
    """Ramp from ``start`` to 1 over ``steps`` optimizer steps.

    With ``per_group=True`` (default) each group ramps from the step it unfroze, so a
    freshly released group does not wreck the features it holds; with ``False`` there
    is one global ramp from the start of training. The multiplier at the ``k``-th step
    of the ramp (``k = 0, 1, ...``) is, with ``t = min((k + 1) / steps, 1)``:

    - linear: ``1 - (1 - start) * (1 - t)``
    - cosine: ``1 - (1 - start) * (1 + cos(pi * t)) / 2``

    so every step of the ramp trains, the ramp never decreases, and its last step
    (``k = steps - 1``) is exactly 1.

    Example:
        >>> import numpy as np
        >>> from unfreeze_core import Warmup
        >>> from unfreeze_core.lr_rules import LRContext
        >>> ctx = LRContext(depth=np.array([1.0, 0.0]), since=np.array([0.0, 3.0]),
        ...                 stage=2, stage_index=1, step=3, n_groups=2, xp=np)
        >>> [float(m) for m in Warmup(steps=4)(ctx)]
        [0.25, 1.0]
    """

    type_name: ClassVar[str] = "warmup"

    steps: int = arg(REQUIRED, ge(1), doc="Length of the ramp in optimizer steps.")
    start: float = arg(0.0, ge(0), le(1), doc="Multiplier the ramp starts from.")
    per_group: bool = arg(True, doc="Ramp each group from its unfreezing.")
    shape: Literal["linear", "cosine"] = arg(
        "linear", one_of("linear", "cosine"), doc="Shape of the ramp."
    )

    def __call__(self, ctx: LRContext) -> Any:
        xp = ctx.xp
        k = ctx.since if self.per_group else ctx.step
        t = xp.clip((k + 1.0) / self.steps, 0.0, 1.0)
        if self.shape == "linear":
            rest = 1.0 - t
        else:
            rest = (1.0 + xp.cos(math.pi * t)) / 2.0
        return 1.0 - (1.0 - self.start) * rest
