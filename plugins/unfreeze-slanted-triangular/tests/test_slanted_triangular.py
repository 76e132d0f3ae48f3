"""Tests of the slanted triangular learning rate plugin. Run them where the distribution
is installed (``pip install ./plugins/unfreeze-slanted-triangular``)."""

from __future__ import annotations

import doctest
import tomllib
from pathlib import Path

import numpy as np
import pytest
import unfreeze_slanted_triangular
from unfreeze_slanted_triangular import SlantedTriangular, stlr_factor

from unfreeze_core import FixedEpoch, Schedule, load_schedule
from unfreeze_core.errors import ConfigError
from unfreeze_core.lr_rules import LRContext
from unfreeze_core.plugins import get_registry

README = Path(__file__).resolve().parents[1] / "README.md"


def at_steps(rule: SlantedTriangular, steps: np.ndarray) -> np.ndarray:
    """The rule at each global step (one group, trainable from the start)."""
    ctx = LRContext(depth=np.zeros_like(steps), since=steps, stage=1, stage_index=0,
                    step=steps, n_groups=1, xp=np)
    return np.broadcast_to(rule(ctx), steps.shape)


def test_the_shape_of_the_paper() -> None:
    """T = 1000, cut_frac = 0.1, ratio = 32: from 1/32 up to 1 at step 100, then down to
    1/32 at step 1000, linearly both ways."""
    rule = SlantedTriangular(total_steps=1000)
    steps = np.arange(0, 1200, dtype=np.float64)
    values = at_steps(rule, steps)
    assert values[0] == pytest.approx(1 / 32)
    assert values[100] == pytest.approx(1.0) and values.max() == pytest.approx(1.0)
    assert int(values.argmax()) == 100
    np.testing.assert_allclose(np.diff(values[:101]), (1 - 1 / 32) / 100)  # rising line
    np.testing.assert_allclose(np.diff(values[100:1001]), -(1 - 1 / 32) / 900)  # falling line
    np.testing.assert_allclose(values[1000:], 1 / 32)  # after T it stays at the floor


@pytest.mark.parametrize(("total", "cut_frac", "ratio"), [(100, 0.1, 32.0), (37, 0.3, 5.0),
                                                          (10, 0.5, 1.0)])
def test_the_array_rule_matches_equation_3_step_by_step(
    total: int, cut_frac: float, ratio: float
) -> None:
    rule = SlantedTriangular(total_steps=total, cut_frac=cut_frac, ratio=ratio)
    steps = np.arange(0, total + 20, dtype=np.float64)
    expected = [stlr_factor(t, total, cut_frac, ratio) for t in range(total + 20)]
    np.testing.assert_allclose(at_steps(rule, steps), expected, rtol=1e-12)


def test_per_group_triangles_start_when_each_group_unfreezes() -> None:
    rule = SlantedTriangular(total_steps=20, per_group=True)  # cut = 2
    ctx = LRContext(depth=np.array([1.0, 0.0]), since=np.array([0.0, 2.0]), stage=2,
                    stage_index=1, step=12, n_groups=2, xp=np)
    np.testing.assert_allclose(rule(ctx), [1 / 32, 1.0])


def test_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"cut_frac: must be < 1, got 1\.0"):
        SlantedTriangular(total_steps=100, cut_frac=1.0)
    with pytest.raises(ConfigError, match=r"ratio: must be >= 1, got 0\.5"):
        SlantedTriangular(total_steps=100, ratio=0.5)
    with pytest.raises(ConfigError, match=r"total_steps \* cut_frac must be at least 1.*5 \* 0\.1"
                                          r" = 0\.5; raise total_steps to at least 10"):
        SlantedTriangular(total_steps=5)
    with pytest.raises(ConfigError, match=r"rules\[0\]\.total_steps: missing \(required\)"):
        load_schedule({"policy": {"type": "fixed_epoch", "every": 1},
                       "rules": [{"type": "slanted_triangular"}]})


def test_the_installed_distribution_registers_the_rule() -> None:
    entry = get_registry().get("rule", "slanted_triangular")
    assert entry.factory is SlantedTriangular
    assert SlantedTriangular.type_name == entry.name  # what to_config() writes
    assert (entry.provider, entry.version) == (
        "unfreeze-slanted-triangular", unfreeze_slanted_triangular.__version__
    )


def test_the_readme_schedule_is_ulmfit() -> None:
    """Gradual unfreezing, discriminative rates (2.6) and STLR, the three ULMFiT pieces."""
    text = README.read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    schedule = load_schedule(tomllib.loads(block))
    assert load_schedule(schedule.to_config()) == schedule
    stlr = schedule.rules[1]
    assert isinstance(stlr, SlantedTriangular)
    state = schedule.start(3)  # only the head trains; step 0 is the bottom of the ramp
    assert schedule.lr_multipliers(state) == pytest.approx((0.0, 0.0, 1 / 32))
    peak = schedule.lr_multipliers(state, step=stlr.cut)
    assert peak == pytest.approx((0.0, 0.0, 1.0))


def test_rules_compose_with_the_built_ins_in_a_schedule() -> None:
    rule = SlantedTriangular(total_steps=10, cut_frac=0.5)
    schedule = Schedule(FixedEpoch(every=1), rules=[rule])
    records = schedule.dry_run(2, {"loss": [1.0, 1.0]}, steps_per_epoch=5)
    assert records[0].lr_multipliers == pytest.approx((0.0, 1 / 32))
    assert records[1].lr_multipliers == pytest.approx((1.0, 1.0))  # step 5 = cut: the peak


def test_docstring_examples() -> None:
    assert doctest.testmod(unfreeze_slanted_triangular).failed == 0
