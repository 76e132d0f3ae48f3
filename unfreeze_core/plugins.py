"""Loading plugins and building the registry from them.

Explicit and lazy: importing this module loads nothing. The first call of
:func:`get_plugin_manager` (or :func:`get_registry`, which the config loader calls)
creates the plugin manager with the default plugins (the built-ins), then runs
:func:`load_plugins`, which loads the installed plugins: the entry points of group
``unfreeze_core``. Two environment variables control that:

``UNFREEZE_LOAD_PLUGINS``
    Unset: load every installed plugin. Empty: load none. A comma-separated list of
    distribution names (``unfreeze-chain-thaw,unfreeze-slanted-triangular``): only those.
``UNFREEZE_BLOCK_PLUGINS``
    A comma-separated list of distribution (or entry-point) names never to load.

A plugin that fails (its import raises, a hook raises, it implements a hook that does
not exist, or it registers a name already taken) is left out with a
:class:`~unfreeze_core.registry.PluginWarning` whose message names its distribution,
version and how to disable it; the other plugins are unaffected. ``unfreeze plugins``
lists every plugin with its status, and ``load_plugins(strict=True)`` raises instead.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs
import pluggy

from . import hookspecs
from .default_plugins import DEFAULT_PLUGINS
from .registry import (
    BLOCK_ENV,
    DuplicateNameError,
    Entry,
    Kind,
    PluginError,
    PluginWarning,
    Registry,
)

if TYPE_CHECKING:
    from .groupings import Group
    from .schedule import Schedule, ScheduleState

__all__ = [
    "BLOCK_ENV",
    "BUILTIN_PROVIDER",
    "ENTRY_POINT_GROUP",
    "LOAD_ENV",
    "PluginError",
    "PluginInfo",
    "PluginWarning",
    "get_plugin_manager",
    "get_registry",
    "list_plugins",
    "load_plugins",
    "notify_stage_change",
    "reset",
]

BUILTIN_PROVIDER = "unfreeze-core"
ENTRY_POINT_GROUP = hookspecs.ENTRY_POINT_GROUP
LOAD_ENV = "UNFREEZE_LOAD_PLUGINS"

#: The hooks that register names, and the kind of name each registers.
REGISTER_HOOKS: dict[str, Kind] = {
    "register_policies": "policy",
    "register_lr_rules": "rule",
    "register_groupings": "grouping",
}
_REGISTER_OPTIONS: dict[Kind, tuple[str, ...]] = {
    "policy": ("shorthand", "monotonic"),
    "rule": ("shorthand",),
    "grouping": (),
}

Status = Literal["built-in", "loaded", "failed", "blocked", "not enabled"]


@attrs.define(eq=False)
class PluginInfo:
    """One plugin, loaded or not, as ``unfreeze plugins`` shows it.

    Attributes:
        name: the plugin's name: its entry-point name (the module name for built-ins).
        distribution: the distribution that installed it.
        version: that distribution's version, when known.
        status: ``"built-in"``, ``"loaded"``, ``"failed"``, ``"blocked"`` (by
            ``UNFREEZE_BLOCK_PLUGINS``) or ``"not enabled"`` (left out of
            ``UNFREEZE_LOAD_PLUGINS``).
        hooks: the hooks it implements (empty unless it was loaded).
        error: why it failed, when it did.
        installed: found through an entry point (``False`` for built-ins and plugins
            registered by :mod:`unfreeze_core.testing`).
        plugin: the plugin object (usually a module) once loaded.
    """

    name: str
    distribution: str
    version: str | None
    status: Status
    hooks: tuple[str, ...] = ()
    error: PluginError | None = None
    installed: bool = True
    plugin: Any = attrs.field(default=None, repr=False)

    def fail(self, problem: str, *, hook: str | None = None, cause: Any = None) -> PluginError:
        """Mark this plugin failed; the :class:`PluginError` describing why."""
        self.status = "failed"
        self.error = PluginError(
            self.name, self.distribution, self.version, problem,
            hook=hook, cause=cause, installed=self.installed,
        )
        return self.error


@attrs.define(eq=False)
class _State:
    pm: pluggy.PluginManager
    plugins: dict[str, PluginInfo]
    loaded: bool = False
    strict: bool = False
    registry: Registry | None = None
    notes: list[str] = attrs.Factory(list)
    # plugins registered by unfreeze_core.testing: (plugin, name, distribution, version)
    extra: list[tuple[Any, str, str, str | None]] = attrs.Factory(list)


_state: _State | None = None


def _normalize(name: str) -> str:
    """PEP 503 normalisation, so ``Unfreeze_Chain.Thaw`` matches ``unfreeze-chain-thaw``."""
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def _names(value: str) -> set[str]:
    return {_normalize(part) for part in value.split(",") if part.strip()}


def _core_version() -> str | None:
    try:
        return importlib.metadata.version(BUILTIN_PROVIDER)
    except importlib.metadata.PackageNotFoundError:
        return None


def _new_state() -> _State:
    """A manager holding the hook specifications and the default plugins only."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugins: dict[str, PluginInfo] = {}
    version = _core_version()
    for name in DEFAULT_PLUGINS:
        module = importlib.import_module(name)
        pm.register(module, name=name)
        plugins[name] = PluginInfo(
            name, BUILTIN_PROVIDER, version, "built-in",
            hooks=_hook_names(pm, module), installed=False, plugin=module,
        )
    pm.check_pending()
    return _State(pm, plugins)


