"""The adaptive policies' defaults (issue 14): ``Plateau()`` and ``GradNorm()`` advance
on realistic curves without tuning, and the old behaviour stays reachable.

The curves are shaped like the benchmark's recorded fine-tuning runs
(``docs/policies.md#choosing-the-defaults``): a head that learns slowly at a low rate
(val_loss falling 3% an epoch), one that learns fast and then levels off, the spike of
val_loss right after a group unfreezes, and per-step gradient norms with batch noise.
"""

from __future__ import annotations

import math
import random
import warnings
from typing import Any, ClassVar

import pytest

from unfreeze_core import (
    ConfigError,
    Discriminative,
    EpochEnd,
    FixedEpoch,
    GradNorm,
    Plateau,
    Schedule,
    StageChange,
    StepEnd,
    Warmup,
    load_schedule,
    recommended_schedule,
)

from .policy_events import epochs, feed

OLD_PLATEAU = {"patience": 10, "min_rel_delta": 0.0, "reset_best": False}


def first_ready(policy: Any, events: list[Any]) -> int | None:
    """The 0-based epoch at whose end the policy first is ready (None: never)."""
    epoch = 0
    for event, ready in zip(events, feed(policy, events), strict=True):
        if isinstance(event, EpochEnd):
            if ready:
                return epoch
            epoch += 1
    return None


def levelling_off(n: int, floor: float = 0.5, noise: float = 0.01, seed: int = 0) -> list[float]:
    """val_loss that falls fast, then levels off at ``floor`` with relative ``noise``."""
    rng = random.Random(seed)
    return [(floor + 1.5 * 0.6**t) * (1 + rng.uniform(-noise, noise)) for t in range(n)]


class TestPlateauDefaults:
    def test_a_levelling_off_curve_advances_within_a_few_epochs(self) -> None:
        for seed in range(20):
            curve = levelling_off(12, seed=seed)
            at = first_ready(Plateau(), epochs(curve))
            assert at is not None and at <= 6, (seed, at)
            assert first_ready(Plateau(**OLD_PLATEAU), epochs(curve)) is None

    def test_a_steadily_improving_curve_waits(self) -> None:
        curve = [2.0 * 0.85**t for t in range(12)]  # 15% better every epoch
        assert first_ready(Plateau(), epochs(curve)) is None

    def test_a_slowly_learning_stage_advances(self) -> None:
        # the head at a low rate: 3% an epoch would take the whole budget to converge
        curve = [2.0 * 0.97**t for t in range(12)]
        assert first_ready(Plateau(), epochs(curve)) == 1
        assert first_ready(Plateau(**OLD_PLATEAU), epochs(curve)) is None

    def test_min_rel_delta_is_relative_to_the_best(self) -> None:
        assert not feed(Plateau(), epochs([1.0, 0.85]))[-1]  # 15% better
        assert feed(Plateau(), epochs([1.0, 0.95]))[-1]  # 5% better: not enough
        assert feed(Plateau(), epochs([0.010, 0.0095]))[-1]  # the scale does not matter
        maximised = epochs([0.5, 0.6, 0.62], monitor="val_accuracy")
        assert feed(Plateau(monitor="val_accuracy"), maximised) == [False, False, True]

    def test_min_delta_and_min_rel_delta_both_apply(self) -> None:
        p = Plateau(min_delta=0.2, min_rel_delta=0.01)
        assert feed(p, epochs([1.0, 0.85])) == [False, True]

    def test_the_best_is_kept_across_stages_unless_reset_best(self) -> None:
        # val_loss jumps when a group unfreezes, then improves fast
        events = [*epochs([1.0, 0.5]), StageChange(1, 2, 2, 1)]
        events += [EpochEnd(2, 3, {"val_loss": 0.9}), EpochEnd(3, 4, {"val_loss": 0.6})]
        assert feed(Plateau(), events)[-2:] == [True, True]  # Keras: one best per run
        assert feed(Plateau(reset_best=True), events)[-2:] == [False, False]

    def test_a_stage_that_does_not_help_advances_after_one_epoch(self) -> None:
        events = [*epochs([1.0, 0.8]), StageChange(1, 2, 2, 1), EpochEnd(2, 3, {"val_loss": 0.79})]
        assert feed(Plateau(), events)[-1]

    def test_nan_is_still_neither_an_improvement_nor_counted(self) -> None:
        assert not any(feed(Plateau(), epochs([1.0, math.nan, math.inf, math.nan])))
        assert not any(feed(Plateau(), epochs([math.nan] * 10)))

    def test_the_old_defaults_are_reachable(self) -> None:
        old = Plateau(**OLD_PLATEAU)
        values = [1.0, 0.99] + [0.98995] * 11  # 5e-5 better: less than min_delta
        ready = feed(old, epochs(values))
        assert ready.index(True) == 11  # 10 epochs after the last improvement


