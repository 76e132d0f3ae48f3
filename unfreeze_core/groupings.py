"""Groupings: how a model's layers are split into groups, input side first.

A grouping works on plain :class:`LayerInfo` records (the driver flattens a Keras model
into them, descending into nested models), so it is pure Python and testable without
TensorFlow. Every grouping returns groups in forward order: group 0 is nearest the
input, the last group is the head.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import attrs

from .errors import ConfigError, Problem, join_path
from .fields import REQUIRED, arg, described, each, ge, non_empty, shown

__all__ = [
    "Auto",
    "ByCount",
    "ByLayers",
    "ByPatterns",
    "Group",
    "Grouping",
    "LayerInfo",
    "MAX_PATTERN_LENGTH",
    "to_grouping",
]

MAX_PATTERN_LENGTH = 1000
"""The longest group pattern accepted (longer ones are refused before compiling)."""


@attrs.frozen
class LayerInfo:
    """One layer that owns weights, as the driver sees it.

    ``path`` is unique (``"resnet50/conv2_block1_1_conv"`` for a layer nested in a
    backbone); ``name`` is the layer's own name.
    """

    path: str
    name: str
    n_params: int
    is_batchnorm: bool = False


@attrs.frozen
class Group:
    """A named, ordered set of layers (by path) that unfreezes together."""

    name: str
    layers: tuple[str, ...]
    n_params: int


@runtime_checkable
class Grouping(Protocol):
    """What a grouping implements: layers in, groups out (input side first)."""

    def resolve(self, layers: Sequence[LayerInfo]) -> tuple[Group, ...]: ...


def _group(name: str, members: Sequence[LayerInfo]) -> Group:
    return Group(name, tuple(m.path for m in members), sum(m.n_params for m in members))


def _available(layers: Sequence[LayerInfo], limit: int = 40) -> str:
    names = [la.path for la in layers]
    shown = ", ".join(names[:limit])
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return shown + more


def _require_layers(layers: Sequence[LayerInfo], source: str) -> None:
    if not layers:
        raise ConfigError(
            [Problem("groups", "the model has no layer with weights to group")], source=source
        )


@attrs.frozen
class Auto:
    """Every layer that owns weights is its own group, in forward order."""

    type_name: ClassVar[str] = "auto"

    def resolve(self, layers: Sequence[LayerInfo]) -> tuple[Group, ...]:
        _require_layers(layers, "Auto")
        return tuple(_group(la.path, [la]) for la in layers)


@attrs.frozen
class ByCount:
    """``n`` contiguous groups, balanced by parameter count.

    Cuts are placed where the running parameter count is nearest to ``k/n`` of the
    total, keeping every group non-empty.
    """

    type_name: ClassVar[str] = "count"

    n: int = arg(REQUIRED, ge(1), doc="Number of groups.")

    def resolve(self, layers: Sequence[LayerInfo]) -> tuple[Group, ...]:
        _require_layers(layers, "ByCount")
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
        return tuple(_group(f"group_{g}", layers[bounds[g] : bounds[g + 1]]) for g in range(self.n))


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
        _require_layers(layers, "ByPatterns")
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
                f"{self.patterns[i]!r} matches no layer; layers are: {_available(layers)}",
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
        return tuple(_group(name, members[name]) for name in order)


@attrs.frozen
class ByLayers:
    """Explicit groups: lists of layer names (or paths), input side first.

    Layers listed nowhere stay frozen for the whole run.
    """

    type_name: ClassVar[str] = "layers"

    groups: Sequence[Sequence[str]] = arg(
        REQUIRED, non_empty, each(non_empty), doc="Lists of layer names, input side first."
    )

    def resolve(self, layers: Sequence[LayerInfo]) -> tuple[Group, ...]:
        _require_layers(layers, "ByLayers")
        by_key: dict[str, LayerInfo] = {}
        for la in layers:
            by_key.setdefault(la.path, la)
            by_key.setdefault(la.name, la)
        problems: list[Problem] = []
        seen: dict[str, str] = {}
        result = []
        for g, names in enumerate(self.groups):
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
                            where, f"no layer named {name!r}{hint} Layers are: {_available(layers)}"
                        )
                    )
                    continue
                if found.path in seen:
                    problems.append(
                        Problem(where, f"layer {name!r} is already in {seen[found.path]}")
                    )
                    continue
                seen[found.path] = f"group {g}"
                members.append(found)
            result.append(_group(f"group_{g}", members))
        if problems:
            raise ConfigError(problems, source="ByLayers")
        return tuple(result)


def to_grouping(value: Any) -> Any:
    """The Python short forms of ``Schedule(groups=...)``, mapped straight to classes.

    ``"auto"`` is :class:`Auto`, an integer ``n`` is ``ByCount(n)``, a list of strings
    is :class:`ByPatterns`, a list of lists is :class:`ByLayers`; anything else is
    returned as it is (a grouping object). Names of other groupings are resolved only
    from configs, through the registry (:func:`~unfreeze_core.load_schedule`).

    Example:
        >>> to_grouping(4), to_grouping(["conv4_", "conv5_"]).patterns
        (ByCount(n=4), ('conv4_', 'conv5_'))
    """
    if isinstance(value, bool):
        return value
    try:
        if isinstance(value, str):
            if value == "auto":
                return Auto()
            raise ConfigError(
                [
                    Problem(
                        "",
                        f"a grouping given by name ({shown(value)}) is read only from configs: "
                        "use load_schedule({..., 'groups': name}), or pass a grouping object "
                        "(Auto(), ByCount(n), ByPatterns(...), ByLayers(...))",
                    )
                ]
            )
        if isinstance(value, int):
            return ByCount(value)
        if isinstance(value, (list, tuple)) and value:
            if all(isinstance(v, str) for v in value):
                return ByPatterns(patterns=tuple(value))
            if all(isinstance(v, (list, tuple)) for v in value):
                return ByLayers(groups=tuple(tuple(v) for v in value))
    except ConfigError as exc:
        raise ConfigError(
            [Problem(join_path("groups", p.path), p.message) for p in exc.problems],
            source="Schedule",
        ) from None
    return value
