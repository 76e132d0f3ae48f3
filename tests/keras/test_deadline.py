"""The driver tells the policies the budget: ``TrainBegin`` carries ``fit``'s ``epochs``
and steps per epoch, so ``Plateau()``'s deadline brings every group in on a short run."""

from __future__ import annotations

from typing import Any

import keras
import pytest

from unfreeze_core import Plateau, Schedule, TrainBegin
from unfreeze_core.keras import ProgressiveUnfreezing

from .helpers import data, mlp

pytestmark = pytest.mark.keras


class Seen:
    """A policy that records the TrainBegin events and is never ready."""

    def __init__(self) -> None:
        self.begins: list[TrainBegin] = []

    def init(self) -> Any:
        return None

    def update(self, state: Any, event: Any) -> tuple[Any, bool]:
        if isinstance(event, TrainBegin):
            self.begins.append(event)
        return state, False


def test_train_begin_carries_the_budget() -> None:
    x, y = data(16)
    model = mlp(widths=(4, 4))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    seen = Seen()
    model.fit(x, y, epochs=3, batch_size=8, verbose=0,
              callbacks=[ProgressiveUnfreezing(Schedule(seen))])
    assert seen.begins == [TrainBegin(0, 0, epochs=3, steps_per_epoch=2, advances_left=2)]


def test_plateau_reaches_every_group_on_a_short_run() -> None:
    x, y = data(16)
    model = mlp(widths=(4, 4))
    model.compile(optimizer=keras.optimizers.SGD(1e-4), loss="mse")
    cb = ProgressiveUnfreezing(Schedule(Plateau(monitor="loss", min_rel_delta=0.0, patience=50)))
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[cb])
    # 5 epochs, 3 groups: the deadline is epoch 3; the head's stage has floor(3 / 2) = 1
    # epoch, the next one the 2 left: every group trains from the deadline on
    assert history.history["unfreeze_groups_trainable"] == [1.0, 2.0, 2.0, 3.0, 3.0]
