"""The demo's transfer experiment: pretrain on digits 0-4, fine-tune on 5-9 with few labels.

One small CNN backbone (``conv1``, ``conv2``, ``dense``) is pretrained with a source head on
the source task. Each fine-tuning strategy then starts from the same pretrained weights
and the same fresh target head, and gets the same budget (epochs, batch size, optimizer,
data). Forgetting is measured the way it hurts in practice: after fine-tuning, the
*source* head (untouched) is put back on the shared, now fine-tuned backbone and scored on
the source test set. Every strategy is scored with the weights of its best epoch by
:data:`~unfreeze_core.demo.strategies.MONITOR` (the same rule for all, so the comparison is
fair), unless the settings say otherwise.

This module imports Keras; the command-line front end is :mod:`unfreeze_core.cli.demo`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import keras
import numpy as np

from ..keras import ProgressiveUnfreezing
from ..schedule import Schedule
from .data import Split, TransferData, make_transfer
from .strategies import MONITOR, PROGRESSIVE, Result, Settings, Strategy

__all__ = ["Experiment", "Pretrained", "Result", "Settings"]

EpochHook = Callable[[int, Mapping[str, float], Any], None]
"""Called after every fine-tuning epoch with ``(epoch, logs, driver_or_None)``."""


@attrs.frozen(eq=False)
class Pretrained:
    """The pretrained backbone and heads, as plain weight lists."""

    backbone: list[np.ndarray]
    source_head: list[np.ndarray]
    target_head: list[np.ndarray]
    source_accuracy: float
    seconds: float


def build_backbone() -> keras.Model:
    """The shared feature extractor: two small convolutions and a dense layer (~38K weights)."""
    inputs = keras.Input((8, 8, 1), name="image")
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(64, activation="relu", name="dense")(h)
    return keras.Model(inputs, h, name="backbone")


def attach(backbone: keras.Model, head: keras.layers.Layer, name: str) -> keras.Model:
    """``backbone`` under ``head``, as the Keras transfer-learning guide nests them."""
    inputs = keras.Input((8, 8, 1), name="image")
    return keras.Model(inputs, head(backbone(inputs)), name=name)


def accuracy(model: keras.Model, split: Split) -> float:
    """Fraction of ``split`` that ``model`` classifies correctly."""
    probs = keras.ops.convert_to_numpy(model(split.x, training=False))
    return float(np.mean(np.argmax(probs, axis=-1) == split.y))


class _Hook(keras.callbacks.Callback):
    def __init__(self, hook: EpochHook, driver: Any):
        super().__init__()
        self.hook = hook
        self.driver = driver

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        numeric = {k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0}
        self.hook(epoch, numeric, self.driver)


class _BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the lowest ``monitor``; the earliest on a tie."""

    def __init__(self, monitor: str = MONITOR):
        super().__init__()
        self.monitor = monitor
        self.best = np.inf
        self.epoch = 0  # 1-based; 0 before any epoch
        self.weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        value = float((logs or {}).get(self.monitor, np.nan))
        if value < self.best:  # NaN never is
            self.best, self.epoch = value, epoch + 1
            self.weights = self.model.get_weights()


