"""Schedules as plain data: structuring with located errors, and back.

A component in a config is a mapping with a ``type`` naming a registered policy, rule
or grouping, plus its arguments: ``{"type": "plateau", "patience": 3}``. A registered
combinator may also be written ``{"any_of": [...]}``. Every problem in a config is
reported at once, each with its location: ``policy.any_of[1].patience: must be >= 0,
got -1``. Unknown keys are errors, with a did-you-mean.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .errors import ConfigError, Problem, UnknownTypeError, join_path
from .fields import check_field, convert, resolved_fields
from .registry import Kind, Registry

if TYPE_CHECKING:
    from .schedule import Schedule

__all__ = [
    "FORMAT_VERSION",
    "load_schedule",
    "structure",
    "structure_fields",
    "unstructure",
    "unstructure_fields",
]

FORMAT_VERSION = 1

_KIND_OF_FIELD: dict[str, Kind] = {
    "policy": "policy",
    "policies": "policy",
    "rule": "rule",
    "rules": "rule",
    "grouping": "grouping",
}


def _registry(registry: Registry | None) -> Registry:
    if registry is not None:
        return registry
    from .plugins import get_registry

    return get_registry()


def _unknown_key(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {key!r}; {hint}valid keys: {', '.join(valid) or '(none)'}"


def _expand_shorthand(data: Any, kind: Kind, registry: Registry) -> tuple[Any, dict[str, str]]:
    """``{"any_of": [...]}`` -> ``{"type": "any_of", "<children field>": [...]}``.

    Also returns how the children field was spelled, so errors point at what the user
    wrote (``policy.any_of[1]``).
    """
    if isinstance(data, Mapping) and "type" not in data and len(data) == 1:
        (name,) = data
        entry = registry.find(kind, name)
        if (
            entry is not None
            and entry.shorthand
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
        close = difflib.get_close_matches(str(key), shorthands, n=1)
        if close:
            return f"missing; {key!r} is not a {kind} either: did you mean {close[0]!r}?"
    return f"missing; known: {', '.join(known)}"


def structure(data: Any, kind: Kind, path: str = "", registry: Registry | None = None) -> Any:
    """Build the policy, rule or grouping that ``data`` describes.

    Raises:
        ConfigError: listing every problem found, each with its location under ``path``.
    """
    registry = _registry(registry)
    data, aliases = _expand_shorthand(data, kind, registry)
    if not isinstance(data, Mapping):
        raise ConfigError(
            [Problem(path, f"must be a table with a 'type' key naming a {kind}, got {data!r}")]
        )
    if "type" not in data:
        raise ConfigError(
            [
                Problem(
                    join_path(path, "type"),
                    _missing_type(data, kind, registry),
                )
            ]
        )
    name = data["type"]
    if not isinstance(name, str):
        raise ConfigError([Problem(join_path(path, "type"), f"must be a string, got {name!r}")])
    entry = registry.get(kind, name, path=join_path(path, "type"))
    params = {k: v for k, v in data.items() if k != "type"}
    if isinstance(entry.factory, type) and attrs.has(entry.factory):
        return structure_fields(entry.factory, params, path, registry, aliases)
    try:
        return entry.factory(**params)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise exc.prefixed(path) from None
        raise ConfigError(
            [Problem(path, f"{name} (from {entry.provider}) rejected its arguments: {exc}")]
        ) from None


def structure_fields(
    cls: type[Any],
    params: Mapping[str, Any],
    path: str,
    registry: Registry | None = None,
    aliases: Mapping[str, str] | None = None,
) -> Any:
    """Build the attrs class ``cls`` from ``params``, checking each field in place.

    ``aliases`` maps a field to the key the user wrote for it, for error locations.
    """
    aliases = aliases or {}
    registry = _registry(registry)
    fields = {f.name: f for f in resolved_fields(cls)}
    problems: list[Problem] = []
    error_type: type[ConfigError] = ConfigError
    kwargs: dict[str, Any] = {}
    for key in params:
        if key not in fields:
            problems.append(
                Problem(join_path(path, str(key)), _unknown_key(str(key), list(fields)))
            )
    for name, field in fields.items():
        where = join_path(path, aliases.get(name, name))
        if name not in params:
            if field.default is attrs.NOTHING:
                problems.append(Problem(where, "missing (required)"))
            continue
        value = params[name]
        nested = field.metadata.get("kind")
        try:
            if nested in ("policies", "rules"):
                if not isinstance(value, list):
                    problems.append(Problem(where, f"must be a list, got {value!r}"))
                    continue
                kwargs[name] = _structure_list(value, _KIND_OF_FIELD[nested], where, registry)
            elif nested is not None:
                kwargs[name] = structure(value, _KIND_OF_FIELD[nested], where, registry)
            else:
                value = convert(value, field.type)
                message = check_field(field, value)
                if message:
                    problems.append(Problem(where, message))
                else:
                    kwargs[name] = value
        except ConfigError as exc:
            problems.extend(exc.problems)
            if isinstance(exc, UnknownTypeError):
                error_type = UnknownTypeError
    if problems:
        raise error_type(problems)
    try:
        return cls(**kwargs)
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


def unstructure(obj: Any, registry: Registry | None = None) -> Any:
    """Plain data for a registered component; arguments at their default are left out."""
    registry = _registry(registry)
    entry = registry.entry_for(obj)
    if entry is None:
        get_config = getattr(obj, "get_config", None)
        name = getattr(obj, "type_name", None)
        if callable(get_config) and isinstance(name, str):
            return {"type": name, **get_config()}
        raise ConfigError(
            f"{obj!r} cannot be written as config: it is not registered. Register its class "
            "through a plugin hook (see docs/plugins.md), or give it a 'type_name' and a "
            "get_config() method."
        )
    out: dict[str, Any] = {"type": entry.name}
    if not attrs.has(type(obj)):
        get_config = getattr(obj, "get_config", None)
        if not callable(get_config):
            raise ConfigError(f"{entry.name} (from {entry.provider}) has no get_config()")
        out.update(get_config())
        return out
    out.update(unstructure_fields(obj, registry))
    if entry.shorthand and len(out) == 2:
        ((_, children),) = [(k, v) for k, v in out.items() if k != "type"]
        return {entry.name: children}
    return out


def unstructure_fields(obj: Any, registry: Registry | None = None) -> dict[str, Any]:
    """The fields of the attrs instance ``obj`` as plain data, defaults left out."""
    registry = _registry(registry)
    out: dict[str, Any] = {}
    for field in attrs.fields(type(obj)):
        value = getattr(obj, field.name)
        if field.default is not attrs.NOTHING and value == field.default:
            continue
        nested = field.metadata.get("kind")
        if nested in ("policies", "rules"):
            value = [unstructure(v, registry) for v in value]
        elif nested is not None:
            value = unstructure(value, registry)
        else:
            value = _plain(value)
        out[field.name] = value
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a ``.toml`` or ``.json`` file into plain data."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"{path}: unknown file type {suffix!r}; use .toml or .json")
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        if suffix == ".toml":
            data = tomllib.loads(text.decode("utf-8"))
        else:
            data = json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table, got {type(data).__name__}")
    return data


def load_schedule(
    source: Mapping[str, Any] | str | Path, registry: Registry | None = None
) -> Schedule:
    """A :class:`~unfreeze_core.Schedule` from a dict, or a ``.toml`` / ``.json`` path.

    Raises:
        ConfigError: every problem at once, each with its location (and the file name).

    Example:
        >>> from unfreeze_core import load_schedule
        >>> s = load_schedule({"version": 1, "policy": {"type": "fixed_epoch", "every": 5}})
        >>> s.policy
        FixedEpoch(every=5, at=None)
    """
    from .schedule import Schedule

    if isinstance(source, (str, Path)):
        data = read_config_file(source)
        try:
            return Schedule.from_config(data, registry=registry)
        except ConfigError as exc:
            raise type(exc)(exc.problems, source=str(source)) from None
    return Schedule.from_config(source, registry=registry)
