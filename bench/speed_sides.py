"""The sides of the speed benchmark and the runner that trains them (see ``speed``).

``Runner`` builds each side from the same initial weights and data: the hand-written
baseline (``HandWrittenStages``), the driver with and without LR rules and ``GradNorm``,
and the per-stage floor models; ``Interleave`` times their train steps in blocks.
"""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from unfreeze_core import Discriminative, FixedEpoch, GradNorm, Schedule, StageScaled, Warmup
from unfreeze_core.keras import LOG_GROUPS, ProgressiveUnfreezing, resolve

from .common import Stopwatch, quiet_gc, rotated
from .models import SpeedCase

__all__ = ["HAND_WRITTEN", "SIDES", "BenchError", "EpochClock", "HandWrittenStages",
           "Interleave", "Runner", "schedules", "set_stage"]

SIDES = ("baseline", "driver", "driver_rules", "gradnorm", "baseline_again", "floor",
         "floor_again")


class BenchError(RuntimeError):
    """A benchmark's sides did not do the same work; its numbers would mean nothing."""


class EpochClock(keras.callbacks.Callback):
    """Time stamps at train begin and at every epoch begin and end (list it first)."""

    def __init__(self) -> None:
        super().__init__()
        self.train_begin = float("nan")
        self.begins: list[float] = []
        self.ends: list[float] = []
        self.cpu_begins: list[float] = []
        self.cpu_ends: list[float] = []
        self.batches: list[list[float]] = []

    def on_train_begin(self, logs: Any = None) -> None:
        self.train_begin = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.begins.append(time.perf_counter())
        self.cpu_begins.append(time.process_time())
        self.batches.append([])

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        # Batch *begin* hooks are called synchronously anyway; a batch *end* hook would
        # turn off Keras's asynchronous dispatch and change what is measured.
        self.batches[-1].append(time.perf_counter())

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.ends.append(time.perf_counter())
        self.cpu_ends.append(time.process_time())

    @property
    def epochs(self) -> list[float]:
        """Each epoch from its begin to its end (its steps and per-batch callbacks)."""
        return [e - b for b, e in zip(self.begins, self.ends, strict=True)]

    @property
    def cpu_epochs(self) -> list[float]:
        """:attr:`epochs` in CPU time of this process (all its threads)."""
        return [e - b for b, e in zip(self.cpu_begins, self.cpu_ends, strict=True)]

    def boundary(self, epoch: int) -> float:
        """From the last batch of ``epoch - 1`` to the second batch of ``epoch``: two steps
        plus everything done between the epochs (a stage change's flips and re-trace)."""
        return self.batches[epoch][1] - self.batches[epoch - 1][-1]

    @property
    def cycles(self) -> list[float]:
        """Each epoch from the previous epoch's end (``train_begin`` for the first): it
        includes what the other callbacks did at that end, such as a stage change."""
        stamps = [self.train_begin, *self.ends]
        return [b - a for a, b in itertools.pairwise(stamps)]


class HandWrittenStages(keras.callbacks.Callback):
    """The baseline's stage changes, written as a careful user would.

    Args:
        groups: live layers per group, input side first.
        epochs_per_stage: advance after every this many epochs.
    """

    def __init__(self, groups: Sequence[Sequence[Any]], epochs_per_stage: int):
        super().__init__()
        self.groups = [list(g) for g in groups]
        self.every = epochs_per_stage
        self.stage = 1
        self.stages: list[int] = []

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.stages.append(self.stage)
        if (epoch + 1) % self.every == 0 and self.stage < len(self.groups):
            self.stage += 1
            for layer in self.groups[len(self.groups) - self.stage]:
                layer.trainable = True
            self.model.make_train_function(force=True)


def set_stage(model: keras.Model, groups: Sequence[Sequence[Any]], bn: Sequence[Any],
              stage: int) -> None:
    """Trainable: the top ``stage`` groups; frozen: every other group and every BN layer."""
    model.trainable = True
    n = len(groups)
    for g, layers in enumerate(groups):
        for layer in layers:
            layer.trainable = g >= n - stage
    for layer in bn:
        layer.trainable = False


