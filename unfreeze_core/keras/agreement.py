"""Every training process takes the same decision from the same numbers.

With one process this is the identity. With several (JAX with ``jax.distributed``; Keras
3.15 has no other multi-process route) each process's epoch logs and gradient norms are
gathered; where they differ (a metric computed on one process's share of the data),
every process decides from their mean and the run says so once.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import UnfreezeWarning
from . import backend

__all__ = ["LogAgreement", "agree", "numeric_logs", "process_count"]


def process_count() -> int:
    """How many processes train the model together (``jax.distributed``), else 1."""
    if backend.name() == "jax":
        import jax

        return int(jax.process_count())
    return 1


def agree(values: Sequence[float]) -> tuple[tuple[float, ...], bool]:
    """The same numbers on every process, and whether they already were.

    With one process, ``values`` unchanged. With several, every process's values are
    gathered; if they differ (a metric computed on one process's data only), every
    process takes their mean, so that all of them take the same decision. NaN agrees
    with NaN.
    """
    if process_count() == 1:
        return tuple(float(v) for v in values), True
    from jax.experimental import multihost_utils

    # as raw bits: JAX without x64 would round float64 to float32 on the way
    local = np.ascontiguousarray(np.asarray(values, np.float64).reshape(1, -1)).view(np.uint32)
    bits = np.asarray(multihost_utils.process_allgather(local, tiled=True), np.uint32)
    gathered = np.ascontiguousarray(bits).view(np.float64)
    same = bool(np.all((gathered == gathered[:1]) | (np.isnan(gathered) & np.isnan(gathered[:1]))))
    if same:
        return tuple(float(v) for v in gathered[0]), True
    return tuple(float(v) for v in np.mean(gathered, axis=0)), False


def to_float(value: Any) -> float | None:
    """``value`` as a Python float (NaN and inf kept), or ``None`` when it is not a number."""
    try:
        return float(backend.to_numpy(value).reshape(()))
    except (TypeError, ValueError, AttributeError):
        return None


def numeric_logs(logs: Mapping[str, Any] | None) -> dict[str, float]:
    """The numeric entries of Keras epoch logs, sorted by key; NaN and inf are kept, so
    that the schedule sees a diverged loss as what it is."""
    out: dict[str, float] = {}
    for key, value in sorted((logs or {}).items()):
        f = to_float(value)
        if f is not None:
            out[key] = f
    return out


class LogAgreement:
    """Agrees the epoch logs of one run across processes; warns once when they differ."""

    def __init__(self) -> None:
        self.warned = False

    def __call__(self, logs: Mapping[str, Any] | None) -> dict[str, float]:
        """The numeric logs every process decides from."""
        numeric = numeric_logs(logs)
        agreed, same = agree(list(numeric.values()))
        if not same and not self.warned:
            self.warned = True
            warnings.warn(
                UnfreezeWarning(
                    "ProgressiveUnfreezing: the epoch logs differ between the training "
                    "processes (a metric computed on local data?); every process decides "
                    "from their mean"
                ),
                stacklevel=3,
            )
        return dict(zip(numeric, agreed, strict=True))
