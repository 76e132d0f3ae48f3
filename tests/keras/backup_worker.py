"""Training processes for the backup kill loop (``test_backup_kill.py``).

``python backup_worker.py run OUT BACKUP [STOP_AT]`` trains once in this process.
``python backup_worker.py serve`` imports TensorFlow once, then forks one training
process per JSON line read from stdin (``{"out": ..., "backup": ..., "stop_at": ...}``)
and answers ``{"pid": N}`` when it starts and ``{"pid": N, "status": S}`` when it ends:
each life is a real process that the test SIGKILLs, without paying ~8 s of imports per
kill.

A life trains ``EPOCHS`` epochs of driver_run's model with
``ProgressiveUnfreezing(backup_dir=BACKUP)``, resuming from the backup. It logs every
*point* it passes to ``OUT/progress.txt``: each batch, and each step of each checkpoint
write (the library's ``_step_done`` seam). With ``STOP_AT = [epoch, phase, index]`` it
stops at the first point at or after it (phase 0: batch ``index`` of ``epoch``; phase
1: write step ``index`` of the checkpoint after ``epoch``), writes ``OUT/paused`` and
sleeps until killed. Per epoch it writes ``OUT/records/epoch-NNN.json``; at the end
``OUT/final.npz`` and ``OUT/done.json``. Nothing runs on import.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

EPOCHS = 12
STEPS = [
    "weights-written",
    "weights-synced",
    "state-written",
    "folder-synced",
    "renamed",
    "renamed-synced",
    "pointer-written",
    "pointer-switched",
    "pointer-synced",
    "old-removed",
]


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def life(out: Path, backup: str, stop_at: list[int] | None) -> None:
    import keras
    import numpy as np
    from driver_run import _model

    import unfreeze_core.keras.checkpoint as checkpoint
    from unfreeze_core import FixedEpoch, Schedule, StageScaled, Warmup
    from unfreeze_core.keras import ProgressiveUnfreezing

    out.mkdir(parents=True, exist_ok=True)
    (out / "records").mkdir(exist_ok=True)
    progress = (out / "progress.txt").open("a", buffering=1)
    progress.write(f"start {os.getpid()}\n")
    target = tuple(stop_at) if stop_at is not None else None
    where = {"epoch": -1}

    def reached(point: tuple[int, int, int], label: str) -> None:
        progress.write(label + "\n")
        if target is not None and point >= target:
            _write(out / "paused", label)
            time.sleep(3600)

    def show(message: Any, *args: Any, **kwargs: Any) -> None:
        progress.write(f"warning: {message}\n".replace("\n", " ").rstrip() + "\n")

    warnings.showwarning = show
    warnings.simplefilter("always")

    def step_done(step: str) -> None:
        e = where["epoch"]
        reached((e, 1, STEPS.index(step)), f"epoch {e} save: {step}")

    checkpoint._step_done = step_done  # type: ignore[attr-defined]

    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 1))).astype("float32")
    schedule = Schedule(
        FixedEpoch(at=[3, 7]),
        rules=[StageScaled(scales=[0.3, 0.6, 1.0]), Warmup(steps=6)],
    )
    model = _model(keras, bn=True)
    model.compile(optimizer=keras.optimizers.AdamW(1e-2, weight_decay=0.01), loss="mse")

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            where["epoch"] = epoch

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            reached((where["epoch"], 0, batch), f"epoch {where['epoch']} batch {batch}")

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            record = {
                "epoch": epoch,
                "loss": float(logs["loss"]),
                "stage": logs["unfreeze_stage"],
                "lr": {k: v for k, v in logs.items() if k.startswith("unfreeze_lr/")},
                "iterations": int(self.model.optimizer.iterations.numpy()),
                "trainable": sorted(v.path for v in self.model.trainable_variables),
            }
            _write(out / "records" / f"epoch-{epoch:03d}.json", json.dumps(record))

    cb = ProgressiveUnfreezing(schedule, backup_dir=backup)
    history = model.fit(
        x, y, epochs=EPOCHS, batch_size=8, shuffle=False, verbose=0, callbacks=[cb, Record()]
    )
    progress.write("done\n")
    progress.close()
    np.savez(out / "final.npz", *[np.asarray(w) for w in model.get_weights()])
    assert cb.state is not None
    _write(
        out / "done.json",
        json.dumps(
            {
                "iterations": int(model.optimizer.iterations.numpy()),
                "transitions": [[t.epoch, t.step, t.before, t.after] for t in cb.state.transitions],
                "timeline": [list(t) for t in cb.timeline],
                "epochs_run": history.epoch,
            }
        ),
    )


def serve() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras  # noqa: F401  (imported once, before any fork)
    import tensorflow  # noqa: F401

    import unfreeze_core.keras  # noqa: F401

    print(json.dumps({"ready": os.getpid()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                life(Path(request["out"]), request["backup"], request.get("stop_at"))
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stderr.flush()
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"pid": pid, "status": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if sys.argv[1] == "serve":
        serve()
    else:
        stop = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
        life(Path(sys.argv[2]), sys.argv[3], stop)
