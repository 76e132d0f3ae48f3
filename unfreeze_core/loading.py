"""``load_schedule``: a schedule from a dict or a TOML/JSON file, with the installed plugins.

The façade over :mod:`unfreeze_core.config`: the only place that defaults to the
installed plugins' registry (:func:`unfreeze_core.plugins.get_registry`). For bad
input it raises :class:`~unfreeze_core.ConfigError` (or a subclass) and nothing else,
each problem located, with the file name as its source.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import MAX_DEPTH, check_depth, structure_schedule
from .errors import ConfigError, Problem, join_path
from .fields import key_path, shown
from .plugins import get_registry
from .registry import Registry
from .schedule import Schedule

__all__ = ["MAX_FILE_BYTES", "load_schedule", "read_config_file"]

MAX_FILE_BYTES = 1_000_000
"""The largest schedule file read (a schedule is a few hundred bytes)."""


class _Repeated(dict[str, Any]):
    """A JSON object in which some keys were given twice (listed in ``repeated``)."""

    repeated: list[str]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    repeated = []
    for key, value in pairs:
        if key in out:
            repeated.append(key)
        out[key] = value
    if not repeated:
        return out
    marked = _Repeated(out)
    marked.repeated = repeated
    return marked


def _repeated_keys(data: Any) -> list[Problem]:
    """Every key given twice in a JSON object, located (``data`` is at most MAX_DEPTH deep)."""
    problems = []
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, _Repeated):
            problems += [
                Problem(join_path(path, key_path(k)), "given twice (JSON keys must be unique)")
                for k in dict.fromkeys(value.repeated)
            ]
        if isinstance(value, dict):
            stack += [(v, join_path(path, key_path(k))) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, f"{path}[{i}]") for i, v in enumerate(value)]
    return sorted(problems, key=lambda p: p.path)


def _parse(text: str, suffix: str) -> Any:
    if suffix == ".toml":
        return tomllib.loads(text)
    return json.loads(text, object_pairs_hook=_no_duplicates)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a ``.toml`` or ``.json`` file into plain data (JSON keys must be unique).

    Raises:
        ConfigError: the file cannot be read, is not valid TOML/JSON, holds a number
            with more digits than Python reads, nests deeper than ``MAX_DEPTH``, or is
            not a table at the top level.
    """
    path = Path(path)
    where = str(path)
    suffix = path.suffix.lower()
    kind = suffix[1:].upper()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"unknown file type {shown(suffix)}; use .toml or .json", source=where)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read it: {exc.strerror or exc}", source=where) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"larger than {MAX_FILE_BYTES} bytes; is it a schedule?", source=where)
    try:
        data = _parse(raw.decode("utf-8"), suffix)
    except RecursionError:
        raise ConfigError(
            f"nested deeper than Python can read; a schedule nests at most {MAX_DEPTH} "
            "tables and lists (MAX_DEPTH)",
            source=where,
        ) from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid {kind}: {exc}", source=where) from None
    except ValueError as exc:  # an integer over sys.get_int_max_str_digits() digits
        digits = sys.get_int_max_str_digits()
        said = f"a number has more than {digits} digits" if "digits" in str(exc) else str(exc)
        raise ConfigError(f"not valid {kind}: {said}", source=where) from None
    if not isinstance(data, dict):
        raise ConfigError(f"the top level must be a table, got {type(data).__name__}", source=where)
    try:
        check_depth(data)
    except ConfigError as exc:
        raise ConfigError(exc.problems, source=where) from None
    repeated = _repeated_keys(data)
    if repeated:
        raise ConfigError(repeated, source=where)
    return data


def load_schedule(
    source: Mapping[str, Any] | str | Path, registry: Registry | None = None
) -> Schedule:
    """A :class:`~unfreeze_core.Schedule` from a dict, or a ``.toml`` / ``.json`` path.

    Names are resolved in ``registry``, by default the installed plugins' (loaded on
    first use). A file must say ``version = 1``; a dict may leave it out.

    Raises:
        ConfigError: every problem at once, each with its location (and the file name).

    Example:
        >>> from unfreeze_core import load_schedule
        >>> s = load_schedule({"version": 1, "policy": {"type": "fixed_epoch", "every": 5}})
        >>> s.policy
        FixedEpoch(every=5, at=None)
    """
    registry = registry if registry is not None else get_registry()
    if isinstance(source, (str, Path)):
        data = read_config_file(source)
        try:
            return structure_schedule(data, registry, require_version=True)
        except ConfigError as exc:
            exc.source = str(source)
            exc.args = (str(ConfigError(exc.problems, source=str(source))),)
            raise
    return structure_schedule(source, registry)
