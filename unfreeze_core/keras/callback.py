"""``ProgressiveUnfreezing``: the Keras callback that runs a schedule during ``model.fit``.

The user compiles as usual and adds the callback; nothing else::

    model.compile(optimizer=keras.optimizers.AdamW(1e-4), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=20, callbacks=[ProgressiveUnfreezing(schedule, verbose=1)])

At train begin the callback splits the model into the schedule's groups, builds the
optimizer over every variable that may ever train (no ``Unknown variable`` error, no
state thrown away), patches that instance for per-group rates, and freezes all but the
first stage. A stage change flips ``trainable`` flags and re-traces the train function
once; the optimizer keeps ``iterations`` and moments. Per backend: :mod:`.backend`.
This module adapts Keras' callback events to the schedule; the work is elsewhere
(:mod:`.optimizer`, :mod:`.resume`, :mod:`.messages`, :mod:`.agreement`,
:mod:`.internals`; frozen-prefix caching in :mod:`.cache_fit`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from os import PathLike
from typing import Any

import keras
import numpy as np

from ..errors import DriverError, UnfreezeWarning
from ..events import EpochEnd, Event, StepEnd
from ..loading import load_schedule
from ..plugins import notify_stage_change
from ..policy_tree import norm_intervals
from ..schedule import Decision, Schedule, ScheduleState
from . import backend, internals, messages, resume
from .advice import GroupAdvice
from .agreement import LogAgreement, agree
from .cache_store import Cache, as_cache, check_owner
from .checkpoint import Backup
from .epoch_logs import epoch_logs
from .flags import set_flags, variable_groups
from .layers import TrainableSnapshot, count_params
from .optimizer import OptimizerDriver, preflight
from .plan import Resolution, check_advances, resolve
from .tables import ensure_covers, unknown_trainable, unwrap

__all__ = ["DriverError", "ProgressiveUnfreezing"]


class ProgressiveUnfreezing(keras.callbacks.Callback):
    """Progressively unfreeze a Keras model during ``fit``, as ``schedule`` says.

    Args:
        schedule: a :class:`~unfreeze_core.Schedule`, or what
            :func:`~unfreeze_core.load_schedule` reads (a dict, a ``.toml``/``.json`` path).
        verbose: 1 prints a line at each stage change and at a final-stage stop, in the
            style of Keras callbacks; 2 also one short line per epoch (the loss, the
            stage, the rates of the trainable groups): with ``fit(verbose=0)``, a
            readable log of a run with many groups.
        restore_best_weights: at a final-stage stop (``final="stop"``), restore the
            weights of the best epoch of the schedule's ``monitor``.
        backup_dir: folder for a checkpoint written at every epoch end (weights, the full
            optimizer state, the schedule state). A later ``fit`` with the same folder
            resumes after the last completed epoch, at the same stage. Use it instead of
            ``keras.callbacks.BackupAndRestore``.
        delete_backup: remove ``backup_dir`` when ``fit`` completes.
        log_lr: add each group's effective learning rate to the epoch logs (Keras'
            progress bar prints every key: ``False`` shortens its line).
        cache: compute the frozen prefix once per stage, not per epoch (``True`` or a
            :class:`~unfreeze_core.keras.Cache`); run by :func:`unfreeze_core.keras.fit`.

    Epoch logs gain (for ``History``, ``CSVLogger``, ``TensorBoard``; list this callback
    before them): ``unfreeze_stage`` (the stage number, from 1),
    ``unfreeze_groups_trainable``, ``unfreeze_trainable_params``, ``unfreeze_steps``,
    ``unfreeze_lr/<group>`` and, with a ``GradNorm`` policy, ``unfreeze_grad_norm``.

    Example:
        >>> import keras, numpy as np
        >>> from unfreeze_core import Schedule, FixedEpoch, ProgressiveUnfreezing
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
        ...                           keras.layers.Dense(1)])
        >>> model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        >>> cb = ProgressiveUnfreezing(Schedule(FixedEpoch(every=1)))
        >>> h = model.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=2, verbose=0,
        ...               callbacks=[cb])
        >>> h.history["unfreeze_stage"], h.history["unfreeze_groups_trainable"]
        ([1.0, 2.0], [1.0, 2.0])
    """

    cache_runner: Any = None  # with cache=...: the run of unfreeze_core.keras.fit

    def __init__(
        self,
        schedule: Schedule | Mapping[str, Any] | str | PathLike[str],
        *,
        verbose: int = 0,
        restore_best_weights: bool = False,
        backup_dir: str | PathLike[str] | None = None,
        delete_backup: bool = True,
        log_lr: bool = True,
        cache: bool | Cache = False,
    ):
        super().__init__()
        self.schedule: Schedule = (
            schedule if isinstance(schedule, Schedule) else load_schedule(schedule)  # type: ignore[arg-type]
        )
        self.verbose = verbose
        self._narrator = messages.Narrator(self.schedule, verbose)
        self.restore_best_weights = restore_best_weights
        self.backup = Backup(backup_dir) if backup_dir is not None else None
        self.delete_backup = delete_backup
        self.log_lr = log_lr
        self.cache: Cache | None = as_cache(cache)
        self.norm_every = norm_intervals(self.schedule.policy)
        if self.norm_every:
            # Only then is Python called per batch (Keras dispatches the default no-op
            # asynchronously otherwise).
            self.on_train_batch_end = self._on_step_end
        self.state: ScheduleState | None = None
        self.resolution: Resolution | None = None
        self.timeline: list[tuple[int, int]] = []
        self.grad_norms: tuple[float, ...] | None = None
        self.driver: OptimizerDriver | None = None
        # the last state of the previous fit, with its epochs done and timeline
        self._previous: resume.Finished | None = None
        self._reset_run()

    def _reset_run(self) -> None:
        self._snapshot: TrainableSnapshot | None = None
        self._first_epoch = True
        self._epochs_done = 0
        self._restored_epochs: int | None = None
        self._step = 0
        self._epoch_start_step = 0
        self._last_step = 0
        self._epoch = 0
        self._best_weights: list[Any] | None = None
        self._last_norm = float("nan")
        self._total_params = 0
        self._agree_logs = LogAgreement()
        self._advice: GroupAdvice | None = None

    # --- properties ---------------------------------------------------------------------

    @property
    def groups(self) -> tuple[Any, ...]:
        """The groups of the current run (input side first)."""
        return self.resolution.groups if self.resolution is not None else ()

    # --- setup --------------------------------------------------------------------------

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        model = self.model
        self._teardown(final=False)
        self._reset_run()
        self.timeline = []
        snapshot = TrainableSnapshot(model)
        try:
            self._setup(model)
        except BaseException:
            self._teardown(final=False)
            snapshot.restore()
            raise
        self._snapshot = snapshot

    def _setup(self, model: Any) -> None:
        preflight(model)
        res = resolve(model, self.schedule)
        n = len(res.groups)
        check_advances(self.schedule, n)
        self.resolution = res
        self._advice = GroupAdvice.of(model, res)  # warns: > 16 groups, gradient-less layers
        self._advice.at_train_begin()
        variables = variable_groups(res, self.schedule.batchnorm, model.variables)
        self._total_params = count_params(variables.grouped)
        ensure_covers(model.optimizer, variables.candidates, model)
        opt = unwrap(model.optimizer)
        restored = (
            resume.restore(self.backup, model, [g.name for g in res.groups])
            if self.backup is not None
            else None
        )
        self._step = int(backend.to_numpy(opt.iterations))
        if restored is not None:
            self._restored_epochs = restored.epochs_done
            self.timeline = list(restored.timeline)
            self.state = restored.state
        else:
            self.state = self.schedule.start(n, step=self._step)
        self.driver = OptimizerDriver(
            model.optimizer, model, self.schedule, n, variables.group_of, self.norm_every,
            variables.controlled,
        )
        self.driver.install()
        self._apply(self.state)
        self._narrator = messages.Narrator(self.schedule, self.verbose)
        self._narrator.setup(self.state, self.groups, self._counts)
        check_owner(self, model)  # cache=True: refuse plain model.fit, check the cut

    # --- applying a stage ---------------------------------------------------------------

    def _apply(self, state: ScheduleState) -> None:
        """Set every flag for ``state`` and re-trace the train function (once)."""
        res, model = self.resolution, self.model
        assert res is not None and self.driver is not None and self._advice is not None
        backend.sync(model)  # JAX mid-epoch: the weights are in the trainer's state
        set_flags(model, res, state.trainable, self.schedule.batchnorm)
        self._advice.at_stage(state.trainable)
        unknown = unknown_trainable(model.optimizer, model)
        if unknown:
            raise DriverError(f"internal: the optimizer does not know {unknown[:5]}")
        self.driver.set_state(state)
        backend.retrace(model)

    def _trainable_params(self) -> int:
        return count_params(self.model.trainable_variables)

    def _counts(self) -> str:
        return messages.params(self._trainable_params(), self._total_params)

    # --- events -------------------------------------------------------------------------

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._first_epoch:
            self._first_epoch = False
            self._check_start(epoch)
            self._start_at(epoch)
            self._feed(resume.train_begin(epoch, self._step, self.params), epoch)
        self._epoch = epoch
        self._epoch_start_step = self._step
        self._last_step = self._step

    def _check_start(self, epoch: int) -> None:
        message = resume.start_problem(self.model, epoch, self._restored_epochs)
        if message is None:
            return
        self._abort()
        raise DriverError(message)

    def _start_at(self, epoch: int) -> None:
        """``fit(initial_epoch=epoch)`` without a backup (see :mod:`.resume`)."""
        if epoch == 0 or self._restored_epochs is not None or self.state is None:
            return
        previous, names = self._previous, [g.name for g in self.groups]
        continuing = previous is not None and previous.continues(epoch, names)
        if previous is not None and continuing:
            self.state, self.timeline = previous.state, list(previous.timeline)
        else:
            self.state = resume.fast_forward(self.schedule, self.state, epoch, self._step)
            if not resume.replays_exactly(self.schedule):
                warnings.warn(UnfreezeWarning(messages.fast_forwarded(epoch)), stacklevel=3)
        self._apply(self.state)
        self._narrator.resumed(epoch, continuing, self.state, self.groups, self._counts)

    def _abort(self) -> None:
        self._teardown(final=False)
        if self._snapshot is not None:
            self._snapshot.restore()

    def _on_step_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        step = self._epoch_start_step + batch + 1
        every = self.norm_every
        reads = [s for s in range(self._last_step + 1, step + 1) if any(s % c == 0 for c in every)]
        self._last_step = step
        self._step = step
        if not reads or self.driver is None:
            return
        norms, _ = agree(self.driver.read_norms(len(reads)))
        self.grad_norms = norms
        self._last_norm = float(np.sqrt(sum(x * x for x in norms)))
        self._feed(StepEnd(self._epoch, reads[-1], norms), self._epoch, mid_epoch=True)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.state is None or self.driver is None:
            return
        self._step = int(backend.to_numpy(unwrap(self.model.optimizer).iterations))
        self._epochs_done = epoch + 1
        state = self.state
        self.timeline.append((epoch, state.stage))
        if logs is not None:
            logs.update(self._logs(state))
            self._narrator.epoch(epoch, logs, state, self.groups,
                                 optimizer=self.model.optimizer, step=self._step)
        numeric = self._agree_logs(logs)
        self._feed(EpochEnd(epoch, self._step, numeric), epoch)
        after = self.state
        assert after is not None
        if self.restore_best_weights and after.best_epoch == epoch and after.best is not None:
            self._best_weights = self.model.get_weights()
        if self.backup is not None:
            self._save_backup(epoch)

    def _logs(self, state: ScheduleState) -> dict[str, float]:
        return epoch_logs(
            self.schedule, state, self.groups, optimizer=self.model.optimizer,
            step=self._step, trainable_params=self._trainable_params(),
            grad_norm=self._last_norm if self.norm_every else None, log_lr=self.log_lr,
        )

    def _feed(self, event: Event, epoch: int, *, mid_epoch: bool = False) -> None:
        assert self.state is not None
        before = self.state
        self.state, decision = self.schedule.update(before, event)
        if decision.advanced:
            self._apply(self.state)
            self._narrator.advanced(
                decision, self.state, self.groups, epoch=epoch, mid_epoch=mid_epoch,
                epochs=int((self.params or {}).get("epochs") or 0), counts=self._counts,
            )
            logs = event.logs if isinstance(event, EpochEnd) else None
            notify_stage_change(
                self.schedule, before, self.state, groups=self.groups, model=self.model, logs=logs
            )
        if decision.stop:
            self._stop(decision, epoch)

    def _stop(self, decision: Decision, epoch: int) -> None:
        self.model.stop_training = True
        restored = self.restore_best_weights and self._best_weights is not None
        if restored:
            self.model.set_weights(self._best_weights)
        self._narrator.stopped(decision, epoch=epoch, restored=restored)

    def _save_backup(self, epoch: int) -> None:
        assert self.backup is not None and self.driver is not None and self.state is not None
        payload = resume.payload(self.state, [g.name for g in self.groups], self.timeline)
        with self.driver.saving_everything():
            self.backup.save(self.model, payload, epochs_done=epoch + 1)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self.state is not None and self._epochs_done > 0:
            names = tuple(g.name for g in self.groups)
            self._previous = resume.Finished(
                self.state, self._epochs_done, tuple(self.timeline), names
            )
        self._teardown(final=True)

    def _teardown(self, *, final: bool) -> None:
        model = internals.callback_model(self)
        if self.driver is not None:
            self.driver.uninstall(keep_save=final)
            if not final:
                self.driver = None
            if final and model is not None:
                model.train_function = None  # the next fit traces without the rate patches
        if model is not None and self._restored_epochs is not None:
            resume.release(model)
        if final and self.backup is not None and self.delete_backup:
            self.backup.delete()
        if self.backup is not None:
            self.backup.release()  # also when fit failed: the next run may take the folder
