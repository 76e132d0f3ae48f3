"""The hooks a plugin may implement. Bodies are docstrings only.

Hooks are called with keyword arguments; an implementation may accept any subset of
them (pluggy's rule), and new arguments may be added in later versions, never renamed.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "unfreeze_core"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


@hookspec
def register_policies(register: Register) -> None:
    """Add policies (or custom triggers) usable by name.

    Call ``register(name, factory)`` for each one; ``factory(**config)`` must return an
    object with ``init()`` and ``update(state, event)``. Pass ``shorthand=True`` for a
    combinator that can be written ``{name: [policies]}``, and ``monotonic=False`` for
    a policy that may refreeze groups.
    """


@hookspec
def register_lr_rules(register: Register) -> None:
    """Add LR rules usable by name: ``register(name, factory)``.

    ``factory(**config)`` returns a callable of an
    :class:`~unfreeze_core.lr_rules.LRContext`.
    """


@hookspec
def register_groupings(register: Register) -> None:
    """Add grouping strategies usable by name: ``register(name, factory)``.

    ``factory(**config)`` returns an object with ``resolve(layers) -> groups``.
    """


