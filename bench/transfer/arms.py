"""The nine arms of the real-weights benchmark (issue 14).

Every arm gets the same epoch budget, batch size, optimizer (Adam) and base-rate grid;
its rate is the grid value with the best mean validation accuracy over the seeds (as in
:mod:`bench.quality`). An arm is built for one model, because the timetables are fitted
to the number of groups the model's grouping makes (``n_groups``, head included) and to
the budget (``epochs``, ``steps`` per epoch):

- ``head_only``: the backbone frozen (plain Keras).
- ``unfreeze_all``: everything trains from the first step (plain Keras).
- ``lp_ft``: LP-FT (Kumar et al. 2022, "Fine-Tuning can Distort Pretrained Features and
  Underperform Out-of-Distribution"): the head alone for the first half of the budget at
  the base rate (linear probing), then everything at a tenth of it (``advance_by`` = all
  the backbone's groups at once, ``StageScaled([1, 0.1])``).
- ``gradual``: ``FixedEpoch``, top-down, one group per advance, every group training
  from 60% of the budget on (the recommended timetable, no rules).
- ``gradual_discr_warmup``: the same timetable + ``Discriminative`` + ``Warmup`` (one
  epoch): ``unfreeze_core.recommended_schedule`` when it exists, else its equivalent.
- ``slanted_triangular``: the gradual timetable + ``Discriminative(2.6)`` + the
  example plugin's ``SlantedTriangular`` (ULMFiT's STLR) over the whole budget.
- ``chain_thaw``: the example plugin's ``ChainThaw`` (Felbo et al. 2017): the head
  alone, each group alone from the input side, then everything; each stage an equal
  share of the budget (``when=FixedEpoch``: its default, a plateau of patience 3, cannot
  fit a short budget), DeepMoji's rates (``StageScaled([1, 0.1])``).
- ``plateau``: ``Schedule(Plateau())``, the policy's default arguments.
- ``gradnorm``: ``Schedule(GradNorm())``, the policy's default arguments.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import attrs

import unfreeze_core
from unfreeze_core import (
    Discriminative,
    FixedEpoch,
    GradNorm,
    Plateau,
    Schedule,
    StageScaled,
    Warmup,
)
from unfreeze_core.errors import ConfigError

from ..common import REPO

__all__ = ["ARM_KEYS", "FIXED_TIMETABLE", "RECOMMENDED", "Arm", "Budget", "arms"]

#: The arm the docs recommend as the default schedule (the lead sets it after results).
RECOMMENDED = "gradual_discr_warmup"
#: The fixed-timetable arms Plateau and GradNorm (defaults) are held against.
FIXED_TIMETABLE = ("gradual", "gradual_discr_warmup", "slanted_triangular")
UNFROZEN_BY = 0.6  # fraction of the budget by which every group trains (gradual arms)
FACTOR = 2.6
PLUGINS = REPO / "plugins"


@attrs.frozen
class Budget:
    """What an arm's timetable is fitted to."""

    epochs: int
    steps: int  # optimizer steps per epoch
    n_groups: int  # head included


@attrs.frozen
class Arm:
    """One strategy: plain Keras (``schedule`` None; ``train_backbone``) or a schedule.

    ``schedule(budget, grouping)`` builds the schedule; ``note`` is what the results
    should say about how the arm was built (a fallback, say), or empty.
    """

    key: str
    label: str
    schedule: Callable[[Budget, Any], Schedule] | None = None
    train_backbone: bool = False
    note: str = ""