class TestGradNormDefaults:
    @staticmethod
    def epoch_of_norms(epoch: int, first_step: int, norms: list[float]) -> list[Any]:
        steps = [StepEnd(epoch, first_step + i, (0.0, n)) for i, n in enumerate(norms)]
        return [*steps, EpochEnd(epoch, first_step + len(norms) - 1, {"loss": 1.0})]

    def run(self, policy: Any, epoch_norms: list[list[float]]) -> list[Any]:
        events: list[Any] = []
        step = 1
        for e, norms in enumerate(epoch_norms):
            events += self.epoch_of_norms(e, step, norms)
            step += len(norms)
        return events

    def test_gradnorm_needs_no_arguments(self) -> None:
        p = GradNorm()
        assert (p.resolved_rel_change, p.window, p.check_every) == (0.1, None, 1)

    def test_fires_when_the_epoch_norm_settles(self) -> None:
        # means 3.0, 2.0 (-33%), 1.9 (-5%): ready at the end of the third epoch
        norms = [[5.0, 1.0, 5.0, 1.0], [2.5, 1.5, 2.5, 1.5], [1.8, 2.0, 1.8, 2.0]]
        events = self.run(GradNorm(), norms)
        assert first_ready(GradNorm(), events) == 2

    def test_not_on_the_first_noisy_readings(self) -> None:
        # consecutive readings of the first epoch are nearly equal: no window closed yet
        rng = random.Random(1)
        norms = [[4.0 * (1 + rng.uniform(-0.3, 0.3)) for _ in range(8)] for _ in range(1)]
        assert not any(feed(GradNorm(), self.run(GradNorm(), norms)))
        assert not any(feed(GradNorm(), self.run(GradNorm(), [[1.0, 1.0, 1.0]] * 1)))

    def test_a_falling_norm_waits(self) -> None:
        norms = [[4.0 * 0.8**e] * 6 for e in range(8)]  # 20% lower every epoch
        assert first_ready(GradNorm(), self.run(GradNorm(), norms)) is None

    def test_a_stage_change_keeps_the_last_window_for_comparison(self) -> None:
        events = self.run(GradNorm(), [[2.0, 2.0], [2.0, 2.0]])
        assert feed(GradNorm(), events)[-1]
        change = [StageChange(1, 4, 2, 1)]
        # the new group's gradients are large: the norm jumps, the stage goes on
        jumped = [*events, *change, *self.epoch_of_norms(2, 5, [4.0, 4.0])]
        assert feed(GradNorm(), jumped)[-2:] == [False, False]
        settled = [*jumped, *self.epoch_of_norms(3, 7, [3.9, 3.9])]
        assert feed(GradNorm(), settled)[-1]
        # the norm barely moved: the new group adds nothing, the next one may come
        same = [*events, *change, *self.epoch_of_norms(2, 5, [2.05, 2.05])]
        assert feed(GradNorm(), same)[-1]

    def test_a_window_of_readings_compares_consecutive_windows(self) -> None:
        p = GradNorm(window=2, check_every=1)
        steps = [StepEnd(0, s, (n,)) for s, n in enumerate([4.0, 4.0, 2.0, 2.0, 1.9, 1.9], 1)]
        assert feed(p, steps) == [False, False, False, False, False, True]

    def test_non_finite_readings_close_no_window(self) -> None:
        events = self.run(GradNorm(), [[1.0, 1.0], [math.nan, math.nan], [1.05, 1.0]])
        with pytest.warns(Warning, match="non-finite"):
            ready = feed(GradNorm(), events)
        assert ready.index(True) == len(events) - 1  # epoch 2 compared with epoch 0

    def test_threshold_or_fraction_alone_keeps_the_old_meaning(self) -> None:
        p = GradNorm(fraction=0.5, window=1, check_every=1)
        assert p.resolved_rel_change is None
        steps = [StepEnd(0, s, (n,)) for s, n in enumerate([4.0, 4.0, 4.0, 1.9], 1)]
        assert feed(p, steps) == [False, False, False, True]
        both = GradNorm(fraction=0.5, rel_change=0.1, window=1, check_every=1)
        assert feed(both, steps) == [False, True, True, True]  # settled, then halved

    def test_bad_rel_change(self) -> None:
        with pytest.raises(ConfigError, match="rel_change: must be > 0"):
            GradNorm(rel_change=0.0)


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule(Plateau()),
        Schedule(GradNorm()),
        Schedule(Plateau(min_rel_delta=0.0, reset_best=False, patience=10)),
        Schedule(GradNorm(rel_change=0.05, window=10, check_every=10)),
        recommended_schedule(epochs=20, n_groups=5, steps_per_epoch=8),
    ],
)
def test_config_round_trip(schedule: Schedule) -> None:
    assert load_schedule(schedule.to_config()) == schedule


