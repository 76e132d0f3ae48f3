"""Drive real Keras training on one backend and report what happened, as JSON.

Run as ``KERAS_BACKEND=jax python backend_run.py OUT.json``. The backend must be chosen
before Keras is imported, hence a process per backend; ``test_backends.py`` launches it
and makes the assertions. The script only measures: which weights moved in which epoch,
optimizer slots across stage changes, each step's update against the update computed
here in NumPy from the same weights, gradient norms, a save/load round trip, and a run
resumed from the driver's backup.
Nothing runs on import.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from unfreeze_core import (
        Discriminative,
        FixedEpoch,
        GradNorm,
        Schedule,
        StageScaled,
        Warmup,
    )
    from unfreeze_core.keras import ProgressiveUnfreezing

    def data(n: int = 32, d: int = 6, seed: int = 0) -> tuple[Any, Any]:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, d)).astype("float32")
        return x, (x @ rng.normal(size=(d, 1))).astype("float32")

    def mlp(widths: tuple[int, ...], activation: str | None = "relu", bn: bool = False) -> Any:
        layers: list[Any] = [keras.Input((6,))]
        for i, w in enumerate(widths):
            layers.append(keras.layers.Dense(w, activation=activation, name=f"l{i}"))
            if bn:
                layers.append(keras.layers.BatchNormalization(momentum=0.5, name=f"bn{i}"))
        layers.append(keras.layers.Dense(1, name="head"))
        return keras.Sequential(layers, name="mlp")

    def values(model: Any) -> dict[str, list[Any]]:
        return {la.name: [np.array(w) for w in la.get_weights()] for la in model.layers}

    def moved(a: list[Any], b: list[Any]) -> bool:
        return not all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    def slots(opt: Any, layer: str) -> list[Any]:
        key = f"mlp_{layer}_kernel_"
        return [np.array(v.numpy()) for v in opt.variables if str(v.name).startswith(key)]

    class Recorder(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.begin: list[dict[str, list[Any]]] = []
            self.end: list[dict[str, list[Any]]] = []
            self.iterations: list[int] = []
            self.trainable: list[int] = []
            self.slot_ids: list[list[int]] = []
            self.head_begin: list[list[Any]] = []
            self.head_end: list[list[Any]] = []
            self.l0_end: list[list[Any]] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.begin.append(values(self.model))
            self.trainable.append(len(self.model.trainable_variables))
            opt = self.model.optimizer
            self.slot_ids.append([id(v) for v in opt.variables])
            self.head_begin.append(slots(opt, "head"))

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.end.append(values(self.model))
            opt = self.model.optimizer
            self.iterations.append(int(opt.iterations.numpy()))
            self.head_end.append(slots(opt, "head"))
            self.l0_end.append(slots(opt, "l0"))

    report: dict[str, Any] = {"backend": keras.backend.backend()}
    started = time.monotonic()

    # 1. Freezing: frozen groups bit-identical, a group trains from the epoch after its
    # unfreezing, BatchNorm statistics fixed, iterations never reset.
    keras.utils.set_random_seed(1)
    x, y = data(32)
    model = mlp((8, 8), bn=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    rec = Recorder()
    cb = ProgressiveUnfreezing(Schedule(FixedEpoch(at=[2, 3])))
    model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[cb, rec])
    report["freezing"] = {
        "moved": {
            name: [moved(rec.begin[e][name], rec.end[e][name]) for e in range(5)]
            for name in ("l0", "bn0", "l1", "bn1", "head")
        },
        "iterations": rec.iterations,
        "trainable": rec.trainable,
        "timeline": [list(t) for t in cb.timeline],
    }

    # 2. Optimizer state across a stage change, for each optimizer family.
    optimizers = {
        "sgd_momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
        "adam": lambda: keras.optimizers.Adam(1e-2),
        "adamw": lambda: keras.optimizers.AdamW(1e-2, weight_decay=0.05),
        "rmsprop": lambda: keras.optimizers.RMSprop(1e-2),
        "lion": lambda: keras.optimizers.Lion(1e-3),
    }
    state: dict[str, Any] = {}
    for name, make in optimizers.items():
        keras.utils.set_random_seed(2)
        model = mlp((8,))
        model.compile(optimizer=make(), loss="mse")
        rec = Recorder()
        model.fit(x, y, epochs=3, batch_size=8, verbose=0,
                  callbacks=[ProgressiveUnfreezing(Schedule(FixedEpoch(at=[1]))), rec])
        state[name] = {
            "iterations": rec.iterations,
            "same_variables": rec.slot_ids[0] == rec.slot_ids[1] == rec.slot_ids[2],
            "head_slots_nonzero": any(bool(np.any(s != 0)) for s in rec.head_end[0]),
            "head_slots_carried": all(
                np.array_equal(a, b) for a, b in zip(rec.head_end[0], rec.head_begin[1],
                                                     strict=True)
            ) and len(rec.head_end[0]) > 0,
            "l0_slots_zero_while_frozen": all(bool(np.all(s == 0)) for s in rec.l0_end[0]),
            "l0_slots_used_after": any(bool(np.any(s != 0)) for s in rec.l0_end[1]),
            "l0_frozen_then_moves": [moved(rec.begin[e]["l0"], rec.end[e]["l0"])
                                     for e in range(3)],
        }
    report["optimizer_state"] = state

    # 3. Per-group rates in the compiled step: a linear model, one SGD step per epoch;
    # each step's update must be rate * (the gradient computed here in NumPy).
    def grads(w: dict[str, list[Any]], xb: Any, yb: Any) -> dict[str, Any]:
        (k0, b0), (k1, b1) = w["l0"], w["head"]
        h = xb @ k0 + b0
        d = 2.0 * (h @ k1 + b1 - yb) / yb.size
        return {"head": h.T @ d, "l0": xb.T @ (d @ k1.T)}

    def rates_run(schedule: Schedule, epochs: int, wd: float | None) -> dict[str, Any]:
        keras.utils.set_random_seed(3)
        xr, yr = data(16)
        model = mlp((4,), activation=None)
        model.compile(optimizer=keras.optimizers.SGD(0.1, weight_decay=wd), loss="mse")
        rec = Recorder()
        cb = ProgressiveUnfreezing(schedule)
        h = model.fit(xr, yr, epochs=epochs, batch_size=16, shuffle=False, verbose=0,
                      callbacks=[cb, rec])
        measured: dict[str, list[float | None]] = {"head": [], "l0": []}
        for e in range(epochs):
            g = grads(rec.begin[e], xr.astype("float64"), yr.astype("float64"))
            for layer in ("head", "l0"):
                w0 = rec.begin[e][layer][0].astype("float64")
                step = w0 - rec.end[e][layer][0].astype("float64")
                # step = rate * (g + wd * w0): solve for the rate by least squares
                direction = g[layer] + (wd or 0.0) * w0
                rate = float(np.sum(step * direction) / np.sum(direction * direction))
                residual = float(np.max(np.abs(step - rate * direction)))
                scale = float(np.max(np.abs(step))) or 1.0
                measured[layer].append(rate if residual <= 1e-3 * scale + 1e-7 else None)
        return {
            "measured": measured,
            "logged": {k: h.history[f"unfreeze_lr/{k}"] for k in ("head", "l0")},
            "traces": cb.driver.traces if cb.driver is not None else None,
        }

    def measured_rate(rec: Any, epoch: int, layer: str, xr: Any, yr: Any) -> float | None:
        g = grads(rec.begin[epoch], xr.astype("float64"), yr.astype("float64"))[layer]
        step = (rec.begin[epoch][layer][0] - rec.end[epoch][layer][0]).astype("float64")
        rate = float(np.sum(step * g) / np.sum(g * g))
        ok = float(np.max(np.abs(step - rate * g))) <= 1e-3 * float(np.max(np.abs(step)))
        return rate if ok else None

    report["rates"] = {
        "discriminative": rates_run(
            Schedule(FixedEpoch(every=1000), initial=2,
                     rules=[Discriminative(multipliers=[1.0, 0.25])]), 1, None),
        "discriminative_decay": rates_run(
            Schedule(FixedEpoch(every=1000), initial=2,
                     rules=[Discriminative(multipliers=[1.0, 0.25])]), 1, 0.5),
        "staged_warmup": rates_run(
            Schedule(FixedEpoch(every=2),
                     rules=[StageScaled(scales=[0.1, 1.0]), Warmup(steps=2)]), 4, None),
    }

    # After the run the patches are gone: a plain fit trains what is trainable (the head)
    # at the optimizer's base rate, the frozen layer stays put.
    keras.utils.set_random_seed(3)
    xr, yr = data(16)
    model = mlp((4,), activation=None)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    during, after = Recorder(), Recorder()
    model.fit(xr, yr, epochs=1, batch_size=16, shuffle=False, verbose=0, callbacks=[
        ProgressiveUnfreezing(Schedule(FixedEpoch(every=1000),
                                       rules=[StageScaled(scales=[0.2])])), during])
    model.fit(xr, yr, epochs=1, batch_size=16, shuffle=False, verbose=0, callbacks=[after])
    report["after_fit"] = {
        "during": measured_rate(during, 0, "head", xr, yr),
        "after": measured_rate(after, 0, "head", xr, yr),
        "l0_moved_after": moved(after.begin[0]["l0"], after.end[0]["l0"]),
    }

    # 4. Gradient norms per group from the train step (SGD(0): weights stay put), and a
    # GradNorm policy that advances mid-epoch.
    keras.utils.set_random_seed(4)
    xr, yr = data(16)
    model = mlp((4,), activation=None)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    g = grads(values(model), xr.astype("float64"), yr.astype("float64"))
    w = values(model)
    (k0, b0), (k1, b1) = w["l0"], w["head"]
    d = 2.0 * ((xr @ k0 + b0) @ k1 + b1 - yr) / yr.size
    expected = [
        float(np.sqrt(np.sum(g["l0"] ** 2) + np.sum((d @ k1.T).sum(0) ** 2))),
        float(np.sqrt(np.sum(g["head"] ** 2) + np.sum(d.sum(0) ** 2))),
    ]
    cb = ProgressiveUnfreezing(
        Schedule(GradNorm(threshold=1e-9, window=1, check_every=2), initial=2))
    model.fit(xr, yr, epochs=2, batch_size=16, shuffle=False, verbose=0, callbacks=[cb])
    keras.utils.set_random_seed(5)
    model = mlp((4, 4))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    rec = Recorder()
    advancing = ProgressiveUnfreezing(
        Schedule(GradNorm(threshold=1e9, window=1, check_every=3)))
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0,
              callbacks=[advancing, rec])
    assert advancing.state is not None
    report["grad_norms"] = {
        "expected": expected,
        "read": list(cb.grad_norms or ()),
        "transitions": [t.step for t in advancing.state.transitions],
        "l1_moved_epoch0": moved(rec.begin[0]["l1"], rec.end[0]["l1"]),
        "l0_moved_epoch0": moved(rec.begin[0]["l0"], rec.end[0]["l0"]),
        "l0_moved_epoch1": moved(rec.begin[1]["l0"], rec.end[1]["l0"]),
    }

    # 5. Save and load mid-schedule: the optimizer state comes back, then trains on.
    keras.utils.set_random_seed(6)
    model = mlp((8, 8))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0,
              callbacks=[ProgressiveUnfreezing(Schedule(FixedEpoch(at=[1])))])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.keras"
        model.save(path)
        loaded = keras.models.load_model(path)
    saved = {str(v.name).removeprefix("mlp_"): np.array(v.numpy())
             for v in model.optimizer.variables}
    restored = {str(v.name).removeprefix("mlp_"): np.array(v.numpy())
                for v in loaded.optimizer.variables}
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0,
               callbacks=[ProgressiveUnfreezing(Schedule(FixedEpoch(at=[1])))])
    report["saving"] = {
        "iterations": int(loaded.optimizer.iterations.numpy()),
        "n_restored": len(restored),
        "restored_equal": all(np.array_equal(v, saved[k]) for k, v in restored.items()),
    }
    # 6. A run cut after 3 of 6 epochs resumes from the driver's backup, in a fresh model,
    # and ends where an uninterrupted run ends.
    resume_schedule = Schedule(FixedEpoch(at=[2, 4]),
                               rules=[StageScaled(scales=[0.3, 0.6, 1.0]), Warmup(steps=6)])

    def build() -> Any:
        keras.utils.set_random_seed(7)
        model = mlp((8, 8))
        model.compile(optimizer=keras.optimizers.AdamW(1e-2, weight_decay=0.01), loss="mse")
        return model

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            if epoch == 3:
                raise KeyboardInterrupt("simulated crash")

    full = build()
    full.fit(x, y, epochs=6, batch_size=8, shuffle=False, verbose=0,
             callbacks=[ProgressiveUnfreezing(resume_schedule)])
    with tempfile.TemporaryDirectory() as backup:
        with contextlib.suppress(KeyboardInterrupt):
            build().fit(x, y, epochs=6, batch_size=8, shuffle=False, verbose=0,
                        callbacks=[ProgressiveUnfreezing(resume_schedule, backup_dir=backup),
                                   Crash()])
        resumed = build()
        cb = ProgressiveUnfreezing(resume_schedule, backup_dir=backup)
        h = resumed.fit(x, y, epochs=6, batch_size=8, shuffle=False, verbose=0,
                        callbacks=[cb])
    assert cb.state is not None
    report["resume"] = {
        "epochs_run": len(h.history["loss"]),
        "stages": h.history["unfreeze_stage"],
        "iterations": int(resumed.optimizer.iterations.numpy()),
        "transitions": [[t.epoch, t.step] for t in cb.state.transitions],
        "max_weight_diff": max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                               for a, b in zip(full.get_weights(), resumed.get_weights(),
                                               strict=True)),
    }
    report["seconds"] = round(time.monotonic() - started, 1)
    out.write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
