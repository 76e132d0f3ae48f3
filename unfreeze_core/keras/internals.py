"""Every private Keras / TensorFlow / JAX / PyTorch name the driver touches, in one place.

The driver patches its user's optimizer *instance* (``update_step`` and two private
methods, see :mod:`.optimizer`): that is the seam through which per-group learning
rates, decoupled weight decay and gradient norms reach the compiled step. Around the
seam it needs a few more private names: the optimizer's variable index, the layer tree,
the epoch a resumed ``fit`` starts at. Each is used here, in one small named function
with a docstring saying what it touches and why; no other module of the package uses a
private name of Keras or of a backend.

:data:`PRIVATE` lists them with a probe each, and :func:`missing` probes them on live
objects; :mod:`.compat` runs that at train begin, with the supported-version check.
``tests/keras/test_internals.py`` is the canary that fails the day an upgrade renames
one.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import keras

__all__ = [
    "PRIVATE", "UPDATE_LOOP", "WEIGHT_DECAY", "Private", "base_update_loop", "built_variables",
    "callback_model", "distribution_strategy", "forget_build", "inbound_node", "initial_epoch",
    "is_base_update_step", "iterations_variable", "jax_state_in_flight", "keras_history", "knows",
    "learning_rate_setting", "merge_call", "missing", "own_trainable_variables", "own_weights",
    "print_msg", "set_initial_epoch", "sublayers", "torch_version", "untrack", "update_loop",
    "uses_weight_decay", "variable_index",
]

#: The optimizer's loop over ``(gradient, variable)`` pairs; the driver wraps it on the
#: instance to count a step's updates (gradient norms) and, on PyTorch, replaces Keras'
#: fused update by the per-variable loop (one rate per variable).
UPDATE_LOOP = "_backend_update_step"

#: The optimizer's decoupled weight decay (AdamW): it uses the global rate, so the driver
#: replaces it on the instance by one that uses each variable's group rate.
WEIGHT_DECAY = "_apply_weight_decay"


def _base_optimizer() -> Any:
    from keras.src.optimizers.base_optimizer import BaseOptimizer

    return BaseOptimizer


# --- the optimizer's variable tables ------------------------------------------------------


def built_variables(optimizer: Any) -> list[Any]:
    """The variables ``optimizer`` was built for, in its index order
    (``optimizer._trainable_variables``): what its slots and indices refer to."""
    return list(optimizer._trainable_variables)


def knows(optimizer: Any, variable: Any) -> bool:
    """Whether ``optimizer`` was built for ``variable`` (its ``_var_key`` is in
    ``_trainable_variables_indices``); Keras raises ``Unknown variable`` otherwise."""
    return optimizer._var_key(variable) in optimizer._trainable_variables_indices


def variable_index(optimizer: Any, variable: Any) -> int:
    """``variable``'s index in ``optimizer``'s tables (``_get_variable_index``); works for
    the per-replica ``tf.Variable`` that ``MirroredStrategy`` passes to ``update_step``,
    which has no ``path`` to map it by."""
    return int(optimizer._get_variable_index(variable))


def iterations_variable(optimizer: Any) -> Any:
    """The step counter variable itself (``_iterations``); the public ``iterations`` is a
    derived tensor under gradient accumulation. Kept when the tables are rebuilt."""
    return optimizer._iterations


def learning_rate_setting(optimizer: Any) -> Any:
    """What the user gave as learning rate (``_learning_rate``): a variable, a
    ``LearningRateSchedule`` or a callable; the public property evaluates it."""
    return optimizer._learning_rate


def untrack(optimizer: Any, variable: Any) -> None:
    """Remove ``variable`` from ``optimizer.variables`` (``_untrack_variable``): the
    driver's own accumulator after a run, and the slots of a rebuild."""
    optimizer._untrack_variable(variable)


def forget_build(optimizer: Any) -> None:
    """Make a built ``optimizer`` buildable again (``built``, ``_trainable_variables``,
    ``_trainable_variables_indices``), so that it can be built over more variables
    (the caller copies the old slot values back by name)."""
    optimizer.built = False
    optimizer._trainable_variables_indices = {}
    optimizer._trainable_variables = []


def uses_weight_decay(optimizer: Any, variable: Any) -> bool:
    """Whether ``optimizer`` decays ``variable`` (``_use_weight_decay``: its exclusion
    lists), for the driver's per-group weight decay."""
    return bool(optimizer._use_weight_decay(variable))


