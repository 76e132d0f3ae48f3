"""``AutoFreeze``: freeze the lower groups again once their gradients stop changing.

Liu, Agarwal and Venkataraman 2021, "AutoFreeze: Automatically Freezing Model Blocks to
Accelerate Fine-tuning" (arXiv:2102.01386). Their code (``freeze_intermediate_e2e_lr.py``)
measures, once per interval, each block's gradient norm and its normalised change
since the previous interval, ``|n_t - n_prev| / n_prev``; takes a percentile (the median
by default) of the changes of the blocks still training; and freezes every block below
the first one whose change is at or above it.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import attrs

from ..errors import UnfreezeWarning
from ..events import Event, StepEnd
from ..fields import arg, finite, ge, le
from .base import Policy
from .refreezing import RefreezingPolicy

__all__ = ["AutoFreeze", "frozen_prefix", "normalised_changes", "percentile"]


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` with linear interpolation (NumPy's default).

    Example:
        >>> percentile([0.1, 0.4, 0.2], 50)
        0.2
    """
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def normalised_changes(previous: list[float], current: list[float]) -> list[float]:
    """Per group ``|current - previous| / previous``: ``0.0`` where the group has no
    gradient now (as in AutoFreeze's code), ``inf`` where it had none before (it just
    started training), NaN where a reading is NaN.

    Example:
        >>> normalised_changes([2.0, 0.0, 1.0], [1.0, 3.0, 0.0])
        [0.5, inf, 0.0]
    """
    out = []
    for p, c in zip(previous, current, strict=True):
        if math.isnan(p) or math.isnan(c):
            out.append(math.nan)
        elif c == 0.0:
            out.append(0.0)
        elif p == 0.0:
            out.append(math.inf)
        else:
            out.append(abs(c - p) / p)
    return out


def frozen_prefix(
    changes: list[float], trainable: tuple[int, ...], n_groups: int, q: float
) -> int:
    """How many groups from the input side AutoFreeze's rule freezes (``0``: none).

    Among the trainable groups below the head (the last group never freezes), the
    groups from the lowest one up to, not including, the first whose change is at or
    above the ``q``-th percentile of their changes (or is NaN) are frozen. Nothing is
    frozen unless the trainable groups form a suffix (a contiguous top part).

    Example:
        >>> frozen_prefix([0.01, 0.02, 0.5, 0.3, 0.0], (0, 1, 2, 3, 4), 5, 50)
        2
        >>> frozen_prefix([9.0, 0.01, 0.5, 0.3, 0.0], (1, 2, 3, 4), 5, 50)
        2
    """
    body = sorted(g for g in trainable if g < n_groups - 1)
    if not body or body != list(range(body[0], n_groups - 1)):
        return 0
    values = [changes[g] for g in body]
    if any(math.isnan(v) for v in values):
        finite_values = [v for v in values if not math.isnan(v)]
        if not finite_values:
            return 0
        threshold = percentile(finite_values, q)
    else:
        threshold = percentile(values, q)
    for g in body:
        c = changes[g]
        if math.isnan(c) or c >= threshold:
            return g if g > body[0] else 0
    return 0  # unreachable: the largest change is at or above any percentile


@attrs.frozen
class AutoFreeze(RefreezingPolicy):
    """Re-freeze the lower groups whose gradient norms have stopped changing.

    Every ``check_every`` optimizer steps the policy reads each group's gradient norm
    (the driver measures it, as for :class:`~unfreeze_core.GradNorm`); the mean of
    ``window`` readings is the group's norm for one interval of
    ``check_every * window`` steps. At the end of each interval after the first, each
    trainable group's normalised change ``|n_t - n_prev| / n_prev`` is computed;
    the groups from the lowest trainable one up to, not including, the first whose
    change is at or above the ``percentile``-th percentile of the changes of the
    trainable groups below the head are frozen again. The head never freezes; a group
    that has just started training counts as changing; a NaN or infinite reading
    voids its interval (a warning, no decision: a diverging run never freezes).

    Args:
        unfreeze: the policy that unfreezes groups top-down (its readiness is this
            policy's); ``None``: every group trains from the start.
        percentile: the percentile of the changes below which a group is a candidate
            (AutoFreeze's default: the median, 50).
        check_every: read the norms every N optimizer steps.
        window: readings per interval.

    Example:
        >>> from unfreeze_core import AutoFreeze, Schedule
        >>> s = Schedule(AutoFreeze(check_every=1, window=1))
        >>> norms = [(4.0, 4.0, 4.0, 4.0, 1.0), (4.0, 3.96, 2.0, 2.4, 1.0)]
        >>> records = s.dry_run(5, {"loss": [1.0] * 3}, grad_norms=norms)
        >>> [r.trainable for r in records], records[1].refrozen
        ([(0, 1, 2, 3, 4), (0, 1, 2, 3, 4), (2, 3, 4)], (0, 1))
    """

    type_name: ClassVar[str] = "autofreeze"

    percentile: float = arg(50.0, ge(0), le(100), finite, doc="Percentile of the changes.")
    check_every: int = arg(10, ge(1), doc="Read the norms every N optimizer steps.")
    window: int = arg(10, ge(1), doc="Readings averaged into one interval's norms.")
    unfreeze: Policy | None = arg(
        None, kind="policy", doc="Unfreezes top-down; none: all groups train from the start."
    )

    def reads_step(self, step: int) -> bool:
        """Whether the norms of optimizer step ``step`` (1-based) are read."""
        return step % self.check_every == 0

    def _own_init(self) -> dict[str, Any]:
        return {"sum": None, "count": 0, "previous": None, "changes": None, "nonfinite": 0}

    def _observe(self, state: dict[str, Any], event: Event) -> dict[str, Any]:
        if not (
            isinstance(event, StepEnd)
            and event.grad_norms is not None
            and self.reads_step(event.step)
        ):
            return state
        norms = [float(g) for g in event.grad_norms]
        if not all(math.isfinite(g) for g in norms):
            warnings.warn(
                f"AutoFreeze: non-finite gradient norm at step {event.step} (epoch "
                f"{event.epoch + 1}); this interval is skipped and freezes nothing",
                UnfreezeWarning,
                stacklevel=4,
            )
            return {**state, "sum": None, "count": 0, "nonfinite": state["nonfinite"] + 1}
        if state["sum"] is None or len(state["sum"]) != len(norms):
            total, count = norms, 1
        else:
            total = [a + b for a, b in zip(state["sum"], norms, strict=True)]
            count = state["count"] + 1
        if count < self.window:
            return {**state, "sum": total, "count": count}
        mean = [t / count for t in total]
        changes = None
        if state["previous"] is not None and len(state["previous"]) == len(mean):
            changes = normalised_changes(state["previous"], mean)
        return {**state, "sum": None, "count": 0, "previous": mean, "changes": changes}

    def refreeze(
        self, state: Any, trainable: tuple[int, ...], n_groups: int
    ) -> tuple[Any, int]:
        """Apply the rule to the changes of the interval just ended, once."""
        changes = state["changes"]
        if changes is None or len(changes) != n_groups:
            return state, state["frozen"]
        k = max(state["frozen"], frozen_prefix(changes, trainable, n_groups, self.percentile))
        return {**state, "changes": None, "frozen": k}, k
