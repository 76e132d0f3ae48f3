"""Groupings over plain layer records (no TensorFlow)."""

from __future__ import annotations

import pytest

from unfreeze_core import Auto, ByCount, ByLayers, ByPatterns, ConfigError, LayerInfo


def layers(*spec: tuple[str, int]) -> list[LayerInfo]:
    return [LayerInfo(path=name, name=name.rsplit("/", 1)[-1], n_params=n) for name, n in spec]


RESNET_LIKE = layers(
    ("resnet/conv1_conv", 10),
    ("resnet/conv1_bn", 2),
    ("resnet/conv2_block1_conv", 20),
    ("resnet/conv2_block2_conv", 20),
    ("resnet/conv3_block1_conv", 40),
    ("resnet/conv4_block1_conv", 80),
    ("resnet/conv5_block1_conv", 160),
    ("dense", 50),
)


def test_auto_makes_one_group_per_layer() -> None:
    groups = Auto().resolve(RESNET_LIKE)
    assert [g.layers for g in groups] == [(la.path,) for la in RESNET_LIKE]


def test_by_count_is_contiguous_balanced_and_non_empty() -> None:
    groups = ByCount(3).resolve(RESNET_LIKE)
    flat = [p for g in groups for p in g.layers]
    assert flat == [la.path for la in RESNET_LIKE]
    assert all(g.layers for g in groups)
    assert sum(g.n_params for g in groups) == sum(la.n_params for la in RESNET_LIKE)
    assert max(g.n_params for g in groups) <= 210


def test_by_count_with_as_many_groups_as_layers() -> None:
    assert len(ByCount(len(RESNET_LIKE)).resolve(RESNET_LIKE)) == len(RESNET_LIKE)
    with pytest.raises(ConfigError, match=r"groups.n: must be <= 8 \(layers with weights\), got 9"):
        ByCount(9).resolve(RESNET_LIKE)


def test_by_patterns_resnet_stages() -> None:
    groups = ByPatterns(patterns=("conv2_", "conv3_", "conv4_", "conv5_")).resolve(RESNET_LIKE)
    assert [g.name for g in groups] == ["stem", "conv2_", "conv3_", "conv4_", "conv5_", "head"]
    assert groups[0].layers == ("resnet/conv1_conv", "resnet/conv1_bn")
    assert groups[-1].layers == ("dense",)


def test_by_patterns_capture_group_makes_one_group_per_value() -> None:
    bert = layers(
        ("embeddings", 100),
        ("transformer_layer_0/attn", 10),
        ("transformer_layer_0/ffn", 10),
        ("transformer_layer_1/attn", 10),
        ("transformer_layer_1/ffn", 10),
        ("pooled_dense", 5),
        ("classifier", 2),
    )
    groups = ByPatterns(patterns=("embeddings", r"transformer_layer_(\d+)")).resolve(bert)
    assert [g.name for g in groups] == [
        "embeddings",
        "transformer_layer_0",
        "transformer_layer_1",
        "head",
    ]
    assert groups[-1].layers == ("pooled_dense", "classifier")


def test_a_pattern_matching_nothing_lists_the_layers() -> None:
    with pytest.raises(
        ConfigError,
        match=r"groups.patterns\[1\]: 'conv9_' matches no layer; layers are: resnet/conv1_conv",
    ):
        ByPatterns(patterns=("conv2_", "conv9_")).resolve(RESNET_LIKE)


def test_invalid_regex_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"patterns\[0\]: not a valid regular expression"):
        ByPatterns(patterns=("conv(",))


def test_by_layers_names_and_paths() -> None:
    groups = ByLayers(
        groups=(("conv4_block1_conv",), ("resnet/conv5_block1_conv", "dense"))
    ).resolve(RESNET_LIKE)
    assert groups[1].layers == ("resnet/conv5_block1_conv", "dense")
    assert groups[1].n_params == 210


def test_by_layers_missing_or_repeated_names() -> None:
    with pytest.raises(ConfigError) as info:
        ByLayers(groups=(("dense",), ("dens", "dense"))).resolve(RESNET_LIKE)
    messages = [str(p) for p in info.value.problems]
    assert messages[0].startswith(
        "groups.groups[1][0]: no layer named 'dens'; did you mean 'dense'?"
    )
    assert messages[1] == "groups.groups[1][1]: layer 'dense' is already in group 0"


def test_no_layers() -> None:
    with pytest.raises(ConfigError, match="no layer with weights"):
        Auto().resolve([])
