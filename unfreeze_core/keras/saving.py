"""What the optimizer saves: the slots ``keras.models.load_model`` will rebuild.

The driver builds the optimizer over every variable that may ever train, but a model
saved mid-run is loaded with the ``trainable`` flags it had at save time, and Keras then
rebuilds the optimizer over the trainable variables only; a save with more slots is
skipped whole (``Skipping variable loading for optimizer``) and the state is lost. So a
save keeps the slots of the variables trainable now, in the optimizer's order, found
from the slot names. The driver's own backups keep everything (:meth:`SaveFilter.everything`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from . import backend

__all__ = ["SaveFilter", "slot_owners"]


def _key(variable: Any) -> str:
    return str(variable.path).replace("/", "_")


def slot_owners(optimizer: Any, model_variables: Sequence[Any]) -> list[Any | None]:
    """For each of ``optimizer.variables``, the model variable it is a slot of (or ``None``).

    Keras names a slot ``f"{reference.path.replace('/', '_')}_{slot}"``; the longest such
    prefix with the slot's shape identifies its owner.
    """
    by_key: dict[str, list[Any]] = {}
    for v in model_variables:
        by_key.setdefault(_key(v), []).append(v)
    owners: list[Any | None] = []
    for slot in optimizer.variables:
        name = str(slot.name)
        owner = None
        for i in range(len(name) - 1, 0, -1):
            if name[i] != "_":
                continue
            for candidate in by_key.get(name[:i], ()):
                if tuple(candidate.shape) == tuple(slot.shape):
                    owner = candidate
                    break
            if owner is not None:
                break
        owners.append(owner)
    return owners


class SaveFilter:
    """The optimizer variables a save keeps, as a replacement ``save_own_variables``.

    Args:
        optimizer: the (unwrapped) optimizer.
        model: its model (whose trainable variables decide).
        own: the driver's own optimizer variables, never saved.
    """

    def __init__(self, optimizer: Any, model: Any, own: Callable[[], list[Any]]):
        self.optimizer = optimizer
        self.model = model
        self._own = own
        self.full = False

    @contextlib.contextmanager
    def everything(self) -> Iterator[None]:
        """Within this block a save keeps every optimizer variable (the driver's backups)."""
        self.full = True
        try:
            yield
        finally:
            self.full = False

    def variables(self) -> list[Any]:
        """The optimizer's variables minus the slots of model variables not trainable now.

        The result is, in count and order, what ``load_model`` builds for a model saved
        with its current ``trainable`` flags.
        """
        own = {id(v) for v in self._own()}
        if self.full:
            return [v for v in self.optimizer.variables if id(v) not in own]
        trainable = {id(v) for v in self.model.trainable_variables}
        owners = slot_owners(self.optimizer, self.model.variables)
        return [
            v
            for v, owner in zip(self.optimizer.variables, owners, strict=False)
            if id(v) not in own and (owner is None or id(owner) in trainable)
        ]

    def patch(self, original: Callable[[Any], None]) -> Callable[[Any], None]:
        """A ``save_own_variables(store)`` for the optimizer instance; ``original`` is its
        own, used when nothing is left out."""

        def save_own_variables(store: Any) -> None:
            variables = self.variables()
            if len(variables) == len(self.optimizer.variables):
                original(store)
                return
            for i, variable in enumerate(variables):
                store[str(i)] = backend.to_numpy(variable)

        return save_own_variables
