"""The three classic hand-written recipes, as schedules on a real model, and why the
hand-written third one does not work on Keras 3."""

from __future__ import annotations

import keras
import pytest

from unfreeze_core import FixedEpoch, Schedule, StageScaled
from unfreeze_core.keras import ProgressiveUnfreezing

from .helpers import Recorder, data, mlp, same

pytestmark = pytest.mark.keras

X, Y = data(32, classes=3)


def _model() -> keras.Model:
    model = mlp(widths=(8, 8), out=3)  # three layers: l0, l1, head
    return model


def _fit(schedule: Schedule, lr: float, epochs: int) -> tuple[Recorder, dict[str, list[float]]]:
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    rec = Recorder()
    h = model.fit(X, Y, epochs=epochs, batch_size=32, verbose=0,
                  callbacks=[ProgressiveUnfreezing(schedule), rec])
    return rec, h.history


def test_example_1_only_the_final_layer_trains() -> None:
    rec, h = _fit(Schedule(FixedEpoch(every=10), initial=1), 1e-4, 10)
    assert same(rec.begin[0]["l0"], rec.end[-1]["l0"])
    assert same(rec.begin[0]["l1"], rec.end[-1]["l1"])
    assert not same(rec.begin[0]["head"], rec.end[-1]["head"])
    assert h["unfreeze_lr/head"] == pytest.approx([1e-4] * 10)
    assert h["unfreeze_lr/l1"] == [0.0] * 10


def test_example_2_the_last_two_layers_train() -> None:
    rec, h = _fit(Schedule(FixedEpoch(every=10), initial=2), 5e-5, 10)
    assert same(rec.begin[0]["l0"], rec.end[-1]["l0"])
    assert not same(rec.begin[0]["l1"], rec.end[-1]["l1"])
    assert h["unfreeze_lr/l1"] == pytest.approx([5e-5] * 10)


def test_example_3_progressive_with_rates_1e5_5e5_1e4() -> None:
    schedule = Schedule(FixedEpoch(every=5), rules=[StageScaled(scales=[0.1, 0.5, 1.0])])
    rec, h = _fit(schedule, 1e-4, 15)
    assert h["unfreeze_stage"] == [1.0] * 5 + [2.0] * 5 + [3.0] * 5
    assert h["unfreeze_lr/head"] == pytest.approx([1e-5] * 5 + [5e-5] * 5 + [1e-4] * 5)
    assert h["unfreeze_lr/l1"] == pytest.approx([0.0] * 5 + [5e-5] * 5 + [1e-4] * 5)
    assert h["unfreeze_lr/l0"] == pytest.approx([0.0] * 10 + [1e-4] * 5)
    # each layer frozen exactly until its stage, then trained; one optimizer throughout
    for layer, start in (("l0", 10), ("l1", 5), ("head", 0)):
        for epoch in range(15):
            assert (not same(rec.begin[epoch][layer], rec.end[epoch][layer])) == (epoch >= start)
    assert rec.iterations == list(range(1, 16))


def test_the_hand_written_third_recipe_fails_on_keras_3() -> None:
    """Copied from the recipe (recompile between stages with the same optimizer)."""
    model = _model()
    optimizer = keras.optimizers.Adam(learning_rate=1e-5)

    def unfreeze_layers(model: keras.Model, num_layers: int) -> None:
        for layer in model.layers[:-num_layers]:
            layer.trainable = False
        for layer in model.layers[-num_layers:]:
            layer.trainable = True

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    unfreeze_layers(model, 1)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    model.fit(X, Y, epochs=5, verbose=0)
    unfreeze_layers(model, 2)
    optimizer.learning_rate.assign(5e-5)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    with pytest.raises(ValueError, match="Unknown variable"):
        model.fit(X, Y, epochs=5, verbose=0)
