"""The registry of named policies, LR rules and groupings, with provenance.

Every name usable as ``{"type": name}`` in a schedule lives here, built-ins included:
they are registered by the default plugin through the same hooks a third-party
plugin implements (see :mod:`unfreeze_core.hookspecs`).

A name registered twice is never silently overridden nor renamed. Built by
:func:`unfreeze_core.plugins.get_registry`, the registry *withdraws* such a name: using
it is an error naming both distributions, while every other name keeps working.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Literal

import attrs

from .errors import ConfigError, Problem, UnfreezeError, UnfreezeWarning, UnknownTypeError

__all__ = [
    "KINDS",
    "DuplicateNameError",
    "Entry",
    "Kind",
    "PluginError",
    "PluginWarning",
    "Registry",
]

Kind = Literal["policy", "rule", "grouping"]
KINDS: tuple[Kind, ...] = ("policy", "rule", "grouping")
_PLURAL = {"policy": "policies", "rule": "LR rules", "grouping": "groupings"}
BLOCK_ENV = "UNFREEZE_BLOCK_PLUGINS"


@attrs.frozen
class Entry:
    """One registered name.

    Attributes:
        kind: ``"policy"``, ``"rule"`` or ``"grouping"``.
        name: the ``type`` used in configs.
        factory: a class or callable taking the config's keyword arguments.
        provider: the distribution that registered it (``"unfreeze-core"`` for built-ins).
        version: that distribution's version, when known.
        shorthand: the name can be written ``{name: [children]}`` in configs (used by
            combinators such as ``any_of``).
        monotonic: ``False`` for policies that may refreeze groups.
        plugin: the name of the plugin (entry point) whose hook registered it.
    """

    kind: Kind
    name: str
    factory: Callable[..., Any]
    provider: str
    version: str | None = None
    shorthand: bool = False
    monotonic: bool = True
    plugin: str | None = None

    @property
    def provided_by(self) -> str:
        """``"unfreeze-chain-thaw 0.1.0"``: the distribution and its version."""
        return f"{self.provider} {self.version}" if self.version else self.provider


class PluginError(UnfreezeError, RuntimeError):
    """A plugin could not be used: it failed to import, raised in a hook, or is invalid.

    The message names the plugin, its distribution and version, what went wrong, and
    how to disable it. Attributes carry the same facts for programs.

    Attributes:
        plugin: the plugin's name (its entry-point name).
        distribution: the distribution that installed it.
        version: that distribution's version, when known.
        problem: what went wrong, e.g. ``"failed to import"``.
        hook: the hook that raised, if a hook raised.
        cause: the exception raised by the plugin, if any.
    """

    def __init__(
        self,
        plugin: str,
        distribution: str,
        version: str | None,
        problem: str,
        *,
        hook: str | None = None,
        cause: BaseException | None = None,
        installed: bool = True,
    ) -> None:
        self.plugin = plugin
        self.distribution = distribution
        self.version = version
        self.problem = problem
        self.hook = hook
        self.cause = cause
        who = f"{distribution} {version}" if version else distribution
        reason = f": {type(cause).__name__}: {cause}" if cause is not None else ""
        if installed:
            how = (
                f" To disable it, set {BLOCK_ENV}={distribution} (or uninstall it: "
                f"pip uninstall {distribution})."
            )
        else:
            how = ""
        super().__init__(f"plugin {plugin!r} from {who} {problem}{reason}.{how}")


class PluginWarning(UnfreezeWarning):
    """A plugin was left out (its :class:`PluginError` is the message); the rest load."""


class DuplicateNameError(ConfigError):
    """Two plugins (or one, twice) registered the same name of the same kind.

    ``entries`` are every registration of the name, in the order they were made.
    """

    def __init__(self, entries: tuple[Entry, ...], path: str = "") -> None:
        self.entries = entries
        super().__init__([Problem(path, duplicate_message(entries))])


def duplicate_message(entries: tuple[Entry, ...]) -> str:
    """The message for a name registered more than once: names every provider."""
    first = entries[0]
    providers = [e.provided_by for e in entries]
    if len(set(providers)) == 1:
        by = f"{len(entries)} times by {providers[0]}"
    else:
        by = "by " + " and by ".join(providers)
    third_party = [e.provider for e in entries if e.provider != "unfreeze-core"]
    culprit = third_party[-1] if third_party else first.provider
    return (
        f"{first.kind} name {first.name!r} is registered {by}; a name must be registered "
        f"once. Uninstall one of them, or block one with {BLOCK_ENV}={culprit}."
    )


class Registry:
    """Names to factories, per kind, with where each came from.

    Attributes:
        failures: plugins that were left out while building this registry, each as a
            :class:`PluginError` (they are also reported as :class:`PluginWarning`).
        notes: sentences added to "unknown type" errors (failed plugins, plugins
            left out by the environment), so the error explains a missing name.
    """

    def __init__(self) -> None:
        self._entries: dict[Kind, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self._conflicts: dict[tuple[Kind, str], tuple[Entry, ...]] = {}
        self.failures: list[PluginError] = []
        self.notes: list[str] = []

    def add(self, entry: Entry, *, on_duplicate: Literal["raise", "withdraw"] = "raise") -> None:
        """Add one name.

        Args:
            entry: what to add.
            on_duplicate: when the name is taken, ``"raise"`` a
                :class:`DuplicateNameError`, or ``"withdraw"`` the name (every lookup of
                it then raises that error) and return quietly; the registry built from
                plugins withdraws, so one conflict does not disable every other name.

        Raises:
            DuplicateNameError: the name is taken and ``on_duplicate="raise"``.
        """
        if entry.kind not in self._entries:
            raise ConfigError(f"unknown kind {entry.kind!r}; kinds are {', '.join(KINDS)}")
        key = (entry.kind, entry.name)
        if key in self._conflicts:
            self._conflicts[key] = (*self._conflicts[key], entry)
            if on_duplicate == "raise":
                raise DuplicateNameError(self._conflicts[key])
            return
        taken = self._entries[entry.kind].get(entry.name)
        if taken is None:
            self._entries[entry.kind][entry.name] = entry
            return
        if on_duplicate == "raise":
            raise DuplicateNameError((taken, entry))
        del self._entries[entry.kind][entry.name]
        self._conflicts[key] = (taken, entry)

    def get(self, kind: Kind, name: str, *, path: str = "type") -> Entry:
        """The entry for ``name``.

        Raises:
            UnknownTypeError: nothing of that kind is registered under ``name``; the
                message lists what is, and points to ``unfreeze plugins``.
            DuplicateNameError: ``name`` was registered more than once.
        """
        entry = self._entries[kind].get(name)
        if entry is not None:
            return entry
        if (kind, name) in self._conflicts:
            raise DuplicateNameError(self._conflicts[(kind, name)], path)
        known = sorted(self._entries[kind])
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        notes = "".join(f" {note}" for note in self.notes)
        raise UnknownTypeError(
            [
                Problem(
                    path,
                    f"unknown {kind} type {name!r}; {hint}known {_PLURAL[kind]}: "
                    f"{', '.join(known)}. Run 'unfreeze plugins' to see what is installed."
                    f"{notes}",
                )
            ]
        )

    def find(self, kind: Kind, name: str) -> Entry | None:
        """The entry for ``name``, or ``None`` (also for a withdrawn duplicate)."""
        return self._entries[kind].get(name)

    def entry_for(self, obj: Any) -> Entry | None:
        """The entry whose factory is ``type(obj)``, if any (for writing configs)."""
        for entries in self._entries.values():
            for entry in entries.values():
                if entry.factory is type(obj):
                    return entry
        return None

    def names(self, kind: Kind) -> list[str]:
        """The usable names of one kind, sorted (withdrawn duplicates left out)."""
        return sorted(self._entries[kind])

    @property
    def conflicts(self) -> dict[tuple[Kind, str], tuple[Entry, ...]]:
        """Withdrawn names: ``(kind, name)`` to every registration of it."""
        return dict(self._conflicts)

    def __iter__(self) -> Iterator[Entry]:
        for kind in KINDS:
            yield from self._entries[kind].values()

    def __len__(self) -> int:
        return sum(len(e) for e in self._entries.values())
