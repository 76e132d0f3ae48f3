"""A functional model's layers in the graph's forward order, and where a group may start.

``model.layers`` is not always the order data flows in: a Keras 2 ``.h5`` ResNet lists a
residual block's 1x1 shortcut convolution before the block's main branch. This module
reads the graph from the model's public config (each layer's inbound tensors) and
orders a functional model's layers depth-first from its outputs, the longer branch of a
merge first: every residual block comes out whole, main branch then shortcut, just
before the merge that closes it. A *clean cut* is a place in that order crossed by at
most one tensor: a group starting there splits no
block (a model input read by more than two layers, such as an attention mask, is not
counted). Sequential models are chains (clean everywhere); a model whose config holds no
graph (a subclassed model, a ``keras_hub`` backbone) keeps ``model.layers`` order.
Everything here uses public Keras API only (``get_config``, ``layers``).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import attrs
import keras

__all__ = ["Ordered", "graph_order", "used_outputs"]


@attrs.frozen
class Ordered:
    """A model's direct layers in forward order.

    Attributes:
        layers: the layers, input side first.
        clean: per layer, whether a group may start at it (a clean cut before it).
        bypassed: per layer, whether a tensor skips past it (a residual connection
            around it): then no cut inside it is clean either.
        known: whether the order comes from the graph (else ``model.layers``).
    """

    layers: tuple[Any, ...]
    clean: tuple[bool, ...]
    bypassed: tuple[bool, ...]
    known: bool


def _histories(obj: Any) -> Iterator[tuple[str, int, int]]:
    """Every ``keras_history`` ``(layer, node, tensor)`` inside a serialized call."""
    if isinstance(obj, dict):
        hist = obj.get("keras_history")
        if hist is None and isinstance(obj.get("config"), dict):
            hist = obj["config"].get("keras_history")
        if isinstance(hist, (list, tuple)) and len(hist) == 3:
            yield str(hist[0]), int(hist[1]), int(hist[2])
            return
        for v in obj.values():
            yield from _histories(v)
    elif isinstance(obj, (list, tuple)):
        if len(obj) == 3 and isinstance(obj[0], str) and all(isinstance(x, int) for x in obj[1:]):
            yield obj[0], int(obj[1]), int(obj[2])  # output_layers entries
            return
        for v in obj:
            yield from _histories(v)


@attrs.frozen
class _Graph:
    """What this module reads from a functional model's config."""

    inputs_of: dict[str, list[str]]  # layer -> the layers whose outputs it reads
    outputs: list[str]  # the layers whose outputs are the model's
    used: dict[str, set[int]]  # layer -> indices of its outputs that something reads


# a functional graph never changes once built: read each model's config once
_GRAPHS: weakref.WeakKeyDictionary[Any, _Graph | None] = weakref.WeakKeyDictionary()


def _graph(model: Any) -> _Graph | None:
    try:
        return _GRAPHS[model]
    except (KeyError, TypeError):
        pass
    graph = _read_graph(model)
    with contextlib.suppress(TypeError):  # not weakly referenceable: read again next time
        _GRAPHS[model] = graph
    return graph


def _read_graph(model: Any) -> _Graph | None:
    config = _config(model)
    if config is None:
        return None
    used: dict[str, set[int]] = {}
    for c in config["layers"]:
        for name, _, tensor in _histories(c.get("inbound_nodes", [])):
            used.setdefault(name, set()).add(tensor)
    outputs: list[str] = []
    for name, _, tensor in _histories(config.get("output_layers", [])):
        used.setdefault(name, set()).add(tensor)
        outputs.append(name)
    return _Graph(_inputs_of(config), list(dict.fromkeys(outputs)), used)


def _config(model: Any) -> dict[str, Any] | None:
    if isinstance(model, keras.Sequential) or not isinstance(model, keras.Model):
        return None
    try:
        config = model.get_config()
    except Exception:  # a custom layer that cannot serialise: fall back to model.layers
        return None
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        return None
    if not all(isinstance(c, dict) and "inbound_nodes" in c for c in config["layers"]):
        return None
    return config


