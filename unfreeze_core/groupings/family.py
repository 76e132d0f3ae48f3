"""A model family as plain data: how to recognise it and where its blocks are.

A :class:`Family` is a declarative matcher over layer paths. ``detect`` holds regular
expressions that must each find a layer (``resnet`` needs ``conv2_block1_`` and
``conv5_block``...), ``exclude`` ones that must find none (so DenseNet, which shares
ResNet's ``conv2_block1_`` names, is not taken for one); ``blocks`` maps block names to
the expressions of their layers, input side first. The default grouping
(:class:`~unfreeze_core.Auto`) tries every known family on a model and groups it by the
one that explains most of its layers. A family is also a grouping of its own, usable by
name (``groups = "resnet"``), and a plugin adds one through ``register_groupings``::

    from unfreeze_core.groupings import Family

    MY_NET = Family(
        name="mynet", title="MyNet", source="my_zoo",
        detect=(r"(?:^|/)mynet_stage1_",), blocks=(("stage{0}", r"(?:^|/)mynet_stage(\\d)_"),),
    )

    @hookimpl
    def register_groupings(register):
        register("mynet", MY_NET)
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, Problem
from .base import Group, LayerInfo, make_group, require_layers, summarize

__all__ = ["MIN_COVERAGE", "Family", "Match"]

#: The share of a model's layers a family's blocks must claim for it to be recognised.
MIN_COVERAGE = 0.5


@dataclasses.dataclass(frozen=True)
class Match:
    """What a family makes of a model: the share of layers its blocks claim, and groups."""

    family: Family
    coverage: float
    groups: tuple[Group, ...]

    @property
    def reason(self) -> str:
        """``"recognised as ResNet (keras.applications): 6 groups: conv1, conv2..conv5,
        head"``."""
        names = [g.name for g in self.groups]
        return (
            f"recognised as {self.family.title} ({self.family.source}): {len(names)} "
            f"group{'s' * (len(names) != 1)}: {summarize(names)}"
        )


@dataclasses.dataclass(frozen=True)
class Family:
    """A model family: how to recognise it from layer paths, and its blocks in order.

    Attributes:
        name: the grouping's name in configs (``groups = "resnet"``).
        title: the family for people (``"ResNet"``).
        source: where such models come from (``"keras.applications"``).
        detect: expressions (searched in layer paths) that must each match a layer.
        blocks: ``(name, expression)`` pairs, input side first. A layer joins the block
            of the first expression that matches its path; ``name`` may use the
            expression's captured values (``("conv{0}", r"(?:^|/)conv(\\d)_")`` makes
            ``conv1`` ... ``conv5``). Blocks with the same name are one group.
        exclude: expressions that must match no layer.
        stem: the group of layers before the first block's (if any).
        head: the group of layers after the last block's (the user's classifier).
        notes: how the blocks were chosen, for the docs.

    Groups keep the order of their first layer in the model's forward order; a layer
    no block claims joins the group before it (a residual block's unnamed shortcut
    convolution joins its block).
    """

    name: str
    title: str
    source: str
    detect: tuple[str, ...]
    blocks: tuple[tuple[str, str], ...]
    exclude: tuple[str, ...] = ()
    stem: str = "stem"
    head: str = "head"
    notes: str = ""

    def __post_init__(self) -> None:
        for rx in (*self.detect, *self.exclude, *(b for _, b in self.blocks)):
            re.compile(rx)
        object.__setattr__(self, "__doc__", f"{self.title} ({self.source}): {self.notes}")

    @property
    def type_name(self) -> str:
        """The name configs use for this family."""
        return self.name

    @property
    def __name__(self) -> str:  # the reference docs' "Python:" line
        return f"Family {self.name!r}"

    def __call__(self, **params: Any) -> Family:
        """The family as a grouping (the registry calls a factory with a config's keys)."""
        if params:
            raise ConfigError(
                [Problem(sorted(params)[0], f"the {self.title} grouping takes no arguments")]
            )
        return self

    def get_config(self) -> dict[str, Any]:
        """Nothing but its name: a family is written ``groups = "resnet"``."""
        return {}

    @functools.cached_property
    def _compiled(self) -> tuple[list[re.Pattern[str]], ...]:
        return (
            [re.compile(rx) for rx in self.detect],
            [re.compile(rx) for rx in self.exclude],
            [re.compile(rx) for _, rx in self.blocks],
        )

    def match(self, layers: Sequence[LayerInfo]) -> Match | None:
        """The groups of ``layers`` if they look like this family, else ``None``."""
        detect, exclude, blocks = self._compiled
        paths = [la.path for la in layers]
        if not layers or not all(any(rx.search(p) for p in paths) for rx in detect):
            return None
        if any(rx.search(p) for rx in exclude for p in paths):
            return None
        keys: list[str | None] = []
        for p in paths:
            key = None
            for (template, _), rx in zip(self.blocks, blocks, strict=True):
                m = rx.search(p)
                if m:
                    key = template.format(*m.groups())
                    break
            keys.append(key)
        claimed = [i for i, k in enumerate(keys) if k is not None]
        if not claimed:
            return None
        coverage = len(claimed) / len(layers)
        order: list[str] = []
        members: dict[str, list[LayerInfo]] = {}
        current = self.stem
        for i, (la, key) in enumerate(zip(layers, keys, strict=True)):
            if key is not None:
                current = key
            elif i > claimed[-1]:
                current = self.head
            if current not in members:
                order.append(current)
                members[current] = []
            members[current].append(la)
        return Match(self, coverage, tuple(make_group(n, members[n]) for n in order))

    def resolve(self, layers: Sequence[LayerInfo]) -> tuple[Group, ...]:
        """The family's groups, whether or not :class:`~unfreeze_core.Auto` would have
        recognised the model (asked for by name, it is used as long as one block matches).

        Raises:
            ConfigError: no layer belongs to any of the family's blocks.
        """
        require_layers(layers, self.title)
        found = dataclasses.replace(self, detect=(), exclude=()).match(layers)
        if found is None:
            raise ConfigError(
                [Problem("groups", f"no layer matches a block of the {self.title} family")],
                source=self.title,
            )
        return found.groups
