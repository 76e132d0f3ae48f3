"""Reading schedules from plain data, against an explicit registry, with located errors.

A component in a config is a mapping with a ``type`` naming a registered policy, rule
or grouping, plus its arguments: ``{"type": "plateau", "patience": 3}``. A combinator
may also be written ``{"any_of": [...]}``. Every problem in a config is reported at
once, each with its location: ``policy.any_of[1].patience: must be >= 0, got -1``.
Unknown keys are errors, with a did-you-mean. Configs nest at most :data:`MAX_DEPTH`
levels. Writing configs is :mod:`unfreeze_core.unstructure` (no registry needed); the
façade that defaults to the installed plugins is :func:`unfreeze_core.load_schedule`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import attrs

from .errors import ConfigError, Problem, UnknownTypeError, join_path
from .fields import (
    build_checked,
    check_field,
    convert,
    key_path,
    located,
    resolved_fields,
    shown,
)
from .kinds import Kind, kind_of_field
from .registry import Registry
from .schedule import Schedule
from .unstructure import FORMAT_VERSION, unstructure, unstructure_fields

__all__ = [
    "FORMAT_VERSION",
    "MAX_DEPTH",
    "check_depth",
    "structure",
    "structure_fields",
    "structure_schedule",
    "unstructure",
    "unstructure_fields",
]

MAX_DEPTH = 64
"""The deepest nesting of tables and lists a config may have (``any_of`` inside
``any_of`` ... counts two levels per combinator: the table and its list)."""


_LONGEST_NAME = 200


def check_depth(data: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse data nested deeper than ``limit`` tables and lists, before reading it.

    Iterative, so it cannot itself recurse too deeply.

    Raises:
        ConfigError: naming the limit and where it is exceeded.
    """
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, Mapping):
            items: Any = ((join_path(path, key_path(k)), v) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
        else:
            continue
        if depth >= limit:
            raise ConfigError(
                [Problem(_short(path), f"nested deeper than {limit} tables and lists (MAX_DEPTH)")]
            )
        stack.extend((v, where, depth + 1) for where, v in items)


def _short(path: str) -> str:
    return path if len(path) <= 80 else path[:60] + "..." + path[-17:]


def _unknown_key(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1) if len(key) < 200 else []
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {shown(key)}; {hint}valid keys: {', '.join(valid) or '(none)'}"


def _shorthand(factory: Any, entry_shorthand: bool) -> bool:
    return bool(entry_shorthand or getattr(factory, "config_shorthand", False))


def _expand_shorthand(data: Any, kind: Kind, registry: Registry) -> tuple[Any, dict[str, str]]:
    """``{"any_of": [...]}`` -> ``{"type": "any_of", "<children field>": [...]}``.

    Also returns how the children field was spelled, so errors point at what the user
    wrote (``policy.any_of[1]``).
    """
    if isinstance(data, Mapping) and "type" not in data and len(data) == 1:
        (name,) = data
        entry = registry.find(kind, name) if isinstance(name, str) else None
        if (
            entry is not None
            and _shorthand(entry.factory, entry.shorthand)
            and isinstance(entry.factory, type)
            and attrs.has(entry.factory)
        ):
            children = [f.name for f in attrs.fields(entry.factory) if f.metadata.get("kind")]
            if len(children) == 1:
                return {"type": name, children[0]: data[name]}, {children[0]: name}
    if kind == "grouping":  # "auto", 4, ["conv2_", ...], [["a"], ["b", "c"]]
        if isinstance(data, str):
            return {"type": data}, {}
        if isinstance(data, int) and not isinstance(data, bool):
            return {"type": "count", "n": data}, {}
        if isinstance(data, list) and data and all(isinstance(x, str) for x in data):
            return {"type": "patterns", "patterns": data}, {}
        if isinstance(data, list) and data and all(isinstance(x, list) for x in data):
            return {"type": "layers", "groups": data}, {}
    return data, {}


def _missing_type(data: Mapping[str, Any], kind: Kind, registry: Registry) -> str:
    known = registry.names(kind)
    if len(data) == 1:
        (key,) = data
        shorthands = [e.name for e in registry if e.kind == kind and e.shorthand]
        close = difflib.get_close_matches(str(key)[:200], shorthands, n=1)
        if close:
            return f"missing; {shown(key)} is not a {kind} either: did you mean {close[0]!r}?"
    return f"missing; known: {', '.join(known)}"


def structure(data: Any, kind: Kind, path: str, registry: Registry) -> Any:
    """Build the policy, rule or grouping that ``data`` describes, with ``registry``.

    Raises:
        ConfigError: listing every problem found, each with its location under ``path``.
    """
    data, aliases = _expand_shorthand(data, kind, registry)
    if not isinstance(data, Mapping):
        raise ConfigError(
            [Problem(path, f"must be a table with a 'type' key naming a {kind}, got {shown(data)}")]
        )
    if "type" not in data:
        raise ConfigError([Problem(join_path(path, "type"), _missing_type(data, kind, registry))])
    name = data["type"]
    if not isinstance(name, str):
        raise ConfigError(
            [Problem(join_path(path, "type"), f"must be a string, got {shown(name)}")]
        )
    if len(name) > _LONGEST_NAME:  # never a registered name; keep the message short
        raise UnknownTypeError(
            [Problem(join_path(path, "type"), f"unknown {kind} type {shown(name)}")]
        )
    entry = registry.get(kind, name, path=join_path(path, "type"))
    params = {k: v for k, v in data.items() if k != "type"}
    factory = entry.factory
    if isinstance(factory, type) and attrs.has(factory):
        return entry.create(
            lambda: structure_fields(factory, params, path, registry, aliases), path
        )

    def make() -> Any:
        try:
            return factory(**params)
        except ConfigError as exc:  # located relative to the component
            raise exc.prefixed(path) from None

    # a plugin's factory raising anything else is reported by Entry.create
    return entry.create(make, path)


def structure_fields(
    cls: type[Any],
    params: Mapping[str, Any],
    path: str,
    registry: Registry,
    aliases: Mapping[str, str] | None = None,
) -> Any:
    """Build the attrs class ``cls`` from ``params``, checking each field once.

    ``aliases`` maps a field to the key the user wrote for it, for error locations.
    """
    aliases = aliases or {}
    fields = {f.name: f for f in resolved_fields(cls)}
    problems: list[Problem] = []
    error_type: type[ConfigError] = ConfigError
    kwargs: dict[str, Any] = {}
    for key in params:
        if key not in fields:
            problems.append(
                Problem(join_path(path, key_path(key)), _unknown_key(str(key), list(fields)))
            )
    for name, field in fields.items():
        where = join_path(path, aliases.get(name, name))
        if name not in params:
            if field.default is attrs.NOTHING:
                problems.append(Problem(where, "missing (required)"))
            continue
        value = params[name]
        try:
            if field.metadata.get("kind") is None:
                value = convert(value, field.type)
                message = check_field(field, value)
                if message:
                    problems.append(located(where, message))
                else:
                    kwargs[name] = value
                continue
            kind, many = kind_of_field(field.metadata["kind"])
            if not many:
                kwargs[name] = structure(value, kind, where, registry)
            elif isinstance(value, list):
                kwargs[name] = _structure_list(value, kind, where, registry)
            else:
                problems.append(Problem(where, f"must be a list, got {shown(value)}"))
        except ConfigError as exc:
            problems.extend(exc.problems)
            if isinstance(exc, UnknownTypeError):
                error_type = UnknownTypeError
    if problems:
        raise error_type(problems)
    try:
        return build_checked(cls, kwargs)
    except ConfigError as exc:  # rules across fields, raised by __attrs_post_init__
        raise ConfigError(
            [Problem(join_path(path, p.path), p.message) for p in exc.problems]
        ) from None


def _structure_list(values: list[Any], kind: Kind, path: str, registry: Registry) -> list[Any]:
    out: list[Any] = []
    problems: list[Problem] = []
    error_type: type[ConfigError] = ConfigError
    for i, item in enumerate(values):
        try:
            out.append(structure(item, kind, f"{path}[{i}]", registry))
        except ConfigError as exc:
            problems.extend(exc.problems)
            if isinstance(exc, UnknownTypeError):
                error_type = UnknownTypeError
    if problems:
        raise error_type(problems)
    return out


def structure_schedule(data: Any, registry: Registry, *, require_version: bool = False) -> Schedule:
    """The :class:`~unfreeze_core.Schedule` that ``data`` describes, with ``registry``.

    ``version`` must be :data:`FORMAT_VERSION` (the integer ``1``); it may be left out
    unless ``require_version`` (files must say it).

    Raises:
        ConfigError: every problem at once, each with its location.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"a schedule must be a table, got {shown(data)}")
    check_depth(data)
    params = dict(data)
    problems: list[Problem] = []
    if "version" in params:
        version = params.pop("version")
        if type(version) is not int or version != FORMAT_VERSION:
            problems.append(
                Problem(
                    "version",
                    f"must be the integer {FORMAT_VERSION} (the format this version reads), "
                    f"got {shown(version)}",
                )
            )
    elif require_version:
        problems.append(
            Problem(
                "version", f"missing: a schedule file must start with version = {FORMAT_VERSION}"
            )
        )
    try:
        schedule: Schedule = structure_fields(Schedule, params, "", registry)
    except ConfigError as exc:
        raise type(exc)([*problems, *exc.problems]) from None
    if problems:
        raise ConfigError(problems)
    return schedule
