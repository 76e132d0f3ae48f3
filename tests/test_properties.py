"""Invariants of the engine, proven with Hypothesis over generated schedules and streams.

No TensorFlow here: every example runs in well under a millisecond or two.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from unfreeze_core import (
    Discriminative,
    EpochEnd,
    FixedEpoch,
    GradNorm,
    LRContext,
    Schedule,
    ScheduleState,
    StepEnd,
    TrainBegin,
    UnfreezeWarning,
    Warmup,
    compose,
    load_schedule,
)
from unfreeze_core.schedule import split_by_step

from .strategies import (
    discriminative,
    epoch_streams,
    event_streams,
    fixed_epoch,
    grad_norm,
    plateau,
    rules,
    setups,
    warmup,
)

pytestmark = pytest.mark.filterwarnings("ignore::unfreeze_core.UnfreezeWarning")


def run(schedule: Schedule, n_groups: int, events: list[Any]) -> list[tuple[ScheduleState, Any]]:
    """Feed ``events``; the (state, decision) after each."""
    state = schedule.start(n_groups)
    out = []
    for event in events:
        state, decision = schedule.update(state, event)
        out.append((state, decision))
    return out


n_groups = st.integers(1, 8)


@given(setups, event_streams())
def test_trainable_set_is_a_growing_suffix(setup: tuple[int, Schedule], events: list[Any]) -> None:
    n, schedule = setup
    state = schedule.start(n)
    previous = state
    assert state.stage == schedule.initial
    for event in events:
        state, decision = schedule.update(state, event)
        assert state.trainable == tuple(range(n - state.stage, n)), "always a suffix"
        assert set(previous.trainable) <= set(state.trainable), "never shrinks"
        assert 1 <= state.stage <= n, "never exceeds the group count"
        assert state.stage - previous.stage <= schedule.advance_by, "at most advance_by per event"
        assert decision.advanced == (state.stage > previous.stage)
        assert set(decision.newly_trainable) == set(state.trainable) - set(previous.trainable)
        previous = state
    note_event(f"advances made: {min(state.stage_index, 3)}{'+' if state.stage_index > 3 else ''}")
    note_event(f"reached the final stage: {state.stage == n}")


@given(fixed_epoch, n_groups, st.integers(1, 3), st.integers(1, 3), st.integers(0, 40))
def test_fixed_epoch_matches_its_closed_form(
    policy: FixedEpoch, n: int, initial: int, advance_by: int, n_epochs: int
) -> None:
    initial = min(initial, n)
    schedule = Schedule(policy, initial=initial, advance_by=advance_by)
    records = schedule.dry_run(n, {"loss": [1.0] * n_epochs}, steps_per_epoch=2)
    for record in records:
        e = record.epoch
        due = e // policy.every if policy.every else sum(1 for a in policy.at or () if a <= e)
        assert record.stage == min(n, initial + advance_by * due)


@given(plateau, n_groups, epoch_streams())
def test_plateau_never_advances_sooner_than_patience_and_cooldown(
    policy: Any, n: int, events: list[Any]
) -> None:
    schedule = Schedule(policy)
    state = schedule.start(n)
    epochs_counted = 0  # epochs since the stage began that the policy may count
    first_stage = True
    for event in events:
        state, decision = schedule.update(state, event)
        if isinstance(event, EpochEnd):
            epochs_counted += 1
        if decision.advanced:
            needed = max(policy.patience, 1) + (
                policy.start_from_epoch if first_stage else policy.cooldown
            )
            assert epochs_counted >= needed
            assert epochs_counted >= policy.min_epochs_per_stage
            epochs_counted = 0
            first_stage = False


@given(plateau, n_groups, st.integers(0, 20), st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_values_never_improve(policy: Any, n: int, n_epochs: int, bad: float) -> None:
    """NaN and infinities never become the best value, and every one of them counts as
    an epoch without improvement (outside cooldown and before start_from_epoch)."""
    schedule = Schedule(policy)
    state = schedule.start(n)
    for e in range(n_epochs):
        state, _ = schedule.update(state, EpochEnd(e, e + 1, {policy.monitor: bad}))
        assert state.policy_state["best"] is None
        assert state.best is None


@given(grad_norm, n_groups, st.lists(st.sampled_from([math.nan, math.inf]), max_size=60))
def test_grad_norm_never_triggers_on_non_finite_norms(
    policy: GradNorm, n: int, norms: list[float]
) -> None:
    schedule = Schedule(policy)
    state = schedule.start(n)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step, value in enumerate(norms, start=1):
            state, decision = schedule.update(state, StepEnd(0, step, (value,) * n))
            assert not decision.advanced
    read = sum(1 for s in range(1, len(norms) + 1) if policy.reads_step(s))
    assert state.policy_state["nonfinite"] == read, "every non-finite reading is counted"
    assert sum(issubclass(w.category, UnfreezeWarning) for w in caught) == read


@given(setups, event_streams())
def test_same_stream_same_decisions(setup: tuple[int, Schedule], events: list[Any]) -> None:
    n, schedule = setup
    first = run(schedule, n, events)
    second = run(schedule, n, events)
    assert [d for _, d in first] == [d for _, d in second]
    assert [s.to_dict() for s, _ in first] == [s.to_dict() for s, _ in second]


@given(setups, event_streams(), st.data())
def test_capture_and_restore_equals_uninterrupted(
    setup: tuple[int, Schedule], events: list[Any], data: st.DataObject
) -> None:
    n, schedule = setup
    cut = data.draw(st.integers(0, len(events)))
    uninterrupted = run(schedule, n, events)

    state = schedule.start(n)
    for event in events[:cut]:
        state, _ = schedule.update(state, event)
    saved = json.dumps(state.to_dict())  # through JSON, as a checkpoint would

    fresh = load_schedule(json.loads(json.dumps(schedule.to_config())))
    restored = ScheduleState.from_dict(json.loads(saved))
    resumed = []
    for event in events[cut:]:
        restored, decision = fresh.update(restored, event)
        resumed.append((restored, decision))
    note_event(f"advances after the cut: {sum(d.advanced for _, d in resumed) > 0}")
    assert [d for _, d in resumed] == [d for _, d in uninterrupted[cut:]]
    assert [s.to_dict() for s, _ in resumed] == [s.to_dict() for s, _ in uninterrupted[cut:]]


@given(setups, event_streams())
def test_config_round_trip_decides_identically(
    setup: tuple[int, Schedule], events: list[Any]
) -> None:
    n, schedule = setup
    config = schedule.to_config()
    again = load_schedule(json.loads(json.dumps(config)))
    assert again == schedule
    assert again.to_config() == config
    original = run(schedule, n, events)
    copy = run(again, n, events)
    assert [d for _, d in original] == [d for _, d in copy]
    for (s1, _), (s2, _) in zip(original, copy, strict=True):
        assert schedule.lr_multipliers(s1) == again.lr_multipliers(s2)


def _ctx(n: int, since: Any = 0.0, stage_index: int = 0, step: float = 0.0) -> LRContext:
    return LRContext(
        depth=np.arange(n - 1, -1, -1, dtype=np.float64),
        since=np.broadcast_to(np.asarray(since, dtype=np.float64), (n,)),
        stage=n,
        stage_index=stage_index,
        step=step,
        n_groups=n,
        xp=np,
    )


@given(discriminative, st.integers(1, 12))
def test_discriminative_multipliers_never_increase_with_depth(rule: Discriminative, n: int) -> None:
    m = np.broadcast_to(rule(_ctx(n)), (n,))  # input side first: depth decreases
    by_depth = m[::-1]
    assert by_depth[0] == pytest.approx(1.0) or rule.multipliers is not None
    assert all(by_depth[d + 1] <= by_depth[d] for d in range(n - 1))
    assert all(v > 0 for v in m)


@given(st.floats(1.0, 5.0), st.integers(1, 12))
def test_factor_and_decay_are_two_spellings(factor: float, n: int) -> None:
    a = Discriminative(factor=factor)(_ctx(n))
    b = Discriminative(decay=1.0 / factor)(_ctx(n))
    np.testing.assert_allclose(a, b, rtol=1e-12)


@given(warmup, st.integers(0, 80))
def test_warmup_is_monotone_and_reaches_exactly_one(rule: Warmup, extra: int) -> None:
    ks = np.arange(0, rule.steps + extra, dtype=np.float64)
    values = [float(np.broadcast_to(rule(_ctx(1, since=k, step=k)), (1,))[0]) for k in ks]
    assert all(b >= a for a, b in itertools.pairwise(values)), "never decreases"
    assert values[rule.steps - 1] == 1.0, "exactly 1 at the last step of the ramp"
    assert all(v == 1.0 for v in values[rule.steps - 1 :])
    assert values[0] >= rule.start
    assert all(0.0 <= v <= 1.0 for v in values)


@given(
    st.lists(rules, min_size=1, max_size=4),
    st.integers(1, 8),
    st.integers(0, 50),
    st.integers(0, 4),
)
def test_composite_rule_equals_the_product_of_its_parts(
    parts: list[Any], n: int, step: int, stage_index: int
) -> None:
    ctx = _ctx(n, since=np.arange(n) + step, stage_index=stage_index, step=step)
    product = np.ones(n)
    for rule in parts:
        product = product * rule(ctx)
    np.testing.assert_array_equal(np.broadcast_to(compose(*parts)(ctx), (n,)), product)
    if len(parts) >= 2:
        np.testing.assert_array_equal(
            np.broadcast_to((parts[0] * compose(*parts[1:]))(ctx), (n,)), product
        )


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(setups, event_streams(max_epochs=10))
def test_frozen_groups_get_no_learning_rate(setup: tuple[int, Schedule], events: list[Any]) -> None:
    n, schedule = setup
    state = schedule.start(n)
    for event in [TrainBegin(0, 0), *events]:
        state, _ = schedule.update(state, event)
        m = schedule.lr_multipliers(state)
        assert len(m) == n
        for g in range(n):
            if g in state.trainable:
                assert m[g] >= 0 and math.isfinite(m[g])
            else:
                assert m[g] == 0.0


@given(
    st.lists(st.one_of(rules, rules.map(lambda r: compose(r, Warmup(steps=3)))), max_size=4),
    st.integers(1, 8),
    st.integers(0, 50),
    st.integers(0, 4),
)
def test_rules_fixed_for_a_stage_fold_into_constants(
    parts: list[Any], n: int, step: int, stage_index: int
) -> None:
    """The driver folds the rules that never read the step into per-stage constants:
    the folded product times the remaining rules equals every rule evaluated per step,
    and only the rules that read ``step`` or ``since`` remain."""
    stage = min(n, stage_index + 1)
    fixed, remaining = split_by_step(parts, stage=stage, stage_index=stage_index, n_groups=n)
    assert list(remaining) == [r for r in parts if "Warmup" in repr(r)]
    ctx = _ctx(n, since=np.arange(n) + step, stage_index=stage_index, step=step)
    ctx = attrs.evolve(ctx, stage=stage)
    whole, rest = np.ones(n), np.ones(n)
    for rule in parts:
        whole = whole * rule(ctx)
    for rule in remaining:
        rest = rest * rule(ctx)
    assert fixed.dtype == np.float32 and fixed.shape == (n,)
    np.testing.assert_allclose(fixed * rest, np.broadcast_to(whole, (n,)), rtol=1e-6)
