"""``fit``: ``model.fit``'s epoch loop, owning the data so that a frozen prefix is
computed once per stage instead of once per epoch.

A callback cannot replace the data ``model.fit`` iterates over, so a
``ProgressiveUnfreezing(cache=True)`` is run by :func:`fit` (without one, ``model.fit``).
It runs ``fit``'s loop: the callbacks (given the full model; ``History`` and the
progress bar added as ``fit`` adds them) see the same events, logs and epochs, and each
batch trains the part above the cut (:mod:`.cache_graph`) on the stored activations
(:mod:`.cache_store`) with the model's optimizer: slots and ``iterations`` carry on.
When the trainable set changes (at an epoch end, or mid-epoch for ``GradNorm``) the cut
moves before the next batch: tensors still on it are kept, a higher cut is computed
from the stored one, a lower one from the inputs. Same examples, same order: the
weights are an uncached run's up to float rounding.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from ..errors import DriverError
from . import backend, internals, messages
from .cache_graph import Cut, find_cut, input_structure, prefix_model, suffix_model
from .cache_store import Store, estimate, nbytes, take
from .callback import ProgressiveUnfreezing

__all__ = ["fit"]


def _rows(data: Any, what: str) -> int:
    leaves = keras.tree.flatten(data)
    for leaf in leaves:
        if not isinstance(leaf, np.ndarray):
            kind = f"{type(leaf).__module__}.{type(leaf).__name__}"
            raise DriverError(
                f"cannot cache the frozen prefix: {what} is a {kind}, not in-memory arrays. A "
                "tf.data.Dataset, a generator or a PyDataset may give other examples (or "
                "another order, or augmentations) each epoch, so what the frozen layers compute "
                "cannot be stored once; pass NumPy arrays (or a dict or list of them), or drop "
                "cache=True and use model.fit"
            )
    counts = {int(a.shape[0]) for a in leaves}
    if len(counts) != 1:
        raise DriverError(f"{what}: arrays of different lengths {sorted(counts)}")
    return counts.pop()


def _specs(prefix: Any, source: Any, tensors: list[Any]) -> list[tuple[tuple[int, ...], str]]:
    """Per-example shape and dtype of ``tensors``; dimensions the graph leaves open (a
    sequence length) are read from the prefix's output for the first example."""
    shapes = [tuple(t.shape[1:]) for t in tensors]
    if any(d is None for shape in shapes for d in shape):
        got = prefix.predict(take(source, slice(0, 1)), verbose=0)
        shapes = [tuple(np.shape(g)[1:]) for g in (got if isinstance(got, list) else [got])]
    return [(tuple(int(d) for d in shape), str(t.dtype))
            for shape, t in zip(shapes, tensors, strict=True)]


def _python(value: Any) -> Any:
    """A log value as ``fit``'s epoch logs hold it (a Python number)."""
    array = np.asarray(keras.ops.convert_to_numpy(value))
    return array.item() if array.size == 1 else array


def fit(
    model: Any,
    x: Any = None,
    y: Any = None,
    *,
    batch_size: int = 32,
    epochs: int = 1,
    verbose: int | str = "auto",
    callbacks: Sequence[Any] | None = None,
    validation_data: tuple[Any, ...] | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    sample_weight: np.ndarray | None = None,
    initial_epoch: int = 0,
    validation_batch_size: int | None = None,
) -> keras.callbacks.History:
    """Train ``model`` as ``model.fit`` does; with frozen-prefix caching when ``callbacks``
    holds a ``ProgressiveUnfreezing(cache=True)``.

    Arguments mean what they mean for ``model.fit``; ``seed`` seeds the shuffling of
    the caching loop (``None``: a fresh order each run). Without a caching callback this
    is ``model.fit(x, y, ...)`` itself. With one, ``x``, ``y``, ``sample_weight`` and
    ``validation_data`` must be in-memory NumPy arrays (or dicts or lists of them).

    Returns:
        The run's ``keras.callbacks.History``.

    Raises:
        DriverError: caching cannot be exact for this model or data (the message names
            the layer or the reason); nothing has changed on the model.
    """
    cbs = list(callbacks or [])
    caching = [c for c in cbs if isinstance(c, ProgressiveUnfreezing) and c.cache is not None]
    if not caching:
        return model.fit(
            x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=cbs,
            validation_data=validation_data, shuffle=shuffle, sample_weight=sample_weight,
            initial_epoch=initial_epoch, validation_batch_size=validation_batch_size,
        )
    if len(caching) > 1:
        raise DriverError("only one ProgressiveUnfreezing(cache=...) can run a fit")
    run = CachedRun(model, caching[0], x, y, sample_weight, validation_data,
                    batch_size, validation_batch_size or batch_size)
    return run.train(cbs, epochs=epochs, initial_epoch=initial_epoch, shuffle=shuffle,
                     seed=seed, verbose=1 if verbose == "auto" else int(verbose))


