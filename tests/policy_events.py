"""Helpers of the policy tests: feed a policy events, make epoch-end events."""

from __future__ import annotations

from typing import Any

from unfreeze_core import EpochEnd


def feed(policy: Any, events: list[Any]) -> list[bool]:
    """Whether ``policy`` is ready after each of ``events``, from its initial state."""
    state = policy.init()
    ready = []
    for event in events:
        state, is_ready = policy.update(state, event)
        ready.append(is_ready)
    return ready


def epochs(values: list[float], monitor: str = "val_loss") -> list[EpochEnd]:
    """One ``EpochEnd`` per value of ``monitor``, epoch ``e`` ending at step ``e + 1``."""
    return [EpochEnd(e, e + 1, {monitor: v}) for e, v in enumerate(values)]
