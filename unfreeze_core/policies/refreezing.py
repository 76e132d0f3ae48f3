"""What re-freezing policies share: freezing converged *lower* groups again.

A re-freezing policy (:class:`~unfreeze_core.AutoFreeze`, :class:`~unfreeze_core.FreezeOut`)
is the schedule's root policy. It wraps an optional ``unfreeze`` policy, which decides
the usual top-down advances (its readiness is the wrapper's), and adds a second
decision of its own: how many groups, counted from the input side, are frozen again.

``refreeze(state, trainable, n_groups) -> (state, k)``
    Called by the schedule after every event with the groups trainable now: the
    groups ``0..k-1`` are to be frozen. ``k`` never decreases; the schedule never
    freezes the head (the last group) and keeps at least one group training.

The frozen part is always a *prefix* (a floor): once a group is re-frozen, nothing
below it trains again, and an unfreezing advance releases only groups above it. A
frozen prefix is what frozen-prefix caching can compute once.

Without an ``unfreeze`` policy every group trains from the start (the policy then
chooses the single stage "all groups" through ``trainable_sets``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..errors import checked_update
from ..events import Event

__all__ = ["Refreezer", "RefreezingPolicy", "refreezes"]


@runtime_checkable
class Refreezer(Protocol):
    """A policy that also re-freezes groups from the input side."""

    def refreeze(
        self, state: Any, trainable: tuple[int, ...], n_groups: int
    ) -> tuple[Any, int]:
        """The state, and how many groups from the input side are to be frozen."""
        ...


def refreezes(policy: Any) -> bool:
    """Whether ``policy`` re-freezes groups (has a ``refreeze`` method)."""
    return callable(getattr(policy, "refreeze", None))


class RefreezingPolicy:
    """The wrapper behaviour of the built-in re-freezing policies.

    A subclass is an attrs class with an ``unfreeze`` field (``arg(None, kind="policy")``)
    and implements ``_own_init()``, ``_observe(own, event)`` and
    ``refreeze(state, trainable, n_groups)``. Its state is a dict: its own keys, the
    re-frozen count under ``"frozen"``, the wrapped policy's state under ``"unfreeze"``.
    """

    __slots__ = ()
    unfreeze: Any

    def _own_init(self) -> dict[str, Any]:
        return {}

    def _observe(self, state: dict[str, Any], event: Event) -> dict[str, Any]:
        return state

    def init(self) -> Any:
        inner = None if self.unfreeze is None else self.unfreeze.init()
        return {**self._own_init(), "frozen": 0, "unfreeze": inner}

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        ready = False
        inner = state["unfreeze"]
        if self.unfreeze is not None:
            inner, ready = checked_update(self.unfreeze, self.unfreeze.update(inner, event))
        own = self._observe({k: v for k, v in state.items() if k != "unfreeze"}, event)
        return {**own, "unfreeze": inner}, bool(ready)

    def trainable_sets(self, n_groups: int) -> list[tuple[int, ...]] | None:
        """Every group trains from the start when there is no ``unfreeze`` policy (one
        stage); otherwise ``None``: the usual top-down advances."""
        if self.unfreeze is None:
            return [tuple(range(n_groups))]
        return None
