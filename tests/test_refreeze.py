"""Re-freezing in the engine, without TensorFlow: AutoFreeze's and FreezeOut's rules on
synthetic gradient-norm traces, the schedule's frozen prefix, its state and configs."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from unfreeze_core import (
    AutoFreeze,
    ConfigError,
    EpochEnd,
    FixedEpoch,
    FreezeOut,
    Plateau,
    Schedule,
    ScheduleState,
    StepEnd,
    TrainBegin,
    UnfreezeWarning,
    any_of,
    load_schedule,
)
from unfreeze_core.lr_rules import FreezeOutRate, LRContext
from unfreeze_core.lr_rules.freezeout import stop_fractions
from unfreeze_core.plugins import get_registry
from unfreeze_core.policies.autofreeze import frozen_prefix, normalised_changes, percentile
from unfreeze_core.schedule_shape import n_stages

# --- AutoFreeze's rule ------------------------------------------------------------------


def test_percentile_is_numpys_linear_one() -> None:
    values = [0.3, 0.01, 2.0, 0.7, 0.05]
    for q in (0, 10, 25, 50, 75, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_changes_follow_the_papers_code() -> None:
    # |c - p| / p; 0 where the group has no gradient now; inf where it had none before
    assert normalised_changes([2.0, 1.0, 0.0, 1.0], [1.0, 1.1, 5.0, 0.0]) == [
        0.5, pytest.approx(0.1), math.inf, 0.0
    ]
    assert math.isnan(normalised_changes([math.nan], [1.0])[0])


def test_prefix_up_to_the_first_group_at_or_above_the_percentile() -> None:
    all_five = (0, 1, 2, 3, 4)
    assert frozen_prefix([0.01, 0.02, 0.5, 0.3, 0.0], all_five, 5, 50) == 2
    # the first group still changes: nothing, even if higher ones have converged
    assert frozen_prefix([0.9, 0.01, 0.02, 0.03, 0.0], all_five, 5, 50) == 0
    # percentile 0: every group is at or above the minimum, nothing freezes
    assert frozen_prefix([0.01, 0.02, 0.5, 0.3, 0.0], all_five, 5, 0) == 0
    # percentile 100: everything below the most-changing group
    assert frozen_prefix([0.01, 0.02, 0.03, 0.3, 0.0], all_five, 5, 100) == 3


def test_prefix_never_reaches_the_head_nor_past_a_nan() -> None:
    assert frozen_prefix([0.0, 0.0, 0.0, 0.0], (0, 1, 2, 3), 4, 100) == 0  # ties: keep
    assert frozen_prefix([0.01, math.nan, 0.0, 0.5], (0, 1, 2, 3), 4, 100) == 0
    assert frozen_prefix([0.01, 0.02, math.nan, 0.5, 9.0], (0, 1, 2, 3, 4), 5, 100) == 2
    assert frozen_prefix([0.0, 0.0], (1,), 2, 50) == 0  # only the head trains


def test_prefix_only_over_the_trainable_groups_from_the_lowest_one() -> None:
    # groups 0, 1 not trainable (their 0.0 would be "converged"): counted from group 2
    assert frozen_prefix([0.0, 0.0, 0.01, 0.02, 0.5, 0.3, 0.0], (2, 3, 4, 5, 6), 7, 50) == 4
    assert frozen_prefix([0.0, 0.0, 0.9, 0.02, 0.5, 0.3, 0.0], (2, 3, 4, 5, 6), 7, 50) == 0
    # not a suffix (chain-thaw-like set): no decision
    assert frozen_prefix([0.0, 0.01, 0.0, 0.5], (0, 2, 3), 4, 50) == 0


def _norms(*rows: tuple[float, ...]) -> list[tuple[float, ...]]:
    return list(rows)


def test_autofreeze_decides_once_per_interval_from_window_means() -> None:
    policy = AutoFreeze(check_every=2, window=2)  # an interval is 4 steps
    s = Schedule(policy)
    stable, moving = (1.0, 1.0, 1.0, 1.0, 1.0), (1.0, 1.0, 3.0, 3.0, 1.0)
    # interval 1 (steps 1-4, reads at 2 and 4) is the reference; interval 2 compares
    norms = [stable] * 4 + [moving] * 4 + [moving] * 4
    records = s.dry_run(5, {"loss": [1.0] * 3}, steps_per_epoch=4, grad_norms=norms)
    assert [r.trainable for r in records] == [
        (0, 1, 2, 3, 4), (0, 1, 2, 3, 4), (2, 3, 4)
    ]
    assert records[1].refrozen == (0, 1)
    assert [r.lr_multipliers for r in records][2] == (0.0, 0.0, 1.0, 1.0, 1.0)


def test_a_nonfinite_reading_voids_its_interval_and_never_freezes() -> None:
    s = Schedule(AutoFreeze(percentile=100, check_every=1, window=2))
    good, bad = (1.0, 1.0, 1.0, 1.0), (math.nan, 1.0, 1.0, 1.0)
    spike = (1.0, 1.0, 5.0, 1.0)
    norms = [good, good, good, bad, spike, spike]
    with pytest.warns(UnfreezeWarning, match="non-finite gradient norm at step 4"):
        records = s.dry_run(4, {"loss": [1.0] * 6}, grad_norms=norms)
    assert all(r.trainable == (0, 1, 2, 3) for r in records[:5])
    # the interval with the NaN (steps 3-4) is dropped; steps 5-6 compare with 1-2
    assert records[5].refrozen == (0, 1)
    state = s.start(4)
    for step, g in enumerate(norms, 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state, _ = s.update(state, StepEnd(0, step, g))
    assert state.refrozen == 2 and state.policy_state["nonfinite"] == 1


def test_a_group_just_unfrozen_counts_as_changing() -> None:
    # top-down with FixedEpoch every epoch; AutoFreeze decides every step
    policy = AutoFreeze(check_every=1, window=1, percentile=100, unfreeze=FixedEpoch(every=1))
    s = Schedule(policy, initial=2)
    state = s.start(4)
    state, _ = s.update(state, TrainBegin())
    state, _ = s.update(state, StepEnd(0, 1, (0.0, 0.0, 1.0, 1.0)))
    state, d = s.update(state, EpochEnd(0, 1, {}))
    assert d.newly_trainable == (1,) and state.trainable == (1, 2, 3)
    # group 1 had no gradient before: infinite change; group 2 is still: nothing freezes
    state, d = s.update(state, StepEnd(1, 2, (0.0, 2.0, 1.0, 1.0)))
    assert state.refrozen == 0 and not d.refrozen


def test_combined_with_unfreezing_the_frozen_prefix_is_a_floor() -> None:
    """Top-down unfreezing (FixedEpoch) while AutoFreeze re-freezes: once a group is
    frozen again, nothing below it trains, and the timetable's counters go on."""
    s = Schedule(AutoFreeze(check_every=1, window=1, unfreeze=FixedEpoch(every=1)), initial=3)
    state = s.start(5)
    state, _ = s.update(state, TrainBegin())
    assert state.trainable == (2, 3, 4)
    state, _ = s.update(state, StepEnd(0, 1, (0.0, 0.0, 1.0, 1.0, 1.0)))
    state, d = s.update(state, StepEnd(0, 2, (0.0, 0.0, 1.0, 3.0, 1.0)))
    assert d.advanced and d.refrozen == (2,) and state.trainable == (3, 4)
    assert state.refrozen == 3 and state.stage == 2
    state, d = s.update(state, EpochEnd(0, 2, {}))  # FixedEpoch is due: blocked by the floor
    assert not d.advanced and state.trainable == (3, 4)
    assert state.policy_state["unfreeze"] == {"due": 1, "advances": 0}  # no StageChange


