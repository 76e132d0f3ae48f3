"""Reading a monitored metric: its direction, whether a value improved, missing metrics.

Shared by the schedule (its best epoch) and the policies that watch a metric
(``Plateau``), so neither imports the other.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Literal

from .errors import UnfreezeWarning

__all__ = ["improved", "infer_mode", "is_finite", "warn_missing_metric"]

_MAX_WORDS = ("acc", "auc", "precision", "recall", "f1", "iou", "top_k", "r2", "psnr")


def infer_mode(monitor: str) -> Literal["min", "max"]:
    """``"max"`` for metrics that grow when better (accuracy, AUC, ...), else ``"min"``.

    Keras' ``ReduceLROnPlateau`` looks for ``"acc"`` in the name; this also knows the
    other common "higher is better" metrics.

    Example:
        >>> infer_mode("val_accuracy"), infer_mode("val_loss")
        ('max', 'min')
    """
    name = monitor.lower()
    return "max" if any(word in name for word in _MAX_WORDS) else "min"


def is_finite(value: object) -> bool:
    """Whether a logged value is a finite number (NaN and infinities are not)."""
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False


def improved(
    value: float, best: float | None, mode: str, min_delta: float, min_rel_delta: float = 0.0
) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` and by more than
    ``min_rel_delta`` times ``|best|``; NaN never does.

    ``min_delta`` is an absolute change, as in Keras; ``min_rel_delta`` a relative one,
    as PyTorch's ``ReduceLROnPlateau(threshold_mode="rel")``: ``0.05`` asks for a value
    5% better than the best.

    Example:
        >>> improved(0.5, 0.6, "min", 0.01), improved(float("nan"), None, "min", 0.0)
        (True, False)
        >>> improved(0.98, 1.0, "min", 0.0, min_rel_delta=0.05)
        False
    """
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    margin = max(min_delta, min_rel_delta * abs(best))
    return value < best - margin if mode == "min" else value > best + margin


def warn_missing_metric(monitor: str, logs: Mapping[str, float], who: str) -> None:
    """Warn that ``monitor`` is not in ``logs``, listing the metrics that are."""
    available = ", ".join(sorted(logs)) or "(none)"
    warnings.warn(
        f"{who}: the monitored metric '{monitor}' is not in the logs; available metrics "
        f"are: {available}. Pass one of them as monitor=.",
        UnfreezeWarning,
        stacklevel=3,
    )
