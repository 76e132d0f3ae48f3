"""Time to accuracy on the real-weights tasks (issue 15): progressive unfreezing with
frozen-prefix caching (and with re-freezing) against unfreezing everything.

Per task and seed, four runs from the same pretrained weights and fresh head, with the
transfer section's epoch budget and batch size and no validation data (the same work
for every arm):

- ``unfreeze_all``: ``model.fit`` with every layer trainable, at the rate the transfer
  section chose for that arm (by validation accuracy);
- ``recommended``: ``model.fit`` with ``recommended_schedule``, no caching;
- ``recommended_cached``: the same schedule with ``ProgressiveUnfreezing(cache=True)``
  run by ``unfreeze_core.keras.fit``;
- ``recommended_cached_autofreeze``: the same, its policy wrapped in ``AutoFreeze`` (one
  interval per epoch) so that converged lower groups freeze again and join the cache.
- ``accuracy_first_cached`` (``tta_more`` runs only): the docs' accuracy-first setting,
  ``recommended_schedule(..., factor=1.0, warmup_epochs=0)`` (the same timetable, every
  group at the base rate from the epoch it unfreezes), with ``cache=True``.

After every epoch a callback scores the test accuracy; the time it takes is subtracted,
so an arm's clock counts training only (cache builds included). The **target** is the
mean final test accuracy of ``unfreeze_all`` over the seeds; an arm's time to accuracy
is its clock at the first epoch end at or above it. Reported: mean ± std of the time,
how many seeds reached the target, the ratio to ``unfreeze_all``'s mean time (target
<= 0.5), final accuracy, and the largest cache held.
"""

from __future__ import annotations

import gc
import json
import math
import time
from typing import Any

import attrs
import keras
import numpy as np

from unfreeze_core import AutoFreeze, recommended_schedule
from unfreeze_core.keras import ProgressiveUnfreezing, fit

from .common import REPO, RESULTS, log, mean_std
from .transfer.arms import RECOMMENDED
from .transfer.runner import accuracy, n_groups
from .transfer.tasks import TaskData, TransferTask, all_tasks

__all__ = ["ARMS", "run_time_to_accuracy"]

ARMS = ("unfreeze_all", "recommended", "recommended_cached", "recommended_cached_autofreeze")
#: Arms for ``tta_more`` only: the docs' accuracy-first setting of the recommended
#: schedule (``factor=1.0, warmup_epochs=0``: the same timetable, every rate the base).
MORE_ARMS = ("accuracy_first_cached",)


class _Scorer(keras.callbacks.Callback):
    """Test accuracy after every epoch; the training clock without the scoring."""

    def __init__(self, data: TaskData, driver: ProgressiveUnfreezing | None):
        super().__init__()
        self.data, self.driver = data, driver
        self.clock: list[float] = []
        self.accuracy: list[float] = []
        self.cache_bytes = 0
        self._start = 0.0
        self._scoring = 0.0

    def on_train_begin(self, logs: Any = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        t = time.perf_counter()
        self.clock.append(t - self._start - self._scoring)
        runner = getattr(self.driver, "cache_runner", None)
        if runner is not None:
            held = sum(a.nbytes for pair in runner.arrays.values() for a in pair
                       if a is not None)
            self.cache_bytes = max(self.cache_bytes, held)
        self.accuracy.append(accuracy(self.model, self.data.test.x, self.data.test.y))
        self._scoring += time.perf_counter() - t


def _run(task: TransferTask, data: TaskData, arm: str, lr: float, seed: int,
         epochs: int, batch: int) -> dict[str, Any]:
    keras.backend.clear_session()
    gc.collect()
    model = task.build(seed)
    steps = math.ceil(len(data.train) / batch)
    driver: ProgressiveUnfreezing | None = None
    if arm != "unfreeze_all":
        grouping = task.grouping()
        plain = {"factor": 1.0, "warmup_epochs": 0} if arm.startswith("accuracy_first") else {}
        schedule = recommended_schedule(
            epochs, n_groups(model, grouping), steps_per_epoch=steps, **plain,
            **({} if grouping is None else {"groups": grouping}))
        if arm.endswith("autofreeze"):
            schedule = attrs.evolve(schedule, policy=AutoFreeze(
                unfreeze=schedule.policy, check_every=1, window=steps))
        driver = ProgressiveUnfreezing(schedule, cache="cached" in arm)
    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=False)  # as the transfer runner
    scorer = _Scorer(data, driver)
    callbacks = [c for c in (driver, scorer) if c is not None]
    x, y = data.train.x, data.train.y
    if "cached" in arm:
        fit(model, x, y, epochs=epochs, batch_size=batch, verbose=0, callbacks=callbacks,
            seed=seed)
    else:
        model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0, callbacks=callbacks)
    del model
    return {"task": task.key, "arm": arm, "seed": seed, "lr": lr, "clock": scorer.clock,
            "accuracy": scorer.accuracy, "final_accuracy": scorer.accuracy[-1],
            "cache_bytes": scorer.cache_bytes}


