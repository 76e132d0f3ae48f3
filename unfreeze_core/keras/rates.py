"""Per-group learning rates, computed inside the compiled step.

The multipliers are computed in the compiled step by the schedule's LR rules with
``xp=keras.ops``, from ``optimizer.iterations`` (a value of the step) and the stage's
constants (each group's unfreezing step, the stage, the stage index), which are traced
in: a warmup ramp costs no retrace and no Python per batch, and the one retrace of a
stage change picks up the new constants. The rules that do not read the step are folded
into NumPy constants per stage (``split_by_step``), so a plain discriminative schedule
costs no op per step at all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from ..lr_rules import Product
from ..schedule import ScheduleState, split_by_step
from .tables import SlotMap

__all__ = ["Rates"]

#: ``token(variable)``: a key and an object that must still be the same, for one step
#: on one device (see ``backend.trace_token``), or ``None`` (do not cache).
Token = Callable[[Any], "tuple[Hashable, Any] | None"]


class _StepContext:
    """The :class:`~unfreeze_core.LRContext` of one compiled step.

    Each value becomes a tensor of the step only when a rule reads it, so the rules that
    remain after folding (typically a warmup) cost a handful of ops per trace.
    """

    def __init__(self, rates: Rates):
        self._rates = rates
        self.n_groups = rates.n_groups
        self.xp = ops

    @functools.cached_property
    def _iteration(self) -> Any:
        return ops.cast(self._rates.optimizer.iterations, "int32")

    @functools.cached_property
    def step(self) -> Any:
        return ops.cast(self._iteration, "float32")

    @functools.cached_property
    def since(self) -> Any:
        unfrozen_at = ops.convert_to_tensor(self._rates.unfrozen_at)
        return ops.cast(self._iteration - unfrozen_at, "float32")

    @functools.cached_property
    def depth(self) -> Any:
        return ops.convert_to_tensor(self._rates.depth)

    @functools.cached_property
    def stage(self) -> Any:
        return ops.convert_to_tensor(np.float32(self._rates.stage))

    @functools.cached_property
    def stage_index(self) -> Any:
        return ops.convert_to_tensor(np.float32(self._rates.stage_index))


class Rates:
    """Each variable's learning rate for the step being traced.

    Args:
        optimizer: the (unwrapped) optimizer; its ``iterations`` is the step.
        rules: the schedule's LR rules.
        slots: maps the optimizer's variables to groups.
        token: caches the multipliers once per step and device (``backend.trace_token``).
    """

    def __init__(self, optimizer: Any, rules: Sequence[Any], slots: SlotMap, token: Token):
        self.optimizer = optimizer
        self.rules = tuple(rules)
        self.slots = slots
        self.n_groups = slots.n_groups
        self._token = token
        self.traces = 0  # steps (traces, or eager steps) the multipliers were built for
        self.depth = np.arange(self.n_groups - 1, -1, -1, dtype=np.float32)
        self.unfrozen_at = np.full(self.n_groups, -1, np.int32)
        self.trains = np.zeros(self.n_groups, bool)  # unfrozen and not re-frozen
        self.stage = 0.0
        self.stage_index = 0.0
        # the product of the rules fixed for the stage (NumPy), and the rules that read
        # the step, which alone go into the compiled step (see `set_state`)
        self._fixed = np.ones(self.n_groups, np.float32)
        self._per_step: tuple[Any, ...] = self.rules
        self._cache: dict[Any, tuple[Any, Any]] = {}
        self._rates: dict[Any, tuple[Any, Any, list[Any]]] = {}

    @property
    def plain(self) -> bool:
        """Whether every variable the optimizer updates learns at the base rate: no LR
        rule, and no variable outside the groups that could get a gradient."""
        return not self.rules and not self.slots.uncontrolled

    def set_state(self, state: ScheduleState) -> None:
        """Take the schedule's per-group state; the next trace of the step uses it."""
        self.unfrozen_at = np.asarray(state.unfrozen_at, np.int32)
        self.trains = np.asarray(state.trainable_mask, bool)
        self.stage = float(state.stage)
        self.stage_index = float(state.stage_index)
        self._fixed, self._per_step = split_by_step(
            self.rules, stage=self.stage, stage_index=self.stage_index, n_groups=self.n_groups
        )
        self.clear()

    def clear(self) -> None:
        """Forget the cached tensors (of a finished trace)."""
        self._cache.clear()
        self._rates.clear()

    def multipliers(self, variable: Any) -> Any:
        """Each group's multiplier for the step being traced (cached per trace, device)."""
        token = self._token(variable)
        if token is not None:
            hit = self._cache.get(token[0])
            if hit is not None and hit[0] is token[1]:
                return hit[1]
        self.traces += 1
        trainable = self.trains
        fixed = np.where(trainable, self._fixed, np.float32(0.0)).astype(np.float32)
        if not self._per_step:
            # every rule is fixed for the stage: the rates are constants of this trace
            extended: Any = ops.convert_to_tensor(fixed)
        else:
            ctx: Any = _StepContext(self)
            result: Any = Product(self._per_step)(ctx)
            if keras.backend.standardize_dtype(getattr(result, "dtype", None)) != "float32":
                result = ops.cast(result, "float32")
            # (a scalar broadcasts against the per-group constants)
            extended = ops.where(ops.convert_to_tensor(trainable), result * fixed, 0.0)
        if token is not None:
            self._cache[token[0]] = (token[1], extended)
        return extended

    def rate(self, learning_rate: Any, variable: Any) -> Any:
        """``learning_rate`` times ``variable``'s group multiplier (a tensor).

        The scaled rates of all groups are built once per step, rate and dtype, and each
        variable takes its entry: a few ops per step, not per variable.
        """
        dtype = keras.backend.standardize_dtype(variable.dtype)
        extended = self.multipliers(variable)
        key = (id(extended), id(learning_rate), dtype)
        hit = self._rates.get(key)
        if hit is None or hit[0] is not extended or hit[1] is not learning_rate:
            if len(self._rates) > 64:
                self._rates.clear()
            scaled = ops.unstack(ops.cast(learning_rate, dtype) * ops.cast(extended, dtype))
            # slots: the groups, then the head's rate, then "never trains"
            hit = (extended, learning_rate, [*scaled, scaled[-1], ops.zeros((), dtype)])
            self._rates[key] = hit
        return hit[2][self.slots.slot(variable)]
