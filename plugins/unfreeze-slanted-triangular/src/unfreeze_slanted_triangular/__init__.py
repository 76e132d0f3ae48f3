"""ULMFiT's slanted triangular learning rate (STLR) as an unfreeze-core LR rule.

Howard & Ruder 2018, "Universal Language Model Fine-tuning for Text Classification",
section 3.2, equation (3): over ``T`` training iterations the rate first increases
linearly, for a short ``cut_frac`` of them, then decays linearly::

    cut = floor(T * cut_frac)
    p   = t / cut                                    if t < cut
          1 - (t - cut) / (cut * (1 / cut_frac - 1)) otherwise
    lr  = lr_max * (1 + p * (ratio - 1)) / ratio

with ``cut_frac = 0.1`` and ``ratio = 32`` in the paper. The rule returns the factor
``(1 + p * (ratio - 1)) / ratio`` that multiplies the optimizer's base rate (``lr_max``)
and every other rule, such as ``discriminative`` (ULMFiT's other ingredient). After
``T`` iterations it stays at ``1 / ratio``.

It is written as array math over ``ctx.xp``, so the Keras driver evaluates it inside the
compiled train step. Use it by name once this distribution is installed:

.. code-block:: toml

    [[rules]]
    type = "slanted_triangular"
    total_steps = 1000
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import attrs

from unfreeze_core import hookimpl
from unfreeze_core.errors import ConfigError, Problem
from unfreeze_core.fields import REQUIRED, arg, finite, ge, gt
from unfreeze_core.lr_rules import LRContext

__all__ = ["SlantedTriangular", "stlr_factor"]

__version__ = "0.1.0"


def _below_one(value: Any) -> str | None:
    return None if value < 1 else f"must be < 1, got {value!r}"


def stlr_factor(t: float, total_steps: int, cut_frac: float = 0.1, ratio: float = 32.0) -> float:
    """Equation (3) of the paper for one iteration ``t``, in plain Python.

    Example:
        >>> [round(stlr_factor(t, 100), 4) for t in (0, 5, 10, 55, 99, 100, 150)]
        [0.0312, 0.5156, 1.0, 0.5156, 0.042, 0.0312, 0.0312]
    """
    cut = math.floor(total_steps * cut_frac)
    if t < cut:
        p = t / cut
    else:
        p = 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    p = min(max(p, 0.0), 1.0)
    return (1 + p * (ratio - 1)) / ratio


@attrs.frozen
class SlantedTriangular:
    """Slanted triangular learning rate: a short linear warmup, then a long linear decay.

    Args:
        total_steps: ``T``, the number of optimizer steps the triangle spans (the
            paper's "number of training iterations": epochs times steps per epoch).
        cut_frac: the fraction of ``T`` spent increasing (0.1 in the paper).
        ratio: how much smaller the lowest rate is than the highest (32).
        per_group: ``False`` (the paper): one triangle over the whole run, counted in
            optimizer steps from the start. ``True``: every group runs its own triangle
            of ``total_steps`` from the step it unfroze, as when each stage of gradual
            unfreezing is fit with its own cycle.

    Example:
        >>> import numpy as np
        >>> from unfreeze_core.lr_rules import LRContext
        >>> rule = SlantedTriangular(total_steps=100)
        >>> ctx = LRContext(depth=np.array([1.0, 0.0]), since=np.array([0.0, 10.0]),
        ...                 stage=2, stage_index=1, step=10, n_groups=2, xp=np)
        >>> float(rule(ctx))
        1.0
        >>> [round(float(m), 4) for m in SlantedTriangular(total_steps=100, per_group=True)(ctx)]
        [0.0312, 1.0]
    """

    #: the name it is registered under, and written as in configs
    type_name: ClassVar[str] = "slanted_triangular"

    total_steps: int = arg(REQUIRED, ge(1), doc="T: optimizer steps the triangle spans.")
    cut_frac: float = arg(0.1, gt(0), _below_one, doc="Fraction of T spent increasing.")
    ratio: float = arg(32.0, ge(1), finite, doc="Highest rate over lowest rate.")
    per_group: bool = arg(False, doc="One triangle per group, from its unfreezing.")

    def __attrs_post_init__(self) -> None:
        if math.floor(self.total_steps * self.cut_frac) < 1:
            raise ConfigError(
                [
                    Problem(
                        "total_steps",
                        f"total_steps * cut_frac must be at least 1 (the increase needs a "
                        f"step), got {self.total_steps} * {self.cut_frac} = "
                        f"{self.total_steps * self.cut_frac:g}; raise total_steps to at "
                        f"least {math.ceil(1 / self.cut_frac)}",
                    )
                ],
                source="SlantedTriangular",
            )

    @property
    def cut(self) -> int:
        """The iteration at which the rate peaks: ``floor(total_steps * cut_frac)``."""
        return math.floor(self.total_steps * self.cut_frac)

    def __call__(self, ctx: LRContext) -> Any:
        xp = ctx.xp
        t = (ctx.since if self.per_group else ctx.step) * 1.0
        cut = float(self.cut)
        decay_length = cut * (1.0 / self.cut_frac - 1.0)
        rising = t / cut
        falling = 1.0 - (t - cut) / decay_length
        p = xp.clip(xp.where(t < cut, rising, falling), 0.0, 1.0)
        return (1.0 + p * (self.ratio - 1.0)) / self.ratio


@hookimpl
def register_lr_rules(register: Any) -> None:
    """Make ``{"type": "slanted_triangular"}`` usable in schedules."""
    register(SlantedTriangular.type_name, SlantedTriangular)
