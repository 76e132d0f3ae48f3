"""Policies, example by example (the properties are in test_properties.py)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from unfreeze_core import (
    AllOf,
    AnyOf,
    ConfigError,
    EpochEnd,
    FixedEpoch,
    GradNorm,
    MinEpochs,
    Plateau,
    Policy,
    Schedule,
    StageChange,
    StepEnd,
    UnfreezeWarning,
    all_of,
    any_of,
)
from unfreeze_core.monitoring import infer_mode

from .policy_events import epochs, feed


class TestFixedEpoch:
    def test_every(self) -> None:
        assert feed(FixedEpoch(every=2), epochs([1.0] * 3)) == [False, True, True]

    def test_at_lists_the_epochs_from_which_the_next_group_trains(self) -> None:
        # at=[2]: the next group trains from epoch index 2, so ready at the end of epoch 1
        assert feed(FixedEpoch(at=[2]), epochs([1.0] * 3)) == [False, True, True]

    def test_stage_change_consumes_one_due_advance(self) -> None:
        p = FixedEpoch(every=1)
        state = p.init()
        state, ready = p.update(state, EpochEnd(0, 1, {}))
        assert ready
        state, ready = p.update(state, StageChange(0, 1, 2, 1))
        assert not ready

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({}, "every: give exactly one of 'every' or 'at'"),
            ({"every": 2, "at": [3]}, "give exactly one"),
            ({"every": 0}, "every: must be >= 1, got 0"),
            ({"at": [3, 3]}, "at: must be strictly increasing, got [3, 3]"),
            ({"at": [0, 3]}, "at[0]: must be >= 1, got 0"),
            ({"at": []}, "at: must not be empty"),
            ({"every": 1.5}, "every: must be an integer or null, got 1.5"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            FixedEpoch(**kwargs)


class TestPlateau:
    def test_waits_patience_epochs_without_improvement(self) -> None:
        ready = feed(Plateau(patience=2), epochs([1.0, 0.8, 0.8, 0.8, 0.8]))
        assert ready == [False, False, False, True, True]

    def test_min_delta_decides_what_counts(self) -> None:
        values = [1.0, 0.99, 0.98, 0.97]
        absolute = {"patience": 1, "min_rel_delta": 0.0}  # Keras' min_delta alone
        assert feed(Plateau(min_delta=0.05, **absolute), epochs(values))[-1]
        assert not any(feed(Plateau(min_delta=0.001, **absolute), epochs(values)))

    def test_patience_zero_behaves_as_one_like_keras(self) -> None:
        values = [1.0, 1.0]
        assert feed(Plateau(patience=0), epochs(values)) == feed(
            Plateau(patience=1), epochs(values)
        )

    def test_mode_auto_maximises_accuracy(self) -> None:
        assert infer_mode("val_accuracy") == "max"
        assert infer_mode("val_auc") == "max"
        assert infer_mode("val_loss") == "min"
        rising = epochs([0.5, 0.6, 0.7], monitor="val_accuracy")
        assert not any(feed(Plateau(monitor="val_accuracy", patience=1), rising))
        assert feed(Plateau(monitor="val_accuracy", mode="min", patience=1), rising)[1]

    def test_cooldown_epochs_are_not_counted_after_an_advance(self) -> None:
        p = Plateau(patience=1, cooldown=2)
        state = p.init()
        state, ready = p.update(state, EpochEnd(0, 1, {"val_loss": 1.0}))
        state, ready = p.update(state, EpochEnd(1, 2, {"val_loss": 1.0}))
        assert ready
        state, ready = p.update(state, StageChange(1, 2, 2, 1))
        assert not ready
        results = []
        for e in range(2, 5):
            state, ready = p.update(state, EpochEnd(e, e + 1, {"val_loss": 1.0}))
            results.append(ready)
        assert results == [False, False, True]

    def test_min_epochs_per_stage(self) -> None:
        ready = feed(Plateau(patience=1, min_epochs_per_stage=4), epochs([1.0] * 5))
        assert ready == [False, False, False, True, True]

    def test_start_from_epoch_ignores_early_epochs(self) -> None:
        ready = feed(Plateau(patience=1, start_from_epoch=3), epochs([1.0] * 5))
        assert ready == [False, False, False, False, True]

    def test_nan_is_neither_an_improvement_nor_counted(self) -> None:
        """A diverging run (NaN/inf loss) never counts towards patience."""
        ready = feed(Plateau(patience=2), epochs([1.0, math.nan, math.inf, 1.0, 1.0]))
        assert ready == [False, False, False, False, True]
        assert not any(feed(Plateau(patience=0), epochs([math.nan] * 20)))
        state = Plateau().init()
        state, _ = Plateau().update(state, EpochEnd(0, 1, {"val_loss": math.nan}))
        assert state["best"] is None

    def test_missing_metric_warns_once_listing_the_available_ones(self) -> None:
        p = Plateau(monitor="val_los", patience=1)
        events = [EpochEnd(e, e + 1, {"val_loss": 1.0, "loss": 2.0}) for e in range(3)]
        with pytest.warns(
            UnfreezeWarning, match="'val_los' is not in the logs.*loss, val_loss"
        ) as w:
            ready = feed(p, events)
        assert len(w) == 1
        assert not any(ready)

    def test_bad_arguments_say_what_is_valid(self) -> None:
        with pytest.raises(ConfigError, match="patience: must be >= 0, got -1"):
            Plateau(patience=-1)
        with pytest.raises(
            ConfigError, match="mode: must be one of 'auto', 'min', 'max', got 'up'"
        ):
            Plateau(mode="up")  # type: ignore[arg-type]


class TestGradNorm:
    def norms(self, values: list[float], groups: int = 2) -> list[StepEnd]:
        # the norm over groups of (v/sqrt(groups),)*groups is v
        return [StepEnd(0, s, (v / math.sqrt(groups),) * groups) for s, v in enumerate(values, 1)]

    def test_absolute_threshold_on_the_smoothed_norm(self) -> None:
        p = GradNorm(threshold=1.0, window=2, check_every=1)
        assert feed(p, self.norms([3.0, 1.5, 0.9, 0.9])) == [False, False, False, True]

    def test_fraction_of_the_stage_reference(self) -> None:
        p = GradNorm(fraction=0.5, window=1, check_every=1)
        assert feed(p, self.norms([4.0, 3.0, 2.1, 1.9])) == [False, False, False, True]

    def test_reference_resets_at_a_stage_change(self) -> None:
        p = GradNorm(fraction=0.5, window=1, check_every=1)
        events = [*self.norms([4.0, 1.0]), StageChange(0, 2, 2, 1), *self.norms([1.0, 0.6])]
        assert feed(p, events) == [False, True, False, False, False]

    def test_reads_only_every_check_every_steps(self) -> None:
        p = GradNorm(threshold=1.0, window=1, check_every=3)
        ready = feed(p, self.norms([0.1, 0.1, 0.1, 0.1]))
        assert ready == [False, False, True, True]

    def test_steps_without_norms_are_ignored(self) -> None:
        p = GradNorm(threshold=1.0, window=1, check_every=1)
        assert feed(p, [StepEnd(0, 1, None), StepEnd(0, 2, None)]) == [False, False]

    def test_non_finite_norms_never_trigger_and_are_reported(self) -> None:
        p = GradNorm(threshold=1.0, window=1, check_every=1)
        state = p.init()
        with pytest.warns(UnfreezeWarning, match="non-finite gradient norm at step 1"):
            state, ready = p.update(state, StepEnd(0, 1, (math.nan, 0.0)))
        assert not ready
        assert state["nonfinite"] == 1

    def test_bad_arguments(self) -> None:
        # GradNorm() is valid since issue 14 (rel_change 0.1): tests/test_policy_defaults.py
        with pytest.raises(ConfigError, match="fraction: must be <= 1, got 2.0"):
            GradNorm(fraction=2.0)


class TestCombinators:
    def test_operators_build_combinators_and_flatten(self) -> None:
        a, b, c = FixedEpoch(every=1), Plateau(), MinEpochs(2)
        assert (a | b) == AnyOf((a, b))
        assert (a & b) == AllOf((a, b))
        assert (a | b | c) == AnyOf((a, b, c))
        assert any_of(any_of(a, b), c) == AnyOf((a, b, c))
        assert all_of(a, any_of(b, c)) == AllOf((a, AnyOf((b, c))))

    def test_any_of_and_all_of(self) -> None:
        events = epochs([1.0, 1.0, 1.0])
        fast, slow = FixedEpoch(every=1), FixedEpoch(every=3)
        assert feed(fast | slow, events) == [True, True, True]
        assert feed(fast & slow, events) == [False, False, True]

    def test_all_of_combines_levels_seen_at_different_events(self) -> None:
        # a plateau seen at an epoch end, then a low gradient norm at a later step
        policy = Plateau(patience=1) & GradNorm(threshold=1.0, window=1, check_every=1)
        events = [
            EpochEnd(0, 0, {"val_loss": 1.0}),
            EpochEnd(1, 0, {"val_loss": 1.0}),
            StepEnd(2, 1, (5.0,)),
            StepEnd(2, 2, (0.5,)),
        ]
        assert feed(policy, events) == [False, False, False, True]

    def test_min_epochs_guard(self) -> None:
        guarded = GradNorm(threshold=1.0, window=1, check_every=1) & MinEpochs(2)
        events = [
            StepEnd(0, 1, (0.1,)),
            EpochEnd(0, 1, {}),
            StepEnd(1, 2, (0.1,)),
            EpochEnd(1, 2, {}),
        ]
        assert feed(guarded, events) == [False, False, False, True]

    def test_combinators_refuse_non_policies(self) -> None:
        with pytest.raises(ConfigError, match=r"policies\[1\]: must be a policy"):
            any_of(Plateau(), "plateau")  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="at least one policy"):
            all_of()


class EveryOtherEpoch:
    """A custom trigger written without subclassing anything."""

    def init(self) -> int:
        return 0

    def update(self, state: int, event: object) -> tuple[int, bool]:
        if isinstance(event, StageChange):
            return 0, False
        if isinstance(event, EpochEnd):
            state += 1
        return state, state >= 2


def test_a_custom_trigger_is_a_policy_and_composes() -> None:
    trigger = EveryOtherEpoch()
    assert isinstance(trigger, Policy)
    records = Schedule(trigger).dry_run(3, {"loss": [1.0] * 5})
    assert [r.stage for r in records] == [1, 1, 2, 2, 3]
    combined = Plateau(patience=10) | trigger
    assert [r.stage for r in Schedule(combined).dry_run(3, {"val_loss": [1.0] * 5})] == [
        1,
        1,
        2,
        2,
        3,
    ]
