"""``Plateau``: advance when a monitored metric stops improving.

The arguments mean what they mean in ``keras.callbacks.ReduceLROnPlateau`` and
``EarlyStopping``; the state machine is pure, in the manner of optax's
``contrib/_reduce_on_plateau.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import attrs

from ..events import EpochEnd, Event, StageChange
from ..fields import arg, finite, ge, le, one_of
from ..monitoring import improved, infer_mode, is_finite, warn_missing_metric
from . import deadline
from .combinators import Composable

__all__ = ["Plateau"]


@attrs.frozen
class Plateau(Composable):
    """Advance when ``monitor`` has not improved for ``patience`` epochs.

    An epoch improves when the value beats the best seen by more than ``min_delta`` and
    by more than ``min_rel_delta`` times the best (10% by default: a stage goes on while
    it improves the monitored value by a tenth an epoch). After ``patience`` epochs in a
    row without improvement (at least one) the policy is ready. The best is kept across
    stages, as Keras keeps it across rate reductions, unless ``reset_best``. A NaN or
    infinite value is neither an improvement nor a reason to advance: the epoch is not
    counted (a diverging run never releases more pretrained groups). After each
    advance, ``cooldown`` epochs are not counted, and a stage lasts at least
    ``min_epochs_per_stage`` epochs. Epochs before ``start_from_epoch`` are ignored. A
    metric missing from the logs warns once, listing the metrics available, and never
    triggers.

    When the driver says the epoch budget, the policy is also ready once a stage has had
    its fair share of the epochs left before ``unfrozen_by`` of the budget
    (:mod:`~unfreeze_core.policies.deadline`), so that every group trains by then even
    on a short run; epochs that are not counted (NaN, before ``start_from_epoch``, the
    metric missing) never make it ready, and ``min_epochs_per_stage`` still holds.
    ``unfrozen_by=None``, or an unknown budget, turns the deadline off.

    Example:
        >>> from unfreeze_core import Plateau
        >>> Plateau(monitor="val_accuracy", patience=2).resolved_mode
        'max'
        >>> from unfreeze_core import Schedule
        >>> curve = [1.0, 0.8, 0.75, 0.6, 0.58]  # -20%, -6%, -20%, -3%
        >>> [r.stage for r in Schedule(Plateau()).dry_run(3, {"val_loss": curve})]
        [1, 1, 1, 2, 2]
        >>> falling = [1.0, 0.8, 0.6, 0.45, 0.3, 0.2]  # -20% or more every epoch
        >>> [r.stage for r in Schedule(Plateau()).dry_run(5, {"val_loss": falling}, epochs=6)]
        [1, 2, 3, 4, 5, 5]
    """

    type_name: ClassVar[str] = "plateau"

    monitor: str = arg("val_loss", doc="Name of the metric in the Keras logs.")
    mode: Literal["auto", "min", "max"] = arg(
        "auto", one_of("auto", "min", "max"), doc="'auto' infers it from the name."
    )
    min_delta: float = arg(1e-4, ge(0), finite, doc="Smallest change that counts.")
    patience: int = arg(1, ge(0), doc="Epochs without improvement before advancing.")
    cooldown: int = arg(0, ge(0), doc="Epochs ignored after each advance.")
    min_epochs_per_stage: int = arg(0, ge(0), doc="Shortest stage, in epochs.")
    start_from_epoch: int = arg(0, ge(0), doc="Epochs ignored at the start of training.")
    min_rel_delta: float = arg(
        0.1, ge(0), le(1), doc="Smallest change that counts, as a fraction of the best value."
    )
    reset_best: bool = arg(False, doc="Forget the best value at each advance.")
    unfrozen_by: float | None = deadline.unfrozen_by_arg()

    @property
    def resolved_mode(self) -> Literal["min", "max"]:
        return infer_mode(self.monitor) if self.mode == "auto" else self.mode

    def init(self) -> Any:
        return {
            "best": None,
            "best_epoch": None,
            "wait": 0,
            "cooldown": 0,
            "epochs_in_stage": 0,
            "warned": False,
            "deadline": deadline.init(),
        }

    def _ready(self, state: Any) -> bool:
        due = bool(state.get("deadline", {}).get("due"))
        return bool(
            (state["wait"] >= max(self.patience, 1) or due)
            and state["epochs_in_stage"] >= self.min_epochs_per_stage
        )

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        if isinstance(event, StageChange):
            state = {**state, "wait": 0, "cooldown": self.cooldown, "epochs_in_stage": 0}
            if self.reset_best:
                state.update(best=None, best_epoch=None)
        if isinstance(event, EpochEnd):
            state, counted = self._epoch_end(state, event)
        else:
            state, counted = {**state}, False
        state["deadline"] = deadline.update(
            state.get("deadline"), event, self.unfrozen_by, judged=counted
        )
        return state, self._ready(state)

    def _epoch_end(self, state: Any, event: EpochEnd) -> tuple[Any, bool]:
        """The state after an epoch's end, and whether the epoch was counted."""
        state = {**state, "epochs_in_stage": state["epochs_in_stage"] + 1}
        if event.epoch < self.start_from_epoch:
            return state, False
        value = event.logs.get(self.monitor)
        if value is None:
            if not state["warned"]:
                warn_missing_metric(self.monitor, event.logs, "Plateau")
                state["warned"] = True
            return state, False
        if not is_finite(value):
            return state, False  # not counted: NaN is no plateau
        value = float(value)
        in_cooldown = state["cooldown"] > 0
        if in_cooldown:
            state["cooldown"] -= 1
            state["wait"] = 0
        if improved(
            value, state["best"], self.resolved_mode, self.min_delta, self.min_rel_delta
        ):
            state.update(best=value, best_epoch=event.epoch, wait=0)
        elif not in_cooldown:
            state["wait"] += 1
        return state, True
