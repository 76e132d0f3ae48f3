"""Loading plugins and building the registry from them.

Explicit and lazy: importing this module loads nothing. The plugin host is an object,
:class:`PluginHost` (a pluggy manager, a record of each plugin, the registry they fill).
The process has one default host, created on first use by :func:`default_host`; the
functions below (:func:`get_registry`, which :func:`unfreeze_core.load_schedule` calls,
:func:`get_plugin_manager`, :func:`load_plugins`, :func:`list_plugins`,
:func:`notify_stage_change`) act on it. It starts with the default plugins (the
built-ins), then loads the installed plugins: the entry points of group
``unfreeze_core``. Two environment variables control that:

``UNFREEZE_LOAD_PLUGINS``
    Unset: load every installed plugin. Empty: load none. A comma-separated list of
    distribution names (``unfreeze-chain-thaw,unfreeze-slanted-triangular``): only those.
``UNFREEZE_BLOCK_PLUGINS``
    A comma-separated list of distribution (or entry-point) names never to load.

A plugin that fails (its import raises, even ``SystemExit``; it holds no hook; a hook
raises; it implements a hook that does not exist; it registers a name already taken) is
left out with a :class:`~unfreeze_core.errors.PluginWarning` whose message names its
distribution, version and how to disable it; the other plugins are unaffected.
``unfreeze plugins`` lists every plugin with its status, and
``load_plugins(strict=True)`` raises instead.

:func:`use_host` installs another host for the length of a ``with`` block (what
:mod:`unfreeze_core.testing` does).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pluggy

from ..errors import BLOCK_ENV, CORE, LOAD_ENV, PluginError, PluginWarning
from ..hookspecs import ENTRY_POINT_GROUP
from ..registry import Registry
from .host import PluginHost
from .records import REGISTER_HOOKS, PluginInfo, Status

if TYPE_CHECKING:
    from ..groupings import Group
    from ..schedule import Schedule, ScheduleState

__all__ = [
    "BLOCK_ENV",
    "BUILTIN_PROVIDER",
    "ENTRY_POINT_GROUP",
    "LOAD_ENV",
    "REGISTER_HOOKS",
    "PluginError",
    "PluginHost",
    "PluginInfo",
    "PluginWarning",
    "Status",
    "default_host",
    "get_plugin_manager",
    "get_registry",
    "list_plugins",
    "load_plugins",
    "notify_stage_change",
    "reset",
    "use_host",
]

BUILTIN_PROVIDER = CORE

_host: PluginHost | None = None


def default_host() -> PluginHost:
    """The host the module functions act on: the one :func:`use_host` installed, or the
    process's own, created (with the built-ins only) on first use."""
    global _host
    if _host is None:
        _host = PluginHost()
    return _host


@contextmanager
def use_host(host: PluginHost) -> Iterator[PluginHost]:
    """Make ``host`` the default host inside the block; the previous one comes back after.

    Example:
        >>> host = PluginHost()
        >>> host.load(installed=False)  # doctest: +ELLIPSIS
        (PluginInfo(name='unfreeze_core.default_plugins.builtins', ...),)
        >>> with use_host(host):
        ...     get_registry() is host.registry
        True
    """
    global _host
    saved, _host = _host, host
    try:
        yield host
    finally:
        _host = saved


def load_plugins(*, strict: bool = False) -> tuple[PluginInfo, ...]:
    """Load the installed plugins (entry points of group ``unfreeze_core``), once.

    Honours ``UNFREEZE_LOAD_PLUGINS`` and ``UNFREEZE_BLOCK_PLUGINS`` (see the module
    docs); blocked plugins are never imported. Then checks that every hook a plugin
    implements exists (pluggy's ``check_pending``). Later calls do nothing until
    :func:`reset`.

    Args:
        strict: raise the first :class:`PluginError` instead of warning and leaving
            the failed plugin out; this also makes :func:`get_registry` raise for a
            hook that raises and for a name registered twice.

    Returns:
        Every plugin found, built-ins first, with its status.

    Raises:
        PluginError: with ``strict=True``, for a plugin that fails to import, is
            invalid, or implements an unknown hook.
    """
    return default_host().load(strict=strict)


def get_plugin_manager() -> pluggy.PluginManager:
    """The default host's plugin manager: built-ins, then the installed plugins.

    Created, and the installed plugins loaded (:func:`load_plugins`), on first use.
    """
    host = default_host()
    host.load()
    return host.pm


def get_registry() -> Registry:
    """The registry of every named policy, rule and grouping, built on first use.

    Loads the installed plugins first if that has not happened yet.
    """
    host = default_host()
    host.load()
    return host.registry


def list_plugins(*, builtins: bool = False) -> list[PluginInfo]:
    """Every installed plugin (and with ``builtins=True`` the default plugins too).

    Builds the registry first, so plugins whose hooks raise are listed as failed.
    """
    host = default_host()
    host.load()
    return host.list(builtins=builtins)


def notify_stage_change(
    schedule: Schedule,
    before: ScheduleState,
    after: ScheduleState,
    *,
    groups: Sequence[Group] = (),
    model: Any = None,
    logs: Mapping[str, float] | None = None,
) -> None:
    """Call every plugin's ``on_stage_change`` hook for the change from ``before`` to ``after``.

    For the driver: call it with the states before and after the
    :meth:`Schedule.update <unfreeze_core.Schedule.update>` that advanced (nothing
    happens when the stage did not change). A hook that raises is reported as a
    :class:`PluginWarning` naming its distribution; the other hooks still run and
    training goes on.

    Args:
        schedule: the schedule being run (for the learning-rate multipliers).
        before: the state before the update.
        after: the state it returned.
        groups: the model's groups, input side first.
        model: the model being trained.
        logs: the Keras logs of the epoch that just ended, if the change came at an
            epoch's end.
    """
    host = default_host()
    host.load()
    host.notify_stage_change(schedule, before, after, groups=groups, model=model, logs=logs)


def reset() -> None:
    """Forget the default host (the next use creates a new one and loads the plugins)."""
    global _host
    _host = None
