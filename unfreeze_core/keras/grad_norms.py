"""Per-group gradient norms, accumulated inside the compiled step for ``GradNorm``.

The norms live in an optimizer variable (``unfreeze_norms_sq``): part of the optimizer's
state on every backend, including the JAX trainer's stateless step. The gradients of a
step are collected per trace and device until the step's last update; then every
group's squared norm is added in one write, computed only at the steps a policy reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from keras import ops

from . import backend, internals
from .rates import Token
from .tables import SlotMap

__all__ = ["BRANCH_FROM", "GradNorms", "drop_stale"]

#: Gradient elements per step from which the squared norms are computed in a branch
#: taken only at read steps. Measured on TensorFlow's CPU build: a branch adds about
#: 20 ms to each trace, squaring and summing 4M floats takes about 0.5 ms per step; so
#: from here on the branch pays for itself within a stage of a few dozen steps.
BRANCH_FROM = 1 << 22

#: Attribute set on the driver's own optimizer variable, to find one left by a fit
#: that raised.
MARK = "unfreeze_core_own"


def _size(tensor: Any) -> int:
    """Elements of ``tensor``, counting unknown dimensions as large."""
    total = 1
    for dim in tuple(tensor.shape):
        total *= BRANCH_FROM if dim is None else int(dim)
    return total


def drop_stale(optimizer: Any) -> None:
    """Untrack accumulators a previous run left in ``optimizer`` (a fit that raised)."""
    for stale in [v for v in optimizer.variables if getattr(v, MARK, False)]:
        internals.untrack(optimizer, stale)


class GradNorms:
    """The accumulator of per-group squared gradient norms, and its reads.

    Args:
        optimizer: the (unwrapped) optimizer; the accumulator becomes one of its variables.
        model: the model (where the variable is created; synced before a read on JAX).
        every: read the norms at the optimizer steps divisible by one of these.
        slots: maps the optimizer's variables to groups.
        token: tells one step and device apart (``backend.trace_token``).
    """

    def __init__(
        self, optimizer: Any, model: Any, every: Sequence[int], slots: SlotMap, token: Token
    ):
        self.optimizer = optimizer
        self.model = model
        self.every = tuple(sorted(set(every)))
        self.slots = slots
        self.n_groups = slots.n_groups
        self._token = token
        # square-sums of the step so far, per trace and device, and how many updates the
        # step makes (set around the optimizer's update loop, see `expect`)
        self._pending: dict[Any, list[tuple[int, Any]]] = {}
        self._expected: int | None = None
        with backend.scope(model):
            self.variable = optimizer.add_variable(
                (self.n_groups + 2,), initializer="zeros", dtype="float32",
                name="unfreeze_norms_sq",
            )
        setattr(self.variable, MARK, True)

    def expect(self, updates: int | None) -> None:
        """The number of updates of the step being applied (``None``: after it)."""
        self._expected = updates
        if updates is None:
            self._pending.clear()

    def clear(self) -> None:
        """Forget gradients collected for an unfinished step."""
        self._pending.clear()

    def drop(self) -> None:
        """Remove the accumulator from the optimizer (after the run)."""
        if any(v is self.variable for v in self.optimizer.variables):
            internals.untrack(self.optimizer, self.variable)

    def read(self, reads: int) -> tuple[float, ...]:
        """The per-group gradient norms accumulated over ``reads`` read steps; resets them.

        With one read step this is each group's L2 norm at that step; with several (as
        with ``steps_per_execution > 1``) it is their root mean square.
        """
        backend.sync(self.model)
        acc = np.asarray(backend.to_numpy(self.variable), np.float64)[: self.n_groups]
        self.variable.assign(np.zeros(self.n_groups + 2, np.float32))
        return tuple(float(x) for x in np.sqrt(acc / max(reads, 1)))

    def accumulate(self, gradient: Any, variable: Any) -> None:
        """Count ``variable``'s gradient towards its group's norm.

        The gradients of a step are collected (per trace and device) until the step's
        last update; then :meth:`write` adds every group's squared norm to the
        accumulator in one write. Writing per variable would serialize the step's
        updates behind one variable and cost a square-sum per variable at every step.
        """
        if gradient is None:
            return
        entry = (self.slots.slot(variable), backend.dense_values(gradient))
        if self._expected is None:  # update_step called outside an apply: write at once
            self.write([entry])
            return
        token = self._token(variable)
        key = token[0] if token is not None else ("eager", str(getattr(variable, "device", "")))
        pending = self._pending.setdefault(key, [])
        pending.append(entry)
        if len(pending) >= self._expected:
            del self._pending[key]
            self.write(pending)

    def write(self, gradients: Sequence[tuple[int, Any]]) -> None:
        """Add each slot's squared gradient norm to the accumulator if this step is read."""
        size = self.n_groups + 2
        step = ops.cast(self.optimizer.iterations, "int32") + 1
        is_read = ops.equal(step % self.every[0], 0)
        for every in self.every[1:]:
            is_read = ops.logical_or(is_read, ops.equal(step % every, 0))
        by_slot: dict[int, list[Any]] = {}
        for slot, values in gradients:
            by_slot.setdefault(slot, []).append(values)

        def squared_norms() -> Any:
            zero = ops.zeros((), "float32")
            return ops.stack([
                backend.squared_norm(by_slot[slot]) if slot in by_slot else zero
                for slot in range(size)
            ])

        elements = sum(_size(values) for _, values in gradients)
        if elements >= BRANCH_FROM:
            # large gradients: square them only at the steps that are read
            norms = backend.when(is_read, squared_norms, size)
        else:
            # small ones: squaring them costs less than a branch adds to each trace
            norms = ops.where(is_read, squared_norms(), 0.0)
        self.optimizer.assign_add(self.variable, norms)
