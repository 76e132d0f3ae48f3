"""Groupings: how a model's layers are split into groups, input side first.

A grouping works on plain :class:`LayerInfo` records (the driver flattens a Keras model
into them, descending into nested models), so it is pure Python and testable without
TensorFlow. Every grouping returns groups in forward order: group 0 is nearest the
input, the last group is the head.

The default, :class:`Auto`, knows model families (:mod:`.known`: each a declarative
:class:`Family` matcher, registered by name like any grouping, so a plugin can add
one); :class:`PerLayer`, :class:`ByCount`, :class:`ByPatterns` and :class:`ByLayers`
are spelled out by the user.
"""

from __future__ import annotations

from .auto import Auto, Choice, balanced, describe, to_grouping
from .base import MANY_GROUPS, Group, Grouping, LayerInfo, many_groups_note, summarize
from .explicit import MAX_PATTERN_LENGTH, ByCount, ByLayers, ByPatterns, PerLayer
from .family import MIN_COVERAGE, Family, Match
from .known import FAMILIES

__all__ = [
    "Auto",
    "ByCount",
    "ByLayers",
    "ByPatterns",
    "Choice",
    "FAMILIES",
    "Family",
    "Group",
    "Grouping",
    "LayerInfo",
    "MANY_GROUPS",
    "MAX_PATTERN_LENGTH",
    "MIN_COVERAGE",
    "Match",
    "PerLayer",
    "balanced",
    "describe",
    "many_groups_note",
    "summarize",
    "to_grouping",
]
