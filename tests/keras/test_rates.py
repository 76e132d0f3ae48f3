"""Per-group learning rates are really applied, in the compiled step, without retracing."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from unfreeze_core import Discriminative, FixedEpoch, Schedule, StageScaled, Warmup
from unfreeze_core.keras import ProgressiveUnfreezing

from .helpers import data, mlp

pytestmark = pytest.mark.keras


class StepProbe(keras.callbacks.Callback):
    """Per epoch (one step each): weights before, weights after, gradients at the start."""

    def __init__(self, x: np.ndarray, y: np.ndarray, cb: ProgressiveUnfreezing) -> None:
        super().__init__()
        self.cb = cb
        self.x, self.y = x, y
        self.before: list[dict[str, np.ndarray]] = []
        self.after: list[dict[str, np.ndarray]] = []
        self.grads: list[dict[str, np.ndarray]] = []
        self.traces: list[int] = []

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        model = self.model
        variables = [v for v in model.variables if "kernel" in v.path]
        with tf.GradientTape() as tape:
            loss = keras.losses.MeanSquaredError()(self.y, model(self.x, training=True))
        grads = tape.gradient(loss, [v.value for v in variables])
        self.before.append({v.path: v.numpy().copy() for v in variables})
        self.grads.append({v.path: g.numpy() for v, g in zip(variables, grads, strict=False)})

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.after.append({v.path: v.numpy().copy() for v in self.model.variables})
        assert self.cb.driver is not None
        self.traces.append(self.cb.driver.traces)


def _run(schedule: Schedule, epochs: int, lr: float = 0.1, wd: float | None = None,
         widths: tuple[int, ...] = (4,)) -> Any:
    x, y = data(16)
    model = mlp(widths=widths)
    model.compile(optimizer=keras.optimizers.SGD(lr, weight_decay=wd), loss="mse")
    cb = ProgressiveUnfreezing(schedule)
    probe = StepProbe(x, y, cb)
    history = model.fit(x, y, epochs=epochs, batch_size=16, shuffle=False, verbose=0,
                        callbacks=[cb, probe])
    return probe, history


def _check_step(probe: StepProbe, epoch: int, path: str, rate: float, lr: float = 0.1,
                wd: float | None = None) -> None:
    w0 = probe.before[epoch][path]
    g = probe.grads[epoch][path]
    expected = w0 - rate * g
    if wd is not None:
        expected = w0 - w0 * wd * rate - rate * g
    np.testing.assert_allclose(probe.after[epoch][path], expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("wd", [None, 0.5])
def test_discriminative_rates_scale_each_groups_sgd_update(wd: float | None) -> None:
    schedule = Schedule(FixedEpoch(every=1000), initial=2,
                        rules=[Discriminative(multipliers=[1.0, 0.25])])
    probe, history = _run(schedule, 1, wd=wd)
    _check_step(probe, 0, "mlp/head/kernel", 0.1, wd=wd)
    _check_step(probe, 0, "mlp/l0/kernel", 0.025, wd=wd)
    assert history.history["unfreeze_lr/head"] == [pytest.approx(0.1)]
    assert history.history["unfreeze_lr/l0"] == [pytest.approx(0.025)]


def test_warmup_ramps_in_graph_without_retracing() -> None:
    schedule = Schedule(FixedEpoch(every=1000), initial=2, rules=[Warmup(steps=4)])
    probe, history = _run(schedule, 5)
    for epoch, mult in enumerate([0.25, 0.5, 0.75, 1.0, 1.0]):
        _check_step(probe, epoch, "mlp/head/kernel", 0.1 * mult)
    assert history.history["unfreeze_lr/head"] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1])
    assert probe.traces == [1, 1, 1, 1, 1]  # one trace, the ramp is in-graph


def test_stage_scales_and_per_group_warmup_after_unfreezing() -> None:
    """1e-5 -> 5e-5 -> 1e-4 as a base rate times stage scales, plus a fresh group's ramp."""
    schedule = Schedule(FixedEpoch(every=2),
                        rules=[StageScaled(scales=[0.1, 0.5, 1.0]), Warmup(steps=2)])
    probe, history = _run(schedule, 5, widths=(4, 4))
    lr = history.history
    assert lr["unfreeze_lr/head"] == pytest.approx([0.005, 0.01, 0.05, 0.05, 0.1])
    assert lr["unfreeze_lr/l1"] == pytest.approx([0.0, 0.0, 0.025, 0.05, 0.1])
    assert lr["unfreeze_lr/l0"] == pytest.approx([0.0, 0.0, 0.0, 0.0, 0.05])
    _check_step(probe, 0, "mlp/head/kernel", 0.005)
    _check_step(probe, 1, "mlp/head/kernel", 0.01)
    # the head is not "fresh" at stage 2: its ramp is done; l1 starts its own
    _check_step(probe, 2, "mlp/head/kernel", 0.05)
    _check_step(probe, 2, "mlp/l1/kernel", 0.025)
    _check_step(probe, 4, "mlp/head/kernel", 0.1)
    _check_step(probe, 4, "mlp/l0/kernel", 0.05)
    # one trace per stage, none for the ramps or scale changes in between
    assert probe.traces == [1, 1, 2, 2, 3]


