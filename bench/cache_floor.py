"""Frozen-prefix caching against its physical floor, stage by stage (issue 15).

For each stage of a progressive run, two sides train the same trainable part on the
same examples, batch size and optimizer:

- **driver**: ``unfreeze_core.keras.fit`` with ``ProgressiveUnfreezing(cache=True)``: one
  run through every stage (``FixedEpoch(every=E)``); the driver builds each stage's
  cache itself;
- **floor**: what a user would write by hand for that stage alone, with no driver: the
  frozen prefix run once with ``predict`` (Keras' "feature extraction"), the trainable
  suffix as ``keras.Model(cut_tensor, model.output)`` over the same layers, compiled
  with a fresh Adam and trained with ``model.fit`` on the precomputed arrays.

Per stage the epoch time is the median over the stage's epochs after its first (which
pays the cache build and the trace on both sides); the ratio driver / floor is the
target (<= 1.1). The one-off build is reported for the driver as the time from the
stage's first ``on_epoch_begin`` to its first ``on_train_batch_begin`` (cut moved,
prefix run, suffix compiled) and for the floor as its ``predict`` plus compile time.
The uncached driver (plain ``model.fit``) is measured too, to show what caching saves.
Sides alternate over ``rounds`` repetitions; medians over repetitions are reported.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import attrs
import keras
import numpy as np

from unfreeze_core import FixedEpoch, Schedule
from unfreeze_core.keras import ProgressiveUnfreezing, fit, plan

from .common import log, median, summary

__all__ = ["FloorCase", "floor_cases", "floor_suffix", "fresh", "run_cache_floor"]


@attrs.frozen
class FloorCase:
    """One model of the floor benchmark.

    Attributes:
        name: key in the results.
        description: for the tables.
        build: a fresh model (same initial weights each call: seeded).
        cut_layers: per stage, the name of the layer whose output is the hand-written
            cut (the top of the frozen prefix), or None for a stage with nothing frozen.
        samples, batch_size, epochs_per_stage: the run's sizes.
    """

    name: str
    description: str
    build: Callable[[], keras.Model]
    input_shape: tuple[int, ...]
    classes: int
    samples: int
    batch_size: int
    epochs_per_stage: int


def _flat_resnet50(size: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    base = keras.applications.ResNet50(weights=None, include_top=False,
                                       input_shape=(size, size, 3), pooling="avg")
    return keras.Model(base.input, keras.layers.Dense(10, name="head")(base.output),
                       name="resnet50_flat")


def _small_cnn(size: int) -> keras.Model:
    from .models import small_cnn

    keras.utils.set_random_seed(0)
    return small_cnn((size, size, 3), 10, (32, 64, 128, 128))


def floor_cases(profile_name: str) -> list[FloorCase]:
    """The cases of a profile: tiny for ``quick``, ResNet50 and a CNN for ``full``."""
    if profile_name == "quick":
        return [FloorCase("small_cnn", "small CNN, 2 conv-BN blocks (8/16), 16x16x3",
                          _small_cnn_tiny, (16, 16, 3), 10, 128, 32, 2)]
    return [
        FloorCase("small_cnn", "small CNN, 4 conv-BN blocks (32/64/128/128), 32x32x3, "
                  "2,048 examples, batch 64; Auto groups: one per conv + head",
                  lambda: _small_cnn(32), (32, 32, 3), 10, 2048, 64, 3),
        FloorCase("resnet50", "keras.applications.ResNet50 (weights=None), built flat, "
                  "32x32x3, 512 examples, batch 32; Auto groups: conv1 (stem), conv2..conv5, "
                  "head", lambda: _flat_resnet50(32), (32, 32, 3), 10, 512, 32, 3),
    ]


def _small_cnn_tiny() -> keras.Model:
    from .models import small_cnn

    keras.utils.set_random_seed(0)
    return small_cnn((16, 16, 3), 10, (8, 16))


class _Clock(keras.callbacks.Callback):
    """Epoch times and each epoch's time to its first batch."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[float] = []
        self.to_first_batch: list[float] = []
        self._start = 0.0
        self._first = True

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._first = True
        self._start = time.perf_counter()

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        if self._first:
            self.to_first_batch.append(time.perf_counter() - self._start)
            self._first = False

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.epochs.append(time.perf_counter() - self._start)


def _compile(model: keras.Model) -> None:
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))


def _data(case: FloorCase) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(case.samples, *case.input_shape)).astype("float32")
    return x, rng.integers(0, case.classes, size=case.samples)


def _cut_names(model: keras.Model, groups: list[Any]) -> list[str | None]:
    """Per stage, the layer whose *input* the hand-written floor cuts at: the lowest
    trainable layer in graph order (everything below it is frozen and fixed), or None
    when the lowest group trains. ``groups``: the plan's, input side first."""
    n = len(groups)
    cuts: list[str | None] = []
    for k in range(1, n + 1):  # k groups trainable, from the top
        if k == n:
            cuts.append(None)
            continue
        trainable = {name for g in groups[n - k:] for name in g.layers}
        cuts.append(next(layer.name for layer in model.layers if layer.name in trainable))
    return cuts


def fresh(case: FloorCase) -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """A new session's model of ``case`` (not compiled) and its data: every side of
    the floor benchmark starts from this."""
    keras.backend.clear_session()
    gc.collect()
    return case.build(), *_data(case)