def test_a_refreezer_must_be_the_root_policy() -> None:
    with pytest.raises(ConfigError, match="re-freezes groups, so it must be the schedule's"):
        Schedule(any_of(Plateau(), AutoFreeze()))


# --- FreezeOut --------------------------------------------------------------------------


def test_freezeout_stopping_points_follow_the_papers_code() -> None:
    # t_i = spacing(t0 + (1 - t0) * i / (n - 1)); the head is last and never stops
    assert stop_fractions(0.8, "cubic", 2) == [pytest.approx(0.512), 1.0]
    assert stop_fractions(0.5, "squared", 3) == [0.25, pytest.approx(0.5625), 1.0]
    assert FreezeOut(100, t0=0.5, spacing="linear").stop_steps(3) == [50.0, 75.0, math.inf]


def test_freezeout_is_predictable_and_freezes_at_epoch_ends() -> None:
    s = Schedule(FreezeOut(40, t0=0.5, spacing="linear"))  # stops at steps 20, 26.7, 33.3
    records = s.dry_run(4, {"loss": [1.0] * 4}, steps_per_epoch=10)
    assert [r.trainable for r in records] == [(0, 1, 2, 3), (0, 1, 2, 3), (1, 2, 3), (2, 3)]
    assert [r.refrozen for r in records] == [(), (0,), (1,), (2,)]
    assert n_stages(s, 4) == 4