def _chosen_lr(transfer: dict[str, Any] | None, task: str, arm: str, default: float) -> float:
    """The rate the transfer section chose for ``arm`` on ``task`` (by validation)."""
    for t in (transfer or {}).get("tasks", []):
        if t["key"] == task:
            for a in t["arms"]:
                if a["arm"] == arm:
                    return float(a["lr"])
    return default


def _time_to(run: dict[str, Any], target: float) -> float | None:
    for seconds, acc in zip(run["clock"], run["accuracy"], strict=True):
        if acc >= target - 1e-9:
            return float(seconds)
    return None


def _summarise(runs: list[dict[str, Any]], arms: tuple[str, ...] = ARMS) -> dict[str, Any]:
    ua = [r for r in runs if r["arm"] == "unfreeze_all"]
    target = float(np.mean([r["final_accuracy"] for r in ua]))
    ua_by_seed = {r["seed"]: _time_to(r, target) for r in ua}
    ua_times = [t for t in ua_by_seed.values() if t is not None]
    ua_mean = mean_std(ua_times)[0]
    out: dict[str, Any] = {"target_accuracy": target, "arms": {}}
    for arm in arms:
        mine = [r for r in runs if r["arm"] == arm]
        times = [_time_to(r, target) for r in mine]
        reached = [t for t in times if t is not None]
        m, s = mean_std(reached)
        fa = mean_std([r["final_accuracy"] for r in mine])
        whole = mean_std([r["clock"][-1] for r in mine])
        both: list[tuple[float, float]] = []
        for r, t in zip(mine, times, strict=True):
            u = ua_by_seed.get(r["seed"])
            if t is not None and u is not None:
                both.append((t, u))
        out["arms"][arm] = {
            "lr": mine[0]["lr"] if mine else None,
            "time_to_target": {"mean": m, "std": s},
            "reached": len(reached), "seeds": len(mine),
            "ratio_to_unfreeze_all": (m / ua_mean if reached and ua_times
                                      and len(reached) == len(mine) else None),
            "ratio_where_both_reached": (
                sum(t for t, _ in both) / sum(u for _, u in both) if both else None),
            "seeds_both_reached": len(both),
            "final_accuracy": {"mean": fa[0], "std": fa[1]},
            "run_seconds": {"mean": whole[0], "std": whole[1]},
            "cache_bytes": max((r["cache_bytes"] for r in mine), default=0),
        }
    return out


def run_time_to_accuracy(profile: Any) -> dict[str, Any]:
    """Every task of ``profile.caching.tta_tasks`` (every arm of :data:`ARMS`), then each
    ``(task, size, arms)`` of ``profile.caching.tta_more`` (the same measurement on more
    data), every seed.

    Each arm's rate is the one the transfer section chose for it on the same task
    (``bench/results/transfer.json``: ``unfreeze_all`` for unfreeze-all, the recommended
    arm for the progressive arms), or the transfer grid's lowest rate when that file
    does not have the task.
    """
    cp = profile.caching
    transfer_file = RESULTS / "transfer.json"
    transfer = json.loads(transfer_file.read_text()) if transfer_file.exists() else None
    by_key = {t.key: t for t in all_tasks()}
    plan: list[tuple[str, str, tuple[str, ...]]] = [(key, cp.tta_size, ARMS)
                                                     for key in cp.tta_tasks]
    known = (*ARMS, *MORE_ARMS)
    for key, size, arms in cp.tta_more:
        unknown = sorted(set(arms) - set(known))
        if unknown:
            raise ValueError(f"caching.tta_more ({key}, {size}): unknown arms {unknown}; "
                             f"known: {list(known)}")
        plan.append((key, size, tuple(a for a in known if a in arms)))
    tasks_out = []
    runs: list[dict[str, Any]] = []
    for key, size, arms in plan:
        task = by_key.get(key)
        if task is None or task.available() is not None:
            continue
        name = key if size == cp.tta_size else f"{key}@{size}"
        lrs = {arm: _chosen_lr(transfer, task.key,
                               "unfreeze_all" if arm == "unfreeze_all" else RECOMMENDED,
                               profile.transfer.lr_grid[0]) for arm in arms}
        task_runs = []
        examples = 0
        for seed in cp.tta_seeds:
            data = task.data(seed, size)
            examples = len(data.train)
            order = arms if seed % 2 == 0 else tuple(reversed(arms))
            for arm in order:
                r = _run(task, data, arm, lrs[arm], seed, cp.tta_epochs, cp.tta_batch_size)
                r["task"] = name
                task_runs.append(r)
                log(f"  tta {name} seed {seed} {arm:<30} final {r['final_accuracy']:.3f}"
                    f" in {r['clock'][-1]:.1f}s")
        runs += task_runs
        tasks_out.append({"key": name, "label": task.label, "size": size,
                          "train_examples": examples, **_summarise(task_runs, arms)})
    return {"settings": {"epochs": cp.tta_epochs, "batch_size": cp.tta_batch_size,
                         "seeds": list(cp.tta_seeds), "size": cp.tta_size,
                         "rates_from": str(transfer_file.relative_to(REPO))
                         if transfer else "the transfer grid's lowest rate",
                         "target_ratio": 0.5},
            "tasks": tasks_out, "runs": runs}
