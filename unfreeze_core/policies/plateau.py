"""``Plateau``: advance when a monitored metric stops improving.

The arguments mean what they mean in ``keras.callbacks.ReduceLROnPlateau`` and
``EarlyStopping``; the state machine is pure, in the manner of optax's
``contrib/_reduce_on_plateau.py``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from ..errors import UnfreezeWarning
from ..events import EpochEnd, Event, StageChange
from ..fields import arg, finite, ge, one_of
from .base import Composable

__all__ = ["Plateau", "infer_mode"]

_MAX_WORDS = ("acc", "auc", "precision", "recall", "f1", "iou", "top_k", "r2", "psnr")


def infer_mode(monitor: str) -> Literal["min", "max"]:
    """``"max"`` for metrics that grow when better (accuracy, AUC, ...), else ``"min"``.

    Keras' ``ReduceLROnPlateau`` looks for ``"acc"`` in the name; this also knows the
    other common "higher is better" metrics.
    """
    name = monitor.lower()
    return "max" if any(word in name for word in _MAX_WORDS) else "min"


def warn_missing_metric(monitor: str, logs: Mapping[str, float], who: str) -> None:
    available = ", ".join(sorted(logs)) or "(none)"
    warnings.warn(
        f"{who}: the monitored metric '{monitor}' is not in the logs; available metrics "
        f"are: {available}. Pass one of them as monitor=.",
        UnfreezeWarning,
        stacklevel=3,
    )


def improved(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta``; NaN never does."""
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


@attrs.frozen
class Plateau(Composable):
    """Advance when ``monitor`` has not improved for ``patience`` epochs.

    An epoch improves when the value beats the best seen by more than ``min_delta``
    (NaN and infinities never improve). After ``patience`` epochs in a row without
    improvement (at least one) the policy is ready. After each advance, ``cooldown``
    epochs are not counted, and a stage lasts at least ``min_epochs_per_stage`` epochs.
    Epochs before ``start_from_epoch`` are ignored. A metric missing from the logs
    warns once, listing the metrics available, and never triggers.

    Example:
        >>> from unfreeze_core import Plateau
        >>> Plateau(monitor="val_accuracy", patience=2).resolved_mode
        'max'
    """

    monitor: str = arg("val_loss", doc="Name of the metric in the Keras logs.")
    mode: Literal["auto", "min", "max"] = arg(
        "auto", one_of("auto", "min", "max"), doc="'auto' infers it from the name."
    )
    min_delta: float = arg(1e-4, ge(0), finite, doc="Smallest change that counts.")
    patience: int = arg(10, ge(0), doc="Epochs without improvement before advancing.")
    cooldown: int = arg(0, ge(0), doc="Epochs ignored after each advance.")
    min_epochs_per_stage: int = arg(0, ge(0), doc="Shortest stage, in epochs.")
    start_from_epoch: int = arg(0, ge(0), doc="Epochs ignored at the start of training.")

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
        }

    def _ready(self, state: Any) -> bool:
        return bool(
            state["wait"] >= max(self.patience, 1)
            and state["epochs_in_stage"] >= self.min_epochs_per_stage
        )

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        if isinstance(event, StageChange):
            state = {**state, "wait": 0, "cooldown": self.cooldown, "epochs_in_stage": 0}
        elif isinstance(event, EpochEnd):
            state = self._epoch_end(state, event)
        return state, self._ready(state)

    def _epoch_end(self, state: Any, event: EpochEnd) -> Any:
        state = {**state, "epochs_in_stage": state["epochs_in_stage"] + 1}
        if event.epoch < self.start_from_epoch:
            return state
        value = event.logs.get(self.monitor)
        if value is None:
            if not state["warned"]:
                warn_missing_metric(self.monitor, event.logs, "Plateau")
                state["warned"] = True
            return state
        value = float(value)
        in_cooldown = state["cooldown"] > 0
        if in_cooldown:
            state["cooldown"] -= 1
            state["wait"] = 0
        if improved(value, state["best"], self.resolved_mode, self.min_delta):
            state.update(best=value, best_epoch=event.epoch, wait=0)
        elif not in_cooldown:
            state["wait"] += 1
        return state
