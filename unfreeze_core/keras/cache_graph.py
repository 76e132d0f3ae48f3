"""Where a functional model splits into its frozen prefix and the part that trains.

Frozen-prefix caching (:mod:`.cache_fit`) computes the prefix once per stage and trains
the rest on its stored output. :func:`find_cut` walks the model's functional graph from
its outputs and marks each call of a layer *fixed* when it computes the same function
of the same examples every epoch: it has no trainable weight, it is not random in
training (``Dropout``, ``GaussianNoise``, ``Random*`` augmentation, any layer holding a
``keras.random.SeedGenerator``), it is not a BatchNormalization in training mode
(``Schedule(batchnorm="train")``), and everything it reads is fixed (the model's inputs
are). The *cut* is every fixed tensor that something not fixed reads: several tensors
where a residual connection or a second input (an attention mask) passes the frontier.
A Keras mask (``Embedding(mask_zero=True)``) is an explicit tensor of the graph (a
``not_equal`` operation), so it crosses the cut like any other.
:func:`suffix_model` builds the rest as a new functional model over the cut that reuses
the same layer objects, so the weights are shared.

A random or training-mode layer at the top of the frozen part only moves the cut below
it; one with frozen weighted layers above it (inside the part that would be cached) is
a reason to refuse, named in :attr:`Cut.blocked`. A nested model is one call in its
outer graph: it is fixed as a whole, or the cut is at its inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import keras

from ..errors import DriverError
from . import internals
from .layers import is_batchnorm, iter_sublayers

__all__ = [
    "Cut", "find_cut", "functional_problem", "input_structure", "prefix_model", "suffix_model",
]

_RANDOM = (
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)


def functional_problem(model: Any) -> str | None:
    """Why ``model`` has no functional graph to cut, or ``None``."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if inputs and outputs:
        return None
    kind = ("a Sequential model without keras.Input" if isinstance(model, keras.Sequential)
            else "a subclassed model")
    return (
        f"model {model.name!r} ({type(model).__name__}) is {kind}: it has no functional "
        "graph to cut between its frozen and trainable parts. Build it with the functional "
        "API (keras.Model(inputs, outputs), or keras.Sequential([keras.Input(shape), ...])), "
        "or fit without caching (drop cache=True)"
    )


def input_structure(model: Any) -> Any:
    """The model's inputs as its data is given: a dict, a list, or one tensor (a
    Sequential model's ``input`` is not defined: its one input then)."""
    try:
        return model.input
    except (AttributeError, ValueError):
        inputs = list(model.inputs)
        return inputs[0] if len(inputs) == 1 else inputs


def _random(layer: Any) -> str | None:
    rate = getattr(layer, "rate", getattr(layer, "stddev", None))
    if isinstance(rate, (int, float)) and rate == 0:
        return None  # Dropout(0.0) is the identity
    seeded = any(isinstance(v, keras.random.SeedGenerator) for v in vars(layer).values())
    if isinstance(layer, _RANDOM) or type(layer).__name__.startswith("Random") or seeded:
        return f"{type(layer).__name__} layer {layer.name!r} is random in training"
    return None


def blocker(layer: Any, batchnorm: str) -> str | None:
    """Why ``layer`` (or a layer inside it) differs from epoch to epoch although frozen."""
    for sub in [layer, *(child for _, child in iter_sublayers(layer))]:
        reason = _random(sub)
        if reason is None and batchnorm == "train" and is_batchnorm(sub):
            reason = (
                f"BatchNormalization layer {sub.name!r} is in training mode "
                "(Schedule(batchnorm='train')): its output depends on the batch"
            )
        if reason is not None:
            inside = f" (inside {layer.name!r})" if sub is not layer else ""
            return reason + inside
    return None


@attrs.frozen(eq=False)
class Cut:
    """The frontier between the fixed prefix and the rest, for one set of flags.

    Attributes:
        tensors: the fixed symbolic tensors the rest reads (the suffix's inputs).
        names: the layer that computes each (an input's name for a model input).
        from_inputs: per tensor, whether it is one of the model's inputs.
        fixed_layers: weighted layers inside the prefix (0: nothing worth caching).
        blocked: why caching would lose frozen layers (a random or training-mode layer
            with frozen weighted layers above it), else ``None``.
    """

    tensors: tuple[Any, ...]
    names: tuple[str, ...]
    from_inputs: tuple[bool, ...]
    fixed_layers: int
    blocked: str | None = None

    @property
    def key(self) -> tuple[int, ...]:
        return tuple(id(t) for t in self.tensors)

    @property
    def trivial(self) -> bool:
        """Whether the cut is the model's inputs: nothing frozen to cache."""
        return all(self.from_inputs)


