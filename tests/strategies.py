"""Hypothesis strategies for schedules and event streams (shared by the property tests)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from unfreeze_core import (
    Discriminative,
    EpochEnd,
    FixedEpoch,
    GradNorm,
    MinEpochs,
    Plateau,
    Schedule,
    StageScaled,
    StepEnd,
    TrainBegin,
    Warmup,
    all_of,
    any_of,
)

MONITORS = ("val_loss", "val_accuracy", "loss")

metric_values = st.one_of(
    st.floats(min_value=-10, max_value=10, allow_nan=False, allow_infinity=False),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.5, 0.5, 0.5]),  # constant runs too
)

fixed_epoch = st.one_of(
    st.builds(FixedEpoch, every=st.integers(1, 5)),
    st.lists(st.integers(1, 20), min_size=1, max_size=5, unique=True).map(
        lambda at: FixedEpoch(at=sorted(at))
    ),
)

plateau = st.builds(
    Plateau,
    monitor=st.sampled_from(MONITORS),
    mode=st.sampled_from(["auto", "min", "max"]),
    min_delta=st.sampled_from([0.0, 1e-4, 0.05]),
    patience=st.integers(0, 4),
    cooldown=st.integers(0, 3),
    min_epochs_per_stage=st.integers(0, 3),
    start_from_epoch=st.integers(0, 2),
)

grad_norm = st.one_of(
    st.builds(
        GradNorm,
        threshold=st.floats(0.01, 5),
        window=st.integers(1, 4),
        check_every=st.integers(1, 3),
    ),
    st.builds(
        GradNorm,
        fraction=st.floats(0.05, 1.0),
        window=st.integers(1, 4),
        check_every=st.integers(1, 3),
    ),
)

leaf_policies = st.one_of(fixed_epoch, plateau, grad_norm, st.builds(MinEpochs, st.integers(0, 3)))

policies = st.recursive(
    leaf_policies,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda ps: any_of(*ps)),
        st.lists(children, min_size=1, max_size=3).map(lambda ps: all_of(*ps)),
    ),
    max_leaves=5,
)

discriminative = st.one_of(
    st.builds(Discriminative, factor=st.floats(1.0, 5.0)),
    st.builds(Discriminative, decay=st.floats(0.05, 1.0)),
    st.lists(st.floats(0.01, 10.0), min_size=1, max_size=6).map(
        lambda ms: Discriminative(multipliers=sorted(ms, reverse=True))
    ),
)

warmup = st.builds(
    Warmup,
    steps=st.integers(1, 20),
    start=st.floats(0.0, 1.0),
    per_group=st.booleans(),
    shape=st.sampled_from(["linear", "cosine"]),
)

stage_scaled = st.one_of(
    st.lists(st.floats(0.01, 10.0), min_size=1, max_size=5).map(lambda s: StageScaled(scales=s)),
    st.builds(StageScaled, factor=st.floats(0.2, 5.0)),
)

rules = st.one_of(discriminative, warmup, stage_scaled)


@st.composite
def schedules(draw: Any, policy: Any = policies, max_initial: int = 3) -> Schedule:
    return Schedule(
        draw(policy),
        rules=draw(st.lists(rules, max_size=3)),
        initial=draw(st.integers(1, max_initial)),
        advance_by=draw(st.integers(1, 3)),
        final=draw(st.sampled_from(["continue", "stop"])),
    )


@st.composite
def logs(draw: Any) -> dict[str, float]:
    keys = draw(st.lists(st.sampled_from(MONITORS), unique=True, max_size=3))
    return {k: draw(metric_values) for k in keys}


grad_norm_values = st.one_of(
    st.none(),
    st.lists(
        st.one_of(st.floats(0, 10), st.sampled_from([math.nan, math.inf, 0.0])),
        min_size=1,
        max_size=8,
    ),
)


@st.composite
def event_streams(draw: Any, max_epochs: int = 25) -> list[Any]:
    """TrainBegin, then per epoch some StepEnd events (with or without norms) and an EpochEnd."""
    events: list[Any] = [TrainBegin(0, 0)]
    step = 0
    steps_per_epoch = draw(st.integers(1, 4))
    for epoch in range(draw(st.integers(0, max_epochs))):
        for _ in range(steps_per_epoch):
            step += 1
            norms = draw(grad_norm_values)
            events.append(StepEnd(epoch, step, tuple(norms) if norms is not None else None))
        events.append(EpochEnd(epoch, step, draw(logs())))
    return events


@st.composite
def epoch_streams(draw: Any, max_epochs: int = 30) -> list[Any]:
    """Only epoch ends with logs: what FixedEpoch and Plateau react to."""
    return [TrainBegin(0, 0)] + [
        EpochEnd(e, e + 1, draw(logs())) for e in range(draw(st.integers(0, max_epochs)))
    ]


setups = st.integers(1, 8).flatmap(
    lambda n: st.tuples(st.just(n), schedules(max_initial=min(3, n)))
)
"""(group count, schedule whose ``initial`` fits it)."""
