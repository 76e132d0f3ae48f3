"""What the driver tells a user about the groups: too many, or some that cannot train.

:func:`unreached_layers` finds the weighted layers no output of the model depends on
(``pooled_dense`` in a ``keras_hub`` BERT whose user reads only ``sequence_output``):
they never receive a gradient, so training them does nothing and Keras, if nothing
else trains, says "did you forget to provide a loss?". It reads the functional graph
through public API only (the model's config, and a sub-model per nested backbone of the
outputs actually read). :class:`GroupAdvice` turns that and the group count into
warnings: one at train begin when a grouping gives more than
:data:`~unfreeze_core.groupings.MANY_GROUPS` groups, and one per group, at the first
stage that trains it, naming its layers that get no gradient.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import keras

from ..errors import UnfreezeWarning
from ..groupings import many_groups_note
from .graph import used_outputs
from .layers import iter_sublayers

__all__ = ["GroupAdvice", "unreached_layers"]


def _unreached_in(model: Any, prefix: str) -> set[str]:
    """Paths (from the outer model) of layers under ``model`` that feed no used output."""
    out: set[str] = set()
    used = used_outputs(model)
    for child in getattr(model, "layers", []) or []:
        path = f"{prefix}/{child.name}" if prefix else str(child.name)
        if not isinstance(child, keras.Model) or child.name not in used:
            continue
        try:
            flat = keras.tree.flatten(child.output)
        except Exception:  # a model that was called more than once, or has no output
            continue
        read = used[child.name]
        if len(flat) > 1 and len(read) < len(flat):
            try:
                sub = keras.Model(child.inputs, [flat[i] for i in sorted(read)])
            except Exception:  # not a graph Keras can cut: no advice
                continue
            reached = {id(la) for la in sub.layers}
            for la in child.layers:
                if id(la) not in reached and la.weights:
                    out.add(f"{path}/{la.name}")
        out |= _unreached_in(child, path)
    return out


def unreached_layers(model: Any) -> frozenset[str]:
    """The paths (as in :func:`~.layers.flatten_layers`) of weighted layers whose weights
    no output of ``model`` depends on; empty when the graph is unknown.

    A layer holding sublayers counts with all of them.
    """
    roots = _unreached_in(model, "")
    found = set(roots)
    for path, _ in iter_sublayers(model):
        if any(path.startswith(r + "/") for r in roots):
            found.add(path)
    return frozenset(found)


@attrs.define
class GroupAdvice:
    """Warnings about a model's groups, each given once.

    Build it with :meth:`of` when the groups are known; call :meth:`at_train_begin` once
    and :meth:`at_stage` with each stage's trainable group indices.
    """

    names: tuple[str, ...]
    unreached: Mapping[int, tuple[str, ...]]
    many: str | None
    warned: set[int] = attrs.field(factory=set)

    @classmethod
    def of(cls, model: Any, resolution: Any) -> GroupAdvice:
        """The advice for ``model`` split as ``resolution`` (:func:`~.plan.resolve`)."""
        dead = unreached_layers(model)
        names = tuple(g.name for g in resolution.groups)
        unreached = {
            i: tuple(p for p in g.layers if p in dead) for i, g in enumerate(resolution.groups)
        }
        return cls(
            names,
            {i: ps for i, ps in unreached.items() if ps},
            many_groups_note(len(names)),
        )

    def at_train_begin(self) -> None:
        """Warn when the grouping gives more than ``MANY_GROUPS`` groups."""
        if self.many and -1 not in self.warned:
            self.warned.add(-1)
            warnings.warn(self.many, UnfreezeWarning, stacklevel=2)

    def at_stage(self, trainable: Iterable[int]) -> None:
        """Warn, once per group, that a group now training has layers no output uses."""
        for i in trainable:
            if i in self.unreached and i not in self.warned:
                self.warned.add(i)
                layers = self.unreached[i]
                warnings.warn(
                    f"group {self.names[i]!r} trains from now on, but no output of the model "
                    f"depends on {len(layers)} of its layers ({', '.join(layers[:5])}"
                    f"{', ...' if len(layers) > 5 else ''}): they never receive a gradient. "
                    "Leave them out of the groups (ByLayers/ByPatterns) or use the output "
                    "they compute.",
                    UnfreezeWarning,
                    stacklevel=2,
                )