def _loss() -> keras.losses.Loss:
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _optimizer() -> keras.optimizers.Optimizer:
    return keras.optimizers.Adam(1e-3)


#: The hand-written side, and an identical copy of it: the A/A control, whose ratio to
#: ``baseline`` is 1 but for the noise of the measurement in that very run.
HAND_WRITTEN = ("baseline", "baseline_again")


def schedules(case: SpeedCase) -> dict[str, Schedule]:
    """The driver's schedules for ``case``, one per driver side."""
    every = case.epochs_per_stage
    spe = case.steps_per_epoch
    return {
        "driver": Schedule(FixedEpoch(every=every), groups=case.grouping),
        "driver_rules": Schedule(
            FixedEpoch(every=every),
            rules=[Discriminative(factor=2.6), Warmup(steps=spe), StageScaled(factor=1.5)],
            groups=case.grouping,
        ),
        "gradnorm": Schedule(
            FixedEpoch(every=every) | GradNorm(threshold=1e-30, check_every=10, window=10,
                                            unfrozen_by=None),
            groups=case.grouping,
        ),
    }


def _sync(logs: Any) -> float:
    return float(keras.ops.convert_to_numpy(logs["loss"]))


class Interleave(keras.callbacks.Callback):
    """Times blocks of train steps of this fit's model and of other models, rotating.

    It runs at the end of the first epoch of the driven ``fit``: the driver's train
    function is traced and its patches are installed. Every block calls a model's own
    ``train_function`` ``steps`` times on the same fixed batches; nothing else differs.

    Args:
        others: name -> model (compiled, train function already traced).
        dataset: repeating batches with a static batch size.
        rounds: blocks per model.
        steps: train steps per block.
    """

    def __init__(self, others: dict[str, keras.Model], dataset: Any, rounds: int, steps: int):
        super().__init__()
        self.others = others
        self.dataset = dataset
        self.rounds = rounds
        self.steps = steps
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch:
            return
        models = {"driver": self.model, **self.others}
        iterators = {k: iter(self.dataset) for k in models}
        for k, model in models.items():  # the first call may trace: not timed
            for _ in range(2):
                _sync(model.train_function(iterators[k]))
        self.wall = {k: [] for k in models}
        self.cpu = {k: [] for k in models}
        with quiet_gc():
            for r in range(self.rounds):
                for k in rotated(list(models), r):
                    model, it = models[k], iterators[k]
                    wall, cpu = time.perf_counter(), time.process_time()
                    for _ in range(self.steps):
                        out = model.train_function(it)
                    _sync(out)
                    self.wall[k].append((time.perf_counter() - wall) / self.steps)
                    self.cpu[k].append((time.process_time() - cpu) / self.steps)