class CachedRun:
    """One ``fit`` with a cached frozen prefix (see the module doc)."""

    def __init__(self, model: Any, driver: ProgressiveUnfreezing, x: Any, y: Any,
                 sample_weight: Any, validation_data: Any, batch_size: int,
                 validation_batch_size: int):
        self.model, self.driver = model, driver
        assert driver.cache is not None
        self.x, self.y, self.sw = x, y, sample_weight
        self.n = _rows(x, "x")
        for data, what in ((y, "y"), (sample_weight, "sample_weight")):
            if data is not None and _rows(data, what) != self.n:
                raise DriverError(f"{what} has another number of examples than x ({self.n})")
        self.val: tuple[Any, Any, Any] | None = None
        if validation_data is not None:
            vx, vy, *rest = validation_data
            _rows(vx, "validation_data")
            self.val = (vx, vy, rest[0] if rest else None)
        self.batch_size, self.val_batch_size = batch_size, validation_batch_size
        self.store = Store(driver.cache)
        self.cut: Cut | None = None
        self.arrays: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        self.suffix: Any = None
        self.trainable: tuple[int, ...] | None = None
        self.holding = False  # while True the suffix's reset_metrics does nothing
        self.stepped = False  # the suffix has taken a step (its train function is built)
        self.fresh = True  # reset the metrics at the next step
        self.closed: list[tuple[int, dict[str, Any]]] = []
        self.rows = 0
        self.last: dict[str, Any] = {}
        self.cut_changes = 0

    def check(self, model: Any) -> None:
        """Refuse a model whose frozen prefix cannot be cached exactly (see :mod:`.cache_graph`)."""
        cut = find_cut(model, self.driver.schedule.batchnorm)
        if cut.blocked is not None:
            raise DriverError(f"cannot cache the frozen prefix exactly: {cut.blocked}")

    # --- the loop -------------------------------------------------------------------------

    def train(self, cbs: list[Any], *, epochs: int, initial_epoch: int, shuffle: bool,
              seed: int | None, verbose: int) -> keras.callbacks.History:
        model, n = self.model, self.n
        steps = math.ceil(n / self.batch_size)
        cb_list = keras.callbacks.CallbackList(
            cbs, add_history=True, add_progbar=verbose != 0, model=model,
            verbose=verbose, epochs=epochs, steps=steps,
        )
        rng = np.random.default_rng(seed)
        model.stop_training = False
        self.driver.cache_runner = self
        logs: dict[str, Any] = {}
        try:
            cb_list.on_train_begin()
            start = internals.initial_epoch(model) or initial_epoch
            for epoch in range(start, epochs):
                self.fresh, self.closed, self.rows, self.last = True, [], 0, {}
                cb_list.on_epoch_begin(epoch)
                order = rng.permutation(n) if shuffle else np.arange(n)
                for step in range(steps):
                    self.sync(epoch)
                    cb_list.on_train_batch_begin(step)
                    bs = self.batch_size
                    self.last = self.step(order[step * bs:(step + 1) * bs])
                    cb_list.on_train_batch_end(step, self.last)
                    if model.stop_training:
                        break
                logs = self.epoch_logs()
                if self.val is not None:
                    self.sync(epoch)
                    logs.update({f"val_{k}": v for k, v in self.evaluate().items()})
                cb_list.on_epoch_end(epoch, logs)
                if model.stop_training:
                    break
            cb_list.on_train_end(logs)
        finally:
            self.driver.cache_runner = None
            self.store.close()
        return next(c for c in cb_list.callbacks if isinstance(c, keras.callbacks.History))

    def step(self, index: np.ndarray) -> dict[str, Any]:
        if self.fresh:
            self.suffix.reset_metrics()
            self.fresh = False
        xb = self.inputs(0, index)
        sw = None if self.sw is None else self.sw[index]
        yb = take(self.y, index)
        self.holding = True
        try:
            if self.stepped and backend.name() == "tensorflow":
                # what train_on_batch does once built, without reading the logs back to
                # Python at every step (model.fit does not either)
                logs = self.suffix.train_function(iter([(xb, yb, sw)]))
            else:
                logs = self.suffix.train_on_batch(xb, yb, sample_weight=sw, return_dict=True)
                self.stepped = getattr(self.suffix, "steps_per_execution", 1) == 1
        finally:
            self.holding = False
        self.rows += len(index)
        return dict(logs)

    def epoch_logs(self) -> dict[str, Any]:
        """The epoch's running logs; over a mid-epoch cut change, the means of the parts
        weighted by their examples (exact for mean metrics such as the loss)."""
        parts = [(r, {k: _python(v) for k, v in p.items()})
                 for r, p in [*self.closed, (self.rows, self.last)] if r > 0]
        if len(parts) == 1:
            return parts[0][1]
        total = sum(r for r, _ in parts)
        return {k: sum(r * float(p[k]) for r, p in parts) / total for k in parts[-1][1]}

    def evaluate(self) -> dict[str, Any]:
        assert self.val is not None
        _, vy, vsw = self.val
        out = self.suffix.evaluate(self.inputs(1, None), vy, sample_weight=vsw,
                                   batch_size=self.val_batch_size, verbose=0, return_dict=True)
        return dict(out)

    def inputs(self, which: int, index: np.ndarray | None) -> Any:
        """The suffix's inputs for training (0) or validation (1) rows ``index``."""
        assert self.cut is not None
        if self.cut.trivial:
            data = self.x if which == 0 else self.val[0]  # type: ignore[index]
            return data if index is None else take(data, index)
        arrays = [self.arrays[k][which] for k in self.cut.key]
        return arrays if index is None else [a[index] for a in arrays]  # type: ignore[index]

    # --- the cut ----------------------------------------------------------------------------

    def sync(self, epoch: int) -> None:
        """Move the cut if the trainable set changed since the suffix was built."""
        state = self.driver.state
        assert state is not None
        if tuple(state.trainable) == self.trainable and self.suffix is not None:
            return
        started = time.perf_counter()
        backend.sync(self.model)
        cut = find_cut(self.model, self.driver.schedule.batchnorm)
        if self.rows:
            self.closed.append((self.rows, self.last))
            self.rows = 0
        reused = self.rebuild(cut)
        self.trainable = tuple(state.trainable)
        self.suffix, self.stepped = self.compiled(cut), False
        self.cut_changes += 1
        if self.driver.verbose:
            when = "ProgressiveUnfreezing" if self.cut_changes == 1 else f"Epoch {epoch + 1}"
            messages.say(f"{when}: {self.describe(cut, reused, time.perf_counter() - started)}")

    def rebuild(self, cut: Cut) -> int:
        """Compute the new cut's arrays (keeping those still on it); how many were kept."""
        old, previous = self.arrays, self.cut
        self.cut = cut
        if cut.trivial:
            self.arrays = {}
            self.store.release([a for pair in old.values() for a in pair if a is not None])
            return 0
        kept = {k: old[k] for k in cut.key if k in old}
        needed = [t for t in cut.tensors if id(t) not in kept]
        fresh: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        if needed:
            prefix, sources = self._prefix(previous, old, needed)
            specs = _specs(prefix, sources[0], needed)
            n_val = 0 if self.val is None else _rows(self.val[0], "validation_data")
            kept_bytes = sum(a.nbytes for pair in kept.values() for a in pair if a is not None)
            total = estimate(specs, self.n + n_val) + kept_bytes
            on_disk = total > self.store.budget
            train = self.store.allocate(specs, self.n, on_disk)
            self.store.fill(prefix, sources[0], train, self.batch_size)
            val: list[Any] = [None] * len(needed)
            if self.val is not None:
                val = self.store.allocate(specs, n_val, on_disk)
                self.store.fill(prefix, sources[1], val, self.val_batch_size)
            fresh = {id(t): (a, v) for t, a, v in zip(needed, train, val, strict=True)}
        dropped = [a for k, pair in old.items() if k not in kept for a in pair if a is not None]
        self.arrays = {**kept, **fresh}
        self.store.release(dropped)
        return len(kept)

    def _prefix(self, previous: Cut | None, old: dict[int, Any], needed: list[Any]
                ) -> tuple[Any, tuple[Any, Any]]:
        """A model computing ``needed``: from the previous cut's arrays when they
        determine it (a higher cut), else from the inputs."""
        if previous is not None and not previous.trivial:
            try:
                prefix = prefix_model(list(previous.tensors), needed)
            except ValueError:
                pass
            else:
                return prefix, ([old[k][0] for k in previous.key],
                                [old[k][1] for k in previous.key] if self.val else None)
        vx = self.val[0] if self.val is not None else None
        return prefix_model(input_structure(self.model), needed), (self.x, vx)

    def compiled(self, cut: Cut) -> Any:
        """The model above ``cut``, compiled as the model is, with its optimizer."""
        model = self.model
        outputs = model.outputs
        suffix = (keras.Model(input_structure(model), outputs[0] if len(outputs) == 1 else outputs)
                  if cut.trivial else suffix_model(model, cut))
        if backend.name() == "jax" and [id(v) for v in suffix.trainable_variables] != [
            id(v) for v in model.trainable_variables
        ]:
            raise DriverError("internal: the model above the cut orders its trainable "
                              "variables differently from the model; fit without caching")
        config = keras.saving.deserialize_keras_object(model.get_compile_config())
        config["optimizer"] = model.optimizer
        suffix.compile(**config)
        original = suffix.reset_metrics
        run = self

        def reset_metrics() -> None:
            if not run.holding:  # train_on_batch resets each batch; fit's logs run on
                original()

        suffix.reset_metrics = reset_metrics
        return suffix

    def describe(self, cut: Cut, reused: int, seconds: float) -> str:
        if cut.trivial:
            return ("nothing frozen below the trainable layers: the whole model trains on "
                    "its inputs (no cache)")
        shown = ", ".join(repr(n) for n in cut.names[:4])
        more = f" (+{len(cut.names) - 4} more)" if len(cut.names) > 4 else ""
        size = sum(a.nbytes for pair in self.arrays.values() for a in pair if a is not None)
        on_disk = any(isinstance(a, np.memmap) for pair in self.arrays.values() for a in pair)
        where = (f"memory-mapped in {self.store.folder} (over the budget of "
                 f"{nbytes(self.store.budget)})" if on_disk
                 else f"in memory (budget {nbytes(self.store.budget)})")
        n_val = "" if self.val is None else f" + {_rows(self.val[0], 'validation_data')}"
        kept = f", {reused} of {len(cut.tensors)} tensors kept" if reused else ""
        return (f"frozen prefix cached at {shown}{more}: {nbytes(size)} for {self.n}{n_val} "
                f"examples, {where}{kept}; built in {seconds:.1f} s")
