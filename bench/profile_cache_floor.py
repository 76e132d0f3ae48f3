"""Profile of one stage of the caching floor: where a cached epoch's time goes.

``python -m bench.profile_cache_floor [STAGE] [ROUNDS] [EPOCHS]`` takes the ``full``
profile's small-CNN floor case (``bench/cache_floor.py``) at one stage (default 4, the
stage with the largest ratio in the floor run) and, rotating the order each round,
times ``EPOCHS`` epochs of each side ``ROUNDS`` times (wall and process CPU seconds):

- ``driver``: ``unfreeze_core.keras.fit`` with ``ProgressiveUnfreezing(cache=True)``,
  the schedule starting at the stage (``Schedule(initial=k)``, so every epoch trains
  the same suffix on the stored activations);
- ``floor_fit`` / ``floor_loop``: the hand-written suffix on precomputed features,
  trained with ``model.fit`` or with a ``train_on_batch`` loop (the floor benchmark
  takes the faster of these two per round).

Then it runs ``cProfile`` over one more driver epoch and splits its time: inside the
caching loop's per-batch ``step`` (the compiled train function, gathering the batch
from the store) and outside it (callbacks, shuffling). Writes
``bench/results/profile_cache_floor.json`` and prints it. The first epoch of each side
(its trace) is left out of the times.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import sys
import time
from typing import Any

from .common import REPO, machine_info, median, rotated, setup_env


def _epoch_clock() -> Any:
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.wall: list[float] = []
            self.cpu: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._w, self._c = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.wall.append(time.perf_counter() - self._w)
            self.cpu.append(time.process_time() - self._c)

    return Clock()


def _driver(case: Any, stage: int, epochs: int, profile: bool = False) -> dict[str, Any]:
    """``1 + epochs`` epochs of the driver at ``stage`` (the first, with the cache build
    and the trace, is left out); with ``profile``, cProfile over the last epoch."""
    import keras

    from unfreeze_core import FixedEpoch, Schedule
    from unfreeze_core.keras import ProgressiveUnfreezing, fit

    from .cache_floor import _compile, fresh

    model, x, y = fresh(case)
    _compile(model)
    clock = _epoch_clock()
    profiler = cProfile.Profile()

    class Profile(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            if profile and epoch == epochs:
                profiler.enable()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if profile and epoch == epochs:
                profiler.disable()

    # every=10**6: the stage never changes within the run
    cb = ProgressiveUnfreezing(Schedule(FixedEpoch(every=10**6), initial=stage),
                               cache=True, verbose=0)
    fit(model, x, y, epochs=1 + epochs, batch_size=case.batch_size, verbose=0,
        callbacks=[cb, clock, Profile()], seed=0)
    out: dict[str, Any] = {"wall": clock.wall[1:], "cpu": clock.cpu[1:]}
    if profile:
        out["profile"] = _split(profiler)
    return out


def _split(profiler: cProfile.Profile) -> dict[str, Any]:
    """Where one cached epoch's time went: inside the runner's per-batch ``step`` (by
    callee, cumulative seconds under ``step``; ``step``'s own time is the NumPy
    indexing that gathers the batch) and outside it (callbacks, shuffling)."""
    stats = pstats.Stats(profiler)
    table: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in table.values())
    step = next(k for k in table if k[0].endswith("cache_fit.py") and k[2] == "step")
    callees = {f"{k[0].rsplit('/', 1)[-1]}:{k[2]}": callers[step][3]
               for k, (_, _, _, _, callers) in table.items() if step in callers}
    top = dict(sorted(callees.items(), key=lambda kv: -kv[1])[:6])
    return {"epoch_s": total, "in_step_s": table[step][3], "step_own_s": table[step][2],
            "step_calls": table[step][1], "under_step_s": top,
            "outside_step_s": total - table[step][3]}


def _floor(case: Any, cut: str | None, epochs: int) -> dict[str, Any]:
    import numpy as np

    from .cache_floor import floor_suffix

    suffix, features, y = floor_suffix(case, cut)
    clock = _epoch_clock()
    suffix.fit(features, y, epochs=epochs + 1, batch_size=case.batch_size, verbose=0,
               callbacks=[clock], shuffle=True)
    loop_wall, loop_cpu = [], []
    rng = np.random.default_rng(1)
    for _ in range(epochs + 1):
        w, c = time.perf_counter(), time.process_time()
        order = rng.permutation(len(y))
        for i in range(0, len(y), case.batch_size):
            idx = order[i:i + case.batch_size]
            suffix.train_on_batch(features[idx], y[idx])
        loop_wall.append(time.perf_counter() - w)
        loop_cpu.append(time.process_time() - c)
    return {"fit": {"wall": clock.wall[1:], "cpu": clock.cpu[1:]},
            "loop": {"wall": loop_wall[1:], "cpu": loop_cpu[1:]}}


def main(argv: list[str]) -> dict[str, Any]:
    setup_env()
    from unfreeze_core import FixedEpoch, Schedule
    from unfreeze_core.keras import plan

    from .cache_floor import _cut_names, floor_cases

    stage = int(argv[0]) if argv else 4
    rounds = int(argv[1]) if len(argv) > 1 else 3
    epochs = int(argv[2]) if len(argv) > 2 else 3
    case = next(c for c in floor_cases("full") if c.name == "small_cnn")
    model = case.build()
    cut = _cut_names(model, list(plan(model, Schedule(FixedEpoch(every=1))).groups))[stage - 1]
    sides: dict[str, dict[str, list[float]]] = {
        s: {"wall": [], "cpu": []} for s in ("driver", "floor_fit", "floor_loop")}
    for r in range(rounds):
        for side in rotated(("driver", "floor"), r):
            if side == "driver":
                got = _driver(case, stage, epochs)
                sides["driver"]["wall"] += got["wall"]
                sides["driver"]["cpu"] += got["cpu"]
            else:
                f = _floor(case, cut, epochs)
                for kind in ("fit", "loop"):
                    sides[f"floor_{kind}"]["wall"] += f[kind]["wall"]
                    sides[f"floor_{kind}"]["cpu"] += f[kind]["cpu"]
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    profiled = _driver(case, stage, epochs, profile=True)
    med = {s: {k: median(v) for k, v in d.items()} for s, d in sides.items()}
    result = {
        "machine": machine_info(),
        "case": case.description, "stage": stage, "cut": cut, "rounds": rounds,
        "epochs_per_round": epochs,
        "epoch_seconds": sides,
        "median": med,
        "driver_over_floor_fit": {k: med["driver"][k] / med["floor_fit"][k]
                                  for k in ("wall", "cpu")},
        "driver_over_floor_loop": {k: med["driver"][k] / med["floor_loop"][k]
                                   for k in ("wall", "cpu")},
        "driver_over_min_floor": {k: med["driver"][k] / min(med["floor_fit"][k],
                                                            med["floor_loop"][k])
                                  for k in ("wall", "cpu")},
        "profile_of_one_cached_epoch": profiled["profile"],
    }
    out = REPO / "bench" / "results" / "profile_cache_floor.json"
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
