"""One process, two JAX CPU devices: the driver under ``keras.distribution``.

Run as ``python jax_distribution_run.py OUT.json``. The same model, data and schedule
(GradNorm read every 5 steps, discriminative rates, a warmup, AdamW) train three times:
on one device, with ``DataParallel`` over two, and with ``ModelParallel`` sharding the
kernels over two. The report holds each run's decisions, norm readings, losses and
weights. Nothing runs on import.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> None:
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax
    import keras
    import numpy as np

    from unfreeze_core import Discriminative, GradNorm, Schedule, Warmup
    from unfreeze_core.keras import ProgressiveUnfreezing

    devices = jax.devices()
    assert len(devices) == 2, devices
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 1))).astype("float32")

    def distribution(kind: str) -> Any:
        if kind == "data_parallel":
            return keras.distribution.DataParallel(devices=devices)
        mesh = keras.distribution.DeviceMesh((1, 2), ["batch", "model"], devices)
        layouts = keras.distribution.LayoutMap(mesh)
        layouts["l.*/kernel"] = (None, "model")
        layouts["head/kernel"] = ("model", None)
        return keras.distribution.ModelParallel(layout_map=layouts, batch_dim_name="batch")

    class Spy(keras.callbacks.Callback):
        """Each new gradient-norm reading, and whether ``l0`` moved in each epoch."""

        def __init__(self, cb: Any) -> None:
            super().__init__()
            self.cb = cb
            self.norms: list[list[float]] = []
            self.l0_moved: list[bool] = []

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            read = self.cb.grad_norms
            if read is not None and (not self.norms or self.norms[-1] != list(read)):
                self.norms.append(list(read))

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.l0 = np.array(self.model.get_layer("l0").get_weights()[0])

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            now = np.array(self.model.get_layer("l0").get_weights()[0])
            self.l0_moved.append(not np.array_equal(self.l0, now))

    report: dict[str, Any] = {}
    for kind in ("one_device", "data_parallel", "model_parallel"):
        keras.distribution.set_distribution(None if kind == "one_device" else distribution(kind))
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", name="l0"),
            keras.layers.Dense(8, activation="relu", name="l1"),
            keras.layers.Dense(1, name="head"),
        ], name="net")
        model.compile(optimizer=keras.optimizers.AdamW(1e-2), loss="mse")
        cb = ProgressiveUnfreezing(Schedule(
            GradNorm(threshold=1e9, window=1, check_every=5),
            rules=[Discriminative(factor=2.0), Warmup(steps=4)]))
        spy = Spy(cb)
        h = model.fit(x, y, validation_data=(x, y), epochs=3, batch_size=8, shuffle=False,
                      verbose=0, callbacks=[cb, spy])
        assert cb.state is not None
        report[kind] = {
            "sharding": str(type(model.get_layer("l0").kernel.value.sharding).__name__),
            "kernel_shards": len(model.get_layer("l0").kernel.value.addressable_shards),
            "transitions": [[t.epoch, t.step] for t in cb.state.transitions],
            "norms": spy.norms,
            "val_loss": h.history["val_loss"],
            "lr": {k: v for k, v in h.history.items() if k.startswith("unfreeze_lr/")},
            "l0_moved": spy.l0_moved,
            "weights": [np.asarray(w).tolist() for w in model.get_weights()],
        }
    Path(argv[0]).write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
