"""Re-freezing on real Keras training: a re-frozen group's weights and optimizer slots stay
bit-identical (no stale momentum, no weight decay), an unfrozen-again group resumes from
its kept slots, and a resumed run keeps its re-frozen set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import keras
import numpy as np
import pytest

from unfreeze_core import AutoFreeze, FixedEpoch, FreezeOut, Schedule
from unfreeze_core.keras import ProgressiveUnfreezing

from .helpers import data, mlp

pytestmark = pytest.mark.keras


class Slots(keras.callbacks.Callback):
    """Each layer's weights and optimizer slots (by layer name) at every epoch end."""

    def __init__(self, layers: tuple[str, ...]) -> None:
        super().__init__()
        self.layers = layers
        self.weights: list[dict[str, list[np.ndarray]]] = []
        self.slots: list[dict[str, list[np.ndarray]]] = []

    def _of(self, variables: Any, name: str) -> list[np.ndarray]:
        return [np.array(v.numpy()) for v in variables if f"_{name}_" in v.path.replace("/", "_")]

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        model = self.model
        self.weights.append({n: [np.array(w) for w in model.get_layer(n).get_weights()]
                             for n in self.layers})
        self.slots.append({n: self._of(model.optimizer.variables, n) for n in self.layers})


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


OPTIMIZERS = {
    "sgd_momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
    "adamw_decay": lambda: keras.optimizers.AdamW(1e-2, weight_decay=0.1),
}


@pytest.mark.parametrize(
    ("optimizer", "anneal", "xla"),
    [("sgd_momentum", False, False), ("adamw_decay", True, True)],
)
def test_a_refrozen_group_keeps_weights_and_slots_bit_identical(
    optimizer: str, anneal: bool, xla: bool
) -> None:
    """FreezeOut over 12 steps (2 per epoch): l0 stops at step 6 (after epoch index 2), l1 at
    step 9 (frozen after epoch index 4). With and without the annealing rule (the
    patched and the plain optimizer step); AdamW's step compiled with XLA."""
    x, y = data(16)
    model = mlp(widths=(8, 8))
    model.compile(optimizer=OPTIMIZERS[optimizer](), loss="mse", jit_compile=xla)
    slots = Slots(("l0", "l1", "head"))
    schedule = Schedule(FreezeOut(12, t0=0.5, spacing="linear", anneal=anneal))
    cb = ProgressiveUnfreezing(schedule)
    model.fit(x, y, epochs=6, batch_size=8, shuffle=False, verbose=0, callbacks=[cb, slots])
    assert cb.state is not None and cb.state.refrozen == 2
    assert [(t.epoch, t.step, t.before, t.after) for t in cb.state.transitions] == [
        (2, 6, 3, 2), (4, 10, 2, 1)
    ]
    w, s = slots.weights, slots.slots
    assert all(len(s[0][n]) >= 2 for n in ("l0", "l1"))  # the slots were found
    for epoch in range(3, 6):  # l0 frozen from epoch 3 on: nothing moves, no decay
        assert _same(w[epoch]["l0"], w[2]["l0"]) and _same(s[epoch]["l0"], s[2]["l0"])
    assert _same(w[5]["l1"], w[4]["l1"]) and _same(s[5]["l1"], s[4]["l1"])
    assert not _same(w[2]["l0"], w[1]["l0"]) and not _same(w[4]["l1"], w[3]["l1"])
    assert not _same(w[5]["head"], w[4]["head"])  # the head never stops
    assert any(np.abs(v).sum() > 0 for v in s[2]["l0"])  # momentum was there to leak


@attrs.frozen
class _Thaw:
    """Chain-thaw style sets: all, then l0 frozen again, then all (each 2 epochs)."""

    when: Any = FixedEpoch(every=2)

    def trainable_sets(self, n_groups: int) -> list[tuple[int, ...]]:
        every = tuple(range(n_groups))
        return [every, every[1:], every]

    def init(self) -> Any:
        return self.when.init()

    def update(self, state: Any, event: Any) -> Any:
        return self.when.update(state, event)