def _node(tensor: Any) -> tuple[Any, Any]:
    operation, index, _ = internals.keras_history(tensor)
    return operation, internals.inbound_node(operation, index)


def _nodes(outputs: list[Any]) -> Iterator[tuple[Any, Any, list[Any]]]:
    """Each call in the graph once, inputs before their readers: (operation, node,
    input tensors)."""
    done: set[int] = set()
    stack: list[tuple[Any, bool]] = [(t, False) for t in reversed(outputs)]
    while stack:
        tensor, expanded = stack.pop()
        op, node = _node(tensor)
        if id(node) in done:
            continue
        ins = list(node.input_tensors)
        if expanded:
            done.add(id(node))
            yield op, node, ins
            continue
        stack.append((tensor, True))
        stack.extend((t, False) for t in reversed(ins) if id(_node(t)[1]) not in done)


def _on_cut(cut: dict[int, tuple[Any, str, bool]], tensor: Any, fixed: dict[int, bool]) -> None:
    src, node = _node(tensor)
    if fixed[id(node)]:
        is_input = isinstance(src, keras.layers.InputLayer)
        cut.setdefault(id(tensor), (tensor, str(src.name), is_input))


def find_cut(model: Any, batchnorm: str) -> Cut:
    """The cut of ``model`` under its current ``trainable`` flags (see the module doc)."""
    problem = functional_problem(model)
    if problem is not None:
        raise DriverError(f"cannot cache the frozen prefix: {problem}")
    outputs = list(model.outputs)
    fixed: dict[int, bool] = {}  # id(node) -> fixed
    ideal: dict[int, bool] = {}  # the same, were the random layers deterministic
    cut: dict[int, tuple[Any, str, bool]] = {}
    weighted = lost = 0
    first_block: str | None = None
    lost_at = ""
    for op, node, ins in _nodes(outputs):
        inputs_fixed = all(fixed[id(_node(t)[1])] for t in ins)
        if isinstance(op, keras.layers.InputLayer):
            fixed[id(node)] = ideal[id(node)] = True
            continue
        block = blocker(op, batchnorm)
        # a plain keras.ops operation in the graph (keras.ops.not_equal) has no weights
        weights = getattr(op, "weights", [])
        frozen = not getattr(op, "trainable_weights", []) or (block is not None
                                                             and is_batchnorm(op))
        ideal[id(node)] = frozen and all(ideal[id(_node(t)[1])] for t in ins)
        fixed[id(node)] = frozen and block is None and inputs_fixed
        if ideal[id(node)] and block is not None and first_block is None:
            first_block = block
        if fixed[id(node)] and weights:
            weighted += 1
        if ideal[id(node)] and not fixed[id(node)] and weights and block is None:
            lost += 1
            lost_at = lost_at or str(op.name)
        for t in ins if not fixed[id(node)] else ():
            _on_cut(cut, t, fixed)
    for t in outputs:
        _on_cut(cut, t, fixed)
    blocked = None
    if lost and first_block is not None:
        blocked = (
            f"{first_block}, and frozen layers above it ({lost_at!r}) would be cached on its "
            "output; remove it or move it above the frozen layers (for example just below "
            "the head), or fit without caching (drop cache=True)"
        )
    items = list(cut.values())
    return Cut(
        tuple(t for t, _, _ in items), tuple(n for _, n, _ in items),
        tuple(i for _, _, i in items), weighted, blocked,
    )


def suffix_model(model: Any, cut: Cut) -> Any:
    """The part of ``model`` above ``cut``: a functional model from the cut tensors to
    the model's outputs over the same layer objects (shared weights)."""
    outputs = model.outputs
    return keras.Model(list(cut.tensors), outputs[0] if len(outputs) == 1 else list(outputs),
                       name=f"above_cut_{model.name}")


def prefix_model(inputs: Any, tensors: list[Any]) -> Any:
    """A functional model computing ``tensors`` from ``inputs`` (the model's input
    structure, or an earlier cut's tensors). Raises ``ValueError`` when ``inputs`` do
    not determine ``tensors``."""
    return keras.Model(inputs, list(tensors), name="frozen_prefix")
