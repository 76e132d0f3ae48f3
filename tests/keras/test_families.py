"""The default grouping on real architectures (weights=None: plans only, one training run).

Each model is built once per module, at the smallest input it accepts, with a small
head, and planned with the default ``Auto`` grouping: the groups must be the family's
blocks in forward order, no block split across groups, the head last.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

from unfreeze_core import FixedEpoch, Schedule
from unfreeze_core.keras import ProgressiveUnfreezing
from unfreeze_core.keras.plan import plan

pytestmark = pytest.mark.keras
A = keras.applications


def with_head(backbone: Any, n_classes: int = 3) -> Any:
    """The backbone nested in a user's model, as in the transfer-learning guide."""
    x = keras.Input(backbone.input_shape[1:])
    y = keras.layers.GlobalAveragePooling2D()(backbone(x))
    return keras.Model(x, keras.layers.Dense(n_classes, name="classifier")(y))


def app(fn: Callable[..., Any], size: int = 32) -> Any:
    return with_head(fn(weights=None, include_top=False, input_shape=(size, size, 3)))


#: name -> (builder, expected group names, block of a layer name (None: any group))
APPLICATIONS: dict[str, tuple[Callable[[], Any], list[str], str]] = {
    "ResNet50": (lambda: app(A.ResNet50),
                 ["conv1", "conv2", "conv3", "conv4", "conv5", "head"], r"^(conv\d)_"),
    "ResNet50V2": (lambda: app(A.ResNet50V2),
                   ["conv1", "conv2", "conv3", "conv4", "conv5", "head"], r"^(conv\d)_"),
    "VGG16": (lambda: app(A.VGG16),
              ["block1", "block2", "block3", "block4", "block5", "head"], r"^(block\d)_"),
    "EfficientNetB0": (
        lambda: app(A.EfficientNetB0),
        ["stem", *(f"block{i}" for i in range(1, 8)), "top", "head"], r"^(block\d)[a-z]_"),
    "EfficientNetV2B0": (
        lambda: app(A.EfficientNetV2B0),
        ["stem", *(f"block{i}" for i in range(1, 7)), "top", "head"], r"^(block\d)[a-z]_"),
    "MobileNet": (
        lambda: app(A.MobileNet),
        ["stem", "blocks_2-3", "blocks_4-5", "blocks_6-11", "blocks_12-13", "head"],
        r"^conv_[dp]w_(\d+)"),
    "MobileNetV2": (
        lambda: app(A.MobileNetV2),
        ["stem", "blocks_1-2", "blocks_3-5", "blocks_6-12", "blocks_13-16", "top", "head"],
        r"^block_(\d+)_"),
    "MobileNetV3Small": (
        lambda: app(A.MobileNetV3Small),
        ["stem", "blocks_1-2", "blocks_3-7", "blocks_8-10", "top", "head"],
        r"^expanded_conv_(\d+)_"),
    "MobileNetV3Large": (
        lambda: app(A.MobileNetV3Large),
        ["stem", "blocks_1-2", "blocks_3-5", "blocks_6-11", "blocks_12-14", "top", "head"],
        r"^expanded_conv_(\d+)_"),
    "ConvNeXtTiny": (
        lambda: app(A.ConvNeXtTiny),
        ["stem", "stage_0", "stage_1", "stage_2", "stage_3", "head"], r"_(stage_\d)_"),
    "DenseNet121": (
        lambda: app(A.DenseNet121),
        ["conv1", "conv2", "pool2", "conv3", "pool3", "conv4", "pool4", "conv5", "head"],
        r"^((?:conv|pool)\d)_"),
    "Xception": (lambda: app(A.Xception, 71),
                 [*(f"block{i}" for i in range(1, 15)), "head"], r"^(block\d+)_"),
}
FAST = ("ResNet50", "VGG16", "MobileNetV2")


