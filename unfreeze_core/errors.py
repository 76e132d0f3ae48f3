"""Every exception and warning unfreeze-core raises, under one base class.

Each error also inherits the builtin it resembles, so ``except ValueError`` keeps
working for callers who do not know this package (the habit of ``attrs``'
``FrozenError(AttributeError)``).
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import attrs

__all__ = [
    "BLOCK_ENV",
    "LOAD_ENV",
    "ComponentError",
    "ConfigError",
    "BackupError",
    "DriverError",
    "DuplicateNameError",
    "PluginError",
    "PluginWarning",
    "Problem",
    "UnfreezeError",
    "UnfreezeWarning",
    "UnknownTypeError",
    "checked_multiplier",
    "checked_update",
    "contract_error",
    "duplicate_message",
    "provided_by",
]

#: The environment variables that choose which installed plugins load (read by
#: :mod:`unfreeze_core.plugins`; here because the messages below tell users to set them).
LOAD_ENV = "UNFREEZE_LOAD_PLUGINS"
BLOCK_ENV = "UNFREEZE_BLOCK_PLUGINS"


class UnfreezeError(Exception):
    """Base class of every error raised by unfreeze-core."""


@attrs.frozen
class Problem:
    """One thing wrong with a configuration: where it is and what rule it broke.

    ``path`` is a dotted location such as ``policy.any_of[1].patience`` (empty for
    the top level); ``message`` states the rule and the value received.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(UnfreezeError, ValueError):
    """A schedule, policy or rule was given bad input.

    Carries every problem found, not only the first, so a user editing a TOML file
    can fix them all in one go. ``str(error)`` lists one problem per line.
    """

    def __init__(self, problems: Iterable[Problem] | str, *, source: str | None = None):
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [str(p) for p in self.problems]
        head = f"{self.source}: " if self.source else ""
        if len(lines) == 1:
            return head + lines[0]
        count = f"{len(lines)} problems"
        return head + count + ":\n" + "\n".join(f"  {line}" for line in lines)

    def prefixed(self, prefix: str) -> ConfigError:
        """The same problems, located under ``prefix`` (used for nested configs)."""
        return ConfigError(
            [Problem(join_path(prefix, p.path), p.message) for p in self.problems],
            source=self.source,
        )


class UnknownTypeError(ConfigError, KeyError):
    """A ``type`` names nothing registered; the message lists what is."""

    def __init__(self, problems: Sequence[Problem] | str, *, source: str | None = None):
        ConfigError.__init__(self, problems, source=source)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return ConfigError.__str__(self)


class DriverError(UnfreezeError, ValueError):
    """The model, its optimizer or the run cannot be driven as asked; says what to do.

    Raised by the Keras driver (``unfreeze_core.keras``), which re-exports it.
    """


class BackupError(UnfreezeError, OSError):
    """A backup folder (``backup_dir=``) cannot be used: damaged beyond fallback, written
    for another model, in use by another run, or not writable. The message names the
    folder, what is wrong and what to do.

    Raised by the Keras driver (``unfreeze_core.keras``), which re-exports it.
    """


class UnfreezeWarning(UserWarning):
    """Something worth telling the user that does not stop training."""


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


class Registration(Protocol):
    """What :class:`DuplicateNameError` reads of a registered name (a registry ``Entry``)."""

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def provided_by(self) -> str: ...


class DuplicateNameError(ConfigError):
    """Two plugins (or one, twice) registered the same name of the same kind.

    ``entries`` are every registration of the name, in the order they were made.
    """

    def __init__(self, entries: Sequence[Registration], path: str = "") -> None:
        self.entries = tuple(entries)
        super().__init__([Problem(path, duplicate_message(self.entries))])


def duplicate_message(entries: Sequence[Registration]) -> str:
    """The message for a name registered more than once: names every provider, and
    the setting that blocks the last third-party one."""
    first = entries[0]
    providers = [e.provided_by for e in entries]
    if len(set(providers)) == 1:
        by = f"{len(entries)} times by {providers[0]}"
    else:
        by = "by " + " and by ".join(providers)
    third_party = [e.provider for e in entries if e.provider != CORE]
    culprit = third_party[-1] if third_party else first.provider
    return (
        f"{first.kind} name {first.name!r} is registered {by}; a name must be registered "
        f"once. Uninstall one of them, or block one with {BLOCK_ENV}={culprit}."
    )


