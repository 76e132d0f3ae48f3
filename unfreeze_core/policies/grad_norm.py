"""``GradNorm``: advance when the trainable part has converged, judged by its gradients.

In the spirit of FreezeOut / AutoFreeze, but top-down: once the gradient norm of the
groups being trained has settled (it changes little from one window to the next, as
AutoFreeze measures it), or has fallen low (absolutely, or relative to where the stage
began), the next group is released.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import attrs

from ..errors import UnfreezeWarning
from ..events import EpochEnd, Event, StageChange, StepEnd, TrainBegin
from ..fields import arg, finite, ge, gt, le
from . import deadline
from .combinators import Composable

__all__ = ["DEFAULT_REL_CHANGE", "GradNorm"]

#: The ``rel_change`` of a ``GradNorm`` given none of its three tests.
DEFAULT_REL_CHANGE = 0.1


@attrs.frozen
class GradNorm(Composable):
    """Advance when the smoothed gradient norm of the trainable groups settles or falls.

    Every ``check_every`` optimizer steps the policy reads the per-group gradient
    norms of a :class:`~unfreeze_core.events.StepEnd` event and combines them into
    one L2 norm over the trainable groups. Readings are averaged over a *window*: the
    readings of one epoch (``window=None``, the default; the window closes at the
    epoch's end) or the last ``window`` readings. The policy is ready when the
    smoothed norm

    - changed by less than ``rel_change`` of its previous value since the previous
      window (AutoFreeze's normalised change, ``|g_k - g_{k-1}| / g_{k-1}``), or
    - is below ``threshold``, or
    - is below ``fraction`` times the stage's first smoothed norm (its *reference*).

    Any of the three that is given counts; given none, ``rel_change`` is 0.1
    (``DEFAULT_REL_CHANGE``). At a stage change the readings and the reference start
    afresh, but the last window before it stays the previous one: a stage whose first
    window barely changes the norm (the new group adds little) may end after that
    window. NaN or infinite readings are skipped, counted in the state
    (``"nonfinite"``) and reported with a warning: they never trigger an advance.

    When the driver says the epoch budget, the policy is also ready at the end of an
    epoch once the stage has had its fair share of the epochs left before
    ``unfrozen_by`` of the budget (:mod:`~unfreeze_core.policies.deadline`), so that
    every group trains by then even on a short run; an epoch with a non-finite reading
    never makes it ready. ``unfrozen_by=None``, or an unknown budget, turns it off.

    Example:
        >>> from unfreeze_core import GradNorm
        >>> GradNorm().resolved_rel_change, GradNorm().window, GradNorm().check_every
        (0.1, None, 1)
        >>> GradNorm(fraction=0.5).resolved_rel_change is None
        True
    """

    type_name: ClassVar[str] = "grad_norm"

    threshold: float | None = arg(None, gt(0), finite, doc="Absolute norm to fall below.")
    fraction: float | None = arg(
        None, gt(0), le(1), doc="Fraction of the stage's first smoothed norm."
    )
    window: int | None = arg(
        None, ge(1), doc="Readings averaged into the smoothed norm; None: one epoch's."
    )
    check_every: int = arg(1, ge(1), doc="Read the norms every N optimizer steps.")
    rel_change: float | None = arg(
        None,
        gt(0),
        le(1),
        doc="Relative change between windows to fall below; None: 0.1 unless "
        "'threshold' or 'fraction' is given.",
    )
    unfrozen_by: float | None = deadline.unfrozen_by_arg()

    @property
    def resolved_rel_change(self) -> float | None:
        """The ``rel_change`` in force: ``DEFAULT_REL_CHANGE`` when no test is given."""
        if self.rel_change is None and self.threshold is None and self.fraction is None:
            return DEFAULT_REL_CHANGE
        return self.rel_change

    def init(self) -> Any:
        return {
            "readings": [],
            "reference": None,
            "previous": None,
            "last": None,
            "ready": False,
            "nonfinite": 0,
            "deadline": {**deadline.init(), "nonfinite": 0},
        }

    def reads_step(self, step: int) -> bool:
        """Whether the norms of optimizer step ``step`` (1-based) are read."""
        return step % self.check_every == 0

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        before = state["nonfinite"]
        state, ready = self._update(state, event)
        old = state.get("deadline") or {}
        # an epoch with a non-finite reading never makes the deadline due
        seen = old.get("nonfinite", before)
        new = deadline.update(old, event, self.unfrozen_by, judged=state["nonfinite"] == seen)
        if isinstance(event, EpochEnd | TrainBegin):
            new["nonfinite"] = state["nonfinite"]
        return {**state, "deadline": new}, bool(ready or new["due"])

    def _update(self, state: Any, event: Event) -> tuple[Any, bool]:
        if isinstance(event, StageChange):
            # the last window before the change is the first one's "previous": a stage
            # whose norm barely differs from the last stage's may advance after one window
            state = {**state, "readings": [], "reference": None, "ready": False,
                     "previous": state["last"]}
        elif (
            isinstance(event, StepEnd)
            and event.grad_norms is not None
            and self.reads_step(event.step)
        ):
            state = self._read(state, event)
        elif isinstance(event, EpochEnd) and self.window is None and state["readings"]:
            smoothed = math.fsum(state["readings"]) / len(state["readings"])
            state = self._judge({**state, "readings": []}, smoothed)
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
        if self.window is None:  # judged at the epoch's end
            return {**state, "readings": [*state["readings"], norm]}
        readings = [*state["readings"], norm][-2 * self.window :]
        state = {**state, "readings": readings}
        if len(readings) < self.window:
            return state
        last = readings[-self.window :]
        smoothed = math.fsum(last) / len(last)
        if len(readings) == 2 * self.window:  # the window before: the previous value
            before = readings[: self.window]
            state["previous"] = math.fsum(before) / len(before)
        return self._judge(state, smoothed, keep_previous=True)

    def _judge(self, state: Any, smoothed: float, keep_previous: bool = False) -> Any:
        reference = smoothed if state["reference"] is None else state["reference"]
        rel_change = self.resolved_rel_change
        previous = state["previous"]
        ready = (
            (self.threshold is not None and smoothed < self.threshold)
            or (self.fraction is not None and smoothed < self.fraction * reference)
            or (
                rel_change is not None
                and previous is not None
                and abs(smoothed - previous) < rel_change * previous
            )
        )
        return {
            **state,
            "reference": reference,
            "previous": previous if keep_previous else smoothed,
            "last": smoothed,
            "ready": ready,
        }
