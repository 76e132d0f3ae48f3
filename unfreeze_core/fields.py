"""Declaring the arguments of policies, rules and groupings: the one validation stack.

A component is a frozen ``attrs`` class whose fields are made with :func:`arg`. Each
field carries its type and small *checks* (``ge(0)``, ``one_of(...)``) that return a
message such as ``"must be >= 0, got -1"`` or ``None``. The same declaration serves the
Python constructor (``Plateau(patience=-1)`` raises) and the config loader, which runs
the checks field by field so that it can report every problem with its location, then
builds the instance with :func:`build_checked` so that no field is checked twice.

This is the public way to declare a plugin's arguments::

    from unfreeze_core.fields import arg, ge

Example:
    >>> import attrs
    >>> @attrs.frozen
    ... class EveryN:
    ...     n: int = arg(1, ge(1), doc="Advance every n epochs.")
    >>> EveryN(0)
    Traceback (most recent call last):
    ...
    unfreeze_core.errors.ConfigError: EveryN: n: must be >= 1, got 0
"""

from __future__ import annotations

import collections.abc
import contextvars
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import attrs

from .checks import (
    Check,
    describe_check,
    described,
    each,
    finite,
    ge,
    gt,
    le,
    non_empty,
    non_increasing,
    one_of,
    shown,
    strictly_increasing,
)
from .errors import ConfigError, Problem

__all__ = [
    "REQUIRED",
    "Check",
    "arg",
    "build_checked",
    "check_field",
    "convert",
    "describe_check",
    "described",
    "describe_type",
    "resolved_fields",
    "each",
    "finite",
    "ge",
    "gt",
    "key_path",
    "le",
    "located",
    "non_empty",
    "non_increasing",
    "one_of",
    "shown",
    "strictly_increasing",
    "type_problem",
]

REQUIRED: Any = attrs.NOTHING
"""The default of an argument that must be given."""

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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_float(value: int) -> float | None:
    try:
        return float(value)
    except OverflowError:  # beyond float range: reported by type_problem
        return None


def convert(value: Any, tp: Any) -> Any:
    """Normalise plain data to ``tp`` (int -> float, list -> tuple) without guessing."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(tp):
            converted = convert(value, arm)
            if type_problem(converted, arm) is None:
                return converted
        return value
    if tp is float and _is_int(value):
        as_float = _as_float(value)
        return value if as_float is None else as_float
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
        problems = [type_problem(value, arm) for arm in typing.get_args(tp)]
        if int in typing.get_args(tp) and _is_int(value) and abs(value) >= INT_LIMIT:
            return problems[typing.get_args(tp).index(int)]  # say what is wrong with it
        ok = any(problem is None for problem in problems)
    elif origin in _SEQUENCES:
        inner = typing.get_args(tp)[0]
        ok = isinstance(value, tuple) and all(type_problem(v, inner) is None for v in value)
    elif tp is int:
        if _is_int(value) and abs(value) >= INT_LIMIT:
            return f"must be an integer of at most 18 digits, got {shown(value)}"
        ok = _is_int(value)
    elif tp is float:
        if _is_int(value) and _as_float(value) is None:
            return f"must be a number within float range, got {shown(value)}"
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp in (bool, str):
        ok = isinstance(value, tp)
    else:  # protocols and classes: checked by the component machinery
        return None
    if ok:
        return None
    return f"must be {describe_type(tp)}, got {shown(value)}"


#: Integer arguments (epochs, steps, counts) stay below this, so that a value such as
#: ``10**5000`` is refused where it is given instead of breaking ``repr()`` later.
INT_LIMIT = 10**18

# --- fields ------------------------------------------------------------------------

# The class whose fields were all checked by the caller of build_checked(): its attrs
# converters and validators stand aside while that instance is built.
_prechecked: contextvars.ContextVar[type[Any] | None] = contextvars.ContextVar(
    "unfreeze_core_prechecked", default=None
)


@contextmanager
def _trusting(cls: type[Any]) -> Iterator[None]:
    token = _prechecked.set(cls)
    try:
        yield
    finally:
        _prechecked.reset(token)


def build_checked(cls: type[Any], kwargs: Mapping[str, Any]) -> Any:
    """``cls(**kwargs)`` for arguments already converted and checked (:func:`check_field`).

    The config loader checks every field first, to report every problem at once; this
    builds the instance without checking each field a second time. Rules across fields
    (``__attrs_post_init__``) still run.
    """
    with _trusting(cls):
        return cls(**kwargs)


def _trusted(instance: Any) -> bool:
    return _prechecked.get() is type(instance)


def resolved_fields(cls: type[Any]) -> tuple[attrs.Attribute, ...]:
    """``attrs.fields(cls)`` with string annotations resolved to types (done once).

    A class whose module is not in ``sys.modules`` (loaded from a file by a test or a
    plugin host) is resolved in the globals of its own methods.
    """
    try:
        attrs.resolve_types(cls)
    except NameError:
        attrs.resolve_types(cls, globalns=_defining_globals(cls))
    return attrs.fields(cls)


def _defining_globals(cls: type[Any]) -> dict[str, Any] | None:
    for value in vars(cls).values():
        function = getattr(value, "__func__", getattr(value, "fget", value))
        if isinstance(function, types.FunctionType) and function.__module__ == cls.__module__:
            return function.__globals__
    return None


def _convert_field(value: Any, instance: Any, field: attrs.Attribute) -> Any:
    if _trusted(instance):
        return value
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


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,79}")


def key_path(key: Any) -> str:
    """A key as a location step: ``patience``, or ``['']`` / ``['a b']`` for a key that
    is empty, long or not a plain name (so a location is never empty nor huge).

    Example:
        >>> key_path("patience"), key_path(""), key_path("x" * 100)[:8]
        ('patience', "['']", "['xxxxxx")
    """
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return key
    return f"[{shown(key)}]"


def located(where: str, message: str) -> Problem:
    """The problem ``message`` at ``where``, an element's index moved into the location:
    ``at: [2] must be >= 1`` reads better as ``at[2]: must be >= 1``.

    Example:
        >>> str(located("at", "[2] must be >= 1, got 0"))
        'at[2]: must be >= 1, got 0'
    """
    index, sep, rest = message.partition("] ")
    if message.startswith("[") and sep and index[1:].isdigit():
        return Problem(f"{where}{index}]", rest)
    return Problem(where, message)


def _validate(instance: Any, field: attrs.Attribute, value: Any) -> None:
    if _trusted(instance):
        return
    if isinstance(field.type, str):
        resolved_fields(type(instance))
    msg = check_field(field, value)
    if msg:
        raise ConfigError([located(field.name, msg)], source=type(instance).__name__)


def arg(
    default: Any = attrs.NOTHING,
    *checks: Check,
    kind: Literal["policy", "policies", "rule", "rules", "grouping"] | None = None,
    doc: str = "",
    converter: Callable[[Any], Any] | None = None,
) -> Any:
    """Declare one argument of a component.

    ``kind`` marks fields that hold nested components (a policy, or a list of them),
    so the config loader structures them recursively and reports nested locations.
    ``converter`` (for such fields only) turns Python short forms into a component;
    lists of components are stored as tuples.
    """
    metadata = {"checks": tuple(checks), "kind": kind, "doc": doc}
    if kind is not None:
        if converter is None and kind in ("policies", "rules"):
            converter = _to_tuple
        return attrs.field(default=default, converter=converter, metadata=metadata)
    return attrs.field(
        default=default,
        converter=attrs.Converter(_convert_field, takes_self=True, takes_field=True),
        validator=_validate,
        metadata=metadata,
    )


def _to_tuple(value: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(value)
