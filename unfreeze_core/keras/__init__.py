"""The Keras 3 driver: run a :class:`~unfreeze_core.Schedule` on a real model during ``fit``.

This package imports Keras and runs on its TensorFlow, JAX and PyTorch backends (what
differs per backend is in ``unfreeze_core.keras.backend``); the engine in
:mod:`unfreeze_core` imports none of them. The user-facing names:

- :class:`ProgressiveUnfreezing`: the callback (also importable from ``unfreeze_core``).
- :func:`plan`: a model's groups under a schedule and when each unfreezes, before training.
- :func:`flatten_layers`: the weighted layers of a model in forward order, as the
  groupings see them.
- :func:`fit` and :class:`Cache`: frozen-prefix caching (``ProgressiveUnfreezing(...,
  cache=True)`` run by ``fit(model, x, y, ...)`` instead of ``model.fit``).

For contributors, one job per module: ``callback`` (the adapter from Keras' events to
the schedule), ``layers`` and ``plan`` (the model as groups), ``flags`` (a stage's
``trainable`` flags), ``optimizer`` (the patched optimizer instance) with ``tables``
(its variable tables), ``rates``, ``grad_norms`` and ``saving``; ``resume`` and
``checkpoint`` (resuming), ``messages``, ``epoch_logs``, ``agreement`` (several
processes), ``backend`` (what differs per backend), ``internals`` (every private
Keras or backend name) and ``compat`` (the supported-version check).
"""

from __future__ import annotations

from ..errors import BackupError, DriverError
from ..timeline import (
    LOG_GRAD_NORM,
    LOG_GROUPS,
    LOG_LR,
    LOG_STAGE,
    LOG_STAGE_INDEX,
    LOG_STEPS,
    LOG_TRAINABLE,
)
from .cache_fit import fit
from .cache_store import Cache
from .callback import ProgressiveUnfreezing
from .layers import LayerRecord, flatten_layers
from .plan import Plan, PlannedGroup, plan, resolve

__all__ = [
    "LOG_GRAD_NORM",
    "LOG_GROUPS",
    "LOG_LR",
    "LOG_STAGE",
    "LOG_STAGE_INDEX",
    "LOG_STEPS",
    "LOG_TRAINABLE",
    "BackupError",
    "Cache",
    "DriverError",
    "LayerRecord",
    "Plan",
    "PlannedGroup",
    "ProgressiveUnfreezing",
    "fit",
    "flatten_layers",
    "plan",
    "resolve",
]
