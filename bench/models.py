"""The models the speed benchmarks train, each with its groups written out by hand.

Every case builds a fresh model from the same initial weights and names its groups twice:
once as a grouping spec for the driver (``Schedule(groups=...)``) and once as plain
lists of Keras layers for the hand-written baseline, which must not use the driver's own
code. The benchmark checks that both give the same layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import keras

from unfreeze_core import Auto, ByPatterns

__all__ = ["SpeedCase", "resnet50_case", "small_cnn", "small_cnn_case"]


def small_cnn(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    classes: int = 10,
    widths: tuple[int, ...] = (16, 32, 64, 64),
    name: str = "cnn",
) -> keras.Model:
    """Conv-BN-ReLU blocks (max-pooling between them), global pooling, a ``head``.

    Weighted layers: ``conv1..convN`` (no bias), ``bn1..bnN`` and ``head``.
    """
    inputs = keras.Input(input_shape, name="image")
    h = inputs
    for i, width in enumerate(widths, 1):
        h = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{i}")(h)
        h = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(h)
        h = keras.layers.Activation("relu", name=f"relu{i}")(h)
        if i < len(widths):
            h = keras.layers.MaxPooling2D(name=f"pool{i}")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    outputs = keras.layers.Dense(classes, name="head")(h)
    return keras.Model(inputs, outputs, name=name)


def _weighted(layer: Any) -> bool:
    return bool(getattr(layer, "_trainable_variables", None))


def _bn(layer: Any) -> bool:
    return isinstance(layer, keras.layers.BatchNormalization)


@attrs.frozen
class SpeedCase:
    """One model of the speed benchmarks.

    Attributes:
        name: key in the results.
        description: for the tables.
        build: makes the model, every layer trainable.
        grouping: the driver's ``groups`` spec.
        hand_groups: the baseline's groups, input side first: lists of live layers.
        batchnorm: the model's BatchNormalization layers (kept in inference mode).
        input_shape: one example's shape.
        classes: number of classes.
        samples: training examples (random, fixed seed).
        batch_size: batch size.
        epochs_per_stage: epochs each stage lasts (``FixedEpoch(every=...)``).
    """

    name: str
    description: str
    build: Callable[[], keras.Model]
    grouping: Any
    hand_groups: Callable[[keras.Model], list[list[Any]]]
    batchnorm: Callable[[keras.Model], list[Any]]
    input_shape: tuple[int, ...]
    classes: int
    samples: int
    batch_size: int
    epochs_per_stage: int = 2

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.samples // self.batch_size)


def small_cnn_case(
    *,
    size: int = 32,
    widths: tuple[int, ...] = (16, 32, 64, 64),
    samples: int = 1024,
    batch_size: int = 64,
) -> SpeedCase:
    """The small CNN: ``Auto`` groups, one per conv layer plus the head."""

    def build() -> keras.Model:
        return small_cnn((size, size, 3), 10, widths)

    def hand_groups(model: keras.Model) -> list[list[Any]]:
        return [[model.get_layer(f"conv{i}")] for i in range(1, len(widths) + 1)] + [
            [model.get_layer("head")]
        ]

    def batchnorm(model: keras.Model) -> list[Any]:
        return [model.get_layer(f"bn{i}") for i in range(1, len(widths) + 1)]

    n_params = build().count_params()
    return SpeedCase(
        name="small_cnn",
        description=(
            f"small CNN, {len(widths)} conv-BN blocks {list(widths)}, {size}x{size}x3, "
            f"{n_params:,} params; Auto groups ({len(widths) + 1}: one per conv + head)"
        ),
        build=build,
        grouping=Auto(),
        hand_groups=hand_groups,
        batchnorm=batchnorm,
        input_shape=(size, size, 3),
        classes=10,
        samples=samples,
        batch_size=batch_size,
    )


def resnet50_case(*, size: int = 32, samples: int = 256, batch_size: int = 32) -> SpeedCase:
    """``keras.applications.ResNet50(weights=None)`` nested in a model with a ``head``.

    Three groups: ``conv1``-``conv4`` blocks, ``conv5`` blocks, the head. (ResNet50's
    shortcut ``Conv2D(1, strides=2)`` layers receive 256+ channels, which the TensorFlow
    oneDNN crash noted in ``docs/benchmarks.md`` does not affect.)
    """

    def build() -> keras.Model:
        base = keras.applications.ResNet50(
            weights=None, include_top=False, input_shape=(size, size, 3), pooling="avg"
        )
        inputs = keras.Input((size, size, 3), name="image")
        outputs = keras.layers.Dense(10, name="head")(base(inputs))
        return keras.Model(inputs, outputs, name="resnet50_classifier")

    def hand_groups(model: keras.Model) -> list[list[Any]]:
        base = model.get_layer("resnet50")
        low: list[Any] = []
        top: list[Any] = []
        for layer in base.layers:
            if not _weighted(layer) or _bn(layer):
                continue
            (top if layer.name.startswith("conv5_") else low).append(layer)
        return [low, top, [model.get_layer("head")]]

    def batchnorm(model: keras.Model) -> list[Any]:
        return [la for la in model.get_layer("resnet50").layers if _bn(la)]

    return SpeedCase(
        name="resnet50",
        description=(
            f"keras.applications.ResNet50(weights=None), {size}x{size}x3, 23.6M params; "
            "3 groups (conv1-conv4 blocks, conv5 blocks, head)"
        ),
        build=build,
        grouping=ByPatterns([r"conv[1-4]_", r"conv5_"]),
        hand_groups=hand_groups,
        batchnorm=batchnorm,
        input_shape=(size, size, 3),
        classes=10,
        samples=samples,
        batch_size=batch_size,
    )
