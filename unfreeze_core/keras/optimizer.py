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

from ..lr_rules import Product
from ..schedule import Schedule, ScheduleState, split_by_step
from . import backend

__all__ = [
    "OptimizerDriver",
    "check_drivable",
    "ensure_covers",
    "slot_owners",
    "unwrap",
]

_PATCHED = ("update_step", "_apply_weight_decay", "save_own_variables", "_backend_update_step")
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


#: Gradient elements per step from which the squared norms are computed in a branch
#: taken only at read steps. Measured on TensorFlow's CPU build: a branch adds about
#: 20 ms to each trace, squaring and summing 4M floats takes about 0.5 ms per step; so
#: from here on the branch pays for itself within a stage of a few dozen steps.
_BRANCH_FROM = 1 << 22


def _size(tensor: Any) -> int:
    """Elements of ``tensor``, counting unknown dimensions as large."""
    total = 1
    for dim in tuple(tensor.shape):
        total *= _BRANCH_FROM if dim is None else int(dim)
    return total


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



class _StepContext:
    """The :class:`~unfreeze_core.LRContext` of one compiled step.

    Each value becomes a tensor of the step only when a rule reads it, so the rules that
    remain after folding (typically a warmup) cost a handful of ops per trace.
    """

    def __init__(self, driver: OptimizerDriver):
        self._driver = driver
        self.n_groups = driver.n_groups
        self.xp = ops

    @functools.cached_property
    def _iteration(self) -> Any:
        return ops.cast(self._driver.opt.iterations, "int32")

    @functools.cached_property
    def step(self) -> Any:
        return ops.cast(self._iteration, "float32")

    @functools.cached_property
    def since(self) -> Any:
        unfrozen_at = ops.convert_to_tensor(self._driver._unfrozen_at)
        return ops.cast(self._iteration - unfrozen_at, "float32")

    @functools.cached_property
    def depth(self) -> Any:
        return ops.convert_to_tensor(self._driver._depth)

    @functools.cached_property
    def stage(self) -> Any:
        return ops.convert_to_tensor(np.float32(self._driver._stage))

    @functools.cached_property
    def stage_index(self) -> Any:
        return ops.convert_to_tensor(np.float32(self._driver._stage_index))


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
        # the product of the rules fixed for the stage (NumPy), and the rules that read
        # the step, which alone go into the compiled step (see `set_state`)
        self._fixed = np.ones(n_groups, np.float32)
        self._per_step: tuple[Any, ...] = self.rules
        self.norms_sq: Any = None
        # gradient norms: square-sums of the step so far, per trace and device, and how
        # many updates the step makes (set by the patched `_backend_update_step`)
        self._pending: dict[Any, list[tuple[int, Any]]] = {}
        self._expected: int | None = None
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
        return not self.plain_rates or self.norms_sq is not None

    @property
    def plain_rates(self) -> bool:
        """Whether every variable the optimizer updates learns at the base rate.

        True without LR rules when every variable outside the groups is one whose
        ``trainable`` flag the driver sets (so it gets no gradient while frozen).
        """
        return not self.rules and not self._uncontrolled

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
        self._fixed, self._per_step = split_by_step(
            self.rules, stage=self._stage, stage_index=self._stage_index, n_groups=self.n_groups
        )
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
        """Each group's multiplier for the step being traced (cached per trace, device)."""
        token = backend.trace_token(self, variable)
        if token is not None:
            hit = self._cache.get(token[0])
            if hit is not None and hit[0] is token[1]:
                return hit[1]
        self.traces += 1
        trainable = self._unfrozen_at >= 0
        fixed = np.where(trainable, self._fixed, np.float32(0.0)).astype(np.float32)
        if not self._per_step:
            # every rule is fixed for the stage: the rates are constants of this trace
            extended: Any = ops.convert_to_tensor(fixed)
        else:
            ctx: Any = _StepContext(self)
            result: Any = Product(self._per_step)(ctx)
            if keras.backend.standardize_dtype(getattr(result, "dtype", None)) != "float32":
                result = ops.cast(result, "float32")
            # (a scalar broadcasts against the per-group constants)
            extended = ops.where(ops.convert_to_tensor(trainable), result * fixed, 0.0)
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
            scaled = ops.unstack(ops.cast(learning_rate, dtype) * ops.cast(extended, dtype))
            # slots: the groups, then the head's rate, then "never trains"
            hit = (extended, learning_rate, [*scaled, scaled[-1], ops.zeros((), dtype)])
            self._rates[key] = hit
        return hit[2][self._slot(variable)]

    def _accumulate_norm(self, gradient: Any, variable: Any) -> None:
        """Count ``variable``'s gradient towards its group's norm.

        The gradients of a step are collected (per trace and device) until the step's
        last update; then :meth:`_write_norms` adds every group's squared norm to the
        accumulator in one write, computing them only at the steps that are read.
        Writing per variable would serialize the step's updates behind one variable
        and cost a square-sum per variable at every step.
        """
        if self.norms_sq is None or gradient is None:
            return
        entry = (self._slot(variable), backend.dense_values(gradient))
        if self._expected is None:  # update_step called outside an apply: write at once
            self._write_norms([entry])
            return
        token = backend.trace_token(self, variable)
        key = token[0] if token is not None else ("eager", str(getattr(variable, "device", "")))
        pending = self._pending.setdefault(key, [])
        pending.append(entry)
        if len(pending) >= self._expected:
            del self._pending[key]
            self._write_norms(pending)

    def _write_norms(self, gradients: Sequence[tuple[int, Any]]) -> None:
        """Add each slot's squared gradient norm to ``norms_sq`` if this step is read."""
        assert self.norms_sq is not None
        size = self.n_groups + 2
        step = ops.cast(self.opt.iterations, "int32") + 1
        is_read = ops.equal(step % self.norm_every[0], 0)
        for every in self.norm_every[1:]:
            is_read = ops.logical_or(is_read, ops.equal(step % every, 0))
        by_slot: dict[int, list[Any]] = {}
        for slot, values in gradients:
            by_slot.setdefault(slot, []).append(values)

        def squared_norms() -> Any:
            zero = ops.zeros((), "float32")
            return ops.stack([
                backend.squared_norm(by_slot[slot]) if slot in by_slot else zero
                for slot in range(size)
            ])

        elements = sum(_size(values) for _, values in gradients)
        if elements >= _BRANCH_FROM:
            # large gradients: square them only at the steps that are read
            norms = backend.when(is_read, squared_norms, size)
        else:
            # small ones: squaring them costs less than a branch adds to each trace
            norms = ops.where(is_read, squared_norms(), 0.0)
        self.opt.assign_add(self.norms_sq, norms)

    # --- patches ------------------------------------------------------------------------

    def install(self) -> None:
        """Patch the optimizer instance (idempotent; :meth:`uninstall` undoes it)."""
        if "update_step" in self._saved:
            return
        self._restore_methods(keep=())
        opt = self.opt
        extra = backend.install_patches(self)
        for name in dict.fromkeys((*_PATCHED, *extra)):
            current = opt.__dict__.get(name)
            if getattr(current, "_unfreeze_patch", False):  # left by an earlier run
                object.__delattr__(opt, name)
                current = None
            self._saved[name] = current
        original_update = opt.update_step
        driver = self

        def update_step(gradient: Any, variable: Any, learning_rate: Any) -> Any:
            driver._accumulate_norm(gradient, variable)
            if not driver.plain_rates:
                learning_rate = driver.rate(learning_rate, variable)
            return original_update(gradient, variable, learning_rate)

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
        if self.norms_sq is not None:
            original_loop = extra.get("_backend_update_step", opt._backend_update_step)

            def backend_update_step(grads: Any, variables: Any, learning_rate: Any) -> Any:
                # Keras has filtered out the missing gradients: one update per entry.
                driver._expected = sum(g is not None for g in grads)
                try:
                    return original_loop(grads, variables, learning_rate)
                finally:
                    driver._expected = None
                    driver._pending.clear()

            patches["_backend_update_step"] = backend_update_step
        if self.needs_rates:
            patches["update_step"] = update_step
        if not self.plain_rates:
            patches["_apply_weight_decay"] = apply_weight_decay
        for name, patch in patches.items():
            if not isinstance(patch, functools.partial):
                patch._unfreeze_patch = True
            object.__setattr__(opt, name, patch)
        self._cache.clear()
        self._rates.clear()
        self._pending.clear()

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
