"""Declarative schedules: TOML/JSON/dicts, round trips and located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unfreeze_core import (
    ByPatterns,
    ConfigError,
    Discriminative,
    FixedEpoch,
    GradNorm,
    MinEpochs,
    Plateau,
    Schedule,
    StageScaled,
    UnknownTypeError,
    Warmup,
    load_schedule,
)
from unfreeze_core.errors import Problem

FULL_TOML = """
version = 1
initial = 2
advance_by = 1
final = "stop"
batchnorm = "follow"
groups = ["conv2_", "conv3_", "conv4_", "conv5_"]

[[policy.any_of]]
type = "plateau"
monitor = "val_accuracy"
patience = 2

[[policy.any_of]]
type = "fixed_epoch"
at = [5, 10]

[[rules]]
type = "discriminative"
factor = 2.6

[[rules]]
type = "warmup"
steps = 100
shape = "cosine"
"""


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(FULL_TOML)
    schedule = load_schedule(path)
    assert schedule == Schedule(
        Plateau(monitor="val_accuracy", patience=2) | FixedEpoch(at=[5, 10]),
        rules=[Discriminative(factor=2.6), Warmup(steps=100, shape="cosine")],
        initial=2,
        final="stop",
        batchnorm="follow",
        groups=ByPatterns(patterns=("conv2_", "conv3_", "conv4_", "conv5_")),
    )


def test_json_file_round_trip(tmp_path: Path) -> None:
    schedule = Schedule(
        (GradNorm(fraction=0.2, window=5) & MinEpochs(2)) | Plateau(patience=3),
        rules=[StageScaled(scales=[0.1, 0.5, 1.0]) * Discriminative(decay=0.75)],
        advance_by=2,
    )
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(schedule.to_config()))
    assert load_schedule(path) == schedule


def test_to_config_is_plain_and_leaves_defaults_out() -> None:
    config = Schedule(
        Plateau(patience=3) | FixedEpoch(every=4), rules=[Warmup(steps=10)]
    ).to_config()
    assert config == {
        "version": 1,
        "policy": {
            "any_of": [{"type": "plateau", "patience": 3}, {"type": "fixed_epoch", "every": 4}]
        },
        "rules": [{"type": "warmup", "steps": 10}],
    }


def test_long_form_of_combinators_is_accepted() -> None:
    s = load_schedule(
        {"policy": {"type": "all_of", "policies": [{"type": "min_epochs", "epochs": 2}]}}
    )
    assert s.policy == MinEpochs(2) & MinEpochs(2) or s.policy.policies == (MinEpochs(2),)


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ("auto", {"type": "auto"}),
        (4, {"type": "count", "n": 4}),
        (["a", "b"], {"type": "patterns", "patterns": ["a", "b"]}),
        ([["a"], ["b", "c"]], {"type": "layers", "groups": [["a"], ["b", "c"]]}),
    ],
)
def test_group_shorthands(groups: object, expected: dict[str, object]) -> None:
    schedule = load_schedule({"policy": {"type": "fixed_epoch", "every": 1}, "groups": groups})
    again = load_schedule(schedule.to_config())
    assert again == schedule
    if expected != {"type": "auto"}:
        assert schedule.to_config()["groups"] == expected


def test_every_problem_is_reported_at_once_with_its_location() -> None:
    with pytest.raises(ConfigError) as info:
        load_schedule(
            {
                "version": 1,
                "policy": {"any_of": [{"type": "plateau"}, {"type": "plateau", "patience": -1}]},
                "rules": [{"type": "warmup", "steps": 0}, {"type": "discriminative"}],
                "initial": 0,
                "batchnorm": "freeze",
            }
        )
    assert [str(p) for p in info.value.problems] == [
        "policy.any_of[1].patience: must be >= 0, got -1",
        "rules[0].steps: must be >= 1, got 0",
        "rules[1].factor: give exactly one of 'factor', 'decay' or 'multipliers'",
        "initial: must be >= 1, got 0",
        "batchnorm: must be one of 'frozen', 'follow', 'train', got 'freeze'",
    ]
    assert str(info.value).startswith("5 problems:\n  policy.any_of[1].patience")


def test_unknown_key_is_an_error_with_did_you_mean() -> None:
    with pytest.raises(ConfigError) as info:
        load_schedule({"policy": {"type": "plateau", "patiance": 3}, "intial": 2})
    messages = sorted(str(p) for p in info.value.problems)
    assert messages[1].startswith(
        "policy.patiance: unknown key 'patiance'; did you mean 'patience'?"
    )
    assert "valid keys: monitor, mode, min_delta, patience" in messages[1]
    assert messages[0].startswith("intial: unknown key 'intial'; did you mean 'initial'?")


def test_unknown_type_lists_the_known_ones_and_points_to_plugins() -> None:
    with pytest.raises(UnknownTypeError) as info:
        load_schedule({"policy": {"type": "platau"}})
    message = str(info.value)
    assert "policy.type: unknown policy type 'platau'; did you mean 'plateau'?" in message
    assert (
        "known policies: all_of, any_of, autofreeze, fixed_epoch, freezeout, grad_norm, "
        "min_epochs, plateau" in message
    )
    assert "unfreeze plugins" in message
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)


def test_missing_type_and_required_arguments() -> None:
    with pytest.raises(ConfigError) as info:
        load_schedule({"policy": {"patience": 3}, "rules": [{"type": "warmup"}]})
    assert [str(p) for p in info.value.problems] == [
        "policy.type: missing; known: all_of, any_of, autofreeze, fixed_epoch, freezeout, "
        "grad_norm, min_epochs, plateau",
        "rules[0].steps: missing (required)",
    ]
    with pytest.raises(ConfigError, match="^policy: missing \\(required\\)$"):
        load_schedule({})


def test_wrong_types_are_not_coerced() -> None:
    with pytest.raises(ConfigError) as info:
        load_schedule({"policy": {"type": "plateau", "patience": "3", "min_delta": True}})
    assert [str(p) for p in info.value.problems] == [
        "policy.min_delta: must be a number, got True",
        "policy.patience: must be an integer, got '3'",
    ] or [str(p) for p in info.value.problems] == [
        "policy.patience: must be an integer, got '3'",
        "policy.min_delta: must be a number, got True",
    ]


def test_version(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="version: must be the integer 1 .*got 2"):
        load_schedule({"version": 2, "policy": {"type": "fixed_epoch", "every": 1}})


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('version = 1\n[policy]\ntype = "plateau"\npatience = -2\n')
    with pytest.raises(ConfigError, match=r"bad.toml: policy.patience: must be >= 0, got -2"):
        load_schedule(path)
    path.write_text("version = = 1")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_schedule(path)
    with pytest.raises(ConfigError, match="unknown file type '.yaml'; use .toml or .json"):
        load_schedule(tmp_path / "x.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_schedule(tmp_path / "missing.toml")


def test_problem_rendering() -> None:
    assert str(Problem("", "top level")) == "top level"
    error = ConfigError([Problem("a", "x")]).prefixed("policy.any_of[0]")
    assert str(error) == "policy.any_of[0].a: x"


def test_custom_policy_without_registration_cannot_be_written() -> None:
    class Custom:
        def init(self) -> None:
            return None

        def update(self, state: None, event: object) -> tuple[None, bool]:
            return None, False

    with pytest.raises(ConfigError, match="cannot be written as config: Custom declares no"):
        Schedule(Custom()).to_config()
    with pytest.raises(ConfigError, match="Declare type_name = 'custom' on the class.*registry="):
        Schedule(Custom()).to_config()


def test_group_short_forms_work_in_python_too() -> None:
    from unfreeze_core import Auto, ByCount, ByLayers, ByPatterns

    policy = FixedEpoch(every=1)
    assert Schedule(policy, groups="auto").groups == Auto()
    assert Schedule(policy, groups=4).groups == ByCount(4)
    assert Schedule(policy, groups=["a", "b"]).groups == ByPatterns(patterns=("a", "b"))
    assert Schedule(policy, groups=[["a"], ["b"]]).groups == ByLayers(groups=(("a",), ("b",)))
    with pytest.raises(ConfigError, match="groups.n: must be >= 1, got 0"):
        Schedule(policy, groups=0)


# --- hostile input (issue 13): every problem is a located ConfigError ------------------


def _file(tmp_path: Path, text: str, suffix: str = ".toml") -> Path:
    path = tmp_path / f"schedule{suffix}"
    path.write_text(text)
    return path


def test_each_field_is_checked_once_on_the_config_path() -> None:
    import attrs

    from unfreeze_core.config import structure_fields
    from unfreeze_core.fields import arg, described
    from unfreeze_core.registry import Registry

    calls: list[object] = []

    @described("counted")
    def counted(value: object) -> None:
        calls.append(value)

    @attrs.frozen
    class Counted:
        n: int = arg(1, counted)

    structure_fields(Counted, {"n": 3}, "", Registry())
    assert calls == [3]
    Counted(4)  # the Python constructor checks too, once
    assert calls == [3, 4]


def test_a_number_beyond_float_range_is_located(tmp_path: Path) -> None:
    big = "1" + "0" * 400
    path = _file(tmp_path, f'version = 1\n[policy]\ntype = "plateau"\nmin_delta = {big}\n')
    with pytest.raises(ConfigError, match="policy.min_delta: must be a number within float range"):
        load_schedule(path)
    with pytest.raises(ConfigError, match="min_delta: must be a number within float range"):
        Plateau(min_delta=10**400)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_an_integer_of_thousands_of_digits(tmp_path: Path, suffix: str) -> None:
    digits = "9" * 5000
    text = (
        f'version = 1\n[policy]\ntype = "plateau"\npatience = {digits}\n'
        if suffix == ".toml"
        else f'{{"version": 1, "policy": {{"type": "plateau", "patience": {digits}}}}}'
    )
    with pytest.raises(ConfigError, match="a number has more than 4300 digits"):
        load_schedule(_file(tmp_path, text, suffix))
    # given in Python, in a wrongly typed field: the message does not print the number
    with pytest.raises(ConfigError) as info:
        load_schedule({"policy": {"type": "plateau", "monitor": 10**5000}})
    assert str(info.value) == "policy.monitor: must be a string, got an integer of 5001 digits"


def test_messages_show_at_most_about_80_characters_of_a_value() -> None:
    with pytest.raises(ConfigError) as info:
        load_schedule({"policy": {"type": "plateau", "patience": "x" * 100_000}})
    assert len(str(info.value)) < 150


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_deep_nesting_is_refused_naming_the_limit(tmp_path: Path, suffix: str) -> None:
    from unfreeze_core.config import MAX_DEPTH

    for depth in (100, 2000):
        deep = "[" * depth + "]" * depth
        text = (
            f"version = 1\npolicy = {deep}\n"
            if suffix == ".toml"
            else f'{{"version": 1, "policy": {deep}}}'
        )
        with pytest.raises(ConfigError, match=f"{MAX_DEPTH} tables and lists"):
            load_schedule(_file(tmp_path, text, suffix))


def test_deeply_nested_combinators_are_refused() -> None:
    nested: dict[str, object] = {"type": "fixed_epoch", "every": 1}
    for _ in range(330):
        nested = {"any_of": [nested]}
    with pytest.raises(ConfigError, match="nested deeper than 64"):
        load_schedule({"policy": nested})
    shallow: dict[str, object] = {"type": "fixed_epoch", "every": 1}
    for _ in range(20):
        shallow = {"all_of": [shallow]}
    load_schedule({"policy": shallow})


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("a{4294967296}", "not a valid regular expression"),
        ("(" * 5000, "must be at most 1000 characters"),
        ("(" * 900, "not a valid regular expression"),
    ],
)
def test_hostile_group_patterns(pattern: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"groups.patterns\[0\]: {message}"):
        load_schedule({"policy": {"type": "plateau"}, "groups": [pattern]})


@pytest.mark.parametrize("version", ["true", "1.0", '"1"'])
def test_version_must_be_the_integer_1(tmp_path: Path, version: str) -> None:
    path = _file(tmp_path, f'version = {version}\n[policy]\ntype = "plateau"\n')
    with pytest.raises(ConfigError, match="version: must be the integer 1"):
        load_schedule(path)


def test_files_must_say_version_dicts_may_leave_it_out(tmp_path: Path) -> None:
    path = _file(tmp_path, '[policy]\ntype = "plateau"\n')
    with pytest.raises(ConfigError, match="version: missing: a schedule file must start with"):
        load_schedule(path)
    assert load_schedule({"policy": {"type": "plateau"}}) == Schedule(Plateau())


def test_a_version_problem_does_not_hide_the_others(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_schedule({"version": 2, "policy": {"type": "plateau", "patience": -1}})
    assert [p.path for p in info.value.problems] == ["version", "policy.patience"]


def test_json_duplicate_keys_are_refused(tmp_path: Path) -> None:
    text = '{"version": 1, "policy": {"type": "plateau", "patience": 1, "patience": 2}}'
    with pytest.raises(ConfigError, match="policy.patience: given twice"):
        load_schedule(_file(tmp_path, text, ".json"))


def test_a_grouping_name_in_python_points_to_load_schedule() -> None:
    with pytest.raises(ConfigError, match="groups: a grouping given by name .* load_schedule"):
        Schedule(FixedEpoch(every=1), groups="by_block")


def test_schedule_state_from_bad_data_lists_every_problem() -> None:
    from unfreeze_core import ScheduleState

    with pytest.raises(ConfigError) as info:
        ScheduleState.from_dict({"stage": "x", "n_groups": True, "extra": 1})
    paths = [p.path for p in info.value.problems]
    assert {"extra", "n_groups", "stage", "epoch"} <= set(paths)


def test_a_component_from_a_module_outside_sys_modules(tmp_path: Path) -> None:
    """A plugin module loaded from its file (as the docs tests do) still structures."""
    import importlib.util

    from unfreeze_core.config import structure_fields
    from unfreeze_core.registry import Registry

    source = tmp_path / "loose_plugin.py"
    source.write_text(
        "from __future__ import annotations\n"
        "from collections.abc import Sequence\n"
        "from typing import ClassVar\n"
        "import attrs\n"
        "from unfreeze_core.fields import arg\n"
        "@attrs.frozen\n"
        "class Loose:\n"
        "    type_name: ClassVar[str] = 'loose'\n"
        "    xs: Sequence[float] = arg((1.0,))\n"
        "    def __call__(self, ctx: object) -> float:\n"
        "        return 1.0\n"
    )
    spec = importlib.util.spec_from_file_location("loose_plugin", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = structure_fields(module.Loose, {"xs": [1, 2]}, "", Registry())
    assert built.xs == (1.0, 2.0)


@pytest.mark.parametrize("value", [10**18, -(10**18), 10**5000], ids=["1e18", "-1e18", "1e5000"])
def test_an_integer_argument_beyond_18_digits_is_refused_where_it_is_given(value: int) -> None:
    """A huge integer in an integer field (only a Python dict can hold one: files refuse
    numbers of over 4,300 digits) is refused, instead of breaking ``repr()`` later."""
    with pytest.raises(ConfigError, match=r"policy\.every: must be an integer of at most 18"):
        load_schedule({"policy": {"type": "fixed_epoch", "every": value}})
    with pytest.raises(ConfigError, match="patience: must be an integer of at most 18 digits"):
        Plateau(patience=value)
    assert repr(load_schedule({"policy": {"type": "fixed_epoch", "every": 10**18 - 1}}))
