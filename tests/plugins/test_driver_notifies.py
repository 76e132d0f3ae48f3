"""The Keras driver calls the ``on_stage_change`` hook during ``fit``."""

from __future__ import annotations

import os

import pytest

from unfreeze_core import FixedEpoch, Schedule
from unfreeze_core.testing import record_stage_changes


@pytest.mark.keras
def test_fit_notifies_plugins_at_each_stage_change() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from unfreeze_core import ProgressiveUnfreezing

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d0"),
                              keras.layers.Dense(3, name="d1"), keras.layers.Dense(1, name="head")])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    callback = ProgressiveUnfreezing(Schedule(FixedEpoch(every=1)))
    with record_stage_changes() as calls:
        model.fit(np.ones((16, 4)), np.ones((16, 1)), batch_size=8, epochs=3, verbose=0,
                  callbacks=[callback])
    assert [(c["epoch"], c["step"], c["stage"], c["newly_trainable"]) for c in calls] == [
        (0, 2, 2, (1,)),
        (1, 4, 3, (0,)),
    ]
    first = calls[0]
    assert [g.name for g in first["groups"]] == [g.name for g in callback.groups]
    assert first["model"] is model
    assert "loss" in first["logs"]
    assert first["lr_multipliers"] == (0.0, 1.0, 1.0)
