"""The registry of named policies, LR rules and groupings, with provenance.

Every name usable as ``{"type": name}`` in a schedule lives here, built-ins included:
they are registered by the default plugin through the same hooks a third-party
plugin implements (see :mod:`unfreeze_core.hookspecs`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Literal

import attrs

from .errors import ConfigError, Problem, UnknownTypeError

__all__ = ["KINDS", "Entry", "Kind", "Registry"]

Kind = Literal["policy", "rule", "grouping"]
KINDS: tuple[Kind, ...] = ("policy", "rule", "grouping")
_PLURAL = {"policy": "policies", "rule": "LR rules", "grouping": "groupings"}


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
    """

    kind: Kind
    name: str
    factory: Callable[..., Any]
    provider: str
    version: str | None = None
    shorthand: bool = False
    monotonic: bool = True


class Registry:
    """Names to factories, per kind. Registering a taken name is an error naming both."""

    def __init__(self) -> None:
        self._entries: dict[Kind, dict[str, Entry]] = {kind: {} for kind in KINDS}

    def add(self, entry: Entry) -> None:
        if entry.kind not in self._entries:
            raise ConfigError(f"unknown kind {entry.kind!r}; kinds are {', '.join(KINDS)}")
        taken = self._entries[entry.kind].get(entry.name)
        if taken is not None:
            raise ConfigError(
                f"{entry.kind} name {entry.name!r} is registered twice: by "
                f"{taken.provider} and by {entry.provider}. Uninstall or block one of them "
                "(see UNFREEZE_BLOCK_PLUGINS)."
            )
        self._entries[entry.kind][entry.name] = entry

    def get(self, kind: Kind, name: str, *, path: str = "type") -> Entry:
        entry = self._entries[kind].get(name)
        if entry is None:
            known = sorted(self._entries[kind])
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UnknownTypeError(
                [
                    Problem(
                        path,
                        f"unknown {kind} type {name!r}; {hint}known {_PLURAL[kind]}: "
                        f"{', '.join(known)}. Run 'unfreeze plugins' to see what is installed.",
                    )
                ]
            )
        return entry

    def find(self, kind: Kind, name: str) -> Entry | None:
        return self._entries[kind].get(name)

    def entry_for(self, obj: Any) -> Entry | None:
        """The entry whose factory is ``type(obj)``, if any (for writing configs)."""
        for entries in self._entries.values():
            for entry in entries.values():
                if entry.factory is type(obj):
                    return entry
        return None

    def names(self, kind: Kind) -> list[str]:
        return sorted(self._entries[kind])

    def __iter__(self) -> Iterator[Entry]:
        for kind in KINDS:
            yield from self._entries[kind].values()

    def __len__(self) -> int:
        return sum(len(e) for e in self._entries.values())
