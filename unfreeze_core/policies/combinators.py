"""Combining policies: ``any_of``, ``all_of`` and the ``MinEpochs`` guard.

A combinator takes policies and is itself a policy (as optax's ``chain`` is a
transformation), so composites nest without limit. Every child sees every event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from ..events import EpochEnd, Event, StageChange
from ..fields import arg, ge
from .base import Composable, Policy

__all__ = ["AllOf", "AnyOf", "MinEpochs", "all_of", "any_of"]


def _update_children(
    policies: Sequence[Policy], states: list[Any], event: Event
) -> tuple[list[Any], list[bool]]:
    new_states, ready = [], []
    for policy, state in zip(policies, states, strict=True):
        state, is_ready = policy.update(state, event)
        new_states.append(state)
        ready.append(bool(is_ready))
    return new_states, ready


def _check_policies(policies: Sequence[Any]) -> str | None:
    if len(policies) == 0:
        return "must list at least one policy"
    for i, p in enumerate(policies):
        if not isinstance(p, Policy):
            return f"[{i}] must be a policy (an object with init() and update()), got {p!r}"
    return None


@attrs.frozen
class AnyOf(Composable):
    """Ready as soon as any child policy is ready. Spelled ``any_of(a, b)`` or ``a | b``."""

    policies: Sequence[Policy] = arg(kind="policies", doc="The policies combined.")

    def __attrs_post_init__(self) -> None:
        _raise_if(_check_policies(self.policies), type(self).__name__)

    def init(self) -> Any:
        return [p.init() for p in self.policies]

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        states, ready = _update_children(self.policies, state, event)
        return states, any(ready)


@attrs.frozen
class AllOf(Composable):
    """Ready while every child policy is ready. Spelled ``all_of(a, b)`` or ``a & b``.

    Readiness is a level, so a plateau seen at an epoch end and a low gradient norm
    seen at a later step combine: the advance happens when both hold.
    """

    policies: Sequence[Policy] = arg(kind="policies", doc="The policies combined.")

    def __attrs_post_init__(self) -> None:
        _raise_if(_check_policies(self.policies), type(self).__name__)

    def init(self) -> Any:
        return [p.init() for p in self.policies]

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        states, ready = _update_children(self.policies, state, event)
        return states, all(ready)


@attrs.frozen
class MinEpochs(Composable):
    """A guard: ready once the current stage has lasted ``epochs`` epochs.

    Use it with ``all_of`` to keep another trigger from firing too early:
    ``GradNorm(fraction=0.1) & MinEpochs(2)``.
    """

    epochs: int = arg(1, ge(0), doc="Epochs the stage must last.")

    def init(self) -> Any:
        return 0

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        if isinstance(event, StageChange):
            state = 0
        elif isinstance(event, EpochEnd):
            state = state + 1
        return state, state >= self.epochs


def _raise_if(message: str | None, source: str) -> None:
    if message:
        from ..errors import ConfigError, Problem

        raise ConfigError([Problem("policies", message)], source=source)


def _flatten(cls: type[Any], policies: Sequence[Policy]) -> tuple[Policy, ...]:
    flat: list[Policy] = []
    for p in policies:
        flat.extend(p.policies if type(p) is cls else (p,))  # type: ignore[attr-defined]
    return tuple(flat)


def any_of(*policies: Policy) -> AnyOf:
    """A policy ready when any of ``policies`` is; nested ``any_of`` are flattened."""
    return AnyOf(_flatten(AnyOf, policies))


def all_of(*policies: Policy) -> AllOf:
    """A policy ready when all of ``policies`` are; nested ``all_of`` are flattened."""
    return AllOf(_flatten(AllOf, policies))