def test_learning_rate_schedule_as_base_rate() -> None:
    x, y = data(16)
    model = mlp(widths=(4,))
    base = keras.optimizers.schedules.PiecewiseConstantDecay([1], [0.1, 0.02])
    model.compile(optimizer=keras.optimizers.SGD(base), loss="mse")
    schedule = Schedule(FixedEpoch(every=1000), initial=2,
                        rules=[Discriminative(multipliers=[1.0, 0.5])])
    cb = ProgressiveUnfreezing(schedule)
    probe = StepProbe(x, y, cb)
    h = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0,
                  callbacks=[cb, probe])
    _check_step(probe, 0, "mlp/l0/kernel", 0.05)
    _check_step(probe, 2, "mlp/l0/kernel", 0.01)
    assert h.history["unfreeze_lr/l0"] == pytest.approx([0.05, 0.05, 0.01])


class Recording:
    """A rule (Discriminative's factor 2, or a warmup of 4 steps) that records the
    array namespace of each call."""

    def __init__(self, reads_step: bool) -> None:
        self.reads_step = reads_step
        self.namespaces: list[str] = []

    def __call__(self, ctx: Any) -> Any:
        self.namespaces.append(ctx.xp.__name__)
        if self.reads_step:
            return ctx.xp.minimum((ctx.since + 1.0) / 4.0, 1.0)
        return 0.5**ctx.depth


def test_rules_fixed_for_a_stage_stay_out_of_the_compiled_step() -> None:
    """Only rules that read the step are evaluated in the compiled step; the others are
    folded into the stage's constants once per stage, with the same rates."""
    per_stage, per_step = Recording(reads_step=False), Recording(reads_step=True)
    schedule = Schedule(FixedEpoch(every=2), rules=[per_stage, per_step])
    probe, history = _run(schedule, 4, widths=(4,))
    assert "keras.ops" not in per_stage.namespaces and "numpy" in per_stage.namespaces
    assert "keras.ops" in per_step.namespaces
    lr = history.history
    # head: depth 0, ramp from its first step; l0 unfreezes at step 2: factor 0.5
    assert lr["unfreeze_lr/head"] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert lr["unfreeze_lr/l0"] == pytest.approx([0.0, 0.0, 0.0125, 0.025])
    _check_step(probe, 0, "mlp/head/kernel", 0.025)
    _check_step(probe, 2, "mlp/l0/kernel", 0.0125)
    _check_step(probe, 3, "mlp/head/kernel", 0.1)
    _check_step(probe, 3, "mlp/l0/kernel", 0.025)


def test_rates_apply_through_a_loss_scale_optimizer() -> None:
    """The driver drives the inner optimizer of a LossScaleOptimizer: per-group rates
    and the warmup apply to the unscaled gradients, and the loss scale is kept."""
    x, y = data(16)
    model = mlp(widths=(4,))
    optimizer = keras.optimizers.LossScaleOptimizer(
        keras.optimizers.SGD(0.1), initial_scale=2.0**10
    )
    model.compile(optimizer=optimizer, loss="mse")
    schedule = Schedule(FixedEpoch(every=1000), initial=2,
                        rules=[Discriminative(multipliers=[1.0, 0.25]), Warmup(steps=2)])
    cb = ProgressiveUnfreezing(schedule)
    probe = StepProbe(x, y, cb)
    history = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0,
                        callbacks=[cb, probe])
    for epoch, ramp in enumerate([0.5, 1.0, 1.0]):
        _check_step(probe, epoch, "mlp/head/kernel", 0.1 * ramp)
        _check_step(probe, epoch, "mlp/l0/kernel", 0.025 * ramp)
    assert history.history["unfreeze_lr/l0"] == pytest.approx([0.0125, 0.025, 0.025])
    assert float(keras.ops.convert_to_numpy(optimizer.dynamic_scale)) == 2.0**10
