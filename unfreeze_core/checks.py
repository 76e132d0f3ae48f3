"""The small checks that :func:`~unfreeze_core.fields.arg` takes, and :func:`shown`.

A check takes a (converted) value and returns a message (``"must be >= 0, got -1"``)
or ``None`` when the value is fine. Messages show values with :func:`shown`, so that a
huge or deeply nested value never makes a huge message (or fails to print).
Import them from :mod:`unfreeze_core.fields`.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable
from typing import Any

__all__ = [
    "Check",
    "describe_check",
    "described",
    "each",
    "finite",
    "ge",
    "gt",
    "le",
    "non_empty",
    "non_increasing",
    "one_of",
    "shown",
    "strictly_increasing",
]

Check = Callable[[Any], "str | None"]
"""A check takes a (converted) value and returns a message, or ``None`` when fine."""


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = 60
_SHOWN.maxother = 60
_SHOWN.maxlevel = 3
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = 6
_SHOWN_LIMIT = 80


def shown(value: Any) -> str:
    """``repr(value)`` for messages, capped at about 80 characters.

    Safe for any value a config can hold: huge integers (whose ``repr`` Python refuses
    beyond 4,300 digits), megabyte strings and deeply nested lists.

    Example:
        >>> shown(-1), shown("x" * 200)[:12], shown(10**5000)
        ('-1', "'xxxxxxxxxxx", 'an integer of 5001 digits')
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        digits = len(str(abs(value))) if value.bit_length() < 14000 else None
        if digits is None:
            digits = int(value.bit_length() * math.log10(2)) + 1
        return f"an integer of {digits} digits"
    try:
        text = _SHOWN.repr(value)
    except (ValueError, RecursionError):  # an int over 4,300 digits deep inside
        text = f"<a {type(value).__name__}>"
    if len(text) > _SHOWN_LIMIT:
        text = text[: _SHOWN_LIMIT - 3] + "..."
    return text


def described(text: str) -> Callable[[Check], Check]:
    """Attach a short description of the rule (``">= 0"``) used by the reference docs."""

    def attach(check: Check) -> Check:
        check.rule = text  # type: ignore[attr-defined]
        return check

    return attach


def describe_check(check: Check) -> str:
    return getattr(check, "rule", "")


def ge(bound: float) -> Check:
    @described(f">= {bound}")
    def check(v: Any) -> str | None:
        return None if v is None or v >= bound else f"must be >= {bound}, got {shown(v)}"

    return check


def gt(bound: float) -> Check:
    @described(f"> {bound}")
    def check(v: Any) -> str | None:
        return None if v is None or v > bound else f"must be > {bound}, got {shown(v)}"

    return check


def le(bound: float) -> Check:
    @described(f"<= {bound}")
    def check(v: Any) -> str | None:
        return None if v is None or v <= bound else f"must be <= {bound}, got {shown(v)}"

    return check


@described("finite")
def finite(v: Any) -> str | None:
    if v is None or math.isfinite(v):
        return None
    return f"must be a finite number, got {shown(v)}"


def one_of(*choices: Any) -> Check:
    listed = ", ".join(repr(c) for c in choices)

    @described(f"one of {listed}")
    def check(v: Any) -> str | None:
        return None if v in choices else f"must be one of {listed}, got {shown(v)}"

    return check


def each(*checks: Check) -> Check:
    """Apply ``checks`` to every element of a sequence; the message names the index."""

    @described("each " + ", ".join(describe_check(c) for c in checks))
    def check(values: Any) -> str | None:
        if values is None:
            return None
        for i, v in enumerate(values):
            for c in checks:
                msg = c(v)
                if msg:
                    return f"[{i}] {msg}"
        return None

    return check


@described("non-increasing with depth")
def non_increasing(values: Any) -> str | None:
    if values is None:
        return None
    for i in range(1, len(values)):
        if values[i] > values[i - 1]:
            return (
                f"must not increase with depth, got {shown(list(values))} "
                f"([{i}] = {shown(values[i])} > [{i - 1}] = {shown(values[i - 1])})"
            )
    return None


@described("strictly increasing")
def strictly_increasing(values: Any) -> str | None:
    if values is None:
        return None
    for i in range(1, len(values)):
        if values[i] <= values[i - 1]:
            return f"must be strictly increasing, got {shown(list(values))}"
    return None


@described("non-empty")
def non_empty(values: Any) -> str | None:
    if values is not None and len(values) == 0:
        return "must not be empty"
    return None
