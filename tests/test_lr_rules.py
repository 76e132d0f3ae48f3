"""LR rules, example by example."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unfreeze_core import (
    ConfigError,
    Discriminative,
    FixedEpoch,
    LRContext,
    Product,
    Schedule,
    StageScaled,
    Warmup,
    compose,
)
from unfreeze_core.lr_rules import piecewise


def ctx(
    n: int = 3, *, since: float | list[float] = 0.0, stage_index: int = 0, step: int = 0
) -> LRContext:
    return LRContext(
        depth=np.arange(n - 1, -1, -1, dtype=np.float64),
        since=np.broadcast_to(np.asarray(since, dtype=np.float64), (n,)),
        stage=n,
        stage_index=stage_index,
        step=float(step),
        n_groups=n,
        xp=np,
    )


def values(rule: object, c: LRContext) -> list[float]:
    return [float(v) for v in np.broadcast_to(rule(c), (c.n_groups,))]  # type: ignore[operator]


def test_piecewise_picks_exact_values_and_clamps() -> None:
    vals = [0.1, 0.5, 1.0]
    assert [float(piecewise(np, i, vals)) for i in range(5)] == [0.1, 0.5, 1.0, 1.0, 1.0]


class TestStageScaled:
    def test_the_recipe_rates(self) -> None:
        """1e-5 -> 5e-5 -> 1e-4 is base 1e-4 with scales [0.1, 0.5, 1.0]."""
        rule = StageScaled(scales=[0.1, 0.5, 1.0])
        rates = [1e-4 * values(rule, ctx(stage_index=k))[0] for k in range(3)]
        assert rates == pytest.approx([1e-5, 5e-5, 1e-4], rel=1e-12)

    def test_factor_is_geometric(self) -> None:
        rule = StageScaled(factor=2.0)
        assert [values(rule, ctx(stage_index=k))[0] for k in range(4)] == [1.0, 2.0, 4.0, 8.0]

    def test_exactly_one_spelling(self) -> None:
        with pytest.raises(ConfigError, match="exactly one of 'scales' or 'factor'"):
            StageScaled()
        with pytest.raises(ConfigError, match=r"scales\[1\]: must be > 0, got 0.0"):
            StageScaled(scales=[1.0, 0.0])


class TestDiscriminative:
    def test_ulmfit_factor(self) -> None:
        assert values(Discriminative(factor=2.6), ctx(3)) == pytest.approx(
            [1 / 2.6**2, 1 / 2.6, 1.0]
        )

    def test_layer_decay(self) -> None:
        assert values(Discriminative(decay=0.75), ctx(3)) == pytest.approx([0.5625, 0.75, 1.0])

    def test_explicit_multipliers_are_listed_head_first_and_clamped(self) -> None:
        rule = Discriminative(multipliers=[1.0, 0.5])
        assert values(rule, ctx(4)) == [0.5, 0.5, 0.5, 1.0]

    def test_explicit_multipliers_must_not_increase_with_depth(self) -> None:
        with pytest.raises(ConfigError, match="must not increase with depth"):
            Discriminative(multipliers=[0.5, 1.0])

    def test_one_spelling_only(self) -> None:
        with pytest.raises(ConfigError, match="got factor, decay"):
            Discriminative(factor=2.0, decay=0.5)
        with pytest.raises(ConfigError, match="factor: must be >= 1, got 0.5"):
            Discriminative(factor=0.5)


class TestWarmup:
    def test_linear_ramp_per_group(self) -> None:
        rule = Warmup(steps=4)
        assert values(rule, ctx(2, since=[0.0, 10.0])) == [0.25, 1.0]
        assert [values(rule, ctx(1, since=k))[0] for k in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]

    def test_start_value(self) -> None:
        rule = Warmup(steps=2, start=0.5)
        assert [values(rule, ctx(1, since=k))[0] for k in range(3)] == [0.75, 1.0, 1.0]

    def test_cosine_ramp(self) -> None:
        rule = Warmup(steps=4, shape="cosine")
        got = [values(rule, ctx(1, since=k))[0] for k in range(4)]
        expected = [1 - (1 + math.cos(math.pi * (k + 1) / 4)) / 2 for k in range(4)]
        assert got == pytest.approx(expected)
        assert got[-1] == 1.0

    def test_global_ramp_uses_the_global_step(self) -> None:
        rule = Warmup(steps=4, per_group=False)
        assert values(rule, ctx(2, since=[0.0, 0.0], step=3)) == [1.0, 1.0]

    def test_steps_is_required(self) -> None:
        with pytest.raises(TypeError):
            Warmup()  # type: ignore[call-arg]
        with pytest.raises(ConfigError, match="steps: must be >= 1, got 0"):
            Warmup(steps=0)


class TestComposition:
    def test_operator_and_compose_flatten(self) -> None:
        a, b, c = Discriminative(factor=2.0), Warmup(steps=3), StageScaled(factor=2.0)
        assert a * b == Product((a, b))
        assert a * b * c == Product((a, b, c))
        assert compose(a, compose(b, c)) == Product((a, b, c))

    def test_a_plain_function_is_a_rule(self) -> None:
        def halve(c: LRContext) -> float:
            return 0.5

        assert values(compose(halve, Discriminative(decay=0.5)), ctx(2)) == [0.25, 0.5]

    def test_schedule_multiplies_its_rules_and_zeroes_frozen_groups(self) -> None:
        schedule = Schedule(
            FixedEpoch(every=1),
            rules=[StageScaled(scales=[0.1, 0.5, 1.0]), Discriminative(factor=2.0)],
        )
        records = schedule.dry_run(3, {"loss": [1.0] * 3})
        assert [r.lr_multipliers for r in records] == [
            (0.0, 0.0, 0.1),
            (0.0, 0.25, 0.5),
            (0.25, 0.5, 1.0),
        ]

    def test_per_group_warmup_starts_when_each_group_unfreezes(self) -> None:
        schedule = Schedule(FixedEpoch(every=1), rules=[Warmup(steps=4)])
        records = schedule.dry_run(2, {"loss": [1.0] * 2}, steps_per_epoch=4)
        assert records[0].lr_multipliers == (0.0, 0.25)
        assert records[0].lr_multipliers_end == (0.0, 1.0)
        assert records[1].lr_multipliers == (0.25, 1.0)  # the new group starts its ramp
        assert records[1].lr_multipliers_end == (1.0, 1.0)
