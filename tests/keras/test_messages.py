"""What ``verbose=1`` says at the edges of a run."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from unfreeze_core import FixedEpoch, ProgressiveUnfreezing, Schedule

pytestmark = pytest.mark.keras


def test_an_advance_after_the_last_epoch_is_not_announced_as_a_new_epoch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="a"), keras.layers.Dense(1, name="b")]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    callback = ProgressiveUnfreezing(Schedule(FixedEpoch(every=2)), verbose=1)
    model.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=2, verbose=0, callbacks=[callback])
    out = capsys.readouterr().out
    assert "Epoch 3" not in out
    assert (
        "Epoch 2: the schedule advanced after the last epoch; group 'a' will train if "
        "training continues (stage 2/2, 19 of 19 parameters trainable)"
    ) in out
    assert "2 groups, 2 stages" in out
