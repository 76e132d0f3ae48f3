"""Finding the installed plugins (entry points) and loading those the environment allows.

The only code in the package that loads entry points. ``UNFREEZE_LOAD_PLUGINS`` and
``UNFREEZE_BLOCK_PLUGINS`` are applied *before* anything else is decided, so a plugin
left out by them is never imported and never conflicts with another: two distributions
that use the same entry-point name are a problem only when both are to be loaded.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import warnings
from typing import Any, Protocol

import pluggy

from ..errors import BLOCK_ENV, LOAD_ENV, PluginError, PluginWarning
from ..hookspecs import ENTRY_POINT_GROUP
from .records import PluginInfo

__all__ = ["entry_points", "load_entry_points", "normalize"]


class Host(Protocol):
    """What loading needs of the host (:class:`~unfreeze_core.plugins.PluginHost`)."""

    pm: pluggy.PluginManager
    plugins: dict[str, PluginInfo]
    notes: list[str]

    def record(self, info: PluginInfo) -> PluginInfo: ...
    def register(self, info: PluginInfo, plugin: Any, strict: bool) -> bool: ...
    def check_pending(self, strict: bool) -> None: ...
    def report(self, error: PluginError, strict: bool) -> None: ...


def normalize(name: str) -> str:
    """PEP 503 normalisation, so ``Unfreeze_Chain.Thaw`` matches ``unfreeze-chain-thaw``.

    Example:
        >>> normalize("Unfreeze_Chain.Thaw")
        'unfreeze-chain-thaw'
    """
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def _names(value: str) -> set[str]:
    return {normalize(part) for part in value.split(",") if part.strip()}


def entry_points() -> list[tuple[importlib.metadata.EntryPoint, str, str | None]]:
    """(entry point, distribution name, version) for each plugin installed, sorted by
    distribution then entry-point name (so load order and messages do not depend on
    the file system)."""
    out: list[tuple[importlib.metadata.EntryPoint, str, str | None]] = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        if dist is not None:
            out.append((ep, dist.name, dist.version))
        else:
            out.append((ep, ep.module, None))
    return sorted(out, key=lambda x: (normalize(x[1]), x[0].name))


def load_entry_points(host: Host, strict: bool) -> None:
    """Load into ``host`` every installed plugin the environment allows.

    A plugin that fails to import (any exception but ``KeyboardInterrupt``, a
    ``SystemExit`` too), holds no hook, is invalid, or uses the entry-point name of a
    plugin loaded before it is recorded as failed and reported; the others load.
    """
    wanted_env = os.environ.get(LOAD_ENV)
    wanted = None if wanted_env is None else _names(wanted_env)
    blocked = _names(os.environ.get(BLOCK_ENV, ""))
    found: set[str] = set()
    active: dict[str, PluginInfo] = {
        i.name: i for i in host.plugins.values() if i.active
    }
    left_out: list[PluginInfo] = []
    for ep, distribution, version in entry_points():
        keys = {normalize(distribution), normalize(ep.name)}
        found |= keys
        info = host.record(PluginInfo(ep.name, distribution, version, "loaded"))
        if wanted is not None and not keys & wanted:
            info.status = "not enabled"
            left_out.append(info)
            continue
        if keys & blocked:
            info.status = "blocked"
            left_out.append(info)
            continue
        taken = active.get(ep.name)
        if taken is not None:
            who = f"{taken.distribution} {taken.version}" if taken.version else taken.distribution
            host.report(info.fail(f"uses the plugin name {ep.name!r}, already taken by {who}"),
                        strict)
            continue
        try:
            plugin = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit at import must not end the process
            host.report(info.fail("failed to import",
                                  cause=exc), strict)
            continue
        if host.register(info, plugin, strict):
            active[ep.name] = info
    for info in left_out:  # never imported; keep anything else from using their names
        if info.name not in active:
            host.pm.set_blocked(info.name)
    host.check_pending(strict)
    if wanted is not None:
        missing = sorted(wanted - found)
        if missing:
            installed = sorted({i.distribution for i in host.plugins.values() if i.installed})
            warnings.warn(
                PluginWarning(
                    f"{LOAD_ENV} names {', '.join(missing)}, but no installed plugin has "
                    f"that name; installed: {', '.join(installed) or '(none)'}"
                ),
                stacklevel=4,
            )
        host.notes.append(
            f"({LOAD_ENV} is set: only {', '.join(sorted(wanted)) or 'no'} plugins are loaded.)"
        )
    if blocked:
        host.notes.append(f"({BLOCK_ENV} blocks {', '.join(sorted(blocked))}.)")
