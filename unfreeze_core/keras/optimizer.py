"""Per-group learning rates and gradient norms inside the user's own Keras optimizer.

Keras 3 optimizers have one learning rate, and scaling gradients is not a per-layer rate
for Adam-family optimizers (the scale cancels). :class:`OptimizerDriver` therefore
patches the optimizer *instance* the user compiled with:

- ``update_step(gradient, variable, learning_rate)`` gets ``learning_rate`` times the
  multiplier of the variable's group;
- ``_apply_weight_decay`` (decoupled decay, AdamW) uses the same per-variable rate
  instead of the global one;
- ``save_own_variables`` saves the slots of the variables trainable at save time, which
  is what ``keras.models.load_model`` rebuilds (see :mod:`.checkpoint`).

The multipliers are computed in the compiled step by the schedule's LR rules with
``xp=keras.ops``, from ``optimizer.iterations`` (a value of the step) and the stage's
constants (each group's unfreezing step, the stage, the stage index), which are traced
in: a warmup ramp costs no retrace and no Python per batch, and the one retrace of a
stage change picks up the new constants. Variables are mapped to groups through the
optimizer's own variable index, which also works for the per-replica variables that
``tf.distribute.MirroredStrategy`` passes to ``update_step``. The few things that differ
per backend are in :mod:`.backend`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from ..schedule import Schedule, ScheduleState, compute_multipliers
from . import backend

__all__ = [
    "OptimizerDriver",
    "check_drivable",
    "ensure_covers",
    "slot_owners",
    "unwrap",
]

_PATCHED = ("update_step", "_apply_weight_decay", "save_own_variables")
_KEPT = ("save_own_variables", *backend.PERSISTENT)


def unwrap(optimizer: Any) -> Any:
    """The optimizer that does the updates (the inner one of a ``LossScaleOptimizer``)."""
    inner = getattr(optimizer, "inner_optimizer", None)
    return inner if inner is not None else optimizer


def check_drivable(optimizer: Any) -> str | None:
    """Why ``optimizer`` cannot be driven, or ``None`` when it can."""
    if optimizer is None:
        return "the model has no optimizer: call `model.compile(optimizer=..., loss=...)` first"
    opt = unwrap(optimizer)
    if not isinstance(opt, keras.optimizers.Optimizer):
        return (
            f"the optimizer is a {type(opt).__module__}.{type(opt).__name__}, not a Keras 3 "
            "optimizer; compile with one from `keras.optimizers` (e.g. keras.optimizers.AdamW)"
        )
    found = backend.problem(opt)
    if found is not None:
        return found
    step = type(opt).update_step
    if step is keras.optimizers.Optimizer.update_step or getattr(
        step, "__qualname__", ""
    ).startswith("BaseOptimizer."):
        return (
            f"{type(opt).__name__} does not implement update_step(gradient, variable, "
            "learning_rate), through which per-group learning rates are applied"
        )
    params = list(inspect.signature(step).parameters)
    if params[:4] != ["self", "gradient", "variable", "learning_rate"]:
        return (
            f"{type(opt).__name__}.update_step{inspect.signature(step)} does not take "
            "(gradient, variable, learning_rate), so per-group rates cannot be applied"
        )
    return None


def _key(variable: Any) -> str:
    return str(variable.path).replace("/", "_")


def slot_owners(optimizer: Any, model_variables: Sequence[Any]) -> list[Any | None]:
    """For each of ``optimizer.variables``, the model variable it is a slot of (or ``None``).

    Keras names a slot ``f"{reference.path.replace('/', '_')}_{slot}"``; the longest such
    prefix with the slot's shape identifies its owner.
    """
    by_key: dict[str, list[Any]] = {}
    for v in model_variables:
        by_key.setdefault(_key(v), []).append(v)
    owners: list[Any | None] = []
    for slot in optimizer.variables:
        name = str(slot.name)
        owner = None
        for i in range(len(name) - 1, 0, -1):
            if name[i] != "_":
                continue
            for candidate in by_key.get(name[:i], ()):
                if tuple(candidate.shape) == tuple(slot.shape):
                    owner = candidate
                    break
            if owner is not None:
                break
        owners.append(owner)
    return owners


def ensure_covers(optimizer: Any, variables: Sequence[Any], model: Any) -> str:
    """Make ``optimizer`` able to update every one of ``variables``, keeping its state.

    Returns what was done: ``"built"`` (it was not built: built over ``variables``),
    ``"ok"`` (it already knew them all) or ``"extended"`` (it was built over fewer, for
    example when layers were frozen before ``fit`` or the model came from
    ``load_model``: rebuilt over ``variables``, every existing slot value and
    ``iterations`` copied over by name).
    """
    opt = unwrap(optimizer)
    if not opt.built:
        with backend.scope(model):
            optimizer.build(list(variables))
        return "built"
    known = opt._trainable_variables_indices
    if all(opt._var_key(v) in known for v in variables):
        return "ok"
    old = {str(v.name): (tuple(v.shape), backend.to_numpy(v)) for v in opt.variables}
    keep = {id(opt._iterations)}
    if isinstance(opt._learning_rate, keras.Variable):
        keep.add(id(opt._learning_rate))
    for v in list(opt.variables):
        if id(v) not in keep:
            opt._untrack_variable(v)
    opt.built = False
    opt._trainable_variables_indices = {}
    opt._trainable_variables = []
    with backend.scope(model):
        opt.build(list(variables))
    for v in opt.variables:
        shape, value = old.get(str(v.name), (None, None))
        if value is not None and shape == tuple(v.shape) and id(v) not in keep:
            v.assign(value)
    return "extended"



class OptimizerDriver:
    """Per-group learning rates and gradient norms for one optimizer during one ``fit``.

    Args:
        optimizer: the model's optimizer (patched in place by :meth:`install`).
        model: the model (its trainable variables decide what a save keeps).
        schedule: supplies the LR rules.
        n_groups: number of groups.
        group_of: maps ``id(variable)`` of model variables to a group index, or
            ``n_groups`` for "learns at the head's rate" (BatchNorm in ``"train"`` mode).
        norm_every: read gradient norms at the steps divisible by one of these.
        controlled: ``id`` of every variable whose layer's ``trainable`` flag the driver
            sets (``None``: assume some are not).
    """

    def __init__(
        self,
        optimizer: Any,
        model: Any,
        schedule: Schedule,
        n_groups: int,
        group_of: dict[int, int],
        norm_every: Sequence[int] = (),
        controlled: set[int] | None = None,
    ):
        self.optimizer = optimizer
        self.opt = unwrap(optimizer)
        self.model = model
        self.rules = tuple(schedule.rules)
        self.n_groups = n_groups
        self.norm_every = tuple(sorted(set(norm_every)))
        self.full_save = False
        self.traces = 0  # steps (traces, or eager steps) the multipliers were built for
        self.jax_scope: Any = None  # the stateless scope of the JAX step being traced
        self._saved: dict[str, Any] = {}
        self._cache: dict[Any, tuple[Any, Any]] = {}
        self._rates: dict[Any, tuple[Any, Any, list[Any]]] = {}
        # optimizer index -> slot in the extended multiplier vector
        # (0..n-1 a group, n the head's rate, n+1 never trains)
        self._slot_of_index = [
            group_of.get(id(v), n_groups + 1) for v in self.opt._trainable_variables
        ]
        # A variable of no group whose trainable flag the driver does not set (a weight
        # owned directly by a subclassed model) may still get gradients: rate 0 keeps it.
        self._uncontrolled = controlled is None or any(
            id(v) not in controlled and id(v) not in group_of
            for v in self.opt._trainable_variables
        )
        self._depth = np.arange(n_groups - 1, -1, -1, dtype=np.float32)
        self._unfrozen_at = np.full(n_groups, -1, np.int32)
        self._stage = 0.0
        self._stage_index = 0.0
        self._one_hot = np.eye(n_groups + 2, dtype=np.float32)
        self.norms_sq: Any = None
        for stale in [v for v in self.opt.variables if getattr(v, "_unfreeze_own", False)]:
            self.opt._untrack_variable(stale)  # left by a fit that raised
        if self.norm_every:
            # An optimizer variable: part of the optimizer's state on every backend (the
            # JAX trainer carries only that state through its stateless step).
            with backend.scope(model):
                self.norms_sq = self.opt.add_variable(
                    (n_groups + 2,), initializer="zeros", dtype="float32",
                    name="unfreeze_norms_sq",
                )
            self.norms_sq._unfreeze_own = True

    @property
    def needs_rates(self) -> bool:
        """Whether ``update_step`` must be patched at all.

        Without LR rules every trainable group learns at the base rate, frozen variables
        get no gradient, and no gradient norm is read: the optimizer's own step is then
        exactly right, and leaving it unpatched keeps re-traces as cheap as plain Keras'.
        A variable that could be trainable while in no group keeps the patch (rate 0).
        """
        return bool(self.rules) or self.norms_sq is not None or self._uncontrolled

    @property
    def own_variables(self) -> list[Any]:
        """Variables the driver added to the optimizer (never saved)."""
        return [self.norms_sq] if self.norms_sq is not None else []

    # --- state --------------------------------------------------------------------------

    def set_state(self, state: ScheduleState) -> None:
        """Take the schedule's per-group state; the next trace of the step uses it.

        The caller re-traces the train function (``make_train_function(force=True)``).
        """
        self._unfrozen_at = np.asarray(state.unfrozen_at, np.int32)
        self._stage = float(state.stage)
        self._stage_index = float(state.stage_index)
        self._cache.clear()
        self._rates.clear()

    def read_norms(self, reads: int) -> tuple[float, ...]:
        """The per-group gradient norms accumulated over ``reads`` read steps; resets them.

        With one read step this is each group's L2 norm at that step; with several (as
        with ``steps_per_execution > 1``) it is their root mean square.
        """
        assert self.norms_sq is not None
        backend.sync(self.model)
        acc = np.asarray(backend.to_numpy(self.norms_sq), np.float64)[: self.n_groups]
        self.norms_sq.assign(np.zeros(self.n_groups + 2, np.float32))
        return tuple(float(x) for x in np.sqrt(acc / max(reads, 1)))

    # --- in-graph -----------------------------------------------------------------------

    def _multipliers(self, variable: Any) -> Any:
        token = backend.trace_token(self, variable)
        if token is not None:
            hit = self._cache.get(token[0])
            if hit is not None and hit[0] is token[1]:
                return hit[1]
        self.traces += 1
        step = ops.cast(self.opt.iterations, "int32")
        since = ops.cast(step - ops.convert_to_tensor(self._unfrozen_at), "float32")
        mults = compute_multipliers(
            self.rules,
            depth=ops.convert_to_tensor(self._depth),
            since=since,
            trainable=ops.convert_to_tensor(self._unfrozen_at >= 0),
            stage=ops.convert_to_tensor(np.float32(self._stage)),
            stage_index=ops.convert_to_tensor(np.float32(self._stage_index)),
            step=ops.cast(step, "float32"),
            n_groups=self.n_groups,
            xp=ops,
        )
        mults = ops.cast(ops.broadcast_to(mults, (self.n_groups,)), "float32")
        extended = ops.concatenate([mults, mults[-1:], ops.zeros((1,), "float32")])
        if token is not None:
            self._cache[token[0]] = (token[1], extended)
        return extended

    def _slot(self, variable: Any) -> int:
        return self._slot_of_index[self.opt._get_variable_index(variable)]

    def rate(self, learning_rate: Any, variable: Any) -> Any:
        """``learning_rate`` times ``variable``'s group multiplier (a tensor).

        The scaled rates of all groups are built once per step, rate and dtype, and each
        variable takes its entry: a few ops per step, not per variable.
        """
        dtype = keras.backend.standardize_dtype(variable.dtype)
        extended = self._multipliers(variable)
        key = (id(extended), id(learning_rate), dtype)
        hit = self._rates.get(key)
        if hit is None or hit[0] is not extended or hit[1] is not learning_rate:
            if len(self._rates) > 64:
                self._rates.clear()
            scaled = ops.cast(learning_rate, dtype) * ops.cast(extended, dtype)
            hit = (extended, learning_rate, ops.unstack(scaled))
            self._rates[key] = hit
        return hit[2][self._slot(variable)]

    def _accumulate_norm(self, gradient: Any, variable: Any) -> None:
        if self.norms_sq is None or gradient is None:
            return
        slot = self._slot(variable)
        step = ops.cast(self.opt.iterations, "int32") + 1
        is_read = ops.equal(step % self.norm_every[0], 0)
        for every in self.norm_every[1:]:
            is_read = ops.logical_or(is_read, ops.equal(step % every, 0))
        values = ops.cast(backend.dense_values(gradient), "float32")
        sq = ops.where(is_read, ops.sum(ops.square(values)), 0.0)
        self.opt.assign_add(self.norms_sq, ops.convert_to_tensor(self._one_hot[slot]) * sq)

    # --- patches ------------------------------------------------------------------------

    def install(self) -> None:
        """Patch the optimizer instance (idempotent; :meth:`uninstall` undoes it)."""
        if "update_step" in self._saved:
            return
        self._restore_methods(keep=())
        opt = self.opt
        extra = backend.install_patches(self)
        for name in (*_PATCHED, *extra):
            current = opt.__dict__.get(name)
            if getattr(current, "_unfreeze_patch", False):  # left by an earlier run
                object.__delattr__(opt, name)
                current = None
            self._saved[name] = current
        original_update = opt.update_step
        driver = self

        def update_step(gradient: Any, variable: Any, learning_rate: Any) -> Any:
            driver._accumulate_norm(gradient, variable)
            return original_update(gradient, variable, driver.rate(learning_rate, variable))

        def apply_weight_decay(variables: Any) -> None:
            driver._apply_weight_decay(variables)

        original_save = opt.save_own_variables

        def save_own_variables(store: Any) -> None:
            if driver.full_save:
                own = {id(v) for v in driver.own_variables}
                variables = [v for v in opt.variables if id(v) not in own]
            else:
                variables = driver.variables_to_save()
            if len(variables) == len(opt.variables):
                original_save(store)
                return None
            for i, variable in enumerate(variables):
                store[str(i)] = backend.to_numpy(variable)
            return None

        patches: dict[str, Any] = {"save_own_variables": save_own_variables, **extra}
        if self.needs_rates:
            patches["update_step"] = update_step
            patches["_apply_weight_decay"] = apply_weight_decay
        for name, patch in patches.items():
            if not isinstance(patch, functools.partial):
                patch._unfreeze_patch = True
            object.__setattr__(opt, name, patch)
        self._cache.clear()
        self._rates.clear()

    def uninstall(self, *, keep_save: bool = True) -> None:
        """Undo the patches and drop the driver's variables.

        With ``keep_save`` the save filter (and, on JAX, the ``stateless_apply`` over
        the variables trainable now) stay, so that a save or a plain ``fit`` after the
        run works on the optimizer built over every variable.
        """
        for variable in self.own_variables:
            if any(v is variable for v in self.opt.variables):
                self.opt._untrack_variable(variable)
        self._restore_methods(keep=_KEPT if keep_save else ())

    def _restore_methods(self, keep: Sequence[str]) -> None:
        for name in list(self._saved):
            if name in keep:
                continue
            previous = self._saved.pop(name)
            if previous is None:
                if name in self.opt.__dict__:
                    object.__delattr__(self.opt, name)
            else:
                object.__setattr__(self.opt, name, previous)
        self._cache.clear()
        self._rates.clear()

    @contextlib.contextmanager
    def saving_everything(self) -> Iterator[None]:
        """Within this block a save keeps every optimizer variable (for the driver's backups)."""
        self.full_save = True
        try:
            yield
        finally:
            self.full_save = False

    def variables_to_save(self) -> list[Any]:
        """The optimizer's variables minus the slots of model variables not trainable now.

        The result is, in count and order, what ``load_model`` builds for a model saved
        with its current ``trainable`` flags.
        """
        trainable = {id(v) for v in self.model.trainable_variables}
        own = {id(v) for v in self.own_variables}
        owners = slot_owners(self.opt, self.model.variables)
        return [
            v
            for v, owner in zip(self.opt.variables, owners, strict=False)
            if id(v) not in own and (owner is None or id(owner) in trainable)
        ]

    def _apply_weight_decay(self, variables: Any) -> None:
        opt = self.opt
        if opt.weight_decay is None:
            return
        driver = self

        def decay(variable: Any) -> None:
            if opt._use_weight_decay(variable):
                lr = driver.rate(opt.learning_rate, variable)
                wd = ops.cast(opt.weight_decay, keras.backend.standardize_dtype(variable.dtype))
                opt.assign_sub(variable, variable * wd * lr)

        backend.update_each(opt, variables, decay)
