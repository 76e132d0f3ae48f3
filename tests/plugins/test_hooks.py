"""One test per hook (``test_hook_<name>``; ``test_docs_plugins.py`` checks that each
hook has one), plus the behaviour of ``notify_stage_change`` around it."""

from __future__ import annotations

import types
from typing import Any, ClassVar

import attrs
import numpy as np
import pytest

from unfreeze_core import (
    FixedEpoch,
    Group,
    LayerInfo,
    Schedule,
    hookimpl,
    load_schedule,
)
from unfreeze_core.events import EpochEnd, Event, StepEnd
from unfreeze_core.lr_rules import LRContext
from unfreeze_core.plugins import (
    PluginError,
    PluginWarning,
    get_registry,
    notify_stage_change,
)
from unfreeze_core.testing import record_stage_changes, register_plugin


def plugin(**hooks: Any) -> types.SimpleNamespace:
    """A plugin object whose attributes are the given hook implementations."""
    return types.SimpleNamespace(**{name: hookimpl(f) for name, f in hooks.items()})


@attrs.frozen
class EveryStep:
    """A trigger ready after every optimizer step (its state counts them)."""

    type_name: ClassVar[str] = "every_step"

    def init(self) -> Any:
        return 0

    def update(self, state: Any, event: Event) -> tuple[Any, bool]:
        ready = isinstance(event, StepEnd)
        return state + ready, ready


def test_hook_register_policies() -> None:
    def register_policies(register: Any) -> None:
        register("every_step", EveryStep)

    with register_plugin(plugin(register_policies=register_policies), distribution="dist-p"):
        entry = get_registry().get("policy", "every_step")
        schedule = load_schedule({"policy": {"type": "every_step"}})
        assert schedule.to_config()["policy"] == {"type": "every_step"}
    assert (entry.provider, entry.shorthand) == ("dist-p", False)
    records = schedule.dry_run(3, {"loss": [1.0, 1.0]}, steps_per_epoch=1)
    assert [r.stage for r in records] == [1, 2]
    assert get_registry().find("policy", "every_step") is None  # gone after the block


def test_hook_register_policies_non_monotonic() -> None:
    """A policy that refreezes groups needs no registration option: the engine reads its
    ``trainable_sets``."""
    @attrs.frozen
    class Reverse:
        """Bottom-up: group 0 alone, then 0 and 1, ..."""

        def init(self) -> Any:
            return None

        def update(self, state: Any, event: Event) -> tuple[Any, bool]:
            return state, isinstance(event, EpochEnd)

        def trainable_sets(self, n_groups: int) -> list[tuple[int, ...]]:
            return [tuple(range(k + 1)) for k in range(n_groups)]

    def register_policies(register: Any) -> None:
        register("reverse", Reverse)

    with register_plugin(plugin(register_policies=register_policies)):
        schedule = load_schedule({"policy": {"type": "reverse"}})
    assert [r.trainable for r in schedule.dry_run(3, {"loss": [1.0] * 3})] == [
        (0,), (0, 1), (0, 1, 2)
    ]

    def old_style(register: Any) -> None:
        register("reverse", Reverse, monotonic=False)  # the line points here

    with (
        pytest.warns(DeprecationWarning, match=r"monotonic=\.\.\.\) is deprecated and ignored")
        as record,
        register_plugin(plugin(register_policies=old_style)),
    ):
        assert get_registry().get("policy", "reverse").factory is Reverse
    assert record[0].filename == __file__


def test_a_class_registered_under_another_name_than_its_type_name_is_refused() -> None:
    """``to_config()`` writes a component under its class's ``type_name``: registering it
    under another name would write configs that load something else."""

    @attrs.frozen
    class Every:
        type_name: ClassVar[str] = "every"

        def init(self) -> Any:
            return None

        def update(self, state: Any, event: Event) -> tuple[Any, bool]:
            return state, True

    def register_policies(register: Any) -> None:
        register("each", Every)

    with (
        pytest.raises(PluginError, match=r"from dist-t 2\.0 raised in its register_policies hook: "
                      r"ValueError: register\('each', .*Every\): the class declares type_name = "
                      r"'every'.*register it as 'every' or set type_name = 'each'"),
        register_plugin(plugin(register_policies=register_policies), distribution="dist-t",
                        version="2.0"),
    ):
        pass


def test_hook_register_lr_rules() -> None:
    @attrs.frozen
    class Halve:
        def __call__(self, ctx: LRContext) -> Any:
            return ctx.xp.ones_like(ctx.depth) * 0.5

    def register_lr_rules(register: Any) -> None:
        register("halve", Halve)

    with register_plugin(plugin(register_lr_rules=register_lr_rules), distribution="dist-r"):
        entry = get_registry().get("rule", "halve")
        schedule = load_schedule(
            {"policy": {"type": "fixed_epoch", "every": 1}, "rules": [{"type": "halve"}]}
        )
    assert entry.kind == "rule" and entry.provider == "dist-r"
    assert schedule.lr_multipliers(schedule.start(3)) == (0.0, 0.0, 0.5)