def update_loop(optimizer: Any) -> Callable[..., Any]:
    """The instance's current loop over a step's updates (``_backend_update_step``)."""
    loop: Callable[..., Any] = getattr(optimizer, UPDATE_LOOP)
    return loop


def base_update_loop(optimizer: Any) -> Callable[..., Any]:
    """Keras' per-variable update loop bound to ``optimizer``
    (``BaseOptimizer._backend_update_step``): it calls ``update_step`` once per variable,
    where PyTorch's optimizers use one fused update with a single rate."""
    return functools.partial(getattr(_base_optimizer(), UPDATE_LOOP), optimizer)


def is_base_update_step(method: Any) -> bool:
    """Whether ``method`` is the abstract ``update_step`` of Keras' base optimizer
    (``keras.src.optimizers.base_optimizer.BaseOptimizer``): an optimizer that does not
    override it cannot take a per-variable rate."""
    return method is _base_optimizer().update_step or method is (
        keras.optimizers.Optimizer.update_step
    )


def distribution_strategy(optimizer: Any) -> Any:
    """The ``tf.distribute`` strategy the TensorFlow optimizer was created under
    (``_distribution_strategy``), in which weight decay must run per replica."""
    return optimizer._distribution_strategy


def merge_call(fn: Callable[..., Any], strategy: Any, *args: Any) -> Any:
    """Run ``fn(strategy, *args)`` in the strategy's cross-replica context, as Keras' own
    ``_apply_weight_decay`` does (``tf.__internal__.distribute.interim.maybe_merge_call``)."""
    import tensorflow as tf

    return tf.__internal__.distribute.interim.maybe_merge_call(fn, strategy, *args)


# --- layers, models, callbacks ----------------------------------------------------------


def sublayers(layer: Any) -> list[Any]:
    """The layers ``layer`` holds directly (``_layers``): nested models, and sublayers of
    subclassed layers, which ``model.layers`` does not open."""
    return list(getattr(layer, "_layers", None) or [])


def own_trainable_variables(layer: Any) -> list[Any]:
    """The trainable variables ``layer`` itself created (``_trainable_variables``), not
    its sublayers': exactly what its ``trainable`` setter flips."""
    return list(getattr(layer, "_trainable_variables", None) or [])


def own_weights(layer: Any) -> list[Any]:
    """Every variable ``layer`` itself created, trainable or not (``_trainable_variables``
    and ``_non_trainable_variables``)."""
    return own_trainable_variables(layer) + list(
        getattr(layer, "_non_trainable_variables", None) or []
    )


def initial_epoch(model: Any) -> int | None:
    """The epoch ``fit`` is told to start at by a callback (``model._initial_epoch``, set
    by ``keras.callbacks.BackupAndRestore``), ``None`` when none set it."""
    value = getattr(model, "_initial_epoch", None)
    return None if value is None else int(value)


def set_initial_epoch(model: Any, epoch: int | None) -> None:
    """Make the current ``fit`` start at ``epoch`` (``model._initial_epoch``, read by the
    trainer after the callbacks' ``on_train_begin``); ``None`` clears it."""
    model._initial_epoch = epoch


def jax_state_in_flight(model: Any) -> bool:
    """Whether the JAX trainer holds the weights in its own state during an epoch
    (``model._jax_state``), so that ``jax_state_sync()`` must write them back first."""
    return bool(getattr(model, "_jax_state", None))


def callback_model(callback: Any) -> Any:
    """The model a callback was given (``_model``), or ``None``; unlike the ``model``
    property this neither fails before ``set_model`` nor syncs the JAX state."""
    return getattr(callback, "_model", None)


def print_msg(message: str) -> None:
    """Print as Keras' callbacks do (``keras.src.utils.io_utils.print_msg``: to the
    absl log when Keras is told to, else stdout)."""
    from keras.src.utils import io_utils

    io_utils.print_msg(message)


def torch_version(tensor: Any) -> int:
    """The in-place version counter of a torch tensor (``_version``): it changes with each
    optimizer step, so it tells the steps of an eager run apart."""
    return int(tensor._version)


def keras_history(tensor: Any) -> tuple[Any, int, int]:
    """Where a symbolic tensor of a functional graph comes from (``_keras_history``):
    ``(operation, node_index, tensor_index)``; frozen-prefix caching walks the graph
    from the model's outputs with it."""
    operation, node_index, tensor_index = tensor._keras_history
    return operation, int(node_index), int(tensor_index)


