"""The default grouping: a known model family's blocks, else contiguous balanced groups."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from ..errors import ConfigError, Problem, join_path
from ..fields import arg, ge, shown
from .base import MANY_GROUPS, Group, LayerInfo, make_group, require_layers, summarize
from .explicit import ByCount, ByLayers, ByPatterns, PerLayer
from .family import MIN_COVERAGE, Family, Match
from .known import FAMILIES

__all__ = ["Auto", "Choice", "balanced", "describe", "to_grouping"]


@attrs.frozen
class Choice:
    """How :class:`Auto` grouped a model.

    Attributes:
        groups: the groups, input side first.
        rule: ``"family"``, ``"per_layer"`` or ``"balanced"``.
        reason: a sentence for people (``plan`` prints it).
        family: the family recognised, if any.
    """

    groups: tuple[Group, ...]
    rule: str
    reason: str
    family: Family | None = None


def _cut_points(layers: Sequence[LayerInfo]) -> list[int]:
    """Indices where a group may start (0 excluded): no block is split there."""
    return [i for i in range(1, len(layers)) if layers[i].cut_before]


def balanced(layers: Sequence[LayerInfo], n: int) -> tuple[Group, ...]:
    """At most ``n`` contiguous groups balanced by parameter count, cut only where
    ``LayerInfo.cut_before`` allows, each named after its first and last layer.

    Example:
        >>> las = [LayerInfo(f"l{i}", f"l{i}", 10) for i in range(6)]
        >>> [g.name for g in balanced(las, 3)]
        ['l0..l1', 'l2..l3', 'l4..l5']
    """
    points = _cut_points(layers)
    cumulative: list[int] = []
    total = 0
    for la in layers:
        total += la.n_params
        cumulative.append(total)
    # the running count before each allowed start
    before = [cumulative[p - 1] for p in points]
    chosen: list[int] = []  # indices into points
    for k in range(1, n):
        lo = chosen[-1] + 1 if chosen else 0
        hi = len(points) - (n - k)  # leave a start for each group still to place
        if lo >= len(points):
            break
        j = bisect.bisect_left(before, total * k / n)
        near = [c for c in (j - 1, j) if 0 <= c < len(points)]
        best = min(near, key=lambda c: abs(before[c] - total * k / n)) if near else lo
        chosen.append(min(max(best, lo), max(hi, lo)))
    bounds = [0, *(points[c] for c in chosen), len(layers)]
    groups: list[Group] = []
    seen: set[str] = set()
    for a, b in itertools.pairwise(bounds):
        part = layers[a:b]
        name = part[0].name if len(part) == 1 else f"{part[0].name}..{part[-1].name}"
        unique, k = name, 1
        while unique in seen:
            k += 1
            unique = f"{name}#{k}"
        seen.add(unique)
        groups.append(make_group(unique, part))
    return tuple(groups)


@attrs.frozen
class Auto:
    """The default: a known model family's blocks, else per layer or a few balanced groups.

    A model is matched against every known family (ResNet, VGG, EfficientNet, MobileNet,
    ConvNeXt, DenseNet, Xception from ``keras.applications``; BERT-family encoders,
    decoder language models, ViT and CLIP image encoders from ``keras_hub``; and those
    plugins add): the family whose blocks claim most of its layers groups it, stem first,
    the user's head last. A model no family explains keeps one group per weighted layer
    when it has at most ``max_groups`` of them, else gets ``max_groups`` contiguous
    groups balanced by parameter count, never splitting a residual block. ``per_layer``
    is the one-group-per-layer grouping by itself.
    """

    type_name: ClassVar[str] = "auto"

    max_groups: int = arg(
        MANY_GROUPS, ge(1), doc="Most groups for a model of no known family."
    )

    def choose(
        self, layers: Sequence[LayerInfo], families: Sequence[Family] | None = None
    ) -> Choice:
        """The groups of ``layers`` and why (``families``: those to try, default the
        built-in ones; the Keras driver passes the installed plugins')."""
        require_layers(layers, "Auto")
        tried = FAMILIES if families is None else tuple(families)
        matches = [m for m in (f.match(layers) for f in tried) if m is not None]
        best: Match | None = max(matches, key=lambda m: m.coverage, default=None)
        if best is not None and best.coverage >= MIN_COVERAGE:
            return Choice(best.groups, "family", best.reason, best.family)
        n = len(layers)
        if n <= self.max_groups:
            groups = PerLayer().resolve(layers)
            return Choice(
                groups, "per_layer",
                f"no known family: {n} weighted layer{'s' * (n != 1)}, one group each",
            )
        groups = balanced(layers, self.max_groups)
        return Choice(
            groups, "balanced",
            f"no known family: {n} weighted layers in {len(groups)} contiguous groups "
            "balanced by parameters (residual blocks kept whole); give groups=<count> or "
            "patterns to choose",
        )

    def resolve(self, layers: Sequence[LayerInfo]) -> tuple[Group, ...]:
        return self.choose(layers).groups


def to_grouping(value: Any) -> Any:
    """The Python short forms of ``Schedule(groups=...)``, mapped straight to classes.

    ``"auto"`` is :class:`Auto`, ``"per_layer"`` is :class:`PerLayer`, an integer ``n``
    is ``ByCount(n)``, a list of strings is :class:`ByPatterns`, a list of lists is
    :class:`ByLayers` (a dict of lists: named groups); anything else is returned as it is
    (a grouping object). Names of other groupings (the families: ``"resnet"``, ...)
    are resolved only from configs, through the registry
    (:func:`~unfreeze_core.load_schedule`).

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
            if value == "per_layer":
                return PerLayer()
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
        if isinstance(value, dict) and value:
            return ByLayers(groups=value)
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


def describe(grouping: Any, groups: Sequence[Group]) -> str:
    """A sentence saying how ``grouping`` made ``groups`` (what ``plan`` prints for a
    grouping other than :class:`Auto`, whose :meth:`Auto.choose` says it itself).

    Example:
        >>> describe(ByCount(2), [Group("group_0", ("a",), 1), Group("group_1", ("b",), 1)])
        '2 contiguous groups balanced by parameters (groups=2)'
    """
    n = len(groups)
    names = summarize([g.name for g in groups])
    plural = "s" * (n != 1)
    if isinstance(grouping, Family):
        return f"{grouping.title} ({grouping.source}) blocks, as asked: {n} group{plural}: {names}"
    if isinstance(grouping, PerLayer):
        return f"one group per weighted layer: {n} group{plural}"
    if isinstance(grouping, ByCount):
        return f"{n} contiguous group{plural} balanced by parameters (groups={grouping.n})"
    if isinstance(grouping, ByPatterns):
        k = len(grouping.patterns)
        return f"{n} group{plural} from {k} pattern{'s' * (k != 1)}: {names}"
    if isinstance(grouping, ByLayers):
        return f"{n} group{plural} listed by layer: {names}"
    return f"{type(grouping).__name__}: {n} group{plural}: {names}"