class Experiment:
    """Pretrain once, then fine-tune with any number of strategies from the same start.

    Args:
        settings: the budget and seed.
        data: the split (default: :func:`make_transfer` with the settings' seed).
    """

    def __init__(self, settings: Settings, data: TransferData | None = None):
        self.settings = settings
        self.data = data if data is not None else make_transfer(
            settings.seed, labels_per_class=settings.labels_per_class, val_size=settings.val_size
        )
        self.pretrained: Pretrained | None = None
        self.last_model: keras.Model | None = None

    def _reset(self, offset: int = 0) -> None:
        keras.backend.clear_session()
        keras.utils.set_random_seed(self.settings.seed + offset)

    def pretrain(self, on_epoch: EpochHook | None = None) -> Pretrained:
        """Train backbone + source head on digits 0-4; keep the weights for every strategy.

        ``on_epoch`` is called after every pretraining epoch (its driver is ``None``).
        """
        s, d = self.settings, self.data
        self._reset()
        backbone = build_backbone()
        source = attach(backbone, keras.layers.Dense(5, activation="softmax", name="source_head"),
                        "source")
        source.compile(optimizer=keras.optimizers.Adam(1e-3),
                       loss="sparse_categorical_crossentropy")
        start = time.perf_counter()
        hooks = [_Hook(on_epoch, None)] if on_epoch is not None else []
        source.fit(d.source_train.x, d.source_train.y, epochs=s.pretrain_epochs, batch_size=32,
                   verbose=0, callbacks=hooks)
        seconds = time.perf_counter() - start
        target_head = keras.layers.Dense(5, activation="softmax", name="target_head")
        target_head.build((None, 64))
        self.pretrained = Pretrained(
            backbone=backbone.get_weights(),
            source_head=source.get_layer("source_head").get_weights(),
            target_head=target_head.get_weights(),
            source_accuracy=accuracy(source, d.source_test),
            seconds=seconds,
        )
        return self.pretrained

    def run(
        self,
        strategy: Strategy,
        schedule: Schedule | None = None,
        *,
        on_epoch: EpochHook | None = None,
    ) -> Result:
        """Fine-tune with ``strategy`` (``schedule`` is required for the progressive one).

        Returns:
            The scores (of the best epoch's weights, when the settings restore them), the
            wall time of ``fit`` and its history. The fine-tuned target model, with the
            weights scored, stays in :attr:`last_model`.
        """
        s, d = self.settings, self.data
        pre = self.pretrained if self.pretrained is not None else self.pretrain()
        self._reset(offset=1)
        backbone = build_backbone()
        backbone.set_weights(pre.backbone)
        source_head = keras.layers.Dense(5, activation="softmax", name="source_head")
        source = attach(backbone, source_head, "source")
        source_head.set_weights(pre.source_head)
        target_head = keras.layers.Dense(5, activation="softmax", name="target_head")
        target = attach(backbone, target_head, "target")
        target_head.set_weights(pre.target_head)
        lr = s.lr * strategy.lr_scale
        callbacks: list[keras.callbacks.Callback] = []
        driver: Any = None
        if strategy.key == PROGRESSIVE:
            if schedule is None:
                raise ValueError("the progressive strategy needs a schedule")
            driver = ProgressiveUnfreezing(schedule)
            callbacks.append(driver)
        else:
            backbone.trainable = strategy.train_backbone
        best = _BestWeights()
        callbacks.append(best)
        if on_epoch is not None:
            callbacks.append(_Hook(on_epoch, driver))
        target.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"])
        start = time.perf_counter()
        history = target.fit(
            d.target_train.x, d.target_train.y,
            validation_data=(d.target_val.x, d.target_val.y),
            epochs=s.epochs, batch_size=s.batch_size, verbose=0, callbacks=callbacks,
        )
        seconds = time.perf_counter() - start
        last_accuracy = accuracy(target, d.target_test)
        ran = scored = len(history.epoch)  # a schedule may stop early
        if s.restore_best and best.weights is not None and best.epoch != ran:
            target.set_weights(best.weights)  # the backbone is shared with `source`
            scored = best.epoch
        self.last_model = target
        return Result(
            strategy=strategy.key,
            label=strategy.label,
            lr=lr,
            target_accuracy=(last_accuracy if scored == ran
                             else accuracy(target, d.target_test)),
            source_before=pre.source_accuracy,
            source_after=accuracy(source, d.source_test),
            seconds=seconds,
            history=_plain(history.history),
            best_epoch=scored,
            last_target_accuracy=last_accuracy,
        )


def _plain(history: Mapping[str, Sequence[Any]]) -> dict[str, list[float]]:
    return {k: [float(v) for v in values] for k, values in history.items()}
