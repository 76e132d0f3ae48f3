"""Freezing semantics on real models: frozen is frozen, unfrozen trains, state survives."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from unfreeze_core import FixedEpoch, Schedule
from unfreeze_core.keras import ProgressiveUnfreezing

from .helpers import Recorder, data, mlp, same

pytestmark = pytest.mark.keras


def test_frozen_groups_are_bit_identical_and_unfreeze_trains_from_next_epoch() -> None:
    x, y = data(32)
    model = mlp(widths=(8, 8))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    rec = Recorder()
    cb = ProgressiveUnfreezing(Schedule(FixedEpoch(at=[2, 3])))
    model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[cb, rec])
    # groups: l0, l1, head. head trains from epoch 0, l1 from epoch 2, l0 from epoch 3.
    first_trained = {"head": 0, "l1": 2, "l0": 3}
    for epoch in range(5):
        for layer, start in first_trained.items():
            moved = not same(rec.begin[epoch][layer], rec.end[epoch][layer])
            assert moved == (epoch >= start), (layer, epoch)
    # never frozen again once trainable; iterations never reset
    assert rec.iterations == [4, 8, 12, 16, 20]
    assert [len(t) for t in rec.trainable] == [2, 2, 4, 6, 6]
    assert cb.timeline == [(0, 1), (1, 1), (2, 2), (3, 3), (4, 3)]


def test_unfreezing_is_not_a_silent_no_op_without_recompiling() -> None:
    """The Keras 3 trap: flipping `trainable` mid-fit does nothing unless re-traced."""
    x, y = data(16)
    model = mlp(widths=(4,))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    rec = Recorder()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0,
              callbacks=[ProgressiveUnfreezing(Schedule(FixedEpoch(at=[1]))), rec])
    assert same(rec.begin[0]["l0"], rec.end[0]["l0"])
    assert not same(rec.begin[1]["l0"], rec.end[1]["l0"])


def _slots(opt: keras.optimizers.Optimizer, owner_path: str) -> list[np.ndarray]:
    key = owner_path.replace("/", "_") + "_"
    return [np.array(v.numpy()) for v in opt.variables if str(v.name).startswith(key)]


OPTIMIZERS = {
    "sgd_momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
    "adam": lambda: keras.optimizers.Adam(1e-2),
    "adamw": lambda: keras.optimizers.AdamW(1e-2, weight_decay=0.05),
    "rmsprop": lambda: keras.optimizers.RMSprop(1e-2),
    "lion": lambda: keras.optimizers.Lion(1e-3),
    "adam_schedule": lambda: keras.optimizers.Adam(
        keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=4, decay_rate=0.5)
    ),
}


HEAD = "mlp/head/kernel"
L0 = "mlp/l0/kernel"


class SlotProbe(keras.callbacks.Callback):
    """Head slots and the optimizer's variable objects at each epoch's begin and end."""

    def __init__(self) -> None:
        super().__init__()
        self.begin: list[list[np.ndarray]] = []
        self.end: list[list[np.ndarray]] = []
        self.l0_end: list[list[np.ndarray]] = []
        self.ids: list[list[int]] = []

    def on_epoch_begin(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        self.begin.append(_slots(self.model.optimizer, HEAD))
        self.ids.append([id(v) for v in self.model.optimizer.variables])

    def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        self.end.append(_slots(self.model.optimizer, HEAD))
        self.l0_end.append(_slots(self.model.optimizer, L0))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_state_survives_stage_changes(name: str) -> None:
    x, y = data(32)
    model = mlp(widths=(8,))
    model.compile(optimizer=OPTIMIZERS[name](), loss="mse")
    probe = SlotProbe()
    rec = Recorder()
    model.fit(x, y, epochs=3, batch_size=8, verbose=0,
              callbacks=[ProgressiveUnfreezing(Schedule(FixedEpoch(at=[1]))), probe, rec])
    assert rec.iterations == [4, 8, 12]
    # the same optimizer variables throughout: nothing rebuilt at the stage change
    assert probe.ids[0] == probe.ids[1] == probe.ids[2]
    head_slots = probe.end[0]
    assert head_slots, "the head has optimizer slots"
    assert any(np.any(s != 0) for s in head_slots)
    # moments of the head are carried across the stage change, not reset
    for before, after in zip(probe.end[0], probe.begin[1], strict=False):
        np.testing.assert_array_equal(before, after)
    # the newly unfrozen layer's slots were untouched while frozen, used afterwards
    assert all(np.all(s == 0) for s in probe.l0_end[0])
    assert any(np.any(s != 0) for s in probe.l0_end[1])
    # and its weights moved after unfreezing
    assert not same(rec.begin[1]["l0"], rec.end[1]["l0"])


def test_user_frozen_layers_before_fit_are_driven_too() -> None:
    """The Keras guide freezes the base before compile; the schedule then owns the flags."""
    x, y = data(16)
    model = mlp(widths=(4,))
    model.get_layer("l0").trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(x, y, epochs=1, verbose=0)  # optimizer built over the head only
    assert len(model.optimizer.variables) == 2 + 2 * 2
    iterations = int(model.optimizer.iterations.numpy())
    head_slots = _slots(model.optimizer, HEAD)
    assert any(np.any(s != 0) for s in head_slots)
    rec = Recorder()
    probe = SlotProbe()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0,
              callbacks=[ProgressiveUnfreezing(Schedule(FixedEpoch(at=[1]))), probe, rec])
    assert not same(rec.begin[1]["l0"], rec.end[1]["l0"])
    assert rec.iterations == [iterations + 1, iterations + 2]
    # the head's moments were kept when the optimizer was extended to l0
    assert len(model.optimizer.variables) == 2 + 2 * 4
    for before, after in zip(head_slots, probe.begin[0], strict=False):
        np.testing.assert_array_equal(before, after)
