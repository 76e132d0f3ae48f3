"""``GradNorm``: advance when the trainable part has converged, judged by its gradients.

In the spirit of FreezeOut / AutoFreeze, but top-down: once the gradient norm of the
groups being trained falls low (absolutely, or relative to where the stage began), the
next group is released.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import attrs

from ..errors import ConfigError, Problem, UnfreezeWarning
from ..events import Event, StageChange, StepEnd
from ..fields import arg, finite, ge, gt, le
from .combinators import Composable

__all__ = ["GradNorm"]


@attrs.frozen
class GradNorm(Composable):
    """Advance when the smoothed gradient norm of the trainable groups falls low.

    Every ``check_every`` optimizer steps the policy reads the per-group gradient
    norms of a :class:`~unfreeze_core.events.StepEnd` event and combines them into
    one L2 norm over the trainable groups. The mean of the last ``window`` readings
    is the smoothed norm; the first full window of a stage is its *reference*. The
    policy is ready when the smoothed norm is below ``threshold``, or below
    ``fraction`` times the reference (give one or both). NaN or infinite readings are
    skipped, counted in the state (``"nonfinite"``) and reported with a warning: they
    never trigger an advance.

    Example:
        >>> from unfreeze_core import GradNorm
        >>> GradNorm(fraction=0.5, window=4, check_every=10).check_every
        10
    """

    type_name: ClassVar[str] = "grad_norm"

    threshold: float | None = arg(None, gt(0), finite, doc="Absolute norm to fall below.")
    fraction: float | None = arg(
        None, gt(0), le(1), doc="Fraction of the stage's first smoothed norm."
    )
    window: int = arg(10, ge(1), doc="Readings averaged into the smoothed norm.")
    check_every: int = arg(10, ge(1), doc="Read the norms every N optimizer steps.")

    def __attrs_post_init__(self) -> None:
        if self.threshold is None and self.fraction is None:
            raise ConfigError(
                [Problem("threshold", "give 'threshold', 'fraction' or both")],
                source="GradNorm",
            )

    def init(self) -> Any:
        return {"readings": [], "reference": None, "ready": False, "nonfinite": 0}

    def reads_step(self, step: int) -> bool:
        """Whether the norms of optimizer step ``step`` (1-based) are read."""
        return step % self.check_every == 0

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        if isinstance(event, StageChange):
            state = {**state, "readings": [], "reference": None, "ready": False}
        elif (
            isinstance(event, StepEnd)
            and event.grad_norms is not None
            and self.reads_step(event.step)
        ):
            state = self._read(state, event)
        return state, bool(state["ready"])

    def _read(self, state: Any, event: StepEnd) -> Any:
        assert event.grad_norms is not None
        norm = math.sqrt(math.fsum(float(g) * float(g) for g in event.grad_norms))
        if not math.isfinite(norm):
            warnings.warn(
                f"GradNorm: non-finite gradient norm at step {event.step} "
                f"(epoch {event.epoch + 1}); the reading is skipped",
                UnfreezeWarning,
                stacklevel=3,
            )
            return {**state, "nonfinite": state["nonfinite"] + 1, "ready": False}
        readings = [*state["readings"], norm][-self.window :]
        state = {**state, "readings": readings}
        if len(readings) < self.window:
            return state
        smoothed = math.fsum(readings) / len(readings)
        if state["reference"] is None:
            state["reference"] = smoothed
        ready = (self.threshold is not None and smoothed < self.threshold) or (
            self.fraction is not None and smoothed < self.fraction * state["reference"]
        )
        return {**state, "ready": ready}
