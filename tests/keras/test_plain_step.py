"""Without LR rules or gradient norms the optimizer's own step is used, unpatched."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from unfreeze_core import Discriminative, FixedEpoch, ProgressiveUnfreezing, Schedule
from unfreeze_core.keras.optimizer import unwrap

pytestmark = pytest.mark.keras


class Probe(keras.callbacks.Callback):
    """Records, at the first batch, whether ``update_step`` is patched on the instance."""

    def __init__(self) -> None:
        super().__init__()
        self.patched: bool | None = None

    def on_train_batch_begin(self, batch: int, logs: object = None) -> None:
        if self.patched is None:
            self.patched = "update_step" in vars(unwrap(self.model.optimizer))


def run(schedule: Schedule) -> tuple[bool | None, list[np.ndarray], list[np.ndarray]]:
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(5, name="d0"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Dense(3, name="d1"),
            keras.layers.Dense(1, name="head"),
        ]
    )
    model.compile(optimizer=keras.optimizers.AdamW(0.01), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    probe = Probe()
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    model.fit(
        x,
        x[:, :1],
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[ProgressiveUnfreezing(schedule), probe],
    )
    return probe.patched, before, model.get_weights()


def test_plain_schedule_leaves_the_step_alone_and_still_freezes() -> None:
    patched, before, after = run(Schedule(FixedEpoch(every=1), groups=3))
    assert patched is False
    # groups d0, d1, head (BatchNorm is frozen, in no group); d0 would unfreeze only
    # after the last epoch of this 2-epoch run, so it never trains.
    np.testing.assert_array_equal(before[0], after[0])  # d0 kernel
    assert not np.array_equal(before[-2], after[-2])  # head kernel trained


def test_rules_patch_the_step() -> None:
    patched, _, _ = run(Schedule(FixedEpoch(every=1), rules=[Discriminative(factor=2.0)], groups=3))
    assert patched is True
