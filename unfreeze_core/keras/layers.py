"""A Keras model as the engine sees it: its weighted layers in forward order, and their flags.

:func:`flatten_layers` walks a model (descending into nested models and layers that hold
sublayers) and returns one :class:`LayerRecord` per layer that *owns* weights, input side
first. Each record carries the engine's plain :class:`~unfreeze_core.LayerInfo` and the
live layer. :class:`TrainableSnapshot` saves and restores every layer's ``trainable`` flag,
so a setup that fails leaves the model exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import attrs
import keras

from ..errors import DriverError
from ..groupings import LayerInfo
from . import internals
from .graph import graph_order

__all__ = ["LayerRecord", "TrainableSnapshot", "flatten_layers", "is_batchnorm", "own_variables"]


def is_batchnorm(layer: Any) -> bool:
    """Whether ``layer`` is a batch normalization layer (moving statistics, inference mode)."""
    return isinstance(layer, keras.layers.BatchNormalization)


def own_variables(layer: Any) -> list[Any]:
    """The variables ``layer`` itself creates as trainable (not those of its sublayers).

    A layer's ``trainable`` setter flips exactly these, so they are the variables that
    can ever train through this layer.
    """
    seen: set[int] = set()
    out = []
    for v in internals.own_trainable_variables(layer):
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


@attrs.frozen(eq=False)
class LayerRecord:
    """One layer that owns weights: its :class:`LayerInfo` and the live Keras layer.

    ``model_own``: the record stands for the weights a model created itself
    (``self.add_weight`` in a subclassed model): freezing it sets those variables'
    flags, since the model's own ``trainable`` flag would freeze every layer in it.
    """

    info: LayerInfo
    layer: Any
    variables: tuple[Any, ...]
    model_own: bool = False

    def set_trainable(self, flag: bool) -> None:
        """Freeze or unfreeze what this record stands for."""
        if self.model_own:
            for v in self.variables:
                v.trainable = flag
        else:
            self.layer.trainable = flag

    @property
    def path(self) -> str:
        return self.info.path


def _walk(layer: Any, prefix: str, seen: set[int]) -> Iterator[tuple[str, Any]]:
    for child in internals.sublayers(layer):
        if id(child) in seen:
            continue
        seen.add(id(child))
        path = f"{prefix}/{child.name}" if prefix else str(child.name)
        yield path, child
        yield from _walk(child, path, seen)


def iter_sublayers(model: Any) -> Iterator[tuple[str, Any]]:
    """Every sublayer of ``model`` (pre-order, each once) with its path from the model."""
    yield from _walk(model, "", {id(model)})


def _forward(
    layer: Any, prefix: str, seen: set[int], entry_clean: bool, inside_clean: bool
) -> Iterator[tuple[str, Any, bool]]:
    """Like :func:`_walk`, children in the graph's forward order, each with whether a
    group may start at it (see ``keras/graph.py``)."""
    children = [c for c in internals.sublayers(layer) if id(c) not in seen]
    ordered = graph_order(layer) if isinstance(layer, keras.Model) else None
    flags: dict[int, tuple[bool, bool]] = {}
    if ordered is not None and ordered.layers:
        rank = {id(c): i for i, c in enumerate(ordered.layers)}
        children.sort(key=lambda c: rank.get(id(c), len(rank)))
        for c, clean, bypassed in zip(ordered.layers, ordered.clean, ordered.bypassed,
                                      strict=True):
            flags[id(c)] = (clean, bypassed)
    # a plain Layer that holds sublayers (a transformer block) is never cut inside;
    # a model without a known graph (Sequential, subclassed) is cut between its layers
    splittable = isinstance(layer, keras.Model)
    first = True
    for child in children:
        if id(child) in seen:
            continue
        seen.add(id(child))
        clean, bypassed = flags.get(id(child), (True, False))
        ok = entry_clean if first else (inside_clean and splittable and clean)
        first = False
        path = f"{prefix}/{child.name}" if prefix else str(child.name)
        yield path, child, ok
        yield from _forward(child, path, seen, ok, inside_clean and splittable and not bypassed)


def forward_sublayers(model: Any) -> Iterator[tuple[str, Any, bool]]:
    """Every sublayer of ``model`` with its path, in forward order (functional graphs
    ordered by the graph, see ``keras/graph.py``), and whether a group may start at it."""
    yield from _forward(model, "", {id(model)}, True, True)


def flatten_layers(model: Any) -> list[LayerRecord]:
    """The layers of ``model`` that own weights, in forward order, nested models opened.

    Functional models list their layers in the graph's forward order (depth-first from
    the outputs, a residual block's main branch before its shortcut: ``keras/graph.py``),
    Sequential models in their order, subclassed models in the order their layers were
    assigned, the best order available without tracing. Each record's
    ``LayerInfo.cut_before`` says whether a group may start at it without splitting a
    residual block. Layers without weights (inputs, activations, pooling) are skipped.
    Weights a subclassed model creates itself (``self.add_weight`` in the model, not in
    a sublayer) form one more record, named after the model and placed last, with the
    head: they usually act on the output (a temperature, a scale, a bias).

    Raises:
        DriverError: the model (or one of its layers) is not built yet, so its weights do
            not exist; build it first. (A ``ValueError``, as before.)
    """
    unbuilt = [path for path, la in iter_sublayers(model) if not la.built]
    if not getattr(model, "built", False) or unbuilt:
        where = f" (unbuilt layers: {', '.join(unbuilt[:10])})" if unbuilt else ""
        raise DriverError(
            f"model {model.name!r} is not built{where}, so its weights do not exist yet. "
            "Build it before fit: give a Sequential model an `keras.Input(shape)`, or call "
            "`model.build(input_shape)` or `model(batch)` once."
        )
    records: list[LayerRecord] = []
    paths: set[str] = set()
    pending_cut = False  # a clean cut before a weightless layer passes to the next one
    for path, layer, cut in forward_sublayers(model):
        variables = own_variables(layer)
        pending_cut = pending_cut or cut
        if not variables:
            continue
        unique = path
        k = 1
        while unique in paths:
            k += 1
            unique = f"{path}#{k}"
        paths.add(unique)
        n_params = int(sum(_size(v) for v in variables))
        info = LayerInfo(unique, str(layer.name), n_params, is_batchnorm(layer), pending_cut)
        pending_cut = False
        records.append(LayerRecord(info, layer, tuple(variables)))
    direct = own_variables(model)
    if direct:
        unique, k = str(model.name), 1
        while unique in paths:
            k += 1
            unique = f"{model.name}#{k}"
        n_params = int(sum(_size(v) for v in direct))
        info = LayerInfo(unique, str(model.name), n_params, False)
        records.append(LayerRecord(info, model, tuple(direct), model_own=True))
    return records


def _size(variable: Any) -> int:
    n = 1
    for d in variable.shape:
        n *= int(d)
    return n


def count_params(variables: Sequence[Any]) -> int:
    """Total number of scalars in ``variables``."""
    return int(sum(_size(v) for v in variables))


class TrainableSnapshot:
    """Every layer's and variable's ``trainable`` flag, restorable in one call."""

    def __init__(self, model: Any):
        self._layers = [(model, bool(model.trainable))] + [
            (la, bool(la.trainable)) for _, la in iter_sublayers(model)
        ]
        self._variables = [
            (v, bool(v.trainable))
            for la, _ in self._layers
            for v in own_variables(la)
        ]

    def restore(self) -> None:
        """Put every flag back (parents first, since a layer's setter recurses)."""
        for layer, flag in self._layers:
            layer.trainable = flag
        for variable, flag in self._variables:
            variable.trainable = flag
