"""What the host knows of each plugin (:class:`PluginInfo`, one record per plugin), the
hooks, and the ``register`` callback that credits names to a plugin's record."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from ..errors import PluginError
from ..kinds import KINDS, Kind
from ..registry import Entry, make_entry

__all__ = ["HOOKS", "REGISTER_HOOKS", "PluginInfo", "Status", "register_function"]

Status = Literal["built-in", "loaded", "failed", "blocked", "not enabled"]

#: The hooks that register names, and the kind of name each registers.
REGISTER_HOOKS: dict[str, Kind] = {k.hook: name for name, k in KINDS.items()}
#: Every hook, in the order messages list them.
HOOKS = (*REGISTER_HOOKS, "on_stage_change")


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

    @property
    def active(self) -> bool:
        """Built-in or loaded: its hooks are called."""
        return self.status in ("built-in", "loaded")

    def problem(
        self, problem: str, *, hook: str | None = None, cause: BaseException | None = None
    ) -> PluginError:
        """The :class:`PluginError` naming this plugin, its distribution and version."""
        return PluginError(
            self.name, self.distribution, self.version, problem,
            hook=hook, cause=cause, installed=self.installed,
        )

    def fail(
        self, problem: str, *, hook: str | None = None, cause: BaseException | None = None
    ) -> PluginError:
        """Mark this plugin failed; the :class:`PluginError` describing why."""
        self.status = "failed"
        self.error = self.problem(problem, hook=hook, cause=cause)
        return self.error


def register_function(info: PluginInfo, kind: Kind, entries: list[Entry]) -> Any:
    """The ``register`` callback a plugin's register hook receives: each call appends an
    entry credited to ``info``'s distribution to ``entries``."""

    def register(name: str, factory: Any, **options: Any) -> None:
        entries.append(make_entry(kind, name, factory, options, provider=info.distribution,
                                  version=info.version, plugin=info.name))

    return register