def test_a_bare_grad_norm_table_loads() -> None:
    assert load_schedule({"policy": {"type": "grad_norm"}}) == Schedule(GradNorm())


class TestRecommended:
    def test_the_benchmarks_best_timetable(self) -> None:
        s = recommended_schedule(epochs=20, n_groups=5, steps_per_epoch=8)
        assert s == Schedule(
            FixedEpoch(every=3), rules=[Discriminative(factor=2.6), Warmup(steps=8)]
        )

    @pytest.mark.parametrize(
        ("epochs", "n_groups"), [(20, 5), (6, 5), (6, 16), (4, 2), (30, 8), (3, 16), (1, 3)]
    )
    def test_every_group_trains_by_the_given_fraction(self, epochs: int, n_groups: int) -> None:
        s = recommended_schedule(epochs=epochs, n_groups=n_groups)
        stages = [r.stage for r in s.dry_run(n_groups, {"loss": [0.0] * epochs})]
        assert stages[0] == 1  # the head alone first
        last = max(1, math.floor(0.6 * epochs))
        assert stages[min(last, epochs - 1)] == n_groups or epochs == 1

    def test_many_groups_keep_the_rate_spread(self) -> None:
        s = recommended_schedule(epochs=6, n_groups=16)
        factor = s.rules[0].factor  # type: ignore[attr-defined]
        assert factor**15 == pytest.approx(2.6**4, rel=0.02)
        assert recommended_schedule(epochs=6, n_groups=3).rules[0].factor == 2.6  # type: ignore[attr-defined]

    def test_without_steps_per_epoch_no_warmup(self) -> None:
        assert [type(r) for r in recommended_schedule(10, 4).rules] == [Discriminative]

    def test_schedule_arguments_pass_through(self) -> None:
        assert recommended_schedule(10, 4, final="stop").final == "stop"

    def test_bad_arguments_are_reported_together(self) -> None:
        with pytest.raises(ConfigError) as info:
            recommended_schedule(0, 0, steps_per_epoch=0, unfrozen_by=2.0)
        message = str(info.value)
        for name in ("epochs", "n_groups", "steps_per_epoch", "unfrozen_by"):
            assert name in message


# --- the deadline: budget-aware defaults (issue 14, short runs) -------------------------


def stages_of(
    schedule: Schedule, n_groups: int, history: dict[str, list[float]], **kw: Any
) -> list[int]:
    return [r.stage for r in schedule.dry_run(n_groups, history, **kw)]