def inbound_node(operation: Any, index: int) -> Any:
    """The ``index``-th call of ``operation`` in the graphs it belongs to
    (``_inbound_nodes``); its public ``input_tensors`` are what that call read."""
    return operation._inbound_nodes[index]


# --- the canary and the version check ---------------------------------------------------


@attrs.frozen
class Private:
    """One private name the driver uses, and how to see that it exists.

    Attributes:
        name: where it lives, as a person would look it up.
        backends: the Keras backends that use it (empty: all of them).
        probe: ``probe(optimizer, model) -> bool``, true when the name exists; the
            arguments are live objects of the running backend (a built optimizer).
    """

    name: str
    backends: tuple[str, ...]
    probe: Callable[[Any, Any], bool]


def _has(name: str) -> Callable[[Any, Any], bool]:
    return lambda optimizer, model: hasattr(optimizer, name)


def _model_has(name: str) -> Callable[[Any, Any], bool]:
    return lambda optimizer, model: hasattr(model, name)


def _base_has(name: str) -> Callable[[Any, Any], bool]:
    return lambda optimizer, model: hasattr(_base_optimizer(), name)


def _module_has(module: str, *path: str) -> Callable[[Any, Any], bool]:
    def probe(optimizer: Any, model: Any) -> bool:
        import importlib

        try:
            obj: Any = importlib.import_module(module)
            for part in path:
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            return False
        return True

    return probe


def _jax_trainer_sets_state(optimizer: Any, model: Any) -> bool:
    try:
        from keras.src.backend.jax.trainer import JAXTrainer

        return "self._jax_state" in inspect.getsource(JAXTrainer)
    except (ImportError, OSError, TypeError):
        return False


#: Every private name used above.
PRIVATE: tuple[Private, ...] = (
    Private("Optimizer._trainable_variables", (), _has("_trainable_variables")),
    Private("Optimizer._trainable_variables_indices", (), _has("_trainable_variables_indices")),
    Private("Optimizer._var_key", (), _has("_var_key")),
    Private("Optimizer._get_variable_index", (), _has("_get_variable_index")),
    Private("Optimizer._iterations", (), _has("_iterations")),
    Private("Optimizer._learning_rate", (), _has("_learning_rate")),
    Private("Optimizer._untrack_variable", (), _has("_untrack_variable")),
    Private("Optimizer._use_weight_decay", (), _has("_use_weight_decay")),
    Private(f"Optimizer.{WEIGHT_DECAY}", (), _has(WEIGHT_DECAY)),
    Private(f"Optimizer.{UPDATE_LOOP}", (), _has(UPDATE_LOOP)),
    Private(f"keras.src.optimizers.base_optimizer.BaseOptimizer.{UPDATE_LOOP}", (),
            _base_has(UPDATE_LOOP)),
    Private("Layer._layers", (), _model_has("_layers")),
    Private("Layer._trainable_variables", (), _model_has("_trainable_variables")),
    Private("Layer._non_trainable_variables", (), _model_has("_non_trainable_variables")),
    Private("Model._initial_epoch", (), _model_has("_initial_epoch")),
    Private("Operation._inbound_nodes", (), _model_has("_inbound_nodes")),
    Private("KerasTensor._keras_history", (),
            lambda o, m: hasattr(keras.Input((1,)), "_keras_history")),
    Private("Callback._model", (), lambda o, m: hasattr(keras.callbacks.Callback(), "_model")),
    Private("keras.src.utils.io_utils.print_msg", (), _module_has(
        "keras.src.utils.io_utils", "print_msg")),
    Private("TFOptimizer._distribution_strategy", ("tensorflow",), _has("_distribution_strategy")),
    Private(
        "tf.__internal__.distribute.interim.maybe_merge_call",
        ("tensorflow",),
        _module_has("tensorflow", "__internal__", "distribute", "interim", "maybe_merge_call"),
    ),
    Private("JAXTrainer._jax_state", ("jax",), _jax_trainer_sets_state),
    Private("torch.Tensor._version", ("torch",), _module_has("torch", "Tensor", "_version")),
)


def missing(
    optimizer: Any, model: Any, backend: str | None = None, entries: Sequence[Private] = PRIVATE
) -> list[str]:
    """The private names of ``entries`` that ``backend`` (default: the running one) uses
    and the installed libraries lack, probed on a live ``optimizer`` and ``model``."""
    backend = backend or str(keras.backend.backend())
    return [
        p.name
        for p in entries
        if (not p.backends or backend in p.backends) and not p.probe(optimizer, model)
    ]
