"""A training process for the MirroredStrategy test; its model is also the kill loop's.

Run as ``python driver_run.py mirrored OUT_DIR [--replicas N]`` (N logical CPUs): it
writes one ``<run>.json`` and ``<run>.npz`` per run it makes. Resuming after SIGKILL is
tested by ``test_backup_kill.py`` (``backup_worker.py`` trains :func:`_model`). Nothing
runs on import.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def _model(keras: Any, bn: bool = True) -> Any:
    layers: list[Any] = [keras.Input((6,))]
    for i in range(3):
        layers.append(keras.layers.Dense(8, activation="relu", name=f"l{i}"))
        if bn:
            layers.append(keras.layers.BatchNormalization(momentum=0.5, name=f"bn{i}"))
    layers.append(keras.layers.Dense(1, name="head"))
    return keras.Sequential(layers, name="net")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["mirrored"])
    parser.add_argument("out")
    parser.add_argument("--replicas", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if args.replicas:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.replicas
        )
    import keras
    import numpy as np


    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 1))).astype("float32")

    mirrored(args, out, tf, keras, np, x, y)


def mirrored(args: Any, out: Path, tf: Any, keras: Any, np: Any, x: Any, y: Any) -> None:
    """Every kind of decision under one strategy (one device, or ``--replicas`` CPUs).

    ``gradnorm``: a GradNorm policy reading every 5 steps (advancing mid-epoch) with
    discriminative rates and a per-group warmup; every norm reading is recorded.
    ``plateau``: a Plateau policy on ``val_loss`` with stage-scaled rates, a global
    warmup, AdamW's decay and frozen BatchNorm. With replicas also ``crashed`` +
    ``resumed``: the same run cut after 3 epochs (its fit raises) and resumed from the
    driver's backup by a fresh model in the same strategy.
    """
    from unfreeze_core import (
        Discriminative,
        GradNorm,
        Plateau,
        Schedule,
        StageScaled,
        Warmup,
    )
    from unfreeze_core.keras import ProgressiveUnfreezing

    if args.replicas:
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(args.replicas)])
    else:
        strategy = tf.distribute.get_strategy()
    rng = np.random.default_rng(1)
    xv = rng.normal(size=(32, 6)).astype("float32")
    yv = (xv @ rng.normal(size=(6, 1))).astype("float32")

    class Record(keras.callbacks.Callback):
        def __init__(self, cb: Any) -> None:
            super().__init__()
            self.cb = cb
            self.epochs: list[dict[str, Any]] = []
            self.norms: list[list[float]] = []

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if self.cb.grad_norms is not None and (
                not self.norms or self.norms[-1] != list(self.cb.grad_norms)
            ):
                self.norms.append(list(self.cb.grad_norms))

        def _bn(self) -> list[Any]:
            return [np.array(v) for la in self.model.layers if "bn" in la.name
                    for v in la.get_weights()]

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.bn = self._bn()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            bn = self._bn()
            self.epochs.append({
                "epoch": epoch,
                "stage": logs["unfreeze_stage"],
                "lr": {k: v for k, v in logs.items() if k.startswith("unfreeze_lr/")},
                "val_loss": logs.get("val_loss"),
                "iterations": int(self.model.optimizer.iterations.numpy()),
                "trainable": sorted(v.path for v in self.model.trainable_variables),
                "bn_same": all(np.array_equal(a, b) for a, b in zip(self.bn, bn, strict=True)),
            })

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            if epoch == 3:
                raise KeyboardInterrupt("simulated crash")

    def run(name: str, schedule: Any, bn: bool, epochs: int = 6, backup: Path | None = None,
            crash: bool = False) -> None:
        keras.utils.set_random_seed(7)
        with strategy.scope():
            model = _model(keras, bn=bn)
            model.compile(optimizer=keras.optimizers.AdamW(1e-2, weight_decay=0.01),
                          loss="mse")
        assert model.distribute_strategy.num_replicas_in_sync == max(args.replicas, 1)
        cb = ProgressiveUnfreezing(schedule, backup_dir=backup)
        record = Record(cb)
        callbacks = [cb, record, *([Crash()] if crash else [])]
        try:
            model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=8,
                      shuffle=False, verbose=0, callbacks=callbacks)
        except KeyboardInterrupt:
            assert crash
        assert cb.state is not None
        (out / f"{name}.json").write_text(json.dumps({
            "epochs": record.epochs,
            "norms": record.norms,
            "iterations": int(model.optimizer.iterations.numpy()),
            "transitions": [[t.epoch, t.step, t.before, t.after] for t in cb.state.transitions],
        }))
        np.savez(out / f"{name}.npz", *[np.asarray(w) for w in model.get_weights()])

    run("gradnorm", Schedule(GradNorm(threshold=1e9, window=1, check_every=5),
                             rules=[Discriminative(factor=2.0), Warmup(steps=4)]), bn=False)
    plateau = Schedule(Plateau(monitor="val_loss", patience=1, min_delta=10.0, unfrozen_by=None),
                       rules=[StageScaled(scales=[0.2, 0.5, 1.0]), Warmup(steps=3,
                                                                           per_group=False)])
    run("plateau", plateau, bn=True)
    if args.replicas:
        run("crashed", plateau, bn=True, backup=out / "backup", crash=True)
        run("resumed", plateau, bn=True, backup=out / "backup")


if __name__ == "__main__":
    main(sys.argv[1:])