def check_blocks(p: Any, expected: list[str], block: str) -> None:
    """Groups are ``expected`` in order, and every natural block lies in one group."""
    assert [g.name for g in p.groups] == expected
    assert p.groups[-1].layers[-1].endswith("classifier")
    owner: dict[str, str] = {}
    for g in p.groups:
        for path in g.layers:
            m = re.search(block, path.rsplit("/", 1)[-1])
            if m:
                assert owner.setdefault(m.group(1), g.name) == g.name, (
                    f"block {m.group(1)} split between {owner[m.group(1)]} and {g.name}"
                )
    assert "recognised as" in p.rule


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in APPLICATIONS],
)
def test_keras_applications_are_grouped_by_blocks(name: str) -> None:
    build, expected, block = APPLICATIONS[name]
    model = build()
    p = plan(model, Schedule(FixedEpoch(every=1)), epochs=len(expected))
    check_blocks(p, expected, block)
    assert p.n_stages == len(expected)
    assert [g.stage_index for g in p.groups] == list(range(len(expected) - 1, -1, -1))
    text = p.format()
    assert f"grouping: {p.rule}" in text and "note:" not in text


# --- keras_hub backbones (tiny configs) ------------------------------------------------


def hub_model(backbone: Any, key: str = "sequence_output") -> Any:
    """A sentence/sequence classifier that mean-pools the backbone's sequence output."""
    inputs = {k: keras.Input(v.shape[1:], dtype=v.dtype, name=k)
              for k, v in backbone.input.items()} if isinstance(backbone.input, dict) else \
        keras.Input(backbone.input.shape[1:], name="images")
    out = backbone(inputs)
    seq = out[key] if isinstance(out, dict) else out
    pooled = keras.layers.GlobalAveragePooling1D()(seq)
    return keras.Model(inputs, keras.layers.Dense(2, name="classifier")(pooled))


def _hub() -> Any:
    return pytest.importorskip("keras_hub")


def test_bert_encoder_one_group_per_layer_and_the_unused_pooler_is_named() -> None:
    kh = _hub()
    backbone = kh.models.BertBackbone(
        vocabulary_size=100, num_layers=3, num_heads=2, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=16,
    )
    p = plan(hub_model(backbone), Schedule(FixedEpoch(every=1)))
    names = [g.name for g in p.groups]
    assert names == ["embeddings", "transformer_layer_0", "transformer_layer_1",
                     "transformer_layer_2", "head"]
    assert p.groups[-1].layers == ("bert_backbone/pooled_dense", "classifier")
    assert p.unreached == {4: ("bert_backbone/pooled_dense",)}
    text = p.format()
    assert "no output depends on bert_backbone/pooled_dense (group 'head')" in text


@pytest.mark.parametrize("which", ["gemma", "llama"])
def test_decoder_language_models(which: str) -> None:
    kh = _hub()
    common = dict(vocabulary_size=100, num_layers=2, num_query_heads=2,
                  num_key_value_heads=1, hidden_dim=8, intermediate_dim=16)
    if which == "gemma":
        backbone = kh.models.GemmaBackbone(head_dim=4, **common)
        blocks = ["decoder_block_0", "decoder_block_1"]
    else:
        backbone = kh.models.LlamaBackbone(**common)
        blocks = ["transformer_layer_0", "transformer_layer_1"]
    p = plan(backbone, Schedule(FixedEpoch(every=1)))
    assert [g.name for g in p.groups] == ["token_embedding", *blocks, "final_norm"]
    assert "decoder language model" in p.rule


def test_vit_and_clip_image_encoders() -> None:
    kh = _hub()
    vit = kh.models.ViTBackbone(image_shape=(16, 16, 3), patch_size=4, num_layers=2,
                                num_heads=2, hidden_dim=8, mlp_dim=16)
    p = plan(hub_model(vit), Schedule(FixedEpoch(every=1)))
    assert [g.name for g in p.groups] == [
        "embeddings", "transformer_block_1", "transformer_block_2", "final_norm", "head"
    ]
    clip = kh.models.CLIPVisionEncoder(patch_size=4, hidden_dim=8, num_layers=2, num_heads=2,
                                       intermediate_dim=16, image_shape=(16, 16, 3))
    p = plan(clip, Schedule(FixedEpoch(every=1)))
    assert [g.name for g in p.groups] == [
        "embeddings", "encoder_block_0", "encoder_block_1", "final_norm"
    ]