def test_hook_register_groupings() -> None:
    @attrs.frozen
    class Halves:
        def resolve(self, layers: Any) -> tuple[Group, ...]:
            mid = len(layers) // 2
            parts = (("bottom", layers[:mid]), ("top", layers[mid:]))
            return tuple(
                Group(n, tuple(la.path for la in p), sum(la.n_params for la in p))
                for n, p in parts
            )

    def register_groupings(register: Any) -> None:
        register("halves", Halves)

    with register_plugin(plugin(register_groupings=register_groupings), distribution="dist-g"):
        schedule = load_schedule({"policy": {"type": "fixed_epoch", "every": 1},
                                  "groups": {"type": "halves"}})
        assert get_registry().get("grouping", "halves").provider == "dist-g"
    layers = [LayerInfo(f"d{i}", f"d{i}", 10 * (i + 1)) for i in range(4)]
    assert [(g.name, g.layers, g.n_params) for g in schedule.groups.resolve(layers)] == [
        ("bottom", ("d0", "d1"), 30),
        ("top", ("d2", "d3"), 70),
    ]


def test_hook_on_stage_change() -> None:
    schedule = Schedule(FixedEpoch(every=1))
    before = schedule.start(3, step=0)
    after, decision = schedule.update(before, EpochEnd(0, 20, {"val_loss": 0.3}))
    assert decision.advanced
    groups = (Group("g0", ("a",), 1), Group("g1", ("b",), 2), Group("g2", ("c",), 3))
    model = object()
    with record_stage_changes() as calls:
        notify_stage_change(schedule, before, after, groups=groups, model=model,
                            logs={"val_loss": 0.3})
        notify_stage_change(schedule, after, after)  # no change: no call
    assert calls == [
        {
            "epoch": 0, "step": 20, "stage": 2, "previous": 1, "stage_index": 1,
            "trainable": (1, 2), "newly_trainable": (1,), "refrozen": (),
            "groups": groups, "lr_multipliers": (0.0, 1.0, 1.0),
            "logs": {"val_loss": 0.3}, "model": model,
        }
    ]


def test_on_stage_change_reports_refrozen_groups_and_accepts_any_subset_of_arguments() -> None:
    @attrs.frozen
    class Alone:
        """Each group alone, top first: refreezes the previous one."""

        def init(self) -> Any:
            return None

        def update(self, state: Any, event: Event) -> tuple[Any, bool]:
            return state, isinstance(event, EpochEnd)

        def trainable_sets(self, n_groups: int) -> list[tuple[int, ...]]:
            return [(g,) for g in reversed(range(n_groups))]

    seen: list[tuple[Any, ...]] = []

    def on_stage_change(refrozen: Any, newly_trainable: Any) -> None:  # a subset, reordered
        seen.append((newly_trainable, refrozen))

    schedule = Schedule(Alone())
    before = schedule.start(3)
    after, _ = schedule.update(before, EpochEnd(0, 5, {}))
    with register_plugin(plugin(on_stage_change=on_stage_change)):
        notify_stage_change(schedule, before, after)
    assert seen == [((1,), (2,))]


def test_a_failing_on_stage_change_warns_with_its_distribution_and_the_others_still_run() -> None:
    def failing(stage: int) -> None:
        raise RuntimeError(f"tracker unreachable at stage {stage}")

    schedule = Schedule(FixedEpoch(every=1))
    before = schedule.start(2)
    after, _ = schedule.update(before, EpochEnd(0, 5, {}))
    with (
        register_plugin(plugin(on_stage_change=failing), name="tracker",
                        distribution="unfreeze-tracker", version="3.1"),
        record_stage_changes() as calls,
        pytest.warns(PluginWarning) as record,
    ):
        notify_stage_change(schedule, before, after)
    assert len(calls) == 1
    assert [str(w.message) for w in record] == [
        "plugin 'tracker' from unfreeze-tracker 3.1 raised in its on_stage_change hook: "
        "RuntimeError: tracker unreachable at stage 2."
    ]


def test_systemexit_in_on_stage_change_does_not_end_training_but_ctrl_c_does() -> None:
    def exiting(stage: int) -> None:
        raise SystemExit(f"tracker quit at stage {stage}")

    def interrupted(stage: int) -> None:
        raise KeyboardInterrupt

    schedule = Schedule(FixedEpoch(every=1))
    before = schedule.start(2)
    after, _ = schedule.update(before, EpochEnd(0, 5, {}))
    with (
        register_plugin(plugin(on_stage_change=exiting), name="tracker",
                        distribution="unfreeze-tracker", version="3.1"),
        record_stage_changes() as calls,
        pytest.warns(PluginWarning, match="raised in its on_stage_change hook: SystemExit: "
                     "tracker quit at stage 2"),
    ):
        notify_stage_change(schedule, before, after)
    assert len(calls) == 1
    with (
        register_plugin(plugin(on_stage_change=interrupted), name="impatient"),
        pytest.raises(KeyboardInterrupt),
    ):
        notify_stage_change(schedule, before, after)


def test_notify_stage_change_rejects_states_in_the_wrong_order() -> None:
    schedule = Schedule(FixedEpoch(every=1))
    before = schedule.start(2)
    after, _ = schedule.update(before, EpochEnd(0, 5, {}))
    with pytest.raises(ValueError, match="'after' \\(stage_index 0\\) must come after"):
        notify_stage_change(schedule, after, before)


def test_lr_multipliers_passed_to_on_stage_change_follow_the_rules() -> None:
    schedule = load_schedule(
        {"policy": {"type": "fixed_epoch", "every": 1},
         "rules": [{"type": "discriminative", "factor": 2.0}]}
    )
    before = schedule.start(3)
    after, _ = schedule.update(before, EpochEnd(0, 5, {}))
    with record_stage_changes() as calls:
        notify_stage_change(schedule, before, after)
    np.testing.assert_allclose(calls[0]["lr_multipliers"], [0.0, 0.5, 1.0])