def test_freezeout_rate_is_the_papers_cosine_to_zero() -> None:
    rule = FreezeOutRate(t0=0.5, spacing="linear", total_steps=100, scale_lr=True)
    t = np.array([0.5, 0.75, 1.0])
    for step in (0.0, 10.0, 49.0, 50.0, 80.0, 100.0, 150.0):
        ctx = LRContext(depth=np.array([2.0, 1.0, 0.0]), since=np.zeros(3), stage=3,
                        stage_index=0, step=step, n_groups=3, xp=np)
        expected = 0.5 * (1 + np.cos(np.pi * np.minimum(step / (t * 100), 1.0))) / t
        np.testing.assert_allclose(rule(ctx), expected, atol=1e-12)


def test_the_schedule_applies_freezeouts_rule_unless_anneal_is_off() -> None:
    on, off = FreezeOut(10, t0=0.5, spacing="linear"), FreezeOut(10, anneal=False)
    assert Schedule(on).all_rules == (on.lr_rule(),)
    assert Schedule(off).all_rules == ()
    state = Schedule(on).start(2, step=0)
    # step 5: group 0 has reached its point (rate 0); the head is half-way (0.5)
    assert Schedule(on).lr_multipliers(state, step=5) == pytest.approx((0.0, 0.5))


# --- state and configs ------------------------------------------------------------------


def test_state_round_trips_through_json_with_its_refrozen_prefix() -> None:
    s = Schedule(FreezeOut(4, t0=0.5, spacing="linear"))
    state = s.start(3)
    for epoch in range(3):
        state, _ = s.update(state, EpochEnd(epoch, 2 * (epoch + 1), {"loss": 1.0}))
    assert state.refrozen == 2 and state.trainable == (2,)
    back = ScheduleState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert back == state and back.trainable == (2,)
    old = {k: v for k, v in state.to_dict().items() if k != "refrozen"}  # an older save
    assert ScheduleState.from_dict(old).refrozen == 0
    with pytest.raises(ConfigError, match="refrozen: must be an integer"):
        ScheduleState.from_dict({**state.to_dict(), "refrozen": "2"})


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule(AutoFreeze()),
        Schedule(AutoFreeze(percentile=25, check_every=5, window=4,
                            unfreeze=FixedEpoch(every=2)), initial=2),
        Schedule(FreezeOut(1000)),
        Schedule(FreezeOut(500, t0=0.5, spacing="linear", scale_lr=False, anneal=False,
                           unfreeze=Plateau(patience=2))),
        Schedule(FixedEpoch(every=1), rules=[FreezeOutRate(total_steps=100)]),
    ],
)
def test_configs_round_trip(schedule: Schedule, tmp_path: Any) -> None:
    config = schedule.to_config()
    assert load_schedule(config) == schedule
    path = tmp_path / "s.json"
    path.write_text(json.dumps(config))
    assert load_schedule(path) == schedule


def test_toml_config() -> None:
    import tomllib

    text = """
version = 1
initial = 2
[policy]
type = "autofreeze"
percentile = 50
check_every = 20
unfreeze = { type = "fixed_epoch", every = 3 }
"""
    schedule = load_schedule(tomllib.loads(text))
    assert schedule == Schedule(
        AutoFreeze(check_every=20, unfreeze=FixedEpoch(every=3)), initial=2
    )


def test_registered_as_builtins() -> None:
    registry = get_registry()
    for kind, name in (("policy", "autofreeze"), ("policy", "freezeout"),
                       ("rule", "freezeout_rate")):
        assert registry.get(kind, name).provider == "unfreeze-core"  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------