def _inputs_of(config: dict[str, Any]) -> dict[str, list[str]]:
    """Layer name -> the names of the layers whose outputs it reads."""
    out: dict[str, list[str]] = {}
    for c in config["layers"]:
        names = [h[0] for h in _histories(c.get("inbound_nodes", []))]
        out[str(c["name"])] = list(dict.fromkeys(names))
    return out


def graph_order(model: Any) -> Ordered:
    """``model``'s direct layers in forward order, with the clean cuts (see module)."""
    layers = list(getattr(model, "layers", []) or [])
    chain = Ordered(tuple(layers), (True,) * len(layers), (False,) * len(layers), False)
    graph = _graph(model)
    if graph is None:
        return chain
    by_name = {str(la.name): la for la in layers}
    inputs_of = graph.inputs_of
    if set(inputs_of) != set(by_name):
        return chain
    is_input = {n for n, la in by_name.items() if isinstance(la, keras.layers.InputLayer)}
    outputs = graph.outputs
    depth: dict[str, int] = {}
    for name in _post_order(outputs, inputs_of, None):
        depth[name] = 1 + max((depth[i] for i in inputs_of[name]), default=-1)
    order = _post_order(outputs, inputs_of, depth)
    order += [n for n in by_name if n not in order]
    index = {n: i for i, n in enumerate(order)}
    last_use: dict[str, int] = {}
    readers: dict[str, int] = {}
    for name in order:
        for i in inputs_of[name]:
            last_use[i] = max(last_use.get(i, -1), index[name])
            readers[i] = readers.get(i, 0) + 1
    for name in outputs:
        last_use[name] = len(order)
    crossing = [0] * (len(order) + 2)
    passing = [0] * (len(order) + 2)
    for name, b in last_use.items():
        if name not in index or (name in is_input and readers.get(name, 0) > 2):
            continue  # an input read by many layers (an attention mask) splits nothing
        a = index[name]
        crossing[a + 1] += 1  # cuts before a+1 .. b are crossed
        crossing[b + 1] -= 1
        if b - a >= 2:  # layers a+1 .. b-1 are skipped over
            passing[a + 1] += 1
            passing[b] -= 1
    clean, bypassed = [], []
    c = p = 0
    for k in range(len(order)):
        c += crossing[k]
        p += passing[k]
        clean.append(c <= 1)
        bypassed.append(p > 0)
    return Ordered(tuple(by_name[n] for n in order), tuple(clean), tuple(bypassed), True)


def _post_order(
    outputs: list[str], inputs_of: dict[str, list[str]], depth: dict[str, int] | None
) -> list[str]:
    """Depth-first post-order from ``outputs`` (iterative: graphs can be deep); with
    ``depth``, a layer's deeper inputs are visited first."""
    done: set[str] = set()
    order: list[str] = []
    for out in outputs:
        stack: list[tuple[str, bool]] = [(out, False)]
        while stack:
            name, expanded = stack.pop()
            if name in done:
                continue
            if expanded:
                done.add(name)
                order.append(name)
                continue
            stack.append((name, True))
            ins = [i for i in inputs_of.get(name, []) if i not in done]
            if depth is not None:
                ins.sort(key=lambda i: depth.get(i, 0), reverse=True)
            for i in reversed(ins):  # the first to visit goes on top
                stack.append((i, False))
    return order


def used_outputs(model: Any) -> dict[str, set[int]]:
    """For each direct layer of ``model`` whose outputs other layers (or the model's
    outputs) read, the indices of those outputs in ``keras.tree.flatten`` order.

    A nested backbone that returns ``{"pooled_output", "sequence_output"}`` of which the
    user's model reads only ``sequence_output`` appears with ``{1}``: the layers that
    compute only ``pooled_output`` never get a gradient. Empty when the config holds
    no graph.
    """
    graph = _graph(model)
    return {} if graph is None else {k: set(v) for k, v in graph.used.items()}
