"""Small models, data and probes shared by the driver's tests."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from unfreeze_core.keras import flatten_layers, internals

#: Seconds a test waits for a subprocess: a safety net against a hung process, far
#: beyond what a busy machine needs, so that it never decides a test's outcome.
SAFETY_TIMEOUT = 900.0


def data(n: int = 32, d: int = 6, classes: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small regression (``classes=0``) or classification data set."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    if classes:
        y = rng.integers(0, classes, size=(n,)).astype("int32")
    else:
        y = (x @ rng.normal(size=(d, 1))).astype("float32")
    return x, y


def mlp(d: int = 6, widths: tuple[int, ...] = (8, 8), out: int = 1, bn: bool = False) -> Any:
    """A Sequential MLP: ``Dense`` layers ``l0, l1, ...`` and a ``head``."""
    layers: list[Any] = [keras.Input((d,))]
    for i, w in enumerate(widths):
        layers.append(keras.layers.Dense(w, activation="relu", name=f"l{i}"))
        if bn:
            layers.append(keras.layers.BatchNormalization(momentum=0.5, name=f"bn{i}"))
    layers.append(keras.layers.Dense(out, name="head"))
    return keras.Sequential(layers, name="mlp")


def snapshot(model: Any) -> dict[str, np.ndarray]:
    """Every model variable's value by path."""
    return {v.path: np.array(v.numpy(), copy=True) for v in model.variables}


def layer_values(model: Any) -> dict[str, list[np.ndarray]]:
    """Each weighted layer's variables (own only), by layer path."""
    return {
        r.path: [np.array(v.numpy(), copy=True) for v in r.layer.weights if _own(r.layer, v)]
        for r in flatten_layers(model)
    }


def _own(layer: Any, v: Any) -> bool:
    return any(v is w for w in internals.own_weights(layer))


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    """Bit-identical lists of arrays."""
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=False))


class Recorder(keras.callbacks.Callback):
    """Records layer values and optimizer iterations at every epoch begin and end."""

    def __init__(self) -> None:
        super().__init__()
        self.begin: list[dict[str, list[np.ndarray]]] = []
        self.end: list[dict[str, list[np.ndarray]]] = []
        self.iterations: list[int] = []
        self.trainable: list[set[str]] = []

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.begin.append(layer_values(self.model))
        self.trainable.append({v.path for v in self.model.trainable_variables})

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.end.append(layer_values(self.model))
        self.iterations.append(int(self.model.optimizer.iterations.numpy()))
