"""The hooks a plugin may implement. Bodies are docstrings only.

Hooks are called with keyword arguments; an implementation may accept any subset of
them (pluggy's rule), and new arguments may be added in later versions, never renamed.
Plugins are found through the ``unfreeze_core`` entry-point group and mark their hook
implementations with :data:`hookimpl`. The plugin author guide is ``docs/plugins.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pluggy

from .groupings import Group

__all__ = ["ENTRY_POINT_GROUP", "PROJECT", "hookimpl", "hookspec"]

PROJECT = "unfreeze_core"
ENTRY_POINT_GROUP = "unfreeze_core"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


@hookspec
def register_policies(register: Register) -> None:
    """Add policies (or custom triggers) usable by name.

    Call ``register(name, factory)`` for each one; ``factory(**config)`` must return an
    object with ``init()`` and ``update(state, event)``. Pass ``shorthand=True`` for a
    combinator that can be written ``{name: [policies]}``. A policy that may refreeze
    groups needs no option: it defines ``trainable_sets`` (``monotonic=False`` is
    deprecated and ignored). A class that declares ``type_name`` is registered under
    that name.
    """


@hookspec
def register_lr_rules(register: Register) -> None:
    """Add LR rules usable by name: ``register(name, factory)``.

    ``factory(**config)`` returns a callable of an
    :class:`~unfreeze_core.lr_rules.LRContext`. ``shorthand=True`` marks a combinator.
    """


@hookspec
def register_groupings(register: Register) -> None:
    """Add grouping strategies usable by name: ``register(name, factory)``.

    ``factory(**config)`` returns an object with ``resolve(layers) -> groups``.
    """


@hookspec
def on_stage_change(
    epoch: int,
    step: int,
    stage: int,
    previous: int,
    stage_index: int,
    trainable: tuple[int, ...],
    newly_trainable: tuple[int, ...],
    refrozen: tuple[int, ...],
    groups: tuple[Group, ...],
    lr_multipliers: tuple[float, ...],
    logs: Mapping[str, float],
    model: Any,
) -> None:
    """A training run changed stage: react to it (log it to a tracker, for example).

    Called by the Keras driver (through
    :func:`unfreeze_core.plugins.notify_stage_change`) right after the new trainable
    set is applied, before the next optimizer step. Group indices count from the
    input side (0) to the head.

    Args:
        epoch: 0-based epoch during (or at the end of) which the change happened.
        step: optimizer steps completed when it happened.
        stage: how many groups are trainable now.
        previous: how many were trainable before.
        stage_index: how many stage changes the run has made, this one included.
        trainable: the trainable groups now.
        newly_trainable: groups that were frozen and now train.
        refrozen: groups that trained and are frozen again (only policies that define
            ``trainable_sets``, such as chain-thaw, refreeze).
        groups: every group (name, layer paths, parameter count); empty when the
            caller has no model.
        lr_multipliers: each group's multiplier of the base learning rate for the next
            step (``0.0`` when frozen).
        logs: the Keras logs of the epoch that ended, or empty for a change made
            during an epoch.
        model: the Keras model being trained, or ``None``.
    """
