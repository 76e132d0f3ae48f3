"""Loading plugins and building the registry from them.

Explicit and lazy: nothing is loaded at import time. :func:`get_registry` builds the
registry on first use from :func:`get_plugin_manager`, which holds the default plugins
(the built-ins) and whatever :func:`load_plugins` added.
"""

from __future__ import annotations

import importlib
from typing import Any

import pluggy

from . import hookspecs
from .default_plugins import DEFAULT_PLUGINS
from .registry import Entry, Kind, Registry

__all__ = ["BUILTIN_PROVIDER", "get_plugin_manager", "get_registry", "reset"]

BUILTIN_PROVIDER = "unfreeze-core"

_pm: pluggy.PluginManager | None = None
_registry: Registry | None = None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, created with the default plugins on first use."""
    global _pm
    if _pm is None:
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        for name in DEFAULT_PLUGINS:
            pm.register(importlib.import_module(name), name=name)
        pm.check_pending()
        _pm = pm
    return _pm


def _provider(pm: pluggy.PluginManager, plugin: object) -> tuple[str, str | None]:
    name = pm.get_name(plugin) or repr(plugin)
    if name in DEFAULT_PLUGINS:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return BUILTIN_PROVIDER, version(BUILTIN_PROVIDER)
        except PackageNotFoundError:
            return BUILTIN_PROVIDER, None
    for plugin_obj, dist in pm.list_plugin_distinfo():
        if plugin_obj is plugin:
            return dist.project_name, dist.version
    return name, None


def _collect(pm: pluggy.PluginManager) -> Registry:
    registry = Registry()
    hooks: dict[Kind, Any] = {
        "policy": pm.hook.register_policies,
        "rule": pm.hook.register_lr_rules,
        "grouping": pm.hook.register_groupings,
    }
    for kind, hook in hooks.items():
        for impl in hook.get_hookimpls():
            provider, version = _provider(pm, impl.plugin)

            def register(
                name: str,
                factory: Any,
                *,
                shorthand: bool = False,
                monotonic: bool = True,
                _kind: Kind = kind,
                _provider: str = provider,
                _version: str | None = version,
            ) -> None:
                registry.add(
                    Entry(_kind, name, factory, _provider, _version, shorthand, monotonic)
                )

            impl.function(**{a: register for a in impl.argnames})
    return registry


def get_registry() -> Registry:
    """The registry of every named policy, rule and grouping, built on first use."""
    global _registry
    if _registry is None:
        _registry = _collect(get_plugin_manager())
    return _registry


def reset() -> None:
    """Forget the plugin manager and registry (the next use rebuilds them)."""
    global _pm, _registry
    _pm = None
    _registry = None
