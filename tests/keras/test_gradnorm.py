"""GradNorm reads the gradients the train step already computed, on the device."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from unfreeze_core import FixedEpoch, GradNorm, Schedule
from unfreeze_core.keras import ProgressiveUnfreezing

from .helpers import Recorder, data, mlp

pytestmark = pytest.mark.keras


@pytest.mark.parametrize("loss_scaled", [False, True], ids=["sgd", "loss-scale-optimizer"])
def test_norms_equal_the_train_steps_gradients_per_group(loss_scaled: bool) -> None:
    """Per-group norms of the step's own gradients; behind a LossScaleOptimizer, of the
    unscaled gradients its inner optimizer applies."""
    x, y = data(16)
    model = mlp(widths=(4,))
    optimizer = keras.optimizers.SGD(0.0)  # weights stay put
    if loss_scaled:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=2.0**10)
    model.compile(optimizer=optimizer, loss="mse")
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, model(x, training=True))
    variables = model.trainable_variables
    grads = tape.gradient(loss, [v.value for v in variables])
    expected = {}
    for v, g in zip(variables, grads, strict=False):
        layer = v.path.split("/")[1]
        expected[layer] = expected.get(layer, 0.0) + float(tf.reduce_sum(g * g))
    # GradNorm never fires on its own (threshold below any norm; its deadline may);
    # reads every 2 steps
    schedule = Schedule(GradNorm(threshold=1e-9, window=1, check_every=2), initial=2)
    cb = ProgressiveUnfreezing(schedule)
    h = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0, callbacks=[cb])
    assert cb.grad_norms == pytest.approx(
        (np.sqrt(expected["l0"]), np.sqrt(expected["head"])), rel=1e-5
    )
    total = np.sqrt(expected["l0"] + expected["head"])
    assert np.isnan(h.history["unfreeze_grad_norm"][0])  # step 1: nothing read yet
    assert h.history["unfreeze_grad_norm"][1] == pytest.approx(total, rel=1e-5)


def test_gradnorm_advances_mid_epoch_and_frozen_groups_read_zero() -> None:
    x, y = data(32)
    model = mlp(widths=(4, 4))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    rec = Recorder()
    norms: list[tuple[float, ...]] = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):  # type: ignore[no-untyped-def]
            if cb.grad_norms is not None and (not norms or norms[-1] is not cb.grad_norms):
                norms.append(cb.grad_norms)

    # ready at every reading: an advance every 3 steps, mid-epoch (4 steps per epoch)
    cb = ProgressiveUnfreezing(Schedule(GradNorm(threshold=1e9, window=1, check_every=3)))
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, callbacks=[cb, rec, Spy()])
    assert cb.state is not None
    assert [t.step for t in cb.state.transitions] == [3, 6]
    assert norms[0][0] == 0.0 and norms[0][1] == 0.0 and norms[0][2] > 0  # only the head
    assert norms[1][0] == 0.0 and norms[1][1] > 0 and norms[1][2] > 0
    # l1 unfroze after step 3: it moved within epoch 0 (steps 4), l0 only in epoch 1
    assert not np.array_equal(rec.begin[0]["l1"][0], rec.end[0]["l1"][0])
    assert np.array_equal(rec.begin[0]["l0"][0], rec.end[0]["l0"][0])
    assert not np.array_equal(rec.begin[1]["l0"][0], rec.end[1]["l0"][0])


def test_epoch_policies_add_no_per_batch_python() -> None:
    cb = ProgressiveUnfreezing(Schedule(FixedEpoch(every=1)))
    assert "on_train_batch_end" not in vars(cb)
    assert "on_train_batch_end" in vars(ProgressiveUnfreezing(Schedule(GradNorm(threshold=1.0))))