def norms_history(
    n_epochs: int, steps: int, means: list[float]
) -> tuple[dict[str, list[float]], list[tuple[float, ...]]]:
    """A history and per-step norms (head side) whose epoch means are ``means``."""
    norms = [(0.0, m * (1 + d)) for m in means[:n_epochs] for d in (0.05, -0.05) * (steps // 2)]
    return {"loss": [1.0] * n_epochs}, norms


class TestDeadline:
    # 20% better every epoch: never a plateau
    improving: ClassVar[list[float]] = [2.0 * 0.8**t for t in range(6)]

    @pytest.mark.parametrize("policy", [Plateau(), GradNorm()])
    def test_six_epochs_five_groups_every_group_by_the_deadline(self, policy: Any) -> None:
        # 6 epochs: the deadline is epoch 3 (60%); with one group per advance and one
        # epoch per stage at least, the last group comes at the end of epoch 4
        history, norms = norms_history(6, 4, [4.0 * 0.7**e for e in range(6)])  # -30%/epoch
        history["val_loss"] = self.improving
        kw: dict[str, Any] = {"steps_per_epoch": 4, "grad_norms": norms}
        assert stages_of(Schedule(policy), 5, history, epochs=6, **kw) == [1, 2, 3, 4, 5, 5]
        # without the budget the policy waits (the old behaviour)
        assert stages_of(Schedule(policy), 5, history, **kw) == [1] * 6
        # two groups per advance: two advances share the 3 epochs before the deadline
        # (1, then 2), so every group trains from the deadline on
        by_two = Schedule(policy, advance_by=2)
        assert stages_of(by_two, 5, history, epochs=6, **kw) == [1, 3, 3, 5, 5, 5]

    def test_unfrozen_by_none_turns_it_off(self) -> None:
        history = {"val_loss": self.improving}
        schedule = Schedule(Plateau(unfrozen_by=None))
        assert stages_of(schedule, 5, history, epochs=6) == [1] * 6

    def test_fair_share_of_a_long_budget(self) -> None:
        # 20 epochs, 5 groups: the deadline is epoch 12, 3 epochs a stage at most
        curve = [2.0 * 0.8**t for t in range(20)]
        stages = stages_of(Schedule(Plateau()), 5, {"val_loss": curve}, epochs=20)
        assert stages == [1] * 3 + [2] * 3 + [3] * 3 + [4] * 3 + [5] * 8

    def test_a_plateauing_curve_on_a_long_budget_advances_as_before(self) -> None:
        # each stage improves fast, then by under 10%: the plateau test fires first
        curve, value = [], 2.0
        for _ in range(5):
            for rel in (0.7, 0.95):
                value *= rel
                curve.append(value)
        curve += [value * 0.99**t for t in range(1, 11)]
        history = {"val_loss": curve}
        before = stages_of(Schedule(Plateau(unfrozen_by=None)), 5, history, epochs=20)
        assert before[:9] == [1, 1, 2, 2, 3, 3, 4, 4, 5]
        assert stages_of(Schedule(Plateau()), 5, history, epochs=20) == before
        assert stages_of(Schedule(Plateau()), 5, history) == before  # budget unknown

    def test_gradnorm_settling_on_a_long_budget_advances_as_before(self) -> None:
        means = []
        for stage in range(5):
            means += [3.0 + stage, 2.0 + stage, 1.95 + stage]  # jump, fall, settle
        means += [6.0] * 5
        history, norms = norms_history(20, 4, means)
        kw: dict[str, Any] = {"steps_per_epoch": 4, "grad_norms": norms}
        before = stages_of(Schedule(GradNorm(unfrozen_by=None)), 5, history, **kw)
        assert before.index(5) <= 12
        assert stages_of(Schedule(GradNorm()), 5, history, epochs=20, **kw) == before

    def test_stages_left_early_give_the_later_ones_more_time(self) -> None:
        curve = [1.0, 0.99] + [0.99 * 0.8**t for t in range(1, 19)]  # a plateau, then fast
        stages = stages_of(Schedule(Plateau()), 3, {"val_loss": curve}, epochs=20)
        # the head's stage ends at epoch 2 (plateau); the second has floor((12-2)/1) = 10
        assert stages == [1, 1] + [2] * 10 + [3] * 8

    def test_the_deadline_never_stops_a_run(self) -> None:
        history = {"val_loss": self.improving}
        stop = Schedule(Plateau(), final="stop")
        records = stop.dry_run(2, history, epochs=6)
        assert [r.stage for r in records] == [1, 1, 1, 2, 2, 2]  # one advance: 3 epochs
        assert not any(r.stop for r in records)

    def test_min_epochs_per_stage_still_holds(self) -> None:
        history = {"val_loss": self.improving}
        schedule = Schedule(Plateau(min_epochs_per_stage=2))
        assert stages_of(schedule, 5, history, epochs=6) == [1, 1, 2, 2, 3, 3]

    def test_nan_epochs_never_make_it_due(self) -> None:
        nan = [1.0, math.nan, math.inf, math.nan, math.nan, math.nan]
        for on_nan in ("hold", "advance"):
            schedule = Schedule(Plateau(), on_nan=on_nan)  # type: ignore[arg-type]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                stages = stages_of(schedule, 5, {"val_loss": nan}, epochs=6)
            assert stages == [1, 2, 2, 2, 2, 2]  # the first epoch was finite
        history, norms = norms_history(6, 2, [1.0] * 6)
        norms = [(0.0, math.nan)] * len(norms)
        with pytest.warns(Warning, match="non-finite"):
            stages = stages_of(
                Schedule(GradNorm()), 5, history, epochs=6, steps_per_epoch=2, grad_norms=norms
            )
        assert stages == [1] * 6

    def test_policies_fed_directly_without_a_budget(self) -> None:
        # TrainBegin without epochs (a driver that does not know them): no deadline
        from unfreeze_core import TrainBegin

        events = [TrainBegin(0, 0, None, None, 4), *epochs(self.improving)]
        assert not any(feed(Plateau(), events))
        with_budget = [TrainBegin(0, 0, 6, 4, 4), *epochs(self.improving)]
        assert feed(Plateau(), with_budget)[1:] == [True] * 6  # no StageChange: stays due

    def test_resume_keeps_the_stage_start(self) -> None:
        schedule = Schedule(Plateau())
        history = {"val_loss": self.improving}
        records = schedule.dry_run(5, history, epochs=6)
        state = schedule.start(5)
        from unfreeze_core import TrainBegin

        state, _ = schedule.update(state, TrainBegin(0, 0, 6, 1))
        for e in range(2):
            state, _ = schedule.update(state, EpochEnd(e, e + 1, {"val_loss": self.improving[e]}))
        restored = load_schedule(schedule.to_config())
        state, _ = restored.update(state, TrainBegin(2, 2, 6, 1))
        state, d = restored.update(state, EpochEnd(2, 3, {"val_loss": self.improving[2]}))
        assert d.stage == records[2].stage_after

    @pytest.mark.parametrize("policy", [Plateau(unfrozen_by=0.8), GradNorm(unfrozen_by=None)])
    def test_config_round_trip(self, policy: Any) -> None:
        schedule = Schedule(policy)
        assert load_schedule(schedule.to_config()) == schedule

    @pytest.mark.parametrize("bad", [0.0, 1.5, -0.1])
    def test_bad_unfrozen_by(self, bad: float) -> None:
        for cls in (Plateau, GradNorm):
            with pytest.raises(ConfigError, match="unfrozen_by"):
                cls(unfrozen_by=bad)


def test_a_stage_begun_mid_epoch_counts_from_the_next_epoch() -> None:
    from unfreeze_core import TrainBegin

    improving = [2.0 * 0.8**t for t in range(8)]
    begin = TrainBegin(0, 0, epochs=20, steps_per_epoch=4, advances_left=4)
    change = StageChange(0, 2, 2, 1, advances_left=3)  # at step 2 of epoch 0
    ready = feed(Plateau(), [begin, change, *epochs(improving)])
    # the stage counts from epoch 1: floor((12 - 1) / 3) = 3 epochs, the 4th epoch's end
    assert ready[2:].index(True) == 3
