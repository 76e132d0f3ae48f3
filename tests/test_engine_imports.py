"""The engine imports neither TensorFlow nor Keras (checked in a fresh interpreter), and
building or writing a schedule in Python never loads plugins."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

ENGINE_MODULES = [
    "unfreeze_core",
    "unfreeze_core.checks",
    "unfreeze_core.config",
    "unfreeze_core.dry_run",
    "unfreeze_core.errors",
    "unfreeze_core.events",
    "unfreeze_core.fields",
    "unfreeze_core.groupings",
    "unfreeze_core.hookspecs",
    "unfreeze_core.loading",
    "unfreeze_core.lr_rules",
    "unfreeze_core.monitoring",
    "unfreeze_core.plugins",
    "unfreeze_core.policies",
    "unfreeze_core.registry",
    "unfreeze_core.schedule",
    "unfreeze_core.schedule_rates",
    "unfreeze_core.schedule_state",
    "unfreeze_core.unstructure",
    "unfreeze_core.default_plugins.builtins",
]

CHECK = """
import sys
{imports}
from unfreeze_core.plugins import get_registry
from unfreeze_core import Schedule, Plateau, Warmup
get_registry()
Schedule(Plateau(patience=1), rules=[Warmup(steps=2)]).dry_run(3, {{"val_loss": [1, 1, 1]}})
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "jax", "torch"))
print(",".join(heavy))
"""


def test_engine_imports_no_deep_learning_framework() -> None:
    imports = "\n".join(f"import {m}" for m in ENGINE_MODULES)
    result = subprocess.run(
        [sys.executable, "-c", CHECK.format(imports=imports)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == ""


def test_the_check_would_see_tensorflow() -> None:
    """The test above can fail: importing Keras does show up in sys.modules."""
    result = subprocess.run(
        [sys.executable, "-c", "import sys, keras; print('keras' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""},
    )
    assert result.stdout.strip() == "True"


def test_building_and_writing_a_schedule_never_loads_plugins(monkeypatch: Any) -> None:
    import unfreeze_core.loading
    import unfreeze_core.plugins
    from unfreeze_core import ByCount, FixedEpoch, Plateau, Schedule, Warmup

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the plugins were loaded")

    monkeypatch.setattr(unfreeze_core.plugins, "get_registry", refuse)
    monkeypatch.setattr(unfreeze_core.loading, "get_registry", refuse)
    schedule = Schedule(
        Plateau(patience=2) | FixedEpoch(every=3), rules=[Warmup(steps=4)], groups=4
    )
    assert schedule.groups == ByCount(4)
    assert schedule.to_config()["policy"] == {
        "any_of": [{"type": "plateau", "patience": 2}, {"type": "fixed_epoch", "every": 3}]
    }
    schedule.dry_run(3, {"val_loss": [1.0, 1.0, 1.0]})