class Runner:
    """Runs the sides of one case from the same initial weights and data."""

    def __init__(self, case: SpeedCase, seed: int = 0):
        self.case = case
        keras.utils.set_random_seed(seed)
        model = case.build()
        self.initial = [np.array(w) for w in model.get_weights()]
        self.n_groups = len(case.hand_groups(model))
        self.n_params = int(model.count_params())
        self.schedules = schedules(case)
        self.group_names = self.check_groups(model)
        rng = np.random.default_rng(seed)
        self.x = rng.normal(size=(case.samples, *case.input_shape)).astype("float32")
        self.y = rng.integers(0, case.classes, size=case.samples).astype("int32")
        self.epochs = self.n_groups * case.epochs_per_stage
        del model

    def check_groups(self, model: keras.Model) -> list[str]:
        """The driver's groups must be the baseline's hand-written groups."""
        res = resolve(model, self.schedules["driver"])
        driver = [sorted(id(r.layer) for r in members) for members in res.members]
        hand = [sorted(id(la) for la in g) for g in self.case.hand_groups(model)]
        if driver != hand:
            raise BenchError(
                f"{self.case.name}: the driver's groups "
                f"{[g.name for g in res.groups]} ({[len(g) for g in driver]} layers) differ "
                f"from the hand-written ones ({[len(g) for g in hand]} layers)"
            )
        return [g.name for g in res.groups]

    def fresh(self) -> keras.Model:
        model = self.case.build()
        model.set_weights(self.initial)
        return model

    def fit(self, model: keras.Model, epochs: int, callbacks: list[Any], n: int | None = None
            ) -> Any:
        n = self.case.samples if n is None else n
        return model.fit(
            self.x[:n], self.y[:n], batch_size=self.case.batch_size, epochs=epochs,
            shuffle=False, verbose=0, callbacks=callbacks,
        )

    def run(self, side: str) -> dict[str, Any]:
        """One whole progressive run of ``side``; its time includes the optimizer's setup."""
        case = self.case
        model = self.fresh()
        clock = EpochClock()
        with quiet_gc(), Stopwatch() as sw:
            cpu = time.process_time()
            if side in HAND_WRITTEN:
                groups = case.hand_groups(model)
                bn = case.batchnorm(model)
                set_stage(model, groups, bn, self.n_groups)
                optimizer = _optimizer()
                optimizer.build(model.trainable_variables)  # every variable that may train
                set_stage(model, groups, bn, 1)
                model.compile(optimizer=optimizer, loss=_loss())
                hand = HandWrittenStages(groups, case.epochs_per_stage)
                self.fit(model, self.epochs, [clock, hand])
                stages = hand.stages
            else:
                model.compile(optimizer=_optimizer(), loss=_loss())
                driver = ProgressiveUnfreezing(self.schedules[side])
                history = self.fit(model, self.epochs, [clock, driver])
                stages = [int(s) for s in history.history[LOG_GROUPS]]  # groups trainable
            cpu = time.process_time() - cpu
        weights = model.get_weights()
        del model
        gc.collect()
        return {
            "seconds": sw.seconds,
            "cpu_seconds": cpu,
            "epochs": clock.epochs,
            "cpu_epochs": clock.cpu_epochs,
            "cycles": clock.cycles,
            "boundaries": [float("nan")] + [clock.boundary(e) for e in range(1, self.epochs)],
            "stages": stages,
            "weights": weights,
        }

    def floor(self, stage: int) -> keras.Model:
        """The stage's model compiled from scratch (plain optimizer), its step traced."""
        model = self.fresh()
        set_stage(model, self.case.hand_groups(model), self.case.batchnorm(model), stage)
        model.compile(optimizer=_optimizer(), loss=_loss())
        self.fit(model, 1, [], n=self.case.batch_size)
        return model

    def physics(self, stage: int, floor: keras.Model, all_: keras.Model | None, rounds: int,
                steps: int, floor_again: keras.Model | None = None) -> Interleave:
        """Step times of the driver at ``stage``, its floor and unfreeze-all, interleaved."""
        import tensorflow as tf

        bs = self.case.batch_size
        data = tf.data.Dataset.from_tensor_slices((self.x, self.y))
        data = data.batch(bs, drop_remainder=True).repeat()
        others = {"floor": floor}
        if all_ is not None:
            others["all"] = all_
        if floor_again is not None:
            others["floor_again"] = floor_again
        model = self.fresh()
        model.compile(optimizer=_optimizer(), loss=_loss())
        schedule = Schedule(FixedEpoch(every=10**6), initial=stage, groups=self.case.grouping)
        driver = ProgressiveUnfreezing(schedule)
        probe = Interleave(others, data, rounds, steps)
        self.fit(model, 1, [driver, probe], n=bs)
        trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
        floor_trainable = sum(int(np.prod(v.shape)) for v in floor.trainable_variables)
        if trainable != floor_trainable:
            raise BenchError(
                f"{self.case.name} stage {stage}: the driver trains {trainable} parameters, "
                f"the from-scratch model {floor_trainable}"
            )
        del model
        gc.collect()
        return probe
