"""The cached activations of the frozen prefix: options, memory estimate, memory or disk.

``Cache`` holds the user's settings (``ProgressiveUnfreezing(cache=True)`` is
``Cache()``). For a cut, :func:`estimate` says how many bytes its tensors take for the
examples (examples x elements per example x bytes per element, summed over the cut's
tensors); :class:`Store` keeps them in memory when the train and validation caches
together fit the budget, else in ``np.memmap`` files in a temporary folder, and fills
them chunk by chunk with the prefix model's ``predict``. :func:`check_owner` is the
callback's guard: a caching callback in plain ``model.fit`` says what to call instead.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

import attrs
import keras
import numpy as np

from ..errors import DriverError

__all__ = ["PLAIN_FIT", "Cache", "Store", "as_cache", "check_owner", "default_budget",
           "estimate", "nbytes", "take"]

#: The default budget when the available memory cannot be read.
FALLBACK_BUDGET = 2 * 1024**3

PLAIN_FIT = (
    "ProgressiveUnfreezing(cache=...) must own the training data, which model.fit cannot "
    "hand to a callback: call unfreeze_core.keras.fit(model, x, y, epochs=..., "
    "batch_size=..., validation_data=..., callbacks=[...]) with the arguments you gave "
    "model.fit (x and y as NumPy arrays), or drop cache=True to train with model.fit"
)


@attrs.frozen
class Cache:
    """Frozen-prefix caching settings for :class:`~unfreeze_core.keras.ProgressiveUnfreezing`.

    Attributes:
        budget: bytes the cached activations (training and validation together) may take
            in memory; ``None``: a quarter of the memory available when the cache is
            built (2 GiB where that cannot be read). Over the budget they are
            memory-mapped files instead.
        dir: where such files go (a temporary folder inside it, removed after ``fit``);
            ``None``: the system's temporary folder.
    """

    budget: int | None = attrs.field(default=None)
    dir: str | None = None

    @budget.validator
    def _check(self, attribute: Any, value: int | None) -> None:
        if value is not None and value < 0:
            raise ValueError(f"budget must be >= 0 bytes, got {value}")


def as_cache(value: bool | Cache | None) -> Cache | None:
    """``cache=True`` is ``Cache()``; ``False``/``None`` is no caching."""
    if value is True:
        return Cache()
    if value is False or value is None:
        return None
    if isinstance(value, Cache):
        return value
    raise TypeError(f"cache must be a bool or a Cache, got {value!r}")


def check_owner(callback: Any, model: Any) -> None:
    """At train begin: refuse a caching callback that :func:`.cache_fit.fit` does not run,
    and let the run that does check the model (inside the callback's setup, so that a
    refusal leaves nothing half-applied)."""
    runner = getattr(callback, "cache_runner", None)
    if getattr(callback, "cache", None) is None:
        return
    if runner is None:
        raise DriverError(PLAIN_FIT)
    runner.check(model)


def available_memory() -> int | None:
    """Bytes of memory available now (``MemAvailable`` on Linux), or ``None``."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def default_budget() -> int:
    """A quarter of the available memory, or 2 GiB when it cannot be read."""
    free = available_memory()
    return FALLBACK_BUDGET if free is None else free // 4


def nbytes(n: int) -> str:
    """``"1.5 MiB"``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover


def estimate(specs: Sequence[tuple[tuple[int, ...], str]], examples: int) -> int:
    """Bytes of ``examples`` rows of tensors with per-example ``(shape, dtype)``.

    Example:
        >>> estimate([((8, 8, 16), "float32"), ((4,), "float32")], 1000)
        4112000
    """
    return int(sum(examples * math.prod(shape) * np.dtype(dtype).itemsize
                   for shape, dtype in specs))


def take(data: Any, index: Any) -> Any:
    """Rows ``index`` of an array or a structure (dict, list) of arrays."""
    return keras.tree.map_structure(lambda a: a[index], data)


class Store:
    """Where the cached arrays live: memory, or ``np.memmap`` files in one folder."""

    def __init__(self, options: Cache):
        self.options = options
        self.budget = options.budget if options.budget is not None else default_budget()
        self.folder: str | None = None
        self._files = 0

    def allocate(self, specs: Sequence[tuple[tuple[int, ...], str]], rows: int,
                 on_disk: bool) -> list[np.ndarray]:
        """Empty arrays of ``rows`` rows, in memory or memory-mapped."""
        if not on_disk:
            return [np.empty((rows, *shape), dtype) for shape, dtype in specs]
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="unfreeze-cache-", dir=self.options.dir)
        out: list[np.ndarray] = []
        for shape, dtype in specs:
            self._files += 1
            path = os.path.join(self.folder, f"a{self._files}.npy")
            out.append(np.lib.format.open_memmap(path, "w+", dtype, (rows, *shape)))
        return out

    def fill(self, prefix: Any, source: Any, out: list[np.ndarray], batch_size: int) -> None:
        """Run ``prefix`` over ``source`` in chunks, writing its outputs into ``out``."""
        rows = out[0].shape[0] if out else 0
        chunk = max(1, batch_size) * 32
        for a in range(0, rows, chunk):
            got = prefix.predict(take(source, slice(a, a + chunk)), batch_size=batch_size,
                                 verbose=0)
            got = got if isinstance(got, (list, tuple)) else [got]
            for dst, value in zip(out, got, strict=True):
                dst[a:a + chunk] = np.asarray(value)

    @staticmethod
    def release(arrays: Sequence[np.ndarray]) -> None:
        """Forget ``arrays``; memory-mapped ones lose their file."""
        for a in arrays:
            name = getattr(a, "filename", None)
            if isinstance(a, np.memmap) and name:
                del a
                if os.path.exists(name):
                    os.remove(name)

    def close(self) -> None:
        """Remove the folder of memory-mapped files, if any."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