def _get_state() -> _State:
    global _state
    if _state is None:
        _state = _new_state()
    return _state


def _hook_names(pm: pluggy.PluginManager, plugin: Any) -> tuple[str, ...]:
    return tuple(sorted(hc.name for hc in pm.get_hookcallers(plugin) or ()))


def _report(error: PluginError, strict: bool) -> None:
    if strict:
        raise error
    warnings.warn(PluginWarning(str(error)), stacklevel=4)


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
    state = _get_state()
    if not state.loaded:
        state.loaded = True  # also on failure: one broken plugin is reported once
        state.strict = strict
        state.registry = None
        _load_entry_points(state, strict)
    return tuple(state.plugins.values())


def _load_entry_points(state: _State, strict: bool) -> None:
    pm = state.pm
    wanted_env = os.environ.get(LOAD_ENV)
    wanted = None if wanted_env is None else _names(wanted_env)
    blocked = _names(os.environ.get(BLOCK_ENV, ""))
    found: set[str] = set()
    # sorted, so that load order and messages do not depend on the file system
    for ep, distribution, version in sorted(
        _entry_points(), key=lambda x: (_normalize(x[1]), x[0].name)
    ):
        keys = {_normalize(distribution), _normalize(ep.name)}
        found |= keys
        info = PluginInfo(ep.name, distribution, version, "loaded")
        if ep.name in state.plugins:
            other = state.plugins[ep.name]
            _report(info.fail(f"uses the plugin name {ep.name!r}, already taken by "
                              f"{other.distribution}"), strict)
            state.plugins[f"{ep.name} ({distribution})"] = info
            continue
        state.plugins[ep.name] = info
        if wanted is not None and not keys & wanted:
            info.status = "not enabled"
            pm.set_blocked(ep.name)
            continue
        if keys & blocked:
            info.status = "blocked"
            pm.set_blocked(ep.name)
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            _report(info.fail("failed to import", cause=exc), strict)
            continue
        _register(state, info, plugin, strict)
    _check_pending(state, strict)
    if wanted is not None:
        missing = sorted(wanted - found)
        if missing:
            warnings.warn(
                PluginWarning(
                    f"{LOAD_ENV} names {', '.join(missing)}, but no installed plugin has "
                    f"that name; installed: {', '.join(_installed_names(state)) or '(none)'}"
                ),
                stacklevel=3,
            )
        state.notes.append(
            f"({LOAD_ENV} is set: only {', '.join(sorted(wanted)) or 'no'} plugins are loaded.)"
        )
    if blocked:
        state.notes.append(f"({BLOCK_ENV} blocks {', '.join(sorted(blocked))}.)")


def _entry_points() -> list[tuple[importlib.metadata.EntryPoint, str, str | None]]:
    """(entry point, distribution name, version) for each plugin installed."""
    out: list[tuple[importlib.metadata.EntryPoint, str, str | None]] = []
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        if dist is not None:
            out.append((ep, dist.name, dist.version))
        else:
            out.append((ep, ep.module, None))
    return out


def _installed_names(state: _State) -> list[str]:
    return sorted({i.distribution for i in state.plugins.values() if i.installed})


