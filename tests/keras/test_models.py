"""Every kind of model: Sequential, functional, subclassed, nested backbones,
``keras.applications`` (``weights=None``) and a BERT under a classification head."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from unfreeze_core import ByCount, ByLayers, ByPatterns, Discriminative, FixedEpoch, Schedule
from unfreeze_core.keras import DriverError, ProgressiveUnfreezing, flatten_layers, plan

from .helpers import Recorder, data, same

pytestmark = pytest.mark.keras


def _check_progressive(model: Any, x: Any, y: Any, schedule: Schedule, epochs: int,
                       batch_size: int = 8) -> tuple[ProgressiveUnfreezing, Recorder]:
    """Fit, then check each group is frozen exactly until the stage that includes it."""
    rec = Recorder()
    cb = ProgressiveUnfreezing(schedule)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[cb, rec])
    n = len(cb.groups)
    for epoch, stage in cb.timeline:
        for g, group in enumerate(cb.groups):
            trains = g >= n - stage
            for path in group.layers:
                moved = not same(rec.begin[epoch][path], rec.end[epoch][path])
                assert moved == trains or (trains and not moved and "bias" in path), (
                    epoch, path, trains
                )
    return cb, rec


def _backbone_model() -> keras.Model:
    base = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, name="d1"),
         keras.layers.BatchNormalization(name="bn"), keras.layers.Dense(8, name="d2")],
        name="base",
    )
    inputs = keras.Input((6,))
    x = base(inputs, training=False)  # the Keras transfer-learning guide's pattern
    outputs = keras.layers.Dense(1, name="head")(x)
    return keras.Model(inputs, outputs, name="wrapped")


def test_nested_backbone_is_opened_and_its_batchnorm_stays_frozen() -> None:
    model = _backbone_model()
    assert [r.path for r in flatten_layers(model)] == ["base/d1", "base/bn", "base/d2", "head"]
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    x, y = data(32)
    cb, rec = _check_progressive(model, x, y, Schedule(FixedEpoch(every=1)), 3)
    assert [g.name for g in cb.groups] == ["base/d1", "base/d2", "head"]
    assert same(rec.begin[0]["base/bn"], rec.end[-1]["base/bn"])


class Subclassed(keras.Model):
    def __init__(self) -> None:
        super().__init__(name="sub")
        self.enc1 = keras.layers.Dense(8, activation="relu", name="enc1")
        self.enc2 = keras.layers.Dense(8, activation="relu", name="enc2")
        self.out = keras.layers.Dense(1, name="out")

    def call(self, x: Any) -> Any:
        return self.out(self.enc2(self.enc1(x)))


def test_subclassed_model() -> None:
    model = Subclassed()
    x, y = data(32)
    model(x[:1])  # built
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    cb, _ = _check_progressive(model, x, y, Schedule(FixedEpoch(every=1)), 3)
    assert [g.name for g in cb.groups] == ["enc1", "enc2", "out"]


class _OwnsAWeight(keras.Model):
    """A subclassed model that creates a weight itself, not through a sublayer."""

    def __init__(self) -> None:
        super().__init__(name="owner")
        self.body = keras.layers.Dense(4, name="body")
        self.head = keras.layers.Dense(1, name="head")

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(shape=(1,), initializer="ones", name="scale")
        self.body.build(input_shape)
        self.head.build((None, 4))

    def call(self, x: Any) -> Any:
        return self.head(self.body(x)) * self.scale


def test_weights_the_model_owns_directly_form_a_group_with_the_head() -> None:
    x, y = data(16, d=3)
    model = _OwnsAWeight()
    model(x[:2])
    assert [r.path for r in flatten_layers(model)] == ["body", "head", "owner"]
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    cb, rec = _check_progressive(model, x, y, Schedule(FixedEpoch(every=1)), epochs=3)
    assert [g.name for g in cb.groups] == ["body", "head", "owner"]
    assert [s for _, s in cb.timeline] == [1, 2, 3]
    assert not same(rec.begin[0]["owner"], rec.end[0]["owner"])  # trains from the start
    assert all(v.trainable for v in model.variables)  # flags restored after fit

    # a grouping that leaves it out keeps it frozen, and plan says so
    model = _OwnsAWeight()
    model(x[:2])
    schedule = Schedule(FixedEpoch(every=1), groups=ByLayers([["body"], ["head"]]))
    assert plan(model, schedule).ungrouped == ("owner",)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    rec = Recorder()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[ProgressiveUnfreezing(schedule), rec])
    assert same(rec.begin[0]["owner"], rec.end[1]["owner"])


def test_unbuilt_subclassed_model_fails_with_instructions() -> None:
    model = Subclassed()
    model.compile(optimizer="adam", loss="mse")
    x, y = data(8)
    with pytest.raises(DriverError, match=r"not built.*model.build\(input_shape\)"):
        model.fit(x, y, verbose=0, callbacks=[ProgressiveUnfreezing(Schedule(FixedEpoch(every=1)))])


def _wrap(base: Any, shape: tuple[int, ...], classes: int = 3) -> keras.Model:
    inputs = keras.Input(shape)
    x = base(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, name="head")(x))


APPLICATIONS = {
    "ResNet50": (keras.applications.ResNet50, ["conv1_", "conv2_", "conv3_", "conv4_", "conv5_"]),
    "EfficientNetB0": (keras.applications.EfficientNetB0, [r"block(\d)"]),
    "MobileNetV3Small": (keras.applications.MobileNetV3Small, [r"expanded_conv_(\d+)?"]),
    "ConvNeXtTiny": (keras.applications.ConvNeXtTiny, [r"stage_(\d)"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_applications_plan_opens_the_backbone(name: str) -> None:
    make, patterns = APPLICATIONS[name]
    base = make(weights=None, include_top=False, input_shape=(32, 32, 3))
    model = _wrap(base, (32, 32, 3))
    p = plan(model, Schedule(FixedEpoch(every=2), groups=ByPatterns(patterns)), epochs=40)
    assert len(p.groups) >= 4
    assert p.groups[-1].name == "head" and p.groups[-1].stage_index == 0
    assert all(layer.startswith(base.name + "/") for g in p.groups[:-1] for layer in g.layers)
    assert [g.stage_index for g in p.groups] == list(range(len(p.groups) - 1, -1, -1))
    assert [g.epoch for g in p.groups] == [2 * s for s in range(len(p.groups) - 1, -1, -1)]
    bn = sum(
        int(np.prod(v.shape)) for la in base.layers
        if isinstance(la, keras.layers.BatchNormalization) for v in la.trainable_weights
    )
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert p.total_params == trainable - bn  # BatchNorm is frozen by default
    assert f"{len(p.groups)} groups" in p.format()


@pytest.mark.slow
def test_mobilenet_trains_progressively() -> None:
    base = keras.applications.MobileNetV3Small(
        weights=None, include_top=False, input_shape=(32, 32, 3), include_preprocessing=False
    )
    model = _wrap(base, (32, 32, 3))
    model.compile(optimizer=keras.optimizers.AdamW(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 3, size=16)
    schedule = Schedule(FixedEpoch(every=1), groups=ByCount(3), rules=[Discriminative(factor=2.0)])
    cb, rec = _check_progressive(model, x, y, schedule, 2, batch_size=8)
    assert [s for _, s in cb.timeline] == [1, 2]
    bn = [r.path for r in flatten_layers(model) if r.info.is_batchnorm]
    assert bn and all(same(rec.begin[0][p], rec.end[-1][p]) for p in bn)


def bert_shaped(vocab: int = 50, seq: int = 8, hidden: int = 16, layers: int = 2) -> keras.Model:
    """A BERT-shaped functional model: embeddings, transformer_layer_i blocks, pooler, head."""
    tokens = keras.Input((seq,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocab, hidden, name="token_embedding")(tokens)
    x = keras.layers.LayerNormalization(name="embeddings_layer_norm")(x)
    for i in range(layers):
        name = f"transformer_layer_{i}"
        mha = keras.layers.MultiHeadAttention(2, hidden // 2, name=f"{name}_attention")
        attn = mha(x, x)
        x = keras.layers.LayerNormalization(name=f"transformer_layer_{i}_norm")(x + attn)
        ff = keras.layers.Dense(hidden, activation="gelu", name=f"transformer_layer_{i}_ff")(x)
        x = keras.layers.LayerNormalization(name=f"transformer_layer_{i}_ff_norm")(x + ff)
    pooled = keras.layers.Dense(hidden, activation="tanh", name="pooled_dense")(x[:, 0])
    backbone = keras.Model(tokens, pooled, name="bert")
    inputs = keras.Input((seq,), dtype="int32")
    out = keras.layers.Dense(2, name="classifier")(backbone(inputs))
    return keras.Model(inputs, out)


def _text_data(n: int = 16, seq: int = 8, vocab: int = 50) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, vocab, size=(n, seq)).astype("int32"), rng.integers(0, 2, size=n)


BERT_GROUPS = ByPatterns([r"embedding", r"transformer_layer_(\d+)", r"pooled_dense"])


def _check_bert(model: keras.Model, inputs: Any = lambda tokens: tokens) -> None:
    """Two epochs of a BERT-shaped model; ``inputs`` makes its input from token ids."""
    model.compile(optimizer=keras.optimizers.AdamW(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    tokens, y = _text_data()
    schedule = Schedule(FixedEpoch(every=1), groups=BERT_GROUPS, advance_by=2,
                        rules=[Discriminative(decay=0.75)])
    cb, _ = _check_progressive(model, inputs(tokens), y, schedule, 2)
    names = [g.name for g in cb.groups]
    assert names == ["embedding", "transformer_layer_0", "transformer_layer_1", "pooled_dense",
                     "head"]
    assert [s for _, s in cb.timeline] == [1, 3]


def test_bert_shaped_functional_model() -> None:
    _check_bert(bert_shaped())


@pytest.mark.slow
def test_keras_hub_bert_backbone_under_a_classification_head() -> None:
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=8,
    )
    inputs = {
        "token_ids": keras.Input((8,), dtype="int32", name="token_ids"),
        "segment_ids": keras.Input((8,), dtype="int32", name="segment_ids"),
        "padding_mask": keras.Input((8,), dtype="int32", name="padding_mask"),
    }
    pooled = backbone(inputs)["pooled_output"]
    model = keras.Model(inputs, keras.layers.Dense(2, name="classifier")(pooled))
    _check_bert(model, lambda tokens: {
        "token_ids": tokens, "segment_ids": np.zeros_like(tokens),
        "padding_mask": np.ones_like(tokens),
    })
