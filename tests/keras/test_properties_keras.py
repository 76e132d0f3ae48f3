"""Property test on real weights: generated models and schedules, a few epochs each.

After every epoch: frozen variables are bit-identical, the trainable set is what the
engine's dry run predicts, it never shrinks, and ``iterations`` never resets.
``UNFREEZE_KERAS_EXAMPLES=60`` runs a larger profile.
"""

from __future__ import annotations

import os
from typing import Any

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unfreeze_core import (
    Discriminative,
    FixedEpoch,
    GradNorm,
    Schedule,
    StageScaled,
    Warmup,
)
from unfreeze_core.keras import ProgressiveUnfreezing

pytestmark = [pytest.mark.keras, pytest.mark.slow]

EXAMPLES = int(os.environ.get("UNFREEZE_KERAS_EXAMPLES", "6"))
STEPS = 2  # optimizer steps per epoch
EPOCHS = 3


@st.composite
def models(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "kind": draw(st.sampled_from(["sequential", "functional", "nested"])),
        "conv": draw(st.booleans()),
        "bn": draw(st.booleans()),
        "depth": draw(st.integers(1, 3)),
    }


def build(spec: dict[str, Any]) -> keras.Model:
    shape = (6, 6, 2) if spec["conv"] else (5,)
    body: list[Any] = []
    for i in range(spec["depth"]):
        if spec["conv"]:
            body.append(keras.layers.Conv2D(3, 3, padding="same", activation="relu", name=f"w{i}"))
        else:
            body.append(keras.layers.Dense(4, activation="relu", name=f"w{i}"))
        if spec["bn"]:
            body.append(keras.layers.BatchNormalization(momentum=0.5, name=f"bn{i}"))
    if spec["conv"]:
        body.append(keras.layers.GlobalAveragePooling2D())
    head = keras.layers.Dense(1, name="head")
    if spec["kind"] == "sequential":
        return keras.Sequential([keras.Input(shape), *body, head])
    inputs = keras.Input(shape)
    if spec["kind"] == "nested":
        base = keras.Sequential([keras.Input(shape), *body], name="base")
        return keras.Model(inputs, head(base(inputs, training=False)))
    x = inputs
    for layer in body:
        x = layer(x)
    return keras.Model(inputs, head(x))


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    policy = draw(
        st.one_of(
            st.builds(FixedEpoch, every=st.integers(1, 2)),
            st.just(FixedEpoch(at=[1])),
            st.builds(GradNorm, threshold=st.just(1e9), window=st.just(1),
                      check_every=st.integers(1, 3)),
        )
    )
    rules = draw(
        st.lists(
            st.sampled_from([
                StageScaled(scales=[0.5, 1.0]), Discriminative(factor=2.0), Warmup(steps=3)
            ]),
            max_size=2, unique_by=lambda r: type(r).__name__,
        )
    )
    return Schedule(
        policy, rules=rules, initial=draw(st.integers(1, 2)), advance_by=draw(st.integers(1, 2)),
        batchnorm=draw(st.sampled_from(["frozen", "follow", "train"])),
    )


class Probe(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.begin: list[dict[str, np.ndarray]] = []
        self.end: list[dict[str, np.ndarray]] = []
        self.trainable_begin: list[set[str]] = []
        self.trainable_end: list[set[str]] = []
        self.iterations: list[int] = []

    def _values(self) -> dict[str, np.ndarray]:
        return {v.path: v.numpy().copy() for v in self.model.variables}

    def on_epoch_begin(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        self.begin.append(self._values())
        self.trainable_begin.append({v.path for v in self.model.trainable_variables})

    def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        self.end.append(self._values())
        self.trainable_end.append({v.path for v in self.model.trainable_variables})
        self.iterations.append(int(self.model.optimizer.iterations.numpy()))


def expected_trainable(cb: ProgressiveUnfreezing, groups: tuple[int, ...]) -> set[str]:
    res = cb.resolution
    assert res is not None
    paths = {v.path for g in groups for r in res.members[g] for v in r.variables}
    if cb.schedule.batchnorm == "train":
        paths |= {v.path for r in res.batchnorm for v in r.variables}
    return paths


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec=models(), schedule=schedules())
def test_invariants_hold_on_real_weights(spec: dict[str, Any], schedule: Schedule) -> None:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = build(spec)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, *model.input_shape[1:])).astype("float32")
    y = rng.normal(size=(8, 1)).astype("float32")
    cb = ProgressiveUnfreezing(schedule)
    probe = Probe()
    try:
        model.fit(x, y, epochs=EPOCHS, batch_size=8 // STEPS, shuffle=False, verbose=0,
                  callbacks=[cb, probe])
    except ValueError as exc:  # only a schedule that cannot fit this model may fail
        assert "initial" in str(exc) and schedule.initial > 1
        return
    n = len(cb.groups)
    records = schedule.dry_run(
        n, {"loss": [0.0] * EPOCHS}, steps_per_epoch=STEPS,
        grad_norms=[(1.0,) * n] * (EPOCHS * STEPS), epochs=EPOCHS,  # fit's budget
    )
    previous: set[str] = set()
    for epoch, record in enumerate(records):
        assert probe.trainable_begin[epoch] == expected_trainable(cb, record.trainable)
        after = tuple(range(n - record.stage_after, n))
        assert probe.trainable_end[epoch] == expected_trainable(cb, after)
        assert previous <= probe.trainable_begin[epoch] <= probe.trainable_end[epoch]
        previous = probe.trainable_end[epoch]
        for path, value in probe.begin[epoch].items():
            # a BatchNorm layer's statistics are frozen (inference mode) with its gamma
            owner = path.replace("moving_mean", "gamma").replace("moving_variance", "gamma")
            if owner not in probe.trainable_end[epoch]:
                assert np.array_equal(value, probe.end[epoch][path]), (epoch, path)
    assert probe.iterations == [STEPS * (e + 1) for e in range(EPOCHS)]
