"""The plugin host: one pluggy manager, a record of each plugin, the registry they fill.

A :class:`PluginHost` starts with the built-ins (the default plugins) registered; its
:meth:`~PluginHost.load` adds the installed plugins (see :mod:`.discovery`), and
:meth:`~PluginHost.add` any plugin object. Every hook is called through one routine,
:meth:`~PluginHost.dispatch`, which passes each implementation the keyword arguments it
accepts and charges an exception to the plugin that raised it.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import warnings
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from .. import hookspecs
from ..default_plugins import DEFAULT_PLUGINS
from ..errors import CORE, DuplicateNameError, PluginError, PluginWarning
from ..registry import Entry, Registry
from . import discovery
from .records import HOOKS, REGISTER_HOOKS, PluginInfo, register_function
from .stage_change import stage_change_arguments

if TYPE_CHECKING:
    from ..groupings import Group
    from ..schedule import Schedule, ScheduleState

__all__ = ["REGISTER_HOOKS", "PluginHost"]

def _core_version() -> str | None:
    try:
        return importlib.metadata.version(CORE)
    except importlib.metadata.PackageNotFoundError:
        return None


class PluginHost:
    """A pluggy plugin manager with the records of its plugins and their registry.

    Creating one registers the built-ins and loads nothing else; tests and
    :mod:`unfreeze_core.testing` make their own and install it with
    :func:`unfreeze_core.plugins.use_host`.

    Attributes:
        pm: the pluggy manager.
        plugins: every plugin's record, built-ins first, by plugin name.
        loaded: :meth:`load` has run.
        strict: raise instead of warning (``load(strict=True)``).
        notes: sentences for "unknown type" errors (plugins left out by the environment).
        added: the plugin objects given to :meth:`add`, as ``(plugin, name,
            distribution, version)`` (so a nested test host can repeat them).

    Example:
        >>> host = PluginHost()
        >>> host.load(installed=False)[0].status
        'built-in'
        >>> host.registry.get("policy", "plateau").provider
        'unfreeze-core'
    """

    def __init__(self, builtins: Sequence[ModuleType] = DEFAULT_PLUGINS) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.loaded = False
        self.strict = False
        self.notes: list[str] = []
        self.added: list[tuple[Any, str, str, str | None]] = []
        self._registry: Registry | None = None
        version = _core_version()
        for module in builtins:
            name = module.__name__
            self.pm.register(module, name=name)
            self.plugins[name] = PluginInfo(
                name, CORE, version, "built-in", hooks=self._hook_names(module),
                installed=False, plugin=module,
            )
        self.pm.check_pending()

    # --- loading ------------------------------------------------------------------------

    def load(self, *, strict: bool = False, installed: bool = True) -> tuple[PluginInfo, ...]:
        """Load the installed plugins (entry points of group ``unfreeze_core``), once.

        Honours ``UNFREEZE_LOAD_PLUGINS`` and ``UNFREEZE_BLOCK_PLUGINS``; blocked plugins
        are never imported. Later calls do nothing.

        Args:
            strict: raise the first :class:`PluginError` instead of warning and leaving
                the failed plugin out (also for hooks that raise and names registered
                twice, when the registry is built).
            installed: ``False`` loads no entry point at all (a host for tests).

        Returns:
            Every plugin's record, built-ins first.
        """
        if not self.loaded:
            self.loaded = True  # also on failure: one broken plugin is reported once
            self.strict = strict
            self._registry = None
            if installed:
                discovery.load_entry_points(self, strict)
        return tuple(self.plugins.values())

    def record(self, info: PluginInfo) -> PluginInfo:
        """Keep ``info``, under its name, or ``"name (distribution)"`` if that is taken."""
        key = info.name
        if key in self.plugins:
            key = f"{info.name} ({info.distribution})"
        while key in self.plugins:
            key += "'"
        self.plugins[key] = info
        return info

    def add(
        self,
        plugin: Any,
        name: str,
        distribution: str | None = None,
        version: str | None = None,
        *,
        installed: bool = False,
        strict: bool = True,
    ) -> PluginInfo:
        """Register a plugin object: a module, class or instance with hook functions.

        A plugin given here (not installed) fails loudly by default: with ``strict``, an
        invalid plugin, a name already taken or an unknown hook raises
        :class:`PluginError`.
        """
        info = PluginInfo(name, distribution or name, version, "loaded", installed=installed)
        taken = self.plugins.get(name)
        self.record(info)
        if taken is not None:
            self.report(info.fail(f"uses the plugin name {name!r}, already taken by "
                                  f"{taken.distribution}"), strict)
            return info
        if self.register(info, plugin, strict):
            self.check_pending(strict)
        if not installed and info.status == "loaded":
            self.added.append((plugin, name, info.distribution, version))
        self._registry = None
        return info

    def register(self, info: PluginInfo, plugin: Any, strict: bool) -> bool:
        """Register ``plugin`` with pluggy under ``info``; on failure mark it failed."""
        try:
            self.pm.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:
            self.report(info.fail("is not a valid plugin", cause=exc), strict)
            return False
        except ValueError as exc:  # the same object registered twice
            self.report(info.fail("cannot be registered", cause=exc), strict)
            return False
        info.plugin = plugin
        info.hooks = self._hook_names(plugin)
        wrappers = [
            impl.function.__name__
            for hc in self.pm.get_hookcallers(plugin) or ()
            for impl in hc.get_hookimpls()
            if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper)
        ]
        problem = ""
        if wrappers:
            problem = (f"implements {', '.join(wrappers)} as a hook wrapper, which "
                       "unfreeze_core hooks do not support")
        elif not info.hooks:
            shown = repr(plugin)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            problem = (f"implements no hook: it is {type(plugin).__name__} {shown}, not a "
                       f"module or object with @hookimpl functions named {', '.join(HOOKS)}")
        if problem:
            self.pm.unregister(plugin)
            info.hooks = ()
            self.report(info.fail(problem), strict)
            return False
        return True

    def check_pending(self, strict: bool) -> None:
        """pluggy's ``check_pending``, turned into an error naming the distribution."""
        while True:
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                info = self.info_of(exc.plugin)
                if info is None or info.status == "built-in":
                    raise
                unknown = [hc.name for hc in self.pm.get_hookcallers(exc.plugin) or ()
                           if not hc.has_spec()]
                parts = []
                for name in unknown:
                    close = difflib.get_close_matches(name, HOOKS, n=1)
                    parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close
                                                else ""))
                self.pm.unregister(exc.plugin)
                info.hooks = ()
                problem = f"implements unknown hook {', '.join(parts)}; the hooks are "
                self.report(info.fail(problem + ", ".join(HOOKS)),
                            strict or not info.installed)

    def report(self, error: PluginError, strict: bool) -> None:
        """Raise ``error`` (strict), or warn with it."""
        if strict:
            raise error
        warnings.warn(PluginWarning(str(error)), stacklevel=4)

    # --- calling hooks ------------------------------------------------------------------

    def dispatch(
        self, hook: str, kwargs: Mapping[str, Any], *, only: PluginInfo | None = None
    ) -> list[tuple[PluginInfo, BaseException]]:
        """Call every implementation of ``hook`` (the most recently registered first, as
        pluggy does), each with the keyword arguments it accepts.

        An implementation that raises (anything but ``KeyboardInterrupt``, ``SystemExit``
        included) does not stop the others: its plugin's record and the exception are
        returned. A built-in's exception, or one from a plugin the host has no record of,
        propagates.

        Args:
            hook: the hook's name.
            kwargs: every argument of the hook.
            only: call only this plugin's implementation.
        """
        self._adopt_direct_registrations()
        failures: list[tuple[PluginInfo, BaseException]] = []
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            info = self.info_of(impl.plugin)
            if only is not None and info is not only:
                continue
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames if arg in kwargs})
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                if info is None or info.status == "built-in":
                    raise
                failures.append((info, exc))
        return failures

    def info_of(self, plugin: Any) -> PluginInfo | None:
        """The record of a registered plugin object."""
        return next((i for i in self.plugins.values() if i.plugin is plugin), None)

    def _hook_names(self, plugin: Any) -> tuple[str, ...]:
        return tuple(sorted(hc.name for hc in self.pm.get_hookcallers(plugin) or ()))

    def _adopt_direct_registrations(self) -> None:
        """Give plugins registered straight on the manager (``host.pm.register``) a
        record, so their names are collected and credited to their plugin name."""
        for name, plugin in self.pm.list_name_plugin():
            if plugin is not None and self.info_of(plugin) is None and name not in self.plugins:
                self.plugins[name] = PluginInfo(
                    name, name, None, "loaded", hooks=self._hook_names(plugin),
                    installed=False, plugin=plugin,
                )

    # --- the registry -------------------------------------------------------------------

    @property
    def registry(self) -> Registry:
        """The registry of every active plugin's names (:meth:`collect`, done once)."""
        if self._registry is None:
            self._registry = self.collect()
        return self._registry

    def collect(self) -> Registry:
        """Call every plugin's register hooks; one failing plugin leaves the others whole.

        Failures raise when the host is strict, and always for plugins that are not
        installed (given to :meth:`add`), so a plugin's own tests fail loudly.
        """
        registry = Registry()
        registry.notes.extend(self.notes)
        self._adopt_direct_registrations()
        buffered: list[Entry] = []
        for info in list(self.plugins.values()):
            if not info.active:
                continue
            entries: list[Entry] = []
            for hook, kind in REGISTER_HOOKS.items():
                register = register_function(info, kind, entries)
                failed = self.dispatch(hook, {"register": register}, only=info)
                if failed:
                    _, exc = failed[0]
                    self.report(info.fail(f"raised in its {hook} hook", hook=hook, cause=exc),
                                self.strict or not info.installed)
                    break
            else:
                buffered.extend(entries)
        for entry in buffered:
            registry.add(entry, on_duplicate="withdraw")
        for conflicting in registry.conflicts.values():
            error = DuplicateNameError(conflicting)
            involved = [i for i in self.plugins.values()
                        if any((e.plugin, e.provider) == (i.name, i.distribution)
                               for e in conflicting)]
            if self.strict or any(not i.installed and i.status == "loaded" for i in involved):
                raise error
            warnings.warn(PluginWarning(str(error)), stacklevel=3)
        failed_infos = [i for i in self.plugins.values() if i.error is not None]
        registry.failures.extend(i.error for i in failed_infos if i.error is not None)
        if failed_infos:
            registry.notes.append(
                f"{len(failed_infos)} plugin(s) failed to load: "
                + "; ".join(f"{i.distribution} ({i.error.problem})"
                            for i in failed_infos if i.error)
                + "."
            )
        return registry

    def list(self, *, builtins: bool = False) -> list[PluginInfo]:
        """Every plugin (built-ins too with ``builtins=True``), after building the
        registry, so plugins whose hooks raise are listed as failed."""
        self.registry  # noqa: B018 - builds it
        return [i for i in self.plugins.values() if builtins or i.status != "built-in"]

    def notify_stage_change(
        self,
        schedule: Schedule,
        before: ScheduleState,
        after: ScheduleState,
        *,
        groups: Sequence[Group] = (),
        model: Any = None,
        logs: Mapping[str, float] | None = None,
    ) -> None:
        """Call every ``on_stage_change`` hook (see
        :func:`unfreeze_core.plugins.notify_stage_change`)."""
        kwargs = stage_change_arguments(schedule, before, after, groups=groups, model=model,
                                        logs=logs)
        if kwargs is None:
            return
        for info, exc in self.dispatch("on_stage_change", kwargs):
            error = info.problem("raised in its on_stage_change hook",
                                 hook="on_stage_change", cause=exc)
            warnings.warn(PluginWarning(str(error)), stacklevel=3)
