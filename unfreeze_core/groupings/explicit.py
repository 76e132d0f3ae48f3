"""The groupings a user spells out: one group per layer, a count, patterns, layer lists."""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs

from ..errors import ConfigError, Problem
from ..fields import REQUIRED, arg, described, each, ge, non_empty, shown
from .base import Group, LayerInfo, available, make_group, require_layers

__all__ = ["MAX_PATTERN_LENGTH", "ByCount", "ByLayers", "ByPatterns", "PerLayer"]

MAX_PATTERN_LENGTH = 1000
"""The longest group pattern accepted (longer ones are refused before compiling)."""


@attrs.frozen
class PerLayer:
    """Every layer that owns weights is its own group, in forward order.

    What ``Auto`` gives a model of at most 16 weighted layers that it does not
    recognise; a big network this way has as many stages as layers.
    """

    type_name: ClassVar[str] = "per_layer"

    def resolve(self, layers: Sequence[LayerInfo]) -> tuple[Group, ...]:
        require_layers(layers, "PerLayer")
        return tuple(make_group(la.path, [la]) for la in layers)


@attrs.frozen
class ByCount:
    """``n`` contiguous groups, balanced by parameter count.

    Cuts are placed where the running parameter count is nearest to ``k/n`` of the
    total, keeping every group non-empty.
    """

    type_name: ClassVar[str] = "count"

    n: int = arg(REQUIRED, ge(1), doc="Number of groups.")

    @property
    def group_names(self) -> tuple[str, ...]:
        """The groups' names: ``group_0``, ``group_1``, ..."""
        return tuple(f"group_{g}" for g in range(self.n))

    def resolve(self, layers: Sequence[LayerInfo]) -> tuple[Group, ...]:
        require_layers(layers, "ByCount")
        if self.n > len(layers):
            raise ConfigError(
                [
                    Problem(
                        "groups.n", f"must be <= {len(layers)} (layers with weights), got {self.n}"
                    )
                ],
                source="ByCount",
            )
        cumulative: list[int] = []
        total = 0
        for la in layers:
            total += la.n_params
            cumulative.append(total)
        cuts: list[int] = []  # exclusive end index of each group but the last
        for k in range(1, self.n):
            target = total * k / self.n
            i = bisect.bisect_left(cumulative, target)
            if i < len(cumulative) - 1 and abs(cumulative[i + 1] - target) < abs(
                cumulative[i] - target
            ):
                i += 1
            end = i + 1
            low = (cuts[-1] if cuts else 0) + 1
            high = len(layers) - (self.n - k)
            cuts.append(min(max(end, low), high))
        bounds = [0, *cuts, len(layers)]
        return tuple(
            make_group(name, layers[bounds[g] : bounds[g + 1]])
            for g, name in enumerate(self.group_names)
        )


@described("a valid regular expression")
def _regex_problem(pattern: Any) -> str | None:
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"must be at most {MAX_PATTERN_LENGTH} characters, got {len(pattern)}"
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:  # a{4294967296}, (((((...
        return f"not a valid regular expression ({exc}): {shown(pattern)}"
    return None


@attrs.frozen
class ByPatterns:
    """Groups from ordered regular expressions, searched in each layer's path.

    A layer joins the group of the first pattern that matches it. A pattern with a
    capturing group makes one group per captured value (``transformer_layer_(\\d+)``
    gives one group per transformer layer). Layers that match nothing join the group
    before them; those before the first match form a group named ``"stem"``, and those
    after the last pattern's layers form ``"head"`` when ``head=True`` (default).
    Groups are ordered by their first layer.
    """

    type_name: ClassVar[str] = "patterns"

    patterns: Sequence[str] = arg(
        REQUIRED, non_empty, each(_regex_problem), doc="Regular expressions, input side first."
    )
    head: bool = arg(True, doc="Give unmatched top layers a group of their own.")

    def resolve(self, layers: Sequence[LayerInfo]) -> tuple[Group, ...]:
        require_layers(layers, "ByPatterns")
        compiled = [re.compile(p) for p in self.patterns]
        keys: list[str | None] = []
        matched = [False] * len(compiled)
        for la in layers:
            key = None
            for i, rx in enumerate(compiled):
                m = rx.search(la.path)
                if m:
                    matched[i] = True
                    key = f"{self.patterns[i]}" if not m.groups() else f"{m.group(0)}"
                    break
            keys.append(key)
        problems = [
            Problem(
                f"groups.patterns[{i}]",
                f"{self.patterns[i]!r} matches no layer; layers are: {available(layers)}",
            )
            for i, ok in enumerate(matched)
            if not ok
        ]
        if problems:
            raise ConfigError(problems, source="ByPatterns")
        last_match = max(i for i, k in enumerate(keys) if k is not None)
        order: list[str] = []
        members: dict[str, list[LayerInfo]] = {}
        current = "stem"
        for i, (la, key) in enumerate(zip(layers, keys, strict=True)):
            if key is not None:
                current = key
            elif i > last_match and self.head:
                current = "head"
            if current not in members:
                order.append(current)
                members[current] = []
            members[current].append(la)
        return tuple(make_group(name, members[name]) for name in order)