def _register(state: _State, info: PluginInfo, plugin: Any, strict: bool) -> bool:
    """Register one plugin object; on failure mark it failed and report it."""
    pm = state.pm
    try:
        pm.register(plugin, name=info.name)
    except pluggy.PluginValidationError as exc:
        _report(info.fail("is not a valid plugin", cause=exc), strict)
        return False
    except ValueError as exc:  # the same object registered twice
        _report(info.fail("cannot be registered", cause=exc), strict)
        return False
    info.plugin = plugin
    info.hooks = _hook_names(pm, plugin)
    wrappers = [
        impl.function.__name__
        for hc in pm.get_hookcallers(plugin) or ()
        for impl in hc.get_hookimpls()
        if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper)
    ]
    if wrappers:
        pm.unregister(plugin)
        _report(info.fail(f"implements {', '.join(wrappers)} as a hook wrapper, which "
                          "unfreeze_core hooks do not support"), strict)
        return False
    return True


def _check_pending(state: _State, strict: bool) -> None:
    """pluggy's ``check_pending``, turned into an error naming the distribution."""
    pm = state.pm
    spec_names = [name for name in REGISTER_HOOKS] + ["on_stage_change"]
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            info = next((i for i in state.plugins.values() if i.plugin is exc.plugin), None)
            if info is None or info.status == "built-in":
                raise
            unknown = [
                hc.name for hc in pm.get_hookcallers(exc.plugin) or () if not hc.has_spec()
            ]
            parts = []
            for name in unknown:
                close = difflib.get_close_matches(name, spec_names, n=1)
                parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            pm.unregister(exc.plugin)
            info.hooks = ()
            _report(
                info.fail(
                    f"implements unknown hook {', '.join(parts)}; the hooks are "
                    f"{', '.join(spec_names)}"
                ),
                strict or not info.installed,
            )


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager: built-ins, then the installed plugins.

    Created, and the installed plugins loaded (:func:`load_plugins`), on first use.
    """
    state = _get_state()
    if not state.loaded:
        load_plugins()
    return state.pm


def _collect(state: _State) -> Registry:
    """Call every plugin's register hooks; one failing plugin leaves the others whole.

    Failures raise when the state is strict, and always for plugins registered by
    :mod:`unfreeze_core.testing` (not installed), so a plugin's own tests fail loudly.
    """
    pm = state.pm
    registry = Registry()
    registry.notes.extend(state.notes)
    _adopt_direct_registrations(state)
    buffered: list[tuple[PluginInfo, list[Entry]]] = []
    for info in state.plugins.values():
        if info.status not in ("built-in", "loaded"):
            continue
        entries: list[Entry] = []
        hook_name = ""
        try:
            for hook_name, kind in REGISTER_HOOKS.items():
                for impl in getattr(pm.hook, hook_name).get_hookimpls():
                    if impl.plugin is info.plugin:
                        register = _register_function(info, kind, entries)
                        impl.function(**{arg: register for arg in impl.argnames})
        except Exception as exc:
            if info.status == "built-in":
                raise
            _report(info.fail(f"raised in its {hook_name} hook", hook=hook_name, cause=exc),
                    state.strict or not info.installed)
            continue
        buffered.append((info, entries))
    for _info, entries in buffered:
        for entry in entries:
            registry.add(entry, on_duplicate="withdraw")
    by_name = {i.name: i for i in state.plugins.values()}
    for conflicting in registry.conflicts.values():
        error = DuplicateNameError(conflicting)
        involved = [by_name.get(e.plugin or "") for e in conflicting]
        if state.strict or any(i is not None and i.status == "loaded" and not i.installed
                               for i in involved):
            raise error
        warnings.warn(PluginWarning(str(error)), stacklevel=3)
    failed = [i for i in state.plugins.values() if i.error is not None]
    registry.failures.extend(i.error for i in failed if i.error is not None)
    if failed:
        registry.notes.append(
            f"{len(failed)} plugin(s) failed to load: "
            + "; ".join(f"{i.distribution} ({i.error.problem})" for i in failed if i.error)
            + "."
        )
    return registry


def _adopt_direct_registrations(state: _State) -> None:
    """Give plugins registered straight on the manager (``get_plugin_manager().register``)
    an entry, so their names are collected and credited to their plugin name."""
    known = {id(i.plugin) for i in state.plugins.values()}
    for name, plugin in state.pm.list_name_plugin():
        if plugin is not None and id(plugin) not in known and name not in state.plugins:
            state.plugins[name] = PluginInfo(
                name, name, None, "loaded", hooks=_hook_names(state.pm, plugin),
                installed=False, plugin=plugin,
            )


def _register_function(info: PluginInfo, kind: Kind, entries: list[Entry]) -> Any:
    allowed = _REGISTER_OPTIONS[kind]

    def register(name: str, factory: Any, **options: Any) -> None:
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise ValueError(f"register() needs a non-empty name without spaces, got {name!r}")
        if not callable(factory):
            raise TypeError(f"register({name!r}, ...) needs a callable factory, got {factory!r}")
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise TypeError(
                f"register() for a {kind} takes no argument {unknown[0]!r}; it takes "
                f"name, factory{''.join(', ' + a for a in allowed)}"
            )
        entries.append(
            Entry(
                kind, name, factory, info.distribution, info.version,
                shorthand=bool(options.get("shorthand", False)),
                monotonic=bool(options.get("monotonic", True)),
                plugin=info.name,
            )
        )

    return register


def get_registry() -> Registry:
    """The registry of every named policy, rule and grouping, built on first use.

    Loads the installed plugins first if that has not happened yet.
    """
    state = _get_state()
    get_plugin_manager()
    if state.registry is None:
        state.registry = _collect(state)
    return state.registry


def list_plugins(*, builtins: bool = False) -> list[PluginInfo]:
    """Every installed plugin (and with ``builtins=True`` the default plugins too).

    Builds the registry first, so plugins whose hooks raise are listed as failed.
    """
    get_registry()
    state = _get_state()
    return [i for i in state.plugins.values() if builtins or i.status != "built-in"]


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
    if after.stage_index == before.stage_index:
        return
    if after.stage_index < before.stage_index or not after.transitions:
        raise ValueError(
            f"notify_stage_change: 'after' (stage_index {after.stage_index}) must come "
            f"after 'before' (stage_index {before.stage_index})"
        )
    change = after.transitions[-1]
    now, was = after.trainable, before.trainable
    kwargs: dict[str, Any] = {
        "epoch": change.epoch,
        "step": change.step,
        "stage": after.stage,
        "previous": before.stage,
        "stage_index": after.stage_index,
        "trainable": now,
        "newly_trainable": tuple(g for g in now if g not in was),
        "refrozen": tuple(g for g in was if g not in now),
        "groups": tuple(groups),
        "lr_multipliers": schedule.lr_multipliers(after),
        "logs": dict(logs or {}),
        "model": model,
    }
    state = _get_state()
    pm = get_plugin_manager()
    by_plugin = {id(i.plugin): i for i in state.plugins.values()}
    # pluggy calls the most recently registered implementation first; so do we
    for impl in reversed(pm.hook.on_stage_change.get_hookimpls()):
        try:
            impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        except Exception as exc:
            info = by_plugin.get(id(impl.plugin))
            if info is None:
                raise
            error = PluginError(
                info.name, info.distribution, info.version,
                "raised in its on_stage_change hook", hook="on_stage_change", cause=exc,
                installed=info.installed,
            )
            warnings.warn(PluginWarning(str(error)), stacklevel=2)


def reset() -> None:
    """Forget the plugin manager and registry (the next use rebuilds them)."""
    global _state
    _state = None


# --- for unfreeze_core.testing ----------------------------------------------------------


def _swap_state(new: _State | None) -> _State | None:
    global _state
    old, _state = _state, new
    return old


def _state_with(
    extra: list[tuple[Any, str, str, str | None]], *, installed: bool
) -> _State:
    """A fresh state: built-ins, installed plugins if asked, then ``extra``; strict."""
    global _state
    saved = _state
    try:
        _state = state = _new_state()
        if installed:
            load_plugins()
        else:
            state.loaded = True
        for plugin, name, distribution, version in extra:
            info = PluginInfo(
                name, distribution, version, "loaded", installed=False, plugin=plugin
            )
            if name in state.plugins:
                raise PluginError(name, distribution, version,
                                  "uses a plugin name that is already taken", installed=False)
            state.plugins[name] = info
            _register(state, info, plugin, strict=True)
        _check_pending(state, strict=False)  # strict anyway for these (not installed)
        state.extra = list(extra)
        state.registry = _collect(state)
        return state
    finally:
        _state = saved