def _driver(case: FloorCase, n_stages: int, cache: bool) -> _Clock:
    model, x, y = fresh(case)
    _compile(model)
    clock = _Clock()
    schedule = Schedule(FixedEpoch(every=case.epochs_per_stage))
    cb = ProgressiveUnfreezing(schedule, cache=cache, verbose=0)
    epochs = case.epochs_per_stage * n_stages
    if cache:
        fit(model, x, y, epochs=epochs, batch_size=case.batch_size, verbose=0,
            callbacks=[cb, clock], seed=0)
    else:
        model.fit(x, y, epochs=epochs, batch_size=case.batch_size, verbose=0,
                  callbacks=[cb, clock])
    return clock


def floor_suffix(case: FloorCase, cut: str | None) -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """A fresh model's part above ``cut`` as its own compiled model (frozen BatchNorm,
    as the schedules' ``batchnorm="frozen"``), with its precomputed inputs and labels."""
    model, x, y = fresh(case)
    if cut is None:
        suffix, features = model, x
    else:
        tensor = model.get_layer(cut).input
        prefix = keras.Model(model.inputs, tensor)
        features = prefix.predict(x, batch_size=case.batch_size, verbose=0)
        suffix = keras.Model(tensor, model.output)
    for layer in suffix.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    _compile(suffix)
    return suffix, features, y


def _floor_stage(case: FloorCase, cut: str | None) -> dict[str, Any]:
    """The hand-written suffix of one stage: its setup seconds and its epoch times,
    trained both with ``model.fit`` and with a ``train_on_batch`` loop (at small sizes
    ``fit``'s per-epoch set-up dominates; the floor is the faster of the two)."""
    start = time.perf_counter()
    suffix, features, y = floor_suffix(case, cut)
    setup = time.perf_counter() - start
    clock = _Clock()
    suffix.fit(features, y, epochs=case.epochs_per_stage, batch_size=case.batch_size,
               verbose=0, callbacks=[clock], shuffle=True)
    loop: list[float] = []
    rng = np.random.default_rng(1)
    bs = case.batch_size
    for _ in range(case.epochs_per_stage):
        t = time.perf_counter()
        order = rng.permutation(len(y))
        for i in range(0, len(y), bs):
            idx = order[i:i + bs]
            suffix.train_on_batch(features[idx], y[idx])
        loop.append(time.perf_counter() - t)
    return {"setup": setup + clock.epochs[0], "fit": median(clock.epochs[1:]),
            "loop": median(loop[1:])}


def run_case(case: FloorCase, rounds: int) -> dict[str, Any]:
    """Every stage of ``case``, ``rounds`` times each side, alternating."""
    model = case.build()
    schedule = Schedule(FixedEpoch(every=case.epochs_per_stage))
    planned = list(plan(model, schedule).groups)
    cuts = _cut_names(model, planned)
    groups = [g.name for g in planned]
    n_stages = len(cuts)
    e = case.epochs_per_stage
    per_stage: list[dict[str, list[float]]] = [
        {"driver": [], "floor": [], "floor_fit": [], "floor_loop": [], "uncached": [],
         "driver_build": [], "floor_build": []}
        for _ in range(n_stages)
    ]
    for r in range(rounds):
        sides = ("driver", "floor", "uncached") if r % 2 == 0 else ("uncached", "floor", "driver")
        for side in sides:
            if side == "floor":
                for k, cut in enumerate(cuts):
                    f = _floor_stage(case, cut)
                    per_stage[k]["floor"].append(min(f["fit"], f["loop"]))
                    per_stage[k]["floor_fit"].append(f["fit"])
                    per_stage[k]["floor_loop"].append(f["loop"])
                    per_stage[k]["floor_build"].append(f["setup"])
                continue
            clock = _driver(case, n_stages, cache=side == "driver")
            for k in range(n_stages):
                block = clock.epochs[k * e:(k + 1) * e]
                per_stage[k][side].append(median(block[1:]))
                if side == "driver":
                    per_stage[k]["driver_build"].append(clock.to_first_batch[k * e])
        log(f"  cache floor {case.name} round {r + 1}/{rounds} done")
    stages = []
    for k, d in enumerate(per_stage):
        ratios = [a / b for a, b in zip(d["driver"], d["floor"], strict=True)]
        saved = [u / a for u, a in zip(d["uncached"], d["driver"], strict=True)]
        stages.append({
            "stage": k + 1,
            "trainable_groups": groups[n_stages - 1 - k:],
            "cut": cuts[k],
            "driver_epoch_s": median(d["driver"]),
            "floor_epoch_s": median(d["floor"]),
            "floor_fit_epoch_s": median(d["floor_fit"]),
            "floor_loop_epoch_s": median(d["floor_loop"]),
            "uncached_epoch_s": median(d["uncached"]),
            "driver_build_s": median(d["driver_build"]),
            "floor_setup_s": median(d["floor_build"]),
            "ratio": summary(ratios),
            "uncached_over_cached": summary(saved),
        })
    return {"description": case.description, "groups": groups,
            "epochs_per_stage": e, "rounds": rounds, "stages": stages}


def run_cache_floor(profile_name: str, rounds: int) -> dict[str, Any]:
    """The section: every case of the profile."""
    return {"target": 1.1,
            "cases": {c.name: run_case(c, rounds) for c in floor_cases(profile_name)}}
