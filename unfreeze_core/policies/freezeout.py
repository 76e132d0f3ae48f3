"""``FreezeOut``: each group stops training at a fixed fraction of the run.

Brock, Lim, Ritchie and Weston 2017, "FreezeOut: Accelerate Training by Progressively
Freezing Layers" (arXiv:1706.04983). Group ``i`` stops at ``t_i`` of the run, from
``t0`` for the group nearest the input to the end of the run for the head, spaced
linearly, squared or cubically (the paper's ``how_scale``), and its learning rate is
annealed to zero by then with a cosine (:class:`~unfreeze_core.lr_rules.FreezeOutRate`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import attrs

from ..events import EpochEnd, Event
from ..fields import REQUIRED, arg, ge, gt, le, one_of
from ..lr_rules.freezeout import SPACINGS, FreezeOutRate, stop_fractions
from .base import Policy
from .refreezing import RefreezingPolicy

__all__ = ["FreezeOut"]


@attrs.frozen
class FreezeOut(RefreezingPolicy):
    """Freeze each group at its fraction of the run, its rate annealed to zero by then.

    Group ``i`` of ``n`` (input side first) stops after
    ``t_i * total_steps`` optimizer steps, ``t_i = spacing(t0 + (1 - t0) * i / (n - 1))``;
    the head never stops. The groups are frozen at the end of the epoch in which their
    point is reached (a stage change is a re-trace, so not mid-epoch), their rate being
    zero from that point on. With ``anneal`` the schedule multiplies each group's rate
    by :class:`~unfreeze_core.lr_rules.FreezeOutRate` (the head's too: it anneals to zero
    at the end of the run, as in the paper).

    The timetable does not depend on any metric: ``unfreeze plan`` shows it exactly.

    Args:
        unfreeze: the policy that unfreezes groups top-down; ``None``: every group
            trains from the start (FreezeOut's setting).
        t0: where the first group stops, before spacing (the paper's code: 0.8, cubed
            to 0.512).
        spacing: ``"linear"``, ``"squared"`` or ``"cubic"``.
        total_steps: the run's length in optimizer steps (epochs x steps per epoch).
        scale_lr: divide each group's rate by ``t_i`` (the paper's default).
        anneal: apply the cosine annealing (``False``: only the freezing).

    Example:
        >>> from unfreeze_core import FreezeOut, Schedule
        >>> s = Schedule(FreezeOut(t0=0.5, spacing="linear", total_steps=8))
        >>> [r.trainable for r in s.dry_run(3, {"loss": [1.0] * 4}, steps_per_epoch=2)]
        [(0, 1, 2), (0, 1, 2), (1, 2), (2,)]
    """

    type_name: ClassVar[str] = "freezeout"

    total_steps: int = arg(REQUIRED, ge(1), doc="Length of the run in optimizer steps.")
    t0: float = arg(0.8, gt(0), le(1), doc="Where the first group stops (before spacing).")
    spacing: Literal["linear", "squared", "cubic"] = arg(
        "cubic", one_of(*SPACINGS), doc="How the stopping points are spaced."
    )
    scale_lr: bool = arg(True, doc="Divide each group's rate by its stopping point.")
    anneal: bool = arg(True, doc="Anneal each group's rate to zero (cosine).")
    unfreeze: Policy | None = arg(
        None, kind="policy", doc="Unfreezes top-down; none: all groups train from the start."
    )

    def stop_steps(self, n_groups: int) -> list[float]:
        """The optimizer step at which each group stops (the head: ``inf``)."""
        fractions = stop_fractions(self.t0, self.spacing, n_groups)
        return [
            math.inf if i == n_groups - 1 else t * self.total_steps
            for i, t in enumerate(fractions)
        ]

    def lr_rule(self) -> FreezeOutRate | None:
        """The rule the schedule multiplies into every group's rate (``None``: none)."""
        if not self.anneal:
            return None
        return FreezeOutRate(
            t0=self.t0, spacing=self.spacing, total_steps=self.total_steps,
            scale_lr=self.scale_lr,
        )

    def _own_init(self) -> dict[str, Any]:
        return {"step": 0}

    def _observe(self, state: dict[str, Any], event: Event) -> dict[str, Any]:
        if isinstance(event, EpochEnd):
            return {**state, "step": max(state["step"], event.step)}
        return state

    def refreeze(
        self, state: Any, trainable: tuple[int, ...], n_groups: int
    ) -> tuple[Any, int]:
        """The groups whose stopping step has been reached by the last epoch's end."""
        k = sum(1 for s in self.stop_steps(n_groups) if state["step"] >= s)
        k = max(state["frozen"], k)
        return {**state, "frozen": k}, k
