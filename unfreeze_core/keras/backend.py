"""Everything the driver does differently per Keras 3 backend, in one place.

The rest of :mod:`unfreeze_core.keras` uses backend-neutral Keras APIs (``keras.ops``,
``keras.Variable``, the optimizer's ``update_step`` / ``apply``). What cannot be neutral:

- **TensorFlow**: variables live in the model's ``tf.distribute`` strategy; weight decay
  runs per variable in the strategy's update context; sparse gradients arrive as
  ``tf.IndexedSlices``; one compiled step has one graph per trace and one copy per
  replica device, which is where the per-step multipliers are cached. Squared gradient
  norms use the fused ``L2Loss`` op.
- **JAX**: the trainer is stateless. ``optimizer.stateless_apply`` insists on one value
  per variable the optimizer was built with, so the driver's optimizer (built once over
  every variable that may ever train) gets a ``stateless_apply`` that applies the
  gradients of the variables trainable *now* and passes the others' slots through
  untouched. During an epoch the trainer keeps the weights in its own state:
  :func:`sync` writes them back before a mid-epoch stage change or a read of the
  driver's accumulators.
- **PyTorch**: Keras' torch optimizers update all variables in one fused
  ``_parallel_update_step`` with a single rate; the driver routes them through the
  per-variable ``update_step`` loop instead, which takes one rate per variable. It
  runs eagerly, so the driver masks values instead of branching on a device value.

Nothing here decides anything; each function is a small adapter. The private names
involved are reached through :mod:`.internals`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import keras
import numpy as np

from . import internals

__all__ = [
    "SUPPORTED",
    "dense_values",
    "install_patches",
    "name",
    "problem",
    "retrace",
    "scope",
    "squared_norm",
    "sync",
    "to_numpy",
    "trace_token",
    "update_each",
    "when",
]

SUPPORTED = ("tensorflow", "jax", "torch")


def name() -> str:
    """The Keras backend in use (``keras.backend.backend()``)."""
    return str(keras.backend.backend())


def problem(optimizer: Any) -> str | None:
    """Why this backend (with ``optimizer``) cannot be driven, or ``None``."""
    backend = name()
    if backend not in SUPPORTED:
        return (
            f"the Keras backend is {backend!r}, which cannot train; the driver supports "
            f"{', '.join(SUPPORTED)} (set KERAS_BACKEND before importing keras)"
        )
    if backend == "jax" and getattr(optimizer, "use_ema", False):
        return (
            f"{type(optimizer).__name__}(use_ema=True) on the JAX backend averages every "
            "variable the optimizer was built with, including frozen ones the stateless "
            "train step does not pass it; drop use_ema or use the TensorFlow backend"
        )
    return None


def to_numpy(value: Any) -> np.ndarray:
    """A host copy of a variable or tensor of any backend."""
    if isinstance(value, keras.Variable):
        return np.asarray(value.numpy())
    return np.asarray(keras.ops.convert_to_numpy(value))


def scope(model: Any) -> contextlib.AbstractContextManager[Any]:
    """Where new variables must be created to live beside the model's.

    TensorFlow: the model's ``tf.distribute`` strategy. JAX: nothing (a
    ``keras.distribution`` set globally lays new variables out by itself). PyTorch:
    nothing.
    """
    if name() == "tensorflow":
        strategy = getattr(model, "distribute_strategy", None)
        if strategy is not None:
            return strategy.scope()
    return contextlib.nullcontext()


def sync(model: Any) -> None:
    """Write the trainer's in-flight state back into the model's variables (JAX only).

    Needed before flipping ``trainable`` flags or reading or assigning optimizer
    variables in the middle of an epoch; the next step then reads the state afresh.
    """
    if name() == "jax" and internals.jax_state_in_flight(model):
        model.jax_state_sync()


def retrace(model: Any) -> None:
    """Make ``model`` trace its step functions again, for new ``trainable`` flags.

    The train function is re-made at once. On JAX the evaluation and prediction
    functions are dropped too (Keras re-makes them on their next use): under a
    ``keras.distribution`` their output layout lists the trainable and non-trainable
    variables separately, so a stage change invalidates them as well.
    """
    model.make_train_function(force=True)
    if name() == "jax":
        model.test_function = None
        model.predict_function = None


def dense_values(gradient: Any) -> Any:
    """The values of a gradient (those of a TensorFlow ``IndexedSlices``)."""
    values = getattr(gradient, "values", None)
    if name() == "tensorflow" and values is not None and hasattr(gradient, "indices"):
        return values
    return gradient


def squared_norm(tensors: Sequence[Any]) -> Any:
    """The sum of the squares of every element of ``tensors``, as a float32 scalar.

    TensorFlow: one fused ``L2Loss`` per tensor (no squared copy of the gradient) and
    one ``AddN``. Elsewhere ``sum(square(x))`` per tensor.
    """
    if name() == "tensorflow":
        import tensorflow as tf

        halves = [tf.nn.l2_loss(tf.cast(t, tf.float32)) for t in tensors]
        return 2.0 * (halves[0] if len(halves) == 1 else tf.add_n(halves))
    total: Any = None
    for t in tensors:
        sq = keras.ops.sum(keras.ops.square(keras.ops.cast(t, "float32")))
        total = sq if total is None else total + sq
    return total


def when(pred: Any, fn: Callable[[], Any], size: int) -> Any:
    """``fn()`` (a float32 vector of ``size``) where ``pred`` holds, else zeros.

    TensorFlow and JAX branch in the compiled step, so ``fn`` runs only at the steps
    where ``pred`` holds. PyTorch runs eagerly, where branching on a device value
    would wait for the device at every step: ``fn`` runs and its result is masked.
    """
    if name() == "torch":
        return keras.ops.where(pred, fn(), 0.0)
    return keras.ops.cond(pred, fn, lambda: keras.ops.zeros((size,), "float32"))


def trace_token(driver: Any, variable: Any) -> tuple[Hashable, Any] | None:
    """A key, and an object that must still be the same, for one step on one device.

    The per-group multipliers are computed once per key: once per trace and replica
    device (TensorFlow graphs), once per traced step (JAX), once per executed step
    (PyTorch, which runs eagerly). ``None``: do not cache (TensorFlow run eagerly).
    """
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.executing_eagerly():
            return None
        graph = tf.compat.v1.get_default_graph()
        return ("tf", id(graph), str(getattr(variable, "device", ""))), graph
    if backend == "jax":
        current = driver.jax_scope
        return None if current is None else (("jax", id(current)), current)
    iterations = driver.opt.iterations.value
    return ("torch", id(iterations), internals.torch_version(iterations)), iterations


def update_each(optimizer: Any, variables: Sequence[Any], fn: Callable[[Any], None]) -> None:
    """Call ``fn(variable)`` to update each variable, as the backend requires.

    Under a ``tf.distribute`` strategy each update runs on every replica's copy, in the
    strategy's update context (what Keras' own ``_apply_weight_decay`` does).
    """
    if name() != "tensorflow":
        for variable in variables:
            fn(variable)
        return

    def distributed(distribution: Any, variables: Any) -> None:
        for variable in variables:
            if isinstance(variable, keras.Variable):
                variable = variable.value
            distribution.extended.update(variable, fn, group=False)

    internals.merge_call(distributed, internals.distribution_strategy(optimizer), variables)


def _jax_stateless_apply(driver: Any) -> Callable[..., Any]:
    opt = driver.opt

    def stateless_apply(optimizer_variables: Any, grads: Any, trainable_variables: Any) -> Any:
        # The JAX trainer passes the values of `model.trainable_variables`, in order.
        targets = list(driver.model.trainable_variables)
        if len(targets) != len(trainable_variables) or len(optimizer_variables) != len(
            opt.variables
        ):
            raise RuntimeError(
                "unfreeze_core: the train step passed "
                f"{len(trainable_variables)} trainable and {len(optimizer_variables)} "
                f"optimizer values, the model has {len(targets)} trainable and the "
                f"optimizer {len(opt.variables)} variables; was the model changed "
                "during fit without ProgressiveUnfreezing?"
            )
        mapping = list(zip(targets, trainable_variables, strict=True)) + list(
            zip(opt.variables, optimizer_variables, strict=True)
        )
        with keras.StatelessScope(state_mapping=mapping) as stateless:
            driver.jax_scope = stateless
            try:
                opt.apply(grads, targets)
            finally:
                driver.jax_scope = None
        return (
            [stateless.get_current_value(v) for v in targets],
            [stateless.get_current_value(v) for v in opt.variables],
        )

    return stateless_apply


def install_patches(driver: Any) -> dict[str, Callable[..., Any]]:
    """Backend-specific methods to set on the optimizer instance while driving it.

    JAX: ``stateless_apply`` over the variables trainable now (see the module doc).
    PyTorch: ``_backend_update_step`` as the per-variable ``update_step`` loop of
    Keras' base optimizer, so that each variable gets its group's rate.
    """
    backend = name()
    if backend == "jax":
        return {"stateless_apply": _jax_stateless_apply(driver)}
    if backend == "torch":
        return {internals.UPDATE_LOOP: internals.base_update_loop(driver.opt)}
    return {}


#: Patches that stay after ``fit`` (a later plain ``fit`` needs them too).
PERSISTENT = ("stateless_apply",)


