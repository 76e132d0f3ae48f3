"""The records every grouping works on, and what they share.

A grouping works on plain :class:`LayerInfo` records (the driver flattens a Keras model
into them, descending into nested models), so it is pure Python and testable without
TensorFlow. Every grouping returns groups in forward order: group 0 is nearest the
input, the last group is the head.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from ..errors import ConfigError, Problem

__all__ = ["MANY_GROUPS", "Group", "Grouping", "LayerInfo", "many_groups_note", "summarize"]

#: More groups than this make a schedule of that many stages: plan and the driver say so.
MANY_GROUPS = 16


@attrs.frozen
class LayerInfo:
    """One layer that owns weights, as the driver sees it.

    ``path`` is unique (``"resnet50/conv2_block1_1_conv"`` for a layer nested in a
    backbone); ``name`` is the layer's own name. ``cut_before`` is ``False`` when a
    tensor computed before this layer skips past it (the layer sits inside a residual
    block, after the block's input was branched off): a group starting here would split
    the block. The driver computes it from the functional graph; groupings that cut by
    structure only cut where it is ``True``.
    """

    path: str
    name: str
    n_params: int
    is_batchnorm: bool = False
    cut_before: bool = True


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


def make_group(name: str, members: Sequence[LayerInfo]) -> Group:
    """The group ``name`` of ``members``, its parameters counted."""
    return Group(name, tuple(m.path for m in members), sum(m.n_params for m in members))


def available(layers: Sequence[LayerInfo], limit: int = 40) -> str:
    """The first ``limit`` layer paths, for messages."""
    names = [la.path for la in layers]
    shown = ", ".join(names[:limit])
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return shown + more


def require_layers(layers: Sequence[LayerInfo], source: str) -> None:
    """Refuse an empty model."""
    if not layers:
        raise ConfigError(
            [Problem("groups", "the model has no layer with weights to group")], source=source
        )


_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def summarize(names: Sequence[str], limit: int = 8) -> str:
    """Group names for a sentence, runs of numbered names shortened.

    Example:
        >>> summarize(["conv1", "conv2", "conv3", "conv4", "conv5", "head"])
        'conv1..conv5, head'
        >>> summarize(["embeddings", "layer_0", "layer_1", "head"])
        'embeddings, layer_0, layer_1, head'
    """
    parts: list[str] = []
    i = 0
    while i < len(names):
        m = _NUMBERED.match(names[i])
        j = i
        if m:
            stem, number = m.group(1), int(m.group(2))
            while j + 1 < len(names):
                nxt = _NUMBERED.match(names[j + 1])
                if not (nxt and nxt.group(1) == stem and int(nxt.group(2)) == number + j + 1 - i):
                    break
                j += 1
        parts.append(f"{names[i]}..{names[j]}" if j - i >= 2 else ", ".join(names[i : j + 1]))
        i = j + 1
    if len(parts) > limit:
        parts = [*parts[: limit - 2], "...", parts[-1]]
    return ", ".join(parts)


def many_groups_note(n: int) -> str | None:
    """A sentence when ``n`` groups are more than :data:`MANY_GROUPS` (``None`` otherwise).

    Example:
        >>> many_groups_note(4) is None
        True
        >>> many_groups_note(53)[:48]
        '53 groups: the schedule has up to 53 stages, one'
    """
    if n <= MANY_GROUPS:
        return None
    return (
        f"{n} groups: the schedule has up to {n} stages, one unfreeze each. To unfreeze "
        "by blocks, give a count (groups=8) or patterns (groups=['block1_', 'block2_', "
        "...]); see the groupings guide"
    )