# --- forward order, the fallback, and one training run ----------------------------------


def residual_net(n_blocks: int = 12) -> Any:
    """An unknown model of residual blocks whose shortcut conv is created (and listed
    in ``model.layers`` order) before the block's main branch."""
    x = inputs = keras.Input((8, 8, 4))
    for b in range(n_blocks):
        shortcut = keras.layers.Conv2D(4, 1, name=f"b{b}_short")(x)
        y = keras.layers.Conv2D(4, 3, padding="same", name=f"b{b}_main1")(x)
        y = keras.layers.Conv2D(4, 3, padding="same", name=f"b{b}_main2")(y)
        x = keras.layers.Add(name=f"b{b}_add")([y, shortcut])
    y = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="classifier")(y))


def test_unknown_residual_model_is_balanced_without_splitting_blocks() -> None:
    model = residual_net()
    p = plan(model, Schedule(FixedEpoch(every=1)))
    assert "no known family: 37 weighted layers in" in p.rule
    assert 2 <= len(p.groups) <= 16
    for g in p.groups:
        blocks = {path.split("_")[0] for path in g.layers if path != "classifier"}
        for other in p.groups:
            if other is not g:
                assert not blocks & {q.split("_")[0] for q in other.layers}
    order = [path for g in p.groups for path in g.layers]
    assert order.index("b0_main1") < order.index("b0_main2") < order.index("b0_short")


def test_many_groups_get_a_note() -> None:
    model = residual_net(6)
    p = plan(model, Schedule(FixedEpoch(every=1), groups="per_layer"))
    assert len(p.groups) == 19
    assert "note: 19 groups: the schedule has up to 19 stages" in p.format()
    assert "groups=8" in p.format()


def test_a_family_model_trains_progressively() -> None:
    backbone = A.MobileNet(weights=None, include_top=False, input_shape=(32, 32, 3), alpha=0.25)
    model = with_head(backbone)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype("float32")
    y = np.arange(8) % 3
    cb = ProgressiveUnfreezing(Schedule(FixedEpoch(every=1)))
    model.fit(x, y, batch_size=8, epochs=2, callbacks=[cb], verbose=0)
    trainable = {la.name for la in backbone.layers if la.trainable and la.weights}
    # after each epoch one more block: blocks_12-13, then blocks_6-11
    assert {"conv_pw_13", "conv_dw_12", "conv_pw_6", "conv_dw_6"} <= trainable
    assert "conv_pw_5" not in trainable and "conv1" not in trainable


def test_the_drivers_advice_warns_once_per_group_and_for_many_groups() -> None:
    from unfreeze_core.errors import UnfreezeWarning
    from unfreeze_core.keras.advice import GroupAdvice
    from unfreeze_core.keras.plan import resolve

    kh = _hub()
    backbone = kh.models.BertBackbone(
        vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=16,
    )
    model = hub_model(backbone)
    advice = GroupAdvice.of(model, resolve(model, Schedule(FixedEpoch(every=1))))
    advice.at_train_begin()  # 4 groups: nothing to say
    with pytest.warns(UnfreezeWarning, match=r"group 'head' trains from now on, but no output "
                      r"of the model depends on 1 of its layers \(bert_backbone/pooled_dense\)"):
        advice.at_stage((3,))
    advice.at_stage((2, 3))  # said once

    many = residual_net(6)
    advice = GroupAdvice.of(many, resolve(many, Schedule(FixedEpoch(every=1), groups="per_layer")))
    with pytest.warns(UnfreezeWarning, match="19 groups: the schedule has up to 19 stages"):
        advice.at_train_begin()
    advice.at_train_begin()
