"""Tests of the chain-thaw plugin. Run them where the distribution is installed
(``pip install ./plugins/unfreeze-chain-thaw``): some check the installed entry point."""

from __future__ import annotations

import doctest
import tomllib
from pathlib import Path

import pytest
import unfreeze_chain_thaw
from unfreeze_chain_thaw import ChainThaw, chain_thaw_sets

from unfreeze_core import FixedEpoch, Plateau, Schedule, load_schedule
from unfreeze_core.errors import ConfigError
from unfreeze_core.plugins import get_registry
from unfreeze_core.policy_tree import chooses_sets, walk
from unfreeze_core.testing import register_plugin

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_stages_are_the_head_then_each_group_from_the_input_side_then_all(n: int) -> None:
    sets = chain_thaw_sets(n)
    everything = tuple(range(n))
    if n == 1:
        assert sets == [(0,)]
        return
    assert sets[0] == (n - 1,)  # the new layer (the head) first
    assert sets[1:-1] == [(g,) for g in range(n - 1)]  # each layer alone, first layer first
    assert sets[-1] == everything  # then the whole model
    assert len(sets) == n + 1


def test_zero_groups_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one group, got 0"):
        chain_thaw_sets(0)


def test_the_installed_distribution_registers_a_non_monotonic_policy() -> None:
    entry = get_registry().get("policy", "chain_thaw")
    assert entry.factory is ChainThaw
    assert entry.provider == "unfreeze-chain-thaw"
    assert entry.version == unfreeze_chain_thaw.__version__
    assert ChainThaw.type_name == entry.name  # what to_config() writes
    assert chooses_sets(ChainThaw())  # it refreezes groups: the engine reads its sets


def test_the_engine_finds_the_trigger_through_the_declared_field() -> None:
    trigger = Plateau(patience=2)
    assert list(walk(ChainThaw(when=trigger))) == [("policy", ChainThaw(when=trigger)),
                                                   ("policy.when", trigger)]


def test_register_plugin_gives_the_same_name_without_the_installed_copy() -> None:
    with register_plugin(unfreeze_chain_thaw, distribution="unfreeze-chain-thaw") as registry:
        assert registry.get("policy", "chain_thaw").factory is ChainThaw


def test_each_stage_ends_when_the_trigger_is_ready_and_groups_are_refrozen() -> None:
    schedule = Schedule(ChainThaw(when=Plateau(patience=1, min_delta=0.0, min_rel_delta=0.0)))
    # improves, stalls (-> group 0 alone), improves, stalls (-> group 1), stalls (-> all)
    history = {"val_loss": [1.0, 1.0, 0.9, 0.9, 0.9, 0.8]}
    records = schedule.dry_run(3, history)
    assert [r.trainable for r in records] == [(2,), (2,), (0,), (0,), (1,), (0, 1, 2)]
    assert [r.lr_multipliers for r in records][2] == (1.0, 0.0, 0.0)


def test_the_readme_schedule_loads_and_round_trips() -> None:
    text = README.read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    schedule = load_schedule(tomllib.loads(block))
    assert isinstance(schedule.policy, ChainThaw)
    assert schedule.policy.when == Plateau(patience=2)
    assert schedule.resolved_monitor == "val_loss"
    assert load_schedule(schedule.to_config()) == schedule


def test_the_monitor_of_the_trigger_is_the_schedules() -> None:
    schedule = Schedule(ChainThaw(when=Plateau(monitor="val_accuracy")))
    assert schedule.resolved_monitor == "val_accuracy"


def test_a_bad_trigger_is_reported_where_it_is() -> None:
    with pytest.raises(ConfigError, match=r"policy\.when\.patience: must be >= 0, got -1"):
        load_schedule(
            {"policy": {"type": "chain_thaw", "when": {"type": "plateau", "patience": -1}}}
        )
    with pytest.raises(ConfigError, match="when: must be a policy"):
        ChainThaw(when=3)  # type: ignore[arg-type]


def test_default_trigger_and_composition() -> None:
    assert ChainThaw().when == Plateau(patience=3)
    policy = ChainThaw(when=FixedEpoch(every=2) | Plateau(patience=1))
    # the plateau is ready after epoch 1, and again after epoch 2 (the loss never moves)
    assert [r.trainable for r in Schedule(policy).dry_run(2, {"val_loss": [1.0] * 4})] == [
        (1,), (1,), (0,), (0, 1)
    ]


def test_docstring_examples() -> None:
    assert doctest.testmod(unfreeze_chain_thaw).failed == 0
