"""Runs the real-weights transfer benchmark: every task, seed, arm and grid rate.

Each run starts from a fresh model (``task.build(seed)``: the pretrained weights, read
once per process and copied in, and the seed's fresh head), compiles it with Adam and
``SparseCategoricalCrossentropy(from_logits=True)``, fits it for the profile's epoch
budget with the validation split, and scores the target test accuracy and the source
score after. Nothing else is shared between runs. ``jit_compile=False``: on this CPU,
XLA compiled VGG16's train step more slowly (9.7 against 6.0 CPU-seconds) and ran it no
faster than TensorFlow's graph with oneDNN (which ``python -m bench run --only transfer``
turns on). Wall and CPU seconds of the ``fit`` are both recorded: on a shared machine
the CPU seconds say what the run cost.
"""

from __future__ import annotations

import gc
import math
import os
import time
from typing import Any

import keras
import numpy as np

from unfreeze_core import FixedEpoch, Schedule
from unfreeze_core.keras import LOG_GROUPS, ProgressiveUnfreezing, plan

from ..common import log
from .arms import FIXED_TIMETABLE, RECOMMENDED, Arm, Budget, arms
from .summary import summarise
from .tasks import TaskData, TransferTask, all_tasks, check_task_data

__all__ = ["accuracy", "fine_tune", "run_transfer"]


def _rows(x: Any, start: int, stop: int) -> Any:
    return {k: v[start:stop] for k, v in x.items()} if isinstance(x, dict) else x[start:stop]


def accuracy(model: keras.Model, x: Any, y: np.ndarray, chunk: int = 256) -> float:
    """Accuracy of eager calls in chunks (``predict`` would trace a function per model)."""
    hits = 0
    for i in range(0, len(y), chunk):
        logits = keras.ops.convert_to_numpy(model(_rows(x, i, i + chunk), training=False))
        hits += int(np.sum(np.argmax(logits, axis=-1) == y[i:i + chunk]))
    return hits / max(len(y), 1)


def n_groups(model: keras.Model, grouping: Any) -> int:
    """How many groups the grouping makes of ``model`` (head included)."""
    probe = Schedule(FixedEpoch(every=1), **({} if grouping is None else {"groups": grouping}))
    return len(plan(model, probe).groups)


def fine_tune(task: TransferTask, data: TaskData, arm: Arm, lr: float, seed: int,
              settings: dict[str, Any]) -> dict[str, Any]:
    """One run: a fresh model, one arm at one base rate; returns its numbers."""
    keras.backend.clear_session()
    gc.collect()
    model = task.build(seed)
    epochs, batch = settings["epochs"], settings["batch_size"]
    steps = math.ceil(len(data.train) / batch)
    callbacks: list[Any] = []
    if arm.schedule is not None:
        budget = Budget(epochs=epochs, steps=steps, n_groups=n_groups(model, task.grouping()))
        callbacks.append(ProgressiveUnfreezing(arm.schedule(budget, task.grouping())))
    elif not arm.train_backbone:
        for layer in model.layers:
            layer.trainable = layer.name == "head"
    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=False)
    cpu, wall = time.process_time(), time.perf_counter()
    history = model.fit(data.train.x, data.train.y, validation_data=(data.val.x, data.val.y),
                        epochs=epochs, batch_size=batch, verbose=0, callbacks=callbacks)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    h = history.history
    result = {
        "task": task.key, "arm": arm.key, "lr": lr, "seed": seed,
        "val_accuracy": float(h["val_accuracy"][-1]),
        "target_accuracy": accuracy(model, data.test.x, data.test.y),
        "source_after": float(task.source_score(model)),
        "seconds": wall, "cpu_seconds": cpu,
        "stages": [int(s) for s in h.get(LOG_GROUPS, [])],  # groups trainable per epoch
    }
    del model
    return result


def run_transfer(profile: Any) -> dict[str, Any]:
    """The whole section for ``profile.transfer`` (a :class:`bench.profiles.TransferPlan`)."""
    tp = profile.transfer
    settings = {"size": tp.size, "seeds": list(tp.seeds), "lr_grid": list(tp.lr_grid),
                "epochs": tp.epochs, "batch_size": tp.batch_size, "optimizer": "Adam",
                "recommended": RECOMMENDED, "fixed_timetable": list(FIXED_TIMETABLE),
                "jit_compile": False,
                "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")}
    all_arms = [a for a in arms() if not tp.arms or a.key in tp.arms]
    tasks_out: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    runs: list[dict[str, Any]] = []
    for task in all_tasks():
        if tp.tasks and task.key not in tp.tasks:
            continue
        reason = task.available()
        if reason is not None:
            log(f"transfer: skipping {task.key}: {reason}")
            skipped.append({"task": task.key, "reason": reason})
            continue
        keras.backend.clear_session()
        before = float(task.source_score(task.build(tp.seeds[0])))
        task_runs: list[dict[str, Any]] = []
        sizes: dict[str, int] = {}
        for seed in tp.seeds:
            data = task.data(seed, tp.size)
            check_task_data(task, data)
            sizes = {"train": len(data.train), "val": len(data.val), "test": len(data.test)}
            for arm in all_arms:
                for lr in tp.lr_grid:
                    r = fine_tune(task, data, arm, lr, seed, settings)
                    r["source_before"] = before
                    task_runs.append(r)
                    log(f"  {task.key} seed {seed} {arm.key:<21} lr {lr:g}: target "
                        f"{r['target_accuracy']:.3f}, source {r['source_after']:.3f}, "
                        f"{r['seconds']:.1f}s ({r['cpu_seconds']:.0f} cpu-s)")
        runs += task_runs
        tasks_out.append({
            "key": task.key, "label": task.label, "network": task.network,
            "n_classes": task.n_classes, "source_metric": task.source_metric,
            "source_before": before, "sizes": sizes,
            "arms": summarise(task_runs, all_arms, tp.lr_grid),
        })
    return {"settings": settings,
            "arms": [{"key": a.key, "label": a.label, "note": a.note} for a in all_arms],
            "tasks": tasks_out, "skipped": skipped, "runs": runs}
