"""Combining policies: ``any_of``, ``all_of``, the ``MinEpochs`` guard, and the ``|``
and ``&`` operators (:class:`Composable`).

A combinator takes policies and is itself a policy (as optax's ``chain`` is a
transformation), so composites nest without limit. Every child sees every event.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import attrs

from ..errors import ConfigError, checked_update
from ..events import EpochEnd, Event, StageChange
from ..fields import arg, ge, located
from .base import Policy

__all__ = ["AllOf", "AnyOf", "Composable", "MinEpochs", "all_of", "any_of"]


class Composable:
    """``a | b`` is ``any_of(a, b)`` and ``a & b`` is ``all_of(a, b)``."""

    __slots__ = ()

    def __or__(self, other: Policy) -> Policy:
        return any_of(self, other)  # type: ignore[arg-type]

    def __ror__(self, other: Policy) -> Policy:
        return any_of(other, self)  # type: ignore[arg-type]

    def __and__(self, other: Policy) -> Policy:
        return all_of(self, other)  # type: ignore[arg-type]

    def __rand__(self, other: Policy) -> Policy:
        return all_of(other, self)  # type: ignore[arg-type]


def _check_policies(policies: Sequence[Any]) -> str | None:
    if len(policies) == 0:
        return "must list at least one policy"
    for i, p in enumerate(policies):
        if not isinstance(p, Policy):
            return f"[{i}] must be a policy (an object with init() and update()), got {p!r}"
    return None


@attrs.frozen
class _Combination(Composable):
    """Policies combined by ``combine`` (``any`` or ``all``) of their readiness."""

    combine: ClassVar[Callable[[Iterable[bool]], bool]]
    config_shorthand: ClassVar[bool] = True  # written {"any_of": [...]} in configs

    policies: Sequence[Policy] = arg(kind="policies", doc="The policies combined.")

    def __attrs_post_init__(self) -> None:
        message = _check_policies(self.policies)
        if message:
            raise ConfigError([located("policies", message)], source=type(self).__name__)

    def init(self) -> Any:
        return [p.init() for p in self.policies]

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        states, ready = [], []
        for policy, child_state in zip(self.policies, state, strict=True):
            child_state, is_ready = checked_update(policy, policy.update(child_state, event))
            states.append(child_state)
            ready.append(bool(is_ready))
        return states, type(self).combine(ready)


@attrs.frozen
class AnyOf(_Combination):
    """Ready as soon as any child policy is ready. Spelled ``any_of(a, b)`` or ``a | b``."""

    type_name: ClassVar[str] = "any_of"
    combine = any


@attrs.frozen
class AllOf(_Combination):
    """Ready while every child policy is ready. Spelled ``all_of(a, b)`` or ``a & b``.

    Readiness is a level, so a plateau seen at an epoch end and a low gradient norm
    seen at a later step combine: the advance happens when both hold.
    """

    type_name: ClassVar[str] = "all_of"
    combine = all


@attrs.frozen
class MinEpochs(Composable):
    """A guard: ready once the current stage has lasted ``epochs`` epochs.

    Use it with ``all_of`` to keep another trigger from firing too early:
    ``GradNorm(fraction=0.1) & MinEpochs(2)``.
    """

    type_name: ClassVar[str] = "min_epochs"

    epochs: int = arg(1, ge(0), doc="Epochs the stage must last.")

    def init(self) -> Any:
        return 0

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        if isinstance(event, StageChange):
            state = 0
        elif isinstance(event, EpochEnd):
            state = state + 1
        return state, state >= self.epochs


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
