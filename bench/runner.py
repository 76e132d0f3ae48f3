"""Runs the sections of one profile and writes ``<out>/<section>.json``."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import COMMAND_ENV, load_average, log, machine_info, write_json
from .profiles import PROFILES

__all__ = ["TARGETS", "run"]

TARGETS = {
    "whole_run": 1.02,
    "rules_whole_run": 1.05,
    "gradnorm_per_step": 1.05,
    "stage_change": 1.1,
    "stage_vs_floor": 1.03,
    "plan_seconds": 1.0,
}


def _speed(profile: Any) -> dict[str, Any]:
    from .speed import run_case

    cases = {}
    for plan in profile.speed:
        case = plan.case()
        cases[case.name] = run_case(case, plan.reps, plan.rounds, plan.steps)
    return {"targets": TARGETS, "cases": cases}


def _scale(profile: Any) -> dict[str, Any]:
    from .scale import run_scale

    return {"targets": TARGETS, **run_scale(profile)}


def _quality(profile: Any) -> dict[str, Any]:
    from .quality import run_quality

    return run_quality(profile)


def _transfer(profile: Any) -> dict[str, Any]:
    from .transfer.runner import run_transfer

    return run_transfer(profile)


class LoadSampler:
    """Samples the 1-minute load average every ``every`` seconds in a daemon thread."""

    def __init__(self, every: float = 10.0):
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self.every)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1)

    def summary(self) -> dict[str, float]:
        data = self.samples or [float("nan")]
        return {"mean": round(sum(data) / len(data), 2), "max": round(max(data), 2),
                "samples": len(self.samples)}


def _caching(profile: Any) -> dict[str, Any]:
    from .cache_floor import run_cache_floor

    return run_cache_floor(profile.name, profile.caching.floor_rounds)


def _tta(profile: Any) -> dict[str, Any]:
    from .time_to_accuracy import run_time_to_accuracy

    return run_time_to_accuracy(profile)


SECTIONS = {"speed": _speed, "scale": _scale, "quality": _quality, "transfer": _transfer,
            "caching": _caching, "tta": _tta}


def run(profile_name: str, sections: Sequence[str], out: Path) -> list[Path]:
    """Run ``sections`` of the named profile; returns the files written.

    Several sections run one after the other, each in a fresh process: no section is
    timed on a heap (and a TensorFlow state) the one before it built up.
    """
    if len(sections) > 1:
        command = machine_info()["command"]
        env = {**os.environ, COMMAND_ENV: command}
        for name in sections:
            subprocess.run(
                [sys.executable, "-m", "bench", "run", f"--{profile_name}", "--only", name,
                 "--no-doc", "--out", str(out)],
                env=env, check=True,
            )
        return [out / f"{name}.json" for name in sections]
    profile = PROFILES[profile_name]
    written = []
    for name in sections:
        meta = machine_info()
        meta["profile"] = profile_name
        log(f"section {name} ({profile_name}), load average {meta['load_average_start']}")
        start = time.perf_counter()
        with LoadSampler() as load:
            result = SECTIONS[name](profile)
        meta["seconds"] = time.perf_counter() - start
        meta["load_average_during"] = load.summary()
        meta["load_average_end"] = load_average()
        path = out / f"{name}.json"
        write_json(path, {"meta": meta, **result})
        written.append(path)
        log(f"section {name} done in {meta['seconds']:.0f}s -> {path}")
    return written
