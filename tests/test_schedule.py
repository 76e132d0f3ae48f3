"""The schedule's state machine, dry runs, final-stage stops and the recipe's examples."""

from __future__ import annotations

import json
import math
import warnings

import pytest

from unfreeze_core import (
    ConfigError,
    EpochEnd,
    FixedEpoch,
    GradNorm,
    Plateau,
    Schedule,
    ScheduleState,
    StageScaled,
    StepEnd,
    TrainBegin,
    Transition,
    UnfreezeWarning,
)


class TestRecipeExamples:
    """The three examples of the hand-written recipe, as schedules (3 layers as 3 groups)."""

    def test_example_1_only_the_last_layer(self) -> None:
        schedule = Schedule(FixedEpoch(every=10), initial=1)
        records = schedule.dry_run(3, {"loss": [1.0] * 10})
        assert {r.trainable for r in records} == {(2,)}
        assert all(r.lr_multipliers == (0.0, 0.0, 1.0) for r in records)

    def test_example_2_the_last_two_layers(self) -> None:
        schedule = Schedule(FixedEpoch(every=10), initial=2)
        records = schedule.dry_run(3, {"loss": [1.0] * 10})
        assert {r.trainable for r in records} == {(1, 2)}

    def test_example_3_progressive_with_stage_rates(self) -> None:
        base = 1e-4
        schedule = Schedule(FixedEpoch(every=5), rules=[StageScaled(scales=[0.1, 0.5, 1.0])])
        records = schedule.dry_run(3, {"loss": [1.0] * 15})
        assert [r.stage for r in records] == [1] * 5 + [2] * 5 + [3] * 5
        rates = [tuple(base * m for m in r.lr_multipliers) for r in records[::5]]
        assert rates == [
            pytest.approx((0.0, 0.0, 1e-5)),
            pytest.approx((0.0, 5e-5, 5e-5)),
            pytest.approx((1e-4, 1e-4, 1e-4)),
        ]


def test_advance_by_and_cap_at_the_group_count() -> None:
    schedule = Schedule(FixedEpoch(every=1), initial=1, advance_by=2)
    assert [r.stage for r in schedule.dry_run(4, {"loss": [1.0] * 4})] == [1, 3, 4, 4]


def test_initial_must_fit_the_groups() -> None:
    with pytest.raises(ConfigError, match=r"initial: must be <= the number of groups \(2\), got 3"):
        Schedule(FixedEpoch(every=1), initial=3).start(2)
    with pytest.raises(ConfigError, match="number of groups must be an integer >= 1, got 0"):
        Schedule(FixedEpoch(every=1)).start(0)


def test_final_stop_reports_the_best_epoch() -> None:
    schedule = Schedule(Plateau(patience=1), final="stop")
    history = {"val_loss": [1.0, 0.5, 0.6, 0.4, 0.45, 0.5, 0.6, 0.7]}
    records = schedule.dry_run(2, history)
    # stage 1: epochs 0-2 (plateau at epoch 2); stage 2: improves at 3, plateau at 4 -> stop
    assert [r.stage for r in records] == [1, 1, 1, 2, 2]
    assert records[-1].stop
    state = schedule.start(2)
    for e, v in enumerate(history["val_loss"]):
        state, decision = schedule.update(state, EpochEnd(e, e + 1, {"val_loss": v}))
        if decision.stop:
            break
    assert decision.stop and decision.best_epoch == 3 and decision.best == 0.4
    # once stopped, nothing more happens
    assert schedule.update(state, EpochEnd(9, 9, {"val_loss": 0.0}))[1].stop is False


def test_final_continue_keeps_training() -> None:
    records = Schedule(Plateau(patience=1)).dry_run(2, {"val_loss": [1.0] * 10})
    assert len(records) == 10 and not any(r.stop for r in records)


def test_monitor_defaults_to_the_policy_monitor() -> None:
    assert Schedule(Plateau(monitor="val_accuracy")).resolved_monitor == "val_accuracy"
    assert Schedule(FixedEpoch(every=1) | Plateau(monitor="auc")).resolved_monitor == "auc"
    assert Schedule(FixedEpoch(every=1)).resolved_monitor == "val_loss"
    assert Schedule(FixedEpoch(every=1), monitor="loss").resolved_monitor == "loss"


def test_state_records_transitions_and_round_trips_through_json() -> None:
    schedule = Schedule(FixedEpoch(every=2))
    state = schedule.start(3)
    for e in range(5):
        for s in range(2):
            state, _ = schedule.update(state, StepEnd(e, 2 * e + s + 1))
        state, _ = schedule.update(state, EpochEnd(e, 2 * e + 2, {}))
    assert state.transitions == (Transition(1, 4, 1, 2), Transition(3, 8, 2, 3))
    assert state.unfrozen_at == (8, 4, 0)
    assert state.epoch == 5 and state.step == 10
    again = ScheduleState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    with pytest.raises(ConfigError, match="not a saved schedule state"):
        ScheduleState.from_dict({"stage": "x"})


