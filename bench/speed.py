"""Speed: the driver against the fastest correct hand-written Keras 3 code (items 1-5).

One repetition trains, from the same initial weights, on the same data (fixed order,
``shuffle=False``) and through the same stage timeline (``S`` stages of ``E`` epochs):

- ``baseline``: hand-written. The optimizer is built over every variable that may ever
  train *before* ``compile``; BatchNorm layers are frozen; a callback flips the next
  group's ``trainable`` flags at the stage's last epoch end and calls
  ``model.make_train_function(force=True)`` (``/work/shared/notes/keras3-facts.md``:
  the cheapest way that is correct on Keras 3).
- ``driver``: ``ProgressiveUnfreezing(Schedule(FixedEpoch(every=E)))``, no LR rules.
- ``driver_rules``: the same plus ``Discriminative`` + ``Warmup`` + ``StageScaled``.
- ``gradnorm``: ``FixedEpoch(every=E) | GradNorm(threshold=1e-30)``; the norm policy
  never fires, so the stages are FixedEpoch's while the norms are computed and read.
- ``floor``: for every stage, a model compiled from scratch (plain optimizer) with
  exactly that stage's layers trainable, its train step timed in blocks interleaved
  with the driver's at that stage.
- ``baseline_again`` and ``floor_again``: identical copies of ``baseline`` and
  ``floor``. Their ratios to the originals (the A/A controls) are 1 but for the noise of
  the measurement, in the same run: the yardstick for how far a ratio can stray
  from the truth on a shared machine.

The order of the sides rotates from one repetition to the next. Every figure is the
median over repetitions of a ratio computed inside one repetition.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

import numpy as np

from .common import log, median, rotated, summary
from .models import SpeedCase
from .speed_sides import BenchError, EpochClock, HandWrittenStages, Runner

__all__ = ["BenchError", "EpochClock", "HandWrittenStages", "run_case"]

def _steady(epochs: Sequence[float], every: int, n_stages: int) -> list[float]:
    """Per stage, the mean of its epochs after the first (no trace in them)."""
    out = []
    for k in range(n_stages):
        part = epochs[k * every + 1:(k + 1) * every]
        out.append(float(np.mean(part)) if part else float("nan"))
    return out


def _change_extra(boundaries: Sequence[float], every: int, n_stages: int) -> list[float]:
    """Per stage change: the span across the change (two steps, the epoch-end callbacks,
    the re-trace) minus the span across the next epoch boundary of the same stage."""
    return [boundaries[k * every] - boundaries[k * every + 1] for k in range(1, n_stages)]


def _ratios(a: Sequence[float], b: Sequence[float]) -> list[float]:
    return [x / y for x, y in zip(a, b, strict=True)]


def run_whole(runner: Runner, reps: int, sides: Sequence[str]) -> dict[str, Any]:
    """Items 1-4: ``reps`` repetitions of whole runs of every side, order rotating."""
    case = runner.case
    n, every = runner.n_groups, case.epochs_per_stage
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    max_diff = None
    for rep in range(reps):
        for side in rotated(list(sides), rep):
            runs[side].append(runner.run(side))
        if max_diff is None and runs.get("baseline") and runs.get("driver"):
            a, b = runs["baseline"][0]["weights"], runs["driver"][0]["weights"]
            max_diff = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))
        for side_runs in runs.values():
            side_runs[-1]["weights"] = None
        log(f"  {case.name} rep {rep + 1}/{reps}: " + ", ".join(
            f"{s} {r[-1]['seconds']:.2f}s" for s, r in runs.items()))

    expected = [1 + e // every for e in range(runner.epochs)]
    for side, side_runs in runs.items():
        for run in side_runs:
            if run["stages"] != expected:
                raise BenchError(
                    f"{case.name}: side {side!r} ran stages {run['stages']}, "
                    f"expected {expected}"
                )

    def per_rep(side: str, key: str) -> list[float]:
        return [x[key] for x in runs[side]]

    def whole(a: str, b: str, key: str) -> dict[str, Any]:
        """``a`` over ``b``: whole runs (``seconds`` or ``cpu_seconds``)."""
        return summary(_ratios(per_rep(a, key), per_rep(b, key)))

    def per_step(a: str, b: str, key: str) -> dict[str, Any]:
        """``a`` over ``b``: the steady epochs (``epochs`` or ``cpu_epochs``)."""
        steady = {s: [sum(_steady(x[key], every, n)) for x in runs[s]] for s in (a, b)}
        return summary(_ratios(steady[a], steady[b]))

    def extras(side: str) -> list[list[float]]:
        return [_change_extra(x["boundaries"], every, n) for x in runs[side]]

    def change(a: str, b: str) -> dict[str, Any]:
        """``a`` over ``b``: the extra time of all stage changes of a run."""
        return summary([sum(x) / sum(y) for x, y in zip(extras(a), extras(b), strict=True)])

    out: dict[str, Any] = {
        "timeline": expected,
        "max_weight_diff_driver_vs_baseline": max_diff,
        "seconds": {s: summary(per_rep(s, "seconds")) for s in runs},
        "cpu_seconds": {s: summary(per_rep(s, "cpu_seconds")) for s in runs},
        "ratios": {},
        "cpu_ratios": {},
    }
    r, c = out["ratios"], out["cpu_ratios"]
    if "driver" in runs and "baseline" in runs:
        r["whole_run"] = whole("driver", "baseline", "seconds")
        c["whole_run"] = whole("driver", "baseline", "cpu_seconds")
        r["stage_change"] = change("driver", "baseline")
        extra = {s: extras(s) for s in ("driver", "baseline")}
        r["stage_change_each"] = [
            summary([d[j] / b[j] for d, b in zip(extra["driver"], extra["baseline"],
                                                 strict=True)])
            for j in range(n - 1)
        ]
        out["stage_change_extra_seconds"] = {
            s: [median(x[j] for x in extra[s]) for j in range(n - 1)] for s in extra
        }
    if "baseline_again" in runs and "baseline" in runs:
        # A/A control: the same measures between two identical hand-written sides
        r["control_whole_run"] = whole("baseline_again", "baseline", "seconds")
        c["control_whole_run"] = whole("baseline_again", "baseline", "cpu_seconds")
        r["control_per_step"] = per_step("baseline_again", "baseline", "epochs")
        c["control_per_step"] = per_step("baseline_again", "baseline", "cpu_epochs")
        r["control_stage_change"] = change("baseline_again", "baseline")
    if "driver_rules" in runs and "baseline" in runs:
        r["rules_whole_run"] = whole("driver_rules", "baseline", "seconds")
        c["rules_whole_run"] = whole("driver_rules", "baseline", "cpu_seconds")
    if "gradnorm" in runs and "driver" in runs:
        r["gradnorm_per_step"] = per_step("gradnorm", "driver", "epochs")
        c["gradnorm_per_step"] = per_step("gradnorm", "driver", "cpu_epochs")
    spe = case.steps_per_epoch
    out["step_seconds_per_stage"] = {
        s: [median(_steady(x["epochs"], every, n)[k] for x in v) / spe for k in range(n)]
        for s, v in runs.items()
    }
    return out


def run_physics(runner: Runner, rounds: int, steps: int) -> dict[str, Any]:
    """Item 5: per stage, driver step time against its floor and against unfreeze-all."""
    n = runner.n_groups
    all_model = runner.floor(n)
    stages: list[dict[str, Any]] = []
    for stage in range(1, n + 1):
        floor = all_model if stage == n else runner.floor(stage)
        floor_again = runner.floor(stage)  # A/A control: an identical from-scratch model
        probe = runner.physics(stage, floor, None if stage == n else all_model, rounds, steps,
                               floor_again)
        w, c = probe.wall, probe.cpu
        all_w = w["floor"] if stage == n else w["all"]
        all_c = c["floor"] if stage == n else c["all"]
        stages.append({
            "stage": stage,
            "step_seconds": {k: median(v) for k, v in w.items()},
            "vs_floor": summary(_ratios(w["driver"], w["floor"])),
            "vs_all": summary(_ratios(w["driver"], all_w)),
            "floor_vs_all": summary(_ratios(w["floor"], all_w)),
            "cpu_vs_floor": summary(_ratios(c["driver"], c["floor"])),
            "cpu_vs_all": summary(_ratios(c["driver"], all_c)),
            "control_vs_floor": summary(_ratios(w["floor_again"], w["floor"])),
            "cpu_control_vs_floor": summary(_ratios(c["floor_again"], c["floor"])),
        })
        log(f"  {runner.case.name} stage {stage}/{n}: driver/floor "
            f"{stages[-1]['vs_floor']['median']:.3f}, driver/all "
            f"{stages[-1]['vs_all']['median']:.3f}")
        if floor is not all_model:
            del floor
        del floor_again, probe
        gc.collect()
    del all_model
    gc.collect()
    return {"rounds": rounds, "steps_per_block": steps, "stages": stages}


def run_case(case: SpeedCase, reps: int, rounds: int, steps: int,
             sides: Sequence[str] = ("baseline", "driver", "driver_rules", "gradnorm",
                                     "baseline_again")
             ) -> dict[str, Any]:
    """Every speed item for ``case``."""
    runner = Runner(case)
    log(f"speed {case.name}: {runner.n_groups} groups {runner.group_names}, "
        f"{runner.epochs} epochs of {case.steps_per_epoch} steps, {reps} reps")
    whole = run_whole(runner, reps, sides)
    physics = run_physics(runner, rounds, steps)
    return {
        "description": case.description,
        "params": runner.n_params,
        "groups": runner.group_names,
        "n_stages": runner.n_groups,
        "epochs_per_stage": case.epochs_per_stage,
        "epochs": runner.epochs,
        "steps_per_epoch": case.steps_per_epoch,
        "batch_size": case.batch_size,
        "samples": case.samples,
        "reps": reps,
        "whole": whole,
        "physics": physics,
    }