_norm = st.one_of(st.floats(0.0, 10.0), st.just(0.0), st.just(math.nan))


@given(
    n=st.integers(1, 6),
    initial=st.integers(1, 6),
    q=st.floats(0, 100),
    trace=st.lists(st.lists(_norm, min_size=6, max_size=6), max_size=30),
    every=st.integers(1, 3),
)
def test_autofreeze_properties(
    n: int, initial: int, q: float, trace: list[list[float]], every: int
) -> None:
    """The frozen set is always a prefix below a trainable suffix; the head always
    trains; the prefix never shrinks; an interval with a NaN reading decides nothing."""
    initial = min(initial, n)
    unfreeze = FixedEpoch(every=every)
    s = Schedule(AutoFreeze(percentile=q, check_every=1, window=1, unfreeze=unfreeze),
                 initial=initial)
    state = s.start(n)
    state, _ = s.update(state, TrainBegin())
    previous = state.refrozen
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for step, row in enumerate(trace, 1):
            norms = tuple(row[:n])
            before = state.refrozen
            state, decision = s.update(state, StepEnd(0, step, norms))
            if any(math.isnan(g) for g in norms):
                assert state.refrozen == before and not decision.refrozen
            if step % 3 == 0:
                state, _ = s.update(state, EpochEnd(step // 3 - 1, step, {}))
            trainable = state.trainable
            assert n - 1 in trainable
            assert trainable == tuple(range(trainable[0], n))  # a suffix
            assert all(g not in trainable for g in range(state.refrozen))
            assert state.refrozen >= previous
            previous = state.refrozen


@given(
    n=st.integers(1, 6),
    t0=st.floats(0.01, 1.0),
    spacing=st.sampled_from(["linear", "squared", "cubic"]),
    total=st.integers(1, 50),
    epochs=st.integers(1, 12),
    spe=st.integers(1, 6),
)
def test_freezeout_properties(
    n: int, t0: float, spacing: Any, total: int, epochs: int, spe: int
) -> None:
    """A prefix, never the head, frozen exactly once its stopping step has passed."""
    policy = FreezeOut(total, t0=t0, spacing=spacing)
    records = Schedule(policy).dry_run(n, {"loss": [1.0] * epochs}, steps_per_epoch=spe)
    stops = policy.stop_steps(n)
    for r in records:
        done = r.epoch * spe  # steps completed before the epoch
        expected = sum(1 for s in stops if done >= s) if r.epoch else 0
        assert r.trainable == tuple(range(min(expected, n - 1), n))
        assert all(m == 0.0 for g, m in enumerate(r.lr_multipliers) if g not in r.trainable)


def test_plan_shows_the_refreezes(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from unfreeze_core.cli import main

    path = tmp_path / "s.json"
    path.write_text(json.dumps(Schedule(FreezeOut(40, t0=0.5, spacing="linear")).to_config()))
    result = CliRunner().invoke(
        main, ["plan", str(path), "--groups", "4", "--epochs", "4", "--steps-per-epoch", "10"],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "re-freezes group_0" in result.output and "re-freezes group_1" in result.output
    assert "after epoch 2 -> stage 2 (3 groups)" in result.output
    path.write_text(json.dumps(Schedule(AutoFreeze()).to_config()))
    result = CliRunner().invoke(main, ["plan", str(path), "--groups", "4"], terminal_width=200)
    assert "re-freezing is decided at run time" in " ".join(result.output.split())


def test_autofreeze_state_mid_run_round_trips_through_strict_json() -> None:
    s = Schedule(AutoFreeze(check_every=1, window=2, unfreeze=FixedEpoch(every=1)), initial=3)
    state = s.start(4)
    for step, norms in enumerate([(0.0, 1.0, 1.0, 1.0)] * 3, 1):
        state, _ = s.update(state, StepEnd(0, step, norms))
    text = json.dumps(state.to_dict(), allow_nan=False)
    back = ScheduleState.from_dict(json.loads(text))
    assert back == state
    for step in (4, 5):  # both go on identically
        a, da = s.update(state, StepEnd(0, step, (0.0, 1.0, 2.0, 1.0)))
        b, db = s.update(back, StepEnd(0, step, (0.0, 1.0, 2.0, 1.0)))
        assert (a, da) == (b, db)
        state, back = a, b
