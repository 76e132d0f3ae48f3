"""Bad input fails before the first batch, says what to do, and leaves no flag changed."""

from __future__ import annotations

from typing import Any

import keras
import pytest

from unfreeze_core import ByLayers, ByPatterns, ConfigError, FixedEpoch, Schedule
from unfreeze_core.keras import DriverError, ProgressiveUnfreezing
from unfreeze_core.timeline import human

from .helpers import data, mlp, snapshot

pytestmark = pytest.mark.keras


def _flags(model: Any) -> list[tuple[str, bool]]:
    return [(la.name, la.trainable) for la in model.layers] + [
        (v.path, v.trainable) for v in model.variables
    ]


def _fails(schedule: Schedule, match: str, optimizer: Any = None, compile: bool = True) -> str:
    x, y = data(16)
    model = mlp(widths=(4, 4))
    model.get_layer("l1").trainable = False  # a user's own flag, to be kept
    if compile:
        model.compile(optimizer=optimizer or keras.optimizers.Adam(), loss="mse")
    flags, weights = _flags(model), snapshot(model)
    cb = ProgressiveUnfreezing(schedule)
    with pytest.raises((ConfigError, DriverError)) as info:
        if compile:
            model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
        else:
            cb.set_model(model)
            cb.on_train_begin()
    assert _flags(model) == flags
    after = snapshot(model)
    assert all((after[k] == v).all() for k, v in weights.items())
    message = str(info.value)
    assert match in message, message
    return message


def test_pattern_matching_no_layer_lists_the_layers() -> None:
    msg = _fails(Schedule(FixedEpoch(every=1), groups=ByPatterns(["conv5_"])), "matches no layer")
    assert "l0, l1, head" in msg


def test_missing_layer_name_lists_the_layers() -> None:
    schedule = Schedule(FixedEpoch(every=1), groups=ByLayers([["l0"], ["l2"]]))
    msg = _fails(schedule, "no layer named 'l2'")
    assert "l0, l1, head" in msg


def test_more_advances_than_groups() -> None:
    _fails(Schedule(FixedEpoch(at=[1, 2, 3])), "allow at most 2")


def test_initial_larger_than_the_group_count() -> None:
    _fails(Schedule(FixedEpoch(every=1), initial=4), "must be <= the number of groups (3)")


def test_model_not_compiled() -> None:
    _fails(Schedule(FixedEpoch(every=1)), "call model.compile(", compile=False)


class NoUpdateStep(keras.optimizers.Optimizer):
    """An optimizer that cannot take a per-variable rate."""

    def __init__(self) -> None:
        super().__init__(learning_rate=0.1, name="no_update_step")


def test_optimizer_that_cannot_be_driven() -> None:
    _fails(Schedule(FixedEpoch(every=1)), "does not implement update_step",
           optimizer=NoUpdateStep())


def test_human_parameter_counts() -> None:
    assert [human(n) for n in (12, 1520, 14_900_000, 23_534_592, 3.2e9)] == [
        "12", "1.5K", "14.9M", "23.5M", "3.2B"
    ]