def test_grad_norm_advances_mid_epoch_in_a_dry_run() -> None:
    schedule = Schedule(GradNorm(threshold=1.0, window=2, check_every=1))
    norms = [(0.0, 2.0)] * 3 + [(0.0, 0.5)] * 2 + [(0.3, 0.3)] * 5
    records = schedule.dry_run(2, {"loss": [1.0, 1.0]}, steps_per_epoch=5, grad_norms=norms)
    assert records[0].stage == 1 and records[0].stage_after == 2
    assert records[0].newly_trainable == (0,)


def test_train_begin_never_advances() -> None:
    """A policy already ready when training begins still waits for a real event."""

    class ReadyAtOnce:
        def init(self) -> None:
            return None

        def update(self, state: None, event: object) -> tuple[None, bool]:
            return None, True  # ready at every event, TrainBegin included

    schedule = Schedule(ReadyAtOnce(), final="stop")
    state, decision = schedule.update(schedule.start(3), TrainBegin(0, 0))
    assert not decision.advanced and not decision.stop and state.stage == 1
    state, decision = schedule.update(state, EpochEnd(0, 1, {}))
    assert decision.advanced and state.stage == 2


def test_non_monotonic_policy_via_trainable_sets() -> None:
    class ChainThawLike:
        def trainable_sets(self, n: int) -> list[tuple[int, ...]]:
            return [(n - 1,), *[(g,) for g in range(n - 1)], tuple(range(n))]

        def init(self) -> None:
            return None

        def update(self, state: None, event: object) -> tuple[None, bool]:
            return None, isinstance(event, EpochEnd)

    records = Schedule(ChainThawLike(), final="stop").dry_run(3, {"loss": [1.0] * 6})
    assert [r.trainable for r in records] == [(2,), (0,), (1,), (0, 1, 2)]
    assert records[-1].stop
    with pytest.raises(ConfigError, match=r"policy.policies\[1\]: defines trainable_sets"):
        Schedule(Plateau() | ChainThawLike())


def test_dry_run_validates_steps() -> None:
    with pytest.raises(ConfigError, match="steps_per_epoch must be >= 1, got 0"):
        Schedule(FixedEpoch(every=1)).dry_run(2, {}, steps_per_epoch=0)


def test_a_nan_epoch_holds_the_schedule_and_warns() -> None:
    schedule = Schedule(FixedEpoch(every=1))
    state = schedule.start(3)
    with pytest.warns(UnfreezeWarning, match=r"Epoch 1: loss = nan; the schedule makes no stage"):
        state, decision = schedule.update(state, EpochEnd(0, 1, {"loss": math.nan}))
    assert decision.held and not decision.advanced and state.stage == 1
    with pytest.warns(UnfreezeWarning, match=r"Epoch 2: val_loss = inf"):
        state, decision = schedule.update(state, EpochEnd(1, 2, {"val_loss": math.inf}))
    assert decision.held and state.stage == 1
    state, decision = schedule.update(state, EpochEnd(2, 3, {"loss": 0.5}))
    assert decision.advanced and state.stage == 2  # the policy stayed ready


def test_a_nan_epoch_holds_step_events_too_until_a_finite_epoch_end() -> None:
    """A policy that stays ready is not let through by the next step event: the hold
    lasts until an epoch ends with finite values (the dry run feeds every step)."""
    schedule = Schedule(FixedEpoch(every=1), final="stop")
    with pytest.warns(UnfreezeWarning, match="until an epoch ends with finite values"):
        records = schedule.dry_run(
            4, {"loss": [0.9, math.nan, math.nan, math.nan, 0.5, 0.4]}, steps_per_epoch=3
        )
    assert [r.stage_after for r in records] == [2, 2, 2, 2, 3, 4]
    assert not any(r.stop for r in records[:5])
    state = schedule.start(3)
    with pytest.warns(UnfreezeWarning):
        state, _ = schedule.update(state, EpochEnd(0, 1, {"loss": math.nan}))
    assert state.nan_hold
    state, decision = schedule.update(state, StepEnd(1, 2, None))
    assert decision.held and not decision.advanced and state.stage == 1
    restored = ScheduleState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state  # the hold survives a checkpoint


def test_a_nan_epoch_advances_with_on_nan_advance() -> None:
    schedule = Schedule(FixedEpoch(every=1), on_nan="advance")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, decision = schedule.update(schedule.start(3), EpochEnd(0, 1, {"loss": math.nan}))
    assert decision.advanced and not decision.held


def test_plateau_never_advances_on_a_nan_stream() -> None:
    schedule = Schedule(Plateau(patience=1), final="stop")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = schedule.dry_run(4, {"loss": [math.nan] * 30, "val_loss": [math.nan] * 30})
        policy_alone = Schedule(Plateau(patience=1), on_nan="advance", final="stop")
        alone = policy_alone.dry_run(4, {"val_loss": [1.0] + [math.nan] * 29})
    assert [r.stage_after for r in records] == [1] * 30 and not records[-1].stop
    assert [r.stage_after for r in alone] == [1] * 30
