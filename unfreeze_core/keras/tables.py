"""The optimizer's variable tables: build them over every variable that may ever train,
and map each of them to a group.

Keras 3 optimizers can update only the variables they were built with (``Unknown
variable`` otherwise, or a 1:1 error on JAX), and a fresh optimizer per stage would throw
away the head's moments. :func:`ensure_covers` builds the user's optimizer once over
every variable the schedule may unfreeze (or extends one built over fewer, keeping every
slot value and ``iterations``); :class:`SlotMap` then gives each of the optimizer's
variables its group through the optimizer's own index, which also works for the
per-replica variables ``tf.distribute.MirroredStrategy`` passes to ``update_step``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from . import backend, internals

__all__ = ["SlotMap", "ensure_covers", "unknown_trainable", "unwrap"]


def unwrap(optimizer: Any) -> Any:
    """The optimizer that does the updates (the inner one of a ``LossScaleOptimizer``)."""
    inner = getattr(optimizer, "inner_optimizer", None)
    return inner if inner is not None else optimizer


def ensure_covers(optimizer: Any, variables: Sequence[Any], model: Any) -> str:
    """Make ``optimizer`` able to update every one of ``variables``, keeping its state.

    Returns what was done: ``"built"`` (it was not built: built over ``variables``),
    ``"ok"`` (it already knew them all) or ``"extended"`` (it was built over fewer, for
    example when layers were frozen before ``fit`` or the model came from
    ``load_model``: rebuilt over ``variables``, every existing slot value and
    ``iterations`` copied over by name).
    """
    opt = unwrap(optimizer)
    if not opt.built:
        with backend.scope(model):
            optimizer.build(list(variables))
        return "built"
    if all(internals.knows(opt, v) for v in variables):
        return "ok"
    old = {str(v.name): (tuple(v.shape), backend.to_numpy(v)) for v in opt.variables}
    keep = {id(internals.iterations_variable(opt))}
    rate = internals.learning_rate_setting(opt)
    if isinstance(rate, keras.Variable):
        keep.add(id(rate))
    for v in list(opt.variables):
        if id(v) not in keep:
            internals.untrack(opt, v)
    internals.forget_build(opt)
    with backend.scope(model):
        opt.build(list(variables))
    for v in opt.variables:
        shape, value = old.get(str(v.name), (None, None))
        if value is not None and shape == tuple(v.shape) and id(v) not in keep:
            v.assign(value)
    return "extended"


def unknown_trainable(optimizer: Any, model: Any) -> list[str]:
    """Paths of ``model``'s trainable variables that ``optimizer`` was not built for."""
    opt = unwrap(optimizer)
    return [str(v.path) for v in model.trainable_variables if not internals.knows(opt, v)]


class SlotMap:
    """Each of the optimizer's variables mapped to a slot of the multiplier vector.

    Slots ``0..n_groups-1`` are the groups, ``n_groups`` learns at the head's rate
    (BatchNorm in ``"train"`` mode), ``n_groups + 1`` never trains.

    Args:
        optimizer: the (unwrapped) optimizer, built.
        n_groups: number of groups.
        group_of: ``id(variable)`` of model variables -> slot.
        controlled: ``id`` of every variable whose layer's ``trainable`` flag the driver
            sets (``None``: assume some are not).
    """

    def __init__(
        self,
        optimizer: Any,
        n_groups: int,
        group_of: dict[int, int],
        controlled: set[int] | None = None,
    ):
        self.optimizer = optimizer
        self.n_groups = n_groups
        built = internals.built_variables(optimizer)
        self._slot_of_index = [group_of.get(id(v), n_groups + 1) for v in built]
        # A variable of no group whose trainable flag the driver does not set may still
        # get gradients: rate 0 keeps it.
        self.uncontrolled = controlled is None or any(
            id(v) not in controlled and id(v) not in group_of for v in built
        )

    def slot(self, variable: Any) -> int:
        """``variable``'s slot (the variable may be a per-replica copy)."""
        return self._slot_of_index[internals.variable_index(self.optimizer, variable)]
