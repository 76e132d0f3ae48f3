"""The built-in policies, LR rules and groupings, registered like any plugin's."""

from __future__ import annotations

from typing import Any

from ..groupings import FAMILIES, Auto, ByCount, ByLayers, ByPatterns, PerLayer
from ..hookspecs import hookimpl
from ..lr_rules import Discriminative, FreezeOutRate, Product, StageScaled, Warmup
from ..policies import (
    AllOf,
    AnyOf,
    AutoFreeze,
    FixedEpoch,
    FreezeOut,
    GradNorm,
    MinEpochs,
    Plateau,
)


@hookimpl
def register_policies(register: Any) -> None:
    register("fixed_epoch", FixedEpoch)
    register("plateau", Plateau)
    register("grad_norm", GradNorm)
    register("min_epochs", MinEpochs)
    register("any_of", AnyOf, shorthand=True)
    register("all_of", AllOf, shorthand=True)
    register("autofreeze", AutoFreeze)
    register("freezeout", FreezeOut)


@hookimpl
def register_lr_rules(register: Any) -> None:
    register("stage_scaled", StageScaled)
    register("discriminative", Discriminative)
    register("warmup", Warmup)
    register("product", Product, shorthand=True)
    register("freezeout_rate", FreezeOutRate)


@hookimpl
def register_groupings(register: Any) -> None:
    register("auto", Auto)
    register("count", ByCount)
    register("patterns", ByPatterns)
    register("layers", ByLayers)
    register("per_layer", PerLayer)
    for family in FAMILIES:  # the model families Auto knows, each a grouping by name
        register(family.name, family)
