"""Every exception and warning unfreeze-core raises, under one base class.

Each error also inherits the builtin it resembles, so ``except ValueError`` keeps
working for callers who do not know this package (the habit of ``attrs``'
``FrozenError(AttributeError)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "ConfigError",
    "DriverError",
    "Problem",
    "UnfreezeError",
    "UnfreezeWarning",
    "UnknownTypeError",
]


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


class UnfreezeWarning(UserWarning):
    """Something worth telling the user that does not stop training."""


def join_path(prefix: str, path: str) -> str:
    """Join two config locations: ``join_path("policy", "[1].patience")``."""
    if not prefix:
        return path
    if not path:
        return prefix
    if path.startswith("["):
        return prefix + path
    return f"{prefix}.{path}"
