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


# --- named explicit groups ---------------------------------------------------------


def test_by_layers_groups_named_by_a_dict_or_names() -> None:
    by_dict = ByLayers({"low": ["conv4_block1_conv"], "top": ["conv5_block1_conv", "dense"]})
    by_names = ByLayers(
        groups=(("conv4_block1_conv",), ("conv5_block1_conv", "dense")), names=("low", "top")
    )
    assert by_dict == by_names
    assert [g.name for g in by_dict.resolve(RESNET_LIKE)] == ["low", "top"]
    with pytest.raises(ConfigError, match="'dense' is already in group 'low'"):
        ByLayers({"low": ["dense"], "top": ["dense"]}).resolve(RESNET_LIKE)


def test_by_layers_names_are_checked() -> None:
    with pytest.raises(ConfigError, match="names: gives 1 names for 2 groups"):
        ByLayers(groups=(("a",), ("b",)), names=("x",))
    with pytest.raises(ConfigError, match="names: names a group twice: 'x'"):
        ByLayers(groups=(("a",), ("b",)), names=("x", "x"))
    with pytest.raises(ConfigError, match=r"groups: \['b'\] must not be empty"):
        ByLayers({"a": ["a"], "b": []})


def test_named_layer_groups_round_trip_through_config() -> None:
    from unfreeze_core import FixedEpoch, Schedule, load_schedule

    schedule = Schedule(FixedEpoch(every=2), groups={"low": ["a"], "top": ["b", "c"]})
    config = schedule.to_config()
    assert config["groups"] == {
        "type": "layers", "groups": [["a"], ["b", "c"]], "names": ["low", "top"]
    }
    assert load_schedule(config) == schedule
    table = {"version": 1, "policy": {"type": "fixed_epoch", "every": 2},
             "groups": {"type": "layers", "groups": {"low": ["a"], "top": ["b"]}}}
    assert load_schedule(table).groups.names == ("low", "top")


# --- Auto: families, then per layer or balanced ---------------------------------------


def chain(*names: str, n: int = 10) -> list[LayerInfo]:
    return [LayerInfo(path=p, name=p.rsplit("/", 1)[-1], n_params=n) for p in names]


def test_auto_recognises_a_resnet_nested_in_a_users_model() -> None:
    names = ["resnet50/conv1_conv"]
    for stage, blocks in ((2, 3), (3, 4), (4, 6), (5, 3)):
        for b in range(1, blocks + 1):
            names += [f"resnet50/conv{stage}_block{b}_{k}_conv" for k in (1, 2, 3)]
            if b == 1:
                names.append(f"resnet50/conv{stage}_block1_0_conv")
    choice = Auto().choose(chain(*names, "dense"))
    assert choice.rule == "family" and choice.family is not None
    assert choice.family.name == "resnet"
    assert [g.name for g in choice.groups] == ["conv1", "conv2", "conv3", "conv4", "conv5", "head"]
    assert choice.reason == (
        "recognised as ResNet (keras.applications): 6 groups: conv1..conv5, head"
    )
    assert "resnet50/conv2_block1_0_conv" in choice.groups[1].layers  # the shortcut


def test_auto_bert_one_group_per_transformer_layer_pooler_with_the_head() -> None:
    layers = chain(
        "bert/token_embedding", "bert/position_embedding", "bert/embeddings_layer_norm",
        *(f"bert/transformer_layer_{i}/self_attention_layer/{p}"
          for i in range(12) for p in ("query", "key", "value")),
        "bert/pooled_dense", "classifier",
    )
    groups = Auto().resolve(layers)
    assert [g.name for g in groups] == [
        "embeddings", *(f"transformer_layer_{i}" for i in range(12)), "head"
    ]
    assert groups[-1].layers == ("bert/pooled_dense", "classifier")


def test_auto_keeps_one_group_per_layer_for_small_unknown_models() -> None:
    layers = chain(*(f"dense_{i}" for i in range(16)))
    choice = Auto().choose(layers)
    assert choice.rule == "per_layer" and len(choice.groups) == 16
    assert [g.layers for g in choice.groups] == [(la.path,) for la in layers]


def test_auto_balances_big_unknown_models_without_splitting_blocks() -> None:
    layers = [
        LayerInfo(f"l{i}", f"l{i}", 10 * (i + 1), cut_before=(i % 3 == 0)) for i in range(60)
    ]
    choice = Auto().choose(layers)
    assert choice.rule == "balanced"
    assert 8 <= len(choice.groups) <= 16
    starts = [layers.index(next(la for la in layers if la.path == g.layers[0]))
              for g in choice.groups]
    assert all(layers[s].cut_before for s in starts)
    assert [p for g in choice.groups for p in g.layers] == [la.path for la in layers]
    assert choice.groups[0].name == "l0..l" + choice.groups[0].layers[-1][1:]
    assert len(Auto(max_groups=4).resolve(layers)) == 4
    assert "no known family: 60 weighted layers in" in choice.reason


def test_auto_ignores_a_family_that_explains_few_layers() -> None:
    layers = chain("block1_conv1", "block5_conv1", *(f"x_{i}" for i in range(30)))
    assert Auto().choose(layers).rule == "balanced"


def test_a_family_by_name_and_its_registration() -> None:
    from unfreeze_core import load_schedule
    from unfreeze_core.groupings import FAMILIES, Family

    vgg = next(f for f in FAMILIES if f.name == "vgg")
    layers = chain(*(f"block{b}_conv{c}" for b in range(1, 6) for c in (1, 2)), "fc")
    assert [g.name for g in vgg.resolve(layers)] == [f"block{b}" for b in range(1, 6)] + ["head"]
    schedule = load_schedule({"policy": {"type": "fixed_epoch", "every": 1}, "groups": "vgg"})
    assert schedule.groups is vgg
    assert schedule.to_config()["groups"] == {"type": "vgg"}
    with pytest.raises(ConfigError, match="takes no arguments"):
        load_schedule({"policy": {"type": "fixed_epoch", "every": 1},
                       "groups": {"type": "vgg", "n": 3}})
    mine = Family(name="mynet", title="MyNet", source="tests",
                  detect=(r"mynet_s1_",), blocks=(("s{0}", r"mynet_s(\d)_"),))
    got = Auto().choose(chain("mynet_s1_a", "mynet_s2_a", "mynet_s2_b", "top"), [mine])
    assert [g.name for g in got.groups] == ["s1", "s2", "head"]


def test_every_built_in_family_is_registered_and_documented() -> None:
    from unfreeze_core.groupings import FAMILIES
    from unfreeze_core.plugins import get_registry

    names = get_registry().names("grouping")
    for family in FAMILIES:
        assert family.name in names
        assert family.notes and family.__doc__.startswith(family.title)
    assert "per_layer" in names


def test_the_groupings_guide_runs_and_prints_what_it_says() -> None:
    from .docs.snippets import run_page

    ran, checked = run_page("docs/groupings.md")
    assert ran == 2 and checked == 1
