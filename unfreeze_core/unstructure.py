"""Components back to plain data (the writing half of configs), without any registry.

A component names itself in configs with a class attribute ``type_name``
(``Plateau.type_name == "plateau"``); a combinator that is written in short form
(``{"any_of": [...]}``) also sets ``config_shorthand = True``. So writing a schedule
(:meth:`Schedule.to_config <unfreeze_core.Schedule.to_config>`) never loads plugins.
A registry is consulted only when one is passed explicitly. Reading configs back needs
the registry: see :mod:`unfreeze_core.config`.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import attrs

from .errors import ConfigError

__all__ = ["FORMAT_VERSION", "NameLookup", "config_name", "unstructure", "unstructure_fields"]

FORMAT_VERSION = 1
"""The config format this version writes and reads (the ``version`` key)."""


class NameLookup(Protocol):
    """What writing needs of a registry: the entry (``.name``, ``.shorthand``) of a
    component, or ``None``."""

    def entry_for(self, obj: Any) -> Any: ...


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def config_name(obj: Any, registry: NameLookup | None = None) -> tuple[str, bool]:
    """The ``type`` that ``obj`` is written with, and whether it uses the short form.

    Raises:
        ConfigError: the class declares no ``type_name`` (and ``registry`` does not
            know it either).
    """
    if registry is not None:
        entry = registry.entry_for(obj)
        if entry is not None:
            shorthand = bool(entry.shorthand or getattr(obj, "config_shorthand", False))
            return entry.name, shorthand
    name = getattr(obj, "type_name", None)
    if isinstance(name, str):
        return name, bool(getattr(obj, "config_shorthand", False))
    cls = type(obj).__name__
    raise ConfigError(
        f"{obj!r} cannot be written as config: {cls} declares no config name. Declare "
        f"type_name = {_snake(cls)!r} on the class (the name it is registered under), "
        "or pass registry= to to_config()."
    )


def unstructure(obj: Any, registry: NameLookup | None = None) -> Any:
    """Plain data for a component; arguments at their default are left out.

    Example:
        >>> from unfreeze_core import Plateau, FixedEpoch
        >>> unstructure(Plateau(patience=3) | FixedEpoch(every=2))
        {'any_of': [{'type': 'plateau', 'patience': 3}, {'type': 'fixed_epoch', 'every': 2}]}
    """
    name, shorthand = config_name(obj, registry)
    out: dict[str, Any] = {"type": name}
    if not attrs.has(type(obj)):
        get_config = getattr(obj, "get_config", None)
        if not callable(get_config):
            raise ConfigError(
                f"{name} ({type(obj).__name__}) cannot be written as config: it is not an "
                "attrs class and has no get_config() method"
            )
        out.update(get_config())
        return out
    out.update(unstructure_fields(obj, registry))
    if shorthand and len(out) == 2:
        ((_, children),) = [(k, v) for k, v in out.items() if k != "type"]
        return {name: children}
    return out


def unstructure_fields(obj: Any, registry: NameLookup | None = None) -> dict[str, Any]:
    """The fields of the attrs instance ``obj`` as plain data, defaults left out."""
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
