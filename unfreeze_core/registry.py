"""The registry of named policies, LR rules and groupings, with provenance.

Every name usable as ``{"type": name}`` in a schedule lives here, built-ins included:
they are registered by the default plugin through the same hooks a third-party
plugin implements (see :mod:`unfreeze_core.hookspecs`). This module knows nothing of
plugins: the plugin host (:mod:`unfreeze_core.plugins`) fills a registry, and the
config format (:mod:`unfreeze_core.config`) reads one.

A name registered twice is never silently overridden nor renamed. Built by the plugin
host, the registry *withdraws* such a name: using it is an error naming both
distributions, while every other name keeps working.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import attrs

from .checks import shown
from .errors import (
    BLOCK_ENV,
    CORE,
    ConfigError,
    DuplicateNameError,
    PluginError,
    Problem,
    UnknownTypeError,
)
from .kinds import KINDS, Kind

__all__ = ["KINDS", "Entry", "Kind", "Registry", "make_entry"]


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
        plugin: the name of the plugin (entry point) whose hook registered it.
    """

    kind: Kind
    name: str
    factory: Callable[..., Any]
    provider: str
    version: str | None = None
    shorthand: bool = False
    plugin: str | None = None

    @property
    def provided_by(self) -> str:
        """``"unfreeze-chain-thaw 0.1.0"``: the distribution and its version."""
        return f"{self.provider} {self.version}" if self.version else self.provider

    def create(self, make: Callable[[], Any], path: str = "") -> Any:
        """Run ``make`` (the call of ``factory`` with a config's arguments) and check
        that what it returns is a component of its ``kind``.

        A plugin's factory that raises anything but a :class:`ConfigError`, or returns
        something without the kind's methods (a grouping without ``resolve``, the number
        42), is reported as a :class:`ConfigError` at ``path`` naming its distribution and
        version. A built-in's own bug propagates unchanged.

        Example:
            >>> entry = Entry("grouping", "forty_two", lambda: 42, "unfreeze-answers", "1.0")
            >>> entry.create(entry.factory, "groups")
            Traceback (most recent call last):
            ...
            unfreeze_core.errors.ConfigError: groups: the grouping 'forty_two' from \
unfreeze-answers 1.0 returned int 42, which is not a grouping: it has no resolve(). \
This is a bug in unfreeze-answers; report it to its authors, or block it with \
UNFREEZE_BLOCK_PLUGINS=unfreeze-answers.
        """
        try:
            obj = make()
        except ConfigError:
            raise
        except Exception as exc:
            if self.provider == CORE:
                raise
            raise self._error(path, f"failed: {type(exc).__name__}: {exc}") from exc
        return self.check(obj, path)

    def check(self, obj: Any, path: str = "") -> Any:
        """``obj`` if it has the methods of its ``kind`` (``protocol`` in
        ``unfreeze_core.kinds.KINDS``), else the :class:`ConfigError` of :meth:`create`."""
        missing = [m for m in KINDS[self.kind].protocol if not callable(getattr(obj, m, None))]
        if not missing:
            return obj
        what = "is not callable" if missing == ["__call__"] else (
            "it has no " + ", ".join(f"{m}()" for m in missing)
        )
        shown = repr(obj)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return_ = f"returned {type(obj).__name__} {shown}"
        if missing == ["__call__"]:
            raise self._error(path, f"{return_}, which {what}; an LR rule must be callable")
        raise self._error(path, f"{return_}, which is not a {self.kind}: {what}")

    def _error(self, path: str, problem: str) -> ConfigError:
        how = ""
        if self.provider != CORE:
            how = (
                f" This is a bug in {self.provider}; report it to its authors, or block it "
                f"with {BLOCK_ENV}={self.provider}."
            )
        who = f"the {self.kind} {self.name!r} from {self.provided_by}"
        return ConfigError([Problem(path, f"{who} {problem}.{how}")])


def make_entry(
    kind: Kind,
    name: Any,
    factory: Any,
    options: Mapping[str, Any],
    *,
    provider: str,
    version: str | None = None,
    plugin: str | None = None,
) -> Entry:
    """The entry for one ``register(name, factory, **options)`` call of a plugin's hook.

    Raises:
        ValueError: the name is empty or padded with spaces, or the factory declares a
            ``type_name`` other than ``name`` (its configs would be written under the
            other name).
        TypeError: the factory is not callable, or an option is not one ``kind`` takes.
    """
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ValueError(f"register() needs a non-empty name without spaces, got {name!r}")
    if not callable(factory):
        raise TypeError(f"register({name!r}, ...) needs a callable factory, got {factory!r}")
    allowed = KINDS[kind].options
    given = dict(options)
    if kind == "policy" and "monotonic" in given:
        given.pop("monotonic")
        warnings.warn(
            f"register({name!r}, ..., monotonic=...) is deprecated and ignored: the engine "
            "knows a policy that refreezes groups by its trainable_sets() method",
            DeprecationWarning,
            stacklevel=3,
        )
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise TypeError(
            f"register() for a {kind} takes no argument {unknown[0]!r}; it takes "
            f"name, factory{''.join(', ' + a for a in allowed)}"
        )
    declared = getattr(factory, "type_name", None) if isinstance(factory, type) else None
    if isinstance(declared, str) and declared != name:
        raise ValueError(
            f"register({name!r}, {factory.__qualname__}): the class declares type_name = "
            f"{declared!r}, so its configs would be written as {{type = {declared!r}}}; "
            f"register it as {declared!r} or set type_name = {name!r} on the class"
        )
    return Entry(
        kind, name, factory, provider, version,
        shorthand=bool(given.get("shorthand", False)), plugin=plugin,
    )


class Registry:
    """Names to factories, per kind, with where each came from.

    Attributes:
        failures: plugins that were left out while building this registry, each as a
            :class:`~unfreeze_core.errors.PluginError` (they are also reported as
            :class:`~unfreeze_core.errors.PluginWarning`).
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
                    f"unknown {kind} type {shown(name)}; {hint}known {KINDS[kind].plural}: "
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
