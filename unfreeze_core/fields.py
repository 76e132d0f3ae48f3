"""Declaring the arguments of policies, rules and groupings once, checked twice.

A component is a frozen ``attrs`` class whose fields are made with :func:`arg`. Each
field carries its type and small *checks* (``ge(0)``, ``one_of(...)``) that return a
message such as ``"must be >= 0, got -1"`` or ``None``. The same declaration serves the
Python constructor (``Plateau(patience=-1)`` raises) and the config loader, which runs
the checks field by field so that it can report every problem with its location.
"""

from __future__ import annotations

import collections.abc
import math
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Literal

import attrs

from .errors import ConfigError, Problem

__all__ = [
    "REQUIRED",
    "Check",
    "arg",
    "check_field",
    "describe_check",
    "described",
    "describe_type",
    "resolved_fields",
    "each",
    "finite",
    "ge",
    "gt",
    "le",
    "non_increasing",
    "one_of",
    "strictly_increasing",
]

REQUIRED: Any = attrs.NOTHING
"""The default of an argument that must be given."""

Check = Callable[[Any], "str | None"]
"""A check takes a (converted) value and returns a message, or ``None`` when fine."""


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
        return None if v is None or v >= bound else f"must be >= {bound}, got {v!r}"

    return check


def gt(bound: float) -> Check:
    @described(f"> {bound}")
    def check(v: Any) -> str | None:
        return None if v is None or v > bound else f"must be > {bound}, got {v!r}"

    return check


def le(bound: float) -> Check:
    @described(f"<= {bound}")
    def check(v: Any) -> str | None:
        return None if v is None or v <= bound else f"must be <= {bound}, got {v!r}"

    return check


@described("finite")
def finite(v: Any) -> str | None:
    if v is None or math.isfinite(v):
        return None
    return f"must be a finite number, got {v!r}"


def one_of(*choices: Any) -> Check:
    shown = ", ".join(repr(c) for c in choices)

    @described(f"one of {shown}")
    def check(v: Any) -> str | None:
        return None if v in choices else f"must be one of {shown}, got {v!r}"

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
                f"must not increase with depth, got {list(values)!r} "
                f"([{i}] = {values[i]!r} > [{i - 1}] = {values[i - 1]!r})"
            )
    return None


@described("strictly increasing")
def strictly_increasing(values: Any) -> str | None:
    if values is None:
        return None
    for i in range(1, len(values)):
        if values[i] <= values[i - 1]:
            return f"must be strictly increasing, got {list(values)!r}"
    return None


@described("non-empty")
def non_empty(values: Any) -> str | None:
    if values is not None and len(values) == 0:
        return "must not be empty"
    return None


# --- types -------------------------------------------------------------------------

# Sequence arguments are stored as tuples (hashable, immutable); lists are accepted.
_SEQUENCES = (tuple, collections.abc.Sequence)


def describe_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is type(None):
        return "null"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in typing.get_args(tp))
    if origin in _SEQUENCES:
        inner = typing.get_args(tp)[0]
        plural = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}
        return f"a list of {plural.get(inner) or describe_type(inner)}"
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def convert(value: Any, tp: Any) -> Any:
    """Normalise plain data to ``tp`` (int -> float, list -> tuple) without guessing."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(tp):
            if type_problem(convert(value, arm), arm) is None:
                return convert(value, arm)
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin in _SEQUENCES and isinstance(value, (list, tuple)):
        inner = typing.get_args(tp)[0]
        return tuple(convert(v, inner) for v in value)
    return value


def type_problem(value: Any, tp: Any) -> str | None:
    """A message if ``value`` is not of ``tp``; only the simple types used by args."""
    origin = typing.get_origin(tp)
    ok: bool
    if tp is Any or tp is object:
        return None
    if tp is type(None):
        ok = value is None
    elif origin is Literal:
        ok = value in typing.get_args(tp)
    elif origin in (typing.Union, types.UnionType):
        ok = any(type_problem(value, arm) is None for arm in typing.get_args(tp))
    elif origin in _SEQUENCES:
        inner = typing.get_args(tp)[0]
        ok = isinstance(value, tuple) and all(type_problem(v, inner) is None for v in value)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp in (bool, str):
        ok = isinstance(value, tp)
    else:  # protocols and classes: checked by the component machinery
        return None
    if ok:
        return None
    return f"must be {describe_type(tp)}, got {value!r}"


# --- fields ------------------------------------------------------------------------


def resolved_fields(cls: type[Any]) -> tuple[attrs.Attribute, ...]:
    """``attrs.fields(cls)`` with string annotations resolved to types (done once)."""
    attrs.resolve_types(cls)
    return attrs.fields(cls)


def _convert_field(value: Any, instance: Any, field: attrs.Attribute) -> Any:
    if isinstance(field.type, str):
        resolved_fields(type(instance))  # resolves ``field`` in place
    return convert(value, field.type)


def check_field(field: attrs.Attribute, value: Any) -> str | None:
    """Type-check then run the field's checks; the first message, or ``None``."""
    tp = field.type
    if not isinstance(tp, str):
        msg = type_problem(value, tp)
        if msg:
            return msg
    for check in field.metadata.get("checks", ()):
        msg = check(value)
        if msg:
            return msg
    return None


def _validate(instance: Any, field: attrs.Attribute, value: Any) -> None:
    if isinstance(field.type, str):
        resolved_fields(type(instance))
    msg = check_field(field, value)
    if msg:
        raise ConfigError([Problem(field.name, msg)], source=type(instance).__name__)


def arg(
    default: Any = attrs.NOTHING,
    *checks: Check,
    kind: Literal["policy", "policies", "rule", "rules", "grouping"] | None = None,
    doc: str = "",
) -> Any:
    """Declare one argument of a component.

    ``kind`` marks fields that hold nested components (a policy, or a list of them),
    so the config loader structures them recursively and reports nested locations.
    """
    metadata = {"checks": tuple(checks), "kind": kind, "doc": doc}
    if kind is not None:
        converter = {"policies": _to_tuple, "rules": _to_tuple, "grouping": _to_grouping}.get(kind)
        return attrs.field(default=default, converter=converter, metadata=metadata)
    return attrs.field(
        default=default,
        converter=attrs.Converter(_convert_field, takes_self=True, takes_field=True),
        validator=_validate,
        metadata=metadata,
    )


def _to_tuple(value: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(value)


def _to_grouping(value: Any) -> Any:
    """The config short forms in Python too: ``"auto"``, ``4``, patterns, name lists."""
    if isinstance(value, (str, int, list, tuple)) and not isinstance(value, bool):
        from .config import structure

        data = (
            [list(v) if isinstance(v, tuple) else v for v in value]
            if isinstance(value, tuple)
            else value
        )
        return structure(data, "grouping", "groups")
    return value
