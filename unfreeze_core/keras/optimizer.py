"""The user's own Keras optimizer, patched in place for per-group rates and gradient norms.

Keras 3 optimizers have one learning rate, and scaling gradients is not a per-layer rate
for Adam-family optimizers (the scale cancels). :class:`OptimizerDriver` therefore
patches the optimizer *instance* the user compiled with, and undoes it after ``fit``:

- ``update_step(gradient, variable, learning_rate)`` gets ``learning_rate`` times the
  multiplier of the variable's group (:mod:`.rates`), and counts the gradient towards
  its group's norm (:mod:`.grad_norms`);
- the decoupled weight decay (AdamW) uses the same per-variable rate instead of the
  global one;
- ``save_own_variables`` saves the slots ``keras.models.load_model`` rebuilds
  (:mod:`.saving`).

Which variable belongs to which group comes from the optimizer's own tables
(:mod:`.tables`); the private names involved are in :mod:`.internals`, and what differs
per backend in :mod:`.backend`.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from ..errors import DriverError
from ..schedule import Schedule, ScheduleState
from . import backend, compat, internals
from .grad_norms import GradNorms, drop_stale
from .rates import Rates
from .saving import SaveFilter, slot_owners
from .tables import SlotMap, ensure_covers, unwrap

__all__ = [
    "OptimizerDriver",
    "check_drivable",
    "ensure_covers",
    "preflight",
    "slot_owners",
    "unwrap",
]

_PATCHED = (
    "update_step", internals.WEIGHT_DECAY, "save_own_variables", internals.UPDATE_LOOP
)
_KEPT = ("save_own_variables", *backend.PERSISTENT)
#: Attribute set on each patch, to recognise one left by an earlier run.
_MARK = "unfreeze_core_patch"


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
    if internals.is_base_update_step(step):
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


def preflight(model: Any) -> None:
    """Refuse, before anything changes, a model whose optimizer cannot be driven.

    Raises:
        DriverError: the model is not compiled, its optimizer cannot take per-variable
            rates, or the installed Keras lacks a private name the driver needs.
    """
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise DriverError(
            f"model {model.name!r} is not compiled: call model.compile(optimizer=..., "
            "loss=...) before fit"
        )
    problem = check_drivable(model.optimizer)
    if problem is not None:
        raise DriverError(f"cannot drive the optimizer: {problem}")
    compat.check_keras(unwrap(model.optimizer), model)


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
        self.n_groups = n_groups
        self.norm_every = tuple(sorted(set(norm_every)))
        self.jax_scope: Any = None  # the stateless scope of the JAX step being traced
        self._saved: dict[str, Any] = {}
        self.slots = SlotMap(self.opt, n_groups, group_of, controlled)
        self.rates = Rates(self.opt, schedule.all_rules, self.slots, self._token)
        drop_stale(self.opt)
        # An optimizer variable: part of the optimizer's state on every backend (the JAX
        # trainer carries only that state through its stateless step).
        self.norms = (
            GradNorms(self.opt, model, self.norm_every, self.slots, self._token)
            if self.norm_every
            else None
        )
        self.saves = SaveFilter(self.opt, model, lambda: self.own_variables)

    def _token(self, variable: Any) -> Any:
        return backend.trace_token(self, variable)

    @property
    def rules(self) -> tuple[Any, ...]:
        """The schedule's LR rules (with the policy's own, see ``Schedule.all_rules``)."""
        return self.rates.rules

    @property
    def traces(self) -> int:
        """Steps (traces, or eager steps) the multipliers were built for."""
        return self.rates.traces

    @property
    def norms_sq(self) -> Any:
        """The gradient-norm accumulator (an optimizer variable), or ``None``."""
        return self.norms.variable if self.norms is not None else None

    @property
    def full_save(self) -> bool:
        """Whether a save now keeps every optimizer variable."""
        return self.saves.full

    @property
    def needs_rates(self) -> bool:
        """Whether ``update_step`` must be patched at all.

        Without LR rules every trainable group learns at the base rate, frozen variables
        get no gradient, and no gradient norm is read: the optimizer's own step is then
        exactly right, and leaving it unpatched keeps re-traces as cheap as plain Keras'.
        A variable that could be trainable while in no group keeps the patch (rate 0).
        """
        return not self.plain_rates or self.norms is not None

    @property
    def plain_rates(self) -> bool:
        """Whether every variable the optimizer updates learns at the base rate.

        True without LR rules when every variable outside the groups is one whose
        ``trainable`` flag the driver sets (so it gets no gradient while frozen).
        """
        return self.rates.plain

    @property
    def own_variables(self) -> list[Any]:
        """Variables the driver added to the optimizer (never saved)."""
        return [self.norms.variable] if self.norms is not None else []

    # --- state --------------------------------------------------------------------------

    def set_state(self, state: ScheduleState) -> None:
        """Take the schedule's per-group state; the next trace of the step uses it.

        The caller re-traces the train function (``make_train_function(force=True)``).
        """
        self.rates.set_state(state)

    def read_norms(self, reads: int) -> tuple[float, ...]:
        """The per-group gradient norms accumulated over ``reads`` read steps; resets them."""
        assert self.norms is not None
        return self.norms.read(reads)

    # --- in the step (instance attributes, so that a profiler can wrap them) -------------

    def _slot(self, variable: Any) -> int:
        return self.slots.slot(variable)

    def rate(self, learning_rate: Any, variable: Any) -> Any:
        """``learning_rate`` times ``variable``'s group multiplier (a tensor)."""
        return self.rates.rate(learning_rate, variable)

    def _accumulate_norm(self, gradient: Any, variable: Any) -> None:
        if self.norms is not None:
            self.norms.accumulate(gradient, variable)

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
            if getattr(current, _MARK, False):  # left by an earlier run
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

        patches: dict[str, Any] = {
            "save_own_variables": self.saves.patch(opt.save_own_variables), **extra
        }
        norms = self.norms
        if norms is not None:
            original_loop = extra.get(internals.UPDATE_LOOP, internals.update_loop(opt))

            def backend_update_step(grads: Any, variables: Any, learning_rate: Any) -> Any:
                # Keras has filtered out the missing gradients: one update per entry.
                norms.expect(sum(g is not None for g in grads))
                try:
                    return original_loop(grads, variables, learning_rate)
                finally:
                    norms.expect(None)

            patches[internals.UPDATE_LOOP] = backend_update_step
        if self.needs_rates:
            patches["update_step"] = update_step
        if not self.plain_rates:
            patches[internals.WEIGHT_DECAY] = apply_weight_decay
        for name, patch in patches.items():
            with contextlib.suppress(AttributeError, TypeError):  # a functools.partial
                setattr(patch, _MARK, True)
            object.__setattr__(opt, name, patch)
        self._clear()

    def _clear(self) -> None:
        self.rates.clear()
        if self.norms is not None:
            self.norms.clear()

    def uninstall(self, *, keep_save: bool = True) -> None:
        """Undo the patches and drop the driver's variables.

        With ``keep_save`` the save filter (and, on JAX, the ``stateless_apply`` over
        the variables trainable now) stay, so that a save or a plain ``fit`` after the
        run works on the optimizer built over every variable.
        """
        if self.norms is not None:
            self.norms.drop()
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
        self.rates.clear()

    def saving_everything(self) -> contextlib.AbstractContextManager[None]:
        """Within this block a save keeps every optimizer variable (for the driver's backups)."""
        return self.saves.everything()

    def variables_to_save(self) -> list[Any]:
        """The optimizer's variables a save keeps now (see :class:`.saving.SaveFilter`)."""
        return self.saves.variables()

    def _apply_weight_decay(self, variables: Any) -> None:
        opt = self.opt
        if opt.weight_decay is None:
            return
        driver = self

        def decay(variable: Any) -> None:
            if internals.uses_weight_decay(opt, variable):
                lr = driver.rate(opt.learning_rate, variable)
                wd = ops.cast(opt.weight_decay, keras.backend.standardize_dtype(variable.dtype))
                opt.assign_sub(variable, variable * wd * lr)

        backend.update_each(opt, variables, decay)
