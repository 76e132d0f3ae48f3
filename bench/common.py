"""Shared pieces of the benchmarks: environment, machine description, timing, JSON.

Import this module before Keras: :func:`setup_env` sets the TensorFlow environment
variables that must be in place when TensorFlow is first imported.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def setup_env() -> None:
    """Quiet TensorFlow and pick the TensorFlow backend (call before importing keras)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def median(values: Iterable[float]) -> float:
    """The median of ``values`` (``nan`` when empty)."""
    data = [float(v) for v in values]
    return statistics.median(data) if data else float("nan")


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    data = [float(v) for v in values]
    if not data:
        return float("nan"), float("nan")
    return statistics.fmean(data), (statistics.stdev(data) if len(data) > 1 else 0.0)


def summary(values: Sequence[float]) -> dict[str, Any]:
    """``{"median", "min", "max", "values"}`` of per-repetition ratios or times."""
    data = [float(v) for v in values]
    return {
        "median": median(data),
        "min": min(data) if data else float("nan"),
        "max": max(data) if data else float("nan"),
        "values": data,
    }


def rotated(items: Sequence[Any], rep: int) -> list[Any]:
    """``items`` rotated left by ``rep``: repetition ``r`` starts with a different side."""
    k = rep % len(items)
    return list(items[k:]) + list(items[:k])


def maxrss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    Read from ``VmHWM`` in ``/proc/self/status`` where it exists: ``getrusage``'s
    ``ru_maxrss`` keeps the high-water mark of the *parent* across ``fork`` + ``exec``
    on Linux, so a child started by a big process would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


#: Set by a run of several sections for the process of each: the command the user typed.
COMMAND_ENV = "UNFREEZE_BENCH_COMMAND"


def _command() -> str:
    """The command that started this process: ``python -m`` with the module it ran
    (``bench``, ``bench.profile_driver``, ...) and its arguments; ``bench`` when it was
    not started with ``-m``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    module = spec.name.removesuffix(".__main__") if spec is not None else "bench"
    return " ".join([f"python -m {module}", *sys.argv[1:]])


def machine_info() -> dict[str, Any]:
    """The machine, the versions and the time, for the header of every result file."""
    return {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": os.environ.get(COMMAND_ENV) or _command(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            name: _version(name)
            for name in ("unfreeze-core", "keras", "tensorflow-cpu", "tensorflow", "numpy",
                         "keras-hub")
        },
        "git_commit": _git_commit(),
        "load_average_start": load_average(),
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON (creating the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=False, default=_default) + "\n")


def _default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"not JSON serialisable: {value!r}")


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """Collect garbage, then keep the cyclic collector off inside the block (as ``timeit``
    does): a collection of the heap the benchmark process has built up (several models
    and their traced graphs) would otherwise land in whichever side happens to be timed."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def log(message: str) -> None:
    """Progress on stderr (stdout stays free for a final summary)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
