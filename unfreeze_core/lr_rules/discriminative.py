"""``Discriminative``: deeper groups learn more slowly (ULMFiT; layer decay)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from ..errors import ConfigError, Problem
from ..fields import arg, each, finite, ge, gt, le, non_empty, non_increasing
from .base import LRContext, piecewise
from .product import Multipliable

__all__ = ["Discriminative"]


@attrs.frozen
class Discriminative(Multipliable):
    """Each group below the top learns ``factor`` times slower than the one above.

    Three spellings, give exactly one:

    - ``factor=2.6``: ULMFiT's discriminative fine-tuning (Howard & Ruder, 2018),
      multiplier ``factor ** -depth``; the head (depth 0) gets 1.
    - ``decay=0.75``: layer-wise LR decay as in BERT/ELECTRA fine-tuning and timm,
      multiplier ``decay ** depth``; ``decay = 1 / factor``.
    - ``multipliers=[1.0, 0.5, 0.1]``: explicit values listed **from the top** (head
      first); groups deeper than the list keep its last value. They must not increase
      with depth.

    The multipliers never increase with depth.

    Example:
        >>> import numpy as np
        >>> from unfreeze_core import Discriminative
        >>> from unfreeze_core.lr_rules import LRContext
        >>> ctx = LRContext(depth=np.array([2.0, 1.0, 0.0]), since=np.zeros(3), stage=3,
        ...                 stage_index=2, step=0, n_groups=3, xp=np)
        >>> [round(float(m), 4) for m in Discriminative(decay=0.5)(ctx)]
        [0.25, 0.5, 1.0]
    """

    type_name: ClassVar[str] = "discriminative"

    factor: float | None = arg(None, ge(1), finite, doc="ULMFiT's ratio (2.6).")
    decay: float | None = arg(None, gt(0), le(1), doc="Layer decay per group (0.75).")
    multipliers: Sequence[float] | None = arg(
        None,
        non_empty,
        each(gt(0), finite),
        non_increasing,
        doc="Explicit multipliers, head first.",
    )

    def __attrs_post_init__(self) -> None:
        given = [n for n in ("factor", "decay", "multipliers") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ConfigError(
                [
                    Problem(
                        "factor",
                        "give exactly one of 'factor', 'decay' or 'multipliers'"
                        + (f", got {', '.join(given)}" if given else ""),
                    )
                ],
                source="Discriminative",
            )

    def __call__(self, ctx: LRContext) -> Any:
        if self.multipliers is not None:
            return piecewise(ctx.xp, ctx.depth, self.multipliers)
        decay = self.decay if self.decay is not None else 1.0 / self.factor  # type: ignore[operator]
        return ctx.xp.power(decay, ctx.depth)
