"""The policy protocol: a pure state machine over training events.

A policy decides *when* the next group(s) unfreeze. Like an optax transformation it is
an immutable configuration plus two methods, with all state returned, never hidden:

``init() -> state``
    The state at the start of a run: plain data (``None``, numbers, strings, lists,
    dicts), so that it can be saved in a checkpoint as JSON and restored.
``update(state, event) -> (state, ready)``
    Take one :mod:`event <unfreeze_core.events>` and say whether the policy is *ready*
    to advance. Readiness is a level, not an edge: a policy stays ready until it sees a
    :class:`~unfreeze_core.events.StageChange`, where it resets its per-stage counters.

Any object with these two methods is a policy; nothing needs to be subclassed. The
built-ins also inherit :class:`~unfreeze_core.policies.combinators.Composable` for the
``|`` and ``&`` operators. A policy that can be written in a config declares its name
there as a class attribute ``type_name`` (``"plateau"``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..events import Event

__all__ = ["Policy"]


@runtime_checkable
class Policy(Protocol):
    """What a policy (or custom trigger) implements."""

    def init(self) -> Any:
        """The state at the start of a run, as plain JSON-compatible data."""
        ...

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        """The new state after ``event``, and whether the policy is ready to advance."""
        ...
