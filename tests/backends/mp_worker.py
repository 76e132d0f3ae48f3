"""One worker of a two-process data-parallel run (JAX backend, ``jax.distributed``).

Run as ``python mp_worker.py PROCESS_ID PORT OUT_DIR`` (``test_multiprocess.py`` starts
two). The processes meet at ``127.0.0.1:PORT``, train one model with
``keras.distribution.DataParallel`` over one CPU device each, each on its **own data
shard**, under a Plateau schedule, and write what they saw to
``OUT_DIR/worker<ID>.json``. Worker 0's validation shard is clean, worker 1's has
noisy labels: their local validation losses differ, so a decision taken from one
worker's view would differ from the other's. A callback also puts a metric of the
worker's own data into the logs, which the driver must notice. Nothing runs on import.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

EPOCHS = 10
N_TRAIN, N_VAL, DIM = 64, 32, 6


def shards(process_id: int) -> tuple[Any, ...]:
    """This worker's training and validation data (the same teacher, its own samples)."""
    import numpy as np

    teacher = np.random.default_rng(0).normal(size=(DIM, 1))
    rng = np.random.default_rng(100 + process_id)
    x = rng.normal(size=(N_TRAIN, DIM)).astype("float32")
    y = (np.tanh(x @ teacher) + 0.1 * rng.normal(size=(N_TRAIN, 1))).astype("float32")
    xv = rng.normal(size=(N_VAL, DIM)).astype("float32")
    noise = 0.05 if process_id == 0 else 1.5
    yv = (np.tanh(xv @ teacher) + noise * rng.normal(size=(N_VAL, 1))).astype("float32")
    return x, y, xv, yv


def schedule() -> Any:
    """The schedule both workers run (the test replays it with ``dry_run``)."""
    from unfreeze_core import Discriminative, Plateau, Schedule, Warmup

    return Schedule(
        Plateau(monitor="val_loss", patience=1, min_delta=0.08, min_rel_delta=0.0,
                unfrozen_by=None),  # the absolute margin only, no deadline
        rules=[Discriminative(factor=2.0), Warmup(steps=4)],
    )


def main(argv: list[str]) -> None:
    process_id, port, out = int(argv[0]), int(argv[1]), Path(argv[2])
    os.environ["KERAS_BACKEND"] = "jax"
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=2,
        process_id=process_id,
        local_device_ids=[0],
        initialization_timeout=900,  # a safety net: a busy machine starts slowly
    )
    import keras
    import numpy as np

    from unfreeze_core.keras import ProgressiveUnfreezing

    assert jax.process_count() == 2 and len(jax.devices()) == 2
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
    )
    keras.utils.set_random_seed(0)  # the same initial weights in both processes
    model = keras.Sequential([
        keras.Input((DIM,)),
        keras.layers.Dense(8, activation="relu", name="l0"),
        keras.layers.Dense(8, activation="relu", name="l1"),
        keras.layers.Dense(1, name="head"),
    ], name="net")
    model.compile(optimizer=keras.optimizers.Adam(2e-2), loss="mse")
    x, y, xv, yv = shards(process_id)

    def weights() -> dict[str, list[Any]]:
        return {la.name: [np.asarray(w) for w in la.get_weights()] for la in model.layers}

    def local_val_loss(w: dict[str, list[Any]]) -> float:
        h = xv.astype("float64")
        for name in ("l0", "l1"):
            h = np.maximum(h @ w[name][0] + w[name][1], 0.0)
        pred = h @ w["head"][0] + w["head"][1]
        return float(np.mean((pred - yv) ** 2))

    class Record(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epochs: list[dict[str, Any]] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.begin = weights()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            end = weights()
            digest = hashlib.sha256()
            for name in sorted(end):
                for w in end[name]:
                    digest.update(np.ascontiguousarray(w).tobytes())
            self.epochs.append({
                "logs": {k: float(v) for k, v in logs.items()},
                "local_val_loss": local_val_loss(end),
                "moved": {n: not all(np.array_equal(a, b) for a, b in
                                     zip(self.begin[n], end[n], strict=True)) for n in end},
                "checksum": digest.hexdigest(),
                "iterations": int(self.model.optimizer.iterations.numpy()),
            })

    class LocalMetric(keras.callbacks.Callback):
        """Adds a metric of this worker's data only, as a user's callback might."""

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs["local_val_loss"] = local_val_loss(weights())

    cb = ProgressiveUnfreezing(schedule())
    record = Record()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, validation_data=(xv, yv), epochs=EPOCHS, batch_size=16,
                  shuffle=False, verbose=0, callbacks=[LocalMetric(), cb, record])
    assert cb.state is not None
    (out / f"worker{process_id}.json").write_text(json.dumps({
        "epochs": record.epochs,
        "transitions": [[t.epoch, t.step, t.before, t.after] for t in cb.state.transitions],
        "timeline": [list(t) for t in cb.timeline],
        "groups": [g.name for g in cb.groups],
        "warnings": [str(w.message) for w in caught if "ProgressiveUnfreezing" in str(w.message)],
    }))
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
