"""Test helpers for plugin authors (and for unfreeze-core's own tests).

:func:`register_plugin` registers a plugin for the duration of a ``with`` block, so a
plugin's tests can use its names exactly as a user would, without installing it and
without the other plugins of the environment getting in the way:

.. code-block:: python

    from unfreeze_core import load_schedule
    from unfreeze_core.testing import register_plugin

    import my_plugin

    def test_my_policy_loads_by_name():
        with register_plugin(my_plugin):
            schedule = load_schedule({"policy": {"type": "my_policy"}})
        assert schedule.policy == my_plugin.MyPolicy()

:func:`record_stage_changes` records the ``on_stage_change`` notifications of a run.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import hookspecs
from .hookspecs import hookimpl
from .plugins import PluginHost, default_host, use_host
from .registry import Registry

__all__ = ["record_stage_changes", "register_plugin"]


def _default_name(plugin: Any) -> str:
    if isinstance(plugin, types.ModuleType):
        return plugin.__name__
    if isinstance(plugin, type):
        return plugin.__qualname__
    return type(plugin).__qualname__


@contextmanager
def register_plugin(
    plugin: Any,
    *,
    name: str | None = None,
    distribution: str | None = None,
    version: str | None = None,
    installed: bool = False,
) -> Iterator[Registry]:
    """Register ``plugin`` for the duration of a ``with`` block.

    Inside the block, :func:`unfreeze_core.plugins.get_registry` (and so
    ``load_schedule``), ``unfreeze plugins`` and the driver's notifications see the
    built-ins plus ``plugin`` (plus the plugins of enclosing ``register_plugin`` blocks);
    afterwards everything is as before. Unlike an installed plugin, a plugin registered
    here fails loudly: an unknown hook, a hook that raises or a name already taken
    raises :class:`~unfreeze_core.errors.PluginError` (or
    :class:`~unfreeze_core.errors.DuplicateNameError`) at the ``with``.

    The block runs with a fresh :class:`~unfreeze_core.plugins.PluginHost` installed by
    :func:`~unfreeze_core.plugins.use_host`; nothing of the process's own host is touched.

    Args:
        plugin: a module, class or object with :data:`~unfreeze_core.hookimpl`
            functions.
        name: the plugin's name (default: the module's or class's name).
        distribution: the distribution to credit its names to (default: ``name``).
        version: that distribution's version.
        installed: also load the installed plugins (entry points), as a user's
            process would; by default they are left out, so the test does not depend
            on what else is installed (a plugin under test that is also installed would
            otherwise register its names twice).

    Yields:
        The registry in force inside the block.

    Raises:
        PluginError: the plugin is invalid or one of its hooks raised.
        DuplicateNameError: it registers a name that is already taken.
    """
    name = name or _default_name(plugin)
    outer = default_host().added
    host = PluginHost()
    host.load(strict=False, installed=installed)
    for args in [*outer, (plugin, name, distribution or name, version)]:
        host.add(*args, strict=True)
    registry = host.registry
    with use_host(host):
        yield registry


@contextmanager
def record_stage_changes(*, installed: bool = False) -> Iterator[list[dict[str, Any]]]:
    """Record every ``on_stage_change`` notification made inside the block.

    Yields a list that fills with one dict per notification, holding the hook's
    keyword arguments (``epoch``, ``step``, ``stage``, ``previous``, ``stage_index``,
    ``trainable``, ``newly_trainable``, ``refrozen``, ``groups``, ``lr_multipliers``,
    ``logs``, ``model``).

    Example:
        >>> from unfreeze_core import Schedule, FixedEpoch
        >>> from unfreeze_core.events import EpochEnd
        >>> from unfreeze_core.plugins import notify_stage_change
        >>> from unfreeze_core.testing import record_stage_changes
        >>> schedule = Schedule(FixedEpoch(every=1))
        >>> before = schedule.start(3)
        >>> after, decision = schedule.update(before, EpochEnd(0, 10, {"loss": 0.5}))
        >>> with record_stage_changes() as calls:
        ...     notify_stage_change(schedule, before, after)
        >>> calls[0]["newly_trainable"], calls[0]["step"]
        ((1,), 10)
    """
    calls: list[dict[str, Any]] = []

    @hookimpl
    def on_stage_change(**kwargs: Any) -> None:
        calls.append(kwargs)

    # pluggy reads the arguments an implementation takes through ``__wrapped__``: this
    # one takes exactly the hook specification's, so it receives every argument,
    # including any added to the specification later
    on_stage_change.__wrapped__ = hookspecs.on_stage_change  # type: ignore[attr-defined]
    recorder = types.SimpleNamespace(on_stage_change=on_stage_change)
    with register_plugin(
        recorder, name="unfreeze_core.testing.record_stage_changes", installed=installed
    ):
        yield calls
