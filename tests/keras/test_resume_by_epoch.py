"""``fit`` again, ``initial_epoch`` without a backup, and a loss that becomes NaN.

- a second ``fit`` on the same callback with ``initial_epoch`` equal to the epochs the
  first one completed continues at the stage the first one reached (nothing is frozen
  again); ``initial_epoch=0`` starts afresh;
- ``initial_epoch=E`` on a fresh callback fast-forwards the schedule through the ``E``
  skipped epochs with no metrics: ``FixedEpoch`` is where its formula says, a policy
  watching a metric starts counting at epoch ``E + 1`` (and a warning says so);
- a NaN loss reaches the schedule as NaN, which then holds its stage (``on_nan="hold"``).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from unfreeze_core import FixedEpoch, Plateau, Schedule
from unfreeze_core.errors import UnfreezeWarning
from unfreeze_core.keras import ProgressiveUnfreezing

from .helpers import Recorder, data, mlp, same

pytestmark = pytest.mark.keras


def _compiled(widths: tuple[int, ...] = (4, 4)) -> Any:
    model = mlp(widths=widths)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def test_a_second_fit_continues_at_the_stage_the_first_reached() -> None:
    x, y = data(16)
    model = _compiled()
    cb = ProgressiveUnfreezing(Schedule(FixedEpoch(every=1)))
    first = model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert first.history["unfreeze_stage"] == [1.0]
    assert cb.state is not None and cb.state.stage == 2  # advanced after the last epoch
    rec = Recorder()
    second = model.fit(x, y, initial_epoch=1, epochs=3, verbose=0, callbacks=[cb, rec])
    assert second.history["unfreeze_stage"] == [2.0, 3.0]
    assert cb.timeline == [(0, 1), (1, 2), (2, 3)]
    # 'l1' trains from the second fit's first epoch: it was not frozen again
    assert not same(rec.begin[0]["l1"], rec.end[0]["l1"])
    assert same(rec.begin[0]["l0"], rec.end[0]["l0"])


def test_a_second_fit_on_another_model_does_not_continue_the_first() -> None:
    x, y = data(16)
    cb = ProgressiveUnfreezing(Schedule(FixedEpoch(every=1)))
    _compiled().fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    other = _compiled(widths=(4, 4, 4))  # other groups: fast-forwarded, not continued
    h = other.fit(x, y, initial_epoch=1, epochs=2, verbose=0, callbacks=[cb])
    assert h.history["unfreeze_stage"] == [2.0]
    assert len(cb.groups) == 4 and cb.timeline == [(1, 2)]


def test_a_second_fit_from_epoch_0_starts_afresh() -> None:
    x, y = data(16)
    model = _compiled()
    cb = ProgressiveUnfreezing(Schedule(FixedEpoch(every=1)))
    model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    again = model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
    assert again.history["unfreeze_stage"] == [1.0, 2.0]


def test_initial_epoch_without_a_backup_fast_forwards_a_timetable() -> None:
    x, y = data(16)
    model = _compiled(widths=(4, 4, 4))
    cb = ProgressiveUnfreezing(Schedule(FixedEpoch(every=1)))
    h = model.fit(x, y, initial_epoch=2, epochs=4, verbose=0, callbacks=[cb])
    # the documented formula: stage 1 + epoch // every, so stages 3 and 4
    assert h.history["unfreeze_stage"] == [3.0, 4.0]
    assert cb.timeline == [(2, 3), (3, 4)]


def test_initial_epoch_without_a_backup_restarts_a_metric_policy_with_a_warning() -> None:
    x, y = data(16)
    model = _compiled()
    cb = ProgressiveUnfreezing(Schedule(Plateau(monitor="loss", patience=50)))
    with pytest.warns(UnfreezeWarning, match="fast-forwarded.*start counting at epoch 3"):
        h = model.fit(x, y, initial_epoch=2, epochs=3, verbose=0, callbacks=[cb])
    assert h.history["unfreeze_stage"] == [1.0]


def test_a_nan_loss_holds_the_stage() -> None:
    x, y = data(16)
    model = _compiled(widths=(4, 4, 4))

    def poison(epoch: int, logs: Any = None) -> None:
        if epoch == 1:  # from the second epoch on, every loss is NaN
            kernel = model.get_layer("head").kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    cb = ProgressiveUnfreezing(Schedule(FixedEpoch(every=1)))
    with pytest.warns(UnfreezeWarning, match="no stage change"):
        h = model.fit(x, y, epochs=4, verbose=0,
                      callbacks=[keras.callbacks.LambdaCallback(on_epoch_begin=poison), cb])
    assert np.isfinite(h.history["loss"][0]) and np.isnan(h.history["loss"][1:]).all()
    # advanced after the one finite epoch, then held at every NaN epoch's end
    assert h.history["unfreeze_stage"] == [1.0, 2.0, 2.0, 2.0]