CORE = "unfreeze-core"


class ComponentError(UnfreezeError, TypeError):
    """A policy, LR rule or grouping broke its contract while running (``update()``
    returned a string, a rule returned ``None``): a bug in the component, not in the
    configuration. The message names its class and the distribution that installed it.
    """


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def provided_by(obj: object) -> str:
    """Where ``obj``'s class comes from, for messages: ``"unfreeze-chain-thaw 0.1.0"``,
    or its module when no installed distribution holds it (a class defined in a test).

    Example:
        >>> from unfreeze_core.errors import Problem, provided_by
        >>> provided_by(Problem("", "")) in ("unfreeze-core", "unfreeze-core 0.1.0.dev0")
        True
    """
    module = getattr(type(obj), "__module__", "") or ""
    top = module.partition(".")[0]
    if top == "unfreeze_core":
        dists = [CORE]
    else:
        dists = _distributions().get(top, [])
    if not dists:
        return f"module {module}" if module else "an unknown module"
    name = dists[0]
    try:
        return f"{name} {importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        return name


def contract_error(kind: str, obj: object, problem: str) -> ComponentError:
    """The error for a component that broke its contract; ``kind`` is ``"policy"``,
    ``"LR rule"`` or ``"grouping"``, ``problem`` says what it did.

    Example:
        >>> class Shouty:
        ...     def update(self, state, event):
        ...         return "READY"
        >>> error = contract_error("policy", Shouty(), "update() returned 'READY', not "
        ...                        "(state, ready)")
        >>> str(error).split(" (from ")[0], str(error).split("): ")[1]
        ('policy Shouty', "update() returned 'READY', not (state, ready)")
    """
    who = f"{kind} {type(obj).__qualname__} (from {provided_by(obj)})"
    return ComponentError(f"{who}: {problem}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def checked_update(policy: object, result: Any) -> tuple[Any, bool]:
    """What ``policy.update()`` returned, checked: a ``(state, ready)`` pair whose
    ``ready`` is a bool (Python's or NumPy's); else a :class:`ComponentError` naming the
    policy's class and distribution.

    Example:
        >>> checked_update(object(), ({"streak": 1}, True))
        ({'streak': 1}, True)
        >>> checked_update(object(), "READY")
        Traceback (most recent call last):
        ...
        unfreeze_core.errors.ComponentError: policy object (from module builtins): \
update() returned 'READY', not (state, ready) with ready a bool
    """
    if isinstance(result, tuple) and len(result) == 2:
        ready = result[1]
        if type(ready).__name__ in ("bool", "bool_"):
            return result[0], bool(ready)
    raise contract_error(
        "policy", policy, f"update() returned {_short(result)}, not (state, ready) with "
        "ready a bool"
    )


def checked_multiplier(rule: object, value: Any) -> Any:
    """What an LR rule returned, checked: a number, or an array of numbers (one per
    group); else a :class:`ComponentError` naming the rule's class and distribution.
    Backend tensors (whose dtype has no NumPy ``kind``) pass unchecked.

    Example:
        >>> checked_multiplier(object(), 0.5)
        0.5
        >>> checked_multiplier(object(), "fast")
        Traceback (most recent call last):
        ...
        unfreeze_core.errors.ComponentError: LR rule object (from module builtins): \
returned 'fast', not a number (or one per group)
    """
    dtype = getattr(value, "dtype", None)
    kind = getattr(dtype, "kind", None)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if (number or dtype is not None) and (kind is None or kind in "biuf"):
        return value
    raise contract_error("LR rule", rule, f"returned {_short(value)}, not a number (or one "
                         "per group)")


def join_path(prefix: str, path: str) -> str:
    """Join two config locations: ``join_path("policy", "[1].patience")``."""
    if not prefix:
        return path
    if not path:
        return prefix
    if path.startswith("["):
        return prefix + path
    return f"{prefix}.{path}"