def test_a_group_unfrozen_again_resumes_from_its_kept_slots() -> None:
    x, y = data(16)
    model = mlp(widths=(8, 8))
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    slots = Slots(("l0",))
    model.fit(x, y, epochs=6, batch_size=8, shuffle=False, verbose=0,
              callbacks=[ProgressiveUnfreezing(Schedule(_Thaw())), slots])
    w, s = slots.weights, slots.slots
    # frozen in epochs 2 and 3: bit-identical weights and momentum
    assert _same(w[3]["l0"], w[1]["l0"]) and _same(s[3]["l0"], s[1]["l0"])
    # trains again from epoch 4 on, from the kept (non-zero) momentum
    assert any(np.abs(v).sum() > 0 for v in s[3]["l0"])
    assert not _same(w[4]["l0"], w[3]["l0"]) and not _same(s[4]["l0"], s[3]["l0"])
    assert int(model.optimizer.iterations.numpy()) == 12


def _run(backup: Path | None, epochs: int, crash_at: int | None = None) -> tuple[Any, Any]:
    keras.utils.set_random_seed(5)
    x, y = data(16)
    model = mlp(widths=(8, 8))
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            if epoch == crash_at:
                raise KeyboardInterrupt("simulated crash")

    cb = ProgressiveUnfreezing(
        Schedule(FreezeOut(12, t0=0.5, spacing="linear")), backup_dir=backup
    )
    try:
        model.fit(x, y, epochs=epochs, batch_size=8, shuffle=False, verbose=0,
                  callbacks=[cb, Crash()])
    except KeyboardInterrupt:
        assert crash_at is not None
    return model, cb


def test_a_resumed_run_keeps_its_refrozen_set(tmp_path: Path) -> None:
    whole, whole_cb = _run(None, 6)
    _, crashed = _run(tmp_path / "backup", 6, crash_at=4)
    assert crashed.state.refrozen == 1  # l0 re-frozen after epoch index 2, then a crash
    resumed, cb = _run(tmp_path / "backup", 6)
    assert cb.state.refrozen == whole_cb.state.refrozen == 2
    assert cb.state.transitions == whole_cb.state.transitions
    assert all(np.array_equal(a, b) for a, b in
               zip(resumed.get_weights(), whole.get_weights(), strict=True))


def test_autofreeze_in_the_driver_freezes_a_prefix_that_stays_put() -> None:
    x, y = data(32)
    model = mlp(widths=(8, 8, 8))
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    slots = Slots(("l0", "l1", "l2"))
    cb = ProgressiveUnfreezing(Schedule(AutoFreeze(percentile=100, check_every=1, window=2)))
    model.fit(x, y, epochs=6, batch_size=8, shuffle=False, verbose=0, callbacks=[cb, slots])
    assert cb.state is not None and cb.state.refrozen >= 1
    assert cb.state.trainable == tuple(range(cb.state.refrozen, 4))
    first = cb.state.transitions[0].epoch  # groups below refrozen stop after this epoch
    frozen_names = [f"l{g}" for g in range(cb.state.refrozen) if g < 3]
    last = max(t.epoch for t in cb.state.transitions)
    for name in frozen_names:
        for epoch in range(last + 1, 6):
            assert _same(slots.weights[epoch][name], slots.weights[last][name])
            assert _same(slots.slots[epoch][name], slots.slots[last][name])
    assert first <= last


def test_with_caching_a_refrozen_prefix_is_cached_and_the_run_is_exact(capsys: Any) -> None:
    """FreezeOut re-freezes l0 then l1; with cache=True the driver computes the frozen
    prefix once per stage: same stages and weights as a plain model.fit."""
    from unfreeze_core.keras import fit

    def run(cache: bool) -> tuple[Any, Any]:
        keras.utils.set_random_seed(3)
        x, y = data(32)
        model = mlp(widths=(8, 8))
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
        cb = ProgressiveUnfreezing(
            Schedule(FreezeOut(20, t0=0.5, spacing="linear")), cache=cache, verbose=int(cache)
        )
        kw: dict[str, Any] = dict(epochs=5, batch_size=8, shuffle=False, verbose=0,
                                  callbacks=[cb])
        if cache:
            fit(model, x, y, **kw)
        else:
            model.fit(x, y, **kw)
        return model, cb

    plain, plain_cb = run(False)
    cached, cached_cb = run(True)
    out = capsys.readouterr().out
    assert "frozen prefix cached at 'l0'" in out and "frozen prefix cached at 'l1'" in out
    assert "Epoch 4: re-freezing group 'l0' (stage 2/3" in out
    assert plain_cb.state.refrozen == cached_cb.state.refrozen == 2
    assert plain_cb.timeline == cached_cb.timeline
    for a, b in zip(cached.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