@described("non-empty lists of layer names (or a table of them by group name)")
def _layer_lists_problem(value: Any) -> str | None:
    if not isinstance(value, Mapping) and (
        isinstance(value, str) or not isinstance(value, Sequence)
    ):
        return f"must be a list of lists of layer names, or a table of them, got {shown(value)}"
    lists = list(value.values()) if isinstance(value, Mapping) else list(value)
    if not lists:
        return "must not be empty"
    for i, names in enumerate(lists):
        key = repr(list(value)[i]) if isinstance(value, Mapping) else str(i)
        if isinstance(names, str) or not isinstance(names, Sequence):
            return f"[{key}] must be a list of layer names, got {shown(names)}"
        if not names:
            return f"[{key}] must not be empty"
        if not all(isinstance(n, str) for n in names):
            return f"[{key}] must hold layer names (strings), got {shown(names)}"
    return None


@attrs.frozen
class ByLayers:
    """Explicit groups: lists of layer names (or paths), input side first.

    Name the groups with a dict (``ByLayers({"embeddings": [...], "encoder": [...]})``,
    a table in configs) or with ``names=[...]``; unnamed groups are ``group_0``,
    ``group_1``, ... . The names appear in plans, messages, logs and plots. Layers
    listed nowhere stay frozen for the whole run.

    Example:
        >>> g = ByLayers({"low": ["conv1"], "high": ["conv2", "conv3"]})
        >>> g.groups, g.names
        ((('conv1',), ('conv2', 'conv3')), ('low', 'high'))
    """

    type_name: ClassVar[str] = "layers"

    groups: Sequence[Sequence[str]] | Mapping[str, Sequence[str]] = arg(
        REQUIRED,
        _layer_lists_problem,
        doc="Lists of layer names, input side first; a table names each group.",
    )
    names: Sequence[str] | None = arg(
        None, doc="A name per group (default: the table's keys, else group_0, group_1, ...)."
    )

    def __attrs_post_init__(self) -> None:
        groups: Any = self.groups
        if isinstance(groups, Mapping):
            if self.names is not None:
                raise ConfigError(
                    [Problem("names", "give names either as the table's keys or as names=")],
                    source="ByLayers",
                )
            object.__setattr__(self, "names", tuple(str(k) for k in groups))
            groups = groups.values()
        object.__setattr__(self, "groups", tuple(tuple(g) for g in groups))
        names = self.names
        if names is not None:
            problem = None
            if len(names) != len(self.groups):
                problem = f"gives {len(names)} names for {len(self.groups)} groups"
            elif len(set(names)) != len(names):
                twice = sorted({n for n in names if list(names).count(n) > 1})
                problem = f"names a group twice: {', '.join(map(repr, twice))}"
            elif not all(isinstance(n, str) and n.strip() for n in names):
                problem = "must be non-empty strings"
            if problem:
                raise ConfigError([Problem("names", problem)], source="ByLayers")
            object.__setattr__(self, "names", tuple(names))

    @property
    def group_names(self) -> tuple[str, ...]:
        """The groups' names: ``names`` when given, else ``group_0``, ``group_1``, ..."""
        if self.names is not None:
            return tuple(self.names)
        return tuple(f"group_{g}" for g in range(len(self.groups)))

    def resolve(self, layers: Sequence[LayerInfo]) -> tuple[Group, ...]:
        require_layers(layers, "ByLayers")
        by_key: dict[str, LayerInfo] = {}
        for la in layers:
            by_key.setdefault(la.path, la)
            by_key.setdefault(la.name, la)
        problems: list[Problem] = []
        seen: dict[str, str] = {}
        result = []
        for g, (label, names) in enumerate(zip(self.group_names, self.groups, strict=True)):
            members = []
            for j, name in enumerate(names):
                where = f"groups.groups[{g}][{j}]"
                found = by_key.get(name)
                if found is None:
                    close = difflib.get_close_matches(name, list(by_key), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    hint += "."
                    problems.append(
                        Problem(
                            where, f"no layer named {name!r}{hint} Layers are: {available(layers)}"
                        )
                    )
                    continue
                if found.path in seen:
                    problems.append(
                        Problem(where, f"layer {name!r} is already in {seen[found.path]}")
                    )
                    continue
                seen[found.path] = f"group {label!r}" if self.names is not None else f"group {g}"
                members.append(found)
            result.append(make_group(label, members))
        if problems:
            raise ConfigError(problems, source="ByLayers")
        return tuple(result)