def _plugin(name: str) -> ModuleType | None:
    """An example plugin's module, loaded from its source file (as bench.quality does)."""
    package = name.replace("-", "_")
    path = PLUGINS / name / "src" / package / "__init__.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"bench_{package}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timetable(b: Budget) -> FixedEpoch:
    """Top-down, every group training from ``UNFROZEN_BY`` of the budget on."""
    span = max(1, math.floor(UNFROZEN_BY * b.epochs + 1e-9))
    return FixedEpoch(every=max(1, span // max(b.n_groups - 1, 1)))


def _advance_by(b: Budget) -> int:
    """Groups per advance so that the timetable fits (several when the budget is short)."""
    span = max(1, math.floor(UNFROZEN_BY * b.epochs + 1e-9))
    return max(1, math.ceil((b.n_groups - 1) / span))


def _groups(grouping: Any) -> dict[str, Any]:
    return {} if grouping is None else {"groups": grouping}


def _gradual(rules: Callable[[Budget], list[Any]]) -> Callable[[Budget, Any], Schedule]:
    def make(b: Budget, grouping: Any) -> Schedule:
        return Schedule(timetable(b), rules=rules(b), advance_by=_advance_by(b),
                        **_groups(grouping))
    return make


def _recommended(b: Budget, grouping: Any) -> Schedule:
    make = getattr(unfreeze_core, "recommended_schedule", None)
    if make is not None:
        schedule: Schedule = make(b.epochs, b.n_groups, steps_per_epoch=b.steps,
                                  **_groups(grouping))
        return schedule
    return _gradual(lambda b: [Discriminative(factor=FACTOR), Warmup(steps=b.steps)])(
        b, grouping)


def _lp_ft(b: Budget, grouping: Any) -> Schedule:
    return Schedule(FixedEpoch(at=[max(1, b.epochs // 2)]), advance_by=max(1, b.n_groups - 1),
                    rules=[StageScaled(scales=[1.0, 0.1])], **_groups(grouping))


def _chain_thaw(module: ModuleType) -> Callable[[Budget, Any], Schedule]:
    def make(b: Budget, grouping: Any) -> Schedule:
        stages = len(module.chain_thaw_sets(b.n_groups))
        when = FixedEpoch(every=max(1, b.epochs // stages))
        return Schedule(module.ChainThaw(when=when), rules=[StageScaled(scales=[1.0, 0.1])],
                        **_groups(grouping))
    return make


def _stlr(module: ModuleType) -> Callable[[Budget, Any], Schedule]:
    def rules(b: Budget) -> list[Any]:
        total = max(2, b.epochs * b.steps)  # the paper's cut_frac once there are 10 steps
        return [Discriminative(factor=FACTOR),
                module.SlantedTriangular(total_steps=total, cut_frac=max(0.1, 1 / total))]
    return _gradual(rules)


def _gradnorm() -> tuple[Callable[[Budget, Any], Schedule], str, str]:
    """``GradNorm()``, or the benchmark's documented setting while it has no defaults."""
    try:
        policy = GradNorm()
    except ConfigError:
        policy = GradNorm(fraction=0.5, window=4, check_every=2)
        return (lambda b, g: Schedule(policy, **_groups(g)), f"{policy!r}",
                "GradNorm() has no defaults in this version (it needs threshold or "
                "fraction): fell back to the setting docs/benchmarks.md documents")
    return lambda b, g: Schedule(policy, **_groups(g)), "GradNorm() (defaults)", ""


def arms() -> list[Arm]:
    """The nine arms (an example plugin's arm is left out when its source is absent)."""
    gradnorm, gradnorm_label, gradnorm_note = _gradnorm()
    recommended_label = ("recommended_schedule (gradual + Discriminative + Warmup)"
                         if hasattr(unfreeze_core, "recommended_schedule")
                         else "gradual + Discriminative(2.6) + Warmup(1 epoch)")
    out = [
        Arm("head_only", "head only"),
        Arm("unfreeze_all", "unfreeze everything", train_backbone=True),
        Arm("lp_ft", "LP-FT (head for half the budget, then all at lr/10)", _lp_ft),
        Arm("gradual", "gradual (FixedEpoch)", _gradual(lambda b: [])),
        Arm("gradual_discr_warmup", recommended_label, _recommended),
    ]
    stlr = _plugin("unfreeze-slanted-triangular")
    if stlr is not None:
        out.append(Arm("slanted_triangular",
                       "gradual + Discriminative(2.6) + slanted triangular (plugin)",
                       _stlr(stlr)))
    chain = _plugin("unfreeze-chain-thaw")
    if chain is not None:
        out.append(Arm("chain_thaw", "chain-thaw (plugin), equal stages, StageScaled(1, 0.1)",
                       _chain_thaw(chain)))
    out += [
        Arm("plateau", "Plateau() (defaults)", lambda b, g: Schedule(Plateau(), **_groups(g))),
        Arm("gradnorm", gradnorm_label, gradnorm, note=gradnorm_note),
    ]
    return out


ARM_KEYS = ("head_only", "unfreeze_all", "lp_ft", "gradual", "gradual_discr_warmup",
            "slanted_triangular", "chain_thaw", "plateau", "gradnorm")
