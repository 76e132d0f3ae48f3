"""Saving, resuming after SIGKILL, and MirroredStrategy (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from unfreeze_core import FixedEpoch, Schedule
from unfreeze_core.keras import ProgressiveUnfreezing

from .helpers import SAFETY_TIMEOUT, data, mlp

pytestmark = pytest.mark.keras

SCRIPT = Path(__file__).with_name("driver_run.py")


def test_save_and_load_model_keep_the_optimizer_state(tmp_path: Path) -> None:
    x, y = data(32)
    model = mlp(widths=(8, 8), bn=True)
    model.compile(optimizer=keras.optimizers.AdamW(1e-2), loss="mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0,
              callbacks=[ProgressiveUnfreezing(Schedule(FixedEpoch(at=[1])))])
    # at save time: l1 and head trainable, l0 and the BatchNorm layers frozen
    path = tmp_path / "m.keras"
    model.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.models.load_model(path)
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    assert int(loaded.optimizer.iterations.numpy()) == 8
    original = {str(v.name): v.numpy() for v in model.optimizer.variables}
    assert len(loaded.optimizer.variables) == 2 + 2 * 4  # l1 and head, kernel and bias
    for v in loaded.optimizer.variables:
        name = str(v.name)  # a reloaded Sequential's paths lack the model's name
        expected = original.get(name, original.get(f"mlp_{name}"))
        assert expected is not None, name
        np.testing.assert_array_equal(v.numpy(), expected)
    assert [la.trainable for la in loaded.layers] == [la.trainable for la in model.layers]
    # and a loaded model continues under the driver, its moments extended, not reset
    before = {str(v.name): v.numpy() for v in loaded.optimizer.variables}
    probe: dict[str, Any] = {}

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # type: ignore[no-untyped-def]
            probe.update({str(v.name): v.numpy() for v in self.model.optimizer.variables})

    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0,
               callbacks=[ProgressiveUnfreezing(Schedule(FixedEpoch(at=[1]))), Probe()])
    for name, value in before.items():
        np.testing.assert_array_equal(probe[name], value)
    assert int(loaded.optimizer.iterations.numpy()) == 12


def _run(
    *args: str, env: dict[str, str] | None = None, timeout: float = SAFETY_TIMEOUT
) -> None:
    subprocess.run([sys.executable, str(SCRIPT), *args], check=True, timeout=timeout,
                   env=env, cwd=SCRIPT.parent.parent.parent)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.mark.slow
def test_mirrored_strategy_two_replicas_matches_one_device(tmp_path: Path) -> None:
    """Two logical CPUs under MirroredStrategy take the decisions of one device, from
    gradient norms aggregated across replicas, with the same per-group rates; a run
    cut short resumes from the driver's backup inside the strategy."""
    one, two = tmp_path / "one", tmp_path / "two"
    _run("mirrored", str(one), env=_env())
    _run("mirrored", str(two), "--replicas", "2", env=_env())

    def load(d: Path, name: str) -> tuple[dict[str, Any], Any]:
        return json.loads((d / f"{name}.json").read_text()), np.load(d / f"{name}.npz")

    for name in ("gradnorm", "plateau"):
        (a, wa), (b, wb) = load(one, name), load(two, name)
        assert a["transitions"] == b["transitions"], name
        assert [r["iterations"] for r in b["epochs"]] == [8 * (e + 1) for e in range(6)]
        for ra, rb in zip(a["epochs"], b["epochs"], strict=True):
            assert rb["stage"] == ra["stage"] and rb["trainable"] == ra["trainable"]
            assert rb["lr"] == pytest.approx(ra["lr"], rel=1e-6)
        for key in wa.files:
            np.testing.assert_allclose(wa[key], wb[key], rtol=1e-4, atol=1e-5)

    g1, _ = load(one, "gradnorm")
    g2, _ = load(two, "gradnorm")
    # GradNorm (read every 5 steps) advances mid-epoch: 8 steps per epoch, 4 groups
    assert g2["transitions"] == [[0, 5, 1, 2], [1, 10, 2, 3], [1, 15, 3, 4]]
    # every reading is the norm of the all-reduced (global-batch) gradient: two replicas
    # read what one device reads on the whole batch, not a replica's half of it
    assert len(g2["norms"]) == len(g1["norms"]) == 9  # steps 5, 10, ..., 45
    assert all(min(r[2:]) > 0 for r in g2["norms"][3:])  # everything trains by then
    np.testing.assert_allclose(g2["norms"], g1["norms"], rtol=1e-4, atol=1e-6)
    # at step 8 (logged at step 7): l2 unfroze at step 5, its 4-step warmup is at 3/4
    assert g2["epochs"][0]["lr"] == pytest.approx(
        {"unfreeze_lr/l0": 0.0, "unfreeze_lr/l1": 0.0,
         "unfreeze_lr/l2": 0.01 / 2 * 0.75, "unfreeze_lr/head": 0.01}
    )

    p2, w_full = load(two, "plateau")
    # Plateau on val_loss (never improving by min_delta=10): an advance per epoch end
    assert p2["transitions"] == [[1, 16, 1, 2], [2, 24, 2, 3], [3, 32, 3, 4]]
    assert [r["stage"] for r in p2["epochs"]] == [1.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    assert all(r["bn_same"] for r in p2["epochs"])  # frozen BatchNorm, on both replicas
    crashed, _ = load(two, "crashed")
    resumed, w_resumed = load(two, "resumed")
    assert [r["epoch"] for r in crashed["epochs"]] == [0, 1, 2]
    assert [r["epoch"] for r in resumed["epochs"]] == [3, 4, 5]
    assert crashed["epochs"] + resumed["epochs"] == p2["epochs"]
    assert resumed["transitions"] == p2["transitions"]
    for key in w_full.files:
        np.testing.assert_allclose(w_resumed[key], w_full[key], rtol=1e-5, atol=1e-6)
