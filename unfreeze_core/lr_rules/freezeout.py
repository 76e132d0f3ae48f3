"""``FreezeOutRate``: FreezeOut's per-group cosine annealing to zero (Brock et al. 2017).

Group ``i`` of ``n`` (input side first) stops at the fraction
``t_i = spacing(t0 + (1 - t0) * i / (n - 1))`` of ``total_steps``, the head (``i = n - 1``)
at the end of the run. Its rate follows ``0.5 * (1 + cos(pi * step / (t_i * total_steps)))``
down to zero at that point and stays zero after it; with ``scale_lr`` it is divided by
``t_i`` (a group that trains for a shorter time starts from a larger rate), as in the
paper's code. :class:`~unfreeze_core.FreezeOut` applies this rule itself; it is a rule
of its own for reading and testing.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import attrs

from ..fields import REQUIRED, arg, ge, gt, le, one_of
from .base import LRContext
from .product import Multipliable

__all__ = ["SPACINGS", "FreezeOutRate", "stop_fractions"]

#: FreezeOut's ``how_scale``: how the stopping points of the groups are spaced.
SPACINGS = {"linear": 1, "squared": 2, "cubic": 3}


def stop_fractions(t0: float, spacing: str, n_groups: int) -> list[float]:
    """Each group's stopping point ``t_i`` as a fraction of the run (head: 1.0).

    Example:
        >>> stop_fractions(0.5, "linear", 3)
        [0.5, 0.75, 1.0]
        >>> [round(t, 3) for t in stop_fractions(0.8, "cubic", 3)]
        [0.512, 0.729, 1.0]
    """
    power = SPACINGS[spacing]
    last = max(n_groups - 1, 1)
    return [
        1.0 if i == n_groups - 1 else (t0 + (1.0 - t0) * i / last) ** power
        for i in range(n_groups)
    ]


@attrs.frozen
class FreezeOutRate(Multipliable):
    """FreezeOut's per-group rate: cosine annealing to zero at each group's stopping point.

    Example:
        >>> import numpy as np
        >>> from unfreeze_core.lr_rules import LRContext
        >>> rule = FreezeOutRate(t0=0.5, spacing="linear", total_steps=100, scale_lr=False)
        >>> ctx = LRContext(depth=np.array([2.0, 1.0, 0.0]), since=np.zeros(3), stage=3,
        ...                 stage_index=0, step=50.0, n_groups=3, xp=np)
        >>> [round(float(m), 3) for m in rule(ctx)]
        [0.0, 0.25, 0.5]
    """

    type_name: ClassVar[str] = "freezeout_rate"

    total_steps: int = arg(REQUIRED, ge(1), doc="Length of the run in optimizer steps.")
    t0: float = arg(0.8, gt(0), le(1), doc="Where the first group stops (before spacing).")
    spacing: Literal["linear", "squared", "cubic"] = arg(
        "cubic", one_of(*SPACINGS), doc="How the stopping points are spaced."
    )
    scale_lr: bool = arg(True, doc="Divide each group's rate by its stopping point.")

    def __call__(self, ctx: LRContext) -> Any:
        xp = ctx.xp
        last = float(max(ctx.n_groups - 1, 1))
        index = (ctx.n_groups - 1) - ctx.depth
        frac = xp.power(self.t0 + (1.0 - self.t0) * index / last, float(SPACINGS[self.spacing]))
        frac = xp.where(index >= ctx.n_groups - 1, 1.0, frac)
        progress = xp.minimum(ctx.step / (frac * float(self.total_steps)), 1.0)
        rate = 0.5 * (1.0 + xp.cos(math.pi * progress))
        return rate / frac if self.scale_lr else rate
